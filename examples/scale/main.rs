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

mod api;
mod backends;
mod config;
mod failover;
mod haproxy;
mod load;
mod procs;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};

use api::{health, wait_all};
use backends::free_port;
use config::{config, Ports};
use failover::{backup_answers, fail_over_all};
use haproxy::haproxy_checks;
use load::reload_under_load;
use procs::{cpu_and_rss, steady, stop, Guard};

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

impl Cli {
    /// `k` check intervals: the least time `rise` or `fall` checks in a row take.
    fn detect(&self, k: u32) -> Duration {
        Duration::from_millis(self.interval_ms * k as u64)
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

/// failoverd's addresses: its admin API, DNS server and the proxied group's listener.
#[derive(Clone, Copy)]
struct Addrs {
    admin: SocketAddr,
    dns: SocketAddr,
    proxy: SocketAddr,
}

/// The steps of the module doc in order, then the JSON line.
async fn run(cli: Cli) -> Result<()> {
    let n = cli.groups;
    let dir = tempfile::tempdir()?;
    let backends = backends::start().await?;
    let _stop = backends.stop_rest.clone().drop_guard();
    let ports = Ports {
        admin: free_port()?,
        dns: free_port()?,
        proxy: free_port()?,
        check: backends.check,
        echo: backends.echo,
    };
    let config_path = dir.path().join("failoverd.toml");
    std::fs::write(&config_path, config(&cli, dir.path(), &ports))?;
    let at = Addrs {
        admin: format!("127.0.0.1:{}", ports.admin).parse()?,
        dns: format!("127.0.0.1:{}", ports.dns).parse()?,
        proxy: format!("127.0.0.1:{}", ports.proxy).parse()?,
    };
    let cli = Arc::new(cli);
    let (mut guard, started) = spawn_failoverd(&cli.failoverd, dir.path(), &config_path).await?;
    let pid = guard.0.id();
    let mut result = tokio::task::spawn_blocking({
        let cli = cli.clone();
        move || up_steady_reload(&cli, at, pid, started)
    })
    .await??;
    let failed_over = fail_over_all(&cli, at.admin, &backends.stop_main).await?;
    let dns_backup = backup_answers(at.dns, n).await?;
    let (_, rss_end) = cpu_and_rss(pid)?;
    stop(&mut guard.0);
    result["failover_s"] = json!(failed_over);
    result["dns_backup"] = json!(dns_backup);
    result["rss_end_mib"] = json!(rss_end as f64 / 1024.0);
    if let Some(haproxy) = &cli.haproxy {
        add_haproxy(&cli, haproxy, dir.path(), ports.check, &mut result).await;
    }
    backends.stop_rest.cancel();
    println!("{result}");
    Ok(())
}

/// Spawns failoverd on `config_path`, its log in `dir`: the guard that stops it, and
/// when it was spawned (where `up_s` counts from).
async fn spawn_failoverd(bin: &Path, dir: &Path, config_path: &Path) -> Result<(Guard, Instant)> {
    let log = std::fs::File::create(dir.join("failoverd.log"))?;
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["--log-level", "warn", "run", "--config"])
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("spawn failoverd")?;
    let mut guard = Guard(child);
    // A config failoverd refuses ends it at once: say why rather than time out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Ok(Some(status)) = guard.0.try_wait() {
        let log = std::fs::read_to_string(dir.join("failoverd.log")).unwrap_or_default();
        bail!("failoverd exited at start ({status}): {log}");
    }
    Ok((guard, started))
}

/// Steps 1 to 3, blocking: every group up, steady CPU and RSS, a reload under load; the
/// result's first fields.
fn up_steady_reload(cli: &Cli, at: Addrs, pid: u32, started: Instant) -> Result<Value> {
    let n = cli.groups;
    let limit = cli.detect(cli.rise) + Duration::from_secs(120);
    eprintln!("{n} groups: waiting for every group primary with both targets up");
    let up = wait_all(at.admin, n, started, limit, |g| {
        g["state"] == "primary" && health(g, "main") == "up" && health(g, "backup") == "up"
    });
    eprintln!(
        "  up after {up:?} s; steady checking for {} s",
        cli.steady_seconds
    );
    std::thread::sleep(Duration::from_secs(2));
    let (cpu, rss) = steady(pid, cli.steady_seconds)?;
    eprintln!("  CPU {cpu:.1}% of a core, RSS {rss:.1} MiB; reloading under load");
    let r = reload_under_load(at.admin, at.dns, at.proxy, n)?;
    Ok(json!({
        "groups": n, "up_s": up, "cpu_pct": cpu, "rss_mib": rss,
        "reload_s": r.secs, "reload_dns_ok": r.dns.0, "reload_dns_failed": r.dns.1,
        "reload_proxy_ok": r.proxy.0, "reload_proxy_failed": r.proxy.1,
    }))
}

/// Step 5: HAProxy's CPU and RSS into `result`, or why they could not be measured.
async fn add_haproxy(cli: &Cli, haproxy: &Path, dir: &Path, port: u16, result: &mut Value) {
    match haproxy_checks(cli, haproxy, dir, port).await {
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
