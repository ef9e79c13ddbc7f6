//! Scripted targets (`kind = "script"`) end to end against the lab's REAL PostgreSQL and MariaDB
//! (tests/lab/postgres.sh, tests/lab/mariadb.sh) with the shipped changers of examples/changers:
//! discover, rotate and verify by a fresh login, a password the server's own check refuses, a
//! changer that hangs, a SIGKILL of apply at every step, and no secret in any process's argv or
//! environment. Each test makes database users of its own, so tests run side by side.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyreeve::inventory::Inventory;
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::rotation::failpoint::STEPS;
use keyreeve::secret::Password;
use keyreeve::vault::{Entry, EntryState, Vault};
use keyreeve::workspace::Workspace;

const CLIENT: &str = "acme";
const PG_PORT: u16 = 54329;
const MY_PORT: u16 = 33306;
const PGBIN: &str = "/usr/lib/postgresql/15/bin";

fn lab_dir() -> PathBuf {
    PathBuf::from(std::env::var("KEYREEVE_LAB_DIR").unwrap_or_else(|_| "/tmp/keyreeve-lab".into()))
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Db {
    Postgres,
    Mariadb,
}

impl Db {
    fn dir(self) -> PathBuf {
        lab_dir().join(match self {
            Db::Postgres => "postgres",
            Db::Mariadb => "mariadb",
        })
    }

    /// The lab's admin password; fails loudly, with the command to run, when the lab is down.
    fn admin(self) -> Password {
        let script = match self {
            Db::Postgres => "tests/lab/postgres.sh",
            Db::Mariadb => "tests/lab/mariadb.sh",
        };
        let pw = std::fs::read_to_string(self.dir().join("admin.pw"))
            .unwrap_or_else(|e| panic!("the {self:?} lab is not set up ({e}): run `sudo bash {script}`"));
        let admin = Password::new(pw.trim());
        assert!(
            self.login_works("keyreeve_admin", &admin),
            "the {self:?} lab does not answer: run `sudo bash {script}`"
        );
        admin
    }

    fn changer(self) -> &'static str {
        match self {
            Db::Postgres => "postgres.py",
            Db::Mariadb => "mariadb.py",
        }
    }

    /// Runs SQL as the server's superuser on its socket (the test's own setup, not keyreeve's).
    fn superuser_sql(self, sql: &str) {
        let mut cmd = match self {
            Db::Postgres => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                    .arg(format!("{PGBIN}/psql"))
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
                    .arg(self.dir())
                    .args([
                        "-p",
                        &PG_PORT.to_string(),
                        "-U",
                        "postgres",
                        "-d",
                        "postgres",
                        "-f",
                        "-",
                    ]);
                c
            }
            Db::Mariadb => {
                let mut c = Command::new("mariadb");
                c.arg("--no-defaults")
                    .arg("-S")
                    .arg(self.dir().join("mysqld.sock"))
                    .args(["-u", "root"]);
                c
            }
        };
        let out = run_with_stdin(&mut cmd, sql);
        assert!(out.status.success(), "{self:?} setup SQL failed: {}", text(&out));
    }

    /// A fresh login as `user` with `pw`, the password kept off argv as the changers keep it.
    fn login_works(self, user: &str, pw: &Password) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("login");
        let (mut cmd, content) = match self {
            Db::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-X", "-w", "-At", "-c", "SELECT 1", "-d"]).arg(format!(
                    "host=127.0.0.1 port={PG_PORT} dbname=postgres user={user} passfile={}",
                    file.display()
                ));
                let escaped = pw.expose().replace('\\', "\\\\").replace(':', "\\:");
                (c, format!("*:*:*:{user}:{escaped}\n"))
            }
            Db::Mariadb => {
                let mut c = Command::new("mariadb");
                c.arg(format!("--defaults-file={}", file.display()))
                    .args(["-N", "-e", "SELECT 1"]);
                let escaped = pw
                    .expose()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\'', "\\'");
                (
                    c,
                    format!(
                        "[client]\nuser={user}\npassword=\"{escaped}\"\nhost=127.0.0.1\nport={MY_PORT}\nprotocol=TCP\n"
                    ),
                )
            }
        };
        write_private(&file, &content);
        cmd.env_clear().env("PATH", "/usr/bin:/bin").stdin(Stdio::null());
        cmd.output().unwrap().status.success()
    }

    /// A new login user of the test's own with a random password, dropped by nobody (names are unique).
    fn new_user(self, tag: &str) -> (String, Password) {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "kr_{tag}_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        );
        let pw = Password::new(format!("Init-{}-9a", uuid::Uuid::new_v4().simple()));
        match self {
            Db::Postgres => self.superuser_sql(&format!("CREATE ROLE {name} LOGIN PASSWORD '{}';\n", pw.expose())),
            Db::Mariadb => self.superuser_sql(&format!(
                "CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{}';\n",
                pw.expose()
            )),
        }
        (name, pw)
    }

    fn port(self) -> u16 {
        match self {
            Db::Postgres => PG_PORT,
            Db::Mariadb => MY_PORT,
        }
    }
}

fn write_private(path: &Path, content: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(content.as_bytes()).unwrap();
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One target stanza of a script target on `db`.
fn stanza(db: Db, name: &str, changer: &str, login: &str, extra: &str) -> String {
    let params = match db {
        Db::Postgres => "database = \"postgres\"\n",
        Db::Mariadb => "account_host = \"127.0.0.1\"\n",
    };
    format!(
        "\n[[clients.{CLIENT}.targets]]\nname = \"{name}\"\nkind = \"script\"\nchanger = \"changers/{changer}\"\n\
         address = \"127.0.0.1\"\nport = {}\nlogin = \"{login}\"\n{extra}[clients.{CLIENT}.targets.params]\n{params}",
        db.port()
    )
}

/// A workspace with the shipped changers in `changers/`, the given targets and vault entries,
/// and a policy that puts quotes, backslashes and `#` in every generated password (the changers
/// must quote them right).
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    identity: PathBuf,
}

impl World {
    fn new(targets: &str, entries: &[(String, Password)], policy: &str) -> World {
        World::with_changers(targets, entries, policy, &[])
    }

    /// Also writes `scripts` (name, text) as executables into `changers/` before the
    /// inventory that names them is read.
    fn with_changers(targets: &str, entries: &[(String, Password)], policy: &str, scripts: &[(&str, String)]) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let identity = root.join("identity.txt");
        let public = new_identity_file(&identity, None).unwrap();
        let ws = root.join("ws");
        let out = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
            .args(["init", ws.to_str().unwrap(), "--recipient", &public])
            .output()
            .unwrap();
        assert!(out.status.success(), "init: {}", text(&out));
        let changers = ws.join("changers");
        std::fs::create_dir_all(&changers).unwrap();
        for name in ["postgres.py", "mariadb.py"] {
            let from = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/changers")
                .join(name);
            std::fs::copy(&from, changers.join(name)).unwrap();
        }
        std::fs::write(
            ws.join("policies/zz-script.toml"),
            format!("[[rules]]\nkind = \"script\"\nlength = 20\nsymbols = \"'\\\"\\\\#:;\"\n{policy}"),
        )
        .unwrap();
        for (name, script) in scripts {
            use std::os::unix::fs::PermissionsExt;
            let path = changers.join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let inv_file = ws.join("keyreeve.toml");
        let mut toml = std::fs::read_to_string(&inv_file).unwrap();
        toml.push_str(&format!("\n[clients.{CLIENT}]\n{targets}"));
        std::fs::write(&inv_file, toml).unwrap();
        let w = World {
            _tmp: tmp,
            root,
            ws,
            identity,
        };
        w.with_vault(|inv, keys, ws| {
            Vault::new(ws, inv, keys)
                .update(CLIENT, |doc| {
                    for (key, pw) in entries {
                        let account = key.split('/').nth(1).unwrap();
                        doc.entries.insert(key.clone(), Entry::new(account, pw.clone()));
                    }
                    Ok::<(), keyreeve::vault::VaultError>(())
                })
                .unwrap();
        });
        w
    }

    fn with_vault<R>(&self, f: impl FnOnce(&Inventory, &KeyRing, &Workspace) -> R) -> R {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        f(&inv, &keys, &ws)
    }

    fn entry(&self, key: &str) -> Entry {
        self.with_vault(|inv, keys, ws| Vault::new(ws, inv, keys).load(CLIENT).unwrap())
            .entries
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no vault entry {key}"))
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyreeve"));
        c.arg("--workspace")
            .arg(&self.ws)
            .arg("--identity")
            .arg(&self.identity)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn plan(&self, name: &str, key: &str) -> PathBuf {
        let file = self.root.join(name);
        let account = format!("{CLIENT}/{key}");
        let out = self.run(&["plan", "--all", "-o", file.to_str().unwrap(), "--account", &account]);
        assert!(out.status.success(), "plan: {}", text(&out));
        file
    }

    fn apply(&self, plan: &Path) -> Output {
        self.run(&["apply", plan.to_str().unwrap(), "--yes"])
    }

    fn journal_records(&self) -> usize {
        std::fs::read_dir(self.ws.join("state/journal"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".age"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The vault's password of `key` is current and logs in to `db` as `user`; returned.
    fn assert_in_force(&self, db: Db, key: &str, user: &str) -> Password {
        let entry = self.entry(key);
        assert_eq!(entry.state, EntryState::Current, "{key} is still pending");
        assert!(
            db.login_works(user, &entry.password),
            "{key}: the vault's password does not log in"
        );
        entry.password
    }
}

/// Discover lists the server's users; apply rotates an account reset by the admin and one that
/// changes its own password, each verified by a fresh login; `verify` then passes.
fn discover_rotate_verify(db: Db) {
    let admin = db.admin();
    let (reset_user, reset_pw) = db.new_user("reset");
    let (self_user, self_pw) = db.new_user("self");
    let targets =
        stanza(db, "db", db.changer(), "keyreeve_admin", "") + &stanza(db, "dbself", db.changer(), &self_user, "");
    let w = World::new(
        &targets,
        &[
            ("db/keyreeve_admin".into(), admin.clone()),
            (format!("db/{reset_user}"), reset_pw.clone()),
            (format!("dbself/{self_user}"), self_pw.clone()),
        ],
        "",
    );
    let out = w.run(&["discover", "--client", CLIENT]);
    let shown = String::from_utf8_lossy(&out.stdout);
    // Exit 1 is for findings: the lab's superusers are admins the vault does not manage.
    assert!(shown.contains("2 targets: 2 ok, 0 failed"), "discover: {}", text(&out));
    assert!(
        shown.contains(&reset_user) && shown.contains(&self_user) && shown.contains("keyreeve_admin"),
        "{}",
        text(&out)
    );
    for (target, user, old) in [("db", &reset_user, &reset_pw), ("dbself", &self_user, &self_pw)] {
        let key = format!("{target}/{user}");
        let plan = w.plan(&format!("plan-{target}.json"), &key);
        let plan_text = std::fs::read_to_string(&plan).unwrap();
        assert!(
            plan_text.contains(if target == "db" { "admin-reset" } else { "self-change" }),
            "{plan_text}"
        );
        let out = w.apply(&plan);
        assert!(out.status.success(), "apply {key}: {}", text(&out));
        let new = w.assert_in_force(db, &key, user);
        assert_ne!(&new, old, "{key} was not rotated");
        assert!(!db.login_works(user, old), "{key}: the old password still logs in");
        assert!(
            new.expose().contains(['\'', '"', '\\', '#', ':', ';']),
            "the policy should have put a character that needs quoting in the password"
        );
        assert_eq!(w.journal_records(), 0);
    }
    let out = w.run(&["verify", "--client", CLIENT]);
    assert!(out.status.success(), "verify: {}", text(&out));
    assert!(
        db.login_works("keyreeve_admin", &admin),
        "the lab admin's password was touched"
    );
}

#[test]
fn postgres_discover_rotate_and_verify() {
    discover_rotate_verify(Db::Postgres);
}

#[test]
fn mariadb_discover_rotate_and_verify() {
    discover_rotate_verify(Db::Mariadb);
}

/// A password of letters only fails both servers' checks (PostgreSQL passwordcheck: letters and
/// nonletters; MariaDB simple_password_check: a digit and a symbol): the apply fails with the
/// server's reason, the old password stays in force and in the vault, the candidate is kept in
/// history, and nothing is left to recover.
fn refused_password_loses_nothing(db: Db) {
    let admin = db.admin();
    let (user, old) = db.new_user("weak");
    let w = World::new(
        &stanza(db, "weak", db.changer(), "keyreeve_admin", ""),
        &[
            ("weak/keyreeve_admin".into(), admin),
            (format!("weak/{user}"), old.clone()),
        ],
        "[[rules]]\ntarget = \"weak\"\ndigits = false\nsymbols = \"\"\n",
    );
    let key = format!("weak/{user}");
    let out = w.apply(&w.plan("weak.json", &key));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("refused the new password"), "{shown}");
    let kept = w.assert_in_force(db, &key, &user);
    assert_eq!(kept, old, "the old password must stay in the vault");
    let entry = w.entry(&key);
    assert_eq!(entry.history.len(), 1, "the refused candidate is kept in history");
    assert!(!db.login_works(&user, &entry.history[0].password));
    assert_eq!(w.journal_records(), 0);
}

#[test]
fn postgres_refused_password_loses_nothing() {
    refused_password_loses_nothing(Db::Postgres);
}

#[test]
fn mariadb_refused_password_loses_nothing() {
    refused_password_loses_nothing(Db::Mariadb);
}

/// Whether any process's command line holds `needle` (a unique marker of the test's own).
fn process_with_argument(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
            .unwrap_or(false)
    })
}

/// A changer that makes the change and then hangs, and hangs on `verify` too, is killed with its
/// whole process group at the inventory's timeout; the rotation is left "may or may not have
/// changed" with both passwords kept; once `verify` answers again, `recover` settles it by a
/// fresh login: the new password, which the server has.
#[test]
fn hanging_changer_is_killed_and_settled_by_a_fresh_login() {
    let db = Db::Postgres;
    let admin = db.admin();
    let (user, old) = db.new_user("hang");
    let sleeper = format!("{}.{}", 900 + std::process::id() % 97, std::process::id() % 1000);
    // `change` changes, then waits on a child of its own: the kill must reach both.
    let hang = format!(
        "#!/bin/sh\nhere=$(dirname \"$0\")\nif [ -e \"$here/hang-$1\" ]; then\n  \
         if [ \"$1\" = change ]; then \"$here/postgres.py\" change || exit $?; fi\n  \
         sleep {sleeper} &\n  wait\nfi\nexec \"$here/postgres.py\" \"$1\"\n"
    );
    let w = World::with_changers(
        &stanza(db, "hang", "hang.sh", "keyreeve_admin", "command_timeout = 3\n"),
        &[
            ("hang/keyreeve_admin".into(), admin),
            (format!("hang/{user}"), old.clone()),
        ],
        "",
        &[("hang.sh", hang)],
    );
    std::fs::write(w.ws.join("changers/hang-change"), "").unwrap();
    std::fs::write(w.ws.join("changers/hang-verify"), "").unwrap();
    let key = format!("hang/{user}");
    let plan = w.plan("hang.json", &key);
    let started = Instant::now();
    let out = w.apply(&plan);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("keyreeve recover"), "{}", text(&out));
    assert!(
        took < Duration::from_secs(60),
        "apply waited {took:?} on a hung changer"
    );
    assert!(
        !process_with_argument(&format!("sleep {sleeper}")),
        "the hung changer's child survived the kill"
    );
    let entry = w.entry(&key);
    assert_eq!(
        entry.state,
        EntryState::Pending,
        "unknown outcome: the entry stays pending"
    );
    let candidates = &entry.pending.as_ref().expect("candidates kept").candidates;
    assert_eq!(entry.password, old, "the old password is kept");
    assert_eq!(candidates.len(), 1);
    let new = candidates[0].clone();
    assert!(db.login_works(&user, &new), "the changer did change it before hanging");
    assert_eq!(w.journal_records(), 1, "the journal keeps the record");

    // Still hanging: recover cannot prove anything and keeps both.
    let out = w.run(&["recover"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(w.entry(&key).state, EntryState::Pending);
    assert_eq!(w.journal_records(), 1);

    std::fs::remove_file(w.ws.join("changers/hang-verify")).unwrap();
    let out = w.run(&["recover"]);
    assert!(out.status.success(), "recover: {}", text(&out));
    assert_eq!(w.assert_in_force(db, &key, &user), new);
    assert_eq!(w.journal_records(), 0);
}

/// Runs `apply` until it reaches `step`, then SIGKILLs it.
fn kill_apply_at(w: &World, plan: &Path, step: &str) {
    let marker = w.root.join(format!("failpoint-{step}"));
    let _ = std::fs::remove_file(&marker);
    let mut child = w
        .cmd(&["apply", plan.to_str().unwrap(), "--yes"])
        .env("KEYREEVE_FAILPOINT", step)
        .env("KEYREEVE_FAILPOINT_FILE", &marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!("apply ended ({status}) before reaching {step}:\n{}", text(&out));
        }
        assert!(start.elapsed() < Duration::from_secs(60), "apply never reached {step}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// A SIGKILL of apply at every step of a scripted rotation (an admin reset on PostgreSQL, a
/// self-change on MariaDB), then `recover`: the vault's password logs in, and it is the new
/// one exactly when the kill came after the change.
#[test]
fn sigkill_at_every_step_then_recover_keeps_a_working_password() {
    let mut targets = String::new();
    let mut entries = Vec::new();
    let mut cases = Vec::new();
    let pg_admin = Db::Postgres.admin();
    Db::Mariadb.admin();
    targets.push_str(&stanza(Db::Postgres, "pg", "postgres.py", "keyreeve_admin", ""));
    entries.push(("pg/keyreeve_admin".to_string(), pg_admin.clone()));
    for (i, step) in STEPS.iter().enumerate() {
        let (user, pw) = Db::Postgres.new_user("kill");
        entries.push((format!("pg/{user}"), pw.clone()));
        cases.push((*step, Db::Postgres, "pg".to_string(), user, pw));
        let (user, pw) = Db::Mariadb.new_user("kill");
        let target = format!("my{i}");
        targets.push_str(&stanza(Db::Mariadb, &target, "mariadb.py", &user, ""));
        entries.push((format!("{target}/{user}"), pw.clone()));
        cases.push((*step, Db::Mariadb, target, user, pw));
    }
    let w = World::new(&targets, &entries, "");
    let changed_at = STEPS.iter().position(|s| *s == "changed").unwrap();
    for (step, db, target, user, old) in cases {
        let key = format!("{target}/{user}");
        let plan = w.plan(&format!("plan-{target}-{user}.json"), &key);
        kill_apply_at(&w, &plan, step);
        let out = w.run(&["recover"]);
        assert!(
            out.status.success(),
            "recover after a kill at {step} ({key}):\n{}",
            text(&out)
        );
        assert_eq!(w.journal_records(), 0, "{key} at {step}: journal not cleared");
        let in_force = w.assert_in_force(db, &key, &user);
        if STEPS.iter().position(|s| *s == step).unwrap() >= changed_at {
            assert_ne!(in_force, old, "{key} at {step}: the new password should be in force");
            assert!(!db.login_works(&user, &old), "{key} at {step}: the old one still works");
        } else {
            assert_eq!(in_force, old, "{key} at {step}: the old password should be kept");
        }
    }
    assert!(Db::Postgres.login_works("keyreeve_admin", &pg_admin));
}

/// Every process's argv and environment seen while apply runs (sampled all along): the changer,
/// psql, and anything else.
fn watch_processes(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<BTreeSet<String>> {
    std::thread::spawn(move || {
        let mut seen = BTreeSet::new();
        while !stop.load(Ordering::SeqCst) {
            for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
                for file in ["cmdline", "environ"] {
                    if let Ok(bytes) = std::fs::read(e.path().join(file)) {
                        seen.insert(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        seen
    })
}

/// No secret is in the argv or environment of any process while a scripted rotation runs (the
/// changer, psql, their children), and the changer's environment holds only PATH, LANG and HOME
/// of keyreeve's: nothing keyreeve itself was given.
#[test]
fn secrets_never_reach_argv_or_the_environment() {
    let db = Db::Postgres;
    let admin = db.admin();
    let (user, old) = db.new_user("argv");
    let recorder = "#!/bin/sh\nhere=$(dirname \"$0\")\n{ printf 'argv:'; printf ' %s' \"$@\"; printf '\\n'; env; } >> \"$here/recorded\"\nexec \"$here/postgres.py\" \"$@\"\n";
    let w = World::with_changers(
        &stanza(db, "rec", "record.sh", "keyreeve_admin", ""),
        &[
            ("rec/keyreeve_admin".into(), admin.clone()),
            (format!("rec/{user}"), old.clone()),
        ],
        "",
        &[("record.sh", recorder.to_string())],
    );
    let record = w.ws.join("changers/recorded");
    let key = format!("rec/{user}");
    let plan = w.plan("rec.json", &key);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_processes(stop.clone());
    let out = w
        .cmd(&["apply", plan.to_str().unwrap(), "--yes"])
        .env("KEYREEVE_TEST_MARKER", "inherited")
        .output()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let new = w.assert_in_force(db, &key, &user);
    assert!(seen.len() > 10, "the watcher saw processes");
    for secret in [&old, &new, &admin] {
        assert!(
            !seen.iter().any(|s| s.contains(secret.expose())),
            "a password was in some process's argv or environment"
        );
    }
    let recorded = std::fs::read_to_string(&record).unwrap();
    let argvs: Vec<&str> = recorded.lines().filter(|l| l.starts_with("argv:")).collect();
    assert!(
        argvs.contains(&"argv: change") && argvs.contains(&"argv: verify"),
        "{recorded}"
    );
    assert!(
        argvs.iter().all(|a| a.split(' ').count() == 2),
        "one verb argument only: {argvs:?}"
    );
    let names: BTreeSet<&str> = recorded
        .lines()
        .filter(|l| !l.starts_with("argv:"))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let allowed: BTreeSet<&str> = ["PATH", "LANG", "HOME", "PWD", "SHLVL", "_", "OLDPWD"].into();
    assert!(names.is_subset(&allowed), "the changer's environment: {names:?}");
    assert!(!recorded.contains("inherited"));
}

/// A changer's exit codes and output as the connector reads them: 3 is the target's refusal, 4
/// wrong credentials, anything else a failure; stderr is shown with any echoed secret masked,
/// and a `list` printing no JSON is an error naming the changer.
#[test]
fn changer_exit_codes_and_stderr_reach_the_user_masked() {
    // Echoes the whole request (every secret in it) on stderr, then exits with the code the
    // account name asks for.
    let fake = "#!/bin/sh\nreq=$(cat)\nprintf 'the server said: %s\\n' \"$req\" >&2\nprintf 'not json'\ncase \"$req\" in\n  *'\"account\":\"refuse\"'*) exit 3 ;;\n  *'\"account\":\"badlogin\"'*) exit 4 ;;\n  *) exit 1 ;;\nesac\n";
    let w = World::with_changers(
        &format!(
            "\n[[clients.{CLIENT}.targets]]\nname = \"fake\"\nkind = \"script\"\nchanger = \"changers/fake.sh\"\naddress = \"127.0.0.1\"\nlogin = \"root\"\n\
             [clients.{CLIENT}.targets.params]\nmode = \"api\"\nretries = 2\n"
        ),
        &[],
        "",
        &[("fake.sh", fake.to_string())],
    );
    let target = w.with_vault(|inv, _, ws| {
        let target = inv.target(CLIENT, "fake").unwrap().clone();
        let ctx = keyreeve::connector::ConnectContext {
            known_hosts: ws.root().join("state/known_hosts"),
            workspace_root: ws.root().to_path_buf(),
            trust_on_first_use: false,
            directory: Default::default(),
        };
        (target, ctx)
    });
    let connector = keyreeve::connector::for_target(&target.0, &target.1).unwrap();
    let login = keyreeve::connector::Credentials {
        username: "root".into(),
        method: Default::default(),
        secret: Password::new("Login-Secret-123"),
        enable: None,
    };
    let (old, new) = (Password::new("Old-Secret-456"), Password::new("New-Secret-789"));
    let change = |account: &str| {
        let mut session = connector.open(&login).unwrap();
        let method = connector.change_method("root", account);
        session.change_password(account, method, &old, &new).unwrap_err()
    };
    use keyreeve::connector::ConnectorError as E;
    let refused = change("refuse");
    assert!(matches!(refused, E::PasswordRejected { .. }), "{refused}");
    assert!(matches!(change("badlogin"), E::AuthFailed { .. }));
    let failed = change("other");
    let shown = failed.to_string();
    assert!(matches!(failed, E::Protocol { .. }), "{shown}");
    assert!(
        shown.contains("exited with 1") && shown.contains("the server said"),
        "{shown}"
    );
    // The target as the protocol gives it: name, address, no port, the params passed through.
    let target_json =
        r#""target":{"name":"fake","address":"127.0.0.1","port":null,"params":{"mode":"api","retries":2}}"#;
    assert!(shown.contains(target_json), "{shown}");
    for e in [refused.to_string(), shown] {
        for secret in ["Login-Secret-123", "Old-Secret-456", "New-Secret-789", "Secret"] {
            assert!(!e.contains(secret), "{secret} in {e}");
        }
        assert!(e.contains(keyreeve::secret::REDACTED), "{e}");
    }
    // A request that would not fit a pipe's buffer is refused before the changer runs.
    let mut huge = target.0.clone();
    let script = huge.script.as_mut().unwrap();
    script.params.insert("blob".into(), "x".repeat(70_000).into());
    let err = keyreeve::connector::for_target(&huge, &target.1)
        .unwrap()
        .verify(&login, "root", &new)
        .unwrap_err()
        .to_string();
    assert!(err.contains("over 60 KiB"), "{err}");
    let listed = connector.list_accounts(&login).unwrap_err().to_string();
    assert!(
        listed.contains("changers/fake.sh") || listed.contains("exited with 1"),
        "{listed}"
    );
}

/// A changer outside the workspace, through a symbolic link out of it, or not executable is
/// refused when the inventory is loaded, at the target's line.
#[test]
fn a_changer_that_is_not_an_executable_in_the_workspace_is_refused_at_its_line() {
    let w = World::new("", &[], "");
    let inv_file = w.ws.join("keyreeve.toml");
    let base = std::fs::read_to_string(&inv_file).unwrap();
    let line = base.lines().count() + 2;
    let outside = w.root.join("outside.sh");
    std::fs::write(&outside, "#!/bin/sh\n").unwrap();
    std::os::unix::fs::symlink(&outside, w.ws.join("changers/link.sh")).unwrap();
    std::fs::write(w.ws.join("changers/plain.sh"), "#!/bin/sh\n").unwrap();
    let errors = Mutex::new(Vec::new());
    for (changer, expected) in [
        ("changers/missing.sh", "No such file"),
        ("changers/link.sh", "outside the workspace"),
        ("changers/plain.sh", "not executable"),
        ("changers", "not a regular file"),
        ("../outside.sh", "stays inside"),
        ("/bin/true", "stays inside"),
    ] {
        let text = format!(
            "{base}\n[[clients.{CLIENT}.targets]]\nname = \"s\"\nkind = \"script\"\nchanger = \"{changer}\"\naddress = \"h\"\nlogin = \"root\"\n"
        );
        std::fs::write(&inv_file, text).unwrap();
        let err = Inventory::load(&inv_file).unwrap_err().to_string();
        assert!(err.contains(expected), "{changer}: {err}");
        let at = format!(
            "keyreeve.toml:{}:",
            if changer.starts_with(['/', '.']) {
                line + 3
            } else {
                line
            }
        );
        assert!(err.contains(&at), "{changer}: {err} (expected {at})");
        errors.lock().unwrap().push(err);
    }
}
