//! What happens to open sessions: on failover they are closed
//! (`disconnect_on_failover`) or kept on the old main (the default); on SIGTERM new ones
//! are refused and open ones drain, until the drain timeout closes the idle ones.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use super::*;
use crate::harness::*;

const HTTP_HEALTH: &str = r#"kind = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"
rise = 1
fall = 1"#;

/// One GET on a kept-alive connection: (status, body). The HttpStack answers with a
/// Content-Length and keeps the connection open.
async fn get_on(s: &mut TcpStream, path: &str) -> io::Result<(u16, String)> {
    let exchange = async {
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        for _ in 0..1_000 {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let start = end + 4;
                if buf.len() >= start + len {
                    let body = String::from_utf8_lossy(&buf[start..start + len]).to_string();
                    return Ok((status, body));
                }
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Err(io::Error::other("response too long"))
    };
    timeout(IO_LIMIT, exchange)
        .await
        .map_err(|_| timed_out("GET"))?
}

/// Opens a kept-alive session through the proxy that main answered; fails main's checks
/// (the open connection stays up on main's side) and waits for the failover.
async fn session_on_main_then_failover(main: &HttpStack, f: &Failoverd) -> TcpStream {
    let mut s = TcpStream::connect(f.proxy("app")).await.unwrap();
    let (status, body) = get_on(&mut s, "/").await.expect("GET on main");
    assert_eq!((status, body.as_str()), (200, "hello from main"));
    main.health_status.store(503, Ordering::Relaxed);
    let g = f
        .wait_group("app", Duration::from_secs(5), "failover to backup", |g| {
            active(g) == ["backup"]
        })
        .await;
    assert_eq!(g["last_change"]["cause"], "health");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_disconnect_on_failover_closes_sessions_on_old_main() {
    let (main, _backup, f) = stacks("disconnect_on_failover = true", HTTP_HEALTH).await;
    let mut s = session_on_main_then_failover(&main, &f).await;
    wait_closed(&mut s, Duration::from_secs(3))
        .await
        .expect("session on the old main closed by failoverd after the failover");
    let mut fresh = TcpStream::connect(f.proxy("app")).await.unwrap();
    let (_, body) = get_on(&mut fresh, "/").await.expect("GET after failover");
    assert_eq!(body, "hello from backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_keeps_sessions_on_old_main_by_default() {
    let (main, _backup, f) = stacks("", HTTP_HEALTH).await;
    let mut s = session_on_main_then_failover(&main, &f).await;
    // Observed over a bounded window: the held session keeps working on main.
    let until = Instant::now() + Duration::from_secs(1);
    for i in 0..50 {
        let (status, body) = get_on(&mut s, "/")
            .await
            .unwrap_or_else(|e| panic!("held session broken after failover (GET {i}): {e}"));
        assert_eq!((status, body.as_str()), (200, "hello from main"));
        if Instant::now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut fresh = TcpStream::connect(f.proxy("app")).await.unwrap();
    let (_, body) = get_on(&mut fresh, "/").await.expect("GET after failover");
    assert_eq!(body, "hello from backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_sigterm_stops_accepting_and_drains_open_sessions() {
    let backends = echo_backends();
    let mut f = Failoverd::start(&echo_config(backends.port, "", "")).await;
    let proxy = f.proxy("app");
    let mut s = echo_session(proxy).await.expect("echo session");

    f.signal("TERM");
    eventually(
        Duration::from_secs(5),
        "new connections refused or closed after SIGTERM",
        || async move { refused_or_closed(proxy).await.then_some(()) },
    )
    .await;
    // Draining (default grace 10s): the open session keeps working, the process keeps
    // running.
    for i in 0..5 {
        round_trip(&mut s, format!("draining {i}").as_bytes())
            .await
            .expect("open session still echoes while draining");
        assert!(f.exited().is_none(), "exited with a session still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused_or_closed(proxy).await, "accepting again");

    s.shutdown().await.unwrap();
    wait_closed(&mut s, IO_LIMIT)
        .await
        .expect("session ends after the client's close");
    drop(s);
    let status = f.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_sigterm_closes_idle_sessions_after_drain_timeout() {
    let backends = echo_backends();
    let config = format!(
        "[proxy]\ndrain_timeout = \"500ms\"\n{}",
        echo_config(backends.port, "", "")
    );
    let mut f = Failoverd::start(&config).await;
    let mut s = echo_session(f.proxy("app")).await.expect("echo session");

    let sent = Instant::now();
    f.signal("TERM");
    wait_closed(&mut s, Duration::from_secs(4))
        .await
        .expect("idle session closed at the end of the grace period");
    let closed_after = sent.elapsed();
    assert!(
        closed_after >= Duration::from_millis(480),
        "closed after {closed_after:?}, before the 500ms grace period"
    );
    let status = f.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status:?}");
}
