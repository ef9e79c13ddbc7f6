//! VyOS and Ubiquiti EdgeOS: `configure`, `set system login user NAME authentication
//! plaintext-password 'PW'`, `commit` (live, so a fresh login can verify it), then `save` to make it
//! survive a reboot. Rollback re-sets the encrypted-password hash captured before the change and
//! commits without saving; a change that never committed is dropped with `exit discard`. On VyOS
//! every login user is an administrator; EdgeOS has `level admin` and `level operator`.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct Vyos;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(commit failed|set failed|^\s*invalid command|\bis not valid\b|^\s*error\b|^\s*permission denied)")
});
static LOGIN_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r#"^set system login user '?([^'\s]+)'? ?(\S*)(?: '?([^']*)'?)?"#));
static HASH_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r#"^set system login user '?([^'\s]+)'? authentication encrypted-password '?([^'\s]+)'?"#));

const LIST_USERS: &str = "show configuration commands | match \"system login\"";

struct User {
    name: String,
    level: Option<String>,
    hash: Option<String>,
}

fn parse_users(output: &str) -> Vec<User> {
    let mut users: Vec<User> = Vec::new();
    for line in output.lines().map(str::trim_end) {
        let Some(c) = LOGIN_LINE.captures(line) else { continue };
        let name = c[1].to_string();
        let idx = match users.iter().position(|u| u.name == name) {
            Some(i) => i,
            None => {
                users.push(User {
                    name,
                    level: None,
                    hash: None,
                });
                users.len() - 1
            }
        };
        if &c[2] == "level" {
            users[idx].level = c.get(3).map(|m| m.as_str().to_string());
        }
        if let Some(h) = HASH_LINE.captures(line) {
            users[idx].hash = Some(h[2].to_string());
        }
    }
    users
}

fn accounts(users: &[User]) -> Vec<AccountInfo> {
    // EdgeOS states a level for every user; VyOS has none and every user is an administrator.
    let edgeos = users.iter().any(|u| u.level.is_some());
    users
        .iter()
        .map(|u| match (&u.level, edgeos) {
            (Some(level), _) => common::user_account(&u.name, format!("level {level}"), level == "admin"),
            (None, true) => common::user_account(&u.name, "level (none)".into(), false),
            (None, false) => common::user_account(&u.name, "login user (all are administrators)".into(), true),
        })
        .collect()
}

fn quote(text: &str) -> String {
    format!("'{text}'")
}

fn discard(shell: &mut dyn Shell) {
    let _ = shell.command("exit discard");
}

fn commit(shell: &mut dyn Shell, secrets: &[&Password]) -> ConnectorResult<()> {
    common::run(shell, "commit", &ERRORS, secrets).map(drop)
}

impl Dialect for Vyos {
    fn kind(&self) -> TargetKind {
        TargetKind::Vyos
    }

    fn prompt(&self) -> Regex {
        re(r"(?:\A|[\r\n])[\w.\-]+@[\w.\-]+(?::\S*?)?[>#$] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"(?m)(?:[ \t]*--More--|^:)\s*\z"), " "))
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        // VyOS takes `set terminal length 0`; EdgeOS `terminal length 0`.
        if common::run(shell, "set terminal length 0", &ERRORS, &[]).is_err() {
            common::run(shell, "terminal length 0", &ERRORS, &[])?;
        }
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        let out = common::run(shell, LIST_USERS, &ERRORS, &[])?;
        Ok(accounts(&parse_users(&out)))
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 1,
            max_len: 128,
            // Inside single quotes: a quote ends it; `!` and `?` are read by the shell-like CLI.
            forbidden: "'!?\\\t".into(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "configure".into(),
            format!("set system login user {account} authentication plaintext-password '{REDACTED}'"),
            "commit".into(),
            "(after verification) save".into(),
            "exit".into(),
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
        let Some(user) = parse_users(&out).into_iter().find(|u| u.name == account) else {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no login user `{account}` in the configuration"),
            });
        };
        let restore = user.hash.map(|h| {
            format!(
                "set system login user {account} authentication encrypted-password {}",
                quote(&h)
            )
        });
        common::run(shell, "configure", &ERRORS, &[])?;
        let line = common::secret_line(format!(
            "set system login user {account} authentication plaintext-password {}",
            quote(new.expose())
        ));
        let shown = format!("set system login user {account} authentication plaintext-password '{REDACTED}'");
        let applied = common::run_secret(shell, &line, &shown, &ERRORS, &[new]).and_then(|_| commit(shell, &[new]));
        if let Err(e) = applied {
            discard(shell);
            return Err(e);
        }
        Ok(ChangeState {
            restore_lines: restore.into_iter().collect(),
            ..ChangeState::default()
        })
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        if state.fresh_session {
            // A fresh session saving what an interrupted session committed.
            common::run(shell, "configure", &ERRORS, &[])?;
        }
        common::run(shell, "save", &ERRORS, &[])?;
        common::run(shell, "exit", &ERRORS, &[]).map(drop)
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        _account: &str,
        _old: &Password,
    ) -> ConnectorResult<()> {
        if state.restore_lines.is_empty() {
            return Err(ConnectorError::Protocol {
                target: shell.target().to_string(),
                detail: "no encrypted-password was captured before the change".into(),
            });
        }
        if state.fresh_session {
            common::run(shell, "configure", &ERRORS, &[])?;
        }
        if let Err(e) = common::restore_lines(shell, &state.restore_lines, &ERRORS).and_then(|_| commit(shell, &[])) {
            discard(shell);
            return Err(e);
        }
        // Not saved: the boot configuration still holds the old hash.
        common::run(shell, "exit", &ERRORS, &[]).map(drop)
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

    const OP: &str = "vyos@fw1:~$ ";
    const CF: &str = "[edit]\r\nvyos@fw1# ";

    fn vyos_users() -> String {
        format!(
            "{LIST_USERS}\r\nset system login user ops authentication encrypted-password '$6$rounds=656000$abc$def'\r\n\
             set system login user ops full-name 'Ops Team'\r\n\
             set system login user vyos authentication encrypted-password '$6$xyz$uvw'\r\n\
             set system login user vyos authentication plaintext-password ''\r\n{OP}"
        )
    }

    #[test]
    fn on_vyos_every_user_is_an_administrator() {
        let d = Vyos;
        let mut sh = FakeShell::new(&d, vec![cmd(LIST_USERS, &vyos_users())]);
        let accounts = d.list_accounts(&mut sh).unwrap();
        sh.finish();
        assert_eq!(
            accounts.iter().map(|a| (a.name.as_str(), a.admin)).collect::<Vec<_>>(),
            vec![("ops", true), ("vyos", true)]
        );
    }

    #[test]
    fn on_edgeos_only_level_admin_is() {
        let d = Vyos;
        let reply = format!(
            "{LIST_USERS}\r\nset system login user ubnt authentication encrypted-password $6$aaa$bbb\r\n\
             set system login user ubnt level admin\r\n\
             set system login user noc authentication encrypted-password $6$ccc$ddd\r\n\
             set system login user noc level operator\r\nubnt@edge:~$ "
        );
        let mut sh = FakeShell::new(&d, vec![cmd(LIST_USERS, &reply)]);
        let accounts = d.list_accounts(&mut sh).unwrap();
        let summary: Vec<(&str, &str, bool)> = accounts
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin))
            .collect();
        assert_eq!(
            summary,
            vec![("ubnt", "level admin", true), ("noc", "level operator", false)]
        );
    }

    fn change_steps() -> Vec<Step> {
        vec![
            cmd(LIST_USERS, &vyos_users()),
            cmd("configure", &format!("configure\r\n{CF}")),
            secret(
                "set system login user ops authentication plaintext-password 'Vy0s pass~#'",
                &format!("set system login user ops authentication plaintext-password '********'\r\n{CF}"),
            ),
            cmd("commit", &format!("commit\r\n{CF}")),
        ]
    }

    fn change(d: &Vyos, sh: &mut FakeShell) -> ChangeState {
        d.change_password(
            sh,
            "ops",
            ChangeMethod::AdminReset,
            &Password::new("o"),
            &Password::new("Vy0s pass~#"),
        )
        .unwrap()
    }

    #[test]
    fn change_commits_and_save_saves() {
        let d = Vyos;
        let mut steps = change_steps();
        steps.extend([
            cmd(
                "save",
                &format!("save\r\nSaving configuration to '/config/config.boot'...\r\nDone\r\n{CF}"),
            ),
            cmd("exit", &format!("exit\r\nexit\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = change(&d, &mut sh);
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn rollback_resets_the_old_hash_and_commits_without_saving() {
        let d = Vyos;
        let mut steps = change_steps();
        steps.extend([
            secret(
                "set system login user ops authentication encrypted-password '$6$rounds=656000$abc$def'",
                &format!("x\r\n{CF}"),
            ),
            cmd("commit", &format!("commit\r\n{CF}")),
            cmd("exit", &format!("exit\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = change(&d, &mut sh);
        d.rollback(&mut sh, &state, "ops", &Password::new("o")).unwrap();
        sh.finish();
    }

    #[test]
    fn a_failed_commit_discards() {
        let d = Vyos;
        let mut steps = change_steps();
        steps.pop();
        steps.extend([
            cmd(
                "commit",
                &format!("commit\r\n[ system login ]\r\nPassword is too weak\r\n\r\n[[system login]] failed\r\nCommit failed\r\n{CF}"),
            ),
            cmd("exit discard", &format!("exit discard\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "ops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Vy0s pass~#"),
            )
            .unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        sh.finish();
    }

    #[test]
    fn edgeos_paging_falls_back() {
        let d = Vyos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    "set terminal length 0",
                    "set terminal length 0\r\n\r\n  Invalid command: set [terminal]\r\n\r\nubnt@edge:~$ ",
                ),
                cmd("terminal length 0", "terminal length 0\r\nubnt@edge:~$ "),
            ],
        );
        let login = Credentials {
            username: "ubnt".into(),
            method: crate::inventory::LoginMethod::Password,
            secret: Password::new("x"),
            enable: None,
        };
        d.setup(&mut sh, &login).unwrap();
        sh.finish();
    }

    #[test]
    fn save_from_a_fresh_session_enters_configuration_mode() {
        let d = Vyos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("configure", &format!("configure\r\n{CF}")),
                cmd("save", &format!("save\r\nDone\r\n{CF}")),
                cmd("exit", &format!("exit\r\n{OP}")),
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
    fn prompts() {
        let p = Vyos.prompt();
        for ok in [
            "user.name@fw1:~$ ",
            "username@fw1> ",
            "[edit]\nvyos@fw1# ",
            "nicolas.berens@fw1:~$ ",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
        assert!(!p.is_match("Password: "));
    }
}
