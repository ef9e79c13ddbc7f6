//! `recover`: settles every rotation an interrupted apply left behind. For each orphaned journal
//! record it proves by fresh logins which password is in force, makes a new one permanent on the
//! target, stores the one that works as current and keeps the other in history, and only then
//! clears the record. A record that cannot be settled (target unreachable, neither password
//! accepted) is kept, with the vault entry still holding every candidate.

use super::apply::{settle, store, AccountResult, Engine, Outcome, Settled};
use super::journal::{Journal, Record};
use super::ConnectorFactory;
use super::{login_credentials, RotationError};
use crate::vault::Vault;

impl Engine<'_> {
    /// Settles every orphaned journal record, login accounts first (the others' verification
    /// may log in through them).
    pub fn recover(&self, connector_for: &ConnectorFactory<'_>) -> Result<Vec<AccountResult>, RotationError> {
        let journal = Journal::new(self.workspace);
        let mut locks = Vec::new();
        let mut work: Vec<(std::path::PathBuf, Record)> = Vec::new();
        let mut results = Vec::new();
        for found in journal.list()? {
            let lock = if let Some(l) = locks
                .iter()
                .find(|l: &&super::journal::RunLock| l.run_id == found.run_id)
            {
                Some(l.run_id.clone())
            } else {
                journal.claim_orphan_run(&found.run_id)?.map(|l| {
                    let id = l.run_id.clone();
                    locks.push(l);
                    id
                })
            };
            if lock.is_none() {
                continue; // a live apply owns it
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
        work.sort_by_key(|(_, r)| {
            let is_login = self
                .inventory
                .target(&r.client, &r.target)
                .map(|t| t.login == r.account)
                .unwrap_or(false);
            (!is_login, r.started_at)
        });
        for (file, record) in work {
            let outcome = self.recover_one(&record, &file, connector_for);
            self.audit(
                "rotation.recover",
                &record.path(),
                serde_json::json!({ "run": record.run_id, "result": outcome.audit_category() }),
            );
            results.push(AccountResult {
                path: record.path(),
                outcome,
            });
        }
        Ok(results)
    }

    fn recover_one(&self, record: &Record, file: &std::path::Path, connector_for: &ConnectorFactory<'_>) -> Outcome {
        let failed = |cause: String| Outcome::Failed {
            cause,
            needs_recover: true,
        };
        let target = match self.inventory.target(&record.client, &record.target) {
            Ok(t) => t,
            Err(e) => return failed(e.to_string()),
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
        let new_in_force = match settled {
            Settled::New => true,
            Settled::Old | Settled::NotSent => false,
            Settled::Unknown(why) => {
                return failed(format!(
                    "{why}; the record is kept, try again when the target is reachable"
                ))
            }
        };
        if let Err(e) = store(&vault, record, new_in_force) {
            return failed(format!("storing the result in the vault failed: {e}"));
        }
        if let Err(e) = Journal::new(self.workspace).remove(file) {
            return failed(e.to_string());
        }
        if new_in_force {
            Outcome::Rotated
        } else {
            Outcome::Failed {
                cause: "the target holds the old password; it is kept as current".into(),
                needs_recover: false,
            }
        }
    }
}
