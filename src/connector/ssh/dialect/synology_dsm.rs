//! Synology DSM: a member of `administrators` logs in to `sh` and becomes root with `sudo -i`,
//! answering sudo's password question with its own DSM password (typed, never echoed, asked
//! once: a second question means sudo refused it, and keyreeve stops rather than try again).
//! Accounts come from `synouser --enum local`, administrators from
//! `synogroup --get administrators` (`0:[admin]` after `Group Members:`). The change is
//! `synouser --setpw NAME 'PW'` as root, judged by its exit status; rollback sets the old password
//! the same way from the still-open root shell.
//!
//! DSM 6 and 7: both are handled alike. Group membership is never touched (DSM 6's
//! `synogroup --member` replaces the whole list; DSM 7 has `--memberadd`); the major version
//! (`/etc.defaults/VERSION`) is shown beside each account.
//!
//! Unconfirmed, so built conservatively: the prompt texts (any `sh` prompt is taken) and sudo's
//! question (any line ending in `password...:`), the output of `synouser --enum`, its messages and
//! exit codes (only the status is trusted), whether a change persists without a further step
//! (none is known: `save` checks with `synouser --get` that the account is still there, and the
//! engine's fresh login before it proved the password), and whether the strength rules apply to
//! `--setpw`.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::posix_shell::{self, run_status, single_quoted, with_status};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::{LoginMethod, TargetKind};
use crate::secret::{Password, REDACTED};

pub struct SynologyDsm;

const LIST_USERS: &str = "synouser --enum local";
const LIST_ADMINS: &str = "synogroup --get administrators";
const VERSION: &str = "grep majorversion /etc.defaults/VERSION";

static SUDO_QUESTION: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)password[^\r\n]{0,60}:\s*\z"));
static MEMBER: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*\d+:\[([^\]]+)\]\s*$"));
static PLAIN_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9_.@$][A-Za-z0-9_.@$\-]*$"));
static MAJOR: LazyLock<Regex> = LazyLock::new(|| re(r#"majorversion="?(\d+)"?"#));

fn parse(users: &str, admins: &str, major: Option<&str>) -> Vec<AccountInfo> {
    let members: Vec<&str> = admins
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Group Members"))
        .filter_map(|l| MEMBER.captures(l).and_then(|c| c.get(1)).map(|m| m.as_str()))
        .collect();
    let dsm = major.map(|m| format!(" (DSM {m})")).unwrap_or_default();
    users
        .lines()
        .map(str::trim)
        .filter(|l| PLAIN_NAME.is_match(l))
        .map(|name| {
            let admin = members.contains(&name);
            let group = if admin { "administrators" } else { "users" };
            common::user_account(name, format!("group {group}{dsm}"), admin)
        })
        .collect()
}

fn list(shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
    let target = shell.target().to_string();
    let (users, code) = run_status(shell, &with_status(LIST_USERS), None)?;
    if code != 0 {
        return Err(posix_shell::failed(&target, LIST_USERS, &users, code, &[]));
    }
    let (admins, code) = run_status(shell, &with_status(LIST_ADMINS), None)?;
    if code != 0 {
        return Err(posix_shell::failed(&target, LIST_ADMINS, &admins, code, &[]));
    }
    let version = shell.command(VERSION)?;
    let major = MAJOR.captures(&version).map(|c| c[1].to_string());
    Ok(parse(&users, &admins, major.as_deref()))
}

fn setpw_line(account: &str, quoted: &str) -> String {
    with_status(&format!("synouser --setpw {account} {quoted}"))
}

fn set_password(shell: &mut dyn Shell, account: &str, password: &Password, during: &str) -> ConnectorResult<()> {
    let target = shell.target().to_string();
    let Some(quoted) = single_quoted(password.expose()) else {
        return Err(ConnectorError::Unsafe {
            target,
            reason: "the password holds a single quote or a line break, which the shell command cannot carry".into(),
        });
    };
    let line = common::secret_line(setpw_line(account, &quoted));
    let shown = setpw_line(account, &format!("'{REDACTED}'"));
    let (out, code) = run_status(shell, &shown, Some(&line))?;
    if code != 0 {
        return Err(posix_shell::failed(&target, during, &out, code, &[password]));
    }
    Ok(())
}

impl Dialect for SynologyDsm {
    fn kind(&self) -> TargetKind {
        TargetKind::SynologyDsm
    }

    fn prompt(&self) -> Regex {
        posix_shell::prompt()
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        None
    }

    fn setup(&self, shell: &mut dyn Shell, login: &Credentials) -> ConnectorResult<()> {
        let target = shell.target().to_string();
        if login.method != LoginMethod::Password {
            return Err(ConnectorError::Unsupported {
                target,
                kind: self.kind().to_string(),
                operation: "a key login (`sudo` asks for the account's DSM password)".into(),
            });
        }
        let (question, out) = shell.command_expect("sudo -i", &[&SUDO_QUESTION])?;
        if question.is_some() {
            let (again, out) = shell.secret_expect(&login.secret, &[&SUDO_QUESTION])?;
            if again.is_some() {
                // Refused: leave sudo without a second attempt (Ctrl-C ends its question).
                let _ = shell.command("\u{3}");
                return Err(common::unexpected(
                    &target,
                    "answering sudo's password question (refused; not retried)",
                    &out,
                    &[&login.secret],
                ));
            }
        } else if !out.trim().is_empty() {
            return Err(common::unexpected(&target, "running `sudo -i`", &out, &[]));
        }
        let id = shell.command("id -u")?;
        if id.trim() != "0" {
            return Err(common::unexpected(
                &target,
                "becoming root with `sudo -i` (the login must be in `administrators`)",
                &id,
                &[],
            ));
        }
        shell.command("unset HISTFILE")?;
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        list(shell)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 8,
            // DSM takes up to 127 characters.
            max_len: 127,
            // Single-quoted for `sh`.
            forbidden: "'\t".into(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "sudo -i".into(),
            format!("[sudo] password: {REDACTED}"),
            "unset HISTFILE".into(),
            format!("synouser --setpw {account} '{REDACTED}' (exit status 0)"),
            format!("(after verification) synouser --get {account}"),
        ]
    }

    fn change_password(
        &self,
        shell: &mut dyn Shell,
        account: &str,
        method: ChangeMethod,
        _old: &Password,
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
        if !list(shell)?.iter().any(|a| a.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no local user `{account}` in `{LIST_USERS}`"),
            });
        }
        set_password(shell, account, new, "setting the new password")?;
        Ok(ChangeState {
            checkpoint: Some(account.to_string()),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        // No commit step exists; check the account is still what DSM reports.
        let Some(account) = &state.checkpoint else {
            return Ok(());
        };
        let target = shell.target().to_string();
        let get = with_status(&format!("synouser --get {account}"));
        let (out, code) = run_status(shell, &get, None)?;
        if code != 0 {
            return Err(posix_shell::failed(
                &target,
                "checking the account after the change",
                &out,
                code,
                &[],
            ));
        }
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        _state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        set_password(shell, account, old, "setting the old password back")
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

    const USER: &str = "ops@nas01:~$ ";
    const ROOT: &str = "root@nas01:~# ";

    fn login() -> Credentials {
        Credentials {
            username: "ops".into(),
            method: LoginMethod::Password,
            secret: Password::new("0ps-Passw0rd"),
            enable: None,
        }
    }

    #[test]
    fn sudo_is_answered_once_with_the_login_password() {
        let mut sh = FakeShell::new(
            &SynologyDsm,
            vec![
                cmd("sudo -i", "sudo -i\r\nPassword: "),
                secret("0ps-Passw0rd", &format!("\r\n{ROOT}")),
                cmd("id -u", &format!("id -u\r\n0\r\n{ROOT}")),
                cmd("unset HISTFILE", &format!("unset HISTFILE\r\n{ROOT}")),
            ],
        );
        SynologyDsm.setup(&mut sh, &login()).unwrap();
        sh.finish();
    }

    #[test]
    fn a_refused_sudo_password_is_not_tried_again() {
        let mut sh = FakeShell::new(
            &SynologyDsm,
            vec![
                cmd("sudo -i", "sudo -i\r\nPassword: "),
                secret("0ps-Passw0rd", "\r\nSorry, try again.\r\nPassword: "),
                cmd("\u{3}", &format!("^C\r\nsudo: 1 incorrect password attempt\r\n{USER}")),
            ],
        );
        let e = SynologyDsm.setup(&mut sh, &login()).unwrap_err();
        sh.finish();
        assert!(e.to_string().contains("not retried"), "{e}");
    }

    #[test]
    fn administrators_are_the_members_of_the_group_on_dsm_6_and_7() {
        for major in ["6", "7"] {
            let u = with_status(LIST_USERS);
            let g = with_status(LIST_ADMINS);
            let mut sh = FakeShell::new(
                &SynologyDsm,
                vec![
                    cmd(&u, &format!("{u}\r\n4 User Listed:\r\nadmin\r\nguest\r\nops\r\nviewer\r\nkeyreeve-status=0\r\n{ROOT}")),
                    cmd(&g, &format!("{g}\r\nGroup Name: [administrators]\r\nGroup Type: [AUTH_LOCAL]\r\nGroup ID:   [101]\r\nGroup Members:\r\n0:[admin]\r\n1:[ops]\r\nkeyreeve-status=0\r\n{ROOT}")),
                    cmd(VERSION, &format!("{VERSION}\r\nmajorversion=\"{major}\"\r\n{ROOT}")),
                ],
            );
            let accounts = SynologyDsm.list_accounts(&mut sh).unwrap();
            sh.finish();
            let admins: Vec<&str> = accounts.iter().filter(|a| a.admin).map(|a| a.name.as_str()).collect();
            assert_eq!(admins, ["admin", "ops"]);
            assert_eq!(accounts.len(), 4);
            assert!(accounts[0].privilege.contains(&format!("DSM {major}")), "{accounts:?}");
        }
    }
}
