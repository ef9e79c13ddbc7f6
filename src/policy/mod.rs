//! Rotation policy: how old a password may get, how new ones are made (length, character classes,
//! intersected with what the target can take), what is excluded, when rotation may run, and in
//! which order. Read from `policies/*.toml`, validated with file-and-line errors.
//!
//! (Skeleton: the bodies are filled in by the rotation work.)

pub mod generate;

use serde::{Deserialize, Serialize};

use crate::error::Hint;

/// What the policy says about directories: which accounts count as service accounts and which
/// groups grant remote (VPN / RRAS) access, beyond the well-known ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryPolicy {
    /// Glob patterns (`*`, `?`) on sAMAccountName / uid marking service accounts, e.g. `svc-*`.
    pub service_account_patterns: Vec<String>,
    /// Organizational units (DN suffixes) whose accounts are service accounts.
    pub service_account_ous: Vec<String>,
    /// Groups (DNs or names) whose members may dial in remotely.
    pub remote_access_groups: Vec<String>,
}

impl Default for DirectoryPolicy {
    fn default() -> Self {
        DirectoryPolicy {
            service_account_patterns: vec!["svc-*".into(), "svc_*".into(), "sa-*".into()],
            service_account_ous: Vec::new(),
            remote_access_groups: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Todo(String),
}

impl Hint for PolicyError {
    fn hint(&self) -> Option<String> {
        None
    }
}
