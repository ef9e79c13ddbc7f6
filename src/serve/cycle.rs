//! One scheduled run of the service: re-read the inventory and policy (so that edits apply
//! without a restart), discover the targets with the vault's credentials, save the snapshots,
//! review them, and keep the result for the API. A run that cannot start says why and touches
//! nothing; the next one tries again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{FailedTarget, RunReport, ServeConfig, Shared};
use crate::connector::ConnectContext;
use crate::discovery;
use crate::inventory::{Inventory, Target};
use crate::policy::Policy;
use crate::review::snapshot::SnapshotStore;
use crate::review::{self, Review, ReviewContext};
use crate::vault::Vault;

/// Runs forever: a run, then a pause of `every` (or less, when `POST /v1/run` asks).
pub async fn schedule(config: Arc<ServeConfig>, shared: Arc<Shared>) {
    loop {
        shared.state().running = true;
        let started_at = Utc::now();
        let (report, review) = match run(&config).await {
            Ok((report, review)) => (report, Some(review)),
            Err(error) => (
                RunReport {
                    started_at,
                    finished_at: Utc::now(),
                    error: Some(error),
                    targets: 0,
                    failed: Vec::new(),
                    rejected: Vec::new(),
                },
                None,
            ),
        };
        log_run(&report);
        {
            let mut state = shared.state();
            state.running = false;
            state.runs += 1;
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
    match &r.error {
        Some(e) => tracing::error!("run could not start: {e}"),
        None => tracing::info!(
            "run finished: {} targets, {} failed, {} stored passwords refused",
            r.targets,
            r.failed.len(),
            r.rejected.len()
        ),
    }
}

/// One run. An `Err` is why it could not start (inventory, policy, keys).
async fn run(config: &Arc<ServeConfig>) -> Result<(RunReport, Review), String> {
    let started_at = Utc::now();
    let ws = config.workspace.clone();
    let inventory = Inventory::load(&ws.inventory_file()).map_err(|e| e.to_string())?;
    let policy = Policy::load_dir(&ws.policies_dir()).map_err(|e| e.to_string())?;
    let targets: Vec<Target> = inventory
        .targets()
        .filter(|t| config.client.as_deref().is_none_or(|c| t.client == c))
        .cloned()
        .collect();
    let docs = {
        let (config, inventory, targets) = (config.clone(), inventory.clone(), targets.clone());
        tokio::task::spawn_blocking(move || {
            discovery::load_vaults(&Vault::new(&config.workspace, &inventory, &config.keys), &targets)
        })
        .await
        .map_err(|e| format!("loading the vaults crashed: {e}"))?
    };
    let ctx = Arc::new(ConnectContext {
        known_hosts: ws.known_hosts_file(),
        workspace_root: ws.root().to_path_buf(),
        // A service never trusts a host key on first sight: `keyreeve discover` records them.
        trust_on_first_use: false,
        directory: policy.directory.clone(),
    });
    let mut snapshots = discovery::discover(&targets, &docs, ctx, config.verify, config.concurrency).await;
    let (review, snapshots) = {
        let (targets, policy) = (targets.clone(), policy.clone());
        tokio::task::spawn_blocking(move || {
            let store = SnapshotStore::new(ws.snapshots_dir());
            discovery::save(&store, &targets, &mut snapshots);
            let ctx = ReviewContext {
                now: Utc::now(),
                policy: &policy.review,
            };
            let review = review::gather(&store, &targets, None, ctx.now).map(|t| review::review(&t, &ctx));
            (review.map_err(|e| e.to_string()), snapshots)
        })
        .await
        .map_err(|e| format!("the review crashed: {e}"))?
    };
    let report = RunReport {
        started_at,
        finished_at: Utc::now(),
        error: None,
        targets: targets.len(),
        failed: snapshots
            .iter()
            .filter_map(|s| {
                s.error.as_ref().map(|error| FailedTarget {
                    target: s.target.clone(),
                    error: error.clone(),
                    hint: s.hint.clone(),
                })
            })
            .collect(),
        rejected: snapshots
            .iter()
            .flat_map(|s| {
                s.accounts
                    .iter()
                    .filter(|a| a.verified.as_deref() == Some("rejected"))
                    .map(|a| format!("{}/{}", s.target, a.account.name))
            })
            .collect(),
    };
    Ok((report, review?))
}

/// `6h`, `30m`, `90s`, `1d`: the pause between runs.
pub fn parse_every(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30m, 6h or 1d"))?;
    let seconds = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}`: the unit is s, m, h or d")),
    };
    if seconds == 0 {
        return Err("the pause between runs must be longer than zero".into());
    }
    Ok(Duration::from_secs(seconds))
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
        for bad in ["", "h", "0s", "5w", "-1h", "1.5h"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
