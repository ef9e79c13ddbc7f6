//! The audit log's own tests: the chain, its checkpoint, and appends that fail or find a damaged end.

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

/// What a full disk leaves: the start of a line that never got its newline, the checkpoint still
/// at the line before.
fn half_written_line(path: &Path) -> Vec<u8> {
    let half = br#"{"v":1,"seq":4,"time":"2026-01-01T00:00:00.000000Z","user":"x","act"#.to_vec();
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(&half).unwrap();
    half
}

#[test]
fn a_half_written_last_line_is_moved_aside_and_the_chain_goes_on() {
    let (_tmp, path) = log_with(3);
    let half = half_written_line(&path);
    assert_eq!(
        verify_file(&path).unwrap().problem,
        Some(Problem::Incomplete { line: 4 })
    );

    let event = record_at(&path, None, "vault.get", "acme/x/y", json!({})).unwrap();
    let v = verify_file(&path).unwrap();
    assert!(v.is_intact(), "{:?}", v.problem);
    assert_eq!(v.lines, 5);
    assert_eq!(event.seq, 5);
    let events = read_events(&path).unwrap();
    let note = &events[3];
    assert_eq!(note.action, "audit.repair");
    assert_eq!(note.details["incomplete_line"], 4);
    let moved_to = path.with_file_name(note.details["moved_to"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&moved_to).unwrap(),
        half,
        "the evidence is kept byte for byte"
    );
    assert_eq!(note.details["sha256"], line_hash(&half));
}

#[test]
fn a_log_cut_mid_line_below_its_checkpoint_is_not_repaired() {
    let (_tmp, path) = log_with(3);
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 10]).unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(record_at(&path, None, "vault.get", "acme/x/y", json!({})).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_garbage_checkpoint_is_a_problem_even_when_the_chain_looks_whole() {
    let (_tmp, path) = log_with(4);
    let lines = lines_of(&path);
    write_lines(&path, &lines[..3]);
    std::fs::write(head_file_for(&path), "garbage\n").unwrap();
    let v = verify_file(&path).unwrap();
    assert!(
        matches!(v.problem, Some(Problem::BadCheckpoint { line: 3, .. })),
        "{:?}",
        v.problem
    );
    assert!(!v.is_intact());
    std::fs::write(head_file_for(&path), "").unwrap();
    assert!(!verify_file(&path).unwrap().is_intact());
}

#[test]
fn a_reservation_dropped_without_commit_logs_nothing() {
    let (tmp, path) = log_with(2);
    let before = std::fs::read(&path).unwrap();
    let pending = reserve_in(tmp.path(), &path).unwrap();
    drop(pending);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let pending = reserve_in(tmp.path(), &path).unwrap();
    pending.commit(None, "vault.set", "acme/a/b", json!({})).unwrap();
    assert_eq!(verify_file(&path).unwrap().lines, 3);
}

#[test]
fn a_linked_log_is_refused_and_its_target_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::write(&elsewhere, "keep\n").unwrap();
    std::fs::create_dir(tmp.path().join("state")).unwrap();
    let path = tmp.path().join("state/audit.log");
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    let err = reserve_in(tmp.path(), &path).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep\n");
}
