//! krbtgt's password signs every Kerberos ticket of the domain: anyone who ever read it (a past
//! admin, a past compromise) can forge tickets ("golden tickets") until it is changed, twice.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{domain, parse_time};

pub struct KrbtgtPasswordOld;

impl Rule for KrbtgtPasswordOld {
    fn id(&self) -> &'static str {
        "krbtgt-password-old"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "krbtgt's password older than [review] krbtgt_max_password_age_days (180): forged tickets stay valid"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        let Some(krbtgt) = domain(t).and_then(|d| d.krbtgt.as_ref()) else {
            return Vec::new();
        };
        let limit = i64::from(ctx.policy.krbtgt_max_password_age_days);
        let age = match krbtgt.pwd_last_set.as_deref().and_then(parse_time) {
            Some(at) => {
                let days = (ctx.now - at).num_days();
                if days <= limit {
                    return Vec::new();
                }
                format!("{days} days old (set {})", at.format("%Y-%m-%d"))
            }
            None => "never set since the domain was created".to_string(),
        };
        vec![Found {
            subject: format!("{}/krbtgt", t.target),
            message: format!("krbtgt's password is {age}; the policy allows {limit} days"),
            hint: "reset krbtgt twice, at least 10 hours apart (replication and ticket lifetime), e.g. with \
                   Microsoft's New-KrbtgtKeys.ps1"
                .into(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ldap::domain::{DomainFacts, Krbtgt};
    use crate::review::test_support::*;

    fn facts(days_ago: Option<i64>) -> DomainFacts {
        DomainFacts {
            krbtgt: Some(Krbtgt {
                pwd_last_set: days_ago.map(|d| (chrono::Utc::now() - chrono::Duration::days(d)).to_rfc3339()),
            }),
            ..DomainFacts::default()
        }
    }

    /// Samba sets krbtgt's password at provisioning and cannot backdate it: ages are built here.
    #[test]
    fn old_or_never_set_krbtgt_is_flagged_a_recent_one_is_not() {
        assert_eq!(
            subjects(&KrbtgtPasswordOld, &domain_target(vec![], facts(Some(400)))),
            ["acme/t1/krbtgt"]
        );
        assert_eq!(
            subjects(&KrbtgtPasswordOld, &domain_target(vec![], facts(None))),
            ["acme/t1/krbtgt"]
        );
        assert!(subjects(&KrbtgtPasswordOld, &domain_target(vec![], facts(Some(179)))).is_empty());
        assert!(subjects(&KrbtgtPasswordOld, &target("active-directory", vec![])).is_empty());
    }
}
