//! The firewall and UniFi dialects (pfsense, opnsense, panos, sonicos, unifi) on the emulated lab:
//! discovery lists each one's admins; `plan`, `apply` and `verify` (the binary, in a workspace of
//! its own) rotate each one's admin account (UniFi's as a guided step in its controller, never on
//! the device); a change the device refuses or ignores leaves the old
//! password in force and in the vault; a PAN-OS commit longer than the inventory's timeout keeps
//! both passwords for `recover`; a SIGKILL at every step of a rotation loses nothing. The
//! every-dialect suite (tests/device_dialects.rs) runs on pfsense, panos and sonicos as well.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyreeve::connector::{self, ChangeMethod, ConnectContext, Credentials, Verification};
use keyreeve::inventory::{Inventory, LoginMethod, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{default_login, DeviceSpec, Fault, Lab, LabAccount, LabConfig};
use keyreeve::rotation::failpoint::STEPS;
use keyreeve::vault::{Entry, EntryState, Vault};
use keyreeve::workspace::Workspace;
use keyreeve::Password;

const CLIENT: &str = "acme";
const KINDS: [TargetKind; 5] = [
    TargetKind::Pfsense,
    TargetKind::Opnsense,
    TargetKind::Panos,
    TargetKind::Sonicos,
    TargetKind::Unifi,
];

fn device(name: &str, kind: TargetKind) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        kind,
        accounts: vec![
            LabAccount::new(default_login(kind), keyreeve::lab::random_password(), 15),
            LabAccount::new("netops", keyreeve::lab::random_password(), 15),
            LabAccount::new("monitor", keyreeve::lab::random_password(), 1),
        ],
        enable_secret: None,
        port: 0,
    }
}

/// A workspace (made by the binary) whose client `acme` is the given lab devices, with every
/// account's password in the vault.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    identity: PathBuf,
    lab: Lab,
    specs: Vec<DeviceSpec>,
}

impl World {
    /// `command_timeout`: what the inventory gives PAN-OS devices instead of the lab's default.
    fn new(specs: Vec<DeviceSpec>, time_scale: f64, command_timeout: Option<u64>) -> World {
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
        let lab = Lab::start(LabConfig {
            devices: specs.clone(),
            time_scale,
            auth_rejection_time: Duration::from_millis(20),
            ..LabConfig::default()
        })
        .expect("lab missing: the built-in device lab did not start on 127.0.0.1");
        let inv_file = ws.join("keyreeve.toml");
        let mut toml = std::fs::read_to_string(&inv_file).unwrap();
        toml.push_str(&format!("\n[clients.{CLIENT}]\n\n{}", lab.inventory_toml(CLIENT)));
        toml = with_timeout(&toml, command_timeout);
        std::fs::write(&inv_file, toml).unwrap();
        let w = World {
            _tmp: tmp,
            root,
            ws,
            identity,
            lab,
            specs,
        };
        let workspace = Workspace::open(&w.ws).unwrap();
        let inv = Inventory::load(&workspace.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&w.identity));
        Vault::new(&workspace, &inv, &keys)
            .update(CLIENT, |doc| {
                for d in &w.specs {
                    for a in &d.accounts {
                        doc.entries.insert(
                            format!("{}/{}", d.name, a.name),
                            Entry::new(&a.name, a.password.clone()),
                        );
                    }
                }
                Ok::<(), keyreeve::vault::VaultError>(())
            })
            .unwrap();
        w
    }

    fn entry(&self, key: &str) -> Entry {
        let workspace = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&workspace.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        let doc = Vault::new(&workspace, &inv, &keys).load(CLIENT).unwrap();
        doc.entries
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no vault entry {key}"))
    }

    fn initial(&self, key: &str) -> Password {
        let (dev, account) = key.split_once('/').unwrap();
        let spec = self.specs.iter().find(|d| d.name == dev).unwrap();
        spec.accounts
            .iter()
            .find(|a| a.name == account)
            .unwrap()
            .password
            .clone()
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

    /// A plan of the given `DEVICE/ACCOUNT`s; returns its file and its JSON.
    fn plan(&self, name: &str, accounts: &[&str]) -> (PathBuf, serde_json::Value) {
        let file = self.root.join(name);
        let mut args = vec![
            "plan".to_string(),
            "--all".into(),
            "-o".into(),
            file.to_string_lossy().into(),
        ];
        for a in accounts {
            args.push("--account".into());
            args.push(format!("{CLIENT}/{a}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(&args);
        assert!(out.status.success(), "plan: {}", text(&out));
        let json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        (file, json)
    }

    /// The vault's password for `key` is current, logs in now and after a reload.
    fn assert_in_force(&self, key: &str) -> Password {
        let entry = self.entry(key);
        assert_eq!(entry.state, EntryState::Current, "{key} is still pending");
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
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn context(dir: &Path) -> ConnectContext {
    ConnectContext {
        known_hosts: dir.join("known_hosts"),
        workspace_root: dir.to_path_buf(),
        trust_on_first_use: false,
        directory: Default::default(),
    }
}

fn login(spec: &DeviceSpec) -> Credentials {
    Credentials {
        username: spec.accounts[0].name.clone(),
        method: LoginMethod::Password,
        secret: spec.accounts[0].password.clone(),
        enable: None,
    }
}

/// The lab's inventory with PAN-OS's command timeout replaced.
fn with_timeout(toml: &str, command_timeout: Option<u64>) -> String {
    let lab_default = format!("command_timeout = {}\n", keyreeve::lab::PANOS_COMMAND_TIMEOUT.as_secs());
    match command_timeout {
        Some(t) => toml.replace(&lab_default, &format!("command_timeout = {t}\n")),
        None => toml.to_string(),
    }
}

fn connector_of(lab: &Lab, name: &str, dir: &Path, command_timeout: Option<u64>) -> Box<dyn connector::Connector> {
    let toml = with_timeout(&lab.inventory_toml("lab"), command_timeout);
    let inventory = Inventory::parse(&toml, Path::new("keyreeve.toml")).unwrap();
    connector::for_target(inventory.target("lab", name).unwrap(), &context(dir)).unwrap()
}

#[test]
fn discover_lists_the_admins_of_each_new_dialect() {
    let specs: Vec<DeviceSpec> = KINDS.iter().map(|k| device(k.as_str(), *k)).collect();
    let lab = Lab::start(LabConfig {
        devices: specs.clone(),
        ..LabConfig::default()
    })
    .expect("lab missing: the built-in device lab did not start on 127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    for spec in &specs {
        let accounts = connector_of(&lab, &spec.name, dir.path(), None)
            .list_accounts(&login(spec))
            .unwrap_or_else(|e| panic!("{}: {e}", spec.kind));
        let admin_of = |name: &str| {
            accounts
                .iter()
                .find(|a| a.name == name)
                .unwrap_or_else(|| panic!("{}: {name} missing from {accounts:?}", spec.kind))
                .admin
        };
        let login_name = default_login(spec.kind);
        assert!(
            admin_of(login_name) && admin_of("netops"),
            "{}: {accounts:?}",
            spec.kind
        );
        // UniFi has no privilege levels: its device account is all-powerful, and the
        // controller's.
        assert_eq!(
            admin_of("monitor"),
            spec.kind == TargetKind::Unifi,
            "{}: {accounts:?}",
            spec.kind
        );
        assert_eq!(accounts.len(), 3, "{}: {accounts:?}", spec.kind);
        if spec.kind == TargetKind::Unifi {
            assert!(
                accounts
                    .iter()
                    .all(|a| a.privilege.contains("UniFi controller") && a.privilege.contains("next provisioning")),
                "{accounts:?}"
            );
        }
    }
}

#[test]
fn plan_apply_verify_rotate_each_admin_account_and_plan_unifi_as_a_guided_step() {
    let specs: Vec<DeviceSpec> = KINDS.iter().map(|k| device(&format!("{}-1", k.as_str()), *k)).collect();
    let w = World::new(specs, 10.0, None);
    let logins: Vec<String> = w
        .specs
        .iter()
        .map(|d| format!("{}/{}", d.name, d.accounts[0].name))
        .collect();
    let others: Vec<String> = ["pfsense-1", "panos-1", "sonicos-1"]
        .iter()
        .map(|d| format!("{d}/netops"))
        .collect();
    let wanted: Vec<&str> = logins.iter().chain(&others).map(String::as_str).collect();
    let mut asked = wanted.clone();
    asked.push("opnsense-1/netops");
    let (plan, json) = w.plan("plan.json", &asked);
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{json}");
    assert_eq!(skipped[0]["path"], "acme/opnsense-1/netops");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("web GUI"), "{json}");
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), wanted.len(), "{json}");
    let unifi = items.iter().find(|i| i["path"] == "acme/unifi-1/admin").unwrap();
    let steps: Vec<&str> = unifi["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let joined = steps.join("\n");
    assert!(
        joined.contains("UniFi controller")
            && joined.contains("Device Authentication")
            && !steps.iter().any(|c| c.starts_with("open ")),
        "a guided step in the controller, no device address to open: {unifi}"
    );

    // The guided step is left for later: the automatic ones run, the UniFi device is not touched.
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes", "--skip-manual"]);
    assert!(out.status.success(), "apply: {}", text(&out));
    for key in wanted.iter().filter(|k| !k.starts_with("unifi")) {
        let new = w.assert_in_force(key);
        assert_ne!(new, w.initial(key), "{key} was not rotated");
        let (dev, account) = key.split_once('/').unwrap();
        assert!(
            !w.lab.running_password_works(dev, account, &w.initial(key)),
            "{key}: the old one still works"
        );
    }
    // The UniFi account was left as it was.
    assert_eq!(w.assert_in_force("unifi-1/admin"), w.initial("unifi-1/admin"));
    let out = w.run(&["verify", "--client", CLIENT]);
    assert!(out.status.success(), "verify: {}", text(&out));
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for key in &wanted {
        assert!(
            !shown.contains(w.entry(key).password.expose()),
            "{key}: a password was shown"
        );
    }
}

/// `apply` of a UniFi account with the new password shown on stdout and `answer` on stdin.
fn apply_unifi_step(w: &World, plan_name: &str, answer: &str) -> (Output, String) {
    let (plan, _) = w.plan(plan_name, &["unifi-1/admin"]);
    let mut child = w
        .cmd(&["apply", plan.to_str().unwrap(), "--yes", "--show-password-to", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = text(&out);
    (out, shown)
}

/// A UniFi device's account is rotated as a guided step in its controller: the new password is
/// pending in the vault before it is shown, the person's answer settles it, and the device itself
/// is never changed (the controller would undo it at the next provisioning).
#[test]
fn a_unifi_account_is_rotated_as_a_guided_step_in_the_controller_never_on_the_device() {
    let w = World::new(vec![device("unifi-1", TargetKind::Unifi)], 10.0, None);
    let key = "unifi-1/admin";
    let initial = w.initial(key);

    // No answer: both passwords stay, pending, for `vault confirm|reject` or `recover`.
    let (_, shown) = apply_unifi_step(&w, "none.json", "");
    assert!(
        shown.contains("UniFi controller") && shown.contains("Do not change it on the device"),
        "{shown}"
    );
    assert!(!shown.contains("Open:"), "nothing on the device to open: {shown}");
    let pending = w.entry(key);
    assert_eq!(pending.state, EntryState::Pending, "{shown}");
    assert_eq!(
        pending.password, initial,
        "the old password stays current until settled"
    );
    let candidate = pending.pending.as_ref().unwrap().candidates[0].clone();
    assert!(
        shown.contains(candidate.expose()),
        "the step shows the new password where told: {shown}"
    );
    let out = w.run(&["vault", "reject", &format!("{CLIENT}/{key}")]);
    assert!(out.status.success(), "reject: {}", text(&out));
    assert_eq!(w.entry(key).state, EntryState::Current);

    // "no": the old password is kept as current.
    let (_, shown) = apply_unifi_step(&w, "no.json", "no\n");
    let entry = w.entry(key);
    assert_eq!(
        (entry.state, entry.password),
        (EntryState::Current, initial.clone()),
        "{shown}"
    );

    // "yes": the vault holds the new password; the device was never touched.
    let (out, shown) = apply_unifi_step(&w, "yes.json", "yes\n");
    assert!(out.status.success(), "{shown}");
    let entry = w.entry(key);
    assert_eq!(entry.state, EntryState::Current, "{shown}");
    assert_ne!(entry.password, initial, "{shown}");
    assert!(
        w.lab.running_password_works("unifi-1", "admin", &initial)
            && !w.lab.running_password_works("unifi-1", "admin", &entry.password),
        "keyreeve changed the password on the device"
    );
}

/// A change the device ignores is caught by the fresh login and rolled back: apply fails for that
/// account, and the old password stays in force and in the vault.
#[test]
fn a_change_the_device_ignores_is_rolled_back_and_the_old_password_kept() {
    let kinds = [
        TargetKind::Pfsense,
        TargetKind::Opnsense,
        TargetKind::Panos,
        TargetKind::Sonicos,
    ];
    let specs: Vec<DeviceSpec> = kinds.iter().map(|k| device(&format!("{}-1", k.as_str()), *k)).collect();
    let w = World::new(specs, 10.0, None);
    for spec in &w.specs {
        w.lab.set_fault(&spec.name, Fault::IgnorePasswordChange).unwrap();
        let key = format!("{}/{}", spec.name, spec.accounts[0].name);
        let (plan, _) = w.plan(&format!("plan-{}.json", spec.name), &[&key]);
        let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{}: {}", spec.kind, text(&out));
        assert_eq!(w.assert_in_force(&key), w.initial(&key), "{}", spec.kind);
        w.lab.set_fault(&spec.name, Fault::None).unwrap();
    }
}

/// SonicOS 7 refuses a password it knows as compromised: the refusal is the device's judgement,
/// nothing changed, and the configuration session was left.
#[test]
fn sonicos_refuses_a_compromised_password_and_changes_nothing() {
    let spec = device("fw", TargetKind::Sonicos);
    let lab = Lab::start(LabConfig {
        devices: vec![spec.clone()],
        ..LabConfig::default()
    })
    .expect("lab missing: the built-in device lab did not start on 127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let c = connector_of(&lab, "fw", dir.path(), None);
    let mut session = c.open(&login(&spec)).unwrap();
    let old = &spec.accounts[1].password;
    let e = session
        .change_password("netops", ChangeMethod::AdminReset, old, &Password::new("Password123"))
        .unwrap_err();
    assert!(e.is_password_rejected(), "{e}");
    assert!(e.to_string().contains("compromised"), "{e}");
    assert!(lab.running_password_works("fw", "netops", old));
    // The same session still changes it with a good password.
    let good = Password::new("Kq7-good-Passw0rd");
    session
        .change_password("netops", ChangeMethod::AdminReset, old, &good)
        .unwrap();
    assert_eq!(
        c.verify(&login(&spec), "netops", &good).unwrap(),
        Verification::Accepted
    );
}

/// A PAN-OS commit shows its progress and is waited for up to the inventory's command_timeout;
/// one still running then is reported with its progress, and the rotation keeps both passwords
/// until `recover`, which settles on the one the device put in force.
#[test]
fn panos_commit_is_bounded_by_the_inventory_timeout_and_recover_settles_it() {
    // A 5 s commit at time scale 1: at 2 s it has shown 55%.
    let spec = device("pa-1", TargetKind::Panos);
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        devices: vec![spec.clone()],
        ..LabConfig::default()
    })
    .expect("lab missing: the built-in device lab did not start on 127.0.0.1");
    let slow = connector_of(&lab, "pa-1", dir.path(), Some(2));
    let mut session = slow.open(&login(&spec)).unwrap();
    let new = Password::new("Pal0-Alto.rotated");
    let started = Instant::now();
    let e = session
        .change_password("netops", ChangeMethod::AdminReset, &spec.accounts[1].password, &new)
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(e.may_still_take_effect(), "{e}");
    assert!(e.to_string().contains("55%"), "no progress shown: {e}");
    drop(session);
    // The commit completes after all.
    let deadline = Instant::now() + keyreeve::lab::PANOS_COMMIT_TIME + Duration::from_secs(2);
    while !lab.saved_password_works("pa-1", "netops", &new) {
        assert!(Instant::now() < deadline, "the commit never completed");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Through apply: the account stays pending with both passwords; recover settles on the new one.
    let w = World::new(vec![device("pa-2", TargetKind::Panos)], 1.0, Some(2));
    let (plan, _) = w.plan("plan.json", &["pa-2/netops"]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("recover")
            || String::from_utf8_lossy(&out.stderr).contains("recover"),
        "{}",
        text(&out)
    );
    let entry = w.entry("pa-2/netops");
    assert_eq!(entry.state, EntryState::Pending, "both passwords must be kept");
    std::thread::sleep(keyreeve::lab::PANOS_COMMIT_TIME);
    let out = w.run(&["recover"]);
    assert!(out.status.success(), "recover: {}", text(&out));
    let now = w.assert_in_force("pa-2/netops");
    assert_ne!(now, w.initial("pa-2/netops"));
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

/// For every step of an account's rotation, on each new dialect that rotates on the device
/// (pfSense saves at once, OPNsense's root, PAN-OS commits before verifying, SonicOS commits):
/// SIGKILL there, then `recover`; the vault's password is in force, also after a reload.
#[test]
fn sigkill_at_every_step_then_recover_keeps_a_working_password() {
    let kinds = [
        TargetKind::Pfsense,
        TargetKind::Opnsense,
        TargetKind::Panos,
        TargetKind::Sonicos,
    ];
    let mut specs = Vec::new();
    for (i, _) in STEPS.iter().enumerate() {
        for kind in kinds {
            specs.push(device(&format!("{}{i}", kind.as_str()), kind));
        }
    }
    let w = World::new(specs, 10.0, None);
    for (i, step) in STEPS.iter().enumerate() {
        for kind in kinds {
            let dev = format!("{}{i}", kind.as_str());
            let account = if kind == TargetKind::Opnsense { "root" } else { "netops" };
            let key = format!("{dev}/{account}");
            let (plan, _) = w.plan(&format!("plan-{dev}.json"), &[&key]);
            kill_apply_at(&w, &plan, step);
            let out = w.run(&["recover"]);
            assert!(out.status.success(), "{key} at {step}: recover: {}", text(&out));
            w.lab.reload(&dev).unwrap();
            let in_force = w.assert_in_force(&key);
            let changed_yet = STEPS.iter().position(|s| s == step) >= STEPS.iter().position(|s| *s == "changed");
            if changed_yet {
                assert_ne!(
                    in_force,
                    w.initial(&key),
                    "{key} at {step}: the new password should be in force"
                );
            } else {
                assert_eq!(
                    in_force,
                    w.initial(&key),
                    "{key} at {step}: the old password should be kept"
                );
            }
        }
    }
}
