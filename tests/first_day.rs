//! A new user's first day, driven through the binary: `client add|rm`, `target add` and
//! `scan --add` editing keyreeve.toml (comments kept, host keys pinned only when confirmed), and
//! `lab up` finding its workspace like every command and restarting an existing lab client.
//! Devices are the in-process lab on 127.0.0.1.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::KeyRing;
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig, LabDeviceInfo};
use keyreeve::vault::{Entry, Vault, VaultError};
use keyreeve::workspace::Workspace;
use keyreeve::Password;

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");

struct Setup {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    identity: PathBuf,
}

impl Setup {
    /// A workspace made by `keyreeve init`, with a comment added to its inventory.
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let identity = tmp.path().join("identity.txt");
        let public = keyreeve::keys::new_identity_file(&identity, None).unwrap();
        let ws = tmp.path().join("ws");
        let out = Command::new(BIN)
            .args(["init", ws.to_str().unwrap(), "--recipient", &public])
            .output()
            .unwrap();
        assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
        let file = ws.join("keyreeve.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("# Kept by the first-day tests\n{text}")).unwrap();
        Setup {
            _tmp: tmp,
            ws,
            identity,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.args(["--workspace", self.ws.to_str().unwrap()])
            .args(["--identity", self.identity.to_str().unwrap()])
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(self.ws.join("keyreeve.toml")).unwrap()
    }

    fn inventory(&self) -> Inventory {
        Inventory::load(&self.ws.join("keyreeve.toml")).unwrap()
    }

    fn workspace(&self) -> Workspace {
        Workspace::open(&self.ws).unwrap()
    }

    fn keys(&self) -> KeyRing {
        KeyRing::locate(Some(&self.identity))
    }

    /// Stores `password` as `client/target/account`.
    fn store(&self, client: &str, target: &str, account: &str, password: &str) {
        let (ws, inv, keys) = (self.workspace(), self.inventory(), self.keys());
        Vault::new(&ws, &inv, &keys)
            .update(client, |doc| {
                doc.entries.insert(
                    format!("{target}/{account}"),
                    Entry::new(account, Password::new(password)),
                );
                Ok::<(), VaultError>(())
            })
            .unwrap();
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn failed(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn device(name: &str, kind: TargetKind) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        kind,
        accounts: vec![LabAccount::new("admin", Password::new("Adm1n-Secret.42"), 15)],
        enable_secret: Some(Password::new("En4ble%Secret")),
        port: 0,
    }
}

fn lab(devices: Vec<DeviceSpec>) -> Lab {
    Lab::start(LabConfig {
        devices,
        ..LabConfig::default()
    })
    .expect("the lab starts")
}

#[test]
fn client_add_keeps_the_files_comments_and_refuses_a_second_time() {
    let s = Setup::new();
    let out = ok(&s.run(&["client", "add", "acme"]));
    assert!(out.contains("Added client `acme`"), "{out}");
    let text = s.text();
    assert!(text.starts_with("# Kept by the first-day tests\n"), "{text}");
    assert!(s.inventory().clients.contains_key("acme"));

    let err = failed(&s.run(&["client", "add", "acme"]));
    assert!(err.contains("client `acme` is already in the inventory"), "{err}");
    let err = failed(&s.run(&["client", "add", "../etc"]));
    assert!(err.contains("not a valid client name"), "{err}");
    assert_eq!(s.text(), text, "a refused add changed nothing");
}

#[test]
fn client_rm_archives_the_vault_and_snapshots_and_audits_it() {
    let s = Setup::new();
    ok(&s.run(&["client", "add", "acme"]));
    ok(&s.run(&["client", "add", "globex"]));
    s.store("acme", "rtr1", "admin", "Acme-Secret-1");
    s.store("globex", "fw1", "admin", "Globex-Secret-1");
    let ws = s.workspace();
    let snapshot = ws.snapshots_dir().join("acme/rtr1/20260101T000000Z.json");
    std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
    std::fs::write(&snapshot, "{}").unwrap();
    let vault_bytes = std::fs::read(ws.vault_file("acme")).unwrap();

    let out = ok(&s.run(&["client", "rm", "acme"]));
    assert!(out.contains("Removed client `acme`"), "{out}");
    assert!(!s.inventory().clients.contains_key("acme"));
    assert!(s.inventory().clients.contains_key("globex"));
    assert!(s.text().starts_with("# Kept by the first-day tests\n"));
    assert!(!ws.vault_file("acme").exists());
    assert!(!ws.snapshots_dir().join("acme").exists());
    assert!(ws.vault_file("globex").exists(), "another client's vault stays");

    let archives: Vec<PathBuf> = std::fs::read_dir(ws.state_dir().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    let archive = &archives[0];
    assert!(archive.file_name().unwrap().to_str().unwrap().starts_with("acme-"));
    assert_eq!(
        std::fs::read(archive.join("acme.age")).unwrap(),
        vault_bytes,
        "the vault file, unchanged"
    );
    assert!(archive.join("snapshots/rtr1/20260101T000000Z.json").is_file());
    assert!(std::fs::read_to_string(archive.join("keyreeve.toml"))
        .unwrap()
        .contains("[clients.acme]"));

    let log = std::fs::read_to_string(ws.audit_log_file()).unwrap();
    let line = log.lines().find(|l| l.contains("\"client.remove\"")).expect("audited");
    assert!(
        line.contains("\"subject\":\"acme\"") && line.contains("acme.age"),
        "{line}"
    );
    assert!(ok(&s.run(&["log", "verify"])).contains("intact"));

    let err = failed(&s.run(&["client", "rm", "acme"]));
    assert!(err.contains("unknown client `acme`"), "{err}");
}

#[test]
fn client_rm_waits_for_the_clients_unsettled_rotations() {
    use keyreeve::connector::ChangeMethod;
    use keyreeve::rotation::journal::{Journal, Record, RECORD_FORMAT};

    let s = Setup::new();
    ok(&s.run(&["client", "add", "acme"]));
    ok(&s.run(&["client", "add", "globex"]));
    s.store("acme", "rtr1", "admin", "Acme-Secret-1");
    let (ws, inv, keys) = (s.workspace(), s.inventory(), s.keys());
    let record = |client: &str| Record {
        format: RECORD_FORMAT.into(),
        id: format!("{client}-record"),
        run_id: "run-first-day".into(),
        client: client.into(),
        target: "rtr1".into(),
        account: "admin".into(),
        username: "admin".into(),
        method: ChangeMethod::SelfChange,
        is_login: true,
        old: Password::new("Acme-Secret-1"),
        new: Password::new("Acme-Secret-2"),
        started_at: chrono::Utc::now(),
    };
    let journal = Journal::new(&ws);
    let acme_record = journal.write(&keys, &inv, &record("acme")).unwrap();
    journal.write(&keys, &inv, &record("globex")).unwrap();

    let err = failed(&s.run(&["client", "rm", "acme"]));
    assert!(err.contains("unsettled rotations (acme/rtr1/admin)"), "{err}");
    assert!(err.contains("keyreeve recover"), "{err}");
    assert!(s.inventory().clients.contains_key("acme"));
    assert!(ws.vault_file("acme").exists());
    assert!(!ws.state_dir().join("archive").exists());

    // Another client's record does not hold this one back.
    journal.remove(&acme_record).unwrap();
    ok(&s.run(&["client", "rm", "acme"]));
}

#[test]
fn target_add_pins_the_host_key_a_script_names() {
    let s = Setup::new();
    ok(&s.run(&["client", "add", "acme"]));
    let lab = lab(vec![device("r1", TargetKind::CiscoIos)]);
    let r1: LabDeviceInfo = lab.devices().remove(0);
    let port = r1.port.to_string();
    let add = |extra: &[&str]| {
        let mut args = vec![
            "target",
            "add",
            "acme",
            "core-rtr1",
            "--kind",
            "cisco-ios",
            "--address",
            "127.0.0.1",
            "--port",
            &port,
        ];
        args.extend_from_slice(extra);
        s.run(&args)
    };

    // Not on a terminal and nothing named: nobody confirmed the key, nothing is added.
    let err = failed(&add(&[]));
    assert!(err.contains("--accept-host-key SHA256:"), "{err}");
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let err = failed(&add(&["--accept-host-key", wrong]));
    assert!(err.contains(&format!("not {wrong}")), "{err}");
    assert!(s.inventory().clients["acme"].targets.is_empty());

    let out = ok(&add(&[
        "--accept-host-key",
        &r1.host_key_fingerprint,
        "--enable",
        "enable",
    ]));
    assert!(
        out.contains(&r1.host_key_fingerprint),
        "the fingerprint is shown: {out}"
    );
    let inv = s.inventory();
    let t = inv.target("acme", "core-rtr1").unwrap();
    assert_eq!(t.kind, TargetKind::CiscoIos);
    assert_eq!(t.port, r1.port);
    assert_eq!(t.host_key.as_deref(), Some(r1.host_key_fingerprint.as_str()));
    assert_eq!(t.enable.as_deref(), Some("enable"));
    assert!(s.text().starts_with("# Kept by the first-day tests\n"));

    let err = failed(&add(&["--yes"]));
    assert!(err.contains("already in"), "{err}");
    ok(&s.run(&[
        "target",
        "add",
        "acme",
        "edge",
        "--kind",
        "cisco-ios",
        "--address",
        "127.0.0.1",
        "--port",
        &port,
        "--yes",
    ]));
    assert_eq!(s.inventory().clients["acme"].targets.len(), 2);

    // The pinned key is the one later logins are held to.
    s.store("acme", "core-rtr1", "admin", "Adm1n-Secret.42");
    s.store("acme", "core-rtr1", "enable", "En4ble%Secret");
    let out = ok(&s.run(&["discover", "--target", "acme/core-rtr1"]));
    assert!(out.contains("1 ok, 0 failed"), "{out}");
}

#[test]
fn target_add_refuses_what_the_inventory_would_refuse_before_connecting() {
    let s = Setup::new();
    ok(&s.run(&["client", "add", "acme"]));
    let before = s.text();
    // Port 1 on loopback: nothing listens, and nothing is tried before the arguments are checked.
    let cases: [(&[&str], &str); 4] = [
        (
            &["nobody", "x", "--kind", "linux", "--address", "127.0.0.1"],
            "unknown client `nobody`",
        ),
        (
            &["acme", "bad/name", "--kind", "linux", "--address", "127.0.0.1"],
            "not a valid target name",
        ),
        (
            &["acme", "x", "--kind", "cisco-ioss", "--address", "127.0.0.1"],
            "unknown kind `cisco-ioss`",
        ),
        (&["acme", "x", "--kind", "linux"], "needs --address"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["target", "add"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--port", "1", "--yes"]);
        let err = failed(&s.run(&all));
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert_eq!(s.text(), before);
}

#[test]
fn scan_add_adds_what_it_found_with_guessed_kinds_and_pinned_keys() {
    let s = Setup::new();
    ok(&s.run(&["client", "add", "acme"]));
    let lab = lab(vec![
        device("r1", TargetKind::CiscoIos),
        device("r2", TargetKind::Routeros),
    ]);
    let devices = lab.devices();
    let ports = format!("{},{}", devices[0].port, devices[1].port);
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "127.0.0.1",
            "--ports",
            &ports,
            "--timeout",
            "5",
            "--add",
            "acme",
        ];
        args.extend_from_slice(extra);
        s.run(&args)
    };

    // The list is shown; without a terminal or --yes nothing is added.
    let out = scan(&[]);
    let err = failed(&out);
    assert!(err.contains("--yes"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&devices[0].host_key_fingerprint));
    assert!(s.inventory().clients["acme"].targets.is_empty());

    let out = ok(&scan(&["--yes"]));
    assert!(out.contains("Added 2 targets"), "{out}");
    let inv = s.inventory();
    for (d, kind) in devices.iter().zip([TargetKind::CiscoIos, TargetKind::Routeros]) {
        let t = inv
            .target("acme", &format!("127-0-0-1-{}", d.port))
            .unwrap_or_else(|e| panic!("{e}: {}", s.text()));
        assert_eq!((t.kind, t.port, t.address.as_str()), (kind, d.port, "127.0.0.1"));
        assert_eq!(t.host_key.as_deref(), Some(d.host_key_fingerprint.as_str()));
    }
    let text = s.text();
    assert!(text.contains("# found by `keyreeve scan`: SSH-2.0-ROSSSH"), "{text}");
    assert!(text.starts_with("# Kept by the first-day tests\n"));

    // A second scan adds nothing twice.
    let out = ok(&scan(&["--yes"]));
    assert!(out.contains("Nothing to add"), "{out}");
    assert_eq!(s.text(), text);

    let err = failed(&s.run(&["scan", "127.0.0.1", "--ports", &ports, "--add", "nobody", "--yes"]));
    assert!(err.contains("unknown client `nobody`"), "{err}");
}

/// A running `keyreeve lab up`, killed if a test fails before it stopped it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `command`'s output, or a failure if it is still running after a minute (a `lab up` that did
/// not stop at an error serves forever).
fn output_within_a_minute(command: &mut Command) -> Output {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let id = child.id();
    let (done, waiting) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match waiting.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &id.to_string()]).status();
            panic!("still running after a minute");
        }
    }
}

/// Starts `keyreeve lab up` with `args`, the workspace named only by KEYREEVE_WORKSPACE, and
/// reads its output until the lab runs.
fn lab_up(s: &Setup, args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .env("KEYREEVE_WORKSPACE", &s.ws)
        .args(["--identity", s.identity.to_str().unwrap(), "lab", "up"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
            let _ = child.wait();
            panic!("lab up ended early: {seen}\n{err}");
        }
        seen.push_str(&line);
        if line.starts_with("Running until") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (Running(child), seen)
}

fn stop(mut running: Running) {
    let child = &mut running.0;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

fn login_works(address: &str, port: u16, user: &str, password: &str) -> bool {
    let tcp = std::net::TcpStream::connect((address, port)).unwrap();
    let mut sess = ssh2::Session::new().unwrap();
    sess.set_tcp_stream(tcp);
    sess.set_timeout(10_000);
    sess.handshake().unwrap();
    sess.userauth_password(user, password).is_ok()
}

#[test]
fn lab_up_finds_its_workspace_in_the_environment_and_restarts_a_client() {
    let s = Setup::new();
    let (child, seen) = lab_up(
        &s,
        &["--devices", "2", "--kinds", "cisco-ios,junos", "--client", "lab1"],
    );
    assert!(
        seen.contains("Added client `lab1`"),
        "KEYREEVE_WORKSPACE was used: {seen}"
    );
    stop(child);
    let inv = s.inventory();
    let targets = inv.clients["lab1"].targets.clone();
    assert_eq!(targets.len(), 2);

    // As after a rotation: the vault holds a password the lab never made.
    s.store("lab1", &targets[0].name, "admin", "Rotated-Secret.7");
    let before = s.text();
    let err = failed(&output_within_a_minute(
        Command::new(BIN)
            .env("KEYREEVE_WORKSPACE", &s.ws)
            .args(["--identity", s.identity.to_str().unwrap()])
            .args(["lab", "up", "--client", "lab1", "--devices", "3"])
            .stdin(Stdio::null()),
    ));
    assert!(err.contains("--devices, --kinds and --base-port do not apply"), "{err}");

    let (child, seen) = lab_up(&s, &["--client", "lab1"]);
    assert!(seen.contains("Restarted client `lab1`"), "{seen}");
    assert_eq!(s.text(), before, "the inventory is left as it was");
    let (ws, keys) = (s.workspace(), s.keys());
    let doc = Vault::new(&ws, &inv, &keys).load("lab1").unwrap();
    for t in &targets {
        let password = doc.entries[&format!("{}/admin", t.name)].password.expose().to_string();
        assert!(
            login_works(&t.address, t.port, "admin", &password),
            "{}: the vault's password on the inventory's port",
            t.name
        );
    }
    assert!(login_works(
        &targets[0].address,
        targets[0].port,
        "admin",
        "Rotated-Secret.7"
    ));
    // The pinned keys still hold: discovery over the restarted lab works (exit 1: the lab's
    // second admin, `netops`, is not in the vault).
    let out = s.run(&["discover", "--client", "lab1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2 ok, 0 failed; 2 device admin accounts not in the vault"),
        "{stdout}"
    );
    stop(child);
}

#[test]
fn lab_up_refuses_to_restart_a_client_that_is_no_lab() {
    let s = Setup::new();
    ok(&s.run(&["client", "add", "acme"]));
    let file = s.ws.join("keyreeve.toml");
    let text = s.text()
        + "\n[[clients.acme.targets]]\nname = \"srv\"\nkind = \"linux\"\naddress = \"127.0.0.1\"\nlogin = \"root\"\n";
    std::fs::write(&file, &text).unwrap();
    let err = failed(&output_within_a_minute(
        Command::new(BIN)
            .env("KEYREEVE_WORKSPACE", &s.ws)
            .args([
                "--identity",
                s.identity.to_str().unwrap(),
                "lab",
                "up",
                "--client",
                "acme",
            ])
            .stdin(Stdio::null()),
    ));
    assert!(
        err.contains("acme/srv") && err.contains("not a device of `keyreeve lab up`"),
        "{err}"
    );
    assert_eq!(s.text(), text);
}

/// `discover` over two targets nobody answers for: a progress bar on a terminal (run under
/// `script`, which gives it one), and no control codes in a pipe.
#[test]
fn discover_shows_progress_on_a_terminal_only() {
    let s = Setup::new();
    ok(&s.run(&["client", "add", "acme"]));
    let mut text = s.text();
    for name in ["a", "b"] {
        text.push_str(&format!(
            "\n[[clients.acme.targets]]\nname = \"{name}\"\nkind = \"linux\"\naddress = \"127.0.0.1\"\nport = 1\n\
             login = \"root\"\nhost_key = \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n"
        ));
    }
    std::fs::write(s.ws.join("keyreeve.toml"), text).unwrap();

    let piped = s.run(&["discover", "--client", "acme"]);
    assert_eq!(piped.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains('\x1b') && !stderr.contains("targets"), "{stderr}");

    let line = format!(
        "{BIN} --identity {} discover --client acme",
        s.identity.to_str().unwrap()
    );
    let on_terminal = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("KEYREEVE_WORKSPACE", &s.ws)
        // A terminal has a TERM (the bar is drawn only for one) and `script` starts the line
        // through $SHELL: neither is set in a bare environment such as CI's.
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) runs");
    let seen = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(seen.contains("0/2 targets"), "{seen}");
    assert!(seen.contains("2 targets: 0 ok, 2 failed"), "{seen}");
}
