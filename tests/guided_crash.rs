//! The SIGKILL-at-every-step proof for guided rotations (tests/rotation.rs has it for the
//! automatic ones): `apply` is killed at each step of a guided rotation, `recover` asks which
//! password is in force (the technician answers as what they did: "new" once the password was
//! shown, "old" before), and no password that might be in force is ever lost.

#[path = "common/guided.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{printer_stanza, text, World};
use keyreeve::rotation::guided::GUIDED_STEPS;
use keyreeve::vault::EntryState;

/// Runs `apply` (answering "yes" once asked) until it reaches `step`, then SIGKILLs it.
fn kill_apply_at(w: &World, plan: &Path, steps: &Path, step: &str) {
    let marker = w.root.join(format!("failpoint-{step}"));
    let mut child = w
        .cmd(&[
            "apply",
            plan.to_str().unwrap(),
            "--yes",
            "--show-password-to",
            steps.to_str().unwrap(),
        ])
        .env("KEYREEVE_FAILPOINT", step)
        .env("KEYREEVE_FAILPOINT_FILE", &marker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open until the kill: a step killed while shown is a step never answered.
    let mut stdin = child.stdin.take().unwrap();
    if step != "guided-shown" {
        stdin.write_all(b"yes\n").unwrap();
    }
    let start = Instant::now();
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!("apply ended ({status}) before reaching {step}:\n{}", text(&out));
        }
        assert!(start.elapsed() < Duration::from_secs(60), "apply never reached {step}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);
}

#[test]
fn sigkill_at_every_guided_step_then_recover_loses_no_password() {
    let stanzas: String = (0..GUIDED_STEPS.len())
        .map(|i| printer_stanza(&format!("printer{i}"), &["admin"]))
        .collect();
    let w = World::new(&stanzas, Vec::new());
    for (i, step) in GUIDED_STEPS.iter().enumerate() {
        let key = format!("printer{i}/admin");
        let old = format!("Old-password-{i}");
        w.store(&key, &old, 400);
        let plan = w.plan(&format!("plan-{i}.json"), &[&key]);
        let steps = w.root.join(format!("steps-{i}.txt"));
        kill_apply_at(&w, &plan, &steps, step);
        let shown = World::shown_password(&steps);
        let was_shown =
            GUIDED_STEPS.iter().position(|s| s == step) >= GUIDED_STEPS.iter().position(|s| *s == "guided-shown");
        assert_eq!(shown.is_some(), was_shown, "{step}: shown {shown:?}");
        if GUIDED_STEPS.iter().position(|s| s == step) <= GUIDED_STEPS.iter().position(|s| *s == "answered") {
            assert_eq!(w.journal_records(), 1, "{step}: the journal holds the rotation");
            let e = w.entry(&key);
            if *step != "journal-written" {
                assert_eq!(e.state, EntryState::Pending, "{step}");
                assert_eq!(e.pending.as_ref().unwrap().candidates.len(), 1);
            }
        }
        // The technician changed the printer once the password was shown, not before.
        let answer = if was_shown { "new\n" } else { "old\n" };
        let asked = w.root.join(format!("recover-{i}.txt"));
        let out = w.run_with_input(&["recover", "--show-password-to", asked.to_str().unwrap()], answer);
        assert!(out.status.success(), "recover after a kill at {step}:\n{}", text(&out));
        assert_eq!(w.journal_records(), 0, "{step}: the journal is settled");
        let e = w.entry(&key);
        assert_eq!(e.state, EntryState::Current, "{step}");
        assert!(e.pending.is_none());
        let kept: Vec<String> = std::iter::once(e.password.expose().to_string())
            .chain(e.history.iter().map(|h| h.password.expose().to_string()))
            .collect();
        assert!(kept.contains(&old), "{step}: the old password was lost: {}", kept.len());
        match &shown {
            Some(new) => {
                assert_eq!(e.password.expose(), new, "{step}: the shown password is current");
                assert!(kept.contains(&old));
            }
            None => assert_eq!(e.password.expose(), old, "{step}: nothing was shown, the old stays"),
        }
        // Recover asked only while the entry was pending (before, the vault never left the old
        // password; after, it holds the answer), and then offered both passwords.
        let asked_text = std::fs::read_to_string(&asked).unwrap_or_default();
        if ["pending-marked", "guided-shown", "answered"].contains(step) {
            assert!(
                asked_text.contains(&format!("Old password: {old}")),
                "{step}: {asked_text}"
            );
            assert!(asked_text.contains("New password: "), "{step}: {asked_text}");
        } else {
            assert!(asked_text.is_empty(), "{step}: the vault already knew, nobody is asked");
        }
        let audit = w.audit_log();
        assert!(!audit.contains(&old), "{step}: a password reached the audit log");
    }
}

/// Without anyone to ask, recover keeps a guided rotation pending with both passwords and says
/// how to settle it.
#[test]
fn recover_without_a_terminal_keeps_both_passwords_pending() {
    use std::os::unix::process::CommandExt;
    let w = World::new(&printer_stanza("printer0", &["admin"]), Vec::new());
    w.store("printer0/admin", "Old-password-0", 400);
    let plan = w.plan("plan.json", &[]);
    let steps = w.root.join("steps.txt");
    kill_apply_at(&w, &plan, &steps, "guided-shown");
    let mut cmd = w.cmd(&["recover"]);
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("vault confirm acme/printer0/admin"),
        "{}",
        text(&out)
    );
    let e = w.entry("printer0/admin");
    assert_eq!(e.state, EntryState::Pending);
    assert_eq!(e.password.expose(), "Old-password-0");
    let new = World::shown_password(&steps).unwrap();
    assert_eq!(e.pending.unwrap().candidates[0].expose(), new);
    assert_eq!(w.journal_records(), 1);
}
