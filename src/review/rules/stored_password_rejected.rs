//! The vault's password for an account was refused by a fresh login (discover --verify): someone
//! changed it behind the vault's back, or a rotation went wrong. Either way the vault is wrong.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};

pub struct StoredPasswordRejected;

impl Rule for StoredPasswordRejected {
    fn id(&self) -> &'static str {
        "stored-password-rejected"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "the target refused the vault's password for an account when discovery verified it"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        t.accounts()
            .iter()
            // The service does not try a refused password again until it changes in the vault.
            .filter(|a| {
                a.verified
                    .as_deref()
                    .is_some_and(|v| v == "rejected" || v.starts_with("not checked: refused before"))
            })
            .map(|a| Found {
                subject: t.subject(a),
                message: "the stored password no longer works: changed outside keyreeve?".into(),
                hint: "find who changed it; `keyreeve vault history` shows earlier passwords, and \
                       `keyreeve recover` settles an interrupted rotation"
                    .into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::snapshot::InVault;
    use crate::review::test_support::*;

    #[test]
    fn only_rejected_verifications() {
        let mut rejected = device_account("admin", true, InVault::Yes);
        rejected.verified = Some("rejected".into());
        let mut accepted = device_account("ops", false, InVault::Yes);
        accepted.verified = Some("accepted".into());
        let mut error = device_account("svc", false, InVault::Yes);
        error.verified = Some("error: timed out".into());
        let mut not_again = device_account("root", true, InVault::Yes);
        not_again.verified = Some("not checked: refused before, and unchanged in the vault since".into());
        let mut pending = device_account("deploy", true, InVault::Yes);
        pending.verified = Some("not checked: a rotation is pending".into());
        let t = target("linux", vec![rejected, accepted, error, not_again, pending]);
        assert_eq!(subjects(&StoredPasswordRejected, &t), ["acme/t1/admin", "acme/t1/root"]);
    }
}
