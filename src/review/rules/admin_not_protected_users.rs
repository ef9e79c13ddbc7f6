//! A privileged user outside Protected Users: its credentials may be cached on every machine it
//! logs on to, it may use NTLM, RC4 and long-lived tickets. Protected Users removes all of that for
//! people (not for service or computer accounts, which it would break).

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::connector::AccountKind;
use crate::review::{disabled, is_krbtgt, yes};

pub struct AdminNotProtectedUsers;

impl Rule for AdminNotProtectedUsers {
    fn id(&self) -> &'static str {
        "admin-not-protected-users"
    }
    fn severity(&self) -> Severity {
        Severity::Low
    }
    fn summary(&self) -> &'static str {
        "a privileged person's account not in Protected Users (cached credentials, NTLM, RC4 stay possible)"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        if !t.is_active_directory() {
            return Vec::new();
        }
        t.accounts()
            .iter()
            // People only: Protected Users breaks service accounts (no delegation, no NTLM).
            .filter(|a| a.account.admin && !disabled(a) && a.account.kind == AccountKind::User && !is_krbtgt(a))
            .filter(|a| !yes(a, "protected_user"))
            .map(|a| Found {
                subject: t.subject(a),
                message: "privileged and not in Protected Users".into(),
                hint: "add the account to Protected Users (after checking it needs no NTLM or delegation)".into(),
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
    fn privileged_people_outside_protected_users() {
        let t = target(
            "active-directory",
            vec![
                ad_account("bob", true, json!({})),
                ad_account("prot", true, json!({"protected_user": true})),
                kind(ad_account("svc", true, json!({})), AccountKind::Service),
                ad_account("user", false, json!({})),
                ad_account("off", true, json!({"flags": ["disabled"]})),
            ],
        );
        assert_eq!(subjects(&AdminNotProtectedUsers, &t), ["acme/t1/bob"]);
    }
}
