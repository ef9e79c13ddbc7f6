//! What the dialects that drive a plain POSIX shell share (ESXi's and Synology DSM's `sh`): a
//! single-quoted argument, a command whose exit status is read back (their tools' messages are
//! not documented, their exit status is), and a prompt pattern for `$`/`#` and `[user@host:~]`.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::Shell;
use crate::connector::{ConnectorError, ConnectorResult};
use crate::secret::Password;

/// A prompt of `sh`: `[root@esx1:~] `, `admin@nas:~$ `, `ash-4.4# `, `nas> `.
pub(crate) fn prompt() -> Regex {
    re(r"(?:\A|[\r\n])(?:\[[\w.\-@:~/ ]{1,80}\]|[\w.\-@:~/ ]{0,80}[$#>]) ?\z")
}

static STATUS: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^keyreeve-status=(\d{1,3})\s*$"));

/// `text` single-quoted for `sh`; None when it holds a quote (which would end the quoting) or a
/// line break (which would end the command).
pub(crate) fn single_quoted(text: &str) -> Option<String> {
    if text.contains(['\'', '\n', '\r']) {
        return None;
    }
    Some(format!("'{text}'"))
}

/// The marker that makes the shell print the exit status of `command`.
pub(crate) fn with_status(command: &str) -> String {
    format!("{command}; echo keyreeve-status=$?")
}

/// Runs `line` (already holding the status marker, and a secret if `secret`) and returns its
/// output without the status line, and the status.
pub(crate) fn run_status(
    shell: &mut dyn Shell,
    line: &str,
    secret: Option<&Password>,
) -> ConnectorResult<(String, u8)> {
    let out = match secret {
        Some(s) => shell.command_secret(s)?,
        None => shell.command(line)?,
    };
    let shown = line.to_string();
    let Some(code) = STATUS.captures(&out).and_then(|c| c[1].parse::<u8>().ok()) else {
        let secrets: Vec<&Password> = secret.into_iter().collect();
        return Err(common::unexpected(
            shell.target(),
            &format!("running `{shown}` (no exit status)"),
            &out,
            &secrets,
        ));
    };
    let body: String = out
        .lines()
        .filter(|l| !STATUS.is_match(l))
        .collect::<Vec<_>>()
        .join("\n");
    Ok((body, code))
}

/// An error for a command that exited `code`: a password judgement when its words are about the
/// password (policy, length, history), otherwise the output's last lines.
pub(crate) fn failed(target: &str, during: &str, output: &str, code: u8, secrets: &[&Password]) -> ConnectorError {
    let any_line = re(r".");
    match common::check(target, during, output, &any_line, secrets) {
        Err(e @ ConnectorError::PasswordRejected { .. }) => e,
        _ => common::unexpected(
            target,
            &format!("{during} (exit status {code})"),
            if output.trim().is_empty() {
                "(no output)"
            } else {
                output
            },
            secrets,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_refuses_what_would_end_the_quote_or_the_line() {
        assert_eq!(single_quoted("a b$c\"!").as_deref(), Some("'a b$c\"!'"));
        assert!(single_quoted("it's").is_none() && single_quoted("a\nb").is_none());
    }

    #[test]
    fn prompts_of_esxi_and_dsm() {
        let p = prompt();
        for ok in [
            "[root@esx1:~] ",
            "admin@nas01:~$ ",
            "ash-4.4# ",
            "root@nas01:~# ",
            "\r\n[root@esx1:/tmp] ",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
        assert!(!p.is_match("Password: "));
        assert!(!p.is_match("Name  Role\n"));
    }
}
