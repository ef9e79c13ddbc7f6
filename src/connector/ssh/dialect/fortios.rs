//! Fortinet FortiOS: `config system admin` / `edit NAME` / `set password PW` / `end`, where `end`
//! already saves (automatic save mode), inside `config global` when VDOMs are on. Changing the
//! login account's own password logs that session out: the change then counts as made and saved,
//! the connector verifies it with a fresh login, and a rollback needs a new session with the new
//! password (see [`ChangeState::session_ended`]).

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct FortiOs;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(command fail|command parse error|value parse error|entry not found|unknown action|node_check_object fail|permission denied|error\b)",
    )
});
static VDOM_MODE: LazyLock<Regex> = LazyLock::new(|| re(r"(?im)^\s*virtual domain configuration:\s*(\S+)"));
static EDIT: LazyLock<Regex> = LazyLock::new(|| re(r#"^\s*edit "?([^"]*)"?\s*$"#));
static ACCPROFILE: LazyLock<Regex> = LazyLock::new(|| re(r#"^\s*set accprofile "?([^"]*)"?\s*$"#));

const LIST_ADMINS: &str = "show system admin";

/// Whether VDOMs are on, so that system settings live under `config global`.
fn vdoms_enabled(shell: &mut dyn Shell) -> ConnectorResult<bool> {
    let out = common::run(shell, "get system status", &ERRORS, &[])?;
    Ok(VDOM_MODE
        .captures(&out)
        .and_then(|c| c.get(1))
        .is_some_and(|m| !m.as_str().eq_ignore_ascii_case("disable")))
}

fn parse_admins(output: &str) -> Vec<AccountInfo> {
    let mut accounts: Vec<AccountInfo> = Vec::new();
    for line in output.lines() {
        if let Some(c) = EDIT.captures(line) {
            accounts.push(common::user_account(&c[1], "accprofile (none)".into(), false));
        } else if let Some(c) = ACCPROFILE.captures(line) {
            if let Some(a) = accounts.last_mut() {
                a.privilege = format!("accprofile {}", &c[1]);
                a.admin = &c[1] == "super_admin";
            }
        }
    }
    accounts
}

/// FortiOS quotes names with `"`; a name holding one cannot be edited safely.
fn quoted(shell: &dyn Shell, account: &str) -> ConnectorResult<String> {
    if account.contains(['"', '\\', '\n', '\r']) {
        return Err(ConnectorError::Protocol {
            target: shell.target().to_string(),
            detail: format!("account name {account:?} cannot be quoted for the FortiOS CLI"),
        });
    }
    Ok(format!("\"{account}\""))
}

fn list(shell: &mut dyn Shell, vdoms: bool) -> ConnectorResult<Vec<AccountInfo>> {
    if vdoms {
        common::run(shell, "config global", &ERRORS, &[])?;
    }
    let out = common::run(shell, LIST_ADMINS, &ERRORS, &[]);
    if vdoms {
        common::run(shell, "end", &ERRORS, &[])?;
    }
    Ok(parse_admins(&out?))
}

/// Sets `account`'s password to `password`. Returns whether the device ended the session at `end`
/// (expected only when `own` is true).
fn set_password(
    shell: &mut dyn Shell,
    account: &str,
    password: &Password,
    own: bool,
    vdoms: bool,
) -> ConnectorResult<bool> {
    let name = quoted(shell, account)?;
    if vdoms {
        common::run(shell, "config global", &ERRORS, &[])?;
    }
    common::run(shell, "config system admin", &ERRORS, &[])?;
    common::run(shell, &format!("edit {name}"), &ERRORS, &[])?;
    let line = common::secret_line(format!("set password {}", password.expose()));
    if let Err(e) = common::run_secret(shell, &line, &format!("set password {REDACTED}"), &ERRORS, &[password]) {
        // `abort` leaves the edit without applying it; then leave every level.
        let _ = shell.command("abort");
        let _ = shell.command("end");
        if vdoms {
            let _ = shell.command("end");
        }
        return Err(e);
    }
    let out = match shell.command("end") {
        Ok(out) => out,
        // FortiOS logs an admin out when its own password changes; `end` has saved it by then.
        Err(_) if own => return Ok(true),
        Err(e) => return Err(e),
    };
    common::check(shell.target(), "running `end`", &out, &ERRORS, &[password])?;
    if vdoms {
        match shell.command("end") {
            Ok(out) => common::check(shell.target(), "running `end`", &out, &ERRORS, &[password])?,
            Err(_) if own => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    // The logout of an admin whose own password changed may arrive after the prompt: the session
    // is as good as ended either way, so nothing more is sent on it.
    Ok(own)
}

impl Dialect for FortiOs {
    fn kind(&self) -> TargetKind {
        TargetKind::Fortios
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])(?:\([A-Z]\) )?[\w.\-]+(?:\([^()\r\n]+\))?(?: \([^()\r\n]+\))* [#$] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"[ \t]*--More--\s*\z"), " "))
    }

    fn login_questions(&self) -> Vec<(Regex, &'static str)> {
        // The disclaimer takes the key itself: a RETURN after it would be an empty command whose
        // extra prompt could arrive after the first read and leave every later read one behind.
        vec![(re(r"\(Press 'a' to accept\):\s*\z"), "a")]
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        let vdoms = vdoms_enabled(shell)?;
        if vdoms {
            common::run(shell, "config global", &ERRORS, &[])?;
        }
        common::run(shell, "config system console", &ERRORS, &[])?;
        common::run(shell, "set output standard", &ERRORS, &[])?;
        common::run(shell, "end", &ERRORS, &[])?;
        if vdoms {
            common::run(shell, "end", &ERRORS, &[])?;
        }
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        let vdoms = vdoms_enabled(shell)?;
        list(shell, vdoms)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 1,
            max_len: 128,
            // How this CLI parses a password is not documented: keep to the recommended alphabet.
            forbidden: common::outside_safe_alphabet(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        let mut lines = vec![
            "(with VDOMs) config global".into(),
            "config system admin".into(),
            format!("edit \"{account}\""),
            format!("set password {REDACTED}"),
            "end (saves)".into(),
        ];
        if method == ChangeMethod::SelfChange {
            lines.push("(FortiOS logs this session out: the change is verified with a fresh login)".into());
        }
        lines
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
        let vdoms = vdoms_enabled(shell)?;
        // `edit` of an unknown name would create a new administrator.
        if !list(shell, vdoms)?.iter().any(|a| a.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no administrator `{account}` on the device"),
            });
        }
        let ended = set_password(shell, account, new, method == ChangeMethod::SelfChange, vdoms)?;
        Ok(ChangeState {
            session_ended: ended,
            ..ChangeState::default()
        })
    }

    fn save(&self, _shell: &mut dyn Shell, _state: &ChangeState) -> ConnectorResult<()> {
        // `end` saved the change (automatic save mode).
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        let vdoms = vdoms_enabled(shell)?;
        // After a self-change the shell is a fresh session of the same account, which the device
        // logs out again when the password goes back.
        set_password(shell, account, old, state.session_ended, vdoms).map(drop)
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
    use super::super::common::fake::{cmd, secret, silent, FakeShell, Step, PAGER_KEY};
    use super::*;

    const P: &str = "TEST-FW1234 # ";

    fn status(vdom: &str) -> Step {
        cmd(
            "get system status",
            &format!(
                "get system status\r\r\nVersion: FortiGate-91G v7.4.7,build2731,250120 (GA.M)\r\n\
                 Serial-Number: FGT91GTK00000000\r\n--More-- {PAGER_KEY}\r         \r\
                 Virtual domain configuration: {vdom}\r\nCurrent HA mode: standalone\r\n{P}"
            ),
        )
    }

    fn admins_reply() -> String {
        format!(
            "{LIST_ADMINS}\r\r\nconfig system admin\r\n    edit \"admin\"\r\n        set accprofile \"super_admin\"\r\n\
             \x20       set vdom \"root\"\r\n        set password ENC SH2AAAAAAAAAABBBBBBBBBB\r\n    next\r\n\
             \x20   edit \"oxidized\"\r\n        set accprofile \"super_admin\"\r\n        set vdom \"root\"\r\n    next\r\n\
             \x20   edit \"auditor\"\r\n        set accprofile \"prof_admin\"\r\n        set vdom \"root\"\r\n    next\r\nend\r\n\r\n{P}"
        )
    }

    #[test]
    fn login_banner_is_accepted() {
        let q = FortiOs.login_questions();
        assert!(q[0].0.is_match("Pre-login banner text\n(Press 'a' to accept):"));
        assert_eq!(q[0].1, "a");
    }

    #[test]
    fn setup_sets_standard_output() {
        let d = FortiOs;
        let mut sh = FakeShell::new(
            &d,
            vec![
                status("disable"),
                cmd(
                    "config system console",
                    "config system console\r\nTEST-FW1234 (console) # ",
                ),
                cmd("set output standard", "set output standard\r\nTEST-FW1234 (console) # "),
                cmd("end", &format!("end\r\n{P}")),
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
    fn lists_accprofiles_under_config_global_with_vdoms() {
        let d = FortiOs;
        let mut sh = FakeShell::new(
            &d,
            vec![
                status("multiple"),
                cmd("config global", "config global\r\n\r\nOXI-FW121 (global) # "),
                cmd(LIST_ADMINS, &admins_reply().replace(P, "OXI-FW121 (global) # ")),
                cmd("end", "end\r\n\r\nOXI-FW121 # "),
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
                ("admin", "accprofile super_admin", true),
                ("oxidized", "accprofile super_admin", true),
                ("auditor", "accprofile prof_admin", false),
            ]
        );
    }

    fn change_steps(account: &str, pw: &str) -> Vec<Step> {
        vec![
            status("disable"),
            cmd(LIST_ADMINS, &admins_reply()),
            cmd("config system admin", "config system admin\r\nTEST-FW1234 (admin) # "),
            cmd(
                &format!("edit \"{account}\""),
                &format!("edit \"{account}\"\r\nTEST-FW1234 ({account}) # "),
            ),
            secret(
                &format!("set password {pw}"),
                &format!("set password ********\r\nTEST-FW1234 ({account}) # "),
            ),
        ]
    }

    #[test]
    fn admin_reset_then_rollback_sets_the_old_password() {
        let d = FortiOs;
        let mut steps = change_steps("auditor", "F0rti.Pass");
        steps.push(cmd("end", &format!("end\r\n{P}")));
        steps.extend([
            status("disable"),
            cmd("config system admin", "config system admin\r\nTEST-FW1234 (admin) # "),
            cmd("edit \"auditor\"", "edit \"auditor\"\r\nTEST-FW1234 (auditor) # "),
            secret(
                "set password old-pass",
                "set password ********\r\nTEST-FW1234 (auditor) # ",
            ),
            cmd("end", &format!("end\r\n{P}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = d
            .change_password(
                &mut sh,
                "auditor",
                ChangeMethod::AdminReset,
                &Password::new("old-pass"),
                &Password::new("F0rti.Pass"),
            )
            .unwrap();
        assert!(!state.session_ended);
        d.save(&mut sh, &state).unwrap();
        d.rollback(&mut sh, &state, "auditor", &Password::new("old-pass"))
            .unwrap();
        sh.finish();
    }

    #[test]
    fn self_change_copes_with_being_logged_out() {
        let d = FortiOs;
        let mut steps = change_steps("admin", "F0rti.Pass");
        steps.push(silent("end"));
        let mut sh = FakeShell::new(&d, steps);
        let state = d
            .change_password(
                &mut sh,
                "admin",
                ChangeMethod::SelfChange,
                &Password::new("old-pass"),
                &Password::new("F0rti.Pass"),
            )
            .unwrap();
        assert!(state.session_ended);
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn a_lost_session_during_an_admin_reset_is_an_error() {
        let d = FortiOs;
        let mut steps = change_steps("auditor", "F0rti.Pass");
        steps.push(silent("end"));
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "auditor",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("F0rti.Pass"),
            )
            .unwrap_err();
        assert!(matches!(e, ConnectorError::Timeout { .. }), "{e}");
    }

    #[test]
    fn a_refused_password_aborts_the_edit() {
        let d = FortiOs;
        let mut steps = change_steps("auditor", "short").into_iter().take(4).collect::<Vec<_>>();
        steps.extend([
            secret(
                "set password short",
                "set password ********\r\nThe new password must be at least 8 characters long.\r\nnode_check_object fail! for password ********\r\n\r\nvalue parse error before '********'\r\nCommand fail. Return code -651\r\nTEST-FW1234 (auditor) # ",
            ),
            cmd("abort", "abort\r\nTEST-FW1234 (admin) # "),
            cmd("end", &format!("end\r\n{P}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "auditor",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("short"),
            )
            .unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        sh.finish();
    }

    #[test]
    fn an_unknown_admin_is_never_created() {
        let d = FortiOs;
        let mut sh = FakeShell::new(&d, vec![status("disable"), cmd(LIST_ADMINS, &admins_reply())]);
        let e = d
            .change_password(
                &mut sh,
                "ghost",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("n"),
            )
            .unwrap_err();
        assert!(e.to_string().contains("no administrator `ghost`"), "{e}");
        sh.finish();
    }

    #[test]
    fn prompts() {
        let p = FortiOs.prompt();
        for ok in [
            "oxidized-Firewall123 # ",
            "OXI-FW121 (global) # ",
            "hostname(Primary) # ",
            "hostname(Primary) (global) # ",
            "(M) redhat-lb-01 $ ",
            "TEST-FW1234 (auditor) # ",
            "hostname(Primary) #",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
        assert!(!p.is_match("(Press 'a' to accept):"));
    }
}
