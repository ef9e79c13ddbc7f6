//! Running a changer once: one verb argument, one JSON document on stdin, a cleared environment,
//! its own process group (killed whole at the deadline), stdout and stderr captured up to a bound.
//! Nothing here knows the protocol's meaning; [`super`] reads the exit code and output.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// The most of stdout kept (a `list` of thousands of accounts fits).
const STDOUT_LIMIT: usize = 4 << 20;
/// The most of stderr kept: it is shown to a person.
const STDERR_LIMIT: usize = 16 << 10;

/// The environment a changer gets: nothing of keyreeve's own (which may name key or passphrase
/// files), only what finding programs and printing text need.
const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How one run ended.
pub(super) enum Ended {
    /// It exited (`code` is None when a signal ended it).
    Exited {
        code: Option<i32>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    /// It was still running at the deadline, and was killed with its whole process group.
    TimedOut { stderr: Vec<u8> },
}

/// Runs `program verb` in `dir` with `input` on stdin, killing its process group after `timeout`.
/// `input` is the caller's zeroizing buffer: it is only borrowed, never copied unzeroized.
pub(super) fn run(
    program: &Path,
    verb: &str,
    dir: &Path,
    input: &Zeroizing<Vec<u8>>,
    timeout: Duration,
) -> std::io::Result<Ended> {
    let deadline = Instant::now() + timeout;
    let mut command = Command::new(program);
    command
        .arg(verb)
        .current_dir(dir)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .env("LANG", "C.UTF-8")
        .env("HOME", std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn()?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let (stdout_tx, stdout_rx) = mpsc::channel();
    let (stderr_tx, stderr_rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, STDOUT_LIMIT, stdout_tx);
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, STDERR_LIMIT, stderr_tx);
    }
    // Written from this thread: a pipe holds 64 KiB, more than any request, so a changer that
    // never reads cannot block it; a closed pipe (it exited first) is its business.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let kill_group = || {
        // Only while the child is not yet reaped: its pid is still its own and names its group.
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    };
    loop {
        let exited = match child.try_wait() {
            Ok(exited) => exited,
            Err(e) => {
                kill_group();
                let _ = child.wait();
                return Err(e);
            }
        };
        if let Some(status) = exited {
            let wait = deadline.saturating_duration_since(Instant::now());
            // A grandchild still holding the pipes open must not hold keyreeve past the deadline.
            let stdout = stdout_rx.recv_timeout(wait).unwrap_or_default();
            let stderr = stderr_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_default();
            return Ok(Ended::Exited {
                code: status.code(),
                stdout,
                stderr,
            });
        }
        if Instant::now() >= deadline {
            kill_group();
            let _ = child.wait();
            let stderr = stderr_rx.recv_timeout(Duration::from_millis(200)).unwrap_or_default();
            return Ok(Ended::TimedOut { stderr });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads `from` to its end, keeping the first `limit` bytes, and sends them.
fn spawn_reader(mut from: impl Read + Send + 'static, limit: usize, to: mpsc::Sender<Vec<u8>>) {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = to.send(kept);
    });
}
