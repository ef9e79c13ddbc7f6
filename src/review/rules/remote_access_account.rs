//! Every enabled account that can reach the network from outside (msNPAllowDialin TRUE, or a
//! member of a remote-access group the policy names, not denied by an explicit FALSE): the
//! onboarding list asks for all of them, not only admins. Low for a plain account, high for an
//! admin (a phished admin password then opens the network from anywhere).

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, may_dial_in, remote_access_state, strings};

pub struct RemoteAccessAccount;

impl Rule for RemoteAccessAccount {
    fn id(&self) -> &'static str {
        "remote-access-account"
    }
    fn severity(&self) -> Severity {
        Severity::Low
    }
    fn summary(&self) -> &'static str {
        "an enabled account allowed to dial in / use the VPN (msNPAllowDialin TRUE or a remote-access group): low, high when an admin"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        self.graded(t, ctx).into_iter().map(|(f, _)| f).collect()
    }
    fn graded(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<(Found, Severity)> {
        t.accounts()
            .iter()
            .filter(|a| !disabled(a) && may_dial_in(a))
            .map(|a| {
                let how = format!(
                    "{}; {}",
                    remote_access_state(a).unwrap_or_default(),
                    strings(a, "remote_access_reasons").join(", ")
                );
                let (message, severity) = if a.account.admin {
                    (
                        format!(
                            "admin ({}) who can reach the network from outside: {how}",
                            a.account.privilege
                        ),
                        Severity::High,
                    )
                } else {
                    (format!("can reach the network from outside: {how}"), Severity::Low)
                };
                let found = Found {
                    subject: t.subject(a),
                    message,
                    hint: "confirm with the client that this account needs remote access; admins get a \
                           separate unprivileged account for it"
                        .into(),
                };
                (found, severity)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ReviewPolicy;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn allowed_accounts_graded_by_admin_rights_explicit_false_and_disabled_left_out() {
        let t = target(
            "active-directory",
            vec![
                ad_account(
                    "dial",
                    false,
                    json!({"remote_access_reasons": ["msNPAllowDialin TRUE"], "dial_in": true}),
                ),
                ad_account("vpnu", false, json!({"remote_access_reasons": ["member of VPN"]})),
                ad_account("boss", true, json!({"remote_access_reasons": ["member of VPN"]})),
                ad_account(
                    "denied",
                    false,
                    json!({"remote_access_reasons": ["member of VPN"], "dial_in": false}),
                ),
                ad_account(
                    "gone",
                    false,
                    json!({"remote_access_reasons": ["msNPAllowDialin TRUE"], "dial_in": true, "flags": ["disabled"]}),
                ),
                ad_account("plain", false, json!({})),
            ],
        );
        assert_eq!(
            graded(&RemoteAccessAccount, &t, &ReviewPolicy::default()),
            [
                ("acme/t1/dial".to_string(), Severity::Low),
                ("acme/t1/vpnu".to_string(), Severity::Low),
                ("acme/t1/boss".to_string(), Severity::High),
            ]
        );
    }
}
