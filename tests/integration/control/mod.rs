//! The control plane end to end: every admin API verb through the real HTTP server, bearer
//! auth, drain vs maintenance on live sessions, persisted decisions across `kill -9`, a
//! corrupt state file, hot reload (API and SIGHUP) and readiness while draining.
//!
//! Real binary, real sockets on loopback: main on 127.0.0.2, backup on 127.0.0.3, another
//! backend on 127.0.0.4. Every wait polls with a deadline; "does not happen" is observed
//! repeatedly over a bounded window.
//!
//! This module holds what those tests share: check settings, config text, admin API
//! helpers, and greeting backends that say which target a session reached.

mod auth;
mod durability;
mod errors;
mod events;
mod reload;
mod sessions;
mod shutdown;
mod verbs;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::harness::*;

const OTHER: &str = "127.0.0.4";

/// Fast HTTP checks on the stacks' `/health`: up after one good check, down after three
/// bad ones (~600 ms), so one slow check on a busy machine does not flap a target.
const HTTP_HEALTH: &str = r#"kind = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"
rise = 1
fall = 3"#;

/// Fast TCP checks (echo backends), as robust as `HTTP_HEALTH`.
const TCP_FAST: &str = r#"kind = "tcp"
interval = "200ms"
timeout = "150ms"
rise = 1
fall = 3"#;

/// Slow verdicts: the first check lands within the first second, and three are needed, so
/// no verdict exists for at least 2 s after a (re)start or for a new target after a reload.
const TCP_SLOW_VERDICT: &str = r#"kind = "tcp"
interval = "1s"
timeout = "500ms"
rise = 3
fall = 3"#;

const STARTUP_OPEN_API: &str =
    "no [[admin.token]] configured: the admin API is open to local users only";

// ---------------------------------------------------------------------------------------
// Config text
// ---------------------------------------------------------------------------------------

/// Writes a new config text (with `{dir}`) over the running process' config file.
fn rewrite_config(f: &Failoverd, text: &str) {
    let text = text.replace("{dir}", &f.dir.path().display().to_string());
    std::fs::write(&f.config_path, text).expect("rewrite config");
}

// ---------------------------------------------------------------------------------------
// API helpers
// ---------------------------------------------------------------------------------------

/// POST that must answer 200 with JSON.
async fn post_ok(f: &Failoverd, path: &str, body: &str, token: Option<&str>) -> Value {
    let (status, text) = f.post(path, body, token).await;
    assert_eq!(status, 200, "POST {path} {body}: {text}");
    parse_json(path, &text)
}

/// POST that must fail with `status` and a JSON `{"error": ...}`; returns the message.
async fn post_err(
    f: &Failoverd,
    path: &str,
    body: &str,
    token: Option<&str>,
    status: u16,
) -> String {
    let (got, text) = f.post(path, body, token).await;
    assert_eq!(got, status, "POST {path} {body}: {text}");
    error_message(&text)
}

/// The message of an `{"error": "..."}` body (which must be exactly that shape).
fn error_message(text: &str) -> String {
    let v = parse_json("error body", text);
    let msg = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("error body without a string \"error\": {text}"));
    assert!(!msg.is_empty(), "empty error message");
    assert_eq!(
        v.as_object().map(|o| o.len()),
        Some(1),
        "extra fields: {text}"
    );
    msg.to_string()
}

async fn get_as(f: &Failoverd, path: &str, token: Option<&str>) -> HttpResponse {
    http_request(f.admin, "GET", path, None, token)
        .await
        .expect("admin GET")
}

async fn group_as(f: &Failoverd, name: &str, token: Option<&str>) -> Value {
    let r = get_as(f, &format!("/v1/groups/{name}"), token).await;
    assert_eq!(r.status, 200, "GET group {name}: {}", r.body);
    parse_json("group", &r.body)
}

async fn events(f: &Failoverd, query: &str, token: Option<&str>) -> Vec<Value> {
    let r = get_as(f, &format!("/v1/events{query}"), token).await;
    assert_eq!(r.status, 200, "GET /v1/events{query}: {}", r.body);
    parse_json("events", &r.body)["events"]
        .as_array()
        .expect("events array")
        .clone()
}

/// Admin events (`kind = "admin"`) of one action.
fn admin_events<'a>(evs: &'a [Value], action: &str) -> Vec<&'a Value> {
    evs.iter()
        .filter(|e| e["kind"] == "admin" && e["details"]["action"] == action)
        .collect()
}

fn pinned(g: &Value) -> Option<String> {
    g["pinned"].as_str().map(String::from)
}

fn priority(g: &Value, name: &str) -> u64 {
    target(g, name)["priority"].as_u64().expect("priority")
}

fn admin_state(g: &Value, name: &str) -> String {
    target(g, name)["admin_state"]
        .as_str()
        .expect("admin_state")
        .to_string()
}

/// The state file as JSON (it must exist and parse).
fn saved_state(f: &Failoverd) -> Value {
    let path = f.dir.path().join("failoverd.state");
    let text = std::fs::read_to_string(&path).expect("read state file");
    parse_json("state file", &text)
}

/// Body of one `GET /` through the proxy (an HttpStack says `hello from NAME`).
async fn proxied(proxy: SocketAddr) -> String {
    let (status, body) = http_get(proxy, "/").await.expect("GET through the proxy");
    assert_eq!(status, 200, "GET through the proxy: {body}");
    body
}

// ---------------------------------------------------------------------------------------
// Greeting backends and sessions
// ---------------------------------------------------------------------------------------

/// An echo server that first sends `NAME\n` on every connection, so a client through the
/// proxy knows which backend it reached, then echoes until EOF.
async fn greeting_echo(
    listener: std::net::TcpListener,
    name: &'static str,
    stop: CancellationToken,
) {
    serve_each(listener, stop, move |mut sock| async move {
        let _ = async {
            sock.write_all(format!("{name}\n").as_bytes()).await?;
            let (mut r, mut w) = sock.split();
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await
        }
        .await;
    })
    .await
}

/// Greeting echo servers `main` and `backup` on one port; they stop when dropped.
fn named_backends() -> Backends {
    Backends::spawn(greeting_echo)
}

/// A session through the proxy to a greeting backend: the stream (past the greeting) and
/// the backend's name.
async fn named_session(proxy: SocketAddr) -> io::Result<(BufReader<TcpStream>, String)> {
    let s = timeout(IO_LIMIT, TcpStream::connect(proxy))
        .await
        .map_err(|_| timed_out("connect"))??;
    let mut s = BufReader::new(s);
    let mut line = String::new();
    timeout(IO_LIMIT, s.read_line(&mut line))
        .await
        .map_err(|_| timed_out("greeting"))??;
    if !line.ends_with('\n') {
        return Err(io::Error::other(format!("no greeting, got {line:?}")));
    }
    Ok((s, line.trim_end().to_string()))
}

/// Round trips on `s` every 50 ms for `window`: the session must keep working.
async fn keeps_echoing<S>(s: &mut S, window: Duration, what: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let until = Instant::now() + window;
    for i in 0..1_000 {
        round_trip(s, format!("{what} {i}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{what}: round trip {i} failed: {e}"));
        if Instant::now() >= until {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
