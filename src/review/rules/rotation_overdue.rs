//! A vault entry of any kind (a router, a printer changed by hand, a web portal) whose password is
//! older than its policy's max age: the same due rule as `plan --due`, seen by the reviewer with
//! the kind and category, so that "3 printers, 1 web portal overdue" is visible without keys.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::due::Assessed;

pub struct RotationOverdue;

impl Rule for RotationOverdue {
    fn id(&self) -> &'static str {
        "rotation-overdue"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "a vault entry of any kind (guided, scripted or automatic) older than its policy's max_age_days"
    }
    fn check(&self, _: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        Vec::new()
    }
    fn check_vault(&self, entries: &[Assessed], _: &ReviewContext<'_>) -> Vec<Found> {
        entries
            .iter()
            .filter(|e| e.overdue() && !e.pending)
            .map(|e| {
                let since = match e.rotated_at {
                    Some(at) => format!("last rotated {}", at.format("%Y-%m-%d")),
                    None => format!("never rotated, stored {}", e.created.format("%Y-%m-%d")),
                };
                let kind = e.kind.as_deref().unwrap_or("not in the inventory");
                Found {
                    subject: e.path.clone(),
                    message: format!(
                        "{} ({}, {kind}): {since}, {} days ago; the policy allows {}",
                        e.what(),
                        e.management.as_str(),
                        e.age_days,
                        e.max_age_days
                    ),
                    hint: match e.kind {
                        Some(_) => format!("rotate it: `keyreeve plan --account {}` then `keyreeve apply`", e.path),
                        None => {
                            "add its target to keyreeve.toml (kind = \"manual\" if a person changes it), then rotate it"
                                .into()
                        }
                    },
                }
            })
            .collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use crate::policy::Policy;
    use crate::review::due::assess;
    use crate::review::vault_index::{IndexedEntry, VaultIndex};
    use chrono::{Duration, Utc};

    pub(crate) fn entries() -> Vec<Assessed> {
        let inv = Inventory::parse(
            "[clients.acme]\n[[clients.acme.targets]]\nname = \"p1\"\nkind = \"manual\"\ncategory = \"printer\"\naccounts = [\"admin\"]\n\
             [[clients.acme.targets]]\nname = \"portal\"\nkind = \"manual\"\ncategory = \"web-portal\"\naccounts = [\"admin\"]\n\
             [[clients.acme.targets]]\nname = \"rtr\"\nkind = \"cisco-ios\"\naddress = \"h\"\nlogin = \"admin\"\n",
            std::path::Path::new("keyreeve.toml"),
        )
        .unwrap();
        let now = Utc::now();
        let entry = |key: &str, created_days: i64, rotated_days: Option<i64>| IndexedEntry {
            key: key.into(),
            created: now - Duration::days(created_days),
            rotated_at: rotated_days.map(|d| now - Duration::days(d)),
            verified_at: None,
            revealed_at: None,
            pending: false,
        };
        let index = VaultIndex {
            client: "acme".into(),
            written_at: now,
            entries: vec![
                entry("p1/admin", 400, Some(120)),
                entry("p1/ops", 400, None),
                entry("portal/admin", 95, None),
                entry("rtr/admin", 400, Some(10)),
                entry("gone/admin", 400, None),
                entry("portal/fresh", 5, None),
            ],
        };
        let mut policy = Policy::default();
        policy
            .add_text(
                "[[rules]]\ncategory = \"web-portal\"\nmax_age_days = 365\n",
                std::path::Path::new("p.toml"),
            )
            .unwrap();
        assess(&inv, &policy, &index, now)
    }

    #[test]
    fn overdue_entries_of_every_kind_show_what_they_are() {
        let entries = entries();
        let ctx_policy = crate::policy::ReviewPolicy::default();
        let ctx = ReviewContext {
            now: Utc::now(),
            policy: &ctx_policy,
        };
        let found = RotationOverdue.check_vault(&entries, &ctx);
        let subjects: Vec<&str> = found.iter().map(|f| f.subject.as_str()).collect();
        // portal/admin is 95 days old but web portals may be 365: not overdue.
        assert_eq!(subjects, ["acme/p1/admin", "acme/p1/ops", "acme/gone/admin"]);
        assert!(
            found[0].message.starts_with("printer (guided, manual): last rotated ")
                && found[0].message.ends_with("120 days ago; the policy allows 90"),
            "{}",
            found[0].message
        );
        assert!(
            found[2]
                .message
                .starts_with("untracked (untracked, not in the inventory)"),
            "{}",
            found[2].message
        );
        assert_eq!(crate::review::due::overdue_tally(&entries), "2 printer, 1 untracked");
    }
}
