//! Admin HTTP server: `/metrics`, `/live`, `/ready` and the JSON API under `/v1`.
//!
//! It only reads the snapshot; operating endpoints (switch, drain, ...) send commands to the
//! supervisor and come with the control-plane work.

mod views;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::group::snapshot::SnapshotReader;

#[derive(Clone)]
pub struct AdminCtx {
    pub snapshot: SnapshotReader,
    pub metrics: PrometheusHandle,
    /// Cleared when the process starts draining, so load balancers stop sending.
    pub ready: Arc<AtomicBool>,
}

pub fn router(ctx: AdminCtx) -> Router {
    Router::new()
        .route("/live", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/groups", get(groups))
        .route("/v1/groups/{group}", get(group))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(ctx)
}

/// Serves until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    ctx: AdminCtx,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(ctx))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// JSON error body with a fitting status, as every API error is shaped.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn ready(State(ctx): State<AdminCtx>) -> Response {
    if ctx.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    }
}

async fn metrics(State(ctx): State<AdminCtx>) -> Response {
    let body = ctx.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn groups(State(ctx): State<AdminCtx>) -> Response {
    let snap = ctx.snapshot.load();
    let list: Vec<_> = snap.groups.iter().map(views::group).collect();
    Json(json!({ "version": snap.version, "groups": list })).into_response()
}

async fn group(State(ctx): State<AdminCtx>, Path(name): Path<String>) -> Response {
    let snap = ctx.snapshot.load();
    match snap.group(&name) {
        Some(g) => Json(views::group(g)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no group {name:?}")),
    }
}
