//! A privileged directory account with a service principal name: any domain user can ask for a
//! Kerberos ticket encrypted with its password and crack it offline (Kerberoasting). For an admin,
//! that is the shortest path to the domain.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::strings;

pub struct KerberoastableAdmin;

impl Rule for KerberoastableAdmin {
    fn id(&self) -> &'static str {
        "kerberoastable-admin"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "an enabled privileged directory user with a servicePrincipalName, open to Kerberoasting"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && a.account.enabled)
            .filter(|a| a.account.kind != crate::connector::AccountKind::ManagedServiceAccount)
            .filter_map(|a| {
                let spns = strings(a, "service_principal_names");
                (!spns.is_empty()).then(|| Found {
                    subject: t.subject(a),
                    message: format!(
                        "privileged and has SPNs ({}): its password can be cracked offline",
                        spns.join(", ")
                    ),
                    hint: "move the service to a group managed service account, or take the account out of \
                           the privileged groups and give it a long random password"
                        .into(),
                })
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
    fn privileged_enabled_users_with_spns() {
        let t = target(
            "active-directory",
            vec![
                ad_account(
                    "svc-sql",
                    true,
                    json!({"service_principal_names": ["MSSQLSvc/db1:1433"]}),
                ),
                ad_account("svc-web", false, json!({"service_principal_names": ["HTTP/web1"]})),
                ad_account("alice", true, json!({})),
                ad_account(
                    "svc-old",
                    true,
                    json!({"service_principal_names": ["HTTP/x"], "flags": ["disabled"]}),
                ),
            ],
        );
        assert_eq!(subjects(&KerberoastableAdmin, &t), ["acme/t1/svc-sql"]);
    }
}
