//! More accounts in Domain Admins, Enterprise Admins and Administrators (through any nesting)
//! than the policy allows: every one is a way to the whole domain, and few people need one.
//! The groups are recognised by their well-known SIDs, so a localized name counts the same.

use std::collections::BTreeSet;

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, domain, strings};

pub struct TooManyAdmins;

/// The reasons discovery gives the three groups that own a domain outright.
const TOP_GROUPS: [&str; 3] = ["well-known RID 512", "well-known RID 519", "builtin SID S-1-5-32-544"];

impl Rule for TooManyAdmins {
    fn id(&self) -> &'static str {
        "too-many-admins"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "more enabled accounts in Domain Admins + Enterprise Admins + Administrators than [review] max_domain_admins (5)"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        let Some(d) = domain(t) else { return Vec::new() };
        let top: BTreeSet<&str> = d
            .privileged_groups
            .iter()
            .filter(|g| TOP_GROUPS.contains(&g.reason.as_str()))
            .map(|g| g.name.as_str())
            .collect();
        let mut names: Vec<&str> = t
            .accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a))
            .filter(|a| strings(a, "privileged_groups").iter().any(|g| top.contains(g)))
            .map(|a| a.account.name.as_str())
            .collect();
        names.sort_unstable_by_key(|n| n.to_lowercase());
        let limit = ctx.policy.max_domain_admins as usize;
        if names.len() <= limit {
            return Vec::new();
        }
        vec![Found {
            subject: t.target.clone(),
            message: format!(
                "{} enabled accounts hold Domain Admins, Enterprise Admins or Administrators (the policy allows {limit}): {}",
                names.len(),
                names.join(", ")
            ),
            hint: "keep domain-wide admin rights to a few named people; delegate the rest (OU rights, tiered groups)".into(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ldap::domain::{DomainFacts, GroupScope};
    use crate::policy::ReviewPolicy;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn counts_distinct_enabled_members_of_the_three_groups_by_sid() {
        let group = |name: &str, reason: &str| GroupScope {
            name: name.into(),
            reason: reason.into(),
            ..GroupScope::default()
        };
        let facts = DomainFacts {
            privileged_groups: vec![
                group("Domänen-Admins", "well-known RID 512"),
                group("Administrators", "builtin SID S-1-5-32-544"),
                group("Backup Operators", "builtin SID S-1-5-32-551"),
            ],
            ..DomainFacts::default()
        };
        let in_groups = |g: &[&str]| json!({ "privileged_groups": g });
        let accounts = vec![
            ad_account("a", true, in_groups(&["Domänen-Admins", "Administrators"])),
            ad_account("b", true, in_groups(&["Administrators"])),
            ad_account("c", true, in_groups(&["Backup Operators"])),
            ad_account(
                "d",
                true,
                json!({"privileged_groups": ["Domänen-Admins"], "flags": ["disabled"]}),
            ),
        ];
        let t = domain_target(accounts, facts);
        let mut policy = ReviewPolicy {
            max_domain_admins: 1,
            ..ReviewPolicy::default()
        };
        assert_eq!(
            graded(&TooManyAdmins, &t, &policy),
            [("acme/t1".to_string(), Severity::Medium)]
        );
        policy.max_domain_admins = 2;
        assert!(graded(&TooManyAdmins, &t, &policy).is_empty());
    }
}
