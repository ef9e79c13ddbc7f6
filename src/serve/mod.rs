//! `keyreeve serve`: keyreeve as a service on an MSP's management host. On a schedule it discovers
//! every target (checking each stored password with a fresh login), saves the snapshots and
//! reviews them; between runs it answers read-only questions over HTTP: health, status, the
//! latest review (JSON or Markdown) and Prometheus metrics. It never rotates (rotation needs a
//! reviewed plan and a technician) and no answer ever holds a secret.
//!
//! - [`cycle`]: one scheduled run, re-reading the inventory and policy so edits apply without a
//!   restart.
//! - [`api`]: the HTTP routes, the bearer token, the metrics text.

pub mod api;
pub mod cycle;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use crate::keys::KeyRing;
use crate::review::Review;
use crate::workspace::Workspace;

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
    /// SHA-256 of the bearer token every route but `/healthz` requires; None: no token.
    pub token_digest: Option<[u8; 32]>,
}

/// What one run found, kept for the API until the next one.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Why the run could not start (an inventory or policy error); the targets were not touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub targets: usize,
    /// Targets whose discovery failed, with the error and hint.
    pub failed: Vec<FailedTarget>,
    /// Stored passwords the targets refused.
    pub rejected: Vec<String>,
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
    pub running: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run: Option<RunReport>,
    pub review: Option<Review>,
}

/// What the scheduler and the API share.
pub struct Shared {
    pub state: Mutex<State>,
    /// Wakes the scheduler for a run now (`POST /v1/run`).
    pub run_now: Notify,
    pub every: Duration,
    pub token_digest: Option<[u8; 32]>,
}

impl Shared {
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
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            started_at: Some(Utc::now()),
            ..State::default()
        }),
        run_now: Notify::new(),
        every: config.every,
        token_digest: config.token_digest,
    });
    let config = Arc::new(config);
    let scheduler = tokio::spawn(cycle::schedule(config, shared.clone()));
    let app = api::router(shared);
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    scheduler.abort();
    served
}

/// The digest a token is compared by: equal digests, equal tokens, and comparing digests tells a
/// guesser nothing about how close the guess was.
pub fn token_digest(token: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token).into()
}
