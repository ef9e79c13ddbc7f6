//! The tier-0 review rules against the real Samba AD lab: each rule's accounts that must be
//! flagged beside decoys that must not (krbtgt, the DC, disabled accounts, explicit FALSE
//! dial-in), built in an OU of the test's own that is removed afterwards. Discovery goes through
//! the connector trait as `keyreeve discover` does, and the review through `review::review`.
//!
//! What the shared lab cannot be made to show is covered by the rules' unit tests instead: an old
//! krbtgt password (set at provisioning; backdating it would change the shared DC's KDC key) and
//! a computer whose last logon is old rather than absent (lastLogonTimestamp is the DC's own).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Utc;
use common::ad_lab::*;
use keyreeve::connector::ldap;
use keyreeve::policy::{DirectoryPolicy, ReviewPolicy};
use keyreeve::review::snapshot::{AccountRecord, InVault, Snapshot};
use keyreeve::review::{self, Review, ReviewContext, Severity, TargetReview};

const TARGET: &str = "lab/dc1";

/// Discovers the lab as `keyreeve discover` would and wraps it as a review target.
fn discover(policy: DirectoryPolicy, admin_pw: &keyreeve::Password) -> TargetReview {
    let t = ad_target();
    let conn = ldap::connector(&t, &ctx(policy)).unwrap();
    let survey = conn.survey(&creds("Administrator", admin_pw)).unwrap();
    let snapshot = Snapshot {
        target: TARGET.into(),
        kind: "active-directory".into(),
        taken_at: Utc::now(),
        error: None,
        hint: None,
        accounts: survey
            .accounts
            .into_iter()
            .map(|account| AccountRecord {
                account,
                in_vault: InVault::No,
                verified: None,
                verify_hint: None,
                flagged: false,
            })
            .collect(),
        domain: survey.domain.map(|d| *d),
        snapshot: None,
    };
    TargetReview {
        target: TARGET.into(),
        kind: "active-directory".into(),
        current: Some(snapshot),
        baseline: None,
        between: Vec::new(),
        failed_since: None,
    }
}

fn run(t: &TargetReview, policy: &ReviewPolicy) -> Review {
    review::review(
        std::slice::from_ref(t),
        &ReviewContext {
            now: Utc::now(),
            policy,
        },
    )
}

/// The accounts `rule` flagged whose name holds `p` (the test's own), sorted.
fn flagged(r: &Review, rule: &str, p: &str) -> Vec<String> {
    let mut names: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .filter_map(|f| f.subject.strip_prefix(&format!("{TARGET}/")).map(str::to_string))
        .filter(|n| n.contains(p))
        .collect();
    names.sort();
    names
}

fn severity_of(r: &Review, rule: &str, name: &str) -> Severity {
    r.findings
        .iter()
        .find(|f| f.rule == rule && f.subject == format!("{TARGET}/{name}"))
        .unwrap_or_else(|| panic!("no {rule} finding on {name}"))
        .severity
}

/// Adds a value no LDAP client may write (sIDHistory outside a migration tool) or that needs a
/// binary security descriptor (resource-based delegation; ldb takes it as SDDL): on the DC's own
/// database, as root on the lab, the LDIF on stdin (nothing secret in it).
fn ldb_add_value(dn: &str, attr: &str, value: &str) {
    let sam = lab_dir().join("samba/private/sam.ldb");
    let mut child = Command::new("ldbmodify")
        .arg("-H")
        .arg(&sam)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ldbmodify (ldb-tools) is installed by tests/lab/samba.sh");
    let ldif = format!("dn: {dn}\nchangetype: modify\nadd: {attr}\n{attr}: {value}\n");
    child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ldbmodify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn account_rules_flag_risky_accounts_and_spare_the_decoys() {
    let admin_pw = require_samba();
    let p = prefix();
    let mut lab = Lab::connect(&admin_pw);
    let ou = lab.ou(&format!("kr-review-{p}"));
    let n = |s: &str| format!("{p}-{s}");
    let da = users("Domain Admins");
    let into_da = |lab: &mut Lab, dn: &str| lab.add_member(&da, dn);

    // computer-admin: a computer and a gMSA in Domain Admins; a disabled computer is not.
    let cadm = lab.computer(&ou, &n("cadm"), 4096);
    let coff = lab.computer(&ou, &n("coff"), 4096 | 2);
    let gmsa = lab.add(
        &format!("CN={},{ou}", n("gmsa")),
        vec![
            ("objectClass", v("msDS-GroupManagedServiceAccount")),
            ("sAMAccountName", v(&format!("{}$", n("gmsa")))),
            ("dNSHostName", v(&format!("{}.lab.test", n("gmsa")))),
            ("msDS-ManagedPasswordInterval", v("30")),
            ("userAccountControl", v("4096")),
        ],
    );
    for m in [&cadm, &coff, &gmsa] {
        into_da(&mut lab, m);
    }
    // service-account-admin: by name in Backup Operators, by description in Domain Admins.
    let svcbk = lab.user(&ou, &format!("svc_{p}bk"), 512, vec![]);
    lab.add_member(&format!("CN=Backup Operators,CN=Builtin,{AD_BASE}"), &svcbk);
    lab.user(&ou, &format!("svc_{p}pl"), 512, vec![]);
    let desc = lab.user(&ou, &n("desc"), 512, vec![("description", v("runs the SQL service"))]);
    into_da(&mut lab, &desc);
    // ... and by a userAccountControl flag the policy names.
    let pne = lab.user(&ou, &n("pne"), 512 | 0x10000, vec![]);
    lab.add_member(&format!("CN=Backup Operators,CN=Builtin,{AD_BASE}"), &pne);
    // admincount-orphan: adminCount=1 in no group; a current admin with it is not an orphan.
    lab.user(&ou, &n("orph"), 512, vec![("adminCount", v("1"))]);
    let adm = lab.user(&ou, &n("adm"), 512, vec![("adminCount", v("1"))]);
    into_da(&mut lab, &adm);
    // admin-delegable / admin-not-protected-users.
    let safe = lab.user(&ou, &n("safe"), 512 | 0x100000, vec![]);
    let prot = lab.user(&ou, &n("prot"), 512, vec![]);
    into_da(&mut lab, &safe);
    into_da(&mut lab, &prot);
    lab.add_member(&users("Protected Users"), &prot);
    // remote-access-account: TRUE, admin with TRUE, group member without the attribute;
    // explicit FALSE in the group, disabled with TRUE and FALSE alone are not.
    let yes = || vec![("msNPAllowDialin", v("TRUE"))];
    let no = || vec![("msNPAllowDialin", v("FALSE"))];
    lab.user(&ou, &n("dial"), 512, yes());
    let dialadm = lab.user(&ou, &n("dialadm"), 512, yes());
    into_da(&mut lab, &dialadm);
    let vpnu = lab.user(&ou, &n("vpnu"), 512, vec![]);
    let vpnno = lab.user(&ou, &n("vpnno"), 512, no());
    lab.user(&ou, &n("dialoff"), 514, yes());
    lab.user(&ou, &n("nodial"), 512, no());
    let vpn = lab.group(&ou, &n("vpn"), &[&vpnu, &vpnno]);
    // primary-group-admin: Domain Admins as primary group, listed in no member attribute.
    let pg = lab.user(&ou, &n("pg"), 512, vec![]);
    into_da(&mut lab, &pg);
    lab.replace(&pg, "primaryGroupID", "512");
    let _ = lab.c.modify(
        &da,
        vec![ldap3::Mod::Delete(
            b"member".to_vec(),
            [pg.as_bytes().to_vec()].into_iter().collect(),
        )],
    );
    // unconstrained-delegation: an enabled computer trusted for delegation; disabled one not.
    lab.computer(&ou, &n("deleg"), 4096 | 0x80000);
    lab.computer(&ou, &n("delegoff"), 4096 | 0x80000 | 2);
    // constrained-delegation (info).
    let kcd = lab.user(
        &ou,
        &n("kcd"),
        512,
        vec![("msDS-AllowedToDelegateTo", v("cifs/fs1.lab.test"))],
    );
    // sid-history.
    let sidh = lab.user(&ou, &n("sidh"), 512, vec![]);
    ldb_add_value(&sidh, "sIDHistory", "S-1-5-21-1111-2222-3333-1104");
    // Resource-based delegation: another account may act on behalf of users towards this one.
    let rbcd = lab.computer(&ou, &n("rbcd"), 4096);
    let kcd_sid = lab.sid_of(&kcd);
    ldb_add_value(
        &rbcd,
        "msDS-AllowedToActOnBehalfOfOtherIdentity",
        &format!("O:BAD:(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;{kcd_sid})"),
    );
    // weak-kerberos-etypes: RC4 only on an admin; AES on an admin and RC4 on a plain user are not.
    let rc4 = lab.user(&ou, &n("rc4"), 512, vec![("msDS-SupportedEncryptionTypes", v("4"))]);
    let aes = lab.user(&ou, &n("aes"), 512, vec![("msDS-SupportedEncryptionTypes", v("24"))]);
    into_da(&mut lab, &rc4);
    into_da(&mut lab, &aes);
    lab.user(&ou, &n("rc4u"), 512, vec![("msDS-SupportedEncryptionTypes", v("4"))]);
    // stale-computer: never logged on, password never set; fresh and disabled ones are not.
    let stale = lab.computer(&ou, &n("stale"), 4096);
    lab.replace(&stale, "pwdLastSet", "0");
    let staleoff = lab.computer(&ou, &n("staleoff"), 4096 | 2);
    lab.replace(&staleoff, "pwdLastSet", "0");
    lab.computer(&ou, &n("fresh"), 4096);

    let policy = DirectoryPolicy {
        service_account_descriptions: vec!["*SQL service*".into()],
        service_account_flags: vec!["password-never-expires".into()],
        remote_access_groups: vec![vpn.clone()],
        ..DirectoryPolicy::default()
    };
    let t = discover(policy, &admin_pw);
    let r = run(&t, &ReviewPolicy::default());

    let names = |items: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(
        flagged(&r, "computer-admin", &p),
        names(&[&format!("{}$", n("cadm")), &format!("{}$", n("gmsa"))])
    );
    assert_eq!(
        flagged(&r, "service-account-admin", &p),
        names(&[&format!("svc_{p}bk"), &n("desc"), &n("pne")])
    );
    assert_eq!(flagged(&r, "admincount-orphan", &p), [n("orph")]);
    assert!(!r
        .findings
        .iter()
        .any(|f| f.rule == "admincount-orphan" && f.subject.ends_with("/krbtgt")));
    assert_eq!(
        flagged(&r, "remote-access-account", &p),
        names(&[&n("dial"), &n("dialadm"), &n("vpnu")])
    );
    assert_eq!(severity_of(&r, "remote-access-account", &n("dial")), Severity::Low);
    assert_eq!(severity_of(&r, "remote-access-account", &n("dialadm")), Severity::High);
    let vpnu_finding = r
        .findings
        .iter()
        .find(|f| f.rule == "remote-access-account" && f.subject.ends_with(&n("vpnu")))
        .unwrap();
    assert!(
        vpnu_finding.message.contains("controlled by NPS policy"),
        "{}",
        vpnu_finding.message
    );
    assert_eq!(flagged(&r, "primary-group-admin", &p), [n("pg")]);
    let pg_record = t.accounts().iter().find(|a| a.account.name == n("pg")).unwrap();
    assert!(
        pg_record.account.privilege.contains("primary group Domain Admins"),
        "{}",
        pg_record.account.privilege
    );
    assert_eq!(
        flagged(&r, "unconstrained-delegation", &p),
        [format!("{}$", n("deleg"))]
    );
    assert!(
        !r.findings
            .iter()
            .any(|f| f.rule == "unconstrained-delegation" && f.subject.ends_with("/DC1$")),
        "the DC is trusted for delegation by design"
    );
    // Every enabled admin user of the test (service accounts too) but the NOT_DELEGATED and
    // protected ones; computers and gMSAs are not delegated as users are.
    let people = [
        n("adm"),
        n("desc"),
        n("pne"),
        n("dialadm"),
        n("pg"),
        n("rc4"),
        n("aes"),
        format!("svc_{p}bk"),
    ];
    let mut delegable: Vec<&str> = people.iter().map(String::as_str).collect();
    assert_eq!(flagged(&r, "admin-delegable", &p), names(&delegable));
    let safe_name = n("safe");
    delegable.push(&safe_name);
    // Service accounts (by description, flag or name) are left out: Protected Users is for people.
    delegable.retain(|d| *d != n("desc") && *d != n("pne") && !d.starts_with("svc_"));
    assert_eq!(flagged(&r, "admin-not-protected-users", &p), names(&delegable));
    assert_eq!(
        flagged(&r, "constrained-delegation", &p),
        names(&[&n("kcd"), &format!("{}$", n("rbcd"))])
    );
    let rbcd_finding = r
        .findings
        .iter()
        .find(|f| f.rule == "constrained-delegation" && f.subject.ends_with(&format!("{}$", n("rbcd"))))
        .unwrap();
    assert!(
        rbcd_finding.message.contains("lets other accounts delegate to it"),
        "{}",
        rbcd_finding.message
    );
    assert_eq!(flagged(&r, "sid-history", &p), [n("sidh")]);
    assert_eq!(flagged(&r, "weak-kerberos-etypes", &p), [n("rc4")]);
    assert_eq!(flagged(&r, "stale-computer", &p), [format!("{}$", n("stale"))]);
    drop(lab);
}

/// The domain-wide rules read the real domain object, krbtgt and Guest. The domain's settings
/// are only read (other tests share the DC); Guest is enabled for a moment and put back.
#[test]
fn domain_rules_read_the_domain_as_it_is() {
    let admin_pw = require_samba();
    let mut lab = Lab::connect(&admin_pw);
    let t = discover(DirectoryPolicy::default(), &admin_pw);
    let facts = t
        .current
        .as_ref()
        .unwrap()
        .domain
        .clone()
        .expect("AD discovery keeps the domain's facts");
    assert_eq!(facts.domain, "lab.test");
    assert_eq!(facts.bind_account.as_deref(), Some("Administrator@lab.test"));
    assert!(facts.privileged_groups.iter().any(|g| g.reason == "well-known RID 512"));
    let dc = facts
        .computers
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case("DC1$"))
        .unwrap();
    assert!(dc.domain_controller && dc.enabled);

    // domain-password-policy: the lab's own settings, read back from the domain object.
    let min_len: u32 = lab.attr(AD_BASE, "minPwdLength")[0].parse().unwrap();
    let lockout: u32 = lab.attr(AD_BASE, "lockoutThreshold")[0].parse().unwrap();
    let pp = facts.password_policy.as_ref().unwrap();
    assert_eq!((pp.min_length, pp.lockout_threshold), (Some(min_len), Some(lockout)));
    let r = run(&t, &ReviewPolicy::default());
    let messages: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == "domain-password-policy")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        messages
            .iter()
            .any(|m| m.starts_with(&format!("minimum password length {min_len},"))),
        min_len < 14,
        "{messages:?}"
    );
    assert_eq!(
        messages.iter().any(|m| m.contains("lockout is off")),
        lockout == 0,
        "{messages:?}"
    );
    let mut lenient = ReviewPolicy {
        min_password_length: min_len,
        require_lockout: false,
        ..ReviewPolicy::default()
    };
    let r2 = run(&t, &lenient);
    assert!(!r2.findings.iter().any(|f| f.rule == "domain-password-policy"));

    // krbtgt-password-old: the lab's krbtgt was set at provisioning, well within 180 days.
    let krbtgt = facts.krbtgt.as_ref().unwrap();
    assert!(krbtgt.pwd_last_set.is_some());
    assert!(!r.findings.iter().any(|f| f.rule == "krbtgt-password-old"));

    // too-many-admins: by the real count of Domain Admins + Enterprise Admins + Administrators.
    lenient.max_domain_admins = 100_000;
    assert!(!run(&t, &lenient).findings.iter().any(|f| f.rule == "too-many-admins"));
    lenient.max_domain_admins = 1;
    let many = run(&t, &lenient);
    let finding = many.findings.iter().find(|f| f.rule == "too-many-admins").unwrap();
    assert!(finding.message.contains("Administrator"), "{}", finding.message);

    // guest-enabled: off in the lab, flagged while it is on.
    let guest = users("Guest");
    let uac: u32 = lab.attr(&guest, "userAccountControl")[0].parse().unwrap();
    assert!(!r.findings.iter().any(|f| f.rule == "guest-enabled"));
    assert!(uac & 2 != 0, "the lab's Guest is disabled as provisioned");
    lab.replace(&guest, "userAccountControl", &(uac & !2).to_string());
    let on = discover(DirectoryPolicy::default(), &admin_pw);
    lab.replace(&guest, "userAccountControl", &uac.to_string());
    let found = run(&on, &ReviewPolicy::default());
    assert_eq!(
        found
            .findings
            .iter()
            .filter(|f| f.rule == "guest-enabled")
            .map(|f| f.subject.as_str())
            .collect::<Vec<_>>(),
        ["lab/dc1/Guest"]
    );
}

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");

/// A workspace with the lab DC as target `lab/dc1` and Administrator's password in the vault.
fn workspace_with_the_lab_dc(
    tmp: &std::path::Path,
    admin_pw: &keyreeve::Password,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let identity = tmp.join("identity.txt");
    let public = keyreeve::keys::new_identity_file(&identity, None).unwrap();
    let ws = tmp.join("ws");
    let out = Command::new(BIN)
        .args(["init", ws.to_str().unwrap(), "--recipient", &public])
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    let file = ws.join("keyreeve.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "\n[clients.lab]\n[[clients.lab.targets]]\nname = \"dc1\"\nkind = \"active-directory\"\n\
         url = \"{AD_URL}\"\nbase_dn = \"{AD_BASE}\"\nlogin = \"Administrator\"\nca_file = \"{}\"\n",
        lab_dir().join("ca/ca.crt").display()
    ));
    std::fs::write(&file, text).unwrap();
    let workspace = keyreeve::workspace::Workspace::open(&ws).unwrap();
    let inventory = keyreeve::inventory::Inventory::load(&file).unwrap();
    let keys = keyreeve::keys::KeyRing::locate(Some(&identity));
    keyreeve::vault::Vault::new(&workspace, &inventory, &keys)
        .update("lab", |doc| {
            doc.entries.insert(
                "dc1/Administrator".into(),
                keyreeve::vault::Entry::new("Administrator", admin_pw.clone()),
            );
            Ok::<(), keyreeve::vault::VaultError>(())
        })
        .unwrap();
    (ws, identity)
}

fn keyreeve(ws: &std::path::Path, identity: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args([
            "--workspace",
            ws.to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `discover` says what it counts: device admins missing from the vault apart from the
/// directory's admins, of which only Administrator is in the vault here. The review of the same
/// snapshot states its scope and shows the group view in every format, and `--rules` lists each
/// new rule with its severity.
#[test]
fn discover_counts_directory_admins_and_the_review_shows_scope_groups_in_every_format() {
    let admin_pw = require_samba();
    let tmp = tempfile::tempdir().unwrap();
    let (ws, identity) = workspace_with_the_lab_dc(tmp.path(), &admin_pw);
    let out = keyreeve(&ws, &identity, &["discover", "--client", "lab"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    let counted = regex_lite_counts(summary);
    let (directory, missing) = counted.unwrap_or_else(|| panic!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        summary.contains("0 device admin accounts not in the vault"),
        "{summary}"
    );
    assert!(directory >= 1 && missing == directory - 1, "{summary}");

    let json = keyreeve(
        &ws,
        &identity,
        &["review", "--client", "lab", "--json", "--fail-on", "never"],
    );
    let review: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let target = &review["targets"][0];
    assert_eq!(target["scope"]["domain"], "lab.test");
    assert_eq!(target["scope"]["bind_account"], "Administrator@lab.test");
    let da = target["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "Domain Admins")
        .unwrap();
    assert!(da["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["account"] == "Administrator" && m["through"] == "member"));
    let admin = target["roster"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == "Administrator")
        .unwrap();
    assert_eq!(admin["account_type"], "user");
    assert_eq!(admin["held"], "direct");

    let md_file = tmp.path().join("review.md");
    let out = keyreeve(
        &ws,
        &identity,
        &[
            "review",
            "--client",
            "lab",
            "--format",
            "markdown",
            "-o",
            md_file.to_str().unwrap(),
            "--fail-on",
            "never",
        ],
    );
    assert!(out.status.success());
    let md = std::fs::read_to_string(&md_file).unwrap();
    assert!(
        md.contains("## Scope\n\n- `lab/dc1`: Domain lab.test read from"),
        "{md}"
    );
    assert!(md.contains("- **Domain Admins** (well-known RID 512): "), "{md}");
    let table = keyreeve(&ws, &identity, &["review", "--client", "lab", "--fail-on", "never"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("Scope of lab/dc1: Domain lab.test read from"), "{table}");
    assert!(table.contains("  by privileged group:\n    Domain Admins: "), "{table}");

    let rules = Command::new(BIN).args(["review", "--rules"]).output().unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    for (rule, severity) in [
        ("computer-admin", "high"),
        ("service-account-admin", "high"),
        ("admincount-orphan", "low"),
        ("remote-access-account", "low"),
        ("primary-group-admin", "medium"),
        ("unconstrained-delegation", "high"),
        ("admin-delegable", "medium"),
        ("admin-not-protected-users", "low"),
        ("constrained-delegation", "info"),
        ("krbtgt-password-old", "medium"),
        ("stale-computer", "low"),
        ("guest-enabled", "high"),
        ("sid-history", "medium"),
        ("weak-kerberos-etypes", "medium"),
        ("too-many-admins", "medium"),
        ("domain-password-policy", "medium"),
    ] {
        assert!(
            rules.lines().any(|l| l.split_whitespace().take(2).eq([rule, severity])),
            "{rule} ({severity}) missing from:\n{rules}"
        );
    }
}

/// `N directory admin accounts, M of them not in the vault` from discover's summary.
fn regex_lite_counts(summary: &str) -> Option<(usize, usize)> {
    let (_, rest) = summary.split_once("; ")?.1.split_once("; ")?;
    let mut words = rest.split_whitespace();
    let directory = words.next()?.parse().ok()?;
    let rest = rest.split_once("accounts, ")?.1;
    let missing = rest.split_whitespace().next()?.parse().ok()?;
    Some((directory, missing))
}

/// The demo has no DC: its review still shows AD findings, from the embedded example snapshot
/// that says it is one.
#[test]
fn the_demo_reviews_its_labelled_example_domain() {
    let out = Command::new(BIN).args(["demo", "--devices", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Scope of demo/example-dc: Domain example.invalid (EXAMPLE snapshot"),
        "{stdout}"
    );
    for finding in [
        "computer-admin               demo/example-dc/SQL01$",
        "krbtgt-password-old          demo/example-dc/krbtgt",
        "remote-access-account        demo/example-dc/m.smith",
    ] {
        assert!(stdout.contains(finding), "{finding} missing:\n{stdout}");
    }
}
