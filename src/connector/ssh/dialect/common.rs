//! What the dialects share: building regexes from constant patterns, turning a device's error
//! lines into [`ConnectorError`]s without leaking a secret, Cisco-style `enable`, and (for tests)
//! a scripted fake [`Shell`] that replays device output through the dialect's own prompt and pager
//! patterns.

use std::sync::LazyLock;

use regex::Regex;

use super::Shell;
use crate::connector::{AccountInfo, AccountKind, ConnectorError, ConnectorResult, Verification};
use crate::secret::{Password, REDACTED};

/// Compiles one of the dialects' constant patterns.
pub(crate) fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        // Only constant patterns written in this module tree reach here; a typo is a programming
        // error caught by every dialect's tests.
        Err(e) => panic!("invalid constant regex {pattern:?}: {e}"),
    }
}

/// A `Password:` question at the end of the buffer (enable, `login`).
pub(crate) static PASSWORD_QUESTION: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)password:\s*\z"));

/// Error lines that mean the device judged the password itself (policy, length, strength), as
/// opposed to a syntax or permission problem.
static PASSWORD_JUDGEMENT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(password|secret|passphrase)\b.*\b(short|long|weak|strength|simple|complex|length|characters?|dictionary|must|minimum|maximum|policy|not allowed|rejected|history|reused?|require[sd]?)\b|too (short|long|simple)|require change of case|minimum password length|strength.check",
    )
});

/// The symbols the CLI reference recommends everywhere (with letters and digits).
pub(crate) const SAFE_SYMBOLS: &str = "-_.,+=@%^*~";

/// Every printable symbol outside the recommended alphabet, space and tab included: the forbidden
/// set for CLIs whose parsing of a password is not documented.
pub(crate) fn outside_safe_alphabet() -> String {
    (b' '..=b'~')
        .map(char::from)
        .filter(|c| !c.is_ascii_alphanumeric() && !SAFE_SYMBOLS.contains(*c))
        .chain(['\t'])
        .collect()
}

/// A password as a command line: every line that carries a secret goes through
/// [`Shell::command_secret`] as one of these, so the engine knows what to redact.
pub(crate) fn secret_line(line: String) -> Password {
    Password::new(line)
}

/// `text` with every given secret replaced by `********`.
pub(crate) fn redact(text: &str, secrets: &[&Password]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        out = s.redact_in(&out);
    }
    out
}

pub(crate) use crate::connector::ssh::session::last_lines;

/// An [`ConnectorError::UnexpectedOutput`] with the redacted last lines of `output`.
pub(crate) fn unexpected(target: &str, during: &str, output: &str, secrets: &[&Password]) -> ConnectorError {
    ConnectorError::UnexpectedOutput {
        target: target.to_string(),
        during: during.to_string(),
        last_lines: redact(&last_lines(output, 6), secrets),
    }
}

/// Checks a command's output against the dialect's error pattern (multi-line regex matched per
/// line). A matching line about the password's quality becomes [`ConnectorError::PasswordRejected`];
/// any other becomes [`ConnectorError::UnexpectedOutput`] with the redacted last lines.
pub(crate) fn check(
    target: &str,
    during: &str,
    output: &str,
    errors: &Regex,
    secrets: &[&Password],
) -> ConnectorResult<()> {
    if !output.lines().any(|l| errors.is_match(l)) {
        return Ok(());
    }
    // The device may explain its judgement on a line of its own (`Command fail. Return code -39`
    // after `must be at least 8 characters`).
    if let Some(reason) = output.lines().find(|l| PASSWORD_JUDGEMENT.is_match(l)) {
        return Err(ConnectorError::PasswordRejected {
            target: target.to_string(),
            reason: redact(reason.trim(), secrets),
        });
    }
    Err(unexpected(target, during, output, secrets))
}

/// Sends a plain command and checks its output for errors.
pub(crate) fn run(shell: &mut dyn Shell, line: &str, errors: &Regex, secrets: &[&Password]) -> ConnectorResult<String> {
    let out = shell.command(line)?;
    let target = shell.target().to_string();
    check(&target, &format!("running `{line}`"), &out, errors, secrets)?;
    Ok(out)
}

/// Sends a line holding a secret (described as `shown`, with `********` in place of the secret)
/// and checks its output for errors.
pub(crate) fn run_secret(
    shell: &mut dyn Shell,
    line: &Password,
    shown: &str,
    errors: &Regex,
    secrets: &[&Password],
) -> ConnectorResult<String> {
    let out = shell.command_secret(line)?;
    let target = shell.target().to_string();
    check(
        &target,
        &format!("running `{shown}`"),
        &out,
        errors,
        &[secrets, &[line]].concat(),
    )?;
    Ok(out)
}

/// Sends each restore line (old hash lines: not plaintext, but not for logs either) as a secret.
pub(crate) fn restore_lines(shell: &mut dyn Shell, lines: &[String], errors: &Regex) -> ConnectorResult<()> {
    for line in lines {
        let secret = secret_line(line.clone());
        let shown = format!(
            "{} {REDACTED}",
            line.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        );
        run_secret(shell, &secret, &shown, errors, &[])?;
    }
    Ok(())
}

/// Runs `body` in configuration mode: `enter`, then `body`, then `leave`. If `body` fails, the
/// session still leaves configuration mode (best effort) before the error is returned, so that
/// a rollback from the same session starts from the usual prompt.
pub(crate) fn in_config_mode<T>(
    shell: &mut dyn Shell,
    enter: &str,
    leave: &str,
    errors: &Regex,
    body: impl FnOnce(&mut dyn Shell) -> ConnectorResult<T>,
) -> ConnectorResult<T> {
    run(shell, enter, errors, &[])?;
    let value = match body(shell) {
        Ok(v) => v,
        Err(e) => {
            let _ = shell.command(leave);
            return Err(e);
        }
    };
    run(shell, leave, errors, &[])?;
    Ok(value)
}

/// A short unique name for a checkpoint or configuration session.
pub(crate) fn checkpoint_name() -> String {
    if cfg!(test) {
        return "keyreeve-test".into();
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("keyreeve-{secs}-{n}")
}

/// The enable secret as an account of the device.
pub(crate) fn enable_account(privilege: &str) -> AccountInfo {
    AccountInfo {
        name: "enable".into(),
        kind: AccountKind::EnableSecret,
        privilege: privilege.into(),
        admin: true,
        enabled: true,
        details: Default::default(),
    }
}

/// A login account.
pub(crate) fn user_account(name: &str, privilege: String, admin: bool) -> AccountInfo {
    AccountInfo {
        name: name.into(),
        kind: AccountKind::User,
        privilege,
        admin,
        enabled: true,
        details: Default::default(),
    }
}

/// Lines after which the Cisco CLIs tell a wrong enable secret.
static ENABLE_REFUSED: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?im)^\s*(%\s*)?(bad secrets?|access denied|invalid password|% no password set)"));

/// Sends `enable`; answers `Password:` with `secret`. Returns whether privileged mode was reached
/// (no secret needed, or the secret accepted). Never leaves the shell at a `Password:` question.
pub(crate) fn cisco_enable(shell: &mut dyn Shell, secret: Option<&Password>) -> ConnectorResult<bool> {
    let (question, out) = shell.command_expect("enable", &[&PASSWORD_QUESTION])?;
    if question.is_none() {
        return Ok(!ENABLE_REFUSED.is_match(&out));
    }
    let Some(secret) = secret else {
        leave_password_question(shell)?;
        return Ok(false);
    };
    let (again, out) = shell.secret_expect(secret, &[&PASSWORD_QUESTION])?;
    if again.is_some() {
        leave_password_question(shell)?;
        return Ok(false);
    }
    Ok(!ENABLE_REFUSED.is_match(&out))
}

/// Answers repeated `Password:` questions with empty lines until the device gives up (Cisco asks
/// three times) and shows its prompt again.
fn leave_password_question(shell: &mut dyn Shell) -> ConnectorResult<()> {
    for _ in 0..3 {
        let (again, _) = shell.command_expect("", &[&PASSWORD_QUESTION])?;
        if again.is_none() {
            return Ok(());
        }
    }
    let target = shell.target().to_string();
    Err(unexpected(
        &target,
        "leaving the enable password question",
        "Password:",
        &[],
    ))
}

/// Tries `enable` with `candidate` after dropping to user mode with `disable`.
pub(crate) fn cisco_verify_enable(shell: &mut dyn Shell, candidate: &Password) -> ConnectorResult<Verification> {
    shell.command("disable")?;
    Ok(if cisco_enable(shell, Some(candidate))? {
        Verification::Accepted
    } else {
        Verification::Rejected
    })
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted [`Shell`]: each step names the line the dialect must send (and whether it must go
    //! through the secret path) and the raw text the device answers: echo, output, pager prompts
    //! and the final prompt, in the vendor's format. The fake plays the engine's part with the
    //! dialect's own prompt and pager patterns, so those are tested on the same text.

    use std::collections::VecDeque;

    use regex::Regex;

    use super::super::{Dialect, Shell};
    use crate::connector::{ConnectorError, ConnectorResult};
    use crate::secret::{Password, REDACTED};

    /// Where the device showed its pager prompt and the engine pressed the answer key.
    pub const PAGER_KEY: &str = "[[pager-key]]";

    pub struct Step {
        pub line: String,
        pub secret: bool,
        /// Raw device text; `None` simulates a silent device (timeout).
        pub reply: Option<String>,
    }

    /// A plain command and the device's raw answer.
    pub fn cmd(line: &str, reply: &str) -> Step {
        Step {
            line: line.into(),
            secret: false,
            reply: Some(reply.into()),
        }
    }

    /// A line that must go through the secret path.
    pub fn secret(line: &str, reply: &str) -> Step {
        Step {
            line: line.into(),
            secret: true,
            reply: Some(reply.into()),
        }
    }

    /// A command the device never answers.
    pub fn silent(line: &str) -> Step {
        Step {
            line: line.into(),
            secret: false,
            reply: None,
        }
    }

    pub struct FakeShell {
        steps: VecDeque<Step>,
        prompt: Regex,
        pager: Option<(Regex, &'static str)>,
        secrets: Vec<Password>,
        /// Every line sent, secrets as `********`.
        pub sent: Vec<String>,
    }

    impl FakeShell {
        pub fn new(dialect: &dyn Dialect, steps: Vec<Step>) -> Self {
            FakeShell {
                steps: steps.into(),
                prompt: dialect.prompt(),
                pager: dialect.pager(),
                secrets: Vec::new(),
                sent: Vec::new(),
            }
        }

        /// Panics unless every scripted step was used.
        pub fn finish(&self) {
            assert!(
                self.steps.is_empty(),
                "steps never sent: {:?}",
                self.steps.iter().map(|s| &s.line).collect::<Vec<_>>()
            );
        }

        fn next(&mut self, line: &str, secret: bool, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
            let step = match self.steps.pop_front() {
                Some(s) => s,
                None => panic!("unscripted line sent: {:?}", if secret { REDACTED } else { line }),
            };
            assert_eq!(step.line, line, "the dialect sent a different line");
            assert_eq!(
                step.secret, secret,
                "line {:?} sent through the wrong path (secret?)",
                step.line
            );
            if secret {
                self.secrets.push(Password::new(line));
            }
            self.sent
                .push(if secret { REDACTED.to_string() } else { line.to_string() });
            let Some(raw) = step.reply else {
                return Err(ConnectorError::Timeout {
                    target: "acme/fake".into(),
                    seconds: 1,
                    during: format!(
                        "waiting for the prompt after `{}`",
                        if secret { REDACTED } else { line }
                    ),
                });
            };
            let text = raw.replace("\r\n", "\n").replace('\r', "");
            // Answer pagers: the text before each `[[pager-key]]` marker must end with a pager
            // prompt that the dialect's pattern recognises; the engine strips it and answers it.
            let mut body = String::new();
            let chunks: Vec<&str> = text.split(PAGER_KEY).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let chunk = if i > 0 {
                    chunk.trim_start_matches([' ', '\x08'])
                } else {
                    chunk
                };
                if i + 1 == chunks.len() {
                    body.push_str(chunk);
                    break;
                }
                let Some((pager, _answer)) = &self.pager else {
                    panic!("fixture has a pager prompt but the dialect declares no pager");
                };
                match pager.find(chunk) {
                    Some(m) => body.push_str(&chunk[..m.start()]),
                    None => panic!("pager prompt not recognised at the end of {chunk:?}"),
                }
            }
            // Drop the echo (the first line) like the engine does.
            let after_echo = match body.split_once('\n') {
                Some((_, r)) => r.to_string(),
                None => String::new(),
            };
            let redacted = self.secrets.iter().fold(after_echo, |t, s| {
                let inner = s.expose().rsplit(' ').next().unwrap_or("");
                let t = s.redact_in(&t);
                // The secret word of a command line, when a device echoes it back in an error.
                if inner.len() >= 6 {
                    t.replace(inner, REDACTED)
                } else {
                    t
                }
            });
            for (i, q) in questions.iter().enumerate() {
                if q.is_match(&redacted) {
                    let cut = q.find(&redacted).map(|m| m.start()).unwrap_or(redacted.len());
                    return Ok((Some(i), redacted[..cut].to_string()));
                }
            }
            match self.prompt.find(&redacted) {
                Some(m) => Ok((None, redacted[..m.start()].trim_end_matches('\n').to_string())),
                None => panic!("fixture reply does not end with a prompt the dialect recognises: {redacted:?}"),
            }
        }
    }

    impl Shell for FakeShell {
        fn target(&self) -> &str {
            "acme/fake"
        }
        fn command(&mut self, line: &str) -> ConnectorResult<String> {
            self.next(line, false, &[]).map(|(_, o)| o)
        }
        fn command_secret(&mut self, line: &Password) -> ConnectorResult<String> {
            self.next(line.expose(), true, &[]).map(|(_, o)| o)
        }
        fn command_expect(&mut self, line: &str, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
            self.next(line, false, questions)
        }
        fn secret_expect(&mut self, line: &Password, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
            self.next(line.expose(), true, questions)
        }
        fn set_prompt(&mut self, prompt: Regex) {
            self.prompt = prompt;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safe_alphabet_complement_keeps_only_the_recommended_symbols() {
        let forbidden = outside_safe_alphabet();
        for c in "?$\"'\\!|> \t#&()[]{}<>;:/`".chars() {
            assert!(forbidden.contains(c), "{c:?}");
        }
        for c in SAFE_SYMBOLS.chars() {
            assert!(!forbidden.contains(c), "{c:?}");
        }
    }

    #[test]
    fn password_quality_errors_become_password_rejected() {
        let errors = re(r"^\s*%|^error:");
        let pw = Password::new("Sup3r-secret");
        let e = check("a/b", "x", "error: minimum password length is 6", &errors, &[&pw]).unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        let e = check("a/b", "x", "% Invalid input detected at '^' marker.", &errors, &[&pw]).unwrap_err();
        assert!(matches!(e, ConnectorError::UnexpectedOutput { .. }), "{e}");
        check("a/b", "x", "Building configuration...\n[OK]", &errors, &[&pw]).unwrap();
    }

    #[test]
    fn unexpected_output_never_shows_the_secret() {
        let errors = re(r"^\s*%");
        let pw = Password::new("Sup3r-secret");
        let e = check(
            "a/b",
            "x",
            "username x secret Sup3r-secret\n% Bad thing",
            &errors,
            &[&pw],
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("Sup3r-secret"), "{shown}");
        assert!(shown.contains(REDACTED), "{shown}");
    }
}
