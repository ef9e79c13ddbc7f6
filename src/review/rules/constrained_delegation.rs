//! Who may delegate to what: constrained delegation (msDS-AllowedToDelegateTo, with protocol
//! transition when TRUSTED_TO_AUTH_FOR_DELEGATION is set) and resource-based delegation
//! (msDS-AllowedToActOnBehalfOfOtherIdentity). Not wrong in itself, but a reviewer needs the list:
//! each is a path from one service to another as any user.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{account_type, disabled, flags, strings, yes};

pub struct ConstrainedDelegation;

impl Rule for ConstrainedDelegation {
    fn id(&self) -> &'static str {
        "constrained-delegation"
    }
    fn severity(&self) -> Severity {
        Severity::Info
    }
    fn summary(&self) -> &'static str {
        "who may delegate to what: msDS-AllowedToDelegateTo and resource-based delegation, listed for the reviewer"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        let mut out = Vec::new();
        for a in t.accounts().iter().filter(|a| !disabled(a)) {
            let to = strings(a, "allowed_to_delegate_to");
            if !to.is_empty() {
                let transition = if flags(a).contains(&"trusted-to-auth-for-delegation") {
                    " with protocol transition (any user, no password needed)"
                } else {
                    ""
                };
                out.push(Found {
                    subject: t.subject(a),
                    message: format!("{} may delegate to {}{transition}", account_type(a), to.join(", ")),
                    hint:
                        "confirm each service is still needed; remove protocol transition where Kerberos logons suffice"
                            .into(),
                });
            }
            if yes(a, "resource_based_delegation") {
                out.push(Found {
                    subject: t.subject(a),
                    message: format!(
                        "{} lets other accounts delegate to it (msDS-AllowedToActOnBehalfOfOtherIdentity)",
                        account_type(a)
                    ),
                    hint: "check who is listed and who may write that attribute (a common escalation path)".into(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn constrained_and_resource_based_delegation_listed() {
        let t = target(
            "active-directory",
            vec![
                ad_account("web", false, json!({"allowed_to_delegate_to": ["cifs/fs1.lab.test"]})),
                ad_account("fs1$", false, json!({"resource_based_delegation": true})),
                ad_account("plain", false, json!({})),
                ad_account(
                    "off",
                    false,
                    json!({"allowed_to_delegate_to": ["x/y"], "flags": ["disabled"]}),
                ),
            ],
        );
        assert_eq!(subjects(&ConstrainedDelegation, &t), ["acme/t1/web", "acme/t1/fs1$"]);
    }
}
