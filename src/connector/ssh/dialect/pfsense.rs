//! pfSense: `admin` and `root` land in the console menu (`Enter an option: `), which the engine
//! answers with `8` for a shell; an empty line there logs the session out, so none is ever sent.
//! Accounts are the `<user>` blocks of `/cf/conf/config.xml`. A password is set by
//! `pfSsh.php playback changepassword NAME`, typed at its no-echo `New Password:` /
//! `Confirm New Password:` questions; a disabled account's re-enable question is answered `n`.
//! The script's `write_config()` makes the change permanent at once (pfSense's source), so the
//! fresh-login verification comes after a change that is already saved: a rollback sets the old
//! password again the same way from the still-open session. `save` still reads config.xml back
//! and refuses to call the change saved while the stored hash is the old one.
//! Input is `trim()`med by the script: no password with blanks is generated.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::config_xml::{self, MENU_QUESTION};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct PfSense;

pub(crate) const CONFIG: &str = "/cf/conf/config.xml";

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)did not match|not found|no such|permission denied|could not|^\s*(error|fatal|warning)\b")
});
static NEW_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^New Password:\s*\z|\nNew Password:\s*\z"));
static CONFIRM_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)Confirm New Password:\s*\z"));
static REENABLE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)would you like to re-enable\?.*:\s*\z"));

fn change_command(account: &str) -> String {
    format!("pfSsh.php playback changepassword {account}")
}

fn read_config(shell: &mut dyn Shell) -> ConnectorResult<String> {
    common::run(shell, &format!("cat {CONFIG}"), &ERRORS, &[])
}

/// Runs the changepassword script for `account`, typing `password` twice.
pub(crate) fn set_password(
    shell: &mut dyn Shell,
    command: &str,
    account: &str,
    password: &Password,
    errors: &Regex,
) -> ConnectorResult<()> {
    let target = shell.target().to_string();
    let (mut q, mut out) = shell.command_expect(command, &[&NEW_PASSWORD, &REENABLE])?;
    if q == Some(1) {
        // Re-enabling is not keyreeve's decision.
        (q, out) = shell.command_expect("n", &[&NEW_PASSWORD, &REENABLE])?;
    }
    if q != Some(0) {
        return Err(
            common::check(&target, &format!("running `{command}`"), &out, errors, &[])
                .err()
                .unwrap_or_else(|| {
                    common::unexpected(&target, &format!("running `{command}` for {account}"), &out, &[])
                }),
        );
    }
    let (q, out) = shell.secret_expect(password, &[&CONFIRM_PASSWORD])?;
    if q.is_none() {
        return Err(common::unexpected(
            &target,
            "typing the new password",
            &out,
            &[password],
        ));
    }
    let out = shell.command_secret(password)?;
    common::check(&target, "confirming the new password", &out, errors, &[password])
}

impl Dialect for PfSense {
    fn kind(&self) -> TargetKind {
        TargetKind::Pfsense
    }

    fn prompt(&self) -> Regex {
        // The shell's `[2.7.2-RELEASE][admin@fw.example]/root: `, and nothing shorter: a bare
        // `$` or `#` would match inside a hash while config.xml is still arriving.
        re(r"(?:\A|\n)\[[^\]\n]*\]\[[^\]\n]*\][^\n]*: ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        None
    }

    fn login_questions(&self) -> Vec<(Regex, &'static str)> {
        vec![(MENU_QUESTION.clone(), "8\n")]
    }

    fn setup(&self, _shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        Ok(config_xml::accounts(&read_config(shell)?))
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 8,
            // bcrypt reads 72 bytes at most; stay well inside.
            max_len: 64,
            // Typed at a no-echo question (never parsed), but trimmed: no blanks.
            forbidden: " \t".into(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "8 (shell, at the console menu)".into(),
            change_command(account),
            format!("New Password: {REDACTED}"),
            format!("Confirm New Password: {REDACTED}"),
            format!("(saved at once by write_config; checked in {CONFIG})"),
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
        let before = read_config(shell)?;
        if !config_xml::parse_users(&before).iter().any(|u| u.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no user `{account}` in {CONFIG}"),
            });
        }
        set_password(shell, &change_command(account), account, new, &ERRORS)?;
        Ok(ChangeState {
            restore_lines: config_xml::hash_of(&before, account).into_iter().collect(),
            checkpoint: Some(account.to_string()),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        saved_in_config(shell, state, CONFIG, &ERRORS)
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        _state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        set_password(shell, &change_command(account), account, old, &ERRORS)
    }

    fn verify_enable(&self, shell: &mut dyn Shell, _candidate: &Password) -> ConnectorResult<Verification> {
        Err(ConnectorError::Unsupported {
            target: shell.target().to_string(),
            kind: self.kind().to_string(),
            operation: "an enable secret".into(),
        })
    }
}

/// Reads `config` back: the changed account's stored hash must no longer be the one it had
/// before the change (the account is `state.checkpoint`, the old hash `state.restore_lines`).
pub(crate) fn saved_in_config(
    shell: &mut dyn Shell,
    state: &ChangeState,
    config: &str,
    errors: &Regex,
) -> ConnectorResult<()> {
    let (Some(account), Some(old_hash)) = (&state.checkpoint, state.restore_lines.first()) else {
        // A fresh session settling an interrupted change: the script saved it when it ran.
        return Ok(());
    };
    let now = common::run(shell, &format!("cat {config}"), errors, &[])?;
    match config_xml::hash_of(&now, account) {
        Some(h) if h != *old_hash => Ok(()),
        _ => Err(ConnectorError::Protocol {
            target: shell.target().to_string(),
            detail: format!("the new password of `{account}` works but {config} still holds the old one: it would not survive a reboot"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fake::{cmd, secret, FakeShell};
    use super::*;

    const P: &str = "[2.7.2-RELEASE][admin@fw1.lab]/root: ";

    fn xml(hash: &str) -> String {
        format!("cat {CONFIG}\r\n<pfsense>\r\n<system>\r\n<user>\r\n<name>admin</name>\r\n<uid>0</uid>\r\n<groupname>admins</groupname>\r\n<bcrypt-hash>$2y$10$a</bcrypt-hash>\r\n</user>\r\n<user>\r\n<name>netops</name>\r\n<uid>2000</uid>\r\n<bcrypt-hash>{hash}</bcrypt-hash>\r\n</user>\r\n</system>\r\n</pfsense>\r\n{P}")
    }

    #[test]
    fn change_types_twice_and_save_checks_config_xml() {
        let d = PfSense;
        let c = "pfSsh.php playback changepassword netops";
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(&format!("cat {CONFIG}"), &xml("$2y$10$old")),
                cmd(c, &format!("{c}\r\nNew Password: ")),
                secret("N3w pass!", "\r\nConfirm New Password: "),
                secret("N3w pass!", &format!("\r\n\r\nPassword changed!\r\n{P}")),
                cmd(&format!("cat {CONFIG}"), &xml("$2y$10$new")),
            ],
        );
        let state = d
            .change_password(
                &mut sh,
                "netops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("N3w pass!"),
            )
            .unwrap();
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn a_mismatch_is_an_error_and_an_unsaved_hash_is_refused() {
        let d = PfSense;
        let c = "pfSsh.php playback changepassword netops";
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(c, &format!("{c}\r\nNew Password: ")),
                secret("abcdefgh", "\r\nConfirm New Password: "),
                secret(
                    "abcdefgh",
                    &format!("\r\nNew and Confirm passwords did not match.\r\n{P}"),
                ),
                cmd(&format!("cat {CONFIG}"), &xml("$2y$10$old")),
            ],
        );
        let e = set_password(&mut sh, c, "netops", &Password::new("abcdefgh"), &ERRORS).unwrap_err();
        assert!(e.to_string().contains("did not match"), "{e}");
        let state = ChangeState {
            restore_lines: vec!["$2y$10$old".into()],
            checkpoint: Some("netops".into()),
            ..ChangeState::default()
        };
        let e = d.save(&mut sh, &state).unwrap_err();
        assert!(e.to_string().contains("survive a reboot"), "{e}");
        sh.finish();
    }

    #[test]
    fn the_menu_is_answered_with_8_and_the_prompt_is_the_shells() {
        let q = PfSense.login_questions();
        assert!(q[0].0.is_match("13) Update from console\n\nEnter an option: ") && q[0].1 == "8\n");
        assert!(PfSense.prompt().is_match(&format!("\n{P}")));
        assert!(!PfSense.prompt().is_match("Enter an option: "));
        assert!(!PfSense.prompt().is_match("New Password: "));
    }
}
