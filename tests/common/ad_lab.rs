//! The Samba AD lab for tests that populate it: a verified LDAPS connection as Administrator
//! (password from the lab's file, never on argv), object creation in a dedicated OU each test
//! owns and removes, and the connector's target for the same DC.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use keyreeve::connector::ldap::{self, ad};
use keyreeve::connector::{ConnectContext, Credentials};
use keyreeve::inventory::{LoginMethod, Target, TargetKind};
use keyreeve::policy::DirectoryPolicy;
use keyreeve::Password;
use ldap3::{LdapConn, LdapConnSettings, Mod, Scope, SearchEntry};

pub const AD_BASE: &str = "DC=lab,DC=test";
pub const AD_URL: &str = "ldaps://127.0.0.1:636";

pub fn lab_dir() -> PathBuf {
    std::env::var_os("KEYREEVE_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/keyreeve-lab"))
}

/// The Samba admin password; panics with the command to start the lab when it is not running.
pub fn require_samba() -> Password {
    let pw_file = lab_dir().join("samba").join("admin.pw");
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], 636).into(), Duration::from_secs(2)).is_ok();
    match (up, std::fs::read_to_string(&pw_file).ok()) {
        (true, Some(pw)) => Password::new(pw.trim().to_string()),
        _ => panic!(
            "lab missing: run `bash tests/lab/up.sh` (or tests/lab/samba.sh) as root; nothing listens on \
             127.0.0.1:636 or {} is absent",
            pw_file.display()
        ),
    }
}

/// A short unique prefix: sAMAccountName allows 20 characters.
pub fn prefix() -> String {
    format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
}

pub fn fresh_password() -> Password {
    Password::new(format!("Kr-{}-aZ9", uuid::Uuid::new_v4().simple()))
}

pub fn ctx(policy: DirectoryPolicy) -> ConnectContext {
    ConnectContext {
        known_hosts: lab_dir().join("known_hosts"),
        workspace_root: lab_dir(),
        trust_on_first_use: false,
        directory: policy,
    }
}

pub fn ad_target() -> Target {
    Target {
        client: "lab".into(),
        name: "dc1".into(),
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
        url: Some(AD_URL.into()),
        base_dn: Some(AD_BASE.into()),
        bind_dn: None,
        ca_file: Some(PathBuf::from("ca/ca.crt")),
        extra_groups: vec![],
        guided: None,
        script: None,
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

pub type Attrs<'a> = Vec<(&'a str, Vec<Vec<u8>>)>;

pub fn v(s: &str) -> Vec<Vec<u8>> {
    vec![s.as_bytes().to_vec()]
}

pub fn pwd(p: &Password) -> Vec<Vec<u8>> {
    vec![ad::unicode_pwd(p).0.to_vec()]
}

/// A verified LDAPS connection as Administrator, and everything it created (removed on drop,
/// newest first, so that one test's objects never pile up in the shared DC).
pub struct Lab {
    pub c: LdapConn,
    created: Vec<String>,
}

impl Lab {
    pub fn connect(admin_pw: &Password) -> Lab {
        let cfg = ldap::tls::client_config(&ad_target(), &ctx(DirectoryPolicy::default())).unwrap();
        let mut c = LdapConn::with_settings(LdapConnSettings::new().set_config(cfg), AD_URL).unwrap();
        c.simple_bind("Administrator@lab.test", admin_pw.expose())
            .unwrap()
            .success()
            .unwrap();
        Lab { c, created: Vec::new() }
    }

    pub fn add(&mut self, dn: &str, attrs: Attrs<'_>) -> String {
        let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = attrs
            .into_iter()
            .map(|(k, vs)| (k.as_bytes().to_vec(), vs.into_iter().collect()))
            .collect();
        let res = self.c.add(dn, attrs).unwrap();
        assert_eq!(res.rc, 0, "adding {dn}: {res:?}");
        self.created.push(dn.to_string());
        dn.to_string()
    }

    pub fn modify(&mut self, dn: &str, mods: Vec<Mod<Vec<u8>>>) {
        let res = self.c.modify(dn, mods).unwrap();
        assert_eq!(res.rc, 0, "modifying {dn}: {res:?}");
    }

    pub fn replace(&mut self, dn: &str, attr: &str, value: &str) {
        self.modify(
            dn,
            vec![Mod::Replace(
                attr.as_bytes().to_vec(),
                [value.as_bytes().to_vec()].into_iter().collect(),
            )],
        );
    }

    pub fn add_member(&mut self, group: &str, member: &str) {
        self.modify(
            group,
            vec![Mod::Add(
                b"member".to_vec(),
                [member.as_bytes().to_vec()].into_iter().collect(),
            )],
        );
    }

    pub fn remove_member(&mut self, group: &str, member: &str) {
        self.modify(
            group,
            vec![Mod::Delete(
                b"member".to_vec(),
                [member.as_bytes().to_vec()].into_iter().collect(),
            )],
        );
    }

    pub fn ou(&mut self, name: &str) -> String {
        let dn = format!("OU={name},{AD_BASE}");
        self.add(&dn, vec![("objectClass", v("organizationalUnit"))])
    }

    pub fn user(&mut self, ou: &str, name: &str, uac: u32, extra: Attrs<'_>) -> String {
        let dn = format!("CN={name},{ou}");
        let mut attrs: Attrs<'_> = vec![
            ("objectClass", v("user")),
            ("sAMAccountName", v(name)),
            ("unicodePwd", pwd(&fresh_password())),
            ("userAccountControl", v(&uac.to_string())),
        ];
        attrs.extend(extra);
        self.add(&dn, attrs)
    }

    /// A workstation account `NAME$` with `uac` (4096: workstation trust; | 2 disabled).
    pub fn computer(&mut self, ou: &str, name: &str, uac: u32) -> String {
        let dn = format!("CN={name},{ou}");
        self.add(
            &dn,
            vec![
                ("objectClass", v("computer")),
                ("sAMAccountName", v(&format!("{name}$"))),
                ("userAccountControl", v(&uac.to_string())),
                ("unicodePwd", pwd(&fresh_password())),
            ],
        )
    }

    pub fn group(&mut self, ou: &str, name: &str, members: &[&str]) -> String {
        let dn = format!("CN={name},{ou}");
        let mut attrs: Attrs<'_> = vec![("objectClass", v("group")), ("sAMAccountName", v(name))];
        if !members.is_empty() {
            attrs.push(("member", members.iter().map(|m| m.as_bytes().to_vec()).collect()));
        }
        self.add(&dn, attrs)
    }

    /// The objectSid of `dn` as text.
    pub fn sid_of(&mut self, dn: &str) -> String {
        let (rs, _) = self
            .c
            .search(dn, Scope::Base, "(objectClass=*)", vec!["objectSid"])
            .unwrap()
            .success()
            .unwrap();
        let e = SearchEntry::construct(rs.into_iter().next().unwrap());
        let raw = e.bin_attrs.get("objectSid").and_then(|v| v.first().cloned()).unwrap();
        ad::sid_to_string(&raw).unwrap()
    }

    /// One attribute's values of `dn`.
    pub fn attr(&mut self, dn: &str, name: &str) -> Vec<String> {
        let (rs, _) = self
            .c
            .search(dn, Scope::Base, "(objectClass=*)", vec![name])
            .unwrap()
            .success()
            .unwrap();
        let e = SearchEntry::construct(rs.into_iter().next().unwrap());
        e.attrs.get(name).cloned().unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for dn in self.created.iter().rev() {
            let _ = self.c.delete(dn);
        }
    }
}

pub fn users(name: &str) -> String {
    format!("CN={name},CN=Users,{AD_BASE}")
}
