//! The one error type the library returns to the binary, and the hint each error carries for the
//! person at the keyboard. Module errors convert into it; `main` prints the cause chain and the hint.

use std::path::PathBuf;

pub use crate::hint::Hint;

/// Errors of the keyreeve library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Workspace(#[from] crate::workspace::WorkspaceError),
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    AuditLog(#[from] crate::audit_log::AuditLogError),
    #[error(transparent)]
    Connector(#[from] crate::connector::ConnectorError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error(transparent)]
    Rotation(#[from] crate::rotation::RotationError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Review(#[from] crate::review::ReviewError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Workspace(e) => e.hint(),
            Error::Inventory(e) => e.hint(),
            Error::Keys(e) => e.hint(),
            Error::Vault(e) => e.hint(),
            Error::AuditLog(e) => e.hint(),
            Error::Connector(e) => e.hint(),
            Error::Policy(e) => e.hint(),
            Error::Rotation(e) => e.hint(),
            Error::Export(e) => e.hint(),
            Error::Review(e) => e.hint(),
            Error::Io { .. } => Some("check the path exists and that you may read and write it".into()),
            Error::Usage(_) => Some("see `keyreeve --help`".into()),
        }
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an io::Error with what was being done and to which path.
pub fn io_err(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { what, path, source }
}
