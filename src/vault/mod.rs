//! The age-encrypted vault: one file per client, `vaults/CLIENT.age`, holding a documented JSON
//! document that stock `age -d` can decrypt. Writes are atomic, locked and backed up; a reader
//! never sees half a file and a writer never loses another's update.
//!
//! (Skeleton: the bodies are filled in by the vault work.)

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Hint;
use crate::inventory::Inventory;
use crate::keys::KeyRing;
use crate::secret::Password;
use crate::workspace::Workspace;

/// The `format` field of every vault document.
pub const FORMAT: &str = "keyreeve-vault";
/// The version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{0}")]
    Todo(String),
}

impl Hint for VaultError {
    fn hint(&self) -> Option<String> {
        None
    }
}

/// Whether an entry's password is settled or a rotation of it is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    #[default]
    Current,
    /// A rotation started: `password` may already be replaced on the target by one of
    /// `pending.candidates`. `keyreeve recover` settles it.
    Pending,
}

/// A rotation in flight, recorded before the target is touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRotation {
    /// The journal record of this rotation.
    pub journal_id: String,
    pub started_at: DateTime<Utc>,
    /// Passwords the target may hold now besides `password`.
    pub candidates: Vec<Password>,
}

/// An earlier password and when it stopped being current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub password: Password,
    pub replaced_at: DateTime<Utc>,
}

/// One credential, addressed `CLIENT/TARGET/ACCOUNT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub username: String,
    pub password: Password,
    #[serde(default)]
    pub state: EntryState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingRotation>,
    pub created: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    /// When the last verification found the stored password not working.
    #[serde(default)]
    pub verify_failed_at: Option<DateTime<Utc>>,
    pub revealed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub history: Vec<HistoryItem>,
}

/// The decrypted content of one client's vault file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultDocument {
    pub format: String,
    pub version: u32,
    pub client: String,
    pub updated_at: DateTime<Utc>,
    /// Keyed by `TARGET/ACCOUNT`.
    pub entries: BTreeMap<String, Entry>,
}

/// The vault of a workspace, opened with this process's keys.
pub struct Vault<'a> {
    pub workspace: &'a Workspace,
    pub inventory: &'a Inventory,
    pub keys: &'a KeyRing,
}

impl<'a> Vault<'a> {
    pub fn new(workspace: &'a Workspace, inventory: &'a Inventory, keys: &'a KeyRing) -> Self {
        Vault {
            workspace,
            inventory,
            keys,
        }
    }

    /// Reads `client`'s vault (an empty document if it has no file yet).
    pub fn load(&self, _client: &str) -> Result<VaultDocument, VaultError> {
        Err(VaultError::Todo("the vault is not built yet".into()))
    }

    /// Locks `client`'s vault, reads it, applies `change`, and writes it back atomically; the
    /// previous file is kept as a backup. Nothing is written if `change` fails.
    pub fn update<T, E>(&self, _client: &str, _change: impl FnOnce(&mut VaultDocument) -> Result<T, E>) -> Result<T, E>
    where
        E: From<VaultError>,
    {
        Err(VaultError::Todo("the vault is not built yet".into()).into())
    }
}
