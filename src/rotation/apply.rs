//! Applying a reviewed plan. Accounts of one target run one at a time, the login account last;
//! targets run concurrently. One failure never stops the plan. Each account follows the sequence
//! in the module doc of [`crate::rotation`]; [`settle`] decides, by fresh logins, which candidate
//! is in force whenever a step's outcome is unknown, and is shared with `recover`.

use chrono::Utc;
use serde::Serialize;

use super::batch::{Batcher, Change};
use super::failpoint;
use super::journal::{Journal, Record, RunLock, RECORD_FORMAT};
use super::plan::{Item, Plan};
use super::plan_check::CheckedPlan;
use super::{login_credentials, run_concurrently, state_fingerprint, ConnectorFactory, RotationError};
use crate::connector::{ChangeMethod, ConnectContext, Connector, ConnectorError, Credentials, Verification};
use crate::inventory::{Inventory, Target};
use crate::keys::KeyRing;
use crate::policy::{generate, Policy};
use crate::secret::Password;
use crate::vault::{EntryState, HistoryItem, PendingRotation, Vault};
use crate::workspace::Workspace;

/// How one account's rotation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Rotated,
    /// Rotated, and the vault holds the new password the target accepts, but the account cannot
    /// use it yet (a directory that makes a reset password be changed first): a person must act.
    RotatedNeedsAction {
        warning: String,
    },
    /// Not rotated. `needs_recover`: the vault entry is pending with every candidate and the
    /// journal record is kept; `keyreeve recover` settles it.
    Failed {
        cause: String,
        needs_recover: bool,
    },
    Skipped {
        reason: String,
    },
}

impl Outcome {
    /// What the audit log records of an outcome: a fixed word, never the target's text, which
    /// can hold fragments of a password the device echoed (and the log is committed to git).
    pub fn audit_category(&self) -> &'static str {
        match self {
            Outcome::Rotated => "rotated",
            Outcome::RotatedNeedsAction { .. } => "rotated-needs-action",
            Outcome::Failed {
                needs_recover: true, ..
            } => "failed-needs-recover",
            Outcome::Failed { .. } => "failed",
            Outcome::Skipped { .. } => "skipped",
        }
    }
}

/// One line of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct AccountResult {
    pub path: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Progress reports for people (a progress bar per target).
pub trait Observer: Sync {
    fn target_started(&self, _target: &str, _accounts: usize) {}
    fn step(&self, _target: &str, _account: &str, _step: &str) {}
    fn account_done(&self, _target: &str, _result: &AccountResult) {}
    fn target_done(&self, _target: &str) {}
}

/// An observer that reports nothing.
pub struct Silent;
impl Observer for Silent {}

/// What the engine works with: the vault (through the workspace, inventory and keys), the
/// journal, the policy, and connectors.
pub struct Engine<'a> {
    pub workspace: &'a Workspace,
    pub inventory: &'a Inventory,
    pub keys: &'a KeyRing,
    pub policy: &'a Policy,
    pub connect: &'a ConnectContext,
    /// Public key of the identity in use, for the audit log.
    pub actor: Option<String>,
}

fn failed(cause: impl Into<String>, needs_recover: bool) -> Outcome {
    Outcome::Failed {
        cause: cause.into(),
        needs_recover,
    }
}

impl<'a> Engine<'a> {
    fn vault(&self) -> Vault<'_> {
        Vault::new(self.workspace, self.inventory, self.keys)
    }

    /// Records what a rotation did. By then a target may already hold a new password, which no
    /// refusal can take back; so an event the log cannot take is printed whole on stderr and the
    /// run ends with a failure exit code (`audit_log::unrecorded`), while the vault entry's
    /// history and state keep what happened. [`Engine::preflight`] checks the log is writable
    /// before any target is touched, so this is the rare case (a disk filling during the run).
    pub(crate) fn audit(&self, action: &str, subject: &str, details: serde_json::Value) {
        if failpoint::should_fail("audit") {
            let why = "the audit failpoint";
            crate::audit_log::report_unrecorded(&why, self.actor.as_deref(), action, subject, details);
            return;
        }
        crate::audit_log::record_or_report(self.workspace, self.actor.as_deref(), action, subject, details);
    }

    /// Refuses to start while an interrupted run left records on a target of the plan (records
    /// of other targets cannot change what this plan does); first clears what crashes left.
    pub fn preflight(&self, plan: &Plan) -> Result<(), RotationError> {
        // A run whose changes cannot be audited does not start.
        drop(crate::audit_log::reserve(self.workspace)?);
        let journal = Journal::new(self.workspace);
        journal.sweep()?;
        let planned: std::collections::BTreeSet<(&str, &str)> = plan
            .items
            .iter()
            .map(|i| (i.client.as_str(), i.target.as_str()))
            .collect();
        let mut blocking = std::collections::BTreeSet::new();
        let mut count = 0;
        for found in journal.orphans()? {
            // A record nobody can read could be of any target: it blocks every plan.
            let (client, target) = match journal.read(self.keys, &found.file) {
                Ok(r) => (r.client, r.target),
                Err(_) => (String::new(), String::new()),
            };
            if client.is_empty() || planned.contains(&(client.as_str(), target.as_str())) {
                count += 1;
                blocking.insert(if client.is_empty() {
                    format!("{} (unreadable)", found.file.display())
                } else {
                    format!("{client}/{target}")
                });
            }
        }
        if count > 0 {
            return Err(RotationError::UnsettledJournal {
                count,
                targets: blocking.into_iter().collect::<Vec<_>>().join(", "),
            });
        }
        Ok(())
    }

    /// Applies a checked plan with up to `concurrency` targets at once; guided items (manual
    /// targets) are left for later.
    pub fn apply(
        &self,
        checked: &CheckedPlan,
        concurrency: usize,
        connector_for: &ConnectorFactory<'_>,
        observer: &dyn Observer,
    ) -> Result<Vec<AccountResult>, RotationError> {
        self.apply_guided(checked, concurrency, connector_for, observer, None)
    }

    /// [`Engine::apply`], then the guided items one at a time through `guide` (None: left for
    /// later, as `apply --skip-manual` does).
    pub fn apply_guided(
        &self,
        checked: &CheckedPlan,
        concurrency: usize,
        connector_for: &ConnectorFactory<'_>,
        observer: &dyn Observer,
        guide: Option<&dyn super::guided::Guide>,
    ) -> Result<Vec<AccountResult>, RotationError> {
        let plan = checked.plan();
        self.preflight(plan)?;
        let journal = Journal::new(self.workspace);
        let run = journal.start_run()?;
        let (guided, automatic): (Vec<_>, Vec<_>) = plan
            .by_target()
            .into_iter()
            .partition(|(_, items)| items.iter().any(|i| super::guided::is_guided(i.kind)));
        let mut groups: Vec<(String, Vec<&Item>)> = automatic;
        groups.sort_by_key(|(_, items)| items.iter().map(|i| i.priority).min().unwrap_or(0));
        let batcher = Batcher::new(self.vault());
        let per_target = run_concurrently(groups, concurrency, |(target_path, items)| {
            observer.target_started(&target_path, items.len());
            let done = self.rotate_target(&items, &run, &batcher, connector_for, observer);
            observer.target_done(&target_path);
            done
        });
        let mut results: Vec<AccountResult> = per_target.into_iter().flatten().collect();
        let mut guided_items: Vec<&Item> = guided.into_iter().flat_map(|(_, items)| items).collect();
        guided_items.sort_by_key(|i| (i.priority, i.path.clone()));
        results.extend(self.rotate_guided_items(&guided_items, &run, &batcher, guide, observer));
        let order: Vec<&str> = plan.items.iter().map(|i| i.path.as_str()).collect();
        results.sort_by_key(|r| order.iter().position(|p| *p == r.path));
        results.extend(checked.stale().iter().map(|s| AccountResult {
            path: s.path.clone(),
            outcome: Outcome::Skipped {
                reason: s.reason.clone(),
            },
        }));
        drop(run);
        Ok(results)
    }

    fn rotate_target(
        &self,
        items: &[&Item],
        run: &RunLock,
        batcher: &Batcher<'_>,
        connector_for: &ConnectorFactory<'_>,
        observer: &dyn Observer,
    ) -> Vec<AccountResult> {
        let mut out = Vec::new();
        let target_path = items
            .first()
            .map(|i| format!("{}/{}", i.client, i.target))
            .unwrap_or_default();
        let setup = self
            .inventory
            .target(&items[0].client, &items[0].target)
            .map_err(|e| e.to_string())
            .and_then(|t| connector_for(t).map(|c| (t, c)).map_err(|e| e.to_string()));
        for item in items {
            let outcome = match &setup {
                Err(cause) => failed(cause.clone(), false),
                Ok((target, connector)) => {
                    let now = Utc::now();
                    let eff = self.policy.effective_on(target, &item.account);
                    if !eff.windows.is_empty()
                        && !eff
                            .windows
                            .iter()
                            .any(|w| w.contains(&now.with_timezone(&chrono::Local)))
                    {
                        let windows: Vec<_> = eff.windows.iter().map(|w| w.text.clone()).collect();
                        Outcome::Skipped {
                            reason: format!("outside the rotation windows ({})", windows.join(", ")),
                        }
                    } else {
                        self.rotate_one(target, connector.as_ref(), item, run, batcher, &|step| {
                            observer.step(&target_path, &item.account, step)
                        })
                    }
                }
            };
            let result = AccountResult {
                path: item.path.clone(),
                outcome,
            };
            self.audit(
                "rotation.apply",
                &item.path,
                serde_json::json!({ "run": run.run_id, "method": item.method, "result": result.outcome.audit_category() }),
            );
            observer.account_done(&target_path, &result);
            out.push(result);
        }
        out
    }

    /// One account, in the order that makes a crash at any step recoverable.
    fn rotate_one(
        &self,
        target: &Target,
        connector: &dyn Connector,
        item: &Item,
        run: &RunLock,
        batcher: &Batcher<'_>,
        step: &dyn Fn(&str),
    ) -> Outcome {
        let vault = self.vault();
        let journal = Journal::new(self.workspace);
        let key = format!("{}/{}", item.target, item.account);
        let doc = match vault.load(&item.client) {
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
        let creds = match login_credentials(target, &doc) {
            Ok(c) => c,
            Err(e) => return failed(e.to_string(), false),
        };
        let eff = self.policy.effective_on(target, &item.account);
        let new = match generate(&eff.composition, &connector.password_rules(&item.account)) {
            Ok(p) => p,
            Err(e) => return failed(e.to_string(), false),
        };
        let old = entry.password.clone();
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
            is_login: item.is_login,
            old: old.clone(),
            new: new.clone(),
            started_at: Utc::now(),
        };

        // 1. Durable, encrypted intent before anything else.
        step("journal");
        let jfile = match journal.write(self.keys, self.inventory, &record) {
            Ok(f) => f,
            Err(e) => return failed(format!("writing the journal: {e}"), false),
        };
        failpoint::hit("journal-written");

        // 2. Claim the entry: pending with the candidate. A second apply finds it pending.
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
        let claimed = batcher.update(&item.client, claim);
        match claimed {
            Ok(true) => {}
            Ok(false) => {
                let _ = journal.remove(&jfile);
                return Outcome::Skipped {
                    reason: "its vault entry changed since the plan was made".into(),
                };
            }
            Err(e) => {
                // The write may have landed before failing (e.g. the directory fsync): keep the
                // record so that `recover` settles the entry either way.
                return failed(format!("marking the vault entry pending: {e}"), true);
            }
        }
        failpoint::hit("pending-marked");

        // 3. Change, in a session logged in with the current credentials.
        step("change");
        let mut session = match connector.open(&creds) {
            Ok(s) => s,
            // Nothing was sent: the old password is still the one in force.
            Err(e) => return self.conclude(batcher, &record, &jfile, Settled::NotSent, Some(e)),
        };
        let change = if failpoint::should_fail("changed") {
            Err(ConnectorError::Protocol {
                target: target.path(),
                detail: "failpoint: change failed".into(),
            })
        } else {
            session.change_password(&item.account, item.method, &old, &new)
        };
        failpoint::hit("changed");
        if let Err(e) = change {
            drop(session);
            let settled = if e.is_password_rejected() {
                // The target judged the new password and refused it: a login with it would only
                // count as a failed login towards a lockout. Prove the old one (and only if that
                // fails, try the new one after all).
                settle_untouched(connector, &creds, &record)
            } else if e.may_still_take_effect() {
                // A login now would prove only what is in force until the device finishes.
                Settled::Unknown("the device was still applying the change".into())
            } else {
                // The device may or may not have taken it (e.g. the session dropped right after).
                settle(connector, &creds, &record, true)
            };
            return self.conclude(batcher, &record, &jfile, settled, Some(e));
        }

        // 4. Verify with a fresh login while the first session stays open.
        step("verify");
        let verify_creds = creds_after(&creds, &record, &new);
        let verified = connector.verify(&verify_creds, &item.account, &new);
        failpoint::hit("verified");
        match verified {
            Ok(Verification::Accepted) => {
                // 5. Save, then store.
                step("save");
                let saved = if failpoint::should_fail("saved") {
                    Err(ConnectorError::Protocol {
                        target: target.path(),
                        detail: "failpoint: save failed".into(),
                    })
                } else {
                    session.save()
                };
                drop(session);
                if let Err(e) = saved {
                    return failed(
                        format!("the new password works but saving failed ({e}); the vault keeps both: run `keyreeve recover`"),
                        true,
                    );
                }
                failpoint::hit("saved");
                step("store");
                let outcome = self.conclude(batcher, &record, &jfile, Settled::New, None);
                if outcome == Outcome::Rotated && target.kind.is_directory() {
                    // `verify` counts a reset password that must be changed before use as in
                    // force (it is); whether the account can really log in with it is asked
                    // apart, so that a service account left unusable is not called done.
                    if let Err(e @ ConnectorError::PasswordExpired { .. }) =
                        connector.verify_login(&verify_creds, &item.account, &new)
                    {
                        return Outcome::RotatedNeedsAction {
                            warning: format!(
                                "the vault holds the new password and the target accepts it, but {}",
                                cause_of(&e)
                            ),
                        };
                    }
                }
                outcome
            }
            other => {
                let why = match other {
                    Ok(_) => "a fresh login with the new password was refused".to_string(),
                    Err(e) => format!("the fresh login failed: {}", cause_of(&e)),
                };
                step("rollback");
                let rolled = session.rollback(&item.account, &old);
                drop(session);
                let settled = settle_untouched(connector, &creds, &record);
                let cause = match rolled {
                    Ok(()) => format!("{why}; rolled back"),
                    Err(e) => format!("{why}; rollback failed: {e}"),
                };
                self.conclude_with_cause(batcher, &record, &jfile, settled, cause)
            }
        }
    }

    fn conclude(
        &self,
        batcher: &Batcher<'_>,
        record: &Record,
        jfile: &std::path::Path,
        settled: Settled,
        error: Option<ConnectorError>,
    ) -> Outcome {
        let cause = error.as_ref().map(cause_of).unwrap_or_default();
        self.conclude_with_cause(batcher, record, jfile, settled, cause)
    }

    /// Stores what `settle` proved, then clears the journal record. Unknown: keep both.
    pub(super) fn conclude_with_cause(
        &self,
        batcher: &Batcher<'_>,
        record: &Record,
        jfile: &std::path::Path,
        settled: Settled,
        cause: String,
    ) -> Outcome {
        let stored = match &settled {
            Settled::Unknown(detail) => {
                let cause = if cause.is_empty() {
                    detail.clone()
                } else {
                    format!("{cause}; {detail}")
                };
                return failed(
                    format!("{cause}; the vault keeps both passwords: run `keyreeve recover`"),
                    true,
                );
            }
            Settled::New | Settled::Old | Settled::NotSent => store_with(batcher, record, &settled),
        };
        if let Err(e) = stored {
            return failed(
                format!("storing the result in the vault failed ({e}); the journal keeps it: run `keyreeve recover`"),
                true,
            );
        }
        failpoint::hit("vault-stored");
        if let Err(e) = Journal::new(self.workspace).remove(jfile) {
            tracing::warn!("{e}");
        }
        failpoint::hit("journal-cleared");
        match settled {
            Settled::New => Outcome::Rotated,
            _ => failed(
                if cause.is_empty() {
                    "the target kept the old password".into()
                } else {
                    cause
                },
                false,
            ),
        }
    }
}

/// An error as the cause of a failed rotation. The account's own state (locked, must change its
/// password) gets its hint: no retry by keyreeve fixes it, a person must.
fn cause_of(e: &ConnectorError) -> String {
    use crate::hint::Hint;
    match (e, e.hint()) {
        (ConnectorError::AccountLocked { .. } | ConnectorError::PasswordExpired { .. }, Some(hint)) => {
            format!("{e} (hint: {hint})")
        }
        _ => e.to_string(),
    }
}

/// Which password is in force, as proven by a fresh login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The new password works and is saved on the target.
    New,
    /// The old password works (the change did not happen or was undone).
    Old,
    /// Neither could be proven: keep every candidate.
    Unknown(String),
    /// The new password never left keyreeve (no session could be opened): release the entry.
    NotSent,
}

/// The login credentials to use once `record` took effect (the login account's own rotation).
fn creds_after(creds: &Credentials, record: &Record, new: &Password) -> Credentials {
    let mut c = creds.clone();
    if record.method == ChangeMethod::SelfChange || record.is_login {
        c.secret = new.clone();
    }
    if record.method == ChangeMethod::EnableSecret {
        c.enable = Some(new.clone());
    }
    c
}

/// Nothing was sent (or it was rolled back): prove the old password still works.
fn settle_untouched(connector: &dyn Connector, creds: &Credentials, record: &Record) -> Settled {
    match connector.verify(creds, &record.account, &record.old) {
        Ok(Verification::Accepted) => Settled::Old,
        Ok(Verification::Rejected) => settle(connector, creds, record, true),
        Err(e) => Settled::Unknown(format!("could not verify the old password: {e}")),
    }
}

/// Finds which of the record's passwords is in force by fresh logins; if the new one is, makes
/// it permanent from a fresh session (save / commit) and proves it again.
pub fn settle(connector: &dyn Connector, creds: &Credentials, record: &Record, try_old: bool) -> Settled {
    let after = creds_after(creds, record, &record.new);
    match connector.verify(&after, &record.account, &record.new) {
        Ok(Verification::Accepted) => {
            let saved = connector.open(&after).and_then(|mut s| s.save());
            if let Err(e) = saved {
                return Settled::Unknown(format!("the new password works but could not be saved: {e}"));
            }
            match connector.verify(&after, &record.account, &record.new) {
                Ok(Verification::Accepted) => Settled::New,
                Ok(Verification::Rejected) => Settled::Unknown("the new password stopped working after saving".into()),
                Err(e) => Settled::Unknown(format!("could not verify after saving: {e}")),
            }
        }
        Ok(Verification::Rejected) if try_old => match connector.verify(creds, &record.account, &record.old) {
            Ok(Verification::Accepted) => Settled::Old,
            Ok(Verification::Rejected) => Settled::Unknown("neither the old nor the new password is accepted".into()),
            Err(e) => Settled::Unknown(format!("could not verify the old password: {e}")),
        },
        Ok(Verification::Rejected) => Settled::Unknown("the new password is refused".into()),
        Err(e) => Settled::Unknown(format!("could not verify: {e}")),
    }
}

/// Stores the proven outcome through the batcher (apply and recover).
pub(super) fn store_with(batcher: &Batcher<'_>, record: &Record, settled: &Settled) -> Result<(), String> {
    if failpoint::should_fail("vault-stored") {
        return Err("injected failure: the vault write failed".into());
    }
    match batcher.update(&record.client, store_change(record, settled))? {
        true => Ok(()),
        false => Err(NOT_OURS.into()),
    }
}

/// Why an outcome could not be stored: the record is then kept for `recover`.
const NOT_OURS: &str = "the vault entry is gone or now belongs to another rotation";

/// The change that records the proven outcome: the new password as current (the old to
/// history), or the old one kept (the unproven candidate to history, so no candidate is ever
/// dropped unseen).
fn store_change(record: &Record, settled: &Settled) -> Change {
    let key = format!("{}/{}", record.target, record.account);
    let settled = settled.clone();
    let (id, old, new) = (record.id.clone(), record.old.clone(), record.new.clone());
    Box::new(move |doc| {
        let now = Utc::now();
        let Some(e) = doc.entries.get_mut(&key) else {
            return false;
        };
        if e.pending.as_ref().is_some_and(|p| p.journal_id != id) {
            return false;
        }
        if settled == Settled::NotSent {
            e.state = EntryState::Current;
            e.pending = None;
            return true;
        }
        if settled == Settled::New {
            if e.password != new {
                e.history.push(HistoryItem {
                    password: e.password.clone(),
                    replaced_at: now,
                });
                e.password = new;
            }
            e.rotated_at = Some(now);
        } else {
            if e.password != old {
                e.history.push(HistoryItem {
                    password: e.password.clone(),
                    replaced_at: now,
                });
                e.password = old;
            }
            e.history.push(HistoryItem {
                password: new,
                replaced_at: now,
            });
        }
        e.state = EntryState::Current;
        e.pending = None;
        e.verified_at = Some(now);
        e.verify_failed_at = None;
        true
    })
}
