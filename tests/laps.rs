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
use ldap3::LdapConn;

use common::ad_lab::*;

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
