//! `POST /v1/groups/G/drill` starts a drill (see `crate::drill`) and answers 202 with its
//! first report; `GET /v1/groups/G/drill` shows the running or last one.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::layers::Actor;
use super::{error, AdminCtx};
use crate::drill::{DrillCtx, DrillRequest};

const DEFAULT_HOLD: Duration = Duration::from_secs(30);
const MAX_HOLD: Duration = Duration::from_secs(3600);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DrillBody {
    to: Option<String>,
    hold: Option<String>,
}

fn request(group: String, body: &Bytes) -> Result<DrillRequest, String> {
    let body: DrillBody = match body.is_empty() {
        true => DrillBody::default(),
        false => serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?,
    };
    let hold = match body.hold.as_deref() {
        None => DEFAULT_HOLD,
        Some(text) => crate::config::duration::parse(text).map_err(|e| format!("hold: {e}"))?,
    };
    if hold > MAX_HOLD {
        return Err(format!(
            "hold: at most {}",
            crate::config::duration::show(MAX_HOLD)
        ));
    }
    Ok(DrillRequest {
        group,
        to: body.to,
        hold,
    })
}

pub async fn start(
    State(ctx): State<AdminCtx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path(group): Path<String>,
    body: Bytes,
) -> Response {
    let req = match request(group, &body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if ctx.cluster.as_ref().is_some_and(|c| !c.leads()) {
        let msg = "a drill runs on the cluster's leader: ask it (failoverd ctl cluster shows it)";
        return error(StatusCode::SERVICE_UNAVAILABLE, msg);
    }
    let drill = DrillCtx {
        snapshot: ctx.snapshot.clone(),
        supervisor: ctx.supervisor.clone(),
        events: ctx.events.clone(),
        metrics: ctx.metrics.clone(),
        drills: ctx.drills.clone(),
    };
    tracing::info!(group = %req.group, actor, "drill asked");
    match crate::drill::start(drill, req) {
        Ok(report) => (StatusCode::ACCEPTED, Json(report)).into_response(),
        Err(e) => super::operate::command_error(e),
    }
}

pub async fn show(State(ctx): State<AdminCtx>, Path(group): Path<String>) -> Response {
    match ctx.drills.get(&group) {
        Some(report) => Json(report).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no drill of group {group:?} since failoverd started"),
        ),
    }
}
