//! Cisco NX-OS: roles instead of privilege levels (`network-admin` is administrative), a
//! checkpoint taken before the change so that `rollback running-config` can undo it, and the slow
//! `copy running-config startup-config`. Passwords are sent unquoted, so `$`, spaces and the
//! characters NX-OS reads specially are never generated.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct CiscoNxos;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(%|error\b|password (is weak|should|must)|rollback failed|command authorization failed|permission denied)",
    )
});

static USERNAME_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"^username (\S+)(.*)$"));
static ROLE: LazyLock<Regex> = LazyLock::new(|| re(r"\brole (\S+)"));
static PASSWORD_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"\bpassword \d \S+"));

const LIST_USERS: &str = "show running-config | include ^username";
const LIST_ACCOUNTS: &str = "show user-account";

/// `show user-account`: `user:NAME` blocks with a `roles:R1 R2` line.
fn parse_user_account(output: &str) -> Vec<(String, Vec<String>)> {
    let mut users: Vec<(String, Vec<String>)> = Vec::new();
    for line in output.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("user:") {
            users.push((name.trim().to_string(), Vec::new()));
        } else if let Some(roles) = line.strip_prefix("roles:") {
            if let Some(u) = users.last_mut() {
                u.1.extend(roles.split_whitespace().map(str::to_string));
            }
        }
    }
    users
}
const ADMIN_ROLES: [&str; 3] = ["network-admin", "vdc-admin", "priv-15"];

/// Users with their roles, in order of first appearance; NX-OS prints one line per role.
fn parse_users(output: &str) -> Vec<(String, Vec<String>, Option<String>)> {
    let mut users: Vec<(String, Vec<String>, Option<String>)> = Vec::new();
    for line in output.lines().map(str::trim_end) {
        let Some(caps) = USERNAME_LINE.captures(line) else {
            continue;
        };
        let Some(name) = caps.get(1).map(|m| m.as_str().to_string()) else {
            continue;
        };
        let rest = caps.get(2).map_or("", |m| m.as_str());
        let idx = match users.iter().position(|u| u.0 == name) {
            Some(i) => i,
            None => {
                users.push((name, Vec::new(), None));
                users.len() - 1
            }
        };
        for role in ROLE.captures_iter(rest).filter_map(|c| c.get(1)) {
            if !users[idx].1.iter().any(|r| r == role.as_str()) {
                users[idx].1.push(role.as_str().to_string());
            }
        }
        if let Some(m) = PASSWORD_LINE.find(rest) {
            users[idx].2 = Some(format!("username {} {}", users[idx].0, m.as_str()));
        }
    }
    users
}

fn abandon<T>(shell: &mut dyn Shell, err: ConnectorError) -> ConnectorResult<T> {
    let _ = shell.command("end");
    Err(err)
}

impl Dialect for CiscoNxos {
    fn kind(&self) -> TargetKind {
        TargetKind::CiscoNxos
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])[\w.@\-]+(?:\([^)\r\n]+\))*# ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"[ \t]*--More--\s*\z"), " "))
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        common::run(shell, "terminal length 0", &ERRORS, &[]).map(drop)
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        // `show user-account` is what NX-OS itself says about roles; the running configuration
        // only repeats them on `username` lines.
        let out = shell.command(LIST_ACCOUNTS)?;
        let mut users = if common::check(shell.target(), "listing accounts", &out, &ERRORS, &[]).is_ok() {
            parse_user_account(&out)
        } else {
            Vec::new()
        };
        if users.is_empty() {
            let out = common::run(shell, LIST_USERS, &ERRORS, &[])?;
            users = parse_users(&out).into_iter().map(|(n, r, _)| (n, r)).collect();
        }
        Ok(users
            .into_iter()
            .map(|(name, roles)| {
                let admin = roles.iter().any(|r| ADMIN_ROLES.contains(&r.as_str()));
                let privilege = if roles.is_empty() {
                    "no role".to_string()
                } else {
                    format!("role {}", roles.join(", "))
                };
                common::user_account(&name, privilege, admin)
            })
            .collect())
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 8,
            max_len: 64,
            // Unquoted: no `$` or spaces, nothing that starts a quote, pipe or redirect, no help.
            forbidden: "$ \t\"'|>?".into(),
            // Strength checking wants mixed case and digits.
            min_classes: 3,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        if method == ChangeMethod::EnableSecret {
            return vec!["(NX-OS has no enable secret)".into()];
        }
        vec![
            "terminal dont-ask".into(),
            "checkpoint keyreeve-<time>".into(),
            "configure terminal".into(),
            format!("username {account} password {REDACTED}"),
            "end".into(),
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
        let out = common::run(shell, LIST_USERS, &ERRORS, &[])?;
        let Some((_, _, hash_line)) = parse_users(&out).into_iter().find(|u| u.0 == account) else {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no local account `{account}` in the running configuration"),
            });
        };
        let checkpoint = common::checkpoint_name();
        common::run(shell, "terminal dont-ask", &ERRORS, &[])?;
        common::run(shell, &format!("checkpoint {checkpoint}"), &ERRORS, &[])?;
        common::run(shell, "configure terminal", &ERRORS, &[])?;
        let line = common::secret_line(format!("username {account} password {}", new.expose()));
        let shown = format!("username {account} password {REDACTED}");
        if let Err(e) = common::run_secret(shell, &line, &shown, &ERRORS, &[new]) {
            return abandon(shell, e);
        }
        common::run(shell, "end", &ERRORS, &[])?;
        Ok(ChangeState {
            restore_lines: hash_line.into_iter().collect(),
            checkpoint: Some(checkpoint),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        common::run(shell, "copy running-config startup-config", &ERRORS, &[])?;
        if let Some(cp) = &state.checkpoint {
            // Tidying up; the change is already saved whatever this answers.
            let _ = shell.command(&format!("no checkpoint {cp}"));
        }
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        _account: &str,
        _old: &Password,
    ) -> ConnectorResult<()> {
        let by_checkpoint = match &state.checkpoint {
            Some(cp) => common::run(shell, &format!("rollback running-config checkpoint {cp}"), &ERRORS, &[]),
            None => Err(ConnectorError::Protocol {
                target: shell.target().to_string(),
                detail: "no checkpoint".into(),
            }),
        };
        let result = match by_checkpoint {
            Ok(_) => Ok(()),
            // The old hash line restores the password even when the checkpoint cannot be applied.
            Err(first) if !state.restore_lines.is_empty() => {
                common::run(shell, "configure terminal", &ERRORS, &[])?;
                match common::restore_lines(shell, &state.restore_lines, &ERRORS) {
                    Ok(()) => common::run(shell, "end", &ERRORS, &[]).map(drop),
                    Err(_) => abandon(shell, first),
                }
            }
            Err(e) => Err(e),
        };
        if let Some(cp) = &state.checkpoint {
            let _ = shell.command(&format!("no checkpoint {cp}"));
        }
        result
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

    const P: &str = "\rTEST-12345# ";

    fn users_reply() -> String {
        format!(
            "{LIST_USERS}\r\r\nusername admin password 5 $5$KLMNOP$abcdefghij  role network-admin\r\n\
             username admin role vdc-admin\r\n\
             username monitor password 5 $5$QRSTUV$klmnopqrst  role network-operator\r\n\
             username svc-backup password 5 ! role network-operator\r\n{P}"
        )
    }

    #[test]
    fn lists_users_from_show_user_account() {
        let d = CiscoNxos;
        let reply = format!(
            "{LIST_ACCOUNTS}\r\r\nuser:admin\r\n        this user account has no expiry date\r\n        roles:network-admin vdc-admin \r\n\r\n\
             user:monitor\r\n        expires on Tue Dec 31 00:00:00 2030\r\n        roles:network-operator \r\n\r\n{P}"
        );
        let mut sh = FakeShell::new(&d, vec![cmd(LIST_ACCOUNTS, &reply)]);
        let accounts = d.list_accounts(&mut sh).unwrap();
        sh.finish();
        let summary: Vec<(&str, &str, bool)> = accounts
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("admin", "role network-admin, vdc-admin", true),
                ("monitor", "role network-operator", false)
            ]
        );
    }

    #[test]
    fn lists_users_with_all_their_roles() {
        let d = CiscoNxos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    LIST_ACCOUNTS,
                    &format!("{LIST_ACCOUNTS}\r\n% Invalid command at '^' marker.\r\n{P}"),
                ),
                cmd(LIST_USERS, &users_reply()),
            ],
        );
        let accounts = d.list_accounts(&mut sh).unwrap();
        sh.finish();
        let summary: Vec<(&str, &str, bool)> = accounts
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("admin", "role network-admin, vdc-admin", true),
                ("monitor", "role network-operator", false),
                ("svc-backup", "role network-operator", false),
            ]
        );
    }

    fn change(d: &CiscoNxos, sh: &mut FakeShell) -> ChangeState {
        d.change_password(
            sh,
            "monitor",
            ChangeMethod::AdminReset,
            &Password::new("o"),
            &Password::new("Nx0s-Pass"),
        )
        .unwrap()
    }

    fn change_steps() -> Vec<super::super::common::fake::Step> {
        vec![
            cmd(LIST_USERS, &users_reply()),
            cmd("terminal dont-ask", &format!("terminal dont-ask\r\r\n{P}")),
            // The checkpoint name carries the time: matched by the test through the sent log.
        ]
    }

    #[test]
    fn change_checkpoints_first_and_rollback_uses_the_checkpoint() {
        let d = CiscoNxos;
        let cp = common::checkpoint_name();
        let mut steps = change_steps();
        steps.extend([
            cmd(&format!("checkpoint {cp}"), &format!("checkpoint {cp}\r\r\nDone\r\n{P}")),
            cmd("configure terminal", "configure terminal\r\nEnter configuration commands, one per line. End with CNTL/Z.\r\nTEST-12345(config)# "),
            secret("username monitor password Nx0s-Pass", "username monitor password ********\r\nTEST-12345(config)# "),
            cmd("end", &format!("end\r\n{P}")),
            cmd(
                &format!("rollback running-config checkpoint {cp}"),
                &format!("rollback running-config checkpoint {cp}\r\nNote: Applying config parallelly may fail Rollback verification\r\nCollecting Running-Config\r\nGenerating Rollback Patch\r\nExecuting Rollback Patch\r\nGenerating Running-config for verification\r\nGenerating Patch for verification\r\nRollback completed successfully.\r\n{P}"),
            ),
            cmd(&format!("no checkpoint {cp}"), &format!("no checkpoint {cp}\r\n{P}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = change(&d, &mut sh);
        assert_eq!(state.checkpoint.as_deref(), Some(cp.as_str()));
        assert_eq!(
            state.restore_lines,
            vec!["username monitor password 5 $5$QRSTUV$klmnopqrst".to_string()]
        );
        d.rollback(&mut sh, &state, "monitor", &Password::new("o")).unwrap();
        sh.finish();
    }

    #[test]
    fn a_failed_checkpoint_rollback_falls_back_to_the_old_hash() {
        let d = CiscoNxos;
        let state = ChangeState {
            restore_lines: vec!["username monitor password 5 $5$QRSTUV$klmnopqrst".into()],
            checkpoint: Some("keyreeve-1".into()),
            ..ChangeState::default()
        };
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    "rollback running-config checkpoint keyreeve-1",
                    &format!("rollback\r\nERROR: Checkpoint name keyreeve-1 does not exist\r\n{P}"),
                ),
                cmd("configure terminal", "configure terminal\r\nTEST-12345(config)# "),
                secret(
                    "username monitor password 5 $5$QRSTUV$klmnopqrst",
                    "x\r\nTEST-12345(config)# ",
                ),
                cmd("end", &format!("end\r\n{P}")),
                cmd("no checkpoint keyreeve-1", &format!("no checkpoint\r\n{P}")),
            ],
        );
        d.rollback(&mut sh, &state, "monitor", &Password::new("o")).unwrap();
        sh.finish();
    }

    #[test]
    fn a_weak_password_is_rejected_and_config_mode_left() {
        let d = CiscoNxos;
        let cp = common::checkpoint_name();
        let mut steps = change_steps();
        steps.extend([
            cmd(&format!("checkpoint {cp}"), &format!("checkpoint\r\nDone\r\n{P}")),
            cmd("configure terminal", "configure terminal\r\nTEST-12345(config)# "),
            secret(
                "username monitor password Nx0s-Pass",
                "username monitor password ********\r\npassword is weak\r\nPassword should contain characters from at least three of the following classes: lower case letters, upper case letters, digits and special characters.\r\nTEST-12345(config)# ",
            ),
            cmd("end", &format!("end\r\n{P}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "monitor",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Nx0s-Pass"),
            )
            .unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        sh.finish();
    }

    #[test]
    fn save_copies_and_removes_the_checkpoint() {
        let d = CiscoNxos;
        let state = ChangeState {
            checkpoint: Some("keyreeve-1".into()),
            ..ChangeState::default()
        };
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    "copy running-config startup-config",
                    &format!("copy running-config startup-config\r\n[########################################] 100%\r\nCopy complete.\r\n{P}"),
                ),
                cmd("no checkpoint keyreeve-1", &format!("no checkpoint\r\n{P}")),
            ],
        );
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn rules_and_prompt() {
        let r = CiscoNxos.password_rules("x", ChangeMethod::AdminReset);
        assert!(r.forbidden.contains('$') && r.forbidden.contains(' ') && r.min_classes == 3);
        let p = CiscoNxos.prompt();
        assert!(p.is_match("\nTEST-12345# "));
        assert!(p.is_match("TEST-12345(config-if)# "));
        assert!(!p.is_match("TEST-12345> x"));
    }
}
