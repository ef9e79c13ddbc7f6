//! Handover vaults: one client's credentials exported into a standard age file, in formats the
//! receiver can import, and the native format imported by another workspace.
//!
//! (Skeleton: the bodies are filled in by the handover work.)

use crate::error::Hint;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Todo(String),
}

impl Hint for ExportError {
    fn hint(&self) -> Option<String> {
        None
    }
}
