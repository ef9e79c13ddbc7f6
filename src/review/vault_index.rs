//! The vault's metadata without its secrets, for readers without keys: every time a client's
//! vault is written, `state/vault-index/CLIENT.json` (0600) lists its entries with their times
//! (created, rotated, verified, revealed) and whether a rotation is pending, never a password, as
//! discovery snapshots record whether the vault held an account. The review's due-tracking rules
//! (`rotation-overdue`, `untracked-credential`) read it with no keys, like every other rule.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::vault::{EntryState, VaultDocument};
use crate::workspace::Workspace;

/// One vault entry's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedEntry {
    /// `TARGET/ACCOUNT`.
    pub key: String,
    pub created: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub revealed_at: Option<DateTime<Utc>>,
    pub pending: bool,
}

/// One client's vault, as metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultIndex {
    pub client: String,
    pub written_at: DateTime<Utc>,
    pub entries: Vec<IndexedEntry>,
}

impl VaultIndex {
    pub fn of(doc: &VaultDocument) -> VaultIndex {
        VaultIndex {
            client: doc.client.clone(),
            written_at: Utc::now(),
            entries: doc
                .entries
                .iter()
                .map(|(key, e)| IndexedEntry {
                    key: key.clone(),
                    created: e.created,
                    rotated_at: e.rotated_at,
                    verified_at: e.verified_at,
                    revealed_at: e.revealed_at,
                    pending: e.state == EntryState::Pending,
                })
                .collect(),
        }
    }
}

fn file(ws: &Workspace, client: &str) -> PathBuf {
    ws.state_dir().join("vault-index").join(format!("{client}.json"))
}

/// Writes `doc`'s index (best effort: the vault itself is already written; a failure is logged
/// and the review reads the previous index).
pub fn record(ws: &Workspace, doc: &VaultDocument) {
    let path = file(ws, &doc.client);
    let written = serde_json::to_vec_pretty(&VaultIndex::of(doc))
        .map_err(std::io::Error::other)
        .and_then(|json| {
            crate::safe_fs::create_dir_all(ws.root(), &ws.state_dir().join("vault-index"))?;
            crate::safe_fs::write_atomic(ws.root(), &path, 0o600, crate::safe_fs::Durability::Unsynced, |w| {
                w.write_all(&json)
            })
        });
    if let Err(e) = written {
        tracing::warn!("cannot write the vault index {}: {e}", path.display());
    }
}

/// The index of `client`'s vault, or None when its vault was never written since indexes exist.
pub fn load(ws: &Workspace, client: &str) -> Result<Option<VaultIndex>, String> {
    let path = file(ws, client);
    match crate::safe_fs::read_text(&path, crate::safe_fs::Limit::SNAPSHOT) {
        Ok(None) => Ok(None),
        Ok(Some(text)) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}
