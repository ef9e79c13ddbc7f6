//! Reading and checking a log: every line against the chain rules, the end against the
//! checkpoint. Kept apart from appending, which only ever looks at the last line.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::safe_fs;

use super::*;

/// Reads the checkpoint beside the log at `log`, if there is one. One that cannot be read as
/// `SEQ HASH` is an error: it is what vouches for the end of the log, so `verify` must not pass
/// over it.
pub fn read_head(log: &Path) -> Result<Option<Head>, AuditLogError> {
    let path = head_file_for(log);
    let bad = |reason: String| AuditLogError::BadCheckpoint {
        path: path.clone(),
        reason,
    };
    let text = match safe_fs::read_text(&path, safe_fs::Limit::SMALL) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(bad("it is not text".into())),
        Err(source) => {
            return Err(AuditLogError::Io {
                what: "read the checkpoint of",
                path,
                source,
            })
        }
    };
    let mut parts = text.split_whitespace();
    let (seq, hash) = (parts.next(), parts.next());
    let seq = seq.and_then(|s| s.parse::<u64>().ok());
    let hash_ok = hash.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match (seq, hash, parts.next()) {
        (Some(seq), Some(hash), None) if hash_ok => Ok(Some(Head {
            seq,
            hash: hash.to_string(),
        })),
        _ => Err(bad("it does not hold `SEQUENCE SHA256` of the last line".into())),
    }
}

/// The checkpoint for `verify`: an unreadable one is a problem found, not a reason to stop.
fn head_or_problem(path: &Path, lines: usize) -> Result<Result<Option<Head>, Problem>, AuditLogError> {
    match read_head(path) {
        Ok(head) => Ok(Ok(head)),
        Err(AuditLogError::BadCheckpoint { reason, .. }) => Ok(Err(Problem::BadCheckpoint {
            line: lines.max(1),
            reason,
        })),
        Err(e) => Err(e),
    }
}

/// Reads every event of the log at `path` (none if it does not exist yet). Fails on the first line
/// that is not an event; [`verify`] says more.
pub fn read_events(path: &Path) -> Result<Vec<Event>, AuditLogError> {
    let bytes = match safe_fs::read_limited(path, LOG_LIMIT) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(Vec::new()),
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
    // A shared lock while reading: a writer appending meanwhile would otherwise make the
    // checkpoint look ahead of the log.
    let _locked: Option<File> = match safe_fs::open_read(path, LOG_LIMIT).map_err(io("read"))? {
        Some((mut file, _)) => {
            file.lock_shared().map_err(io("lock"))?;
            file.read_to_end(&mut bytes).map_err(io("read"))?;
            Some(file)
        }
        None => None,
    };
    let complete_lines = split_lines(&bytes).0.len();
    let verification = match head_or_problem(path, complete_lines)? {
        Ok(head) => verify_bytes(&bytes, head.as_ref()),
        Err(checkpoint_problem) => {
            // The chain's own problems come first; else the checkpoint is the one.
            let mut v = verify_bytes(&bytes, None);
            v.problem.get_or_insert(checkpoint_problem);
            v
        }
    };
    Ok(verification)
}

/// Complete lines, and the unfinished tail if the bytes do not end with a newline.
pub(super) fn split_lines(bytes: &[u8]) -> (Vec<&[u8]>, Option<&[u8]>) {
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
    if super::merge::is_merged(lines) {
        return super::merge::first_problem_merged(lines, tail, head);
    }
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
