//! An account with adminCount=1 that is in no privileged group any more: AdminSDHolder's
//! restrictive ACL (and the lack of inheritance) stays on it until someone clears it, so
//! delegated help-desk rights silently do not apply, and the flag marks a former admin worth a look.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{is_krbtgt, strings};

pub struct AdmincountOrphan;

impl Rule for AdmincountOrphan {
    fn id(&self) -> &'static str {
        "admincount-orphan"
    }
    fn severity(&self) -> Severity {
        Severity::Low
    }
    fn summary(&self) -> &'static str {
        "adminCount=1 on an account in no privileged group (AdminSDHolder's ACL stays on it)"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            // krbtgt keeps adminCount=1 by design and is in no privileged group.
            .filter(|a| !a.account.admin && !is_krbtgt(a))
            .filter(|a| strings(a, "review_reasons").contains(&"adminCount=1"))
            .map(|a| Found {
                subject: t.subject(a),
                message: "adminCount=1 but in no privileged group: it keeps the AdminSDHolder ACL".into(),
                hint: "clear adminCount and re-enable permission inheritance on the account".into(),
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
    fn former_admins_flagged_but_not_current_admins_or_krbtgt() {
        let orphan = json!({"review_reasons": ["adminCount=1"]});
        let t = target(
            "active-directory",
            vec![
                ad_account("former", false, orphan.clone()),
                ad_account("current", true, json!({"admin_count": 1})),
                ad_account(
                    "krbtgt",
                    false,
                    json!({"review_reasons": ["adminCount=1"], "sid": "S-1-5-21-1-2-3-502"}),
                ),
                ad_account("deleg", false, json!({"review_reasons": ["trusted for delegation"]})),
            ],
        );
        assert_eq!(subjects(&AdmincountOrphan, &t), ["acme/t1/former"]);
    }
}
