//! Arista EOS: the change is made in a configuration session committed with a timer, so that EOS
//! reverts by itself if keyreeve disappears; after a fresh login proved it, the session is
//! committed for good and written to startup-config, otherwise it is aborted.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct AristaEos;

/// How long EOS waits for the final commit before reverting.
pub const COMMIT_TIMER: &str = "00:05:00";

static ERRORS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\s*(%|error\b|command authorization failed|permission denied)"));
static USERNAME_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"^username (\S+)(.*)$"));
static PRIVILEGE: LazyLock<Regex> = LazyLock::new(|| re(r"\bprivilege (\d+)"));
static ROLE: LazyLock<Regex> = LazyLock::new(|| re(r"\brole (\S+)"));

const LIST_USERS: &str = "show running-config section username";
const LIST_ENABLE: &str = "show running-config section enable";

struct User {
    name: String,
    privilege: u8,
    role: Option<String>,
    nopassword: bool,
}

fn parse_users(output: &str) -> Vec<User> {
    output
        .lines()
        .map(str::trim_end)
        .filter_map(|line| {
            let caps = USERNAME_LINE.captures(line)?;
            let rest = caps.get(2).map_or("", |m| m.as_str());
            Some(User {
                name: caps.get(1)?.as_str().to_string(),
                privilege: PRIVILEGE
                    .captures(rest)
                    .and_then(|c| c.get(1))
                    .and_then(|m| m.as_str().parse().ok())
                    .unwrap_or(1),
                role: ROLE
                    .captures(rest)
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_string()),
                nopassword: rest.split_whitespace().any(|w| w == "nopassword"),
            })
        })
        .collect()
}

static TIMED_SESSION: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^\s*(keyreeve-\S+)\s+pending-?commit-?timer\b"));

/// keyreeve's configuration sessions waiting for their final commit.
fn pending_timed_sessions(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| TIMED_SESSION.captures(l).map(|c| c[1].to_string()))
        .collect()
}

fn abort_session(shell: &mut dyn Shell, session: &str) -> ConnectorResult<String> {
    common::run(shell, &format!("configure session {session} abort"), &ERRORS, &[])
}

impl Dialect for AristaEos {
    fn kind(&self) -> TargetKind {
        TargetKind::AristaEos
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])[\w+\-.:/\[\]]+(?:\([^)\r\n]+\)){0,3}[>#] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"[ \t]*--More--\s*\z"), " "))
    }

    fn setup(&self, shell: &mut dyn Shell, login: &Credentials) -> ConnectorResult<()> {
        match login.enable.as_ref() {
            Some(enable) => {
                if !common::cisco_enable(shell, Some(enable))? {
                    return Err(ConnectorError::AuthFailed {
                        target: shell.target().to_string(),
                        user: "enable".into(),
                    });
                }
            }
            // EOS usually has no enable password: `enable` just enters privileged mode.
            None => {
                common::cisco_enable(shell, None)?;
            }
        }
        common::run(shell, "terminal length 0", &ERRORS, &[]).map(drop)
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        let out = common::run(shell, LIST_USERS, &ERRORS, &[])?;
        let enable = common::run(shell, LIST_ENABLE, &ERRORS, &[])?;
        let mut accounts: Vec<AccountInfo> = Vec::new();
        for u in parse_users(&out) {
            if accounts.iter().any(|a| a.name == u.name) {
                continue;
            }
            let mut privilege = format!("privilege {}", u.privilege);
            if let Some(role) = &u.role {
                privilege.push_str(&format!(" role {role}"));
            }
            let admin = u.privilege == 15 || u.role.as_deref() == Some("network-admin");
            let mut a = common::user_account(&u.name, privilege, admin);
            if u.nopassword {
                a.details.insert("nopassword".into(), true.into());
            }
            accounts.push(a);
        }
        if enable
            .lines()
            .any(|l| l.starts_with("enable password ") || l.starts_with("enable secret "))
        {
            accounts.push(common::enable_account("privilege 15"));
        }
        Ok(accounts)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 1,
            max_len: 64,
            // How this CLI parses a password is not documented: keep to the recommended alphabet.
            forbidden: common::outside_safe_alphabet(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        let set = match method {
            ChangeMethod::EnableSecret => format!("enable password {REDACTED}"),
            _ => format!("username {account} secret {REDACTED}"),
        };
        vec![
            "configure session keyreeve-<time>".into(),
            set,
            format!("commit timer {COMMIT_TIMER}"),
            "(after verification) configure session keyreeve-<time> commit".into(),
            "write memory".into(),
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
        let (line, shown) = if method == ChangeMethod::EnableSecret {
            (
                common::secret_line(format!("enable password {}", new.expose())),
                format!("enable password {REDACTED}"),
            )
        } else {
            let out = common::run(shell, LIST_USERS, &ERRORS, &[])?;
            if !parse_users(&out).iter().any(|u| u.name == account) {
                return Err(ConnectorError::Protocol {
                    target,
                    detail: format!("no local account `{account}` in the running configuration"),
                });
            }
            (
                common::secret_line(format!("username {account} secret {}", new.expose())),
                format!("username {account} secret {REDACTED}"),
            )
        };
        let session = common::checkpoint_name();
        common::run(shell, &format!("configure session {session}"), &ERRORS, &[])?;
        let applied = common::run_secret(shell, &line, &shown, &ERRORS, &[new])
            .and_then(|_| common::run(shell, &format!("commit timer {COMMIT_TIMER}"), &ERRORS, &[new]));
        if let Err(e) = applied {
            let _ = shell.command("abort");
            let _ = shell.command("end");
            return Err(e);
        }
        Ok(ChangeState {
            checkpoint: Some(session),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        let sessions = match &state.checkpoint {
            Some(session) => vec![session.clone()],
            // A fresh session settling an interrupted change: confirm keyreeve's timed sessions,
            // or EOS reverts them when the timer runs out.
            None => {
                let out = common::run(shell, "show configuration sessions", &ERRORS, &[])?;
                pending_timed_sessions(&out)
            }
        };
        for session in sessions {
            common::run(shell, &format!("configure session {session} commit"), &ERRORS, &[])?;
        }
        common::run(shell, "write memory", &ERRORS, &[]).map(drop)
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        _account: &str,
        _old: &Password,
    ) -> ConnectorResult<()> {
        match &state.checkpoint {
            Some(session) => abort_session(shell, session).map(drop),
            None => Err(ConnectorError::Protocol {
                target: shell.target().to_string(),
                detail: "no configuration session to abort".into(),
            }),
        }
    }

    fn verify_enable(&self, shell: &mut dyn Shell, candidate: &Password) -> ConnectorResult<Verification> {
        common::cisco_verify_enable(shell, candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fake::{cmd, secret, FakeShell};
    use super::*;

    const P: &str = "eos-test-01#";

    fn users_reply() -> String {
        format!(
            "{LIST_USERS}\r\nusername admin privilege 15 role network-admin secret sha512 $6$abc$def\r\n\
             username ops privilege 1 role network-operator secret sha512 $6$ghi$jkl\r\n\
             username auto role network-admin nopassword\r\n\
             username kiosk nopassword\r\n{P}"
        )
    }

    #[test]
    fn lists_privilege_and_role() {
        let d = AristaEos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                cmd(
                    LIST_ENABLE,
                    &format!("{LIST_ENABLE}\r\nenable password sha512 $6$enable$hash\r\n{P}"),
                ),
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
                ("admin", "privilege 15 role network-admin", true),
                ("ops", "privilege 1 role network-operator", false),
                ("auto", "privilege 1 role network-admin", true),
                ("kiosk", "privilege 1", false),
                ("enable", "privilege 15", true),
            ]
        );
        assert_eq!(
            accounts[3].details.get("nopassword"),
            Some(&serde_json::Value::Bool(true))
        );
    }

    fn change_steps() -> Vec<super::super::common::fake::Step> {
        vec![
            cmd(LIST_USERS, &users_reply()),
            cmd(
                "configure session keyreeve-test",
                "configure session keyreeve-test\r\neos-test-01(config-s-keyreeve-test)#",
            ),
            secret(
                "username ops secret E0s.pass-word",
                "username ops secret ********\r\neos-test-01(config-s-keyreeve-test)#",
            ),
            cmd("commit timer 00:05:00", &format!("commit timer 00:05:00\r\n{P}")),
        ]
    }

    fn change(d: &AristaEos, sh: &mut FakeShell) -> ChangeState {
        d.change_password(
            sh,
            "ops",
            ChangeMethod::AdminReset,
            &Password::new("o"),
            &Password::new("E0s.pass-word"),
        )
        .unwrap()
    }

    #[test]
    fn change_in_a_timed_session_then_commit_and_write() {
        let d = AristaEos;
        let mut steps = change_steps();
        steps.extend([
            cmd(
                "configure session keyreeve-test commit",
                &format!("configure session keyreeve-test commit\r\n{P}"),
            ),
            cmd(
                "write memory",
                &format!("write memory\r\nCopy completed successfully.\r\n{P}"),
            ),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = change(&d, &mut sh);
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn save_from_a_fresh_session_confirms_pending_timed_sessions() {
        let d = AristaEos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    "show configuration sessions",
                    &format!("show configuration sessions\r\nMaximum number of completed sessions: 1\r\nMaximum number of pending sessions: 5\r\n\r\n  Name            State              User    Terminal\r\n  --------------- ------------------ ------- --------\r\n  keyreeve-17-0   pendingCommitTimer admin   vty3\r\n  other           pending            alice   vty4\r\n{P}"),
                ),
                cmd("configure session keyreeve-17-0 commit", &format!("configure session keyreeve-17-0 commit\r\n{P}")),
                cmd("write memory", &format!("write memory\r\nCopy completed successfully.\r\n{P}")),
            ],
        );
        let fresh = ChangeState {
            fresh_session: true,
            ..ChangeState::default()
        };
        d.save(&mut sh, &fresh).unwrap();
        sh.finish();
    }

    #[test]
    fn rollback_aborts_the_session() {
        let d = AristaEos;
        let mut steps = change_steps();
        steps.push(cmd(
            "configure session keyreeve-test abort",
            &format!("configure session keyreeve-test abort\r\n{P}"),
        ));
        let mut sh = FakeShell::new(&d, steps);
        let state = change(&d, &mut sh);
        d.rollback(&mut sh, &state, "ops", &Password::new("o")).unwrap();
        sh.finish();
    }

    #[test]
    fn enable_password_changes_in_a_session_too() {
        let d = AristaEos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    "configure session keyreeve-test",
                    "x\r\neos-test-01(config-s-keyreeve-test)#",
                ),
                secret("enable password En4.ble-x", "x\r\neos-test-01(config-s-keyreeve-test)#"),
                cmd("commit timer 00:05:00", &format!("commit timer 00:05:00\r\n{P}")),
                cmd("configure session keyreeve-test abort", &format!("x\r\n{P}")),
            ],
        );
        let state = d
            .change_password(
                &mut sh,
                "enable",
                ChangeMethod::EnableSecret,
                &Password::new("o"),
                &Password::new("En4.ble-x"),
            )
            .unwrap();
        d.rollback(&mut sh, &state, "enable", &Password::new("o")).unwrap();
        sh.finish();
        assert_eq!(
            d.describe_change("enable", ChangeMethod::EnableSecret)[1],
            "enable password ********"
        );
    }

    #[test]
    fn invalid_input_aborts_the_session() {
        let d = AristaEos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                cmd(
                    "configure session keyreeve-test",
                    "x\r\neos-test-01(config-s-keyreeve-test)#",
                ),
                secret(
                    "username ops secret E0s.pass-word",
                    "x\r\n% Invalid input (at token 3: 'E0s.pass-word')\r\neos-test-01(config-s-keyreeve-test)#",
                ),
                cmd("abort", &format!("abort\r\n{P}")),
                cmd("end", &format!("end\r\n{P}")),
            ],
        );
        let e = d
            .change_password(
                &mut sh,
                "ops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("E0s.pass-word"),
            )
            .unwrap_err();
        assert!(matches!(e, ConnectorError::UnexpectedOutput { .. }), "{e}");
        assert!(!e.to_string().contains("E0s.pass-word"), "{e}");
        sh.finish();
    }

    #[test]
    fn setup_enables_and_disables_paging() {
        let d = AristaEos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("enable", "enable\r\neos-test-01#"),
                cmd(
                    "terminal length 0",
                    "terminal length 0\r\nPagination disabled.\r\neos-test-01#",
                ),
            ],
        );
        let login = Credentials {
            username: "admin".into(),
            method: crate::inventory::LoginMethod::Password,
            secret: Password::new("x"),
            enable: None,
        };
        d.setup(&mut sh, &login).unwrap();
        sh.finish();
    }

    #[test]
    fn prompts() {
        let p = AristaEos.prompt();
        for ok in [
            "eos-test-01#",
            "eos-test-01>",
            "eos-test-01(config-s-keyreeve-1)#",
            "sw(config)#",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
    }
}
