//! Palo Alto PAN-OS: a login may ask `Do you accept` (answered `yes`); the session is set up with
//! `set cli scripting-mode on` and `set cli pager off`. Accounts are `show mgt-config users` in
//! configuration mode (`role-based { superuser yes; }` and the like). A password is typed at the
//! no-echo `Enter password :` / `Confirm password :` questions of `set mgt-config users NAME
//! password`. The candidate configuration is not in force until `commit`, so the change is
//! committed before the fresh-login verification (no `commit confirmed` exists); a rollback sets
//! the account's old `phash` back and commits again (unconfirmed: PAN-OS documents neither this
//! nor `revert config`, which keyreeve sends only to drop a candidate whose commit failed; a
//! fresh login proves the old password afterwards). A commit can take
//! minutes: keyreeve waits for `Configuration committed successfully` up to the target's
//! `command_timeout` from the inventory; a commit still running then is reported with the last
//! progress seen (its percentage) as [`ConnectorError::StillInProgress`], nothing more is typed
//! into that session, and the rotation keeps both passwords for `keyreeve recover`. Password length and policy limits are not documented:
//! keyreeve generates 8 to 25 characters.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct PanOs;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(invalid syntax|unknown command|server error|validation error|error:)|commit failed|passwords? do(es)? not match|mismatch",
    )
});
static ENTER_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)enter password\s*:\s*\z"));
static CONFIRM_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)confirm password\s*:\s*\z"));
static COMMITTED: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)configuration committed successfully"));
static PROGRESS: LazyLock<Regex> = LazyLock::new(|| re(r"(\d{1,3})%"));
static ROLE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(superuser|superreader|deviceadmin|devicereader|vsysadmin|vsysreader|panorama-admin)\s+(yes|\[[^\]]*\]|\S+)$")
});
static PHASH: LazyLock<Regex> = LazyLock::new(|| re(r"^phash\s+(\S+)$"));
static PROFILE: LazyLock<Regex> = LazyLock::new(|| re(r"^profile\s+(\S+)$"));

const LIST: &str = "show mgt-config users";

/// One user block of `show mgt-config users`: name, role, phash.
#[derive(Debug, Default)]
struct PanUser {
    name: String,
    role: Option<String>,
    phash: Option<String>,
}

fn parse_users(out: &str) -> Vec<PanUser> {
    // Statements end at `{`, `}` or `;`, whether the device prints one per line or all on one.
    let has_users_block = out.contains("users {");
    let mut users: Vec<PanUser> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    // Depth of the user block being read, if any.
    let mut current: Option<usize> = None;
    let mut word = String::new();
    for c in out.chars() {
        match c {
            '{' => {
                let name = word.trim().to_string();
                word.clear();
                let parent_is_users = stack.last().is_some_and(|p| p == "users");
                if (parent_is_users || (!has_users_block && stack.is_empty()))
                    && !name.contains(char::is_whitespace)
                    && !name.is_empty()
                {
                    users.push(PanUser {
                        name: name.clone(),
                        ..PanUser::default()
                    });
                    current = Some(stack.len());
                }
                stack.push(name);
            }
            '}' => {
                word.clear();
                stack.pop();
                if current.is_some_and(|d| stack.len() <= d) {
                    current = None;
                }
            }
            ';' => {
                let stmt = std::mem::take(&mut word);
                let Some(u) = current.and_then(|_| users.last_mut()) else {
                    continue;
                };
                let stmt = stmt.trim();
                if let Some(c) = PHASH.captures(stmt) {
                    u.phash = Some(c[1].to_string());
                } else if let Some(c) = ROLE.captures(stmt) {
                    if c[2].eq_ignore_ascii_case("yes") || c[2].starts_with('[') {
                        u.role = Some(c[1].to_string());
                    }
                } else if let Some(c) = PROFILE.captures(stmt) {
                    u.role.get_or_insert_with(|| format!("custom profile {}", &c[1]));
                }
            }
            _ => word.push(c),
        }
    }
    users
}

fn accounts(out: &str) -> Vec<AccountInfo> {
    parse_users(out)
        .into_iter()
        .map(|u| {
            let role = u.role.unwrap_or_else(|| "none".into());
            let admin = matches!(
                role.as_str(),
                "superuser" | "deviceadmin" | "vsysadmin" | "panorama-admin"
            );
            common::user_account(&u.name, format!("role {role}"), admin)
        })
        .collect()
}

fn list_in_config(shell: &mut dyn Shell) -> ConnectorResult<Vec<PanUser>> {
    Ok(parse_users(&common::run(shell, LIST, &ERRORS, &[])?))
}

/// Commits the candidate, waiting up to the target's command timeout.
fn commit(shell: &mut dyn Shell, secrets: &[&Password]) -> ConnectorResult<()> {
    let target = shell.target().to_string();
    let out = match shell.command("commit") {
        Ok(out) => out,
        Err(ConnectorError::UnexpectedOutput { during, last_lines, .. }) if during.contains("no prompt after") => {
            let progress = PROGRESS
                .captures_iter(&last_lines)
                .last()
                .map(|c| format!("{}%", &c[1]))
                .unwrap_or_else(|| "no progress shown".into());
            return Err(ConnectorError::StillInProgress {
                target,
                detail: format!("`commit` had not finished: {during} ({progress})"),
            });
        }
        Err(e) => return Err(e),
    };
    common::check(&target, "running `commit`", &out, &ERRORS, secrets)?;
    if !COMMITTED.is_match(&out) {
        return Err(common::unexpected(&target, "running `commit`", &out, secrets));
    }
    Ok(())
}

/// Leaves configuration mode, whatever the candidate holds.
fn leave(shell: &mut dyn Shell) {
    let _ = shell.command("exit");
}

fn set_password(shell: &mut dyn Shell, account: &str, new: &Password) -> ConnectorResult<()> {
    let target = shell.target().to_string();
    let set = format!("set mgt-config users {account} password");
    let (q, out) = shell.command_expect(&set, &[&ENTER_PASSWORD])?;
    if q.is_none() {
        return Err(common::check(&target, &format!("running `{set}`"), &out, &ERRORS, &[])
            .err()
            .unwrap_or_else(|| common::unexpected(&target, &format!("running `{set}`"), &out, &[])));
    }
    let (q, out) = shell.secret_expect(new, &[&CONFIRM_PASSWORD])?;
    if q.is_none() {
        return Err(common::check(&target, "typing the new password", &out, &ERRORS, &[new])
            .err()
            .unwrap_or_else(|| common::unexpected(&target, "typing the new password", &out, &[new])));
    }
    let out = shell.command_secret(new)?;
    common::check(&target, "confirming the new password", &out, &ERRORS, &[new])
}

impl Dialect for PanOs {
    fn kind(&self) -> TargetKind {
        TargetKind::Panos
    }

    fn prompt(&self) -> Regex {
        // `admin@PA-440> ` and, in configuration mode, `[edit]` above `admin@PA-440# `.
        re(r"(?:\A|\n)[\w.\-]+@[\w.\-()]+[>#] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        None
    }

    fn login_questions(&self) -> Vec<(Regex, &'static str)> {
        vec![(re(r"(?i)do you accept[^\n]*\z"), "yes\n")]
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        common::run(shell, "set cli scripting-mode on", &ERRORS, &[])?;
        common::run(shell, "set cli pager off", &ERRORS, &[])?;
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        common::in_config_mode(shell, "configure", "exit", &ERRORS, |sh| {
            Ok(accounts(&common::run(sh, LIST, &ERRORS, &[])?))
        })
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 8,
            max_len: 25,
            // Typed at a no-echo question, never parsed by the CLI.
            forbidden: String::new(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "configure".into(),
            format!("set mgt-config users {account} password"),
            format!("Enter password : {REDACTED}"),
            format!("Confirm password : {REDACTED}"),
            "commit (waits up to command_timeout)".into(),
            "(after verification) exit; (else) set mgt-config users NAME phash OLD-HASH, commit".into(),
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
        common::run(shell, "configure", &ERRORS, &[])?;
        let done = (|| {
            let users = list_in_config(shell)?;
            let Some(user) = users.iter().find(|u| u.name == account) else {
                return Err(ConnectorError::Protocol {
                    target: target.clone(),
                    detail: format!("no management user `{account}` in `{LIST}`"),
                });
            };
            let restore = user
                .phash
                .as_ref()
                .map(|h| format!("set mgt-config users {account} phash {h}"))
                .into_iter()
                .collect();
            set_password(shell, account, new)?;
            commit(shell, &[new])?;
            Ok(restore)
        })();
        match done {
            Ok(restore_lines) => Ok(ChangeState {
                restore_lines,
                ..ChangeState::default()
            }),
            // Nothing more is typed into a session whose commit is still running.
            Err(e) if e.may_still_take_effect() => Err(e),
            Err(e) => {
                // An uncommitted candidate would go in with the next admin's commit: drop it.
                let _ = shell.command("revert config");
                leave(shell);
                Err(e)
            }
        }
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        // `commit` already made it permanent; a fresh session has nothing left to do.
        if !state.fresh_session {
            leave(shell);
        }
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        account: &str,
        _old: &Password,
    ) -> ConnectorResult<()> {
        if state.restore_lines.is_empty() {
            return Err(ConnectorError::Protocol {
                target: shell.target().to_string(),
                detail: format!(
                    "no old phash of `{account}` was read before the change: set the password in the web interface"
                ),
            });
        }
        common::restore_lines(shell, &state.restore_lines, &ERRORS)?;
        commit(shell, &[])?;
        leave(shell);
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

    const OP: &str = "admin@PA-440> ";
    const CF: &str = "\r\n[edit]\r\nadmin@PA-440# ";
    const USERS: &str = "users {\r\n  admin {\r\n    phash $1$abcdefgh$0123456789012345678901;\r\n    permissions {\r\n      role-based {\r\n        superuser yes;\r\n      }\r\n    }\r\n  }\r\n  audit {\r\n    phash $1$ijklmnop$0123456789012345678901;\r\n    permissions {\r\n      role-based {\r\n        superreader yes;\r\n      }\r\n    }\r\n  }\r\n}\r\n";

    #[test]
    fn lists_roles_and_marks_superusers() {
        let a = accounts(USERS);
        let s: Vec<(&str, &str, bool)> = a
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin))
            .collect();
        assert_eq!(
            s,
            vec![("admin", "role superuser", true), ("audit", "role superreader", false)]
        );
        // The same on one line, as the CLI reference quotes it.
        let one = accounts("admin { phash $1$x$y; permissions { role-based { superuser yes; } } }");
        assert_eq!(one.len(), 1);
        assert!(one[0].admin && one[0].name == "admin", "{one:?}");
        assert_eq!(
            parse_users(USERS)[1].phash.as_deref(),
            Some("$1$ijklmnop$0123456789012345678901")
        );
    }

    fn change_steps() -> Vec<Step> {
        vec![
            cmd("configure", &format!("configure\r\nEntering configuration mode\r\n{CF}")),
            cmd(LIST, &format!("{LIST}\r\n{USERS}{CF}")),
            cmd("set mgt-config users audit password", "set mgt-config users audit password\r\nEnter password   : "),
            secret("Pal0-alto.pw", "\r\nConfirm password : "),
            secret("Pal0-alto.pw", CF),
            cmd("commit", &format!("commit\r\n\r\nCommit job 12 is in progress. Use Ctrl+C to return to command prompt\r\n....55%....75%...98%.....100%\r\nConfiguration committed successfully\r\n{CF}")),
        ]
    }

    #[test]
    fn change_commits_and_rollback_restores_the_old_phash() {
        let d = PanOs;
        let mut steps = change_steps();
        steps.extend([
            secret(
                "set mgt-config users audit phash $1$ijklmnop$0123456789012345678901",
                CF,
            ),
            cmd(
                "commit",
                &format!("commit\r\n..100%\r\nConfiguration committed successfully\r\n{CF}"),
            ),
            cmd("exit", &format!("exit\r\nExiting configuration mode\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = d
            .change_password(
                &mut sh,
                "audit",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Pal0-alto.pw"),
            )
            .unwrap();
        d.rollback(&mut sh, &state, "audit", &Password::new("o")).unwrap();
        sh.finish();
    }

    #[test]
    fn a_failed_commit_reverts_the_candidate() {
        let d = PanOs;
        let mut steps = change_steps();
        steps.pop();
        steps.extend([
            cmd(
                "commit",
                &format!(
                    "commit\r\nValidation Error:\r\n mgt-config -> users -> audit is invalid\r\nCommit failed\r\n{CF}"
                ),
            ),
            cmd("revert config", &format!("revert config\r\n{CF}")),
            cmd("exit", &format!("exit\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "audit",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Pal0-alto.pw"),
            )
            .unwrap_err();
        assert!(e.to_string().contains("Commit failed"), "{e}");
        sh.finish();
    }
}
