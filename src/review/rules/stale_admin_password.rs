//! A privileged directory account whose password is older than the review policy allows (or was
//! never set): the longer a password lives, the more places it has leaked to.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::inventory::TargetKind;
use crate::review::{disabled, has_chosen_password, time, When};

pub struct StaleAdminPassword;

impl Rule for StaleAdminPassword {
    fn id(&self) -> &'static str {
        "stale-admin-password"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "an enabled privileged directory account whose password is older than max_admin_password_age_days"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        let max_days = i64::from(ctx.policy.max_admin_password_age_days);
        let active_directory = t.kind == TargetKind::ActiveDirectory.as_str();
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a) && has_chosen_password(a))
            // pwdLastSet = 0: the password is already expired and must be changed at next logon.
            .filter(|a| a.account.details.get("must_change_password").and_then(|v| v.as_bool()) != Some(true))
            .filter_map(|a| {
                let message = match time(a, "pwd_last_set") {
                    When::At(set) if (ctx.now - set).num_days() > max_days => format!(
                        "password last set {} ({} days ago; the policy allows {max_days})",
                        set.format("%Y-%m-%d"),
                        (ctx.now - set).num_days()
                    ),
                    // AD records every set; OpenLDAP only with the ppolicy overlay, so there a
                    // missing time says nothing.
                    When::Never if active_directory => "password never set since the account was created".into(),
                    _ => return None,
                };
                Some(Found {
                    subject: t.subject(a),
                    message,
                    hint: "rotate it: `keyreeve plan --account` for accounts in the vault, else ask its owner".into(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::AccountKind;
    use crate::review::test_support::*;
    use chrono::{Duration, Utc};
    use serde_json::json;

    #[test]
    fn older_than_the_policy_or_never_set_on_ad() {
        let set = |days: i64| json!({"pwd_last_set": (Utc::now() - Duration::days(days)).to_rfc3339()});
        // OpenLDAP's pwdChangedTime is GeneralizedTime, as the connector stores it.
        let generalized = |days: i64| {
            let at = (Utc::now() - Duration::days(days)).format("%Y%m%d%H%M%S%.3fZ");
            json!({ "pwd_last_set": at.to_string() })
        };
        let accounts = vec![
            ad_account("old", true, set(400)),
            ad_account("recent", true, set(10)),
            ad_account("never", true, json!({})),
            ad_account("old-user", false, set(400)),
            kind(ad_account("pc$", true, json!({})), AccountKind::Computer),
            ad_account("reset", true, json!({"must_change_password": true})),
            ad_account("card", true, json!({"flags": ["smartcard-required"]})),
            ad_account("ol-old", true, generalized(400)),
            ad_account("ol-new", true, generalized(3)),
        ];
        let t = target("active-directory", accounts.clone());
        assert_eq!(
            subjects(&StaleAdminPassword, &t),
            ["acme/t1/old", "acme/t1/never", "acme/t1/ol-old"]
        );
        let t = target("ldap", accounts);
        assert_eq!(subjects(&StaleAdminPassword, &t), ["acme/t1/old", "acme/t1/ol-old"]);
    }
}
