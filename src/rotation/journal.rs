//! The rotation journal: before a target is touched, the account, its old and its new password
//! are written here, age-encrypted to the client's vault recipients and fsynced. A record is
//! removed only after the outcome is stored in the vault, so a crash at any point leaves every
//! password that might be in force on the target. `keyreeve recover` settles what is left.
//!
//! Each apply run holds an exclusive lock on its own run lock file for as long as it lives; the
//! kernel drops it when the process dies, however it dies. A record whose run lock can be taken
//! is therefore an orphan of a dead run, and only orphans are recovered.
//!
//! What crashes leave besides records is cleared by [`Journal::sweep`] (at the start of `apply`
//! and of `recover`): `.tmp` records of dead runs and lock files of runs no process holds that
//! have no record left. A run's lock also removes its own file when it ends with no record left.

use std::fs::{File, OpenOptions};
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
    file: File,
    path: PathBuf,
    journal_dir: PathBuf,
}

impl Drop for RunLock {
    /// A run with no record left has nothing to recover: its lock file goes, still locked, so
    /// that any other process either saw it held or finds no record of the run to act on.
    fn drop(&mut self) {
        if !run_has_files(&self.journal_dir, &self.run_id) {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
    }
}

/// Whether any journal file (record or `.tmp`) of `run_id` is left, or the folder is unreadable.
fn run_has_files(journal_dir: &Path, run_id: &str) -> bool {
    let prefix = format!("{run_id}--");
    let dotted = format!(".{run_id}--");
    match std::fs::read_dir(journal_dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.starts_with(&prefix) || name.starts_with(&dotted)
        }),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// Whether `id` is what [`Journal::start_run`] makes: `YYYYMMDDTHHMMSSZ-` and 8 hex digits.
fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 25
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// How long a half-made run lock (`run-*.lock.new`) is left alone: its run may be starting.
const NEW_LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

fn file_names(dir: &Path) -> std::io::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
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
        // Locked under another name first, then renamed: whoever finds `run-ID.lock` finds it
        // held, so a sweep can never take an unlocked live run's file for a dead one.
        let path = self.run_lock_file(&run_id);
        let new_path = path.with_extension("lock.new");
        let file = crate::safe_fs::create_new(self.ws.root(), &new_path, 0o600)
            .map_err(self.io("creating run lock", &new_path))?;
        file.lock().map_err(self.io("locking", &new_path))?;
        std::fs::rename(&new_path, &path).map_err(self.io("creating run lock", &path))?;
        Ok(self.run_lock(run_id, file))
    }

    fn run_lock(&self, run_id: String, file: File) -> RunLock {
        RunLock {
            path: self.run_lock_file(&run_id),
            run_id,
            file,
            journal_dir: self.ws.journal_dir(),
        }
    }

    /// Takes the lock of a dead run (to recover its records), or None if the run is alive.
    pub fn claim_orphan_run(&self, run_id: &str) -> Result<Option<RunLock>, RotationError> {
        let path = self.run_lock_file(run_id);
        let file = crate::safe_fs::open_writable(self.ws.root(), &path, 0o600, false)
            .map_err(self.io("opening run lock", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(self.run_lock(run_id.to_string(), file))),
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

    /// Moves a record that cannot be read out of the journal, whole (it may hold the only copy of
    /// a password someone can still decrypt): `state/journal/abandoned/`, mode 0700.
    pub fn set_aside(&self, file: &Path) -> Result<PathBuf, RotationError> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.ws.journal_dir().join("abandoned");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(self.io("creating", &dir))?;
        let name = file.file_name().unwrap_or_default();
        let kept = dir.join(name);
        std::fs::rename(file, &kept).map_err(self.io("moving", file))?;
        sync_dir(&dir).map_err(self.io("syncing", &dir))?;
        sync_dir(&self.ws.journal_dir()).map_err(self.io("syncing", &self.ws.journal_dir()))?;
        Ok(kept)
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

    /// Clears what crashed runs left besides their records, and says how many files went.
    ///
    /// A `.tmp` record is the encrypted journal record before its rename. The rename comes
    /// before the vault entry is claimed and before the target is touched, so a `.tmp` that is
    /// still a `.tmp` means no target was ever sent its candidate password, and its old password
    /// is the one the vault still holds as current (unclaimed): it is never the only copy of a
    /// password that might be in force, and is removed once its run is dead. A run lock goes when
    /// no process holds it and its run has no record left (a dead run with records keeps its lock
    /// until `recover` settles them, and then it goes with them).
    pub fn sweep(&self) -> Result<usize, RotationError> {
        let mut removed = 0;
        let journal_dir = self.ws.journal_dir();
        for name in file_names(&journal_dir).map_err(self.io("reading", &journal_dir))? {
            let Some(run_id) = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".tmp"))
                .and_then(|n| n.split_once("--"))
                .map(|(run, _)| run.to_string())
            else {
                continue;
            };
            if !self.run_is_alive(&run_id)? {
                let path = journal_dir.join(&name);
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.io("removing", &path)(e)),
                }
            }
        }
        let locks_dir = self.ws.locks_dir();
        for name in file_names(&locks_dir).map_err(self.io("reading", &locks_dir))? {
            let path = locks_dir.join(&name);
            // Only names a run id makes: a client's vault lock (`CLIENT.lock`) is never touched.
            if let Some(run_id) = name
                .strip_prefix("run-")
                .and_then(|n| n.strip_suffix(".lock"))
                .filter(|id| is_run_id(id))
            {
                if !run_has_files(&journal_dir, run_id) && self.claim_orphan_run(run_id)?.is_some() {
                    removed += 1; // the claim's drop removed it
                }
            } else if name
                .strip_prefix("run-")
                .and_then(|n| n.strip_suffix(".lock.new"))
                .is_some_and(is_run_id)
            {
                let old = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > NEW_LOCK_GRACE);
                let unheld = File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
                if old && unheld && std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Whether a live process holds `run_id`'s lock (a run without a lock file is dead: the
    /// file exists, locked, before the run writes anything).
    fn run_is_alive(&self, run_id: &str) -> Result<bool, RotationError> {
        let path = self.run_lock_file(run_id);
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io("opening run lock", &path)(e)),
        };
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(self.io("locking", &path)(e)),
        }
    }

    /// The record named by `wanted`: its file (as a path, or its name) or its record id.
    pub fn find(&self, wanted: &str) -> Result<Found, RotationError> {
        let all = self.list()?;
        let name_of = |f: &Found| {
            f.file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        };
        let wanted_name = Path::new(wanted)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let matches: Vec<Found> = all
            .into_iter()
            .filter(|f| {
                let name = name_of(f);
                let id = name
                    .strip_suffix(".age")
                    .and_then(|n| n.split_once("--"))
                    .map(|(_, id)| id.to_string())
                    .unwrap_or_default();
                name == wanted_name || id == wanted
            })
            .collect();
        match <[Found; 1]>::try_from(matches) {
            Ok([found]) => Ok(found),
            Err(_) => Err(RotationError::NoSuchRecord(wanted.to_string())),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_run_ids_are_swept_from_the_locks() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = Workspace::at_unchecked(tmp.path().join("ws"));
        ws.create_layout().unwrap();
        let locks = ws.locks_dir();
        let run = Journal::new(&ws).start_run().unwrap();
        let id = run.run_id.clone();
        assert!(is_run_id(&id), "{id}");
        drop(run);
        assert!(
            !locks.join(format!("run-{id}.lock")).exists(),
            "a run with no record kept its lock"
        );
        // A client's vault lock whose name starts like a run's, and a dead run's lock.
        for name in ["run-acme.lock", "run-20250101T000000Z-deadbeef.lock"] {
            std::fs::write(locks.join(name), "").unwrap();
        }
        assert_eq!(Journal::new(&ws).sweep().unwrap(), 1);
        assert!(locks.join("run-acme.lock").exists());
        assert!(!locks.join("run-20250101T000000Z-deadbeef.lock").exists());
    }
}
