//! Admin HTTP server: `/metrics`, `/live`, `/ready`, the JSON API under `/v1`, and the
//! status page at `/` (`page`).
//!
//! Reads come from the snapshot; operating endpoints send commands to the supervisor, which
//! persists and publishes before it answers, so a 200 means the decision is durable and
//! live. Every endpoint but `/live` and `/ready` needs a bearer token when tokens are
//! configured (`read` for GETs, `operate` for the rest).

mod auth;
mod drill;
mod fleet;
mod layers;
mod operate;
mod page;
mod serve;
mod tls;
mod views;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::config::AdminConfig;
use crate::critical::{Status, Subsystems};
use crate::group::snapshot::SnapshotReader;
use crate::group::supervisor::SupervisorHandle;
use crate::reconfig::ReloadHandle;
use crate::store::events::EventLog;
pub use crate::tokens::Tokens;

#[derive(Clone)]
pub struct AdminCtx {
    pub snapshot: SnapshotReader,
    pub metrics: PrometheusHandle,
    /// Cleared when the process starts draining, so load balancers stop sending.
    pub ready: Arc<AtomicBool>,
    pub supervisor: SupervisorHandle,
    pub reload: ReloadHandle,
    pub events: Arc<EventLog>,
    pub tokens: Tokens,
    /// What `/ready` reports beside draining.
    pub subsystems: Subsystems,
    /// The etcd session's view (`None`: no `[cluster]`, this process decides alone).
    pub cluster: Option<crate::cluster::ClusterHandle>,
    /// The running or last drill of each group.
    pub drills: crate::drill::Drills,
}

/// Every endpoint, behind the admission layers (see `layers.rs`): `/live`, `/ready` and the
/// page's shell open, reads behind a `read` token, operating calls behind an `operate` token.
pub fn router(ctx: AdminCtx, body_timeout: Duration) -> Router {
    let tokens = ctx.tokens.clone();
    let read = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/groups", get(groups))
        .route("/v1/groups/{group}", get(group))
        .route("/v1/events", get(events))
        .route("/v1/cluster", get(cluster))
        .route("/v1/whoami", get(page::whoami))
        .route("/v1/stream", get(page::stream))
        .route("/v1/groups/{group}/drill", get(drill::show))
        .route_layer(from_fn_with_state(tokens.clone(), layers::require_read));
    let operate = Router::new()
        .route("/v1/groups/{group}/switch", post(operate::switch))
        .route("/v1/groups/{group}/release", post(operate::release))
        .route("/v1/groups/{group}/failback", post(operate::failback))
        .route("/v1/groups/{group}/commit", post(operate::commit))
        .route("/v1/groups/{group}/uncommit", post(operate::uncommit))
        .route("/v1/groups/{group}/retry", post(operate::retry))
        .route("/v1/groups/{group}/drill", post(drill::start))
        .route("/v1/groups/{group}/disconnect", post(operate::disconnect))
        .route(
            "/v1/groups/{group}/targets/{target}/state",
            post(operate::target_state),
        )
        .route("/v1/reload", post(operate::reload))
        // Inside the token check: a stranger's body is neither read nor even measured.
        .route_layer(RequestBodyLimitLayer::new(layers::BODY_LIMIT))
        .route_layer(RequestBodyTimeoutLayer::new(body_timeout))
        .route_layer(from_fn_with_state(tokens.clone(), layers::require_operate))
        .route_layer(from_fn(layers::same_origin));
    Router::new()
        .route("/live", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        // The status page and its assets load without a token (see `page`).
        .route("/", get(page::index))
        .route("/assets/page.js", get(page::script))
        .route("/assets/render.js", get(page::render_script))
        .route("/assets/page.css", get(page::style))
        .merge(read)
        .merge(operate)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .layer(from_fn_with_state(tokens, layers::no_rebinding))
        .layer(from_fn(layers::request_limits))
        .layer(map_response(layers::json_errors))
        .with_state(ctx)
}

/// Serves until `stop` fires, over TLS when configured, under the admission limits of
/// `[admin]`.
pub async fn serve(
    listener: TcpListener,
    config: &AdminConfig,
    ctx: AdminCtx,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let limits = serve::Limits {
        max_connections: config.max_connections,
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
    };
    let app = router(ctx, config.header_timeout);
    serve::serve(listener, tls, app, limits, stop).await;
    Ok(())
}

/// JSON error body with a fitting status, as every API error is shaped.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// 200 while every critical subsystem runs and the process is not draining; the body
/// names each subsystem and its status either way.
async fn ready(State(ctx): State<AdminCtx>) -> Response {
    let statuses = ctx.subsystems.statuses();
    let all_running = statuses.iter().all(|(_, s)| *s == Status::Running);
    let status = match (ctx.ready.load(Ordering::Relaxed), all_running) {
        (true, true) => "ready",
        (false, _) => "draining",
        (true, false) => "failed",
    };
    let subsystems: serde_json::Map<String, serde_json::Value> = statuses
        .into_iter()
        .map(|(name, s)| (name.to_string(), json!(s)))
        .collect();
    let code = if status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({ "status": status, "subsystems": subsystems })),
    )
        .into_response()
}

async fn metrics(State(ctx): State<AdminCtx>) -> Response {
    crate::metrics::collect_process();
    let mut body = ctx.metrics.render();
    fleet::render(&ctx.snapshot.load(), &mut body);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `GET /v1/cluster`: this instance's view of the cluster, or `{"backend": "local"}`.
async fn cluster(State(ctx): State<AdminCtx>) -> Response {
    match &ctx.cluster {
        Some(c) => Json(c.status.borrow().clone()).into_response(),
        None => Json(json!({ "backend": "local" })).into_response(),
    }
}

async fn groups(State(ctx): State<AdminCtx>) -> Response {
    let body = axum::body::Body::from_stream(views::groups_json(ctx.snapshot.load_full()));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn group(State(ctx): State<AdminCtx>, Path(name): Path<String>) -> Response {
    group_view(&ctx, &name)
}

pub(crate) fn group_view(ctx: &AdminCtx, name: &str) -> Response {
    let snap = ctx.snapshot.load();
    match snap.group(name) {
        Some(g) => Json(views::group(g)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no group {name:?}")),
    }
}

#[derive(Deserialize)]
struct EventQuery {
    group: Option<String>,
    since: Option<u64>,
    limit: Option<usize>,
}

async fn events(
    State(ctx): State<AdminCtx>,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{e} (use group=NAME, since=ID, limit=N)"),
            )
        }
    };
    let limit = q.limit.unwrap_or(100).min(1000);
    let list = ctx.events.query(q.group.as_deref(), q.since, limit);
    let list: Vec<serde_json::Value> = list.iter().map(page::with_summary).collect();
    Json(json!({ "events": list })).into_response()
}
