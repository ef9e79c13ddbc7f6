//! Admin rights held through primaryGroupID: the account is listed in no group's `member`, so
//! "Domain Admins: members" in any console does not show it. A known way to hide an admin.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, text};

pub struct PrimaryGroupAdmin;

impl Rule for PrimaryGroupAdmin {
    fn id(&self) -> &'static str {
        "primary-group-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "admin rights through the account's primary group (primaryGroupID), which no member list shows"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a))
            .filter(|a| text(a, "held") == Some("primary group"))
            .map(|a| Found {
                subject: t.subject(a),
                message: format!(
                    "admin through its primary group, listed in no member list: {}",
                    a.account.privilege
                ),
                hint:
                    "set its primary group back to Domain Users (513) and grant rights by visible membership, if at all"
                        .into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn primary_group_admins_only() {
        let t = target(
            "active-directory",
            vec![
                ad_account(
                    "hidden",
                    true,
                    json!({"held": "primary group", "paths": ["primary group Domain Admins"]}),
                ),
                ad_account("plain", true, json!({"held": "direct"})),
                ad_account("nested", true, json!({"held": "nested"})),
                ad_account("off", true, json!({"held": "primary group", "flags": ["disabled"]})),
            ],
        );
        assert_eq!(subjects(&PrimaryGroupAdmin, &t), ["acme/t1/hidden"]);
    }
}
