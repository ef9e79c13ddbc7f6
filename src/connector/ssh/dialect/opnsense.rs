//! OPNsense: `root` lands in the `opnsense-shell` menu (`Enter an option: `), answered with `8`
//! for a shell (never an empty line). Accounts are the `<user>` blocks of `/conf/config.xml`.
//! Only root's password can be changed from the CLI: `/usr/local/opnsense/scripts/shell/password.php`
//! asks `Do you want to proceed? [y/N]:`, then `Type a new password:` and `Confirm new password:`.
//! No CLI tool for other accounts is known (unconfirmed): keyreeve refuses them, naming the web
//! GUI. Whether the script writes config.xml at once is not documented (unconfirmed), so `save`
//! reads `/conf/config.xml` back and refuses to call the change saved while root's stored hash is
//! the one it had before. A rollback runs the script again with the old password from the
//! still-open session. The script strips trailing blanks: no password with blanks is generated.

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

pub struct OpnSense;

pub(crate) const CONFIG: &str = "/conf/config.xml";
pub(crate) const PASSWORD_SCRIPT: &str = "/usr/local/opnsense/scripts/shell/password.php";

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)do not match|did not match|not found|no such|permission denied|could not|cannot|^\s*(error|fatal)\b")
});
static PROCEED: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)do you want to proceed\? \[y/N\]:\s*\z"));
static TYPE_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)type a new password:\s*\z"));
static CONFIRM_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)confirm new password:\s*\z"));

fn read_config(shell: &mut dyn Shell) -> ConnectorResult<String> {
    common::run(shell, &format!("cat {CONFIG}"), &ERRORS, &[])
}

fn set_root_password(shell: &mut dyn Shell, password: &Password) -> ConnectorResult<()> {
    let target = shell.target().to_string();
    let (q, out) = shell.command_expect(PASSWORD_SCRIPT, &[&PROCEED, &TYPE_PASSWORD])?;
    let q = match q {
        Some(0) => shell.command_expect("y", &[&TYPE_PASSWORD])?,
        other => (other.map(|_| 0), out),
    };
    if q.0 != Some(0) {
        return Err(
            common::check(&target, "running the password script", &q.1, &ERRORS, &[])
                .err()
                .unwrap_or_else(|| common::unexpected(&target, &format!("running `{PASSWORD_SCRIPT}`"), &q.1, &[])),
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
    common::check(&target, "confirming the new password", &out, &ERRORS, &[password])
}

impl Dialect for OpnSense {
    fn kind(&self) -> TargetKind {
        TargetKind::Opnsense
    }

    fn prompt(&self) -> Regex {
        // `root@OPNsense:~ # ` (csh) or `root@OPNsense:~ $ `.
        re(r"(?:\A|\n)[\w.\-]+@[\w.\-]+:[^\n]* [#$%] ?\z")
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
            max_len: 64,
            forbidden: " \t".into(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        if account != "root" {
            return vec![format!(
                "(refused: OPNsense has no documented CLI for `{account}`'s password; set it in the web GUI) {REDACTED}"
            )];
        }
        vec![
            "8 (shell, at the console menu)".into(),
            PASSWORD_SCRIPT.into(),
            "Do you want to proceed? [y/N]: y".into(),
            format!("Type a new password: {REDACTED}"),
            format!("Confirm new password: {REDACTED}"),
            format!("(after verification) check {CONFIG}"),
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
        if method == ChangeMethod::EnableSecret || account != "root" {
            return Err(ConnectorError::Unsupported {
                target,
                kind: self.kind().to_string(),
                operation: format!("changing `{account}`'s password from the CLI (only root's has a documented script; use the web GUI)"),
            });
        }
        let before = read_config(shell)?;
        set_root_password(shell, new)?;
        Ok(ChangeState {
            restore_lines: config_xml::hash_of(&before, account).into_iter().collect(),
            checkpoint: Some(account.to_string()),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        super::pfsense::saved_in_config(shell, state, CONFIG, &ERRORS)
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        _state: &ChangeState,
        _account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        set_root_password(shell, old)
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

    const P: &str = "root@OPNsense:~ # ";

    #[test]
    fn root_is_changed_through_the_script_and_others_are_refused() {
        let d = OpnSense;
        let xml = format!("cat {CONFIG}\r\n<opnsense><system><user><name>root</name><uid>0</uid><groupname>admins</groupname><password>$2y$10$o</password></user></system></opnsense>\r\n{P}");
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(&format!("cat {CONFIG}"), &xml),
                cmd(PASSWORD_SCRIPT, &format!("{PASSWORD_SCRIPT}\r\nThe root user login behaviour will be restored to its defaults.\r\n\r\nDo you want to proceed? [y/N]: ")),
                cmd("y", "y\r\n\r\nType a new password: "),
                secret("N3w-root.pw", "\r\nConfirm new password: "),
                secret("N3w-root.pw", &format!("\r\n\r\nThe root password has been changed successfully.\r\n{P}")),
            ],
        );
        d.change_password(
            &mut sh,
            "root",
            ChangeMethod::SelfChange,
            &Password::new("o"),
            &Password::new("N3w-root.pw"),
        )
        .unwrap();
        sh.finish();
        let mut sh = FakeShell::new(&d, vec![]);
        let e = d
            .change_password(
                &mut sh,
                "netops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("n"),
            )
            .unwrap_err();
        assert!(matches!(e, ConnectorError::Unsupported { .. }), "{e}");
    }
}
