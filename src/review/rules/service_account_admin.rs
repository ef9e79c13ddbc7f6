//! A service account holding admin rights: its password sits in configuration files and
//! scheduled tasks on servers, is rarely changed, and is shared by whoever runs the service. An
//! account counts as a service account by SPN, by the policy's name patterns, OUs or description
//! patterns (`[directory]`); Backup Operators is as privileged as any other group here.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::connector::AccountKind;
use crate::review::{disabled, is_krbtgt, strings};

pub struct ServiceAccountAdmin;

impl Rule for ServiceAccountAdmin {
    fn id(&self) -> &'static str {
        "service-account-admin"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "a privileged service account (by SPN, name pattern, OU or description pattern of the policy's [directory])"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a) && !is_krbtgt(a))
            .filter(|a| matches!(a.account.kind, AccountKind::Service | AccountKind::User))
            .filter_map(|a| {
                let why = strings(a, "service_reasons");
                (!why.is_empty()).then(|| Found {
                    subject: t.subject(a),
                    message: format!(
                        "service account ({}) with admin rights ({})",
                        why.join(", "),
                        a.account.privilege
                    ),
                    hint: "give the service only the rights it needs (or a group managed service account), \
                           out of the privileged groups"
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
    fn privileged_service_accounts_by_any_reason_but_not_disabled_krbtgt_or_msas() {
        let t = target(
            "active-directory",
            vec![
                ad_account("svc_backup", true, json!({"service_reasons": ["name matches svc_*"]})),
                ad_account(
                    "sqlrun",
                    true,
                    json!({"service_reasons": ["description matches *service*"]}),
                ),
                ad_account("svc_web", false, json!({"service_reasons": ["name matches svc_*"]})),
                ad_account(
                    "svc_old",
                    true,
                    json!({"service_reasons": ["name matches svc_*"], "flags": ["disabled"]}),
                ),
                ad_account("alice", true, json!({})),
                ad_account(
                    "krbtgt",
                    true,
                    json!({"service_reasons": ["servicePrincipalName"], "sid": "S-1-5-21-1-2-3-502"}),
                ),
                kind(
                    ad_account(
                        "gmsa$",
                        true,
                        json!({"service_reasons": ["group managed service account"]}),
                    ),
                    AccountKind::ManagedServiceAccount,
                ),
            ],
        );
        assert_eq!(
            subjects(&ServiceAccountAdmin, &t),
            ["acme/t1/svc_backup", "acme/t1/sqlrun"]
        );
    }
}
