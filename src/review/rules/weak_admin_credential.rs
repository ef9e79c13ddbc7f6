//! An admin whose credential is weaker than its password suggests: a directory account that needs
//! no password, stores it reversibly, or skips Kerberos pre-authentication (AS-REP roasting); a
//! device account whose password is kept in a reversible form (Cisco type 7 or clear text) or that
//! has none at all.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::flags;

pub struct WeakAdminCredential;

const WEAK_FLAGS: &[(&str, &str)] = &[
    ("password-not-required", "may have an empty password (PASSWD_NOTREQD)"),
    (
        "reversible-encryption",
        "its password is stored with reversible encryption",
    ),
    (
        "no-kerberos-preauth",
        "needs no Kerberos pre-authentication (AS-REP roastable)",
    ),
];

impl Rule for WeakAdminCredential {
    fn id(&self) -> &'static str {
        "weak-admin-credential"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "an admin with no password required, a reversibly stored password, no Kerberos pre-authentication, \
         or a device password kept in a reversible form"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        let mut out = Vec::new();
        for a in t.accounts().iter().filter(|a| a.account.admin && a.account.enabled) {
            let account_flags = flags(a);
            let mut why: Vec<String> = WEAK_FLAGS
                .iter()
                .filter(|(flag, _)| account_flags.contains(flag))
                .map(|(_, says)| says.to_string())
                .collect();
            let detail = |key: &str| a.account.details.get(key).and_then(|v| v.as_bool()) == Some(true);
            if detail("reversible") {
                let form = a
                    .account
                    .details
                    .get("password_form")
                    .and_then(|v| v.as_str())
                    .unwrap_or("reversible");
                why.push(format!(
                    "its password is kept in the configuration as {form}, which anyone can reverse"
                ));
            }
            if detail("nopassword") {
                why.push("it logs in with no password".into());
            }
            if !why.is_empty() {
                out.push(Found {
                    subject: t.subject(a),
                    message: why.join("; "),
                    hint: if t.is_directory() {
                        "clear the flag in userAccountControl, then set a new password (`keyreeve plan --account`)"
                            .into()
                    } else {
                        "rotate it with keyreeve, which sets the password in the device's hashed form".into()
                    },
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::snapshot::InVault;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn directory_flags_and_device_forms() {
        let t = target(
            "active-directory",
            vec![
                ad_account(
                    "a",
                    true,
                    json!({"flags": ["no-kerberos-preauth", "password-never-expires"]}),
                ),
                ad_account("b", true, json!({"flags": ["password-never-expires"]})),
                ad_account("c", false, json!({"flags": ["reversible-encryption"]})),
            ],
        );
        assert_eq!(subjects(&WeakAdminCredential, &t), ["acme/t1/a"]);

        let mut type7 = device_account("admin", true, InVault::Yes);
        type7.account.details.insert("reversible".into(), json!(true));
        type7.account.details.insert("password_form".into(), json!("type 7"));
        let mut none = device_account("ops", true, InVault::Yes);
        none.account.details.insert("nopassword".into(), json!(true));
        let mut viewer = device_account("viewer", false, InVault::Yes);
        viewer.account.details.insert("reversible".into(), json!(true));
        let t = target(
            "cisco-ios",
            vec![type7, none, viewer, device_account("x", true, InVault::Yes)],
        );
        assert_eq!(subjects(&WeakAdminCredential, &t), ["acme/t1/admin", "acme/t1/ops"]);
    }
}
