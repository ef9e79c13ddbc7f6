//! The workspace's audit log: one JSON line per reveal, set, rm, rotation, export and recipient
//! change, each carrying the hash of the line before it, so that a changed, removed or reordered
//! line is detected by `keyreeve log verify`. Never a secret.
//!
//! (Skeleton: the bodies are filled in by the audit-log work.)

use crate::error::Hint;
use crate::workspace::Workspace;

#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error("{0}")]
    Todo(String),
}

impl Hint for AuditLogError {
    fn hint(&self) -> Option<String> {
        None
    }
}

/// Appends one event: `action` (e.g. `vault.get`, `rotation.apply`), the vault path or client it
/// concerns, and details (never a secret). `actor_key` is the public key of the identity in use.
pub fn record(
    _workspace: &Workspace,
    _actor_key: Option<&str>,
    _action: &str,
    _subject: &str,
    _details: serde_json::Value,
) -> Result<(), AuditLogError> {
    Err(AuditLogError::Todo("the audit log is not built yet".into()))
}
