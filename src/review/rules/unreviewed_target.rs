//! A target with no snapshot, or only an old one, was not reviewed: a review that silently skips
//! it would call a network clean that nobody looked at.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};

pub struct UnreviewedTarget;

impl Rule for UnreviewedTarget {
    fn id(&self) -> &'static str {
        "unreviewed-target"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "a target in the inventory has no discovery snapshot, or only one older than max_snapshot_age_days"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        let hint = format!("run `keyreeve discover --target {}`", t.target);
        let message = match &t.current {
            None => "never discovered: its accounts are not part of this review".to_string(),
            Some(s) => {
                let age = (ctx.now - s.taken_at).num_days();
                if age <= i64::from(ctx.policy.max_snapshot_age_days) {
                    return Vec::new();
                }
                format!(
                    "newest snapshot is {age} days old (taken {}; the policy allows {} days)",
                    s.taken_at.format("%Y-%m-%d"),
                    ctx.policy.max_snapshot_age_days
                )
            }
        };
        vec![Found {
            subject: t.target.clone(),
            message,
            hint,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::test_support::*;
    use chrono::{Duration, Utc};

    #[test]
    fn missing_and_old_snapshots_are_found_a_recent_one_is_not() {
        let mut t = target("cisco-ios", vec![]);
        assert!(subjects(&UnreviewedTarget, &t).is_empty());
        t.current.as_mut().unwrap().taken_at = Utc::now() - Duration::days(31);
        assert_eq!(subjects(&UnreviewedTarget, &t), ["acme/t1"]);
        t.current = None;
        assert_eq!(subjects(&UnreviewedTarget, &t), ["acme/t1"]);
    }
}
