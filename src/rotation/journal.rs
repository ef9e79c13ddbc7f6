//! The rotation journal: before a target is touched, the account, its old and its new password
//! are written here, age-encrypted to the client's vault recipients and fsynced. A record is
//! removed only after the outcome is stored in the vault, so a crash at any point leaves every
//! password that might be in force on the target. `keyreeve recover` settles what is left.
//!
//! Each apply run holds an exclusive lock on its own run lock file for as long as it lives; the
//! kernel drops it when the process dies, however it dies. A record whose run lock can be taken
//! is therefore an orphan of a dead run, and only orphans are recovered.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RotationError;
use crate::connector::ChangeMethod;
use crate::inventory::Inventory;
use crate::keys::KeyRing;
use crate::secret::Password;
use crate::workspace::Workspace;

/// What a rotation in flight must not lose.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub format: String,
    pub id: String,
    pub run_id: String,
    pub client: String,
    pub target: String,
    pub account: String,
    pub username: String,
    pub method: ChangeMethod,
    /// The account is the one keyreeve logs in with: once changed, logins use the new password.
    #[serde(default)]
    pub is_login: bool,
    pub old: Password,
    pub new: Password,
    pub started_at: DateTime<Utc>,
}

/// The `format` field of every journal record.
pub const RECORD_FORMAT: &str = "keyreeve-journal-record/1";

impl Record {
    /// `CLIENT/TARGET/ACCOUNT`.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.client, self.target, self.account)
    }
}

/// A record found on disk, with its file.
#[derive(Debug)]
pub struct Found {
    pub file: PathBuf,
    pub run_id: String,
}

/// The journal of a workspace.
pub struct Journal<'a> {
    ws: &'a Workspace,
}

/// Proof that this process owns a run: held until dropped (or the process dies).
#[derive(Debug)]
pub struct RunLock {
    pub run_id: String,
    _file: File,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl<'a> Journal<'a> {
    pub fn new(ws: &'a Workspace) -> Self {
        Journal { ws }
    }

    fn io(&self, what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RotationError {
        let path = path.to_path_buf();
        move |source| RotationError::Journal { what, path, source }
    }

    fn run_lock_file(&self, run_id: &str) -> PathBuf {
        self.ws.locks_dir().join(format!("run-{run_id}.lock"))
    }

    /// Starts a run: a fresh run id and its lock.
    pub fn start_run(&self) -> Result<RunLock, RotationError> {
        let run_id = format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let path = self.run_lock_file(&run_id);
        let file = crate::safe_fs::open_writable(self.ws.root(), &path, 0o600, false)
            .map_err(self.io("creating run lock", &path))?;
        file.lock().map_err(self.io("locking", &path))?;
        Ok(RunLock { run_id, _file: file })
    }

    /// Takes the lock of a dead run (to recover its records), or None if the run is alive.
    pub fn claim_orphan_run(&self, run_id: &str) -> Result<Option<RunLock>, RotationError> {
        let path = self.run_lock_file(run_id);
        let file = crate::safe_fs::open_writable(self.ws.root(), &path, 0o600, false)
            .map_err(self.io("opening run lock", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock {
                run_id: run_id.to_string(),
                _file: file,
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(self.io("locking", &path)(e)),
        }
    }

    /// Writes `record` durably: encrypted, fsynced, renamed into place, directory fsynced.
    pub fn write(&self, keys: &KeyRing, inventory: &Inventory, record: &Record) -> Result<PathBuf, RotationError> {
        let dir = self.ws.journal_dir();
        crate::safe_fs::create_dir_all(self.ws.root(), &dir).map_err(self.io("creating", &dir))?;
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(record).map_err(|e| RotationError::Internal(e.to_string()))?);
        let sealed = keys.encrypt_for_client(inventory, &record.client, &plain)?;
        let file = dir.join(format!("{}--{}.age", record.run_id, record.id));
        let tmp = dir.join(format!(".{}--{}.tmp", record.run_id, record.id));
        {
            let mut f = crate::safe_fs::create_new(self.ws.root(), &tmp, 0o600).map_err(self.io("writing", &tmp))?;
            f.write_all(&sealed).map_err(self.io("writing", &tmp))?;
            f.sync_all().map_err(self.io("syncing", &tmp))?;
        }
        crate::safe_fs::rename(self.ws.root(), &tmp, &file).map_err(self.io("renaming", &file))?;
        sync_dir(&dir).map_err(self.io("syncing", &dir))?;
        Ok(file)
    }

    /// Removes a settled record (after its outcome is in the vault).
    pub fn remove(&self, file: &Path) -> Result<(), RotationError> {
        crate::safe_fs::remove_file(self.ws.root(), file).map_err(self.io("removing", file))?;
        sync_dir(&self.ws.journal_dir()).map_err(self.io("syncing", &self.ws.journal_dir()))
    }

    /// Every record on disk, oldest run first.
    pub fn list(&self) -> Result<Vec<Found>, RotationError> {
        let dir = self.ws.journal_dir();
        let files = crate::safe_fs::list_files(self.ws.root(), &dir, |name| name.ends_with(".age"))
            .map_err(self.io("reading", &dir))?;
        let mut found: Vec<Found> = files
            .into_iter()
            .filter_map(|file| {
                let name = file.file_name()?.to_string_lossy().to_string();
                let stem = name.strip_suffix(".age")?;
                let (run_id, _) = stem.split_once("--")?;
                Some(Found {
                    run_id: run_id.to_string(),
                    file,
                })
            })
            .collect();
        found.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(found)
    }

    /// Records of runs that are no longer alive.
    pub fn orphans(&self) -> Result<Vec<Found>, RotationError> {
        let mut out = Vec::new();
        for f in self.list()? {
            if self.claim_orphan_run(&f.run_id)?.is_some() {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Decrypts a record.
    pub fn read(&self, keys: &KeyRing, file: &Path) -> Result<Record, RotationError> {
        let sealed = crate::safe_fs::read_existing(file, crate::safe_fs::Limit::JOURNAL_RECORD)
            .map_err(self.io("reading", file))?;
        let plain = keys.decrypt(&sealed, file)?;
        // serde's own message may quote a value, which here could be a password: give only where.
        let record: Record = serde_json::from_slice(&plain).map_err(|e| RotationError::CorruptJournal {
            path: file.to_path_buf(),
            detail: format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()),
        })?;
        if record.format != RECORD_FORMAT {
            return Err(RotationError::CorruptJournal {
                path: file.to_path_buf(),
                detail: format!("unknown format `{}`", record.format),
            });
        }
        Ok(record)
    }
}
