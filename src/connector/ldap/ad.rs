//! Active Directory (and Samba AD): who holds admin rights and how, and password changes through
//! `unicodePwd`.
//!
//! Privileged groups are found by their well-known SIDs (names are localized), DnsAdmins (no fixed
//! RID) by name in CN=Users as the documented fallback, plus the target's extra groups. Members are
//! walked by [`super::walk`], including the members AD does not list in `member`: those whose
//! primary group (primaryGroupID) is a group on the path.

use std::collections::{BTreeSet, HashMap};

use ldap3::{ldap_escape, Mod, Scope};

use super::ad_account::account_from;
use super::errors::Operation;
use super::tls::{DirConn, Entry, SecretValue};
use super::walk::{self, key, Fetcher, Node, Walk};
use super::{DirectoryAccount, DirectoryReport, PrivilegedGroup};
use crate::connector::ConnectorResult;
use crate::inventory::Target;
use crate::policy::DirectoryPolicy;
use crate::secret::Password;

/// Attributes read for every object discovery looks at.
pub const ATTRS: &[&str] = &[
    "objectClass",
    "sAMAccountName",
    "sAMAccountType",
    "cn",
    "objectSid",
    "member",
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "pwdLastSet",
    "lastLogonTimestamp",
    "lockoutTime",
    "adminCount",
    "servicePrincipalName",
    "msNPAllowDialin",
    "primaryGroupID",
    "msDS-AllowedToDelegateTo",
    "msDS-AllowedToActOnBehalfOfOtherIdentity",
    "sIDHistory",
    "msDS-SupportedEncryptionTypes",
    "dNSHostName",
    // Read only to classify service accounts by the policy's patterns; never kept (people write
    // passwords into descriptions).
    "description",
];

/// A privileged group by its well-known identity.
#[derive(Debug, Clone, Copy)]
enum WellKnown {
    /// Domain SID + RID.
    DomainRid(u32, &'static str),
    /// A fixed builtin SID.
    Builtin(&'static str, &'static str),
    /// No fixed RID: found by sAMAccountName in CN=Users.
    ByName(&'static str),
}

const PRIVILEGED: &[WellKnown] = &[
    WellKnown::DomainRid(512, "Domain Admins"),
    WellKnown::DomainRid(519, "Enterprise Admins"),
    WellKnown::DomainRid(518, "Schema Admins"),
    WellKnown::Builtin("S-1-5-32-544", "Administrators"),
    WellKnown::Builtin("S-1-5-32-548", "Account Operators"),
    WellKnown::Builtin("S-1-5-32-551", "Backup Operators"),
    WellKnown::Builtin("S-1-5-32-549", "Server Operators"),
    WellKnown::Builtin("S-1-5-32-550", "Print Operators"),
    WellKnown::DomainRid(520, "Group Policy Creator Owners"),
    WellKnown::ByName("DnsAdmins"),
    WellKnown::DomainRid(526, "Key Admins"),
    WellKnown::DomainRid(527, "Enterprise Key Admins"),
    WellKnown::DomainRid(517, "Cert Publishers"),
];

/// Protected Users: membership shown per account, not a privilege.
const PROTECTED_USERS_RID: u32 = 525;
/// krbtgt carries an SPN but is the KDC's own key, not a service account to rotate like one.
pub(super) const KRBTGT_RID: u32 = 502;

/// Primary groups every account has by default (Domain Users, Guests, Computers, Controllers,
/// read-only Controllers): their implicit members are searched only if such a group is met.
const DEFAULT_PRIMARY_GROUPS: [u32; 5] = [513, 514, 515, 516, 521];

/// sAMAccountType of a normal user account.
pub(super) const NORMAL_USER_ACCOUNT: &str = "805306368";

/// DNs per `(|(distinguishedName=...)...)` batch. Measured on Samba: a search costs about
/// 20 ms plus a term growing with the square of the clauses; 100 is near the optimum.
const BATCH: usize = 100;

/// Past this many objects wanted in one level of the walk, one paged pass over every security
/// principal of the domain is cheaper than targeted lookups (about 2x on 22,000 objects).
const SCAN_THRESHOLD: usize = 1000;

/// The objects that can be members of a security group.
const PRINCIPALS: &str = "(|(objectClass=user)(objectClass=group)(objectClass=foreignSecurityPrincipal))";

/// `S-1-5-21-...` from a binary objectSid.
pub fn sid_to_string(b: &[u8]) -> Option<String> {
    if b.len() < 8 {
        return None;
    }
    let count = b[1] as usize;
    if b.len() != 8 + 4 * count {
        return None;
    }
    let authority = b[2..8].iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let mut s = format!("S-{}-{}", b[0], authority);
    for i in 0..count {
        let at = 8 + 4 * i;
        let sub = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        s.push_str(&format!("-{sub}"));
    }
    Some(s)
}

/// The last sub-authority of a SID string.
pub(super) fn rid_of(sid: &str) -> Option<u32> {
    sid.rsplit('-').next()?.parse().ok()
}

/// A Windows FILETIME (100 ns since 1601) as RFC 3339; `None` for 0 (never) and the "never" maximum.
pub fn filetime(value: &str) -> Option<String> {
    let v: i64 = value.trim().parse().ok()?;
    if v <= 0 || v == i64::MAX {
        return None;
    }
    let secs = v / 10_000_000 - 11_644_473_600;
    // Past year 9999 there is no RFC 3339 form (`+10000-01-01...` would be read as no time).
    chrono::DateTime::from_timestamp(secs, 0)
        .filter(|t| chrono::Datelike::year(t) <= 9999)
        .map(|t| t.to_rfc3339())
}

/// The DNS domain of a base DN: `DC=lab,DC=test` -> `lab.test`.
pub fn dns_domain(base_dn: &str) -> String {
    base_dn
        .split(',')
        .filter_map(|rdn| {
            let (k, v) = rdn.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case("dc").then(|| v.trim().to_string())
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn node_from(entry: Entry) -> Node {
    let name = entry
        .str("sAMAccountName")
        .or_else(|| entry.str("cn"))
        .unwrap_or_else(|| walk::unresolved(&entry.dn).name);
    let is_group = entry.is_a("group");
    let members = entry.strs("member");
    Node {
        dn: entry.dn.clone(),
        name,
        is_group,
        members,
        member_uids: Vec::new(),
        entry,
        unresolved: false,
    }
}

/// Reads objects for the walk from one naming context.
struct AdFetcher<'a> {
    conn: &'a mut DirConn,
    nc: String,
    domain_sid: Option<String>,
    /// Accounts with a non-default primary group, by RID (loaded on first need).
    unusual_primary: Option<HashMap<u32, Vec<Node>>>,
    /// Every principal of the domain, once a level of the walk is large enough to read them all.
    scanned: Option<HashMap<String, Node>>,
    scan_threshold: usize,
}

impl AdFetcher<'_> {
    /// Completes `member;range=...` answers (AD returns at most 1500 values at once).
    fn complete_ranges(&mut self, entry: &mut Entry) -> ConnectorResult<()> {
        let Some((mut values, mut end)) = entry.ranged("member") else {
            return Ok(());
        };
        while let Some(last) = end {
            let attr = format!("member;range={}-*", last + 1);
            let Some(more) = self.conn.read(&entry.dn, &[attr.as_str()])? else {
                break;
            };
            match more.ranged("member") {
                Some((vs, e)) if !vs.is_empty() => {
                    values.extend(vs);
                    end = e;
                }
                _ => break,
            }
        }
        entry.set("member", values);
        Ok(())
    }

    fn finish(&mut self, mut entry: Entry) -> ConnectorResult<Node> {
        self.complete_ranges(&mut entry)?;
        Ok(node_from(entry))
    }

    fn search_nodes(&mut self, base: &str, scope: Scope, filter: &str) -> ConnectorResult<Vec<Node>> {
        let entries = self.conn.search(base, scope, filter, ATTRS)?;
        entries.into_iter().map(|e| self.finish(e)).collect()
    }
}

impl Fetcher for AdFetcher<'_> {
    fn implicit_is_primary_group(&self) -> bool {
        true
    }

    fn fetch(&mut self, dns: &[String]) -> ConnectorResult<Vec<Node>> {
        if self.scanned.is_none() && dns.len() > self.scan_threshold {
            let nc = self.nc.clone();
            let all = self.search_nodes(&nc, Scope::Subtree, PRINCIPALS)?;
            self.scanned = Some(all.into_iter().map(|n| (key(&n.dn), n)).collect());
        }
        let mut out = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        match &mut self.scanned {
            Some(all) => {
                for dn in dns {
                    match all.remove(&key(dn)) {
                        Some(n) => out.push(n),
                        None => missing.push(dn.clone()),
                    }
                }
            }
            None => missing = dns.to_vec(),
        }
        let scanned = self.scanned.is_some();
        for chunk in missing.chunks(BATCH) {
            let mut seen: BTreeSet<String> = BTreeSet::new();
            if !scanned {
                let filter: String = chunk
                    .iter()
                    .map(|dn| format!("(distinguishedName={})", ldap_escape(dn.as_str())))
                    .collect();
                let nc = self.nc.clone();
                let found = self.search_nodes(&nc, Scope::Subtree, &format!("(|{filter})"))?;
                seen.extend(found.iter().map(|n| key(&n.dn)));
                out.extend(found);
            }
            // Outside the naming context (or hidden from the subtree search): read directly.
            for dn in chunk.iter().filter(|d| !seen.contains(&key(d))) {
                if let Some(e) = self.conn.read(dn, ATTRS)? {
                    out.push(self.finish(e)?);
                }
            }
        }
        Ok(out)
    }

    fn implicit_members(&mut self, groups: &[&Node]) -> ConnectorResult<Vec<(String, Node)>> {
        let Some(domain_sid) = self.domain_sid.clone() else {
            return Ok(Vec::new());
        };
        let mut by_rid: HashMap<u32, String> = HashMap::new();
        for g in groups {
            let sid = g.entry.bytes("objectSid").and_then(sid_to_string);
            if let Some(sid) = sid {
                if sid.starts_with(&format!("{domain_sid}-")) {
                    if let Some(rid) = rid_of(&sid) {
                        by_rid.insert(rid, g.dn.clone());
                    }
                }
            }
        }
        let mut out = Vec::new();
        let nc = self.nc.clone();
        for (rid, group_dn) in &by_rid {
            if DEFAULT_PRIMARY_GROUPS.contains(rid) {
                // Domain Users (or alike) nested in a privileged group: every account it is the
                // primary group of is a member. Rare, and worth the search.
                for n in self.search_nodes(&nc, Scope::Subtree, &format!("(primaryGroupID={rid})"))? {
                    out.push((group_dn.clone(), n));
                }
            } else {
                for n in self.unusual_primary_groups()?.get(rid).cloned().unwrap_or_default() {
                    out.push((group_dn.clone(), n));
                }
            }
        }
        Ok(out)
    }
}

impl AdFetcher<'_> {
    /// Every account whose primary group is not one of the defaults, by that group's RID: one
    /// search for the whole discovery (such accounts are few).
    fn unusual_primary_groups(&mut self) -> ConnectorResult<&HashMap<u32, Vec<Node>>> {
        if self.unusual_primary.is_none() {
            let defaults: String = DEFAULT_PRIMARY_GROUPS
                .iter()
                .map(|r| format!("(primaryGroupID={r})"))
                .collect();
            let nc = self.nc.clone();
            let found = self.search_nodes(&nc, Scope::Subtree, &format!("(&(primaryGroupID=*)(!(|{defaults})))"))?;
            let mut map: HashMap<u32, Vec<Node>> = HashMap::new();
            for n in found {
                if let Some(rid) = n.entry.str("primaryGroupID").and_then(|v| v.parse::<u32>().ok()) {
                    map.entry(rid).or_default().push(n);
                }
            }
            self.unusual_primary = Some(map);
        }
        Ok(self.unusual_primary.get_or_insert_with(HashMap::new))
    }
}

/// A configured group (DN, or sAMAccountName / cn) as a node.
fn resolve_group(f: &mut AdFetcher<'_>, group: &str) -> ConnectorResult<Option<Node>> {
    if group.contains('=') {
        return Ok(f.conn.read(group, ATTRS)?.map(node_from).filter(|n| n.is_group));
    }
    let g = ldap_escape(group);
    let nc = f.nc.clone();
    let found = f.search_nodes(
        &nc,
        Scope::Subtree,
        &format!("(&(objectClass=group)(|(sAMAccountName={g})(cn={g})))"),
    )?;
    Ok(found.into_iter().next())
}

/// An LDAP filter value from a glob: `*` and `?` both become `*` (the glob is re-checked after).
fn glob_filter(pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '*' | '?' => "*".to_string(),
            c => ldap_escape(c.to_string().as_str()).into_owned(),
        })
        .collect()
}

/// Full discovery of an AD domain.
pub fn discover(conn: &mut DirConn, target: &Target, policy: &DirectoryPolicy) -> ConnectorResult<DirectoryReport> {
    discover_with_scan_threshold(conn, target, policy, SCAN_THRESHOLD)
}

/// [`discover`] switching to one pass over the domain past `scan_threshold` objects in a level
/// (tests use 0 to prove both ways give the same report).
#[doc(hidden)]
pub fn discover_with_scan_threshold(
    conn: &mut DirConn,
    target: &Target,
    policy: &DirectoryPolicy,
    scan_threshold: usize,
) -> ConnectorResult<DirectoryReport> {
    let base_dn = target.base_dn.clone().unwrap_or_default();
    let mut warnings = Vec::new();
    let nc = conn
        .read("", &["defaultNamingContext"])?
        .and_then(|e| e.str("defaultNamingContext"))
        .filter(|nc| !nc.is_empty())
        .unwrap_or_else(|| base_dn.clone());
    let domain_sid = conn
        .read(&nc, &["objectSid"])?
        .and_then(|e| e.bytes("objectSid").and_then(sid_to_string));
    if domain_sid.is_none() {
        warnings.push(format!(
            "could not read the domain SID of {nc}: well-known domain groups cannot be found"
        ));
    }
    let mut f = AdFetcher {
        conn,
        nc: nc.clone(),
        domain_sid: domain_sid.clone(),
        unusual_primary: None,
        scanned: None,
        scan_threshold,
    };

    // The privileged groups, by SID in one search.
    let mut wanted_sids: Vec<(String, usize)> = Vec::new();
    for (i, wk) in PRIVILEGED.iter().enumerate() {
        match wk {
            WellKnown::DomainRid(rid, _) => {
                if let Some(d) = &domain_sid {
                    wanted_sids.push((format!("{d}-{rid}"), i));
                }
            }
            WellKnown::Builtin(sid, _) => wanted_sids.push((sid.to_string(), i)),
            WellKnown::ByName(_) => {}
        }
    }
    let protected_sid = domain_sid.as_ref().map(|d| format!("{d}-{PROTECTED_USERS_RID}"));
    let mut filter: String = wanted_sids.iter().map(|(s, _)| format!("(objectSid={s})")).collect();
    if let Some(p) = &protected_sid {
        filter.push_str(&format!("(objectSid={p})"));
    }
    let found = f.search_nodes(&nc, Scope::Subtree, &format!("(|{filter})"))?;
    let mut by_sid: HashMap<String, Node> = HashMap::new();
    for n in found {
        if let Some(s) = n.entry.bytes("objectSid").and_then(sid_to_string) {
            by_sid.insert(s, n);
        }
    }
    let mut roots: Vec<(Node, String)> = Vec::new();
    let mut missing = Vec::new();
    for wk in PRIVILEGED {
        match wk {
            WellKnown::DomainRid(rid, label) => {
                let sid = domain_sid.as_ref().map(|d| format!("{d}-{rid}"));
                match sid.and_then(|s| by_sid.remove(&s)) {
                    Some(n) => roots.push((n, format!("well-known RID {rid}"))),
                    None => missing.push(label.to_string()),
                }
            }
            WellKnown::Builtin(sid, label) => match by_sid.remove(*sid) {
                Some(n) => roots.push((n, format!("builtin SID {sid}"))),
                None => missing.push(label.to_string()),
            },
            WellKnown::ByName(name) => {
                let users = format!("CN=Users,{nc}");
                let found = f.search_nodes(
                    &users,
                    Scope::OneLevel,
                    &format!("(&(objectClass=group)(sAMAccountName={}))", ldap_escape(*name)),
                );
                match found.ok().and_then(|v| v.into_iter().next()) {
                    Some(n) => roots.push((n, format!("{name} found by name in CN=Users (it has no fixed RID)"))),
                    None => missing.push(name.to_string()),
                }
            }
        }
    }
    if !missing.is_empty() {
        warnings.push(format!(
            "well-known groups not present in this domain: {}",
            missing.join(", ")
        ));
    }
    for g in &target.extra_groups {
        match resolve_group(&mut f, g)? {
            Some(n) => {
                if !roots.iter().any(|(r, _)| key(&r.dn) == key(&n.dn)) {
                    roots.push((n, "extra_groups in keyreeve.toml".into()));
                }
            }
            None => warnings.push(format!("extra group `{g}` was not found")),
        }
    }
    let privileged_count = roots.len();
    let protected = protected_sid.and_then(|s| by_sid.remove(&s));
    let protected_index = protected.as_ref().map(|_| roots.len());
    if let Some(p) = protected {
        roots.push((p, "Protected Users".into()));
    }
    let remote_start = roots.len();
    for g in &policy.remote_access_groups {
        match resolve_group(&mut f, g)? {
            Some(n) => roots.push((n, "remote access group".into())),
            None => warnings.push(format!("remote-access group `{g}` was not found")),
        }
    }

    let root_nodes: Vec<Node> = roots.iter().map(|(n, _)| n.clone()).collect();
    let Walk { mut nodes, memberships } = walk::walk(&mut f, &root_nodes, HashMap::new())?;

    // Service accounts and dial-in accounts that no group walk met.
    let mut clauses = format!(
        "(&(sAMAccountType={NORMAL_USER_ACCOUNT})(servicePrincipalName=*))\
         (objectClass=msDS-GroupManagedServiceAccount)(objectClass=msDS-ManagedServiceAccount)(msNPAllowDialin=TRUE)"
    );
    for p in &policy.service_account_patterns {
        clauses.push_str(&format!("(sAMAccountName={})", glob_filter(p)));
    }
    for p in &policy.service_account_descriptions {
        clauses.push_str(&format!("(&(objectClass=user)(description={}))", glob_filter(p)));
    }
    // What a tier-0 review looks at beyond group members: AdminSDHolder leftovers, delegation of
    // any kind, and SID history (whatever the account's groups).
    clauses.push_str(
        "(&(objectClass=user)(|(adminCount=1)(userAccountControl:1.2.840.113556.1.4.803:=524288)\
         (userAccountControl:1.2.840.113556.1.4.803:=16777216)(msDS-AllowedToDelegateTo=*)\
         (msDS-AllowedToActOnBehalfOfOtherIdentity=*)(sIDHistory=*)))",
    );
    let mut extra_nodes = f.search_nodes(&nc, Scope::Subtree, &format!("(|{clauses})"))?;
    for ou in &policy.service_account_ous {
        match f.search_nodes(
            ou,
            Scope::Subtree,
            &format!(
                "(|(sAMAccountType={NORMAL_USER_ACCOUNT})(objectClass=msDS-GroupManagedServiceAccount)(objectClass=msDS-ManagedServiceAccount))"
            ),
        ) {
            Ok(found) => extra_nodes.extend(found),
            Err(e) => warnings.push(format!("service-account OU `{ou}` could not be searched: {e}")),
        }
    }
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for n in extra_nodes {
        let k = key(&n.dn);
        listed.insert(k.clone());
        nodes.entry(k).or_insert(n);
    }

    let mut groups = Vec::new();
    for (i, (root, reason)) in roots.iter().enumerate().take(privileged_count) {
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
            sid: root.entry.bytes("objectSid").and_then(sid_to_string),
            reason: reason.clone(),
            nested_groups: nested,
            effective_members: effective,
        });
    }

    let mut accounts = Vec::new();
    let mut keys: BTreeSet<String> = listed;
    keys.extend(memberships.keys().cloned());
    for k in keys {
        let Some(n) = nodes.get(&k) else { continue };
        if n.is_group {
            continue;
        }
        let ms = memberships.get(&k).cloned().unwrap_or_default();
        let mut priv_ms: Vec<_> = ms.iter().filter(|m| m.root < privileged_count).collect();
        priv_ms.sort_by_key(|m| m.root);
        let remote: Vec<String> = ms
            .iter()
            .filter(|m| m.root >= remote_start)
            .map(|m| m.describe())
            .collect();
        let is_protected = protected_index.is_some_and(|p| ms.iter().any(|m| m.root == p));
        let mut a = account_from(n, policy);
        a.privileged = !priv_ms.is_empty();
        a.paths = priv_ms.iter().map(|m| m.describe()).collect();
        a.privileged_groups = priv_ms.iter().map(|m| roots[m.root].0.name.clone()).collect();
        a.protected_user = is_protected;
        a.remote_access_reasons.extend(remote);
        a.ad.held = held(&priv_ms);
        if a.admin_count == Some(1) && !a.privileged {
            a.ad.review_reasons.push("adminCount=1".into());
        }
        if a.unresolved {
            warnings.push(format!("member {} could not be read", n.dn));
        }
        if !a.privileged
            && a.service_reasons.is_empty()
            && a.remote_access_reasons.is_empty()
            && a.ad.review_reasons.is_empty()
        {
            continue;
        }
        accounts.push(a);
    }
    accounts.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.dn.cmp(&b.dn)));
    let mut facts = super::domain::read(f.conn, &nc, domain_sid.as_deref())?;
    facts.privileged_groups = groups
        .iter()
        .map(|g| super::domain::GroupScope {
            name: g.name.clone(),
            reason: g.reason.clone(),
            nested_groups: g.nested_groups.clone(),
            effective_members: g.effective_members,
        })
        .collect();
    facts.remote_access_groups = roots[remote_start..].iter().map(|(n, _)| n.name.clone()).collect();
    facts.warnings.extend(warnings.iter().cloned());
    Ok(DirectoryReport {
        target: target.path(),
        kind: target.kind,
        base_dn: nc,
        domain_sid,
        privileged_groups: groups,
        accounts,
        warnings,
        domain: Some(facts),
    })
}

/// How an account holds its admin right, from its memberships: through its primary group when
/// any is (no `member` list shows it), else directly when any is, else nested.
fn held(memberships: &[&walk::Membership]) -> Option<String> {
    let held = if memberships.is_empty() {
        return None;
    } else if memberships.iter().any(|m| m.primary_group) {
        "primary group"
    } else if memberships.iter().any(|m| m.chain.len() <= 1) {
        "direct"
    } else {
        "nested"
    };
    Some(held.to_string())
}

/// One account's attributes, kind and service / dial-in classification (memberships filled by the caller).
/// One AD object as discovery reports it before its memberships are known: kind, flags, times
/// and classification read from its attributes. Public so that the reading of attribute values a
/// directory sends can be tested on its own.
pub fn account(entry: Entry, policy: &DirectoryPolicy) -> DirectoryAccount {
    account_from(&node_from(entry), policy)
}

/// The DN of `account` (sAMAccountName, or a DN).
pub fn find_dn(conn: &mut DirConn, nc: &str, account: &str) -> ConnectorResult<String> {
    conn.find_dn(nc, "sAMAccountName", account)
}

/// The unicodePwd value: the password in double quotes, UTF-16LE.
pub fn unicode_pwd(password: &Password) -> SecretValue {
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(2 * password.expose().len() + 4));
    for unit in format!("\"{}\"", password.expose()).encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    SecretValue(bytes)
}

/// Administrator reset: replace unicodePwd.
pub fn admin_reset(conn: &mut DirConn, dn: &str, account: &str, new: &Password) -> ConnectorResult<()> {
    let mods = vec![Mod::Replace(
        "unicodePwd".into(),
        [unicode_pwd(new)].into_iter().collect(),
    )];
    conn.modify_password(dn, account, Operation::PasswordChange, mods)
}

/// Self-change: delete the old value and add the new one, in one modify.
pub fn self_change(conn: &mut DirConn, dn: &str, account: &str, old: &Password, new: &Password) -> ConnectorResult<()> {
    let mods = vec![
        Mod::Delete("unicodePwd".into(), [unicode_pwd(old)].into_iter().collect()),
        Mod::Add("unicodePwd".into(), [unicode_pwd(new)].into_iter().collect()),
    ];
    conn.modify_password(dn, account, Operation::SelfChange, mods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_and_times_decode() {
        let sid = [
            1u8, 4, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0x00, 0x02, 0, 0,
        ];
        assert_eq!(sid_to_string(&sid).unwrap(), "S-1-5-21-1-2-512");
        assert_eq!(sid_to_string(&[1, 2, 0]), None);
        assert_eq!(rid_of("S-1-5-21-1-2-512"), Some(512));
        assert_eq!(filetime("0"), None);
        assert_eq!(filetime("9223372036854775807"), None);
        assert_eq!(filetime("116444736000000000").unwrap(), "1970-01-01T00:00:00+00:00");
        assert_eq!(dns_domain("DC=lab, dc=test"), "lab.test");
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        let v = unicode_pwd(&Password::new("Ab1é"));
        assert_eq!(v.as_ref(), &[b'"', 0, b'A', 0, b'b', 0, b'1', 0, 0xe9, 0, b'"', 0]);
        assert_eq!(glob_filter("svc-(x)?*"), "svc-\\28x\\29**");
    }
}
