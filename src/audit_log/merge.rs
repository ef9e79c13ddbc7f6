//! Merging two clones' audit logs (the git merge driver's part) and checking a merged log.
//!
//! Both sides' lines are kept byte for byte: ours, then theirs not already in ours, then one
//! `audit.merge` line whose `prev` is the line before it and whose `details.merged` names the
//! hash of every other line no later line points to (the tip of their side). A merged log is
//! then a graph: every line points back, through `prev` or `merged`, to lines before it, and
//! every line but the last is pointed to by a later one. So a changed line leaves a dangling
//! pointer, a removed one a dangling pointer or an unreferenced line, a line moved before one it
//! points to a forward pointer; the checkpoint still guards the end.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::*;

/// The action of a merge line.
pub const MERGE_ACTION: &str = "audit.merge";

/// The hashes a line points back to: its `prev`, and for a merge line the tips it joins.
fn back_pointers(event: &Event) -> Vec<String> {
    let mut out = vec![event.prev.clone()];
    if event.action == MERGE_ACTION {
        if let Some(list) = event.details.get("merged").and_then(|m| m.as_array()) {
            out.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
    }
    out
}

/// Whether the complete lines hold a merge line (and so are checked as a graph).
pub(super) fn is_merged(lines: &[&[u8]]) -> bool {
    let needle = format!("\"action\":\"{MERGE_ACTION}\"");
    lines
        .iter()
        .any(|l| memchr::memmem::find(l, needle.as_bytes()).is_some())
}

/// Merges three versions of a log (git's base, ours, theirs); `actor_key` names who merged.
pub fn merge_logs(_base: &[u8], ours: &[u8], theirs: &[u8], actor_key: Option<&str>) -> Result<Vec<u8>, AuditLogError> {
    let malformed = |reason: &str| AuditLogError::Malformed {
        path: PathBuf::from("state/audit.log"),
        line: 0,
        reason: reason.into(),
    };
    let (our_lines, our_tail) = verify::split_lines(ours);
    let (their_lines, their_tail) = verify::split_lines(theirs);
    if our_tail.is_some() || their_tail.is_some() {
        return Err(malformed("a side ends with an incomplete line"));
    }
    let ours_set: HashSet<&[u8]> = our_lines.iter().copied().collect();
    let new: Vec<&[u8]> = their_lines.iter().copied().filter(|l| !ours_set.contains(l)).collect();
    if new.is_empty() {
        return Ok(ours.to_vec());
    }
    let theirs_set: HashSet<&[u8]> = their_lines.iter().copied().collect();
    if our_lines.iter().all(|l| theirs_set.contains(l)) {
        return Ok(theirs.to_vec());
    }
    let all: Vec<&[u8]> = our_lines.iter().copied().chain(new.iter().copied()).collect();
    let mut referenced: HashSet<String> = HashSet::new();
    for raw in &all {
        if let Ok(event) = serde_json::from_slice::<Event>(raw) {
            referenced.extend(back_pointers(&event));
        }
    }
    let last_hash = line_hash(all[all.len() - 1]);
    let tips: Vec<String> = all[..all.len() - 1]
        .iter()
        .map(|l| line_hash(l))
        .filter(|h| !referenced.contains(h))
        .collect();
    let record = Event {
        v: LINE_VERSION,
        seq: all.len() as u64 + 1,
        time: Utc::now(),
        user: os_user(),
        actor_key: actor_key.map(str::to_string),
        action: MERGE_ACTION.into(),
        subject: "audit.log".into(),
        details: serde_json::json!({ "merged": tips, "lines_merged_in": new.len() }),
        prev: last_hash,
    };
    let line = serialize_line(&record).map_err(|e| malformed(&e.to_string()))?;
    let mut out = Vec::with_capacity(ours.len() + theirs.len() + line.len() + 1);
    for l in all {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    Ok(out)
}

/// The first problem of a merged log, checked as a graph (see the module's comment).
pub(super) fn first_problem_merged(lines: &[&[u8]], tail: Option<&[u8]>, head: Option<&Head>) -> Option<Problem> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut referenced: HashSet<String> = HashSet::new();
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
        for back in back_pointers(&event) {
            if back != GENESIS && !seen.contains_key(&back) {
                return Some(Problem::Dangling { line: n });
            }
            referenced.insert(back);
        }
        seen.insert(line_hash(raw), n);
    }
    if tail.is_some() {
        return Some(Problem::Incomplete { line: lines.len() + 1 });
    }
    let unreferenced = lines[..lines.len().saturating_sub(1)]
        .iter()
        .enumerate()
        .find(|(_, raw)| !referenced.contains(&line_hash(raw)));
    if let Some((i, _)) = unreferenced {
        return Some(Problem::Unreferenced { line: i + 1 });
    }
    if let Some(head) = head {
        if !seen.contains_key(&head.hash) {
            return Some(Problem::Truncated {
                line: lines.len().max(1),
                head_seq: head.seq,
            });
        }
    }
    None
}
