//! Discovery: log in to each target with the vault's credentials, through the connector trait
//! only (devices, Linux hosts and directories alike), list its accounts, say which ones the vault
//! knows and, when asked, whether their stored passwords still work. Shared by `keyreeve
//! discover`, which prints and saves the result, and `keyreeve serve`, which does so on a schedule.
//! One failed target never stops the others: its snapshot carries the error instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Semaphore;

use crate::connector::{self, ConnectContext, Credentials, Verification};
use crate::hint::Hint;
use crate::inventory::{LoginMethod, Target};
use crate::review::snapshot::{AccountRecord, InVault, Snapshot, SnapshotStore};
use crate::secret::Password;
use crate::vault::{EntryState, Vault, VaultDocument};

/// The most targets discovered at once, whatever was asked: a semaphore of more permits panics,
/// and more logins at once only queue on the blocking pool.
pub const MAX_CONCURRENCY: usize = 1024;

/// How a discovery runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also log in with each stored password (a fresh login per account).
    pub verify: bool,
    /// Targets at once.
    pub concurrency: usize,
    /// `CLIENT/TARGET/ACCOUNT`s whose stored password must not be tried again: a service
    /// re-checking a refused password every run would lock the account out.
    pub not_again: BTreeSet<String>,
}

/// What became of a target's own login (or enable secret) in one discovery, beyond its snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    /// The target refused the stored password of `CLIENT/TARGET/ACCOUNT`, or found the account
    /// locked: trying it again may lock the account (out).
    Refused(String),
    /// Not tried: `CLIENT/TARGET/ACCOUNT` is in [`Options::not_again`].
    NotTried(String),
}

/// One target's discovery: its snapshot, and what became of its login when that failed.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub snapshot: Snapshot,
    pub login: Option<LoginCheck>,
}

/// Discovers `targets`, at most `concurrency` at once, on tokio's blocking pool. `docs` holds each
/// client's vault (or why it could not be read). The result is in the order of `targets`.
pub async fn discover(
    targets: &[Target],
    docs: &BTreeMap<String, Result<VaultDocument, String>>,
    ctx: Arc<ConnectContext>,
    options: Arc<Options>,
) -> Vec<Snapshot> {
    discover_with_progress(targets, docs, ctx, options, Arc::new(|_: &Snapshot| {})).await
}

/// Told of each target's snapshot as soon as that target is done (in no particular order).
pub type Progress = Arc<dyn Fn(&Snapshot) + Send + Sync>;

/// [`discover`], telling `progress` of each target as it finishes, for a progress bar.
pub async fn discover_with_progress(
    targets: &[Target],
    docs: &BTreeMap<String, Result<VaultDocument, String>>,
    ctx: Arc<ConnectContext>,
    options: Arc<Options>,
    progress: Progress,
) -> Vec<Snapshot> {
    discover_noting_logins(targets, docs, ctx, options, progress)
        .await
        .into_iter()
        .map(|d| d.snapshot)
        .collect()
}

/// [`discover_with_progress`], also saying which targets refused their own login (or were not
/// tried because they had): a service must remember those, or it locks the login account out run
/// by run.
pub async fn discover_noting_logins(
    targets: &[Target],
    docs: &BTreeMap<String, Result<VaultDocument, String>>,
    ctx: Arc<ConnectContext>,
    options: Arc<Options>,
    progress: Progress,
) -> Vec<Discovered> {
    let limit = Arc::new(Semaphore::new(options.concurrency.clamp(1, MAX_CONCURRENCY)));
    let mut tasks = Vec::new();
    for t in targets {
        let view = match docs.get(&t.client) {
            Some(doc) => vault_view(t, doc),
            None => vault_view(t, &Err("not loaded".into())),
        };
        let (t, ctx, limit, options) = (t.clone(), ctx.clone(), limit.clone(), options.clone());
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let done = tokio::task::spawn_blocking(move || discover_one(&t, &ctx, view, &options)).await;
            if let Ok(discovered) = &done {
                progress(&discovered.snapshot);
            }
            done
        }));
    }
    let mut out = Vec::new();
    for (t, task) in targets.iter().zip(tasks) {
        out.push(match task.await {
            Ok(Ok(discovered)) => discovered,
            // A crash of one target's discovery is that target's error, in its place.
            Ok(Err(e)) => crashed(t, &e.to_string()),
            Err(e) => crashed(t, &e.to_string()),
        });
    }
    out
}

fn crashed(t: &Target, why: &str) -> Discovered {
    let mut s = empty(t);
    s.error = Some(format!("{}: discovery crashed: {why}", t.path()));
    Discovered {
        snapshot: s,
        login: None,
    }
}

fn empty(t: &Target) -> Snapshot {
    Snapshot {
        target: t.path(),
        kind: t.kind.to_string(),
        taken_at: Utc::now(),
        error: None,
        hint: None,
        accounts: Vec::new(),
        domain: None,
        snapshot: None,
    }
}

/// Each client's vault document that `targets` need, or why it could not be read.
pub fn load_vaults(vault: &Vault<'_>, targets: &[Target]) -> BTreeMap<String, Result<VaultDocument, String>> {
    let mut docs = BTreeMap::new();
    for t in targets {
        docs.entry(t.client.clone())
            .or_insert_with(|| vault.load(&t.client).map_err(|e| e.to_string()));
    }
    docs
}

/// Saves every target's snapshot (a failed discovery as that target's last failure); a snapshot
/// that cannot be saved becomes that target's error.
pub fn save(store: &SnapshotStore, targets: &[Target], snapshots: &mut [Snapshot]) {
    for (t, s) in targets.iter().zip(snapshots.iter_mut()) {
        let listed = !s.failed();
        if let Err(e) = store.save(&t.client, &t.name, s) {
            if listed {
                s.error = Some(format!(
                    "{}: accounts listed but the snapshot was not saved: {e}",
                    s.target
                ));
                s.hint = e.hint();
            } else {
                tracing::warn!("{}: the failed discovery was not recorded: {e}", s.target);
            }
        }
    }
}

/// What the vault gives one target's discovery: credentials, and the stored passwords by account.
struct VaultView {
    /// The login credentials, or what is missing and the hint.
    credentials: Result<Credentials, (String, String)>,
    /// None when the vault could not be read.
    stored: Option<BTreeMap<String, Stored>>,
}

struct Stored {
    password: Password,
    /// A rotation of this account was interrupted: the target may hold the old password or a
    /// new one, and only `keyreeve recover` may find out which.
    pending: bool,
}

fn vault_view(target: &Target, doc: &Result<VaultDocument, String>) -> VaultView {
    let doc = match doc {
        Ok(d) => d,
        Err(e) => {
            return VaultView {
                credentials: Err((
                    format!("{}: cannot read the vault: {e}", target.path()),
                    "check the identity (--identity) can open this client's vault".into(),
                )),
                stored: None,
            }
        }
    };
    let prefix = format!("{}/", target.name);
    let stored: BTreeMap<String, Stored> = doc
        .entries
        .iter()
        .filter_map(|(k, e)| {
            let stored = Stored {
                password: e.password.clone(),
                pending: e.state == EntryState::Pending,
            };
            k.strip_prefix(&prefix).map(|a| (a.to_string(), stored))
        })
        .collect();
    let pending = |account: &str| stored.get(account).is_some_and(|s| s.pending);
    let credentials = match stored.get(&target.login) {
        // Logging in with a password the target may have dropped is a failed login, and failed
        // logins lock accounts: recover first.
        Some(_) if pending(&target.login) || target.enable.as_deref().is_some_and(pending) => Err((
            format!(
                "{}: a rotation of its login or enable secret was interrupted",
                target.path()
            ),
            "run `keyreeve recover`, which finds out which password is in force".to_string(),
        )),
        Some(login) => Ok(Credentials {
            username: target.login.clone(),
            method: target.login_method,
            secret: login.password.clone(),
            enable: target
                .enable
                .as_ref()
                .and_then(|e| stored.get(e).map(|s| s.password.clone())),
        }),
        None => Err((
            format!(
                "{}: the vault has no entry {} for the login account",
                target.path(),
                target.account_path(&target.login)
            ),
            format!(
                "store it with `keyreeve vault set {}`",
                target.account_path(&target.login)
            ),
        )),
    };
    VaultView {
        credentials,
        stored: Some(stored),
    }
}

/// The account whose stored secret a failed login shows refused (or locked): the enable
/// secret's when the error names it, else the login's.
fn refused_by(target: &Target, e: &connector::ConnectorError) -> Option<String> {
    use connector::ConnectorError::{AccountLocked, AuthFailed};
    let named = match e {
        AuthFailed { user, .. } => user,
        AccountLocked { account, .. } => account,
        _ => return None,
    };
    let account = match &target.enable {
        Some(enable) if named == enable || named == "enable" => enable,
        _ => &target.login,
    };
    Some(target.account_path(account))
}

/// Discovers one target (blocking: runs on tokio's blocking pool).
fn discover_one(target: &Target, ctx: &ConnectContext, view: VaultView, options: &Options) -> Discovered {
    let mut report = empty(target);
    let fail = |mut r: Snapshot, e: connector::ConnectorError| {
        r.error = Some(e.to_string());
        r.hint = e.hint();
        Discovered {
            snapshot: r,
            login: refused_by(target, &e).map(LoginCheck::Refused),
        }
    };
    let login = match view.credentials {
        Ok(c) => c,
        Err((error, hint)) => {
            report.error = Some(error);
            report.hint = Some(hint);
            return Discovered {
                snapshot: report,
                login: None,
            };
        }
    };
    let own = std::iter::once(&target.login).chain(target.enable.as_ref());
    if let Some(refused) = own
        .map(|a| target.account_path(a))
        .find(|p| options.not_again.contains(p))
    {
        report.error = Some(format!(
            "{}: not tried: the stored password of {refused} was refused before, and is unchanged in the vault since",
            target.path()
        ));
        report.hint = Some(format!(
            "store the password in force with `keyreeve vault set {refused}` (or unlock the account); the next run tries again"
        ));
        return Discovered {
            snapshot: report,
            login: Some(LoginCheck::NotTried(refused)),
        };
    }
    let conn = match connector::for_target(target, ctx) {
        Ok(c) => c,
        Err(e) => return fail(report, e),
    };
    let connector::Survey { accounts, domain } = match conn.survey(&login) {
        Ok(a) => a,
        Err(e) => return fail(report, e),
    };
    report.domain = domain.map(|d| *d);
    let device = !target.kind.is_directory();
    for account in accounts {
        let stored = view.stored.as_ref().map(|s| s.get(&account.name));
        let in_vault = match stored {
            None => InVault::Unknown,
            Some(Some(_)) => InVault::Yes,
            Some(None) => InVault::No,
        };
        // The login's entry holds a private key, not a password: its login already proved it.
        let key_entry = account.name == target.login && target.login_method == LoginMethod::PrivateKey;
        let path = target.account_path(&account.name);
        let (verified, verify_hint) = match (options.verify && !key_entry, stored) {
            (true, Some(Some(s))) if s.pending => (
                Some("not checked: a rotation is pending".to_string()),
                Some("run `keyreeve recover`".to_string()),
            ),
            (true, Some(Some(_))) if options.not_again.contains(&path) => (
                Some("not checked: refused before, and unchanged in the vault since".to_string()),
                Some(format!(
                    "fix it: `keyreeve vault set {path}` with the password in force, or rotate it"
                )),
            ),
            (true, Some(Some(s))) => match conn.verify_login(&login, &account.name, &s.password) {
                Ok(Verification::Accepted) => (Some("accepted".to_string()), None),
                Ok(Verification::Rejected) => (Some("rejected".to_string()), None),
                Err(e) => (Some(format!("error: {e}")), e.hint()),
            },
            _ => (None, None),
        };
        let flagged = device && in_vault == InVault::No;
        report.accounts.push(AccountRecord {
            account,
            in_vault,
            verified,
            verify_hint,
            flagged,
        });
    }
    Discovered {
        snapshot: report,
        login: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `discover --concurrency 18446744073709551615` panicked making its semaphore.
    #[tokio::test]
    async fn any_concurrency_is_taken_without_a_panic() {
        let ctx = Arc::new(ConnectContext {
            known_hosts: "known_hosts".into(),
            workspace_root: ".".into(),
            trust_on_first_use: false,
            directory: Default::default(),
        });
        for concurrency in [0, usize::MAX] {
            let options = Arc::new(Options {
                concurrency,
                ..Options::default()
            });
            assert!(discover(&[], &BTreeMap::new(), ctx.clone(), options).await.is_empty());
        }
    }
}
