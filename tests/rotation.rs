//! The safety proof of rotation, on the emulated device lab: end to end, a crash (SIGKILL) at
//! every step of an account's rotation followed by `recover`, a device that ignores the change,
//! a session dropped after the change, a failed vault write, two applies at once, and an edited
//! plan. After each, every account's vault password must log in, also after the device reloads
//! (so it was saved).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{DeviceSpec, Fault, Lab, LabAccount, LabConfig, ENABLE_ACCOUNT};
use keyreeve::rotation::failpoint::STEPS;
use keyreeve::secret::Password;
use keyreeve::vault::{Entry, EntryState, Vault, VaultDocument};
use keyreeve::workspace::Workspace;

const CLIENT: &str = "acme";

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    identity: PathBuf,
    lab: Lab,
    /// The passwords the lab started with, by `DEVICE/ACCOUNT`.
    initial: Vec<(String, Password)>,
}

fn device(name: &str, kind: TargetKind) -> DeviceSpec {
    let enable = matches!(
        kind,
        TargetKind::CiscoIos | TargetKind::CiscoAsa | TargetKind::AristaEos
    );
    DeviceSpec {
        name: name.into(),
        kind,
        accounts: vec![
            LabAccount::new("admin", keyreeve::lab::random_password(), 15),
            LabAccount::new("netops", keyreeve::lab::random_password(), 15),
        ],
        enable_secret: enable.then(keyreeve::lab::random_password),
        port: 0,
    }
}

impl World {
    fn new(devices: Vec<DeviceSpec>) -> World {
        World::with(devices, "", &[])
    }

    /// A world with lab devices plus `extra` inventory stanzas and vault entries of their own.
    fn with(devices: Vec<DeviceSpec>, extra: &str, extra_entries: &[(String, Password)]) -> World {
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
        let mut initial = Vec::new();
        for d in &devices {
            for a in &d.accounts {
                initial.push((format!("{}/{}", d.name, a.name), a.password.clone()));
            }
            if let Some(e) = &d.enable_secret {
                initial.push((format!("{}/{ENABLE_ACCOUNT}", d.name), e.clone()));
            }
        }
        let lab = Lab::start(LabConfig {
            devices,
            time_scale: 1.0,
            ..LabConfig::default()
        })
        .unwrap();
        let inv_file = ws.join("keyreeve.toml");
        let mut toml = std::fs::read_to_string(&inv_file).unwrap();
        toml.push_str(&format!(
            "\n[clients.{CLIENT}]\n\n{}{extra}",
            lab.inventory_toml(CLIENT)
        ));
        initial.extend(extra_entries.iter().cloned());
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

    fn update(&self, f: impl FnOnce(&mut VaultDocument)) {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        Vault::new(&ws, &inv, &keys)
            .update(CLIENT, |doc| {
                f(doc);
                Ok::<(), keyreeve::vault::VaultError>(())
            })
            .unwrap();
    }

    fn doc(&self) -> VaultDocument {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        Vault::new(&ws, &inv, &keys).load(CLIENT).unwrap()
    }

    fn entry(&self, key: &str) -> Entry {
        self.doc()
            .entries
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
            args.push("--account");
            args.push(p);
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

    /// The vault's password for `key` logs in on the device, now and after a reload.
    fn assert_vault_password_is_in_force(&self, key: &str) -> Password {
        let entry = self.entry(key);
        assert_eq!(entry.state, EntryState::Current, "{key} is still pending");
        assert!(entry.pending.is_none(), "{key} still has candidates");
        let (dev, account) = key.split_once('/').unwrap();
        let works = |saved: bool| {
            if account == ENABLE_ACCOUNT {
                self.lab.enable_secret_works(dev, &entry.password, saved)
            } else if saved {
                self.lab.saved_password_works(dev, account, &entry.password)
            } else {
                self.lab.running_password_works(dev, account, &entry.password)
            }
        };
        assert!(works(false), "{key}: the vault's password does not log in");
        assert!(works(true), "{key}: the vault's password is not saved on the device");
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
fn apply_rotates_every_account_and_saves_it() {
    let w = World::new(
        keyreeve::lab::EMULATED_KINDS
            .iter()
            .filter(|k| keyreeve::lab::rotates_every_account(**k))
            .enumerate()
            .map(|(i, k)| device(&format!("dev{i}"), *k))
            .collect(),
    );
    let plan = w.plan("plan.json", &[]);
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    for (_, pw) in &w.initial {
        assert!(!plan_text.contains(pw.expose()), "the plan holds a secret");
    }
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    for (key, old) in &w.initial {
        let new = w.assert_vault_password_is_in_force(key);
        assert_ne!(&new, old, "{key} was not rotated");
        let entry = w.entry(key);
        assert_eq!(entry.history.len(), 1);
        assert_eq!(&entry.history[0].password, old);
        assert!(entry.rotated_at.is_some() && entry.verified_at.is_some());
        let (dev, account) = key.split_once('/').unwrap();
        if account != ENABLE_ACCOUNT {
            assert!(
                !w.lab.running_password_works(dev, account, old),
                "{key}: the old password still works"
            );
        }
    }
    assert_eq!(w.journal_records(), 0);
    // Neither the old nor the new passwords reach the output, nor the audit log.
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = std::fs::read_to_string(w.ws.join("state/audit.log")).unwrap();
    for (key, old) in &w.initial {
        let new = w.entry(key).password;
        for pw in [old, &new] {
            assert!(!shown.contains(pw.expose()), "{key}: a password reached apply's output");
            assert!(!audit.contains(pw.expose()), "{key}: a password reached the audit log");
        }
    }
}

/// For every step of the sequence, for an account changed by the login account (netops) and for
/// the login account itself (admin), on IOS (running/startup config) and Junos (commit confirmed).
#[test]
fn sigkill_at_every_step_then_recover_keeps_a_working_password() {
    let mut devices = Vec::new();
    for (i, _) in STEPS.iter().enumerate() {
        devices.push(device(&format!("ios{i}"), TargetKind::CiscoIos));
        devices.push(device(&format!("junos{i}"), TargetKind::Junos));
    }
    let w = World::new(devices);
    let mut checked_refusal = false;
    for (i, step) in STEPS.iter().enumerate() {
        for dev in [format!("ios{i}"), format!("junos{i}")] {
            for account in ["netops", "admin"] {
                let key = format!("{dev}/{account}");
                let plan = w.plan(&format!("plan-{dev}-{account}.json"), &[&key]);
                kill_apply_at(&w, &plan, step);
                if w.journal_records() > 0 && !checked_refusal {
                    let other = w.plan(
                        "other.json",
                        &[&format!(
                            "{dev}/{}",
                            if account == "admin" { "netops" } else { "admin" }
                        )],
                    );
                    let out = w.run(&["apply", other.to_str().unwrap(), "--yes"]);
                    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
                    assert!(
                        String::from_utf8_lossy(&out.stderr).contains("keyreeve recover"),
                        "{}",
                        text(&out)
                    );
                    checked_refusal = true;
                }
                let out = w.run(&["recover"]);
                assert!(
                    out.status.success(),
                    "recover after a kill at {step} ({key}):\n{}",
                    text(&out)
                );
                assert_eq!(w.journal_records(), 0, "{key} at {step}: journal not cleared");
                w.lab.reload(&dev).unwrap();
                let in_force = w.assert_vault_password_is_in_force(&key);
                let old = w.initial(&key);
                let changed_yet = STEPS.iter().position(|s| s == step) >= STEPS.iter().position(|s| *s == "changed");
                if changed_yet {
                    assert_ne!(in_force, old, "{key} at {step}: the new password should be in force");
                } else {
                    assert_eq!(in_force, old, "{key} at {step}: the old password should be kept");
                }
            }
        }
    }
    assert!(checked_refusal, "no kill left a journal record to refuse on");
}

#[test]
fn device_ignoring_the_change_is_rolled_back_and_the_old_password_kept() {
    let w = World::new(vec![device("r1", TargetKind::CiscoIos)]);
    w.lab.set_fault("r1", Fault::IgnorePasswordChange).unwrap();
    let plan = w.plan("plan.json", &["r1/netops"]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAILED"),
        "{}",
        text(&out)
    );
    w.lab.set_fault("r1", Fault::None).unwrap();
    assert_eq!(w.assert_vault_password_is_in_force("r1/netops"), w.initial("r1/netops"));
    assert_eq!(w.journal_records(), 0);
}

/// A device answering the change with errors that echo the password mangled: apply reports the
/// failure (with what the device said, its password fragments masked), and the audit log, which
/// is committed to git, records only the outcome's category, never the device's words.
#[test]
fn device_text_never_reaches_the_audit_log() {
    let w = World::new(vec![device("r1", TargetKind::CiscoIos)]);
    w.lab.set_fault("r1", Fault::EchoMangled).unwrap();
    let plan = w.plan("plan.json", &["r1/netops"]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    w.lab.set_fault("r1", Fault::None).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("% Error: rejected") && shown.contains("********"),
        "{shown}"
    );
    assert!(
        shown.contains("rejected \\u{202e}") && !shown.contains('\u{202e}'),
        "the device's text is shown escaped: {shown}"
    );
    let audit = std::fs::read_to_string(w.ws.join("state/audit.log")).unwrap();
    let applied: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "rotation.apply")
        .collect();
    assert_eq!(applied.len(), 1, "{audit}");
    let result = &applied[0]["details"]["result"];
    assert!(result == "failed" || result == "failed-needs-recover", "{result}");
    assert!(!audit.contains("% Error") && !audit.contains("rejected"), "{audit}");
}

#[test]
fn session_dropped_after_the_change_is_settled_by_a_fresh_login() {
    let w = World::new(vec![device("r1", TargetKind::CiscoIos)]);
    w.lab.set_fault("r1", Fault::DropAfterChange).unwrap();
    let plan = w.plan("plan.json", &["r1/netops"]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    w.lab.set_fault("r1", Fault::None).unwrap();
    if w.journal_records() > 0 {
        let rec = w.run(&["recover"]);
        assert!(rec.status.success(), "{}", text(&rec));
    }
    w.lab.reload("r1").unwrap();
    let in_force = w.assert_vault_password_is_in_force("r1/netops");
    assert_ne!(in_force, w.initial("r1/netops"), "apply: {}", text(&out));
}

#[test]
fn failed_vault_write_keeps_the_journal_and_recover_stores_the_new_password() {
    let w = World::new(vec![device("r1", TargetKind::CiscoIos)]);
    let plan = w.plan("plan.json", &["r1/netops"]);
    let out = w
        .cmd(&["apply", plan.to_str().unwrap(), "--yes"])
        .env("KEYREEVE_FAILPOINT", "vault-stored:fail")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(w.journal_records(), 1);
    let entry = w.entry("r1/netops");
    assert_eq!(entry.state, EntryState::Pending);
    assert_eq!(entry.pending.as_ref().map(|p| p.candidates.len()), Some(1));
    let rec = w.run(&["recover"]);
    assert!(rec.status.success(), "{}", text(&rec));
    w.lab.reload("r1").unwrap();
    assert_ne!(w.assert_vault_password_is_in_force("r1/netops"), w.initial("r1/netops"));
}

#[test]
fn two_applies_at_once_rotate_each_account_once() {
    let w = World::new(vec![
        device("r1", TargetKind::CiscoIos),
        device("r2", TargetKind::Junos),
    ]);
    let plan = w.plan("plan.json", &[]);
    let spawn = || {
        w.cmd(&["apply", plan.to_str().unwrap(), "--yes", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut rotated = std::collections::BTreeMap::<String, usize>::new();
    for out in [&a, &b] {
        // The second may also refuse to start because the first's journal is live; both are fine.
        if out.status.code() == Some(2) {
            continue;
        }
        let results: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
        for r in results.as_array().unwrap() {
            if r["outcome"] == "rotated" {
                *rotated.entry(r["path"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    for (key, _) in &w.initial {
        let path = format!("{CLIENT}/{key}");
        assert_eq!(
            rotated.get(&path),
            Some(&1),
            "{path} rotated {:?} times\n{}\n{}",
            rotated.get(&path),
            text(&a),
            text(&b)
        );
        assert_eq!(w.entry(key).history.len(), 1, "{key}");
        w.assert_vault_password_is_in_force(key);
    }
}

#[test]
fn a_plan_edited_after_review_is_refused() {
    let w = World::new(vec![device("r1", TargetKind::CiscoIos)]);
    let plan = w.plan("plan.json", &["r1/netops"]);
    let edited = std::fs::read_to_string(&plan).unwrap().replace("r1/netops", "r1/admin");
    std::fs::write(&plan, edited).unwrap();
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed after it was made"),
        "{}",
        text(&out)
    );
    assert_eq!(w.entry("r1/netops").password, w.initial("r1/netops"));
}

#[test]
fn an_account_changed_since_the_plan_is_skipped() {
    let w = World::new(vec![device("r1", TargetKind::CiscoIos)]);
    let plan = w.plan("plan.json", &["r1/netops"]);
    w.update(|doc| {
        let e = doc.entries.get_mut("r1/netops").unwrap();
        e.rotated_at = Some(chrono::Utc::now());
    });
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("changed since the plan"),
        "{}",
        text(&out)
    );
    assert_eq!(w.entry("r1/netops").password, w.initial("r1/netops"));
}

// ---------------------------------------------------------------------------------------------
// Active Directory (the Samba AD DC of tests/lab/samba.sh)

fn lab_dir() -> PathBuf {
    std::env::var_os("KEYREEVE_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/keyreeve-lab"))
}

/// The Samba administrator's password; panics when the lab is not running.
fn samba_admin() -> Password {
    let file = lab_dir().join("samba/admin.pw");
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], 636).into(), Duration::from_secs(2)).is_ok();
    match (up, std::fs::read_to_string(&file)) {
        (true, Ok(pw)) => Password::new(pw.trim().to_string()),
        _ => panic!(
            "lab missing: run tests/lab/up.sh (or tests/lab/samba.sh) as root; nothing on 127.0.0.1:636 or no {}",
            file.display()
        ),
    }
}

const AD_BASE: &str = "DC=lab,DC=test";

fn ldaps(bind: &str, pw: &Password) -> Result<ldap3::LdapConn, String> {
    ldaps_at("ldaps://127.0.0.1:636", bind, pw)
}

fn ldaps_at(url: &str, bind: &str, pw: &Password) -> Result<ldap3::LdapConn, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let pem = std::fs::read(lab_dir().join("ca/ca.crt")).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let cfg =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let settings = ldap3::LdapConnSettings::new().set_config(std::sync::Arc::new(cfg));
    let mut c = ldap3::LdapConn::with_settings(settings, url).map_err(|e| e.to_string())?;
    c.simple_bind(bind, pw.expose())
        .map_err(|e| e.to_string())?
        .success()
        .map_err(|e| e.to_string())?;
    Ok(c)
}

fn ad_password_works(user: &str, pw: &Password) -> bool {
    ldaps(&format!("CN={user},CN=Users,{AD_BASE}"), pw).is_ok()
}

/// A new enabled AD user with a random name and a complex password.
fn ad_user(admin: &Password) -> (String, Password) {
    let name = format!("kr{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let pw = Password::new(format!("Kr-{}-aZ9", uuid::Uuid::new_v4().simple()));
    let mut c = ldaps(&format!("CN=Administrator,CN=Users,{AD_BASE}"), admin).unwrap();
    let quoted: Vec<u8> = format!("\"{}\"", pw.expose())
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let dn = format!("CN={name},CN=Users,{AD_BASE}");
    let attrs: Vec<(Vec<u8>, std::collections::HashSet<Vec<u8>>)> = vec![
        (b"objectClass".to_vec(), [b"user".to_vec()].into()),
        (b"sAMAccountName".to_vec(), [name.as_bytes().to_vec()].into()),
        (b"userAccountControl".to_vec(), [b"512".to_vec()].into()),
        (b"unicodePwd".to_vec(), [quoted].into()),
    ];
    c.add(&dn, attrs).unwrap().success().unwrap();
    (name, pw)
}

/// A directory target stanza: `login` binds; the CA is the lab's.
fn ad_stanza(name: &str, login: &str, bind_dn: Option<&str>) -> String {
    let ca = lab_dir().join("ca/ca.crt");
    let bind = bind_dn.map(|d| format!("bind_dn = \"{d}\"\n")).unwrap_or_default();
    format!(
        "[[clients.{CLIENT}.targets]]\nname = \"{name}\"\nkind = \"active-directory\"\nurl = \"ldaps://127.0.0.1:636\"\nbase_dn = \"{AD_BASE}\"\nlogin = \"{login}\"\n{bind}ca_file = \"{}\"\n\n",
        ca.display()
    )
}

/// Admin reset (the Administrator rotates a user) and self-change (the user rotates itself), each
/// killed at every step and recovered: the vault's password binds, the other does not.
#[test]
fn directory_sigkill_at_every_step_then_recover_keeps_a_working_password() {
    let admin = samba_admin();
    let mut extra = ad_stanza(
        "dc1",
        "Administrator",
        Some(&format!("CN=Administrator,CN=Users,{AD_BASE}")),
    );
    let mut entries = vec![("dc1/Administrator".to_string(), admin.clone())];
    let mut cases = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let (reset_user, reset_pw) = ad_user(&admin);
        entries.push((format!("dc1/{reset_user}"), reset_pw));
        cases.push((*step, "dc1".to_string(), reset_user));
        let (self_user, self_pw) = ad_user(&admin);
        let target = format!("self{i}");
        extra.push_str(&ad_stanza(&target, &self_user, None));
        entries.push((format!("{target}/{self_user}"), self_pw));
        cases.push((*step, target, self_user));
    }
    let w = World::with(Vec::new(), &extra, &entries);
    for (step, target, user) in cases {
        let key = format!("{target}/{user}");
        let plan = w.plan(&format!("plan-{target}-{user}.json"), &[&key]);
        let plan_text = std::fs::read_to_string(&plan).unwrap();
        assert!(
            plan_text.contains(if target == "dc1" { "admin-reset" } else { "self-change" }),
            "{plan_text}"
        );
        kill_apply_at(&w, &plan, step);
        let out = w.run(&["recover"]);
        assert!(
            out.status.success(),
            "recover after a kill at {step} ({key}):\n{}",
            text(&out)
        );
        assert_eq!(w.journal_records(), 0);
        let entry = w.entry(&key);
        assert_eq!(entry.state, EntryState::Current);
        assert!(
            ad_password_works(&user, &entry.password),
            "{key} at {step}: the vault's password does not bind"
        );
        let old = w.initial(&key);
        let changed_yet = STEPS.iter().position(|s| *s == step) >= STEPS.iter().position(|s| *s == "changed");
        if changed_yet {
            assert_ne!(entry.password, old, "{key} at {step}");
            assert!(
                !ad_password_works(&user, &old),
                "{key} at {step}: the old password still binds"
            );
        } else {
            assert_eq!(entry.password, old, "{key} at {step}");
        }
    }
    // The administrator's own password was never touched.
    assert!(ad_password_works("Administrator", &admin));
}

#[test]
fn directory_rotation_end_to_end_then_verify() {
    let admin = samba_admin();
    let (user, pw) = ad_user(&admin);
    let extra = ad_stanza(
        "dc1",
        "Administrator",
        Some(&format!("CN=Administrator,CN=Users,{AD_BASE}")),
    );
    let entries = vec![
        ("dc1/Administrator".to_string(), admin.clone()),
        (format!("dc1/{user}"), pw.clone()),
    ];
    let w = World::with(Vec::new(), &extra, &entries);
    let plan = w.plan("plan.json", &[&format!("dc1/{user}")]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let new = w.entry(&format!("dc1/{user}")).password;
    assert_ne!(new, pw);
    assert!(ad_password_works(&user, &new));
    assert!(!ad_password_works(&user, &pw));
    let out = w.run(&["verify", "--client", CLIENT]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Adds `attrs` to `dn` (a group, a password settings object) as the Administrator.
fn ad_add(admin: &Password, dn: &str, attrs: &[(&str, &str)]) {
    let mut c = ldaps(&format!("CN=Administrator,CN=Users,{AD_BASE}"), admin).unwrap();
    let attrs: Vec<(Vec<u8>, std::collections::HashSet<Vec<u8>>)> = attrs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), [v.as_bytes().to_vec()].into()))
        .collect();
    c.add(dn, attrs).unwrap().success().unwrap();
}

fn ad_replace(admin: &Password, dn: &str, attr: &str, value: &str) {
    let mut c = ldaps(&format!("CN=Administrator,CN=Users,{AD_BASE}"), admin).unwrap();
    let m = ldap3::Mod::Replace(attr.as_bytes().to_vec(), [value.as_bytes().to_vec()].into());
    c.modify(dn, vec![m]).unwrap().success().unwrap();
}

/// A group of this test's own holding `users`, and a fine-grained password settings object that
/// locks its members out after 3 bad passwords for 30 minutes. Only that group gets it: the
/// domain's own lockout settings (none) stay as they are for the other tests.
fn ad_lockout_group(admin: &Password, users: &[&str]) -> (String, String) {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let group = format!("CN=krlock{tag},CN=Users,{AD_BASE}");
    let mut c = ldaps(&format!("CN=Administrator,CN=Users,{AD_BASE}"), admin).unwrap();
    let members: std::collections::HashSet<Vec<u8>> = users
        .iter()
        .map(|u| format!("CN={u},CN=Users,{AD_BASE}").into_bytes())
        .collect();
    let attrs: Vec<(Vec<u8>, std::collections::HashSet<Vec<u8>>)> = vec![
        (b"objectClass".to_vec(), [b"group".to_vec()].into()),
        (b"sAMAccountName".to_vec(), [format!("krlock{tag}").into_bytes()].into()),
        (b"member".to_vec(), members),
    ];
    c.add(&group, attrs).unwrap().success().unwrap();
    let pso = format!("CN=krpso{tag},CN=Password Settings Container,CN=System,{AD_BASE}");
    let thirty_minutes = (-30i64 * 60 * 10_000_000).to_string();
    ad_add(
        admin,
        &pso,
        &[
            ("objectClass", "msDS-PasswordSettings"),
            ("msDS-PasswordSettingsPrecedence", "10"),
            ("msDS-PasswordReversibleEncryptionEnabled", "FALSE"),
            ("msDS-PasswordHistoryLength", "24"),
            ("msDS-PasswordComplexityEnabled", "TRUE"),
            ("msDS-MinimumPasswordLength", "7"),
            ("msDS-MinimumPasswordAge", "0"),
            ("msDS-MaximumPasswordAge", "-37108517437440"),
            ("msDS-LockoutThreshold", "3"),
            ("msDS-LockoutObservationWindow", &thirty_minutes),
            ("msDS-LockoutDuration", &thirty_minutes),
            ("msDS-PSOAppliesTo", &group),
        ],
    );
    (group, pso)
}

/// Three binds with wrong passwords: the account is locked out (its PSO's threshold is 3).
fn ad_lock_out(user: &str) {
    for _ in 0..3 {
        let wrong = Password::new(format!("Wrong-{}-aZ9", uuid::Uuid::new_v4().simple()));
        assert!(!ad_password_works(user, &wrong));
    }
}

/// The same stanza with `extra_groups` (discovery lists those groups' members).
fn with_extra_group(stanza: String, group: &str) -> String {
    let mut s = stanza.trim_end().to_string();
    s.push_str(&format!("\nextra_groups = [\"{group}\"]\n\n"));
    s
}

/// A world of two AD accounts: `reset` rotated by the Administrator's reset (target `dc1`, with
/// `extra_group` for discovery), `own` by its own self-change (its own target). Returns the world
/// and the two vault keys.
fn ad_reset_and_self_world(
    admin: &Password,
    reset: (&str, &Password),
    own: (&str, &str, &Password),
    extra_group: Option<&str>,
) -> (World, String, String) {
    let dc1 = ad_stanza(
        "dc1",
        "Administrator",
        Some(&format!("CN=Administrator,CN=Users,{AD_BASE}")),
    );
    let mut extra = match extra_group {
        Some(group) => with_extra_group(dc1, group),
        None => dc1,
    };
    let (self_target, self_user, self_pw) = own;
    extra.push_str(&ad_stanza(self_target, self_user, None));
    let reset_key = format!("dc1/{}", reset.0);
    let self_key = format!("{self_target}/{self_user}");
    let entries = vec![
        ("dc1/Administrator".to_string(), admin.clone()),
        (reset_key.clone(), reset.1.clone()),
        (self_key.clone(), self_pw.clone()),
    ];
    (World::with(Vec::new(), &extra, &entries), reset_key, self_key)
}

/// Applies a plan of `keys` (exit 1 expected: something failed); returns its output and the plan.
fn apply_failing(w: &World, keys: &[&str]) -> (String, PathBuf) {
    let plan = w.plan("plan.json", keys);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    (String::from_utf8_lossy(&out.stdout).to_string(), plan)
}

/// The line of `key` in apply's summary.
fn summary_line<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.contains(&format!("{CLIENT}/{key}: ")))
        .unwrap_or_else(|| panic!("{key} missing:\n{stdout}"))
}

/// Runs the heartbeat (exit 1 expected) and checks that the line of each `(key, target, user)`
/// names the account's error `what`; returns its output.
fn verify_errors(w: &World, accounts: &[(&str, &str, &str)], what: &str) -> String {
    let out = w.run(&["verify", "--client", CLIENT]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    for (key, target, user) in accounts {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("{CLIENT}/{key}:")))
            .unwrap_or_else(|| panic!("{key} missing:\n{stdout}"));
        assert!(
            line.contains(&format!("ERROR: {CLIENT}/{target}: account `{user}` {what}")),
            "{line}"
        );
    }
    stdout
}

/// A locked-out account (AD data 775), rotated by the Administrator and by itself: verify,
/// discover --verify and apply name it locked with the hint; apply sends nothing for the
/// self-change, keeps both candidates for the reset it could not prove, and refuses to run
/// again until `recover` settles it, which it does once the account is unlocked.
#[test]
fn directory_locked_account_is_named_and_not_hammered() {
    let admin = samba_admin();
    let (reset_user, reset_pw) = ad_user(&admin);
    let (self_user, self_pw) = ad_user(&admin);
    let (group, pso) = ad_lockout_group(&admin, &[&reset_user, &self_user]);
    ad_lock_out(&reset_user);
    ad_lock_out(&self_user);
    let (w, reset_key, self_key) = ad_reset_and_self_world(
        &admin,
        (&reset_user, &reset_pw),
        ("selflk", &self_user, &self_pw),
        Some(&group),
    );

    // The heartbeat.
    let stdout = verify_errors(
        &w,
        &[(&reset_key, "dc1", &reset_user), (&self_key, "selflk", &self_user)],
        "is locked or disabled (the account is locked out (AD data 775))",
    );
    assert!(
        stdout.contains(&format!("{CLIENT}/dc1/Administrator: works")),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("    hint: unlock the account on the target, then try again")
            .count(),
        2,
        "{stdout}"
    );
    let out = w.run(&["verify", "--client", CLIENT, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let locked = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == format!("{CLIENT}/{reset_key}"))
        .unwrap();
    assert!(
        locked["status"]["error"].as_str().unwrap().contains("locked out"),
        "{locked}"
    );
    assert_eq!(locked["hint"], "unlock the account on the target, then try again");

    // discover --verify: listed (member of the extra group), locked, and its password not proven.
    let out = w.run(&["discover", "--verify", "--target", &format!("{CLIENT}/dc1"), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let account = json[0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == reset_user.as_str())
        .unwrap_or_else(|| panic!("{reset_user} not discovered: {json}"));
    assert_eq!(account["enabled"], false);
    assert_eq!(account["details"]["locked"], true);
    let verified = account["verified"].as_str().unwrap();
    assert!(
        verified.starts_with(&format!("error: {CLIENT}/dc1: account `{reset_user}` is locked")),
        "{verified}"
    );
    assert_eq!(
        account["verify_hint"],
        "unlock the account on the target, then try again"
    );
    let out = w.run(&["discover", "--verify", "--target", &format!("{CLIENT}/dc1")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{reset_user}: hint: unlock the account on the target")),
        "{stdout}"
    );

    // apply.
    let (stdout, plan) = apply_failing(&w, &[&reset_key, &self_key]);
    // The self-change: its session could not even open, nothing was sent, the entry is as it was.
    let line = summary_line(&stdout, &self_key);
    assert!(
        line.contains(&format!("FAILED: {CLIENT}/selflk: account `{self_user}` is locked"))
            && line.contains("(hint: unlock the account on the target, then try again)"),
        "{line}"
    );
    let e = w.entry(&self_key);
    assert_eq!(e.state, EntryState::Current);
    assert_eq!(e.password, self_pw);
    assert!(e.pending.is_none() && e.history.is_empty());
    // The reset went through (AD resets a locked account) but no fresh login can prove which
    // password is in force: rolled back, and the vault keeps both for `recover`.
    let line = summary_line(&stdout, &reset_key);
    assert!(line.contains("FAILED (run `keyreeve recover`)"), "{line}");
    assert!(line.contains("is locked or disabled"), "{line}");
    assert!(line.contains("rolled back"), "{line}");
    assert!(line.contains("the vault keeps both passwords"), "{line}");
    let e = w.entry(&reset_key);
    assert_eq!(e.state, EntryState::Pending);
    assert_eq!(e.password, reset_pw);
    let candidates = &e.pending.as_ref().unwrap().candidates;
    assert_eq!(candidates.len(), 1);
    assert_ne!(candidates[0], reset_pw);
    assert_eq!(w.journal_records(), 1);

    // No second try while it is unsettled: apply refuses, recover keeps both while still locked.
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("keyreeve recover"), "{}", text(&out));
    let out = w.run(&["recover"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("locked"),
        "{}",
        text(&out)
    );
    assert_eq!(w.entry(&reset_key).state, EntryState::Pending);
    assert_eq!(w.journal_records(), 1);

    // Unlocked by an administrator: recover proves the old password (the rollback) is in force.
    ad_replace(
        &admin,
        &format!("CN={reset_user},CN=Users,{AD_BASE}"),
        "lockoutTime",
        "0",
    );
    let out = w.run(&["recover"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.journal_records(), 0);
    let e = w.entry(&reset_key);
    assert_eq!(e.state, EntryState::Current);
    assert!(ad_password_works(&reset_user, &e.password));
    assert!(!ad_password_works(&reset_user, &candidates[0]));
    assert!(e.history.iter().any(|h| h.password == candidates[0]));

    let mut c = ldaps(&format!("CN=Administrator,CN=Users,{AD_BASE}"), &admin).unwrap();
    c.delete(&pso).unwrap().success().unwrap();
}

/// An account that must change its password at next logon (pwdLastSet 0, AD data 773): the
/// heartbeat names it with the hint; an administrator's reset rotates it (and clears the flag);
/// the account cannot rotate itself, and nothing is sent or lost.
#[test]
fn directory_must_change_account_is_named_and_rotated_by_reset() {
    let admin = samba_admin();
    let (reset_user, reset_pw) = ad_user(&admin);
    let (self_user, self_pw) = ad_user(&admin);
    for u in [&reset_user, &self_user] {
        ad_replace(&admin, &format!("CN={u},CN=Users,{AD_BASE}"), "pwdLastSet", "0");
    }
    let (w, reset_key, self_key) =
        ad_reset_and_self_world(&admin, (&reset_user, &reset_pw), ("selfmc", &self_user, &self_pw), None);

    let stdout = verify_errors(
        &w,
        &[(&reset_key, "dc1", &reset_user), (&self_key, "selfmc", &self_user)],
        "must change its password before it can log in (the password must be changed at next logon (AD data 773))",
    );
    assert_eq!(
        stdout
            .matches("    hint: reset its password as an administrator, or clear `must change password at next logon`")
            .count(),
        2,
        "{stdout}"
    );

    let (stdout, _) = apply_failing(&w, &[&reset_key, &self_key]);
    let line = summary_line(&stdout, &self_key);
    assert!(
        line.contains(&format!(
            "FAILED: {CLIENT}/selfmc: account `{self_user}` must change its password before it can log in"
        )) && line.contains("(hint: reset its password as an administrator"),
        "{line}"
    );
    let e = w.entry(&self_key);
    assert_eq!(e.state, EntryState::Current);
    assert_eq!(e.password, self_pw);
    assert!(e.pending.is_none() && e.history.is_empty());
    assert_eq!(w.journal_records(), 0);
    // The reset rotated it: the new password logs in, the old does not.
    let e = w.entry(&reset_key);
    assert_eq!(e.state, EntryState::Current);
    assert_ne!(e.password, reset_pw);
    assert!(ad_password_works(&reset_user, &e.password));
    assert!(!ad_password_works(&reset_user, &reset_pw));
    let out = w.run(&["verify", "--client", CLIENT]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains(&format!("{CLIENT}/{reset_key}: works")), "{stdout}");
    assert!(!stdout.contains(&format!("{CLIENT}/{self_key}: works")), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// OpenLDAP with the ppolicy overlay (tests/lab/slapd.sh): a pwdPolicy entry of the test's own.

const OL_BASE: &str = "dc=lab,dc=test";
const OL_URL: &str = "ldaps://127.0.0.1:3636";

fn slapd_admin() -> ldap3::LdapConn {
    let file = lab_dir().join("slapd/admin.pw");
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], 3636).into(), Duration::from_secs(2)).is_ok();
    let pw = match (up, std::fs::read_to_string(&file)) {
        (true, Ok(pw)) => Password::new(pw.trim().to_string()),
        _ => panic!(
            "lab missing: run tests/lab/up.sh (or tests/lab/slapd.sh) as root; nothing on 127.0.0.1:3636 or no {}",
            file.display()
        ),
    };
    ldaps_at(OL_URL, &format!("cn=admin,{OL_BASE}"), &pw).unwrap()
}

fn ol_add(c: &mut ldap3::LdapConn, dn: &str, attrs: &[(&str, &[&str])]) -> u32 {
    let attrs: Vec<(Vec<u8>, std::collections::HashSet<Vec<u8>>)> = attrs
        .iter()
        .map(|(k, vs)| {
            (
                k.as_bytes().to_vec(),
                vs.iter().map(|v| v.as_bytes().to_vec()).collect(),
            )
        })
        .collect();
    c.add(dn, attrs).unwrap().rc
}

/// A ppolicy entry of the test's own (under ou=policies) with `settings`; returns its DN.
fn ol_policy(c: &mut ldap3::LdapConn, settings: &[(&str, &str)]) -> String {
    let rc = ol_add(
        c,
        &format!("ou=policies,{OL_BASE}"),
        &[("objectClass", &["organizationalUnit"]), ("ou", &["policies"])],
    );
    assert!(rc == 0 || rc == 68, "ou=policies: {rc}");
    let cn = format!("krpol{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let policy = format!("cn={cn},ou=policies,{OL_BASE}");
    let mut attrs: Vec<(&str, Vec<&str>)> = vec![
        ("objectClass", vec!["organizationalRole", "pwdPolicy"]),
        ("cn", vec![&cn]),
        ("pwdAttribute", vec!["userPassword"]),
    ];
    attrs.extend(settings.iter().map(|(k, v)| (*k, vec![*v])));
    let attrs: Vec<(&str, &[&str])> = attrs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    assert_eq!(ol_add(c, &policy, &attrs), 0, "adding {policy}");
    policy
}

/// A user under the test's own password policy.
fn ol_user(c: &mut ldap3::LdapConn, policy: &str) -> (String, String, Password) {
    let uid = format!("kr{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let pw = Password::new(format!("Kr-{}-aZ9", uuid::Uuid::new_v4().simple()));
    let dn = format!("uid={uid},ou=people,{OL_BASE}");
    let rc = ol_add(
        c,
        &dn,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &[&uid]),
            ("cn", &[&uid]),
            ("sn", &[&uid]),
            ("userPassword", &[pw.expose()]),
            ("pwdPolicySubentry", &[policy]),
        ],
    );
    assert_eq!(rc, 0, "adding {dn}");
    (uid, dn, pw)
}

fn ol_attr(c: &mut ldap3::LdapConn, dn: &str, name: &str) -> Vec<String> {
    let (rs, _) = c
        .search(dn, ldap3::Scope::Base, "(objectClass=*)", vec![name])
        .unwrap()
        .success()
        .unwrap();
    let e = ldap3::SearchEntry::construct(rs.into_iter().next().unwrap());
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn ol_stanza(name: &str, uid: &str, dn: &str) -> String {
    let ca = lab_dir().join("ca/ca.crt");
    format!(
        "[[clients.{CLIENT}.targets]]\nname = \"{name}\"\nkind = \"ldap\"\nurl = \"{OL_URL}\"\nbase_dn = \"{OL_BASE}\"\nlogin = \"{uid}\"\nbind_dn = \"{dn}\"\nca_file = \"{}\"\n\n",
        ca.display()
    )
}

/// slapd's ppolicy refuses every password keyreeve generates (too short for pwdMinLength 64)
/// and locks an account at its first failed bind. Two applies: each refused password is reported
/// as a policy refusal, never retried as is, and never tried in a bind either (which would lock
/// the account). An account locked by the policy is named locked by the heartbeat.
#[test]
fn openldap_policy_refusal_is_not_retried_and_a_locked_account_is_named() {
    let mut c = slapd_admin();
    let policy = ol_policy(
        &mut c,
        &[
            ("pwdMinLength", "64"),
            ("pwdCheckQuality", "2"),
            ("pwdLockout", "TRUE"),
            // One failed bind locks: a single login with a refused password would lock it.
            ("pwdMaxFailure", "1"),
            ("pwdLockoutDuration", "0"),
        ],
    );
    let (quid, qdn, qpw) = ol_user(&mut c, &policy);
    let (luid, ldn, lpw) = ol_user(&mut c, &policy);
    let wrong = Password::new(format!("Wrong-{}", uuid::Uuid::new_v4().simple()));
    assert!(ldaps_at(OL_URL, &ldn, &wrong).is_err());
    assert!(!ol_attr(&mut c, &ldn, "pwdAccountLockedTime").is_empty(), "not locked");

    let mut extra = ol_stanza("olq", &quid, &qdn);
    extra.push_str(&ol_stanza("ollk", &luid, &ldn));
    let qkey = format!("olq/{quid}");
    let lkey = format!("ollk/{luid}");
    let w = World::with(
        Vec::new(),
        &extra,
        &[(qkey.clone(), qpw.clone()), (lkey.clone(), lpw.clone())],
    );

    let out = w.run(&["verify", "--client", CLIENT]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains(&format!("{CLIENT}/{qkey}: works")), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{CLIENT}/{lkey}: ERROR: {CLIENT}/ollk: account `{luid}` is locked or disabled (the account is locked by the password policy"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("    hint: unlock the account on the target, then try again"),
        "{stdout}"
    );

    let mut refused = Vec::new();
    for round in 0..2 {
        let plan = w.plan(&format!("plan{round}.json"), &[&qkey]);
        let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            stdout.contains(&format!(
                "{CLIENT}/{qkey}: FAILED: {CLIENT}/olq: the target refused the new password: the directory's password policy refused it: too short"
            )),
            "{stdout}"
        );
        assert_eq!(w.journal_records(), 0);
        let e = w.entry(&qkey);
        assert_eq!(e.state, EntryState::Current);
        assert_eq!(e.password, qpw);
        assert_eq!(e.history.len(), round + 1);
        refused.push(e.history[round].password.clone());
    }
    // Each apply generated a new password; none was sent twice.
    assert_ne!(refused[0], refused[1]);
    // No failed bind at all from keyreeve: no failure recorded, not locked, the old one works.
    assert!(ol_attr(&mut c, &qdn, "pwdFailureTime").is_empty());
    assert!(ol_attr(&mut c, &qdn, "pwdAccountLockedTime").is_empty());
    assert!(ldaps_at(OL_URL, &qdn, &qpw).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Linux (the real OpenSSH sshd of tests/lab/sshd.sh, on 127.0.0.1:2222)

const SSHD_PORT: u16 = 2222;

fn sshd_lab() -> (String, Password) {
    let d = lab_dir().join("sshd");
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], SSHD_PORT).into(), Duration::from_secs(2)).is_ok();
    match (up, std::fs::read_to_string(d.join("host_key_fingerprint")), std::fs::read_to_string(d.join("root_key"))) {
        (true, Ok(fp), Ok(key)) => (fp.trim().to_string(), Password::new(key)),
        _ => panic!("lab missing: run tests/lab/up.sh (or tests/lab/sshd.sh) as root; nothing on 127.0.0.1:{SSHD_PORT} or no keys in {}", d.display()),
    }
}

/// A new local user with a random password (the tests run as root, as CI does).
fn linux_user() -> (String, Password) {
    let name = format!("kr_r{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let pw = Password::new(format!("Kr-{}-aZ9", uuid::Uuid::new_v4().simple()));
    let st = Command::new("useradd")
        .args(["-m", "-s", "/bin/bash", &name])
        .status()
        .expect("useradd (run the tests as root)");
    assert!(st.success(), "useradd {name} failed: the tests need root");
    let mut child = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{name}:{}\n", pw.expose()).as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    (name, pw)
}

struct Users(Vec<String>);
impl Drop for Users {
    fn drop(&mut self) {
        for u in &self.0 {
            let _ = Command::new("userdel").args(["-r", u]).stderr(Stdio::null()).status();
        }
    }
}

fn linux_password_works(user: &str, pw: &Password) -> bool {
    let Ok(tcp) = std::net::TcpStream::connect(("127.0.0.1", SSHD_PORT)) else {
        return false;
    };
    let Ok(mut s) = ssh2::Session::new() else { return false };
    s.set_tcp_stream(tcp);
    s.set_timeout(10_000);
    s.handshake().is_ok() && s.userauth_password(user, pw.expose()).is_ok() && s.authenticated()
}

fn linux_stanza(name: &str, login: &str, key_login: bool, host_key: &str) -> String {
    let method = if key_login {
        "login_method = \"private-key\"\n"
    } else {
        ""
    };
    format!(
        "[[clients.{CLIENT}.targets]]\nname = \"{name}\"\nkind = \"linux\"\naddress = \"127.0.0.1\"\nport = {SSHD_PORT}\nlogin = \"{login}\"\n{method}host_key = \"{host_key}\"\n\n"
    )
}

/// Root (logged in by key) resets a user's password with chpasswd, and a user changes its own
/// with passwd, each killed at every step and recovered: the vault's password logs in over SSH.
#[test]
fn linux_sigkill_at_every_step_then_recover_keeps_a_working_password() {
    let (host_key, root_key) = sshd_lab();
    let mut users = Users(Vec::new());
    let mut extra = linux_stanza("host1", "root", true, &host_key);
    let mut entries = vec![("host1/root".to_string(), root_key)];
    let mut cases = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let (u, pw) = linux_user();
        users.0.push(u.clone());
        entries.push((format!("host1/{u}"), pw));
        cases.push((*step, "host1".to_string(), u));
        let (s, pw) = linux_user();
        users.0.push(s.clone());
        let target = format!("self{i}");
        extra.push_str(&linux_stanza(&target, &s, false, &host_key));
        entries.push((format!("{target}/{s}"), pw));
        cases.push((*step, target, s));
    }
    let w = World::with(Vec::new(), &extra, &entries);
    let plan_all = w.plan("all.json", &[]);
    assert!(std::fs::read_to_string(&plan_all)
        .unwrap()
        .contains("a private key, not a password"));
    for (step, target, user) in cases {
        let key = format!("{target}/{user}");
        let plan = w.plan(&format!("plan-{target}-{user}.json"), &[&key]);
        kill_apply_at(&w, &plan, step);
        let out = w.run(&["recover"]);
        assert!(
            out.status.success(),
            "recover after a kill at {step} ({key}):\n{}",
            text(&out)
        );
        assert_eq!(w.journal_records(), 0);
        let entry = w.entry(&key);
        assert_eq!(entry.state, EntryState::Current);
        assert!(
            linux_password_works(&user, &entry.password),
            "{key} at {step}: the vault's password does not log in"
        );
        let old = w.initial(&key);
        let changed_yet = STEPS.iter().position(|s| *s == step) >= STEPS.iter().position(|s| *s == "changed");
        if changed_yet {
            assert_ne!(entry.password, old, "{key} at {step}");
            assert!(
                !linux_password_works(&user, &old),
                "{key} at {step}: the old password still logs in"
            );
        } else {
            assert_eq!(entry.password, old, "{key} at {step}");
        }
    }
}

#[test]
fn linux_rotation_end_to_end_then_verify() {
    let (host_key, root_key) = sshd_lab();
    let (u, pw) = linux_user();
    let _users = Users(vec![u.clone()]);
    let extra = linux_stanza("host1", "root", true, &host_key);
    let w = World::with(
        Vec::new(),
        &extra,
        &[("host1/root".to_string(), root_key), (format!("host1/{u}"), pw.clone())],
    );
    let plan = w.plan("plan.json", &[]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let new = w.entry(&format!("host1/{u}")).password;
    assert_ne!(new, pw);
    assert!(linux_password_works(&u, &new));
    assert!(!linux_password_works(&u, &pw));
    let out = w.run(&["verify", "--client", CLIENT]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn an_unreachable_device_fails_cleanly_without_touching_the_entry() {
    let w = World::new(vec![device("r1", TargetKind::CiscoIos)]);
    w.lab.set_fault("r1", Fault::RefuseConnections).unwrap();
    let plan = w.plan("plan.json", &["r1/netops"]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED") && !stdout.contains("keyreeve recover"),
        "{}",
        text(&out)
    );
    assert_eq!(w.journal_records(), 0);
    let entry = w.entry("r1/netops");
    assert_eq!(entry.state, EntryState::Current);
    assert_eq!(entry.password, w.initial("r1/netops"));
    assert!(entry.history.is_empty() && entry.verified_at.is_none(), "{entry:?}");
}

/// An OpenLDAP policy with pwdMustChange makes every admin reset a password that can only be
/// changed: the rotation stores it (it is the one in force) but does not call the account done.
#[test]
fn openldap_reset_that_must_be_changed_is_stored_and_needs_action() {
    let mut c = slapd_admin();
    let policy = ol_policy(&mut c, &[("pwdMustChange", "TRUE")]);
    let (uid, dn, old) = ol_user(&mut c, &policy);
    let admin_pw = Password::new(
        std::fs::read_to_string(lab_dir().join("slapd/admin.pw"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let ca = lab_dir().join("ca/ca.crt");
    let stanza = format!(
        "[[clients.{CLIENT}.targets]]\nname = \"olmc\"\nkind = \"ldap\"\nurl = \"{OL_URL}\"\nbase_dn = \"{OL_BASE}\"\nlogin = \"admin\"\nbind_dn = \"cn=admin,{OL_BASE}\"\nca_file = \"{}\"\n\n",
        ca.display()
    );
    let key = format!("olmc/{uid}");
    let w = World::with(
        Vec::new(),
        &stanza,
        &[("olmc/admin".to_string(), admin_pw), (key.clone(), old.clone())],
    );
    let plan = w.plan("plan.json", &[&key]);
    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains("Rotated 1 (1 of them need action), failed 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{CLIENT}/{key}: rotated, NEEDS ACTION: the vault holds the new password"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("changeAfterReset"), "{stdout}");
    // Stored, settled, and really the one in force: it binds (for a change only), the old does not.
    assert_eq!(w.journal_records(), 0);
    let e = w.entry(&key);
    assert_eq!(e.state, EntryState::Current);
    assert_ne!(e.password, old);
    assert_eq!(e.history.last().map(|h| &h.password), Some(&old));
    assert_eq!(ol_attr(&mut c, &dn, "pwdReset"), vec!["TRUE".to_string()]);
    assert!(ldaps_at(OL_URL, &dn, &e.password).is_ok());
    assert!(ldaps_at(OL_URL, &dn, &old).is_err());
}

/// `keyreeve review` over what `discover` saw on a lab device and the real Samba AD: the risks of
/// an admin, an unmanaged device admin, a target never discovered; what changed between two
/// discoveries; an accepted finding; the Markdown report; and a damaged snapshot named. Here
/// beside rotation because it needs the same world of lab devices, AD and a workspace.
#[test]
fn review_finds_admin_risks_and_changes_between_discoveries() {
    let admin = samba_admin();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (user, user_pw) = ad_user(&admin);
    let user_dn = format!("CN={user},CN=Users,{AD_BASE}");
    // DONT_EXPIRE_PASSWORD | DONT_REQ_PREAUTH on a normal account, an SPN, and dial-in allowed.
    ad_replace(
        &admin,
        &user_dn,
        "userAccountControl",
        &(512 | 0x10000 | 0x400000).to_string(),
    );
    ad_replace(
        &admin,
        &user_dn,
        "servicePrincipalName",
        &format!("HTTP/{user}.lab.test"),
    );
    ad_replace(&admin, &user_dn, "msNPAllowDialin", "TRUE");
    // The target's own privileged group (extra_groups), with a group nested in it: the
    // domain's real admin groups stay untouched for the other tests.
    let inner = format!("CN=krin{tag},CN=Users,{AD_BASE}");
    let outer = format!("CN=krout{tag},CN=Users,{AD_BASE}");
    ad_add(
        &admin,
        &inner,
        &[("objectClass", "group"), ("sAMAccountName", &format!("krin{tag}"))],
    );
    ad_add(
        &admin,
        &outer,
        &[
            ("objectClass", "group"),
            ("sAMAccountName", &format!("krout{tag}")),
            ("member", &inner),
        ],
    );
    let membership = |add: bool| {
        let mut c = ldaps(&format!("CN=Administrator,CN=Users,{AD_BASE}"), &admin).unwrap();
        let value = [user_dn.as_bytes().to_vec()].into();
        let m = if add {
            ldap3::Mod::Add(b"member".to_vec(), value)
        } else {
            ldap3::Mod::Delete(b"member".to_vec(), value)
        };
        c.modify(&inner, vec![m]).unwrap().success().unwrap();
    };

    let dc1 = with_extra_group(
        ad_stanza(
            "dc1",
            "Administrator",
            Some(&format!("CN=Administrator,CN=Users,{AD_BASE}")),
        ),
        &outer,
    );
    let never = "[[clients.acme.targets]]\nname = \"gone\"\nkind = \"linux\"\naddress = \"127.0.0.1\"\nport = 1\nlogin = \"root\"\n\n";
    let w = World::with(
        vec![device("rtr1", TargetKind::CiscoIos)],
        &format!("{dc1}{never}"),
        &[("dc1/Administrator".to_string(), admin.clone())],
    );
    // The device's `netops` is an admin the vault does not know.
    w.update(|doc| {
        doc.entries.remove("rtr1/netops");
    });
    let discover = || {
        let out = w.run(&["discover", "--client", CLIENT]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "gone fails, netops is flagged: {}",
            text(&out)
        );
        assert!(text(&out).contains("acme/gone"), "{}", text(&out));
    };
    let review = |args: &[&str]| -> (Option<i32>, serde_json::Value) {
        let mut all = vec!["review", "--client", CLIENT, "--json"];
        all.extend_from_slice(args);
        let out = w.run(&all);
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out.status.code(), json)
    };
    let rules_for = |json: &serde_json::Value, subject: &str| -> Vec<String> {
        let mut rules: Vec<String> = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["subject"] == subject && f["accepted"].is_null())
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect();
        rules.sort();
        rules
    };
    let subject = format!("{CLIENT}/dc1/{user}");

    // First discovery: the user is a service account with dial-in, not an admin.
    discover();
    let before_join = chrono::Utc::now();
    let (code, json) = review(&[]);
    assert_eq!(code, Some(1));
    // Listed as one of those who can reach the network from outside (low: not an admin).
    assert_eq!(
        rules_for(&json, &subject),
        ["remote-access-account"],
        "not an admin yet: {json}"
    );
    assert_eq!(rules_for(&json, "acme/rtr1/netops"), ["unmanaged-admin"]);
    assert!(rules_for(&json, "acme/rtr1/admin").is_empty());
    assert_eq!(rules_for(&json, "acme/gone"), ["discovery-failed", "unreviewed-target"]);

    // It joins the nested group: a new admin, and every risk of it is a finding.
    membership(true);
    discover();
    let (_, json) = review(&[]);
    assert_eq!(
        rules_for(&json, &subject),
        [
            "admin-delegable",
            "admin-password-never-expires",
            "dial-in-admin",
            "kerberoastable-admin",
            "nested-admin",
            "new-admin",
            "remote-access-account",
            "service-account-admin",
            "weak-admin-credential",
        ],
        "{json}"
    );
    let dc1_summary = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "acme/dc1")
        .unwrap();
    let row = dc1_summary["roster"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == user.as_str())
        .unwrap();
    assert_eq!(row["how"], format!("via krin{tag} -> krout{tag}"));
    assert_eq!(
        (row["admin"].as_bool(), row["dial_in"].as_bool()),
        (Some(true), Some(true))
    );
    let after_join = chrono::Utc::now();
    // Asked for changes since before the first discovery: counted from the first, and said so.
    let (_, json) = review(&["--since", "2000-01-01"]);
    assert!(rules_for(&json, &subject).contains(&"new-admin".to_string()));
    let out = w.run(&["review", "--client", CLIENT, "--since", "2000-01-01"]);
    assert!(
        text(&out).contains("(none is as old as 2000-01-01 23:59 UTC)"),
        "{}",
        text(&out)
    );
    // A snapshot holds account names and privileges, never a password.
    let mut secrets: Vec<Password> = w.initial.iter().map(|(_, p)| p.clone()).collect();
    secrets.push(user_pw.clone());
    for target in ["dc1", "rtr1"] {
        for file in std::fs::read_dir(w.ws.join("state/snapshots/acme").join(target)).unwrap() {
            let body = std::fs::read_to_string(file.unwrap().path()).unwrap();
            assert!(
                secrets.iter().all(|s| !body.contains(s.expose())),
                "a password in a snapshot"
            );
        }
    }

    // An accepted finding is reported, marked, and no longer counts.
    std::fs::write(
        w.ws.join("policies/review.toml"),
        format!(
            "[[review.accept]]\nrule = \"dial-in-admin\"\naccount = \"acme/dc1/{user}\"\nreason = \"on-call, ticket 4711\"\nuntil = \"2999-12-31\"\n"
        ),
    )
    .unwrap();
    let (_, json) = review(&[]);
    assert!(!rules_for(&json, &subject).contains(&"dial-in-admin".to_string()));
    let accepted = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == subject.as_str() && f["rule"] == "dial-in-admin")
        .unwrap();
    assert_eq!(
        accepted["accepted"]["by"],
        format!("{}:1", w.ws.join("policies/review.toml").display())
    );

    // The Markdown report for the file, and the exit code by severity.
    let report = w.root.join("review.md");
    let out = w.run(&[
        "review",
        "--client",
        CLIENT,
        "--format",
        "markdown",
        "-o",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(
        md.contains(&format!("| **high** | kerberoastable-admin | `{subject}` |")),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| `{user}` | service | nested: krout{tag} | yes | yes | yes | no |"
        )),
        "{md}"
    );
    let out = w.run(&["review", "--target", "acme/rtr1", "--fail-on", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("acme/rtr1/netops"), "{}", text(&out));

    // It leaves the group. Over the default window (from the first discovery) it was an admin
    // only in between; since it joined, it is a removed admin.
    membership(false);
    discover();
    let (_, json) = review(&[]);
    // Still one who can reach the network from outside.
    assert_eq!(
        rules_for(&json, &subject),
        ["remote-access-account", "transient-admin"],
        "{json}"
    );
    let (_, json) = review(&["--since", &before_join.to_rfc3339()]);
    assert_eq!(
        rules_for(&json, &subject),
        ["remote-access-account", "transient-admin"],
        "{json}"
    );
    let (_, json) = review(&["--since", &after_join.to_rfc3339()]);
    assert_eq!(
        rules_for(&json, &subject),
        ["remote-access-account", "removed-admin"],
        "{json}"
    );

    // A damaged snapshot stops the review with its name; nothing is written.
    let newest = std::fs::read_dir(w.ws.join("state/snapshots/acme/dc1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    std::fs::write(&newest, "{\"target\": ").unwrap();
    let out = w.run(&["review", "--client", CLIENT]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains(&newest.display().to_string()), "{}", text(&out));
    assert!(out.stdout.is_empty());
}

/// `keyreeve review` over the real OpenLDAP slapd: a configured admin group's members are its
/// admins, the password time the directory keeps (ppolicy's `pwdChangedTime`, GeneralizedTime)
/// is read as a time, and a member added between two discoveries is a new admin.
#[test]
fn review_of_an_openldap_directory_names_its_admins_and_a_new_one() {
    let mut c = slapd_admin();
    // slapd records pwdChangedTime only under a policy with an age limit.
    let policy = ol_policy(&mut c, &[("pwdMaxAge", "31536000")]);
    let (first, first_dn, _) = ol_user(&mut c, &policy);
    let (second, second_dn, _) = ol_user(&mut c, &policy);
    let group = format!("cn=kradm{},{OL_BASE}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let group_cn = group.split(',').next().unwrap().trim_start_matches("cn=").to_string();
    let rc = ol_add(
        &mut c,
        &group,
        &[
            ("objectClass", &["groupOfNames"]),
            ("cn", &[&group_cn]),
            ("member", &[&first_dn]),
        ],
    );
    assert_eq!(rc, 0, "adding {group}");
    let admin_pw = Password::new(
        std::fs::read_to_string(lab_dir().join("slapd/admin.pw"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let stanza = format!(
        "[[clients.{CLIENT}.targets]]\nname = \"olrv\"\nkind = \"ldap\"\nurl = \"{OL_URL}\"\nbase_dn = \"{OL_BASE}\"\nlogin = \"admin\"\nbind_dn = \"cn=admin,{OL_BASE}\"\nca_file = \"{}\"\nextra_groups = [\"{group}\"]\n\n",
        lab_dir().join("ca/ca.crt").display()
    );
    let w = World::with(Vec::new(), &stanza, &[("olrv/admin".to_string(), admin_pw)]);
    let discover = || {
        let out = w.run(&["discover", "--target", &format!("{CLIENT}/olrv")]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    let review = || -> serde_json::Value {
        let out = w.run(&["review", "--target", &format!("{CLIENT}/olrv"), "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    };
    let rules_for = |json: &serde_json::Value, uid: &str| -> Vec<String> {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["subject"] == format!("{CLIENT}/olrv/{uid}").as_str())
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };

    discover();
    let json = review();
    let roster = json["targets"][0]["roster"].as_array().unwrap();
    let row = roster
        .iter()
        .find(|r| r["account"] == first.as_str())
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(row["admin"], true);
    assert!(row["how"].as_str().unwrap().contains(&group_cn), "{row}");
    assert!(
        !roster.iter().any(|r| r["account"] == second.as_str()),
        "not a member yet: {json}"
    );
    assert!(
        rules_for(&json, &first).is_empty(),
        "a fresh, directly granted admin: {json}"
    );
    // The snapshot keeps the directory's own time form, and the review reads it as a time.
    let store = keyreeve::review::snapshot::SnapshotStore::new(w.ws.join("state/snapshots"));
    let snapshot = store.newest(CLIENT, "olrv", None).unwrap().unwrap();
    let record = snapshot.accounts.iter().find(|a| a.account.name == first).unwrap();
    let raw = record.account.details["pwd_last_set"]
        .as_str()
        .unwrap_or_else(|| panic!("{record:?}"));
    assert!(raw.ends_with('Z') && !raw.contains('-'), "GeneralizedTime: {raw}");
    match keyreeve::review::time(record, "pwd_last_set") {
        keyreeve::review::When::At(t) => assert!((chrono::Utc::now() - t).num_minutes().abs() < 60, "{t}"),
        other => panic!("{raw} read as {other:?}"),
    }

    // The second user joins the group: a new admin, against the first discovery.
    let mut c = slapd_admin();
    let m = ldap3::Mod::Add(b"member".to_vec(), [second_dn.as_bytes().to_vec()].into());
    c.modify(&group, vec![m]).unwrap().success().unwrap();
    discover();
    let json = review();
    assert_eq!(rules_for(&json, &second), ["new-admin"], "{json}");
    assert!(rules_for(&json, &first).is_empty(), "{json}");
}
