//! A privileged account that may also dial in or use the VPN: a phished admin password then opens
//! the network from anywhere. Remote access for admins should go through separate, lesser accounts.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, may_dial_in, strings};

pub struct DialInAdmin;

impl Rule for DialInAdmin {
    fn id(&self) -> &'static str {
        "dial-in-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "an enabled privileged account that may dial in or use the VPN (msNPAllowDialin, remote-access groups)"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a) && may_dial_in(a))
            .map(|a| Found {
                subject: t.subject(a),
                message: format!(
                    "admin ({}) with remote access ({})",
                    a.account.privilege,
                    strings(a, "remote_access_reasons").join(", ")
                ),
                hint: "give the person a separate unprivileged account for remote access".into(),
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
    fn privileged_accounts_with_remote_access() {
        let remote = json!({"remote_access_reasons": ["msNPAllowDialin TRUE"]});
        let t = target(
            "active-directory",
            vec![
                ad_account("bob", true, remote.clone()),
                ad_account("carol", false, remote),
                ad_account("dave", true, json!({})),
                ad_account(
                    "erin",
                    true,
                    json!({"remote_access_reasons": ["group VPN"], "flags": ["disabled"]}),
                ),
            ],
        );
        assert_eq!(subjects(&DialInAdmin, &t), ["acme/t1/bob"]);
    }
}
