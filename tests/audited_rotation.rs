//! `apply` and the audit log, on one emulated lab device: a log that cannot be written stops a
//! run before any target is touched, and an event that cannot be written after a target was
//! changed (which cannot be undone) fails the run loudly while the vault keeps what happened.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig};
use keyreeve::secret::Password;
use keyreeve::vault::{Entry, EntryState, Vault, VaultDocument};
use keyreeve::workspace::Workspace;

const CLIENT: &str = "acme";
const DEVICE: &str = "sw1";

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    identity: PathBuf,
    lab: Lab,
    initial: Password,
}

impl World {
    fn new() -> World {
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
        let initial = keyreeve::lab::random_password();
        let lab = Lab::start(LabConfig {
            devices: vec![DeviceSpec {
                name: DEVICE.into(),
                kind: TargetKind::Junos,
                accounts: vec![LabAccount::new("admin", initial.clone(), 15)],
                enable_secret: None,
                port: 0,
            }],
            time_scale: 1.0,
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
        let ws = Workspace::open(&w.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&w.identity));
        Vault::new(&ws, &inv, &keys)
            .update(CLIENT, |doc| {
                doc.entries
                    .insert(format!("{DEVICE}/admin"), Entry::new("admin", w.initial.clone()));
                Ok::<(), keyreeve::vault::VaultError>(())
            })
            .unwrap();
        w
    }

    fn doc(&self) -> VaultDocument {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        Vault::new(&ws, &inv, &keys).load(CLIENT).unwrap()
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

    fn plan(&self) -> PathBuf {
        let file = self.root.join("plan.json");
        let out = self
            .cmd(&["plan", "--all", "--client", CLIENT, "-o", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "plan: {}", text(&out));
        file
    }

    fn log(&self) -> PathBuf {
        self.ws.join("state/audit.log")
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

#[test]
fn a_log_that_cannot_be_written_stops_apply_before_any_target_is_touched() {
    let w = World::new();
    let plan = w.plan();
    // A complete last line that is not an event: nothing can be chained onto it.
    let mut log = std::fs::read(w.log()).unwrap_or_default();
    log.extend_from_slice(b"not an event\n");
    std::fs::write(w.log(), &log).unwrap();

    let out = w.cmd(&["apply", plan.to_str().unwrap(), "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing was rotated") && err.contains("audit.log"),
        "{err}"
    );
    assert!(
        w.lab.running_password_works(DEVICE, "admin", &w.initial),
        "the device was touched"
    );
    let entry = &w.doc().entries[&format!("{DEVICE}/admin")];
    assert_eq!(entry.state, EntryState::Current);
    assert_eq!(entry.password, w.initial);
    assert_eq!(std::fs::read(w.log()).unwrap(), log, "nothing was appended");
}

#[test]
fn an_event_that_cannot_be_written_after_the_change_fails_the_run_loudly() {
    let w = World::new();
    let plan = w.plan();
    let out = w
        .cmd(&["apply", plan.to_str().unwrap(), "--yes"])
        .env("KEYREEVE_FAILPOINT", "audit:fail")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOT in the audit log")
            && err.contains("rotation.apply")
            && err.contains(&format!("{CLIENT}/{DEVICE}/admin")),
        "the whole event is shown: {err}"
    );
    assert!(!err.contains(w.initial.expose()), "no secret in the report");
    // What happened is kept: the device has the vault's new password, the old one in its history.
    let entry = w.doc().entries[&format!("{DEVICE}/admin")].clone();
    assert_ne!(entry.password, w.initial);
    assert!(w.lab.running_password_works(DEVICE, "admin", &entry.password));
    assert_eq!(entry.history[0].password, w.initial);
    assert!(!err.contains(entry.password.expose()), "no secret in the report");
}
