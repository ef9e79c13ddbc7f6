//! Rotation: plans, the journalled apply, recover and verify. The engine knows only the connector
//! trait, the vault and the journal.
//!
//! (Skeleton: the bodies are filled in by the rotation work.)

use crate::error::Hint;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("{0}")]
    Todo(String),
}

impl Hint for RotationError {
    fn hint(&self) -> Option<String> {
        None
    }
}
