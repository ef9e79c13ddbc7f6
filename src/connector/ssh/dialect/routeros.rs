//! MikroTik RouterOS: login as `NAME+ct511w4098h` (no colours, dumb terminal), decline the license
//! question, `/user set [find name="NAME"] password="PW"` with RouterOS string escapes. The change
//! is immediate and persistent: there is nothing to save, and rollback sets the old password again.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct RouterOs;

/// Terminal options appended to the login name: no colours, no auto-detection, 511x4098.
pub const LOGIN_SUFFIX: &str = "+ct511w4098h";

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(failure:|syntax error|expected |bad command name|no such item|input does not match|invalid value|ambiguous value|value of \S+ (must|out of range))",
    )
});
static ENTRY: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(\d+)\s+((?:[A-Z]\s+)*)(.*)$"));
static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| re(r#"([\w-]+)=("(?:[^"\\]|\\.)*"|\S*)"#));

const LIST_USERS: &str = "/user print detail without-paging";

/// `text` as the inside of a RouterOS double-quoted string.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '"' | '\\' | '$' | '?') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn unquote(value: &str) -> String {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One `/user print detail` entry: its flags and attributes.
struct Entry {
    flags: String,
    attributes: BTreeMap<String, String>,
}

fn parse_entries(output: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for line in output.lines() {
        let rest = match ENTRY.captures(line) {
            Some(caps) => {
                entries.push(Entry {
                    flags: caps.get(2).map_or("", |m| m.as_str()).split_whitespace().collect(),
                    attributes: BTreeMap::new(),
                });
                caps.get(3).map_or("", |m| m.as_str()).to_string()
            }
            None => line.to_string(),
        };
        let Some(entry) = entries.last_mut() else { continue };
        // `;;; comment` lines carry no attributes.
        if rest.trim_start().starts_with(";;;") {
            continue;
        }
        for caps in ATTRIBUTE.captures_iter(&rest) {
            entry.attributes.insert(caps[1].to_string(), unquote(&caps[2]));
        }
    }
    entries
}

fn list(shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
    let out = common::run(shell, LIST_USERS, &ERRORS, &[])?;
    Ok(parse_entries(&out)
        .into_iter()
        .filter_map(|e| {
            let name = e.attributes.get("name")?;
            let group = e.attributes.get("group").map_or("", String::as_str);
            let mut a = common::user_account(name, format!("group={group}"), group == "full");
            a.enabled = !e.flags.contains('X');
            Some(a)
        })
        .collect())
}

fn set_password(
    shell: &mut dyn Shell,
    account: &str,
    password: &Password,
    secrets: &[&Password],
) -> ConnectorResult<()> {
    let line = common::secret_line(format!(
        "/user set [find name=\"{}\"] password=\"{}\"",
        escape(account),
        escape(password.expose())
    ));
    let shown = format!("/user set [find name=\"{}\"] password=\"{REDACTED}\"", escape(account));
    common::run_secret(shell, &line, &shown, &ERRORS, secrets).map(drop)
}

impl Dialect for RouterOs {
    fn kind(&self) -> TargetKind {
        TargetKind::Routeros
    }

    fn prompt(&self) -> Regex {
        re(r"\[[^\[\]\r\n]+@[^\[\]\r\n]+\] ?(?:/[\w/ \-]*)?(?:<SAFE>|>) ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"[ \t]*-- \[Q quit\|D dump\|[^\]]*\]\s*\z"), "D"))
    }

    fn login_username(&self, username: &str) -> String {
        format!("{username}{LOGIN_SUFFIX}")
    }

    fn login_questions(&self) -> Vec<(Regex, &'static str)> {
        vec![(re(r"(?i)\[Y/n\]:?\s*\z"), "n\n")]
    }

    fn setup(&self, _shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        // No paging by default and every listing says `without-paging`; no privileged mode.
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        list(shell)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 1,
            max_len: 128,
            // `"`, `\`, `$` and `?` are escaped inside the quoted string; control characters are not.
            forbidden: "\t".into(),
            min_classes: 0,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            format!("/user set [find name=\"{}\"] password=\"{REDACTED}\"", escape(account)),
            "(immediate and persistent: nothing to save)".into(),
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
        // `[find ...]` matching nothing is silently a no-op: make sure the account is there.
        if !list(shell)?.iter().any(|a| a.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no user `{account}` on the device"),
            });
        }
        set_password(shell, account, new, &[new])?;
        Ok(ChangeState::default())
    }

    fn save(&self, _shell: &mut dyn Shell, _state: &ChangeState) -> ConnectorResult<()> {
        Ok(())
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        _state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()> {
        set_password(shell, account, old, &[old])
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

    const P: &str = "[netops@MikroTik] > ";

    fn users_reply() -> String {
        format!(
            "{LIST_USERS}\r\nFlags: X - disabled; E - expired \r\n 0   ;;; system default user\r\n     \
             name=\"admin\" group=full address=\"\" last-logged-in=2025-03-10 11:59:20 \r\n\r\n \
             1   name=\"netops\" group=full address=10.0.0.0/8 last-logged-in=2025-03-11 09:00:01 \r\n\r\n \
             2   name=\"monitor\" group=read address=\"\" \r\n\r\n \
             3 X name=\"old admin\" group=full address=\"\" \r\n\r\n{P}"
        )
    }

    #[test]
    fn login_name_and_license_question() {
        assert_eq!(RouterOs.login_username("netops"), "netops+ct511w4098h");
        let q = RouterOs.login_questions();
        assert!(q[0].0.is_match("Do you want to see the software license? [Y/n]: "));
        assert_eq!(q[0].1, "n\n");
    }

    #[test]
    fn lists_groups_and_disabled_flag() {
        let d = RouterOs;
        let mut sh = FakeShell::new(&d, vec![cmd(LIST_USERS, &users_reply())]);
        let accounts = d.list_accounts(&mut sh).unwrap();
        sh.finish();
        let summary: Vec<(&str, &str, bool, bool)> = accounts
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin, a.enabled))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("admin", "group=full", true, true),
                ("netops", "group=full", true, true),
                ("monitor", "group=read", false, true),
                ("old admin", "group=full", true, false),
            ]
        );
    }

    #[test]
    fn change_escapes_and_rollback_sets_the_old_password() {
        let d = RouterOs;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                secret(
                    r#"/user set [find name="monitor"] password="a\"b\\c\$d\?e""#,
                    &format!("x\r\n{P}"),
                ),
                secret(
                    r#"/user set [find name="monitor"] password="old-one""#,
                    &format!("x\r\n{P}"),
                ),
            ],
        );
        let state = d
            .change_password(
                &mut sh,
                "monitor",
                ChangeMethod::AdminReset,
                &Password::new("old-one"),
                &Password::new(r#"a"b\c$d?e"#),
            )
            .unwrap();
        d.save(&mut sh, &state).unwrap();
        d.rollback(&mut sh, &state, "monitor", &Password::new("old-one"))
            .unwrap();
        sh.finish();
    }

    #[test]
    fn a_missing_user_is_refused_because_find_would_do_nothing() {
        let d = RouterOs;
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
        assert!(e.to_string().contains("no user `ghost`"), "{e}");
        sh.finish();
    }

    #[test]
    fn failures_are_mapped() {
        let d = RouterOs;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(LIST_USERS, &users_reply()),
                secret(
                    r#"/user set [find name="monitor"] password="abc""#,
                    &format!("x\r\nfailure: password is too short, minimum length is 8\r\n{P}"),
                ),
                cmd(LIST_USERS, &users_reply()),
                secret(
                    r#"/user set [find name="monitor"] password="abcdefgh""#,
                    &format!("x\r\nsyntax error (line 1 column 12)\r\n{P}"),
                ),
            ],
        );
        let e = d
            .change_password(
                &mut sh,
                "monitor",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("abc"),
            )
            .unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        let e = d
            .change_password(
                &mut sh,
                "monitor",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("abcdefgh"),
            )
            .unwrap_err();
        assert!(matches!(e, ConnectorError::UnexpectedOutput { .. }), "{e}");
        sh.finish();
    }

    #[test]
    fn prompts() {
        let p = RouterOs.prompt();
        for ok in [
            "[admin@MikroTik] > ",
            "[admin@MikroTik] /user> ",
            "[admin@MikroTik] <SAFE>",
            "[admin@MikroTik] /user<SAFE>",
            "[a@b] /ip address> ",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
        assert!(!p.is_match("Password: "));
    }
}
