//! A disabled or locked account still in a privileged group: one re-enable away from full rights,
//! and a clutter that hides the real admins in every review.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::disabled;

pub struct DisabledAdmin;

impl Rule for DisabledAdmin {
    fn id(&self) -> &'static str {
        "disabled-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Low
    }
    fn summary(&self) -> &'static str {
        "a disabled account that still holds admin rights (a lockout ends by itself, so locked ones are not)"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && disabled(a))
            .map(|a| Found {
                subject: t.subject(a),
                message: format!("disabled, but still an admin ({})", a.account.privilege),
                hint: "remove it from the privileged groups (or delete it) so that re-enabling it grants nothing"
                    .into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::snapshot::InVault;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn disabled_admins_but_not_locked_ones() {
        let t = target(
            "active-directory",
            vec![
                ad_account("off", true, json!({"flags": ["disabled"]})),
                ad_account("locked", true, json!({"flags": ["locked"]})),
                ad_account("on", true, json!({})),
                ad_account("off-user", false, json!({"flags": ["disabled"]})),
            ],
        );
        assert_eq!(subjects(&DisabledAdmin, &t), ["acme/t1/off"]);
        let mut gone = device_account("old", true, InVault::No);
        gone.account.enabled = false;
        assert_eq!(subjects(&DisabledAdmin, &target("linux", vec![gone])), ["acme/t1/old"]);
    }
}
