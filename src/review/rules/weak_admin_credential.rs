//! An admin whose credential is weaker than its password suggests: a directory account that needs
//! no password, stores it reversibly, or skips Kerberos pre-authentication (AS-REP roasting); a
//! device account whose password is kept in a reversible form (Cisco type 7 or clear text) or that
//! has none at all.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, flags, has_chosen_password, text};

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
        for a in t.accounts().iter().filter(|a| a.account.admin && !disabled(a)) {
            let account_flags = flags(a);
            // Computers carry PASSWD_NOTREQD from their creation, with a random password anyway.
            let mut why: Vec<String> = if has_chosen_password(a) {
                WEAK_FLAGS
                    .iter()
                    .filter(|(flag, _)| account_flags.contains(flag))
                    .map(|(_, says)| says.to_string())
                    .collect()
            } else {
                Vec::new()
            };
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
            if detail("nopassword") || text(a, "password_form") == Some("nopassword") {
                why.push("it logs in with no password".into());
            }
            if text(a, "password") == Some("empty") {
                why.push("its password is empty: where PAM allows it, it logs in with none".into());
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
    use crate::connector::AccountKind;
    use crate::review::snapshot::InVault;
    use crate::review::test_support::*;
    use serde_json::json;

    #[test]
    fn directory_flags_on_people_and_services_only() {
        let flags = |f: &[&str]| json!({ "flags": f });
        let t = target(
            "active-directory",
            vec![
                ad_account("a", true, flags(&["no-kerberos-preauth", "password-never-expires"])),
                ad_account("b", true, flags(&["password-never-expires"])),
                ad_account("c", false, flags(&["reversible-encryption"])),
                ad_account("d", true, flags(&["password-not-required"])),
                ad_account("e", true, flags(&["reversible-encryption", "disabled"])),
                ad_account("f", true, flags(&["reversible-encryption", "locked"])),
                kind(
                    ad_account("pc$", true, flags(&["password-not-required"])),
                    AccountKind::Computer,
                ),
            ],
        );
        assert_eq!(
            subjects(&WeakAdminCredential, &t),
            ["acme/t1/a", "acme/t1/d", "acme/t1/f"]
        );
    }

    #[test]
    fn device_and_host_passwords_kept_reversibly_or_not_at_all() {
        let with = |name: &str, admin: bool, key: &str, value: serde_json::Value| {
            let mut a = device_account(name, admin, InVault::Yes);
            a.account.details.insert(key.into(), value);
            a
        };
        let mut type7 = with("admin", true, "reversible", json!(true));
        type7
            .account
            .details
            .insert("password_form".into(), json!("password 7"));
        let accounts = vec![
            type7,
            with("ops", true, "nopassword", json!(true)),
            with("viewer", false, "reversible", json!(true)),
            device_account("x", true, InVault::Yes),
            with("noc", true, "password_form", json!("nopassword")),
            with("deploy", true, "password", json!("empty")),
            with("daemon", true, "password", json!("none")),
        ];
        assert_eq!(
            subjects(&WeakAdminCredential, &target("cisco-ios", accounts)),
            ["acme/t1/admin", "acme/t1/ops", "acme/t1/noc", "acme/t1/deploy"]
        );
    }
}
