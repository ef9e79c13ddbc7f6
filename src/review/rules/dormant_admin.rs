//! An enabled Active Directory admin that has not logged on for a long time (or ever): an unused
//! account with admin rights is all risk and no use, and nobody would notice it being used.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::connector::AccountKind;
use crate::review::{time, When};

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
        if t.kind != "active-directory" {
            return Vec::new();
        }
        let max_days = i64::from(ctx.policy.dormant_admin_days);
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && a.account.enabled)
            .filter(|a| matches!(a.account.kind, AccountKind::User | AccountKind::Service))
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
    use crate::review::test_support::*;
    use chrono::{Duration, Utc};
    use serde_json::json;

    #[test]
    fn long_unused_or_never_used_ad_admins() {
        let at = |days: i64| json!({"last_logon": (Utc::now() - Duration::days(days)).to_rfc3339()});
        let accounts = vec![
            ad_account("idle", true, at(120)),
            ad_account("busy", true, at(2)),
            ad_account("never", true, json!({})),
            ad_account("gone", true, json!({"flags": ["disabled"]})),
            ad_account("user", false, json!({})),
            ad_account("pc$", true, json!({})),
        ];
        let mut accounts = accounts;
        accounts[5].account.kind = AccountKind::Computer;
        assert_eq!(
            subjects(&DormantAdmin, &target("active-directory", accounts.clone())),
            ["acme/t1/idle", "acme/t1/never"]
        );
        assert!(subjects(&DormantAdmin, &target("ldap", accounts)).is_empty());
    }
}
