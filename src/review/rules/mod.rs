//! The review's audit rules, one file each. A rule looks at one target's newest snapshot (and, for
//! changes over time, the one it is compared with) and says what it found; the review stamps the
//! rule's id and severity on it and applies the policy's acceptances.

mod admin_delegable;
mod admin_not_protected_users;
mod admincount_orphan;
mod broad_principal_admin;
mod computer_admin;
mod constrained_delegation;
mod dial_in_admin;
mod disabled_admin;
mod discovery_failed;
mod domain_password_policy;
mod dormant_admin;
mod guest_enabled;
mod kerberoastable_admin;
mod krbtgt_password_old;
mod laps_expired;
mod laps_missing;
mod nested_admin;
mod new_admin;
mod non_expiring_admin_password;
mod primary_group_admin;
mod remote_access_account;
mod removed_admin;
mod rotation_overdue;
mod service_account_admin;
mod sid_history;
mod stale_admin_password;
mod stale_computer;
mod stored_password_rejected;
mod too_many_admins;
mod transient_admin;
mod unconstrained_delegation;
mod unmanaged_admin;
mod unreviewed_target;
mod untracked_credential;
mod weak_admin_credential;
mod weak_kerberos_etypes;

use super::{Found, ReviewContext, Severity, TargetReview};

/// One audit rule.
pub trait Rule: Sync {
    /// The kebab-case id that reports and `[[review.accept]]` use.
    fn id(&self) -> &'static str;
    fn severity(&self) -> Severity;
    /// One line: what the rule looks for and why it matters.
    fn summary(&self) -> &'static str;
    fn check(&self, target: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found>;
    /// Rules about vault entries (from the vault's keyless index), whatever their target: once
    /// per review, over every selected client's entries.
    fn check_vault(&self, _entries: &[crate::review::due::Assessed], _ctx: &ReviewContext<'_>) -> Vec<Found> {
        Vec::new()
    }
    /// Each finding with its severity: [`Rule::severity`] unless the rule grades its findings
    /// (a remote-access account matters more when it is an admin).
    fn graded(&self, target: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<(Found, Severity)> {
        self.check(target, ctx)
            .into_iter()
            .map(|f| (f, self.severity()))
            .collect()
    }
}

/// Every rule, in the order reports list them.
pub static ALL: &[&dyn Rule] = &[
    &unreviewed_target::UnreviewedTarget,
    &discovery_failed::DiscoveryFailed,
    &unmanaged_admin::UnmanagedAdmin,
    &untracked_credential::UntrackedCredential,
    &rotation_overdue::RotationOverdue,
    &stored_password_rejected::StoredPasswordRejected,
    &broad_principal_admin::BroadPrincipalAdmin,
    &kerberoastable_admin::KerberoastableAdmin,
    &weak_admin_credential::WeakAdminCredential,
    &new_admin::NewAdmin,
    &transient_admin::TransientAdmin,
    &dial_in_admin::DialInAdmin,
    &non_expiring_admin_password::NonExpiringAdminPassword,
    &stale_admin_password::StaleAdminPassword,
    &dormant_admin::DormantAdmin,
    &disabled_admin::DisabledAdmin,
    &nested_admin::NestedAdmin,
    &removed_admin::RemovedAdmin,
    &computer_admin::ComputerAdmin,
    &service_account_admin::ServiceAccountAdmin,
    &unconstrained_delegation::UnconstrainedDelegation,
    &guest_enabled::GuestEnabled,
    &primary_group_admin::PrimaryGroupAdmin,
    &admin_delegable::AdminDelegable,
    &sid_history::SidHistory,
    &weak_kerberos_etypes::WeakKerberosEtypes,
    &krbtgt_password_old::KrbtgtPasswordOld,
    &too_many_admins::TooManyAdmins,
    &domain_password_policy::DomainPasswordPolicy,
    &remote_access_account::RemoteAccessAccount,
    &admin_not_protected_users::AdminNotProtectedUsers,
    &admincount_orphan::AdmincountOrphan,
    &stale_computer::StaleComputer,
    &constrained_delegation::ConstrainedDelegation,
    &laps_missing::LapsMissing,
    &laps_expired::LapsExpired,
];

/// The ids of every rule.
pub fn ids() -> Vec<&'static str> {
    ALL.iter().map(|r| r.id()).collect()
}

/// Whether `id` names a rule.
pub fn is_known(id: &str) -> bool {
    ALL.iter().any(|r| r.id() == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_every_rule_explains_itself() {
        let ids = ids();
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        for r in ALL {
            assert!(r.id().chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", r.id());
            assert!(r.summary().len() > 20, "{}", r.id());
        }
        assert!(is_known("dial-in-admin") && !is_known("dial-in"));
    }
}
