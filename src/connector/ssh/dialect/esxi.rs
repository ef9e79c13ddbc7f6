//! VMware ESXi: `esxcli` in the host's `sh`, logged in by keyboard-interactive (the engine answers
//! its password prompt when the `password` method is not offered). Accounts come from
//! `esxcli system account list`, who is an administrator from `esxcli system permission list`
//! (role `Admin`); `vpxuser` belongs to vCenter and is never changed. The change is
//! `esxcli system account set -i NAME -p 'PW' -c 'PW'`, judged by its exit status (success and
//! error texts are unconfirmed); rollback sets the old password the same way (allowed while
//! `Security.PasswordHistory` is 0, its default). There is no commit: `save` runs
//! `/sbin/auto-backup.sh` so that the change is in the persistent store now rather than within
//! the hour (a fact from public scripts, not VMware's documentation), and checks its status.
//!
//! Lockout: after 5 failed logins (SSH and API) the account is locked for 15 minutes, and a
//! failed verification counts. keyreeve verifies with ONE fresh login and never retries a
//! refused one; a password the host judged (quality policy: 3 classes of which a leading capital
//! and a trailing digit do not count, 7 to 39 characters) is never tried at login at all.
//!
//! Unconfirmed, so built conservatively: the prompt text (any `sh` prompt is taken), the
//! column headers of `account list` (only the first column is read), the prompting form of
//! `-p -c` without values (not used: the password goes single-quoted on the command line, with
//! the shell's history file unset first).

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::posix_shell::{self, run_status, single_quoted, with_status};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct Esxi;

/// The vCenter agent's account: vCenter owns its password.
pub const VCENTER_ACCOUNT: &str = "vpxuser";

const LIST_ACCOUNTS: &str = "esxcli system account list";
const LIST_PERMISSIONS: &str = "esxcli system permission list";
const BACKUP: &str = "/sbin/auto-backup.sh";

static TABLE_RULE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*-{3,}[-\s]*$"));

/// The rows of an `esxcli` table: the lines after its dashed rule, split on whitespace.
fn table_rows(output: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut after_rule = false;
    for line in output.lines() {
        if TABLE_RULE.is_match(line) {
            after_rule = true;
            continue;
        }
        if after_rule && !line.trim().is_empty() {
            rows.push(line.split_whitespace().map(String::from).collect());
        }
    }
    rows
}

fn parse(accounts: &str, permissions: &str) -> Vec<AccountInfo> {
    let roles: Vec<(String, String)> = table_rows(permissions)
        .into_iter()
        .filter(|r| r.len() >= 3 && r[1].eq_ignore_ascii_case("false"))
        .map(|r| (r[0].clone(), r[2].clone()))
        .collect();
    table_rows(accounts)
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .map(|name| {
            let role = roles
                .iter()
                .find(|(p, _)| *p == name)
                .map(|(_, role)| role.clone())
                .unwrap_or_else(|| "NoAccess".into());
            let admin = role == "Admin";
            let mut a = common::user_account(&name, format!("role {role}"), admin);
            if name == VCENTER_ACCOUNT {
                a.details
                    .insert("owner".into(), "vCenter: its password is never changed here".into());
            }
            a
        })
        .collect()
}

fn list(shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
    let target = shell.target().to_string();
    let (accounts, code) = run_status(shell, &with_status(LIST_ACCOUNTS), None)?;
    if code != 0 {
        return Err(posix_shell::failed(&target, LIST_ACCOUNTS, &accounts, code, &[]));
    }
    let (permissions, code) = run_status(shell, &with_status(LIST_PERMISSIONS), None)?;
    if code != 0 {
        return Err(posix_shell::failed(&target, LIST_PERMISSIONS, &permissions, code, &[]));
    }
    Ok(parse(&accounts, &permissions))
}

fn set_line(account: &str, quoted: &str) -> String {
    with_status(&format!(
        "esxcli system account set -i {account} -p {quoted} -c {quoted}"
    ))
}

/// Sets `account`'s password to `password` and checks the exit status.
fn set_password(shell: &mut dyn Shell, account: &str, password: &Password, during: &str) -> ConnectorResult<()> {
    let target = shell.target().to_string();
    let Some(quoted) = single_quoted(password.expose()) else {
        return Err(ConnectorError::Unsafe {
            target,
            reason: "the password holds a single quote or a line break, which the shell command cannot carry".into(),
        });
    };
    let line = common::secret_line(set_line(account, &quoted));
    let shown = set_line(account, &format!("'{REDACTED}'"));
    let (out, code) = run_status(shell, &shown, Some(&line))?;
    if code != 0 {
        return Err(posix_shell::failed(&target, during, &out, code, &[password]));
    }
    Ok(())
}

impl Dialect for Esxi {
    fn kind(&self) -> TargetKind {
        TargetKind::Esxi
    }

    fn prompt(&self) -> Regex {
        posix_shell::prompt()
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        None
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        // The password goes on a command line: keep it out of the shell's history file.
        shell.command("unset HISTFILE")?;
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        list(shell)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            // `min=disabled,disabled,disabled,7,7`: 7 characters with 3 classes.
            min_len: 7,
            // "fewer than 40 characters" (6.5 guide).
            max_len: 39,
            // Single-quoted for `sh`; nothing else is special inside the quotes.
            forbidden: "'\t".into(),
            min_classes: 3,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "unset HISTFILE".into(),
            format!("esxcli system account set -i {account} -p '{REDACTED}' -c '{REDACTED}' (exit status 0)"),
            format!("(after verification) {BACKUP}"),
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
        if account == VCENTER_ACCOUNT {
            return Err(ConnectorError::Unsupported {
                target,
                kind: self.kind().to_string(),
                operation: "changing `vpxuser` (vCenter manages its password)".into(),
            });
        }
        if !list(shell)?.iter().any(|a| a.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no local account `{account}` in `{LIST_ACCOUNTS}`"),
            });
        }
        set_password(shell, account, new, "setting the new password")?;
        Ok(ChangeState::default())
    }

    fn save(&self, shell: &mut dyn Shell, _state: &ChangeState) -> ConnectorResult<()> {
        let target = shell.target().to_string();
        let (out, code) = run_status(shell, &with_status(BACKUP), None)?;
        if code != 0 {
            return Err(posix_shell::failed(&target, BACKUP, &out, code, &[]));
        }
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        _state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        set_password(shell, account, old, "setting the old password back")
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

    const P: &str = "[root@esx1:~] ";

    fn listing() -> Vec<Step> {
        let a = with_status(LIST_ACCOUNTS);
        let p = with_status(LIST_PERMISSIONS);
        vec![
            cmd(
                &a,
                &format!("{a}\r\nUser ID   Description\r\n--------  -----------------\r\nroot      Administrator\r\nops       \r\nviewer    Read only\r\nvpxuser   VMware VirtualCenter administration account\r\nkeyreeve-status=0\r\n{P}"),
            ),
            cmd(
                &p,
                &format!("{p}\r\nPrincipal  Is Group  Role      Role Description\r\n---------  --------  --------  ----------------\r\nroot       false     Admin     Full access rights\r\nops        false     Admin     Full access rights\r\nviewer     false     ReadOnly  See details of objects\r\nvpxuser    false     Admin     Full access rights\r\nkeyreeve-status=0\r\n{P}"),
            ),
        ]
    }

    #[test]
    fn admins_are_the_principals_with_the_admin_role() {
        let mut sh = FakeShell::new(&Esxi, listing());
        let accounts = Esxi.list_accounts(&mut sh).unwrap();
        sh.finish();
        let summary: Vec<(&str, &str, bool)> = accounts
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin))
            .collect();
        assert_eq!(
            summary,
            [
                ("root", "role Admin", true),
                ("ops", "role Admin", true),
                ("viewer", "role ReadOnly", false),
                ("vpxuser", "role Admin", true),
            ]
        );
        assert!(accounts[3].details.contains_key("owner"));
    }

    #[test]
    fn a_refused_password_is_a_judgement_and_nothing_is_retried() {
        let mut steps = listing();
        let line = set_line("ops", "'Abcdefg'");
        steps.push(secret(
            &line,
            &format!("{line}\r\nError: Password requirements not satisfied: it must contain characters from at least 3 character classes\r\nkeyreeve-status=1\r\n{P}"),
        ));
        let mut sh = FakeShell::new(&Esxi, steps);
        let e = Esxi
            .change_password(
                &mut sh,
                "ops",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Abcdefg"),
            )
            .unwrap_err();
        sh.finish();
        assert!(e.is_password_rejected(), "{e}");
        assert!(!e.to_string().contains("Abcdefg"), "{e}");
    }

    #[test]
    fn vpxuser_is_never_changed() {
        let mut sh = FakeShell::new(&Esxi, vec![]);
        let e = Esxi
            .change_password(
                &mut sh,
                "vpxuser",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("n"),
            )
            .unwrap_err();
        assert!(matches!(e, ConnectorError::Unsupported { .. }), "{e}");
    }

    #[test]
    fn save_runs_the_backup_and_checks_its_status() {
        let b = with_status(BACKUP);
        let mut sh = FakeShell::new(&Esxi, vec![cmd(&b, &format!("{b}\r\nkeyreeve-status=1\r\n{P}"))]);
        assert!(Esxi.save(&mut sh, &ChangeState::default()).is_err());
        sh.finish();
    }
}
