//! Operating endpoints: each turns a request into a supervisor command and answers with
//! the group as published after it (or the reload's generation).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::{error, group_view, AdminCtx};
use crate::config::Role;
use crate::group::supervisor::{Command, CommandError};
use crate::group::AdminState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchBody {
    target: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    state: String,
}

/// Parses a JSON body, or says precisely what is wrong with it (a 400).
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn run(ctx: &AdminCtx, headers: &HeaderMap, group: &str, command: Command) -> Response {
    let actor = match ctx.tokens.authorize(headers, Role::Operate) {
        Ok(a) => a,
        Err(denied) => return denied.into_response(),
    };
    match ctx.supervisor.command(command, &actor).await {
        Ok(_) => group_view(ctx, group),
        Err(e) => command_error(e),
    }
}

fn command_error(e: CommandError) -> Response {
    let status = match e {
        CommandError::NotFound(_) => StatusCode::NOT_FOUND,
        CommandError::Conflict(_) => StatusCode::CONFLICT,
        CommandError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

pub async fn switch(
    State(ctx): State<AdminCtx>,
    headers: HeaderMap,
    Path(group): Path<String>,
    body: Bytes,
) -> Response {
    let body: SwitchBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let command = Command::Switch {
        group: group.clone(),
        target: body.target,
        force: body.force,
    };
    run(&ctx, &headers, &group, command).await
}

pub async fn release(
    State(ctx): State<AdminCtx>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> Response {
    run(&ctx, &headers, &group.clone(), Command::Release { group }).await
}

pub async fn failback(
    State(ctx): State<AdminCtx>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> Response {
    run(&ctx, &headers, &group.clone(), Command::Failback { group }).await
}

pub async fn commit(
    State(ctx): State<AdminCtx>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> Response {
    run(&ctx, &headers, &group.clone(), Command::Commit { group }).await
}

pub async fn disconnect(
    State(ctx): State<AdminCtx>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> Response {
    run(
        &ctx,
        &headers,
        &group.clone(),
        Command::Disconnect { group },
    )
    .await
}

pub async fn target_state(
    State(ctx): State<AdminCtx>,
    headers: HeaderMap,
    Path((group, target)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: StateBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let state = match body.state.as_str() {
        "enabled" => AdminState::Enabled,
        "drain" => AdminState::Drain,
        "maintenance" => AdminState::Maintenance,
        other => {
            let msg =
                format!("state {other:?} is not one of \"enabled\", \"drain\", \"maintenance\"");
            return error(StatusCode::BAD_REQUEST, msg);
        }
    };
    let command = Command::SetAdmin {
        group: group.clone(),
        target,
        state,
    };
    run(&ctx, &headers, &group, command).await
}

pub async fn reload(State(ctx): State<AdminCtx>, headers: HeaderMap) -> Response {
    let actor = match ctx.tokens.authorize(&headers, Role::Operate) {
        Ok(a) => a,
        Err(denied) => return denied.into_response(),
    };
    match ctx.live.reload(&actor).await {
        Ok(generation) => Json(json!({ "result": "ok", "generation": generation })).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}
