//! Effective group membership, walked breadth-first by keyreeve itself (not by the server's
//! in-chain matching rule, which gives no path): every member of a root group through any depth of
//! nesting, with the shortest chain of groups that makes it one. A visited set per root makes
//! loops in nesting harmless. Objects are fetched a level at a time, in batches, through a
//! [`Fetcher`] that knows the directory's flavour (AD or OpenLDAP).

use std::collections::{HashMap, HashSet};

use super::tls::Entry;
use crate::connector::ConnectorResult;

/// A directory object as the walk sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub dn: String,
    /// sAMAccountName, uid or cn: what paths show.
    pub name: String,
    pub is_group: bool,
    /// DNs of direct members (member, uniqueMember).
    pub members: Vec<String>,
    /// Values naming members by something else than a DN (posixGroup memberUid).
    pub member_uids: Vec<String>,
    pub entry: Entry,
    /// The DN was listed as a member but the object could not be read.
    pub unresolved: bool,
}

/// The key under which a DN is looked up (DNs compare case-insensitively).
pub fn key(dn: &str) -> String {
    dn.to_ascii_lowercase()
}

/// How a directory flavour reads objects for the walk.
pub trait Fetcher {
    /// Reads the objects with these DNs; DNs that do not exist are simply absent from the result.
    fn fetch(&mut self, dns: &[String]) -> ConnectorResult<Vec<Node>>;
    /// Members the `member` attribute does not list: AD's primary group (primaryGroupID),
    /// posixGroup's memberUid. Returns (group DN, member) pairs.
    fn implicit_members(&mut self, groups: &[&Node]) -> ConnectorResult<Vec<(String, Node)>>;
    /// Whether [`Fetcher::implicit_members`] are members by their primary group (AD), which
    /// paths then name: it is how an admin hides from every `member` list.
    fn implicit_is_primary_group(&self) -> bool {
        false
    }
}

/// How one object is a member of one root group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Index of the root group in the list given to [`walk`].
    pub root: usize,
    /// Names of the groups from the object's direct group up to the root (the root included).
    pub chain: Vec<String>,
    /// The first link is the object's primary group (primaryGroupID), listed in no `member`.
    pub primary_group: bool,
}

impl Membership {
    /// `member of Domain Admins`, `via app-admins -> Domain Admins`, `primary group Domain
    /// Admins`, or `via primary group ops -> Domain Admins`.
    pub fn describe(&self) -> String {
        if self.primary_group {
            if self.chain.len() <= 1 {
                format!("primary group {}", self.chain.join(""))
            } else {
                format!("via primary group {}", self.chain.join(" -> "))
            }
        } else if self.chain.len() <= 1 {
            format!("member of {}", self.chain.join(""))
        } else {
            format!("via {}", self.chain.join(" -> "))
        }
    }
}

/// The result of a walk: every object met (members and nested groups), and how each is a member.
#[derive(Debug, Default)]
pub struct Walk {
    pub nodes: HashMap<String, Node>,
    /// Object key -> its memberships, one (the shortest) per root.
    pub memberships: HashMap<String, Vec<Membership>>,
}

/// Walks the members of `roots` (already fetched group nodes). `known` are nodes fetched before
/// (they are not fetched again).
pub fn walk(fetcher: &mut dyn Fetcher, roots: &[Node], known: HashMap<String, Node>) -> ConnectorResult<Walk> {
    let mut nodes = known;
    let mut memberships: HashMap<String, Vec<Membership>> = HashMap::new();
    let mut visited: HashSet<(usize, String)> = HashSet::new();
    // (root index, group key, chain from this group up to the root)
    let mut frontier: Vec<(usize, String, Vec<String>)> = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let k = key(&root.dn);
        nodes.entry(k.clone()).or_insert_with(|| root.clone());
        visited.insert((i, k.clone()));
        frontier.push((i, k, vec![root.name.clone()]));
    }
    let mut implicit: HashMap<String, Vec<String>> = HashMap::new();
    let by_primary_group = fetcher.implicit_is_primary_group();
    while !frontier.is_empty() {
        // Fetch every member of this level not yet known, in one batch.
        let mut wanted: Vec<String> = Vec::new();
        let mut wanted_keys: HashSet<String> = HashSet::new();
        for (_, g, _) in &frontier {
            if let Some(group) = nodes.get(g) {
                for m in &group.members {
                    let k = key(m);
                    if !nodes.contains_key(&k) && wanted_keys.insert(k) {
                        wanted.push(m.clone());
                    }
                }
            }
        }
        if !wanted.is_empty() {
            for n in fetcher.fetch(&wanted)? {
                nodes.insert(key(&n.dn), n);
            }
            for dn in wanted {
                nodes.entry(key(&dn)).or_insert_with(|| unresolved(&dn));
            }
        }
        // Members the group objects do not list, asked once per group and kept for every root.
        {
            let groups: Vec<&Node> = frontier
                .iter()
                .filter(|(_, g, _)| !implicit.contains_key(g))
                .filter_map(|(_, g, _)| nodes.get(g))
                .collect();
            if !groups.is_empty() {
                let asked: Vec<String> = groups.iter().map(|n| key(&n.dn)).collect();
                let found = fetcher.implicit_members(&groups)?;
                for g in asked {
                    implicit.entry(g).or_default();
                }
                for (group_dn, member) in found {
                    let mk = key(&member.dn);
                    implicit.entry(key(&group_dn)).or_default().push(mk.clone());
                    nodes.entry(mk).or_insert(member);
                }
            }
        }
        let mut next = Vec::new();
        for (root, g, chain) in frontier {
            let Some(group) = nodes.get(&g) else { continue };
            let mut member_keys: Vec<(String, bool)> = group.members.iter().map(|m| (key(m), false)).collect();
            member_keys.extend(
                implicit
                    .get(&g)
                    .into_iter()
                    .flatten()
                    .map(|k| (k.clone(), by_primary_group)),
            );
            for (mk, primary_group) in member_keys {
                if !visited.insert((root, mk.clone())) {
                    continue;
                }
                memberships.entry(mk.clone()).or_default().push(Membership {
                    root,
                    chain: chain.clone(),
                    primary_group,
                });
                if let Some(m) = nodes.get(&mk) {
                    if m.is_group {
                        let mut c = vec![m.name.clone()];
                        c.extend(chain.iter().cloned());
                        next.push((root, mk, c));
                    }
                }
            }
        }
        frontier = next;
    }
    Ok(Walk { nodes, memberships })
}

/// A member DN that could not be read (deleted, in another partition, or hidden by ACLs).
pub fn unresolved(dn: &str) -> Node {
    let name = dn
        .split_once(',')
        .map(|(rdn, _)| rdn)
        .unwrap_or(dn)
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| dn.to_string());
    Node {
        dn: dn.to_string(),
        name,
        is_group: false,
        members: Vec::new(),
        member_uids: Vec::new(),
        entry: Entry::default(),
        unresolved: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(HashMap<String, Node>, Vec<(String, String)>, usize);

    fn group(name: &str, members: &[&str]) -> Node {
        Node {
            dn: format!("CN={name},DC=x"),
            name: name.into(),
            is_group: true,
            members: members.iter().map(|m| format!("CN={m},DC=x")).collect(),
            member_uids: vec![],
            entry: Entry::default(),
            unresolved: false,
        }
    }
    fn user(name: &str) -> Node {
        Node {
            is_group: false,
            members: vec![],
            ..group(name, &[])
        }
    }

    impl Fetcher for Fake {
        fn fetch(&mut self, dns: &[String]) -> ConnectorResult<Vec<Node>> {
            Ok(dns.iter().filter_map(|d| self.0.get(&key(d)).cloned()).collect())
        }
        fn implicit_members(&mut self, groups: &[&Node]) -> ConnectorResult<Vec<(String, Node)>> {
            self.2 += groups.len();
            let asked: HashSet<String> = groups.iter().map(|g| key(&g.dn)).collect();
            Ok(self
                .1
                .iter()
                .filter(|(g, _)| asked.contains(&key(g)))
                .map(|(g, m)| (g.clone(), self.0[&key(m)].clone()))
                .collect())
        }
    }

    #[test]
    fn nested_loop_terminates_with_shortest_paths() {
        let objs = [
            group("Domain Admins", &["app-admins", "carol"]),
            group("app-admins", &["ops", "bob"]),
            group("ops", &["app-admins", "dave", "gone"]),
            user("bob"),
            user("carol"),
            user("dave"),
        ];
        let mut fake = Fake(objs.iter().map(|n| (key(&n.dn), n.clone())).collect(), vec![], 0);
        let root = fake.0[&key("CN=Domain Admins,DC=x")].clone();
        let w = walk(&mut fake, &[root], HashMap::new()).unwrap();
        let d = |n: &str| w.memberships[&key(&format!("CN={n},DC=x"))][0].describe();
        assert_eq!(d("carol"), "member of Domain Admins");
        assert_eq!(d("bob"), "via app-admins -> Domain Admins");
        assert_eq!(d("dave"), "via ops -> app-admins -> Domain Admins");
        assert_eq!(d("gone"), "via ops -> app-admins -> Domain Admins");
        assert!(w.nodes[&key("CN=gone,DC=x")].unresolved);
        assert_eq!(w.memberships[&key("CN=app-admins,DC=x")].len(), 1);
    }

    #[test]
    fn a_primary_group_membership_is_named_as_such() {
        let m = |chain: &[&str], primary_group| Membership {
            root: 0,
            chain: chain.iter().map(|s| s.to_string()).collect(),
            primary_group,
        };
        assert_eq!(m(&["Domain Admins"], true).describe(), "primary group Domain Admins");
        assert_eq!(
            m(&["ops", "Domain Admins"], true).describe(),
            "via primary group ops -> Domain Admins"
        );
        assert_eq!(
            m(&["ops", "Domain Admins"], false).describe(),
            "via ops -> Domain Admins"
        );
    }

    #[test]
    fn implicit_members_are_asked_once_and_serve_every_root() {
        let objs = [
            group("Administrators", &["Domain Admins"]),
            group("Domain Admins", &["ops"]),
            group("ops", &[]),
            user("pg"),
        ];
        let mut fake = Fake(
            objs.iter().map(|n| (key(&n.dn), n.clone())).collect(),
            vec![("CN=ops,DC=x".into(), "CN=pg,DC=x".into())],
            0,
        );
        let roots = [
            fake.0[&key("CN=Domain Admins,DC=x")].clone(),
            fake.0[&key("CN=Administrators,DC=x")].clone(),
        ];
        let w = walk(&mut fake, &roots, HashMap::new()).unwrap();
        let got: Vec<String> = w.memberships[&key("CN=pg,DC=x")].iter().map(|m| m.describe()).collect();
        assert_eq!(
            got,
            ["via ops -> Domain Admins", "via ops -> Domain Admins -> Administrators"]
        );
        assert_eq!(fake.2, 3, "each group asked once");
    }
}
