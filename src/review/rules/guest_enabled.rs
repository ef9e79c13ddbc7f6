//! The domain's Guest account (RID 501) is enabled: anyone may log on without a password of
//! their own, and reach whatever Everyone may.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::domain;

pub struct GuestEnabled;

impl Rule for GuestEnabled {
    fn id(&self) -> &'static str {
        "guest-enabled"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "the domain's Guest account (RID 501) is enabled"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        match domain(t).and_then(|d| d.guest.as_ref()) {
            Some(g) if g.enabled => vec![Found {
                subject: format!("{}/{}", t.target, g.name),
                message: "the Guest account is enabled".into(),
                hint: "disable the Guest account".into(),
            }],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ldap::domain::{DomainFacts, Guest};
    use crate::review::test_support::*;

    #[test]
    fn only_an_enabled_guest() {
        let with = |enabled| DomainFacts {
            guest: Some(Guest {
                name: "Guest".into(),
                enabled,
            }),
            ..DomainFacts::default()
        };
        assert_eq!(
            subjects(&GuestEnabled, &domain_target(vec![], with(true))),
            ["acme/t1/Guest"]
        );
        assert!(subjects(&GuestEnabled, &domain_target(vec![], with(false))).is_empty());
    }
}
