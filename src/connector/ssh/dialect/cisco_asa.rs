//! Cisco ASA: `username NAME password PW privilege P` (the privilege is restated, because an ASA
//! user defaults to privilege 2), `enable password`, `write memory`, and rollback by re-applying
//! the old hashed line. Passwords are 3 to 32 characters.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct CiscoAsa;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(error:|%\s*(invalid|incomplete|ambiguous|bad|access denied|unknown|error)|command authorization failed)",
    )
});

static USERNAME_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"^username (\S+) (.*)$"));
static PRIVILEGE: LazyLock<Regex> = LazyLock::new(|| re(r"\bprivilege (\d+)"));

const LIST_USERS: &str = "show running-config username";
const LIST_ENABLE: &str = "show running-config | include ^enable";
/// An ASA user created without `privilege` has level 2.
const DEFAULT_PRIVILEGE: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
struct UserLine {
    name: String,
    privilege: u8,
    line: String,
}

fn parse_user_lines(output: &str) -> Vec<UserLine> {
    output
        .lines()
        .map(str::trim_end)
        .filter_map(|line| {
            let caps = USERNAME_LINE.captures(line)?;
            let rest = caps.get(2).map_or("", |m| m.as_str());
            // `username NAME attributes` opens a sub-mode; it is not a password line.
            if rest.trim() == "attributes" {
                return None;
            }
            let privilege = PRIVILEGE
                .captures(rest)
                .and_then(|c| c.get(1))
                .and_then(|m| m.as_str().parse().ok())
                .unwrap_or(DEFAULT_PRIVILEGE);
            Some(UserLine {
                name: caps.get(1)?.as_str().to_string(),
                privilege,
                line: line.to_string(),
            })
        })
        .collect()
}

fn find_user(shell: &mut dyn Shell, account: &str) -> ConnectorResult<UserLine> {
    let out = common::run(shell, LIST_USERS, &ERRORS, &[])?;
    parse_user_lines(&out)
        .into_iter()
        .find(|u| u.name == account)
        .ok_or_else(|| ConnectorError::Protocol {
            target: shell.target().to_string(),
            detail: format!("no local account `{account}` in the running configuration"),
        })
}

impl Dialect for CiscoAsa {
    fn kind(&self) -> TargetKind {
        TargetKind::CiscoAsa
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])[\w+\-.:/\[\]]+(?:\([^)\r\n]+\)){0,3}[>#] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"[ \t]*<--- More --->\s*\z"), " "))
    }

    fn setup(&self, shell: &mut dyn Shell, login: &Credentials) -> ConnectorResult<()> {
        // Without an enable secret the login stays where it landed (auto-enable lands in `#`).
        if let Some(enable) = login.enable.as_ref() {
            if !common::cisco_enable(shell, Some(enable))? {
                return Err(ConnectorError::AuthFailed {
                    target: shell.target().to_string(),
                    user: "enable".into(),
                });
            }
        }
        common::run(shell, "terminal pager 0", &ERRORS, &[]).map(drop)
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        let users = common::run(shell, LIST_USERS, &ERRORS, &[])?;
        let enable = common::run(shell, LIST_ENABLE, &ERRORS, &[])?;
        let mut accounts: Vec<AccountInfo> = Vec::new();
        for u in parse_user_lines(&users) {
            if !accounts.iter().any(|a| a.name == u.name) {
                accounts.push(common::user_account(
                    &u.name,
                    format!("privilege {}", u.privilege),
                    u.privilege == 15,
                ));
            }
        }
        if enable.lines().any(|l| l.starts_with("enable password ")) {
            accounts.push(common::enable_account("privilege 15"));
        }
        Ok(accounts)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 3,
            max_len: 32,
            // `?` opens help; `|` starts an output filter, which silently cuts the line short.
            forbidden: "?| \t".into(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        let set = match method {
            ChangeMethod::EnableSecret => format!("enable password {REDACTED}"),
            _ => format!("username {account} password {REDACTED} privilege <current>"),
        };
        vec!["configure terminal".into(), set, "exit".into()]
    }

    fn change_password(
        &self,
        shell: &mut dyn Shell,
        account: &str,
        method: ChangeMethod,
        _old: &Password,
        new: &Password,
    ) -> ConnectorResult<ChangeState> {
        let (restore, line, shown) = match method {
            ChangeMethod::EnableSecret => {
                let out = common::run(shell, LIST_ENABLE, &ERRORS, &[])?;
                let restore = out
                    .lines()
                    .map(str::trim_end)
                    .find(|l| l.starts_with("enable password "))
                    .map_or_else(|| "no enable password".to_string(), str::to_string);
                (
                    restore,
                    common::secret_line(format!("enable password {}", new.expose())),
                    format!("enable password {REDACTED}"),
                )
            }
            ChangeMethod::AdminReset | ChangeMethod::SelfChange => {
                let user = find_user(shell, account)?;
                let p = user.privilege;
                (
                    user.line,
                    common::secret_line(format!("username {account} password {} privilege {p}", new.expose())),
                    format!("username {account} password {REDACTED} privilege {p}"),
                )
            }
        };
        common::in_config_mode(shell, "configure terminal", "exit", &ERRORS, |sh| {
            common::run_secret(sh, &line, &shown, &ERRORS, &[new])
        })?;
        Ok(ChangeState {
            restore_lines: vec![restore],
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, _state: &ChangeState) -> ConnectorResult<()> {
        common::run(shell, "write memory", &ERRORS, &[]).map(drop)
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        _account: &str,
        _old: &Password,
    ) -> ConnectorResult<()> {
        common::in_config_mode(shell, "configure terminal", "exit", &ERRORS, |sh| {
            common::restore_lines(sh, &state.restore_lines, &ERRORS)
        })
    }

    fn verify_enable(&self, shell: &mut dyn Shell, candidate: &Password) -> ConnectorResult<Verification> {
        common::cisco_verify_enable(shell, candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fake::{cmd, secret, FakeShell, PAGER_KEY};
    use super::*;
    use crate::inventory::LoginMethod;

    const P: &str = "\rLAB-ASA12-Oxidized-IPv6# ";

    fn users_reply() -> String {
        format!(
            "{LIST_USERS}\r\nusername oxidized password $sha512$5000$AAAABBBB== pbkdf2 privilege 15\r\n\
             username helpdesk password $sha512$5000$CCCCDDDD== pbkdf2\r\n<--- More --->{PAGER_KEY}\r              \r\
             username legacy password 3USUcOPFUiMCO4Jk encrypted privilege 15\r\n\
             username legacy attributes\r\n service-type admin\r\n{P}"
        )
    }

    #[test]
    fn setup_enables_then_disables_the_pager() {
        let d = CiscoAsa;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("enable", "enable\r\nPassword: "),
                secret("en-secret", "******************\r\n\rLAB-ASA12-Oxidized-IPv6# "),
                cmd("terminal pager 0", &format!("terminal pager 0\r\n{P}")),
            ],
        );
        let login = Credentials {
            username: "oxidized".into(),
            method: LoginMethod::Password,
            secret: Password::new("x"),
            enable: Some(Password::new("en-secret")),
        };
        d.setup(&mut sh, &login).unwrap();
        sh.finish();
    }

    #[test]
    fn lists_users_with_default_privilege_two() {
        let d = CiscoAsa;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                cmd(
                    LIST_ENABLE,
                    &format!("{LIST_ENABLE}\r\nenable password $sha512$5000$EEEE pbkdf2\r\n{P}"),
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
                ("oxidized", "privilege 15", true),
                ("helpdesk", "privilege 2", false),
                ("legacy", "privilege 15", true),
                ("enable", "privilege 15", true),
            ]
        );
    }

    #[test]
    fn change_restates_the_privilege_save_and_rollback() {
        let d = CiscoAsa;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                cmd(
                    "configure terminal",
                    "configure terminal\r\nLAB-ASA12-Oxidized-IPv6(config)# ",
                ),
                secret(
                    "username helpdesk password Hx_9.long privilege 2",
                    "username helpdesk password ******** privilege 2\r\nLAB-ASA12-Oxidized-IPv6(config)# ",
                ),
                cmd("exit", &format!("exit\r\n{P}")),
                cmd(
                    "configure terminal",
                    "configure terminal\r\nLAB-ASA12-Oxidized-IPv6(config)# ",
                ),
                secret(
                    "username helpdesk password $sha512$5000$CCCCDDDD== pbkdf2",
                    "username helpdesk password ...\r\nLAB-ASA12-Oxidized-IPv6(config)# ",
                ),
                cmd("exit", &format!("exit\r\n{P}")),
                cmd(
                    "write memory",
                    &format!("write memory\r\nBuilding configuration...\r\nCryptochecksum: 1234abcd\r\n[OK]\r\n{P}"),
                ),
            ],
        );
        let state = d
            .change_password(
                &mut sh,
                "helpdesk",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Hx_9.long"),
            )
            .unwrap();
        d.rollback(&mut sh, &state, "helpdesk", &Password::new("o")).unwrap();
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn a_too_short_password_is_rejected_as_such() {
        let d = CiscoAsa;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_ENABLE, &format!("{LIST_ENABLE}\r\n{P}")),
                cmd("configure terminal", "configure terminal\r\nfw(config)# "),
                secret(
                    "enable password ab",
                    "enable password ab\r\nERROR: Password length must be at least 3 characters\r\nfw(config)# ",
                ),
                cmd("exit", "exit\r\nfw# "),
            ],
        );
        let e = d
            .change_password(
                &mut sh,
                "enable",
                ChangeMethod::EnableSecret,
                &Password::new("o"),
                &Password::new("ab"),
            )
            .unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        sh.finish();
    }

    #[test]
    fn prompts_of_every_mode_and_context() {
        let p = CiscoAsa.prompt();
        for ok in [
            "\nLAB-ASA12-Oxidized-IPv6>",
            "LAB-ASA12-Oxidized-IPv6# ",
            "fw(config)# ",
            "fw/ctx1# ",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
        assert!(!p.is_match("Password: "));
    }

    #[test]
    fn rules_are_three_to_thirty_two() {
        let r = CiscoAsa.password_rules("x", ChangeMethod::AdminReset);
        assert_eq!((r.min_len, r.max_len), (3, 32));
        assert!(r.forbidden.contains('?'));
    }
}
