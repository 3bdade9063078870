//! TCP proxy end to end: the real binary in front of real backends on 127.0.0.2 (main) and
//! 127.0.0.3 (backup): bytes both ways, half-close, connection limit, idle timeout,
//! eviction on failover, graceful shutdown and connect retry.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::harness::*;

const MAIN: &str = "127.0.0.2";
const BACKUP: &str = "127.0.0.3";

/// Limit for one network exchange through the proxy (a round trip, a response).
const IO_LIMIT: Duration = Duration::from_secs(5);

const TCP_HEALTH: &str = r#"kind = "tcp"
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1"#;

const HTTP_HEALTH: &str = r#"kind = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"
rise = 1
fall = 1"#;

/// The line `two_stack_config` writes last in `[[group.listener]]`.
const LISTENER_ANCHOR: &str = "connect_timeout = \"300ms\"\n";

/// Adds `lines` to the (only) `[[group.listener]]` of a `two_stack_config` text.
fn with_listener_lines(config: &str, lines: &str) -> String {
    assert!(
        config.contains(LISTENER_ANCHOR),
        "two_stack_config changed: no {LISTENER_ANCHOR:?}"
    );
    config.replacen(LISTENER_ANCHOR, &format!("{LISTENER_ANCHOR}{lines}\n"), 1)
}

/// Config for echo backends on `port`: tcp checks, `group_extra` in the group and
/// `listener_extra` in the listener.
fn echo_config(port: u16, group_extra: &str, listener_extra: &str) -> String {
    let text = two_stack_config(port, MAIN, BACKUP, group_extra, TCP_HEALTH);
    with_listener_lines(&text, listener_extra)
}

/// Echo servers on main and backup, one port; they stop when this is dropped.
struct EchoBackends {
    port: u16,
    _stop: DropGuard,
}

fn echo_backends() -> EchoBackends {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    tokio::spawn(echo_server(m, stop.clone()));
    tokio::spawn(echo_server(b, stop.clone()));
    EchoBackends {
        port,
        _stop: stop.drop_guard(),
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// Writes `msg` and reads the same bytes back, within `IO_LIMIT`.
async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
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

/// Connects through the proxy and proves the session works with one echo round trip.
async fn echo_session(proxy: SocketAddr) -> io::Result<TcpStream> {
    let mut s = timeout(IO_LIMIT, TcpStream::connect(proxy))
        .await
        .map_err(|_| timed_out("connect"))??;
    round_trip(&mut s, b"ping").await?;
    Ok(s)
}

/// Waits up to `limit` for the peer to close `s` (a read returns EOF or an error) and
/// returns how long that took. Data, or nothing within `limit`, is an error.
async fn wait_closed(s: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
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

/// Sum of the samples of `name` whose labels include every `labels` pair.
fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let wanted = metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            wanted.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// 64-bit FNV-1a, fed in chunks.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// xorshift64*: reproducible pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_carries_8mib_both_ways_intact_and_counts_bytes() {
    const TOTAL: usize = 8 << 20;
    const CHUNK: usize = 64 << 10;
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "")).await;
    let bytes = |m: &str, dir: &str| {
        metric_sum(
            m,
            "failoverd_proxy_bytes_total",
            &[("group", "app"), ("direction", dir)],
        )
    };
    let before = f.metrics().await;
    let (to_target0, to_client0) = (bytes(&before, "to_target"), bytes(&before, "to_client"));

    let s = echo_session(f.proxy("app")).await.expect("echo session");
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut hash = Fnv::new();
        let mut buf = vec![0u8; CHUNK];
        for _ in 0..TOTAL / CHUNK {
            rng.fill(&mut buf);
            hash.update(&buf);
            w.write_all(&buf).await?;
        }
        w.shutdown().await?;
        io::Result::Ok(hash.0)
    });
    let reader = async {
        let mut hash = Fnv::new();
        let mut n = 0usize;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let k = r.read(&mut buf).await?;
            if k == 0 {
                return io::Result::Ok((n, hash.0));
            }
            hash.update(&buf[..k]);
            n += k;
        }
    };
    let (got_len, got_hash) = timeout(Duration::from_secs(60), reader)
        .await
        .expect("8 MiB echoed within 60s")
        .expect("read echo");
    let sent_hash = timeout(Duration::from_secs(10), writer)
        .await
        .expect("writer finished")
        .unwrap()
        .expect("write 8 MiB");
    assert_eq!(got_len, TOTAL, "echoed byte count");
    assert_eq!(
        got_hash, sent_hash,
        "FNV-1a of echoed bytes != of sent bytes"
    );

    // "ping" of the first round trip is counted too, hence at least.
    let grown = eventually(
        Duration::from_secs(5),
        "proxy_bytes_total to grow by 8 MiB both ways",
        || async {
            let m = f.metrics().await;
            let up = bytes(&m, "to_target") - to_target0;
            let down = bytes(&m, "to_client") - to_client0;
            (up >= TOTAL as f64 && down >= TOTAL as f64).then_some((up, down))
        },
    )
    .await;
    assert!(
        grown.0 < (TOTAL + 1024) as f64 && grown.1 < (TOTAL + 1024) as f64,
        "bytes counted more than once? {grown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_client_half_close_still_gets_full_echo_then_eof() {
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "")).await;
    let mut s = echo_session(f.proxy("app")).await.expect("echo session");
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&payload).await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    timeout(IO_LIMIT, s.read_to_end(&mut got))
        .await
        .expect("echo and EOF after the client's half-close")
        .expect("read after half-close");
    assert_eq!(got.len(), payload.len());
    assert!(got == payload, "echo differs from payload");
}

/// Accepts connections; on each, sends "hello", closes its write side, then reads until
/// EOF and reports what it read.
async fn greeting_backend(
    listener: std::net::TcpListener,
    received: mpsc::UnboundedSender<Vec<u8>>,
    stop: CancellationToken,
) {
    listener.set_nonblocking(true).unwrap();
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        let (mut sock, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        let (tx, stop) = (received.clone(), stop.clone());
        tokio::spawn(async move {
            let serve = async {
                sock.write_all(b"hello").await?;
                sock.shutdown().await?;
                let mut got = Vec::new();
                sock.read_to_end(&mut got).await?;
                io::Result::Ok(got)
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                r = serve => { if let Ok(got) = r { let _ = tx.send(got); } }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_backend_half_close_keeps_client_to_backend_direction() {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(greeting_backend(m, tx.clone(), stop.clone()));
    tokio::spawn(greeting_backend(b, tx, stop.clone()));
    let f = Failoverd::start(&echo_config(port, "", "")).await;

    let mut s = TcpStream::connect(f.proxy("app")).await.unwrap();
    let mut greeting = Vec::new();
    timeout(IO_LIMIT, s.read_to_end(&mut greeting))
        .await
        .expect("greeting and EOF from the backend")
        .expect("read greeting");
    assert_eq!(greeting, b"hello");

    // The backend's half-close must leave the client-to-backend direction open.
    let late = b"sent after the backend closed its side".repeat(100);
    s.write_all(&late).await.expect("write after backend EOF");
    s.shutdown().await.unwrap();
    // Health checks connect to the backends too (and send nothing): skip empty reports.
    let got = timeout(IO_LIMIT, async {
        for _ in 0..100 {
            match rx.recv().await {
                Some(got) if !got.is_empty() => return got,
                Some(_) => continue,
                None => break,
            }
        }
        panic!("backend reports ended");
    })
    .await
    .expect("the backend to receive the client's bytes and EOF");
    assert_eq!(got.len(), late.len());
    assert!(got == late, "backend received other bytes than sent");
    assert_eq!(
        wait_closed(&mut s, IO_LIMIT).await.map(|_| ()),
        Ok(()),
        "session closed once both directions ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_max_connections_refuses_extra_at_once_then_recovers() {
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "max_connections = 2")).await;
    let proxy = f.proxy("app");
    let first = echo_session(proxy).await.expect("1st connection");
    let mut second = echo_session(proxy).await.expect("2nd connection");

    let mut third = TcpStream::connect(proxy)
        .await
        .expect("kernel accepts the 3rd");
    let waited = wait_closed(&mut third, Duration::from_secs(2))
        .await
        .expect("3rd connection closed by failoverd, not left hanging");
    assert!(waited < Duration::from_secs(2));
    let refused = metric_sum(
        &f.metrics().await,
        "failoverd_proxy_connections_total",
        &[("group", "app"), ("result", "refused")],
    );
    assert!(refused >= 1.0, "refused connections counted: {refused}");
    // The held ones are untouched.
    round_trip(&mut second, b"still here")
        .await
        .expect("2nd connection still works");

    drop(first);
    let mut fourth = eventually(
        Duration::from_secs(5),
        "a new connection to work once one held connection closed",
        || async move { echo_session(proxy).await.ok() },
    )
    .await;
    round_trip(&mut fourth, b"again").await.unwrap();
    round_trip(&mut second, b"and me").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_idle_timeout_closes_quiet_sessions_only() {
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "idle_timeout = \"500ms\"")).await;
    let proxy = f.proxy("app");

    let quiet = async {
        // Measured from before the proxy could even start the session: >= the timeout.
        let started = Instant::now();
        let mut s = TcpStream::connect(proxy).await.expect("connect");
        wait_closed(&mut s, Duration::from_secs(3))
            .await
            .map(|_| started.elapsed())
    };
    let busy = async {
        let mut s = echo_session(proxy).await.expect("busy session");
        let started = Instant::now();
        for i in 0..15 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            round_trip(&mut s, format!("tick {i}").as_bytes())
                .await
                .unwrap_or_else(|e| panic!("busy session broke at {:?}: {e}", started.elapsed()));
        }
        let busy_for = started.elapsed();
        // Quiet from now on: it must be closed in turn.
        (busy_for, wait_closed(&mut s, Duration::from_secs(3)).await)
    };
    let (quiet, (busy_for, busy_then_quiet)) = tokio::join!(quiet, busy);
    let quiet = quiet.expect("idle session closed by the proxy");
    assert!(
        quiet >= Duration::from_millis(480),
        "idle session closed after {quiet:?}, before the 500ms idle timeout"
    );
    assert!(busy_for >= Duration::from_millis(1500));
    busy_then_quiet.expect("the busy session closed once quiet");
}

async fn stacks_and_failoverd(group_extra: &str) -> (HttpStack, HttpStack, Failoverd) {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let main = HttpStack::start("main", m);
    let backup = HttpStack::start("backup", b);
    let f = Failoverd::start(&two_stack_config(
        port,
        MAIN,
        BACKUP,
        group_extra,
        HTTP_HEALTH,
    ))
    .await;
    f.wait_group(
        "app",
        Duration::from_secs(10),
        "main and backup up, main active",
        |g| health(g, "main") == "up" && health(g, "backup") == "up" && active(g) == ["main"],
    )
    .await;
    (main, backup, f)
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
    let (main, _backup, f) = stacks_and_failoverd("disconnect_on_failover = true").await;
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
    let (main, _backup, f) = stacks_and_failoverd("").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_retries_refusing_main_on_backup_without_failing_clients() {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    drop(m); // main refuses on this port
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(echo_server(b, stop.clone()));
    // Checks far apart (the first one lands anywhere in the first interval): no verdict
    // exists yet when the first connections arrive.
    let slow = "kind = \"tcp\"\ninterval = \"60s\"\ntimeout = \"1s\"\nrise = 1\nfall = 1";
    let f = Failoverd::start(&two_stack_config(port, MAIN, BACKUP, "", slow)).await;
    let proxy = f.proxy("app");
    let before = f.metrics().await;

    for i in 0..20 {
        let mut s = timeout(IO_LIMIT, TcpStream::connect(proxy))
            .await
            .expect("connect in time")
            .expect("connect");
        round_trip(&mut s, format!("conn {i}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("connection {i} failed: {e}"));
    }

    let m = f.metrics().await;
    let count = |text: &str, target: &str, result: &str| {
        metric_sum(
            text,
            "failoverd_proxy_connections_total",
            &[("group", "app"), ("target", target), ("result", result)],
        )
    };
    let served = count(&m, "backup", "ok") - count(&before, "backup", "ok");
    assert!(served >= 20.0, "served by backup: {served}\n{m}");
    assert_eq!(count(&m, "main", "ok"), 0.0, "main served something?");
    assert!(
        count(&m, "main", "connect_failed") >= 1.0,
        "no connect_failed for main in /metrics:\n{m}"
    );
}
