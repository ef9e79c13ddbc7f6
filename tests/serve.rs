//! `keyreeve serve` against the emulated device lab, in process, and through the real binary:
//! a target that refuses its own login password is not logged in to again until that vault
//! entry changes (and the status says so), and the service's log on a pipe holds no colour codes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig, ENABLE_ACCOUNT};
use keyreeve::secret::Password;
use keyreeve::serve::{self, ServeConfig};
use keyreeve::vault::{Entry, Vault};
use keyreeve::workspace::Workspace;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A new workspace (`keyreeve init`) encrypted to a new identity: the folder, the workspace and
/// the identity file.
fn new_workspace() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let identity = tmp.path().join("identity.txt");
    let public = new_identity_file(&identity, None).unwrap();
    let ws = tmp.path().join("ws");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args(["init", ws.to_str().unwrap(), "--recipient", &public])
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    (tmp, ws, identity)
}

/// One HTTP/1.1 request with the token: the status code and the body.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits for run `n` to finish and returns the status.
fn status_after_run(addr: &str, n: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = http(addr, "GET", "/v1/status");
        assert_eq!(code, 200, "{body}");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        if status["runs"] == n && status["running"] == false {
            return status;
        }
        assert!(Instant::now() < deadline, "no run {n} within 60 s: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A directory admin (or a router's) is locked out by a few failed logins: a refused login used
/// to be tried again on every run, so `POST /v1/run` every minute locked the account. Now it is
/// tried once, reported refused, then left alone (and reported not tried) until its vault entry
/// changes.
#[test]
fn a_refused_login_is_not_tried_again_until_its_vault_entry_changes() {
    let (_tmp, ws, identity) = new_workspace();
    let admin = keyreeve::lab::random_password();
    let enable = keyreeve::lab::random_password();
    let lab = Lab::start(LabConfig {
        devices: vec![DeviceSpec {
            name: "rtr1".into(),
            kind: TargetKind::CiscoIos,
            accounts: vec![LabAccount::new("admin", admin.clone(), 15)],
            enable_secret: Some(enable.clone()),
            port: 0,
        }],
        ..LabConfig::default()
    })
    .unwrap();
    let inventory_file = ws.join("keyreeve.toml");
    let mut text = std::fs::read_to_string(&inventory_file).unwrap();
    text.push_str(&format!("\n[clients.acme]\n\n{}", lab.inventory_toml("acme")));
    std::fs::write(&inventory_file, text).unwrap();
    let workspace = Workspace::open(&ws).unwrap();
    let inventory = Inventory::load(&workspace.inventory_file()).unwrap();
    let keys = KeyRing::locate(Some(&identity));
    let store = |key: &str, password: &Password| {
        let account = key.split('/').nth(1).unwrap().to_string();
        Vault::new(&workspace, &inventory, &keys)
            .update("acme", |doc| {
                doc.entries
                    .insert(key.to_string(), Entry::new(&account, password.clone()));
                Ok::<(), keyreeve::vault::VaultError>(())
            })
            .unwrap();
    };
    store("rtr1/admin", &Password::new("Wr0ng-but-stored-1".to_string()));
    store(&format!("rtr1/{ENABLE_ACCOUNT}"), &enable);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let config = ServeConfig {
        workspace: workspace.clone(),
        keys: KeyRing::locate(Some(&identity)),
        client: None,
        every: Duration::from_secs(3600),
        verify: true,
        concurrency: 4,
        compare_days: None,
        token_digest: serve::token_digest(TOKEN.as_bytes()),
        loopback: true,
        min_run_gap: Duration::ZERO,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = rt.spawn(serve::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    let login = "acme/rtr1/admin";

    let first = status_after_run(&addr, 1);
    let run = &first["last_run"];
    assert_eq!(run["rejected"], serde_json::json!([login]), "{first}");
    assert!(
        run["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("authentication failed"),
        "{first}"
    );

    for n in [2, 3] {
        assert_eq!(http(&addr, "POST", "/v1/run").0, 202);
        let again = status_after_run(&addr, n);
        let run = &again["last_run"];
        assert_eq!(run["rejected"], serde_json::json!([]), "{again}");
        assert_eq!(run["not_checked"], serde_json::json!([login]), "{again}");
        let failed = &run["failed"][0];
        assert!(failed["error"].as_str().unwrap().contains("not tried"), "{again}");
        assert!(
            failed["hint"]
                .as_str()
                .unwrap()
                .contains("keyreeve vault set acme/rtr1/admin"),
            "{again}"
        );
    }

    // The password in force is stored: the next run logs in with it.
    store("rtr1/admin", &admin);
    assert_eq!(http(&addr, "POST", "/v1/run").0, 202);
    let fixed = status_after_run(&addr, 4);
    let run = &fixed["last_run"];
    assert_eq!(run["failed"], serde_json::json!([]), "{fixed}");
    assert_eq!(run["rejected"], serde_json::json!([]), "{fixed}");
    assert_eq!(run["not_checked"], serde_json::json!([]), "{fixed}");

    let _ = stop.send(());
    rt.block_on(service).unwrap().unwrap();
    lab.stop();
}

/// The service's log goes to a journal or a file, not a terminal: no colour escape codes in it
/// (tracing's default wrote them whatever stderr was).
#[test]
fn the_log_on_a_pipe_has_no_colour_codes() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    let (tmp, ws, identity) = new_workspace();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .arg("--workspace")
        .arg(&ws)
        .arg("--identity")
        .arg(&identity)
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .env_remove("NO_COLOR")
        .env_remove("KEYREEVE_LOG")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log.contains("run finished") {
        assert!(Instant::now() < deadline, "no run within 30 s: {log}");
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("serve ended early: {log}");
        }
        log.push_str(&line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in the log: {log:?}");
}

/// The unit `--print-systemd-unit` prints is the one in docs/, holds the hardening the README
/// promises, and passes `systemd-analyze verify` (no warning) and `security` (exposure 2.0 at
/// most; a unit without hardening scores 9.6).
#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    use std::process::Command;

    let out = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args(["serve", "--print-systemd-unit"])
        .env("KEYREEVE_WORKSPACE", "/nonexistent")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let unit = String::from_utf8(out.stdout).unwrap();
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/keyreeve.service")).unwrap();
    assert_eq!(unit, shipped);
    for line in [
        "User=keyreeve",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/keyreeve/workspace/state",
        "LoadCredential=passphrase:/etc/keyreeve/passphrase",
        "Environment=KEYREEVE_PASSPHRASE_FILE=%d/passphrase",
        "LimitCORE=0",
    ] {
        assert!(unit.lines().any(|l| l == line), "no `{line}` in the unit");
    }
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(exec.contains("--token-file %d/token"), "{exec}");

    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("KEYREEVE_TEST_WITHOUT_SYSTEMD").is_some(),
            "systemd-analyze is needed to check the unit: install systemd, or set KEYREEVE_TEST_WITHOUT_SYSTEMD=1 to skip this check knowingly"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("keyreeve.service");
    std::fs::write(
        &file,
        unit.replace("/usr/local/bin/keyreeve", env!("CARGO_BIN_EXE_keyreeve")),
    )
    .unwrap();
    let verify = Command::new(analyze).arg("verify").arg(&file).output().unwrap();
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");
    let security = Command::new(analyze)
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        security.status.success(),
        "{}",
        String::from_utf8_lossy(&security.stdout)
    );
}
