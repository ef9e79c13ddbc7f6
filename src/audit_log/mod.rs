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

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hint::Hint;
use crate::safe_fs;
use crate::workspace::Workspace;

/// The version of the line format this build writes and reads.
pub const LINE_VERSION: u32 = 1;
/// The `prev` of the first line: the SHA-256 of nothing.
pub const GENESIS: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How large a log keyreeve reads whole: years of a busy workspace's events.
const LOG_LIMIT: safe_fs::Limit = safe_fs::Limit {
    kind: "audit log",
    bytes: 8 * 1024 * 1024 * 1024,
};

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
    #[error(
        "the audit log {} ends with an incomplete line {line}, and its checkpoint says the chain once went further; nothing was appended",
        path.display()
    )]
    IncompleteLastLine { path: PathBuf, line: usize },
    #[error("the audit log's checkpoint {} is unreadable: {reason}", path.display())]
    BadCheckpoint { path: PathBuf, reason: String },
    #[error("the audit log {} line {line} is not a valid event: {reason}", path.display())]
    Malformed { path: PathBuf, line: usize, reason: String },
    #[error("refusing to record `{action}`: its details carry a key named `{key}`, which may hold a secret")]
    SecretInDetails { action: String, key: String },
}

impl Hint for AuditLogError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            AuditLogError::Io { source, .. } => safe_fs::hint_of(source).unwrap_or_else(|| {
                "check that the workspace's state folder exists, is writable and has free space; nothing was changed".into()
            }),
            AuditLogError::IncompleteLastLine { .. } => {
                "lines were removed from the end of the log: run `keyreeve log verify` and restore the log from \
                 the workspace's git history"
                    .into()
            }
            AuditLogError::BadCheckpoint { .. } => {
                "restore state/audit.head from the workspace's git history; `keyreeve log verify` checks it".into()
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
    /// The checkpoint file cannot be read, so nothing vouches for the end of the log.
    BadCheckpoint { line: usize, reason: String },
    /// In a merged log: the line points back to a line that is not before it (changed, removed or
    /// moved after it).
    Dangling { line: usize },
    /// In a merged log: no later line points to this one, so the line after it was removed or
    /// changed.
    Unreferenced { line: usize },
}

impl Problem {
    /// The first bad line (1-based).
    pub fn line(&self) -> usize {
        match self {
            Problem::Malformed { line, .. }
            | Problem::OutOfSequence { line, .. }
            | Problem::Changed { line }
            | Problem::Incomplete { line }
            | Problem::Truncated { line, .. }
            | Problem::BadCheckpoint { line, .. }
            | Problem::Dangling { line }
            | Problem::Unreferenced { line } => *line,
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
            Problem::BadCheckpoint { reason, .. } => write!(
                f,
                "the checkpoint (audit.head) is unreadable ({reason}): lines cut off the end could not be detected"
            ),
            Problem::Dangling { line } => write!(
                f,
                "line {line} points back to a line the log does not hold before it: a line was changed, removed or moved"
            ),
            Problem::Unreferenced { line } => write!(
                f,
                "no later line points back to line {line}: a line after it was removed or changed"
            ),
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
/// For a change, prefer [`reserve`] before it and [`Pending::commit`] as its last step.
pub fn record(
    workspace: &Workspace,
    actor_key: Option<&str>,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), AuditLogError> {
    reserve(workspace)?
        .commit(actor_key, action, subject, details)
        .map(|_| ())
}

/// [`record`] into the log file at `path` (its folder trusted); returns the event written.
pub fn record_at(
    path: &Path,
    actor_key: Option<&str>,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> Result<Event, AuditLogError> {
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(root).map_err(|source| AuditLogError::Io {
        what: "create the folder of",
        path: path.to_path_buf(),
        source,
    })?;
    reserve_in(root, path)?.commit(actor_key, action, subject, details)
}

/// Audit events a rotation could not write after its targets were changed, in this process. A
/// change on a target cannot be taken back, so `apply` goes on and records what it can; the
/// binary turns a nonzero count into a failure exit code.
static UNRECORDED: AtomicUsize = AtomicUsize::new(0);

/// How many events [`record_or_report`] could not write in this process.
pub fn unrecorded() -> usize {
    UNRECORDED.load(Ordering::SeqCst)
}

/// For what has already happened and cannot be undone (a password changed on a target): records
/// the event, or, when the log cannot take it, prints the whole event (never a secret) on stderr
/// so that the operator can add it by hand, and counts it for the exit code. Returns whether the
/// event is in the log.
pub fn record_or_report(
    workspace: &Workspace,
    actor_key: Option<&str>,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> bool {
    let shown = details.clone();
    match record(workspace, actor_key, action, subject, details) {
        Ok(()) => true,
        Err(e) => {
            report_unrecorded(&e, actor_key, action, subject, shown);
            false
        }
    }
}

/// The failure half of [`record_or_report`]: prints the event the log could not take and counts it.
pub fn report_unrecorded(
    why: &dyn std::fmt::Display,
    actor_key: Option<&str>,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) {
    UNRECORDED.fetch_add(1, Ordering::SeqCst);
    tracing::error!("audit log: {why}");
    eprintln!(
        "error: this event is NOT in the audit log ({why}): {}",
        serde_json::json!({ "time": Utc::now(), "user": os_user(), "actor_key": actor_key,
            "action": action, "subject": subject, "details": details })
    );
}

/// The log open, locked and its end checked: taken before a change starts, so that a log that
/// cannot be written refuses the change instead of leaving it unaudited, and committed as the
/// change's last step. Dropping it appends nothing (a refused change is not logged).
#[derive(Debug)]
pub struct Pending {
    path: PathBuf,
    // Locked until dropped: concurrent writers take turns, each chaining onto the last.
    file: File,
    last_seq: u64,
    prev: String,
}

/// Opens and locks the workspace's log for one append, repairing a half-written last line first
/// (see [`Pending`]).
pub fn reserve(workspace: &Workspace) -> Result<Pending, AuditLogError> {
    reserve_in(workspace.root(), &workspace.audit_log_file())
}

fn reserve_in(root: &Path, path: &Path) -> Result<Pending, AuditLogError> {
    let io = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| AuditLogError::Io { what, path, source }
    };
    let mut file = safe_fs::open_writable(root, path, 0o600, true).map_err(io("open"))?;
    file.lock().map_err(io("lock"))?;
    let mut repaired = None;
    let (last_seq, prev) = loop {
        match last_line(&mut file).map_err(io("read"))? {
            Tail::Empty => break (0, GENESIS.to_string()),
            Tail::Incomplete { line, complete_len } if repaired.is_none() => {
                repaired = Some(isolate_incomplete(root, path, &mut file, line, complete_len)?);
            }
            Tail::Incomplete { line, .. } => {
                return Err(AuditLogError::IncompleteLastLine {
                    path: path.to_path_buf(),
                    line,
                })
            }
            Tail::Complete { bytes } => match serde_json::from_slice::<Event>(&bytes) {
                Ok(event) => break (event.seq, line_hash(&bytes)),
                Err(e) => {
                    let line = safe_fs::read_limited(
                        path,
                        safe_fs::Limit {
                            kind: "audit log",
                            bytes: u64::MAX,
                        },
                    )
                    .ok()
                    .flatten()
                    .map(|all| all.iter().filter(|&&b| b == b'\n').count())
                    .unwrap_or(0);
                    return Err(AuditLogError::Malformed {
                        path: path.to_path_buf(),
                        line,
                        reason: e.to_string(),
                    });
                }
            },
        }
    };
    let mut pending = Pending {
        path: path.to_path_buf(),
        file,
        last_seq,
        prev,
    };
    if let Some(details) = repaired {
        // The chain says what was moved aside and where, so the evidence is one `log show` away.
        pending.append(None, "audit.repair", "audit.log", details)?;
    }
    Ok(pending)
}

/// A write cut short (a full disk, a crash) left half a line at the end. It was never part of the
/// chain (the checkpoint moves only after a line is complete), so it is moved aside, byte for
/// byte, to `audit.log.incomplete-TIME` beside the log, and the log is cut back to its last
/// complete line; the caller records a note. Refused when the checkpoint says the chain once went
/// further: then lines were removed, which only a person should look into.
fn isolate_incomplete(
    root: &Path,
    path: &Path,
    file: &mut File,
    line: usize,
    complete_len: u64,
) -> Result<serde_json::Value, AuditLogError> {
    let io = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| AuditLogError::Io { what, path, source }
    };
    let complete_lines = (line - 1) as u64;
    match read_head(path) {
        Ok(Some(head)) if head.seq > complete_lines => {
            return Err(AuditLogError::IncompleteLastLine {
                path: path.to_path_buf(),
                line,
            })
        }
        _ => {}
    }
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(complete_len)).map_err(io("read"))?;
    file.read_to_end(&mut tail).map_err(io("read"))?;
    let name = format!(
        "{}.incomplete-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("audit.log"),
        Utc::now().format("%Y%m%dT%H%M%S%.9fZ")
    );
    let aside = path.with_file_name(&name);
    safe_fs::write_atomic(root, &aside, 0o600, safe_fs::Durability::Synced, |w| w.write_all(&tail))
        .map_err(io("move the incomplete last line aside from"))?;
    file.set_len(complete_len)
        .map_err(io("cut the incomplete last line off"))?;
    file.sync_data().map_err(io("sync"))?;
    tracing::warn!(
        "the audit log {} ended with an incomplete line {line}; moved it to {}",
        path.display(),
        aside.display()
    );
    Ok(serde_json::json!({
        "incomplete_line": line,
        "bytes": tail.len(),
        "sha256": line_hash(&tail),
        "moved_to": name,
    }))
}

impl Pending {
    /// Appends the event as the change's last step. On failure nothing is left in the log (a
    /// partly written line is cut off again) and the caller must not let the change take effect.
    pub fn commit(
        mut self,
        actor_key: Option<&str>,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<Event, AuditLogError> {
        self.append(actor_key, action, subject, details)
    }

    fn append(
        &mut self,
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
        let path = self.path.clone();
        let io = |what: &'static str| {
            let path = path.clone();
            move |source| AuditLogError::Io { what, path, source }
        };
        let event = Event {
            v: LINE_VERSION,
            seq: self.last_seq + 1,
            time: Utc::now(),
            user: os_user(),
            actor_key: actor_key.map(str::to_string),
            action: action.into(),
            subject: subject.into(),
            details,
            prev: self.prev.clone(),
        };
        let line = serialize_line(&event).map_err(|e| AuditLogError::Malformed {
            path: path.clone(),
            line: event.seq as usize,
            reason: e.to_string(),
        })?;
        let mut buf = line.clone().into_bytes();
        buf.push(b'\n');
        let before = self.file.metadata().map_err(io("read"))?.len();
        // One write of the whole line: with O_APPEND it lands after every earlier line. A write
        // or sync that fails (a full disk) takes back what it wrote, so that no half line is
        // left to block the next append.
        if let Err(e) = self.file.write_all(&buf).and_then(|_| self.file.sync_data()) {
            if self.file.set_len(before).and_then(|_| self.file.sync_data()).is_err() {
                tracing::warn!(
                    "cannot cut the unfinished line off {}; the next append moves it aside",
                    path.display()
                );
            }
            return Err(io("append to")(e));
        }
        let hash = line_hash(line.as_bytes());
        // The line is durable: the change it records stands even if the checkpoint cannot move
        // (it then vouches for an earlier line, which `verify` still checks).
        if let Err(e) = write_head(
            &path,
            &Head {
                seq: event.seq,
                hash: hash.clone(),
            },
        ) {
            tracing::warn!("cannot update the checkpoint of the audit log {}: {e}", path.display());
        }
        self.last_seq = event.seq;
        self.prev = hash;
        Ok(event)
    }
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

enum Tail {
    Empty,
    /// The file does not end with a newline; `line` is the number of that unfinished line,
    /// `complete_len` the length of the complete lines before it.
    Incomplete {
        line: usize,
        complete_len: u64,
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
        let complete_len = all.iter().rposition(|&b| b == b'\n').map_or(0, |p| p as u64 + 1);
        return Ok(Tail::Incomplete { line, complete_len });
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
    safe_fs::write_atomic(dir, &path, 0o600, safe_fs::Durability::Synced, |w| {
        writeln!(w, "{} {}", head.seq, head.hash)
    })
}

mod merge;
mod verify;
pub use merge::{merge_logs, MERGE_ACTION};
pub use verify::{read_events, read_head, verify, verify_bytes, verify_file};

#[cfg(test)]
mod tests;
