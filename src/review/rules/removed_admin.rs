//! An account that held admin rights in the baseline snapshot and no longer does (or is gone):
//! usually good news, but a reviewer confirms it was meant, and the vault may still hold its entry.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::same_account;

pub struct RemovedAdmin;

impl Rule for RemovedAdmin {
    fn id(&self) -> &'static str {
        "removed-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Info
    }
    fn summary(&self) -> &'static str {
        "an account held admin rights in the baseline snapshot and no longer does"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        let (Some(baseline), Some(_)) = (&t.baseline, &t.current) else {
            return Vec::new();
        };
        baseline
            .accounts
            .iter()
            .filter(|b| b.account.admin)
            .filter_map(|b| {
                let now = t.accounts().iter().find(|a| same_account(a, b));
                let message = match now {
                    Some(a) if a.account.admin => return None,
                    Some(a) => format!(
                        "no longer an admin ({}; was: {})",
                        a.account.privilege, b.account.privilege
                    ),
                    None => format!("gone; it was an admin ({})", b.account.privilege),
                };
                Some(Found {
                    subject: t.subject(b),
                    message,
                    hint: "confirm the change was meant; `keyreeve vault rm` its entry once it is no longer needed"
                        .into(),
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
    fn demoted_and_gone_admins() {
        let mut t = target(
            "linux",
            vec![
                device_account("root", true, InVault::Yes),
                device_account("demoted", false, InVault::No),
            ],
        );
        t.baseline = Some(snapshot(
            Utc::now() - Duration::days(30),
            vec![
                device_account("root", true, InVault::Yes),
                device_account("demoted", true, InVault::No),
                device_account("gone", true, InVault::No),
                device_account("was-user", false, InVault::No),
            ],
        ));
        assert_eq!(subjects(&RemovedAdmin, &t), ["acme/t1/demoted", "acme/t1/gone"]);
        t.current = None;
        assert!(
            subjects(&RemovedAdmin, &t).is_empty(),
            "no snapshot now: unreviewed, not removed"
        );
    }
}
