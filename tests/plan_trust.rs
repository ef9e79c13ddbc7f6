//! What `apply` and `recover` trust, end to end on the emulated device lab: a plan file forged and
//! re-hashed is refused and touches nothing; leftovers of crashed runs are cleared; a journal
//! record that can never settle blocks only its own target and can be abandoned without losing
//! a password; and `recover` settles independent targets at once.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig};
use keyreeve::rotation::journal::{Journal, Record, RECORD_FORMAT};
use keyreeve::rotation::plan::Plan;
use keyreeve::rotation::state_fingerprint;
use keyreeve::secret::Password;
use keyreeve::vault::{Entry, EntryState, PendingRotation, Vault, VaultDocument};
use keyreeve::workspace::Workspace;

const CLIENT: &str = "acme";

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    identity: PathBuf,
    lab: Lab,
    initial: Vec<(String, Password)>,
}

fn device(name: &str) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        kind: TargetKind::CiscoIos,
        accounts: vec![
            LabAccount::new("admin", keyreeve::lab::random_password(), 15),
            LabAccount::new("netops", keyreeve::lab::random_password(), 15),
        ],
        enable_secret: None,
        port: 0,
    }
}

impl World {
    /// `count` IOS devices `r0`, `r1`, ...; a refused login takes `auth_rejection_time`.
    fn new(count: usize, auth_rejection_time: Duration) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let identity = root.join("identity.txt");
        let public = new_identity_file(&identity, None).unwrap();
        let ws = root.join("ws");
        let out = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
            .args(["init", ws.to_str().unwrap(), "--recipient", &public])
            .output()
            .unwrap();
        assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
        let devices: Vec<DeviceSpec> = (0..count).map(|i| device(&format!("r{i}"))).collect();
        let initial = devices
            .iter()
            .flat_map(|d| {
                d.accounts
                    .iter()
                    .map(|a| (format!("{}/{}", d.name, a.name), a.password.clone()))
            })
            .collect();
        let lab = Lab::start(LabConfig {
            devices,
            auth_rejection_time,
            ..LabConfig::default()
        })
        .unwrap();
        let inv_file = ws.join("keyreeve.toml");
        let mut toml = std::fs::read_to_string(&inv_file).unwrap();
        toml.push_str(&format!("\n[clients.{CLIENT}]\n\n{}", lab.inventory_toml(CLIENT)));
        std::fs::write(&inv_file, toml).unwrap();
        let w = World {
            _tmp: tmp,
            root,
            ws,
            identity,
            lab,
            initial,
        };
        w.update(|doc| {
            for (key, pw) in &w.initial {
                let account = key.split('/').nth(1).unwrap();
                doc.entries.insert(key.clone(), Entry::new(account, pw.clone()));
            }
        });
        w
    }

    fn with_lib<T>(&self, f: impl FnOnce(&Workspace, &Inventory, &KeyRing) -> T) -> T {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        f(&ws, &inv, &keys)
    }

    fn update(&self, f: impl FnOnce(&mut VaultDocument)) {
        self.with_lib(|ws, inv, keys| {
            Vault::new(ws, inv, keys)
                .update(CLIENT, |doc| {
                    f(doc);
                    Ok::<(), keyreeve::vault::VaultError>(())
                })
                .unwrap()
        })
    }

    fn entry(&self, key: &str) -> Entry {
        self.with_lib(|ws, inv, keys| Vault::new(ws, inv, keys).load(CLIENT).unwrap())
            .entries
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no vault entry {key}"))
    }

    fn initial(&self, key: &str) -> Password {
        self.initial.iter().find(|(k, _)| k == key).unwrap().1.clone()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keyreeve"))
            .arg("--workspace")
            .arg(&self.ws)
            .arg("--identity")
            .arg(&self.identity)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn plan(&self, name: &str, account: &str) -> PathBuf {
        let file = self.root.join(name);
        let path = format!("{CLIENT}/{account}");
        let out = self.run(&["plan", "--all", "--account", &path, "-o", file.to_str().unwrap()]);
        assert!(out.status.success(), "plan: {}", text(&out));
        file
    }

    fn files_in(&self, dir: &str) -> Vec<String> {
        std::fs::read_dir(self.ws.join(dir))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn audit_log(&self) -> String {
        std::fs::read_to_string(self.ws.join("state/audit.log")).unwrap_or_default()
    }

    /// Writes a journal record of a run that then dies, and marks the entry pending with its
    /// candidate (as apply does before it touches a target): the new password was never sent.
    fn orphan_record(&self, target: &str, account: &str) -> (Record, Password) {
        let new = keyreeve::lab::random_password();
        let key = format!("{target}/{account}");
        let old = self
            .initial
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| Password::new("Old-pw-of-a-gone-target-1"));
        let record = self.with_lib(|ws, inv, keys| {
            let journal = Journal::new(ws);
            let run = journal.start_run().unwrap();
            let record = Record {
                format: RECORD_FORMAT.into(),
                id: uuid::Uuid::new_v4().simple().to_string(),
                run_id: run.run_id.clone(),
                client: CLIENT.into(),
                target: target.into(),
                account: account.into(),
                username: account.into(),
                method: keyreeve::connector::ChangeMethod::AdminReset,
                is_login: false,
                old: old.clone(),
                new: new.clone(),
                started_at: chrono::Utc::now(),
            };
            journal.write(keys, inv, &record).unwrap();
            record
        });
        let pending = PendingRotation {
            journal_id: record.id.clone(),
            started_at: record.started_at,
            candidates: vec![new.clone()],
        };
        self.update(|doc| {
            let e = doc
                .entries
                .entry(key.clone())
                .or_insert_with(|| Entry::new(account, old.clone()));
            e.state = EntryState::Pending;
            e.pending = Some(pending);
        });
        (record, new)
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An edit of a plan's JSON.
type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

/// Edits the plan file's first item with `edit`, then re-hashes it as anyone can.
fn forge(plan: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap();
    edit(&mut value["items"][0]);
    let mut parsed: Plan = serde_json::from_value(value).unwrap();
    parsed.hash = parsed.compute_hash();
    let forged = plan.with_extension("forged.json");
    std::fs::write(&forged, parsed.to_json()).unwrap();
    forged
}

#[test]
fn a_forged_and_rehashed_plan_is_refused_and_nothing_is_touched() {
    let w = World::new(1, Duration::from_millis(50));
    let plan = w.plan("plan.json", "r0/netops");
    let admin_state = state_fingerprint(&w.entry("r0/admin"));
    let forgeries: Vec<(&str, Edit)> = vec![
        (
            "commands",
            Box::new(|item| item["commands"] = serde_json::json!(["username pwned privilege 15 secret 0 x"])),
        ),
        ("why", Box::new(|item| item["why"] = "routine, nothing to see".into())),
        ("address", Box::new(|item| item["address"] = "127.0.0.9:22".into())),
        ("method", Box::new(|item| item["method"] = "self-change".into())),
        (
            "path",
            Box::new(move |item| {
                item["path"] = format!("{CLIENT}/r0/admin").into();
                item["vault_state"] = admin_state.into();
            }),
        ),
    ];
    for (field, edit) in forgeries {
        let forged = forge(&plan, edit);
        let out = w.run(&["apply", forged.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(2), "{field}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A path that is not its own client/target/account is refused when the plan is read,
        // before any item is made again; every other field by the comparison.
        let named = stderr.contains(&format!("`{field}` differs")) && stderr.contains("\"acme/r0/")
            || field == "path" && stderr.contains("path `acme/r0/admin` is not its client, target and account");
        assert!(
            named,
            "{field}: the error names neither the item nor the field:\n{}",
            text(&out)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("pwned"),
            "{field}: forged text shown"
        );
    }
    for key in ["r0/admin", "r0/netops"] {
        let entry = w.entry(key);
        assert_eq!(entry.password, w.initial(key), "{key} changed");
        assert_eq!(entry.state, EntryState::Current);
        assert!(w
            .lab
            .running_password_works("r0", key.split('/').nth(1).unwrap(), &w.initial(key)));
    }
    assert!(w.files_in("state/journal").is_empty());
    assert!(
        !w.audit_log().contains("rotation.apply"),
        "a refused plan was audited as applied"
    );

    // The untouched plan still applies, and shows the commands keyreeve made.
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("> username netops"),
        "{}",
        text(&out)
    );
    assert_ne!(w.entry("r0/netops").password, w.initial("r0/netops"));
}

#[test]
fn a_plan_with_a_field_keyreeve_does_not_know_is_refused() {
    let w = World::new(1, Duration::from_millis(50));
    let plan = w.plan("plan.json", "r0/netops");
    for (place, edit) in [
        (
            "item",
            Box::new(|v: &mut serde_json::Value| v["items"][0]["run_first"] = "reload".into())
                as Box<dyn Fn(&mut serde_json::Value)>,
        ),
        (
            "plan",
            Box::new(|v: &mut serde_json::Value| v["note"] = "trust me".into()),
        ),
        (
            "selection",
            Box::new(|v: &mut serde_json::Value| v["selection"]["extra"] = true.into()),
        ),
    ] {
        let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
        edit(&mut value);
        let file = w.root.join(format!("unknown-{place}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(&value).unwrap()).unwrap();
        let out = w.run(&["apply", file.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(2), "{place}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unknown field"),
            "{place}: {}",
            text(&out)
        );
    }
    assert_eq!(w.entry("r0/netops").password, w.initial("r0/netops"));
}

#[test]
fn crash_leftovers_of_dead_runs_are_cleared_and_a_live_runs_kept() {
    let w = World::new(1, Duration::from_millis(50));
    let journal_dir = w.ws.join("state/journal");
    let locks_dir = w.ws.join("state/locks");
    std::fs::create_dir_all(&journal_dir).unwrap();
    std::fs::create_dir_all(&locks_dir).unwrap();
    // A dead run: its lock file unheld, a `.tmp` record that never became durable.
    let dead = "20250101T000000Z-deadbeef";
    std::fs::write(locks_dir.join(format!("run-{dead}.lock")), "").unwrap();
    std::fs::write(journal_dir.join(format!(".{dead}--0001.tmp")), "sealed").unwrap();
    // A dead run whose lock file is already gone.
    std::fs::write(journal_dir.join(".20250101T000001Z-0badf00d--0002.tmp"), "sealed").unwrap();
    // A live run (this process holds its lock) in the middle of writing a record.
    let live = "20250101T000002Z-a1ce0000";
    let held = std::fs::File::create(locks_dir.join(format!("run-{live}.lock"))).unwrap();
    held.lock().unwrap();
    std::fs::write(journal_dir.join(format!(".{live}--0003.tmp")), "sealed").unwrap();

    let out = w.run(&["recover"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut journal = w.files_in("state/journal");
    journal.sort();
    assert_eq!(journal, vec![format!(".{live}--0003.tmp")]);
    assert_eq!(
        w.files_in("state/locks")
            .iter()
            .filter(|n| n.starts_with("run-"))
            .count(),
        1
    );
    assert!(locks_dir.join(format!("run-{live}.lock")).exists());

    // An apply clears them too at its start once the run is dead, and leaves no lock of its own.
    drop(held);
    let plan = w.plan("plan.json", "r0/netops");
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        w.files_in("state/journal").is_empty(),
        "{:?}",
        w.files_in("state/journal")
    );
    let run_locks: Vec<String> = w
        .files_in("state/locks")
        .into_iter()
        .filter(|n| n.starts_with("run-"))
        .collect();
    assert!(run_locks.is_empty(), "{run_locks:?}");
}

#[test]
fn a_record_that_cannot_settle_blocks_only_its_target_and_can_be_abandoned() {
    let w = World::new(2, Duration::from_millis(50));
    let (gone, gone_new) = w.orphan_record("decommissioned", "admin");

    // Another target's plan goes ahead.
    let plan = w.plan("plan.json", "r0/netops");
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(w.entry("r0/netops").password, w.initial("r0/netops"));

    // A record on a target of the plan still blocks it, naming the target.
    let (_, r1_new) = w.orphan_record("r1", "netops");
    let plan = w.plan("plan-r1.json", "r1/admin");
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("acme/r1") && !stderr.contains("decommissioned"),
        "{}",
        text(&out)
    );

    // recover settles r1 and keeps the other, saying how to abandon it.
    let out = w.run(&["recover"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("--abandon"),
        "{}",
        text(&out)
    );
    let r1 = w.entry("r1/netops");
    assert_eq!((r1.state, &r1.password), (EntryState::Current, &w.initial("r1/netops")));
    assert!(r1.history.iter().any(|h| h.password == r1_new));

    // --list names the record by id and account (and holds no password).
    let out = w.run(&["recover", "--list"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&gone.id) && listed.contains("acme/decommissioned/admin"),
        "{listed}"
    );
    assert!(!listed.contains(gone_new.expose()) && !listed.contains(gone.old.expose()));

    // Abandoning asks first; without a terminal or --yes nothing changes.
    let out = w.run(&["recover", "--abandon", &gone.id]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(w.files_in("state/journal").len(), 1);
    assert_eq!(w.entry("decommissioned/admin").state, EntryState::Pending);

    let out = w.run(&["recover", "--abandon", &gone.id, "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(w.files_in("state/journal").is_empty());
    let entry = w.entry("decommissioned/admin");
    assert_eq!(entry.state, EntryState::Current);
    assert!(entry.pending.is_none());
    assert_eq!(entry.password, gone.old, "the stored password changed");
    assert!(
        entry.history.iter().any(|h| h.password == gone_new),
        "the candidate was dropped"
    );
    let audit = w.audit_log();
    let line = audit
        .lines()
        .find(|l| l.contains("rotation.abandon"))
        .unwrap_or_else(|| panic!("not audited:\n{audit}"));
    assert!(line.contains("acme/decommissioned/admin"), "{line}");
    assert!(!audit.contains(gone_new.expose()) && !audit.contains(gone.old.expose()));
    let out = w.run(&["recover"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn recover_settles_independent_targets_at_once() {
    // Each record's candidate was never sent: settling it costs one refused login (1 s here)
    // before the old password is proven. One target after another takes at least 8 s.
    const TARGETS: usize = 8;
    let rejection = Duration::from_secs(1);
    let w = World::new(TARGETS, rejection);
    for i in 0..TARGETS {
        w.orphan_record(&format!("r{i}"), "netops");
    }
    let start = Instant::now();
    let out = w.run(&["recover", "--concurrency", "8"]);
    let took = start.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    for i in 0..TARGETS {
        let key = format!("r{i}/netops");
        let entry = w.entry(&key);
        assert_eq!((entry.state, &entry.password), (EntryState::Current, &w.initial(&key)));
    }
    assert!(w.files_in("state/journal").is_empty());
    assert!(
        took < rejection * (TARGETS as u32) * 3 / 4,
        "recover took {took:?} for {TARGETS} targets"
    );
}

#[test]
fn an_unreadable_record_blocks_until_it_is_set_aside_whole() {
    let w = World::new(1, Duration::from_millis(50));
    let journal_dir = w.ws.join("state/journal");
    std::fs::create_dir_all(&journal_dir).unwrap();
    let name = "20250101T000000Z-deadbeef--0123abcd.age";
    std::fs::write(journal_dir.join(name), "not an age file").unwrap();
    let plan = w.plan("plan.json", "r0/netops");
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unreadable"),
        "{}",
        text(&out)
    );

    let out = w.run(&["recover", "--abandon", "0123abcd", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let kept = journal_dir.join("abandoned").join(name);
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "not an age file");
    assert!(w.audit_log().contains("rotation.abandon"));
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_record_of_a_client_gone_from_the_inventory_is_set_aside_whole() {
    let w = World::new(1, Duration::from_millis(50));
    let inv_file = w.ws.join("keyreeve.toml");
    let toml = std::fs::read_to_string(&inv_file).unwrap();
    std::fs::write(&inv_file, format!("{toml}\n[clients.oldco]\n")).unwrap();
    let id = w.with_lib(|ws, inv, keys| {
        let journal = Journal::new(ws);
        let run = journal.start_run().unwrap();
        let record = Record {
            format: RECORD_FORMAT.into(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            run_id: run.run_id.clone(),
            client: "oldco".into(),
            target: "fw1".into(),
            account: "admin".into(),
            username: "admin".into(),
            method: keyreeve::connector::ChangeMethod::AdminReset,
            is_login: false,
            old: Password::new("Old-pw-of-oldco-1"),
            new: Password::new("New-pw-of-oldco-2"),
            started_at: chrono::Utc::now(),
        };
        journal.write(keys, inv, &record).unwrap();
        record.id
    });
    std::fs::write(&inv_file, &toml).unwrap();

    let out = w.run(&["recover", "--abandon", &id, "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let journal = w.files_in("state/journal");
    assert_eq!(journal, vec!["abandoned".to_string()], "{journal:?}");
    let kept = w.files_in("state/journal/abandoned");
    assert!(kept.len() == 1 && kept[0].ends_with(&format!("--{id}.age")), "{kept:?}");
    assert!(w.audit_log().contains("rotation.abandon"));
}
