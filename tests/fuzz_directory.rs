//! Property tests of what directories send back: objectSid bytes, FILETIME and GeneralizedTime
//! values, userAccountControl and the other attributes an account is built from (AD and
//! OpenLDAP), DNs, AD's bind diagnostics, the password policy control's BER value, and the
//! membership walk over a hostile graph (cycles, self-membership, unreadable members). Inputs are
//! random values and mutations of valid ones. Properties: no panic, no endless walk, and values
//! are read as what they claim to be or not at all.

mod fuzz_support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use fuzz_support::{config, hostile_bytes, hostile_text, noise};
use keyreeve::connector::ldap::errors::{ad_bind_subcode, bind_failure, parse_ppolicy_value, short_text};
use keyreeve::connector::ldap::tls::Entry;
use keyreeve::connector::ldap::walk::{self, Fetcher, Node};
use keyreeve::connector::ldap::{ad, glob_match, openldap};
use keyreeve::connector::ConnectorResult;
use keyreeve::policy::DirectoryPolicy;
use ldap3::SearchEntry;
use proptest::prelude::*;

/// `S-1-5-21-1004336348-1177238915-682003330-512` (Domain Admins) as AD stores it.
fn sid_bytes() -> Vec<u8> {
    let mut b = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
    for sub in [21u32, 1_004_336_348, 1_177_238_915, 682_003_330, 512] {
        b.extend_from_slice(&sub.to_le_bytes());
    }
    b
}

/// A user entry as AD returns it, with every attribute discovery reads.
fn ad_entry(values: &HashMap<&'static str, String>, sid: Vec<u8>, dn: String) -> Entry {
    let mut attrs: HashMap<String, Vec<String>> =
        values.iter().map(|(k, v)| (k.to_string(), vec![v.clone()])).collect();
    attrs.insert("objectClass".into(), vec!["top".into(), "person".into(), "user".into()]);
    Entry::from_search(SearchEntry {
        dn,
        attrs,
        bin_attrs: [("objectSid".to_string(), vec![sid])].into(),
    })
}

const AD_ATTRIBUTES: &[(&str, &str)] = &[
    ("sAMAccountName", "svc-backup"),
    ("cn", "Backup Service"),
    ("userAccountControl", "66048"),
    ("msDS-User-Account-Control-Computed", "16"),
    ("lockoutTime", "133497600000000000"),
    ("pwdLastSet", "133497600000000000"),
    ("lastLogonTimestamp", "9223372036854775807"),
    ("sAMAccountType", "805306368"),
    ("servicePrincipalName", "MSSQLSvc/db1.lab.test:1433"),
    ("msNPAllowDialin", "TRUE"),
    ("adminCount", "1"),
    ("pwdChangedTime", "20240101120000.123Z"),
    ("pwdAccountLockedTime", "000001010000Z"),
    ("uid", "svc-ldap"),
];

fn ad_values() -> impl Strategy<Value = HashMap<&'static str, String>> {
    AD_ATTRIBUTES
        .iter()
        .map(|(k, v)| hostile_text(v.to_string()).prop_map(move |x| (*k, x)))
        .collect::<Vec<_>>()
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn policy() -> DirectoryPolicy {
    DirectoryPolicy {
        service_account_patterns: vec!["svc-*".into(), "*backup*".into(), "sa-??".into()],
        service_account_ous: vec!["OU=Service Accounts,DC=lab,DC=test".into()],
        remote_access_groups: vec!["VPN Users".into()],
        ..DirectoryPolicy::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sids_are_read_whole_or_not_at_all(bytes in hostile_bytes(sid_bytes())) {
        if let Some(s) = ad::sid_to_string(&bytes) {
            prop_assert!(s.starts_with("S-"), "{s}");
            // One sub-authority per four bytes after the eight-byte header.
            prop_assert_eq!(s.matches('-').count(), 2 + (bytes.len() - 8) / 4);
        }
    }

    #[test]
    fn filetimes_are_times_or_nothing(value in prop_oneof![
        hostile_text("133497600000000000".to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
    ]) {
        if let Some(t) = ad::filetime(&value) {
            prop_assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
        }
    }

    /// Every attribute an AD or OpenLDAP account is built from, hostile at once.
    #[test]
    fn accounts_are_built_from_hostile_attributes(
        values in ad_values(),
        sid in hostile_bytes(sid_bytes()),
        dn in hostile_text("CN=Backup Service,OU=Service Accounts,DC=lab,DC=test".to_string()),
    ) {
        let entry = ad_entry(&values, sid, dn.clone());
        let a = ad::account(entry.clone(), &policy());
        prop_assert_eq!(&a.dn, &dn);
        if let Some(uac) = a.user_account_control {
            prop_assert_eq!(a.disabled, uac & 2 != 0);
        }
        let o = openldap::account(entry, &policy());
        prop_assert_eq!(&o.dn, &dn);
        let _ = ad::dns_domain(&dn);
        let _ = walk::unresolved(&dn);
    }

    #[test]
    fn bind_diagnostics_and_policy_controls_survive_hostile_text(
        text in hostile_text("80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563\0".to_string()),
        // ppolicy response: SEQUENCE { [1] ENUMERATED 2 (changeAfterReset) }
        ber in hostile_bytes(vec![0x30, 0x03, 0x81, 0x01, 0x02]),
    ) {
        if let Some(code) = ad_bind_subcode(&text) {
            prop_assert!(code.chars().all(|c| c.is_ascii_hexdigit()));
        }
        let _ = bind_failure(&text);
        let short = short_text(&text);
        prop_assert!(short.chars().count() <= 300 && !short.chars().any(char::is_control));
        let _ = parse_ppolicy_value(&ber);
    }

    /// Service-account patterns (policy) against names (the directory): linear, whatever the
    /// stars and the length.
    #[test]
    fn glob_patterns_match_any_name_quickly(pattern in noise(), name in noise()) {
        let started = Instant::now();
        let _ = glob_match(&pattern, &name);
        prop_assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// The same answers as a regular expression made of the pattern.
    #[test]
    fn glob_patterns_match_as_a_regex_would(pattern in "[abAB*?-]{0,10}", name in "[abAB-]{0,12}") {
        let re: String = pattern
            .chars()
            .map(|c| match c {
                '*' => ".*".to_string(),
                '?' => ".".to_string(),
                c => regex::escape(&c.to_string()),
            })
            .collect();
        let re = regex::Regex::new(&format!("(?is)^{re}$")).unwrap();
        prop_assert_eq!(glob_match(&pattern, &name), re.is_match(&name), "{} ~ {}", pattern, name);
    }

    #[test]
    fn the_membership_walk_ends_on_any_graph(graph in membership_graph()) {
        let roots: Vec<Node> = graph.iter().filter(|n| n.is_group).take(2).cloned().collect();
        let mut fetcher = GraphFetcher { nodes: graph.iter().map(|n| (walk::key(&n.dn), n.clone())).collect(), calls: 0 };
        let result = walk::walk(&mut fetcher, &roots, HashMap::new());
        prop_assert!(fetcher.calls <= 64, "the walk asked {} times", fetcher.calls);
        if let Ok(w) = result {
            for (k, ms) in &w.memberships {
                prop_assert!(w.nodes.contains_key(k), "membership of an unknown node {k}");
                for m in ms {
                    prop_assert!(m.root < roots.len());
                }
            }
        }
    }
}

/// A directory of up to 12 objects whose members are any DNs: existing ones (cycles and
/// self-membership included), DNs differing only in case, and DNs that do not exist.
fn membership_graph() -> impl Strategy<Value = Vec<Node>> {
    proptest::collection::vec((any::<bool>(), proptest::collection::vec(0usize..16, 0..6)), 1..12).prop_map(|spec| {
        let dn = |i: usize| {
            if i.is_multiple_of(3) {
                format!("CN=Obj{i},DC=LAB,DC=TEST")
            } else {
                format!("cn=obj{i},dc=lab,dc=test")
            }
        };
        spec.iter()
            .enumerate()
            .map(|(i, (is_group, members))| Node {
                dn: dn(i),
                name: format!("obj{i}"),
                is_group: *is_group || i == 0,
                members: members.iter().map(|m| dn(*m)).collect(),
                member_uids: Vec::new(),
                entry: Entry::default(),
                unresolved: false,
            })
            .collect()
    })
}

struct GraphFetcher {
    nodes: HashMap<String, Node>,
    calls: usize,
}

impl Fetcher for GraphFetcher {
    fn fetch(&mut self, dns: &[String]) -> ConnectorResult<Vec<Node>> {
        self.calls += 1;
        let mut seen = HashSet::new();
        Ok(dns
            .iter()
            .filter(|d| seen.insert(walk::key(d)))
            .filter_map(|d| self.nodes.get(&walk::key(d)).cloned())
            .collect())
    }
    fn implicit_members(&mut self, _groups: &[&Node]) -> ConnectorResult<Vec<(String, Node)>> {
        self.calls += 1;
        Ok(Vec::new())
    }
}

// Regressions found by the properties above.

#[test]
fn a_long_directory_name_does_not_overflow_the_stack_of_the_service_pattern_match() {
    // Matching recursed once per character: a 200,000-character uid from a hostile directory
    // aborted the process with a stack overflow.
    let name = "a".repeat(200_000);
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || glob_match("svc-*", &name) || glob_match("*b", &name))
        .unwrap();
    assert!(!handle.join().expect("no stack overflow"));
}

#[test]
fn a_pattern_of_many_stars_matches_in_linear_time() {
    // Backtracking over every way to split the name between stars was exponential: this took
    // minutes.
    let started = Instant::now();
    assert!(!glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", &"a".repeat(60)));
    assert!(glob_match("*A*a*?*a", "xaxAxxa"));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[test]
fn a_filetime_past_year_9999_is_no_time() {
    // It became `+10000-01-01T00:00:00+00:00`, which no RFC 3339 reader (the review's included)
    // takes: a time that claimed to be one and was not.
    assert_eq!(ad::filetime("2650467744000000000"), None);
    assert_eq!(
        ad::filetime("2650467743990000000").as_deref(),
        Some("9999-12-31T23:59:59+00:00")
    );
}
