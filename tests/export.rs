//! End-to-end tests of handover vaults (`keyreeve export`, `import`, `offboard`) and of the audit
//! log they write to (`keyreeve log`, `keyreeve log verify`), through the real binary, with
//! Debian's stock `age` and `keepassxc-cli` opening what keyreeve wrote. Secrets reach the tools
//! on stdin or in files, never in argv.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use chrono::{Duration, Utc};
use keyreeve::inventory::Inventory;
use keyreeve::keys::KeyRing;
use keyreeve::vault::{Vault, VaultDocument, VaultError};
use keyreeve::workspace::Workspace;
use keyreeve::Password;

const RTR_PASSWORD: &str = "Rtr-pa$$,\"quoted\"<&>";
const DC_PASSWORD: &str = "dc-secret-ünïcode";
const LINUX_PASSWORD: &str = "linux root pass with spaces";
const OLD_RTR_PASSWORD: &str = "old-rtr-pass";

const INVENTORY_CLIENTS: &str = r#"
[[clients.acme.targets]]
name = "core-rtr1"
kind = "cisco-ios"
address = "10.0.0.1"
login = "admin"

[[clients.acme.targets]]
name = "dc1"
kind = "active-directory"
url = "ldaps://dc1.acme.example:636"
base_dn = "DC=acme,DC=example"
login = "svc-backup"

[[clients.acme.targets]]
name = "web1"
kind = "linux"
address = "192.0.2.10"
port = 2222
login = "root"

[[clients.globex.targets]]
name = "fw1"
kind = "fortios"
address = "10.9.9.9"
login = "admin"
"#;

/// A stock tool the tests need; missing is a loud failure, never a skip.
fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` missing: apt-get install {package} (tests/lab/up.sh installs it)");
}

/// Runs stock `age -d` on a pseudo-terminal (util-linux `script`) and types `passphrase` once age
/// has asked for it. `exec` and `timeout --foreground` keep age in the terminal's foreground
/// process group whatever `$SHELL` is: in a background group its terminal setup would stop it
/// with SIGTTOU, which is how this test once hung under dash. Returns whether age succeeded and
/// what the terminal showed.
fn age_decrypt_on_a_terminal(file: &Path, plain: &Path, passphrase: &str) -> (bool, String) {
    use std::io::Read;
    use std::sync::mpsc;
    use std::time::{Duration as StdDuration, Instant};

    let mut child = std::process::Command::new(tool("script", "bsdutils"))
        .arg("-qec")
        .arg(format!(
            "exec timeout --foreground 120 {} -d -o {} {}",
            tool("age", "age").display(),
            plain.display(),
            file.display()
        ))
        .arg("/dev/null")
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut terminal_output = child.stdout.take().unwrap();
    let (seen_tx, seen_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut chunk = [0u8; 512];
        let mut prompted = false;
        while let Ok(n) = terminal_output.read(&mut chunk) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&chunk[..n]);
            if !prompted && String::from_utf8_lossy(&shown).contains("passphrase") {
                prompted = true;
                let _ = seen_tx.send(());
            }
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    // Held open until age is done: an end of input could reach the terminal before age reads.
    let mut terminal_input = child.stdin.take().unwrap();
    if seen_rx.recv_timeout(StdDuration::from_secs(60)).is_ok() {
        terminal_input.write_all(format!("{passphrase}\n").as_bytes()).unwrap();
        terminal_input.flush().unwrap();
    }
    let deadline = Instant::now() + StdDuration::from_secs(150);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    }
    let status = child.wait().unwrap();
    drop(terminal_input);
    (status.success(), reader.join().unwrap())
}

/// A workspace with its own identity.
struct Ws {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    identity: PathBuf,
    public: String,
}

impl Ws {
    fn new() -> Ws {
        let tmp = tempfile::tempdir().unwrap();
        let identity = tmp.path().join("id.txt");
        let out = bare().args(["identity", "new", "-o"]).arg(&identity).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(public.starts_with("age1"), "{public}");
        let root = tmp.path().join("ws");
        let out = bare().arg("init").arg(&root).args(["-r", &public]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut inv = std::fs::OpenOptions::new()
            .append(true)
            .open(root.join("keyreeve.toml"))
            .unwrap();
        inv.write_all(INVENTORY_CLIENTS.as_bytes()).unwrap();
        Ws {
            _tmp: tmp,
            root,
            identity,
            public,
        }
    }

    fn dir(&self) -> &Path {
        self._tmp.path()
    }

    fn cmd(&self) -> Command {
        let mut c = bare();
        c.arg("--workspace")
            .arg(&self.root)
            .env("KEYREEVE_IDENTITY", &self.identity);
        c
    }

    fn set(&self, path: &str, secret: &str) {
        self.cmd()
            .args(["vault", "set", path])
            .write_stdin(secret)
            .assert()
            .success();
    }

    /// Changes a client's vault through the library (for metadata no command sets directly).
    fn update(&self, client: &str, change: impl FnOnce(&mut VaultDocument)) {
        let ws = Workspace::open(&self.root).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::with_identity_file(Some(self.identity.clone()));
        Vault::new(&ws, &inv, &keys)
            .update(client, |doc| {
                change(doc);
                Ok::<_, VaultError>(())
            })
            .unwrap();
    }

    fn load(&self, client: &str) -> VaultDocument {
        let ws = Workspace::open(&self.root).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::with_identity_file(Some(self.identity.clone()));
        Vault::new(&ws, &inv, &keys).load(client).unwrap()
    }

    /// acme with three accounts: the router rotated once (history) and revealed since, the
    /// directory account whose last verification failed, the Linux root never rotated.
    fn with_acme(self) -> Ws {
        self.set("acme/core-rtr1/admin", OLD_RTR_PASSWORD);
        self.set("acme/dc1/svc-backup", DC_PASSWORD);
        self.set("acme/web1/root", LINUX_PASSWORD);
        self.set("globex/fw1/admin", "globex-secret");
        self.update("acme", |doc| {
            let now = Utc::now();
            let rtr = doc.entries.get_mut("core-rtr1/admin").unwrap();
            rtr.replace_password(Password::new(RTR_PASSWORD), now - Duration::days(3));
            rtr.verified_at = Some(now - Duration::days(2));
            rtr.notes = "core router, line one\nline two".into();
            let dc = doc.entries.get_mut("dc1/svc-backup").unwrap();
            dc.verified_at = Some(now - Duration::days(5));
            dc.verify_failed_at = Some(now - Duration::days(1));
        });
        // A reveal through the CLI: recorded in the entry and the audit log.
        let out = self
            .cmd()
            .args(["vault", "get", "acme/core-rtr1/admin"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), RTR_PASSWORD);
        self
    }
}

fn bare() -> Command {
    let mut c = Command::cargo_bin("keyreeve").unwrap();
    c.env_remove("KEYREEVE_WORKSPACE")
        .env_remove("KEYREEVE_IDENTITY")
        .env_remove("KEYREEVE_PASSPHRASE_FILE")
        .env("USER", "tech-alice");
    c
}

/// A receiver's identity: (identity file, public key).
fn receiver(dir: &Path) -> (PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let path = dir.join("receiver.txt");
    use age::secrecy::ExposeSecret;
    std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
    (path, id.to_public().to_string())
}

/// `age -d -i IDENTITY FILE` with Debian's age.
fn age_decrypt(identity: &Path, file: &Path) -> Vec<u8> {
    let out = std::process::Command::new(tool("age", "age"))
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn export(ws: &Ws, args: &[&str], out: &Path) -> std::process::Output {
    ws.cmd().arg("export").args(args).arg("-o").arg(out).output().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn every_format_opens_with_stock_age_and_parses() {
    let ws = Ws::new().with_acme();
    let (rid, rkey) = receiver(ws.dir());
    let out_dir = ws.dir().join("out");
    std::fs::create_dir(&out_dir).unwrap();

    for (format, armor) in [
        ("keyreeve", false),
        ("json", true),
        ("csv", false),
        ("bitwarden", true),
        ("keepass-xml", false),
    ] {
        let file = out_dir.join(format!("acme.{format}.age"));
        let mut args = vec!["--client", "acme", "--format", format, "-r", &rkey];
        if armor {
            args.push("--armor");
        }
        let out = export(&ws, &args, &file);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = std::fs::read(&file).unwrap();
        assert_eq!(
            raw.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"),
            armor,
            "{format}"
        );
        assert!(!raw.windows(RTR_PASSWORD.len()).any(|w| w == RTR_PASSWORD.as_bytes()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let plain = age_decrypt(&rid, &file);
        match format {
            "keyreeve" => check_native(&plain),
            "json" => check_json(&plain),
            "csv" => check_csv(&plain),
            "bitwarden" => check_bitwarden(&serde_json::from_slice(&plain).unwrap()),
            "keepass-xml" => check_keepass_xml(&plain),
            _ => unreachable!(),
        }
    }
    // The workspace's own key is not a recipient: stock age refuses it.
    let out = std::process::Command::new(tool("age", "age"))
        .arg("-d")
        .arg("-i")
        .arg(&ws.identity)
        .arg(out_dir.join("acme.keyreeve.age"))
        .output()
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    // Only the five exports: no temporary file left behind.
    assert_eq!(files_in(&out_dir).len(), 5, "{:?}", files_in(&out_dir));
}

fn check_native(plain: &[u8]) {
    let v: serde_json::Value = serde_json::from_slice(plain).unwrap();
    assert_eq!(v["format"], "keyreeve-export");
    assert_eq!(v["vault"]["client"], "acme");
    assert_eq!(v["vault"]["entries"]["core-rtr1/admin"]["password"], RTR_PASSWORD);
    // Without --with-history, earlier passwords stay home.
    assert_eq!(
        v["vault"]["entries"]["core-rtr1/admin"]["history"],
        serde_json::json!([])
    );
    assert!(
        !String::from_utf8_lossy(plain).contains("globex"),
        "another client's data leaked"
    );
    check_manifest(&v["manifest"]);
}

fn check_manifest(m: &serde_json::Value) {
    assert_eq!(m["client"], "acme");
    assert_eq!(m["created_by"]["user"], "tech-alice");
    assert!(m["created_by"]["key"].as_str().unwrap().starts_with("age1"));
    assert!(m["created_at"].as_str().is_some());
    let entries = m["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let find = |p: &str| entries.iter().find(|e| e["path"] == p).unwrap().clone();
    let rtr = find("acme/core-rtr1/admin");
    assert_eq!(rtr["revealed_since_rotation"], true);
    assert!(rtr["last_rotated"].is_string() && rtr["last_verified"].is_string());
    assert!(rtr["warning"].is_null());
    let dc = find("acme/dc1/svc-backup");
    assert_eq!(dc["revealed_since_rotation"], false);
    assert!(dc["warning"].as_str().unwrap().contains("failed its last verification"));
    assert!(find("acme/web1/root")["last_rotated"].is_null());
}

fn check_json(plain: &[u8]) {
    let v: serde_json::Value = serde_json::from_slice(plain).unwrap();
    assert_eq!(v["format"], "keyreeve-handover");
    assert_eq!(v["version"], 1);
    check_manifest(&v["manifest"]);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let web = entries.iter().find(|e| e["path"] == "acme/web1/root").unwrap();
    for field in [
        "path",
        "target",
        "account",
        "username",
        "password",
        "kind",
        "address",
        "port",
        "url",
        "notes",
        "created",
        "rotated_at",
        "verified_at",
        "verify_failed_at",
        "revealed_at",
        "revealed_since_rotation",
        "warning",
        "history",
    ] {
        assert!(web.get(field).is_some(), "json entry lacks documented field `{field}`");
    }
    assert_eq!(web["password"], LINUX_PASSWORD);
    assert_eq!(web["port"], 2222);
    assert_eq!(web["kind"], "linux");
}

fn check_csv(plain: &[u8]) {
    let mut r = csv::Reader::from_reader(plain);
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&headers[..5], ["username", "password", "target", "address", "notes"]);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let rtr = rows.iter().find(|r| &r[col("path")] == "acme/core-rtr1/admin").unwrap();
    assert_eq!(&rtr[1], RTR_PASSWORD);
    assert_eq!(&rtr[3], "10.0.0.1");
    assert_eq!(&rtr[4], "core router, line one\nline two");
    assert_eq!(&rtr[col("revealed_since_rotation")], "yes");
    let dc = rows.iter().find(|r| &r[2] == "dc1").unwrap();
    assert_eq!(&dc[1], DC_PASSWORD);
    assert!(dc[col("warning")].contains("failed"));
    assert_eq!(&dc[col("exported_by")][..10], "tech-alice");
}

/// Bitwarden's unencrypted JSON import format (personal vault), as documented in "Condition a
/// Bitwarden .csv or .json": `folders` of {id, name}; `items` with id, organizationId, folderId,
/// type (1 login, 2 secure note), name, notes, favorite, fields of {name, value, type 0..3},
/// login {uris [{match, uri}], username, password, totp} for type 1, secureNote {} for type 2,
/// collectionIds.
fn check_bitwarden(v: &serde_json::Value) {
    let root = v.as_object().unwrap();
    for key in root.keys() {
        assert!(
            ["encrypted", "folders", "items"].contains(&key.as_str()),
            "unknown root key {key}"
        );
    }
    assert_eq!(v["encrypted"], false);
    let folders = v["folders"].as_array().unwrap();
    let folder_ids: Vec<&str> = folders
        .iter()
        .map(|f| {
            assert!(f["name"].is_string());
            let id = f["id"].as_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "folder id {id} is not a UUID");
            id
        })
        .collect();
    assert_eq!(folders[0]["name"], "acme");
    let items = v["items"].as_array().unwrap();
    let mut logins = 0;
    for item in items {
        assert!(uuid::Uuid::parse_str(item["id"].as_str().unwrap()).is_ok());
        assert!(item["organizationId"].is_null());
        assert!(folder_ids.contains(&item["folderId"].as_str().unwrap()));
        assert!(item["name"].is_string());
        assert!(item["notes"].is_null() || item["notes"].is_string());
        assert!(item["favorite"].is_boolean());
        assert!(item["collectionIds"].is_null());
        for f in item["fields"].as_array().unwrap() {
            assert!(f["name"].is_string() && f["value"].is_string());
            assert!((0..=3).contains(&f["type"].as_u64().unwrap()));
        }
        match item["type"].as_u64().unwrap() {
            1 => {
                logins += 1;
                let login = item["login"].as_object().unwrap();
                assert!(login["username"].is_string() && login["password"].is_string());
                assert!(login["totp"].is_null() || login["totp"].is_string());
                for u in login["uris"].as_array().unwrap() {
                    assert!(u["match"].is_null() || u["match"].is_u64());
                    assert!(u["uri"].is_string());
                }
            }
            2 => {
                assert!(item["secureNote"].is_object());
                assert!(item["notes"].as_str().unwrap().contains("acme/dc1/svc-backup"));
            }
            t => panic!("unexpected item type {t}"),
        }
    }
    assert_eq!(logins, 3);
    let rtr = items.iter().find(|i| i["name"] == "core-rtr1/admin").unwrap();
    assert_eq!(rtr["login"]["password"], RTR_PASSWORD);
    assert_eq!(rtr["login"]["uris"][0]["uri"], "ssh://10.0.0.1:22");
    let dc = items.iter().find(|i| i["name"] == "dc1/svc-backup").unwrap();
    assert_eq!(dc["login"]["uris"][0]["uri"], "ldaps://dc1.acme.example:636");
    assert!(dc["fields"].as_array().unwrap().iter().any(|f| f["name"] == "warning"));
}

fn check_keepass_xml(plain: &[u8]) {
    let text = std::str::from_utf8(plain).unwrap();
    assert!(text.contains("<KeePassFile>") && text.contains("<Name>acme</Name>"));
    let mut reader = quick_xml::Reader::from_str(text);
    let mut entries = 0;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"Entry" => entries += 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(entries, 4, "the manifest entry and three accounts");
}

/// Runs keepassxc-cli with `stdin` (passwords go there, never on the command line).
fn keepassxc(args: &[&std::ffi::OsStr], stdin: &str) -> std::process::Output {
    let mut child = std::process::Command::new(tool("keepassxc-cli", "keepassxc"))
        .args(args)
        .env("QT_QPA_PLATFORM", "offscreen")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn keepass_xml_imports_into_keepassxc_and_reads_back() {
    let ws = Ws::new().with_acme();
    let (rid, rkey) = receiver(ws.dir());
    let file = ws.dir().join("acme.kpx.age");
    let out = export(
        &ws,
        &[
            "--client",
            "acme",
            "--format",
            "keepass-xml",
            "--with-history",
            "-r",
            &rkey,
        ],
        &file,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let xml = ws.dir().join("acme.xml");
    std::fs::write(&xml, age_decrypt(&rid, &file)).unwrap();
    let kdbx = ws.dir().join("acme.kdbx");
    let db_password = "kdbx-test-password";
    let out = keepassxc(
        &["import".as_ref(), "-p".as_ref(), xml.as_os_str(), kdbx.as_os_str()],
        &format!("{db_password}\n{db_password}\n"),
    );
    assert!(
        out.status.success() && kdbx.is_file(),
        "keepassxc-cli import failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = keepassxc(
        &[
            "show".as_ref(),
            "-s".as_ref(),
            "-a".as_ref(),
            "UserName".as_ref(),
            "-a".as_ref(),
            "Password".as_ref(),
            "-a".as_ref(),
            "URL".as_ref(),
            "-a".as_ref(),
            "keyreeve.revealed_since_rotation".as_ref(),
            kdbx.as_os_str(),
            "core-rtr1/admin".as_ref(),
        ],
        &format!("{db_password}\n"),
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "keepassxc-cli show failed: {shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines, ["admin", RTR_PASSWORD, "ssh://10.0.0.1:22", "yes"], "{shown}");

    let out = keepassxc(
        &[
            "show".as_ref(),
            "-s".as_ref(),
            "-a".as_ref(),
            "Password".as_ref(),
            kdbx.as_os_str(),
            "dc1/svc-backup".as_ref(),
        ],
        &format!("{db_password}\n"),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), DC_PASSWORD);
}

#[test]
fn native_round_trip_a_to_b_keeps_every_entry_equal() {
    let a = Ws::new().with_acme();
    let b = Ws::new();
    let file = a.dir().join("handover.age");
    let out = export(&a, &["--client", "acme", "--with-history", "-r", &b.public], &file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A wrong identity cannot open it, and nothing changes in B.
    let out = b
        .cmd()
        .env("KEYREEVE_IDENTITY", &a.identity)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not encrypted to"));
    assert!(!b.root.join("vaults/acme.age").exists());

    let out = b.cmd().arg("import").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (da, db) = (a.load("acme"), b.load("acme"));
    assert_eq!(da.entries.len(), 3);
    assert_eq!(da.entries, db.entries, "every entry, metadata and history equal");
    assert_eq!(
        db.entries["core-rtr1/admin"].history[0].password.expose(),
        OLD_RTR_PASSWORD
    );

    // Again: refused as a conflict, nothing changed; with --replace, accepted.
    let before = std::fs::read(b.root.join("vaults/acme.age")).unwrap();
    let out = b.cmd().arg("import").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("would overwrite 3 existing entries") && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(std::fs::read(b.root.join("vaults/acme.age")).unwrap(), before);
    b.update("acme", |doc| {
        doc.entries.get_mut("web1/root").unwrap().password = Password::new("changed-in-b");
    });
    b.cmd().arg("import").arg(&file).arg("--replace").assert().success();
    let web = &b.load("acme").entries["web1/root"];
    assert_eq!(web.password.expose(), LINUX_PASSWORD);
    assert!(
        web.history.iter().any(|h| h.password.expose() == "changed-in-b"),
        "--replace must keep the password it replaces"
    );

    // A client the inventory does not list: refused, with the tables to paste.
    let out = b
        .cmd()
        .arg("import")
        .arg(&file)
        .args(["--client", "initech"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("client `initech` is not in"), "{err}");
    assert!(
        err.contains("[[clients.initech.targets]]") && err.contains("base_dn = \"DC=acme,DC=example\""),
        "{err}"
    );
    assert!(!b.root.join("vaults/initech.age").exists());

    // Under another client name.
    b.cmd()
        .arg("import")
        .arg(&file)
        .args(["--client", "globex"])
        .assert()
        .success();
    assert_eq!(b.load("globex").entries.len(), 3);

    // Both sides' audit logs say what happened, with keys and no secret.
    let log_a = std::fs::read_to_string(a.root.join("state/audit.log")).unwrap();
    let export_line: serde_json::Value = log_a
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "export")
        .unwrap();
    assert_eq!(export_line["subject"], "acme");
    assert_eq!(export_line["details"]["recipients"], serde_json::json!([b.public]));
    assert_eq!(export_line["actor_key"], a.public.as_str());
    assert_eq!(export_line["user"], "tech-alice");
    let log_b = std::fs::read_to_string(b.root.join("state/audit.log")).unwrap();
    assert_eq!(log_b.lines().filter(|l| l.contains("\"action\":\"import\"")).count(), 3);
    for log in [&log_a, &log_b] {
        for secret in [RTR_PASSWORD, DC_PASSWORD, LINUX_PASSWORD, OLD_RTR_PASSWORD] {
            let json_form = serde_json::to_string(secret).unwrap();
            assert!(
                !log.contains(&json_form[1..json_form.len() - 1]),
                "secret in the audit log"
            );
        }
    }
    a.cmd().args(["log", "verify"]).assert().code(0);
    b.cmd().args(["log", "verify"]).assert().code(0);
}

#[test]
fn passphrase_and_ssh_exports_open() {
    let a = Ws::new().with_acme();
    let b = Ws::new();
    // Passphrase: from KEYREEVE_PASSPHRASE_FILE, never argv; the receiving keyreeve reads it the same way.
    let pass_file = a.dir().join("pass.txt");
    std::fs::write(&pass_file, "correct horse battery staple\n").unwrap();
    let file = a.dir().join("pass.age");
    let out = a
        .cmd()
        .env("KEYREEVE_PASSPHRASE_FILE", &pass_file)
        .args(["export", "--client", "acme", "--passphrase", "--armor", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = b.cmd().arg("import").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no passphrase source: must fail");
    b.cmd()
        .env("KEYREEVE_PASSPHRASE_FILE", &pass_file)
        .arg("import")
        .arg(&file)
        .assert()
        .success();
    assert_eq!(b.load("acme").entries["dc1/svc-backup"].password.expose(), DC_PASSWORD);
    // Stock age opens it too; it reads a passphrase only from a terminal.
    let plain = a.dir().join("pass.json");
    let (opened, transcript) = age_decrypt_on_a_terminal(&file, &plain, "correct horse battery staple");
    assert!(
        opened && plain.is_file(),
        "stock age could not open the passphrase export; its terminal showed: {transcript}"
    );
    check_native(&std::fs::read(&plain).unwrap());

    // ssh-ed25519 recipient, opened by stock age with the OpenSSH private key.
    let key = a.dir().join("id_ed25519");
    let st = std::process::Command::new(tool("ssh-keygen", "openssh-client"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "receiver@example", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let file = a.dir().join("ssh.age");
    let out = a
        .cmd()
        .args(["export", "--client", "acme", "--format", "json", "--recipients-file"])
        .arg(key.with_extension("pub"))
        .arg("-o")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check_json(&age_decrypt(&key, &file));
}

#[test]
fn refusals_are_clear_and_leave_no_file() {
    let ws = Ws::new().with_acme();
    let (_rid, rkey) = receiver(ws.dir());
    let out_dir = ws.dir().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("x.age");
    let bad_file = ws.dir().join("recipients.txt");
    std::fs::write(&bad_file, format!("# receiver\n{rkey}\nage1broken\n")).unwrap();
    let not_a_dir = ws.dir().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();

    let cases: Vec<(Vec<String>, PathBuf, &str)> = vec![
        (
            vec!["--client".into(), "acme".into()],
            target.clone(),
            "no recipient given",
        ),
        (
            vec!["--client".into(), "acme".into(), "-r".into(), "age1notavalidkey".into()],
            target.clone(),
            "not a recipient",
        ),
        (
            vec![
                "--client".into(),
                "acme".into(),
                "-R".into(),
                bad_file.display().to_string(),
            ],
            target.clone(),
            "recipients.txt:3",
        ),
        (
            vec!["--client".into(), "initech".into(), "-r".into(), rkey.clone()],
            target.clone(),
            "unknown client `initech`",
        ),
        (
            vec!["--client".into(), "acme".into(), "-r".into(), rkey.clone()],
            not_a_dir.join("x.age"),
            "cannot create a file in",
        ),
        (
            vec!["--client".into(), "acme".into(), "-r".into(), rkey.clone()],
            ws.dir().join("missing/x.age"),
            "cannot create a file in",
        ),
        (
            vec![
                "--client".into(),
                "acme".into(),
                "-r".into(),
                rkey.clone(),
                "--format".into(),
                "csv".into(),
                "--with-history".into(),
            ],
            target.clone(),
            "csv format carries current passwords only",
        ),
    ];
    for (args, out, expected) in cases {
        let o = ws.cmd().arg("export").args(&args).arg("-o").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: expected `{expected}` in: {err}");
        assert!(err.contains("hint:"), "{args:?}: no hint in: {err}");
        assert!(!out.exists());
        assert!(files_in(&out_dir).is_empty(), "{args:?} left {:?}", files_in(&out_dir));
    }
    // An existing file is not replaced without --force.
    std::fs::write(&target, "keep me").unwrap();
    let o = export(&ws, &["--client", "acme", "-r", &rkey], &target);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert_eq!(files_in(&out_dir), ["x.age"]);
    export(&ws, &["--client", "acme", "-r", &rkey, "--force"], &target);
    assert_ne!(std::fs::read_to_string(&target).unwrap_or_default(), "keep me");

    // No refused export reached the audit log; the one that went through did.
    let log = std::fs::read_to_string(ws.root.join("state/audit.log")).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains("\"action\":\"export\"")).count(), 1);

    // A pending rotation is not handed over.
    ws.update("acme", |doc| {
        let e = doc.entries.get_mut("web1/root").unwrap();
        e.state = keyreeve::vault::EntryState::Pending;
    });
    let o = export(&ws, &["--client", "acme", "-r", &rkey], &out_dir.join("p.age"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("keyreeve recover"));
    assert!(!out_dir.join("p.age").exists());
}

#[test]
fn offboard_prints_the_closing_plan() {
    let ws = Ws::new().with_acme();
    let (_rid, rkey) = receiver(ws.dir());
    let out = ws
        .cmd()
        .args(["offboard", "--client", "acme", "-r", &rkey, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["accounts"], 3);
    let revealed = plan["revealed"].as_array().unwrap();
    assert_eq!(revealed.len(), 1);
    assert_eq!(revealed[0]["path"], "acme/core-rtr1/admin");
    assert_eq!(revealed[0]["revealed_by"], serde_json::json!(["tech-alice"]));
    let commands: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["commands"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
        })
        .collect();
    let position = |needle: &str| {
        commands
            .iter()
            .position(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {commands:#?}"))
    };
    let plan_at = position("keyreeve plan --client acme --revealed");
    let apply_at = position("keyreeve apply");
    let export_at = position(&format!(
        "keyreeve export --client acme --format keyreeve --recipient {rkey}"
    ));
    let rm_at = position("keyreeve vault rm acme/web1/root");
    assert!(plan_at < apply_at && apply_at < export_at && export_at < rm_at);

    let out = ws
        .cmd()
        .args(["offboard", "--client", "acme", "--all"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("keyreeve plan --client acme --all"), "{text}");
    assert!(text.contains("RECEIVER_PUBLIC_KEY"), "{text}");
    for secret in [RTR_PASSWORD, DC_PASSWORD, LINUX_PASSWORD] {
        assert!(!text.contains(secret));
    }
    ws.cmd().args(["offboard", "--client", "initech"]).assert().code(2);
    ws.cmd()
        .args(["offboard", "--client", "acme", "-r", "age1bogus"])
        .assert()
        .code(2);
}

#[test]
fn log_verify_names_the_first_changed_line_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keyreeve.toml"), "").unwrap();
    let ws = Workspace::open(tmp.path()).unwrap();
    for i in 0..4 {
        keyreeve::audit_log::record(
            &ws,
            Some("age1examplekey"),
            "vault.get",
            &format!("acme/rtr{i}/admin"),
            serde_json::json!({"n": i}),
        )
        .unwrap();
    }
    let log_cmd = || {
        let mut c = bare();
        c.arg("--workspace").arg(tmp.path());
        c
    };
    let out = log_cmd().arg("log").output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("acme/rtr3/admin") && table.contains("vault.get"),
        "{table}"
    );

    let out = log_cmd()
        .args(["log", "--json", "--subject", "acme/rtr1"])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["subject"], "acme/rtr1/admin");
    assert_eq!(lines[0]["seq"], 2);

    log_cmd().args(["log", "verify"]).assert().code(0);

    let log = ws.audit_log_file();
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("acme/rtr1/admin", "acme/rtr7/admin", 1)).unwrap();
    let out = log_cmd().args(["log", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("first bad line 2"), "{said}");
    std::fs::write(&log, &text).unwrap();

    // Reordered lines, and lines cut off the end.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(0, 1);
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = log_cmd().args(["log", "verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problem"]["line"], 1);
    let first_three: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, first_three).unwrap();
    let out = log_cmd().args(["log", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("first bad line 4"));
}

#[test]
fn concurrent_processes_append_one_unbroken_chain() {
    let ws = Ws::new();
    ws.set("acme/core-rtr1/admin", RTR_PASSWORD);
    let children: Vec<std::process::Child> = (0..12)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("keyreeve"))
                .arg("--workspace")
                .arg(&ws.root)
                .args(["vault", "get", "acme/core-rtr1/admin"])
                .env("KEYREEVE_IDENTITY", &ws.identity)
                .env_remove("KEYREEVE_PASSPHRASE_FILE")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let out = ws.cmd().args(["log", "verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // one `vault.set` and twelve `vault.get`
    assert_eq!(v["lines"], 13);
}
