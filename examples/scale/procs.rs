//! The processes the bench starts: their CPU and RSS from /proc, and stopping them by PID.

use std::process::Child;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::time::Instant;

/// utime + stime of a process in seconds, and its RSS in KiB.
pub fn cpu_and_rss(pid: u32) -> Result<(f64, u64)> {
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
pub fn steady(pid: u32, secs: u64) -> Result<(f64, f64)> {
    let (c0, _) = cpu_and_rss(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, rss) = cpu_and_rss(pid)?;
    Ok((
        (c1 - c0) / t0.elapsed().as_secs_f64() * 100.0,
        rss as f64 / 1024.0,
    ))
}

/// Stops a child by PID: SIGTERM, then SIGKILL after 5 s.
pub fn stop(child: &mut Child) {
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
pub struct Guard(pub Child);
impl Drop for Guard {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}
