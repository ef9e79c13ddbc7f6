//! Foreign text through the real binary: an import file whose names `vault set` would refuse, a
//! snapshot naming a target keyreeve.toml could not hold, and a device account named with
//! terminal escapes. Names are refused where they come in, named and escaped, before anything is
//! written; the device's own text is reported, escaped, on the terminal and in the Markdown.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");

/// A workspace with one identity and client `acme` holding target `rtr1`.
struct Ws {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: String,
}

fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        let _ = child.stdin.take().unwrap().write_all(input);
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
        "{:?}\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("me.txt");
        let mut c = Command::new(BIN);
        c.args(["identity", "new", "-o"]).arg(&key).env("HOME", dir.path());
        let public = ok(&run(c, None)).trim().to_string();
        let ws = Ws { dir, key, public };
        let mut c = ws.bare();
        c.arg("init").arg(ws.root()).args(["--recipient", &ws.public]);
        ok(&run(c, None));
        let inv = ws.root().join("keyreeve.toml");
        let mut t = std::fs::read_to_string(&inv).unwrap();
        t.push_str(
            "\n[[clients.acme.targets]]\nname = \"rtr1\"\nkind = \"cisco-ios\"\naddress = \"127.0.0.1\"\nlogin = \"admin\"\n",
        );
        std::fs::write(&inv, t).unwrap();
        ws
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    fn bare(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("USER", "tech-alice")
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"));
        c
    }

    fn kr(&self, args: &[&str]) -> Command {
        let mut c = self.bare();
        c.env("KEYREEVE_WORKSPACE", self.root())
            .env("KEYREEVE_IDENTITY", &self.key)
            .args(args);
        c
    }

    fn import(&self, file: &Path) -> Output {
        let mut c = self.kr(&["import"]);
        c.arg(file);
        run(c, None)
    }

    /// `plain` encrypted to this workspace's identity with stock `age`, in a file.
    fn sealed(&self, name: &str, plain: &serde_json::Value) -> PathBuf {
        let mut c = Command::new("age");
        c.args(["-e", "-r", &self.public]);
        let out = run(c, Some(plain.to_string().as_bytes()));
        assert!(out.status.success(), "stock age is needed: {}", text(&out.stderr));
        let file = self.dir.path().join(name);
        std::fs::write(&file, out.stdout).unwrap();
        file
    }
}

/// A native export of `client` holding `entries` (key to username), no targets.
fn native_export(client: &str, entries: &[(&str, &str)]) -> serde_json::Value {
    let now = "2026-11-27T17:00:00Z";
    let doc_entries: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(k, user)| {
            let e = serde_json::json!({"username": user, "password": "imported-secret-1", "created": now,
                "rotated_at": null, "verified_at": null, "revealed_at": null});
            (k.to_string(), e)
        })
        .collect();
    let manifest_entries: Vec<serde_json::Value> = entries
        .iter()
        .map(|(k, user)| {
            serde_json::json!({"path": format!("{client}/{k}"), "username": user, "last_rotated": null,
                "last_verified": null, "revealed_since_rotation": false, "last_revealed": null, "warning": null})
        })
        .collect();
    serde_json::json!({
        "format": "keyreeve-export", "version": 1,
        "manifest": {"client": client, "created_at": now, "created_by": {"user": "bob", "key": null},
            "recipients": ["age1x"], "format": "keyreeve", "with_history": false, "entries": manifest_entries},
        "targets": {},
        "vault": {"format": "keyreeve-vault", "version": 1, "client": client, "updated_at": now, "entries": doc_entries},
    })
}

fn audit_lines(ws: &Ws, action: &str) -> usize {
    std::fs::read_to_string(ws.root().join("state/audit.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!("\"action\":\"{action}\"")))
        .count()
}

#[test]
fn a_hostile_import_is_refused_before_anything_is_written() {
    let ws = Ws::new();
    for (key, named) in [
        (
            "ios-001/admin\nusername pwned privilege 15 secret 0 x",
            "entry key `ios-001/admin\\nusername pwned privilege 15 secret 0 x`",
        ),
        ("../../etc/passwd", "entry key `../../etc/passwd`"),
        (
            "rtr1/\u{1b}[2J\u{1b}[Hadmin",
            "entry key `rtr1/\\u{1b}[2J\\u{1b}[Hadmin`",
        ),
    ] {
        let file = ws.sealed(
            "hostile.age",
            &native_export("acme", &[("rtr1/admin", "admin"), (key, "admin")]),
        );
        let out = ws.import(&file);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&file.display().to_string()) && err.contains(named),
            "{err}"
        );
        assert!(err.contains("nothing was imported") && err.contains("hint:"), "{err}");
        assert!(!err.contains('\u{1b}') && !err.contains("\nusername pwned"), "{err:?}");
        assert!(!ws.root().join("vaults/acme.age").exists());
        assert_eq!(audit_lines(&ws, "import"), 0);
    }
    let file = ws.sealed(
        "user.age",
        &native_export("acme", &[("rtr1/admin", "admin\r\nenable secret 0 x")]),
    );
    let err = text(&ws.import(&file).stderr);
    assert!(err.contains("username `admin\\r\\nenable secret 0 x`"), "{err}");
    assert!(!ws.root().join("vaults/acme.age").exists());

    // A sound export of a client the inventory lacks, with no target: the hint names the command
    // and the one line that add the client, and the same import then works.
    let file = ws.sealed("initech.age", &native_export("initech", &[("fw1/admin", "admin")]));
    let out = ws.import(&file);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("keyreeve client add initech") && err.contains("\n[clients.initech]\n"),
        "{err}"
    );
    let inv = ws.root().join("keyreeve.toml");
    let mut t = std::fs::read_to_string(&inv).unwrap();
    t.push_str("\n[clients.initech]\n");
    std::fs::write(&inv, t).unwrap();
    ok(&ws.import(&file));
    assert_eq!(audit_lines(&ws, "import"), 1);
}

fn write_snapshot(ws: &Ws, target: &str, account: &str, privilege: &str) -> PathBuf {
    let dir = ws.root().join("state/snapshots/acme/rtr1");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("20261127T231609.340Z.json");
    let snapshot = serde_json::json!({"target": target, "kind": "cisco-ios", "taken_at": "2026-11-27T23:16:09.340Z",
    "accounts": [
        {"name": "admin", "kind": "user", "privilege": "privilege 15", "admin": true, "enabled": true,
         "in_vault": "no", "flagged": true},
        {"name": account, "kind": "user", "privilege": privilege, "admin": true, "enabled": true,
         "in_vault": "no", "flagged": true},
    ]});
    std::fs::write(&file, serde_json::to_string_pretty(&snapshot).unwrap()).unwrap();
    file
}

#[test]
fn review_reports_a_hostile_account_escaped_and_refuses_a_forged_snapshot() {
    let ws = Ws::new();
    let name = "\u{1b}[2K\rbackdoor\u{202e}";
    write_snapshot(&ws, "acme/rtr1", name, "privilege 15\n| forged | row |");
    let shown = "\\u{1b}[2K\\rbackdoor\\u{202e}";
    let out = run(ws.kr(&["review", "--client", "acme", "--fail-on", "never"]), None);
    let table = ok(&out);
    assert!(table.contains(&format!("acme/rtr1/{shown}")), "{table}");
    assert!(!table.contains(['\u{1b}', '\r', '\u{202e}']), "{table:?}");

    let report = ws.dir.path().join("review.md");
    let mut c = ws.kr(&[
        "review",
        "--client",
        "acme",
        "--format",
        "markdown",
        "--fail-on",
        "never",
        "-o",
    ]);
    c.arg(&report);
    ok(&run(c, None));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(!md.contains(['\u{1b}', '\r', '\u{202e}']), "{md:?}");
    assert!(md.contains("privilege 15 \\| forged \\| row \\|"), "{md}");
    for line in md.lines().filter(|l| l.starts_with("| `")) {
        // The roster's eleven columns (type, times, Protected Users, delegation among them).
        assert_eq!(line.replace("\\|", "").matches('|').count(), 12, "{line}");
    }

    let file = write_snapshot(&ws, "acme/rtr1\n\u{1b}[2J", "admin2", "privilege 15");
    let out = run(ws.kr(&["review", "--client", "acme"]), None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("target `acme/rtr1\\n\\u{1b}[2J`"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(Path::new(&file).exists(), "the snapshot is left where it is");
}

/// A device that echoes the password it was given reversed, base64-encoded and cut across two
/// lines: the error quoting it holds no run of four characters of the password in any of those
/// forms (an exact-match redaction let 23 of 24 characters through).
#[test]
fn a_device_echoing_a_password_mangled_leaks_no_fragment_of_it_in_the_error() {
    use keyreeve::connector::{self, ChangeMethod, ConnectContext, Credentials};
    use keyreeve::inventory::{Inventory, LoginMethod, TargetKind};
    use keyreeve::lab::{DeviceSpec, Fault, Lab, LabAccount, LabConfig};
    use keyreeve::Password;

    let admin = "Adm1n-Secret.42";
    let old = Password::new("Net0ps+Secret");
    let lab = Lab::start(LabConfig {
        devices: vec![DeviceSpec {
            name: "r1".into(),
            kind: TargetKind::CiscoIos,
            accounts: vec![
                LabAccount::new("admin", Password::new(admin), 15),
                LabAccount::new("netops", old.clone(), 15),
            ],
            enable_secret: Some(Password::new("En4ble%Secret")),
            port: 0,
        }],
        auth_rejection_time: std::time::Duration::from_millis(50),
        ..LabConfig::default()
    })
    .unwrap();
    let info = lab.devices().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let inventory = format!(
        "[[clients.lab.targets]]\nname = \"r1\"\nkind = \"cisco-ios\"\naddress = \"{}\"\nport = {}\nlogin = \"admin\"\n\
         enable = \"enable\"\nhost_key = \"{}\"\nconnect_timeout = 3\ncommand_timeout = 20\n",
        info.address, info.port, info.host_key_fingerprint
    );
    let inventory = Inventory::parse(&inventory, Path::new("keyreeve.toml")).unwrap();
    let ctx = ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use: false,
        directory: Default::default(),
    };
    let c = connector::for_target(inventory.target("lab", "r1").unwrap(), &ctx).unwrap();
    let login = Credentials {
        username: "admin".into(),
        method: LoginMethod::Password,
        secret: Password::new(admin),
        enable: Some(Password::new("En4ble%Secret")),
    };
    lab.set_fault("r1", Fault::EchoMangled).unwrap();
    let new = Password::new("Kq7vR2xTm9pL4wZ8nB3eYc6H");
    let mut session = c.open(&login).unwrap();
    let err = session
        .change_password("netops", ChangeMethod::AdminReset, &old, &new)
        .expect_err("the device answered with errors");
    let shown = err.to_string();
    assert!(
        shown.contains("% Error: rejected") && shown.contains("********"),
        "{shown}"
    );
    use base64::Engine;
    let forms = [
        new.expose().to_string(),
        new.expose().chars().rev().collect(),
        base64::engine::general_purpose::STANDARD.encode(new.expose()),
    ];
    for form in &forms {
        for i in 0..=form.len() - 4 {
            assert!(
                !shown.contains(&form[i..i + 4]),
                "`{}` of {form} in: {shown}",
                &form[i..i + 4]
            );
        }
    }
}

/// `discover` prints a device's account names as the device reports them: an admin named with a
/// right-to-left override (which survives the engine's removal of terminal escapes) is listed,
/// escaped, never obeyed.
#[test]
fn discover_lists_a_hostile_account_name_escaped() {
    use keyreeve::inventory::TargetKind;
    use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig};
    use keyreeve::Password;

    let ws = Ws::new();
    let lab = Lab::start(LabConfig {
        devices: vec![DeviceSpec {
            name: "sw1".into(),
            kind: TargetKind::CiscoIos,
            accounts: vec![
                LabAccount::new("admin", Password::new("Adm1n-Secret.42"), 15),
                LabAccount::new("back\u{202e}door", Password::new("B4ckd00r-Secret"), 15),
            ],
            enable_secret: Some(Password::new("En4ble%Secret")),
            port: 0,
        }],
        auth_rejection_time: std::time::Duration::from_millis(50),
        ..LabConfig::default()
    })
    .unwrap();
    let inv = ws.root().join("keyreeve.toml");
    let mut t = std::fs::read_to_string(&inv).unwrap();
    t.push('\n');
    t.push_str(&lab.inventory_toml("acme"));
    std::fs::write(&inv, t).unwrap();
    for (path, secret) in [
        ("acme/sw1/admin", "Adm1n-Secret.42"),
        ("acme/sw1/enable", "En4ble%Secret"),
    ] {
        ok(&run(ws.kr(&["vault", "set", path]), Some(secret.as_bytes())));
    }
    let out = run(ws.kr(&["discover", "--target", "acme/sw1"]), None);
    let shown = text(&out.stdout) + &text(&out.stderr);
    assert!(shown.contains("back\\u{202e}door"), "{shown}");
    assert!(!shown.contains('\u{202e}'), "{shown:?}");
}
