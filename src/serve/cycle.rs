//! The service's scheduler and one run: re-read the inventory and policy (so that edits apply
//! without a restart), discover the targets with the vault's credentials, save the snapshots,
//! review them, and keep the result for the API. Two rules keep unattended runs from locking
//! anyone out: a password a target refused is not tried again until its vault entry changes, and
//! an account whose rotation is pending is never tried (discovery refuses those itself).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{FailedTarget, RunReport, ServeConfig, Shared};
use crate::connector::ConnectContext;
use crate::discovery::{self, Options};
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
    struct Alive(Arc<Shared>);
    impl Drop for Alive {
        fn drop(&mut self) {
            let mut state = self.0.state();
            state.scheduler_alive = false;
            state.running = false;
        }
    }
    let _alive = Alive(shared.clone());
    let mut memory = Memory::default();
    loop {
        shared.state().running = true;
        let (report, review) = run(&config, &mut memory).await;
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
        tokio::select! {
            _ = tokio::time::sleep(shared.every) => {}
            _ = shared.run_now.notified() => {}
        }
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
    let targets: Vec<Target> = inventory
        .targets()
        .filter(|t| config.client.as_deref().is_none_or(|c| t.client == c))
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
    let snapshots = discovery::discover(&targets, &docs, ctx, Arc::new(options)).await;
    let compare_days = config.compare_days.unwrap_or(policy.review.compare_days);
    let compare_from = Utc::now() - chrono::Duration::days(i64::from(compare_days));
    let saved = {
        let targets = targets.clone();
        tokio::task::spawn_blocking(move || {
            let mut snapshots = snapshots;
            let store = SnapshotStore::of_workspace(&ws);
            discovery::save(&store, &targets, &mut snapshots);
            let ctx = ReviewContext {
                now: Utc::now(),
                policy: &policy.review,
            };
            let review = review::gather(&store, &targets, compare_from, ctx.now).map(|gathered| {
                let mut r = review::review(&gathered, &ctx);
                r.since = Some(compare_from);
                r
            });
            (snapshots, review)
        })
        .await
    };
    let (snapshots, review) = match saved {
        Ok((snapshots, review)) => (snapshots, review.map_err(|e| e.to_string())),
        Err(e) => (Vec::new(), Err(format!("saving and reviewing crashed: {e}"))),
    };
    remember_refusals(&snapshots, &docs, &mut memory.refused);
    fill(&mut report, &targets, &snapshots);
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

fn fill(report: &mut RunReport, targets: &[Target], snapshots: &[Snapshot]) {
    report.targets = targets.len();
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
    docs: &BTreeMap<String, Result<VaultDocument, String>>,
    refused: &mut BTreeMap<String, String>,
) {
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

/// What changes when someone stores another password: its history grows or its times move.
fn entry_version(e: &Entry) -> String {
    format!("{}/{:?}/{:?}", e.history.len(), e.rotated_at, e.state)
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
mod tests {
    use super::*;

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
