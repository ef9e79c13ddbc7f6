//! LAPS against the lab's real Samba AD (tests/lab/samba.sh adds the legacy and Windows LAPS
//! schema attributes): discovery reads each computer's state and never a password, the rules
//! flag exactly the computers they should (decoys: a disabled computer with expired LAPS, a
//! non-Windows computer), and the readable passwords come out only for a handover. Each test
//! makes its own OU under a unique prefix and removes it.

mod common;

use chrono::{Duration, Utc};
use keyreeve::connector::ldap::laps::{self, LapsComputer, PasswordState};
use keyreeve::connector::ldap::{self as dir};
use keyreeve::connector::AccountInfo;
use keyreeve::policy::ReviewPolicy;
use keyreeve::review::snapshot::{AccountRecord, InVault, Snapshot};
use keyreeve::review::{self, ReviewContext, TargetReview};
use keyreeve::Password;
use ldap3::LdapConn;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::laps_lab::*;

/// The computers of one test, by role.
struct Lab {
    ou: String,
    p: String,
    /// The passwords set, to prove none leaks and the readable ones are handed over.
    secrets: Vec<(String, String)>,
}

impl Lab {
    fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.p)
    }
}

fn filetime(t: chrono::DateTime<Utc>) -> Vec<u8> {
    laps::to_filetime(t).to_string().into_bytes()
}

/// An OU with one computer in each LAPS state.
fn populate(c: &mut LdapConn) -> Lab {
    let p = prefix();
    let ou = format!("OU={p}-laps,{AD_BASE}");
    add(c, &ou, vec![("objectClass", b"organizationalUnit".to_vec())]);
    let future = filetime(Utc::now() + Duration::days(30));
    let past = filetime(Utc::now() - Duration::days(10));
    let mut lab = Lab {
        ou: ou.clone(),
        p: p.clone(),
        secrets: Vec::new(),
    };
    let computer = |c: &mut LdapConn, role: &str, os: &str, disabled: bool, extra: Vec<(&str, Vec<u8>)>| {
        let name = format!("{p}-{role}");
        let mut attrs = vec![
            ("objectClass", b"computer".to_vec()),
            ("sAMAccountName", format!("{name}$").into_bytes()),
            (
                "userAccountControl",
                if disabled { b"4098".to_vec() } else { b"4096".to_vec() },
            ),
            ("operatingSystem", os.as_bytes().to_vec()),
        ];
        attrs.extend(extra);
        add(c, &format!("CN={name},{ou}"), attrs);
    };
    let legacy_pw = format!("Leg-{}-1", uuid::Uuid::new_v4().simple());
    computer(
        c,
        "LEG",
        "Windows 11 Pro",
        false,
        vec![
            (laps::LEGACY_PASSWORD, legacy_pw.clone().into_bytes()),
            (laps::LEGACY_EXPIRATION, future.clone()),
        ],
    );
    lab.secrets.push((lab.name("LEG"), legacy_pw));
    let hidden_pw = format!("Hid-{}-2", uuid::Uuid::new_v4().simple());
    computer(
        c,
        "LEGX",
        "Windows 10 Enterprise",
        false,
        vec![
            (laps::LEGACY_PASSWORD, hidden_pw.clone().into_bytes()),
            (laps::LEGACY_EXPIRATION, future.clone()),
        ],
    );
    lab.secrets.push((lab.name("LEGX"), hidden_pw));
    let win_pw = format!("Win-{}-3\"q", uuid::Uuid::new_v4().simple());
    let json = serde_json::json!({"n": "LapsAdmin", "t": "1d8161b41c41cde", "p": win_pw}).to_string();
    computer(
        c,
        "WINP",
        "Windows Server 2022 Standard",
        false,
        vec![
            (laps::WINDOWS_PASSWORD, json.into_bytes()),
            (laps::WINDOWS_EXPIRATION, future.clone()),
        ],
    );
    lab.secrets.push((lab.name("WINP"), win_pw));
    computer(
        c,
        "WINE",
        "Windows 11 Enterprise",
        false,
        vec![
            (laps::WINDOWS_ENCRYPTED, vec![0x01, 0x00, 0xfe, 0x42, 0x13]),
            (laps::WINDOWS_EXPIRATION, future.clone()),
        ],
    );
    let expired_pw = format!("Exp-{}-4", uuid::Uuid::new_v4().simple());
    computer(
        c,
        "EXP",
        "Windows 10 Pro",
        false,
        vec![
            (laps::LEGACY_PASSWORD, expired_pw.clone().into_bytes()),
            (laps::LEGACY_EXPIRATION, past.clone()),
        ],
    );
    lab.secrets.push((lab.name("EXP"), expired_pw));
    computer(c, "NONE", "Windows 11 Pro", false, vec![]);
    let disabled_pw = format!("Dis-{}-5", uuid::Uuid::new_v4().simple());
    computer(
        c,
        "DIS",
        "Windows 7 Professional",
        true,
        vec![
            (laps::LEGACY_PASSWORD, disabled_pw.clone().into_bytes()),
            (laps::LEGACY_EXPIRATION, past),
        ],
    );
    lab.secrets.push((lab.name("DIS"), disabled_pw));
    computer(c, "LNX", "Ubuntu 22.04 (samba)", false, vec![]);

    // The bind account may not read LEGX's legacy password: a deny ACE on that attribute.
    let shown = samba_tool(&["schema", "attribute", "show", laps::LEGACY_PASSWORD]);
    let guid = shown
        .lines()
        .find_map(|l| l.strip_prefix("schemaIDGUID: "))
        .expect("schemaIDGUID of ms-Mcs-AdmPwd (is the LAPS schema in the lab? tests/lab/samba.sh)")
        .trim()
        .to_string();
    let legx = format!("CN={},{ou}", lab.name("LEGX"));
    samba_tool(&[
        "dsacl",
        "set",
        &format!("--objectdn={legx}"),
        &format!("--sddl=(OD;;RP;{guid};;LA)"),
    ]);
    lab
}

fn laps_of(infos: &[AccountInfo], name: &str) -> LapsComputer {
    let info = infos
        .iter()
        .find(|a| a.name == format!("{name}$"))
        .unwrap_or_else(|| panic!("{name}$ not discovered"));
    serde_json::from_value(info.details["laps"].clone()).unwrap()
}

fn review_of(infos: Vec<AccountInfo>) -> review::Review {
    let accounts = infos
        .into_iter()
        .map(|account| AccountRecord {
            account,
            in_vault: InVault::No,
            verified: None,
            verify_hint: None,
            flagged: false,
        })
        .collect();
    let target = TargetReview {
        target: "lab/dc1".into(),
        kind: "active-directory".into(),
        current: Some(Snapshot {
            target: "lab/dc1".into(),
            kind: "active-directory".into(),
            taken_at: Utc::now(),
            error: None,
            hint: None,
            accounts,
            snapshot: None,
            domain: None,
        }),
        baseline: None,
        between: Vec::new(),
        failed_since: None,
    };
    let policy = ReviewPolicy::default();
    review::review(
        &[target],
        &ReviewContext {
            now: Utc::now(),
            policy: &policy,
        },
    )
}

#[test]
fn discovery_reads_each_laps_state_and_the_rules_flag_only_what_they_should() {
    let pw = require_ad();
    let mut c = raw_conn(&pw);
    let lab = populate(&mut c);

    let target = ad_target("lab", "dc1");
    let connector = keyreeve::connector::for_target(&target, &ctx()).unwrap();
    let infos = connector.list_accounts(&creds("Administrator", &pw)).unwrap();

    let state = |role: &str| laps_of(&infos, &lab.name(role));
    let leg = state("LEG");
    assert_eq!(leg.legacy.password, PasswordState::Readable);
    assert!(leg.legacy.expires.is_some() && leg.enabled && leg.ou == lab.ou);
    assert_eq!(state("LEGX").legacy.password, PasswordState::Unreadable);
    let winp = state("WINP");
    assert_eq!(winp.windows.password, PasswordState::Readable);
    assert_eq!(winp.legacy.password, PasswordState::Absent);
    assert_eq!(state("WINE").windows.password, PasswordState::Encrypted);
    assert!(state("EXP").expires().unwrap() < Utc::now());
    assert!(!state("NONE").has_laps());
    assert!(!state("DIS").enabled);
    assert!(!state("LNX").is_windows());

    // Discovery's records (what snapshots hold) carry no password.
    let json = serde_json::to_string(&infos).unwrap();
    for (computer, secret) in &lab.secrets {
        assert!(
            !json.contains(secret.as_str()),
            "the LAPS password of {computer} is in the snapshot"
        );
    }

    let r = review_of(infos);
    let ours: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.subject == format!("lab/dc1/{}", lab.ou))
        .collect();
    let missing: Vec<_> = ours.iter().filter(|f| f.rule == "laps-missing").collect();
    assert_eq!(missing.len(), 1, "{ours:#?}");
    // Six enabled Windows computers (not the disabled one, not the Linux one); only NONE lacks LAPS.
    assert!(
        missing[0]
            .message
            .starts_with(&format!("1 of 6 enabled Windows computers in {}", lab.ou)),
        "{}",
        missing[0].message
    );
    assert!(
        missing[0].message.ends_with(&format!(": {}", lab.name("NONE"))),
        "{}",
        missing[0].message
    );
    let expired: Vec<_> = ours.iter().filter(|f| f.rule == "laps-expired").collect();
    assert_eq!(expired.len(), 1, "{ours:#?}");
    assert!(
        expired[0].message.ends_with(&format!(": {}", lab.name("EXP"))),
        "{}",
        expired[0].message
    );

    delete_tree(&mut c, &lab.ou);
}

#[test]
fn only_the_passwords_the_bind_account_may_read_come_out_for_a_handover() {
    let pw = require_ad();
    let mut c = raw_conn(&pw);
    let lab = populate(&mut c);

    let mut target = ad_target("lab", "dc1");
    target.base_dn = Some(lab.ou.clone());
    let secrets = dir::directory_connector(&target, &ctx())
        .laps_passwords(&creds("Administrator", &pw))
        .unwrap();
    let mut got: Vec<(String, String, String)> = secrets
        .iter()
        .map(|s| (s.computer.clone(), s.account.clone(), s.password.expose().to_string()))
        .collect();
    got.sort();
    let want_of = |role: &str, account: &str| {
        let name = lab.name(role);
        let secret = lab.secrets.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        (name, account.to_string(), secret)
    };
    let mut want = vec![
        want_of("DIS", "Administrator"),
        want_of("EXP", "Administrator"),
        want_of("LEG", "Administrator"),
        want_of("WINP", "LapsAdmin"),
    ];
    want.sort();
    assert_eq!(got, want);
    // Debug output of a secret never shows it.
    assert!(!format!("{secrets:?}").contains(&want[0].2));
    delete_tree(&mut c, &lab.ou);
}

/// A workspace whose client `acme` has the lab DC as target `dc1` (searching `base_dn`) with the
/// Administrator password in its vault: (temp dir, workspace, identity file).
fn workspace(base_dn: &str, pw: &Password) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let identity = tmp.path().join("id.txt");
    let public = keyreeve::keys::new_identity_file(&identity, None).unwrap();
    let ws = tmp.path().join("ws");
    let out = keyreeve_cmd(&ws, &identity)
        .args(["init", ws.to_str().unwrap(), "-r", &public])
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    let mut inv = std::fs::OpenOptions::new()
        .append(true)
        .open(ws.join("keyreeve.toml"))
        .unwrap();
    write!(
        inv,
        "\n[clients.acme]\n[[clients.acme.targets]]\nname = \"dc1\"\nkind = \"active-directory\"\n\
         url = \"ldaps://127.0.0.1:636\"\nbase_dn = \"{base_dn}\"\nlogin = \"Administrator\"\nca_file = \"{}\"\n",
        lab_dir().join("ca/ca.crt").display()
    )
    .unwrap();
    let mut set = keyreeve_cmd(&ws, &identity)
        .args([
            "--workspace",
            ws.to_str().unwrap(),
            "vault",
            "set",
            "acme/dc1/Administrator",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin.take().unwrap().write_all(pw.expose().as_bytes()).unwrap();
    let out = set.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "vault set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tmp, ws, identity)
}

fn keyreeve_cmd(_ws: &Path, identity: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyreeve"));
    c.env_remove("KEYREEVE_WORKSPACE")
        .env_remove("KEYREEVE_PASSPHRASE_FILE")
        .env("KEYREEVE_IDENTITY", identity);
    c
}

fn keyreeve(ws: &Path, identity: &Path, args: &[&str]) -> std::process::Output {
    keyreeve_cmd(ws, identity)
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn export_with_laps_hands_over_the_readable_passwords_and_stock_age_opens_it() {
    let pw = require_ad();
    let mut c = raw_conn(&pw);
    let lab = populate(&mut c);
    let (tmp, ws, identity) = workspace(&lab.ou, &pw);

    // Discovery first: its snapshot is on disk when the files are searched for passwords below.
    let found = keyreeve(&ws, &identity, &["discover", "--client", "acme"]);
    let table = String::from_utf8_lossy(&found.stdout);
    assert!(table.contains("LAPS: ") && table.contains("without LAPS"), "{table}");
    assert!(
        !table.contains(&format!("{}$", lab.name("LEG"))),
        "computers listed one by one: {table}"
    );
    assert!(
        walk(&ws).iter().any(|f| f.to_string_lossy().contains("snapshots")),
        "no snapshot saved"
    );

    let receiver = age::x25519::Identity::generate();
    let receiver_file = tmp.path().join("receiver.txt");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(&receiver_file, format!("{}\n", receiver.to_string().expose_secret())).unwrap();
    }
    let handover = tmp.path().join("acme.age");
    let recipient = receiver.to_public().to_string();
    let out = keyreeve(
        &ws,
        &identity,
        &[
            "export",
            "--client",
            "acme",
            "-r",
            &recipient,
            "--format",
            "json",
            "--with-laps",
            "-o",
            handover.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "export: {}", String::from_utf8_lossy(&out.stderr));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let opened = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&receiver_file)
        .arg(&handover)
        .output()
        .expect("age (tests/lab/up.sh installs Debian's age)");
    assert!(
        opened.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let plain = String::from_utf8(opened.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&plain).unwrap();
    let text = doc.to_string();
    for role in ["LEG", "WINP", "EXP", "DIS"] {
        let (computer, secret) = lab.secrets.iter().find(|(n, _)| *n == lab.name(role)).unwrap();
        assert!(text.contains(computer.as_str()), "{computer} is not in the handover");
        assert!(
            text.contains(&serde_json::to_string(secret).unwrap()[1..secret.len()]),
            "{computer}'s password is not in the handover"
        );
    }
    assert!(
        text.contains("LapsAdmin"),
        "the Windows LAPS account name is not the handover's account"
    );
    let (_, hidden) = lab.secrets.iter().find(|(n, _)| *n == lab.name("LEGX")).unwrap();
    assert!(
        !text.contains(hidden.as_str()),
        "a password the bind account may not read was handed over"
    );

    // Never in what stays on disk, nor in what was printed.
    for (computer, secret) in &lab.secrets {
        assert!(!printed.contains(secret.as_str()), "{computer}'s password was printed");
        for file in walk(&ws) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret.as_str()),
                "{computer}'s password is in {}",
                file.display()
            );
        }
    }
    let audit = walk(&ws)
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("audit"))
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect::<String>();
    assert!(audit.contains("\"laps_entries\":4"), "{audit}");
    delete_tree(&mut c, &lab.ou);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The LAPS expiration attributes of one computer, as times.
fn expirations(c: &mut LdapConn, dn: &str) -> Vec<(String, chrono::DateTime<Utc>)> {
    let (entries, _) = c
        .search(
            dn,
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec![laps::LEGACY_EXPIRATION, laps::WINDOWS_EXPIRATION],
        )
        .unwrap()
        .success()
        .unwrap();
    let e = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap());
    let mut out: Vec<_> = e
        .attrs
        .iter()
        .map(|(k, v)| {
            let t = keyreeve::connector::ldap::ad::filetime(&v[0]).unwrap();
            (
                k.clone(),
                chrono::DateTime::parse_from_rfc3339(&t).unwrap().with_timezone(&Utc),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn laps_expire_sets_the_expiration_to_now_and_is_audited() {
    let pw = require_ad();
    let mut c = raw_conn(&pw);
    let lab = populate(&mut c);
    let (_tmp, ws, identity) = workspace(AD_BASE, &pw);
    let leg = format!("CN={},{}", lab.name("LEG"), lab.ou);
    let winp = format!("CN={},{}", lab.name("WINP"), lab.ou);
    let before = expirations(&mut c, &leg);
    assert!(before[0].1 > Utc::now() + Duration::days(20));

    let dry = keyreeve(
        &ws,
        &identity,
        &[
            "laps",
            "expire",
            "--client",
            "acme",
            "--computer",
            &lab.name("LEG"),
            "--dry-run",
        ],
    );
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert_eq!(expirations(&mut c, &leg), before, "a dry run changed the directory");

    let started = Utc::now() - Duration::seconds(5);
    let out = keyreeve(
        &ws,
        &identity,
        &["laps", "expire", "--client", "acme", "--computer", &lab.name("LEG")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = expirations(&mut c, &leg);
    assert_eq!(after.len(), 1);
    assert!(
        after[0].1 >= started && after[0].1 <= Utc::now() + Duration::seconds(5),
        "{after:?}"
    );
    // Only the computer named.
    assert!(expirations(&mut c, &winp)[0].1 > Utc::now() + Duration::days(20));

    // A whole OU: the Windows LAPS computers get msLAPS-PasswordExpirationTime; NONE is skipped.
    let out = keyreeve(&ws, &identity, &["laps", "expire", "--client", "acme", "--ou", &lab.ou]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("skipped {}", lab.name("NONE"))), "{stdout}");
    let win = expirations(&mut c, &winp);
    assert_eq!(win[0].0, laps::WINDOWS_EXPIRATION);
    assert!(win[0].1 <= Utc::now() + Duration::seconds(5));

    // Planned for review, then applied: the plan file changes nothing; an edited one is refused.
    let exp = format!("CN={},{}", lab.name("EXP"), lab.ou);
    let exp_before = expirations(&mut c, &exp);
    let plan = _tmp.path().join("laps-plan.json");
    let plan_arg = plan.to_str().unwrap();
    let out = keyreeve(
        &ws,
        &identity,
        &[
            "laps",
            "expire",
            "--client",
            "acme",
            "--computer",
            &lab.name("EXP"),
            "-o",
            plan_arg,
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        expirations(&mut c, &exp),
        exp_before,
        "writing a plan changed the directory"
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains(&exp) && text.contains(laps::LEGACY_EXPIRATION), "{text}");
    let forged = tempfile::NamedTempFile::new_in(_tmp.path()).unwrap();
    std::fs::write(forged.path(), text.replace(&exp, &leg)).unwrap();
    let refused = keyreeve(&ws, &identity, &["laps", "apply", forged.path().to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("hash does not match"));
    let applying = Utc::now() - Duration::seconds(5);
    let out = keyreeve(&ws, &identity, &["laps", "apply", plan_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exp_after = expirations(&mut c, &exp);
    assert!(exp_after[0].1 >= applying, "{exp_after:?}");

    // A plan whose computer lost its LAPS since is refused whole, before any change.
    let wine = format!("CN={},{}", lab.name("WINE"), lab.ou);
    let stale = _tmp.path().join("stale-plan.json");
    let out = keyreeve(
        &ws,
        &identity,
        &[
            "laps",
            "expire",
            "--client",
            "acme",
            "--computer",
            &lab.name("WINE"),
            "-o",
            stale.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    modify(
        &mut c,
        &wine,
        vec![
            ldap3::Mod::Delete(laps::WINDOWS_EXPIRATION.as_bytes().to_vec(), Default::default()),
            ldap3::Mod::Delete(laps::WINDOWS_ENCRYPTED.as_bytes().to_vec(), Default::default()),
        ],
    );
    let refused = keyreeve(&ws, &identity, &["laps", "apply", stale.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("changed since the plan was made"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(expirations(&mut c, &wine).is_empty());

    let log = keyreeve(&ws, &identity, &["log", "--json"]);
    let log_text = String::from_utf8_lossy(&log.stdout);
    assert!(
        log_text.contains("laps-expire") && log_text.contains(&leg),
        "{log_text}"
    );
    delete_tree(&mut c, &lab.ou);
}
