//! OpenLDAP and alike: effective members of the configured groups (groupOfNames,
//! groupOfUniqueNames, posixGroup), recursively, and password changes through the RFC 3062
//! Password Modify extended operation, as administrator or as the user.

use std::collections::{BTreeSet, HashMap};

use ldap3::{ldap_escape, Scope};

use super::errors::Operation;
use super::tls::{DirConn, Entry};
use super::walk::{self, key, Fetcher, Node, Walk};
use super::{glob_match, DirectoryAccount, DirectoryReport, PrivilegedGroup};
use crate::connector::{AccountKind, ConnectorResult};
use crate::inventory::Target;
use crate::policy::DirectoryPolicy;
use crate::secret::Password;

pub const ATTRS: &[&str] = &[
    "objectClass",
    "uid",
    "cn",
    "member",
    "uniqueMember",
    "memberUid",
    "uidNumber",
    "gidNumber",
    "loginShell",
    "pwdAccountLockedTime",
    "pwdChangedTime",
];

const GROUP_CLASSES: &[&str] = &["groupOfNames", "groupOfUniqueNames", "posixGroup", "groupOfMembers"];

fn node_from(entry: Entry) -> Node {
    let name = entry
        .str("uid")
        .or_else(|| entry.str("cn"))
        .unwrap_or_else(|| walk::unresolved(&entry.dn).name);
    let is_group = GROUP_CLASSES.iter().any(|c| entry.is_a(c));
    let own = key(&entry.dn);
    let members = entry
        .strs("member")
        .into_iter()
        .chain(
            entry
                .strs("uniqueMember")
                .into_iter()
                .map(|m| match m.rsplit_once("#'") {
                    // uniqueMember may carry an optional unique identifier: `dn#'0101'B`.
                    Some((dn, _)) => dn.to_string(),
                    None => m,
                }),
        )
        .filter(|m| !m.is_empty() && key(m) != own)
        .collect();
    Node {
        dn: entry.dn.clone(),
        name,
        is_group,
        members,
        member_uids: entry.strs("memberUid"),
        entry,
        unresolved: false,
    }
}

struct OlFetcher<'a> {
    conn: &'a mut DirConn,
    base: String,
}

impl Fetcher for OlFetcher<'_> {
    fn fetch(&mut self, dns: &[String]) -> ConnectorResult<Vec<Node>> {
        let mut out = Vec::new();
        for dn in dns {
            if let Some(e) = self.conn.read(dn, ATTRS)? {
                out.push(node_from(e));
            }
        }
        Ok(out)
    }

    fn implicit_members(&mut self, groups: &[&Node]) -> ConnectorResult<Vec<(String, Node)>> {
        let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
        for g in groups {
            for uid in &g.member_uids {
                groups_of.entry(uid.clone()).or_default().push(g.dn.clone());
            }
        }
        let uids: Vec<String> = groups_of.keys().cloned().collect();
        let mut out = Vec::new();
        for chunk in uids.chunks(100) {
            let filter: String = chunk
                .iter()
                .map(|u| format!("(uid={})", ldap_escape(u.as_str())))
                .collect();
            for e in self
                .conn
                .search(&self.base, Scope::Subtree, &format!("(|{filter})"), ATTRS)?
            {
                let n = node_from(e);
                for uid in n.entry.strs("uid") {
                    for g in groups_of.get(&uid).into_iter().flatten() {
                        out.push((g.clone(), n.clone()));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn resolve_group(f: &mut OlFetcher<'_>, group: &str) -> ConnectorResult<Option<Node>> {
    if group.contains('=') {
        return Ok(f.conn.read(group, ATTRS)?.map(node_from).filter(|n| n.is_group));
    }
    let classes: String = GROUP_CLASSES.iter().map(|c| format!("(objectClass={c})")).collect();
    let found = f.conn.search(
        &f.base,
        Scope::Subtree,
        &format!("(&(|{classes})(cn={}))", ldap_escape(group)),
        ATTRS,
    )?;
    Ok(found.into_iter().next().map(node_from))
}

/// Discovery on an OpenLDAP-like directory: members of the configured groups.
pub fn discover(conn: &mut DirConn, target: &Target, policy: &DirectoryPolicy) -> ConnectorResult<DirectoryReport> {
    let base = target.base_dn.clone().unwrap_or_default();
    let mut warnings = Vec::new();
    let mut f = OlFetcher {
        conn,
        base: base.clone(),
    };
    let mut roots: Vec<Node> = Vec::new();
    for g in &target.extra_groups {
        match resolve_group(&mut f, g)? {
            Some(n) => roots.push(n),
            None => warnings.push(format!("group `{g}` was not found")),
        }
    }
    if target.extra_groups.is_empty() {
        warnings.push("no groups configured: list the admin groups in extra_groups".into());
    }
    let privileged_count = roots.len();
    for g in &policy.remote_access_groups {
        match resolve_group(&mut f, g)? {
            Some(n) => roots.push(n),
            None => warnings.push(format!("remote-access group `{g}` was not found")),
        }
    }
    let Walk { mut nodes, memberships } = walk::walk(&mut f, &roots, HashMap::new())?;

    let mut listed = BTreeSet::new();
    let mut clauses = String::new();
    for p in &policy.service_account_patterns {
        let v: String = p
            .chars()
            .map(|c| match c {
                '*' | '?' => "*".to_string(),
                c => ldap_escape(c.to_string().as_str()).into_owned(),
            })
            .collect();
        clauses.push_str(&format!("(uid={v})"));
    }
    let mut found = Vec::new();
    if !clauses.is_empty() {
        found.extend(f.conn.search(&base, Scope::Subtree, &format!("(|{clauses})"), ATTRS)?);
    }
    for ou in &policy.service_account_ous {
        match f.conn.search(ou, Scope::Subtree, "(uid=*)", ATTRS) {
            Ok(v) => found.extend(v),
            Err(e) => warnings.push(format!("service-account OU `{ou}` could not be searched: {e}")),
        }
    }
    for e in found {
        let n = node_from(e);
        if n.is_group {
            continue;
        }
        let k = key(&n.dn);
        listed.insert(k.clone());
        nodes.entry(k).or_insert(n);
    }

    let mut groups = Vec::new();
    for (i, root) in roots.iter().enumerate().take(privileged_count) {
        let mut nested = Vec::new();
        let mut effective = 0;
        for (k, ms) in &memberships {
            let Some(m) = ms.iter().find(|m| m.root == i) else {
                continue;
            };
            let Some(n) = nodes.get(k) else { continue };
            if n.is_group {
                nested.push(format!("{} ({})", n.name, m.describe()));
            } else {
                effective += 1;
            }
        }
        nested.sort();
        groups.push(PrivilegedGroup {
            name: root.name.clone(),
            dn: root.dn.clone(),
            sid: None,
            reason: "extra_groups in keyreeve.toml".into(),
            nested_groups: nested,
            effective_members: effective,
        });
    }
    let mut keys = listed;
    keys.extend(memberships.keys().cloned());
    let mut accounts = Vec::new();
    for k in keys {
        let Some(n) = nodes.get(&k) else { continue };
        if n.is_group {
            continue;
        }
        let ms = memberships.get(&k).cloned().unwrap_or_default();
        let mut priv_ms: Vec<_> = ms.iter().filter(|m| m.root < privileged_count).collect();
        priv_ms.sort_by_key(|m| m.root);
        let mut a = account_from(n, policy);
        a.privileged = !priv_ms.is_empty();
        a.paths = priv_ms.iter().map(|m| m.describe()).collect();
        a.privileged_groups = priv_ms.iter().map(|m| roots[m.root].name.clone()).collect();
        a.remote_access_reasons = ms
            .iter()
            .filter(|m| m.root >= privileged_count)
            .map(|m| m.describe())
            .collect();
        if a.unresolved {
            warnings.push(format!("member {} could not be read", n.dn));
        }
        if !a.privileged && a.service_reasons.is_empty() && a.remote_access_reasons.is_empty() {
            continue;
        }
        accounts.push(a);
    }
    accounts.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.dn.cmp(&b.dn)));
    Ok(DirectoryReport {
        target: target.path(),
        kind: target.kind,
        base_dn: base,
        domain_sid: None,
        privileged_groups: groups,
        accounts,
        warnings,
        domain: None,
    })
}

/// One OpenLDAP object as discovery reports it before its memberships are known: kind, flags, times
/// and classification read from its attributes. Public so that the reading of attribute values a
/// directory sends can be tested on its own.
pub fn account(entry: Entry, policy: &DirectoryPolicy) -> DirectoryAccount {
    account_from(&node_from(entry), policy)
}

fn account_from(n: &Node, policy: &DirectoryPolicy) -> DirectoryAccount {
    let e = &n.entry;
    let locked = e.has("pwdAccountLockedTime");
    let mut service = Vec::new();
    for p in &policy.service_account_patterns {
        if glob_match(p, &n.name) {
            service.push(format!("name matches {p}"));
        }
    }
    let dn_lower = n.dn.to_ascii_lowercase();
    for ou in &policy.service_account_ous {
        if dn_lower.ends_with(&format!(",{}", ou.to_ascii_lowercase())) {
            service.push(format!("in {ou}"));
        }
    }
    let kind = if service.is_empty() {
        AccountKind::User
    } else {
        AccountKind::Service
    };
    DirectoryAccount {
        name: n.name.clone(),
        well_known_name: None,
        dn: n.dn.clone(),
        kind,
        object_class: e.strs("objectClass"),
        sid: None,
        enabled: !locked && !n.unresolved,
        disabled: false,
        locked,
        pwd_last_set: e.str("pwdChangedTime"),
        must_change_password: false,
        last_logon: None,
        user_account_control: None,
        flags: if locked { vec!["locked".into()] } else { vec![] },
        admin_count: None,
        protected_user: false,
        service_principal_names: Vec::new(),
        dial_in: None,
        privileged: false,
        paths: Vec::new(),
        privileged_groups: Vec::new(),
        service_reasons: service,
        remote_access_reasons: Vec::new(),
        unresolved: n.unresolved,
        ad: Default::default(),
    }
}

/// The DN of `account` (uid, or a DN).
pub fn find_dn(conn: &mut DirConn, base: &str, account: &str) -> ConnectorResult<String> {
    conn.find_dn(base, "uid", account)
}

/// Password Modify as an administrator (no old password).
pub fn admin_reset(conn: &mut DirConn, dn: &str, account: &str, new: &Password) -> ConnectorResult<()> {
    conn.password_modify(dn, account, Operation::PasswordChange, None, new)
}

/// Password Modify as the user, proving the old password.
pub fn self_change(conn: &mut DirConn, dn: &str, account: &str, old: &Password, new: &Password) -> ConnectorResult<()> {
    conn.password_modify(dn, account, Operation::SelfChange, Some(old), new)
}
