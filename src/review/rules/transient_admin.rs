//! An account that held admin rights at some point between the baseline and now, but neither at
//! the baseline nor now: granted and taken away again within the review's window. Comparing only
//! the two ends would miss it, and it is what someone covering their tracks leaves behind.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::same_account;

pub struct TransientAdmin;

impl Rule for TransientAdmin {
    fn id(&self) -> &'static str {
        "transient-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "an account held admin rights between the baseline and now, but holds them at neither end"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        let (Some(baseline), Some(current)) = (&t.baseline, &t.current) else {
            return Vec::new();
        };
        let admin_in = |accounts: &[crate::review::snapshot::AccountRecord], who| {
            accounts.iter().any(|a| a.account.admin && same_account(a, who))
        };
        let mut out: Vec<Found> = Vec::new();
        for (i, snapshot) in t.between.iter().enumerate() {
            for a in snapshot.accounts.iter().filter(|a| a.account.admin) {
                let subject = t.subject(a);
                if admin_in(&baseline.accounts, a)
                    || admin_in(&current.accounts, a)
                    || out.iter().any(|f| f.subject == subject)
                {
                    continue;
                }
                // Seen as an admin from this snapshot until the first one where it is not.
                let until = t.between[i + 1..]
                    .iter()
                    .chain(std::iter::once(current))
                    .find(|s| !admin_in(&s.accounts, a))
                    .map(|s| s.taken_at);
                out.push(Found {
                    subject,
                    message: format!(
                        "admin ({}) from {} until {}, and not before or now",
                        a.account.privilege,
                        snapshot.taken_at.format("%Y-%m-%d %H:%M UTC"),
                        until
                            .map(|u| u.format("%Y-%m-%d %H:%M UTC").to_string())
                            .unwrap_or_default()
                    ),
                    hint: "find out who granted and removed the rights, and what the account did meanwhile".into(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::snapshot::InVault;
    use crate::review::test_support::*;
    use chrono::{Duration, Utc};

    #[test]
    fn admins_seen_only_between_the_two_ends() {
        let now = Utc::now();
        let admin = |name: &str| device_account(name, true, InVault::No);
        let user = |name: &str| device_account(name, false, InVault::No);
        let mut t = target("linux", vec![admin("root"), user("eve"), admin("kept")]);
        t.baseline = Some(snapshot(now - Duration::days(20), vec![admin("root"), user("eve")]));
        t.between = vec![
            snapshot(
                now - Duration::days(15),
                vec![admin("root"), admin("eve"), admin("kept")],
            ),
            snapshot(
                now - Duration::days(10),
                vec![admin("root"), admin("eve"), admin("kept"), admin("tmp")],
            ),
            snapshot(now - Duration::days(5), vec![admin("root"), user("eve"), admin("kept")]),
        ];
        assert_eq!(subjects(&TransientAdmin, &t), ["acme/t1/eve", "acme/t1/tmp"]);
        t.between.clear();
        assert!(subjects(&TransientAdmin, &t).is_empty());
    }
}
