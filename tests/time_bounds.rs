//! Day counts and timeouts from files and flags, through the real binary: a value beyond any
//! calendar or any sane wait is refused at start with the file and line (or the flag) and exit 2,
//! never left to overflow later as a panic (exit 101) in `review`, `discover`, `apply` or `serve`.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh workspace (`keyreeve init`) with one client and target, and its identity file.
fn workspace() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let identity = tmp.path().join("identity.txt");
    let public = keyreeve::keys::new_identity_file(&identity, None).unwrap();
    let ws = tmp.path().join("ws");
    let out = keyreeve(&ws, &identity, &["init", ws.to_str().unwrap(), "--recipient", &public]);
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    let inventory = ws.join("keyreeve.toml");
    let mut text = std::fs::read_to_string(&inventory).unwrap();
    text.push_str(
        "\n[clients.acme]\n\n[[clients.acme.targets]]\nname = \"rtr1\"\nkind = \"cisco-ios\"\naddress = \"127.0.0.1\"\nport = 9\nlogin = \"admin\"\n",
    );
    std::fs::write(&inventory, text).unwrap();
    (tmp, ws, identity)
}

fn keyreeve(ws: &Path, identity: &Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("keyreeve")
        .unwrap()
        .env_remove("KEYREEVE_WORKSPACE")
        .arg("--workspace")
        .arg(ws)
        .arg("--identity")
        .arg(identity)
        .args(args)
        // A service that wrongly starts is stopped here, and fails the exit-code check.
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap()
}

/// Exit 2 and, on stderr, every one of `says`; never a panic.
fn refused(out: &std::process::Output, says: &[&str]) {
    refused_with(2, out, says)
}

fn refused_with(code: i32, out: &std::process::Output, says: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for s in says {
        assert!(stderr.contains(s), "no `{s}` in: {stderr}");
    }
}

/// `compare_days = 100000000` used to make `review` panic (exit 101) and kill the service's
/// scheduler; now the policy is refused at its line, by every command that reads it.
#[test]
fn a_day_count_beyond_a_century_is_refused_at_its_line() {
    let (_tmp, ws, identity) = workspace();
    let policy = ws.join("policies/default.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l == "compare_days = 30")
        .expect("the shipped compare_days");
    std::fs::write(&policy, text.replace("compare_days = 30", "compare_days = 100000000")).unwrap();
    let at = format!("default.toml:{line}: compare_days = 100000000 is out of range");
    refused(&keyreeve(&ws, &identity, &["review"]), &[&at, "hint:"]);
    refused(
        &keyreeve(&ws, &identity, &["serve", "--listen", "127.0.0.1:0"]),
        &[&at, "hint:"],
    );
}

/// A timeout of 2^64-1 seconds used to pass `inventory check` and then panic per target in
/// `discover`, and exit 101 in `apply` (an entry left pending) and `recover`.
#[test]
fn a_timeout_beyond_an_hour_is_refused_at_its_line() {
    let (_tmp, ws, identity) = workspace();
    let inventory = ws.join("keyreeve.toml");
    let mut text = std::fs::read_to_string(&inventory).unwrap();
    text.push_str("command_timeout = 18446744073709551615\n");
    let line = text.lines().count();
    std::fs::write(&inventory, text).unwrap();
    let at = format!("keyreeve.toml:{line}: command_timeout = 18446744073709551615 is out of range");
    // `inventory check` reports a bad inventory as its finding: exit 1.
    refused_with(1, &keyreeve(&ws, &identity, &["inventory", "check"]), &[&at, "hint:"]);
    for command in ["discover", "recover"] {
        refused(&keyreeve(&ws, &identity, &[command]), &[&at, "hint:"]);
    }
}

/// `discover --concurrency 18446744073709551615` panicked (exit 101) making its semaphore.
#[test]
fn a_concurrency_beyond_its_bound_is_refused() {
    let (_tmp, ws, identity) = workspace();
    for value in ["18446744073709551615", "0"] {
        let out = keyreeve(&ws, &identity, &["discover", "--concurrency", value]);
        refused(&out, &["--concurrency"]);
    }
}

/// The service's own day count, pause and gap flags are bounded too.
#[test]
fn serve_flags_beyond_their_bounds_are_refused() {
    let (_tmp, ws, identity) = workspace();
    for (flag, value) in [
        ("--compare-days", "100000000"),
        ("--compare-days", "0"),
        ("--min-run-gap", "18446744073709551615"),
        ("--concurrency", "0"),
        ("--every", "999999999999d"),
    ] {
        let out = keyreeve(&ws, &identity, &["serve", "--listen", "127.0.0.1:0", flag, value]);
        refused(&out, &[flag]);
    }
}
