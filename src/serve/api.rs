//! The service's HTTP API: read-only answers from the latest run, and one way to ask for a run
//! now. Every route but `/healthz` needs the bearer token; on loopback, every request must name a
//! loopback host, so that a web page in a local browser cannot reach the API by DNS rebinding.
//! Nothing here can reach the vault: the state holds reports and reviews, never a secret.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;

use super::{token_digest, Shared};
use crate::review::report;

/// The routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let guarded = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/review", get(review_json))
        .route("/v1/review.md", get(review_markdown))
        .route("/v1/run", post(run_now))
        .route("/v1/due", get(due))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(shared.clone(), require_token));
    Router::new()
        .route("/healthz", get(health))
        .merge(guarded)
        .layer(middleware::from_fn_with_state(shared.clone(), require_loopback_host))
        .with_state(shared)
}

/// On loopback, the Host header must name loopback: a page whose own name resolves to
/// 127.0.0.1 (DNS rebinding) sends its own name.
async fn require_loopback_host(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if !shared.loopback {
        return next.run(request).await;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    if matches!(name, "127.0.0.1" | "localhost" | "::1") {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "this service answers only requests for 127.0.0.1, localhost or [::1]\n",
        )
            .into_response()
    }
}

async fn require_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token_digest(token.trim().as_bytes()));
    if offered == Some(shared.token_digest) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required: Authorization: Bearer <the token in the service's token file>\n",
        )
            .into_response()
    }
}

/// Healthy: the scheduler runs, and a run worked within two pauses (and an hour to spare).
async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.state();
    let allowed =
        chrono::Duration::from_std(shared.every * 2).unwrap_or(chrono::Duration::MAX) + chrono::Duration::hours(1);
    let last_good = s.last_good_run.as_ref().map(|r| r.finished_at).or(s.started_at);
    let problem = if !s.scheduler_alive {
        Some("the scheduler has stopped: restart the service".to_string())
    } else if last_good.is_some_and(|at| Utc::now() - at > allowed) {
        Some(format!(
            "no run has worked since {}: see /v1/status",
            last_good.map(|t| t.to_rfc3339()).unwrap_or_default()
        ))
    } else {
        None
    };
    match problem {
        None => "ok\n".into_response(),
        Some(p) => (StatusCode::SERVICE_UNAVAILABLE, format!("{p}\n")).into_response(),
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let s = shared.state();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": s.started_at,
        "every_seconds": shared.every.as_secs(),
        "runs": s.runs,
        "failed_runs": s.failed_runs,
        "running": s.running,
        "scheduler_alive": s.scheduler_alive,
        "next_run_at": s.next_run_at,
        "last_run": s.last_run,
    }))
}

fn not_yet() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "30")],
        "no review yet: the first run has not finished\n",
    )
        .into_response()
}

async fn review_json(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.state().review {
        Some(r) => Json(r.clone()).into_response(),
        None => not_yet(),
    }
}

async fn review_markdown(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.state().review {
        Some(r) => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            report::markdown(r, "the service's clients"),
        )
            .into_response(),
        None => not_yet(),
    }
}

async fn run_now(State(shared): State<Arc<Shared>>) -> Response {
    // Checked and claimed under one lock: requests at once start one run, not one each.
    let mut s = shared.state();
    if !s.scheduler_alive {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler has stopped, so no run can start: restart the service\n",
        )
            .into_response();
    }
    if s.running {
        return (StatusCode::ACCEPTED, "a run is in progress; see /v1/status\n").into_response();
    }
    if s.run_requested {
        return (
            StatusCode::ACCEPTED,
            "a run was asked for and starts now; see /v1/status\n",
        )
            .into_response();
    }
    // Runs log in everywhere: back-to-back runs would hammer the targets.
    if let Some(last) = &s.last_run {
        let gap = i64::try_from(shared.min_run_gap.as_secs()).unwrap_or(i64::MAX);
        let wait = gap.saturating_sub((Utc::now() - last.finished_at).num_seconds());
        if wait > 0 {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, wait.to_string())],
                format!("the last run ended less than {gap} s ago; try again in {wait} s\n"),
            )
                .into_response();
        }
    }
    s.run_requested = true;
    drop(s);
    shared.run_now.notify_one();
    (StatusCode::ACCEPTED, "a run starts now\n").into_response()
}

/// Every vault entry due now, as of the last run that worked (none before the first): path,
/// kind, category, how it is managed, why it is due. Never a secret.
async fn due(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.state();
    let run = s.last_good_run.as_ref();
    let due: Vec<&crate::review::due::Assessed> = run
        .map(|r| r.due.iter().filter(|e| e.due.is_some()).collect())
        .unwrap_or_default();
    let body = serde_json::json!({
        "as_of": run.map(|r| r.finished_at),
        "count": due.len(),
        "due": due,
    });
    axum::Json(body).into_response()
}

/// Prometheus text exposition (version 0.0.4).
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.state();
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    metric(
        "keyreeve_runs_total",
        "Runs finished since the service started.",
        "counter",
        &[("", s.runs as f64)],
    );
    metric(
        "keyreeve_run_failures_total",
        "Runs that could not start or whose review failed.",
        "counter",
        &[("", s.failed_runs as f64)],
    );
    metric(
        "keyreeve_run_in_progress",
        "1 while a run is in progress.",
        "gauge",
        &[("", flag(s.running))],
    );
    if let Some(run) = &s.last_run {
        metric(
            "keyreeve_last_run_timestamp_seconds",
            "When the last run finished (Unix time), whether or not it worked.",
            "gauge",
            &[("", run.finished_at.timestamp() as f64)],
        );
        metric(
            "keyreeve_last_run_ok",
            "1 when the last run started and reviewed, else 0.",
            "gauge",
            &[("", flag(run.error.is_none()))],
        );
    }
    if let Some(run) = &s.last_good_run {
        metric(
            "keyreeve_last_success_timestamp_seconds",
            "When the last run that worked finished (Unix time).",
            "gauge",
            &[("", run.finished_at.timestamp() as f64)],
        );
        let took = (run.finished_at - run.started_at).num_milliseconds() as f64 / 1000.0;
        metric(
            "keyreeve_last_success_duration_seconds",
            "How long that run took.",
            "gauge",
            &[("", took)],
        );
        metric(
            "keyreeve_targets",
            "Targets in the last run that worked, by whether their discovery worked.",
            "gauge",
            &[
                ("{state=\"ok\"}", run.targets.saturating_sub(run.failed.len()) as f64),
                ("{state=\"failed\"}", run.failed.len() as f64),
            ],
        );
        metric(
            "keyreeve_stored_passwords",
            "Stored passwords in the last run that worked, by what their check found.",
            "gauge",
            &[
                ("{check=\"rejected\"}", run.rejected.len() as f64),
                ("{check=\"error\"}", run.check_errors.len() as f64),
                ("{check=\"not-checked\"}", run.not_checked.len() as f64),
            ],
        );
    }
    if let Some(run) = &s.last_good_run {
        let mut due = std::collections::BTreeMap::<(String, String), usize>::new();
        for e in &run.due {
            let count = due
                .entry((e.client.clone(), e.kind.clone().unwrap_or_else(|| "untracked".into())))
                .or_default();
            *count += usize::from(e.due.is_some());
        }
        let labels: Vec<(String, f64)> = due
            .into_iter()
            .map(|((client, kind), n)| {
                (
                    format!("{{client=\"{}\",kind=\"{}\"}}", label(&client), label(&kind)),
                    n as f64,
                )
            })
            .collect();
        let samples: Vec<(&str, f64)> = labels.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "keyreeve_accounts_due",
            "Vault entries due for rotation now, by client and target kind (`untracked`: not in the inventory).",
            "gauge",
            &samples,
        );
    }
    if let Some(review) = &s.review {
        metric(
            "keyreeve_review_timestamp_seconds",
            "When the review below was made (Unix time).",
            "gauge",
            &[("", review.generated_at.timestamp() as f64)],
        );
        let counts: Vec<(String, f64)> = review
            .counts()
            .into_iter()
            .map(|(severity, n)| (format!("{{severity=\"{}\"}}", severity.as_str()), n as f64))
            .collect();
        let samples: Vec<(&str, f64)> = counts.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "keyreeve_findings_open",
            "Open (not accepted) review findings, by severity.",
            "gauge",
            &samples,
        );
        metric(
            "keyreeve_findings_accepted",
            "Review findings the policy accepts.",
            "gauge",
            &[(
                "",
                review.findings.iter().filter(|f| f.accepted.is_some()).count() as f64,
            )],
        );
        let admins = review
            .targets
            .iter()
            .flat_map(|t| &t.roster)
            .filter(|r| r.admin)
            .count();
        metric(
            "keyreeve_admin_accounts",
            "Accounts holding admin rights, over every target.",
            "gauge",
            &[("", admins as f64)],
        );
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

/// A Prometheus label value: backslash, quote and line break escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::serve::cycle::{run_on_schedule, tests::quiet_report, tests::until};

    async fn ask_for_a_run(shared: &Arc<Shared>) -> (StatusCode, String) {
        let answer = run_now(State(shared.clone())).await;
        let status = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), 4096).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Requests at once, after the gap: one run starts, not one per request (two used to start
    /// 40 ms apart), and every request is answered. On one thread every request is answered
    /// before the woken scheduler runs: the widest the window between a request and the run's
    /// start can be.
    #[tokio::test]
    async fn requests_at_once_start_one_run() {
        let shared = Arc::new(Shared::new(
            Duration::from_secs(3600),
            [0; 32],
            true,
            Duration::from_secs(1),
        ));
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        tokio::spawn(run_on_schedule(shared.clone(), {
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    (quiet_report(), None)
                }
            }
        }));
        until(&shared, |s| s.runs == 1 && !s.running).await;
        assert_eq!(ask_for_a_run(&shared).await.0, StatusCode::TOO_MANY_REQUESTS);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let requests: Vec<_> = (0..32)
            .map(|_| {
                let (shared, barrier) = (shared.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    ask_for_a_run(&shared).await
                })
            })
            .collect();
        let mut started = 0;
        for r in requests {
            let (status, body) = r.await.unwrap();
            assert!(
                matches!(status, StatusCode::ACCEPTED | StatusCode::TOO_MANY_REQUESTS),
                "{status} {body}"
            );
            started += usize::from(body == "a run starts now\n");
        }
        assert_eq!(started, 1);
        until(&shared, |s| s.runs == 2 && !s.running).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(shared.state().runs, 2);
    }

    /// A stopped scheduler cannot run: the request is refused, not told a run starts.
    #[tokio::test]
    async fn no_run_is_promised_when_the_scheduler_has_stopped() {
        let shared = Arc::new(Shared::new(Duration::from_secs(3600), [0; 32], true, Duration::ZERO));
        shared.state().scheduler_alive = false;
        let (status, body) = ask_for_a_run(&shared).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("scheduler has stopped"), "{body}");
        assert!(!shared.state().run_requested);
    }
}
