//! The vault through the real binary: stock `age` opens what keyreeve writes, concurrent writers
//! lose nothing, damaged or foreign files are refused and left untouched, files are private and
//! backed up, secrets travel only on stdin and stdout, recipients and passphrases work end to end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");

/// A fresh workspace with one identity and a client `acme`.
struct Ws {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: String,
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` is missing: install Debian's `age` and `openssh-client` (tests/run.sh does)")
    })
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        // A command that fails before reading its stdin closes the pipe: not an error here.
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

#[track_caller]
fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

impl Ws {
    fn new(init_args: &[&str]) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("me.txt");
        let bare = Command::new(BIN);
        let mut c = bare;
        c.args(["identity", "new", "-o"]).arg(&key).env("HOME", dir.path());
        let public = ok(&run(c, None)).trim().to_string();
        assert!(public.starts_with("age1"), "{public}");
        let ws = Ws { dir, key, public };
        let mut c = ws.bare();
        c.arg("init").arg(ws.root());
        if !init_args.contains(&"--passphrase") {
            c.args(["--recipient", &ws.public]);
        }
        c.args(init_args);
        ok(&run(c, None));
        let inv = ws.root().join("keyreeve.toml");
        let mut t = std::fs::read_to_string(&inv).unwrap();
        t.push_str("\n[clients.acme]\n\n[clients.globex]\n");
        std::fs::write(&inv, t).unwrap();
        ws
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    fn vault_file(&self) -> PathBuf {
        self.root().join("vaults/acme.age")
    }

    /// keyreeve with a clean environment: no identity, workspace or passphrase file inherited.
    fn bare(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
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

    fn set(&self, path: &str, secret: &str) {
        ok(&run(self.kr(&["vault", "set", path]), Some(secret)));
    }

    fn get(&self, path: &str) -> Output {
        run(self.kr(&["vault", "get", path]), None)
    }

    fn age_decrypt(&self, key: &Path, file: &Path) -> Output {
        let mut c = Command::new(tool("age"));
        c.arg("-d").arg("-i").arg(key).arg(file);
        run(c, None)
    }
}

#[test]
fn stock_age_decrypts_a_vault_to_the_documented_json() {
    let ws = Ws::new(&[]);
    ws.set("acme/core-rtr1/admin", "first-S3cret\n");
    ws.set("acme/core-rtr1/admin", "second-S3cret\n");
    ok(&run(
        ws.kr(&[
            "vault",
            "set",
            "acme/dc1/svc-backup",
            "--username",
            "ACME\\svc-backup",
            "--notes",
            "nightly job",
        ]),
        Some("third-S3cret"),
    ));
    let raw = std::fs::read(ws.vault_file()).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n"), "a binary age file");
    assert!(!text(&raw).contains("S3cret"));

    let json: serde_json::Value = serde_json::from_str(&ok(&ws.age_decrypt(&ws.key, &ws.vault_file()))).unwrap();
    assert_eq!(json["format"], "keyreeve-vault");
    assert_eq!(json["version"], 2);
    assert_eq!(json["client"], "acme");
    assert_eq!(
        json["recipients"][0],
        ws.public.as_str(),
        "the recipients it is encrypted to"
    );
    assert!(json["updated_at"].is_string());
    let admin = &json["entries"]["core-rtr1/admin"];
    assert_eq!(admin["username"], "admin");
    assert_eq!(admin["password"], "second-S3cret");
    assert_eq!(admin["state"], "current");
    assert_eq!(admin["history"][0]["password"], "first-S3cret");
    assert!(admin["history"][0]["replaced_at"].is_string());
    assert!(admin["rotated_at"].is_string() && admin["created"].is_string());
    let svc = &json["entries"]["dc1/svc-backup"];
    assert_eq!(svc["username"], "ACME\\svc-backup");
    assert_eq!(svc["notes"], "nightly job");
    assert_eq!(svc["password"], "third-S3cret");

    // Armored workspaces write text age files that stock age reads too.
    let armored = Ws::new(&["--armor"]);
    armored.set("acme/sw1/admin", "armored-S3cret");
    let raw = std::fs::read_to_string(armored.vault_file()).unwrap();
    assert!(raw.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{raw}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&armored.age_decrypt(&armored.key, &armored.vault_file()))).unwrap();
    assert_eq!(json["entries"]["sw1/admin"]["password"], "armored-S3cret");
}

#[test]
fn sixteen_concurrent_writers_lose_no_update() {
    let ws = Ws::new(&[]);
    ws.set("acme/seed/admin", "seed-password");
    let children: Vec<_> = (0..16)
        .map(|i| {
            let mut c = ws.kr(&["vault", "set", &format!("acme/host{i}/admin")]);
            c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = c.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("password-{i}").as_bytes())
                .unwrap();
            child
        })
        .collect();
    for child in children {
        ok(&child.wait_with_output().unwrap());
    }
    let json: serde_json::Value = serde_json::from_str(&ok(&ws.age_decrypt(&ws.key, &ws.vault_file()))).unwrap();
    let entries = json["entries"].as_object().unwrap();
    assert_eq!(entries.len(), 17, "{:?}", entries.keys().collect::<Vec<_>>());
    for i in 0..16 {
        assert_eq!(entries[&format!("host{i}/admin")]["password"], format!("password-{i}"));
    }
}

#[test]
fn damaged_foreign_and_future_vaults_are_refused_and_left_untouched() {
    let ws = Ws::new(&[]);
    ws.set("acme/rtr1/admin", "sound-password");
    let good = std::fs::read(ws.vault_file()).unwrap();
    let file = ws.vault_file();
    let file_name = file.display().to_string();

    let mut flipped = good.clone();
    let at = flipped.len() - 20;
    flipped[at] ^= 0x01;
    let mut future_doc = serde_json::json!({"format":"keyreeve-vault","version":99,"client":"acme",
        "updated_at":"2030-01-01T00:00:00Z","entries":{},"new_field":{"x":1}})
    .to_string();
    future_doc.push('\n');
    let future = {
        let mut c = Command::new(tool("age"));
        c.args(["-e", "-r", &ws.public]);
        let out = run(c, Some(&future_doc));
        assert!(out.status.success());
        out.stdout
    };
    let other_key = ws.dir.path().join("other.txt");
    let mut c = ws.bare();
    c.args(["identity", "new", "-o"]).arg(&other_key);
    ok(&run(c, None));

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() - 30].to_vec(), "damaged"),
        ("a flipped byte", flipped, "damaged"),
        (
            "not an age file",
            b"{\"format\":\"keyreeve-vault\"}".to_vec(),
            "not an age file",
        ),
        ("empty", Vec::new(), "is empty"),
        ("a future version", future, "newer keyreeve"),
    ];
    for (what, bytes, expect) in cases {
        std::fs::write(&file, &bytes).unwrap();
        for cmd in [
            ws.kr(&["vault", "get", "acme/rtr1/admin"]),
            ws.kr(&["vault", "list"]),
            ws.kr(&["vault", "rm", "acme/rtr1/admin"]),
        ] {
            let out = run(cmd, None);
            assert_ne!(out.status.code(), Some(0), "{what}");
            let err = text(&out.stderr);
            assert!(err.contains(&file_name), "{what}: {err}");
            assert!(err.contains(expect), "{what}: {err}");
            assert!(err.contains("hint:"), "{what}: {err}");
            assert!(out.stdout.is_empty() || !text(&out.stdout).contains("sound-password"));
        }
        let out = run(ws.kr(&["vault", "set", "acme/rtr1/admin"]), Some("replacement"));
        fails(&out);
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bytes,
            "{what}: the file must be untouched"
        );
    }

    // The wrong key.
    std::fs::write(&file, &good).unwrap();
    let mut c = ws.kr(&["vault", "set", "acme/rtr1/admin"]);
    c.env("KEYREEVE_IDENTITY", &other_key);
    let err = fails(&run(c, Some("replacement")));
    assert!(err.contains("is not encrypted to identity"), "{err}");
    assert!(err.contains(&file_name) && err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), good);
    // A missing identity says how to get one.
    let mut c = ws.kr(&["vault", "get", "acme/rtr1/admin"]);
    c.env("KEYREEVE_IDENTITY", ws.dir.path().join("nope.txt"));
    let err = fails(&run(c, None));
    assert!(err.contains("keyreeve identity new"), "{err}");
    assert_eq!(text(&ws.get("acme/rtr1/admin").stdout), "sound-password");
}

/// Names that would forge a line or drive the terminal are refused where they come in (the
/// command line, a vault document), named, escaped, and the vault is left as it was.
#[test]
fn hostile_names_are_refused_named_and_never_shown_raw() {
    let ws = Ws::new(&[]);
    let out = run(
        ws.kr(&[
            "vault",
            "set",
            "acme/rtr1/admin",
            "--username",
            "admin\nusername pwned privilege 15",
        ]),
        Some("pw-1"),
    );
    let err = fails(&out);
    assert!(
        err.contains("--username `admin\\nusername pwned privilege 15`"),
        "{err}"
    );
    assert!(!err.contains("\nusername pwned"), "{err}");
    assert!(!ws.vault_file().exists());
    let err = fails(&run(ws.kr(&["vault", "set", "acme/rtr1/\u{1b}[2Jadmin"]), Some("pw-1")));
    assert!(err.contains("`acme/rtr1/\\u{1b}[2Jadmin`"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(!ws.vault_file().exists());

    // A document holding a key `vault set` refuses (from an earlier import, or edited by hand):
    // every command names the file and the key, escaped, and the file stays as it is.
    ws.set("acme/rtr1/admin", "sound-password");
    let entry = serde_json::json!({"username":"admin","password":"hidden-pass","created":"2026-11-27T17:00:00Z",
        "rotated_at":null,"verified_at":null,"revealed_at":null});
    let doc = serde_json::json!({"format":"keyreeve-vault","version":1,"client":"acme",
        "updated_at":"2026-11-27T17:00:00Z",
        "entries":{"rtr1/admin": entry, "ios-001/admin\nusername pwned\u{1b}[2J": entry}});
    let mut c = Command::new(tool("age"));
    c.args(["-e", "-r", &ws.public]);
    let sealed = run(c, Some(&doc.to_string()));
    assert!(sealed.status.success());
    std::fs::write(ws.vault_file(), &sealed.stdout).unwrap();
    for (cmd, stdin) in [
        (ws.kr(&["vault", "list"]), None),
        (ws.kr(&["vault", "rm", "acme/rtr1/admin"]), None),
        (ws.kr(&["vault", "set", "acme/rtr1/admin"]), Some("replacement")),
    ] {
        let out = run(cmd, stdin);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains(&ws.vault_file().display().to_string()), "{err}");
        assert!(
            err.contains("entry key `ios-001/admin\\nusername pwned\\u{1b}[2J`"),
            "{err}"
        );
        assert!(!err.contains('\u{1b}') && !err.contains("hidden-pass"), "{err:?}");
        assert!(err.contains("hint:"), "{err}");
        assert!(!text(&out.stdout).contains('\u{1b}'));
    }
    assert_eq!(std::fs::read(ws.vault_file()).unwrap(), sealed.stdout);
}

#[cfg(unix)]
#[test]
fn files_are_private_and_backups_are_kept_and_bounded() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Ws::new(&[]);
    for i in 0..13 {
        ws.set("acme/rtr1/admin", &format!("password-{i}"));
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ws.vault_file()), 0o600);
    assert_eq!(mode(&ws.key), 0o600);
    let backups_dir = ws.root().join("state/backups/acme");
    let mut backups: Vec<_> = std::fs::read_dir(&backups_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    backups.sort();
    assert_eq!(backups.len(), 10, "{backups:?}");
    for b in &backups {
        assert_eq!(mode(b), 0o600, "{}", b.display());
    }
    // The newest backup is the version before the current one, and stock age opens it.
    let json: serde_json::Value = serde_json::from_str(&ok(&ws.age_decrypt(&ws.key, backups.last().unwrap()))).unwrap();
    assert_eq!(json["entries"]["rtr1/admin"]["password"], "password-11");
    let json: serde_json::Value = serde_json::from_str(&ok(&ws.age_decrypt(&ws.key, &backups[0]))).unwrap();
    assert_eq!(json["entries"]["rtr1/admin"]["password"], "password-2");
    // No temporary file is left behind next to the vault.
    let names: Vec<_> = std::fs::read_dir(ws.root().join("vaults"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["acme.age"]);
}

#[test]
fn secrets_travel_only_on_stdin_and_the_stdout_of_get() {
    let ws = Ws::new(&[]);
    let secret = "Tr0ub4dor&3-unique-marker";
    let out = run(
        ws.kr(&["vault", "set", "acme/rtr1/admin"]),
        Some(&format!("{secret}\n")),
    );
    ok(&out);
    let mut seen = text(&out.stdout) + &text(&out.stderr);
    for args in [
        vec!["vault", "list"],
        vec!["vault", "list", "--json"],
        vec!["vault", "list", "acme/rtr1"],
        vec!["vault", "history", "acme/rtr1/admin"],
        vec!["vault", "history", "acme/rtr1/admin", "--json"],
        vec!["vault", "recipients", "list", "--client", "acme"],
    ] {
        let out = run(ws.kr(&args), None);
        ok(&out);
        seen += &(text(&out.stdout) + &text(&out.stderr));
    }
    // A generated password is never printed by set.
    let out = run(ws.kr(&["vault", "set", "acme/rtr1/enable", "--generate"]), None);
    ok(&out);
    let generated = text(&ws.get("acme/rtr1/enable").stdout);
    assert!(generated.len() >= 20, "{generated}");
    seen += &(text(&out.stdout) + &text(&out.stderr));
    assert!(!seen.contains(secret) && !seen.contains(&generated), "{seen}");
    for file in ["keyreeve.toml", "state/audit.log"] {
        let t = std::fs::read_to_string(ws.root().join(file)).unwrap_or_default();
        assert!(!t.contains(secret) && !t.contains(&generated), "{file}");
    }
    // set takes no secret argument at all.
    let help = text(&run(ws.kr(&["vault", "set", "--help"]), None).stdout);
    assert!(!help.contains("--password") && !help.contains("--secret"), "{help}");

    // get prints exactly the secret, records the reveal, and the audit log has it; reading
    // never rewrites the encrypted file.
    let before = std::fs::read(ws.vault_file()).unwrap();
    let out = ws.get("acme/rtr1/admin");
    assert_eq!(ok(&out), secret);
    assert_eq!(std::fs::read(ws.vault_file()).unwrap(), before);
    let listed: serde_json::Value = serde_json::from_str(&ok(&run(ws.kr(&["vault", "list", "--json"]), None))).unwrap();
    let admin = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "acme/rtr1/admin")
        .unwrap();
    assert!(admin["revealed_at"].is_string(), "{admin}");
    let log = std::fs::read_to_string(ws.root().join("state/audit.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("vault.get") && l.contains("acme/rtr1/admin")),
        "{log}"
    );
    assert!(log.contains(&ws.public), "the actor's key is logged: {log}");

    // history and rm; the next write folds the reveal into the document itself.
    ws.set("acme/rtr1/admin", "newer");
    let json: serde_json::Value = serde_json::from_str(&ok(&ws.age_decrypt(&ws.key, &ws.vault_file()))).unwrap();
    assert!(json["entries"]["rtr1/admin"]["revealed_at"].is_string(), "{json}");
    // Emptied, not removed: the workspace is shared over git, where a teammate's reveal merges in.
    let reveals = std::fs::read_to_string(ws.root().join("state/reveals/acme.json")).unwrap_or_default();
    assert!(reveals.is_empty() || reveals == "{}", "{reveals}");
    assert_eq!(
        ok(&run(
            ws.kr(&["vault", "get", "acme/rtr1/admin", "--previous", "1"]),
            None
        )),
        secret
    );
    ok(&run(ws.kr(&["vault", "rm", "acme/rtr1/admin"]), None));
    let err = fails(&ws.get("acme/rtr1/admin"));
    assert!(err.contains("no entry `acme/rtr1/admin`"), "{err}");
    let log = std::fs::read_to_string(ws.root().join("state/audit.log")).unwrap();
    assert!(log.contains("vault.rm") && log.contains("vault.set"), "{log}");
    // An unknown client and a malformed path are usage errors.
    assert!(fails(&run(ws.kr(&["vault", "set", "initech/a/b"]), Some("x"))).contains("initech"));
    assert!(fails(&run(ws.kr(&["vault", "set", "acme/a"]), Some("x"))).contains("CLIENT/TARGET/ACCOUNT"));
}

#[test]
fn a_writer_that_cannot_get_the_lock_fails_clearly_and_writes_nothing() {
    let ws = Ws::new(&[]);
    ws.set("acme/rtr1/admin", "before");
    let before = std::fs::read(ws.vault_file()).unwrap();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(ws.root().join("state/locks/acme.lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut c = ws.kr(&["vault", "set", "acme/rtr1/admin"]);
    c.env("KEYREEVE_LOCK_TIMEOUT", "0.5");
    let err = fails(&run(c, Some("after")));
    assert!(err.contains("being changed by another keyreeve process"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read(ws.vault_file()).unwrap(), before);
    lock.unlock().unwrap();
    ws.set("acme/rtr1/admin", "after");
    assert_eq!(text(&ws.get("acme/rtr1/admin").stdout), "after");
}

#[test]
fn recipients_add_and_rm_reencrypt_and_keep_the_inventory_comments() {
    let ws = Ws::new(&[]);
    ws.set("acme/rtr1/admin", "acme-password");
    ws.set("globex/fw1/admin", "globex-password");
    let lead_key = ws.dir.path().join("lead.txt");
    let mut c = ws.bare();
    c.args(["identity", "new", "-o"]).arg(&lead_key);
    let lead = ok(&run(c, None)).trim().to_string();

    // A client's own recipient opens that client's vault and no other.
    ok(&run(
        ws.kr(&["vault", "recipients", "add", &lead, "--client", "acme"]),
        None,
    ));
    let globex = ws.root().join("vaults/globex.age");
    assert!(text(&ok(&ws.age_decrypt(&lead_key, &ws.vault_file())).into_bytes()).contains("acme-password"));
    assert!(!ws.age_decrypt(&lead_key, &globex).status.success());
    let listed: serde_json::Value = serde_json::from_str(&ok(&run(
        ws.kr(&["vault", "recipients", "list", "--client", "acme", "--json"]),
        None,
    )))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    // Workspace-wide: every file is re-encrypted.
    ok(&run(ws.kr(&["vault", "recipients", "add", &lead]), None));
    assert!(ws.age_decrypt(&lead_key, &globex).status.success());
    let inv = std::fs::read_to_string(ws.root().join("keyreeve.toml")).unwrap();
    assert!(inv.contains("# Recipients of every client's vault file"), "{inv}");
    assert!(
        inv.contains(&format!("    \"{}\",\n    \"{lead}\",\n]", ws.public)),
        "{inv}"
    );

    let out = run(ws.kr(&["vault", "recipients", "rm", &lead]), None);
    let stdout = ok(&out);
    assert!(stdout.contains("keyreeve plan --all --client acme"), "{stdout}");
    assert!(stdout.contains("keyreeve plan --all --client globex"), "{stdout}");
    assert!(
        text(&out.stderr).contains("has seen every password"),
        "{}",
        text(&out.stderr)
    );
    assert!(!ws.age_decrypt(&lead_key, &globex).status.success());
    // Still a recipient of acme's own file.
    assert!(ws.age_decrypt(&lead_key, &ws.vault_file()).status.success());
    ok(&run(
        ws.kr(&["vault", "recipients", "rm", &lead, "--client", "acme"]),
        None,
    ));
    assert!(!ws.age_decrypt(&lead_key, &ws.vault_file()).status.success());
    assert_eq!(text(&ws.get("acme/rtr1/admin").stdout), "acme-password");
    // Removing one's own key would lock one out: refused.
    let err = fails(&run(ws.kr(&["vault", "recipients", "rm", &ws.public]), None));
    assert!(err.contains("lock you out"), "{err}");
    let log = std::fs::read_to_string(ws.root().join("state/audit.log")).unwrap();
    assert!(
        log.contains("vault.recipients.rm") && log.contains("vault.recipients.add"),
        "{log}"
    );
}

#[test]
fn ssh_keys_as_recipient_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let ssh_key = dir.path().join("id_ed25519");
    let status = Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "tech@example", "-f"])
        .arg(&ssh_key)
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::fs::read_to_string(ssh_key.with_extension("pub")).unwrap();
    let recipients = dir.path().join("recipients.txt");
    std::fs::write(&recipients, format!("# the technician\n{}\n", public.trim())).unwrap();
    let root = dir.path().join("ws");
    let out = run(
        {
            let mut c = Command::new(BIN);
            c.arg("init").arg(&root).arg("--recipients-file").arg(&recipients);
            c
        },
        None,
    );
    ok(&out);
    let inv = root.join("keyreeve.toml");
    std::fs::write(&inv, std::fs::read_to_string(&inv).unwrap() + "\n[clients.acme]\n").unwrap();
    let kr = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.env("KEYREEVE_WORKSPACE", &root)
            .env("KEYREEVE_IDENTITY", &ssh_key)
            .args(args);
        c
    };
    ok(&run(kr(&["vault", "set", "acme/rtr1/admin"]), Some("via-ssh")));
    assert_eq!(ok(&run(kr(&["vault", "get", "acme/rtr1/admin"]), None)), "via-ssh");
    let mut c = Command::new(tool("age"));
    c.arg("-d").arg("-i").arg(&ssh_key).arg(root.join("vaults/acme.age"));
    assert!(ok(&run(c, None)).contains("via-ssh"));
    let out = ok(&run(kr(&["vault", "recipients", "list", "--json"]), None));
    assert!(out.contains("ssh-ed25519"), "{out}");
    // The shipped policy is in place.
    assert_eq!(
        std::fs::read_to_string(root.join("policies/default.toml")).unwrap(),
        include_str!("../policies/default.toml")
    );
}

/// scrypt is deliberately slow: one test covers both passphrase uses.
#[test]
fn passphrase_workspace_and_passphrase_protected_identity() {
    let ws = Ws::new(&["--passphrase"]);
    let pass = ws.dir.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let with_pass = |args: &[&str], file: &Path| {
        let mut c = ws.kr(args);
        c.env_remove("KEYREEVE_IDENTITY").env("KEYREEVE_PASSPHRASE_FILE", file);
        c
    };
    ok(&run(
        with_pass(&["vault", "set", "acme/rtr1/admin"], &pass),
        Some("behind-scrypt"),
    ));
    let header = std::fs::read(ws.vault_file()).unwrap();
    assert!(
        text(&header[..200.min(header.len())]).contains("-> scrypt"),
        "a passphrase-encrypted age file"
    );
    let before = std::fs::read(ws.vault_file()).unwrap();
    let wrong = ws.dir.path().join("wrong.txt");
    std::fs::write(&wrong, "not it\n").unwrap();
    let err = fails(&run(with_pass(&["vault", "get", "acme/rtr1/admin"], &wrong), None));
    assert!(err.contains("wrong passphrase") && err.contains("acme.age"), "{err}");
    assert_eq!(std::fs::read(ws.vault_file()).unwrap(), before);

    // A passphrase-protected identity, as `age -p` writes it.
    let protected = ws.dir.path().join("protected.txt");
    let mut c = ws.bare();
    c.args(["identity", "new", "--passphrase", "-o"])
        .arg(&protected)
        .env("KEYREEVE_PASSPHRASE_FILE", &pass);
    let public = ok(&run(c, None)).trim().to_string();
    assert!(std::fs::read_to_string(&protected)
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let other = Ws::new(&[]);
    ok(&run(other.kr(&["vault", "recipients", "add", &public]), None));
    other.set("acme/rtr1/admin", "opened-with-protected-key");
    let mut c = other.kr(&["vault", "get", "acme/rtr1/admin"]);
    c.env("KEYREEVE_IDENTITY", &protected)
        .env("KEYREEVE_PASSPHRASE_FILE", &pass);
    assert_eq!(ok(&run(c, None)), "opened-with-protected-key");
}

#[test]
fn generate_follows_the_policy_and_what_the_target_can_take() {
    let ws = Ws::new(&[]);
    let inv = ws.root().join("keyreeve.toml");
    let mut t = std::fs::read_to_string(&inv).unwrap();
    for (name, kind) in [("rtr", "cisco-ios"), ("fw", "cisco-asa")] {
        t.push_str(&format!(
            "\n[[clients.acme.targets]]\nname = \"{name}\"\nkind = \"{kind}\"\naddress = \"127.0.0.1\"\nlogin = \"admin\"\n"
        ));
    }
    std::fs::write(&inv, t).unwrap();
    // IOS: 20 characters of lower case and `?`/`-` only; IOS cannot take `?`, so every symbol is `-`.
    // ASA: 64 asked, but the ASA takes at most 32.
    std::fs::write(
        ws.root().join("policies/zz-test.toml"),
        "[[rules]]\nkind = \"cisco-ios\"\nlength = 20\nupper = false\ndigits = false\nsymbols = \"?-\"\n\n\
         [[rules]]\nkind = \"cisco-asa\"\nlength = 64\n",
    )
    .unwrap();
    for _ in 0..5 {
        ok(&run(ws.kr(&["vault", "set", "--generate", "acme/rtr/admin"]), None));
        let ios = ok(&ws.get("acme/rtr/admin"));
        let ios = ios.trim_end_matches('\n');
        assert_eq!(ios.len(), 20, "{ios:?}");
        assert!(ios.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{ios:?}");
        assert!(ios.contains('-'), "every allowed class appears: {ios:?}");
    }
    ok(&run(ws.kr(&["vault", "set", "--generate", "acme/fw/admin"]), None));
    let asa = ok(&ws.get("acme/fw/admin"));
    assert_eq!(asa.trim_end_matches('\n').len(), 32, "{asa:?}");
    // A target the inventory does not hold: the kind-free policy (default length 24), and a note.
    let out = run(ws.kr(&["vault", "set", "--generate", "acme/nas/admin"]), None);
    let note = ok(&out) + &text(&out.stderr);
    assert!(note.contains("acme/nas") && note.contains("keyreeve.toml"), "{note}");
    let nas = ok(&ws.get("acme/nas/admin"));
    assert_eq!(nas.trim_end_matches('\n').len(), 24, "{nas:?}");
}

/// A reader that stops early (`| head -1`) closes keyreeve's stdout: keyreeve ends quietly with
/// the status of a tool killed by SIGPIPE (141), no panic and no backtrace, whichever way it prints.
#[test]
fn a_reader_that_stops_early_ends_it_quietly() {
    let ws = Ws::new(&[]);
    ws.set("acme/rtr1/admin", "first-secret");
    for (args, status) in [
        (vec!["vault", "list"], Some(141)),
        (vec!["log"], Some(141)),
        // Written whole, as one write: the closed pipe is an ordinary error there, taken as done.
        (vec!["completions", "bash"], Some(0)),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ws
            .kr(&args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), status, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
