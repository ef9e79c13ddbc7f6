//! HPE Aruba AOS-S, the ProCurve line (kind `aruba-aoss`, alias `procurve`): the login shows
//! `Press any key to continue` (answered with a space), prompts are `h>`, `h#` and `h(config)#`
//! with VT100 escapes (the engine strips them), and `no page` works only in manager (enable)
//! mode, so the login must be the manager. There is one manager and one operator account,
//! listed by `show running-config include-credentials` as `password manager user-name NAME
//! sha1 HASH` (the lines appear only with `include-credentials`). The change is `configure`,
//! `password manager|operator user-name NAME plaintext PW`, `exit`; `write memory` after a fresh
//! login proved it. Rollback sets the old hash line back from the still-open session (or the
//! old password in plaintext when no hash was captured), unsaved.
//!
//! From documentation and other tools only (no recorded session): everything above. Unconfirmed,
//! so built conservatively: what `write memory` prints (only error lines are looked for), and
//! how `?` and quotes in a password are read (only the recommended alphabet is generated; spaces
//! never).

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct ArubaAoss;

static ERRORS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\s*(invalid input|error|incomplete input|ambiguous input|unknown command)\b|^\s*%"));
static PASSWORD_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(r#"(?i)^password (manager|operator) user-name "?([^"\s]+)"? (sha1|sha256|plaintext) "?([^"\s]+)"?\s*$"#)
});

/// Any printed line: what the `password` command prints only when it refuses.
static ANY_OUTPUT: LazyLock<Regex> = LazyLock::new(|| re(r"\S"));

const LIST: &str = "show running-config include-credentials";

struct Account {
    role: String,
    name: String,
    hash_line: Option<String>,
}

fn parse(output: &str) -> Vec<Account> {
    output
        .lines()
        .map(str::trim_end)
        .filter_map(|l| PASSWORD_LINE.captures(l))
        .map(|c| {
            let role = c[1].to_ascii_lowercase();
            let scheme = c[3].to_ascii_lowercase();
            Account {
                hash_line: (scheme != "plaintext")
                    .then(|| format!("password {role} user-name {} {scheme} {}", &c[2], &c[4])),
                name: c[2].to_string(),
                role,
            }
        })
        .collect()
}

fn list(shell: &mut dyn Shell) -> ConnectorResult<Vec<Account>> {
    let out = common::run(shell, LIST, &ERRORS, &[])?;
    Ok(parse(&out))
}

fn set_line(role: &str, account: &str, password: &str) -> String {
    format!("password {role} user-name {account} plaintext {password}")
}

fn in_config<T>(shell: &mut dyn Shell, body: impl FnOnce(&mut dyn Shell) -> ConnectorResult<T>) -> ConnectorResult<T> {
    common::in_config_mode(shell, "configure", "exit", &ERRORS, body)
}

impl Dialect for ArubaAoss {
    fn kind(&self) -> TargetKind {
        TargetKind::ArubaAoss
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])[\w.\-/]{1,63}(?:\([\w.\-/]{1,32}\))?[#>] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"-- ?MORE ?--[^\r\n]*\z"), " "))
    }

    fn login_questions(&self) -> Vec<(Regex, &'static str)> {
        vec![(re(r"(?i)press any key to continue\W*\z"), " ")]
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        let target = shell.target().to_string();
        let out = shell.command("no page")?;
        if common::check(&target, "running `no page`", &out, &ERRORS, &[]).is_err() {
            return Err(common::unexpected(
                &target,
                "running `no page` (it works only in manager mode: log in as the manager)",
                &out,
                &[],
            ));
        }
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        Ok(list(shell)?
            .into_iter()
            .map(|a| common::user_account(&a.name, a.role.clone(), a.role == "manager"))
            .collect())
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 8,
            max_len: 64,
            forbidden: common::outside_safe_alphabet(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            format!("{LIST} (the old hash line)"),
            "configure".into(),
            set_line("manager|operator", account, REDACTED),
            "exit".into(),
            "(after verification) write memory".into(),
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
        let accounts = list(shell)?;
        let Some(found) = accounts.iter().find(|a| a.name == account) else {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no manager or operator named `{account}` in `{LIST}`"),
            });
        };
        let line = common::secret_line(set_line(&found.role, account, new.expose()));
        let shown = set_line(&found.role, account, REDACTED);
        // The refusal texts are not documented; a successful `password` command prints nothing.
        in_config(shell, |sh| {
            common::run_secret(sh, &line, &shown, &ANY_OUTPUT, &[new]).map(|_| ())
        })?;
        Ok(ChangeState {
            restore_lines: found.hash_line.iter().cloned().collect(),
            checkpoint: Some(found.role.clone()),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, _state: &ChangeState) -> ConnectorResult<()> {
        common::run(shell, "write memory", &ERRORS, &[])?;
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        if !state.restore_lines.is_empty() {
            return in_config(shell, |sh| common::restore_lines(sh, &state.restore_lines, &ERRORS));
        }
        let role = match &state.checkpoint {
            Some(role) => role.clone(),
            None => match list(shell)?.into_iter().find(|a| a.name == account) {
                Some(a) => a.role,
                None => "manager".into(),
            },
        };
        let line = common::secret_line(set_line(&role, account, old.expose()));
        let shown = set_line(&role, account, REDACTED);
        in_config(shell, |sh| {
            common::run_secret(sh, &line, &shown, &ERRORS, &[old]).map(|_| ())
        })
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
    use super::super::common::fake::{cmd, secret, FakeShell, Step};
    use super::*;

    const P: &str = "HP-2530-24G# ";
    const C: &str = "HP-2530-24G(config)# ";

    fn listing() -> Step {
        cmd(
            LIST,
            &format!("{LIST}\r\n\r\nRunning configuration:\r\n\r\n; J9776A Configuration Editor; Created on release #YA.16.10.0012\r\nhostname \"HP-2530-24G\"\r\npassword manager user-name admin SHA1 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12\r\npassword operator user-name \"monitor\" sha1 \"0a4d55a8d778e5022fab701977c5d840bbc486d0\"\r\n{P}"),
        )
    }

    #[test]
    fn rollback_sets_the_old_hash_back_unsaved() {
        let mut sh = FakeShell::new(
            &ArubaAoss,
            vec![
                listing(),
                cmd("configure", &format!("configure\r\n{C}")),
                secret(
                    "password operator user-name monitor plaintext Op3r-pass.word",
                    &format!("\r\n{C}"),
                ),
                cmd("exit", &format!("exit\r\n{P}")),
                cmd("configure", &format!("configure\r\n{C}")),
                secret(
                    "password operator user-name monitor sha1 0a4d55a8d778e5022fab701977c5d840bbc486d0",
                    &format!("\r\n{C}"),
                ),
                cmd("exit", &format!("exit\r\n{P}")),
            ],
        );
        let state = ArubaAoss
            .change_password(
                &mut sh,
                "monitor",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Op3r-pass.word"),
            )
            .unwrap();
        ArubaAoss
            .rollback(&mut sh, &state, "monitor", &Password::new("o"))
            .unwrap();
        sh.finish();
    }

    #[test]
    fn lists_the_manager_and_the_operator() {
        let mut sh = FakeShell::new(&ArubaAoss, vec![listing()]);
        let accounts = ArubaAoss.list_accounts(&mut sh).unwrap();
        sh.finish();
        let s: Vec<(&str, &str, bool)> = accounts
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin))
            .collect();
        assert_eq!(s, [("admin", "manager", true), ("monitor", "operator", false)]);
    }
}
