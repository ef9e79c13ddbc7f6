//! SonicWall SonicOS 6.5 and 7: after the SSH handshake the OS prints `Using username 'admin'.`
//! and asks `Password:` itself; the engine answers it once (see [`Dialect::shell_password_question`]
//! and [`Dialect::answer_shell_password`]) and never a second time: 7.x collectors that send the
//! password twice after `Access denied` would count a failure towards a lockout, so a denial is a
//! refused login here. A policy banner (`Accept The Policy Banner (yes)?`) is answered `yes`, and
//! `configure` asking to preempt another administrator (`Do you wish to preempt ... [no]:`) is
//! answered `yes`. Paging is turned off with `no cli pager session`.
//!
//! Accounts come from `show current-config`: the built-in administrator (`administration` /
//! `admin name NAME`) and the local users (`user local` / `user NAME`) with their `member-of`
//! groups. The group names that give administrative rights are unconfirmed: a group whose name
//! holds `Administrators` (and not `Read-Only`) counts as one. The built-in administrator's
//! password is changed with `admin password old-password OLD new-password NEW confirm-password
//! NEW` under `administration`, a local user's with `password NEW` under `user local` / `user
//! NAME`; both are applied by `commit` (`% Changes made.`) before the fresh-login verification,
//! since uncommitted changes are not in force. Whether `commit` alone survives a reboot is
//! unconfirmed. A rollback repeats the command with the old password (OLD and NEW swapped) and
//! commits. The password goes on the command line and quoting rules are unconfirmed: only the
//! safe alphabet, at most 32 characters. SonicOS 7 refuses passwords it knows as compromised.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct SonicOs;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*%\s*(error|invalid|incomplete|unknown|ambiguous|not allowed|no such)|^\s*error\b|access denied|known to have possibly been compromised, please choose another",
    )
});
static PASSWORD_QUESTION: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(?:\A|\n)password:\s*\z"));
static POLICY_BANNER: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)accept the policy banner \(yes\)\?\s*(?:\n\s*)?(?:yes:)?\s*\z"));
static PREEMPT: LazyLock<Regex> = LazyLock::new(|| re(r"(?is)do you wish to preempt.*\[no\]:\s*\z"));
static COMPROMISED: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)known to have possibly been compromised, please choose another"));
static ADMIN_NAME: LazyLock<Regex> = LazyLock::new(|| re(r#"^\s*admin name "?([^"\s]+)"?\s*$"#));
static USER_LINE: LazyLock<Regex> = LazyLock::new(|| re(r#"^\s*user "?([^"\s]+)"?\s*$"#));
static MEMBER_OF: LazyLock<Regex> = LazyLock::new(|| re(r#"^\s*member-of "?([^"]+?)"?\s*$"#));

/// The operational and configuration prompts: `admin@C0EAE4000000> `, `config(C0EAE4000000)# `,
/// `(config-administration)# `.
fn cli_prompt() -> Regex {
    re(r"(?:\A|\n)(?:[\w.\-]+@[\w.\-]+>|(?:config)?\([\w.\-\[\] ]+\)#) ?\z")
}

fn is_admin_group(group: &str) -> bool {
    let g = group.to_ascii_lowercase();
    g.contains("administrators") && !g.contains("read-only")
}

fn parse(config: &str) -> Vec<AccountInfo> {
    let mut accounts: Vec<AccountInfo> = Vec::new();
    let mut in_local = false;
    let mut local_indent = 0;
    for line in config.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if let Some(c) = ADMIN_NAME.captures(line) {
            accounts.push(common::user_account(&c[1], "built-in administrator".into(), true));
            continue;
        }
        if t == "user local" {
            in_local = true;
            local_indent = indent;
            continue;
        }
        if in_local && !t.is_empty() && indent <= local_indent && t != "exit" {
            in_local = false;
        }
        if !in_local {
            continue;
        }
        if let Some(c) = USER_LINE.captures(line) {
            if accounts.iter().all(|a| a.name != c[1]) {
                accounts.push(common::user_account(&c[1], "local user, no group".into(), false));
            }
        } else if let Some(c) = MEMBER_OF.captures(line) {
            if let Some(a) = accounts.last_mut().filter(|a| a.privilege.starts_with("local user")) {
                let group = c[1].to_string();
                a.privilege = if a.privilege.ends_with("no group") {
                    format!("local user, member-of {group}")
                } else {
                    format!("{}, {group}", a.privilege)
                };
                a.admin |= is_admin_group(&group);
            }
        }
    }
    accounts
}

fn builtin_admin(shell: &mut dyn Shell) -> ConnectorResult<(Vec<AccountInfo>, Option<String>)> {
    let out = common::run(shell, "show current-config", &ERRORS, &[])?;
    let builtin = out
        .lines()
        .find_map(|l| ADMIN_NAME.captures(l).map(|c| c[1].to_string()));
    Ok((parse(&out), builtin))
}

/// `configure`, answering the preempt question with `yes`.
fn configure(shell: &mut dyn Shell) -> ConnectorResult<()> {
    let (q, out) = shell.command_expect("configure", &[&PREEMPT])?;
    let out = if q.is_some() { shell.command("yes")? } else { out };
    common::check(shell.target(), "entering configuration mode", &out, &ERRORS, &[])
}

/// Back to the operational prompt from `levels` modes deep (what was not committed is dropped
/// when configuration mode ends).
fn leave(shell: &mut dyn Shell, levels: usize) {
    for _ in 0..levels {
        if shell.command("exit").is_err() {
            break;
        }
    }
}

fn set_and_commit(
    shell: &mut dyn Shell,
    builtin: bool,
    account: &str,
    from: &Password,
    to: &Password,
) -> ConnectorResult<()> {
    let target = shell.target().to_string();
    configure(shell)?;
    let mut levels = 1;
    let done = (|| {
        let line = if builtin {
            common::run(shell, "administration", &ERRORS, &[])?;
            levels += 1;
            format!(
                "admin password old-password {} new-password {} confirm-password {}",
                from.expose(),
                to.expose(),
                to.expose()
            )
        } else {
            common::run(shell, "user local", &ERRORS, &[])?;
            levels += 1;
            common::run(shell, &format!("user {account}"), &ERRORS, &[])?;
            levels += 1;
            format!("password {}", to.expose())
        };
        let shown = if builtin {
            format!("admin password old-password {REDACTED} new-password {REDACTED} confirm-password {REDACTED}")
        } else {
            format!("password {REDACTED}")
        };
        let out = shell.command_secret(&common::secret_line(line))?;
        if let Some(reason) = out.lines().find(|l| COMPROMISED.is_match(l)) {
            return Err(ConnectorError::PasswordRejected {
                target: target.clone(),
                reason: reason.trim().to_string(),
            });
        }
        common::check(&target, &format!("running `{shown}`"), &out, &ERRORS, &[from, to])?;
        let out = common::run(shell, "commit", &ERRORS, &[from, to])?;
        if !out.contains("Changes made") {
            return Err(common::unexpected(&target, "running `commit`", &out, &[from, to]));
        }
        Ok(())
    })();
    leave(shell, levels);
    done
}

impl Dialect for SonicOs {
    fn kind(&self) -> TargetKind {
        TargetKind::Sonicos
    }

    fn prompt(&self) -> Regex {
        // Until the OS's own `Password:` question is answered, it is where the login stops.
        re(r"(?:\A|\n)(?:[\w.\-]+@[\w.\-]+> ?|(?:config)?\([\w.\-\[\] ]+\)# ?|(?i:password:)\s*)\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"--MORE--\s*\z"), " "))
    }

    fn shell_password_question(&self) -> Option<Regex> {
        Some(PASSWORD_QUESTION.clone())
    }

    fn answer_shell_password(&self, shell: &mut dyn Shell, password: &Password) -> ConnectorResult<bool> {
        shell.set_prompt(cli_prompt());
        let (mut q, _) = shell.secret_expect(password, &[&PASSWORD_QUESTION, &POLICY_BANNER])?;
        if q == Some(1) {
            (q, _) = shell.command_expect("yes", &[&PASSWORD_QUESTION, &POLICY_BANNER])?;
        }
        Ok(q.is_none())
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        shell.set_prompt(cli_prompt());
        common::run(shell, "no cli pager session", &ERRORS, &[])?;
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        Ok(builtin_admin(shell)?.0)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 8,
            max_len: 32,
            forbidden: common::outside_safe_alphabet(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "configure".into(),
            format!("(built-in administrator) administration; admin password old-password {REDACTED} new-password {REDACTED} confirm-password {REDACTED}"),
            format!("(local user) user local; user {account}; password {REDACTED}"),
            "commit".into(),
            "exit".into(),
        ]
    }

    fn change_password(
        &self,
        shell: &mut dyn Shell,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<ChangeState> {
        let target = shell.target().to_string();
        if method == ChangeMethod::EnableSecret {
            return Err(ConnectorError::Unsupported {
                target,
                kind: self.kind().to_string(),
                operation: "an enable secret".into(),
            });
        }
        let (accounts, builtin) = builtin_admin(shell)?;
        if !accounts.iter().any(|a| a.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no administrator or local user `{account}` in `show current-config`"),
            });
        }
        let is_builtin = builtin.as_deref() == Some(account);
        set_and_commit(shell, is_builtin, account, old, new)?;
        Ok(ChangeState {
            checkpoint: Some(if is_builtin { "builtin".into() } else { "local".into() }),
            password_set: Some(new.clone()),
            ..ChangeState::default()
        })
    }

    fn save(&self, _shell: &mut dyn Shell, _state: &ChangeState) -> ConnectorResult<()> {
        // `commit` applied it; a separate save step is not documented.
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        let builtin = state.checkpoint.as_deref() == Some("builtin");
        // The built-in administrator's command names the password in force: the new one.
        let Some(in_force) = &state.password_set else {
            return Err(ConnectorError::Protocol {
                target: shell.target().to_string(),
                detail: format!("no change of `{account}` to undo in this session"),
            });
        };
        set_and_commit(shell, builtin, account, in_force, old)
    }

    fn verify_enable(&self, shell: &mut dyn Shell, _candidate: &Password) -> ConnectorResult<Verification> {
        Err(ConnectorError::Unsupported {
            target: shell.target().to_string(),
            kind: self.kind().to_string(),
            operation: "an enable secret".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fake::{cmd, secret, FakeShell};
    use super::*;

    const OP: &str = "admin@C0EAE4000000> ";
    const CF: &str = "config(C0EAE4000000)# ";
    const CONFIG: &str = "show current-config\r\nadministration\r\n    firewall-name C0EAE4000000\r\n    admin name admin\r\n    exit\r\nuser local\r\n    user netops\r\n        member-of \"Administrators\"\r\n        exit\r\n    user monitor\r\n        member-of \"SonicWALL Read-Only Admins\"\r\n        exit\r\n    exit\r\nzone LAN\r\n    exit\r\n";

    #[test]
    fn lists_the_builtin_admin_and_local_users_by_group() {
        let a = parse(&CONFIG.replace("\r\n", "\n"));
        let s: Vec<(&str, bool)> = a.iter().map(|a| (a.name.as_str(), a.admin)).collect();
        assert_eq!(s, vec![("admin", true), ("netops", true), ("monitor", false)]);
        assert_eq!(a[1].privilege, "local user, member-of Administrators");
    }

    #[test]
    fn builtin_admin_change_preempts_commits_and_rolls_back_with_old_and_new_swapped() {
        let d = SonicOs;
        let to_new = "admin password old-password Old-pw.1 new-password N3w-pw.2 confirm-password N3w-pw.2";
        let to_old = "admin password old-password N3w-pw.2 new-password Old-pw.1 confirm-password Old-pw.1";
        let mut steps = vec![
            cmd("show current-config", &format!("{CONFIG}{OP}")),
            cmd("configure", "configure\r\nAn administrator is already in config mode.\r\nDo you wish to preempt the other administrator? [no]: "),
            cmd("yes", &format!("yes\r\n{CF}")),
            cmd("administration", "administration\r\n(config-administration)# "),
            secret(to_new, "\r\n(config-administration)# "),
            cmd("commit", "commit\r\n% Applying changes...\r\n% Changes made.\r\n(config-administration)# "),
            cmd("exit", &format!("exit\r\n{CF}")),
            cmd("exit", &format!("exit\r\n{OP}")),
        ];
        steps.extend([
            cmd("configure", &format!("configure\r\n{CF}")),
            cmd("administration", "administration\r\n(config-administration)# "),
            secret(to_old, "\r\n(config-administration)# "),
            cmd("commit", "commit\r\n% Changes made.\r\n(config-administration)# "),
            cmd("exit", &format!("exit\r\n{CF}")),
            cmd("exit", &format!("exit\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let (old, new) = (Password::new("Old-pw.1"), Password::new("N3w-pw.2"));
        let state = d
            .change_password(&mut sh, "admin", ChangeMethod::SelfChange, &old, &new)
            .unwrap();
        d.rollback(&mut sh, &state, "admin", &old).unwrap();
        sh.finish();
    }

    #[test]
    fn a_compromised_password_is_refused_as_the_devices_judgement() {
        let d = SonicOs;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("show current-config", &format!("{CONFIG}{OP}")),
                cmd("configure", &format!("configure\r\n{CF}")),
                cmd("user local", "user local\r\n(config-user-local)# "),
                cmd("user netops", "user netops\r\n(config-local-user[netops])# "),
                secret("password Password123", "\r\n% The password is one that is known to have possibly been compromised, please choose another\r\n(config-local-user[netops])# "),
                cmd("exit", "exit\r\n(config-user-local)# "),
                cmd("exit", &format!("exit\r\n{CF}")),
                cmd("exit", &format!("exit\r\n{OP}")),
            ],
        );
        let e = d
            .change_password(
                &mut sh,
                "netops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Password123"),
            )
            .unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        sh.finish();
    }
}
