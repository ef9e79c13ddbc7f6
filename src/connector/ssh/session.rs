//! The SSH session engine on ssh2 (blocking; callers run it on tokio's blocking pool). It connects
//! with a timeout, verifies the host key BEFORE any authentication, logs in by password or private
//! key, and then offers either exec channels (Linux) or an interactive shell with a pty that
//! implements the dialects' [`Shell`]: read until the prompt or a question, answer pagers, strip
//! ANSI escapes and the echoed command, and redact every secret the session was given.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use regex::Regex;
use zeroize::Zeroizing;

use super::dialect::Shell;
use super::hostkeys::{host_pattern, HostKey, HostKeyPolicy};
use crate::connector::{ConnectContext, ConnectorError, ConnectorResult, Verification};
use crate::inventory::{LoginMethod, Target};
use crate::secret::{Password, REDACTED};

/// Where and how to reach one SSH target.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `CLIENT/TARGET`, for messages.
    pub name: String,
    pub address: String,
    pub port: u16,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub pinned_host_key: Option<String>,
    pub known_hosts: PathBuf,
    pub trust_on_first_use: bool,
}

impl Endpoint {
    pub fn new(target: &Target, ctx: &ConnectContext) -> Self {
        Endpoint {
            name: target.path(),
            address: target.address.clone(),
            port: target.port,
            connect_timeout: target.connect_timeout,
            command_timeout: target.command_timeout,
            pinned_host_key: target.host_key.clone(),
            known_hosts: ctx.known_hosts.clone(),
            trust_on_first_use: ctx.trust_on_first_use,
        }
    }

    fn timeout_err(&self, timeout: Duration, during: impl Into<String>) -> ConnectorError {
        ConnectorError::Timeout {
            target: self.name.clone(),
            seconds: timeout.as_secs().max(1),
            during: during.into(),
        }
    }

    fn protocol_err(&self, detail: impl Into<String>) -> ConnectorError {
        ConnectorError::Protocol {
            target: self.name.clone(),
            detail: detail.into(),
        }
    }
}

/// How the login proves itself.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    Password(&'a Password),
    /// OpenSSH private key text (unencrypted).
    PrivateKey(&'a Password),
}

impl<'a> Auth<'a> {
    pub fn new(method: LoginMethod, secret: &'a Password) -> Self {
        match method {
            LoginMethod::Password => Auth::Password(secret),
            LoginMethod::PrivateKey => Auth::PrivateKey(secret),
        }
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// Opens TCP, runs the handshake and checks the host key; nothing secret has been sent when this
/// returns. Returns the session and the key the server presented.
pub fn handshake(ep: &Endpoint) -> ConnectorResult<(ssh2::Session, HostKey)> {
    let (session, key) = unverified_handshake(ep)?;
    HostKeyPolicy {
        target: &ep.name,
        pinned: ep.pinned_host_key.as_deref(),
        known_hosts: &ep.known_hosts,
        host_pattern: host_pattern(&ep.address, ep.port),
        trust_on_first_use: ep.trust_on_first_use,
    }
    .check(&key)?;
    Ok((session, key))
}

/// The key a server presents, read without judging it (for `keyreeve hostkeys accept` and
/// `scan`); the session must not be used to authenticate.
pub fn fetch_host_key(ep: &Endpoint) -> ConnectorResult<HostKey> {
    let (session, key) = unverified_handshake(ep)?;
    let _ = session.disconnect(None, "host key read", None);
    Ok(key)
}

fn unverified_handshake(ep: &Endpoint) -> ConnectorResult<(ssh2::Session, HostKey)> {
    let addrs: Vec<_> = (ep.address.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| ConnectorError::Unreachable {
            target: ep.name.clone(),
            detail: format!("cannot resolve {}: {e}", ep.address),
        })?
        .collect();
    let mut last_err = None;
    let mut tcp = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, ep.connect_timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let tcp = match (tcp, last_err) {
        (Some(t), _) => t,
        (None, Some(e)) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
            return Err(ep.timeout_err(ep.connect_timeout, format!("connecting to {}:{}", ep.address, ep.port)))
        }
        (None, e) => {
            return Err(ConnectorError::Unreachable {
                target: ep.name.clone(),
                detail: format!(
                    "{}:{}: {}",
                    ep.address,
                    ep.port,
                    e.map(|e| e.to_string()).unwrap_or_else(|| "no address".into())
                ),
            })
        }
    };
    let _ = tcp.set_nodelay(true);
    let mut session = ssh2::Session::new().map_err(|e| ep.protocol_err(format!("cannot start SSH: {e}")))?;
    session.set_timeout(millis(ep.connect_timeout));
    session.set_tcp_stream(tcp);
    session.handshake().map_err(|e| {
        if is_timeout(&e) {
            ep.timeout_err(ep.connect_timeout, "waiting for the SSH handshake")
        } else if let ssh2::ErrorCode::Session(
            LIBSSH2_ERROR_BANNER_RECV
            | LIBSSH2_ERROR_SOCKET_SEND
            | LIBSSH2_ERROR_SOCKET_DISCONNECT
            | LIBSSH2_ERROR_SOCKET_RECV,
        ) = e.code()
        {
            ConnectorError::Unreachable {
                target: ep.name.clone(),
                detail: format!(
                    "{}:{} closed the connection during the SSH handshake",
                    ep.address, ep.port
                ),
            }
        } else {
            ep.protocol_err(format!("SSH handshake failed: {e}"))
        }
    })?;
    let key = match session.host_key() {
        Some((blob, _)) => HostKey::new(blob),
        None => return Err(ep.protocol_err("the server presented no host key")),
    };
    Ok((session, key))
}

// libssh2's error codes (libssh2.h), which ssh2 passes through as `ErrorCode::Session`.
const LIBSSH2_ERROR_BANNER_RECV: i32 = -2;
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;
const LIBSSH2_ERROR_FILE: i32 = -16;
const LIBSSH2_ERROR_SOCKET_TIMEOUT: i32 = -30;
const LIBSSH2_ERROR_METHOD_NOT_SUPPORTED: i32 = -33;

fn is_timeout(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ssh2::ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) | ssh2::ErrorCode::Session(LIBSSH2_ERROR_SOCKET_TIMEOUT)
    )
}

/// Answers keyboard-interactive prompts: the password to hidden ones, nothing to the others.
struct PasswordPrompter<'a> {
    password: &'a Password,
    rounds: u32,
}

impl ssh2::KeyboardInteractivePrompt for PasswordPrompter<'_> {
    fn prompt<'b>(&mut self, _username: &str, _instructions: &str, prompts: &[ssh2::Prompt<'b>]) -> Vec<String> {
        self.rounds += 1;
        prompts
            .iter()
            // One round with the password; a server asking again gets nothing more.
            .map(|p| {
                if !p.echo && self.rounds == 1 {
                    self.password.expose().to_string()
                } else {
                    String::new()
                }
            })
            .collect()
    }
}

/// An authenticated SSH session.
pub struct SshSession {
    endpoint: Endpoint,
    session: ssh2::Session,
    /// Every secret this session was given, redacted from all captured text.
    secrets: Vec<Password>,
    /// The passwords among them (not command lines or key text): what a device may echo in
    /// part or in another form, hidden in error text by [`SshSession::mask`].
    passwords: Vec<Password>,
}

/// What an exec channel returned; secrets already redacted.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl SshSession {
    /// Connects, verifies the host key, then authenticates `username`.
    pub fn login(ep: &Endpoint, username: &str, auth: Auth<'_>) -> ConnectorResult<SshSession> {
        let (session, _key) = handshake(ep)?;
        // A refused password may take seconds (PAM's fail delay): give authentication the longer
        // of the two timeouts, so that a wrong password reads as refused, not as a timeout.
        let auth_timeout = ep.connect_timeout.max(ep.command_timeout);
        session.set_timeout(millis(auth_timeout));
        let (result, secret) = match auth {
            Auth::Password(pw) => (session.userauth_password(username, pw.expose()), pw),
            Auth::PrivateKey(key) => {
                // libssh2 wants the PEM text to end with its newline; stores may trim it.
                let mut text = Zeroizing::new(key.expose().trim().to_string());
                text.push('\n');
                (session.userauth_pubkey_memory(username, None, &text, None), key)
            }
        };
        // Some devices offer only keyboard-interactive: answer its password prompt instead. Asked
        // only after a refusal, so an ordinary login costs no extra round trip.
        let result = match (result, auth) {
            (Err(e), Auth::Password(pw)) if !session.authenticated() && !is_timeout(&e) => {
                let methods = session.auth_methods(username).unwrap_or_default().to_string();
                if !methods.split(',').any(|m| m == "password")
                    && methods.split(',').any(|m| m == "keyboard-interactive")
                {
                    session.userauth_keyboard_interactive(
                        username,
                        &mut PasswordPrompter {
                            password: pw,
                            rounds: 0,
                        },
                    )
                } else {
                    Err(e)
                }
            }
            (result, _) => result,
        };
        if let Err(e) = result {
            if is_timeout(&e) {
                return Err(ep.timeout_err(auth_timeout, format!("authenticating `{username}`")));
            }
            if !session.authenticated() {
                if let (Auth::PrivateKey(_), ssh2::ErrorCode::Session(code)) = (auth, e.code()) {
                    // libssh2 reports an unreadable key text as a file or method error.
                    if code == LIBSSH2_ERROR_FILE || code == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED {
                        return Err(ep.protocol_err(format!(
                            "the private key for `{username}` cannot be read (it must be an unencrypted OpenSSH or PEM key)"
                        )));
                    }
                }
                return Err(ConnectorError::AuthFailed {
                    target: ep.name.clone(),
                    user: username.to_string(),
                });
            }
        }
        if !session.authenticated() {
            return Err(ConnectorError::AuthFailed {
                target: ep.name.clone(),
                user: username.to_string(),
            });
        }
        Ok(SshSession {
            endpoint: ep.clone(),
            session,
            secrets: vec![secret.clone()],
            passwords: match auth {
                Auth::Password(pw) => vec![pw.clone()],
                Auth::PrivateKey(_) => Vec::new(),
            },
        })
    }

    /// A fresh password login as `username`: whether the target accepts `password` now.
    pub fn try_password(ep: &Endpoint, username: &str, password: &Password) -> ConnectorResult<Verification> {
        match SshSession::login(ep, username, Auth::Password(password)) {
            Ok(s) => {
                s.close();
                Ok(Verification::Accepted)
            }
            Err(ConnectorError::AuthFailed { .. }) => Ok(Verification::Rejected),
            Err(e) => Err(e),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Redacts the password `secret` from everything this session captures from now on, and
    /// its fragments from its errors.
    pub fn add_secret(&mut self, secret: &Password) {
        add_secret(&mut self.secrets, secret);
        add_secret(&mut self.passwords, secret);
    }

    /// `error` with every fragment of this session's passwords hidden in what the target said
    /// (see [`ConnectorError::mask_fragments`]): for every error leaving a connector.
    pub fn mask(&self, error: ConnectorError) -> ConnectorError {
        let passwords: Vec<&Password> = self.passwords.iter().collect();
        error.mask_fragments(&passwords)
    }

    /// Runs `command` on an exec channel with `stdin` (which may hold secrets: they are never
    /// logged) and returns its output, with every known secret redacted.
    pub fn exec(&mut self, command: &str, stdin: &[u8]) -> ConnectorResult<ExecOutput> {
        let ep = &self.endpoint;
        let timeout = ep.command_timeout;
        self.session.set_timeout(millis(timeout));
        let during = format!("running `{command}`");
        let map = |e: ssh2::Error| {
            if is_timeout(&e) {
                ep.timeout_err(timeout, during.clone())
            } else {
                ep.protocol_err(format!("{during}: {e}"))
            }
        };
        let map_io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                ep.timeout_err(timeout, during.clone())
            } else {
                ep.protocol_err(format!("{during}: {e}"))
            }
        };
        let mut channel = self.session.channel_session().map_err(map)?;
        channel.exec(command).map_err(map)?;
        if !stdin.is_empty() {
            channel.write_all(stdin).map_err(map_io)?;
        }
        channel.send_eof().map_err(map)?;
        let mut stdout = Zeroizing::new(Vec::new());
        channel.read_to_end(&mut stdout).map_err(map_io)?;
        let mut stderr = Zeroizing::new(Vec::new());
        channel.stderr().read_to_end(&mut stderr).map_err(map_io)?;
        channel.wait_close().map_err(map)?;
        let status = channel.exit_status().map_err(map)?;
        Ok(ExecOutput {
            stdout: redact(&self.secrets, &String::from_utf8_lossy(&stdout)),
            stderr: redact(&self.secrets, &String::from_utf8_lossy(&stderr)),
            status,
        })
    }

    /// Opens an interactive shell with a pty and waits for the first prompt, answering the
    /// `login_questions` (banners to accept, license prompts) with their keys on the way.
    pub fn into_shell(
        self,
        prompt: Regex,
        pager: Option<(Regex, &'static str)>,
        login_questions: &[(Regex, &'static str)],
    ) -> ConnectorResult<SshShell> {
        let ep = self.endpoint.clone();
        self.session.set_timeout(millis(ep.command_timeout));
        let map = |e: ssh2::Error| {
            if is_timeout(&e) {
                ep.timeout_err(ep.command_timeout, "opening a shell")
            } else {
                ep.protocol_err(format!("opening a shell: {e}"))
            }
        };
        let mut channel = self.session.channel_session().map_err(map)?;
        // Wide and tall, so that devices neither wrap long lines nor page more than they must.
        channel
            .request_pty("vt100", None, Some((511, 200, 0, 0)))
            .map_err(map)?;
        channel.shell().map_err(map)?;
        let mut shell = SshShell {
            session: self,
            channel,
            prompt,
            pager,
            transcript_tail: String::new(),
        };
        let questions: Vec<&Regex> = login_questions.iter().map(|(q, _)| q).collect();
        let during = "waiting for the first prompt after login";
        // A device asks a handful of questions at most; more means it is not going anywhere.
        for _ in 0..8 {
            match shell.read_until(&questions, during)? {
                (None, _) => return Ok(shell),
                (Some(i), _) => {
                    let key = login_questions[i].1;
                    shell.write_raw(key.as_bytes(), during)?;
                }
            }
        }
        Err(ConnectorError::UnexpectedOutput {
            target: shell.endpoint().name.clone(),
            during: format!("{during} (the device keeps asking)"),
            last_lines: shell.last_lines(),
        })
    }

    /// Ends the session politely.
    pub fn close(self) {
        let _ = self.session.disconnect(None, "keyreeve done", None);
    }
}

fn add_secret(secrets: &mut Vec<Password>, secret: &Password) {
    if !secret.is_empty() && !secrets.contains(secret) {
        secrets.push(secret.clone());
        // Longest first, so that a line holding a password is redacted whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
    }
}

/// Replaces every secret in `text` by `********`.
pub fn redact(secrets: &[Password], text: &str) -> String {
    secrets.iter().fold(text.to_string(), |t, s| s.redact_in(&t))
}

/// Turns raw terminal bytes into text: `\r\n` to `\n`, a lone `\r` or a backspace overwrites the
/// line as a terminal would, ANSI escape sequences removed.
pub fn clean_terminal_output(raw: &[u8]) -> String {
    let stripped = strip_ansi_escapes::strip(apply_overwrites(raw));
    String::from_utf8_lossy(&stripped).into_owned()
}

fn apply_overwrites(raw: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut line_start = 0;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\n' => {
                out.push(b'\n');
                line_start = out.len();
            }
            b'\r' => {
                // `\r\n` (or `\r\r\n`) ends the line; a lone `\r` returns to its start.
                let mut j = i;
                while j < raw.len() && raw[j] == b'\r' {
                    j += 1;
                }
                if j < raw.len() && raw[j] == b'\n' {
                    i = j;
                    continue;
                }
                if j < raw.len() {
                    out.truncate(line_start);
                }
                i = j;
                continue;
            }
            0x08 => {
                if out.len() > line_start {
                    out.pop();
                }
            }
            0x07 | 0x00 => {}
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The tail of `text` that prompt patterns are matched against.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(512);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Whether `re` matches at the very end of `text` (trailing blanks allowed).
pub fn matches_at_end(re: &Regex, text: &str) -> Option<usize> {
    let t = tail(text);
    let offset = text.len() - t.len();
    let trimmed = t.trim_end_matches([' ', '\t']).len();
    re.find_iter(t)
        .filter(|m| m.end() >= trimmed && m.end() > m.start())
        .map(|m| offset + m.start())
        .last()
}

pub use super::device_text::last_lines;

/// An interactive shell on a device, positioned at a prompt.
pub struct SshShell {
    session: SshSession,
    channel: ssh2::Channel,
    prompt: Regex,
    pager: Option<(Regex, &'static str)>,
    /// The last text seen (redacted), for error messages.
    transcript_tail: String,
}

impl SshShell {
    /// Redacts the password `secret` from everything this shell captures from now on, and its
    /// fragments from its errors.
    pub fn add_secret(&mut self, secret: &Password) {
        self.session.add_secret(secret);
    }

    /// See [`SshSession::mask`].
    pub fn mask(&self, error: ConnectorError) -> ConnectorError {
        self.session.mask(error)
    }

    /// Whether the text the last read stopped at ends with `re` (which alternative of the prompt
    /// pattern ended it, e.g. an OS's own `Password:` question).
    pub fn ended_with(&self, re: &Regex) -> bool {
        matches_at_end(re, &self.transcript_tail).is_some()
    }

    /// The last lines the device sent (redacted).
    pub fn last_lines(&self) -> String {
        last_lines(&self.transcript_tail, 6)
    }

    fn endpoint(&self) -> &Endpoint {
        &self.session.endpoint
    }

    /// Sends keys as they are (no newline): pager and login-question answers.
    fn write_raw(&mut self, bytes: &[u8], during: &str) -> ConnectorResult<()> {
        let ep = self.session.endpoint.clone();
        self.channel
            .write_all(bytes)
            .and_then(|_| self.channel.flush())
            .map_err(|e| ep.protocol_err(format!("{during}: {e}")))
    }

    fn send(&mut self, bytes: &[u8], during: &str) -> ConnectorResult<()> {
        let ep = self.session.endpoint.clone();
        self.session.session.set_timeout(millis(ep.command_timeout));
        let mut line = Zeroizing::new(bytes.to_vec());
        line.push(b'\n');
        self.channel
            .write_all(&line)
            .and_then(|_| self.channel.flush())
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    ep.timeout_err(ep.command_timeout, during.to_string())
                } else {
                    ep.protocol_err(format!("{during}: {e}"))
                }
            })
    }

    /// Reads until the prompt or one of `questions` ends the buffer. Returns which question
    /// matched and the whole text read (redacted), prompt included.
    fn read_until(&mut self, questions: &[&Regex], during: &str) -> ConnectorResult<(Option<usize>, String)> {
        let timeout = self.session.endpoint.command_timeout;
        // The inventory bounds timeouts; a Target built elsewhere must not panic here either.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let mut done = String::new();
        let mut raw: Vec<u8> = Vec::new();
        let mut buf = [0u8; 16384];
        loop {
            let text = clean_terminal_output(&raw);
            if let Some((pager, key)) = &self.pager {
                if let Some(at) = matches_at_end(pager, &text) {
                    // The pager prompt's own line, blanks included, is not output.
                    let before = &text[..at];
                    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                    if before[line_start..].trim().is_empty() {
                        done.push_str(&before[..line_start]);
                    } else {
                        done.push_str(before);
                    }
                    raw.clear();
                    let key = *key;
                    self.write_raw(key.as_bytes(), &format!("{during}: answering the pager"))?;
                    continue;
                }
            }
            let full = redact(&self.session.secrets, &format!("{done}{text}"));
            self.transcript_tail = tail(&full).to_string();
            if matches_at_end(&self.prompt, &full).is_some() {
                return Ok((None, full));
            }
            if let Some(i) = questions.iter().position(|q| matches_at_end(q, &full).is_some()) {
                return Ok((Some(i), full));
            }
            let now = Instant::now();
            if now >= deadline {
                let last_line = full.rsplit('\n').next().unwrap_or_default().trim();
                return Err(if last_line.is_empty() {
                    self.endpoint().timeout_err(timeout, during.to_string())
                } else {
                    ConnectorError::UnexpectedOutput {
                        target: self.endpoint().name.clone(),
                        during: format!("{during} (no prompt after {}s)", timeout.as_secs().max(1)),
                        last_lines: last_lines(&full, 6),
                    }
                });
            }
            self.session.session.set_timeout(millis(deadline - now));
            match self.channel.read(&mut buf) {
                Ok(0) => {
                    return Err(ConnectorError::UnexpectedOutput {
                        target: self.endpoint().name.clone(),
                        during: format!("{during} (the device closed the session)"),
                        last_lines: last_lines(&full, 6),
                    })
                }
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(self.endpoint().protocol_err(format!("{during}: {e}"))),
            }
        }
    }

    /// Sends a line and reads the answer; `shown` is how the line appears in messages.
    fn exchange(&mut self, line: &[u8], shown: &str, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        let during = format!("running `{shown}`");
        self.send(line, &during)?;
        let (which, full) = self.read_until(questions, &during)?;
        let echo = redact(&self.session.secrets, &String::from_utf8_lossy(line));
        Ok((which, strip_echo_and_prompt(&full, &echo, which.is_none())))
    }
}

/// Removes the echoed command (the first line, when it ends with what was sent) and, when the
/// text ends at a prompt, that last line.
pub fn strip_echo_and_prompt(full: &str, sent: &str, ends_at_prompt: bool) -> String {
    let mut body = full;
    if ends_at_prompt {
        body = match body.rfind('\n') {
            Some(i) => &body[..i],
            None => "",
        };
    }
    let sent = sent.trim();
    let (first, rest) = match body.split_once('\n') {
        Some((f, r)) => (f, r),
        None => (body, ""),
    };
    let echoed = if sent.is_empty() {
        first.trim().is_empty()
    } else {
        first.trim_end().ends_with(sent)
    };
    if echoed {
        body = rest;
    }
    body.trim_end_matches(['\n', ' ']).to_string()
}

impl Shell for SshShell {
    fn target(&self) -> &str {
        &self.session.endpoint.name
    }

    fn command(&mut self, line: &str) -> ConnectorResult<String> {
        Ok(self.exchange(line.as_bytes(), line, &[])?.1)
    }

    fn command_secret(&mut self, line: &Password) -> ConnectorResult<String> {
        // A command line, redacted whole: its words are no password to hide fragments of.
        add_secret(&mut self.session.secrets, line);
        Ok(self.exchange(line.expose().as_bytes(), REDACTED, &[])?.1)
    }

    fn command_expect(&mut self, line: &str, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        self.exchange(line.as_bytes(), line, questions)
    }

    fn secret_expect(&mut self, line: &Password, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        add_secret(&mut self.session.secrets, line);
        self.exchange(line.expose().as_bytes(), REDACTED, questions)
    }

    fn set_prompt(&mut self, prompt: Regex) {
        self.prompt = prompt;
    }
}

impl SshShell {
    /// Ends the session.
    pub fn close(mut self) {
        let _ = self.channel.close();
        self.session.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_ansi_carriage_returns_and_backspaces() {
        let raw = b"\x1b[1mline one\x1b[0m\r\nline two\r\n --More-- \r          \rline three\r\nab\x08\x08xy\r\n";
        assert_eq!(clean_terminal_output(raw), "line one\nline two\nline three\nxy\n");
    }

    #[test]
    fn prompt_matches_only_at_the_end() {
        let prompt = Regex::new(r"[\w.-]+[>#]").unwrap();
        assert!(matches_at_end(&prompt, "show ver\nrtr1#").is_some());
        assert!(matches_at_end(&prompt, "show ver\nrtr1# ").is_some());
        assert!(matches_at_end(&prompt, "rtr1# show ver\nVersion 15").is_none());
        let q = Regex::new(r"\[confirm\]").unwrap();
        assert!(matches_at_end(&q, "Proceed? [confirm]").is_some());
        assert!(matches_at_end(&q, "Proceed? [confirm]\nyes").is_none());
    }

    #[test]
    fn strips_echo_and_trailing_prompt() {
        let full = "show users\nadmin  15\noper   1\nrtr1#";
        assert_eq!(strip_echo_and_prompt(full, "show users", true), "admin  15\noper   1");
        // Output that does not start with the echo keeps its first line.
        assert_eq!(strip_echo_and_prompt("admin 15\nrtr1#", "show users", true), "admin 15");
        // A question keeps its last line.
        assert_eq!(
            strip_echo_and_prompt(
                "copy run start\nDestination filename [startup-config]? ",
                "copy run start",
                false
            ),
            "Destination filename [startup-config]?"
        );
    }

    #[test]
    fn redacts_longest_secret_first() {
        let mut secrets = Vec::new();
        add_secret(&mut secrets, &Password::new("Pa55"));
        add_secret(&mut secrets, &Password::new("username bob secret Pa55"));
        assert_eq!(
            redact(&secrets, "username bob secret Pa55\n% bad: Pa55"),
            "********\n% bad: ********"
        );
    }
}
