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

#[cfg(test)]
mod tests {
    use super::*;

    /// A log at `dir/name` holding `base` then `events` appended by keyreeve itself.
    fn log_with(dir: &Path, name: &str, base: &[u8], events: &[&str]) -> Vec<u8> {
        let path = dir.join(name);
        std::fs::write(&path, base).unwrap();
        for subject in events {
            record_at(&path, Some("age1someone"), "vault.set", subject, serde_json::json!({})).unwrap();
        }
        std::fs::read(&path).unwrap()
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        verify::split_lines(bytes).0.into_iter().map(<[u8]>::to_vec).collect()
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
    }

    #[test]
    fn two_sides_merge_into_one_log_that_verifies_and_merges_again() {
        let dir = tempfile::tempdir().unwrap();
        let base = log_with(dir.path(), "base", b"", &["a/r/1", "a/r/2"]);
        let ours = log_with(dir.path(), "ours", &base, &["a/r/3", "a/r/4"]);
        let theirs = log_with(dir.path(), "theirs", &base, &["b/r/5"]);
        let merged = merge_logs(&base, &ours, &theirs, None).unwrap();
        assert!(merged.starts_with(&ours), "our lines stay first, byte for byte");
        assert_eq!(lines(&merged).len(), 6);
        assert!(
            verify_bytes(&merged, None).is_intact(),
            "{:?}",
            verify_bytes(&merged, None)
        );
        // One side already holds the other: nothing is added.
        assert_eq!(merge_logs(&base, &ours, &base, None).unwrap(), ours);
        assert_eq!(merge_logs(&base, &base, &theirs, None).unwrap(), theirs);
        // Both go on from the merge and from their own side; merged again, still one valid log.
        let later_ours = log_with(dir.path(), "ours2", &merged, &["a/r/6"]);
        let later_theirs = log_with(dir.path(), "theirs2", &theirs, &["b/r/7"]);
        let again = merge_logs(&theirs, &later_ours, &later_theirs, None).unwrap();
        assert!(
            verify_bytes(&again, None).is_intact(),
            "{:?}",
            verify_bytes(&again, None)
        );
        let appended = log_with(dir.path(), "after", &again, &["a/r/8"]);
        assert!(verify_bytes(&appended, None).is_intact());
    }

    #[test]
    fn a_changed_removed_or_moved_line_of_a_merged_log_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let base = log_with(dir.path(), "base", b"", &["a/r/1", "a/r/2"]);
        let ours = log_with(dir.path(), "ours", &base, &["a/r/3", "a/r/4"]);
        let theirs = log_with(dir.path(), "theirs", &base, &["b/r/5", "b/r/6"]);
        let merged = lines(&merge_logs(&base, &ours, &theirs, None).unwrap());
        let last = merged.len() - 1;
        for at in 0..last {
            let mut changed = merged.clone();
            changed[at] = String::from_utf8(changed[at].clone())
                .unwrap()
                .replace("vault.set", "vault.get")
                .into_bytes();
            assert!(
                !verify_bytes(&join(&changed), None).is_intact(),
                "line {} changed",
                at + 1
            );
            let mut removed = merged.clone();
            removed.remove(at);
            assert!(
                !verify_bytes(&join(&removed), None).is_intact(),
                "line {} removed",
                at + 1
            );
            // Our last line and their first were written at the same time on two clones: no
            // order between them to keep. Every other pair is a line and the one it follows.
            if at != lines(&ours).len() - 1 {
                let mut moved = merged.clone();
                moved.swap(at, at + 1);
                assert!(!verify_bytes(&join(&moved), None).is_intact(), "line {} moved", at + 1);
            }
        }
        // The last line is guarded by this clone's checkpoint.
        let head = Head {
            seq: merged.len() as u64,
            hash: line_hash(&merged[last]),
        };
        assert!(verify_bytes(&join(&merged), Some(&head)).is_intact());
        let cut = &merged[..last];
        assert!(
            !verify_bytes(&join(cut), Some(&head)).is_intact(),
            "the merge line cut off"
        );
    }
}
