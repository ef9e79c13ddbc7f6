//! Guided rotations: the accounts of `kind = "manual"` targets (a printer's web page, a PBX, a web
//! portal), which a person changes by hand. They keep the journalled order of every rotation:
//! the new password is in the encrypted journal and the vault entry pending with it BEFORE it is
//! shown; only then does the [`Guide`] (the CLI on a terminal, a test, the demo) show the step and
//! ask whether the change was made. "yes" stores it; "no" or "failed" keeps the old one as current
//! (the new one goes to history, never dropped); no answer (an interrupt, a closed input) leaves
//! the entry pending for `recover` or `vault confirm|reject`, which ask or are told which password
//! is in force. The engine knows no terminal: the guide is a trait its caller provides.

use chrono::Utc;

use super::apply::{store_with, AccountResult, Engine, Outcome, Settled};
use super::batch::{Batcher, Change};
use super::failpoint;
use super::journal::{Journal, Record, RunLock, RECORD_FORMAT};
use super::plan::Item;
use super::{state_fingerprint, RotationError};
use crate::hint::Hint;
use crate::inventory::Target;
use crate::policy::generate;
use crate::secret::Password;
use crate::vault::{EntryState, HistoryItem, PendingRotation, Vault, VaultPath};

/// The steps of one guided rotation, in order, as failpoints (`KEYREEVE_FAILPOINT`): the guide
/// hits `guided-shown` once the step is shown and before it reads the answer.
pub const GUIDED_STEPS: &[&str] = &[
    "journal-written",
    "pending-marked",
    "guided-shown",
    "answered",
    "vault-stored",
    "journal-cleared",
];

/// What a person is asked to do: change `account` on `target` to `new_password`.
pub struct GuidedStep<'a> {
    /// `CLIENT/TARGET/ACCOUNT`.
    pub path: &'a str,
    pub target: &'a Target,
    pub account: &'a str,
    pub new_password: &'a Password,
}

/// What the person answered after a guided step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The target now has the new password.
    Changed,
    /// The change was not made: the old password stays.
    NotChanged,
    /// The target refused or the attempt failed (the person's words): the old password stays.
    Failed(String),
    /// No answer (input closed, interrupted): nobody knows, the entry stays pending.
    NoAnswer,
}

/// Which password a person says is in force after an interrupted guided rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InForce {
    New,
    Old,
    /// They do not know (yet): keep both, pending.
    Unknown,
}

/// Shows guided steps to a person and asks them; provided by the caller of the engine.
pub trait Guide: Sync {
    /// Shows the step (target, where, instructions, the new password) and asks whether the
    /// change was made.
    fn change(&self, step: &GuidedStep<'_>) -> Answer;
    /// After an interrupt: shows both passwords and asks which one the target holds.
    fn which_in_force(&self, step: &GuidedStep<'_>, old: &Password) -> InForce;
}

/// Why a guided rotation cannot be settled by hand.
#[derive(Debug, thiserror::Error)]
pub enum GuidedError {
    #[error("`{0}` is not an account of a guided target (manual, or a device changed in its controller)")]
    NotGuided(String),
    #[error("`{0}` has no guided rotation waiting to be settled")]
    NotPending(String),
    #[error(transparent)]
    Rotation(#[from] RotationError),
}

impl Hint for GuidedError {
    fn hint(&self) -> Option<String> {
        match self {
            GuidedError::NotGuided(_) => {
                Some("`keyreeve recover` settles rotations of other targets by logging in".into())
            }
            GuidedError::NotPending(_) => Some("`keyreeve recover --list` shows every rotation left unsettled".into()),
            GuidedError::Rotation(e) => e.hint(),
        }
    }
}

/// Whether the accounts of `kind` targets are rotated as guided steps: manual targets, and
/// devices whose accounts another system owns (UniFi: its controller), never changed on the device.
pub fn is_guided(kind: crate::inventory::TargetKind) -> bool {
    kind.is_manual() || super::controller_managed::changed_elsewhere(kind).is_some()
}

/// Where a person goes to make the change: the target's URL or address; none for a device whose
/// accounts are changed in another system (the instructions say where).
pub fn location(target: &Target) -> String {
    if super::controller_managed::changed_elsewhere(target.kind).is_some() {
        return String::new();
    }
    target.location()
}

/// How a person makes the change: the inventory's instructions, or those of the system that owns
/// the device's accounts.
pub fn instructions(target: &Target) -> &str {
    match (
        &target.guided,
        super::controller_managed::changed_elsewhere(target.kind),
    ) {
        (Some(g), _) => g.instructions.as_str(),
        (None, Some(steps)) => steps,
        (None, None) => "",
    }
}

/// The plan item of a guided account: the steps a person will follow, in place of commands.
pub(super) fn plan_item(
    target: &Target,
    account: &str,
    why: String,
    eff: &crate::policy::Effective,
    state: String,
) -> Item {
    let mut steps = Vec::new();
    let location = location(target);
    if !location.is_empty() {
        steps.push(format!("open {location}"));
    }
    let instructions = instructions(target);
    steps.extend(
        instructions
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("  {}", l.trim_end())),
    );
    steps.push(format!(
        "set the password of `{account}` to {} (apply shows it on the terminal only)",
        crate::secret::REDACTED
    ));
    steps.push("answer whether the change was made: yes, no or failed".into());
    let mut warnings =
        vec!["a guided step: a person makes the change by hand; it runs after every automatic rotation".into()];
    if let Some(deps) = target.dependants.get(account).filter(|d| !d.is_empty()) {
        warnings.push(format!("used by {}: update them after the rotation", deps.join(", ")));
    }
    Item {
        path: target.account_path(account),
        client: target.client.clone(),
        target: target.name.clone(),
        account: account.to_string(),
        kind: target.kind,
        address: target.location(),
        why,
        method: crate::connector::ChangeMethod::AdminReset,
        commands: steps,
        warnings,
        is_login: false,
        priority: eff.priority,
        vault_state: state,
        decided_by: eff.decided_by.clone(),
    }
}

impl Engine<'_> {
    /// Guided items of a plan, one at a time (after the automatic ones), each audited as a
    /// rotation with method `manual`. Without a guide they are left for later.
    pub(super) fn rotate_guided_items(
        &self,
        items: &[&Item],
        run: &RunLock,
        batcher: &Batcher<'_>,
        guide: Option<&dyn Guide>,
        observer: &dyn super::apply::Observer,
    ) -> Vec<AccountResult> {
        let mut out = Vec::new();
        for item in items {
            let target_path = format!("{}/{}", item.client, item.target);
            observer.target_started(&target_path, 1);
            let outcome = match (guide, self.inventory.target(&item.client, &item.target)) {
                (None, _) => Outcome::Skipped {
                    reason: "a guided step, left for later (`keyreeve apply` without --skip-manual shows it)".into(),
                },
                (_, Err(e)) => Outcome::Failed {
                    cause: e.to_string(),
                    needs_recover: false,
                },
                (Some(guide), Ok(target)) => self.rotate_guided(target, item, run, batcher, guide),
            };
            let result = AccountResult {
                path: item.path.clone(),
                outcome,
            };
            if !matches!(result.outcome, Outcome::Skipped { .. }) || guide.is_some() {
                self.audit(
                    "rotation.apply",
                    &item.path,
                    serde_json::json!({ "run": run.run_id, "method": "manual", "result": result.outcome.audit_category() }),
                );
            }
            observer.account_done(&target_path, &result);
            observer.target_done(&target_path);
            out.push(result);
        }
        out
    }

    /// One guided account, in the order that makes an interrupt at any step recoverable.
    fn rotate_guided(
        &self,
        target: &Target,
        item: &Item,
        run: &RunLock,
        batcher: &Batcher<'_>,
        guide: &dyn Guide,
    ) -> Outcome {
        let failed = |cause: String, needs_recover: bool| Outcome::Failed { cause, needs_recover };
        let key = format!("{}/{}", item.target, item.account);
        let doc = match Vault::new(self.workspace, self.inventory, self.keys).load(&item.client) {
            Ok(d) => d,
            Err(e) => return failed(format!("reading the vault: {e}"), false),
        };
        let Some(entry) = doc.entries.get(&key) else {
            return Outcome::Skipped {
                reason: "no longer in the vault".into(),
            };
        };
        if entry.state != EntryState::Current || state_fingerprint(entry) != item.vault_state {
            return Outcome::Skipped {
                reason: "its vault entry changed since the plan was made".into(),
            };
        }
        let eff = self.policy.effective_on(target, &item.account);
        let new = match generate(&eff.composition, &Default::default()) {
            Ok(p) => p,
            Err(e) => return failed(e.to_string(), false),
        };
        let record = Record {
            format: RECORD_FORMAT.into(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            run_id: run.run_id.clone(),
            client: item.client.clone(),
            target: item.target.clone(),
            account: item.account.clone(),
            username: if entry.username.is_empty() {
                item.account.clone()
            } else {
                entry.username.clone()
            },
            method: item.method,
            is_login: false,
            old: entry.password.clone(),
            new: new.clone(),
            started_at: Utc::now(),
        };
        let journal = Journal::new(self.workspace);
        // 1. Durable, encrypted intent before the password is shown to anyone.
        let jfile = match journal.write(self.keys, self.inventory, &record) {
            Ok(f) => f,
            Err(e) => return failed(format!("writing the journal: {e}"), false),
        };
        failpoint::hit("journal-written");
        // 2. Pending with the candidate: whatever happens next, the vault holds both.
        let claim: Change = {
            let (key, fingerprint) = (key.clone(), item.vault_state.clone());
            let pending = PendingRotation {
                journal_id: record.id.clone(),
                started_at: record.started_at,
                candidates: vec![new.clone()],
            };
            Box::new(move |doc| {
                let Some(e) = doc.entries.get_mut(&key) else {
                    return false;
                };
                if e.state != EntryState::Current || state_fingerprint(e) != fingerprint {
                    return false;
                }
                e.state = EntryState::Pending;
                e.pending = Some(pending);
                true
            })
        };
        match batcher.update(&item.client, claim) {
            Ok(true) => {}
            Ok(false) => {
                let _ = journal.remove(&jfile);
                return Outcome::Skipped {
                    reason: "its vault entry changed since the plan was made".into(),
                };
            }
            Err(e) => return failed(format!("marking the vault entry pending: {e}"), true),
        }
        failpoint::hit("pending-marked");
        // 3. Only now is the password shown, and the person asked.
        let answer = guide.change(&GuidedStep {
            path: &item.path,
            target,
            account: &item.account,
            new_password: &new,
        });
        failpoint::hit("answered");
        let (settled, cause) = match answer {
            Answer::Changed => (Settled::New, String::new()),
            Answer::NotChanged => (Settled::Old, "not changed: the old password is kept as current".into()),
            Answer::Failed(why) => (
                Settled::Old,
                format!("the change failed ({why}): the old password is kept as current"),
            ),
            Answer::NoAnswer => {
                return failed(
                    format!(
                        "no answer: the vault keeps both passwords; settle it with `keyreeve vault confirm {0}` or `keyreeve vault reject {0}`, or `keyreeve recover`",
                        item.path
                    ),
                    true,
                )
            }
        };
        self.conclude_with_cause(batcher, &record, &jfile, settled, cause)
    }

    /// Whether a journal record is of a guided target (as the inventory has it now).
    pub(super) fn is_guided(&self, record: &Record) -> bool {
        self.inventory
            .target(&record.client, &record.target)
            .is_ok_and(|t| is_guided(t.kind))
    }

    /// Settles an interrupted guided rotation by asking which password is in force.
    pub(super) fn recover_guided(
        &self,
        record: &Record,
        file: &std::path::Path,
        batcher: &Batcher<'_>,
        guide: Option<&dyn Guide>,
    ) -> Outcome {
        let keep = |cause: String| Outcome::Failed {
            cause,
            needs_recover: true,
        };
        let path = record.path();
        // Interrupted after the answer was stored: the vault already says which one is in force.
        let stored = Vault::new(self.workspace, self.inventory, self.keys)
            .load(&record.client)
            .ok()
            .and_then(|doc| {
                doc.entries
                    .get(&format!("{}/{}", record.target, record.account))
                    .cloned()
            })
            .filter(|e| e.pending.as_ref().is_none_or(|p| p.journal_id != record.id));
        if let Some(entry) = stored {
            let settled = if entry.password == record.new {
                Settled::New
            } else {
                Settled::Old
            };
            return self.store_guided(record, file, batcher, settled);
        }
        let (Some(guide), Ok(target)) = (guide, self.inventory.target(&record.client, &record.target)) else {
            return keep(format!(
                "a guided rotation: run `keyreeve recover` where it can ask you, or settle it with `keyreeve vault confirm {path}` or `keyreeve vault reject {path}`"
            ));
        };
        let step = GuidedStep {
            path: &path,
            target,
            account: &record.account,
            new_password: &record.new,
        };
        let settled = match guide.which_in_force(&step, &record.old) {
            InForce::New => Settled::New,
            InForce::Old => Settled::Old,
            InForce::Unknown => return keep("not known which password is in force: the vault keeps both".into()),
        };
        self.store_guided(record, file, batcher, settled)
    }

    fn store_guided(
        &self,
        record: &Record,
        file: &std::path::Path,
        batcher: &Batcher<'_>,
        settled: Settled,
    ) -> Outcome {
        if let Err(e) = store_with(batcher, record, &settled) {
            return Outcome::Failed {
                cause: format!("storing the result in the vault failed: {e}"),
                needs_recover: true,
            };
        }
        if let Err(e) = Journal::new(self.workspace).remove(file) {
            return Outcome::Failed {
                cause: e.to_string(),
                needs_recover: true,
            };
        }
        match settled {
            Settled::New => Outcome::Rotated,
            _ => Outcome::Failed {
                cause: "the target holds the old password; it is kept as current".into(),
                needs_recover: false,
            },
        }
    }

    /// `vault confirm` (`changed`) or `vault reject`: settles the pending guided rotation of
    /// `path` as told, later (the printer was changed the next day), and audits it.
    pub fn settle_guided(&self, path: &VaultPath, changed: bool) -> Result<Outcome, GuidedError> {
        let shown = format!("{}/{}/{}", path.client, path.target, path.account);
        let target = self
            .inventory
            .target(&path.client, &path.target)
            .map_err(RotationError::from)?;
        if !is_guided(target.kind) {
            return Err(GuidedError::NotGuided(shown));
        }
        let vault = Vault::new(self.workspace, self.inventory, self.keys);
        let doc = vault.load(&path.client).map_err(RotationError::from)?;
        let pending = doc
            .entries
            .get(&path.key())
            .and_then(|e| e.pending.clone())
            .ok_or_else(|| GuidedError::NotPending(shown.clone()))?;
        let journal = Journal::new(self.workspace);
        let action = if changed { "rotation.confirm" } else { "rotation.reject" };
        let settled = if changed { Settled::New } else { Settled::Old };
        let outcome = match journal.find(&pending.journal_id) {
            Ok(found) => {
                let Some(_run) = journal.claim_orphan_run(&found.run_id)? else {
                    return Err(RotationError::LiveRun(found.run_id).into());
                };
                let record = journal.read(self.keys, &found.file)?;
                let batcher = Batcher::new(Vault::new(self.workspace, self.inventory, self.keys));
                self.store_guided(&record, &found.file, &batcher, settled)
            }
            // The record is gone (cleared by hand): the entry's candidates are all that is left.
            Err(RotationError::NoSuchRecord(_)) => {
                vault.update(&path.client, |doc| {
                    if let Some(e) = doc.entries.get_mut(&path.key()) {
                        settle_from_candidates(e, changed);
                    }
                    Ok::<_, RotationError>(())
                })?;
                if changed {
                    Outcome::Rotated
                } else {
                    Outcome::Failed {
                        cause: "the old password is kept as current".into(),
                        needs_recover: false,
                    }
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(
            action,
            &shown,
            serde_json::json!({ "method": "manual", "record": pending.journal_id, "result": outcome.audit_category() }),
        );
        Ok(outcome)
    }
}

/// Settles a pending entry from its own candidates: the first becomes current (`changed`) or
/// they all go to history; nothing is dropped.
fn settle_from_candidates(e: &mut crate::vault::Entry, changed: bool) {
    let now = Utc::now();
    let Some(pending) = e.pending.take() else { return };
    let mut candidates = pending.candidates.into_iter();
    if changed {
        if let Some(first) = candidates.next() {
            let old = std::mem::replace(&mut e.password, first);
            e.history.push(HistoryItem {
                password: old,
                replaced_at: now,
            });
            e.rotated_at = Some(now);
        }
    }
    for other in candidates {
        e.history.push(HistoryItem {
            password: other,
            replaced_at: now,
        });
    }
    e.state = EntryState::Current;
}
