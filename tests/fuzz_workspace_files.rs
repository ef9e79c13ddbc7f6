//! Property tests of the files a workspace holds and a team shares over git, where any of them
//! may come from someone else: the inventory (`keyreeve.toml`), policies, plan files, vault
//! documents (decrypted JSON, behind real age encryption), vault paths, discovery snapshots (and
//! the review and report made from them), native imports, the audit log and its checkpoint,
//! known_hosts, rotation windows and recipients. Inputs are random text and
//! mutations of valid files made here. Properties: no panic; an error names the file (and the
//! line, where the format has lines); no error quotes a password.

mod fuzz_support;

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use fuzz_support::{config, hostile_bytes, hostile_text};
use keyreeve::connector::ldap::DirectoryAccount;
use keyreeve::connector::{AccountInfo, AccountKind};
use keyreeve::export::manifest::Manifest;
use keyreeve::export::{self, native, ExportInput, Format, TargetInfo, Targets};
use keyreeve::inventory::Inventory;
use keyreeve::keys::KeyRing;
use keyreeve::policy::Policy;
use keyreeve::review::snapshot::{AccountRecord, InVault, Snapshot, SnapshotStore};
use keyreeve::review::{self, ReviewContext, TargetReview};
use keyreeve::rotation::plan::Plan;
use keyreeve::vault::{Entry, Vault, VaultDocument, VaultPath};
use keyreeve::workspace::Workspace;
use keyreeve::Password;
use proptest::prelude::*;

/// The password in every sample; no error may quote it.
const SECRET: &str = "Sample-Secret.9137";

const INVENTORY: &str = r#"# a workspace's inventory
[workspace]
recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
passphrase = false
armor = true

[clients.acme]
recipients = []

[[clients.acme.targets]]
name = "core-rtr1"
kind = "cisco-ios"
address = "192.0.2.1"
port = 22
login = "admin"
enable = "enable"
host_key = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
connect_timeout = 10
command_timeout = 30
tags = ["core", "site-a"]

[clients.acme.targets.dependants]
admin = ["backup-job"]

[[clients.acme.targets]]
name = "dc1"
kind = "active-directory"
url = "ldaps://dc1.acme.example:636"
base_dn = "DC=acme,DC=example"
bind_dn = "CN=svc-keyreeve,CN=Users,DC=acme,DC=example"
login = "svc-keyreeve"
ca_file = "certs/acme-ca.pem"
extra_groups = ["CN=Net Admins,OU=Groups,DC=acme,DC=example"]

[[clients.acme.targets]]
name = "web1"
kind = "linux"
address = "::1"
login = "root"
login_method = "private-key"
"#;

const POLICY: &str = r#"[defaults]
max_age_days = 90
revealed_is_due = true
length = 24
lower = true
upper = true
digits = true
symbols = "-_.,+=@%^*~"
windows = ["Sat 22:00-06:00", "Sun 00:00-23:59"]
exclude = ["acme/*/breakglass"]
priority = 100

[[rules]]
kind = "active-directory"
max_age_days = 180
length = 32
priority = 10

[[rules]]
client = "acme"
account = "breakglass"
exclude = true

[directory]
service_account_patterns = ["svc-*", "svc_*", "sa-*"]
service_account_ous = ["OU=Service,DC=acme,DC=example"]
remote_access_groups = ["VPN Users"]

[review]
max_admin_password_age_days = 365
dormant_admin_days = 90
max_snapshot_age_days = 30
compare_days = 30

[[review.accept]]
rule = "dial-in-admin"
account = "acme/dc1/helpdesk-lead"
reason = "on-call lead"
until = "2027-03-31"
"#;

/// A plan as `keyreeve plan` writes it, with a matching hash.
fn plan_sample() -> String {
    let text = r#"{
  "format": "keyreeve-plan/1",
  "created_at": "2026-11-27T17:13:46Z",
  "created_by": "tech@laptop",
  "selection": { "client": "acme", "target": null, "accounts": ["acme/core-rtr1/netops"], "mode": "due" },
  "items": [
    {
      "path": "acme/core-rtr1/netops",
      "client": "acme",
      "target": "core-rtr1",
      "account": "netops",
      "kind": "cisco-ios",
      "address": "192.0.2.1",
      "why": "older than 90 days",
      "method": "admin-reset",
      "commands": ["configure terminal", "username netops privilege 15 secret ********", "end", "write memory"],
      "warnings": [],
      "is_login": false,
      "priority": 100,
      "vault_state": "3f2a",
      "decided_by": ["policies/default.toml:8"]
    }
  ],
  "skipped": [ { "path": "acme/core-rtr1/breakglass", "reason": "excluded" } ],
  "hash": ""
}"#;
    match serde_json::from_str::<Plan>(text) {
        Ok(mut plan) => {
            plan.hash = plan.compute_hash();
            plan.to_json()
        }
        // The plan format changed: the mutations still start from a plan-like file.
        Err(_) => text.to_string(),
    }
}

fn document() -> VaultDocument {
    let mut doc = VaultDocument::empty("acme");
    let mut entry = Entry::new("netops", Password::new("Old-Secret.0001"));
    entry.replace_password(
        Password::new(SECRET),
        Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap(),
    );
    entry.notes = "rotated by plan".into();
    doc.entries.insert("core-rtr1/netops".into(), entry);
    doc.entries.insert(
        "dc1/svc-keyreeve".into(),
        Entry::new("svc-keyreeve", Password::new(SECRET)),
    );
    doc
}

fn document_sample() -> String {
    serde_json::to_string_pretty(&document()).unwrap()
}

fn native_sample() -> Vec<u8> {
    let doc = document();
    let mut targets = Targets::new();
    targets.insert(
        "core-rtr1".into(),
        TargetInfo {
            kind: "cisco-ios".into(),
            address: "192.0.2.1".into(),
            port: 22,
            login: "admin".into(),
            url: None,
            base_dn: None,
            host_key: Some("SHA256:abc".into()),
        },
    );
    let manifest = Manifest::build(
        &doc,
        Utc::now(),
        "tech",
        None,
        vec!["age1x".into()],
        Format::Keyreeve,
        true,
    );
    let input = ExportInput {
        document: &doc,
        targets: &targets,
        manifest: &manifest,
        with_history: true,
    };
    export::render(Format::Keyreeve, &input).unwrap().to_vec()
}

fn snapshot_sample() -> String {
    let ad = DirectoryAccount {
        name: "helpdesk-lead".into(),
        well_known_name: None,
        dn: "CN=helpdesk-lead,CN=Users,DC=acme,DC=example".into(),
        kind: AccountKind::User,
        object_class: vec!["user".into()],
        sid: Some("S-1-5-21-1-2-3-1104".into()),
        enabled: true,
        disabled: false,
        locked: false,
        pwd_last_set: Some("2024-01-01T12:00:00+00:00".into()),
        must_change_password: false,
        last_logon: Some("20240101120000.5Z".into()),
        user_account_control: Some(66048),
        flags: vec!["password-never-expires".into(), "no-kerberos-preauth".into()],
        admin_count: Some(1),
        protected_user: false,
        service_principal_names: vec!["HTTP/web1.acme.example".into()],
        dial_in: Some(true),
        privileged: true,
        paths: vec!["via app-admins -> Domain Admins".into()],
        privileged_groups: vec!["Domain Admins".into()],
        service_reasons: Vec::new(),
        remote_access_reasons: vec!["msNPAllowDialin TRUE".into()],
        unresolved: false,
        ad: Default::default(),
    };
    let device = AccountInfo {
        name: "netops".into(),
        kind: AccountKind::User,
        privilege: "privilege 15".into(),
        admin: true,
        enabled: true,
        details: [("password_form".to_string(), serde_json::json!("secret 9"))].into(),
    };
    let record = |account: AccountInfo, in_vault: InVault| AccountRecord {
        account,
        in_vault,
        verified: Some("rejected".into()),
        verify_hint: None,
        flagged: in_vault == InVault::No,
    };
    let snapshot = Snapshot {
        target: "acme/dc1".into(),
        kind: "active-directory".into(),
        taken_at: Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap(),
        error: None,
        hint: None,
        accounts: vec![record(ad.to_account_info(), InVault::No), record(device, InVault::Yes)],
        domain: None,
        snapshot: None,
    };
    serde_json::to_string_pretty(&snapshot).unwrap()
}

/// `error` names `file` (by its name) and quotes no password.
fn names_the_file(error: &str, file: &Path) -> Result<(), TestCaseError> {
    names_one_of(error, &[file])
}

/// `error` names one of `files` (the one at fault) and quotes no password.
fn names_one_of(error: &str, files: &[&Path]) -> Result<(), TestCaseError> {
    let named = files
        .iter()
        .any(|f| error.contains(f.file_name().unwrap().to_string_lossy().as_ref()));
    prop_assert!(named, "error without the file name: {error}");
    prop_assert!(!error.contains(SECRET), "a password in an error: {error}");
    Ok(())
}

/// `error` starts `FILE:LINE:` with a line of `text` (or the one after its end).
fn names_file_and_line(error: &str, file: &Path, text: &str) -> Result<(), TestCaseError> {
    let prefix = format!("{}:", file.display());
    let rest = error.strip_prefix(&prefix);
    prop_assert!(rest.is_some(), "error does not start with {prefix}: {error}");
    let line: usize = rest
        .and_then(|r| r.split(':').next())
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| TestCaseError::fail(format!("no line number: {error}")))?;
    prop_assert!(
        line >= 1 && line <= text.lines().count() + 1,
        "line {line} outside the file: {error}"
    );
    prop_assert!(!error.contains(SECRET), "a password in an error: {error}");
    Ok(())
}

/// A workspace with an identity that opens client `acme`'s vault.
struct Ws {
    _dir: tempfile::TempDir,
    workspace: Workspace,
    inventory: Inventory,
    keys: KeyRing,
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let identity = dir.path().join("identity.txt");
        let public = keyreeve::keys::new_identity_file(&identity, None).unwrap();
        for sub in ["vaults", "state", "policies"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let inventory = Inventory::parse(
            &format!("[workspace]\nrecipients = [\"{public}\"]\n[clients.acme]\n"),
            Path::new("keyreeve.toml"),
        )
        .unwrap();
        Ws {
            workspace: Workspace::at_unchecked(dir.path()),
            inventory,
            keys: KeyRing::with_identity_file(Some(identity)),
            _dir: dir,
        }
    }

    /// Writes `plaintext` as acme's vault file, encrypted as keyreeve would.
    fn put(&self, plaintext: &[u8]) -> PathBuf {
        let sealed = self
            .keys
            .encrypt_for_client(&self.inventory, "acme", plaintext)
            .unwrap();
        let file = self.workspace.vault_file("acme");
        std::fs::write(&file, sealed).unwrap();
        file
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn inventories_are_read_or_refused_at_a_line(text in hostile_text(INVENTORY.to_string())) {
        let path = Path::new("ws/keyreeve.toml");
        match Inventory::parse(&text, path) {
            Ok(inv) => {
                for t in inv.targets() {
                    let _ = (t.path(), t.account_path(&t.login));
                }
            }
            Err(e) => names_file_and_line(&e.to_string(), path, &text)?,
        }
    }

    #[test]
    fn policies_are_read_or_refused_at_a_line(text in hostile_text(POLICY.to_string())) {
        let path = Path::new("policies/default.toml");
        let mut policy = Policy::load_dir(Path::new("/nonexistent/keyreeve-fuzz")).unwrap();
        match policy.add_text(&text, path) {
            Ok(()) => {
                let _ = policy.effective("acme", keyreeve::inventory::TargetKind::CiscoIos, "core-rtr1", "netops");
                let _ = policy.effective_kindless("acme", "dc1", "breakglass");
            }
            Err(e) => names_file_and_line(&e.to_string(), path, &text)?,
        }
    }

    #[test]
    fn plans_are_read_or_refused_by_name(bytes in hostile_bytes(plan_sample().into_bytes())) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "plan.json", &bytes);
        match Plan::read(&path) {
            Ok(plan) => {
                let _ = plan.by_target();
                let _ = plan.to_json();
            }
            Err(e) => names_the_file(&e.to_string(), &path)?,
        }
    }

    #[test]
    fn vault_paths_are_parsed_or_refused(text in hostile_text("acme/core-rtr1/netops".to_string())) {
        if let Ok(p) = VaultPath::parse(&text) {
            prop_assert_eq!(p.to_string().split('/').count(), 3, "{}", p);
        }
    }

    /// A vault file whose decrypted document is hostile (its encryption is sound: a team member
    /// holding a recipient key wrote it).
    #[test]
    fn vault_documents_are_read_or_refused_by_name(plain in hostile_bytes(document_sample().into_bytes())) {
        let ws = Ws::new();
        let file = ws.put(&plain);
        let vault = Vault::new(&ws.workspace, &ws.inventory, &ws.keys);
        if let Err(e) = vault.load("acme") {
            names_the_file(&e.to_string(), &file)?;
        }
        for path in ["acme/core-rtr1/netops", "acme/dc1/svc-keyreeve", "acme/nope/x"] {
            if let Err(e) = vault.get(&VaultPath::parse(path).unwrap()) {
                names_the_file(&e.to_string(), &file)?;
            }
        }
        let _ = vault.clients();
    }

    #[test]
    fn native_imports_are_read_or_refused_by_name(bytes in hostile_bytes(native_sample())) {
        let path = Path::new("handover/acme.age");
        if let Err(e) = native::parse(&bytes, path) {
            names_the_file(&e.to_string(), path)?;
        }
    }

    /// A snapshot file, then the review and the Markdown report made from it.
    #[test]
    fn snapshots_are_read_and_reviewed_or_refused_by_name(
        current in hostile_bytes(snapshot_sample().into_bytes()),
        baseline in hostile_bytes(snapshot_sample().into_bytes()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let read = |name: &str, bytes: &[u8]| -> Result<Option<Snapshot>, TestCaseError> {
            let path = write(dir.path(), name, bytes);
            match SnapshotStore::read(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) => names_the_file(&e.to_string(), &path).map(|_| None),
            }
        };
        let current = read("20261101T100000.000Z.json", &current)?;
        let baseline = read("20261001T100000.000Z.json", &baseline)?;
        let target = TargetReview {
            target: "acme/dc1".into(),
            kind: "active-directory".into(),
            current,
            baseline: baseline.clone(),
            between: baseline.into_iter().collect(),
            failed_since: None,
        };
        let policy = keyreeve::policy::ReviewPolicy::default();
        let ctx = ReviewContext { now: Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap(), policy: &policy };
        let review = review::review(std::slice::from_ref(&target), &ctx);
        let _ = review::report::markdown(&review, "acme");
        let _ = serde_json::to_string(&review).unwrap();
    }
}

/// An audit log of a few events, and its checkpoint file, as keyreeve writes them.
fn audit_sample() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    for (action, subject) in [
        ("vault.set", "acme/core-rtr1/netops"),
        ("vault.get", "acme/dc1/svc-keyreeve"),
        ("rotation.apply", "acme/core-rtr1/netops"),
    ] {
        keyreeve::audit_log::record_at(
            &log,
            Some("age1abc"),
            action,
            subject,
            serde_json::json!({ "plan": "plan.json" }),
        )
        .unwrap();
    }
    let head = std::fs::read(log.with_extension("head")).unwrap_or_default();
    (std::fs::read(&log).unwrap(), head)
}

const KNOWN_HOSTS: &str = "# keyreeve known_hosts\n\
[192.0.2.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n\
|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==\n\
@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";

proptest! {
    #![proptest_config(config())]

    /// The hash-chained audit log is committed to git: a log and checkpoint edited by anyone.
    #[test]
    fn audit_logs_are_verified_or_refused_by_name(
        log in hostile_bytes(audit_sample().0),
        head in prop_oneof![Just(audit_sample().1), hostile_bytes(audit_sample().1)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "audit.log", &log);
        let checkpoint = write(dir.path(), "audit.head", &head);
        if let Err(e) = keyreeve::audit_log::read_events(&path) {
            names_the_file(&e.to_string(), &path)?;
        }
        match keyreeve::audit_log::verify_file(&path) {
            Ok(v) => {
                let _ = v.is_intact();
            }
            Err(e) => names_one_of(&e.to_string(), &[&path, &checkpoint])?,
        }
        if let Err(e) = keyreeve::audit_log::read_head(&path) {
            names_the_file(&e.to_string(), &checkpoint)?;
        }
    }

    #[test]
    fn known_hosts_files_survive_hostile_lines(text in hostile_text(KNOWN_HOSTS.to_string())) {
        use keyreeve::connector::ssh::hostkeys;
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "known_hosts", text.as_bytes());
        let entries = hostkeys::read_known_hosts(&path).unwrap();
        let _ = hostkeys::revoked_keys(&path).unwrap();
        let key = hostkeys::HostKey::new(b"\x00\x00\x00\x0bssh-ed25519");
        // A server's key blob is the server's word: its type is read from it.
        for e in &entries {
            let _ = hostkeys::HostKey::new(&e.blob).known_hosts_line(&e.hosts);
        }
        let _ = hostkeys::HostKey::new(text.as_bytes()).key_type();
        for pattern in ["[192.0.2.1]:2222", "192.0.2.1", "[::1]:22"] {
            let _ = hostkeys::lookup(&entries, pattern, &key);
        }
    }

    #[test]
    fn rotation_windows_are_parsed_or_refused(text in hostile_text("Mon-Fri,Sun 22:00-06:00".to_string())) {
        use chrono::{Datelike, Timelike};
        if let Ok(w) = keyreeve::policy::window::Window::parse(&text) {
            let at = Utc.with_ymd_and_hms(2026, 11, 29, 23, 30, 0).unwrap();
            let _ = (w.contains(&at), at.weekday(), at.hour());
        }
    }

    #[test]
    fn recipients_are_parsed_or_refused(text in hostile_text("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".to_string())) {
        let _ = keyreeve::keys::parse_recipient(&text);
        let _ = keyreeve::keys::same_recipient(&text, "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p");
    }
}

/// Times at the edges of what the formats can say, for every time a snapshot holds.
const EDGE_TIMES: &[&str] = &[
    "+262142-12-31T23:59:59.999999999Z",
    "-262143-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999+00:00",
    "0000-01-01T00:00:00-23:59",
    "1601-01-01T00:00:00Z",
    "99991231235959.999999999Z",
    "99991231235959,9Z",
    "00000101000000Z",
    "262142123123595999Z",
    "20240101120000.-5Z",
    "20240101120000.+99999999Z",
    "20240101120000.99999999999999999999Z",
];

/// A snapshot's times taken to the edges: the review and its report still come out.
fn review_at_the_edges(sample: &str, field: &str, value: &str, now: chrono::DateTime<Utc>) {
    let text = sample.replace(field, value);
    let dir = tempfile::tempdir().unwrap();
    let Ok(snapshot) = SnapshotStore::read(&write(dir.path(), "s.json", text.as_bytes())) else {
        return;
    };
    let target = TargetReview {
        target: "acme/dc1".into(),
        kind: "active-directory".into(),
        current: Some(snapshot.clone()),
        baseline: Some(snapshot.clone()),
        between: vec![snapshot],
        failed_since: None,
    };
    let policy = keyreeve::policy::ReviewPolicy::default();
    let ctx = ReviewContext { now, policy: &policy };
    let review = review::review(std::slice::from_ref(&target), &ctx);
    let _ = review::report::markdown(&review, "acme");
}

#[test]
fn snapshot_times_at_the_edges_are_reviewed() {
    let sample = snapshot_sample();
    for field in ["2024-01-01T12:00:00+00:00", "20240101120000.5Z", "2026-11-01T10:00:00Z"] {
        assert!(sample.contains(field), "{field}");
        for value in EDGE_TIMES {
            for now in [
                Utc::now(),
                chrono::DateTime::<Utc>::MAX_UTC,
                chrono::DateTime::<Utc>::MIN_UTC,
            ] {
                let result = std::panic::catch_unwind(|| review_at_the_edges(&sample, field, value, now));
                assert!(result.is_ok(), "{field} = {value} at {now}");
            }
        }
    }
}

#[test]
fn every_sample_is_a_valid_file() {
    // The mutations start from files keyreeve reads as they are.
    Inventory::parse(INVENTORY, Path::new("keyreeve.toml")).unwrap();
    let mut policy = Policy::load_dir(Path::new("/nonexistent/keyreeve-fuzz")).unwrap();
    policy.add_text(POLICY, Path::new("policies/default.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan::read(&write(dir.path(), "plan.json", plan_sample().as_bytes())).unwrap();
    assert_eq!(plan.items.len(), 1);
    let ws = Ws::new();
    ws.put(document_sample().as_bytes());
    let vault = Vault::new(&ws.workspace, &ws.inventory, &ws.keys);
    assert_eq!(vault.load("acme").unwrap().entries.len(), 2);
    let entry = vault
        .get(&VaultPath::parse("acme/core-rtr1/netops").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(entry.password.expose(), SECRET);
    native::parse(&native_sample(), Path::new("acme.age")).unwrap();
    let snapshot = SnapshotStore::read(&write(dir.path(), "s.json", snapshot_sample().as_bytes())).unwrap();
    assert_eq!(snapshot.accounts.len(), 2);
    let (log, head) = audit_sample();
    let path = write(dir.path(), "audit.log", &log);
    write(dir.path(), "audit.head", &head);
    assert_eq!(keyreeve::audit_log::read_events(&path).unwrap().len(), 3);
    assert!(keyreeve::audit_log::verify_file(&path).unwrap().is_intact());
    let known = write(dir.path(), "known_hosts", KNOWN_HOSTS.as_bytes());
    assert_eq!(
        keyreeve::connector::ssh::hostkeys::read_known_hosts(&known)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        keyreeve::connector::ssh::hostkeys::revoked_keys(&known).unwrap().len(),
        1
    );
    keyreeve::policy::window::Window::parse("Mon-Fri,Sun 22:00-06:00").unwrap();
}
