//! Enabled Windows computers (domain controllers aside) with no LAPS attribute at all: their local admin password is whatever
//! was set at imaging, often the same on every machine, and one stolen hash opens them all.
//! One finding per OU, with the count, so that a domain of thousands of desktops stays readable.

use std::collections::BTreeMap;

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::connector::ldap::laps::LapsComputer;

pub struct LapsMissing;

/// The LAPS state of every computer the target's newest snapshot holds.
pub(super) fn laps_computers(t: &TargetReview) -> Vec<LapsComputer> {
    t.accounts()
        .iter()
        .filter_map(|a| a.account.details.get("laps"))
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// The enabled Windows computers of each OU, and those of them `pick` selects.
pub(super) fn per_ou(
    computers: &[LapsComputer],
    pick: impl Fn(&LapsComputer) -> bool,
) -> BTreeMap<&str, (usize, Vec<&str>)> {
    let mut out: BTreeMap<&str, (usize, Vec<&str>)> = BTreeMap::new();
    for c in computers
        .iter()
        .filter(|c| c.enabled && c.is_windows() && !c.domain_controller)
    {
        let slot = out.entry(c.ou.as_str()).or_default();
        slot.0 += 1;
        if pick(c) {
            slot.1.push(c.computer.as_str());
        }
    }
    out.retain(|_, (_, picked)| !picked.is_empty());
    out
}

/// The first names of a list, and how many more there are.
pub(super) fn some_names(names: &[&str]) -> String {
    const SHOWN: usize = 20;
    let mut s = names.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

impl Rule for LapsMissing {
    fn id(&self) -> &'static str {
        "laps-missing"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "enabled Windows computers with no LAPS attribute (legacy or Windows LAPS), counted per OU"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        let computers = laps_computers(t);
        per_ou(&computers, |c| !c.has_laps())
            .into_iter()
            .map(|(ou, (total, missing))| Found {
                subject: format!("{}/{ou}", t.target),
                message: format!(
                    "{} of {total} enabled Windows computers in {ou} have no LAPS password: {}",
                    missing.len(),
                    some_names(&missing)
                ),
                hint: "apply a LAPS policy (Windows LAPS, or legacy LAPS with its client) to this OU; \
                       until then their local admin passwords are unmanaged"
                    .into(),
            })
            .collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::connector::ldap::laps::{LapsScheme, PasswordState};
    use crate::review::test_support::*;

    pub fn computer(name: &str, ou: &str, os: Option<&str>, enabled: bool, expires: Option<&str>) -> LapsComputer {
        LapsComputer {
            computer: name.into(),
            dn: format!("CN={name},{ou}"),
            ou: ou.into(),
            operating_system: os.map(Into::into),
            enabled,
            domain_controller: false,
            legacy: LapsScheme {
                expires: expires.map(Into::into),
                password: if expires.is_some() {
                    PasswordState::Readable
                } else {
                    PasswordState::Absent
                },
            },
            windows: LapsScheme {
                expires: None,
                password: PasswordState::Absent,
            },
        }
    }

    pub fn laps_target(computers: &[LapsComputer]) -> TargetReview {
        let mut accounts = vec![ad_account("alice", true, serde_json::json!({}))];
        for c in computers {
            accounts.push(crate::review::snapshot::AccountRecord {
                account: c.to_account_info(),
                in_vault: crate::review::snapshot::InVault::No,
                verified: None,
                verify_hint: None,
                flagged: false,
            });
        }
        target("active-directory", accounts)
    }

    #[test]
    fn counts_enabled_windows_computers_without_laps_per_ou() {
        let desks = "OU=Desks,DC=lab,DC=test";
        let t = laps_target(&[
            computer("WS1", desks, Some("Windows 11 Pro"), true, None),
            computer(
                "WS2",
                desks,
                Some("Windows 11 Pro"),
                true,
                Some("2099-01-01T00:00:00+00:00"),
            ),
            computer("OLD", desks, Some("Windows 10"), false, None),
            computer("NAS", desks, Some("Linux"), true, None),
            LapsComputer {
                domain_controller: true,
                ..computer("DC2", desks, Some("Windows Server 2022 Datacenter"), true, None)
            },
        ]);
        assert_eq!(subjects(&LapsMissing, &t), [format!("acme/t1/{desks}")]);
        let policy = crate::policy::ReviewPolicy::default();
        let ctx = ReviewContext {
            now: chrono::Utc::now(),
            policy: &policy,
        };
        let found = LapsMissing.check(&t, &ctx);
        assert!(
            found[0].message.starts_with("1 of 2 enabled Windows computers"),
            "{}",
            found[0].message
        );
        assert!(found[0].message.ends_with(": WS1"), "{}", found[0].message);
    }
}
