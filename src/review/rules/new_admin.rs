//! An account that holds admin rights now and did not when the baseline snapshot was taken: every
//! new admin should match an approved change. The heart of "what changed since the last review".

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::same_account;

pub struct NewAdmin;

impl Rule for NewAdmin {
    fn id(&self) -> &'static str {
        "new-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "an account holds admin rights that it did not hold in the baseline snapshot"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        let Some(baseline) = &t.baseline else {
            return Vec::new();
        };
        t.accounts()
            .iter()
            .filter(|a| a.account.admin)
            .filter_map(|a| {
                let before = baseline.accounts.iter().find(|b| same_account(a, b));
                let message = match before {
                    Some(b) if b.account.admin => return None,
                    Some(b) => format!(
                        "admin since {} ({}; was: {})",
                        baseline.taken_at.format("%Y-%m-%d %H:%M UTC"),
                        a.account.privilege,
                        b.account.privilege
                    ),
                    None => format!(
                        "new account with admin rights since {} ({})",
                        baseline.taken_at.format("%Y-%m-%d %H:%M UTC"),
                        a.account.privilege
                    ),
                };
                Some(Found {
                    subject: t.subject(a),
                    message,
                    hint: "confirm a change request approved it; if not, remove the rights and investigate".into(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::snapshot::InVault;
    use crate::review::test_support::*;
    use chrono::{Duration, Utc};

    #[test]
    fn new_and_promoted_admins_against_the_baseline_only() {
        let mut t = target(
            "linux",
            vec![
                device_account("root", true, InVault::Yes),
                device_account("promoted", true, InVault::No),
                device_account("fresh", true, InVault::No),
                device_account("user", false, InVault::No),
            ],
        );
        assert!(subjects(&NewAdmin, &t).is_empty(), "no baseline, no changes");
        t.baseline = Some(snapshot(
            Utc::now() - Duration::days(30),
            vec![
                device_account("root", true, InVault::Yes),
                device_account("promoted", false, InVault::No),
            ],
        ));
        assert_eq!(subjects(&NewAdmin, &t), ["acme/t1/promoted", "acme/t1/fresh"]);
    }

    #[test]
    fn a_renamed_directory_admin_is_the_same_account_and_a_namesake_is_not() {
        use serde_json::json;
        let sid = |s: &str| json!({ "sid": s });
        let mut t = target(
            "active-directory",
            vec![
                ad_account("j.doe", true, sid("S-1-5-21-9-1104")),
                ad_account("ops", true, sid("S-1-5-21-9-1200")),
            ],
        );
        t.baseline = Some(snapshot(
            Utc::now() - Duration::days(30),
            vec![
                ad_account("jdoe", true, sid("S-1-5-21-9-1104")),
                // Deleted and re-created under the same name: another account.
                ad_account("ops", true, sid("S-1-5-21-9-1105")),
            ],
        ));
        assert_eq!(subjects(&NewAdmin, &t), ["acme/t1/ops"]);
    }
}
