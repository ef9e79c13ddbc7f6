//! An enabled computer account with neither a logon nor a password change for a long time: the
//! machine is gone or broken, but its account still authenticates for whoever has its password
//! (an old disk image, a decommissioned laptop). Domain controllers are left to other checks.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{domain, parse_time};

pub struct StaleComputer;

impl Rule for StaleComputer {
    fn id(&self) -> &'static str {
        "stale-computer"
    }
    fn severity(&self) -> Severity {
        Severity::Low
    }
    fn summary(&self) -> &'static str {
        "an enabled computer with no logon and no password change for [review] stale_computer_days (90)"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        let Some(d) = domain(t) else { return Vec::new() };
        let limit = i64::from(ctx.policy.stale_computer_days);
        d.computers
            .iter()
            .filter(|c| c.enabled && !c.domain_controller)
            .filter_map(|c| {
                let last = [c.last_logon.as_deref(), c.pwd_last_set.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter_map(parse_time)
                    .max();
                let seen = match last {
                    Some(at) if (ctx.now - at).num_days() <= limit => return None,
                    Some(at) => format!(
                        "last seen {} ({} days ago)",
                        at.format("%Y-%m-%d"),
                        (ctx.now - at).num_days()
                    ),
                    None => "never logged on, password never set".into(),
                };
                Some(Found {
                    subject: format!("{}/{}", t.target, c.name),
                    message: format!("enabled computer in {}: {seen}", c.ou()),
                    hint: "disable it (then delete it after a grace period) if the machine is gone".into(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ldap::domain::{Computer, DomainFacts};
    use crate::review::test_support::*;

    fn computer(name: &str, days_ago: Option<i64>, enabled: bool, dc: bool) -> Computer {
        Computer {
            name: name.into(),
            dn: format!("CN={name},OU=Desk,DC=lab,DC=test"),
            enabled,
            domain_controller: dc,
            last_logon: days_ago.map(|d| (chrono::Utc::now() - chrono::Duration::days(d)).to_rfc3339()),
            ..Computer::default()
        }
    }

    #[test]
    fn enabled_non_dc_computers_past_the_limit() {
        let d = DomainFacts {
            computers: vec![
                computer("old$", Some(200), true, false),
                computer("never$", None, true, false),
                computer("fresh$", Some(3), true, false),
                computer("off$", Some(400), false, false),
                computer("DC1$", Some(400), true, true),
            ],
            ..DomainFacts::default()
        };
        assert_eq!(
            subjects(&StaleComputer, &domain_target(vec![], d)),
            ["acme/t1/old$", "acme/t1/never$"]
        );
    }
}
