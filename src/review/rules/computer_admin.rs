//! A computer account, a (group) managed service account or a principal of another domain holding
//! admin rights: whoever controls that machine, service host or foreign domain is a domain admin,
//! and no person's review of the group ever sees a name they know. A tier-0 finding.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::connector::AccountKind;
use crate::review::{account_type, disabled, text};

pub struct ComputerAdmin;

impl Rule for ComputerAdmin {
    fn id(&self) -> &'static str {
        "computer-admin"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "a computer account, gMSA/sMSA or foreign principal holding admin rights (whoever controls it is an admin)"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a))
            .filter(|a| {
                matches!(
                    a.account.kind,
                    AccountKind::Computer | AccountKind::ManagedServiceAccount | AccountKind::ForeignPrincipal
                )
            })
            // Everyone, Authenticated Users, ...: `broad-principal-admin` says it, louder.
            .filter(|a| text(a, "well_known_name").is_none())
            .map(|a| Found {
                subject: t.subject(a),
                message: format!(
                    "{} account with admin rights ({})",
                    account_type(a),
                    a.account.privilege
                ),
                hint: "take it out of the privileged groups; grant the service or machine only the rights it needs"
                    .into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn computers_msas_and_foreign_admins_but_not_people_broad_principals_or_disabled_ones() {
        let t = target(
            "active-directory",
            vec![
                kind(ad_account("ws1$", true, json!({})), AccountKind::Computer),
                kind(ad_account("gmsa$", true, json!({})), AccountKind::ManagedServiceAccount),
                kind(
                    ad_account("S-1-5-21-9-9-9-1104", true, json!({})),
                    AccountKind::ForeignPrincipal,
                ),
                kind(
                    ad_account("S-1-5-11", true, json!({"well_known_name": "Authenticated Users"})),
                    AccountKind::ForeignPrincipal,
                ),
                kind(
                    ad_account("old$", true, json!({"flags": ["disabled"]})),
                    AccountKind::Computer,
                ),
                kind(ad_account("ws2$", false, json!({})), AccountKind::Computer),
                ad_account("alice", true, json!({})),
            ],
        );
        assert_eq!(
            subjects(&ComputerAdmin, &t),
            ["acme/t1/ws1$", "acme/t1/gmsa$", "acme/t1/S-1-5-21-9-9-9-1104"]
        );
    }
}
