//! One writer per client vault at a time: an exclusive OS file lock on `state/locks/CLIENT.lock`,
//! waited for up to a bound, then a clear error instead of a lost update. The lock goes when the
//! process does, so a crash never leaves a client locked.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::VaultError;

/// How long a writer waits for another by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Overrides the wait, in seconds (a number, never a secret).
pub const WAIT_ENV: &str = "KEYREEVE_LOCK_TIMEOUT";

/// Held while a client's vault is being changed; released on drop.
#[derive(Debug)]
pub struct ClientLock {
    _file: File,
    pub path: PathBuf,
}

/// The configured wait: `KEYREEVE_LOCK_TIMEOUT` seconds, else [`DEFAULT_WAIT`].
pub fn configured_wait() -> Duration {
    std::env::var(WAIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_WAIT)
}

impl ClientLock {
    /// Takes the lock of `client`, waiting up to `wait` for another writer to finish.
    /// `root` is the workspace: no folder on the way to the lock file, nor the file, may be a link.
    pub fn acquire(root: &Path, locks_dir: &Path, client: &str, wait: Duration) -> Result<ClientLock, VaultError> {
        let path = locks_dir.join(format!("{client}.lock"));
        let io = |what: &'static str| {
            let path = path.clone();
            move |source| VaultError::Io { what, path, source }
        };
        let file = crate::safe_fs::open_writable(root, &path, 0o600, false).map_err(io("cannot open lock file"))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(ClientLock { _file: file, path }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    let waited = start.elapsed();
                    if waited >= wait {
                        return Err(VaultError::Locked {
                            lock: path,
                            client: client.into(),
                            waited_secs: waited.as_secs_f64(),
                        });
                    }
                    if !told && waited > Duration::from_secs(1) {
                        tracing::info!("waiting for another keyreeve to finish with {client}'s vault");
                        told = true;
                    }
                    std::thread::sleep(pause.min(wait.saturating_sub(waited)));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock")(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let held = ClientLock::acquire(dir.path(), dir.path(), "acme", Duration::from_secs(1)).unwrap();
        let err = ClientLock::acquire(dir.path(), dir.path(), "acme", Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, VaultError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("acme"), "{err}");
        drop(held);
        ClientLock::acquire(dir.path(), dir.path(), "acme", Duration::from_millis(100)).unwrap();
    }
}
