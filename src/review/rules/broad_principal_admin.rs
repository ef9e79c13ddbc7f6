//! A well-known principal holding admin rights: Everyone, Authenticated Users, Anonymous Logon
//! or Interactive in a privileged group makes every such user an admin. The roster shows it as one
//! line, which is exactly how it slips through a review.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::text;

pub struct BroadPrincipalAdmin;

/// In some built-in groups by default, and meant to be: the domain controllers themselves.
const EXPECTED: &[&str] = &["Enterprise Domain Controllers"];

impl Rule for BroadPrincipalAdmin {
    fn id(&self) -> &'static str {
        "broad-principal-admin"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "a well-known principal (Everyone, Authenticated Users, Anonymous Logon, ...) holds admin rights"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin)
            .filter_map(|a| {
                let who = text(a, "well_known_name").filter(|w| !EXPECTED.contains(w))?;
                Some(Found {
                    subject: t.subject(a),
                    message: format!(
                        "{who} holds admin rights ({}): every account it covers is an admin",
                        a.account.privilege
                    ),
                    hint: "remove it from the group at once; add the people who need the rights one by one".into(),
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
    fn well_known_principals_in_privileged_groups() {
        let principal = |sid: &str, name: &str, admin: bool| {
            kind(
                ad_account(sid, admin, json!({ "well_known_name": name, "sid": sid })),
                AccountKind::ForeignPrincipal,
            )
        };
        let t = target(
            "active-directory",
            vec![
                principal("S-1-5-11", "Authenticated Users", true),
                principal("S-1-5-9", "Enterprise Domain Controllers", true),
                principal("S-1-1-0", "Everyone", false),
                ad_account("alice", true, json!({})),
            ],
        );
        assert_eq!(subjects(&BroadPrincipalAdmin, &t), ["acme/t1/S-1-5-11"]);
    }
}
