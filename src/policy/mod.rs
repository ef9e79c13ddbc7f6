//! Rotation policy: how old a password may get, how new ones are made (length, character classes,
//! intersected with what the target can take), what is excluded, when rotation may run, and in
//! which order. Read from `policies/*.toml`, validated with file-and-line errors.
//!
//! (Skeleton: the bodies are filled in by the rotation work.)

pub mod generate;

use crate::error::Hint;

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
