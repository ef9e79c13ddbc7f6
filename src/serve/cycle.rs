//! The service's scheduler and one run: re-read the inventory and policy (so that edits apply
//! without a restart), discover the targets with the vault's credentials, save the snapshots,
//! review them, and keep the result for the API. Two rules keep unattended runs from locking
//! anyone out: a password a target refused is not tried again until its vault entry changes, and
//! an account whose rotation is pending is never tried (discovery refuses those itself).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{FailedTarget, RunReport, ServeConfig, Shared};
use crate::connector::ConnectContext;
use crate::discovery::{self, LoginCheck, Options};
use crate::inventory::{Inventory, Target};
use crate::policy::Policy;
use crate::review::snapshot::{Snapshot, SnapshotStore};
use crate::review::{self, Review, ReviewContext};
use crate::vault::{Entry, Vault, VaultDocument};

/// What the scheduler remembers from one run to the next.
#[derive(Default)]
struct Memory {
    /// Refused (or locked) accounts, with the vault version of the password that was refused.
    refused: BTreeMap<String, String>,
    /// Where each target was reached, to say so loudly when an inventory edit moves it.
    endpoints: BTreeMap<String, String>,
}

/// Runs until aborted: a run, then a pause of `every` (or less, when `POST /v1/run` asks).
pub async fn schedule(config: Arc<ServeConfig>, shared: Arc<Shared>) {
    // Shared with each run rather than lent to it, so that a run that panics (a bug) cannot take
    // what was learnt (which passwords were refused) down with it.
    let memory = Arc::new(tokio::sync::Mutex::new(Memory::default()));
    run_on_schedule(shared, move || {
        let (config, memory) = (config.clone(), memory.clone());
        async move { run(&config, &mut *memory.lock().await).await }
    })
    .await
}

/// The scheduler's loop around `one_run`. A run that panics is a failed run, reported like any
/// other: one bad input must not leave a service that answers but never runs again.
pub(crate) async fn run_on_schedule<F, Fut>(shared: Arc<Shared>, mut one_run: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (RunReport, Option<Review>)>,
{
    struct Alive(Arc<Shared>);
    impl Drop for Alive {
        fn drop(&mut self) {
            let mut state = self.0.state();
            state.scheduler_alive = false;
            state.running = false;
        }
    }
    let _alive = Alive(shared.clone());
    loop {
        {
            let mut state = shared.state();
            state.running = true;
            // This run answers every request made before it started.
            state.run_requested = false;
        }
        let started_at = Utc::now();
        let (report, review) = match CatchPanic(Box::pin(one_run())).await {
            Ok(done) => done,
            Err(_panic) => (crashed_run(started_at), None),
        };
        log_run(&report);
        {
            let mut state = shared.state();
            state.running = false;
            state.runs += 1;
            if report.error.is_some() {
                state.failed_runs += 1;
            } else {
                state.last_good_run = Some(report.clone());
            }
            state.last_run = Some(report);
            if review.is_some() {
                state.review = review;
            }
            state.next_run_at = chrono::Duration::from_std(shared.every)
                .ok()
                .and_then(|d| Utc::now().checked_add_signed(d));
        }
        wait_for_next_run(&shared).await;
    }
}

/// Until the pause ends or `POST /v1/run` asked for a run. A wake-up left over from a request
/// that the last run already answered starts nothing.
async fn wait_for_next_run(shared: &Shared) {
    let pause = tokio::time::sleep(shared.every);
    tokio::pin!(pause);
    loop {
        tokio::select! {
            _ = &mut pause => return,
            _ = shared.run_now.notified() => {
                if shared.state().run_requested {
                    return;
                }
            }
        }
    }
}

/// A future's panic as an `Err` instead of an unwinding task.
struct CatchPanic<F>(std::pin::Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Ready(done)) => std::task::Poll::Ready(Ok(done)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// The report of a run that panicked. The panic's message stays out of it (and out of every
/// answer): it may quote whatever text was being handled; the panic hook logs it once.
fn crashed_run(started_at: chrono::DateTime<Utc>) -> RunReport {
    RunReport {
        started_at,
        finished_at: Utc::now(),
        error: Some(
            "the run crashed (a bug in keyreeve: the service's log holds the panic; please report it); the next run starts as scheduled"
                .to_string(),
        ),
        targets: 0,
        failed: Vec::new(),
        rejected: Vec::new(),
        check_errors: Vec::new(),
        not_checked: Vec::new(),
        due: Vec::new(),
    }
}

fn log_run(r: &RunReport) {
    if let Some(e) = &r.error {
        tracing::error!("run failed: {e}");
    }
    tracing::info!(
        "run finished: {} targets, {} failed, {} stored passwords refused, {} checks failed, {} not checked",
        r.targets,
        r.failed.len(),
        r.rejected.len(),
        r.check_errors.len(),
        r.not_checked.len()
    );
}

/// One run. Never fails as a whole: what went wrong is in the report.
async fn run(config: &Arc<ServeConfig>, memory: &mut Memory) -> (RunReport, Option<Review>) {
    let started_at = Utc::now();
    let mut report = RunReport {
        started_at,
        finished_at: started_at,
        error: None,
        targets: 0,
        failed: Vec::new(),
        rejected: Vec::new(),
        check_errors: Vec::new(),
        not_checked: Vec::new(),
        due: Vec::new(),
    };
    let ws = config.workspace.clone();
    let loaded = Inventory::load(&ws.inventory_file())
        .map_err(|e| e.to_string())
        .and_then(|i| {
            Policy::load_dir(&ws.policies_dir())
                .map(|p| (i, p))
                .map_err(|e| e.to_string())
        });
    let (inventory, policy) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            report.error = Some(format!("could not start, no target was touched: {e}"));
            report.finished_at = Utc::now();
            return (report, None);
        }
    };
    let compare_days = config.compare_days.unwrap_or(policy.review.compare_days);
    let Some(compare_from) = crate::policy::days_before(started_at, compare_days) else {
        report.error = Some(format!(
            "could not start, no target was touched: {compare_days} days back is before any date"
        ));
        report.finished_at = Utc::now();
        return (report, None);
    };
    let targets: Vec<Target> = inventory
        .targets()
        .filter(|t| config.client.as_deref().is_none_or(|c| t.client == c))
        .filter(|t| !t.kind.is_manual())
        .cloned()
        .collect();
    warn_about_moved_targets(&targets, &mut memory.endpoints);
    let docs = {
        let (config, inventory, targets) = (config.clone(), inventory.clone(), targets.clone());
        tokio::task::spawn_blocking(move || {
            discovery::load_vaults(&Vault::new(&config.workspace, &inventory, &config.keys), &targets)
        })
        .await
        .unwrap_or_default()
    };
    // A refused password is tried again only once its vault entry has changed.
    memory
        .refused
        .retain(|path, version| entry_of(&docs, path).is_some_and(|e| &entry_version(e) == version));
    let options = Options {
        verify: config.verify,
        concurrency: config.concurrency,
        not_again: memory.refused.keys().cloned().collect::<BTreeSet<_>>(),
    };
    let ctx = Arc::new(ConnectContext {
        known_hosts: ws.known_hosts_file(),
        workspace_root: ws.root().to_path_buf(),
        // A service never trusts a host key on first sight: `keyreeve discover` records them.
        trust_on_first_use: false,
        directory: policy.directory.clone(),
    });
    let discovered = discovery::discover_noting_logins(
        &targets,
        &docs,
        ctx,
        Arc::new(options),
        Arc::new(|_: &crate::review::snapshot::Snapshot| {}),
    )
    .await;
    let logins: Vec<LoginCheck> = discovered.iter().filter_map(|d| d.login.clone()).collect();
    let snapshots: Vec<Snapshot> = discovered.into_iter().map(|d| d.snapshot).collect();
    let saved = {
        let targets = targets.clone();
        let (inventory, client) = (inventory.clone(), config.client.clone());
        tokio::task::spawn_blocking(move || {
            let mut snapshots = snapshots;
            let store = SnapshotStore::of_workspace(&ws);
            discovery::save(&store, &targets, &mut snapshots);
            let ctx = ReviewContext {
                now: Utc::now(),
                policy: &policy.review,
            };
            let due = due_entries(&ws, &inventory, &policy, client.as_deref(), ctx.now);
            let review = review::gather(&store, &targets, compare_from, ctx.now).map(|gathered| {
                let mut r = review::review_with_vault(&gathered, &due, &ctx);
                r.since = Some(compare_from);
                r
            });
            (snapshots, review, due)
        })
        .await
    };
    let (snapshots, review) = match saved {
        Ok((snapshots, review, due)) => {
            report.due = due;
            (snapshots, review.map_err(|e| e.to_string()))
        }
        Err(e) => (Vec::new(), Err(format!("saving and reviewing crashed: {e}"))),
    };
    remember_refusals(&snapshots, &logins, &docs, &mut memory.refused);
    fill(&mut report, &targets, &snapshots, &logins);
    let review = match review {
        Ok(r) => Some(r),
        Err(e) => {
            report.error = Some(format!("the review failed after discovery: {e}"));
            None
        }
    };
    report.finished_at = Utc::now();
    (report, review)
}

/// Every vault entry of the served clients, assessed, from the vaults' keyless indexes (written
/// by every vault change); an unreadable index is logged and left out.
fn due_entries(
    ws: &crate::workspace::Workspace,
    inventory: &Inventory,
    policy: &Policy,
    client: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Vec<crate::review::due::Assessed> {
    let mut out = Vec::new();
    for name in inventory
        .clients
        .keys()
        .filter(|c| client.is_none_or(|w| w == c.as_str()))
    {
        match crate::review::vault_index::load(ws, name) {
            Ok(Some(index)) => out.extend(crate::review::due::assess(inventory, policy, &index, now)),
            Ok(None) => {}
            Err(e) => tracing::warn!("the vault index is unreadable: {e}"),
        }
    }
    out
}

fn fill(report: &mut RunReport, targets: &[Target], snapshots: &[Snapshot], logins: &[LoginCheck]) {
    report.targets = targets.len();
    for login in logins {
        match login {
            LoginCheck::Refused(path) => report.rejected.push(path.clone()),
            LoginCheck::NotTried(path) => report.not_checked.push(path.clone()),
        }
    }
    for s in snapshots {
        if let Some(error) = &s.error {
            report.failed.push(FailedTarget {
                target: s.target.clone(),
                error: error.clone(),
                hint: s.hint.clone(),
            });
        }
        for a in &s.accounts {
            let path = format!("{}/{}", s.target, a.account.name);
            match a.verified.as_deref() {
                Some("rejected") => report.rejected.push(path),
                Some(v) if v.starts_with("error") => report.check_errors.push(path),
                Some(v) if v.starts_with("not checked") => report.not_checked.push(path),
                _ => {}
            }
        }
    }
}

/// Accounts to leave alone next run: refused, or locked (one more try may extend the lockout).
fn remember_refusals(
    snapshots: &[Snapshot],
    logins: &[LoginCheck],
    docs: &BTreeMap<String, Result<VaultDocument, String>>,
    refused: &mut BTreeMap<String, String>,
) {
    // A refused login is the same lockout risk as a refused check, and more: it is every run's
    // first try.
    for login in logins {
        if let LoginCheck::Refused(path) = login {
            if let Some(entry) = entry_of(docs, path) {
                refused.insert(path.clone(), entry_version(entry));
            }
        }
    }
    for s in snapshots {
        for a in &s.accounts {
            let risky = match a.verified.as_deref() {
                Some("rejected") => true,
                Some(v) => v.starts_with("error") && v.to_ascii_lowercase().contains("locked"),
                None => false,
            };
            let path = format!("{}/{}", s.target, a.account.name);
            if let (true, Some(entry)) = (risky, entry_of(docs, &path)) {
                refused.insert(path, entry_version(entry));
            }
        }
    }
}

/// The vault entry of `CLIENT/TARGET/ACCOUNT`.
fn entry_of<'a>(docs: &'a BTreeMap<String, Result<VaultDocument, String>>, path: &str) -> Option<&'a Entry> {
    let (client, key) = path.split_once('/')?;
    docs.get(client)?.as_ref().ok()?.entries.get(key)
}

/// What changes when someone stores another password: the password itself (a digest, salted
/// per process, held only in memory: a replaced entry may keep its history and times), its
/// history or its times.
fn entry_version(e: &Entry) -> String {
    use sha2::Digest;
    static SALT: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let mut digest = sha2::Sha256::new();
    digest.update(SALT.get_or_init(rand::random));
    digest.update(e.password.expose().as_bytes());
    format!(
        "{}/{:?}/{:?}/{}/{}",
        e.history.len(),
        e.rotated_at,
        e.state,
        e.created,
        hex::encode(digest.finalize())
    )
}

/// An inventory edit that points a target somewhere else (after a `git pull`, say) sends the
/// next logins there: say so in the log, every time it happens.
fn warn_about_moved_targets(targets: &[Target], seen: &mut BTreeMap<String, String>) {
    for t in targets {
        let endpoint = format!(
            "{}:{} url={:?} host_key={:?} ca_file={:?}",
            t.address, t.port, t.url, t.host_key, t.ca_file
        );
        if let Some(before) = seen.insert(t.path(), endpoint.clone()) {
            if before != endpoint {
                tracing::warn!("{}: the inventory now says {endpoint} (was {before})", t.path());
            }
        }
    }
}

/// `6h`, `30m`, `90s`, `1d`: the pause between runs.
pub fn parse_every(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30m, 6h or 1d"))?;
    let scale = match unit {
        "s" => 1,
        "m" | "" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit is s, m, h or d")),
    };
    match n.checked_mul(scale) {
        Some(0) => Err("the pause between runs must be longer than zero".into()),
        Some(seconds) if seconds <= 366 * 86_400 => Ok(Duration::from_secs(seconds)),
        _ => Err(format!("`{text}` is longer than a year")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::serve::Shared;

    pub(crate) fn quiet_report() -> RunReport {
        let now = Utc::now();
        RunReport {
            started_at: now,
            finished_at: now,
            error: None,
            targets: 0,
            failed: Vec::new(),
            rejected: Vec::new(),
            check_errors: Vec::new(),
            not_checked: Vec::new(),
            due: Vec::new(),
        }
    }

    /// Waits until `done` holds of the state, for at most 10 s.
    pub(crate) async fn until(shared: &Shared, done: impl Fn(&crate::serve::State) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&shared.state()) {
            assert!(tokio::time::Instant::now() < deadline, "{:?}", shared.state());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A run that panics (a policy that made a time overflow did) is a failed run with its
    /// error, and the scheduler runs again: it used to die, leaving /healthz at 503 for good
    /// while `POST /v1/run` still said a run starts now.
    #[tokio::test]
    async fn a_panicking_run_is_a_failed_run_and_the_scheduler_lives_on() {
        let shared = Arc::new(Shared::new(Duration::from_secs(3600), [0; 32], true, Duration::ZERO));
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let scheduler = tokio::spawn(run_on_schedule(shared.clone(), {
            let calls = calls.clone();
            move || {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if n == 0 {
                        let _ = chrono::DateTime::<Utc>::MIN_UTC - chrono::Duration::days(1);
                    }
                    (quiet_report(), None)
                }
            }
        }));
        until(&shared, |s| s.runs == 1 && !s.running).await;
        {
            let s = shared.state();
            assert!(s.scheduler_alive);
            assert_eq!(s.failed_runs, 1);
            let error = s.last_run.as_ref().and_then(|r| r.error.clone()).unwrap_or_default();
            // The panic's own text (it may quote what was being handled) stays out of answers.
            assert!(
                error.contains("the run crashed") && !error.contains("overflow"),
                "{error}"
            );
        }
        shared.state().run_requested = true;
        shared.run_now.notify_one();
        until(&shared, |s| s.runs == 2 && !s.running).await;
        let s = shared.state();
        assert!(s.scheduler_alive && s.last_run.as_ref().is_some_and(|r| r.error.is_none()));
        assert_eq!((s.failed_runs, calls.load(std::sync::atomic::Ordering::SeqCst)), (1, 2));
        assert!(!scheduler.is_finished());
    }

    #[test]
    fn every_takes_seconds_minutes_hours_and_days() {
        assert_eq!(parse_every("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_every("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_every("6h"), Ok(Duration::from_secs(21_600)));
        assert_eq!(parse_every("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "h", "0s", "5w", "-1h", "1.5h", "999999999999999999d", "400d"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
