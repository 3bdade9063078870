//! Scale benchmark driver: failoverd with N DNS-only groups (main 127.0.0.2, backup
//! 127.0.0.3, one tcp-checked port), measured from start to a mass failover.
//!
//! cargo build --release --bin failoverd --example scale
//! target/release/examples/scale --failoverd target/release/failoverd --groups 10000 \
//!     [--interval-ms 5000 --timeout-ms 1000 --rise 2 --fall 2 --steady-seconds 20] [--haproxy /usr/sbin/haproxy]
//!
//! What it measures, in order (one JSON line on stdout at the end; progress on stderr):
//! 1. `up_s`: seconds from spawning failoverd until every group is primary with both
//!    targets up (the API polled every 200 ms); the goal is rise x interval + 2 s.
//! 2. `cpu_pct`, `rss_mib`: CPU of failoverd (utime + stime from /proc, % of one core) over
//!    `--steady-seconds` of steady checking with nobody polling, and its RSS after.
//! 3. `reload_s`, `reload_dns_failed`, `reload_proxy_failed`: a reload of the same config
//!    (POST /v1/reload, timed to its answer) while DNS queries (400/s) and proxied echo
//!    connections (50/s) run, from 1 s before to 2 s after; failures counted.
//! 4. `failover_s`: seconds from closing every main's port (connections then refused)
//!    until every group is failed over in the API (the goal: fall x interval + timeout +
//!    2 s), and `dns_backup`: how many names then answer the backup.
//! 5. With --haproxy: the same N backends of two servers (check inter, fall, rise, timeout
//!    alike) in HAProxy, its CPU and RSS over the same steady window.
//!
//! Everything runs on loopback; every process started is stopped by PID; every wait is
//! bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Cli {
    #[arg(long)]
    failoverd: PathBuf,
    #[arg(long, default_value_t = 1000)]
    groups: usize,
    /// Check interval and timeout (milliseconds), rise and fall of every group.
    #[arg(long, default_value_t = 5000)]
    interval_ms: u64,
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    #[arg(long, default_value_t = 2)]
    rise: u32,
    #[arg(long, default_value_t = 2)]
    fall: u32,
    #[arg(long, default_value_t = 20)]
    steady_seconds: u64,
    /// Also measure HAProxy's checks of the same backends.
    #[arg(long)]
    haproxy: Option<PathBuf>,
}

const MAIN: &str = "127.0.0.2";
const BACKUP: &str = "127.0.0.3";

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

/// A port free on 127.0.0.1 now (the bench's own race with other programs is accepted).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Accepts and closes (what a tcp check needs) until `stop`, then the port refuses.
async fn accept_and_close(l: TcpListener, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = l.accept() => drop(r),
        }
    }
}

/// Echoes until EOF, per connection, until `stop`.
async fn echo(l: TcpListener, stop: CancellationToken) {
    loop {
        let (mut s, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = l.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        tokio::spawn(async move {
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
    }
}

/// Binds `a` and `b` on one port.
async fn pair() -> Result<(TcpListener, TcpListener)> {
    for _ in 0..50 {
        let b = TcpListener::bind((BACKUP, 0)).await?;
        let port = b.local_addr()?.port();
        if let Ok(a) = TcpListener::bind((MAIN, port)).await {
            return Ok((a, b));
        }
    }
    bail!("no common free port on {MAIN} and {BACKUP}")
}

struct Ports {
    admin: u16,
    dns: u16,
    proxy: u16,
    check: u16,
    echo: u16,
}

fn config(cli: &Cli, dir: &Path, p: &Ports) -> String {
    let mut s = format!(
        "[admin]\nlisten = \"127.0.0.1:{}\"\n\n[state]\npath = \"{}/state\"\n\n\
         [dns]\nlisten = [\"127.0.0.1:{}\"]\nzone = \"scale.test.\"\n\
         nameservers = [{{ name = \"ns1.scale.test.\", addresses = [\"127.0.0.1\"] }}]\n",
        p.admin,
        dir.display(),
        p.dns
    );
    let health = |port: u16| {
        format!(
            "[group.health]\nkind = \"tcp\"\nport = {port}\ninterval = \"{}ms\"\n\
             timeout = \"{}ms\"\nrise = {}\nfall = {}\n",
            cli.interval_ms, cli.timeout_ms, cli.rise, cli.fall
        )
    };
    let targets = format!(
        "[[group.target]]\nname = \"main\"\naddress = \"{MAIN}\"\npriority = 1\n\
         [[group.target]]\nname = \"backup\"\naddress = \"{BACKUP}\"\npriority = 2\n"
    );
    for i in 0..cli.groups {
        s += &format!(
            "\n[[group]]\nname = \"g{i}\"\ndns_name = \"g{i}.scale.test.\"\n{}{targets}",
            health(p.check)
        );
    }
    // One proxied group, to see that a reload fails no proxied connection.
    s += &format!(
        "\n[[group]]\nname = \"proxied\"\n{}[[group.listener]]\nlisten = \"127.0.0.1:{}\"\n\
         target_port = {}\n{targets}",
        health(p.echo),
        p.proxy,
        p.echo
    );
    s
}

/// A plain HTTP/1.1 request to the admin API: (status, body).
fn http(admin: SocketAddr, method: &str, path: &str) -> Result<(u16, String)> {
    let mut s = StdTcp::connect_timeout(&admin, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = if method == "POST" { "{}" } else { "" };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, mut rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut body = String::new();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            body.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
    } else {
        body = rest.to_string();
    }
    Ok((status, body))
}

/// How many of the N scale groups satisfy `cond` (the proxied group is not counted).
fn count(admin: SocketAddr, cond: impl Fn(&Value) -> bool) -> usize {
    let Ok((200, body)) = http(admin, "GET", "/v1/groups") else {
        return 0;
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    v["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .filter(|g| g["name"] != "proxied" && cond(g))
                .count()
        })
        .unwrap_or(0)
}

fn health(g: &Value, target: &str) -> String {
    g["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == target))
        .and_then(|t| t["health"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Polls every 200 ms until `cond` holds for all `n` groups or `limit` passes: the
/// seconds since `since`, or None.
fn wait_all(
    admin: SocketAddr,
    n: usize,
    since: Instant,
    limit: Duration,
    cond: impl Fn(&Value) -> bool,
) -> Option<f64> {
    while since.elapsed() < limit {
        let got = count(admin, &cond);
        if got == n {
            return Some(since.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// utime + stime of a process in seconds, and its RSS in KiB.
fn cpu_and_rss(pid: u32) -> Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Ok((ticks / hz, rss))
}

/// CPU (% of one core) over `secs`, and RSS (MiB) at the end.
fn steady(pid: u32, secs: u64) -> Result<(f64, f64)> {
    let (c0, _) = cpu_and_rss(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, rss) = cpu_and_rss(pid)?;
    Ok((
        (c1 - c0) / t0.elapsed().as_secs_f64() * 100.0,
        rss as f64 / 1024.0,
    ))
}

/// A DNS query for `name` (type A); the answer's first A record, if any.
fn ask_a(sock: &UdpSocket, server: SocketAddr, id: u16, name: &str) -> Option<[u8; 4]> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sock.send_to(&q, server).ok()?;
    let mut buf = [0u8; 512];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        if n < 12 || buf[0..2] != q[0..2] {
            continue; // a late answer to an earlier query
        }
        let (rcode, ancount) = (buf[3] & 0x0f, u16::from_be_bytes([buf[6], buf[7]]));
        if rcode != 0 || ancount == 0 || n < 4 {
            return None;
        }
        // The first answer is an A record (owner compressed): its last 4 bytes.
        let end = q.len() + 16;
        return (n >= end).then(|| [buf[end - 4], buf[end - 3], buf[end - 2], buf[end - 1]]);
    }
}

/// A load thread; it returns (ok, failed).
type Counting = std::thread::JoinHandle<(u64, u64)>;

/// Background load while a reload runs: DNS queries and proxied echo connections, each
/// counted ok or failed, until `stop`.
fn load(
    dns: SocketAddr,
    proxy: SocketAddr,
    groups: usize,
    stop: Arc<AtomicBool>,
) -> (Counting, Counting) {
    let stop_dns = stop.clone();
    let dns_load = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        sock.set_read_timeout(Some(Duration::from_millis(500))).ok();
        let (mut ok, mut failed) = (0u64, 0u64);
        let mut i = 0usize;
        while !stop_dns.load(Ordering::Relaxed) {
            i += 1;
            let name = format!("g{}.scale.test.", (i * 7919) % groups);
            match ask_a(&sock, dns, i as u16, &name) {
                Some(_) => ok += 1,
                None => failed += 1,
            }
            std::thread::sleep(Duration::from_micros(2500));
        }
        (ok, failed)
    });
    let proxy_load = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            let once = || -> Result<()> {
                let mut s = StdTcp::connect_timeout(&proxy, Duration::from_secs(2))?;
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(b"ping")?;
                let mut got = [0u8; 4];
                s.read_exact(&mut got)?;
                if &got != b"ping" {
                    bail!("echo changed");
                }
                Ok(())
            };
            match once() {
                Ok(()) => ok += 1,
                Err(_) => failed += 1,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (ok, failed)
    });
    (dns_load, proxy_load)
}

/// Stops a child by PID: SIGTERM, then SIGKILL after 5 s.
fn stop(child: &mut Child) {
    // SAFETY: kill(2) on our own child's PID.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the child if the bench fails on the way.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let n = cli.groups;
    let dir = tempfile::tempdir()?;
    let (main_l, backup_l) = pair().await?;
    let (echo_main, echo_backup) = pair().await?;
    let ports = Ports {
        admin: free_port()?,
        dns: free_port()?,
        proxy: free_port()?,
        check: main_l.local_addr()?.port(),
        echo: echo_main.local_addr()?.port(),
    };
    let (stop_main, stop_rest) = (CancellationToken::new(), CancellationToken::new());
    let _stop = stop_rest.clone().drop_guard();
    tokio::spawn(accept_and_close(main_l, stop_main.clone()));
    tokio::spawn(accept_and_close(backup_l, stop_rest.clone()));
    tokio::spawn(echo(echo_main, stop_rest.clone()));
    tokio::spawn(echo(echo_backup, stop_rest.clone()));
    let config_path = dir.path().join("failoverd.toml");
    std::fs::write(&config_path, config(&cli, dir.path(), &ports))?;
    let admin: SocketAddr = format!("127.0.0.1:{}", ports.admin).parse()?;
    let dns: SocketAddr = format!("127.0.0.1:{}", ports.dns).parse()?;
    let proxy: SocketAddr = format!("127.0.0.1:{}", ports.proxy).parse()?;
    let interval = cli.interval_ms;
    let detect = move |k: u32| Duration::from_millis(interval * k as u64);
    let cli = Arc::new(cli);

    let log = std::fs::File::create(dir.path().join("failoverd.log"))?;
    let started = Instant::now();
    let child = Command::new(&cli.failoverd)
        .args(["--log-level", "warn", "run", "--config"])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("spawn failoverd")?;
    let mut guard = Guard(child);
    let pid = guard.0.id();
    // A config failoverd refuses ends it at once: say why rather than time out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Ok(Some(status)) = guard.0.try_wait() {
        let log = std::fs::read_to_string(dir.path().join("failoverd.log")).unwrap_or_default();
        bail!("failoverd exited at start ({status}): {log}");
    }
    let measured = tokio::task::spawn_blocking({
        let cli = cli.clone();
        move || -> Result<Value> {
            let limit = detect(cli.rise) + Duration::from_secs(120);
            eprintln!("{n} groups: waiting for every group primary with both targets up");
            let up = wait_all(admin, n, started, limit, |g| {
                g["state"] == "primary" && health(g, "main") == "up" && health(g, "backup") == "up"
            });
            eprintln!("  up after {up:?} s; steady checking for {} s", cli.steady_seconds);
            std::thread::sleep(Duration::from_secs(2));
            let (cpu, rss) = steady(pid, cli.steady_seconds)?;
            eprintln!("  CPU {cpu:.1}% of a core, RSS {rss:.1} MiB; reloading under load");
            let stop_load = Arc::new(AtomicBool::new(false));
            let (dns_load, proxy_load) = load(dns, proxy, n, stop_load.clone());
            std::thread::sleep(Duration::from_secs(1));
            let t = Instant::now();
            let (status, body) = http(admin, "POST", "/v1/reload")?;
            let reload_s = t.elapsed().as_secs_f64();
            if status != 200 {
                bail!("reload answered {status}: {body}");
            }
            std::thread::sleep(Duration::from_secs(2));
            stop_load.store(true, Ordering::Relaxed);
            let (dns_ok, dns_failed) = dns_load.join().expect("dns load");
            let (px_ok, px_failed) = proxy_load.join().expect("proxy load");
            eprintln!(
                "  reload {reload_s:.3} s; DNS {dns_ok} ok {dns_failed} failed; proxy {px_ok} ok {px_failed} failed"
            );
            Ok(json!({
                "groups": n, "up_s": up, "cpu_pct": cpu, "rss_mib": rss,
                "reload_s": reload_s, "reload_dns_ok": dns_ok, "reload_dns_failed": dns_failed,
                "reload_proxy_ok": px_ok, "reload_proxy_failed": px_failed,
            }))
        }
    })
    .await??;
    let mut result = measured;
    // Every main dies at once: its port refuses from now on.
    let killed = Instant::now();
    stop_main.cancel();
    let failed_over = tokio::task::spawn_blocking({
        let cli = cli.clone();
        move || {
            let limit =
                detect(cli.fall) + Duration::from_millis(cli.timeout_ms) + Duration::from_secs(120);
            wait_all(admin, n, killed, limit, |g| {
                g["state"] == "failed_over"
                    && g["active"]
                        .as_array()
                        .is_some_and(|a| a == &[json!("backup")])
            })
        }
    })
    .await?;
    eprintln!("  every main closed: all failed over after {failed_over:?} s");
    let dns_backup = tokio::task::spawn_blocking(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        sock.set_read_timeout(Some(Duration::from_millis(500))).ok();
        (0..n)
            .filter(|i| {
                ask_a(&sock, dns, *i as u16, &format!("g{i}.scale.test.")) == Some([127, 0, 0, 3])
            })
            .count()
    })
    .await?;
    let (_, rss_end) = cpu_and_rss(pid)?;
    stop(&mut guard.0);
    result["failover_s"] = json!(failed_over);
    result["dns_backup"] = json!(dns_backup);
    result["rss_end_mib"] = json!(rss_end as f64 / 1024.0);
    if let Some(haproxy) = &cli.haproxy {
        match haproxy_checks(&cli, haproxy, dir.path(), ports.check).await {
            Ok((cpu, rss)) => {
                result["haproxy_cpu_pct"] = json!(cpu);
                result["haproxy_rss_mib"] = json!(rss);
            }
            Err(e) => {
                eprintln!("  haproxy: {e:#}");
                result["haproxy_error"] = json!(format!("{e:#}"));
            }
        }
    }
    stop_rest.cancel();
    println!("{result}");
    Ok(())
}

/// HAProxy with the same N backends of two servers; CPU and RSS over the steady window,
/// after rise x interval + 2 s. The mains' listener is closed by now, so it is restarted.
async fn haproxy_checks(cli: &Cli, haproxy: &Path, dir: &Path, port: u16) -> Result<(f64, f64)> {
    let main_l = TcpListener::bind((MAIN, port)).await?;
    let mains = CancellationToken::new();
    let _mains = mains.clone().drop_guard();
    tokio::spawn(accept_and_close(main_l, mains));
    let admin = free_port()?;
    let mut cfg = format!(
        "global\n    maxconn 4096\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    \
         timeout client 10s\n    timeout server 10s\n    timeout check {}ms\n\n\
         frontend admin\n    bind 127.0.0.1:{admin}\n    tcp-request connection reject\n\n",
        cli.timeout_ms
    );
    for i in 0..cli.groups {
        cfg += &format!(
            "backend g{i}\n    server main {MAIN}:{port} check inter {}ms fall {} rise {}\n    \
             server backup {BACKUP}:{port} check inter {}ms fall {} rise {} backup\n",
            cli.interval_ms, cli.fall, cli.rise, cli.interval_ms, cli.fall, cli.rise
        );
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg)?;
    let log_path = dir.join("haproxy.log");
    let child = Command::new(haproxy)
        .args(["-db", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .context("spawn haproxy")?;
    let mut guard = Guard(child);
    let pid = guard.0.id();
    let (interval, rise, secs) = (cli.interval_ms, cli.rise, cli.steady_seconds);
    std::thread::sleep(Duration::from_millis(interval * rise as u64 + 2000));
    if let Ok(Some(status)) = guard.0.try_wait() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let alert = log
            .lines()
            .filter(|l| l.contains("ALERT"))
            .collect::<Vec<_>>();
        bail!("haproxy exited ({status}): {}", alert.join("; "));
    }
    let r = tokio::task::spawn_blocking(move || steady(pid, secs)).await??;
    stop(&mut guard.0);
    eprintln!("  haproxy: CPU {:.1}% of a core, RSS {:.1} MiB", r.0, r.1);
    Ok(r)
}
