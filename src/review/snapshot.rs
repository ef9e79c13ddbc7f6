//! Discovery snapshots: what `keyreeve discover` saw on one target at one time, kept as JSON under
//! `state/snapshots/CLIENT/TARGET/<time>.json`. They hold account names and privileges, never a
//! secret, so a reviewer without the vault's keys can still review; and because each run adds a
//! file, they are the record of how admin membership changed over time.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ReviewError;
use crate::connector::ldap::domain::DomainFacts;
use crate::connector::AccountInfo;

/// Whether the vault held an account's password when the snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InVault {
    Yes,
    No,
    /// The vault could not be read.
    Unknown,
}

impl InVault {
    pub fn as_str(self) -> &'static str {
        match self {
            InVault::Yes => "yes",
            InVault::No => "no",
            InVault::Unknown => "unknown",
        }
    }
}

/// One account as discovery reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRecord {
    #[serde(flatten)]
    pub account: AccountInfo,
    pub in_vault: InVault,
    /// `accepted`, `rejected`, or the error; absent without `--verify` or without a stored password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// What to do when the verification ended in an error (a locked account, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_hint: Option<String>,
    /// A device account the vault does not know.
    pub flagged: bool,
}

/// One target's discovery: the accounts, or why there are none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// `CLIENT/TARGET`.
    pub target: String,
    pub kind: String,
    pub taken_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub accounts: Vec<AccountRecord>,
    /// A domain's own facts (AD): scope, password policy, krbtgt, Guest, computers. Absent for
    /// devices and in snapshots taken before keyreeve read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<crate::connector::ldap::domain::DomainFacts>,
    /// Where the snapshot was saved (set by [`SnapshotStore::save`] and [`SnapshotStore::read`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<PathBuf>,
}

impl Snapshot {
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Admin accounts the vault does not know.
    pub fn unknown_admins(&self) -> impl Iterator<Item = &AccountRecord> {
        self.accounts.iter().filter(|a| a.flagged && a.account.admin)
    }
}

/// The snapshots of a workspace: `state/snapshots/CLIENT/TARGET/<time>.json`.
pub struct SnapshotStore {
    /// Where no link is followed from: the workspace root, or `dir` itself.
    root: PathBuf,
    dir: PathBuf,
}

impl SnapshotStore {
    /// The snapshots in `dir`, trusting `dir` itself (tests and tools).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        SnapshotStore { root: dir.clone(), dir }
    }

    /// The snapshots of `workspace`: no link from its root down is followed.
    pub fn of_workspace(workspace: &crate::workspace::Workspace) -> Self {
        SnapshotStore {
            root: workspace.root().to_path_buf(),
            dir: workspace.snapshots_dir(),
        }
    }

    fn target_dir(&self, client: &str, target: &str) -> PathBuf {
        self.dir.join(client).join(target)
    }

    /// Writes one target's snapshot atomically and records where in `snapshot.snapshot`. A
    /// failed discovery goes to `last-failure.json` instead, which the next good one removes:
    /// reviews keep resting on the last good snapshot, and say that discovery has failed since.
    pub fn save(&self, client: &str, target: &str, snapshot: &mut Snapshot) -> Result<PathBuf, ReviewError> {
        let dir = self.target_dir(client, target);
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReviewError::Write { path, source }
        };
        crate::safe_fs::create_dir_all(&self.root, &dir).map_err(failed(&dir))?;
        let failure = dir.join(LAST_FAILURE);
        let path = if snapshot.failed() {
            failure.clone()
        } else {
            dir.join(format!("{}.json", snapshot.taken_at.format(NAME_FORMAT)))
        };
        snapshot.snapshot = None;
        let json = serde_json::to_vec_pretty(&*snapshot).expect("a snapshot always serializes");
        // Account names and privileges are no secret, but no business of other local users.
        crate::vault::store::write_atomic(&self.root, &path, 0o600, |w| w.write_all(&json)).map_err(failed(&path))?;
        if !snapshot.failed() {
            crate::safe_fs::remove_file(&self.root, &failure).map_err(failed(&failure))?;
            self.drop_the_middle_of_a_repeat(client, target, snapshot)?;
        }
        snapshot.snapshot = Some(path.clone());
        Ok(path)
    }

    /// A service saves a snapshot every run, and most runs see what the last one saw. Of three
    /// snapshots in a row with the same accounts the middle one says nothing the other two do
    /// not (every question a review asks, "what was there at time T", gets the same answer
    /// without it), so it goes: the folder grows with changes, not with runs.
    fn drop_the_middle_of_a_repeat(&self, client: &str, target: &str, newest: &Snapshot) -> Result<(), ReviewError> {
        let files = self.files(client, target)?;
        let [.., first, middle, _newest] = files.as_slice() else {
            return Ok(());
        };
        let (first, middle_snapshot) = (Self::read(first)?, Self::read(middle)?);
        let same = |a: &Snapshot, b: &Snapshot| {
            a.kind == b.kind
                && serde_json::to_value(&a.accounts).ok() == serde_json::to_value(&b.accounts).ok()
                && a.domain.as_ref().map(DomainFacts::without_times)
                    == b.domain.as_ref().map(DomainFacts::without_times)
        };
        if same(&first, &middle_snapshot) && same(&middle_snapshot, newest) {
            crate::safe_fs::remove_file(&self.root, middle).map_err(|source| ReviewError::Write {
                path: middle.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// The last failed discovery of one target, if none has worked since.
    pub fn last_failure(&self, client: &str, target: &str) -> Result<Option<Snapshot>, ReviewError> {
        let path = self.target_dir(client, target).join(LAST_FAILURE);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Self::read(&path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReviewError::Read { path, source }),
        }
    }

    /// Every snapshot file of one target, oldest first (their names sort by time).
    pub fn files(&self, client: &str, target: &str) -> Result<Vec<PathBuf>, ReviewError> {
        let dir = self.target_dir(client, target);
        // Regular files only, in real folders: a link is never read nor, when a repeat is
        // dropped, removed.
        crate::safe_fs::list_files(&self.root, &dir, |name| name.ends_with(".json") && name != LAST_FAILURE)
            .map_err(|source| ReviewError::Read { path: dir, source })
    }

    /// Reads one snapshot file; a damaged one is an error naming it.
    pub fn read(path: &Path) -> Result<Snapshot, ReviewError> {
        let bytes = crate::safe_fs::read_existing(path, crate::safe_fs::Limit::SNAPSHOT).map_err(|source| {
            ReviewError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let mut snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| ReviewError::Damaged {
            path: path.to_path_buf(),
            line: e.line(),
            message: e.to_string(),
        })?;
        check_names(&snapshot).map_err(|(field, problem)| ReviewError::Damaged {
            path: path.to_path_buf(),
            line: line_of_field(&bytes, field),
            message: problem.to_string(),
        })?;
        snapshot.snapshot = Some(path.to_path_buf());
        Ok(snapshot)
    }

    /// The newest snapshot of one target taken at or before `at` (the newest of all without `at`).
    /// A service saves a few snapshots a day for years, so files whose names say they are newer
    /// than `at` are skipped unread.
    pub fn newest(
        &self,
        client: &str,
        target: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<Option<Snapshot>, ReviewError> {
        for file in self.files(client, target)?.iter().rev() {
            if let (Some(at), Some(named)) = (at, time_in_name(file)) {
                if named > at {
                    continue;
                }
            }
            let snapshot = Self::read(file)?;
            if at.is_none_or(|at| snapshot.taken_at <= at) {
                return Ok(Some(snapshot));
            }
        }
        Ok(None)
    }

    /// The first snapshot of one target.
    pub fn oldest(&self, client: &str, target: &str) -> Result<Option<Snapshot>, ReviewError> {
        self.files(client, target)?.first().map(|f| Self::read(f)).transpose()
    }

    /// The snapshots taken strictly between `from` and `to`, oldest first.
    pub fn between(
        &self,
        client: &str,
        target: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Snapshot>, ReviewError> {
        let mut out = Vec::new();
        for file in self.files(client, target)? {
            if time_in_name(&file).is_some_and(|t| t <= from || t >= to) {
                continue;
            }
            let s = Self::read(&file)?;
            if s.taken_at > from && s.taken_at < to {
                out.push(s);
            }
        }
        Ok(out)
    }
}

/// A snapshot's own names are checked as keyreeve.toml checks them. Account names are the
/// device's or directory's, which may hold anything (a hostile admin named with a terminal escape
/// must still be reported): they are kept as they are and escaped wherever they are shown.
fn check_names(snapshot: &Snapshot) -> Result<(), (&'static str, crate::validate::Invalid)> {
    crate::validate::target_path(&snapshot.target).map_err(|e| ("target", e))?;
    crate::validate::name("kind", &snapshot.kind).map_err(|e| ("kind", e))?;
    Ok(())
}

/// The line of a snapshot's top-level `"field":` (the first one), else 1.
fn line_of_field(bytes: &[u8], field: &str) -> usize {
    let key = format!("\"{field}\":");
    memchr::memmem::find(bytes, key.as_bytes())
        .map(|at| bytes[..at].iter().filter(|b| **b == b'\n').count() + 1)
        .unwrap_or(1)
}

/// The time a snapshot file's name gives (`20261127T231609.340Z.json`), if it has that form.
fn time_in_name(path: &Path) -> Option<DateTime<Utc>> {
    let stem = path.file_stem()?.to_str()?;
    chrono::NaiveDateTime::parse_from_str(stem, NAME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

const NAME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// Where a target's failed discovery is kept until one works again.
const LAST_FAILURE: &str = "last-failure.json";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::test_support::{device_account, snapshot};
    use chrono::Duration;

    fn account(name: &str, admin: bool) -> AccountRecord {
        device_account(name, admin, InVault::No)
    }

    #[test]
    fn saved_snapshots_read_back_newest_at_a_time_and_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let t0 = Utc::now() - Duration::days(10);
        let mut first = snapshot(t0, vec![account("admin", true)]);
        let mut second = snapshot(
            t0 + Duration::days(5),
            vec![account("admin", true), account("new", true)],
        );
        store.save("acme", "rtr1", &mut first).unwrap();
        store.save("acme", "rtr1", &mut second).unwrap();

        let newest = store.newest("acme", "rtr1", None).unwrap().unwrap();
        assert_eq!(newest.accounts.len(), 2);
        assert_eq!(newest.snapshot, second.snapshot);
        let then = store
            .newest("acme", "rtr1", Some(t0 + Duration::days(1)))
            .unwrap()
            .unwrap();
        assert_eq!(then.taken_at, t0);
        assert!(store
            .newest("acme", "rtr1", Some(t0 - Duration::days(1)))
            .unwrap()
            .is_none());
        assert_eq!(store.oldest("acme", "rtr1").unwrap().unwrap().taken_at, t0);
        assert!(store.newest("acme", "other", None).unwrap().is_none());
        let named = time_in_name(second.snapshot.as_ref().unwrap()).unwrap();
        assert_eq!(named.timestamp_millis(), second.taken_at.timestamp_millis());
        // A damaged file newer than the time asked for is never read.
        std::fs::write(second.snapshot.as_ref().unwrap(), "{").unwrap();
        assert_eq!(store.newest("acme", "rtr1", Some(t0)).unwrap().unwrap().taken_at, t0);
        assert!(store.newest("acme", "rtr1", None).is_err());
    }

    #[test]
    fn a_failed_discovery_is_kept_apart_until_one_works_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let t0 = Utc::now() - Duration::days(2);
        let mut good = snapshot(t0, vec![account("admin", true)]);
        store.save("acme", "rtr1", &mut good).unwrap();
        let mut bad = snapshot(t0 + Duration::days(1), vec![]);
        bad.error = Some("acme/rtr1: connection refused".into());
        store.save("acme", "rtr1", &mut bad).unwrap();

        assert_eq!(store.newest("acme", "rtr1", None).unwrap().unwrap().taken_at, t0);
        assert_eq!(store.files("acme", "rtr1").unwrap().len(), 1);
        let failure = store.last_failure("acme", "rtr1").unwrap().unwrap();
        assert_eq!(failure.error.as_deref(), Some("acme/rtr1: connection refused"));

        let mut again = snapshot(t0 + Duration::days(2), vec![account("admin", true)]);
        store.save("acme", "rtr1", &mut again).unwrap();
        assert!(store.last_failure("acme", "rtr1").unwrap().is_none());
        assert_eq!(store.files("acme", "rtr1").unwrap().len(), 2);
    }

    #[test]
    fn repeats_keep_their_first_and_last_snapshot_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let t0 = Utc::now() - Duration::days(30);
        let save = |day: i64, accounts: Vec<AccountRecord>| {
            let mut s = snapshot(t0 + Duration::days(day), accounts);
            store.save("acme", "rtr1", &mut s).unwrap();
        };
        let days = || -> Vec<i64> {
            store
                .files("acme", "rtr1")
                .unwrap()
                .iter()
                .map(|f| (SnapshotStore::read(f).unwrap().taken_at - t0).num_days())
                .collect()
        };
        for day in 0..4 {
            save(day, vec![account("admin", true)]);
        }
        assert_eq!(days(), [0, 3]);
        save(4, vec![account("admin", true), account("new", true)]);
        save(5, vec![account("admin", true), account("new", true)]);
        save(6, vec![account("admin", true), account("new", true)]);
        assert_eq!(days(), [0, 3, 4, 6]);
        // Any time in a collapsed run still finds the same accounts.
        let at_day_2 = store
            .newest("acme", "rtr1", Some(t0 + Duration::days(2)))
            .unwrap()
            .unwrap();
        assert_eq!(at_day_2.accounts.len(), 1);
        let at_day_5 = store
            .newest("acme", "rtr1", Some(t0 + Duration::days(5)))
            .unwrap()
            .unwrap();
        assert_eq!(at_day_5.accounts.len(), 2);
    }

    /// A snapshot naming a target keyreeve.toml could not hold is damage, named with its line
    /// and shown escaped; a hostile account name is kept (it is what the review must report).
    #[test]
    fn a_snapshot_with_a_forged_target_is_damaged_and_odd_accounts_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let mut s = snapshot(Utc::now(), vec![account("\u{1b}[2Jroot", true)]);
        let path = store.save("acme", "rtr1", &mut s).unwrap();
        let kept = SnapshotStore::read(&path).unwrap();
        assert_eq!(kept.accounts[0].account.name, "\u{1b}[2Jroot");
        let text = std::fs::read_to_string(&path).unwrap();
        for (forged, named) in [
            (r#""target": "acme/rtr1\n\u001b[2J""#, r"target `acme/rtr1\n\u{1b}[2J`"),
            (r#""target": "../../etc""#, "target `../../etc`"),
            (r#""kind": "x\ny""#, r"kind `x\ny`"),
        ] {
            let field = &forged[..forged.find(':').unwrap()];
            let line = text.lines().find(|l| l.trim_start().starts_with(field)).unwrap();
            std::fs::write(&path, text.replacen(line.trim_start().trim_end_matches(','), forged, 1)).unwrap();
            let err = SnapshotStore::read(&path).unwrap_err();
            let shown = err.to_string();
            assert!(matches!(err, ReviewError::Damaged { line, .. } if line > 1), "{shown}");
            assert!(shown.contains(named), "{shown}");
            assert!(!shown.contains(['\n', '\u{1b}']), "{shown:?}");
        }
    }

    /// A snapshot saved before domain facts existed loads with none; one with them keeps them,
    /// and a change of the facts alone is no repeat to fold away.
    #[test]
    fn domain_facts_are_optional_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let t0 = Utc::now() - Duration::days(3);
        let mut old = snapshot(t0, vec![account("admin", true)]);
        let path = store.save("acme", "dc1", &mut old).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("\"domain\""));
        assert!(SnapshotStore::read(&path).unwrap().domain.is_none());
        for day in 1..=3 {
            let mut s = snapshot(t0 + Duration::days(day), vec![account("admin", true)]);
            s.domain = Some(crate::connector::ldap::domain::DomainFacts {
                domain: format!("lab{day}.test"),
                ..Default::default()
            });
            store.save("acme", "dc1", &mut s).unwrap();
        }
        assert_eq!(store.files("acme", "dc1").unwrap().len(), 4);
        let newest = store.newest("acme", "dc1", None).unwrap().unwrap();
        assert_eq!(newest.domain.unwrap().domain, "lab3.test");
        // Computers' times alone move every run: such snapshots fold like repeats, the newest kept.
        for day in 4..=6 {
            let mut s = snapshot(t0 + Duration::days(day), vec![account("admin", true)]);
            s.domain = Some(crate::connector::ldap::domain::DomainFacts {
                domain: "lab3.test".into(),
                computers: vec![crate::connector::ldap::domain::Computer {
                    name: "ws1$".into(),
                    last_logon: Some(format!("2026-11-0{day}T00:00:00+00:00")),
                    ..Default::default()
                }],
                ..Default::default()
            });
            store.save("acme", "dc1", &mut s).unwrap();
        }
        assert_eq!(store.files("acme", "dc1").unwrap().len(), 6);
        let newest = store.newest("acme", "dc1", None).unwrap().unwrap();
        let logon = newest.domain.unwrap().computers[0].last_logon.clone();
        assert_eq!(logon.as_deref(), Some("2026-11-06T00:00:00+00:00"));
    }

    #[test]
    fn a_damaged_snapshot_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let mut s = snapshot(Utc::now(), vec![account("admin", true)]);
        let path = store.save("acme", "rtr1", &mut s).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"admin\": true", "\"admin\": maybe", 1)).unwrap();
        let err = store.newest("acme", "rtr1", None).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        assert!(matches!(err, ReviewError::Damaged { line, .. } if line > 1), "{shown}");
    }
}
