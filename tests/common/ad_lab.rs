//! Reaching the lab's Samba AD from a test (tests/lab/samba.sh): the Administrator password, a
//! target and connector context for it, a raw verified-TLS connection to populate it, and the
//! local sam.ldb for what only samba-tool can do (ACLs). Shared by the test files that use the DC.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use keyreeve::connector::ldap;
use keyreeve::connector::{ConnectContext, Credentials};
use keyreeve::inventory::{LoginMethod, Target, TargetKind};
use keyreeve::policy::DirectoryPolicy;
use keyreeve::Password;
use ldap3::{LdapConn, LdapConnSettings, Mod};

pub const AD_BASE: &str = "DC=lab,DC=test";

pub fn lab_dir() -> PathBuf {
    std::env::var_os("KEYREEVE_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/keyreeve-lab"))
}

/// The DC's Administrator password; panics with the command to start the lab when it is missing.
pub fn require_ad() -> Password {
    let pw_file = lab_dir().join("samba").join("admin.pw");
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], 636).into(), Duration::from_secs(2)).is_ok();
    match (up, std::fs::read_to_string(&pw_file).ok()) {
        (true, Some(pw)) => Password::new(pw.trim().to_string()),
        _ => panic!(
            "lab missing: run tests/lab/up.sh (or tests/lab/samba.sh) as root; \
             nothing listens on 127.0.0.1:636 or {} is absent",
            pw_file.display()
        ),
    }
}

/// A short unique prefix: sAMAccountName allows 20 characters, a computer's 15.
pub fn prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
}

pub fn ctx() -> ConnectContext {
    ConnectContext {
        known_hosts: lab_dir().join("known_hosts"),
        workspace_root: lab_dir(),
        trust_on_first_use: false,
        directory: DirectoryPolicy::default(),
    }
}

pub fn ad_target(client: &str, name: &str) -> Target {
    Target {
        client: client.into(),
        name: name.into(),
        kind: TargetKind::ActiveDirectory,
        address: "127.0.0.1".into(),
        port: 0,
        login: "Administrator".into(),
        login_method: LoginMethod::Password,
        enable: None,
        host_key: None,
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(30),
        tags: vec![],
        dependants: BTreeMap::new(),
        url: Some("ldaps://127.0.0.1:636".into()),
        base_dn: Some(AD_BASE.into()),
        bind_dn: None,
        ca_file: Some(lab_dir().join("ca/ca.crt")),
        extra_groups: vec![],
        line: 1,
    }
}

pub fn creds(user: &str, pw: &Password) -> Credentials {
    Credentials {
        username: user.into(),
        method: LoginMethod::Password,
        secret: pw.clone(),
        enable: None,
    }
}

/// A raw ldap3 connection bound as Administrator, verified against the lab CA.
pub fn raw_conn(pw: &Password) -> LdapConn {
    let t = ad_target("lab", "dc1");
    let cfg = ldap::tls::client_config(&t, &ctx()).unwrap();
    let mut c = LdapConn::with_settings(LdapConnSettings::new().set_config(cfg), "ldaps://127.0.0.1:636").unwrap();
    c.simple_bind("Administrator@lab.test", pw.expose())
        .unwrap()
        .success()
        .unwrap();
    c
}

pub fn add(c: &mut LdapConn, dn: &str, attrs: Vec<(&str, Vec<u8>)>) {
    let mut grouped: BTreeMap<Vec<u8>, HashSet<Vec<u8>>> = BTreeMap::new();
    for (k, v) in attrs {
        grouped.entry(k.as_bytes().to_vec()).or_default().insert(v);
    }
    let res = c.add(dn, grouped.into_iter().collect()).unwrap();
    assert_eq!(res.rc, 0, "adding {dn}: {res:?}");
}

pub fn modify(c: &mut LdapConn, dn: &str, mods: Vec<Mod<Vec<u8>>>) {
    let res = c.modify(dn, mods).unwrap();
    assert_eq!(res.rc, 0, "modifying {dn}: {res:?}");
}

/// Deletes `dn` and everything under it (a test's own OU), deepest first.
pub fn delete_tree(c: &mut LdapConn, dn: &str) {
    let Ok(found) = c.search(dn, ldap3::Scope::Subtree, "(objectClass=*)", vec!["1.1"]) else {
        return;
    };
    let Ok((entries, _)) = found.success() else { return };
    let mut dns: Vec<String> = entries
        .into_iter()
        .map(|e| ldap3::SearchEntry::construct(e).dn)
        .collect();
    dns.sort_by_key(|d| std::cmp::Reverse(d.matches(',').count()));
    for d in dns {
        let _ = c.delete(&d);
    }
}

/// `samba-tool` on the DC's own sam.ldb (root on the lab machine): for what LDAP cannot do
/// simply, such as an ACE on one object.
pub fn samba_tool(args: &[&str]) -> String {
    let sam = lab_dir().join("samba/private/sam.ldb");
    let out = std::process::Command::new("samba-tool")
        .args(args)
        .arg("-H")
        .arg(&sam)
        .output()
        .expect("samba-tool (tests/lab/samba.sh installs it)");
    assert!(
        out.status.success(),
        "samba-tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
