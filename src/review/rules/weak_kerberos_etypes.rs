//! An admin or service account whose msDS-SupportedEncryptionTypes allows only RC4 or DES: its
//! tickets are encrypted with keys derived without salt from the NT hash (RC4) or broken outright
//! (DES), so Kerberoasting and pass-the-hash get easier. Accounts without the attribute follow the
//! domain controllers' defaults and are not judged here.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::{disabled, is_krbtgt, number, strings};

pub struct WeakKerberosEtypes;

const DES: u64 = 0x1 | 0x2;
const RC4: u64 = 0x4;
const AES: u64 = 0x8 | 0x10;

impl Rule for WeakKerberosEtypes {
    fn id(&self) -> &'static str {
        "weak-kerberos-etypes"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "an admin or service account whose msDS-SupportedEncryptionTypes allows only RC4/DES, no AES"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            .filter(|a| !disabled(a) && !is_krbtgt(a))
            .filter(|a| a.account.admin || !strings(a, "service_reasons").is_empty())
            .filter_map(|a| {
                let types = number(a, "supported_encryption_types")?;
                if types & AES != 0 || types & (DES | RC4) == 0 {
                    return None;
                }
                let mut weak = Vec::new();
                if types & DES != 0 {
                    weak.push("DES");
                }
                if types & RC4 != 0 {
                    weak.push("RC4");
                }
                Some(Found {
                    subject: t.subject(a),
                    message: format!(
                        "Kerberos encryption limited to {} (msDS-SupportedEncryptionTypes = {types})",
                        weak.join(" and ")
                    ),
                    hint: "allow AES (set msDS-SupportedEncryptionTypes to 24, or 28 while RC4 is still needed), \
                           then change the password so that AES keys exist"
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
    fn rc4_or_des_only_on_admins_and_services() {
        let t = target(
            "active-directory",
            vec![
                ad_account("rc4admin", true, json!({"supported_encryption_types": 4})),
                ad_account(
                    "desvc",
                    false,
                    json!({"supported_encryption_types": 3, "service_reasons": ["servicePrincipalName"]}),
                ),
                ad_account("mixed", true, json!({"supported_encryption_types": 28})),
                ad_account("aes", true, json!({"supported_encryption_types": 24})),
                ad_account("unset", true, json!({})),
                ad_account("rc4user", false, json!({"supported_encryption_types": 4})),
                ad_account(
                    "off",
                    true,
                    json!({"supported_encryption_types": 4, "flags": ["disabled"]}),
                ),
            ],
        );
        assert_eq!(subjects(&WeakKerberosEtypes, &t), ["acme/t1/rc4admin", "acme/t1/desvc"]);
    }
}
