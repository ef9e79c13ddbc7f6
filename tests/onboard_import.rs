//! End-to-end tests of the onboarding import (`keyreeve import --format csv|keepass-xml|bitwarden`)
//! through the real binary: keyreeve's own exports come back identically, a KeePass XML written by
//! the real `keepassxc-cli` from a database it created imports, bad records are refused by line
//! with nothing imported, and the import is audited; `--write-inventory`'s guided targets load,
//! pass `inventory check` and are planned. Passwords reach the tools on stdin, never argv.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use chrono::{Duration, DurationRound, Utc};
use keyreeve::inventory::Inventory;
use keyreeve::keys::KeyRing;
use keyreeve::vault::{Vault, VaultDocument, VaultError};
use keyreeve::workspace::Workspace;
use keyreeve::Password;

const INVENTORY: &str = r#"
[[clients.acme.targets]]
name = "core-rtr1"
kind = "cisco-ios"
address = "10.0.0.1"
login = "admin"

[[clients.acme.targets]]
name = "web1"
kind = "linux"
address = "192.0.2.10"
port = 2222
login = "root"

[clients.newco]
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

struct Ws {
    tmp: tempfile::TempDir,
    root: PathBuf,
    identity: PathBuf,
    public: String,
}

fn bare() -> Command {
    let mut c = Command::cargo_bin("keyreeve").unwrap();
    c.env_remove("KEYREEVE_WORKSPACE")
        .env_remove("KEYREEVE_IDENTITY")
        .env_remove("KEYREEVE_PASSPHRASE_FILE")
        .env("USER", "tech-alice");
    c
}

impl Ws {
    fn new() -> Ws {
        let tmp = tempfile::tempdir().unwrap();
        let identity = tmp.path().join("id.txt");
        let out = bare().args(["identity", "new", "-o"]).arg(&identity).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let root = tmp.path().join("ws");
        let out = bare().arg("init").arg(&root).args(["-r", &public]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut inv = std::fs::OpenOptions::new()
            .append(true)
            .open(root.join("keyreeve.toml"))
            .unwrap();
        inv.write_all(INVENTORY.as_bytes()).unwrap();
        Ws {
            tmp,
            root,
            identity,
            public,
        }
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

    fn vault(&self) -> (Workspace, Inventory, KeyRing) {
        let ws = Workspace::open(&self.root).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        (ws, inv, KeyRing::with_identity_file(Some(self.identity.clone())))
    }

    fn load(&self, client: &str) -> VaultDocument {
        let (ws, inv, keys) = self.vault();
        Vault::new(&ws, &inv, &keys).load(client).unwrap()
    }

    fn has_vault(&self, client: &str) -> bool {
        let (ws, inv, keys) = self.vault();
        Vault::new(&ws, &inv, &keys)
            .load(client)
            .is_ok_and(|d| !d.entries.is_empty())
    }

    fn import(&self, args: &[&str]) -> std::process::Output {
        self.cmd().arg("import").args(args).output().unwrap()
    }

    fn audit_log(&self) -> String {
        std::fs::read_to_string(self.root.join("state/audit.log")).unwrap_or_default()
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// acme: the router rotated once (history) with notes and dates, the Linux root never rotated.
fn with_acme(ws: &Ws) {
    ws.set("acme/core-rtr1/admin", "old-rtr-pass");
    ws.set("acme/web1/root", "linux root pass with spaces");
    let (w, inv, keys) = ws.vault();
    Vault::new(&w, &inv, &keys)
        .update("acme", |doc| {
            let now = Utc::now();
            let rtr = doc.entries.get_mut("core-rtr1/admin").unwrap();
            rtr.replace_password(Password::new("Rtr-pa$$,\"quoted\"<&>é"), now - Duration::days(3));
            rtr.verified_at = Some(now - Duration::days(2));
            rtr.notes = "core router, line one\nline two".into();
            Ok::<_, VaultError>(())
        })
        .unwrap();
}

fn seconds(t: Option<chrono::DateTime<Utc>>) -> Option<chrono::DateTime<Utc>> {
    t.map(|t| t.duration_trunc(Duration::seconds(1)).unwrap())
}

#[test]
fn keyreeve_exports_in_every_list_format_import_back_identically() {
    let ws = Ws::new();
    with_acme(&ws);
    let original = ws.load("acme");
    for (format, history) in [("csv", false), ("keepass-xml", true), ("bitwarden", true)] {
        let file = ws.tmp.path().join(format!("acme.{format}.age"));
        let mut args = vec!["export", "--client", "acme", "--format", format, "-r", &ws.public, "-o"];
        if history {
            args.insert(1, "--with-history");
        }
        let out = ws.cmd().args(&args).arg(&file).output().unwrap();
        assert!(out.status.success(), "{format}: {}", text(&out));
        // Into a client of its own each time, so that every format is compared with the original.
        let client = format!("back-{format}");
        let inv = ws.root.join("keyreeve.toml");
        let mut t = std::fs::read_to_string(&inv).unwrap();
        t.push_str(&format!("\n[clients.{client}]\n"));
        std::fs::write(&inv, t).unwrap();
        let out = ws.import(&["--format", format, file.to_str().unwrap(), "--client", &client]);
        let shown = text(&out);
        assert!(out.status.success(), "{format}: {shown}");
        assert!(
            !shown.contains("plaintext"),
            "an age file is no plaintext file: {shown}"
        );
        assert!(
            shown.contains("cisco-ios: kind `cisco-ios` as the keyreeve export names it"),
            "{format}: {shown}"
        );
        let back = ws.load(&client);
        assert_eq!(
            back.entries.keys().collect::<Vec<_>>(),
            original.entries.keys().collect::<Vec<_>>(),
            "{format}"
        );
        for (key, want) in &original.entries {
            let got = &back.entries[key];
            assert_eq!(got.username, want.username, "{format} {key}");
            assert_eq!(got.password.expose(), want.password.expose(), "{format} {key}");
            assert_eq!(got.notes, want.notes, "{format} {key}");
            assert_eq!(seconds(got.rotated_at), seconds(want.rotated_at), "{format} {key}");
            assert_eq!(seconds(got.verified_at), seconds(want.verified_at), "{format} {key}");
            if history {
                let old = |e: &keyreeve::vault::Entry| -> Vec<String> {
                    e.history.iter().map(|h| h.password.expose().to_string()).collect()
                };
                assert_eq!(old(got), old(want), "{format} {key}");
            }
        }
    }
    let log = ws.audit_log();
    assert_eq!(log.matches("\"action\":\"import\"").count(), 3, "{log}");
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
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "keepassxc-cli {args:?}: {}", text(&out));
    out
}

#[test]
fn a_keepass_xml_written_by_keepassxc_cli_imports_with_its_groups_as_targets() {
    let ws = Ws::new();
    let kdbx = ws.tmp.path().join("previous.kdbx");
    let db = "previous-provider-db-pw";
    let k = |s: &str| -> std::ffi::OsString { s.into() };
    keepassxc(&[&k("db-create"), &k("-p"), kdbx.as_os_str()], &format!("{db}\n{db}\n"));
    for group in ["Printers", "Firewall"] {
        keepassxc(&[&k("mkdir"), kdbx.as_os_str(), &k(group)], &format!("{db}\n"));
    }
    let add = |path: &str, user: &str, url: &str, password: &str| {
        keepassxc(
            &[
                &k("add"),
                &k("-u"),
                &k(user),
                &k("--url"),
                &k(url),
                &k("-p"),
                kdbx.as_os_str(),
                &k(path),
            ],
            &format!("{db}\n{password}\n"),
        );
    };
    add(
        "Printers/HP LaserJet 2nd floor",
        "admin",
        "http://10.0.0.40",
        "hp-first",
    );
    add(
        "Printers/Kyocera reception",
        "admin",
        "http://10.0.0.41",
        "ky<o>&\"cera",
    );
    add("Firewall/FortiGate", "admin", "https://10.0.0.1:8443", "fgt-pass");
    add("ISP portal", "acme-corp", "https://my.isp.example/login", "isp pass");
    // A second version of the HP password: the first goes to the entry's history.
    keepassxc(
        &[
            &k("edit"),
            &k("-p"),
            kdbx.as_os_str(),
            &k("Printers/HP LaserJet 2nd floor"),
        ],
        &format!("{db}\nhp-second\n"),
    );
    let out = keepassxc(
        &[&k("export"), &k("-f"), &k("xml"), kdbx.as_os_str()],
        &format!("{db}\n"),
    );
    let xml = ws.tmp.path().join("previous.xml");
    std::fs::write(&xml, &out.stdout).unwrap();

    let out = ws.import(&["--format", "keepass-xml", xml.to_str().unwrap(), "--client", "newco"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    let doc = ws.load("newco");
    let got: Vec<(&str, &str, &str)> = doc
        .entries
        .iter()
        .map(|(k, e)| (k.as_str(), e.username.as_str(), e.password.expose()))
        .collect();
    assert_eq!(
        got,
        [
            ("firewall/admin", "admin", "fgt-pass"),
            ("hp-laserjet-2nd-floor/admin", "admin", "hp-second"),
            ("isp-portal/acme-corp", "acme-corp", "isp pass"),
            ("kyocera-reception/admin", "admin", "ky<o>&\"cera"),
        ]
    );
    let hp = &doc.entries["hp-laserjet-2nd-floor/admin"];
    assert_eq!(
        hp.history.iter().map(|h| h.password.expose()).collect::<Vec<_>>(),
        ["hp-first"]
    );
    // Every entry and what was guessed, said; no password shown.
    assert!(shown.contains("firewall/admin  (target `firewall` from its group; manual web-portal: a web address; it names `fortigate`: if it has SSH, kind `fortios`"), "{shown}");
    assert!(shown.contains("kyocera-reception/admin  (target `kyocera-reception` from the title, as group `printers` holds several `admin`; manual printer: the record names `printer`)"), "{shown}");
    assert!(
        shown.contains("category = \"printer\"") && shown.contains("url = \"http://10.0.0.41\""),
        "{shown}"
    );
    for secret in ["hp-first", "hp-second", "fgt-pass", "isp pass", "ky<o>", "&\"cera"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    assert!(
        shown.contains("warning: ") && shown.contains("plaintext") && shown.contains("shred -u"),
        "{shown}"
    );
    let log = ws.audit_log();
    assert!(
        log.contains("\"action\":\"import\"")
            && log.contains("\"format\":\"keepass-xml\"")
            && log.contains("\"entries\":4"),
        "{log}"
    );
}

#[test]
fn bad_records_are_named_by_line_and_nothing_is_half_imported() {
    let ws = Ws::new();
    let csv = ws.tmp.path().join("list.csv");
    std::fs::write(
        &csv,
        "Gerät,Benutzer,Kennwort,IP\n\
         Core switch,admin,sw-pass,ssh://10.0.0.2\n\
         core switch,admin,other-pass,\n\
         Printer,admin,,10.0.0.40\n\
         NAS,root\n\
         Phone,admin,1234,10.0.0.60\n",
    )
    .unwrap();
    let map = "title=Gerät,username=Benutzer,password=Kennwort,url=IP";
    let out = ws.import(&[
        "--format",
        "csv",
        csv.to_str().unwrap(),
        "--client",
        "newco",
        "--map",
        map,
    ]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    for line in [
        "line 3: duplicate: line 2 is imported as `core-switch/admin` too",
        "line 4: empty password",
        "line 5: 2 fields where the header has 4",
        "nothing was imported",
    ] {
        assert!(shown.contains(line), "{line} missing: {shown}");
    }
    assert!(!shown.contains("other-pass") && !shown.contains("sw-pass"), "{shown}");
    assert!(!ws.has_vault("newco"), "nothing may be imported");
    assert!(!ws.audit_log().contains("\"import\""));

    // Without --map the header names no password column: the file is refused as a whole.
    let out = ws.import(&["--format", "csv", csv.to_str().unwrap(), "--client", "newco"]);
    assert!(text(&out).contains("no password column"), "{}", text(&out));

    let out = ws.import(&[
        "--format",
        "csv",
        csv.to_str().unwrap(),
        "--client",
        "newco",
        "--map",
        map,
        "--skip-bad",
    ]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("Left out (--skip-bad):") && shown.contains("line 4: empty password"),
        "{shown}"
    );
    let doc = ws.load("newco");
    assert_eq!(
        doc.entries.keys().collect::<Vec<_>>(),
        ["core-switch/admin", "phone/admin"]
    );
    assert!(
        shown.contains("phone/admin  (target `phone` from the title; manual voip: the record names `phone`)"),
        "{shown}"
    );
    assert!(ws.audit_log().contains("\"left_out\":3"));

    // Importing again would overwrite: refused unless --replace.
    let out = ws.import(&[
        "--format",
        "csv",
        csv.to_str().unwrap(),
        "--client",
        "newco",
        "--map",
        map,
        "--skip-bad",
    ]);
    assert!(
        text(&out).contains("would overwrite 2 existing entries"),
        "{}",
        text(&out)
    );
}

#[test]
fn write_inventory_adds_the_proposed_targets_through_the_inventory_editor() {
    let ws = Ws::new();
    let json = ws.tmp.path().join("bw.json");
    std::fs::write(
        &json,
        r#"{"encrypted":false,"folders":[],"items":[
          {"id":"1","type":1,"name":"files1","notes":"Debian 12 file server","login":{"uris":[{"uri":"ssh://10.0.0.9:2222"}],"username":"root","password":"files-root"}},
          {"id":"2","type":1,"name":"web1","notes":"ssh, ubuntu","login":{"uris":[{"uri":"ssh://192.0.2.10:2222"}],"username":"root","password":"web-root"}},
          {"id":"3","type":2,"name":"Alarm codes","secureNote":{"type":0}}]}"#,
    )
    .unwrap();
    let inv_file = ws.root.join("keyreeve.toml");
    let before = std::fs::read_to_string(&inv_file).unwrap();
    let out = ws.import(&[
        "--format",
        "bitwarden",
        json.to_str().unwrap(),
        "--client",
        "acme",
        "--write-inventory",
    ]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("item 3: `Alarm codes` holds no login"), "{shown}");
    assert!(
        shown.contains("web1/root  (target already in the inventory)"),
        "{shown}"
    );
    let after = std::fs::read_to_string(&inv_file).unwrap();
    assert!(
        after.starts_with(&before[..before.find("[clients.newco]").unwrap()]),
        "comments and order kept"
    );
    let inv = Inventory::parse(&after, &inv_file).unwrap();
    let t = inv.target("acme", "files1").unwrap();
    assert_eq!(
        (t.kind.as_str(), t.address.as_str(), t.port, t.login.as_str()),
        ("linux", "10.0.0.9", 2222, "root")
    );
    assert!(
        after.contains("# imported: SSH, and the record names `debian`"),
        "{after}"
    );
    assert_eq!(inv.client("acme").unwrap().targets.len(), 3, "web1 is not added twice");
}

#[test]
fn imported_printers_and_web_portals_become_guided_targets_that_load_and_plan() {
    let ws = Ws::new();
    let csv = ws.tmp.path().join("handover.csv");
    std::fs::write(
        &csv,
        "title,username,password,url,notes\n\
         HP LaserJet reception,admin,Pr1nt-pass,https://10.0.20.40/,printer\n\
         ISP portal,billing,Isp-pass-1,https://portal.isp.example/,\n",
    )
    .unwrap();
    let out = ws.import(&[
        "--format",
        "csv",
        csv.to_str().unwrap(),
        "--client",
        "acme",
        "--write-inventory",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let inv_file = ws.root.join("keyreeve.toml");
    let inv = Inventory::load(&inv_file).unwrap();
    let printer = inv.target("acme", "hp-laserjet-reception").unwrap();
    let portal = inv.target("acme", "isp-portal").unwrap();
    assert!(printer.kind.is_manual() && portal.kind.is_manual());

    let check = ws.cmd().args(["inventory", "check"]).output().unwrap();
    let shown = text(&check);
    assert!(
        !shown.contains("hp-laserjet-reception") && !shown.contains("isp-portal"),
        "the guided targets need no login account: {shown}"
    );

    let plan = ws.cmd().args(["plan", "--client", "acme", "--all"]).output().unwrap();
    let shown = text(&plan);
    assert!(plan.status.success(), "{shown}");
    for path in ["acme/hp-laserjet-reception/admin", "acme/isp-portal/billing"] {
        let item = shown
            .split("\n\n")
            .find(|block| block.trim_start().starts_with(path))
            .unwrap_or_else(|| panic!("{path} not planned: {shown}"));
        assert!(item.contains("guided: changed by hand"), "{item}");
    }
}
