//! Named points in the rotation sequence where the crash-injection tests stop the process: with
//! `KEYREEVE_FAILPOINT=NAME` (a step name, never a secret) apply writes `NAME` to the file named by
//! `KEYREEVE_FAILPOINT_FILE` and waits to be killed, or with `NAME:fail` makes that step fail.
//! Unset, these are no-ops; release builds ignore them altogether.

/// The steps of one account's rotation, in order.
pub const STEPS: &[&str] = &[
    "journal-written",
    "pending-marked",
    "changed",
    "verified",
    "saved",
    "vault-stored",
    "journal-cleared",
];

/// Whether the step `name` should fail (for `NAME:fail`).
pub fn should_fail(name: &str) -> bool {
    cfg!(debug_assertions) && std::env::var("KEYREEVE_FAILPOINT").is_ok_and(|v| v.strip_suffix(":fail") == Some(name))
}

/// Stops here (announcing it) when the test asked to kill the process at `name`.
pub fn hit(name: &str) {
    if !cfg!(debug_assertions) {
        return;
    }
    let Ok(v) = std::env::var("KEYREEVE_FAILPOINT") else {
        return;
    };
    if v != name {
        return;
    }
    if let Some(file) = std::env::var_os("KEYREEVE_FAILPOINT_FILE") {
        let _ = std::fs::write(file, name);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
