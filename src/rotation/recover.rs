//! `recover`: settles every rotation an interrupted apply left behind. For each orphaned journal
//! record it proves by fresh logins which password is in force, makes a new one permanent on the
//! target, stores the one that works as current and keeps the other in history, and only then
//! clears the record. A record that cannot be settled (target unreachable, neither password
//! accepted) is kept, with the vault entry still holding every candidate; one that never can
//! (its target is gone) is abandoned on request, its passwords kept in the entry's history.
//! Targets are settled concurrently, the records of one target in order.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::apply::{settle, store_with, AccountResult, Engine, Outcome, Settled};
use super::batch::Batcher;
use super::journal::{Journal, Record, RunLock};
use super::{login_credentials, run_concurrently, ConnectorFactory, RotationError};
use crate::secret::Password;
use crate::vault::{Entry, EntryState, HistoryItem, Vault};

/// A record as `recover --list` shows it (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: String,
    pub file: PathBuf,
    /// `CLIENT/TARGET/ACCOUNT`, or None when the record cannot be read.
    pub path: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// A live apply owns it (recover leaves it alone).
    pub live: bool,
    pub problem: Option<String>,
}

/// What abandoning a record did.
#[derive(Debug, Clone, Serialize)]
pub struct Abandoned {
    pub path: String,
    pub file: PathBuf,
    /// Candidate passwords newly kept in the entry's history.
    pub kept_in_history: usize,
    /// The vault entry was gone and was made again to hold the passwords.
    pub entry_recreated: bool,
    /// Where a record keyreeve could not settle into a vault was moved, whole, instead of removed.
    pub set_aside: Option<PathBuf>,
}

impl Engine<'_> {
    /// Settles every orphaned journal record, up to `concurrency` targets at once; within a
    /// target the login account first (the others' verification logs in through it).
    pub fn recover(
        &self,
        concurrency: usize,
        connector_for: &ConnectorFactory<'_>,
    ) -> Result<Vec<AccountResult>, RotationError> {
        self.recover_guided_too(concurrency, connector_for, None)
    }

    /// [`Engine::recover`], asking `guide` which password is in force for guided rotations
    /// (None: they stay pending, with both passwords).
    pub fn recover_guided_too(
        &self,
        concurrency: usize,
        connector_for: &ConnectorFactory<'_>,
        guide: Option<&dyn super::guided::Guide>,
    ) -> Result<Vec<AccountResult>, RotationError> {
        let journal = Journal::new(self.workspace);
        journal.sweep()?;
        let mut locks: Vec<RunLock> = Vec::new();
        let mut work: Vec<(PathBuf, Record)> = Vec::new();
        let mut results = Vec::new();
        for found in journal.list()? {
            if !locks.iter().any(|l| l.run_id == found.run_id) {
                match journal.claim_orphan_run(&found.run_id)? {
                    Some(l) => locks.push(l),
                    None => continue, // a live apply owns it
                }
            }
            match journal.read(self.keys, &found.file) {
                Ok(r) => work.push((found.file, r)),
                Err(e) => results.push(AccountResult {
                    path: found.file.display().to_string(),
                    outcome: Outcome::Failed {
                        cause: e.to_string(),
                        needs_recover: true,
                    },
                }),
            }
        }
        let (guided, work): (Vec<_>, Vec<_>) = work.into_iter().partition(|(_, r)| self.is_guided(r));
        let mut by_target: BTreeMap<(String, String), Vec<(PathBuf, Record)>> = BTreeMap::new();
        for (file, record) in work {
            by_target
                .entry((record.client.clone(), record.target.clone()))
                .or_default()
                .push((file, record));
        }
        let groups: Vec<Vec<(PathBuf, Record)>> = by_target
            .into_values()
            .map(|mut records| {
                records.sort_by_key(|(_, r)| (!self.is_login(r), r.started_at));
                records
            })
            .collect();
        let batcher = Batcher::new(Vault::new(self.workspace, self.inventory, self.keys));
        let settled = run_concurrently(groups, concurrency, |records| {
            records
                .into_iter()
                .map(|(file, record)| {
                    let outcome = self.recover_one(&record, &file, &batcher, connector_for);
                    self.audit(
                        "rotation.recover",
                        &record.path(),
                        serde_json::json!({ "run": record.run_id, "result": outcome.audit_category() }),
                    );
                    AccountResult {
                        path: record.path(),
                        outcome,
                    }
                })
                .collect::<Vec<_>>()
        });
        results.extend(settled.into_iter().flatten());
        // Guided ones after, one at a time: a person is asked which password is in force.
        for (file, record) in guided {
            let outcome = self.recover_guided(&record, &file, &batcher, guide);
            self.audit(
                "rotation.recover",
                &record.path(),
                serde_json::json!({ "run": record.run_id, "method": "manual", "result": outcome.audit_category() }),
            );
            results.push(AccountResult {
                path: record.path(),
                outcome,
            });
        }
        drop(locks);
        Ok(results)
    }

    fn is_login(&self, record: &Record) -> bool {
        self.inventory
            .target(&record.client, &record.target)
            .map(|t| t.login == record.account)
            .unwrap_or(false)
    }

    fn recover_one(
        &self,
        record: &Record,
        file: &std::path::Path,
        batcher: &Batcher<'_>,
        connector_for: &ConnectorFactory<'_>,
    ) -> Outcome {
        let failed = |cause: String| Outcome::Failed {
            cause,
            needs_recover: true,
        };
        let target = match self.inventory.target(&record.client, &record.target) {
            Ok(t) => t,
            Err(e) => {
                return failed(format!(
                    "{e}; if the target is gone for good, `keyreeve recover --abandon {}` keeps its passwords in the vault entry's history and clears the record",
                    record.id
                ))
            }
        };
        let connector = match connector_for(target) {
            Ok(c) => c,
            Err(e) => return failed(e.to_string()),
        };
        let vault = Vault::new(self.workspace, self.inventory, self.keys);
        let doc = match vault.load(&record.client) {
            Ok(d) => d,
            Err(e) => return failed(format!("reading the vault: {e}")),
        };
        let mut creds = match login_credentials(target, &doc) {
            Ok(c) => c,
            Err(e) => return failed(e.to_string()),
        };
        if record.account == target.login {
            creds.secret = record.old.clone();
        }
        let settled = settle(connector.as_ref(), &creds, record, true);
        let settled = match settled {
            Settled::New => Settled::New,
            Settled::Old | Settled::NotSent => Settled::Old,
            Settled::Unknown(why) => {
                return failed(format!(
                    "{why}; the record is kept, try again when the target is reachable"
                ))
            }
        };
        if let Err(e) = store_with(batcher, record, &settled) {
            return failed(format!("storing the result in the vault failed: {e}"));
        }
        if let Err(e) = Journal::new(self.workspace).remove(file) {
            return failed(e.to_string());
        }
        if settled == Settled::New {
            Outcome::Rotated
        } else {
            Outcome::Failed {
                cause: "the target holds the old password; it is kept as current".into(),
                needs_recover: false,
            }
        }
    }

    /// Every journal record, for people to choose from (no secret).
    pub fn list_records(&self) -> Result<Vec<Listed>, RotationError> {
        let journal = Journal::new(self.workspace);
        let mut out = Vec::new();
        for found in journal.list()? {
            let id = found
                .file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .and_then(|n| Some(n.strip_suffix(".age")?.split_once("--")?.1.to_string()))
                .unwrap_or_default();
            let live = journal.claim_orphan_run(&found.run_id)?.is_none();
            let (path, started_at, problem) = match journal.read(self.keys, &found.file) {
                Ok(r) => (Some(r.path()), Some(r.started_at), None),
                Err(e) => (None, None, Some(e.to_string())),
            };
            out.push(Listed {
                id,
                file: found.file,
                path,
                started_at,
                live,
                problem,
            });
        }
        Ok(out)
    }

    /// Reads the record `wanted` (file or id) of a dead run, for confirmation before abandoning.
    pub fn record_to_abandon(&self, wanted: &str) -> Result<(PathBuf, ToAbandon), RotationError> {
        let journal = Journal::new(self.workspace);
        let found = journal.find(wanted)?;
        if journal.claim_orphan_run(&found.run_id)?.is_none() {
            return Err(RotationError::LiveRun(found.run_id));
        }
        let what = self.to_abandon(&journal, &found.file);
        Ok((found.file, what))
    }

    fn to_abandon(&self, journal: &Journal<'_>, file: &std::path::Path) -> ToAbandon {
        match journal.read(self.keys, file) {
            // A client gone from the inventory has no vault keyreeve manages any more (writing
            // one would leave a stray file nobody looks at): the record, still decryptable with
            // the identity, is kept whole instead.
            Ok(record) if self.inventory.client(&record.client).is_err() => ToAbandon::SetAside {
                detail: format!(
                    "the rotation of {} whose client is no longer in keyreeve.toml",
                    record.path()
                ),
            },
            Ok(record) => ToAbandon::Record(Box::new(record)),
            Err(e) => ToAbandon::SetAside {
                detail: format!("unreadable: {e}"),
            },
        }
    }

    /// Gives up settling a record: every password it holds is kept in its vault entry (the one
    /// the vault holds stays current; the others go to history, so none that might be in force
    /// is lost), the abandonment is audited, and only then is the record removed. A record
    /// keyreeve cannot read, or whose client is gone from the inventory, is not removed but set aside
    /// (`state/journal/abandoned/`), to be decrypted by hand: nothing it holds is lost.
    pub fn abandon(&self, wanted: &str) -> Result<Abandoned, RotationError> {
        let journal = Journal::new(self.workspace);
        let found = journal.find(wanted)?;
        let Some(_run) = journal.claim_orphan_run(&found.run_id)? else {
            return Err(RotationError::LiveRun(found.run_id));
        };
        let record = match self.to_abandon(&journal, &found.file) {
            ToAbandon::Record(record) => record,
            ToAbandon::SetAside { detail } => {
                let name = found
                    .file
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let kept_at = journal.set_aside(&found.file)?;
                self.audit(
                    "rotation.abandon",
                    &name,
                    serde_json::json!({ "run": found.run_id, "set_aside": detail, "kept_at": kept_at }),
                );
                return Ok(Abandoned {
                    path: name,
                    file: found.file,
                    kept_in_history: 0,
                    entry_recreated: false,
                    set_aside: Some(kept_at),
                });
            }
        };
        let vault = Vault::new(self.workspace, self.inventory, self.keys);
        let (kept_in_history, entry_recreated) = vault.update(&record.client, |doc| {
            let key = format!("{}/{}", record.target, record.account);
            Ok::<_, RotationError>(keep_candidates(doc.entries.entry(key), &record))
        })?;
        self.audit(
            "rotation.abandon",
            &record.path(),
            serde_json::json!({
                "run": record.run_id,
                "record": record.id,
                "kept_in_history": kept_in_history,
                "entry_recreated": entry_recreated,
            }),
        );
        journal.remove(&found.file)?;
        Ok(Abandoned {
            path: record.path(),
            file: found.file,
            kept_in_history,
            entry_recreated,
            set_aside: None,
        })
    }
}

/// A record chosen to be abandoned, as far as keyreeve can read it.
#[derive(Debug)]
pub enum ToAbandon {
    Record(Box<Record>),
    /// Not decryptable, not a record, or of a client gone from the inventory: it can only be
    /// set aside, whole.
    SetAside {
        detail: String,
    },
}

/// Keeps the record's passwords in the entry (made again if it is gone): returns how many went to
/// history and whether the entry was made again. The entry leaves the pending state only if this
/// record put it there.
fn keep_candidates(slot: std::collections::btree_map::Entry<'_, String, Entry>, record: &Record) -> (usize, bool) {
    let mut recreated = false;
    let entry = slot.or_insert_with(|| {
        recreated = true;
        Entry::new(record.username.clone(), record.old.clone())
    });
    let now = Utc::now();
    let mut kept = 0;
    let mut keep = |entry: &mut Entry, password: &Password| {
        let known = entry.password == *password || entry.history.iter().any(|h| h.password == *password);
        if !known {
            entry.history.push(HistoryItem {
                password: password.clone(),
                replaced_at: now,
            });
            kept += 1;
        }
    };
    keep(entry, &record.old);
    keep(entry, &record.new);
    if entry.pending.as_ref().is_some_and(|p| p.journal_id == record.id) {
        if let Some(pending) = entry.pending.take() {
            for candidate in &pending.candidates {
                keep(entry, candidate);
            }
        }
        entry.state = EntryState::Current;
    }
    (kept, recreated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ChangeMethod;
    use crate::vault::PendingRotation;

    fn record(id: &str) -> Record {
        Record {
            format: super::super::journal::RECORD_FORMAT.into(),
            id: id.into(),
            run_id: "20250101T000000Z-deadbeef".into(),
            client: "acme".into(),
            target: "gone".into(),
            account: "admin".into(),
            username: "admin".into(),
            method: ChangeMethod::AdminReset,
            is_login: false,
            old: Password::new("Old-password-1"),
            new: Password::new("New-password-2"),
            started_at: Utc::now(),
        }
    }

    #[test]
    fn abandoning_keeps_every_password_and_releases_only_its_own_claim() {
        let r = record("r1");
        // The entry is gone: it is made again, the old password current, the new in history.
        let mut entries = BTreeMap::new();
        assert_eq!(keep_candidates(entries.entry("gone/admin".into()), &r), (1, true));
        let e = &entries["gone/admin"];
        assert_eq!((e.password.expose(), e.state), ("Old-password-1", EntryState::Current));
        assert_eq!(e.history[0].password.expose(), "New-password-2");

        // The entry is pending for another rotation: the passwords are kept, the claim stays.
        let mut other = Entry::new("admin", Password::new("Current-3"));
        other.state = EntryState::Pending;
        other.pending = Some(PendingRotation {
            journal_id: "r2".into(),
            started_at: Utc::now(),
            candidates: vec![Password::new("Other-candidate-4")],
        });
        let mut entries = BTreeMap::from([("gone/admin".to_string(), other)]);
        assert_eq!(keep_candidates(entries.entry("gone/admin".into()), &r), (2, false));
        let e = &entries["gone/admin"];
        assert_eq!(e.state, EntryState::Pending);
        assert_eq!(e.pending.as_ref().unwrap().journal_id, "r2");

        // Pending for this record: released, its candidates kept.
        let mut mine = Entry::new("admin", Password::new("Old-password-1"));
        mine.state = EntryState::Pending;
        mine.pending = Some(PendingRotation {
            journal_id: "r1".into(),
            started_at: Utc::now(),
            candidates: vec![Password::new("New-password-2")],
        });
        let mut entries = BTreeMap::from([("gone/admin".to_string(), mine)]);
        assert_eq!(keep_candidates(entries.entry("gone/admin".into()), &r), (1, false));
        let e = &entries["gone/admin"];
        assert_eq!(e.state, EntryState::Current);
        assert!(e.pending.is_none());
        assert_eq!(e.history.len(), 1);
    }
}
