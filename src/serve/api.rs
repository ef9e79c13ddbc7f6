//! The service's HTTP API: read-only answers from the latest run, and one way to ask for a run
//! now. Every route but `/healthz` needs the bearer token when one is set. Nothing here can reach
//! the vault: the state holds reports and reviews, which never hold a secret.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
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
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(shared.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(guarded)
        .with_state(shared)
}

async fn require_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = shared.token_digest else {
        return next.run(request).await;
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| token_digest(t.trim().as_bytes()));
    if offered == Some(expected) {
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

async fn status(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let s = shared.state();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": s.started_at,
        "every_seconds": shared.every.as_secs(),
        "runs": s.runs,
        "running": s.running,
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
    shared.run_now.notify_one();
    (
        StatusCode::ACCEPTED,
        "a run starts now, or right after the one in progress\n",
    )
        .into_response()
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
    metric(
        "keyreeve_runs_total",
        "Runs finished since the service started.",
        "counter",
        &[("", s.runs as f64)],
    );
    if let Some(run) = &s.last_run {
        metric(
            "keyreeve_last_run_timestamp_seconds",
            "When the last run finished (Unix time).",
            "gauge",
            &[("", run.finished_at.timestamp() as f64)],
        );
        let took = (run.finished_at - run.started_at).num_milliseconds() as f64 / 1000.0;
        metric(
            "keyreeve_last_run_duration_seconds",
            "How long the last run took.",
            "gauge",
            &[("", took)],
        );
        metric(
            "keyreeve_last_run_ok",
            "1 when the last run could start (inventory and policy valid), else 0.",
            "gauge",
            &[("", if run.error.is_none() { 1.0 } else { 0.0 })],
        );
        metric(
            "keyreeve_targets",
            "Targets in the last run, by whether discovery worked.",
            "gauge",
            &[
                (
                    "{state=\"ok\"}",
                    (run.targets - run.failed.len().min(run.targets)) as f64,
                ),
                ("{state=\"failed\"}", run.failed.len() as f64),
            ],
        );
        metric(
            "keyreeve_stored_passwords_rejected",
            "Stored passwords a target refused in the last run.",
            "gauge",
            &[("", run.rejected.len() as f64)],
        );
    }
    if let Some(review) = &s.review {
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
