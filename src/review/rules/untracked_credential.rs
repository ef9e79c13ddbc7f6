//! A vault entry whose target is not in the inventory: nobody will ever plan its rotation, verify
//! it or tell anyone it is due. What `vault set acme/printer1/admin` left before guided targets
//! existed, or a target removed from keyreeve.toml while its passwords stayed.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::due::{Assessed, Management};

pub struct UntrackedCredential;

impl Rule for UntrackedCredential {
    fn id(&self) -> &'static str {
        "untracked-credential"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "a vault entry whose target is not in the inventory: nobody will ever plan, verify or remind of it"
    }
    fn check(&self, _: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        Vec::new()
    }
    fn check_vault(&self, entries: &[Assessed], _: &ReviewContext<'_>) -> Vec<Found> {
        entries
            .iter()
            .filter(|e| e.management == Management::Untracked)
            .map(|e| Found {
                subject: e.path.clone(),
                message: format!(
                    "target `{}` is not in keyreeve.toml: this password is never planned, verified or reminded of",
                    e.target
                ),
                hint: format!(
                    "add the target (`kind = \"manual\"` with its category if a person changes it), or remove the entry with `keyreeve vault rm {}`",
                    e.path
                ),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn only_entries_whose_target_is_not_in_the_inventory() {
        let entries = super::super::rotation_overdue::tests::entries();
        let ctx_policy = crate::policy::ReviewPolicy::default();
        let ctx = ReviewContext {
            now: Utc::now(),
            policy: &ctx_policy,
        };
        let found = UntrackedCredential.check_vault(&entries, &ctx);
        let subjects: Vec<&str> = found.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects, ["acme/gone/admin"]);
        assert!(found[0].hint.contains("kind = \"manual\""));
    }
}
