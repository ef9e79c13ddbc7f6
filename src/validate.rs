//! One check for every name and identifier keyreeve takes from outside: the command line,
//! `keyreeve.toml`, vault documents, imports, snapshots and plans. A name that gets past any of
//! them is one every command can address (read, remove, rotate, settle) and print on one line;
//! the same rules everywhere, so that no file can bring in what `vault set` would refuse.
//!
//! Each check returns an [`Invalid`]: the value, escaped (see [`crate::escape`]), and why it was
//! refused; callers put it into their own typed error, which names the file, line or target.

use crate::escape;
use crate::inventory::is_valid_name;

/// What a name may hold, for error messages and hints.
pub const NAME_RULE: &str = "letters, digits, `-`, `_`, `.`, `@`, `$` (not starting with `.`)";

/// The longest identifier text (a username may be a directory DN) accepted.
pub const MAX_TEXT: usize = 1024;

/// A refused value: `what` it was, the value as it may be shown, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{shown}`: {reason}")]
pub struct Invalid {
    pub what: &'static str,
    /// The value, escaped for a terminal, cut after 120 bytes.
    pub shown: String,
    pub reason: String,
}

impl Invalid {
    fn new(what: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Invalid {
            what,
            shown: escape::terminal(truncated(value)).into_owned(),
            reason: reason.into(),
        }
    }
}

/// A client, target or account name.
pub fn name(what: &'static str, text: &str) -> Result<(), Invalid> {
    if is_valid_name(text) {
        Ok(())
    } else {
        Err(Invalid::new(what, text, format!("it is not a name of {NAME_RULE}")))
    }
}

/// The key of a vault entry, `TARGET/ACCOUNT`: its target and account names.
pub fn entry_key(key: &str) -> Result<(&str, &str), Invalid> {
    match key.split_once('/') {
        Some((target, account)) if is_valid_name(target) && is_valid_name(account) => Ok((target, account)),
        _ => Err(Invalid::new(
            "entry key",
            key,
            format!("it is not TARGET/ACCOUNT, two names of {NAME_RULE}"),
        )),
    }
}

/// A vault path, `CLIENT/TARGET/ACCOUNT`: its three names.
pub fn vault_path(path: &str) -> Result<(&str, &str, &str), Invalid> {
    let parts: Vec<&str> = path.split('/').collect();
    let [client, target, account] = parts.as_slice() else {
        return Err(Invalid::new(
            "vault path",
            path,
            "it needs exactly three parts, CLIENT/TARGET/ACCOUNT",
        ));
    };
    for part in [client, target, account] {
        if !is_valid_name(part) {
            return Err(Invalid::new(
                "vault path",
                path,
                format!("`{}` is not a name of {NAME_RULE}", escape::terminal(part)),
            ));
        }
    }
    Ok((client, target, account))
}

/// A target's address, `CLIENT/TARGET`: its two names.
pub fn target_path(path: &str) -> Result<(&str, &str), Invalid> {
    match path.split_once('/') {
        Some((client, target)) if is_valid_name(client) && is_valid_name(target) => Ok((client, target)),
        _ => Err(Invalid::new(
            "target",
            path,
            format!("it is not CLIENT/TARGET, two names of {NAME_RULE}"),
        )),
    }
}

/// Identifier text that is not a name: a username (which may be a DN, `DOMAIN\user` or
/// `user@realm`), an address, who made an export. One line of visible text: no control
/// characters, no invisible characters that reorder or hide what is shown, no blanks at either
/// end, at most [`MAX_TEXT`] bytes. It may be empty.
pub fn single_line(what: &'static str, text: &str) -> Result<(), Invalid> {
    let problem = if text.len() > MAX_TEXT {
        format!("it is longer than {MAX_TEXT} bytes")
    } else if text.chars().any(|c| c.is_control()) {
        "it holds a control character (a line break, tab or terminal escape)".to_string()
    } else if text.chars().any(escape::is_invisible) {
        "it holds an invisible formatting character".to_string()
    } else if text.trim() != text {
        "it starts or ends with a blank".to_string()
    } else {
        return Ok(());
    };
    Err(Invalid::new(what, text, problem))
}

/// The start of an over-long value, enough to recognise it in an error.
fn truncated(text: &str) -> &str {
    let mut end = text.len().min(120);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys_follow_the_vault_path_rules() {
        assert!(name("client", "acme").is_ok());
        assert!(entry_key("rtr1/admin").is_ok());
        assert_eq!(vault_path("acme/rtr1/admin$").unwrap(), ("acme", "rtr1", "admin$"));
        assert_eq!(target_path("acme/rtr1").unwrap(), ("acme", "rtr1"));
        for bad in [
            "ios-001/admin\nusername pwned privilege 15 secret x",
            "../../etc/passwd",
            "rtr1/\u{1b}[2Jadmin",
            "rtr1/admin/x",
            "rtr1",
            "/admin",
            "rtr1/.hidden",
        ] {
            let err = entry_key(bad).unwrap_err().to_string();
            assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err}");
        }
        assert!(vault_path("acme/rtr1").is_err());
        assert!(vault_path("acme/../admin").is_err());
        assert!(vault_path("acme/rtr1/admin/x").is_err());
        assert!(target_path("acme/rtr1/x").is_err());
        assert!(name("client", "a b").is_err());
    }

    #[test]
    fn single_line_text_refuses_what_would_rewrite_a_screen_or_a_line() {
        for good in [
            "",
            "admin",
            "CN=svc backup,OU=Service,DC=acme,DC=example",
            "ACME\\svc",
            "josé@acme",
        ] {
            assert!(single_line("username", good).is_ok(), "{good}");
        }
        for bad in [
            "admin\nusername pwned",
            "admin\r",
            "\u{1b}[31mroot",
            "adm\u{202e}nimda",
            "admin\u{200b}",
            " admin",
            "admin ",
        ] {
            let err = single_line("username", bad).unwrap_err().to_string();
            assert!(err.starts_with("username `"), "{err}");
            assert!(
                !err.chars().any(|c| c.is_control() || escape::is_invisible(c)),
                "{err:?}"
            );
        }
        assert!(single_line("username", &"a".repeat(MAX_TEXT + 1))
            .unwrap_err()
            .reason
            .contains("longer"));
    }
}
