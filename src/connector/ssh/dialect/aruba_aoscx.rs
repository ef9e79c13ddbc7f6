//! HPE Aruba AOS-CX: administrators land at `sw# `; `no page` turns paging off. Accounts and their
//! groups come from `show user-list` (`administrators` is full access, `operators` read-only); the
//! old `user NAME ... password ciphertext ...` line of `show running-config` is kept for rollback.
//! The change runs under `checkpoint auto N` (like Junos' `commit confirmed`): unless keyreeve
//! confirms with `checkpoint auto confirm` after a fresh login proved the new password, the
//! switch returns to the previous running configuration by itself. Then `write memory` (expects
//! `Success`). Rollback re-applies the old ciphertext line from the still-open session (or the
//! old password in plaintext when no line was captured) and ends the timer.
//!
//! Confirmed by recorded sessions: the prompt (`sw07# `), the login banner, `no page`, the
//! `user ... password ciphertext` lines. From documentation only: `show user-list`,
//! `user NAME password plaintext PW`, `checkpoint auto`, `write memory`'s `Success`. Unconfirmed,
//! so built conservatively: length and character limits (the recommended alphabet only, 8 to 32
//! characters) and `?` behaviour (never sent).

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct ArubaAoscx;

/// Minutes after which an unconfirmed auto checkpoint restores the previous configuration.
pub const CHECKPOINT_MINUTES: u32 = 5;

static ERRORS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\s*%|invalid input|doesn't exist|^\s*error\b|command incomplete|not allowed"));
static CIPHERTEXT: LazyLock<Regex> = LazyLock::new(|| re(r"^user (\S+)(?: group \S+)? password ciphertext (\S+)\s*$"));

const LIST: &str = "show user-list";

fn parse(output: &str) -> Vec<AccountInfo> {
    output
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [user, group] if !user.eq_ignore_ascii_case("user") && !user.starts_with('-') => Some(
                    common::user_account(user, format!("group {group}"), *group == "administrators"),
                ),
                _ => None,
            }
        })
        .collect()
}

fn ciphertext_line(running: &str, account: &str) -> Option<String> {
    running.lines().map(str::trim_end).find_map(|l| {
        let c = CIPHERTEXT.captures(l)?;
        (&c[1] == account).then(|| format!("user {account} password ciphertext {}", &c[2]))
    })
}

fn set_line(account: &str, password: &str) -> String {
    format!("user {account} password plaintext {password}")
}

fn in_config<T>(shell: &mut dyn Shell, body: impl FnOnce(&mut dyn Shell) -> ConnectorResult<T>) -> ConnectorResult<T> {
    common::in_config_mode(shell, "configure terminal", "end", &ERRORS, body)
}

impl Dialect for ArubaAoscx {
    fn kind(&self) -> TargetKind {
        TargetKind::ArubaAoscx
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])[\w.\-@/:]{1,63}(?:\(config[\w.\-@/:]{0,32}\))?[#>] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        // Only until `no page`, the first command; the pager's text is unconfirmed.
        Some((re(r"-- ?MORE ?--[^\r\n]*\z"), " "))
    }

    fn login_questions(&self) -> Vec<(Regex, &'static str)> {
        vec![
            (re(r"(?i)press any key to continue\W*\z"), " "),
            (re(r"(?i)enter switch number\W*\z"), "\n"),
        ]
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        common::run(shell, "no page", &ERRORS, &[])?;
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        let out = common::run(shell, LIST, &ERRORS, &[])?;
        Ok(parse(&out))
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 8,
            max_len: 32,
            // Typed on the command line, whose parsing of symbols is not documented.
            forbidden: common::outside_safe_alphabet(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "show running-config (the old ciphertext line)".into(),
            format!("checkpoint auto {CHECKPOINT_MINUTES}"),
            "configure terminal".into(),
            set_line(account, REDACTED),
            "end".into(),
            "(after verification) checkpoint auto confirm".into(),
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
        if method == ChangeMethod::EnableSecret {
            return Err(ConnectorError::Unsupported {
                target,
                kind: self.kind().to_string(),
                operation: "an enable secret".into(),
            });
        }
        let users = common::run(shell, LIST, &ERRORS, &[])?;
        if !parse(&users).iter().any(|a| a.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no user `{account}` in `{LIST}`"),
            });
        }
        let running = common::run(shell, "show running-config", &ERRORS, &[])?;
        let restore_lines: Vec<String> = ciphertext_line(&running, account).into_iter().collect();
        let auto = format!("checkpoint auto {CHECKPOINT_MINUTES}");
        let out = common::run(shell, &auto, &ERRORS, &[])?;
        if !out.to_ascii_lowercase().contains("auto checkpoint mode") {
            return Err(common::unexpected(&target, &format!("running `{auto}`"), &out, &[]));
        }
        let line = common::secret_line(set_line(account, new.expose()));
        let shown = set_line(account, REDACTED);
        let set = in_config(shell, |sh| {
            common::run_secret(sh, &line, &shown, &ERRORS, &[new]).map(|_| ())
        });
        if let Err(e) = set {
            // Nothing changed: end the timer so that it restores nothing else later.
            let _ = shell.command("checkpoint auto confirm");
            return Err(e);
        }
        Ok(ChangeState {
            restore_lines,
            checkpoint: Some("auto".into()),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        let target = shell.target().to_string();
        let out = shell.command("checkpoint auto confirm")?;
        // A fresh session may find the timer already confirmed; an active one must confirm it.
        if !state.fresh_session {
            common::check(&target, "confirming the auto checkpoint", &out, &ERRORS, &[])?;
        }
        let out = common::run(shell, "write memory", &ERRORS, &[])?;
        if !out.contains("Success") {
            return Err(common::unexpected(&target, "running `write memory`", &out, &[]));
        }
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        let restored = if state.restore_lines.is_empty() {
            let line = common::secret_line(set_line(account, old.expose()));
            let shown = set_line(account, REDACTED);
            in_config(shell, |sh| {
                common::run_secret(sh, &line, &shown, &ERRORS, &[old]).map(|_| ())
            })
        } else {
            in_config(shell, |sh| common::restore_lines(sh, &state.restore_lines, &ERRORS))
        };
        // Restored or not, the timer still brings the old configuration back if not confirmed.
        restored?;
        let out = shell.command("checkpoint auto confirm")?;
        let target = shell.target().to_string();
        if !state.fresh_session {
            common::check(&target, "ending the auto checkpoint", &out, &ERRORS, &[])?;
        }
        Ok(())
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

    const P: &str = "sw07# ";
    const C: &str = "sw07(config)# ";

    fn listing() -> Step {
        cmd(
            LIST,
            &format!("{LIST}\r\nUSER                             GROUP\r\n-----------------------------------------\r\nadmin                            administrators\r\nnetops                           administrators\r\noper1                            operators\r\n{P}"),
        )
    }

    #[test]
    fn lists_users_with_their_group() {
        let mut sh = FakeShell::new(&ArubaAoscx, vec![listing()]);
        let accounts = ArubaAoscx.list_accounts(&mut sh).unwrap();
        sh.finish();
        let s: Vec<(&str, bool)> = accounts.iter().map(|a| (a.name.as_str(), a.admin)).collect();
        assert_eq!(s, [("admin", true), ("netops", true), ("oper1", false)]);
    }

    fn change_steps() -> Vec<Step> {
        vec![
            listing(),
            cmd(
                "show running-config",
                &format!("show running-config\r\nCurrent configuration:\r\n!\r\n!export-password: default\r\nhostname sw07\r\nuser admin group administrators password ciphertext AQBapAAA1\r\nuser netops group administrators password ciphertext AQBapBBB2\r\n{P}"),
            ),
            cmd("checkpoint auto 5", &format!("checkpoint auto 5\r\nAuto checkpoint mode expires in 5 minute(s)\r\n{P}")),
            cmd("configure terminal", &format!("configure terminal\r\n{C}")),
            secret("user netops password plaintext N3w-pass.word", &format!("user netops password plaintext N3w-pass.word\r\n{C}")),
            cmd("end", &format!("end\r\n{P}")),
        ]
    }

    #[test]
    fn change_under_an_auto_checkpoint_then_confirm_and_write() {
        let mut steps = change_steps();
        steps.push(cmd(
            "checkpoint auto confirm",
            &format!("checkpoint auto confirm\r\ncheckpoint AUTO2026120313 created\r\n{P}"),
        ));
        steps.push(cmd(
            "write memory",
            &format!("write memory\r\nCopying configuration: [Success]\r\n{P}"),
        ));
        let mut sh = FakeShell::new(&ArubaAoscx, steps);
        let state = ArubaAoscx
            .change_password(
                &mut sh,
                "netops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("N3w-pass.word"),
            )
            .unwrap();
        assert_eq!(state.restore_lines, ["user netops password ciphertext AQBapBBB2"]);
        ArubaAoscx.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn rollback_restores_the_old_ciphertext_and_ends_the_timer() {
        let mut steps = change_steps();
        steps.extend([
            cmd("configure terminal", &format!("configure terminal\r\n{C}")),
            secret(
                "user netops password ciphertext AQBapBBB2",
                &format!("user netops password ciphertext AQBapBBB2\r\n{C}"),
            ),
            cmd("end", &format!("end\r\n{P}")),
            cmd(
                "checkpoint auto confirm",
                &format!("checkpoint auto confirm\r\ncheckpoint AUTO2026120313 created\r\n{P}"),
            ),
        ]);
        let mut sh = FakeShell::new(&ArubaAoscx, steps);
        let state = ArubaAoscx
            .change_password(
                &mut sh,
                "netops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("N3w-pass.word"),
            )
            .unwrap();
        ArubaAoscx
            .rollback(&mut sh, &state, "netops", &Password::new("o"))
            .unwrap();
        sh.finish();
    }
}
