//! Computers whose LAPS password expired and was not renewed: the machine is not rotating (LAPS
//! client broken, machine gone, or unable to reach a DC), so the password it holds is older than
//! the policy allows. Disabled computers are not counted. One finding per OU, with the count.

use super::laps_missing::{laps_computers, per_ou, some_names};
use super::{Found, ReviewContext, Rule, Severity, TargetReview};

pub struct LapsExpired;

impl Rule for LapsExpired {
    fn id(&self) -> &'static str {
        "laps-expired"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "enabled computers whose LAPS password expired and was not renewed (the machine is not rotating), per OU"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        let computers = laps_computers(t);
        // Judged at the snapshot's time: a review of an old snapshot must not call a password
        // expired that was renewed since.
        let at = t.current.as_ref().map(|s| s.taken_at).unwrap_or(ctx.now);
        per_ou(&computers, |c| c.expires().is_some_and(|e| e < at))
            .into_iter()
            .map(|(ou, (total, expired))| Found {
                subject: format!("{}/{ou}", t.target),
                message: format!(
                    "{} of {total} enabled Windows computers in {ou} hold a LAPS password past its expiration: {}",
                    expired.len(),
                    some_names(&expired)
                ),
                hint: "check that these machines are on, reach a DC and run the LAPS client (event log \
                       LAPS/Operational); remove computer objects of machines that are gone"
                    .into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::laps_missing::tests::{computer, laps_target};
    use super::*;
    use crate::review::test_support::*;

    #[test]
    fn expired_and_enabled_only() {
        let desks = "OU=Desks,DC=lab,DC=test";
        let servers = "OU=Servers,DC=lab,DC=test";
        let past = Some("2020-01-01T00:00:00+00:00");
        let t = laps_target(&[
            computer("WS1", desks, Some("Windows 11 Pro"), true, past),
            computer(
                "WS2",
                desks,
                Some("Windows 11 Pro"),
                true,
                Some("2099-01-01T00:00:00+00:00"),
            ),
            computer("WS3", desks, Some("Windows 11 Pro"), true, None),
            computer("OLD", servers, Some("Windows Server 2012"), false, past),
        ]);
        assert_eq!(subjects(&LapsExpired, &t), [format!("acme/t1/{desks}")]);
    }
}
