//! An account with sIDHistory: it carries the rights of SIDs from another (usually migrated)
//! domain. Left over after a migration it is unreviewable access; with a privileged SID it is a
//! classic persistence trick.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{account_type, disabled, number};

pub struct SidHistory;

impl Rule for SidHistory {
    fn id(&self) -> &'static str {
        "sid-history"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "an enabled account with sIDHistory (rights of other SIDs, left from a migration or planted)"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| !disabled(a))
            .filter_map(|a| {
                let n = number(a, "sid_history").filter(|n| *n > 0)?;
                Some(Found {
                    subject: t.subject(a),
                    message: format!("{} with {n} SID(s) in sIDHistory", account_type(a)),
                    hint: "clear sIDHistory once the migration is over (and enable SID filtering on trusts)".into(),
                })
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
    fn accounts_with_sid_history() {
        let t = target(
            "active-directory",
            vec![
                ad_account("migrated", false, json!({"sid_history": 1})),
                ad_account("plain", true, json!({})),
                ad_account("off", false, json!({"sid_history": 2, "flags": ["disabled"]})),
            ],
        );
        assert_eq!(subjects(&SidHistory, &t), ["acme/t1/migrated"]);
    }
}
