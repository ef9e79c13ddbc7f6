//! A privileged directory account whose password is older than the review policy allows (or was
//! never set): the longer a password lives, the more places it has leaked to.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::connector::AccountKind;
use crate::review::{time, When};

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
        let active_directory = t.kind == "active-directory";
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && a.account.enabled)
            // People and service accounts: computers and managed service accounts change their
            // own passwords, and a foreign principal's lives in another domain.
            .filter(|a| matches!(a.account.kind, AccountKind::User | AccountKind::Service))
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
    use crate::review::test_support::*;
    use chrono::{Duration, Utc};
    use serde_json::json;

    #[test]
    fn older_than_the_policy_or_never_set_on_ad() {
        let at = |days: i64| json!({"pwd_last_set": (Utc::now() - Duration::days(days)).to_rfc3339()});
        let accounts = vec![
            ad_account("old", true, at(400)),
            ad_account("recent", true, at(10)),
            ad_account("never", true, json!({})),
            ad_account("old-user", false, at(400)),
            ad_account("pc$", true, json!({})),
        ];
        let mut accounts = accounts;
        accounts[4].account.kind = AccountKind::Computer;
        let t = target("active-directory", accounts.clone());
        assert_eq!(subjects(&StaleAdminPassword, &t), ["acme/t1/old", "acme/t1/never"]);
        let t = target("ldap", accounts);
        assert_eq!(subjects(&StaleAdminPassword, &t), ["acme/t1/old"]);
    }
}
