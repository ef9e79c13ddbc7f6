//! The heartbeat: log in with every stored password, record when it last worked, and report the
//! ones that no longer do (a device reset by hand, a password changed outside keyreeve).

use chrono::Utc;
use serde::Serialize;

use super::apply::Engine;
use super::ConnectorFactory;
use super::{login_credentials, run_concurrently, RotationError};
use crate::connector::Verification;
use crate::connector::{Connector, Credentials};
use crate::hint::Hint;
use crate::inventory::Target;
use crate::secret::Password;
use crate::vault::{Entry, EntryState, Vault};

/// What a verification found for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Works,
    /// The target refused the stored password.
    Mismatch,
    /// A rotation is in flight: run `keyreeve recover`.
    Pending,
    /// The target could not be asked.
    Error(String),
    /// A guided (manual) target: keyreeve cannot log in to it. `last_rotated` is when a person
    /// last changed it through keyreeve, if ever; `age_days` how long ago (from its creation when
    /// never rotated).
    NotVerifiable {
        last_rotated: Option<chrono::DateTime<Utc>>,
        age_days: i64,
    },
}

impl Status {
    /// What the audit log records: a fixed word, never the target's error text.
    pub fn audit_category(&self) -> &'static str {
        match self {
            Status::Works => "works",
            Status::Mismatch => "mismatch",
            Status::Pending => "pending",
            Status::Error(_) => "error",
            Status::NotVerifiable { .. } => "not-verifiable",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyResult {
    pub path: String,
    pub status: Status,
    /// What to do about an error (unlock the account, clear `must change password`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Engine<'_> {
    /// Verifies every entry of the selected clients' targets.
    pub fn verify_all(
        &self,
        client: Option<&str>,
        concurrency: usize,
        connector_for: &ConnectorFactory<'_>,
    ) -> Result<Vec<VerifyResult>, RotationError> {
        let vault = Vault::new(self.workspace, self.inventory, self.keys);
        let mut all = Vec::new();
        for (name, c) in &self.inventory.clients {
            if client.is_some_and(|w| w != name) {
                continue;
            }
            let doc = vault.load(name)?;
            let work: Vec<_> = c.targets.iter().collect();
            let per_target = run_concurrently(work, concurrency, |target| {
                let prefix = format!("{}/", target.name);
                let entries: Vec<_> = doc.entries.iter().filter(|(k, _)| k.starts_with(&prefix)).collect();
                if target.kind.is_manual() {
                    let now = Utc::now();
                    return entries
                        .into_iter()
                        .map(|(key, entry)| {
                            let status = Status::NotVerifiable {
                                last_rotated: entry.rotated_at,
                                age_days: (now - entry.rotated_at.unwrap_or(entry.created)).num_days(),
                            };
                            (key.clone(), status, None, None)
                        })
                        .collect::<Vec<_>>();
                }
                let setup = connector_for(target).map_err(|e| e.to_string()).and_then(|conn| {
                    login_credentials(target, &doc)
                        .map(|cr| (conn, cr))
                        .map_err(|e| e.to_string())
                });
                entries
                    .into_iter()
                    .map(|(key, entry)| {
                        let account = &key[prefix.len()..];
                        if crate::vault::merge::is_merge_conflict(entry) {
                            let (status, hint, working) = match &setup {
                                Err(e) => (Status::Error(e.clone()), None, None),
                                Ok((conn, creds)) => {
                                    self.find_candidate_in_force(conn.as_ref(), creds, target, account, entry)
                                }
                            };
                            return (key.clone(), status, hint, working);
                        }
                        let (status, hint) = match (&setup, entry.state) {
                            (_, EntryState::Pending) => (Status::Pending, None),
                            (Err(e), _) => (Status::Error(e.clone()), None),
                            (Ok((conn, creds)), _) => {
                                let mut creds = creds.clone();
                                if target.enable.as_deref() == Some(account) {
                                    creds.enable = Some(entry.password.clone());
                                }
                                let key_login = account == target.login
                                    && target.login_method == crate::inventory::LoginMethod::PrivateKey;
                                let verdict = if key_login {
                                    // A key, not a password: a login with it is the proof.
                                    match conn.open(&creds) {
                                        Ok(_) => Ok(Verification::Accepted),
                                        Err(crate::connector::ConnectorError::AuthFailed { .. }) => {
                                            Ok(Verification::Rejected)
                                        }
                                        Err(e) => Err(e),
                                    }
                                } else {
                                    // A right password the account cannot log in with (locked,
                                    // must change) is a finding here, not a working password.
                                    conn.verify_login(&creds, account, &entry.password)
                                };
                                match verdict {
                                    Ok(Verification::Accepted) => (Status::Works, None),
                                    Ok(Verification::Rejected) => (Status::Mismatch, None),
                                    Err(e) => (Status::Error(e.to_string()), e.hint()),
                                }
                            }
                        };
                        (key.clone(), status, hint, None)
                    })
                    .collect::<Vec<_>>()
            });
            let found: Vec<(String, Status, Option<String>, Option<Password>)> =
                per_target.into_iter().flatten().collect();
            let now = Utc::now();
            vault.update(name, |doc| {
                for (key, status, _, working) in &found {
                    if let Some(e) = doc.entries.get_mut(key) {
                        if let Some(pw) = working {
                            if crate::vault::merge::is_merge_conflict(e) {
                                crate::vault::merge::settle(e, pw, now);
                            }
                            continue;
                        }
                        match status {
                            Status::Works => e.verified_at = Some(now),
                            Status::Mismatch => e.verify_failed_at = Some(now),
                            _ => {}
                        }
                    }
                }
                Ok::<(), crate::vault::VaultError>(())
            })?;
            for (key, status, hint, working) in found {
                let path = format!("{name}/{key}");
                if working.is_some() {
                    self.audit(
                        "verify.settled",
                        &path,
                        serde_json::json!({ "kept": "the candidate a fresh login accepted" }),
                    );
                }
                if status != Status::Works && !matches!(status, Status::NotVerifiable { .. }) {
                    self.audit(
                        "verify.mismatch",
                        &path,
                        serde_json::json!({ "status": status.audit_category() }),
                    );
                }
                all.push(VerifyResult { path, status, hint });
            }
        }
        Ok(all)
    }
}

impl Engine<'_> {
    /// Settles an entry a merge left with several candidate passwords: logs in with each, the
    /// likeliest first, and returns the one the target accepts (with `Works`), or `Mismatch`
    /// when none is (every candidate stays in the vault).
    fn find_candidate_in_force(
        &self,
        conn: &dyn Connector,
        creds: &Credentials,
        target: &Target,
        account: &str,
        entry: &Entry,
    ) -> (Status, Option<String>, Option<Password>) {
        let mut last_error = None;
        for candidate in crate::vault::merge::candidates(entry) {
            let mut creds = creds.clone();
            if account == target.login {
                creds.secret = candidate.clone();
            }
            if target.enable.as_deref() == Some(account) {
                creds.enable = Some(candidate.clone());
            }
            match conn.verify_login(&creds, account, &candidate) {
                Ok(Verification::Accepted) => return (Status::Works, None, Some(candidate)),
                Ok(Verification::Rejected) => {}
                Err(e) => last_error = Some((e.to_string(), e.hint())),
            }
        }
        match last_error {
            Some((e, hint)) => (Status::Error(e), hint, None),
            None => (Status::Mismatch, None, None),
        }
    }
}
