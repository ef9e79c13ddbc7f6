//! Hostile workspace files through the real binary: symlinks where keyreeve keeps its own files
//! (and an output file that is one),
//! a vault that is `/dev/zero`, a damaged vault listed, a garbage audit checkpoint, and a full
//! disk (a tiny tmpfs, which needs root: CI runs as root, elsewhere the test fails saying so).

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");

/// A workspace with one identity and clients `acme` and `globex`, at `root` (or in a temporary
/// folder).
struct Ws {
    home: tempfile::TempDir,
    root: PathBuf,
    key: PathBuf,
    public: String,
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Exit 2, nothing on stdout; returns stderr.
#[track_caller]
fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    text(&out.stderr)
}

impl Ws {
    fn new() -> Ws {
        let home = tempfile::tempdir().unwrap();
        let root = home.path().join("ws");
        Ws::at(home, root)
    }

    fn at(home: tempfile::TempDir, root: PathBuf) -> Ws {
        let key = home.path().join("me.txt");
        let mut ws = Ws {
            home,
            root,
            key,
            public: String::new(),
        };
        let mut c = ws.bare();
        c.args(["identity", "new", "-o"]).arg(&ws.key);
        ws.public = ok(&run(c, None)).trim().to_string();
        let mut c = ws.bare();
        c.arg("init").arg(&ws.root).args(["--recipient", &ws.public]);
        ok(&run(c, None));
        let inv = ws.root.join("keyreeve.toml");
        let mut t = std::fs::read_to_string(&inv).unwrap();
        t.push_str("\n[clients.acme]\n\n[clients.globex]\n");
        std::fs::write(&inv, t).unwrap();
        ws
    }

    fn bare(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"));
        c
    }

    fn kr(&self, args: &[&str]) -> Command {
        let mut c = self.bare();
        c.env("KEYREEVE_WORKSPACE", &self.root)
            .env("KEYREEVE_IDENTITY", &self.key)
            .env("KEYREEVE_LOCK_TIMEOUT", "2")
            .args(args);
        c
    }

    fn set(&self, path: &str, secret: &str) -> Output {
        run(self.kr(&["vault", "set", path]), Some(secret))
    }

    fn get(&self, path: &str) -> Output {
        run(self.kr(&["vault", "get", path]), None)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn verify(&self) -> Output {
        run(self.kr(&["log", "verify"]), None)
    }

    fn log_actions(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("state/audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }
}

#[test]
fn symlinks_where_keyreeve_keeps_its_files_are_refused_and_what_they_point_at_is_untouched() {
    let ws = Ws::new();
    ok(&ws.set("globex/fw1/admin", "globex-secret"));
    ok(&ws.set("acme/rtr1/admin", "first"));
    let globex = std::fs::read(ws.path("vaults/globex.age")).unwrap();

    // The issue's attack: acme's backup folder points at the vaults, and pruning deletes there.
    std::fs::remove_dir_all(ws.path("state/backups/acme")).ok();
    symlink("../../vaults", ws.path("state/backups/acme")).unwrap();
    let acme_before = std::fs::read(ws.path("vaults/acme.age")).unwrap();
    let lines_before = ws.log_actions().len();
    let err = fails(&ws.set("acme/rtr1/admin", "second"));
    assert!(
        err.contains("state/backups/acme") && err.contains("symbolic link"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read(ws.path("vaults/globex.age")).unwrap(), globex);
    assert_eq!(std::fs::read(ws.path("vaults/acme.age")).unwrap(), acme_before);
    assert_eq!(ws.log_actions().len(), lines_before, "a refused change is not logged");
    assert_eq!(ok(&ws.get("globex/fw1/admin")), "globex-secret");
    std::fs::remove_file(ws.path("state/backups/acme")).unwrap();

    // The audit log, a lock file and state/.gitignore pointing elsewhere are refused too.
    let elsewhere = ws.home.path().join("elsewhere");
    for (rel, cmd) in [
        ("state/audit.log", vec!["vault", "set", "acme/rtr1/admin"]),
        ("state/locks/acme.lock", vec!["vault", "set", "acme/rtr1/admin"]),
    ] {
        std::fs::write(&elsewhere, "not keyreeve's\n").unwrap();
        let real = ws.path(rel).with_extension("real");
        if ws.path(rel).exists() {
            std::fs::rename(ws.path(rel), &real).unwrap();
        }
        symlink(&elsewhere, ws.path(rel)).unwrap();
        let before = std::fs::read(ws.path("vaults/acme.age")).unwrap();
        let err = fails(&run(ws.kr(&cmd), Some("third")));
        assert!(err.contains(rel) && err.contains("symbolic link"), "{rel}: {err}");
        assert_eq!(
            std::fs::read_to_string(&elsewhere).unwrap(),
            "not keyreeve's\n",
            "{rel}"
        );
        assert_eq!(std::fs::read(ws.path("vaults/acme.age")).unwrap(), before, "{rel}");
        std::fs::remove_file(ws.path(rel)).unwrap();
        if real.exists() {
            std::fs::rename(&real, ws.path(rel)).unwrap();
        }
    }
    // -o FILE that is a link is refused, not written through.
    let out_link = ws.home.path().join("review.md");
    symlink(&elsewhere, &out_link).unwrap();
    let err = fails(&run(
        ws.kr(&["review", "--format", "markdown", "-o", out_link.to_str().unwrap()]),
        None,
    ));
    assert!(err.contains("review.md") && err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "not keyreeve's\n");

    // Everything as it was: the chain holds, the passwords are there.
    ok(&ws.verify());
    assert_eq!(ok(&ws.get("acme/rtr1/admin")), "first");
}

#[test]
fn a_vault_that_is_dev_zero_or_a_pipe_is_refused_naming_it() {
    let ws = Ws::new();
    ok(&ws.set("acme/rtr1/admin", "first"));
    let file = ws.path("vaults/acme.age");
    std::fs::remove_file(&file).unwrap();
    symlink("/dev/zero", &file).unwrap();
    for cmd in [
        ws.kr(&["vault", "get", "acme/rtr1/admin"]),
        ws.kr(&["vault", "list", "acme"]),
    ] {
        let err = fails(&run(cmd, None));
        assert!(
            err.contains("vaults/acme.age") && err.contains("not a regular file"),
            "{err}"
        );
    }
    std::fs::remove_file(&file).unwrap();
    assert!(Command::new("mkfifo").arg(&file).status().unwrap().success());
    let err = fails(&ws.get("acme/rtr1/admin"));
    assert!(err.contains("vaults/acme.age") && err.contains("named pipe"), "{err}");
}

#[test]
fn listing_a_damaged_vault_exits_2_with_the_error_alone() {
    let ws = Ws::new();
    ok(&ws.set("acme/rtr1/admin", "first"));
    ok(&ws.set("globex/fw1/admin", "second"));
    std::fs::write(ws.path("vaults/acme.age"), b"garbage").unwrap();
    let err = fails(&run(ws.kr(&["vault", "list", "acme"]), None));
    assert!(err.contains("vaults/acme.age"), "{err}");
    assert!(!err.contains("no entries"), "{err}");
    // With another client readable, the list is partial: exit 1, the readable entries shown.
    let out = run(ws.kr(&["vault", "list"]), None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("globex/fw1/admin"));
    assert!(text(&out.stderr).contains("vaults/acme.age"));
}

#[test]
fn log_verify_fails_on_a_garbage_checkpoint_after_the_last_line_was_removed() {
    let ws = Ws::new();
    ok(&ws.set("acme/rtr1/admin", "first"));
    ok(&ws.get("acme/rtr1/admin"));
    ok(&ws.verify());
    let log = ws.path("state/audit.log");
    let text_now = std::fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = text_now.lines().collect();
    std::fs::write(&log, format!("{}\n", kept[..kept.len() - 1].join("\n"))).unwrap();
    std::fs::write(ws.path("state/audit.head"), "garbage").unwrap();
    let out = ws.verify();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("checkpoint"), "{}", text(&out.stdout));
}

#[test]
fn an_import_the_log_cannot_record_does_not_happen() {
    let from = Ws::new();
    let to = Ws::new();
    ok(&from.set("acme/rtr1/admin", "handed-over"));
    let file = from.home.path().join("handover.age");
    ok(&run(
        from.kr(&[
            "export",
            "--client",
            "acme",
            "-r",
            &to.public,
            "-o",
            file.to_str().unwrap(),
        ]),
        None,
    ));
    ok(&to.set("acme/old/admin", "kept"));
    let vault_before = std::fs::read(to.path("vaults/acme.age")).unwrap();
    // A complete last line that is not an event: nothing can be chained onto it.
    let log = to.path("state/audit.log");
    let mut broken = std::fs::read(&log).unwrap();
    broken.extend_from_slice(b"not an event\n");
    std::fs::write(&log, &broken).unwrap();

    let err = fails(&run(to.kr(&["import", file.to_str().unwrap()]), None));
    assert!(
        err.contains("nothing was imported") && err.contains("audit.log"),
        "{err}"
    );
    assert_eq!(std::fs::read(to.path("vaults/acme.age")).unwrap(), vault_before);
    assert_eq!(std::fs::read(&log).unwrap(), broken);

    // The log mended, the import goes through and is on record.
    broken.truncate(broken.len() - b"not an event\n".len());
    std::fs::write(&log, &broken).unwrap();
    ok(&run(to.kr(&["import", file.to_str().unwrap()]), None));
    assert_eq!(to.log_actions().last().map(String::as_str), Some("import"));
    assert_eq!(ok(&to.get("acme/rtr1/admin")), "handed-over");
}

/// A tmpfs of `size` mounted at `at` for as long as it lives.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "the full-disk test mounts a tiny tmpfs and needs root (CI runs as root): {}",
            text(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        // The temporary folder around it could not remove a mount point while it was mounted.
        if let Some(around) = self.0.parent() {
            let _ = std::fs::remove_dir_all(around);
        }
    }
}

/// Fills the file system of `dir` until a write fails; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 512];
    while f.write_all(&block).and_then(|_| f.sync_all()).is_ok() {}
    for _ in 0..64 {
        let _ = f.write_all(&[0u8]);
    }
    filler
}

#[test]
fn a_full_disk_refuses_changes_and_reveals_cleanly_and_leaves_no_half_line() {
    let home = tempfile::tempdir().unwrap();
    let mnt = home.path().join("mnt");
    let _tmpfs = Tmpfs::mount(&mnt, "256k");
    let ws = Ws::at(home, mnt.join("ws"));
    ok(&ws.set("acme/rtr1/admin", "first"));
    let log = ws.path("state/audit.log");
    // Bring the log's end close to a page boundary, so that the next line is cut by the full
    // disk midway (tmpfs gives space a page at a time).
    for _ in 0..200 {
        let room = 4096 - std::fs::metadata(&log).unwrap().len() % 4096;
        if room < 120 {
            break;
        }
        ok(&ws.get("acme/rtr1/admin"));
    }
    let room = 4096 - std::fs::metadata(&log).unwrap().len() % 4096;
    assert!(
        room < 120,
        "could not bring the log near a page boundary ({room} bytes left)"
    );
    let vault_before = std::fs::read(ws.path("vaults/acme.age")).unwrap();
    let lines_before = ws.log_actions().len();
    let filler = fill(&mnt);

    // A reveal the log cannot hold does not happen, and leaves no half line behind.
    let err = fails(&ws.get("acme/rtr1/admin"));
    assert!(err.contains("audit log") && err.contains("No space left"), "{err}");
    ok(&ws.verify());
    // A change is refused whole: the vault as it was, no record of what did not happen.
    let err = fails(&ws.set("acme/rtr1/admin", "second"));
    assert!(err.contains("No space left"), "{err}");
    assert_eq!(std::fs::read(ws.path("vaults/acme.age")).unwrap(), vault_before);
    assert_eq!(ws.log_actions().len(), lines_before);
    ok(&ws.verify());

    // Space again: everything works, and the chain is whole.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(ok(&ws.get("acme/rtr1/admin")), "first");
    ok(&ws.set("acme/rtr1/admin", "second"));
    assert_eq!(ok(&ws.get("acme/rtr1/admin")), "second");
    let verified = ok(&ws.verify());
    assert!(verified.contains("intact"), "{verified}");
    assert_eq!(ws.log_actions().len(), lines_before + 3);
}
