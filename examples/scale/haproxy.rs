//! HAProxy's checks of the same N backends, measured like failoverd's steady checking.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::backends::{accept_and_close, free_port, BACKUP, MAIN};
use crate::procs::{steady, stop, Guard};
use crate::Cli;

/// HAProxy with the same N backends of two servers; CPU and RSS over the steady window,
/// after rise x interval + 2 s. The mains' listener is closed by now, so it is restarted.
pub async fn haproxy_checks(
    cli: &Cli,
    haproxy: &Path,
    dir: &Path,
    port: u16,
) -> Result<(f64, f64)> {
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
