//! The last discovery of a target failed: the review rests on an older snapshot (or none), and
//! whatever changed since is unseen. Said outright, so that a stale picture never passes for a
//! current one.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};

pub struct DiscoveryFailed;

impl Rule for DiscoveryFailed {
    fn id(&self) -> &'static str {
        "discovery-failed"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "the last discovery of a target failed, so its part of the review rests on an older snapshot or none"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        let Some(failure) = &t.failed_since else {
            return Vec::new();
        };
        let rests_on = match &t.current {
            Some(s) => format!(
                "this review uses the snapshot of {}",
                s.taken_at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => "there is no earlier snapshot".to_string(),
        };
        vec![Found {
            subject: t.target.clone(),
            message: format!(
                "discovery failed on {}: {}; {rests_on}",
                failure.taken_at.format("%Y-%m-%d %H:%M UTC"),
                failure.error.as_deref().unwrap_or("no reason recorded")
            ),
            hint: failure
                .hint
                .clone()
                .unwrap_or_else(|| format!("fix the cause, then `keyreeve discover --target {}`", t.target)),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::test_support::*;
    use chrono::Utc;

    #[test]
    fn only_a_failure_after_the_snapshot_in_use() {
        let mut t = target("junos", vec![]);
        assert!(subjects(&DiscoveryFailed, &t).is_empty());
        let mut failure = snapshot(Utc::now(), vec![]);
        failure.error = Some("acme/t1: timed out".into());
        t.failed_since = Some(failure);
        assert_eq!(subjects(&DiscoveryFailed, &t), ["acme/t1"]);
    }
}
