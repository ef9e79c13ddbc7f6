//! A privileged directory account with a service principal name: any domain user can ask for a
//! Kerberos ticket encrypted with its password and crack it offline (Kerberoasting). For an admin,
//! that is the shortest path to the domain.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, has_chosen_password, strings, text};

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
            .filter(|a| a.account.admin && !disabled(a) && has_chosen_password(a))
            // krbtgt has SPNs too, but no one can ask for a service ticket to it.
            .filter(|a| !text(a, "sid").is_some_and(|sid| sid.ends_with("-502")))
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
    use crate::connector::AccountKind;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn privileged_users_with_spns_but_not_computers_msas_krbtgt_or_disabled_ones() {
        let spn = |s: &str| json!({ "service_principal_names": [s] });
        let t = target(
            "active-directory",
            vec![
                ad_account("svc-sql", true, spn("MSSQLSvc/db1:1433")),
                ad_account("svc-web", false, spn("HTTP/web1")),
                ad_account("alice", true, json!({})),
                ad_account(
                    "svc-old",
                    true,
                    json!({"service_principal_names": ["HTTP/x"], "flags": ["disabled"]}),
                ),
                ad_account(
                    "locked",
                    true,
                    json!({"service_principal_names": ["HTTP/l"], "flags": ["locked"]}),
                ),
                ad_account(
                    "krbtgt",
                    true,
                    json!({"service_principal_names": ["kadmin/changepw"], "sid": "S-1-5-21-1-2-3-502"}),
                ),
                kind(
                    ad_account("gmsa$", true, spn("HTTP/g")),
                    AccountKind::ManagedServiceAccount,
                ),
                kind(ad_account("ca$", true, spn("HOST/ca")), AccountKind::Computer),
            ],
        );
        assert_eq!(
            subjects(&KerberoastableAdmin, &t),
            ["acme/t1/svc-sql", "acme/t1/locked"]
        );
    }
}
