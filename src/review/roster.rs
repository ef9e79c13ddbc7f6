//! The reviewer's views of a directory beyond the findings: each admin's account type, how the
//! right is held, password and logon times, Protected Users and delegation; who is in each
//! privileged group (the nesting shown once per group, not on every line); who can reach the
//! network from outside; and the scope the review rests on (domain, DC, bind account, which groups
//! count, when discovered). Built from snapshots only, shared by every output format.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::snapshot::AccountRecord;
use super::{account_type, disabled, flags, may_dial_in, remote_access_state, strings, text, yes, TargetReview};
use crate::connector::AccountKind;

/// What a directory account's roster line adds to a device's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirectoryFacts {
    /// user, service, computer, gMSA, foreign.
    pub account_type: String,
    /// direct, nested or primary group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// The privileged groups it is in, through any nesting.
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd_last_set: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_logon: Option<String>,
    pub protected_user: bool,
    /// `unconstrained`, `constrained: cifs/fs1`, `resource-based`, `cannot be delegated`, or
    /// `may be delegated`.
    pub delegation: String,
}

/// The directory part of a roster line; `None` for devices.
pub fn directory_facts(t: &TargetReview, a: &AccountRecord) -> Option<DirectoryFacts> {
    if !t.is_directory() {
        return None;
    }
    let mut delegation = Vec::new();
    if flags(a).contains(&"trusted-for-delegation") && !yes(a, "domain_controller") {
        delegation.push("unconstrained".to_string());
    }
    let to = strings(a, "allowed_to_delegate_to");
    if !to.is_empty() {
        delegation.push(format!("constrained: {}", to.join(", ")));
    }
    if yes(a, "resource_based_delegation") {
        delegation.push("resource-based".into());
    }
    let person = matches!(a.account.kind, AccountKind::User | AccountKind::Service);
    if delegation.is_empty() && t.is_active_directory() {
        delegation.push(
            if !person {
                "none"
            } else if flags(a).contains(&"not-delegated") || yes(a, "protected_user") {
                "cannot be delegated"
            } else {
                "may be delegated"
            }
            .into(),
        );
    }
    Some(DirectoryFacts {
        account_type: account_type(a).to_string(),
        held: text(a, "held").map(str::to_string),
        groups: strings(a, "privileged_groups")
            .into_iter()
            .map(str::to_string)
            .collect(),
        pwd_last_set: text(a, "pwd_last_set").map(str::to_string),
        last_logon: text(a, "last_logon").map(str::to_string),
        protected_user: yes(a, "protected_user"),
        delegation: delegation.join("; "),
    })
}

/// One privileged group and who is in it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub group: String,
    /// Why it counts (`well-known RID 512`, `extra_groups in keyreeve.toml`).
    pub reason: String,
    /// The groups nested in it, each with its own path once.
    pub nested_groups: Vec<String>,
    pub members: Vec<GroupMember>,
}

/// An account in a privileged group, and its first step into it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupMember {
    pub account: String,
    /// `member`, `primary group`, `through app-admins` (the group it is directly in; the rest of
    /// the chain is that group's line in `nested_groups`).
    pub through: String,
    pub enabled: bool,
}

/// The first step of a path into `group`: `member of X`, `primary group X`, `via a -> ... -> X`,
/// `via primary group a -> ... -> X`.
fn first_step(path: &str, group: &str) -> Option<String> {
    if path == format!("member of {group}") {
        return Some("member".into());
    }
    if path == format!("primary group {group}") {
        return Some("primary group".into());
    }
    let chain = path.strip_prefix("via ")?;
    let (primary, chain) = match chain.strip_prefix("primary group ") {
        Some(rest) => (true, rest),
        None => (false, chain),
    };
    let hops: Vec<&str> = chain.split(" -> ").collect();
    if hops.last() != Some(&group) {
        return None;
    }
    Some(if primary {
        format!("primary group {}", hops[0])
    } else {
        format!("through {}", hops[0])
    })
}

/// Who is in each privileged group of an AD target, in the order discovery lists the groups.
pub fn groups(t: &TargetReview) -> Vec<GroupView> {
    let Some(d) = super::domain(t) else { return Vec::new() };
    d.privileged_groups
        .iter()
        .map(|g| {
            let mut members: Vec<GroupMember> = t
                .accounts()
                .iter()
                .filter(|a| a.account.admin)
                .filter_map(|a| {
                    let through = strings(a, "paths").into_iter().find_map(|p| first_step(p, &g.name))?;
                    Some(GroupMember {
                        account: a.account.name.clone(),
                        through,
                        enabled: !disabled(a),
                    })
                })
                .collect();
            members.sort_by_key(|m| m.account.to_lowercase());
            GroupView {
                group: g.name.clone(),
                reason: g.reason.clone(),
                nested_groups: g.nested_groups.clone(),
                members,
            }
        })
        .filter(|g| !g.members.is_empty() || !g.nested_groups.is_empty())
        .collect()
}

/// One account that can (or could, but for an explicit FALSE) reach the network from outside.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteAccess {
    pub account: String,
    /// allowed (msNPAllowDialin TRUE), controlled by NPS policy, or denied (FALSE).
    pub state: String,
    /// Why: `msNPAllowDialin TRUE`, `member of VPN Users`.
    pub reasons: Vec<String>,
    pub admin: bool,
    pub enabled: bool,
    /// Enabled and not denied: it can reach the network now.
    pub allowed: bool,
}

/// Who can reach the network from outside, allowed first.
pub fn remote_access(t: &TargetReview) -> Vec<RemoteAccess> {
    let mut out: Vec<RemoteAccess> = t
        .accounts()
        .iter()
        .filter_map(|a| {
            let state = remote_access_state(a)?;
            Some(RemoteAccess {
                account: a.account.name.clone(),
                state: state.to_string(),
                reasons: strings(a, "remote_access_reasons")
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                admin: a.account.admin,
                enabled: !disabled(a),
                allowed: !disabled(a) && may_dial_in(a),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.allowed
            .cmp(&a.allowed)
            .then(a.account.to_lowercase().cmp(&b.account.to_lowercase()))
    });
    out
}

/// What an AD review rests on, said at the top of every report.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub domain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_controller: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_account: Option<String>,
    /// `Domain Admins (well-known RID 512)`, ...
    pub privileged_groups: Vec<String>,
    pub remote_access_groups: Vec<String>,
    pub discovered_at: DateTime<Utc>,
    pub computers: usize,
    /// What discovery could not read.
    pub warnings: Vec<String>,
}

pub fn scope(t: &TargetReview) -> Option<Scope> {
    let snapshot = t.current.as_ref()?;
    let d = snapshot.domain.as_ref()?;
    Some(Scope {
        domain: d.domain.clone(),
        domain_controller: d.domain_controller.clone(),
        bind_account: d.bind_account.clone(),
        privileged_groups: d
            .privileged_groups
            .iter()
            .map(|g| format!("{} ({})", g.name, g.reason))
            .collect(),
        remote_access_groups: d.remote_access_groups.clone(),
        discovered_at: snapshot.taken_at,
        computers: d.computers.len(),
        warnings: d.warnings.clone(),
    })
}

impl Scope {
    /// One paragraph: what was reviewed, from where, as whom, counting which groups.
    pub fn statement(&self) -> String {
        let remote = if self.remote_access_groups.is_empty() {
            "none named by the policy".to_string()
        } else {
            self.remote_access_groups.join(", ")
        };
        format!(
            "Domain {} read from {} as {} on {}; {} computers. Privileged groups (members through any nesting \
             and primary group count as admins): {}. Remote-access groups: {remote}.",
            self.domain,
            self.domain_controller.as_deref().unwrap_or("an unknown DC"),
            self.bind_account.as_deref().unwrap_or("an unknown account"),
            self.discovered_at.format("%Y-%m-%d %H:%M UTC"),
            self.computers,
            self.privileged_groups.join(", "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_step_into_a_group_names_the_direct_group_once() {
        assert_eq!(
            first_step("member of Domain Admins", "Domain Admins").unwrap(),
            "member"
        );
        assert_eq!(
            first_step("via app -> Domain Admins -> Administrators", "Administrators").unwrap(),
            "through app"
        );
        assert_eq!(
            first_step("via primary group ops -> Domain Admins", "Domain Admins").unwrap(),
            "primary group ops"
        );
        assert_eq!(
            first_step("primary group Domain Admins", "Domain Admins").unwrap(),
            "primary group"
        );
        assert!(first_step("via app -> Domain Admins", "Administrators").is_none());
    }
}
