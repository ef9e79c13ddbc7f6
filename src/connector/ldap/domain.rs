//! What an Active Directory domain says about itself beyond its privileged accounts, for a tier-0
//! review: the password and lockout policy of the domain object, krbtgt's password age, whether
//! Guest is enabled, and every computer account (for stale machines). It also carries the review's
//! scope (domain, DC, bind account, which groups count as privileged) into the snapshot.
//!
//! Only names, flags and times are kept: nothing here is a secret.

use ldap3::Scope;
use serde::{Deserialize, Serialize};

use super::ad::{filetime, sid_to_string};
use super::tls::DirConn;
use crate::connector::ConnectorResult;

/// A domain's facts as a snapshot keeps them. Every field has a default, so snapshots written
/// before a field existed still load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DomainFacts {
    /// `lab.test`.
    pub domain: String,
    pub base_dn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_sid: Option<String>,
    /// The DC that answered (its dnsHostName, else the target's URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_controller: Option<String>,
    /// The account discovery bound as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_account: Option<String>,
    /// The groups whose members count as admins, with why each counts.
    pub privileged_groups: Vec<GroupScope>,
    /// The remote-access groups the policy names that were found.
    pub remote_access_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<PasswordPolicy>,
    /// krbtgt's pwdLastSet (RFC 3339); `None` inside `Some` would be "never".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub krbtgt: Option<Krbtgt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest: Option<Guest>,
    /// Every computer account (DCs included, marked), at most [`MAX_COMPUTERS`].
    pub computers: Vec<Computer>,
    /// More computers existed than were kept.
    pub computers_truncated: bool,
    /// What could not be read, for the review to say.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupScope {
    pub name: String,
    pub reason: String,
    /// Groups nested in it, with their path.
    pub nested_groups: Vec<String>,
    pub effective_members: usize,
}

/// The domain object's password and lockout settings (the Default Domain Policy's effect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_length: Option<u32>,
    /// DOMAIN_PASSWORD_COMPLEX in pwdProperties.
    pub complexity: Option<bool>,
    /// Days; `None` when passwords never expire (or it was not read: see `read`).
    pub max_age_days: Option<u64>,
    /// 0: accounts are never locked out.
    pub lockout_threshold: Option<u32>,
    pub history_length: Option<u32>,
    /// Whether the domain object could be read at all.
    pub read: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Krbtgt {
    /// RFC 3339; `None`: never set.
    pub pwd_last_set: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Guest {
    pub name: String,
    pub enabled: bool,
}

/// One computer account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Computer {
    pub name: String,
    pub dn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_host_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    pub enabled: bool,
    /// A domain controller (server trust account, or primary group Domain Controllers).
    pub domain_controller: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd_last_set: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_logon: Option<String>,
}

impl DomainFacts {
    /// The facts without the computers' logon and password times, which move on every run in a
    /// large domain: a snapshot differing only in them repeats the one before (only the newest
    /// snapshot's times are ever reviewed, and the newest is always kept).
    pub fn without_times(&self) -> DomainFacts {
        let mut facts = self.clone();
        for c in &mut facts.computers {
            c.last_logon = None;
            c.pwd_last_set = None;
        }
        facts
    }
}

impl Computer {
    /// The OU (or container) it sits in: its DN without the first RDN.
    pub fn ou(&self) -> &str {
        self.dn.split_once(',').map(|(_, rest)| rest).unwrap_or("")
    }
}

/// Past this many computers the rest are not kept (a snapshot stays a few MB at most).
pub const MAX_COMPUTERS: usize = 50_000;

const UF_ACCOUNTDISABLE: u32 = 0x2;
const UF_SERVER_TRUST_ACCOUNT: u32 = 0x2000;
const DOMAIN_PASSWORD_COMPLEX: u32 = 0x1;
/// Primary groups of writable and read-only DCs.
const DC_PRIMARY_GROUPS: [&str; 2] = ["516", "521"];

fn uac(e: &super::tls::Entry) -> u32 {
    e.str("userAccountControl")
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| v as u32)
        .unwrap_or(0)
}

/// An AD interval (negative 100 ns units) in whole days; `None` for "never" (0 or the minimum).
pub fn interval_days(value: &str) -> Option<u64> {
    let v: i64 = value.trim().parse().ok()?;
    if v == 0 || v == i64::MIN {
        return None;
    }
    Some(v.unsigned_abs() / 10_000_000 / 86_400)
}

/// Reads the domain's facts. Each part that cannot be read becomes a warning, not an error: a
/// bind account that may not read the domain object still gets its privileged-group review.
pub fn read(conn: &mut DirConn, nc: &str, domain_sid: Option<&str>) -> ConnectorResult<DomainFacts> {
    let mut facts = DomainFacts {
        domain: super::ad::dns_domain(nc),
        base_dn: nc.to_string(),
        domain_sid: domain_sid.map(str::to_string),
        ..DomainFacts::default()
    };
    facts.domain_controller = conn.read("", &["dnsHostName"])?.and_then(|e| e.str("dnsHostName"));
    let policy_attrs = [
        "minPwdLength",
        "pwdProperties",
        "maxPwdAge",
        "lockoutThreshold",
        "pwdHistoryLength",
    ];
    match conn.read(nc, &policy_attrs)? {
        Some(e) if e.has("minPwdLength") || e.has("lockoutThreshold") => {
            let number = |name: &str| e.str(name).and_then(|v| v.trim().parse::<u32>().ok());
            facts.password_policy = Some(PasswordPolicy {
                min_length: number("minPwdLength"),
                complexity: number("pwdProperties").map(|p| p & DOMAIN_PASSWORD_COMPLEX != 0),
                max_age_days: e.str("maxPwdAge").as_deref().and_then(interval_days),
                lockout_threshold: number("lockoutThreshold"),
                history_length: number("pwdHistoryLength"),
                read: true,
            });
        }
        _ => facts
            .warnings
            .push(format!("the password policy of {nc} could not be read")),
    }
    if let Some(sid) = domain_sid {
        let found = conn.search(
            nc,
            Scope::Subtree,
            &format!("(|(objectSid={sid}-502)(objectSid={sid}-501))"),
            &["objectSid", "sAMAccountName", "pwdLastSet", "userAccountControl"],
        )?;
        for e in found {
            let rid = e
                .bytes("objectSid")
                .and_then(sid_to_string)
                .and_then(|s| s.rsplit('-').next().map(str::to_string));
            match rid.as_deref() {
                Some("502") => {
                    facts.krbtgt = Some(Krbtgt {
                        pwd_last_set: e.str("pwdLastSet").as_deref().and_then(filetime),
                    })
                }
                Some("501") => {
                    facts.guest = Some(Guest {
                        name: e.str("sAMAccountName").unwrap_or_else(|| "Guest".into()),
                        enabled: uac(&e) & UF_ACCOUNTDISABLE == 0,
                    })
                }
                _ => {}
            }
        }
    }
    if facts.krbtgt.is_none() {
        facts.warnings.push("krbtgt could not be read".into());
    }
    // Managed service accounts are computers to the schema; they are reviewed as accounts.
    let computers = conn.search(
        nc,
        Scope::Subtree,
        "(&(objectClass=computer)(!(objectClass=msDS-GroupManagedServiceAccount))(!(objectClass=msDS-ManagedServiceAccount)))",
        &[
            "sAMAccountName",
            "dNSHostName",
            "operatingSystem",
            "userAccountControl",
            "primaryGroupID",
            "pwdLastSet",
            "lastLogonTimestamp",
        ],
    )?;
    facts.computers_truncated = computers.len() > MAX_COMPUTERS;
    if facts.computers_truncated {
        facts.warnings.push(format!(
            "{} computers: only the first {MAX_COMPUTERS} are kept",
            computers.len()
        ));
    }
    for e in computers.into_iter().take(MAX_COMPUTERS) {
        let flags = uac(&e);
        let primary = e.str("primaryGroupID").unwrap_or_default();
        facts.computers.push(Computer {
            name: e.str("sAMAccountName").unwrap_or_else(|| e.dn.clone()),
            dns_host_name: e.str("dNSHostName"),
            operating_system: e.str("operatingSystem"),
            enabled: flags & UF_ACCOUNTDISABLE == 0,
            domain_controller: flags & UF_SERVER_TRUST_ACCOUNT != 0 || DC_PRIMARY_GROUPS.contains(&primary.trim()),
            pwd_last_set: e.str("pwdLastSet").as_deref().and_then(filetime),
            last_logon: e.str("lastLogonTimestamp").as_deref().and_then(filetime),
            dn: e.dn,
        });
    }
    facts.computers.sort_by_key(|c| c.name.to_lowercase());
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_days_and_never_is_none() {
        assert_eq!(interval_days("-36288000000000"), Some(42));
        assert_eq!(interval_days("0"), None);
        assert_eq!(interval_days("-9223372036854775808"), None);
        assert_eq!(interval_days("x"), None);
        let c = Computer {
            dn: "CN=ws1,OU=Desk,DC=lab,DC=test".into(),
            ..Computer::default()
        };
        assert_eq!(c.ou(), "OU=Desk,DC=lab,DC=test");
    }

    /// Snapshots written before a field existed (or by a later keyreeve with more) still load.
    #[test]
    fn partial_facts_load_with_defaults() {
        let facts: DomainFacts =
            serde_json::from_str(r#"{"domain": "lab.test", "computers": [{"name": "ws1$"}], "password_policy": {}}"#)
                .unwrap();
        assert_eq!(facts.domain, "lab.test");
        assert!(!facts.computers[0].enabled && facts.krbtgt.is_none());
        assert_eq!(facts.password_policy.unwrap().min_length, None);
    }
}
