//! Rotation: reviewed plans, the journalled apply, recover and the verification heartbeat.
//!
//! The engine knows only the connector trait, the vault and the journal. The order of one
//! account's rotation is the safety proof: generate; journal (encrypted, fsynced); mark the vault
//! entry pending with the candidate; change in a session opened with the current credentials;
//! verify with a fresh login while that session stays open; save and store, or roll back and
//! prove the old password still works. A crash anywhere leaves a journal record and a pending
//! entry holding every password that might be in force; `recover` tries them and keeps the one
//! that works.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::connector::Credentials;
use crate::hint::Hint;
use crate::inventory::Target;
use crate::vault::{Entry, VaultDocument};

/// Builds the connector of a target (the engine knows connectors only through this).
pub type ConnectorFactory<'a> =
    dyn Fn(&Target) -> Result<Box<dyn crate::connector::Connector>, crate::connector::ConnectorError> + Sync + 'a;

pub mod apply;
pub mod batch;
pub mod controller_managed;
pub mod failpoint;
pub mod guided;
pub mod journal;
pub mod plan;
pub mod plan_check;
pub mod recover;
pub mod verify;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("{what} journal {}: {source}", path.display())]
    Journal {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal record {} is unreadable: {detail}", path.display())]
    CorruptJournal { path: PathBuf, detail: String },
    #[error("cannot read plan {}: {detail}", path.display())]
    BadPlan { path: PathBuf, detail: String },
    #[error("plan {} was changed after it was made (its hash does not match)", path.display())]
    PlanTampered { path: PathBuf },
    #[error("plan {}: item {item:?}: `{field}` differs: {detail}", path.display())]
    PlanMismatch {
        path: PathBuf,
        item: String,
        field: String,
        detail: String,
    },
    #[error("{count} rotation(s) of an interrupted apply are not settled on {targets}")]
    UnsettledJournal { count: usize, targets: String },
    #[error("journal record `{0}` not found (give the record's file or its id, as `keyreeve recover --list` shows)")]
    NoSuchRecord(String),
    #[error("journal record of run {0} belongs to an apply that is still running")]
    LiveRun(String),
    #[error("no vault entry `{0}` holds the login credentials")]
    MissingLogin(String),
    #[error("now is outside the rotation windows of {path}: {windows}")]
    OutsideWindow { path: String, windows: String },
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error("cannot write the audit log, so nothing was rotated")]
    AuditLog(#[from] crate::audit_log::AuditLogError),
    #[error("{0}")]
    Internal(String),
}

impl Hint for RotationError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RotationError::Journal { .. } => "check the workspace's state/ folder is writable".into(),
            RotationError::CorruptJournal { .. } => {
                "keep the file; decrypt it with `age -d -i KEY FILE` to read the passwords it holds".into()
            }
            RotationError::BadPlan { .. } => "make a new plan with `keyreeve plan -o plan.json`".into(),
            RotationError::PlanTampered { .. } => {
                "review and make the plan again with `keyreeve plan -o plan.json`".into()
            }
            RotationError::PlanMismatch { .. } => {
                "the file is not what keyreeve plans now (edited, or the inventory, policy or vault changed): make the plan again with `keyreeve plan -o plan.json` and review it".into()
            }
            RotationError::UnsettledJournal { .. } => {
                "run `keyreeve recover` first; a record that can never settle can be abandoned with `keyreeve recover --abandon`".into()
            }
            RotationError::LiveRun(_) => "wait for that apply to end, then run `keyreeve recover`".into(),
            RotationError::NoSuchRecord(_) => "list the records with `keyreeve recover --list`".into(),
            RotationError::MissingLogin(p) => format!("store it with `keyreeve vault set {p}`"),
            RotationError::OutsideWindow { .. } => "wait for the window, or change `windows` in policies/".into(),
            RotationError::Vault(e) => return e.hint(),
            RotationError::AuditLog(e) => return e.hint(),
            RotationError::Keys(e) => return e.hint(),
            RotationError::Inventory(e) => return e.hint(),
            RotationError::Policy(e) => return e.hint(),
            RotationError::Internal(_) => return None,
        })
    }
}

/// The login credentials of `target` from its client's vault document.
pub fn login_credentials(target: &Target, doc: &VaultDocument) -> Result<Credentials, RotationError> {
    let key = format!("{}/{}", target.name, target.login);
    let entry = doc
        .entries
        .get(&key)
        .ok_or_else(|| RotationError::MissingLogin(target.account_path(&target.login)))?;
    let enable = target
        .enable
        .as_ref()
        .and_then(|e| doc.entries.get(&format!("{}/{}", target.name, e)))
        .map(|e| e.password.clone());
    Ok(Credentials {
        username: if entry.username.is_empty() {
            target.login.clone()
        } else {
            entry.username.clone()
        },
        method: target.login_method,
        secret: entry.password.clone(),
        enable,
    })
}

/// A fingerprint of an entry's rotation state (never of its secret): a plan records it, and apply
/// refuses an account whose entry changed since the plan was made.
pub fn state_fingerprint(entry: &Entry) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{:?}|{:?}|{}|{}|{:?}",
        entry.state,
        entry.rotated_at.map(|t| t.timestamp_micros()),
        entry.created.timestamp_micros(),
        entry.history.len(),
        entry.pending.as_ref().map(|p| p.journal_id.as_str())
    ));
    hex::encode(&h.finalize()[..12])
}

/// Runs `f` on every item with at most `concurrency` at once (blocking work: SSH and LDAP
/// sessions), returning the results in the items' order.
pub fn run_concurrently<T: Send, R: Send>(items: Vec<T>, concurrency: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate().collect::<std::collections::VecDeque<_>>());
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..count).map(|_| None).collect());
    let workers = concurrency.clamp(1, count.max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some((i, item)) = next else { break };
                let r = f(item);
                if let Ok(mut out) = results.lock() {
                    out[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}
