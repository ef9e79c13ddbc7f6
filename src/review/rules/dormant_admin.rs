//! An enabled Active Directory admin that has not logged on for a long time (or ever): an unused
//! account with admin rights is all risk and no use, and nobody would notice it being used.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::inventory::TargetKind;
use crate::review::{disabled, has_chosen_password, time, When};

pub struct DormantAdmin;

impl Rule for DormantAdmin {
    fn id(&self) -> &'static str {
        "dormant-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Low
    }
    fn summary(&self) -> &'static str {
        "an enabled privileged Active Directory user with no logon in dormant_admin_days (or ever)"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        // Only AD keeps a logon time (lastLogonTimestamp, replicated, up to 14 days behind).
        if t.kind != TargetKind::ActiveDirectory.as_str() {
            return Vec::new();
        }
        let max_days = i64::from(ctx.policy.dormant_admin_days);
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a) && has_chosen_password(a))
            // A password set within the window means a new or freshly reset account: too young
            // to call unused.
            .filter(|a| !matches!(time(a, "pwd_last_set"), When::At(set) if (ctx.now - set).num_days() <= max_days))
            .filter_map(|a| {
                let message = match time(a, "last_logon") {
                    When::At(at) if (ctx.now - at).num_days() > max_days => format!(
                        "no logon since {} ({} days)",
                        at.format("%Y-%m-%d"),
                        (ctx.now - at).num_days()
                    ),
                    When::Never => "never logged on".into(),
                    _ => return None,
                };
                Some(Found {
                    subject: t.subject(a),
                    message,
                    hint: "disable it, or take it out of the privileged groups if nobody needs it".into(),
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
    fn long_unused_or_never_used_ad_admins_but_not_new_ones() {
        let ago = |days: i64| (Utc::now() - Duration::days(days)).to_rfc3339();
        let accounts = vec![
            ad_account("idle", true, json!({"last_logon": ago(120), "pwd_last_set": ago(300)})),
            ad_account("busy", true, json!({"last_logon": ago(2)})),
            ad_account("never", true, json!({})),
            ad_account("gone", true, json!({"flags": ["disabled"]})),
            ad_account("user", false, json!({})),
            kind(ad_account("pc$", true, json!({})), AccountKind::Computer),
            ad_account("new", true, json!({"pwd_last_set": ago(1)})),
        ];
        assert_eq!(
            subjects(&DormantAdmin, &target("active-directory", accounts.clone())),
            ["acme/t1/idle", "acme/t1/never"]
        );
        assert!(subjects(&DormantAdmin, &target("ldap", accounts)).is_empty());
    }
}
