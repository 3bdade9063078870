//! `failover-load`: a steady stream of new connections while the main backend is killed
//! (the failover section). Each connection reads the name line of the echo backend that
//! served it, so the summary tells which backend took which connection and when.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{connect, loopback, percentile, round3};

#[derive(clap::Args)]
pub struct Args {
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
}

pub async fn run(a: Args) -> Result<()> {
    loopback(a.target)?;
    if !(a.rate > 0.0 && a.rate <= 100_000.0) {
        bail!("--rate must be in (0, 100000]");
    }
    let start = Instant::now();
    let start_unix = unix_ms();
    let kill_at: Arc<Mutex<Option<f64>>> = Arc::new(Mutex::new(None));
    let killer = a.kill_pid.map(|pid| {
        // Half a period after a connection start, not on one: a kill aligned with the
        // ticker would always hit a connection in its first fraction of a millisecond.
        let at = start + crate::secs(a.kill_after) + Duration::from_secs_f64(0.5 / a.rate);
        spawn_killer(pid, at, start, kill_at.clone())
    });
    let timeout = Duration::from_millis(a.timeout_ms);
    let mut outcomes = load(a.target, crate::secs(a.seconds), a.rate, timeout, start).await?;
    if let Some(k) = killer {
        let _ = k.await;
    }
    outcomes.sort_by(|x, y| x.at_ms.total_cmp(&y.at_ms));
    if a.lines {
        for o in &outcomes {
            println!(
                "{}",
                json!({"at_ms": round3(o.at_ms), "latency_ms": round3(o.latency_ms), "name": o.name, "error": o.error})
            );
        }
    }
    let kill_ms = *kill_at.lock().unwrap();
    println!("{}", summary(&outcomes, kill_ms, a.slow_ms, start_unix));
    Ok(())
}

/// One connection: when it started (ms after the run's start), how long it took, and
/// the backend's name or the error.
struct Outcome {
    at_ms: f64,
    latency_ms: f64,
    name: Option<String>,
    error: Option<String>,
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// Sends SIGTERM to `pid` at `at` and records when (ms after `start`) in `kill_at`.
fn spawn_killer(
    pid: i32,
    at: Instant,
    start: Instant,
    kill_at: Arc<Mutex<Option<f64>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
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
}

/// `rate` new connections per second for `seconds`, each one bounded by `timeout`.
async fn load(
    target: SocketAddr,
    seconds: Duration,
    rate: f64,
    timeout: Duration,
    start: Instant,
) -> Result<Vec<Outcome>> {
    let period = Duration::from_secs_f64(1.0 / rate);
    let total = (seconds.as_secs_f64() * rate).ceil() as u64;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..total {
        tick.tick().await;
        let at_ms = start.elapsed().as_secs_f64() * 1e3;
        set.spawn(one(target, timeout, at_ms));
    }
    let mut outcomes = Vec::new();
    while let Some(r) = set.join_next().await {
        outcomes.push(r?);
    }
    Ok(outcomes)
}

async fn one(target: SocketAddr, timeout: Duration, at_ms: f64) -> Outcome {
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
}

/// The JSON summary of a run; `outcomes` sorted by start time.
fn summary(
    outcomes: &[Outcome],
    kill_ms: Option<f64>,
    slow_ms: f64,
    start_unix: f64,
) -> serde_json::Value {
    let mut by_name: BTreeMap<String, (u64, f64, f64)> = Default::default();
    let mut failed = Vec::new();
    for o in outcomes {
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
    let settled_ms =
        kill_ms.map(|k| settled_after(outcomes, k, |o| o.name.is_none() || o.name != last_name));
    // Same, counting a connection as settled only when it was also served promptly
    // (within --slow-ms): a proxy that retries a dead main for a while lands on the backup
    // late.
    let prompt_ms = kill_ms.map(|k| {
        settled_after(outcomes, k, |o| {
            o.name.is_none() || o.name != last_name || o.latency_ms > slow_ms
        })
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
    json!({
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
    })
}

/// Among the connections started at or after `kill_ms`, the start of the first one after
/// the last `unsettled` one, minus `kill_ms` (0 when none is unsettled; the last one's
/// own start when it is the last connection of all).
fn settled_after(outcomes: &[Outcome], kill_ms: f64, unsettled: impl Fn(&Outcome) -> bool) -> f64 {
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.at_ms >= kill_ms).collect();
    match after.iter().rposition(|o| unsettled(o)) {
        None => 0.0,
        Some(i) => match after.get(i + 1) {
            Some(o) => round3(o.at_ms - kill_ms),
            None => round3(after[i].at_ms - kill_ms),
        },
    }
}
