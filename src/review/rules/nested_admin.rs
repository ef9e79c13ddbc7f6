//! An account that is an admin only through nested groups: it appears in no privileged group's
//! member list, so a review of those lists misses it. Shown with its path so that a reviewer sees
//! which group grants the rights.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::strings;

pub struct NestedAdmin;

impl Rule for NestedAdmin {
    fn id(&self) -> &'static str {
        "nested-admin"
    }
    fn severity(&self) -> Severity {
        Severity::Info
    }
    fn summary(&self) -> &'static str {
        "a directory account that holds admin rights only through nested groups"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| a.account.admin)
            .filter_map(|a| {
                let paths = strings(a, "paths");
                let hidden = !paths.is_empty() && paths.iter().all(|p| p.starts_with("via "));
                hidden.then(|| Found {
                    subject: t.subject(a),
                    message: format!("admin through nested groups only: {}", paths.join("; ")),
                    hint: "check that every group on the path is meant to grant admin rights".into(),
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
    fn only_accounts_whose_every_path_is_nested() {
        let t = target(
            "active-directory",
            vec![
                ad_account("hidden", true, json!({"paths": ["via app-admins -> Domain Admins"]})),
                ad_account("direct", true, json!({"paths": ["member of Domain Admins"]})),
                ad_account(
                    "both",
                    true,
                    json!({"paths": ["member of Administrators", "via ops -> Domain Admins"]}),
                ),
            ],
        );
        assert_eq!(subjects(&NestedAdmin, &t), ["acme/t1/hidden"]);
    }
}
