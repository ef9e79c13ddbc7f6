//! `keyreeve serve`: keyreeve as a service on an MSP's management host. On a schedule it discovers
//! every target (checking each stored password with a fresh login), saves the snapshots and
//! reviews them; between runs it answers read-only questions over HTTP: health, status, the
//! latest review (JSON or Markdown) and Prometheus metrics. It never rotates (rotation needs a
//! reviewed plan and a technician), never writes the vault, and no answer ever holds a secret.
//!
//! - [`cycle`]: the scheduler and one run, re-reading the inventory and policy so edits apply
//!   without a restart, and never trying a refused password twice.
//! - [`api`]: the HTTP routes, the bearer token, the Host check, the metrics text.

pub mod api;
pub mod cycle;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, Semaphore};

use crate::keys::KeyRing;
use crate::review::Review;
use crate::workspace::Workspace;

/// A hardened systemd unit for the service (`keyreeve serve --print-systemd-unit`): a dedicated
/// user, a read-only system but for the workspace's state, and its identity, passphrase and token
/// as systemd credentials.
pub const SYSTEMD_UNIT: &str = include_str!("../../docs/keyreeve.service");

/// Connections answered at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this, and get its answer within
/// [`CONNECTION_TIME`]: a half-sent request can hold neither a connection nor the shutdown.
const HEADER_TIME: Duration = Duration::from_secs(10);
const CONNECTION_TIME: Duration = Duration::from_secs(30);

/// How the service runs.
pub struct ServeConfig {
    pub workspace: Workspace,
    pub keys: KeyRing,
    /// Only this client's targets.
    pub client: Option<String>,
    /// Time between the end of one run and the start of the next.
    pub every: Duration,
    /// Check each stored password with a fresh login during discovery.
    pub verify: bool,
    pub concurrency: usize,
    /// Changes are counted over this many days (default: the policy's `compare_days`), so that a
    /// new admin stays a finding for that long, whatever runs in between.
    pub compare_days: Option<u32>,
    /// SHA-256 of the bearer token every route but `/healthz` requires.
    pub token_digest: [u8; 32],
    /// Listening on loopback: requests must name a loopback host (no DNS rebinding).
    pub loopback: bool,
    /// `POST /v1/run` is refused this soon after a run: runs log in everywhere.
    pub min_run_gap: Duration,
}

/// What one run found, kept for the API until the next one.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// What went wrong with the run as a whole: it could not start (an inventory or policy
    /// error, and no target was touched), or its review failed after discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub targets: usize,
    /// Targets whose discovery failed, with the error and hint.
    pub failed: Vec<FailedTarget>,
    /// Stored passwords the targets refused (`CLIENT/TARGET/ACCOUNT`).
    pub rejected: Vec<String>,
    /// Stored passwords whose check ended in an error (a locked account, a timeout).
    pub check_errors: Vec<String>,
    /// Stored passwords not tried this run: refused before and unchanged since, or pending.
    pub not_checked: Vec<String>,
    /// Every vault entry, with whether it is due now (`/v1/due`), from the vaults' indexes.
    #[serde(skip)]
    pub due: Vec<crate::review::due::Assessed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedTarget {
    pub target: String,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The service's state, shared by the scheduler and the API.
#[derive(Debug, Default)]
pub struct State {
    pub started_at: Option<DateTime<Utc>>,
    pub runs: u64,
    pub failed_runs: u64,
    pub running: bool,
    /// `POST /v1/run` asked for a run that has not started yet: set and checked under the same
    /// lock as `running`, so that requests at once start one run.
    pub run_requested: bool,
    /// False once the scheduler has stopped (it should not): `/healthz` then fails.
    pub scheduler_alive: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run: Option<RunReport>,
    /// The last run without a run-wide error: what the target metrics show.
    pub last_good_run: Option<RunReport>,
    pub review: Option<Review>,
}

/// What the scheduler and the API share.
pub struct Shared {
    pub state: Mutex<State>,
    /// Wakes the scheduler for a run now (`POST /v1/run`).
    pub run_now: Notify,
    pub every: Duration,
    pub token_digest: [u8; 32],
    pub loopback: bool,
    pub min_run_gap: Duration,
}

impl Shared {
    /// The state of a service starting now, its scheduler alive.
    pub fn new(every: Duration, token_digest: [u8; 32], loopback: bool, min_run_gap: Duration) -> Shared {
        Shared {
            state: Mutex::new(State {
                started_at: Some(Utc::now()),
                scheduler_alive: true,
                ..State::default()
            }),
            run_now: Notify::new(),
            every,
            token_digest,
            loopback,
            min_run_gap,
        }
    }

    /// The state, even if a panicking thread poisoned the lock (it holds only reports).
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the service on `listener` until `shutdown` completes: the first run starts at once.
pub async fn serve(
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared::new(
        config.every,
        config.token_digest,
        config.loopback,
        config.min_run_gap,
    ));
    let scheduler = tokio::spawn(cycle::schedule(Arc::new(config), shared.clone()));
    let app = api::router(shared);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file handles, most likely: wait instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIME)
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIME, connection).await;
            drop(permit);
        });
    }
    scheduler.abort();
    Ok(())
}

/// The digest a token is compared by: equal digests, equal tokens, and comparing digests tells a
/// guesser nothing about how close the guess was.
pub fn token_digest(token: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token).into()
}
