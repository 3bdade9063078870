//! Operating endpoints: each turns a request into a supervisor command and answers with
//! the group as published after it (or the reload's generation). The token is checked by a
//! layer before the handler runs (`layers.rs`), so before the body is read: an unauthorized
//! caller learns nothing from validation and costs no body.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::layers::Actor;
use super::{error, group_view, views, AdminCtx};
use crate::group::supervisor::{Command, CommandError};
use crate::group::wire_command::WireCommand;
use crate::group::AdminState;
use crate::metrics::book;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchBody {
    target: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: String,
}

/// Parses a JSON body, or says precisely what is wrong with it (a 400).
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

/// Builds the command, runs it as `actor`, answers with the group. The token was checked
/// before (`layers::require_operate`), and so before the body was read.
async fn run(
    ctx: &AdminCtx,
    actor: &Actor,
    group: &str,
    command: impl FnOnce() -> Result<Command, String>,
) -> Response {
    match execute(ctx, actor, command).await {
        Ok(()) => group_view(ctx, group),
        Err(response) => response,
    }
}

/// Runs the command (here, or through the cluster's leader); the error as the answer.
async fn execute(
    ctx: &AdminCtx,
    Actor(actor): &Actor,
    command: impl FnOnce() -> Result<Command, String>,
) -> Result<(), Response> {
    let command = command().map_err(|bad| error(StatusCode::BAD_REQUEST, bad))?;
    let answer = match (&ctx.cluster, WireCommand::of(&command)) {
        // A follower decides nothing: the leader does, through etcd.
        (Some(cluster), Some(wire)) if !cluster.leads() => {
            let answer = cluster.forward(wire, actor).await;
            ctx.supervisor.barrier().await;
            answer
        }
        _ => ctx.supervisor.command(command, actor).await,
    };
    answer.map(|_| ()).map_err(command_error)
}

pub(super) fn command_error(e: CommandError) -> Response {
    let status = match e {
        CommandError::NotFound(_) => StatusCode::NOT_FOUND,
        CommandError::Conflict(_) => StatusCode::CONFLICT,
        CommandError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        CommandError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

pub async fn switch(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path(group): Path<String>,
    body: Bytes,
) -> Response {
    run(&ctx, &actor, &group.clone(), || {
        let body: SwitchBody = parse(&body)?;
        Ok(Command::Switch {
            group,
            target: body.target,
            force: body.force,
        })
    })
    .await
}

/// A verb that takes the group alone, no body.
async fn group_verb(
    ctx: AdminCtx,
    actor: Actor,
    group: String,
    make: fn(String) -> Command,
) -> Response {
    run(&ctx, &actor, &group.clone(), || Ok(make(group))).await
}

pub async fn release(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path(group): Path<String>,
) -> Response {
    group_verb(ctx, actor, group, |group| Command::Release { group }).await
}

pub async fn failback(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path(group): Path<String>,
) -> Response {
    group_verb(ctx, actor, group, |group| Command::Failback { group }).await
}

pub async fn commit(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path(group): Path<String>,
) -> Response {
    group_verb(ctx, actor, group, |group| Command::Commit { group }).await
}

pub async fn uncommit(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path(group): Path<String>,
) -> Response {
    group_verb(ctx, actor, group, |group| Command::Uncommit { group }).await
}

pub async fn retry(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path(group): Path<String>,
) -> Response {
    group_verb(ctx, actor, group, |group| Command::Retry { group }).await
}

/// Answers with the group and `sessions_closed`: the proxied sessions this instance had
/// open on the group when the disconnect was sent. Every one of them started before the
/// disconnect took effect, so each is closed (unless it ended by itself meanwhile); one
/// that starts in the moment between the count and the publish is closed too, uncounted.
pub async fn disconnect(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path(group): Path<String>,
) -> Response {
    let open = open_sessions(&ctx, &group);
    let name = group.clone();
    if let Err(response) = execute(&ctx, &actor, || Ok(Command::Disconnect { group })).await {
        return response;
    }
    let snap = ctx.snapshot.load();
    let Some(g) = snap.group(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no group {name:?}"));
    };
    let mut body = match serde_json::to_value(views::group(g)) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    body["sessions_closed"] = json!(open);
    Json(body).into_response()
}

/// Proxied sessions open on the group's targets now.
fn open_sessions(ctx: &AdminCtx, group: &str) -> u64 {
    let snap = ctx.snapshot.load();
    let Some(g) = snap.group(group) else {
        return 0;
    };
    book::with(|find| {
        g.config
            .targets
            .iter()
            .filter_map(|t| find(group, &t.name))
            .map(|s| s.sessions())
            .sum()
    })
}

pub async fn target_state(
    State(ctx): State<AdminCtx>,
    Extension(actor): Extension<Actor>,
    Path((group, target)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    run(&ctx, &actor, &group.clone(), || {
        let body: StateBody = parse(&body)?;
        let state = match body.state.as_str() {
            "enabled" => AdminState::Enabled,
            "drain" => AdminState::Drain,
            "maintenance" => AdminState::Maintenance,
            other => {
                return Err(format!(
                    "state {other:?} is not one of \"enabled\", \"drain\", \"maintenance\""
                ))
            }
        };
        Ok(Command::SetAdmin {
            group,
            target,
            state,
        })
    })
    .await
}

pub async fn reload(
    State(ctx): State<AdminCtx>,
    Extension(Actor(actor)): Extension<Actor>,
) -> Response {
    match ctx.reload.reload(&actor).await {
        Ok(generation) => Json(json!({ "result": "ok", "generation": generation })).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}
