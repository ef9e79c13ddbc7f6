//! The review's audit rules, one file each. A rule looks at one target's newest snapshot (and, for
//! changes over time, the one it is compared with) and says what it found; the review stamps the
//! rule's id and severity on it and applies the policy's acceptances.

mod broad_principal_admin;
mod dial_in_admin;
mod disabled_admin;
mod discovery_failed;
mod dormant_admin;
mod kerberoastable_admin;
mod laps_expired;
mod laps_missing;
mod nested_admin;
mod new_admin;
mod non_expiring_admin_password;
mod removed_admin;
mod stale_admin_password;
mod stored_password_rejected;
mod transient_admin;
mod unmanaged_admin;
mod unreviewed_target;
mod weak_admin_credential;

use super::{Found, ReviewContext, Severity, TargetReview};

/// One audit rule.
pub trait Rule: Sync {
    /// The kebab-case id that reports and `[[review.accept]]` use.
    fn id(&self) -> &'static str;
    fn severity(&self) -> Severity;
    /// One line: what the rule looks for and why it matters.
    fn summary(&self) -> &'static str;
    fn check(&self, target: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found>;
}

/// Every rule, in the order reports list them.
pub static ALL: &[&dyn Rule] = &[
    &unreviewed_target::UnreviewedTarget,
    &discovery_failed::DiscoveryFailed,
    &unmanaged_admin::UnmanagedAdmin,
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
