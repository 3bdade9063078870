//! loadgen: the load tool of `benches/compare.sh` (servers and clients, loopback only).
//!
//! ```sh
//! cargo build --release --example loadgen
//! target/release/examples/loadgen echo --listen 127.0.0.2:7000 [--listen ...] [--name main]
//! target/release/examples/loadgen respond --listen 127.0.0.1:7001 --bytes 256
//! target/release/examples/loadgen connrate --target 127.0.0.1:8080 --seconds 10 --concurrency 16 \
//!     --request-bytes 64 --response-bytes 256
//! target/release/examples/loadgen pingpong --target 127.0.0.1:8080 --seconds 10
//! target/release/examples/loadgen idle --target 127.0.0.1:8080 --count 9000 --hold-seconds 10
//! target/release/examples/loadgen failover-load --target 127.0.0.1:8080 --seconds 12 --rate 200 \
//!     [--kill-pid PID --kill-after 4]
//! target/release/examples/loadgen free-ports --count 10
//! ```
//!
//! Every client run is bounded in time (`--seconds`, per-connection timeouts) and count;
//! every server stops by itself after `--max-seconds` (default one hour) if nobody stops
//! it first. Clients refuse targets outside 127.0.0.0/8 and ::1: this is a loopback tool.
//! Results are printed on stdout as one JSON object (or JSON lines where said).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;

#[derive(Parser)]
#[command(about = "Load generator and test backends for benches/compare.sh (loopback only)")]
struct Cli {
    /// Worker threads of the tokio runtime (default: number of cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Echo server: echoes every byte back; with --name, first sends NAME + "\n".
    Echo {
        /// Address to listen on; repeat for several addresses served by one process.
        #[arg(long, required = true)]
        listen: Vec<SocketAddr>,
        #[arg(long)]
        name: Option<String>,
        /// Stop by itself after this long.
        #[arg(long, default_value_t = 3600)]
        max_seconds: u64,
    },
    /// Response server: reads the request (up to --request-bytes, or until the client
    /// stops sending), answers --bytes bytes and closes.
    Respond {
        #[arg(long, required = true)]
        listen: Vec<SocketAddr>,
        #[arg(long)]
        bytes: usize,
        /// Bytes to read before answering (the client's request size).
        #[arg(long, default_value_t = 1)]
        request_bytes: usize,
        #[arg(long, default_value_t = 3600)]
        max_seconds: u64,
    },
    /// Short connections: connect, send the request, read the whole response until the
    /// server closes, close. Prints {connections_per_sec, failed, p50_ms, p99_ms}.
    Connrate {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long)]
        seconds: f64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 64)]
        request_bytes: usize,
        #[arg(long, default_value_t = 256)]
        response_bytes: usize,
        /// Give up on one connection after this many milliseconds (counts as failed).
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// 1-byte round trips on one connection through an echo backend (no --name).
    /// Prints {round_trips, p50_us, p99_us}.
    Pingpong {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long)]
        seconds: f64,
        /// Round trips before measuring (warm-up).
        #[arg(long, default_value_t = 1000)]
        warmup: u64,
        /// At most this many measured round trips.
        #[arg(long, default_value_t = 10_000_000)]
        max_count: u64,
    },
    /// Opens --count connections to an echo backend (no --name) in concurrent batches,
    /// proves each with one round trip, prints `READY n`, holds them, then closes them.
    Idle {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        hold_seconds: f64,
        /// Connections opened at once.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// A steady stream of new connections, each reading the backend's name line
    /// (echo --name). With --kill-pid, sends SIGTERM to that process after --kill-after
    /// seconds (same clock as the connections). Prints a summary; --lines also prints one
    /// JSON line per connection first.
    FailoverLoad {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long)]
        seconds: f64,
        /// New connections per second.
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        kill_pid: Option<i32>,
        #[arg(long, default_value_t = 0.0)]
        kill_after: f64,
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// A connection slower than this counts as not yet settled (all_prompt_on_final_after_ms).
        #[arg(long, default_value_t = 100.0)]
        slow_ms: f64,
        #[arg(long)]
        lines: bool,
    },
    /// Prints N TCP/UDP ports free on 127.0.0.1-3, below the ephemeral range.
    FreePorts {
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Echo {
                listen,
                name,
                max_seconds,
            } => bounded_server(max_seconds, echo(listen, name)).await,
            Cmd::Respond {
                listen,
                bytes,
                request_bytes,
                max_seconds,
            } => bounded_server(max_seconds, respond(listen, bytes, request_bytes)).await,
            Cmd::Connrate {
                target,
                seconds,
                concurrency,
                request_bytes,
                response_bytes,
                timeout_ms,
            } => {
                loopback(target)?;
                connrate(
                    target,
                    secs(seconds),
                    concurrency.max(1),
                    request_bytes,
                    response_bytes,
                    Duration::from_millis(timeout_ms),
                )
                .await
            }
            Cmd::Pingpong {
                target,
                seconds,
                warmup,
                max_count,
            } => {
                loopback(target)?;
                tokio::task::spawn_blocking(move || {
                    pingpong(target, secs(seconds), warmup, max_count)
                })
                .await?
            }
            Cmd::Idle {
                target,
                count,
                hold_seconds,
                batch,
                timeout_ms,
            } => {
                loopback(target)?;
                idle(
                    target,
                    count,
                    secs(hold_seconds),
                    batch.max(1),
                    Duration::from_millis(timeout_ms),
                )
                .await
            }
            Cmd::FailoverLoad {
                target,
                seconds,
                rate,
                kill_pid,
                kill_after,
                timeout_ms,
                slow_ms,
                lines,
            } => {
                loopback(target)?;
                failover_load(
                    target,
                    secs(seconds),
                    rate,
                    kill_pid.map(|p| (p, secs(kill_after))),
                    Duration::from_millis(timeout_ms),
                    slow_ms,
                    lines,
                )
                .await
            }
            Cmd::FreePorts { count } => free_ports(count),
        }
    })
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 24.0 * 3600.0))
}

fn loopback(addr: SocketAddr) -> Result<()> {
    let ok = match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    if !ok {
        bail!("{addr}: loadgen only sends to loopback addresses");
    }
    Ok(())
}

async fn bounded_server(
    max_seconds: u64,
    server: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    tokio::select! {
        r = server => r,
        _ = tokio::time::sleep(Duration::from_secs(max_seconds)) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

fn listener(addr: SocketAddr) -> Result<TcpListener> {
    let sock = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr).with_context(|| format!("bind {addr}"))?;
    Ok(sock.listen(4096)?)
}

/// Accepts forever, surviving EMFILE and friends with a short pause.
async fn serve<F, Fut>(addrs: Vec<SocketAddr>, handler: F) -> Result<()>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tasks = Vec::new();
    for addr in addrs {
        let l = listener(addr)?;
        eprintln!("listening addr={}", l.local_addr()?);
        let h = handler.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        tokio::spawn(h(s));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}

async fn echo(addrs: Vec<SocketAddr>, name: Option<String>) -> Result<()> {
    let greeting: Option<Arc<[u8]>> = name.map(|n| format!("{n}\n").into_bytes().into());
    serve(addrs, move |mut s: TcpStream| {
        let greeting = greeting.clone();
        async move {
            if let Some(g) = greeting {
                if s.write_all(&g).await.is_err() {
                    return;
                }
            }
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    })
    .await
}

async fn respond(addrs: Vec<SocketAddr>, bytes: usize, request_bytes: usize) -> Result<()> {
    let body: Arc<[u8]> = vec![b'x'; bytes].into();
    serve(addrs, move |mut s: TcpStream| {
        let body = body.clone();
        async move {
            let mut buf = vec![0u8; request_bytes.clamp(1, 64 * 1024)];
            let mut got = 0;
            while got < request_bytes {
                let room = buf.len().min(request_bytes - got);
                match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf[..room])).await
                {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => got += n,
                    _ => return,
                }
            }
            let _ = s.write_all(&body).await;
            // Dropping the stream closes it: the client reads until EOF.
        }
    })
    .await
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

async fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(target).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn connrate(
    target: SocketAddr,
    seconds: Duration,
    concurrency: usize,
    request_bytes: usize,
    response_bytes: usize,
    timeout: Duration,
) -> Result<()> {
    let request: Arc<[u8]> = vec![b'q'; request_bytes].into();
    let start = Instant::now();
    let deadline = start + seconds;
    let failed = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let request = request.clone();
        let failed = failed.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut buf = vec![0u8; 64 * 1024];
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let one = async {
                    let mut s = connect(target).await?;
                    s.write_all(&request).await?;
                    let mut got = 0usize;
                    loop {
                        let n = s.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        got += n;
                    }
                    std::io::Result::Ok(got)
                };
                match tokio::time::timeout(timeout, one).await {
                    Ok(Ok(got)) if got == response_bytes => {
                        lat.push(t0.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        // Do not spin on a refusing target.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let out = json!({
        "connections": lat.len(),
        "connections_per_sec": round3(lat.len() as f64 / elapsed),
        "failed": failed.load(Ordering::Relaxed),
        "p50_ms": round3(percentile(&lat, 50.0)),
        "p99_ms": round3(percentile(&lat, 99.0)),
        "seconds": round3(elapsed),
    });
    println!("{out}");
    Ok(())
}

/// Blocking sockets on one thread: the client adds as little of its own latency as it can.
fn pingpong(target: SocketAddr, seconds: Duration, warmup: u64, max_count: u64) -> Result<()> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut b = [0u8; 1];
    let mut trip = |s: &mut std::net::TcpStream| -> Result<()> {
        s.write_all(b"p")?;
        s.read_exact(&mut b)
            .context("echo backend closed or timed out")?;
        if b[0] != b'p' {
            bail!(
                "unexpected byte {:?} (is the backend an echo server without --name?)",
                b[0]
            );
        }
        Ok(())
    };
    let warm_deadline = Instant::now() + Duration::from_secs(2);
    for _ in 0..warmup {
        if Instant::now() > warm_deadline {
            break;
        }
        trip(&mut s)?;
    }
    let mut lat = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let deadline = start + seconds;
    while (lat.len() as u64) < max_count {
        let t0 = Instant::now();
        if t0 >= deadline {
            break;
        }
        trip(&mut s)?;
        lat.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let out = json!({
        "round_trips": lat.len(),
        "round_trips_per_sec": round3(lat.len() as f64 / elapsed),
        "p50_us": round3(percentile(&lat, 50.0)),
        "p90_us": round3(percentile(&lat, 90.0)),
        "p99_us": round3(percentile(&lat, 99.0)),
        "max_us": round3(lat.last().copied().unwrap_or(0.0)),
    });
    println!("{out}");
    Ok(())
}

async fn idle(
    target: SocketAddr,
    count: usize,
    hold: Duration,
    batch: usize,
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    let mut open: Vec<TcpStream> = Vec::with_capacity(count);
    let mut failed = 0usize;
    while open.len() + failed < count {
        let n = batch.min(count - open.len() - failed);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn(async move {
                tokio::time::timeout(timeout, async {
                    let mut s = connect(target).await?;
                    s.write_all(b"i").await?;
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).await?;
                    if b[0] != b'i' {
                        return Err(std::io::Error::other("not an echo"));
                    }
                    std::io::Result::Ok(s)
                })
                .await
            });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(Ok(s))) => open.push(s),
                _ => failed += 1,
            }
        }
        // A batch that failed entirely means the target is gone: stop trying.
        if failed >= n && open.is_empty() {
            break;
        }
    }
    let opened_in = start.elapsed().as_secs_f64();
    let ready = open.len();
    println!("READY {ready}");
    eprintln!(
        "idle: {} open, {} failed, opened in {:.2}s; holding {:.1}s",
        open.len(),
        failed,
        opened_in,
        hold.as_secs_f64()
    );
    tokio::select! {
        _ = tokio::time::sleep(hold) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // Check they are still alive at the end (one more round trip each, bounded).
    let mut alive = 0usize;
    let mut set = tokio::task::JoinSet::new();
    for mut s in open.drain(..) {
        set.spawn(async move {
            tokio::time::timeout(Duration::from_secs(5), async move {
                s.write_all(b"j").await?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await?;
                std::io::Result::Ok(())
            })
            .await
        });
        if set.len() >= batch {
            while let Some(r) = set.join_next().await {
                if matches!(r, Ok(Ok(Ok(())))) {
                    alive += 1;
                }
            }
        }
    }
    while let Some(r) = set.join_next().await {
        if matches!(r, Ok(Ok(Ok(())))) {
            alive += 1;
        }
    }
    let out = json!({
        "ready": ready,
        "failed": failed,
        "alive_at_end": alive,
        "open_seconds": round3(opened_in),
    });
    println!("{out}");
    Ok(())
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

struct Outcome {
    at_ms: f64,
    latency_ms: f64,
    name: Option<String>,
    error: Option<String>,
}

async fn failover_load(
    target: SocketAddr,
    seconds: Duration,
    rate: f64,
    kill: Option<(i32, Duration)>,
    timeout: Duration,
    slow_ms: f64,
    lines: bool,
) -> Result<()> {
    if !(rate > 0.0 && rate <= 100_000.0) {
        bail!("--rate must be in (0, 100000]");
    }
    let start = Instant::now();
    let start_unix = unix_ms();
    let kill_at: Arc<Mutex<Option<f64>>> = Arc::new(Mutex::new(None));
    let half_period = Duration::from_secs_f64(0.5 / rate);
    let killer = kill.map(|(pid, after)| {
        let kill_at = kill_at.clone();
        tokio::spawn(async move {
            // Half a period after a connection start, not on one: a kill aligned with the
            // ticker would always hit a connection in its first fraction of a millisecond.
            tokio::time::sleep_until(start + after + half_period).await;
            // SIGTERM: the echo server does not handle it, so it dies at once (its sockets
            // are closed by the kernel exactly as with SIGKILL), and shells do not print a
            // "Killed" notice for it.
            // SAFETY: kill(2) with a pid given by the caller (a backend the harness started).
            let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
            *kill_at.lock().unwrap() = Some(start.elapsed().as_secs_f64() * 1e3);
            if rc != 0 {
                eprintln!(
                    "failover-load: kill {pid}: {}",
                    std::io::Error::last_os_error()
                );
            }
        })
    });
    let period = Duration::from_secs_f64(1.0 / rate);
    let total = (seconds.as_secs_f64() * rate).ceil() as u64;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..total {
        tick.tick().await;
        let at_ms = start.elapsed().as_secs_f64() * 1e3;
        set.spawn(async move {
            let t0 = Instant::now();
            let r = tokio::time::timeout(timeout, async {
                let mut s = connect(target).await?;
                let mut line = Vec::with_capacity(32);
                let mut b = [0u8; 64];
                while !line.contains(&b'\n') && line.len() < 256 {
                    let n = s.read(&mut b).await?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "closed before the name line",
                        ));
                    }
                    line.extend_from_slice(&b[..n]);
                }
                let end = line.iter().position(|&c| c == b'\n').unwrap_or(line.len());
                std::io::Result::Ok(String::from_utf8_lossy(&line[..end]).into_owned())
            })
            .await;
            let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
            let (name, error) = match r {
                Ok(Ok(n)) => (Some(n), None),
                Ok(Err(e)) => (None, Some(e.kind().to_string())),
                Err(_) => (None, Some("timeout".to_string())),
            };
            Outcome {
                at_ms,
                latency_ms,
                name,
                error,
            }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(r) = set.join_next().await {
        outcomes.push(r?);
    }
    if let Some(k) = killer {
        let _ = k.await;
    }
    outcomes.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    if lines {
        for o in &outcomes {
            println!(
                "{}",
                json!({"at_ms": round3(o.at_ms), "latency_ms": round3(o.latency_ms), "name": o.name, "error": o.error})
            );
        }
    }
    let kill_ms = *kill_at.lock().unwrap();
    let mut by_name: std::collections::BTreeMap<String, (u64, f64, f64)> = Default::default();
    let mut failed = Vec::new();
    for o in &outcomes {
        match &o.name {
            Some(n) => {
                let e = by_name.entry(n.clone()).or_insert((0, o.at_ms, o.at_ms));
                e.0 += 1;
                e.2 = o.at_ms;
            }
            None => failed.push(json!({"at_ms": round3(o.at_ms), "error": o.error})),
        }
    }
    // Time to settle: among the connections started after the kill, the first one from
    // which on every connection was served by the final backend; its start minus the kill
    // time (0 when every connection started after the kill was served by it). Connections
    // started before the kill that failed are counted in `failed`, not here.
    let last_name = outcomes.last().and_then(|o| o.name.clone());
    let settled_ms = kill_ms.map(|k| {
        let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.at_ms >= k).collect();
        match after
            .iter()
            .rposition(|o| o.name.is_none() || o.name != last_name)
        {
            None => 0.0,
            Some(i) => match after.get(i + 1) {
                Some(o) => round3(o.at_ms - k),
                None => round3(after[i].at_ms - k),
            },
        }
    });
    // Same, counting a connection as settled only when it was also served promptly
    // (within --slow-ms): a proxy that retries a dead main for a while lands on the backup
    // late.
    let prompt_ms = kill_ms.map(|k| {
        let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.at_ms >= k).collect();
        match after
            .iter()
            .rposition(|o| o.name.is_none() || o.name != last_name || o.latency_ms > slow_ms)
        {
            None => 0.0,
            Some(i) => match after.get(i + 1) {
                Some(o) => round3(o.at_ms - k),
                None => round3(after[i].at_ms - k),
            },
        }
    });
    let after_kill: Vec<f64> = match kill_ms {
        Some(k) => {
            let mut v: Vec<f64> = outcomes
                .iter()
                .filter(|o| o.at_ms >= k - 50.0)
                .map(|o| o.latency_ms)
                .collect();
            v.sort_by(f64::total_cmp);
            v
        }
        None => Vec::new(),
    };
    let names: serde_json::Map<String, serde_json::Value> = by_name
        .iter()
        .map(|(n, (c, first, last))| {
            (
                n.clone(),
                json!({"served": c, "first_ms": round3(*first), "last_ms": round3(*last)}),
            )
        })
        .collect();
    let out = json!({
        "connections": outcomes.len(),
        "failed": failed.len(),
        "failures": failed.iter().take(50).collect::<Vec<_>>(),
        "names": names,
        "kill_ms": kill_ms.map(round3),
        "final_name": last_name,
        "all_on_final_after_ms": settled_ms,
        "all_prompt_on_final_after_ms": prompt_ms,
        "max_latency_after_kill_ms": after_kill.last().copied().map(round3),
        "p99_latency_after_kill_ms": if after_kill.is_empty() { None } else { Some(round3(percentile(&after_kill, 99.0))) },
        "start_unix_ms": round3(start_unix),
    });
    println!("{out}");
    Ok(())
}

fn free_ports(count: usize) -> Result<()> {
    use std::net::{TcpListener as StdTcp, UdpSocket};
    let mut found: Vec<u16> = Vec::new();
    let mut tries = 0;
    while found.len() < count {
        tries += 1;
        if tries > 10_000 {
            bail!("no free ports found");
        }
        // Below the ephemeral range (32768-60999 by default) so that outgoing connections
        // of the benchmarks never take a port a server is about to bind.
        let p = 20000 + fastrand::u16(..12000);
        if found.contains(&p) {
            continue;
        }
        let free = ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().all(|ip| {
            let a: SocketAddr = format!("{ip}:{p}").parse().unwrap();
            StdTcp::bind(a).is_ok() && UdpSocket::bind(a).is_ok()
        });
        if free {
            found.push(p);
        }
    }
    for p in found {
        println!("{p}");
    }
    Ok(())
}
