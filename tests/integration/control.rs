//! The control plane end to end: every admin API verb through the real HTTP server, bearer
//! auth, drain vs maintenance on live sessions, persisted decisions across `kill -9`, a
//! corrupt state file, hot reload (API and SIGHUP) and readiness while draining.
//!
//! Real binary, real sockets on loopback: main on 127.0.0.2, backup on 127.0.0.3, another
//! backend on 127.0.0.4. Every wait polls with a deadline; "does not happen" is observed
//! repeatedly over a bounded window.

use std::io;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::harness::*;

const MAIN: &str = "127.0.0.2";
const BACKUP: &str = "127.0.0.3";
const OTHER: &str = "127.0.0.4";

/// Limit for one network exchange through the proxy.
const IO_LIMIT: Duration = Duration::from_secs(5);

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

/// `[admin]` (with `admin_extra`, e.g. tokens) and `[state]` in `{dir}`.
fn header(admin_extra: &str) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n{admin_extra}\n\n[state]\npath = \"{{dir}}/failoverd.state\"\n"
    )
}

/// One `[[group]]` with one listener to `port` and `targets` (name, address, priority).
fn group_toml(
    name: &str,
    port: u16,
    targets: &[(&str, &str, u32)],
    extra: &str,
    health: &str,
) -> String {
    let mut s = format!(
        "\n[[group]]\nname = \"{name}\"\n{extra}\n\n[group.health]\n{health}\n\n\
         [[group.listener]]\nlisten = \"127.0.0.1:0\"\ntarget_port = {port}\n\
         connect_timeout = \"300ms\"\n"
    );
    for (t, addr, prio) in targets {
        s += &format!(
            "\n[[group.target]]\nname = \"{t}\"\naddress = \"{addr}\"\npriority = {prio}\n"
        );
    }
    s
}

/// A main/backup group on MAIN and BACKUP.
fn pair_group(name: &str, port: u16, extra: &str, health: &str) -> String {
    group_toml(
        name,
        port,
        &[("main", MAIN, 1), ("backup", BACKUP, 2)],
        extra,
        health,
    )
}

/// Writes a new config text (with `{dir}`) over the running process' config file.
fn rewrite_config(f: &Failoverd, text: &str) {
    let text = text.replace("{dir}", &f.dir.path().display().to_string());
    std::fs::write(&f.config_path, text).expect("rewrite config");
}

// ---------------------------------------------------------------------------------------
// API helpers
// ---------------------------------------------------------------------------------------

fn parse_json(what: &str, body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body:?}"))
}

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

fn target<'a>(g: &'a Value, name: &str) -> &'a Value {
    g["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {g}"))
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

/// The value of the series `name{labels}` (exact label set) in a scrape.
fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (s, v) = l.rsplit_once(' ')?;
            (s == series).then(|| v.parse().ok()).flatten()
        })
}

/// Body of one `GET /` through the proxy (an HttpStack says `hello from NAME`).
async fn proxied(proxy: SocketAddr) -> String {
    let (status, body) = http_get(proxy, "/").await.expect("GET through the proxy");
    assert_eq!(status, 200, "GET through the proxy: {body}");
    body
}

/// Checks `check` every 50 ms for `window`; panics with `what` at the first failure.
async fn holds_for<F, Fut>(window: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let until = Instant::now() + window;
    for i in 0..10_000 {
        if let Err(e) = check().await {
            panic!("{what}: broken at observation {i}: {e}");
        }
        if Instant::now() >= until {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// HTTP stacks on main and backup, failoverd with one group `app` (`group_extra`,
/// `health`) in front; returns once both are up and main is active.
async fn stacks(group_extra: &str, checks: &str) -> (HttpStack, HttpStack, Failoverd) {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let main = HttpStack::start("main", m);
    let backup = HttpStack::start("backup", b);
    let f = Failoverd::start(&two_stack_config(port, MAIN, BACKUP, group_extra, checks)).await;
    f.wait_group(
        "app",
        Duration::from_secs(10),
        "both up, main active",
        |g| health(g, "main") == "up" && health(g, "backup") == "up" && active(g) == ["main"],
    )
    .await;
    (main, backup, f)
}

// ---------------------------------------------------------------------------------------
// Echo backends and sessions
// ---------------------------------------------------------------------------------------

/// An echo server that first sends `NAME\n` on every connection, so a client through the
/// proxy knows which backend it reached, then echoes until EOF.
async fn greeting_echo(
    listener: std::net::TcpListener,
    name: &'static str,
    stop: CancellationToken,
) {
    listener.set_nonblocking(true).unwrap();
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        let (mut sock, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        let stop = stop.clone();
        tokio::spawn(async move {
            let serve = async {
                sock.write_all(format!("{name}\n").as_bytes()).await?;
                let (mut r, mut w) = sock.split();
                tokio::io::copy(&mut r, &mut w).await?;
                w.shutdown().await
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = serve => {}
            }
        });
    }
}

/// Greeting echo servers `main` and `backup` on one port; they stop when dropped.
struct NamedBackends {
    port: u16,
    _stop: DropGuard,
}

fn named_backends() -> NamedBackends {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    tokio::spawn(greeting_echo(m, "main", stop.clone()));
    tokio::spawn(greeting_echo(b, "backup", stop.clone()));
    NamedBackends {
        port,
        _stop: stop.drop_guard(),
    }
}

/// Plain echo servers (harness `echo_server`) on main and backup; stop when dropped.
fn echo_backends() -> NamedBackends {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    tokio::spawn(echo_server(m, stop.clone()));
    tokio::spawn(echo_server(b, stop.clone()));
    NamedBackends {
        port,
        _stop: stop.drop_guard(),
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
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

/// Writes `msg` and reads the same bytes back within `IO_LIMIT`.
async fn round_trip<S>(s: &mut S, msg: &[u8]) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let exchange = async {
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await?;
        if got != msg {
            return Err(io::Error::other(format!(
                "echo mismatch: sent {:?}, got {:?}",
                String::from_utf8_lossy(msg),
                String::from_utf8_lossy(&got)
            )));
        }
        Ok(())
    };
    timeout(IO_LIMIT, exchange)
        .await
        .map_err(|_| timed_out("round trip"))?
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

/// An echo session through the proxy, proven with one round trip.
async fn echo_session(proxy: SocketAddr) -> io::Result<TcpStream> {
    let mut s = timeout(IO_LIMIT, TcpStream::connect(proxy))
        .await
        .map_err(|_| timed_out("connect"))??;
    round_trip(&mut s, b"ping").await?;
    Ok(s)
}

/// Waits up to `limit` for the peer to close `s` (EOF or an error). Data is an error.
async fn wait_closed<S>(s: &mut S, limit: Duration) -> Result<Duration, String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    match timeout(limit, s.read(&mut buf)).await {
        Err(_) => Err(format!("still open after {limit:?}")),
        Ok(Ok(0)) | Ok(Err(_)) => Ok(started.elapsed()),
        Ok(Ok(n)) => Err(format!(
            "expected a close, got {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        )),
    }
}

/// True when a fresh connection to `addr` is refused, or closed by the peer at once.
async fn refused_or_closed(addr: SocketAddr) -> bool {
    match timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
        Err(_) => false,
        Ok(Err(_)) => true,
        Ok(Ok(mut s)) => {
            let mut buf = [0u8; 64];
            matches!(
                timeout(Duration::from_millis(300), s.read(&mut buf)).await,
                Ok(Ok(0)) | Ok(Err(_))
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. Every API verb
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_switch_refuses_a_down_target_with_409_then_forces_it_and_releases() {
    // Hold 0s: after a release the rules return to main at once (main has been up for
    // less than the default 30s hold).
    let (_main, backup, f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    assert!(
        !f.log_lines_with(STARTUP_OPEN_API).is_empty(),
        "no start-up line saying the API is open without tokens"
    );
    let epoch0 = f.group("app").await["epoch"].as_u64().unwrap();

    // Switch to an up backup: pinned, live, and persisted before the answer.
    let g = post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    assert_eq!(g["name"], "app", "the answer is the group: {g}");
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(pinned(&g).as_deref(), Some("backup"));
    assert_eq!(g["last_change"]["cause"], "manual");
    assert_eq!(g["state"], "failed_over");
    assert_eq!(g["epoch"].as_u64().unwrap(), epoch0 + 1);
    let saved = saved_state(&f);
    assert_eq!(
        saved["groups"]["app"]["pin"], "backup",
        "state file: {saved}"
    );
    assert_eq!(
        saved["groups"]["app"]["active"],
        serde_json::json!(["backup"])
    );
    assert_eq!(saved["groups"]["app"]["epoch"].as_u64(), Some(epoch0 + 1));
    assert_eq!(proxied(f.proxy("app")).await, "hello from backup");

    // Release: the rules decide again (main is up).
    let g = post_ok(&f, "/v1/groups/app/release", "", None).await;
    assert_eq!((active(&g), pinned(&g)), (vec!["main".to_string()], None));
    assert_eq!(g["last_change"]["cause"], "manual");
    assert_eq!(saved_state(&f)["groups"]["app"]["pin"], Value::Null);
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let msg = post_err(&f, "/v1/groups/app/release", "", None, 409).await;
    assert!(msg.contains("not pinned"), "{msg}");

    // A down backup: refused with 409 and the reason, nothing changes.
    backup.health_status.store(503, Ordering::Relaxed);
    let before = f
        .wait_group("app", Duration::from_secs(5), "backup down", |g| {
            health(g, "backup") == "down"
        })
        .await;
    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup"}"#,
        None,
        409,
    )
    .await;
    assert!(msg.contains("down") && msg.contains("force"), "{msg}");
    let g = f.group("app").await;
    assert_eq!((active(&g), pinned(&g)), (vec!["main".to_string()], None));
    assert_eq!(
        g["epoch"], before["epoch"],
        "a refused switch changed the epoch"
    );

    // With force: pinned to the down backup, and it holds while the backup stays down.
    let g = post_ok(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup", "force": true}"#,
        None,
    )
    .await;
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(pinned(&g).as_deref(), Some("backup"));
    assert_eq!(health(&g, "backup"), "down");
    holds_for(
        Duration::from_secs(1),
        "forced pin on a down target",
        || async {
            let g = f.group("app").await;
            if active(&g) != ["backup"] || pinned(&g).as_deref() != Some("backup") {
                return Err(format!("pin lost: {g}"));
            }
            match proxied(f.proxy("app")).await.as_str() {
                "hello from backup" => Ok(()),
                other => Err(format!("served by {other}")),
            }
        },
    )
    .await;

    // Unknown target or group: 404.
    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "nope"}"#,
        None,
        404,
    )
    .await;
    assert_eq!(msg, "group \"app\" has no target \"nope\"");
    let msg = post_err(
        &f,
        "/v1/groups/nope/switch",
        r#"{"target": "main"}"#,
        None,
        404,
    )
    .await;
    assert_eq!(msg, "no group \"nope\"");

    let g = post_ok(&f, "/v1/groups/app/release", "", None).await;
    assert_eq!(active(&g), ["main"]);

    // Every command is an admin event with its actor ("local" without tokens), a refused one
    // with its error.
    let evs = events(&f, "?group=app", None).await;
    let switches = admin_events(&evs, "switch");
    assert_eq!(switches.len(), 4, "switch events: {switches:?}");
    assert!(switches.iter().all(|e| e["details"]["actor"] == "local"));
    assert!(
        switches.iter().any(|e| e["details"]["error"]
            .as_str()
            .is_some_and(|m| m.contains("force"))),
        "the refused switch is not in the history: {switches:?}"
    );
    assert_eq!(admin_events(&evs, "release").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_failback_returns_a_manual_group_to_the_recovered_main() {
    let (main, _backup, f) = stacks("failback = \"manual\"", HTTP_HEALTH).await;
    main.health_status.store(503, Ordering::Relaxed);
    let g = f
        .wait_group("app", Duration::from_secs(5), "failover to backup", |g| {
            active(g) == ["backup"]
        })
        .await;
    assert_eq!(g["last_change"]["cause"], "health");
    let msg = post_err(&f, "/v1/groups/app/failback", "", None, 409).await;
    assert!(
        msg.contains("already serves its best healthy tier"),
        "{msg}"
    );

    main.health_status.store(200, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "main up again", |g| {
        health(g, "main") == "up"
    })
    .await;
    holds_for(
        Duration::from_secs(1),
        "manual group stays on the backup",
        || async {
            let g = f.group("app").await;
            (active(&g) == ["backup"])
                .then_some(())
                .ok_or(format!("moved without an operator: {g}"))
        },
    )
    .await;

    let g = post_ok(&f, "/v1/groups/app/failback", "", None).await;
    assert_eq!(active(&g), ["main"]);
    assert_eq!(g["last_change"]["cause"], "failback");
    assert_eq!(g["state"], "primary");
    assert_eq!(pinned(&g), None);
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let msg = post_err(&f, "/v1/groups/app/failback", "", None, 409).await;
    assert!(msg.contains("already serves"), "{msg}");
    let msg = post_err(&f, "/v1/groups/nope/failback", "", None, 404).await;
    assert_eq!(msg, "no group \"nope\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commit_makes_the_backup_main_and_the_old_main_recovery_does_not_fail_back() {
    let (mut main, _backup, f) =
        stacks("failback = \"auto\"\nfailback_hold = \"0s\"", HTTP_HEALTH).await;
    let msg = post_err(&f, "/v1/groups/app/commit", "", None, 409).await;
    assert!(msg.contains("nothing to commit"), "{msg}");

    main.stop();
    f.wait_group("app", Duration::from_secs(5), "failover to backup", |g| {
        active(g) == ["backup"] && health(g, "main") == "down"
    })
    .await;
    let g = post_ok(&f, "/v1/groups/app/commit", "", None).await;
    assert_eq!(
        (priority(&g, "backup"), priority(&g, "main")),
        (1, 2),
        "{g}"
    );
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(g["state"], "primary", "the backup is the main now: {g}");
    assert_eq!(pinned(&g), None);
    let saved = saved_state(&f);
    let t = &saved["groups"]["app"]["targets"];
    assert_eq!(
        (&t["backup"]["priority"], &t["main"]["priority"]),
        (&1.into(), &2.into()),
        "state file: {saved}"
    );

    // The old main comes back: with auto failback and a 0s hold it would take traffic at
    // once, were it still the main.
    main.restart();
    f.wait_group("app", Duration::from_secs(5), "old main up again", |g| {
        health(g, "main") == "up"
    })
    .await;
    holds_for(
        Duration::from_millis(1500),
        "committed backup keeps traffic",
        || async {
            let g = f.group("app").await;
            if active(&g) != ["backup"] || priority(&g, "backup") != 1 || priority(&g, "main") != 2
            {
                return Err(format!("moved back: {g}"));
            }
            match proxied(f.proxy("app")).await.as_str() {
                "hello from backup" => Ok(()),
                other => Err(format!("served by {other}")),
            }
        },
    )
    .await;

    let evs = events(&f, "?group=app", None).await;
    let commits = admin_events(&evs, "commit");
    let ok = commits
        .iter()
        .find(|e| e["details"]["error"].is_null())
        .expect("commit event");
    assert_eq!(
        ok["details"]["priorities"],
        serde_json::json!({ "main": 2, "backup": 1 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_target_state_and_bodies_are_validated_with_json_errors() {
    let (_main, _backup, f) = stacks("", HTTP_HEALTH).await;
    let state = "/v1/groups/app/targets/main/state";

    let msg = post_err(&f, state, r#"{"state": "off"}"#, None, 400).await;
    assert!(
        msg.contains("\"off\"")
            && msg.contains("enabled")
            && msg.contains("drain")
            && msg.contains("maintenance"),
        "{msg}"
    );
    let msg = post_err(
        &f,
        "/v1/groups/app/targets/nope/state",
        r#"{"state": "drain"}"#,
        None,
        404,
    )
    .await;
    assert_eq!(msg, "group \"app\" has no target \"nope\"");
    let msg = post_err(
        &f,
        "/v1/groups/nope/targets/main/state",
        r#"{"state": "drain"}"#,
        None,
        404,
    )
    .await;
    assert_eq!(msg, "no group \"nope\"");

    let switch = "/v1/groups/app/switch";
    let bad = [
        (switch, ""),
        (switch, "{"),
        (switch, "[]"),
        (switch, "not json"),
        (switch, r#"{"target": 1}"#),
        (switch, r#"{"force": true}"#),
        (switch, r#"{"target": "backup", "forse": true}"#),
        (state, ""),
        (state, r#"{"state": null}"#),
        (state, r#"{"state": "drain", "why": "x"}"#),
    ];
    for (path, body) in bad {
        let msg = post_err(&f, path, body, None, 400).await;
        assert!(
            msg.starts_with("invalid JSON body"),
            "POST {path} {body:?}: {msg}"
        );
    }
    let r = http_request(f.admin, "POST", "/v1/groups/app/explode", Some("{}"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    error_message(&r.body);

    // Nothing of that changed the group.
    let g = f.group("app").await;
    assert_eq!(active(&g), ["main"]);
    assert_eq!(g["epoch"], 0);
    assert_eq!(pinned(&g), None);
    assert_eq!(
        (admin_state(&g, "main"), admin_state(&g, "backup")),
        ("enabled".into(), "enabled".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_disconnect_closes_every_session_of_the_group_and_only_of_it() {
    let backends = echo_backends();
    let config = header("")
        + &pair_group("app", backends.port, "", TCP_FAST)
        + &pair_group("web", backends.port, "", TCP_FAST);
    let f = Failoverd::start(&config).await;
    let mut a1 = echo_session(f.proxy("app")).await.expect("app session 1");
    let mut a2 = echo_session(f.proxy("app")).await.expect("app session 2");
    let mut w = echo_session(f.proxy("web")).await.expect("web session");
    let epoch = f.group("app").await["epoch"].clone();

    let g = post_ok(&f, "/v1/groups/app/disconnect", "", None).await;
    assert_eq!(g["name"], "app");
    assert_eq!(g["epoch"], epoch, "a disconnect is not a transition");
    for (i, s) in [&mut a1, &mut a2].into_iter().enumerate() {
        wait_closed(s, Duration::from_secs(3))
            .await
            .unwrap_or_else(|e| panic!("app session {} not closed by disconnect: {e}", i + 1));
    }
    keeps_echoing(&mut w, Duration::from_secs(1), "web session untouched").await;
    let mut fresh = echo_session(f.proxy("app"))
        .await
        .expect("a new app connection after the disconnect");
    round_trip(&mut fresh, b"again").await.unwrap();

    let msg = post_err(&f, "/v1/groups/nope/disconnect", "", None, 404).await;
    assert_eq!(msg, "no group \"nope\"");
    let evs = events(&f, "?group=app", None).await;
    assert_eq!(admin_events(&evs, "disconnect").len(), 1, "{evs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_events_filter_by_group_and_since_and_name_the_token() {
    let dir = tempfile::tempdir().unwrap();
    const ALICE: &str = "alice-secret-0123456789";
    std::fs::write(dir.path().join("alice.secret"), ALICE).unwrap();
    let tokens = "[[admin.token]]\nname = \"alice\"\nrole = \"operate\"\nsecret_file = \"{dir}/alice.secret\"\n";
    let backends = echo_backends();
    let config = header(tokens)
        + &pair_group("app", backends.port, "", TCP_FAST)
        + &pair_group("web", backends.port, "", TCP_FAST);
    let f = Failoverd::start_with(
        &config,
        StartOptions {
            dir: Some(dir),
            ..Default::default()
        },
    )
    .await;
    let tok = Some(ALICE);
    for name in ["app", "web"] {
        eventually(Duration::from_secs(5), "both targets up", || async {
            let g = group_as(&f, name, tok).await;
            (health(&g, "main") == "up" && health(&g, "backup") == "up").then_some(())
        })
        .await;
    }
    let all = events(&f, "", tok).await;
    assert!(
        all.iter().any(|e| e["kind"] == "start"),
        "no start event: {all:?}"
    );

    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, tok).await;
    post_ok(&f, "/v1/groups/web/switch", r#"{"target": "backup"}"#, tok).await;
    let app = events(&f, "?group=app", tok).await;
    assert!(!app.is_empty());
    assert!(app.iter().all(|e| e["group"] == "app"), "{app:?}");
    let sw = admin_events(&app, "switch");
    assert_eq!(sw.len(), 1, "{app:?}");
    assert_eq!(sw[0]["details"]["actor"], "alice");
    assert_eq!(sw[0]["details"]["target"], "backup");
    assert_eq!(sw[0]["epoch"], 1);
    let tr: Vec<_> = app.iter().filter(|e| e["kind"] == "transition").collect();
    assert_eq!(tr.len(), 1, "{app:?}");
    assert_eq!(tr[0]["details"]["actor"], "alice");
    assert_eq!(tr[0]["details"]["cause"], "manual");
    assert_eq!(tr[0]["details"]["to"], serde_json::json!(["backup"]));

    let last = events(&f, "", tok)
        .await
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .max()
        .expect("ids");
    post_ok(&f, "/v1/groups/app/release", "", tok).await;
    let since = events(&f, &format!("?since={last}"), tok).await;
    assert!(
        since.iter().all(|e| e["id"].as_u64().unwrap() > last),
        "since={last}: {since:?}"
    );
    let rel = admin_events(&since, "release");
    assert_eq!(rel.len(), 1, "{since:?}");
    assert_eq!(rel[0]["details"]["actor"], "alice");
    assert!(admin_events(&since, "switch").is_empty(), "{since:?}");
    let web_since = events(&f, &format!("?group=web&since={last}"), tok).await;
    assert!(
        web_since
            .iter()
            .all(|e| e["group"] == "web" && e["id"].as_u64().unwrap() > last),
        "{web_since:?}"
    );
    assert!(admin_events(&web_since, "release").is_empty());

    let newest = events(&f, "?limit=1", tok).await;
    assert_eq!(newest.len(), 1);
    let all = events(&f, "", tok).await;
    assert_eq!(newest[0]["id"], all.last().unwrap()["id"]);

    let r = get_as(&f, "/v1/events?since=yesterday", tok).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = error_message(&r.body);
    assert!(msg.contains("since"), "{msg}");

    // Reloads are events too, with the actor.
    let (status, body) = f.post("/v1/reload", "", tok).await;
    assert_eq!(status, 200, "{body}");
    let reloads: Vec<_> = events(&f, "", tok)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "reload")
        .collect();
    assert_eq!(reloads.len(), 1);
    assert_eq!(reloads[0]["details"]["actor"], "alice");
    assert_eq!(reloads[0]["details"]["result"], "ok");
}

// ---------------------------------------------------------------------------------------
// 2. Auth
// ---------------------------------------------------------------------------------------

const OPS_SECRET: &str = "ops-secret-abcdefghijklmnop";
const VIEWER_SECRET: &str = "viewer-secret-qrstuvwxyz0123";

/// Failoverd with an operate token `ops` (secret file) and a read token `viewer` (secret
/// in an environment variable unique to this process and `tag`) in front of both stacks.
async fn with_tokens(tag: &str) -> (HttpStack, HttpStack, Failoverd) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ops.secret"), format!("{OPS_SECRET}\n")).unwrap();
    let var = format!("FAILOVERD_TEST_VIEWER_{}_{tag}", std::process::id());
    let tokens = format!(
        "[[admin.token]]\nname = \"ops\"\nrole = \"operate\"\nsecret_file = \"{{dir}}/ops.secret\"\n\n\
         [[admin.token]]\nname = \"viewer\"\nrole = \"read\"\nsecret_env = \"{var}\"\n"
    );
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let main = HttpStack::start("main", m);
    let backup = HttpStack::start("backup", b);
    let config = header(&tokens) + &pair_group("app", port, "failback_hold = \"0s\"", HTTP_HEALTH);
    let f = Failoverd::start_with(
        &config,
        StartOptions {
            dir: Some(dir),
            env: vec![(var, VIEWER_SECRET.into())],
            ..Default::default()
        },
    )
    .await;
    eventually(Duration::from_secs(10), "both up, main active", || async {
        let g = group_as(&f, "app", Some(VIEWER_SECRET)).await;
        (health(&g, "main") == "up" && health(&g, "backup") == "up" && active(&g) == ["main"])
            .then_some(())
    })
    .await;
    (main, backup, f)
}

/// Every operating endpoint with a valid body.
const OPERATE: [(&str, &str); 7] = [
    ("/v1/groups/app/switch", r#"{"target": "backup"}"#),
    ("/v1/groups/app/release", ""),
    ("/v1/groups/app/failback", ""),
    ("/v1/groups/app/commit", ""),
    ("/v1/groups/app/disconnect", ""),
    (
        "/v1/groups/app/targets/main/state",
        r#"{"state": "maintenance"}"#,
    ),
    ("/v1/reload", ""),
];

const READ: [&str; 4] = ["/v1/groups", "/v1/groups/app", "/v1/events", "/metrics"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_auth_tokens_from_file_and_env_enforce_roles() {
    let (_main, _backup, f) = with_tokens("roles").await;
    assert!(
        f.log_lines_with(STARTUP_OPEN_API).is_empty(),
        "says the API is open although tokens are configured"
    );
    let before = group_as(&f, "app", Some(VIEWER_SECRET)).await;
    let wrong = "not-a-configured-token-at-all";

    for path in READ {
        for (token, who) in [(None, "no token"), (Some(wrong), "wrong token")] {
            let r = get_as(&f, path, token).await;
            assert_eq!(r.status, 401, "GET {path} with {who}: {}", r.body);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "GET {path}");
            error_message(&r.body);
        }
        for token in [VIEWER_SECRET, OPS_SECRET] {
            let r = get_as(&f, path, Some(token)).await;
            assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        }
    }
    for path in ["/live", "/ready"] {
        for token in [None, Some(wrong)] {
            assert_eq!(get_as(&f, path, token).await.status, 200, "GET {path}");
        }
    }

    for (path, body) in OPERATE {
        for (token, who) in [(None, "no token"), (Some(wrong), "wrong token")] {
            let r = http_request(f.admin, "POST", path, Some(body), token)
                .await
                .unwrap();
            assert_eq!(r.status, 401, "POST {path} with {who}: {}", r.body);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "POST {path}");
            error_message(&r.body);
        }
        let msg = post_err(&f, path, body, Some(VIEWER_SECRET), 403).await;
        assert!(msg.contains("viewer") && msg.contains("operate"), "{msg}");
    }
    // Refused requests changed nothing and are not admin actions.
    let g = group_as(&f, "app", Some(VIEWER_SECRET)).await;
    assert_eq!(g, before, "a refused request changed the group");
    let evs = events(&f, "", Some(VIEWER_SECRET)).await;
    assert!(
        evs.iter()
            .all(|e| e["kind"] != "admin" && e["kind"] != "reload"),
        "{evs:?}"
    );

    // The operate token operates; its name is the actor.
    let g = post_ok(&f, OPERATE[0].0, OPERATE[0].1, Some(OPS_SECRET)).await;
    assert_eq!(active(&g), ["backup"]);
    let g = post_ok(&f, "/v1/groups/app/release", "", Some(OPS_SECRET)).await;
    assert_eq!(active(&g), ["main"]);
    let r = http_request(f.admin, "POST", "/v1/reload", Some(""), Some(OPS_SECRET))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let evs = events(&f, "", Some(OPS_SECRET)).await;
    let actions: Vec<_> = evs.iter().filter(|e| e["kind"] == "admin").collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(actions.iter().all(|e| e["details"]["actor"] == "ops"));

    // Rotation: a reload re-reads the secret file; the old secret stops working.
    const ROTATED: &str = "ops-rotated-secret-987654321";
    std::fs::write(f.dir.path().join("ops.secret"), ROTATED).unwrap();
    let r = http_request(f.admin, "POST", "/v1/reload", Some(""), Some(OPS_SECRET))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get_as(&f, "/v1/groups", Some(OPS_SECRET)).await;
    assert_eq!(r.status, 401, "the old secret still works after rotation");
    post_err(&f, "/v1/groups/app/disconnect", "", Some(OPS_SECRET), 401).await;
    post_ok(&f, "/v1/groups/app/disconnect", "", Some(ROTATED)).await;
    assert_eq!(
        get_as(&f, "/v1/groups", Some(VIEWER_SECRET)).await.status,
        200
    );

    // Secrets never reach the log.
    for line in f.logs() {
        let text = line.to_string();
        for secret in [OPS_SECRET, VIEWER_SECRET, ROTATED] {
            assert!(!text.contains(secret), "a secret in the log: {text}");
        }
    }
}

// Regression (found by this test, since fixed): src/admin/operate.rs `switch` and `target_state` parse and validate the body before
// `run` authorizes the caller, so a request without a token (or with a read token) and a bad
// body gets 400 (with the parse error) instead of 401 (403). Auth must come first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_auth_comes_before_body_validation() {
    let (_main, _backup, f) = with_tokens("order").await;
    let cases = [
        ("/v1/groups/app/switch", "{"),
        ("/v1/groups/app/switch", r#"{"target": 1}"#),
        ("/v1/groups/app/targets/main/state", r#"{"state": "off"}"#),
    ];
    for (path, body) in cases {
        let r = http_request(f.admin, "POST", path, Some(body), None)
            .await
            .unwrap();
        assert_eq!(
            r.status, 401,
            "POST {path} {body:?} without a token: {}",
            r.body
        );
        let r = http_request(f.admin, "POST", path, Some(body), Some(VIEWER_SECRET))
            .await
            .unwrap();
        assert_eq!(
            r.status, 403,
            "POST {path} {body:?} with a read token: {}",
            r.body
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. Drain vs maintenance on live sessions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_drain_lets_sessions_finish_maintenance_closes_them_enable_returns() {
    let backends = named_backends();
    let config = two_stack_config(
        backends.port,
        MAIN,
        BACKUP,
        "failback = \"auto\"\nfailback_hold = \"0s\"",
        TCP_FAST,
    );
    let f = Failoverd::start(&config).await;
    f.wait_group("app", Duration::from_secs(5), "both up", |g| {
        health(g, "main") == "up" && health(g, "backup") == "up"
    })
    .await;
    let proxy = f.proxy("app");
    let (mut held, name) = named_session(proxy).await.expect("session");
    assert_eq!(name, "main");
    round_trip(&mut held, b"before").await.unwrap();

    // Drain: no new connections to main, the open one goes on.
    let g = post_ok(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "drain"}"#,
        None,
    )
    .await;
    assert_eq!(admin_state(&g, "main"), "drain");
    assert_eq!(active(&g), ["backup"]);
    for i in 0..5 {
        let (mut s, name) = named_session(proxy).await.expect("new session");
        assert_eq!(name, "backup", "new connection {i} while main drains");
        round_trip(&mut s, b"new").await.unwrap();
    }
    keeps_echoing(
        &mut held,
        Duration::from_secs(1),
        "session on the drained main",
    )
    .await;
    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "main", "force": true}"#,
        None,
        409,
    )
    .await;
    assert!(msg.contains("drain") && msg.contains("enable"), "{msg}");

    // Maintenance: failoverd closes the open session.
    let g = post_ok(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "maintenance"}"#,
        None,
    )
    .await;
    assert_eq!(admin_state(&g, "main"), "maintenance");
    wait_closed(&mut held, Duration::from_secs(3))
        .await
        .expect("session on main closed by maintenance");
    let (_s, name) = named_session(proxy).await.expect("new session");
    assert_eq!(name, "backup");
    assert_eq!(
        saved_state(&f)["groups"]["app"]["targets"]["main"]["admin"],
        "maintenance"
    );

    // Enable: main takes new connections again (failback hold 0s).
    let g = post_ok(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "enabled"}"#,
        None,
    )
    .await;
    assert_eq!(admin_state(&g, "main"), "enabled");
    f.wait_group("app", Duration::from_secs(5), "main active again", |g| {
        active(g) == ["main"]
    })
    .await;
    for i in 0..3 {
        let (_s, name) = named_session(proxy).await.expect("new session");
        assert_eq!(name, "main", "new connection {i} after enable");
    }
    let evs = events(&f, "?group=app", None).await;
    let states: Vec<_> = admin_events(&evs, "target_state")
        .iter()
        .map(|e| e["details"]["state"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(states, ["drain", "maintenance", "enabled"]);
}

// ---------------------------------------------------------------------------------------
// 4. Restart after kill -9
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_restart_after_kill_9_restores_pin_commit_admin_state_and_epoch() {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let _main = HttpStack::start("main", m);
    let _backup = HttpStack::start("backup", b);
    let config = header("")
        + &pair_group("app", port, "", TCP_SLOW_VERDICT)
        + &pair_group("web", port, "", TCP_SLOW_VERDICT);
    let mut f = Failoverd::start(&config).await;
    for name in ["app", "web"] {
        f.wait_group(name, Duration::from_secs(10), "both up", |g| {
            health(g, "main") == "up" && health(g, "backup") == "up"
        })
        .await;
    }
    // app: pinned to the backup. web: switched, committed, and its old main drained.
    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/commit", "", None).await;
    let web = post_ok(
        &f,
        "/v1/groups/web/targets/main/state",
        r#"{"state": "drain"}"#,
        None,
    )
    .await;
    let app = f.group("app").await;
    assert_eq!(pinned(&app).as_deref(), Some("backup"));
    assert_eq!((priority(&web, "backup"), priority(&web, "main")), (1, 2));
    let before_events = events(&f, "", None).await;

    f.signal("KILL");
    let status = f.wait_exit(Duration::from_secs(5)).await;
    assert!(!status.success(), "kill -9 exit status {status:?}");
    let f = f.restart(StartOptions::default()).await;

    // Right after the start, before any verdict: the persisted decisions serve.
    let g = f.group("app").await;
    assert_eq!(
        (health(&g, "main"), health(&g, "backup")),
        ("unknown".into(), "unknown".into()),
        "premise: no verdict yet: {g}"
    );
    assert_eq!(pinned(&g).as_deref(), Some("backup"), "{g}");
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(g["epoch"], app["epoch"]);
    let w = f.group("web").await;
    assert_eq!(
        (priority(&w, "backup"), priority(&w, "main")),
        (1, 2),
        "{w}"
    );
    assert_eq!(active(&w), ["backup"]);
    assert_eq!(pinned(&w), None);
    assert_eq!(admin_state(&w, "main"), "drain");
    assert_eq!(w["epoch"], web["epoch"]);
    assert_eq!(w["state"], "primary");
    assert_eq!(proxied(f.proxy("app")).await, "hello from backup");
    assert_eq!(proxied(f.proxy("web")).await, "hello from backup");

    // Verdicts arrive: the decisions hold.
    for name in ["app", "web"] {
        f.wait_group(name, Duration::from_secs(10), "both up", |g| {
            health(g, "main") == "up" && health(g, "backup") == "up"
        })
        .await;
    }
    holds_for(
        Duration::from_millis(500),
        "decisions after verdicts",
        || async {
            let g = f.group("app").await;
            let w = f.group("web").await;
            let ok = active(&g) == ["backup"]
                && pinned(&g).as_deref() == Some("backup")
                && g["epoch"] == app["epoch"]
                && active(&w) == ["backup"]
                && w["epoch"] == web["epoch"];
            ok.then_some(()).ok_or(format!("app {g}\nweb {w}"))
        },
    )
    .await;

    // The history survived too, and goes on from there.
    let after = events(&f, "", None).await;
    for e in admin_events(&before_events, "commit") {
        assert!(after.contains(e), "lost event {e}");
    }
    let last_before = before_events.last().unwrap()["id"].as_u64().unwrap();
    let start = after
        .iter()
        .rfind(|e| e["kind"] == "start")
        .expect("start event");
    assert!(start["id"].as_u64().unwrap() > last_before);
    assert_eq!(start["details"]["resumed"], true);
}

// ---------------------------------------------------------------------------------------
// 5. Corrupt state file
// ---------------------------------------------------------------------------------------

/// Runs `failoverd run --config FILE ARGS` to its exit (bounded): (status, stderr).
async fn run_to_exit(
    config: &std::path::Path,
    args: &[&str],
) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn failoverd");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("failoverd did not exit within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_corrupt_state_file_stops_the_start_and_fresh_state_moves_it_aside() {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let _main = HttpStack::start("main", m);
    let _backup = HttpStack::start("backup", b);
    let dir = tempfile::tempdir().unwrap();
    let config = two_stack_config(port, MAIN, BACKUP, "", HTTP_HEALTH);
    let config_path = dir.path().join("failoverd.toml");
    std::fs::write(
        &config_path,
        config.replace("{dir}", &dir.path().display().to_string()),
    )
    .unwrap();
    let state = dir.path().join("failoverd.state");
    let garbage = "{\"format\": 1, \"groups\": {\"app\": \u{0}garbage";
    std::fs::write(&state, garbage).unwrap();

    let (status, stderr) = run_to_exit(&config_path, &[]).await;
    assert!(
        !status.success(),
        "started on a corrupt state file: {stderr}"
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&state.display().to_string())
            && stderr.contains("corrupt")
            && stderr.contains("--fresh-state"),
        "the error must name the state file and --fresh-state: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        garbage,
        "the corrupt file was touched"
    );

    let f = Failoverd::start_with(
        &config,
        StartOptions {
            dir: Some(dir),
            run_args: vec!["--fresh-state".into()],
            ..Default::default()
        },
    )
    .await;
    // The listeners are logged before the state file is read: wait for the move.
    let aside = eventually(
        Duration::from_secs(5),
        "the corrupt file moved aside",
        || {
            let found: Vec<_> = std::fs::read_dir(f.dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("failoverd.state.corrupt-"))
                })
                .collect();
            async move { (!found.is_empty()).then_some(found) }
        },
    )
    .await;
    assert_eq!(aside.len(), 1, "moved-aside file: {aside:?}");
    eventually(
        Duration::from_secs(5),
        "a log line about --fresh-state",
        || {
            let warned = f.logs().iter().any(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("--fresh-state"))
            });
            async move { warned.then_some(()) }
        },
    )
    .await;
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), garbage);
    let g = f
        .wait_group("app", Duration::from_secs(5), "both up", |g| {
            health(g, "main") == "up" && health(g, "backup") == "up"
        })
        .await;
    assert_eq!(
        (active(&g), g["epoch"].as_u64()),
        (vec!["main".into()], Some(0))
    );
    // Decisions are saved again in a fresh file.
    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    assert_eq!(saved_state(&f)["groups"]["app"]["pin"], "backup");
}

// ---------------------------------------------------------------------------------------
// 6. Reload
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_reload_with_a_bad_config_is_rejected_with_the_check_message_and_keeps_serving() {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let _main = HttpStack::start("main", m);
    let _backup = HttpStack::start("backup", b);
    let good = header("") + &pair_group("app", port, "", HTTP_HEALTH);
    let f = Failoverd::start(&good).await;
    f.wait_group("app", Duration::from_secs(5), "both up", |g| {
        health(g, "main") == "up" && health(g, "backup") == "up"
    })
    .await;
    let groups_before = parse_json("groups", &f.get("/v1/groups").await.1);

    let bad = header("") + &pair_group("app", port, "failback = \"sometimes\"", HTTP_HEALTH);
    rewrite_config(&f, &bad);
    let (status, body) = f.post("/v1/reload", "", None).await;
    assert_eq!(status, 422, "{body}");
    let msg = error_message(&body);
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&f.config_path)
        .output()
        .expect("failoverd check");
    assert_eq!(check.status.code(), Some(64));
    let check_msg = String::from_utf8_lossy(&check.stderr).trim().to_string();
    assert_eq!(
        check_msg,
        format!("failoverd: {msg}"),
        "the reload error must be the check message"
    );
    assert!(msg.contains("sometimes"), "{msg}");

    // The old config keeps serving.
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let groups_after = parse_json("groups", &f.get("/v1/groups").await.1);
    assert_eq!(groups_after["groups"], groups_before["groups"]);
    assert_eq!(groups_after["generation"], 0);
    let scrape = f.metrics().await;
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"error\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}").unwrap_or(0.0),
        0.0
    );

    // SIGHUP with the same bad file: rejected the same way.
    f.signal("HUP");
    eventually(
        Duration::from_secs(5),
        "the SIGHUP reload counted as an error",
        || async {
            let scrape = f.metrics().await;
            (metric(&scrape, "failoverd_config_reloads_total{result=\"error\"}") == Some(2.0))
                .then_some(())
        },
    )
    .await;
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let evs = events(&f, "", None).await;
    let rejected: Vec<_> = evs
        .iter()
        .filter(|e| e["kind"] == "reload" && e["details"]["result"] == "error")
        .collect();
    assert_eq!(rejected.len(), 2, "{evs:?}");
    assert_eq!(rejected[0]["details"]["actor"], "local");
    assert_eq!(rejected[1]["details"]["actor"], "SIGHUP");
    assert_eq!(rejected[0]["details"]["error"], msg.as_str());

    // What a reload cannot change is refused too.
    let moved = good.replace("{dir}/failoverd.state", "{dir}/elsewhere.state");
    rewrite_config(&f, &moved);
    let msg = post_err(&f, "/v1/reload", "", None, 422).await;
    assert!(msg.contains("state.path"), "{msg}");

    // A new listener on a port in use: refused before anything changes.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let busy = group_toml("web", port, &[("main", MAIN, 1)], "", HTTP_HEALTH).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{taken_addr}\""),
    );
    rewrite_config(&f, &(good.clone() + &busy));
    let msg = post_err(&f, "/v1/reload", "", None, 422).await;
    assert!(
        msg.contains("cannot listen") && msg.contains(&taken_addr.to_string()),
        "{msg}"
    );
    let groups_after = parse_json("groups", &f.get("/v1/groups").await.1);
    assert_eq!(groups_after["groups"], groups_before["groups"]);
    drop(taken);

    // A good config goes in.
    let manual = header("") + &pair_group("app", port, "failback = \"manual\"", HTTP_HEALTH);
    rewrite_config(&f, &manual);
    let r = post_ok(&f, "/v1/reload", "", None).await;
    assert_eq!(r["result"], "ok");
    assert_eq!(r["generation"], 1);
    let g = f.group("app").await;
    assert_eq!(g["failback"], "manual");
    assert_eq!(health(&g, "main"), "up");
    let scrape = f.metrics().await;
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"error\"}"),
        Some(4.0)
    );
}

/// The address a reload logged for a new proxy listener of `group`.
fn logged_listener(f: &Failoverd, group: &str) -> Option<SocketAddr> {
    f.log_lines_with("listening")
        .iter()
        .filter(|l| l["kind"] == "proxy" && l["group"] == group)
        .filter_map(|l| l["addr"].as_str()?.parse().ok())
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_reload_on_sighup_adds_a_group_while_a_session_on_another_listener_stays_open() {
    let backends = echo_backends();
    let other = std::net::TcpListener::bind((OTHER, 0)).expect("bind 127.0.0.4");
    let other_port = other.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(greeting_echo(other, "web-main", stop.clone()));

    let a = pair_group("app", backends.port, "", TCP_SLOW_VERDICT);
    let b = group_toml(
        "web",
        other_port,
        &[("main", OTHER, 1)],
        "",
        TCP_SLOW_VERDICT,
    );
    let f = Failoverd::start(&(header("") + &a)).await;
    let before = f
        .wait_group("app", Duration::from_secs(10), "both up", |g| {
            health(g, "main") == "up" && health(g, "backup") == "up"
        })
        .await;
    let mut held = echo_session(f.proxy("app")).await.expect("app session");

    rewrite_config(&f, &(header("") + &a + &b));
    f.signal("HUP");
    let web_addr = eventually(
        Duration::from_secs(5),
        "group web listed and its listener logged",
        || async {
            let list = parse_json("groups", &f.get("/v1/groups").await.1);
            let listed = list["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "web");
            if listed {
                logged_listener(&f, "web")
            } else {
                None
            }
        },
    )
    .await;
    // Right after: app's targets kept their verdicts, web's new target has none yet.
    let g = f.group("app").await;
    assert_eq!(
        (health(&g, "main"), health(&g, "backup")),
        ("up".into(), "up".into()),
        "app's health was reset by the reload: {g}"
    );
    assert_eq!(g["epoch"], before["epoch"]);
    assert_eq!(active(&g), ["main"]);
    assert_eq!(health(&f.group("web").await, "main"), "unknown");
    assert_ne!(Some(web_addr), f.proxies.get("app").map(|p| p[0]));

    // The open session on app's listener goes on; new ones work; web proxies to its backend.
    keeps_echoing(
        &mut held,
        Duration::from_secs(1),
        "app session across the reload",
    )
    .await;
    let mut fresh = echo_session(f.proxy("app")).await.expect("new app session");
    round_trip(&mut fresh, b"new").await.unwrap();
    let (mut w, name) = named_session(web_addr).await.expect("web session");
    assert_eq!(name, "web-main");
    round_trip(&mut w, b"web").await.unwrap();

    let scrape = f.metrics().await;
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}"),
        Some(1.0),
        "{scrape}"
    );
    let evs = events(&f, "", None).await;
    let reload = evs
        .iter()
        .find(|e| e["kind"] == "reload")
        .expect("reload event");
    assert_eq!(reload["details"]["actor"], "SIGHUP");
    assert_eq!(reload["details"]["added"], serde_json::json!(["web"]));

    // Removing web again: its listener stops accepting, its open session finishes.
    rewrite_config(&f, &(header("") + &a));
    let r = post_ok(&f, "/v1/reload", "", None).await;
    assert_eq!(r["generation"], 2);
    let (status, _) = f.get("/v1/groups/web").await;
    assert_eq!(status, 404);
    eventually(Duration::from_secs(5), "web's listener closed", || async {
        refused_or_closed(web_addr).await.then_some(())
    })
    .await;
    round_trip(&mut w, b"finishing")
        .await
        .expect("web session still open after its group was removed");
    round_trip(&mut held, b"and app").await.unwrap();
}

// ---------------------------------------------------------------------------------------
// 7. Readiness while draining at shutdown
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_ready_is_503_while_draining_at_shutdown() {
    let backends = echo_backends();
    let config = format!(
        "[proxy]\ndrain_timeout = \"5s\"\n{}",
        two_stack_config(backends.port, MAIN, BACKUP, "", TCP_FAST)
    );
    let mut f = Failoverd::start(&config).await;
    let mut s = echo_session(f.proxy("app")).await.expect("session");
    assert_eq!(f.get("/ready").await.0, 200);

    f.signal("TERM");
    let body = eventually(Duration::from_secs(3), "/ready to answer 503", || async {
        let (status, body) = f.get("/ready").await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(body.contains("draining"), "{body}");
    assert_eq!(f.get("/live").await.0, 200, "alive while draining");
    round_trip(&mut s, b"draining")
        .await
        .expect("session open while draining");
    assert!(f.exited().is_none());

    s.shutdown().await.unwrap();
    wait_closed(&mut s, IO_LIMIT).await.expect("session ends");
    drop(s);
    let status = f.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status:?}");
}

// ---------------------------------------------------------------------------------------
// Error shape
// ---------------------------------------------------------------------------------------

// Regression (found by this test, since fixed): src/admin/mod.rs `router` gives unknown paths a JSON `fallback`, but a known path
// with the wrong method (GET on a POST endpoint) gets axum's bare 405 with an empty body,
// not the `{"error": ...}` DESIGN.md promises for every API error. Fix: add
// `.method_not_allowed_fallback(...)` answering `error(StatusCode::METHOD_NOT_ALLOWED, ...)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_wrong_method_is_a_json_405() {
    let backends = echo_backends();
    let f = Failoverd::start(&two_stack_config(backends.port, MAIN, BACKUP, "", TCP_FAST)).await;
    for (method, path) in [
        ("GET", "/v1/groups/app/switch"),
        ("GET", "/v1/reload"),
        ("POST", "/v1/groups"),
    ] {
        let r = http_request(f.admin, method, path, None, None)
            .await
            .unwrap();
        assert_eq!(r.status, 405, "{method} {path}: {}", r.body);
        error_message(&r.body);
    }
}

// ---------------------------------------------------------------------------------------
// Durability: an unwritable state file, kill -9 amid commands
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_a_decision_that_cannot_be_persisted_is_refused_and_changes_nothing() {
    let (_main, _backup, f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    let state = f.dir.path().join("failoverd.state");
    // A non-empty directory where the state file goes: the rename over it fails (even as
    // root).
    let _ = std::fs::remove_file(&state);
    std::fs::create_dir_all(state.join("blocker")).unwrap();
    let before = f.group("app").await;

    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup"}"#,
        None,
        500,
    )
    .await;
    assert!(msg.contains("cannot persist"), "{msg}");
    let g = f.group("app").await;
    assert_eq!((active(&g), pinned(&g)), (vec!["main".to_string()], None));
    assert_eq!(g["epoch"], before["epoch"]);
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let msg = post_err(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "maintenance"}"#,
        None,
        500,
    )
    .await;
    assert!(msg.contains("cannot persist"), "{msg}");
    assert_eq!(admin_state(&f.group("app").await, "main"), "enabled");
    // Not a decision: still works.
    post_ok(&f, "/v1/groups/app/disconnect", "", None).await;

    std::fs::remove_dir_all(&state).unwrap();
    let g = post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(saved_state(&f)["groups"]["app"]["pin"], "backup");
}

/// (epoch, pin) as a command's answer or the group shows it.
fn decision_of(g: &Value) -> (u64, Option<String>) {
    (g["epoch"].as_u64().expect("epoch"), pinned(g))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_kill_9_amid_a_stream_of_commands_loses_no_acknowledged_one() {
    let (_main, _backup, mut f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    for round in 0..3u64 {
        // Switch and release in turn as fast as the API answers; every answer is a new
        // epoch. Remember the last acknowledged decision.
        let admin = f.admin;
        let start_pinned = pinned(&f.group("app").await).is_some();
        let acked = std::sync::Arc::new(std::sync::Mutex::new((0u64, None)));
        let sink = acked.clone();
        let stream = tokio::spawn(async move {
            let mut pin_next = !start_pinned;
            for _ in 0..10_000 {
                let (path, body) = if pin_next {
                    ("/v1/groups/app/switch", r#"{"target": "backup"}"#)
                } else {
                    ("/v1/groups/app/release", "")
                };
                match http_post(admin, path, body, None).await {
                    Ok((200, text)) => {
                        let mut a = sink.lock().unwrap();
                        *a = (a.0 + 1, Some(decision_of(&parse_json(path, &text))));
                        pin_next = !pin_next;
                    }
                    // Killed: refused, or closed before (or while) answering.
                    Ok((0, _)) | Err(_) => return,
                    Ok((status, text)) => panic!("POST {path}: {status} {text}"),
                }
            }
        });
        // Let some commands through, a different number each round, then kill.
        eventually(Duration::from_secs(5), "commands acknowledged", || {
            let n = acked.lock().unwrap().0;
            async move { (n >= 3 + 7 * round).then_some(()) }
        })
        .await;
        f.signal("KILL");
        f.wait_exit(Duration::from_secs(5)).await;
        timeout(Duration::from_secs(10), stream)
            .await
            .expect("command stream ends once the process is gone")
            .expect("command stream");
        let (epoch, pin) = acked.lock().unwrap().1.clone().expect("acknowledged");

        f = f.restart(StartOptions::default()).await;
        let (got_epoch, got_pin) = decision_of(&f.group("app").await);
        // The last acknowledged decision, or the one in flight at the kill (persisted but
        // not yet answered); never an older one.
        let in_flight = (
            epoch + 1,
            if pin.is_some() {
                None
            } else {
                Some("backup".into())
            },
        );
        assert!(
            (got_epoch, got_pin.clone()) == (epoch, pin.clone())
                || (got_epoch, got_pin.clone()) == in_flight,
            "round {round}: acknowledged ({epoch}, {pin:?}), restored ({got_epoch}, {got_pin:?})"
        );
        f.wait_group("app", Duration::from_secs(5), "both up", |g| {
            health(g, "main") == "up" && health(g, "backup") == "up"
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------
// Admin states on a pinned target
// ---------------------------------------------------------------------------------------

// Regression (found by this test, since fixed): src/group/machine.rs `Machine::evaluate_as` (the `Some(p)` arm) makes a pinned
// target the only active one whatever its admin state, and `Machine::set_admin` (called by
// src/group/commands.rs `apply`, `Command::SetAdmin`) accepts `drain`/`maintenance` on the
// pinned target. `switch` refuses a drained target ("enable it first"), but draining or
// maintaining it after the switch leaves it pinned and the only active target:
// - drain: every new connection still goes to the drained target;
// - maintenance: every new connection is accepted, connected to the target, and closed at
//   once by the maintenance eviction (src/proxy/session.rs `should_close`): the group
//   serves nobody although main is up and enabled.
// Expected: the state change is refused with 409 while the target is pinned, or the pin
// yields (the target leaves the active set; new connections go to main).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_drain_or_maintenance_of_the_pinned_target_stops_new_connections_to_it() {
    let backends = named_backends();
    let config = two_stack_config(
        backends.port,
        MAIN,
        BACKUP,
        "failback_hold = \"0s\"",
        TCP_FAST,
    );
    let f = Failoverd::start(&config).await;
    f.wait_group("app", Duration::from_secs(5), "both up", |g| {
        health(g, "main") == "up" && health(g, "backup") == "up"
    })
    .await;
    let mut wrong = Vec::new();
    for state in ["drain", "maintenance"] {
        post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
        let (_s, name) = named_session(f.proxy("app")).await.expect("session");
        assert_eq!(name, "backup");
        let (status, body) = f
            .post(
                "/v1/groups/app/targets/backup/state",
                &format!(r#"{{"state": "{state}"}}"#),
                None,
            )
            .await;
        if status == 409 {
            continue; // refused while pinned: fine
        }
        assert_eq!(status, 200, "{body}");
        let g = parse_json("group", &body);
        let reached = match named_session(f.proxy("app")).await {
            Ok((_s, name)) => name,
            Err(e) => format!("nothing (closed at once: {e})"),
        };
        if active(&g).contains(&"backup".to_string()) || reached != "main" {
            wrong.push(format!(
                "backup in {state} while pinned: active {:?}, pinned {:?}, a new connection reached {reached}",
                active(&g),
                pinned(&g)
            ));
        }
        // Back to the start.
        let _ = f.post("/v1/groups/app/release", "", None).await;
        post_ok(
            &f,
            "/v1/groups/app/targets/backup/state",
            r#"{"state": "enabled"}"#,
            None,
        )
        .await;
        f.wait_group("app", Duration::from_secs(5), "main active", |g| {
            active(g) == ["main"] && pinned(g).is_none()
        })
        .await;
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------------------------------
// Reload keeps decisions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_reload_keeps_pins_commits_admin_states_and_epochs() {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let _main = HttpStack::start("main", m);
    let _backup = HttpStack::start("backup", b);
    let config = |extra: &str| {
        header("")
            + &pair_group("app", port, extra, HTTP_HEALTH)
            + &pair_group("web", port, extra, HTTP_HEALTH)
    };
    let f = Failoverd::start(&config("")).await;
    for name in ["app", "web"] {
        f.wait_group(name, Duration::from_secs(5), "both up", |g| {
            health(g, "main") == "up" && health(g, "backup") == "up"
        })
        .await;
    }
    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/commit", "", None).await;
    post_ok(
        &f,
        "/v1/groups/web/targets/main/state",
        r#"{"state": "maintenance"}"#,
        None,
    )
    .await;
    let (app, web) = (f.group("app").await, f.group("web").await);

    rewrite_config(&f, &config("ttl = \"7s\""));
    let r = post_ok(&f, "/v1/reload", "", None).await;
    assert_eq!(r["generation"], 1);
    let (a, w) = (f.group("app").await, f.group("web").await);
    assert_eq!(pinned(&a).as_deref(), Some("backup"), "{a}");
    assert_eq!(active(&a), ["backup"]);
    assert_eq!(a["epoch"], app["epoch"]);
    assert_eq!(
        (priority(&w, "backup"), priority(&w, "main")),
        (1, 2),
        "{w}"
    );
    assert_eq!(admin_state(&w, "main"), "maintenance");
    assert_eq!(active(&w), ["backup"]);
    assert_eq!(w["epoch"], web["epoch"]);
    assert_eq!(health(&a, "main"), "up");
    assert_eq!(proxied(f.proxy("app")).await, "hello from backup");
}

// ---------------------------------------------------------------------------------------
// Commit of a forced pin / while all is down
// ---------------------------------------------------------------------------------------

// Regression (found by this test, since fixed): src/group/operate.rs `Machine::commit` rewrites priorities, clears the pin and sets
// the tier, but never re-evaluates. Committing a forced pin on a down backup leaves the
// group on the down backup with no pin, `state = "primary"`, while main is up: nothing
// re-decides until a verdict changes (and none will: backup stays down, main stays up; no
// failback deadline exists above priority 1). Expected: after the commit the rules decide
// again — the new main (backup) is down, so traffic goes to the up old main.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commit_of_a_forced_pin_on_a_down_target_lets_the_rules_decide() {
    let (_main, backup, f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    backup.health_status.store(503, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "backup down", |g| {
        health(g, "backup") == "down"
    })
    .await;
    post_ok(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup", "force": true}"#,
        None,
    )
    .await;
    let g = post_ok(&f, "/v1/groups/app/commit", "", None).await;
    assert_eq!((priority(&g, "backup"), priority(&g, "main")), (1, 2));
    assert_eq!(pinned(&g), None);
    let g = eventually(
        Duration::from_secs(3),
        "traffic to the up target after committing a down one",
        || async {
            let g = f.group("app").await;
            (active(&g) == ["main"]).then_some(g)
        },
    )
    .await;
    assert_eq!(g["state"], "failed_over", "{g}");
}

// Regression (found by this test, since fixed): same root cause (src/group/operate.rs `Machine::commit` sets `all_down = false` and
// does not re-evaluate): committing while every target is down (fail_static keeps the
// backup tier) makes the group report `state = "primary"` although no target is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commit_while_all_down_still_reports_all_down() {
    let (main, backup, f) = stacks("", HTTP_HEALTH).await;
    main.health_status.store(503, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    backup.health_status.store(503, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "all down", |g| {
        g["state"] == "all_down"
    })
    .await;
    let g = post_ok(&f, "/v1/groups/app/commit", "", None).await;
    assert_eq!(g["state"], "all_down", "after the commit: {g}");
    holds_for(Duration::from_millis(600), "still all down", || async {
        let g = f.group("app").await;
        (g["state"] == "all_down")
            .then_some(())
            .ok_or(format!("{g}"))
    })
    .await;
}
