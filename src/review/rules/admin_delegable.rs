//! A privileged user whose identity can be delegated: without "account is sensitive and cannot be
//! delegated" and outside Protected Users, any service trusted for delegation that an admin logs
//! on to can act as that admin anywhere.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, flags, has_chosen_password, is_krbtgt, yes};

pub struct AdminDelegable;

impl Rule for AdminDelegable {
    fn id(&self) -> &'static str {
        "admin-delegable"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "a privileged user without \"sensitive and cannot be delegated\" (NOT_DELEGATED) and not in Protected Users"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        if !t.is_active_directory() {
            return Vec::new();
        }
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a) && has_chosen_password(a) && !is_krbtgt(a))
            .filter(|a| !flags(a).contains(&"not-delegated") && !yes(a, "protected_user"))
            .map(|a| Found {
                subject: t.subject(a),
                message: "privileged, and a service trusted for delegation may act as it".into(),
                hint:
                    "set \"Account is sensitive and cannot be delegated\" on the account, or add it to Protected Users"
                        .into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::AccountKind;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn delegable_admins_only() {
        let t = target(
            "active-directory",
            vec![
                ad_account("bob", true, json!({})),
                ad_account("safe", true, json!({"flags": ["not-delegated"]})),
                ad_account("prot", true, json!({"protected_user": true})),
                ad_account("user", false, json!({})),
                ad_account("off", true, json!({"flags": ["disabled"]})),
                kind(ad_account("ws$", true, json!({})), AccountKind::Computer),
            ],
        );
        assert_eq!(subjects(&AdminDelegable, &t), ["acme/t1/bob"]);
    }
}
