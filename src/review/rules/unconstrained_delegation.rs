//! An account or computer trusted for (unconstrained) delegation that is not a domain controller:
//! every user who authenticates to it leaves a forwardable TGT there, so whoever controls it can
//! act as any of them, a domain admin included (printer-bug coercion makes that on demand).

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{account_type, disabled, flags, yes};

pub struct UnconstrainedDelegation;

impl Rule for UnconstrainedDelegation {
    fn id(&self) -> &'static str {
        "unconstrained-delegation"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "a non-DC account or computer trusted for unconstrained delegation (TRUSTED_FOR_DELEGATION)"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| !disabled(a) && !yes(a, "domain_controller"))
            .filter(|a| flags(a).contains(&"trusted-for-delegation"))
            .map(|a| Found {
                subject: t.subject(a),
                message: format!(
                    "{} trusted for unconstrained delegation: it receives the TGT of everyone who logs on to it",
                    account_type(a)
                ),
                hint: "switch to constrained (or resource-based) delegation to the services it needs, and mark \
                       admins \"sensitive and cannot be delegated\""
                    .into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::AccountKind;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn delegating_accounts_but_not_dcs_or_disabled_ones() {
        let deleg = json!({"flags": ["trusted-for-delegation"]});
        let t = target(
            "active-directory",
            vec![
                kind(ad_account("app1$", false, deleg.clone()), AccountKind::Computer),
                ad_account("svc_iis", false, deleg.clone()),
                kind(
                    ad_account(
                        "DC1$",
                        false,
                        json!({"flags": ["trusted-for-delegation"], "domain_controller": true}),
                    ),
                    AccountKind::Computer,
                ),
                ad_account("old", false, json!({"flags": ["trusted-for-delegation", "disabled"]})),
                ad_account("alice", true, json!({})),
            ],
        );
        assert_eq!(
            subjects(&UnconstrainedDelegation, &t),
            ["acme/t1/app1$", "acme/t1/svc_iis"]
        );
    }
}
