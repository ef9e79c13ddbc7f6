//! A team sharing one workspace over git: real git, real clones of a bare remote on local disk,
//! two technicians with their own age identities. Nothing may be lost in a merge: not a
//! password (vault files merge entry by entry, a password changed on both sides is kept as a
//! candidate until `verify` finds the one in force), not a recipient removal, not an audit line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig};
use keyreeve::secret::Password;
use keyreeve::vault::{merge, Vault, VaultDocument};
use keyreeve::workspace::Workspace;

/// A bare remote, a git configuration of its own (the machine's never leaks in) and two
/// technicians' identities, both recipients of every vault.
struct Team {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    remote: PathBuf,
    keys: [(PathBuf, String); 3],
}

/// One technician's clone.
struct Clone {
    dir: PathBuf,
    identity: PathBuf,
    home: PathBuf,
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn isolate(c: &mut Command, home: &Path) {
    c.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
        .env_remove("KEYREEVE_IDENTITY")
        .env_remove("KEYREEVE_WORKSPACE")
        .env_remove("KEYREEVE_PASSPHRASE_FILE")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
}

fn git_in(dir: &Path, home: &Path, args: &[&str]) -> Output {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).args(args);
    isolate(&mut c, home);
    c.output().expect("git runs")
}

impl Team {
    /// The first clone made the workspace (init sets it up for git), with `extra` appended to
    /// keyreeve.toml, and pushed it.
    fn start(extra: &str) -> (Team, Clone) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Tech\n\temail = tech@example.test\n[init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        let keys = ["alice", "bob", "carol"].map(|n| {
            let file = root.join(format!("{n}.key"));
            let public = new_identity_file(&file, None).unwrap();
            (file, public)
        });
        let remote = root.join("remote.git");
        let out = git_in(&root, &home, &["init", "--quiet", "--bare", remote.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let team = Team {
            _tmp: tmp,
            root,
            home,
            remote,
            keys,
        };
        let a = Clone {
            dir: team.root.join("alice"),
            identity: team.keys[0].0.clone(),
            home: team.home.clone(),
        };
        let out = a.kr_raw(&[
            "init",
            a.dir.to_str().unwrap(),
            "-r",
            &team.keys[0].1,
            "-r",
            &team.keys[1].1,
            "-r",
            &team.keys[2].1,
        ]);
        assert!(out.status.success(), "init: {}", text(&out));
        let inv = a.dir.join("keyreeve.toml");
        let mut toml = std::fs::read_to_string(&inv).unwrap();
        toml.push_str(&format!("\n[clients.globex]\n\n{extra}"));
        if !extra.contains("[clients.acme]") {
            toml.push_str("\n[clients.acme]\n");
        }
        std::fs::write(&inv, toml).unwrap();
        a.git_ok(&["remote", "add", "origin", team.remote.to_str().unwrap()]);
        a.set("acme/rtr1/admin", "Acme-first-1");
        a.set("globex/fw1/admin", "Globex-first-1");
        a.sync_ok();
        (team, a)
    }

    /// A fresh clone of the remote by the second technician, set up with `team setup`.
    fn join(&self) -> Clone {
        let b = Clone {
            dir: self.root.join("bob"),
            identity: self.keys[1].0.clone(),
            home: self.home.clone(),
        };
        let out = git_in(
            &self.root,
            &self.home,
            &[
                "clone",
                "--quiet",
                self.remote.to_str().unwrap(),
                b.dir.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        // A fresh clone has no driver registered: writing commands refuse and name the fix.
        let out = b.kr(&["vault", "rm", "acme/rtr1/admin"]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("keyreeve team setup"), "{}", text(&out));
        b.kr_ok(&["team", "setup"]);
        b
    }
}

impl Clone {
    fn kr_raw(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyreeve"));
        c.arg("--identity").arg(&self.identity).args(args);
        isolate(&mut c, &self.home);
        c.output().unwrap()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyreeve"));
        c.arg("--workspace")
            .arg(&self.dir)
            .arg("--identity")
            .arg(&self.identity)
            .args(args);
        isolate(&mut c, &self.home);
        c
    }

    fn kr(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn kr_ok(&self, args: &[&str]) -> String {
        let out = self.kr(args);
        assert!(out.status.success(), "keyreeve {args:?}: {}", text(&out));
        text(&out)
    }

    fn git(&self, args: &[&str]) -> Output {
        git_in(&self.dir, &self.home, args)
    }

    fn git_ok(&self, args: &[&str]) -> String {
        let out = self.git(args);
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn set(&self, path: &str, password: &str) {
        let mut child = self
            .cmd(&["vault", "set", path])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "vault set {path}: {}", text(&out));
    }

    fn sync(&self) -> Output {
        self.kr(&["sync"])
    }

    fn sync_ok(&self) -> String {
        self.kr_ok(&["sync"])
    }

    fn doc(&self, client: &str) -> VaultDocument {
        let ws = Workspace::open(&self.dir).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        Vault::new(&ws, &inv, &keys).load(client).unwrap()
    }

    fn password(&self, client: &str, key: &str) -> String {
        self.doc(client).entries[key].password.expose().to_string()
    }

    fn assert_settled(&self) {
        assert!(
            !self.dir.join(".git/MERGE_HEAD").exists(),
            "a merge is left in progress"
        );
        let status = self.git_ok(&["status", "--porcelain"]);
        assert!(status.trim().is_empty(), "uncommitted or conflicted files:\n{status}");
        let out = self.kr(&["log", "verify"]);
        assert!(out.status.success(), "log verify: {}", text(&out));
    }
}

/// 1. Two clones change different clients, both sync: both changes everywhere, no conflict.
#[test]
fn two_clones_changing_different_clients_both_keep_their_change() {
    let (team, a) = Team::start("");
    let b = team.join();
    a.set("acme/rtr1/admin", "Acme-by-alice-2");
    b.set("globex/fw1/admin", "Globex-by-bob-2");
    a.sync_ok();
    let said = b.sync_ok();
    assert!(said.contains("vaults/acme.age"), "sync reports what came in: {said}");
    a.sync_ok();
    for c in [&a, &b] {
        assert_eq!(c.password("acme", "rtr1/admin"), "Acme-by-alice-2");
        assert_eq!(c.password("globex", "fw1/admin"), "Globex-by-bob-2");
        c.assert_settled();
    }
    // The commit says what changed, by path and action, never a password.
    let messages = a.git_ok(&["log", "--format=%B"]);
    assert!(messages.contains("changed vaults/globex.age"), "{messages}");
    assert!(!messages.contains("Globex-by-bob-2") && !messages.contains("Acme-by-alice-2"));
}

/// 4. One clone removes a recipient (carol left the team) while the other adds entries to that
///    client: the merge, made on the side that still lists her, is not encrypted to her key
///    (checked with stock `age -d`). And a technician who is no longer a recipient cannot merge:
///    his sync fails cleanly, leaving git's conflict state for someone who can.
#[test]
fn a_recipient_removed_on_one_side_cannot_open_the_merged_vault() {
    let (team, a) = Team::start("");
    let b = team.join();
    a.kr_ok(&["vault", "recipients", "rm", &team.keys[2].1]);
    b.set("acme/sw9/admin", "Added-by-bob-9");
    a.sync_ok();
    let said = b.sync_ok();
    assert!(said.contains("vaults/acme.age"), "{said}");
    let age = |key: &Path, file: &Path| {
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(key)
            .arg(file)
            .output()
            .expect("stock `age` is installed (tests/lab/up.sh installs it)")
    };
    let merged = b.dir.join("vaults/acme.age");
    for opener in [&team.keys[0].0, &team.keys[1].0] {
        let out = age(opener, &merged);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Added-by-bob-9"),
            "bob's entry survived"
        );
    }
    let by_carol = age(&team.keys[2].0, &merged);
    assert!(
        !by_carol.status.success(),
        "the removed key still opens the merged file"
    );
    b.assert_settled();
    // Alice now removes bob; bob, not knowing, changes acme again: his merge cannot decrypt.
    a.sync_ok();
    a.kr_ok(&["vault", "recipients", "rm", &team.keys[1].1]);
    a.sync_ok();
    b.set("acme/sw9/admin", "Added-by-bob-10");
    let out = b.sync();
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("cannot merge vaults/acme.age"), "{said}");
    let status = b.git_ok(&["status", "--porcelain"]);
    assert!(
        status.contains("UU vaults/acme.age"),
        "git's conflict state is left: {status}"
    );
}

/// 5. Both clones append to the audit log: `log verify` passes after the merge, and a changed,
///    removed or reordered line on either side is still detected.
#[test]
fn concurrent_audit_appends_merge_and_stay_tamper_evident() {
    let (team, a) = Team::start("");
    let b = team.join();
    // A reveal both clones know of: state/reveals/acme.json is in the common base.
    b.kr_ok(&["vault", "get", "acme/rtr1/admin"]);
    b.sync_ok();
    a.sync_ok();
    a.kr_ok(&["vault", "get", "acme/rtr1/admin"]);
    a.set("acme/sw1/admin", "From-alice-1");
    b.kr_ok(&["vault", "get", "globex/fw1/admin"]);
    b.set("globex/sw2/admin", "From-bob-2");
    // Bob's reveal time lands in state/reveals/acme.json, which alice's write folded and emptied.
    b.kr_ok(&["vault", "get", "acme/rtr1/admin"]);
    a.sync_ok();
    b.sync_ok();
    a.sync_ok();
    b.assert_settled();
    a.assert_settled();
    let log_file = b.dir.join("state/audit.log");
    let original = std::fs::read_to_string(&log_file).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains(r#""action":"audit.merge""#)),
        "{original}"
    );
    let alice_line = lines
        .iter()
        .position(|l| l.contains(&team.keys[0].1) && l.contains("acme/sw1/admin"))
        .unwrap();
    let bob_line = lines
        .iter()
        .position(|l| l.contains(&team.keys[1].1) && l.contains("globex/sw2/admin"))
        .unwrap();
    let shown = b.kr_ok(&["log"]);
    assert!(
        shown.contains("acme/sw1/admin") && shown.contains("globex/sw2/admin"),
        "{shown}"
    );
    let mut tamperings: Vec<(String, Vec<String>)> = Vec::new();
    for (who, at) in [("alice", alice_line), ("bob", bob_line)] {
        let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        changed[at] = changed[at].replace("vault.set", "vault.get");
        tamperings.push((format!("{who}'s line changed"), changed));
        let mut removed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        removed.remove(at);
        tamperings.push((format!("{who}'s line removed"), removed));
        let mut swapped: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        swapped.swap(at, at - 1);
        tamperings.push((format!("{who}'s line moved"), swapped));
    }
    for (what, tampered) in tamperings {
        std::fs::write(&log_file, tampered.join("\n") + "\n").unwrap();
        let out = b.kr(&["log", "verify"]);
        assert_eq!(out.status.code(), Some(1), "{what} is not detected: {}", text(&out));
    }
    std::fs::write(&log_file, &original).unwrap();
    b.kr_ok(&["log", "verify"]);
}

/// 6. A plain `git pull` (not `keyreeve sync`) in a clone set up with `team setup` merges vault
///    files the same way.
#[test]
fn a_plain_git_pull_merges_vaults_with_the_driver() {
    let (team, a) = Team::start("");
    let b = team.join();
    a.set("acme/rtr1/admin", "Acme-by-alice-3");
    a.sync_ok();
    b.set("acme/sw2/admin", "Acme-sw-by-bob");
    b.set("acme/rtr1/admin", "Acme-by-bob-3");
    b.git_ok(&["add", "-A"]);
    b.git_ok(&["commit", "--quiet", "-m", "bob's work"]);
    let out = b.git(&["pull", "--no-rebase", "--no-edit", "origin", "main"]);
    assert!(out.status.success(), "git pull: {}", text(&out));
    let doc = b.doc("acme");
    assert_eq!(doc.entries["sw2/admin"].password.expose(), "Acme-sw-by-bob");
    let rtr = &doc.entries["rtr1/admin"];
    assert!(merge::is_merge_conflict(rtr), "both passwords kept as candidates");
    let all: Vec<String> = merge::candidates(rtr).iter().map(|p| p.expose().to_string()).collect();
    assert!(all.contains(&"Acme-by-alice-3".to_string()) && all.contains(&"Acme-by-bob-3".to_string()));
    b.assert_settled();
}

/// 7. The merge driver SIGKILLed half-way through writing: git's conflict state, no file
///    half-written in place, and the next `sync` completes the merge.
#[test]
fn a_merge_driver_killed_mid_write_leaves_git_conflict_and_the_next_sync_completes() {
    let (team, a) = Team::start("");
    let b = team.join();
    a.set("acme/sw1/admin", "From-alice-7");
    a.sync_ok();
    b.set("acme/sw2/admin", "From-bob-7");
    let marker = team.root.join("driver-pid");
    let mut child = b
        .cmd(&["sync"])
        .env("KEYREEVE_FAILPOINT", "merge-half-written")
        .env("KEYREEVE_FAILPOINT_FILE", &marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let pid = loop {
        if let Ok(pid) = std::fs::read_to_string(&marker) {
            if !pid.is_empty() {
                break pid;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sync ended ({status}) before the driver wrote half its merge");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the driver never got there");
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed = Command::new("kill").args(["-KILL", pid.trim()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the interrupted sync reports failure: {}",
        text(&out)
    );
    // Git takes a driver killed by a signal as a failed merge: it either keeps its conflict state
    // (the file unmerged) or, as git 2.47's ort does, drops the merge whole; either way nothing
    // of it was committed and the work tree holds no part of the merge.
    let status = b.git_ok(&["status", "--porcelain"]);
    if b.dir.join(".git/MERGE_HEAD").exists() {
        assert!(status.contains("UU vaults/acme.age"), "{status}");
    } else {
        assert!(
            status.is_empty(),
            "no merge in progress and nothing half-applied: {status}"
        );
    }
    let head = b.git_ok(&["log", "-1", "--format=%P"]);
    assert_eq!(head.split_whitespace().count(), 1, "no merge commit was made");
    // The file in place is whole: bob's own version, which his key opens.
    let plain = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&b.identity)
        .arg(b.dir.join("vaults/acme.age"))
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", text(&plain));
    assert!(String::from_utf8_lossy(&plain.stdout).contains("From-bob-7"));
    b.sync_ok();
    b.assert_settled();
    let leftovers: Vec<_> = std::fs::read_dir(&b.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the killed driver's temporary file is swept: {leftovers:?}"
    );
    let doc = b.doc("acme");
    assert_eq!(doc.entries["sw1/admin"].password.expose(), "From-alice-7");
    assert_eq!(doc.entries["sw2/admin"].password.expose(), "From-bob-7");
    a.sync_ok();
    assert_eq!(a.password("acme", "sw2/admin"), "From-bob-7");
}

const ADMIN: &str = "admin";

/// The device lab: one emulated router with a login account and two more.
fn lab_team() -> (Lab, Team, Clone, Clone) {
    let lab = Lab::start(LabConfig {
        devices: vec![DeviceSpec {
            name: "r1".into(),
            kind: TargetKind::Junos,
            accounts: vec![
                LabAccount::new(ADMIN, Password::new("Lab-admin-1"), 15),
                LabAccount::new("netops", Password::new("Lab-netops-1"), 15),
                LabAccount::new("backup", Password::new("Lab-backup-1"), 15),
            ],
            enable_secret: None,
            port: 0,
        }],
        time_scale: 1.0,
        ..LabConfig::default()
    })
    .expect("the device lab starts");
    let (team, a) = Team::start(&format!("[clients.acme]\n\n{}", lab.inventory_toml("acme")));
    a.set("acme/r1/admin", "Lab-admin-1");
    a.set("acme/r1/netops", "Lab-netops-1");
    a.set("acme/r1/backup", "Lab-backup-1");
    a.sync_ok();
    let b = team.join();
    (lab, team, a, b)
}

fn rotate(team: &Team, c: &Clone, name: &str, account: &str) {
    let plan = team.root.join(format!("{name}.plan"));
    let out = c.kr(&[
        "plan",
        "--account",
        &format!("acme/r1/{account}"),
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "plan: {}", text(&out));
    let out = c.kr(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "apply: {}", text(&out));
}

/// 2. Two clones rotate different accounts of the same device, both sync: every device
///    password is the vault's, in both clones.
#[test]
fn two_clones_rotating_different_accounts_of_a_client_both_keep_theirs() {
    let (lab, _team, a, b) = lab_team();
    rotate(&_team, &a, "alice", "netops");
    rotate(&_team, &b, "bob", "backup");
    a.sync_ok();
    b.sync_ok();
    a.sync_ok();
    for c in [&a, &b] {
        let doc = c.doc("acme");
        for account in [ADMIN, "netops", "backup"] {
            let e = &doc.entries[&format!("r1/{account}")];
            assert!(!merge::is_merge_conflict(e), "{account}");
            assert!(lab.running_password_works("r1", account, &e.password), "{account}");
        }
        c.assert_settled();
        c.kr_ok(&["verify", "--client", "acme"]);
    }
    assert_ne!(a.password("acme", "r1/netops"), "Lab-netops-1");
    assert_ne!(a.password("acme", "r1/backup"), "Lab-backup-1");
}

/// 3. Two clones rotate the SAME account (the device ends with the second one's password):
///    after sync the entry holds both candidates; `verify` finds the one in force and keeps it,
///    the other goes to the history.
#[test]
fn two_clones_rotating_the_same_account_keep_both_until_verify_settles_it() {
    let (lab, team, a, b) = lab_team();
    rotate(&team, &a, "alice", "netops");
    let alices = a.password("acme", "r1/netops");
    rotate(&team, &b, "bob", "netops");
    let bobs = b.password("acme", "r1/netops");
    assert!(lab.running_password_works("r1", "netops", &Password::new(bobs.clone())));
    b.sync_ok();
    let out = a.sync();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a conflict to settle is reported: {}",
        text(&out)
    );
    assert!(text(&out).contains("CONFLICT acme/r1/netops"), "{}", text(&out));
    let entry = a.doc("acme").entries["r1/netops"].clone();
    assert!(merge::is_merge_conflict(&entry));
    let all: Vec<String> = merge::candidates(&entry)
        .iter()
        .map(|p| p.expose().to_string())
        .collect();
    assert!(all.contains(&alices) && all.contains(&bobs), "both candidates kept");
    a.kr_ok(&["verify", "--client", "acme"]);
    let settled = a.doc("acme").entries["r1/netops"].clone();
    assert_eq!(settled.password.expose(), bobs, "the password in force is kept");
    assert!(!merge::is_merge_conflict(&settled));
    assert!(
        settled.history.iter().any(|h| h.password.expose() == alices),
        "nothing is lost"
    );
    a.sync_ok();
    b.sync_ok();
    assert_eq!(b.password("acme", "r1/netops"), bobs);
    b.kr_ok(&["verify", "--client", "acme"]);
}

/// Before apply touches anything it fetches: an account a teammate rotated and pushed since this
/// clone last synced is refused (with the command to run), and nothing on the device changes.
#[test]
fn apply_refuses_an_account_a_teammate_rotated_since_the_last_sync() {
    let (lab, team, a, b) = lab_team();
    let plan = team.root.join("bob-late.plan");
    let out = b.kr(&["plan", "--account", "acme/r1/netops", "-o", plan.to_str().unwrap()]);
    assert!(out.status.success(), "plan: {}", text(&out));
    rotate(&team, &a, "alice", "netops");
    let alices = Password::new(a.password("acme", "r1/netops"));
    a.sync_ok();
    let out = b.kr(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("acme/r1/netops") && said.contains("keyreeve sync"),
        "{said}"
    );
    assert!(
        lab.running_password_works("r1", "netops", &alices),
        "the device was not touched"
    );
    b.sync_ok();
    assert_eq!(b.password("acme", "r1/netops"), alices.expose());
    // Another account of the same client is not held back by that change.
    rotate(&team, &b, "bob-backup", "backup");
    let out = b.kr(&["sync"]);
    assert!(out.status.success(), "{}", text(&out));
}
