//! The directory connector against real servers on loopback: a Samba AD DC (tests/lab/samba.sh)
//! and an OpenLDAP slapd (tests/lab/slapd.sh). Each test creates its own objects under a unique
//! prefix, so tests run in parallel and can be re-run against the same lab.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use keyreeve::connector::ldap::{self, ad, DirectoryAccount, DirectoryReport};
use keyreeve::connector::{AccountKind, ChangeMethod, ConnectContext, ConnectorError, Credentials, Verification};
use keyreeve::inventory::{LoginMethod, Target, TargetKind};
use keyreeve::policy::DirectoryPolicy;
use keyreeve::Password;
use ldap3::{LdapConn, LdapConnSettings, Mod, Scope, SearchEntry};

const AD_BASE: &str = "DC=lab,DC=test";
const OL_BASE: &str = "dc=lab,dc=test";
const OL_ADMIN: &str = "cn=admin,dc=lab,dc=test";

fn lab_dir() -> PathBuf {
    std::env::var_os("KEYREEVE_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/keyreeve-lab"))
}

fn require(service: &str, port: u16) -> Password {
    let pw_file = lab_dir().join(service).join("admin.pw");
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok();
    let pw = std::fs::read_to_string(&pw_file).ok();
    match (up, pw) {
        (true, Some(pw)) => Password::new(pw.trim().to_string()),
        _ => panic!(
            "lab missing: run tests/lab/up.sh (or tests/lab/{service}.sh) as root; \
             nothing listens on 127.0.0.1:{port} or {} is absent",
            pw_file.display()
        ),
    }
}

/// A short unique prefix: sAMAccountName allows 20 characters.
fn prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
}

/// A password meeting AD's complexity, unique so that history never trips a test by accident.
fn fresh_password() -> Password {
    Password::new(format!("Kr-{}-aZ9", uuid::Uuid::new_v4().simple()))
}

fn ctx(policy: DirectoryPolicy) -> ConnectContext {
    ConnectContext {
        known_hosts: lab_dir().join("known_hosts"),
        workspace_root: lab_dir(),
        trust_on_first_use: false,
        directory: policy,
    }
}

fn target(kind: TargetKind, url: &str, base: &str, login: &str, bind_dn: Option<&str>, ca: &str) -> Target {
    Target {
        client: "lab".into(),
        name: if kind == TargetKind::Ldap {
            "ol".into()
        } else {
            "dc1".into()
        },
        kind,
        address: "127.0.0.1".into(),
        port: 0,
        login: login.into(),
        login_method: LoginMethod::Password,
        enable: None,
        host_key: None,
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(30),
        tags: vec![],
        dependants: BTreeMap::new(),
        url: Some(url.into()),
        base_dn: Some(base.into()),
        bind_dn: bind_dn.map(Into::into),
        // Relative on purpose: resolved against the workspace root (here the lab dir).
        ca_file: Some(PathBuf::from(ca)),
        extra_groups: vec![],
        guided: None,
        line: 1,
    }
}

fn ad_target(login: &str) -> Target {
    target(
        TargetKind::ActiveDirectory,
        "ldaps://127.0.0.1:636",
        AD_BASE,
        login,
        None,
        "ca/ca.crt",
    )
}

fn creds(user: &str, pw: &Password) -> Credentials {
    Credentials {
        username: user.into(),
        method: LoginMethod::Password,
        secret: pw.clone(),
        enable: None,
    }
}

/// A raw ldap3 connection for populating the lab (verified against the lab CA too).
fn raw_conn(url: &str, bind: &str, pw: &Password) -> LdapConn {
    let t = target(TargetKind::Ldap, url, "", "x", None, "ca/ca.crt");
    let cfg = ldap::tls::client_config(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let mut c = LdapConn::with_settings(LdapConnSettings::new().set_config(cfg), url).unwrap();
    c.simple_bind(bind, pw.expose()).unwrap().success().unwrap();
    c
}

type Attrs<'a> = Vec<(&'a str, Vec<Vec<u8>>)>;

fn add(c: &mut LdapConn, dn: &str, attrs: Attrs<'_>) {
    let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = attrs
        .into_iter()
        .map(|(k, vs)| (k.as_bytes().to_vec(), vs.into_iter().collect()))
        .collect();
    let res = c.add(dn, attrs).unwrap();
    assert_eq!(res.rc, 0, "adding {dn}: {res:?}");
}

fn modify(c: &mut LdapConn, dn: &str, mods: Vec<Mod<Vec<u8>>>) {
    let res = c.modify(dn, mods).unwrap();
    assert_eq!(res.rc, 0, "modifying {dn}: {res:?}");
}

fn v(s: &str) -> Vec<Vec<u8>> {
    vec![s.as_bytes().to_vec()]
}

fn vs(items: &[String]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn pwd(p: &Password) -> Vec<Vec<u8>> {
    vec![ad::unicode_pwd(p).0.to_vec()]
}

fn users_dn(name: &str) -> String {
    format!("CN={name},CN=Users,{AD_BASE}")
}

fn ad_user(c: &mut LdapConn, name: &str, uac: u32, pw: &Password, extra: Attrs<'_>) -> String {
    let dn = users_dn(name);
    let mut attrs: Attrs<'_> = vec![
        ("objectClass", v("user")),
        ("sAMAccountName", v(name)),
        ("unicodePwd", pwd(pw)),
        ("userAccountControl", v(&uac.to_string())),
    ];
    attrs.extend(extra);
    add(c, &dn, attrs);
    dn
}

fn ad_group(c: &mut LdapConn, name: &str, members: &[String]) -> String {
    let dn = users_dn(name);
    let mut attrs: Attrs<'_> = vec![("objectClass", v("group")), ("sAMAccountName", v(name))];
    if !members.is_empty() {
        attrs.push(("member", vs(members)));
    }
    add(c, &dn, attrs);
    dn
}

fn add_member(c: &mut LdapConn, group: &str, member: &str) {
    modify(
        c,
        group,
        vec![Mod::Add(
            b"member".to_vec(),
            [member.as_bytes().to_vec()].into_iter().collect(),
        )],
    );
}

fn sid_of(c: &mut LdapConn, dn: &str) -> String {
    let (rs, _) = c
        .search(dn, Scope::Base, "(objectClass=*)", vec!["objectSid"])
        .unwrap()
        .success()
        .unwrap();
    let e = SearchEntry::construct(rs.into_iter().next().unwrap());
    let raw = e
        .bin_attrs
        .get("objectSid")
        .and_then(|v| v.first().cloned())
        .or_else(|| {
            e.attrs
                .get("objectSid")
                .and_then(|v| v.first())
                .map(|s| s.as_bytes().to_vec())
        })
        .unwrap();
    ad::sid_to_string(&raw).unwrap()
}

fn find<'a>(report: &'a DirectoryReport, name: &str) -> &'a DirectoryAccount {
    report
        .accounts
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("{name} missing from the report: {:#?}", names(report)))
}

fn names(report: &DirectoryReport) -> Vec<String> {
    report.accounts.iter().map(|a| a.name.clone()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Paths of a member of Domain Admins through `chain` (group names below Domain Admins): Domain
/// Admins is itself a member of the builtin Administrators, so both appear.
fn da_paths(chain: &[&str]) -> Vec<String> {
    let mut c: Vec<&str> = chain.to_vec();
    c.push("Domain Admins");
    let first = if c.len() == 1 {
        "member of Domain Admins".to_string()
    } else {
        format!("via {}", c.join(" -> "))
    };
    let mut c2 = c.clone();
    c2.push("Administrators");
    vec![first, format!("via {}", c2.join(" -> "))]
}

#[test]
fn ad_discovery_finds_every_effective_member_with_its_path() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    let pw = fresh_password();
    let n = |s: &str| format!("{p}-{s}");

    // Users and other principals.
    let alice = ad_user(&mut c, &n("alice"), 512 | 0x10000, &pw, vec![("adminCount", v("1"))]);
    let bob = ad_user(&mut c, &n("bob"), 512 | 0x80, &pw, vec![]);
    let carol = ad_user(&mut c, &n("carol"), 512, &pw, vec![]);
    let dis = ad_user(&mut c, &n("dis"), 512 | 0x2 | 0x20, &pw, vec![]);
    let _svc1 = ad_user(
        &mut c,
        &n("svc1"),
        512 | 0x400000,
        &pw,
        vec![("servicePrincipalName", v(&format!("HTTP/{p}web.lab.test")))],
    );
    let svcda = ad_user(
        &mut c,
        &n("svcda"),
        512,
        &pw,
        vec![("servicePrincipalName", v(&format!("MSSQLSvc/{p}sql.lab.test:1433")))],
    );
    let _dial = ad_user(&mut c, &n("dial"), 512, &pw, vec![("msNPAllowDialin", v("TRUE"))]);
    let _nodial = ad_user(&mut c, &n("nodial"), 512, &pw, vec![("msNPAllowDialin", v("FALSE"))]);
    let vpnu = ad_user(&mut c, &n("vpnu"), 512, &pw, vec![]);
    let nx = ad_user(&mut c, &n("nx"), 512 | 0x10000, &pw, vec![]);
    let pg = ad_user(&mut c, &n("pg"), 512, &pw, vec![]);
    let dns = ad_user(&mut c, &n("dns"), 512, &pw, vec![]);
    let _patterned = ad_user(&mut c, &format!("svc-{p}"), 512, &pw, vec![]);
    let _plain = ad_user(&mut c, &n("plain"), 512, &pw, vec![]);
    let pc_name = format!("{p}-pc$");
    let pc = format!("CN={p}-pc,CN=Computers,{AD_BASE}");
    add(
        &mut c,
        &pc,
        vec![
            ("objectClass", v("computer")),
            ("sAMAccountName", v(&pc_name)),
            ("userAccountControl", v(&(4096 | 0x80000).to_string())),
            ("unicodePwd", pwd(&pw)),
        ],
    );
    let gmsa_name = format!("{p}-gmsa$");
    let gmsa = format!("CN={p}-gmsa,CN=Managed Service Accounts,{AD_BASE}");
    add(
        &mut c,
        &gmsa,
        vec![
            ("objectClass", v("msDS-GroupManagedServiceAccount")),
            ("sAMAccountName", v(&gmsa_name)),
            ("dNSHostName", v(&format!("{p}-gmsa.lab.test"))),
            ("msDS-ManagedPasswordInterval", v("30")),
            ("userAccountControl", v("4096")),
        ],
    );
    let fsp_sid = format!(
        "S-1-5-21-{}-{}-{}-1105",
        rand_u32() % 1_000_000_000,
        rand_u32() % 1_000_000_000,
        rand_u32() % 1_000_000_000
    );

    // Three levels of nesting under Domain Admins, and a loop back to the top one.
    let l3 = ad_group(&mut c, &n("l3"), &[carol.clone(), format!("<SID={fsp_sid}>")]);
    let l2 = ad_group(&mut c, &n("l2"), &[l3.clone(), svcda.clone(), pg.clone()]);
    let l1 = ad_group(&mut c, &n("l1"), &[l2.clone(), bob.clone(), gmsa.clone()]);
    add_member(&mut c, &l3, &l1);
    let da = users_dn("Domain Admins");
    for m in [&alice, &l1, &dis, &pc] {
        add_member(&mut c, &da, m);
    }
    // pg's primary group becomes l2: AD then lists it in no `member` attribute at all.
    let l2_rid = sid_of(&mut c, &l2).rsplit('-').next().unwrap().to_string();
    modify(
        &mut c,
        &pg,
        vec![Mod::Replace(
            b"primaryGroupID".to_vec(),
            [l2_rid.into_bytes()].into_iter().collect(),
        )],
    );
    add_member(&mut c, &users_dn("Protected Users"), &alice);
    let extra = ad_group(&mut c, &n("extra"), std::slice::from_ref(&nx));
    let _vpn = ad_group(&mut c, &n("vpn"), std::slice::from_ref(&vpnu));
    // DnsAdmins has no fixed RID; Samba without its DNS server has none: create it once.
    let dns_admins = users_dn("DnsAdmins");
    let exists = c
        .search(&dns_admins, Scope::Base, "(objectClass=*)", vec!["cn"])
        .map(|r| r.1.rc == 0)
        .unwrap_or(false);
    if !exists {
        let _ = c.add(
            &dns_admins,
            vec![
                (b"objectClass".to_vec(), [b"group".to_vec()].into_iter().collect()),
                (
                    b"sAMAccountName".to_vec(),
                    [b"DnsAdmins".to_vec()].into_iter().collect(),
                ),
            ],
        );
    }
    add_member(&mut c, &dns_admins, &dns);
    let ou = format!("OU={p}-svc,{AD_BASE}");
    add(&mut c, &ou, vec![("objectClass", v("organizationalUnit"))]);
    let ou_user = format!("CN={p}-ouacct,{ou}");
    add(
        &mut c,
        &ou_user,
        vec![
            ("objectClass", v("user")),
            ("sAMAccountName", v(&n("ouacct"))),
            ("unicodePwd", pwd(&pw)),
            ("userAccountControl", v("512")),
        ],
    );

    let policy = DirectoryPolicy {
        service_account_patterns: vec![format!("svc-{p}*")],
        service_account_ous: vec![ou.clone()],
        remote_access_groups: vec![n("vpn")],
    };
    let mut t = ad_target("Administrator");
    t.extra_groups = vec![extra.clone()];
    let report = ldap::discover_directory(&t, &ctx(policy.clone()), &creds("Administrator", &admin_pw)).unwrap();

    // Exactly the expected accounts of this test, nothing more, nothing less.
    let mut ours: Vec<String> = report
        .accounts
        .iter()
        .filter(|a| a.name.to_lowercase().contains(&p) || a.name == fsp_sid)
        .map(|a| a.name.to_lowercase())
        .collect();
    ours.sort();
    let mut expected: Vec<String> = [
        n("alice"),
        n("bob"),
        n("carol"),
        n("dis"),
        n("svc1"),
        n("svcda"),
        n("dial"),
        n("vpnu"),
        n("nx"),
        n("pg"),
        n("dns"),
        n("ouacct"),
        format!("svc-{p}"),
        pc_name.clone(),
        gmsa_name.clone(),
    ]
    .iter()
    .map(|s| s.to_lowercase())
    .chain([fsp_sid.to_lowercase()])
    .collect();
    expected.sort();
    assert_eq!(ours, expected);
    assert!(!report.accounts.iter().any(|a| a.name.eq_ignore_ascii_case(&n("plain"))));
    assert!(!report
        .accounts
        .iter()
        .any(|a| a.name.eq_ignore_ascii_case(&n("nodial"))));

    // Paths.
    let paths = |name: &str| find(&report, name).paths.clone();
    let l1n = n("l1");
    let l2n = n("l2");
    let l3n = n("l3");
    assert_eq!(paths(&n("alice")), da_paths(&[]));
    assert_eq!(paths(&n("dis")), da_paths(&[]));
    assert_eq!(paths(&pc_name), da_paths(&[]));
    assert_eq!(paths(&n("bob")), da_paths(&[&l1n]));
    assert_eq!(paths(&gmsa_name), da_paths(&[&l1n]));
    assert_eq!(paths(&n("svcda")), da_paths(&[&l2n, &l1n]));
    assert_eq!(paths(&n("pg")), da_paths(&[&l2n, &l1n]));
    assert_eq!(paths(&n("carol")), da_paths(&[&l3n, &l2n, &l1n]));
    assert_eq!(paths(&fsp_sid), da_paths(&[&l3n, &l2n, &l1n]));
    assert_eq!(paths(&n("nx")), strings(&[&format!("member of {}", n("extra"))]));
    assert_eq!(paths(&n("dns")), strings(&["member of DnsAdmins"]));
    for other in [n("svc1"), n("dial"), n("vpnu"), n("ouacct"), format!("svc-{p}")] {
        assert!(paths(&other).is_empty(), "{other} is not privileged");
        assert!(!find(&report, &other).privileged);
    }
    assert_eq!(
        find(&report, &n("carol")).to_account_info().privilege,
        format!("via {l3n} -> {l2n} -> {l1n} -> Domain Admins; via {l3n} -> {l2n} -> {l1n} -> Domain Admins -> Administrators")
    );

    // Kinds and attributes.
    let a = find(&report, &n("alice"));
    assert_eq!(a.kind, AccountKind::User);
    assert!(a.enabled && a.privileged && a.protected_user);
    assert_eq!(a.admin_count, Some(1));
    assert!(a.flags.contains(&"password-never-expires".to_string()), "{:?}", a.flags);
    assert!(a.pwd_last_set.is_some());
    assert_eq!(a.last_logon, None);
    assert_eq!(a.dn, alice);
    assert!(!find(&report, &n("bob")).protected_user);
    assert!(find(&report, &n("bob"))
        .flags
        .contains(&"reversible-encryption".to_string()));
    let d = find(&report, &n("dis"));
    assert!(!d.enabled && d.disabled);
    assert_eq!(d.flags, strings(&["disabled", "password-not-required"]));
    let c1 = find(&report, &pc_name);
    assert_eq!(c1.kind, AccountKind::Computer);
    assert!(c1.flags.contains(&"trusted-for-delegation".to_string()));
    let g = find(&report, &gmsa_name);
    assert_eq!(g.kind, AccountKind::ManagedServiceAccount);
    assert_eq!(g.service_reasons, strings(&["group managed service account"]));
    let f = find(&report, &fsp_sid);
    assert_eq!(f.kind, AccountKind::ForeignPrincipal);
    assert_eq!(f.sid.as_deref(), Some(fsp_sid.as_str()));
    let s1 = find(&report, &n("svc1"));
    assert_eq!(s1.kind, AccountKind::Service);
    assert_eq!(s1.service_reasons, strings(&["servicePrincipalName"]));
    assert_eq!(s1.service_principal_names, strings(&[&format!("HTTP/{p}web.lab.test")]));
    assert_eq!(s1.flags, strings(&["no-kerberos-preauth"]));
    let sda = find(&report, &n("svcda"));
    assert_eq!(sda.kind, AccountKind::Service);
    assert!(sda.privileged);
    assert_eq!(
        find(&report, &format!("svc-{p}")).service_reasons,
        strings(&[&format!("name matches svc-{p}*")])
    );
    assert_eq!(
        find(&report, &n("ouacct")).service_reasons,
        strings(&[&format!("in {ou}")])
    );
    let dial = find(&report, &n("dial"));
    assert_eq!(dial.dial_in, Some(true));
    assert_eq!(dial.remote_access_reasons, strings(&["msNPAllowDialin TRUE"]));
    assert_eq!(
        find(&report, &n("vpnu")).remote_access_reasons,
        strings(&[&format!("member of {}", n("vpn"))])
    );
    assert_eq!(find(&report, &n("nx")).flags, strings(&["password-never-expires"]));

    // The privileged groups: found by SID, with their nested groups.
    let da_group = report
        .privileged_groups
        .iter()
        .find(|g| g.name == "Domain Admins")
        .unwrap();
    assert_eq!(da_group.reason, "well-known RID 512");
    assert_eq!(
        da_group.sid.as_deref(),
        Some(format!("{}-512", report.domain_sid.as_ref().unwrap()).as_str())
    );
    for nested in [
        format!("{l1n} (member of Domain Admins)"),
        format!("{l2n} (via {l1n} -> Domain Admins)"),
        format!("{l3n} (via {l2n} -> {l1n} -> Domain Admins)"),
    ] {
        assert!(
            da_group.nested_groups.contains(&nested),
            "{nested} in {:?}",
            da_group.nested_groups
        );
    }
    let admins = report
        .privileged_groups
        .iter()
        .find(|g| g.name == "Administrators")
        .unwrap();
    assert_eq!(admins.reason, "builtin SID S-1-5-32-544");
    let extra_group = report.privileged_groups.iter().find(|g| g.dn == extra).unwrap();
    assert_eq!(extra_group.effective_members, 1);
    assert!(report.privileged_groups.iter().any(|g| g.name == "DnsAdmins"));
    // Cross-check against the server's own transitive matching rule.
    let (rs, _) = c
        .search(
            AD_BASE,
            Scope::Subtree,
            &format!("(&(memberOf:1.2.840.113556.1.4.1941:={da})(!(objectClass=group)))"),
            vec!["cn"],
        )
        .unwrap()
        .success()
        .unwrap();
    // Compared on this test's objects only (other tests and runs add to the same lab).
    let fsp_dn = format!("cn={},cn=foreignsecurityprincipals,{}", fsp_sid, AD_BASE).to_lowercase();
    let mine = |dn: &String| dn.contains(&p) || *dn == fsp_dn;
    let server: HashSet<String> = rs
        .into_iter()
        .filter(|r| !r.is_ref())
        .map(|r| SearchEntry::construct(r).dn.to_lowercase())
        .filter(mine)
        .collect();
    let ours: HashSet<String> = report
        .accounts
        .iter()
        .filter(|a| a.privileged_groups.iter().any(|g| g == "Domain Admins"))
        .map(|a| a.dn.to_lowercase())
        .filter(mine)
        .collect();
    // The server's rule does not follow primaryGroupID: pg is found by keyreeve alone.
    assert!(!server.contains(&pg.to_lowercase()));
    let mut server_plus_pg = server.clone();
    server_plus_pg.insert(pg.to_lowercase());
    assert_eq!(ours, server_plus_pg);
    assert_eq!(ours.len(), 9);

    // One pass over the whole domain (used for large walks) gives the very same report.
    let mut dc = ldap::tls::DirConn::connect(&t, &ctx(policy.clone())).unwrap();
    dc.bind("Administrator@lab.test", "Administrator", &admin_pw).unwrap();
    let scanned = ad::discover_with_scan_threshold(&mut dc, &t, &policy, 0).unwrap();
    let view = |r: &DirectoryReport| -> Vec<String> {
        r.accounts
            .iter()
            .filter(|a| a.name.to_lowercase().contains(&p) || a.name == fsp_sid)
            .map(|a| format!("{} {:?} {:?} {:?}", a.dn, a.paths, a.service_reasons, a.flags))
            .collect()
    };
    assert_eq!(view(&scanned), view(&report));
    assert_eq!(view(&report).len(), 16);

    // The generic interface gives the same, complete on its own.
    let conn = ldap::connector(&t, &ctx(policy)).unwrap();
    let infos = conn.list_accounts(&creds("Administrator", &admin_pw)).unwrap();
    let info = infos.iter().find(|i| i.name == n("bob")).unwrap();
    assert!(info.admin && info.enabled);
    assert_eq!(info.kind, AccountKind::User);
    assert_eq!(info.details["dn"], serde_json::json!(bob));
    assert_eq!(info.details["paths"], serde_json::json!(da_paths(&[&l1n])));
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains(&format!("via {l1n} -> Domain Admins")));
}

fn rand_u32() -> u32 {
    let b = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[test]
fn ad_admin_reset_then_rollback() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    let account = format!("{p}-rot");
    let p0 = fresh_password();
    ad_user(&mut c, &account, 512, &p0, vec![]);

    let t = ad_target("Administrator");
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let login = creds("Administrator", &admin_pw);
    assert_eq!(conn.change_method("Administrator", &account), ChangeMethod::AdminReset);
    let plan = conn.describe_change(&account, ChangeMethod::AdminReset).join("\n");
    assert!(
        plan.contains("replace unicodePwd") && plan.contains("********"),
        "{plan}"
    );

    let mut session = conn.open(&login).unwrap();
    let p1 = fresh_password();
    session
        .change_password(&account, ChangeMethod::AdminReset, &p0, &p1)
        .unwrap();
    assert_eq!(conn.verify(&login, &account, &p1).unwrap(), Verification::Accepted);
    assert_eq!(conn.verify(&login, &account, &p0).unwrap(), Verification::Rejected);
    session.save().unwrap();

    // A password the domain policy refuses: reported as such, and nothing changed.
    let err = session
        .change_password(&account, ChangeMethod::AdminReset, &p1, &Password::new("short"))
        .unwrap_err();
    assert!(err.is_password_rejected(), "{err}");
    assert!(err.to_string().contains("password policy"), "{err}");
    assert!(!err.to_string().contains("short\""), "{err}");
    assert_eq!(conn.verify(&login, &account, &p1).unwrap(), Verification::Accepted);

    // A change that failed verification is rolled back by an admin reset to the old password.
    let p2 = fresh_password();
    session
        .change_password(&account, ChangeMethod::AdminReset, &p1, &p2)
        .unwrap();
    assert_eq!(conn.verify(&login, &account, &p2).unwrap(), Verification::Accepted);
    session.rollback(&account, &p1).unwrap();
    assert_eq!(conn.verify(&login, &account, &p1).unwrap(), Verification::Accepted);
    assert_eq!(conn.verify(&login, &account, &p2).unwrap(), Verification::Rejected);
}

#[test]
fn ad_self_change_with_history_and_wrong_old_password() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    let account = format!("{p}-self");
    let p0 = fresh_password();
    ad_user(&mut c, &account, 512, &p0, vec![]);

    // The account logs in as itself (no bind_dn: binds as account@lab.test).
    let t = ad_target(&account);
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    assert_eq!(conn.change_method(&account, &account), ChangeMethod::SelfChange);
    let mut session = conn.open(&creds(&account, &p0)).unwrap();
    let p1 = fresh_password();
    session
        .change_password(&account, ChangeMethod::SelfChange, &p0, &p1)
        .unwrap();
    assert_eq!(
        conn.verify(&creds(&account, &p1), &account, &p1).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&creds(&account, &p1), &account, &p0).unwrap(),
        Verification::Rejected
    );
    session.save().unwrap();

    // Going back to a password in history is a policy refusal, never retried as is.
    let err = session
        .change_password(&account, ChangeMethod::SelfChange, &p1, &p0)
        .unwrap_err();
    assert!(err.is_password_rejected(), "{err}");
    assert!(err.to_string().contains("history"), "{err}");

    // A wrong old password is an authentication problem, not a refused new password.
    let err = session
        .change_password(&account, ChangeMethod::SelfChange, &fresh_password(), &fresh_password())
        .unwrap_err();
    assert!(matches!(err, ConnectorError::AuthFailed { .. }), "{err}");
    assert_eq!(
        conn.verify(&creds(&account, &p1), &account, &p1).unwrap(),
        Verification::Accepted
    );

    // A bad login password.
    let err = conn.open(&creds(&account, &p0)).err().unwrap();
    assert!(matches!(err, ConnectorError::AuthFailed { .. }), "{err}");

    // Rolling back a self-change: history forbids new -> old, and a plain user may not reset;
    // the refusal is reported and the new password stays the working one.
    let mut session = conn.open(&creds(&account, &p1)).unwrap();
    let p2 = fresh_password();
    session
        .change_password(&account, ChangeMethod::SelfChange, &p1, &p2)
        .unwrap();
    let err = session.rollback(&account, &p1).unwrap_err();
    assert!(err.is_password_rejected(), "{err}");
    assert_eq!(
        conn.verify(&creds(&account, &p2), &account, &p2).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&creds(&account, &p2), &account, &p1).unwrap(),
        Verification::Rejected
    );
}

#[test]
fn ad_self_change_of_an_admin_rolls_back_by_reset() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    let account = format!("{p}-adm");
    let p0 = fresh_password();
    let dn = ad_user(&mut c, &account, 512, &p0, vec![]);
    add_member(&mut c, &users_dn("Domain Admins"), &dn);

    let conn = ldap::connector(&ad_target(&account), &ctx(DirectoryPolicy::default())).unwrap();
    let mut session = conn.open(&creds(&account, &p0)).unwrap();
    let p1 = fresh_password();
    session
        .change_password(&account, ChangeMethod::SelfChange, &p0, &p1)
        .unwrap();
    assert_eq!(
        conn.verify(&creds(&account, &p1), &account, &p1).unwrap(),
        Verification::Accepted
    );
    // new -> old is refused by history; a domain admin may reset its own password instead.
    session.rollback(&account, &p0).unwrap();
    assert_eq!(
        conn.verify(&creds(&account, &p0), &account, &p0).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&creds(&account, &p0), &account, &p1).unwrap(),
        Verification::Rejected
    );
}

#[test]
fn ad_locked_and_disabled_accounts_are_named_as_such() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    let account = format!("{p}-off");
    let p0 = fresh_password();
    ad_user(&mut c, &account, 512 | 0x2, &p0, vec![]);
    let conn = ldap::connector(&ad_target(&account), &ctx(DirectoryPolicy::default())).unwrap();
    let err = conn.open(&creds(&account, &p0)).err().unwrap();
    assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");
    assert!(err.to_string().contains("disabled"), "{err}");

    let must = format!("{p}-must");
    ad_user(&mut c, &must, 512, &p0, vec![("pwdLastSet", v("0"))]);
    let conn = ldap::connector(&ad_target(&must), &ctx(DirectoryPolicy::default())).unwrap();
    let err = conn.open(&creds(&must, &p0)).err().unwrap();
    assert!(matches!(err, ConnectorError::PasswordExpired { .. }), "{err}");
    assert!(err.to_string().contains("773"), "{err}");
}

#[test]
fn ad_over_starttls_works() {
    let admin_pw = require("samba", 636);
    let mut t = ad_target("Administrator");
    t.url = Some("ldap://127.0.0.1:389".into());
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let login = creds("Administrator", &admin_pw);
    assert_eq!(
        conn.verify(&login, "Administrator", &admin_pw).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&login, "Administrator", &fresh_password()).unwrap(),
        Verification::Rejected
    );
    assert!(conn
        .describe_change("x", ChangeMethod::AdminReset)
        .join(" ")
        .contains("StartTLS"));
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let admin_pw = require("samba", 636);
    require("slapd", 3636);
    for (kind, url, base) in [
        (TargetKind::ActiveDirectory, "ldaps://127.0.0.1:636", AD_BASE),
        (TargetKind::ActiveDirectory, "ldap://127.0.0.1:389", AD_BASE),
        (TargetKind::Ldap, "ldaps://127.0.0.1:3636", OL_BASE),
        (TargetKind::Ldap, "ldap://127.0.0.1:3389", OL_BASE),
    ] {
        let t = target(kind, url, base, "Administrator", Some(OL_ADMIN), "ca-other/ca.crt");
        let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
        let login = creds("Administrator", &admin_pw);
        let err = conn.verify(&login, "Administrator", &admin_pw).unwrap_err();
        assert!(matches!(err, ConnectorError::Tls { .. }), "{url}: {err}");
        assert!(err.to_string().to_lowercase().contains("certificate"), "{url}: {err}");
        assert!(matches!(conn.open(&login).err().unwrap(), ConnectorError::Tls { .. }));
        assert!(matches!(
            conn.list_accounts(&login).unwrap_err(),
            ConnectorError::Tls { .. }
        ));
    }
    // No ca_file at all: nothing is trusted by default.
    let mut t = ad_target("Administrator");
    t.ca_file = None;
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let err = conn
        .verify(&creds("Administrator", &admin_pw), "Administrator", &admin_pw)
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Tls { .. }), "{err}");
}

/// A TLS server on loopback presenting a certificate for 127.0.0.1 from the lab's OTHER CA (same
/// subject name as the real CA, another key): records every plaintext byte it receives.
fn impostor_tls_server() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = lab_dir().join("ca-other");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .unwrap_or_else(|_| panic!("lab missing: run tests/lab/up.sh (no {})", dir.display()))
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let cfg =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let conn = rustls::ServerConnection::new(std::sync::Arc::new(cfg)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = tls.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    (port, handle)
}

#[test]
fn a_server_presenting_another_cas_certificate_gets_no_password() {
    require("samba", 636);
    let secret = fresh_password();
    let (port, server) = impostor_tls_server();
    let url = format!("ldaps://127.0.0.1:{port}");
    // The right CA file: the server is the impostor.
    let t = target(
        TargetKind::ActiveDirectory,
        &url,
        AD_BASE,
        "Administrator",
        None,
        "ca/ca.crt",
    );
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let err = conn
        .verify(&creds("Administrator", &secret), "Administrator", &secret)
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(
        server.join().unwrap().is_empty(),
        "nothing may pass an unverified handshake"
    );
}

/// A fake LDAP server on loopback that refuses StartTLS and records every byte it receives.
fn no_tls_server() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let mut answered = false;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if !answered && seen.len() > 4 {
                        // ExtendedResponse, same message id, resultCode 52 (unavailable).
                        let id = seen[4];
                        let _ = s.write_all(&[
                            0x30, 0x0c, 0x02, 0x01, id, 0x78, 0x07, 0x0a, 0x01, 52, 0x04, 0x00, 0x04, 0x00,
                        ]);
                        answered = true;
                    }
                }
            }
        }
        seen
    });
    (port, handle)
}

#[test]
fn ldap_url_without_starttls_never_sends_a_password() {
    let secret = fresh_password();
    for op in ["verify", "open", "list"] {
        let (port, server) = no_tls_server();
        let url = format!("ldap://127.0.0.1:{port}");
        let t = target(
            TargetKind::ActiveDirectory,
            &url,
            AD_BASE,
            "Administrator",
            None,
            "ca/ca.crt",
        );
        // The CA file need not exist for the refusal, but it does in the lab; make sure of the path.
        let mut c = ctx(DirectoryPolicy::default());
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("ca")).unwrap();
        std::fs::write(tmp.path().join("ca/ca.crt"), test_ca_pem()).unwrap();
        c.workspace_root = tmp.path().to_path_buf();
        let conn = ldap::connector(&t, &c).unwrap();
        let login = creds("Administrator", &secret);
        let err = match op {
            "verify" => conn.verify(&login, "Administrator", &secret).unwrap_err(),
            "open" => conn.open(&login).err().unwrap(),
            _ => conn.list_accounts(&login).unwrap_err(),
        };
        assert!(matches!(err, ConnectorError::Unsafe { .. }), "{op}: {err}");
        assert!(err.to_string().contains("StartTLS"), "{err}");
        let seen = server.join().unwrap();
        assert!(!seen.is_empty(), "the client did ask for StartTLS");
        // 1.3.6.1.4.1.1466.20037 is the StartTLS OID: that is all the server ever heard.
        assert!(String::from_utf8_lossy(&seen).contains("1.3.6.1.4.1.1466.20037"));
        let pw = secret.expose().as_bytes();
        assert!(
            !seen.windows(pw.len()).any(|w| w == pw),
            "{op}: the password went out in clear"
        );
        assert!(
            !String::from_utf8_lossy(&seen).contains("Administrator"),
            "{op}: a bind went out"
        );
    }
}

/// Any well-formed CA certificate will do for the refusal test (the lab's, when present).
fn test_ca_pem() -> Vec<u8> {
    std::fs::read(lab_dir().join("ca/ca.crt")).unwrap_or_else(|_| {
        panic!(
            "lab missing: run tests/lab/up.sh (no lab CA in {})",
            lab_dir().display()
        )
    })
}

fn ol_user(c: &mut LdapConn, uid: &str, pw: &Password) -> String {
    let dn = format!("uid={uid},ou=people,{OL_BASE}");
    add(
        c,
        &dn,
        vec![
            ("objectClass", vec![b"inetOrgPerson".to_vec(), b"posixAccount".to_vec()]),
            ("uid", v(uid)),
            ("cn", v(uid)),
            ("sn", v(uid)),
            ("uidNumber", v(&(10000 + rand_u32() % 50000).to_string())),
            ("gidNumber", v("10000")),
            ("homeDirectory", v(&format!("/home/{uid}"))),
            ("userPassword", v(pw.expose())),
        ],
    );
    dn
}

#[test]
fn openldap_discovery_follows_all_group_kinds() {
    let admin_pw = require("slapd", 3636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:3636", OL_ADMIN, &admin_pw);
    let pw = fresh_password();
    let u1 = ol_user(&mut c, &format!("{p}-u1"), &pw);
    let u2 = ol_user(&mut c, &format!("{p}-u2"), &pw);
    let _u3 = ol_user(&mut c, &format!("{p}-u3"), &pw);
    let _u4 = ol_user(&mut c, &format!("{p}-u4"), &pw);
    let _svc = ol_user(&mut c, &format!("svc-{p}"), &pw);
    let g = |cn: &str| format!("cn={cn},ou=groups,{OL_BASE}");
    let admins = g(&format!("{p}-admins"));
    let ops = g(&format!("{p}-ops"));
    let posix = g(&format!("{p}-posix"));
    add(
        &mut c,
        &posix,
        vec![
            ("objectClass", v("posixGroup")),
            ("cn", v(&format!("{p}-posix"))),
            ("gidNumber", v("20000")),
            ("memberUid", v(&format!("{p}-u3"))),
        ],
    );
    // ops holds admins: a loop, which must not hang.
    add(
        &mut c,
        &admins,
        vec![
            ("objectClass", v("groupOfNames")),
            ("cn", v(&format!("{p}-admins"))),
            ("member", vs(&[u1.clone(), ops.clone(), posix.clone()])),
        ],
    );
    add(
        &mut c,
        &ops,
        vec![
            ("objectClass", v("groupOfUniqueNames")),
            ("cn", v(&format!("{p}-ops"))),
            ("uniqueMember", vs(&[u2.clone(), admins.clone()])),
        ],
    );
    let mut t = target(
        TargetKind::Ldap,
        "ldaps://127.0.0.1:3636",
        OL_BASE,
        "admin",
        Some(OL_ADMIN),
        "ca/ca.crt",
    );
    t.extra_groups = vec![admins.clone()];
    let policy = DirectoryPolicy {
        service_account_patterns: vec![format!("svc-{p}")],
        service_account_ous: vec![],
        remote_access_groups: vec![],
    };
    let report = ldap::discover_directory(&t, &ctx(policy), &creds("admin", &admin_pw)).unwrap();
    let mut got: Vec<(String, Vec<String>)> = report
        .accounts
        .iter()
        .filter(|a| a.name.contains(&p))
        .map(|a| (a.name.clone(), a.paths.clone()))
        .collect();
    got.sort();
    let admins_n = format!("{p}-admins");
    let mut expected = vec![
        (format!("{p}-u1"), vec![format!("member of {admins_n}")]),
        (format!("{p}-u2"), vec![format!("via {p}-ops -> {admins_n}")]),
        (format!("{p}-u3"), vec![format!("via {p}-posix -> {admins_n}")]),
        (format!("svc-{p}"), vec![]),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(find(&report, &format!("svc-{p}")).kind, AccountKind::Service);
    let grp = &report.privileged_groups[0];
    assert_eq!(grp.effective_members, 3);
    assert_eq!(
        grp.nested_groups,
        vec![
            format!("{p}-ops (member of {admins_n})"),
            format!("{p}-posix (member of {admins_n})")
        ]
    );
}

#[test]
fn openldap_password_modify_as_admin_and_as_self() {
    let admin_pw = require("slapd", 3636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:3636", OL_ADMIN, &admin_pw);
    let p0 = fresh_password();
    let uid = format!("{p}-pm");
    let dn = ol_user(&mut c, &uid, &p0);

    // As the administrator (rootdn), over StartTLS.
    let t = target(
        TargetKind::Ldap,
        "ldap://127.0.0.1:3389",
        OL_BASE,
        "admin",
        Some(OL_ADMIN),
        "ca/ca.crt",
    );
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let login = creds("admin", &admin_pw);
    let mut s = conn.open(&login).unwrap();
    let p1 = fresh_password();
    s.change_password(&uid, ChangeMethod::AdminReset, &p0, &p1).unwrap();
    assert_eq!(conn.verify(&login, &uid, &p1).unwrap(), Verification::Accepted);
    assert_eq!(conn.verify(&login, &uid, &p0).unwrap(), Verification::Rejected);
    s.rollback(&uid, &p0).unwrap();
    assert_eq!(conn.verify(&login, &uid, &p0).unwrap(), Verification::Accepted);
    assert_eq!(conn.verify(&login, &uid, &p1).unwrap(), Verification::Rejected);

    // As the user itself, over LDAPS.
    let t = target(
        TargetKind::Ldap,
        "ldaps://127.0.0.1:3636",
        OL_BASE,
        &uid,
        Some(&dn),
        "ca/ca.crt",
    );
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    assert_eq!(conn.change_method(&uid, &uid), ChangeMethod::SelfChange);
    let mut s = conn.open(&creds(&uid, &p0)).unwrap();
    let err = s
        .change_password(&uid, ChangeMethod::SelfChange, &fresh_password(), &fresh_password())
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::AuthFailed { .. }),
        "wrong old password: {err}"
    );
    let p2 = fresh_password();
    s.change_password(&uid, ChangeMethod::SelfChange, &p0, &p2).unwrap();
    assert_eq!(
        conn.verify(&creds(&uid, &p2), &uid, &p2).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&creds(&uid, &p2), &uid, &p0).unwrap(),
        Verification::Rejected
    );
    // Rolled back by changing new -> old as the user.
    s.rollback(&uid, &p0).unwrap();
    assert_eq!(
        conn.verify(&creds(&uid, &p0), &uid, &p0).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&creds(&uid, &p0), &uid, &p2).unwrap(),
        Verification::Rejected
    );

    // A user may not reset another's password: insufficient access.
    let other = format!("{p}-other");
    ol_user(&mut c, &other, &p0);
    let mut s = conn.open(&creds(&uid, &p0)).unwrap();
    let err = s
        .change_password(&other, ChangeMethod::AdminReset, &p0, &fresh_password())
        .unwrap_err();
    assert!(matches!(err, ConnectorError::InsufficientAccess { .. }), "{err}");
}

#[test]
fn ad_domain_users_nested_in_a_privileged_group_makes_every_user_privileged() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    // Nobody lists Domain Users' members: every account has it as primary group.
    let someone = ad_user(&mut c, &format!("{p}-any"), 512, &fresh_password(), vec![]);
    let wide = ad_group(&mut c, &format!("{p}-wide"), &[users_dn("Domain Users")]);
    let mut t = ad_target("Administrator");
    t.extra_groups = vec![wide];
    let report =
        ldap::discover_directory(&t, &ctx(DirectoryPolicy::default()), &creds("Administrator", &admin_pw)).unwrap();
    let a = find(&report, &format!("{p}-any"));
    assert_eq!(a.dn, someone);
    assert_eq!(a.paths, vec![format!("via Domain Users -> {p}-wide")]);
    assert!(find(&report, "Administrator")
        .paths
        .contains(&format!("via Domain Users -> {p}-wide")));
}

// ---------------------------------------------------------------------------------------------
// Locked accounts and passwords that must change, for real: a lockout policy that reaches only
// this test's own users (an AD fine-grained password settings object on a group of the test's;
// an OpenLDAP pwdPolicy entry named by the user's pwdPolicySubentry). The domain's and the
// directory's own settings are never touched: other tests share these servers.

/// The domain-wide lockout threshold (0: no lockout), checked unchanged by the lockout tests.
fn domain_lockout_threshold(c: &mut LdapConn) -> String {
    let (rs, _) = c
        .search(AD_BASE, Scope::Base, "(objectClass=*)", vec!["lockoutThreshold"])
        .unwrap()
        .success()
        .unwrap();
    let e = SearchEntry::construct(rs.into_iter().next().unwrap());
    e.attrs["lockoutThreshold"][0].clone()
}

fn attr(c: &mut LdapConn, dn: &str, name: &str) -> Vec<String> {
    let (rs, _) = c
        .search(dn, Scope::Base, "(objectClass=*)", vec![name])
        .unwrap()
        .success()
        .unwrap();
    let e = SearchEntry::construct(rs.into_iter().next().unwrap());
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A fine-grained password settings object locking out after `threshold` bad passwords for 30
/// minutes, applied to `applies_to` only (a group of the test's own).
fn ad_lockout_pso(c: &mut LdapConn, name: &str, applies_to: &str, threshold: u32) -> String {
    let dn = format!("CN={name},CN=Password Settings Container,CN=System,{AD_BASE}");
    // Durations are negative counts of 100 ns.
    let thirty_minutes = (-30i64 * 60 * 10_000_000).to_string();
    add(
        c,
        &dn,
        vec![
            ("objectClass", v("msDS-PasswordSettings")),
            ("msDS-PasswordSettingsPrecedence", v("10")),
            ("msDS-PasswordReversibleEncryptionEnabled", v("FALSE")),
            ("msDS-PasswordHistoryLength", v("24")),
            ("msDS-PasswordComplexityEnabled", v("TRUE")),
            ("msDS-MinimumPasswordLength", v("7")),
            ("msDS-MinimumPasswordAge", v("0")),
            ("msDS-MaximumPasswordAge", v("-37108517437440")),
            ("msDS-LockoutThreshold", v(&threshold.to_string())),
            ("msDS-LockoutObservationWindow", v(&thirty_minutes)),
            ("msDS-LockoutDuration", v(&thirty_minutes)),
            ("msDS-PSOAppliesTo", v(applies_to)),
        ],
    );
    dn
}

#[test]
fn ad_account_locked_out_by_its_own_pso_is_named_locked_and_never_taken_for_a_wrong_password() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    let threshold_before = domain_lockout_threshold(&mut c);
    let account = format!("{p}-lk");
    let p0 = fresh_password();
    let dn = ad_user(&mut c, &account, 512, &p0, vec![]);
    let bystander = format!("{p}-by");
    let by_pw = fresh_password();
    let by_dn = ad_user(&mut c, &bystander, 512, &by_pw, vec![]);
    let group = ad_group(&mut c, &format!("{p}-lockg"), std::slice::from_ref(&dn));
    let pso = ad_lockout_pso(&mut c, &format!("{p}-pso"), &group, 3);
    // The settings reach our user only.
    assert_eq!(attr(&mut c, &dn, "msDS-ResultantPSO"), vec![pso.clone()]);
    assert!(attr(&mut c, &by_dn, "msDS-ResultantPSO").is_empty());

    let conn = ldap::connector(&ad_target(&account), &ctx(DirectoryPolicy::default())).unwrap();
    let login = creds(&account, &p0);
    for _ in 0..3 {
        assert_eq!(
            conn.verify(&login, &account, &fresh_password()).unwrap(),
            Verification::Rejected
        );
    }
    assert_eq!(attr(&mut c, &dn, "badPwdCount"), vec!["3".to_string()]);
    // Locked now: the right password and a wrong one get the same answer, and it is not
    // "rejected" (which would tell a rotation the candidate is not in force).
    for pw in [&p0, &fresh_password()] {
        let err = conn.verify(&login, &account, pw).unwrap_err();
        assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");
        let text = err.to_string();
        assert!(text.starts_with("lab/dc1: "), "{text}");
        assert!(text.contains(&format!("`{account}`")), "{text}");
        assert!(text.contains("locked out (AD data 775)"), "{text}");
        assert!(keyreeve::Hint::hint(&err).unwrap().contains("unlock the account"));
        let err = conn.verify_login(&login, &account, pw).unwrap_err();
        assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");
    }
    let err = conn.open(&login).err().unwrap();
    assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");
    // The bystander, under the domain's settings (no lockout), is untouched by all this.
    let by_conn = ldap::connector(&ad_target(&bystander), &ctx(DirectoryPolicy::default())).unwrap();
    assert_wrong_passwords_never_lock(by_conn.as_ref(), &bystander, &by_pw);

    // Discovery shows it locked.
    let mut t = ad_target("Administrator");
    t.extra_groups = vec![group.clone()];
    let admin = creds("Administrator", &admin_pw);
    let report = ldap::discover_directory(&t, &ctx(DirectoryPolicy::default()), &admin).unwrap();
    let a = find(&report, &account);
    assert!(a.locked && !a.enabled && !a.disabled, "{a:?}");
    assert!(a.flags.contains(&"locked".to_string()), "{:?}", a.flags);

    // An administrator's reset goes through (AD does not unlock on reset), but a fresh bind with
    // the new password cannot prove it: still "locked", never "rejected".
    let admin_conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let mut s = admin_conn.open(&admin).unwrap();
    let p1 = fresh_password();
    s.change_password(&account, ChangeMethod::AdminReset, &p0, &p1).unwrap();
    let err = admin_conn.verify(&admin, &account, &p1).unwrap_err();
    assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");
    s.rollback(&account, &p0).unwrap();

    // Unlocked by an administrator (lockoutTime 0): the old password is the one in force.
    modify(
        &mut c,
        &dn,
        vec![Mod::Replace(
            b"lockoutTime".to_vec(),
            [b"0".to_vec()].into_iter().collect(),
        )],
    );
    assert_eq!(conn.verify(&login, &account, &p0).unwrap(), Verification::Accepted);
    assert_eq!(conn.verify(&login, &account, &p1).unwrap(), Verification::Rejected);

    c.delete(&pso).unwrap().success().unwrap();
    assert_eq!(domain_lockout_threshold(&mut c), threshold_before);
}

#[test]
fn ad_must_change_at_next_logon_is_named_by_the_heartbeat_and_cleared_by_a_reset() {
    let admin_pw = require("samba", 636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:636", "Administrator@lab.test", &admin_pw);
    let account = format!("{p}-mc");
    let p0 = fresh_password();
    let dn = ad_user(&mut c, &account, 512, &p0, vec![("pwdLastSet", v("0"))]);
    let admin = creds("Administrator", &admin_pw);
    let t = ad_target("Administrator");
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    // Samba says 773 only for the right password: a wrong one is plainly rejected.
    assert_eq!(
        conn.verify_login(&admin, &account, &fresh_password()).unwrap(),
        Verification::Rejected
    );
    // The heartbeat's question (can it log in?) gets "must change", with the account named.
    let err = conn.verify_login(&admin, &account, &p0).unwrap_err();
    assert!(matches!(err, ConnectorError::PasswordExpired { .. }), "{err}");
    assert!(
        err.to_string().contains("must be changed at next logon (AD data 773)"),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("`{account}`")), "{err}");
    assert!(keyreeve::Hint::hint(&err)
        .unwrap()
        .contains("must change password at next logon"));
    // The rotation's question (which password is in force?) gets the right answer: p0.
    assert_eq!(conn.verify(&admin, &account, &p0).unwrap(), Verification::Accepted);
    // The account itself cannot open a session to change it.
    let self_conn = ldap::connector(&ad_target(&account), &ctx(DirectoryPolicy::default())).unwrap();
    let err = self_conn.open(&creds(&account, &p0)).err().unwrap();
    assert!(matches!(err, ConnectorError::PasswordExpired { .. }), "{err}");
    // An administrator's reset sets pwdLastSet: the new password logs in.
    let mut s = conn.open(&admin).unwrap();
    let p1 = fresh_password();
    s.change_password(&account, ChangeMethod::AdminReset, &p0, &p1).unwrap();
    assert_eq!(
        conn.verify_login(&admin, &account, &p1).unwrap(),
        Verification::Accepted
    );
    assert_ne!(attr(&mut c, &dn, "pwdLastSet"), vec!["0".to_string()]);
}

fn ensure_ol_policies(c: &mut LdapConn) {
    let dn = format!("ou=policies,{OL_BASE}");
    let res = c
        .add(
            &dn,
            vec![
                (
                    b"objectClass".to_vec(),
                    [b"organizationalUnit".to_vec()].into_iter().collect(),
                ),
                (b"ou".to_vec(), [b"policies".to_vec()].into_iter().collect()),
            ],
        )
        .unwrap();
    // 68: already there (tests/lab/slapd.sh creates it).
    assert!(res.rc == 0 || res.rc == 68, "{res:?}");
}

/// A pwdPolicy entry of this test's own, with `settings` (name, value).
fn ol_policy(c: &mut LdapConn, name: &str, settings: &[(&str, &str)]) -> String {
    ensure_ol_policies(c);
    let dn = format!("cn={name},ou=policies,{OL_BASE}");
    let mut attrs: Attrs<'_> = vec![
        (
            "objectClass",
            vec![b"organizationalRole".to_vec(), b"pwdPolicy".to_vec()],
        ),
        ("cn", v(name)),
        ("pwdAttribute", v("userPassword")),
    ];
    for (k, val) in settings {
        attrs.push((k, v(val)));
    }
    add(c, &dn, attrs);
    dn
}

fn set_policy(c: &mut LdapConn, user_dn: &str, policy: &str) {
    modify(
        c,
        user_dn,
        vec![Mod::Replace(
            b"pwdPolicySubentry".to_vec(),
            [policy.as_bytes().to_vec()].into_iter().collect(),
        )],
    );
}

/// Four wrong passwords are refused as wrong, and the right one still works after them.
fn assert_wrong_passwords_never_lock(conn: &dyn keyreeve::connector::Connector, user: &str, pw: &Password) {
    for _ in 0..4 {
        assert_eq!(
            conn.verify(&creds(user, pw), user, &fresh_password()).unwrap(),
            Verification::Rejected
        );
    }
    assert_eq!(conn.verify(&creds(user, pw), user, pw).unwrap(), Verification::Accepted);
}

fn ol_self_target(uid: &str, dn: &str) -> Target {
    target(
        TargetKind::Ldap,
        "ldaps://127.0.0.1:3636",
        OL_BASE,
        uid,
        Some(dn),
        "ca/ca.crt",
    )
}

#[test]
fn openldap_ppolicy_lockout_is_named_locked() {
    let admin_pw = require("slapd", 3636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:3636", OL_ADMIN, &admin_pw);
    let policy = ol_policy(
        &mut c,
        &format!("{p}-lock"),
        &[
            ("pwdLockout", "TRUE"),
            ("pwdMaxFailure", "3"),
            // Locked until an administrator unlocks it.
            ("pwdLockoutDuration", "0"),
        ],
    );
    let uid = format!("{p}-lk");
    let p0 = fresh_password();
    let dn = ol_user(&mut c, &uid, &p0);
    set_policy(&mut c, &dn, &policy);
    let by_uid = format!("{p}-by");
    let by_dn = ol_user(&mut c, &by_uid, &p0);
    let group = format!("cn={p}-lockg,ou=groups,{OL_BASE}");
    add(
        &mut c,
        &group,
        vec![
            ("objectClass", v("groupOfNames")),
            ("cn", v(&format!("{p}-lockg"))),
            ("member", vs(&[dn.clone(), by_dn.clone()])),
        ],
    );

    let conn = ldap::connector(&ol_self_target(&uid, &dn), &ctx(DirectoryPolicy::default())).unwrap();
    let login = creds(&uid, &p0);
    for _ in 0..3 {
        assert_eq!(
            conn.verify(&login, &uid, &fresh_password()).unwrap(),
            Verification::Rejected
        );
    }
    assert!(
        !attr(&mut c, &dn, "pwdAccountLockedTime").is_empty(),
        "slapd did not lock it"
    );
    // slapd's answer is a bare invalidCredentials; the password policy control says why.
    for pw in [&p0, &fresh_password()] {
        let err = conn.verify(&login, &uid, pw).unwrap_err();
        assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");
        let text = err.to_string();
        assert!(text.starts_with("lab/ol: "), "{text}");
        assert!(text.contains(&format!("`{uid}`")), "{text}");
        assert!(text.contains("locked by the password policy"), "{text}");
        assert!(keyreeve::Hint::hint(&err).unwrap().contains("unlock the account"));
    }
    let err = conn.open(&login).err().unwrap();
    assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");

    // The bystander has no policy: wrong passwords never lock it.
    let by_conn = ldap::connector(&ol_self_target(&by_uid, &by_dn), &ctx(DirectoryPolicy::default())).unwrap();
    assert_wrong_passwords_never_lock(by_conn.as_ref(), &by_uid, &p0);

    // Discovery shows it locked, the bystander not.
    let mut t = target(
        TargetKind::Ldap,
        "ldaps://127.0.0.1:3636",
        OL_BASE,
        "admin",
        Some(OL_ADMIN),
        "ca/ca.crt",
    );
    t.extra_groups = vec![group];
    let admin = creds("admin", &admin_pw);
    let report = ldap::discover_directory(&t, &ctx(DirectoryPolicy::default()), &admin).unwrap();
    let a = find(&report, &uid);
    assert!(a.locked && !a.enabled, "{a:?}");
    assert!(!find(&report, &by_uid).locked);

    // An administrator's verification of the locked account says the same.
    let admin_conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let err = admin_conn.verify(&admin, &uid, &p0).unwrap_err();
    assert!(matches!(err, ConnectorError::AccountLocked { .. }), "{err}");

    // Unlocked by an administrator: the password works again.
    modify(
        &mut c,
        &dn,
        vec![Mod::Delete(b"pwdAccountLockedTime".to_vec(), HashSet::new())],
    );
    assert_eq!(conn.verify(&login, &uid, &p0).unwrap(), Verification::Accepted);
}

#[test]
fn openldap_ppolicy_refusing_a_new_password_is_a_policy_refusal() {
    let admin_pw = require("slapd", 3636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:3636", OL_ADMIN, &admin_pw);
    let policy = ol_policy(
        &mut c,
        &format!("{p}-quality"),
        &[("pwdMinLength", "30"), ("pwdCheckQuality", "2"), ("pwdInHistory", "5")],
    );
    let uid = format!("{p}-q");
    let p0 = fresh_password();
    let dn = ol_user(&mut c, &uid, &p0);
    set_policy(&mut c, &dn, &policy);

    let conn = ldap::connector(&ol_self_target(&uid, &dn), &ctx(DirectoryPolicy::default())).unwrap();
    let mut s = conn.open(&creds(&uid, &p0)).unwrap();
    // fresh_password() is 39 characters; this one, 27, is refused as too short.
    let short = Password::new(format!("Kr-{}-aZ9", &uuid::Uuid::new_v4().simple().to_string()[..20]));
    let err = s
        .change_password(&uid, ChangeMethod::SelfChange, &p0, &short)
        .unwrap_err();
    assert!(err.is_password_rejected(), "{err}");
    let text = err.to_string();
    assert!(text.contains("password policy refused it: too short"), "{text}");
    assert!(text.starts_with("lab/ol: "), "{text}");
    assert!(!text.contains(short.expose()), "{text}");
    assert_eq!(
        conn.verify(&creds(&uid, &p0), &uid, &p0).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&creds(&uid, &p0), &uid, &short).unwrap(),
        Verification::Rejected
    );

    // History: back to a password used before is refused as such, not as a wrong old password.
    let p1 = fresh_password();
    s.change_password(&uid, ChangeMethod::SelfChange, &p0, &p1).unwrap();
    let err = s.change_password(&uid, ChangeMethod::SelfChange, &p1, &p0).unwrap_err();
    assert!(err.is_password_rejected(), "{err}");
    assert!(err.to_string().contains("password history"), "{err}");
    assert_eq!(
        conn.verify(&creds(&uid, &p1), &uid, &p1).unwrap(),
        Verification::Accepted
    );
    // A wrong old password is still told apart.
    let err = s
        .change_password(&uid, ChangeMethod::SelfChange, &p0, &fresh_password())
        .unwrap_err();
    assert!(matches!(err, ConnectorError::AuthFailed { .. }), "{err}");
}

#[test]
fn openldap_ppolicy_must_change_after_reset_is_named_by_the_heartbeat() {
    let admin_pw = require("slapd", 3636);
    let p = prefix();
    let mut c = raw_conn("ldaps://127.0.0.1:3636", OL_ADMIN, &admin_pw);
    let policy = ol_policy(&mut c, &format!("{p}-mustchange"), &[("pwdMustChange", "TRUE")]);
    let uid = format!("{p}-mc");
    let p0 = fresh_password();
    let dn = ol_user(&mut c, &uid, &p0);
    set_policy(&mut c, &dn, &policy);
    let t = target(
        TargetKind::Ldap,
        "ldaps://127.0.0.1:3636",
        OL_BASE,
        "admin",
        Some(OL_ADMIN),
        "ca/ca.crt",
    );
    let conn = ldap::connector(&t, &ctx(DirectoryPolicy::default())).unwrap();
    let admin = creds("admin", &admin_pw);
    let mut s = conn.open(&admin).unwrap();
    let p1 = fresh_password();
    s.change_password(&uid, ChangeMethod::AdminReset, &p0, &p1).unwrap();
    assert_eq!(attr(&mut c, &dn, "pwdReset"), vec!["TRUE".to_string()]);
    // In force (what a rotation asks)...
    assert_eq!(conn.verify(&admin, &uid, &p1).unwrap(), Verification::Accepted);
    assert_eq!(conn.verify(&admin, &uid, &p0).unwrap(), Verification::Rejected);
    // ...but the account can do nothing with it but change it (what the heartbeat asks).
    let err = conn.verify_login(&admin, &uid, &p1).unwrap_err();
    assert!(matches!(err, ConnectorError::PasswordExpired { .. }), "{err}");
    assert!(err.to_string().contains("changeAfterReset"), "{err}");
    assert!(err.to_string().contains(&format!("`{uid}`")), "{err}");
    assert_eq!(
        conn.verify_login(&admin, &uid, &fresh_password()).unwrap(),
        Verification::Rejected
    );
    // The account changes it itself (the one operation it may do): it logs in for real again.
    let self_conn = ldap::connector(&ol_self_target(&uid, &dn), &ctx(DirectoryPolicy::default())).unwrap();
    let mut s = self_conn.open(&creds(&uid, &p1)).unwrap();
    let p2 = fresh_password();
    s.change_password(&uid, ChangeMethod::SelfChange, &p1, &p2).unwrap();
    assert_eq!(
        self_conn.verify_login(&creds(&uid, &p2), &uid, &p2).unwrap(),
        Verification::Accepted
    );
}
