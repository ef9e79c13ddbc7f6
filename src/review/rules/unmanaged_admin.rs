//! An admin account on a device or Linux host whose password the vault does not hold: nobody
//! rotates it, and after a handover nobody knows who else does. The most common finding when an
//! MSP takes on a client.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::disabled;
use crate::review::snapshot::InVault;

pub struct UnmanagedAdmin;

impl Rule for UnmanagedAdmin {
    fn id(&self) -> &'static str {
        "unmanaged-admin"
    }
    fn severity(&self) -> Severity {
        Severity::High
    }
    fn summary(&self) -> &'static str {
        "an enabled admin account on a device or Linux host whose password the vault does not hold"
    }
    fn check(&self, t: &TargetReview, _: &ReviewContext<'_>) -> Vec<Found> {
        if t.is_directory() {
            // Directory admins are people with their own passwords; other rules look at them.
            return Vec::new();
        }
        t.accounts()
            .iter()
            .filter(|a| a.account.admin && !disabled(a) && a.in_vault == InVault::No)
            .map(|a| Found {
                subject: t.subject(a),
                message: format!("admin ({}) not in the vault: nobody rotates it", a.account.privilege),
                hint: format!(
                    "remove the account, or take it over: `keyreeve vault set {}` then rotate it",
                    t.subject(a)
                ),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::test_support::*;

    #[test]
    fn only_enabled_device_admins_missing_from_the_vault() {
        let mut locked = device_account("old", true, InVault::No);
        locked.account.enabled = false;
        let accounts = vec![
            device_account("netops", true, InVault::No),
            device_account("admin", true, InVault::Yes),
            device_account("viewer", false, InVault::No),
            device_account("unknown", true, InVault::Unknown),
            locked,
        ];
        assert_eq!(
            subjects(&UnmanagedAdmin, &target("junos", accounts.clone())),
            ["acme/t1/netops"]
        );
        assert!(subjects(&UnmanagedAdmin, &target("active-directory", accounts)).is_empty());
    }
}
