//! The age-encrypted vault: one file per client, `vaults/CLIENT.age`, holding a documented JSON
//! document (docs/vault-format.md) that stock `age -d` can decrypt. Writes are atomic, locked and
//! backed up; a reader never sees half a file and a writer never loses another's update.

mod document;
pub mod lock;
pub mod merge;
pub mod recipients;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use document::parse as parse_document;
pub use document::{check_names, Entry, EntryState, HistoryItem, PendingRotation, VaultDocument};

use crate::hint::Hint;
use crate::inventory::{is_valid_name, Inventory, InventoryError};
use crate::keys::{KeyError, KeyRing};
use crate::workspace::Workspace;

/// The `format` field of every vault document.
pub const FORMAT: &str = "keyreeve-vault";
/// The version this build writes and the newest it reads (2 added `recipients`).
pub const VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a keyreeve vault: {detail}; it was left untouched", file.display())]
    NotAVault { file: PathBuf, detail: String },
    #[error("{} is damaged: {detail}; it was left untouched", file.display())]
    Damaged { file: PathBuf, detail: String },
    #[error("{} was written by a newer keyreeve (vault format version {found}; this build reads up to {VERSION}); it was left untouched", file.display())]
    FutureVersion { file: PathBuf, found: u64 },
    #[error("{} holds client `{found}`'s vault, not `{expected}`'s", file.display())]
    WrongClient {
        file: PathBuf,
        expected: String,
        found: String,
    },
    #[error("client `{client}`'s vault is being changed by another keyreeve process (waited {waited_secs:.1} s for {})", lock.display())]
    Locked {
        lock: PathBuf,
        client: String,
        waited_secs: f64,
    },
    #[error("`{path}` is not a vault path: {reason}")]
    BadPath { path: String, reason: String },
    #[error("no entry `{0}` in the vault")]
    NoEntry(String),
    #[error("`{0}` has a rotation in flight")]
    Pending(String),
    #[error("the recipients in keyreeve.toml changed while this command ran; nothing was written to {}", file.display())]
    RecipientsChanged { file: PathBuf },
    #[error("{0}")]
    Refused(String),
    /// A failure injected by a test at a named failpoint (see `rotation::failpoint`).
    #[error("injected failure: {0}")]
    Injected(String),
}

impl Hint for VaultError {
    fn hint(&self) -> Option<String> {
        match self {
            VaultError::Keys(e) => e.hint(),
            VaultError::Inventory(InventoryError::UnknownClient(c)) => Some(format!(
                "add the client to keyreeve.toml first (`[clients.{c}]`); `keyreeve inventory list` shows the clients"
            )),
            VaultError::Inventory(e) => e.hint(),
            VaultError::Io { source, .. } => crate::safe_fs::hint_of(source)
                .or_else(|| Some("check the path exists and that you may read and write it".into())),
            VaultError::NotAVault { .. } | VaultError::Damaged { .. } | VaultError::WrongClient { .. } => Some(
                "restore the file from its latest backup under state/backups/CLIENT/ (or from git); \
                 `age -d -i KEY FILE` shows what it holds"
                    .into(),
            ),
            VaultError::FutureVersion { .. } => Some("upgrade keyreeve to open this vault".into()),
            VaultError::Locked { .. } => Some(format!(
                "wait for the other command to finish and run this one again (the wait is set by {})",
                lock::WAIT_ENV
            )),
            VaultError::BadPath { .. } => Some(
                "vault paths are CLIENT/TARGET/ACCOUNT of letters, digits, `-`, `_`, `.`, `@`, e.g. acme/core-rtr1/admin"
                    .into(),
            ),
            VaultError::NoEntry(_) => Some("`keyreeve vault list` shows the stored paths".into()),
            VaultError::Pending(_) => Some("settle it first with `keyreeve recover`".into()),
            VaultError::RecipientsChanged { .. } => Some("run the command again".into()),
            VaultError::Refused(_) | VaultError::Injected(_) => None,
        }
    }
}

/// A vault address, `CLIENT/TARGET/ACCOUNT`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VaultPath {
    pub client: String,
    pub target: String,
    pub account: String,
}

impl VaultPath {
    pub fn new(client: &str, target: &str, account: &str) -> Self {
        VaultPath {
            client: client.into(),
            target: target.into(),
            account: account.into(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let (client, target, account) = crate::validate::vault_path(text).map_err(|e| VaultError::BadPath {
            path: e.shown,
            reason: e.reason,
        })?;
        Ok(VaultPath::new(client, target, account))
    }

    /// The key of the entry in its client's document, `TARGET/ACCOUNT`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.target, self.account)
    }
}

impl std::fmt::Display for VaultPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.client, self.target, self.account)
    }
}

fn check_client(client: &str) -> Result<(), VaultError> {
    if is_valid_name(client) {
        Ok(())
    } else {
        Err(VaultError::BadPath {
            path: crate::escape::terminal(client).into_owned(),
            reason: "not a valid client name".into(),
        })
    }
}

/// The vault of a workspace, opened with this process's keys.
pub struct Vault<'a> {
    pub workspace: &'a Workspace,
    pub inventory: &'a Inventory,
    pub keys: &'a KeyRing,
    /// How long a writer waits for another (default: `KEYREEVE_LOCK_TIMEOUT`, else 30 s).
    pub lock_wait: Duration,
}

impl<'a> Vault<'a> {
    pub fn new(workspace: &'a Workspace, inventory: &'a Inventory, keys: &'a KeyRing) -> Self {
        Vault {
            workspace,
            inventory,
            keys,
            lock_wait: lock::configured_wait(),
        }
    }

    /// Clients that have a vault file, sorted.
    pub fn clients(&self) -> Result<Vec<String>, VaultError> {
        let dir = self.workspace.vaults_dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(VaultError::Io {
                    what: "cannot list",
                    path: dir,
                    source,
                })
            }
        };
        let mut clients: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let client = name.strip_suffix(".age")?;
                is_valid_name(client).then(|| client.to_string())
            })
            .collect();
        clients.sort();
        Ok(clients)
    }

    /// Reads `client`'s vault (an empty document if it has no file yet).
    pub fn load(&self, client: &str) -> Result<VaultDocument, VaultError> {
        check_client(client)?;
        let file = self.workspace.vault_file(client);
        match self.read_file(&file)? {
            None => Ok(VaultDocument::empty(client)),
            Some(bytes) => self.open_bytes(client, &file, &bytes),
        }
    }

    /// Reads one entry of the vault, without building the others: the fast path of `vault get`.
    /// None if the client has no file or no such entry.
    pub fn get(&self, path: &VaultPath) -> Result<Option<Entry>, VaultError> {
        check_client(&path.client)?;
        let file = self.workspace.vault_file(&path.client);
        let Some(plain) = self.keys.decrypt_file(&file)? else {
            return Ok(None);
        };
        let key = path.key();
        let mut entry = document::parse_entry(&plain, &path.client, &key, &file)?;
        if let (Some(e), Some(at)) = (entry.as_mut(), self.read_reveals(&path.client).get(&key)) {
            e.revealed_at = e.revealed_at.max(Some(*at));
        }
        Ok(entry)
    }

    /// Records that `path` was revealed at `at`, without rewriting the encrypted file: the time
    /// goes to `state/reveals/CLIENT.json` (not secret), which every read overlays and the next
    /// write folds into the document. So reading a password never re-encrypts the vault nor
    /// pushes a real earlier version out of the backups.
    pub fn record_reveal(&self, path: &VaultPath, at: DateTime<Utc>) -> Result<(), VaultError> {
        check_client(&path.client)?;
        let _lock = lock::ClientLock::acquire(
            self.workspace.root(),
            &self.workspace.locks_dir(),
            &path.client,
            self.lock_wait,
        )?;
        let mut reveals = self.read_reveals(&path.client);
        let slot = reveals.entry(path.key()).or_insert(at);
        *slot = (*slot).max(at);
        let file = self.reveals_file(&path.client);
        store::write_atomic_unsynced(self.workspace.root(), &file, 0o600, |w| {
            serde_json::to_writer(w, &reveals).map_err(std::io::Error::other)
        })
        .map_err(|source| VaultError::Io {
            what: "cannot record the reveal in",
            path: file,
            source,
        })
    }

    fn reveals_file(&self, client: &str) -> PathBuf {
        self.workspace
            .state_dir()
            .join("reveals")
            .join(format!("{client}.json"))
    }

    /// Reveal times not yet folded into the document. A missing or unreadable file means none:
    /// the audit log keeps every reveal anyway.
    fn read_reveals(&self, client: &str) -> BTreeMap<String, DateTime<Utc>> {
        let file = self.reveals_file(client);
        match crate::safe_fs::read_limited(&file, crate::safe_fs::Limit::SMALL) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                tracing::warn!("ignoring unreadable {}", file.display());
                BTreeMap::new()
            }),
            Ok(None) => BTreeMap::new(),
            Err(e) => {
                tracing::warn!("ignoring {}: {e}", file.display());
                BTreeMap::new()
            }
        }
    }

    fn overlay_reveals(&self, doc: &mut VaultDocument) {
        for (key, at) in self.read_reveals(&doc.client) {
            if let Some(e) = doc.entries.get_mut(&key) {
                e.revealed_at = e.revealed_at.max(Some(at));
            }
        }
    }

    /// Locks `client`'s vault, reads it, applies `change`, and writes it back atomically; the
    /// previous file is kept as a backup. Nothing is written if `change` fails.
    pub fn update<T, E>(&self, client: &str, change: impl FnOnce(&mut VaultDocument) -> Result<T, E>) -> Result<T, E>
    where
        E: From<VaultError>,
    {
        self.update_then(client, change, |_| Ok(()))
    }

    /// [`Vault::update`], with `before_commit` called once the new file is durably on disk under
    /// its temporary name and the old one still in place: the last moment to refuse the change
    /// (an error there leaves the vault as it was). The audit record of a change is written there,
    /// so that a change is never in the vault without its record in the log.
    pub fn update_then<T, E>(
        &self,
        client: &str,
        change: impl FnOnce(&mut VaultDocument) -> Result<T, E>,
        before_commit: impl FnOnce(&T) -> Result<(), E>,
    ) -> Result<T, E>
    where
        E: From<VaultError>,
    {
        check_client(client)?;
        let _lock = lock::ClientLock::acquire(
            self.workspace.root(),
            &self.workspace.locks_dir(),
            client,
            self.lock_wait,
        )?;
        let file = self.workspace.vault_file(client);
        let previous = self.read_file(&file)?;
        let mut doc = match &previous {
            None => VaultDocument::empty(client),
            Some(bytes) => self.open_bytes(client, &file, bytes)?,
        };
        let out = change(&mut doc)?;
        self.check_recipients_unchanged(client, &file)?;
        let mut refused: Option<E> = None;
        let written = self.write_locked_then(client, &mut doc, previous.as_deref(), || {
            before_commit(&out).map_err(|e| {
                refused = Some(e);
                std::io::Error::other("the change was refused before it took effect")
            })
        });
        if let Some(e) = refused {
            return Err(e);
        }
        written?;
        crate::review::vault_index::record(self.workspace, &doc);
        Ok(out)
    }

    /// Writes `doc` as `client`'s vault; the caller holds the client's lock and passes the bytes
    /// being replaced, which become the newest backup.
    pub(crate) fn write_locked(
        &self,
        client: &str,
        doc: &mut VaultDocument,
        previous: Option<&[u8]>,
    ) -> Result<(), VaultError> {
        self.write_locked_then(client, doc, previous, || Ok(()))
    }

    /// [`Vault::write_locked`] with `before_rename` between the durable temporary file and the
    /// rename (see [`Vault::update_then`]).
    fn write_locked_then(
        &self,
        client: &str,
        doc: &mut VaultDocument,
        previous: Option<&[u8]>,
        before_rename: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), VaultError> {
        let file = self.workspace.vault_file(client);
        doc.format = FORMAT.into();
        doc.version = VERSION;
        doc.client = client.into();
        doc.updated_at = Utc::now();
        doc.recipients = if self.inventory.passphrase {
            Vec::new()
        } else {
            self.keys.recipients_for_client(self.inventory, client)
        };
        if let Some(previous) = previous {
            store::backup(
                self.workspace.root(),
                &self.workspace.backups_dir(),
                client,
                previous,
                store::BACKUPS_KEPT,
            )
            .map_err(|source| VaultError::Io {
                what: "cannot keep a backup in",
                path: self.workspace.backups_dir(),
                source,
            })?;
        }
        // Encrypt first (this may ask for a passphrase, or fail on a bad recipient), then write:
        // a failure leaves the file as it was.
        let mut failure: Option<KeyError> = None;
        let written = crate::safe_fs::write_atomic_then(
            self.workspace.root(),
            &file,
            0o600,
            crate::safe_fs::Durability::Synced,
            |w| match self.keys.encrypt_to(self.inventory, client, w, |w| {
                serde_json::to_writer(w, &*doc).map_err(std::io::Error::other)
            }) {
                Ok(_) => Ok(()),
                Err(e) => {
                    failure = Some(e);
                    Err(std::io::Error::other("encryption failed"))
                }
            },
            before_rename,
        );
        if let Some(e) = failure {
            return Err(e.into());
        }
        written.map_err(|source| VaultError::Io {
            what: "cannot write",
            path: file,
            source,
        })?;
        // The reveals were overlaid when the document was read under this lock: now they are in it.
        // Shared over git, the file is emptied rather than removed: a teammate's reveal recorded
        // meanwhile then merges into it (a removal would conflict with their change).
        let reveals = self.reveals_file(client);
        let cleared = if reveals.exists() && crate::team::routes_to_driver(self.workspace) {
            store::write_atomic_unsynced(self.workspace.root(), &reveals, 0o600, |w| w.write_all(b"{}"))
        } else {
            crate::safe_fs::remove_file(self.workspace.root(), &reveals).map(|_| ())
        };
        if let Err(e) = cleared {
            tracing::warn!("cannot clear {}: {e}", reveals.display())
        }
        Ok(())
    }

    /// A writer that loaded keyreeve.toml before `vault recipients` changed it must not write
    /// with the old recipients: it compares, under the lock, with the file as it is now.
    fn check_recipients_unchanged(&self, client: &str, file: &Path) -> Result<(), VaultError> {
        let path = self.workspace.inventory_file();
        let Ok(Some(text)) = crate::safe_fs::read_text(&path, crate::safe_fs::Limit::INVENTORY) else {
            return Ok(());
        };
        let Ok(now) = Inventory::parse(&text, &path) else {
            return Ok(());
        };
        let ours = (
            self.inventory.passphrase,
            self.keys.recipients_for_client(self.inventory, client),
        );
        let theirs = (now.passphrase, self.keys.recipients_for_client(&now, client));
        if ours != theirs {
            return Err(VaultError::RecipientsChanged { file: file.into() });
        }
        Ok(())
    }

    fn read_file(&self, file: &Path) -> Result<Option<Vec<u8>>, VaultError> {
        match crate::safe_fs::read_limited(file, crate::safe_fs::Limit::VAULT) {
            Ok(b) => Ok(b),
            Err(source) => Err(VaultError::Io {
                what: "cannot read",
                path: file.into(),
                source,
            }),
        }
    }

    fn open_bytes(&self, client: &str, file: &Path, bytes: &[u8]) -> Result<VaultDocument, VaultError> {
        let plain = self.keys.decrypt(bytes, file)?;
        let mut doc = document::parse(&plain, client, file)?;
        self.overlay_reveals(&mut doc);
        Ok(doc)
    }

    /// Encrypts `doc` for `client` the way a vault file is written, into memory (for exports
    /// and tests).
    pub fn seal(&self, client: &str, doc: &VaultDocument) -> Result<Vec<u8>, VaultError> {
        let out = self.keys.encrypt_to(self.inventory, client, Vec::new(), |w| {
            serde_json::to_writer(&mut *w, doc).map_err(std::io::Error::other)?;
            w.flush()
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Password;

    fn workspace() -> (tempfile::TempDir, Workspace, Inventory, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::at_unchecked(dir.path());
        ws.create_layout().unwrap();
        let key = dir.path().join("id.txt");
        let public = crate::keys::new_identity_file(&key, None).unwrap();
        let inv = Inventory {
            recipients: vec![public],
            ..Default::default()
        };
        (dir, ws, inv, KeyRing::with_identity_file(Some(key)))
    }

    #[test]
    fn paths_need_three_valid_parts() {
        assert_eq!(VaultPath::parse("acme/rtr1/admin").unwrap().key(), "rtr1/admin");
        assert!(VaultPath::parse("acme/rtr1").is_err());
        assert!(VaultPath::parse("acme/../admin").is_err());
        assert!(VaultPath::parse("acme/rtr1/admin/x").is_err());
    }

    #[test]
    fn a_failing_change_writes_nothing() {
        let (_d, ws, inv, keys) = workspace();
        let vault = Vault::new(&ws, &inv, &keys);
        vault
            .update("acme", |doc| {
                doc.entries.insert("r/a".into(), Entry::new("a", Password::new("p1")));
                Ok::<_, VaultError>(())
            })
            .unwrap();
        let before = std::fs::read(ws.vault_file("acme")).unwrap();
        let err = vault
            .update("acme", |doc| {
                doc.entries.clear();
                Err::<(), _>(VaultError::Refused("no".into()))
            })
            .unwrap_err();
        assert!(matches!(err, VaultError::Refused(_)));
        assert_eq!(std::fs::read(ws.vault_file("acme")).unwrap(), before);
        assert_eq!(vault.load("acme").unwrap().entries["r/a"].password.expose(), "p1");
        assert_eq!(vault.clients().unwrap(), ["acme"]);
    }
}
