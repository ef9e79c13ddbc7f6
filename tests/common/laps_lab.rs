//! What the LAPS tests add to the Samba AD lab helpers of `ad_lab`: a raw verified-TLS
//! connection to populate computers, and the local sam.ldb for what only samba-tool can do (ACLs).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

use keyreeve::connector::ldap;
use keyreeve::connector::ConnectContext;
use keyreeve::inventory::Target;
use keyreeve::policy::DirectoryPolicy;
use keyreeve::Password;
use ldap3::{LdapConn, LdapConnSettings, Mod};

#[allow(unused_imports)]
pub use super::ad_lab::{creds, lab_dir, prefix, AD_BASE};

/// The DC's Administrator password; panics with the command to start the lab when it is missing.
pub fn require_ad() -> Password {
    super::ad_lab::require_samba()
}

pub fn ctx() -> ConnectContext {
    super::ad_lab::ctx(DirectoryPolicy::default())
}

/// The lab DC as client `client`'s target `name`.
pub fn ad_target(client: &str, name: &str) -> Target {
    let mut t = super::ad_lab::ad_target();
    t.client = client.into();
    t.name = name.into();
    t
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
