//! The workspace's audit log: one JSON line per reveal, set, rm, rotation, export and recipient
//! change, each carrying the hash of the line before it, so that a changed, removed or reordered
//! line is detected by `keyreeve log verify`. Never a secret.
//!
//! Line `N` (1-based) is a JSON object with `seq: N` and `prev`: the SHA-256 (hex) of the exact
//! bytes of line `N-1` without its newline; line 1 carries [`GENESIS`], the hash of nothing.
//! Appends take an exclusive lock on the log file, append one line with `O_APPEND` and fsync it,
//! then move the checkpoint file (`audit.head`, the last sequence number and line hash) forward,
//! so that cutting lines off the end of the log is detected too. The chain is not keyed: it
//! catches accidents and careless edits; someone able to rewrite the whole file and its
//! checkpoint is caught by the workspace's git history, not by this file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hint::Hint;
use crate::workspace::Workspace;

/// The version of the line format this build writes and reads.
pub const LINE_VERSION: u32 = 1;
/// The `prev` of the first line: the SHA-256 of nothing.
pub const GENESIS: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Detail keys refused outright, so that a careless caller cannot put a secret into the log.
const FORBIDDEN_DETAIL_KEYS: &[&str] = &["password", "passphrase", "secret", "new_password", "old_password"];

#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error("cannot {what} the audit log {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the audit log {} ends with an incomplete line {line}; nothing was appended", path.display())]
    IncompleteLastLine { path: PathBuf, line: usize },
    #[error("the audit log {} line {line} is not a valid event: {reason}", path.display())]
    Malformed { path: PathBuf, line: usize, reason: String },
    #[error("refusing to record `{action}`: its details carry a key named `{key}`, which may hold a secret")]
    SecretInDetails { action: String, key: String },
}

impl Hint for AuditLogError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            AuditLogError::Io { .. } => "check that the workspace's state folder exists and is writable".into(),
            AuditLogError::IncompleteLastLine { .. } => {
                "a write was interrupted: run `keyreeve log verify`, then remove the incomplete last line \
                 (it was never part of the chain) and try again"
                    .into()
            }
            AuditLogError::Malformed { .. } => {
                "run `keyreeve log verify` to find the first bad line; restore the log from the workspace's git history"
                    .into()
            }
            AuditLogError::SecretInDetails { .. } => {
                "this is a bug in keyreeve: audit details must never hold a secret; please report it".into()
            }
        })
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The line format version ([`LINE_VERSION`]).
    pub v: u32,
    /// The 1-based line number this event was written as.
    pub seq: u64,
    pub time: DateTime<Utc>,
    /// The OS user who ran keyreeve.
    pub user: String,
    /// The public key of the identity in use, if there was one.
    pub actor_key: Option<String>,
    /// What happened, e.g. `vault.get`, `vault.set`, `rotation.apply`, `export`.
    pub action: String,
    /// The vault path or client it concerns.
    pub subject: String,
    /// Anything else worth knowing; never a secret.
    pub details: serde_json::Value,
    /// The SHA-256 (hex) of the previous line, or [`GENESIS`].
    pub prev: String,
}

/// Where the chain ended at the last append: lets `verify` notice lines cut off the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// What is wrong with the log, at the first line found bad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// The line is not a JSON event (edited by hand, or cut in the middle).
    Malformed { line: usize, reason: String },
    /// The line's sequence number is not its position: a line before it was removed, or lines
    /// were reordered.
    OutOfSequence { line: usize, found: u64 },
    /// The line's bytes no longer hash to what the next line recorded: it was changed, or the
    /// lines after it were removed or reordered (and renumbered).
    Changed { line: usize },
    /// The first line does not start the chain: lines were cut from the front, or it was changed.
    BadStart,
    /// The last line has no newline: a write was interrupted or the file was cut.
    Incomplete { line: usize },
    /// The checkpoint names a line the log no longer holds, or one with other content: lines were
    /// removed from the end, or the end was rewritten.
    Truncated { line: usize, head_seq: u64 },
}

impl Problem {
    /// The first bad line (1-based).
    pub fn line(&self) -> usize {
        match self {
            Problem::Malformed { line, .. }
            | Problem::OutOfSequence { line, .. }
            | Problem::Changed { line }
            | Problem::Incomplete { line }
            | Problem::Truncated { line, .. } => *line,
            Problem::BadStart => 1,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Malformed { line, reason } => write!(f, "line {line} is not a valid audit event: {reason}"),
            Problem::OutOfSequence { line, found } => write!(
                f,
                "line {line} carries sequence number {found}: a line before it was removed or lines were reordered"
            ),
            Problem::Changed { line } => write!(
                f,
                "line {line} was changed, or lines after it were removed or reordered: its hash no longer \
                 matches the one recorded by line {}",
                line + 1
            ),
            Problem::BadStart => {
                write!(f, "line 1 does not start the chain: lines were removed from the front, or line 1 was changed")
            }
            Problem::Incomplete { line } => {
                write!(f, "line {line} is incomplete (no newline): a write was interrupted or the file was cut")
            }
            Problem::Truncated { line, head_seq } => write!(
                f,
                "the log was cut or its end rewritten: the last append wrote line {head_seq}, the log now differs from line {line}"
            ),
        }
    }
}

/// The result of checking a whole log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Complete lines read.
    pub lines: usize,
    /// The first problem found, if any.
    pub problem: Option<Problem>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// The SHA-256 (hex) of one line's bytes, newline excluded.
pub fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// The OS user running this process (from `USER`/`LOGNAME`, else the numeric uid).
pub fn os_user() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Some(v) = std::env::var_os(var).and_then(|v| v.into_string().ok()) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    let Some(uid) = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
    }) else {
        return "unknown".into();
    };
    // The name /etc/passwd gives that uid, as `id -un` would print it.
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid:{uid}"))
}

/// The checkpoint file beside the log.
pub fn head_file(workspace: &Workspace) -> PathBuf {
    head_file_for(&workspace.audit_log_file())
}

fn head_file_for(log: &Path) -> PathBuf {
    log.with_extension("head")
}

/// Appends one event: `action` (e.g. `vault.get`, `rotation.apply`), the vault path or client it
/// concerns, and details (never a secret). `actor_key` is the public key of the identity in use.
pub fn record(
    workspace: &Workspace,
    actor_key: Option<&str>,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), AuditLogError> {
    record_at(&workspace.audit_log_file(), actor_key, action, subject, details).map(|_| ())
}

/// [`record`] into the log file at `path`; returns the event written.
pub fn record_at(
    path: &Path,
    actor_key: Option<&str>,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> Result<Event, AuditLogError> {
    if let Some(key) = forbidden_key(&details) {
        return Err(AuditLogError::SecretInDetails {
            action: action.into(),
            key,
        });
    }
    let io = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| AuditLogError::Io { what, path, source }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create the folder of"))?;
    }
    let mut file = open_for_append(path).map_err(io("open"))?;
    // Held until `file` is dropped: concurrent writers take turns, each chaining onto the last.
    file.lock().map_err(io("lock"))?;

    let (last_seq, prev) = match last_line(&mut file).map_err(io("read"))? {
        Tail::Empty => (0, GENESIS.to_string()),
        Tail::Incomplete { line } => {
            return Err(AuditLogError::IncompleteLastLine {
                path: path.to_path_buf(),
                line,
            })
        }
        Tail::Complete { bytes } => match serde_json::from_slice::<Event>(&bytes) {
            Ok(event) => (event.seq, line_hash(&bytes)),
            Err(e) => {
                let line = std::fs::read(path)
                    .map(|all| all.iter().filter(|&&b| b == b'\n').count())
                    .unwrap_or(0);
                return Err(AuditLogError::Malformed {
                    path: path.to_path_buf(),
                    line,
                    reason: e.to_string(),
                });
            }
        },
    };
    let event = Event {
        v: LINE_VERSION,
        seq: last_seq + 1,
        time: Utc::now(),
        user: os_user(),
        actor_key: actor_key.map(str::to_string),
        action: action.into(),
        subject: subject.into(),
        details,
        prev,
    };
    let line = serialize_line(&event).map_err(|e| AuditLogError::Malformed {
        path: path.to_path_buf(),
        line: event.seq as usize,
        reason: e.to_string(),
    })?;
    let mut buf = line.clone().into_bytes();
    buf.push(b'\n');
    // One write of the whole line: with O_APPEND it lands after every earlier line.
    file.write_all(&buf).map_err(io("append to"))?;
    file.sync_data().map_err(io("sync"))?;
    write_head(
        path,
        &Head {
            seq: event.seq,
            hash: line_hash(line.as_bytes()),
        },
    )
    .map_err(io("update the checkpoint of"))?;
    Ok(event)
}

/// The JSON text of one event, as written (without newline). Times are written with microseconds
/// so that lines sort and read the same everywhere.
fn serialize_line(event: &Event) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct Wire<'a> {
        v: u32,
        seq: u64,
        time: String,
        user: &'a str,
        actor_key: &'a Option<String>,
        action: &'a str,
        subject: &'a str,
        details: &'a serde_json::Value,
        prev: &'a str,
    }
    serde_json::to_string(&Wire {
        v: event.v,
        seq: event.seq,
        time: event.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        user: &event.user,
        actor_key: &event.actor_key,
        action: &event.action,
        subject: &event.subject,
        details: &event.details,
        prev: &event.prev,
    })
}

fn forbidden_key(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if FORBIDDEN_DETAIL_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                Some(k.clone())
            } else {
                forbidden_key(v)
            }
        }),
        serde_json::Value::Array(items) => items.iter().find_map(forbidden_key),
        _ => None,
    }
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

enum Tail {
    Empty,
    /// The file does not end with a newline; `line` is the number of that unfinished line.
    Incomplete {
        line: usize,
    },
    Complete {
        bytes: Vec<u8>,
    },
}

/// The last line of the log, read backwards from the end so an append costs the same however long
/// the log is.
fn last_line(file: &mut File) -> std::io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail::Empty);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        // Counting lines is only needed for the error message.
        file.seek(SeekFrom::Start(0))?;
        let mut all = Vec::new();
        file.read_to_end(&mut all)?;
        let line = all.iter().filter(|&&b| b == b'\n').count() + 1;
        return Ok(Tail::Incomplete { line });
    }
    let end = len - 1; // the final newline
    let mut chunk = 4096u64;
    loop {
        let start = end.saturating_sub(chunk);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = vec![0u8; (end - start) as usize];
        file.read_exact(&mut buf)?;
        if let Some(pos) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(Tail::Complete {
                bytes: buf[pos + 1..].to_vec(),
            });
        }
        if start == 0 {
            return Ok(Tail::Complete { bytes: buf });
        }
        chunk *= 4;
    }
}

fn write_head(log: &Path, head: &Head) -> std::io::Result<()> {
    let path = head_file_for(log);
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    writeln!(tmp, "{} {}", head.seq, head.hash)?;
    tmp.as_file().sync_data()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads the checkpoint beside the log at `log`, if there is one (a malformed one counts as none:
/// the chain itself is still checked).
pub fn read_head(log: &Path) -> Result<Option<Head>, AuditLogError> {
    let path = head_file_for(log);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuditLogError::Io {
                what: "read the checkpoint of",
                path,
                source,
            })
        }
    };
    let mut parts = text.split_whitespace();
    Ok(match (parts.next().and_then(|s| s.parse().ok()), parts.next()) {
        (Some(seq), Some(hash)) => Some(Head {
            seq,
            hash: hash.to_string(),
        }),
        _ => None,
    })
}

/// Reads every event of the log at `path` (none if it does not exist yet). Fails on the first line
/// that is not an event; [`verify`] says more.
pub fn read_events(path: &Path) -> Result<Vec<Event>, AuditLogError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AuditLogError::Io {
                what: "read",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    split_lines(&bytes)
        .0
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_slice(line).map_err(|e| AuditLogError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Checks the workspace's log and its checkpoint.
pub fn verify(workspace: &Workspace) -> Result<Verification, AuditLogError> {
    verify_file(&workspace.audit_log_file())
}

/// Checks the log at `path` and the checkpoint beside it.
pub fn verify_file(path: &Path) -> Result<Verification, AuditLogError> {
    let io = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| AuditLogError::Io { what, path, source }
    };
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            // A shared lock: a writer appending meanwhile would otherwise make the checkpoint
            // look ahead of the log.
            file.lock_shared().map_err(io("lock"))?;
            file.read_to_end(&mut bytes).map_err(io("read"))?;
            let head = read_head(path)?;
            return Ok(verify_bytes(&bytes, head.as_ref()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(io("read")(source)),
    }
    Ok(verify_bytes(&bytes, read_head(path)?.as_ref()))
}

/// Complete lines, and the unfinished tail if the bytes do not end with a newline.
fn split_lines(bytes: &[u8]) -> (Vec<&[u8]>, Option<&[u8]>) {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // `split` yields an empty piece after a final newline; anything else there is unfinished.
    let tail = lines.pop().filter(|t| !t.is_empty());
    (lines, tail)
}

/// Checks a log's bytes against the chain rules and, if given, the checkpoint of the last append.
pub fn verify_bytes(bytes: &[u8], head: Option<&Head>) -> Verification {
    let (lines, tail) = split_lines(bytes);
    let problem = first_problem(&lines, tail, head);
    Verification {
        lines: lines.len(),
        problem,
    }
}

fn first_problem(lines: &[&[u8]], tail: Option<&[u8]>, head: Option<&Head>) -> Option<Problem> {
    let mut prev_hash = GENESIS.to_string();
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let event: Event = match serde_json::from_slice(raw) {
            Ok(e) => e,
            Err(e) => {
                return Some(Problem::Malformed {
                    line: n,
                    reason: e.to_string(),
                })
            }
        };
        if event.seq != n as u64 {
            return Some(Problem::OutOfSequence {
                line: n,
                found: event.seq,
            });
        }
        if event.prev != prev_hash {
            if n == 1 {
                return Some(Problem::BadStart);
            }
            // The line before n is not the one line n saw when it was written.
            return Some(Problem::Changed { line: n - 1 });
        }
        prev_hash = line_hash(raw);
    }
    if tail.is_some() {
        return Some(Problem::Incomplete { line: lines.len() + 1 });
    }
    if let Some(head) = head {
        let at = head.seq as usize;
        if at > lines.len() {
            return Some(Problem::Truncated {
                line: lines.len() + 1,
                head_seq: head.seq,
            });
        }
        if at >= 1 && line_hash(lines[at - 1]) != head.hash {
            return Some(Problem::Truncated {
                line: at,
                head_seq: head.seq,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log_with(n: usize) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state/audit.log");
        for i in 0..n {
            record_at(
                &path,
                Some("age1testkey"),
                "vault.get",
                &format!("acme/rtr{i}/admin"),
                json!({"i": i}),
            )
            .unwrap();
        }
        (tmp, path)
    }

    fn lines_of(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn write_lines(path: &Path, lines: &[String]) {
        let mut text = lines.join("\n");
        if !lines.is_empty() {
            text.push('\n');
        }
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_fresh_chain_verifies() {
        let (_tmp, path) = log_with(5);
        let v = verify_file(&path).unwrap();
        assert_eq!(v.lines, 5);
        assert_eq!(v.problem, None);
        let events = read_events(&path).unwrap();
        assert_eq!(events[0].prev, GENESIS);
        assert_eq!(events[4].seq, 5);
        assert_eq!(events[4].subject, "acme/rtr4/admin");
        assert_eq!(events[2].actor_key.as_deref(), Some("age1testkey"));
        assert_eq!(events[3].prev, line_hash(lines_of(&path)[2].as_bytes()));
    }

    #[test]
    fn an_empty_or_missing_log_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let v = verify_file(&tmp.path().join("audit.log")).unwrap();
        assert_eq!(
            v,
            Verification {
                lines: 0,
                problem: None
            }
        );
    }

    #[test]
    fn an_edited_line_is_named() {
        let (_tmp, path) = log_with(5);
        let mut lines = lines_of(&path);
        lines[2] = lines[2].replace("acme/rtr2/admin", "acme/rtr9/admin");
        write_lines(&path, &lines);
        let v = verify_file(&path).unwrap();
        assert_eq!(v.problem, Some(Problem::Changed { line: 3 }));
    }

    #[test]
    fn an_edit_to_the_last_line_is_caught_by_the_checkpoint() {
        let (_tmp, path) = log_with(4);
        let mut lines = lines_of(&path);
        lines[3] = lines[3].replace("vault.get", "vault.set");
        write_lines(&path, &lines);
        let problem = verify_file(&path).unwrap().problem.unwrap();
        assert_eq!(problem.line(), 4, "{problem}");
    }

    #[test]
    fn a_deleted_line_is_named() {
        let (_tmp, path) = log_with(5);
        let mut lines = lines_of(&path);
        lines.remove(1);
        write_lines(&path, &lines);
        let v = verify_file(&path).unwrap();
        assert_eq!(v.problem, Some(Problem::OutOfSequence { line: 2, found: 3 }));
    }

    #[test]
    fn a_deleted_first_line_is_named() {
        let (_tmp, path) = log_with(3);
        let lines = lines_of(&path);
        write_lines(&path, &lines[1..]);
        assert_eq!(verify_file(&path).unwrap().problem.unwrap().line(), 1);
    }

    #[test]
    fn reordered_lines_are_named() {
        let (_tmp, path) = log_with(5);
        let mut lines = lines_of(&path);
        lines.swap(2, 3);
        write_lines(&path, &lines);
        let v = verify_file(&path).unwrap();
        assert_eq!(v.problem, Some(Problem::OutOfSequence { line: 3, found: 4 }));
    }

    #[test]
    fn renumbered_reorder_is_still_caught_by_the_chain() {
        let (_tmp, path) = log_with(5);
        let mut events = read_events(&path).unwrap();
        events.swap(1, 2);
        let lines: Vec<String> = events
            .iter_mut()
            .enumerate()
            .map(|(i, e)| {
                e.seq = i as u64 + 1;
                serialize_line(e).unwrap()
            })
            .collect();
        write_lines(&path, &lines);
        assert_eq!(verify_file(&path).unwrap().problem, Some(Problem::Changed { line: 1 }));
    }

    #[test]
    fn an_edited_chain_start_is_detected() {
        let (_tmp, path) = log_with(2);
        let mut lines = lines_of(&path);
        lines[0] = lines[0].replace(GENESIS, &"0".repeat(64));
        write_lines(&path, &lines);
        assert_eq!(verify_file(&path).unwrap().problem, Some(Problem::BadStart));
    }

    #[test]
    fn lines_cut_off_the_end_are_detected() {
        let (_tmp, path) = log_with(5);
        let lines = lines_of(&path);
        write_lines(&path, &lines[..3]);
        let v = verify_file(&path).unwrap();
        assert_eq!(v.problem, Some(Problem::Truncated { line: 4, head_seq: 5 }));
        write_lines(&path, &[]);
        assert_eq!(verify_file(&path).unwrap().problem.unwrap().line(), 1);
    }

    #[test]
    fn a_line_cut_in_the_middle_is_detected_and_blocks_appends() {
        let (_tmp, path) = log_with(3);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 10]).unwrap();
        let v = verify_file(&path).unwrap();
        assert_eq!(v.problem, Some(Problem::Incomplete { line: 3 }));
        let err = record_at(&path, None, "vault.get", "acme/x/y", json!({})).unwrap_err();
        assert!(
            matches!(err, AuditLogError::IncompleteLastLine { line: 3, .. }),
            "{err}"
        );
        assert!(err.hint().is_some());
    }

    #[test]
    fn a_line_that_is_not_json_is_named() {
        let (_tmp, path) = log_with(3);
        let mut lines = lines_of(&path);
        lines.insert(1, "garbage".into());
        write_lines(&path, &lines);
        assert!(matches!(
            verify_file(&path).unwrap().problem,
            Some(Problem::Malformed { line: 2, .. })
        ));
    }

    #[test]
    fn a_missing_checkpoint_still_checks_the_chain() {
        let (_tmp, path) = log_with(3);
        std::fs::remove_file(head_file_for(&path)).unwrap();
        assert!(verify_file(&path).unwrap().is_intact());
        record_at(&path, None, "vault.rm", "acme/a/b", json!({})).unwrap();
        assert_eq!(verify_file(&path).unwrap().lines, 4);
        assert!(verify_file(&path).unwrap().is_intact());
    }

    #[test]
    fn details_naming_a_secret_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("audit.log");
        let err = record_at(&path, None, "vault.set", "a/b/c", json!({"nested": {"Password": "x"}})).unwrap_err();
        assert!(matches!(err, AuditLogError::SecretInDetails { .. }));
        assert!(!path.exists() || std::fs::read(&path).unwrap().is_empty());
    }

    #[test]
    fn concurrent_writers_keep_one_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("audit.log");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        record_at(&path, None, "vault.get", &format!("c/t{t}/a{i}"), json!({})).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v = verify_file(&path).unwrap();
        assert_eq!(v.lines, 200);
        assert!(v.is_intact(), "{:?}", v.problem);
    }

    #[cfg(unix)]
    #[test]
    fn the_log_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, path) = log_with(1);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
