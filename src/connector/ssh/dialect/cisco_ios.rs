//! Cisco IOS and IOS-XE: `username NAME privilege P secret PW`, the enable secret, `write memory`,
//! and rollback by re-applying the hash line captured before the change. IOS hashes a `secret`
//! itself, so the old line restores the old password exactly.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct CiscoIos;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*%\s*(invalid|incomplete|ambiguous|bad|access denied|unknown|error|not |cannot|can not|password|secret)|^\s*(error\b|command authorization failed|can not have both)",
    )
});

static USERNAME_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"^username (\S+)(.*)$"));
static PRIVILEGE: LazyLock<Regex> = LazyLock::new(|| re(r"\bprivilege (\d+)"));
static SECRET_FORM: LazyLock<Regex> = LazyLock::new(|| re(r"\b(secret|password) (?:(\d) )?\S"));

const LIST_USERS: &str = "show running-config | section username";
const LIST_ENABLE: &str = "show running-config | include ^enable";

/// One `username` line as the running configuration shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserLine {
    pub name: String,
    pub privilege: u8,
    /// `secret` or `password`, with its type digit, e.g. `secret 9`; `nopassword` when none.
    pub form: String,
    pub line: String,
}

pub(crate) fn parse_user_lines(output: &str) -> Vec<UserLine> {
    output
        .lines()
        .map(str::trim_end)
        .filter_map(|line| {
            let caps = USERNAME_LINE.captures(line)?;
            let name = caps.get(1)?.as_str().to_string();
            let rest = caps.get(2).map_or("", |m| m.as_str());
            let privilege = PRIVILEGE
                .captures(rest)
                .and_then(|c| c.get(1))
                .and_then(|m| m.as_str().parse().ok())
                .unwrap_or(1);
            let form = match SECRET_FORM.captures(rest) {
                Some(c) => match c.get(2) {
                    Some(t) => format!("{} {}", &c[1], t.as_str()),
                    None => c[1].to_string(),
                },
                None => "nopassword".to_string(),
            };
            Some(UserLine {
                name,
                privilege,
                form,
                line: line.to_string(),
            })
        })
        .collect()
}

fn accounts_from(users: &[UserLine], enable_output: &str) -> Vec<AccountInfo> {
    let mut accounts: Vec<AccountInfo> = Vec::new();
    for u in users {
        if accounts.iter().any(|a| a.name == u.name) {
            continue;
        }
        let mut a = common::user_account(&u.name, format!("privilege {}", u.privilege), u.privilege == 15);
        a.details.insert("password_form".into(), u.form.clone().into());
        if u.form.starts_with("password") {
            // Type 0 and 7 are plaintext or reversible: worth flagging in discovery.
            a.details.insert("reversible".into(), true.into());
        }
        accounts.push(a);
    }
    if let Some(line) = enable_line(enable_output) {
        // Only the keyword and the type digit: an `enable password cisco` line (type 0) holds the
        // password itself, which must not reach discovery output or snapshots.
        let form = match SECRET_FORM.captures(&line) {
            Some(c) => match c.get(2) {
                Some(t) => format!("enable {} {}", &c[1], t.as_str()),
                None => format!("enable {}", &c[1]),
            },
            None => "enable".to_string(),
        };
        let mut a = common::enable_account("privilege 15");
        if form == "enable password" || form == "enable password 0" || form == "enable password 7" {
            a.details.insert("reversible".into(), true.into());
        }
        a.details.insert("password_form".into(), form.into());
        accounts.push(a);
    }
    accounts
}

/// The `enable secret` line, else the `enable password` line.
fn enable_line(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
    lines
        .iter()
        .find(|l| l.starts_with("enable secret "))
        .or_else(|| lines.iter().find(|l| l.starts_with("enable password ")))
        .map(|l| l.to_string())
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

impl Dialect for CiscoIos {
    fn kind(&self) -> TargetKind {
        TargetKind::CiscoIos
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])[\w+\-.:/\[\]]+(?:\([^)\r\n]+\)){0,3}[>#] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"[ \t]*--More--\s*\z"), " "))
    }

    fn setup(&self, shell: &mut dyn Shell, login: &Credentials) -> ConnectorResult<()> {
        common::run(shell, "terminal length 0", &ERRORS, &[])?;
        common::run(shell, "terminal width 511", &ERRORS, &[])?;
        // Without an enable secret the login stays where it landed (privilege 15 lands in `#`);
        // verifying a candidate enable secret starts from there.
        let Some(enable) = login.enable.as_ref() else {
            return Ok(());
        };
        if common::cisco_enable(shell, Some(enable))? {
            return Ok(());
        }
        Err(ConnectorError::AuthFailed {
            target: shell.target().to_string(),
            user: "enable".into(),
        })
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        let users = common::run(shell, LIST_USERS, &ERRORS, &[])?;
        let enable = common::run(shell, LIST_ENABLE, &ERRORS, &[])?;
        Ok(accounts_from(&parse_user_lines(&users), &enable))
    }

    fn password_rules(&self, _account: &str, method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 1,
            max_len: 25,
            // `?` opens help as soon as it is typed; leading spaces are dropped; `|` may start an
            // output filter (the ASA's parser cuts the line there).
            forbidden: "?| \t".into(),
            min_classes: 0,
            no_leading_digit: method == ChangeMethod::EnableSecret,
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        let set = match method {
            ChangeMethod::EnableSecret => format!("enable secret {REDACTED}"),
            _ => format!("username {account} privilege <current> secret {REDACTED}"),
        };
        vec!["configure terminal".into(), set, "end".into()]
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
                // Without an `enable secret` line, the old state is its absence.
                let restore = out
                    .lines()
                    .map(str::trim_end)
                    .find(|l| l.starts_with("enable secret "))
                    .map_or_else(|| "no enable secret".to_string(), str::to_string);
                let line = common::secret_line(format!("enable secret {}", new.expose()));
                (restore, line, format!("enable secret {REDACTED}"))
            }
            ChangeMethod::AdminReset | ChangeMethod::SelfChange => {
                let user = find_user(shell, account)?;
                if user.form.starts_with("password") {
                    return Err(ConnectorError::Protocol {
                        target: shell.target().to_string(),
                        detail: format!(
                            "`{account}` has a reversible `{}` line; IOS cannot switch it to `secret` in place \
                             (convert the account by hand first)",
                            user.form
                        ),
                    });
                }
                let privilege = if user.privilege == 1 {
                    String::new()
                } else {
                    format!(" privilege {}", user.privilege)
                };
                let line = common::secret_line(format!("username {account}{privilege} secret {}", new.expose()));
                (
                    user.line,
                    line,
                    format!("username {account}{privilege} secret {REDACTED}"),
                )
            }
        };
        common::in_config_mode(shell, "configure terminal", "end", &ERRORS, |sh| {
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
        common::in_config_mode(shell, "configure terminal", "end", &ERRORS, |sh| {
            common::restore_lines(sh, &state.restore_lines, &ERRORS)
        })
    }

    fn verify_enable(&self, shell: &mut dyn Shell, candidate: &Password) -> ConnectorResult<Verification> {
        common::cisco_verify_enable(shell, candidate)
    }
}

#[cfg(test)]
mod plaintext_enable_tests {
    use super::*;

    #[test]
    fn a_plaintext_enable_password_is_never_copied_into_discovery_details() {
        let accounts = accounts_from(&[], "enable password cisco-plain-123\n");
        let shown = serde_json::to_string(&accounts).unwrap();
        assert!(!shown.contains("cisco-plain-123"), "{shown}");
        assert_eq!(accounts[0].details["password_form"], "enable password");
        assert_eq!(accounts[0].details["reversible"], true);
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fake::{cmd, secret, silent, FakeShell, PAGER_KEY};
    use super::*;
    use crate::inventory::LoginMethod;

    const P: &str = "LAB-SW123_9200L#";

    fn login(enable: Option<&str>) -> Credentials {
        Credentials {
            username: "netops".into(),
            method: LoginMethod::Password,
            secret: Password::new("login-pw"),
            enable: enable.map(Password::new),
        }
    }

    fn users_reply() -> String {
        format!(
            "{LIST_USERS}\r\nusername netops privilege 15 secret 9 $9$aaaaHASHaaaa$bbbbbbbb\r\n\
             username backup privilege 15 password 7 0822455D0A16\r\n\
             username viewer secret 5 $1$abcd$efghijklmno\r\n --More-- {PAGER_KEY}\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\
             username helpdesk privilege 7 secret 8 $8$salt$hash\r\n{P}"
        )
    }

    #[test]
    fn setup_disables_paging_and_enters_enable_mode() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("terminal length 0", "terminal length 0\r\nLAB-SW123_9200L>"),
                cmd("terminal width 511", "terminal width 511\r\nLAB-SW123_9200L>"),
                cmd("enable", "enable\r\nPassword: "),
                secret("en-secret", "\r\nLAB-SW123_9200L#"),
            ],
        );
        d.setup(&mut sh, &login(Some("en-secret"))).unwrap();
        sh.finish();
    }

    #[test]
    fn setup_without_an_enable_secret_stays_where_the_login_landed() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("terminal length 0", "terminal length 0\r\nR1#"),
                cmd("terminal width 511", "terminal width 511\r\nR1#"),
            ],
        );
        d.setup(&mut sh, &login(None)).unwrap();
        sh.finish();
    }

    #[test]
    fn setup_reports_a_wrong_enable_secret_as_auth_failure() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("terminal length 0", "terminal length 0\r\nR1>"),
                cmd("terminal width 511", "terminal width 511\r\nR1>"),
                cmd("enable", "enable\r\nPassword: "),
                secret("wrong-secret", "\r\nPassword: "),
                cmd("", "\r\nPassword: "),
                cmd("", "\r\n% Bad secrets\r\n\r\nR1>"),
            ],
        );
        let e = d.setup(&mut sh, &login(Some("wrong-secret"))).unwrap_err();
        assert!(
            matches!(e, ConnectorError::AuthFailed { ref user, .. } if user == "enable"),
            "{e}"
        );
        sh.finish();
    }

    #[test]
    fn lists_users_and_enable_secret_through_the_pager() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                cmd(
                    LIST_ENABLE,
                    &format!("{LIST_ENABLE}\r\nenable secret 9 $9$enableHASH$xyz\r\n{P}"),
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
                ("netops", "privilege 15", true),
                ("backup", "privilege 15", true),
                ("viewer", "privilege 1", false),
                ("helpdesk", "privilege 7", false),
                ("enable", "privilege 15", true),
            ]
        );
        assert_eq!(
            accounts[1].details.get("reversible"),
            Some(&serde_json::Value::Bool(true))
        );
        assert_eq!(accounts[4].kind, crate::connector::AccountKind::EnableSecret);
    }

    #[test]
    fn change_keeps_the_privilege_and_rollback_reapplies_the_old_hash() {
        let d = CiscoIos;
        let new = Password::new("N3w-Pass.word");
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                cmd("configure terminal", "configure terminal\r\nEnter configuration commands, one per line.  End with CNTL/Z.\r\nLAB-SW123_9200(config)#"),
                secret("username helpdesk privilege 7 secret N3w-Pass.word", "username helpdesk privilege 7 secret ********\r\nLAB-SW123_9200(config)#"),
                cmd("end", "end\r\nLAB-SW123_9200L#"),
                cmd("configure terminal", "configure terminal\r\nLAB-SW123_9200(config)#"),
                secret("username helpdesk privilege 7 secret 8 $8$salt$hash", "username helpdesk ...\r\nLAB-SW123_9200(config)#"),
                cmd("end", "end\r\nLAB-SW123_9200L#"),
            ],
        );
        let state = d
            .change_password(
                &mut sh,
                "helpdesk",
                ChangeMethod::AdminReset,
                &Password::new("old"),
                &new,
            )
            .unwrap();
        assert_eq!(
            state.restore_lines,
            vec!["username helpdesk privilege 7 secret 8 $8$salt$hash".to_string()]
        );
        d.rollback(&mut sh, &state, "helpdesk", &Password::new("old")).unwrap();
        sh.finish();
    }

    #[test]
    fn change_and_save_of_the_enable_secret() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    LIST_ENABLE,
                    &format!("{LIST_ENABLE}\r\nenable secret 9 $9$enableHASH$xyz\r\n{P}"),
                ),
                cmd("configure terminal", "configure terminal\r\nR1(config)#"),
                secret("enable secret Abc-123.x", "enable secret ********\r\nR1(config)#"),
                cmd("end", "end\r\nR1#"),
                cmd(
                    "write memory",
                    "write memory\r\nBuilding configuration...\r\n[OK]\r\nR1#",
                ),
            ],
        );
        let state = d
            .change_password(
                &mut sh,
                "enable",
                ChangeMethod::EnableSecret,
                &Password::new("o"),
                &Password::new("Abc-123.x"),
            )
            .unwrap();
        assert_eq!(
            state.restore_lines,
            vec!["enable secret 9 $9$enableHASH$xyz".to_string()]
        );
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn enable_secret_without_a_previous_secret_rolls_back_to_none() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    LIST_ENABLE,
                    &format!("{LIST_ENABLE}\r\nenable password 7 0822455D0A16\r\n{P}"),
                ),
                cmd("configure terminal", "configure terminal\r\nR1(config)#"),
                secret("enable secret Abc-123.x", "enable secret ********\r\nR1(config)#"),
                cmd("end", "end\r\nR1#"),
            ],
        );
        let state = d
            .change_password(
                &mut sh,
                "enable",
                ChangeMethod::EnableSecret,
                &Password::new("o"),
                &Password::new("Abc-123.x"),
            )
            .unwrap();
        assert_eq!(state.restore_lines, vec!["no enable secret".to_string()]);
        sh.finish();
    }

    #[test]
    fn invalid_input_is_unexpected_output_without_the_secret_and_leaves_config_mode() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                cmd("configure terminal", "configure terminal\r\nR1(config)#"),
                secret(
                    "username viewer secret Zz-9876543",
                    "username viewer secret Zz-9876543\r\n                              ^\r\n% Invalid input detected at '^' marker.\r\n\r\nR1(config)#",
                ),
                cmd("end", "end\r\nR1#"),
            ],
        );
        let e = d
            .change_password(
                &mut sh,
                "viewer",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Zz-9876543"),
            )
            .unwrap_err();
        assert!(matches!(e, ConnectorError::UnexpectedOutput { .. }), "{e}");
        assert!(!e.to_string().contains("Zz-9876543"), "{e}");
        assert!(e.to_string().contains("% Invalid input"), "{e}");
        sh.finish();
    }

    #[test]
    fn a_reversible_password_line_is_refused_before_anything_is_sent() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(&d, vec![cmd(LIST_USERS, &users_reply())]);
        let e = d
            .change_password(
                &mut sh,
                "backup",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("n"),
            )
            .unwrap_err();
        assert!(e.to_string().contains("reversible"), "{e}");
        sh.finish();
    }

    #[test]
    fn an_unknown_account_is_refused_instead_of_created() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(&d, vec![cmd(LIST_USERS, &users_reply())]);
        let e = d
            .change_password(
                &mut sh,
                "ghost",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("n"),
            )
            .unwrap_err();
        assert!(e.to_string().contains("no local account `ghost`"), "{e}");
        sh.finish();
    }

    #[test]
    fn authorization_failure_on_save_is_reported() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![cmd(
                "write memory",
                "write memory\r\nCommand authorization failed.\r\nR1#",
            )],
        );
        let e = d.save(&mut sh, &ChangeState::default()).unwrap_err();
        assert!(e.to_string().contains("Command authorization failed"), "{e}");
        sh.finish();
    }

    #[test]
    fn a_silent_device_times_out() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(&d, vec![silent("write memory")]);
        let e = d.save(&mut sh, &ChangeState::default()).unwrap_err();
        assert!(matches!(e, ConnectorError::Timeout { .. }), "{e}");
    }

    #[test]
    fn verify_enable_accepts_and_rejects() {
        let d = CiscoIos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("disable", "disable\r\nR1>"),
                cmd("enable", "enable\r\nPassword: "),
                secret("good-one", "\r\nR1#"),
                cmd("disable", "disable\r\nR1>"),
                cmd("enable", "enable\r\nPassword: "),
                secret("bad-one1", "\r\nPassword: "),
                cmd("", "\r\nPassword: "),
                cmd("", "\r\n% Bad secrets\r\n\r\nR1>"),
            ],
        );
        assert_eq!(
            d.verify_enable(&mut sh, &Password::new("good-one")).unwrap(),
            Verification::Accepted
        );
        assert_eq!(
            d.verify_enable(&mut sh, &Password::new("bad-one1")).unwrap(),
            Verification::Rejected
        );
        sh.finish();
    }

    #[test]
    fn prompt_matches_every_mode_and_nothing_else() {
        let p = CiscoIos.prompt();
        for ok in [
            "LAB-SW123_9200L#",
            "R1>",
            "\nR1(config)#",
            "x\nR1(config-if)# ",
            "OXIDIZED-WLC1#",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
        for no in ["joo", "Password: ", "R1# show run\nfoo"] {
            assert!(!p.is_match(no), "{no:?}");
        }
    }

    #[test]
    fn rules_forbid_the_question_mark_and_leading_digits_for_enable() {
        let r = CiscoIos.password_rules("enable", ChangeMethod::EnableSecret);
        assert!(r.forbidden.contains('?') && r.no_leading_digit && r.max_len == 25);
        assert!(!CiscoIos.password_rules("x", ChangeMethod::AdminReset).no_leading_digit);
    }

    #[test]
    fn describe_change_hides_the_secret() {
        let lines = CiscoIos.describe_change("netops", ChangeMethod::AdminReset);
        assert_eq!(lines[1], "username netops privilege <current> secret ********");
    }
}
