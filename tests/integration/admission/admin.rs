//! The admin listener under abuse: bodies without a token, slow headers, thousands of idle
//! connections, and every kind of bad request.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::*;

async fn start(admin_extra: &str, opts: StartOptions) -> (Failoverd, HttpStack, HttpStack) {
    let (port, main, backup) = http_stacks(MAIN, BACKUP);
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config(dir.path(), admin_extra, port);
    let opts = StartOptions {
        dir: Some(dir),
        ..opts
    };
    let f = Failoverd::start_with(&text, opts).await;
    let ok = |g: &serde_json::Value| health(g, "main") == "up" && health(g, "backup") == "up";
    eventually(Duration::from_secs(10), "both targets up", || async {
        let r = http_request(f.admin, "GET", "/v1/groups/app", None, Some(OPS_SECRET))
            .await
            .ok()?;
        let g = parse_json("group", &r.body);
        ok(&g).then_some(())
    })
    .await;
    (f, main, backup)
}

/// 100 clients announce a 2 MB body without a token: each gets 401 (JSON) at once, before
/// sending any of it, and failoverd's memory does not grow by the bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_a_body_without_a_token_is_refused_at_once_and_costs_no_memory() {
    let (f, _main, _backup) = start("", StartOptions::default()).await;
    let before = rss_kib(f.pid());
    let started = Instant::now();
    let (status, body) = raw(
        f.admin,
        "POST /v1/groups/app/switch HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2000000",
        b"",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(parse_json("401", &body)["error"].is_string(), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 401 waited for the body"
    );

    let chunk = vec![b'x'; 64 * 1024];
    let mut clients = Vec::new();
    for _ in 0..100 {
        let admin = f.admin;
        let chunk = chunk.clone();
        clients.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(admin).await.expect("connect");
            let head =
                "POST /v1/groups/app/switch HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n";
            s.write_all(head.as_bytes()).await.expect("head");
            // The server may close as soon as it answered: writes then fail, as they should.
            for _ in 0..(2_000_000 / chunk.len()) {
                if s.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            read_until_close(&mut s, Duration::from_secs(10)).await
        }));
    }
    for c in clients {
        let got = c
            .await
            .expect("client")
            .expect("the server answered and closed");
        assert_eq!(status_and_body(&got).0, 401);
    }
    let grown = rss_kib(f.pid()).saturating_sub(before);
    eprintln!("RSS after 100 unauthenticated 2 MB bodies: +{grown} KiB");
    assert!(grown < 32 * 1024, "RSS grew by {grown} KiB");
}

/// A client that sends half its headers and stops is cut at `header_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_slow_headers_are_cut_at_the_timeout() {
    let (f, _main, _backup) = start("header_timeout = \"1s\"", StartOptions::default()).await;
    let mut s = TcpStream::connect(f.admin).await.expect("connect");
    s.write_all(b"GET /v1/groups HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("send");
    let started = Instant::now();
    let got = read_until_close(&mut s, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(got.is_some(), "still open after 10 s");
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?}, before the timeout"
    );
    eprintln!(
        "slow headers cut after {} ms (header_timeout 1s)",
        took.as_millis()
    );
}

/// Ten times more idle connections than `max_connections`, against a process whose
/// open-file limit they would exhaust: the excess is closed at once, the rest at
/// `header_timeout`; no descriptor runs out, no target is marked down, the proxy serves
/// throughout, and the API answers again once they are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_idle_admin_connections_cause_no_transition() {
    let opts = StartOptions {
        nofile: Some((512, 512)),
        ..StartOptions::default()
    };
    let extra = "max_connections = 64\nheader_timeout = \"2s\"\nidle_timeout = \"2s\"";
    let (f, _main, _backup) = start(extra, opts).await;
    let epoch = parse_json(
        "g",
        &http_request(f.admin, "GET", "/v1/groups/app", None, Some(OPS_SECRET))
            .await
            .unwrap()
            .body,
    )["epoch"]
        .clone();
    let mut idle = Vec::new();
    for _ in 0..640 {
        if let Ok(s) = TcpStream::connect(f.admin).await {
            idle.push(s);
        }
    }
    let fds = std::fs::read_dir(format!("/proc/{}/fd", f.pid()))
        .unwrap()
        .count();
    eprintln!("640 idle admin connections: failoverd holds {fds} descriptors (limit 512)");
    assert!(fds < 400, "{fds} descriptors open");
    // The proxy serves while they are held.
    for _ in 0..5 {
        let (status, body) = http_get(f.proxy("app"), "/")
            .await
            .expect("proxied request");
        assert_eq!((status, body.as_str()), (200, "hello from main"));
    }
    // Every idle connection is closed by failoverd: the excess at once, the rest at the
    // header timeout.
    for s in idle.iter_mut() {
        assert!(
            read_until_close(s, Duration::from_secs(10)).await.is_some(),
            "an idle admin connection still open after 10 s"
        );
    }
    let r = http_request(f.admin, "GET", "/v1/groups/app", None, Some(OPS_SECRET))
        .await
        .expect("the API answers");
    let g = parse_json("group", &r.body);
    assert_eq!(g["epoch"], epoch, "a transition happened: {g}");
    assert_eq!(active(&g), ["main"]);
    let scrape = http_request(f.admin, "GET", "/metrics", None, Some(OPS_SECRET))
        .await
        .unwrap()
        .body;
    assert_eq!(
        metric(&scrape, "failoverd_local_errors_total{kind=\"emfile\"}"),
        Some(0.0),
        "{scrape}"
    );
}

/// Every error the admin listener gives is JSON `{"error": "..."}`, the framework's own
/// (413, 400, 414, 431, 404, 405) as much as the API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_every_admin_error_is_json() {
    let (f, _main, _backup) = start("", StartOptions::default()).await;
    let auth = format!("Authorization: Bearer {OPS_SECRET}");
    let big = vec![b'{'; 100 * 1024];
    let long_uri = format!("GET /v1/groups/{} HTTP/1.1", "a".repeat(10 * 1024));
    let big_header = format!(
        "GET /v1/groups HTTP/1.1\r\nX-Big: {}",
        "b".repeat(40 * 1024)
    );
    let cases: Vec<(String, Vec<u8>, u16)> = vec![
        ("GET /v1/groups HTTP/1.1".into(), vec![], 401),
        (
            format!("GET /v1/groups/%ff HTTP/1.1\r\n{auth}"),
            vec![],
            400,
        ),
        (format!("GET /v1/nothing HTTP/1.1\r\n{auth}"), vec![], 404),
        (format!("GET /v1/reload HTTP/1.1\r\n{auth}"), vec![], 405),
        (
            format!(
                "POST /v1/groups/app/switch HTTP/1.1\r\n{auth}\r\nContent-Length: {}",
                big.len()
            ),
            big.clone(),
            413,
        ),
        (long_uri, vec![], 414),
        (big_header, vec![], 431),
    ];
    for (head, rest, want) in cases {
        let (status, body) = raw(f.admin, &head, &rest).await;
        let line = head
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect::<String>();
        assert_eq!(status, want, "{line}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{line}: {status} body is not JSON ({e}): {body:?}"));
        assert!(
            v["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{line}: {body}"
        );
    }
}
