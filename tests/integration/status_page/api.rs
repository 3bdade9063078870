//! The page over plain HTTP: no state for a browser without a token, the state rendered
//! on the server when the API is open, the security headers, `/v1/whoami`, the live feed,
//! and the fields the page shows (countdown, sessions, last error, sessions closed).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{start, OPS, VIEWER};
use crate::harness::*;

async fn get(f: &Failoverd, path: &str, token: Option<&str>) -> HttpResponse {
    http_request(f.admin, "GET", path, None, token)
        .await
        .expect("admin request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_behind_tokens_is_a_shell_without_state() {
    let (_main, _backup, f) = start(true).await;
    let page = get(&f, "/", None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(page.body.contains("name=\"token\""), "{}", page.body);
    // `app` and `main` are words of the page itself; the backup's name and address are not.
    for leak in [
        "data-group",
        "data-target",
        "127.0.0.3",
        "backup",
        "data-event=",
    ] {
        assert!(
            !page.body.contains(leak),
            "{leak} in a page without a token"
        );
    }
    for (path, kind) in [
        ("/assets/page.js", "text/javascript; charset=utf-8"),
        ("/assets/render.js", "text/javascript; charset=utf-8"),
        ("/assets/page.css", "text/css; charset=utf-8"),
    ] {
        let r = get(&f, path, None).await;
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(kind)),
            "{path}"
        );
        assert!(r.header("content-security-policy").is_some(), "{path}");
    }
    for path in ["/v1/stream", "/v1/whoami"] {
        assert_eq!(get(&f, path, None).await.status, 401, "{path}");
    }
    for (token, role, name) in [(VIEWER, "read", "viewer"), (OPS, "operate", "ops")] {
        let r = get(&f, "/v1/whoami", Some(token)).await;
        let who = parse_json("whoami", &r.body);
        assert_eq!(
            (&who["role"], &who["name"]),
            (&role.into(), &name.into()),
            "{who}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_without_tokens_renders_the_state_on_the_server() {
    let (_main, _backup, f) = start(false).await;
    let page = get(&f, "/", None).await;
    assert_eq!(page.status, 200);
    for want in [
        "data-auth=\"open\"",
        "data-group=\"app\" data-state=\"primary\"",
        "data-target=\"main\" data-health=\"up\"",
        "data-target=\"backup\" data-health=\"up\"",
        "Backup is idle",
        "data-event=",
    ] {
        assert!(page.body.contains(want), "missing {want}: {}", page.body);
    }
}

/// What a stream sent so far, and how far the test has read it.
struct Seen {
    text: String,
    cursor: usize,
}

/// Reads the stream until `want` comes after what was already matched; returns the time
/// that took.
async fn read_until(s: &mut TcpStream, seen: &mut Seen, want: &str) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(at) = seen.text[seen.cursor..].find(want) {
            seen.cursor += at + want.len();
            return started.elapsed();
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {want:?} on the stream within 5 s: {}", seen.text))
            .expect("read the stream");
        assert!(n > 0, "the stream ended: {}", seen.text);
        seen.text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_stream_pushes_a_switch_within_a_second() {
    let (_main, _backup, f) = start(true).await;
    let mut s = TcpStream::connect(f.admin).await.unwrap();
    let request =
        format!("GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {VIEWER}\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Seen {
        text: String::new(),
        cursor: 0,
    };
    read_until(&mut s, &mut seen, "content-type: text/event-stream").await;
    read_until(&mut s, &mut seen, "event: groups\ndata: ").await;
    read_until(&mut s, &mut seen, "\"pinned\":null").await;
    read_until(&mut s, &mut seen, "event: events\ndata: ").await;

    let before_switch = seen.cursor;
    let r = http_request(
        f.admin,
        "POST",
        "/v1/groups/app/switch",
        Some(r#"{"target": "backup"}"#),
        Some(OPS),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let took = read_until(&mut s, &mut seen, "\"pinned\":\"backup\"").await;
    assert!(took < Duration::from_secs(1), "the stream took {took:?}");
    // The event may come before or after the groups that show it.
    seen.cursor = before_switch;
    read_until(
        &mut s,
        &mut seen,
        "traffic moved from main to backup: operator ops",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_shows_sessions_last_error_and_failback_countdown() {
    let (mut main, _backup, f) = start(false).await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        sessions.push(TcpStream::connect(f.proxy("app")).await.unwrap());
    }
    f.wait_group("app", Duration::from_secs(5), "2 sessions on main", |g| {
        target(g, "main")["sessions"] == 2
    })
    .await;
    let (status, body) = f.post("/v1/groups/app/disconnect", "", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        parse_json("disconnect", &body)["sessions_closed"],
        2,
        "{body}"
    );
    f.wait_group("app", Duration::from_secs(5), "sessions closed", |g| {
        target(g, "main")["sessions"] == 0
    })
    .await;

    main.stop();
    let g = f
        .wait_group("app", Duration::from_secs(10), "failover", |g| {
            active(g) == ["backup"]
        })
        .await;
    let error = &target(&g, "main")["last_error"];
    assert!(
        error["message"].as_str().unwrap_or("").contains("refused"),
        "{g}"
    );
    assert!(error["at"].as_f64().is_some(), "{g}");
    assert!(
        g["failback_in"].is_null(),
        "main is down: no failback pending: {g}"
    );
    main.restart();
    // Up again: the 3 s hold runs, and the API counts it down.
    let g = f
        .wait_group("app", Duration::from_secs(10), "failback pending", |g| {
            !g["failback_in"].is_null()
        })
        .await;
    let left = g["failback_in"].as_f64().unwrap();
    assert!((0.0..=3.0).contains(&left), "{g}");
    assert!(g["failback_at"].as_f64().is_some(), "{g}");
    f.wait_group("app", Duration::from_secs(10), "failback", |g| {
        active(g) == ["main"] && g["failback_in"].is_null()
    })
    .await;
}

/// A page left open does not hold up a stop: the stream ends once the process drains,
/// well before the admin server's 5 s grace for requests in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_ends_when_failoverd_stops() {
    let (_main, _backup, mut f) = start(false).await;
    let mut s = TcpStream::connect(f.admin).await.unwrap();
    let request = format!("GET /v1/stream HTTP/1.1\r\nHost: {}\r\n\r\n", f.admin);
    s.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Seen {
        text: String::new(),
        cursor: 0,
    };
    read_until(&mut s, &mut seen, "event: groups\ndata: ").await;
    let stopping = Instant::now();
    f.signal("TERM");
    let status = f.wait_exit(Duration::from_secs(4)).await;
    assert!(status.success(), "{status:?}");
    // The stream's end arrives as the last chunk (`0`), then the connection closes.
    read_until(&mut s, &mut seen, "\r\n0\r\n\r\n").await;
    eprintln!(
        "stopped {} ms after SIGTERM with a stream open",
        stopping.elapsed().as_millis()
    );
}

/// A token a reload removed stops the streams opened with it within a second or two,
/// as it stops every other call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_token_is_removed() {
    let (_main, _backup, f) = start(true).await;
    let mut s = TcpStream::connect(f.admin).await.unwrap();
    let request =
        format!("GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {VIEWER}\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Seen {
        text: String::new(),
        cursor: 0,
    };
    read_until(&mut s, &mut seen, "event: groups\ndata: ").await;
    let config = std::fs::read_to_string(&f.config_path).unwrap();
    let viewer = "[[admin.token]]\nname = \"viewer\"";
    assert!(config.contains(viewer), "{config}");
    let without = config.replacen(viewer, "[[admin.token]]\nname = \"viewer-gone\"", 1);
    let secret = f.dir.path().join("viewer-gone");
    std::fs::write(secret, "another-secret-for-this-token-x\n").unwrap();
    let without = without.replacen("/viewer\"", "/viewer-gone\"", 1);
    std::fs::write(&f.config_path, without).unwrap();
    let r = http_request(f.admin, "POST", "/v1/reload", Some(""), Some(OPS))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let took = read_until(&mut s, &mut seen, "\r\n0\r\n\r\n").await;
    assert!(
        took < Duration::from_secs(3),
        "the stream went on for {took:?}"
    );
    assert_eq!(get(&f, "/v1/whoami", Some(VIEWER)).await.status, 401);
}

/// POSTs `path` as a browser on `origin` would, with no token: the status code. The
/// `Host` is the admin address, or `host`.
async fn post_from(f: &Failoverd, path: &str, origin: &str) -> u16 {
    post_as(f, path, origin, &f.admin.to_string()).await
}

async fn post_as(f: &Failoverd, path: &str, origin: &str, host: &str) -> u16 {
    let mut s = TcpStream::connect(f.admin).await.unwrap();
    let body = r#"{"target": "backup"}"#;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"))
}

/// Another site's page cannot operate an open API through the browser of a local user
/// (a cross-site POST needs no preflight); the status page itself can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operating_call_from_another_sites_page_is_refused() {
    let (_main, _backup, f) = start(false).await;
    let switch = "/v1/groups/app/switch";
    assert_eq!(post_from(&f, switch, "http://evil.example").await, 403);
    let other_port = format!("http://127.0.0.1:{}", f.admin.port().wrapping_add(1));
    assert_eq!(post_from(&f, switch, &other_port).await, 403);
    assert_eq!(
        active(&f.group("app").await),
        ["main"],
        "the refused call switched"
    );
    let own = format!("http://{}", f.admin);
    assert_eq!(post_from(&f, switch, &own).await, 200);
    assert_eq!(active(&f.group("app").await), ["backup"]);
}

/// `GET path` with `Host: host` and maybe a token: the status code.
async fn get_as(f: &Failoverd, path: &str, host: &str, token: Option<&str>) -> u16 {
    let mut s = TcpStream::connect(f.admin).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    if answer.contains(" 403 ") {
        assert!(answer.contains("DNS rebinding"), "{answer}");
    }
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"))
}

/// DNS rebinding: a page on `evil.example` whose name then resolves to 127.0.0.1 is, to the
/// browser, the same origin as the open API. The API answers only requests addressed to an
/// IP address or `localhost` while it is open; behind tokens the name does not matter (a
/// page cannot get the token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_api_refuses_requests_addressed_to_a_host_name() {
    let (_main, _backup, open) = start(false).await;
    let port = open.admin.port();
    for path in ["/v1/groups", "/"] {
        let evil = format!("evil.example:{port}");
        assert_eq!(get_as(&open, path, &evil, None).await, 403, "{path}");
    }
    let evil = format!("evil.example:{port}");
    let switch = "/v1/groups/app/switch";
    let origin = format!("http://{evil}");
    assert_eq!(post_as(&open, switch, &origin, &evil).await, 403);
    assert_eq!(active(&open.group("app").await), ["main"]);
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
    ] {
        assert_eq!(
            get_as(&open, "/v1/groups", &host, None).await,
            200,
            "{host}"
        );
    }
    drop(open);

    let (_main, _backup, closed) = start(true).await;
    let host = format!("failoverd.example:{}", closed.admin.port());
    assert_eq!(
        get_as(&closed, "/v1/groups", &host, Some(VIEWER)).await,
        200
    );
    assert_eq!(get_as(&closed, "/v1/groups", &host, None).await, 401);
}
