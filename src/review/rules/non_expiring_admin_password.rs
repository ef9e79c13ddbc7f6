//! A privileged directory user whose password never expires: the domain's password policy does
//! not reach it, so an old, leaked password keeps working for as long as nobody notices.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, flags, has_chosen_password};

pub struct NonExpiringAdminPassword;

impl Rule for NonExpiringAdminPassword {
    fn id(&self) -> &'static str {
        "admin-password-never-expires"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "an enabled privileged directory user (not a managed service account) whose password never expires"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a) && has_chosen_password(a))
            .filter(|a| flags(a).contains(&"password-never-expires"))
            .map(|a| Found {
                subject: t.subject(a),
                message: "privileged, and its password never expires (DONT_EXPIRE_PASSWORD)".into(),
                hint: "clear the flag, or rotate the password with keyreeve on the policy's schedule".into(),
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
    fn privileged_users_with_the_flag() {
        let never = json!({"flags": ["password-never-expires"]});
        let mut msa = ad_account("gmsa-x", true, never.clone());
        msa.account.kind = AccountKind::ManagedServiceAccount;
        let t = target(
            "active-directory",
            vec![
                ad_account("admin", true, never.clone()),
                ad_account("user", false, never),
                ad_account("ok", true, json!({})),
                msa,
                ad_account(
                    "card",
                    true,
                    json!({"flags": ["password-never-expires", "smartcard-required"]}),
                ),
            ],
        );
        assert_eq!(subjects(&NonExpiringAdminPassword, &t), ["acme/t1/admin"]);
    }
}
