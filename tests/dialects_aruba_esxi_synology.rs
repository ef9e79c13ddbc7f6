//! The dialects of HPE Aruba AOS-CX and AOS-S (ProCurve), VMware ESXi and Synology DSM end to
//! end on their emulated devices: `discover` lists each one's admins, `plan`/`apply`/`verify`
//! rotate each one's admin accounts, a refused password is rolled back and never tried at login,
//! keyreeve never drives an ESXi account into its lockout, and a SIGKILL of `apply` at every
//! step followed by `recover` loses no password (the same proof tests/rotation.rs gives for IOS
//! and Junos, over a lab of these four).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyreeve::connector::{self, ChangeMethod, ConnectContext, ConnectorError, Credentials};
use keyreeve::inventory::{Inventory, LoginMethod, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{random_password, DeviceSpec, Fault, Lab, LabAccount, LabConfig};
use keyreeve::rotation::failpoint::STEPS;
use keyreeve::secret::Password;
use keyreeve::vault::{Entry, EntryState, Vault};
use keyreeve::workspace::Workspace;

const CLIENT: &str = "acme";
const KINDS: [TargetKind; 4] = [
    TargetKind::ArubaAoscx,
    TargetKind::ArubaAoss,
    TargetKind::Esxi,
    TargetKind::SynologyDsm,
];

/// `admin` (the login) and a second account: another administrator where the OS has room for
/// one, the operator on AOS-S (one manager, one operator).
fn device(name: &str, kind: TargetKind) -> DeviceSpec {
    let second = if kind == TargetKind::ArubaAoss { 1 } else { 15 };
    DeviceSpec {
        name: name.into(),
        kind,
        accounts: vec![
            LabAccount::new("admin", random_password(), 15),
            LabAccount::new("netops", random_password(), second),
        ],
        enable_secret: None,
        port: 0,
    }
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    identity: PathBuf,
    lab: Lab,
    initial: Vec<(String, Password)>,
}

impl World {
    fn new(devices: Vec<DeviceSpec>) -> World {
        World::at_scale(devices, 1.0)
    }

    /// With the devices' timers `time_scale` times faster than real time.
    fn at_scale(devices: Vec<DeviceSpec>, time_scale: f64) -> World {
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
        let initial: Vec<(String, Password)> = devices
            .iter()
            .flat_map(|d| {
                d.accounts
                    .iter()
                    .map(|a| (format!("{}/{}", d.name, a.name), a.password.clone()))
            })
            .collect();
        let lab = Lab::start(LabConfig {
            devices,
            time_scale,
            auth_rejection_time: Duration::from_millis(50),
            ..LabConfig::default()
        })
        .expect("lab missing: the in-process device lab did not start on 127.0.0.1");
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
        w.set_entries(&w.initial.clone());
        w
    }

    fn vault(&self) -> (Workspace, Inventory, KeyRing) {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        (ws, inv, KeyRing::locate(Some(&self.identity)))
    }

    fn set_entries(&self, entries: &[(String, Password)]) {
        let (ws, inv, keys) = self.vault();
        Vault::new(&ws, &inv, &keys)
            .update(CLIENT, |doc| {
                for (key, pw) in entries {
                    let account = key.split('/').nth(1).unwrap();
                    doc.entries.insert(key.clone(), Entry::new(account, pw.clone()));
                }
                Ok::<(), keyreeve::vault::VaultError>(())
            })
            .unwrap();
    }

    fn entry(&self, key: &str) -> Entry {
        let (ws, inv, keys) = self.vault();
        let doc = Vault::new(&ws, &inv, &keys).load(CLIENT).unwrap();
        doc.entries
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no vault entry {key}"))
    }

    fn initial(&self, key: &str) -> Password {
        self.initial
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| p.clone())
            .unwrap()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyreeve"));
        c.arg("--workspace")
            .arg(&self.ws)
            .arg("--identity")
            .arg(&self.identity)
            .args(args);
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn plan(&self, name: &str, accounts: &[&str]) -> PathBuf {
        let file = self.root.join(name);
        let mut args = vec!["plan", "--all", "-o", file.to_str().unwrap()];
        let paths: Vec<String> = accounts.iter().map(|a| format!("{CLIENT}/{a}")).collect();
        for p in &paths {
            args.extend(["--account", p.as_str()]);
        }
        if accounts.is_empty() {
            args.extend(["--client", CLIENT]);
        }
        let out = self.run(&args);
        assert!(out.status.success(), "plan: {}", text(&out));
        file
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

    /// The vault's password for `key` logs in now and after a reload (it was saved).
    fn assert_in_force(&self, key: &str) -> Password {
        let entry = self.entry(key);
        assert_eq!(entry.state, EntryState::Current, "{key} is still pending");
        assert!(entry.pending.is_none(), "{key} still has candidates");
        let (dev, account) = key.split_once('/').unwrap();
        assert!(
            self.lab.running_password_works(dev, account, &entry.password),
            "{key}: the vault's password does not log in"
        );
        assert!(
            self.lab.saved_password_works(dev, account, &entry.password),
            "{key}: the vault's password is not saved on the device"
        );
        entry.password
    }

    fn connector(&self, device: &str) -> Box<dyn connector::Connector> {
        let (_, inv, _) = self.vault();
        let target = inv.target(CLIENT, device).unwrap().clone();
        let ctx = ConnectContext {
            known_hosts: self.root.join("known_hosts"),
            workspace_root: self.ws.clone(),
            trust_on_first_use: false,
            directory: Default::default(),
        };
        connector::for_target(&target, &ctx).unwrap()
    }

    fn login(&self, device: &str) -> Credentials {
        Credentials {
            username: "admin".into(),
            method: LoginMethod::Password,
            secret: self.initial(&format!("{device}/admin")),
            enable: None,
        }
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

fn one_of_each() -> World {
    World::new(KINDS.iter().map(|k| device(k.as_str(), *k)).collect())
}

#[test]
fn discover_lists_the_admins_of_each_new_dialect() {
    let w = one_of_each();
    let out = w.run(&["discover", "--client", CLIENT, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dump = reports.to_string();
    for kind in KINDS {
        let report = reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r.to_string().contains(&format!("\"{}\"", kind.as_str())))
            .unwrap_or_else(|| panic!("{kind} missing from {dump}"));
        let accounts = report.to_string();
        for (name, admin) in [("admin", true), ("netops", kind != TargetKind::ArubaAoss)] {
            let needle = format!("\"name\":\"{name}\"");
            assert!(accounts.contains(&needle), "{kind}: {name} missing: {accounts}");
            let _ = admin;
        }
    }
    // Each OS's own privilege words, and who is an administrator.
    for (kind, admin, other) in [
        (TargetKind::ArubaAoscx, "group administrators", None),
        (TargetKind::ArubaAoss, "manager", Some("operator")),
        (TargetKind::Esxi, "role Admin", None),
        (TargetKind::SynologyDsm, "group administrators (DSM 7)", None),
    ] {
        let accounts = w
            .connector(kind.as_str())
            .list_accounts(&w.login(kind.as_str()))
            .unwrap();
        let find = |n: &str| {
            accounts
                .iter()
                .find(|a| a.name == n)
                .unwrap_or_else(|| panic!("{kind}: {n}: {accounts:?}"))
        };
        assert!(
            find("admin").admin && find("admin").privilege == admin,
            "{kind}: {accounts:?}"
        );
        match other {
            Some(p) => assert!(
                !find("netops").admin && find("netops").privilege == p,
                "{kind}: {accounts:?}"
            ),
            None => assert!(find("netops").admin, "{kind}: {accounts:?}"),
        }
    }
}

#[test]
fn plan_apply_verify_rotate_every_account_of_each_new_dialect() {
    let w = one_of_each();
    let plan = w.plan("plan.json", &[]);
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    for (_, pw) in &w.initial {
        assert!(!plan_text.contains(pw.expose()), "the plan holds a secret");
    }
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    for (key, old) in w.initial.clone() {
        let new = w.assert_in_force(&key);
        assert_ne!(new, old, "{key} was not rotated");
        let (dev, account) = key.split_once('/').unwrap();
        assert!(
            !w.lab.running_password_works(dev, account, &old),
            "{key}: old still works"
        );
        assert_eq!(
            w.lab.login_failures(dev, account),
            (0, false),
            "{key}: failed logins left behind"
        );
    }
    let out = w.run(&["verify", "--client", CLIENT]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A password the device refuses is reported as refused, the device keeps the old one, and the
/// refused password is never tried at login (no lockout count on ESXi).
#[test]
fn a_refused_password_is_reported_and_the_old_one_kept() {
    let w = one_of_each();
    for (kind, refused) in [
        (TargetKind::ArubaAoss, "Aa1-".repeat(17)),
        (TargetKind::Esxi, "Abcdef-".to_string()),
        (TargetKind::Esxi, "Ab-1".repeat(10)),
        (TargetKind::SynologyDsm, "Aa1-".repeat(32)),
    ] {
        let dev = kind.as_str();
        let c = w.connector(dev);
        let old = w.initial(&format!("{dev}/netops"));
        let mut session = c.open(&w.login(dev)).unwrap();
        let e = session
            .change_password(
                "netops",
                ChangeMethod::AdminReset,
                &old,
                &Password::new(refused.clone()),
            )
            .unwrap_err();
        assert!(
            e.is_password_rejected() || matches!(e, ConnectorError::UnexpectedOutput { .. }),
            "{kind}: {e}"
        );
        assert!(
            !e.to_string().contains(&refused),
            "{kind}: the refused password is shown: {e}"
        );
        drop(session);
        assert!(
            w.lab.running_password_works(dev, "netops", &old),
            "{kind}: old password lost"
        );
        assert_eq!(w.lab.login_failures(dev, "netops").0, 0, "{kind}: a login was tried");
    }
}

/// A device that takes the command but changes nothing: the fresh login with the new password
/// fails, apply rolls back from the open session, and the vault keeps the old password.
#[test]
fn a_change_the_fresh_login_refutes_is_rolled_back_on_each_new_dialect() {
    let w = one_of_each();
    for kind in KINDS {
        w.lab.set_fault(kind.as_str(), Fault::IgnorePasswordChange).unwrap();
    }
    let plan = w.plan("plan.json", &[]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rolled back"),
        "{}",
        text(&out)
    );
    for (key, old) in w.initial.clone() {
        assert_eq!(w.assert_in_force(&key), old, "{key}");
        let (dev, account) = key.split_once('/').unwrap();
        let (failures, locked) = w.lab.login_failures(dev, account);
        // One refused fresh login at most, cleared by the proof of the old password after it.
        assert!(
            failures <= 1 && !locked,
            "{key}: {failures} failed logins, locked {locked}"
        );
    }
}

/// ESXi locks an account after 5 failed logins and a failed verify counts: a wrong stored
/// password costs one failure per command, never a retry; rotation adds none.
#[test]
fn keyreeve_never_locks_an_esxi_account_out() {
    let w = World::new(vec![device("esx1", TargetKind::Esxi)]);
    let wrong = Password::new("Wr0ng-but-well-formed");
    w.set_entries(&[("esx1/netops".into(), wrong)]);
    let out = w.run(&["verify", "--client", CLIENT]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        w.lab.login_failures("esx1", "netops"),
        (1, false),
        "one verify, one attempt"
    );
    let out = w.run(&["discover", "--client", CLIENT, "--verify"]);
    assert!(out.status.code().is_some(), "{}", text(&out));
    assert_eq!(
        w.lab.login_failures("esx1", "netops"),
        (2, false),
        "one discover, one attempt"
    );
    // The lockout is real: three more failures lock even the right password out.
    let c = w.connector("esx1");
    for _ in 0..3 {
        let _ = c.verify(&w.login("esx1"), "netops", &Password::new("Wr0ng-again-1x"));
    }
    assert_eq!(w.lab.login_failures("esx1", "netops"), (5, true));
    let right = w.initial("esx1/netops");
    assert_eq!(
        c.verify(&w.login("esx1"), "netops", &right).unwrap(),
        keyreeve::connector::Verification::Rejected,
        "a locked account refuses even its right password"
    );
    // The login account is untouched by all of it.
    assert_eq!(w.lab.login_failures("esx1", "admin"), (0, false));
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

#[test]
fn sigkill_at_every_step_then_recover_keeps_a_working_password() {
    let mut devices = Vec::new();
    for i in 0..STEPS.len() {
        for kind in KINDS {
            devices.push(device(&format!("{}{i}", kind.as_str()), kind));
        }
    }
    let w = World::new(devices);
    for (i, step) in STEPS.iter().enumerate() {
        for kind in KINDS {
            let dev = format!("{}{i}", kind.as_str());
            for account in ["netops", "admin"] {
                let key = format!("{dev}/{account}");
                let plan = w.plan(&format!("plan-{dev}-{account}.json"), &[&key]);
                kill_apply_at(&w, &plan, step);
                let out = w.run(&["recover"]);
                assert!(
                    out.status.success(),
                    "recover after a kill at {step} ({key}):\n{}",
                    text(&out)
                );
                assert_eq!(w.journal_records(), 0, "{key} at {step}: journal not cleared");
                w.lab.reload(&dev).unwrap();
                let in_force = w.assert_in_force(&key);
                let old = w.initial(&key);
                let changed_yet = STEPS.iter().position(|s| s == step) >= STEPS.iter().position(|s| *s == "changed");
                if changed_yet {
                    assert_ne!(in_force, old, "{key} at {step}: the new password should be in force");
                } else {
                    assert_eq!(in_force, old, "{key} at {step}: the old password should be kept");
                }
                assert!(!w.lab.login_failures(&dev, account).1, "{key} at {step}: locked out");
            }
        }
    }
}

/// One device `d1` of `kind` at `time_scale`.
fn scaled(kind: TargetKind, time_scale: f64) -> World {
    World::at_scale(vec![device("d1", kind)], time_scale)
}

/// AOS-CX's timed checkpoint is the safety net: a change keyreeve never confirms (it vanished
/// after the change) goes back by itself when the timer ends.
#[test]
fn an_unconfirmed_aoscx_change_reverts_by_itself() {
    // 5 minutes in 0.5 s.
    let w = scaled(TargetKind::ArubaAoscx, 600.0);
    let c = w.connector("d1");
    let old = w.initial("d1/netops");
    let new = Password::new("N3w-pass.word.1");
    let mut session = c.open(&w.login("d1")).unwrap();
    session
        .change_password("netops", ChangeMethod::AdminReset, &old, &new)
        .unwrap();
    drop(session);
    assert!(
        w.lab.running_password_works("d1", "netops", &new),
        "the change is live at once"
    );
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        w.lab.running_password_works("d1", "netops", &old),
        "the checkpoint did not revert"
    );
    assert!(!w.lab.running_password_works("d1", "netops", &new));
}

/// ESXi unlocks a locked account after `Security.AccountUnlockTime` (15 minutes, scaled).
#[test]
fn a_locked_esxi_account_unlocks_after_the_unlock_time() {
    // 15 minutes in 0.25 s.
    let w = scaled(TargetKind::Esxi, 3600.0);
    let c = w.connector("d1");
    for _ in 0..5 {
        let _ = c.verify(&w.login("d1"), "netops", &Password::new("Wr0ng-pass-x"));
    }
    assert_eq!(w.lab.login_failures("d1", "netops"), (5, true));
    let right = w.initial("d1/netops");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        c.verify(&w.login("d1"), "netops", &right).unwrap(),
        keyreeve::connector::Verification::Accepted
    );
    assert_eq!(w.lab.login_failures("d1", "netops"), (0, false));
}

/// AOS-S takes `no page` only in manager mode: the operator's login is told so, by name.
#[test]
fn an_aoss_operator_login_is_refused_with_the_reason() {
    let w = scaled(TargetKind::ArubaAoss, 1.0);
    let c = w.connector("d1");
    let operator = Credentials {
        username: "netops".into(),
        method: LoginMethod::Password,
        secret: w.initial("d1/netops"),
        enable: None,
    };
    let e = c.list_accounts(&operator).unwrap_err();
    assert!(e.to_string().contains("manager mode"), "{e}");
}

/// Synology: only members of `administrators` become root; a user outside it is told why, and
/// its password is typed nowhere but at the SSH login.
#[test]
fn a_dsm_login_outside_administrators_is_refused_with_the_reason() {
    let viewer_pw = random_password();
    let lab = Lab::start(LabConfig {
        devices: vec![DeviceSpec {
            name: "d2".into(),
            kind: TargetKind::SynologyDsm,
            accounts: vec![LabAccount::new("viewer", viewer_pw.clone(), 1)],
            enable_secret: None,
            port: 0,
        }],
        ..LabConfig::default()
    })
    .expect("lab missing: the in-process device lab did not start on 127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let inventory = Inventory::parse(&lab.inventory_toml(CLIENT), Path::new("keyreeve.toml")).unwrap();
    let target = inventory.target(CLIENT, "d2").unwrap().clone();
    let ctx = ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use: false,
        directory: Default::default(),
    };
    let c = connector::for_target(&target, &ctx).unwrap();
    let viewer = Credentials {
        username: "viewer".into(),
        method: LoginMethod::Password,
        secret: viewer_pw.clone(),
        enable: None,
    };
    let e = c.list_accounts(&viewer).unwrap_err().to_string();
    assert!(e.contains("sudoers"), "{e}");
    assert!(!e.contains(viewer_pw.expose()), "{e}");
}
