//! `failoverd demo`: a real failover on this machine, narrated.
//!
//! Two tiny HTTP stacks ("main" and "backup", each answering with its name) run on the
//! addresses of `config/demo.toml`; failoverd runs in this process on that config. The demo
//! sends requests through the proxy, stops the main stack, measures how long until the
//! backup answers (and how many requests failed), restores the main, and waits for the
//! failback. Everything is real sockets; nothing is simulated.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod stack;

use stack::Stack;

use crate::config::duration::show;
use crate::config::{Config, TargetAddress};
use crate::server;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const PHASE_LIMIT: Duration = Duration::from_secs(30);

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    // The demo starts fresh every time: its decisions go to a temporary state file.
    let state_dir = std::env::temp_dir().join(format!("failoverd-demo-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir).context("demo state directory")?;
    config.state.path = state_dir.join("demo.state");
    let result = narrate(config).await;
    let _ = std::fs::remove_dir_all(&state_dir);
    result
}

/// Who plays in the demo: the group, its two stacks, and where to reach things.
struct Scene {
    group: crate::config::GroupConfig,
    main: String,
    backup: String,
    main_addr: SocketAddr,
    backup_addr: SocketAddr,
    proxy: SocketAddr,
    admin: SocketAddr,
}

impl Scene {
    fn from_config(config: &Config) -> anyhow::Result<Scene> {
        let group = config
            .groups
            .first()
            .context("the demo config needs a group")?
            .clone();
        let listener = group
            .listeners
            .first()
            .context("the demo group needs a listener")?
            .clone();
        let (Some(main), Some(backup)) = (group.targets.first(), group.targets.get(1)) else {
            bail!("the demo group needs two targets")
        };
        let addr_of = |t: &crate::config::TargetConfig| match &t.address {
            TargetAddress::Ips(ips) => Ok(SocketAddr::new(ips[0], listener.target_port)),
            TargetAddress::Host(_) => bail!("demo targets must be IP addresses"),
        };
        Ok(Scene {
            main: main.name.clone(),
            backup: backup.name.clone(),
            main_addr: addr_of(main)?,
            backup_addr: addr_of(backup)?,
            proxy: listener.listen,
            admin: config.admin.listen,
            group,
        })
    }
}

async fn narrate(config: Config) -> anyhow::Result<()> {
    let sc = Scene::from_config(&config)?;
    say(&format!(
        "starting stack \"{}\" on {} and stack \"{}\" on {}",
        sc.main, sc.main_addr, sc.backup, sc.backup_addr
    ));
    let mut main_stack = Stack::start(&sc.main, sc.main_addr).await?;
    let backup_stack = Stack::start(&sc.backup, sc.backup_addr).await?;

    let bound = server::bind(&config)?;
    let (shutdown, kill) = (CancellationToken::new(), CancellationToken::new());
    let proxy_task = tokio::spawn(server::run(
        config.clone(),
        bound,
        Default::default(),
        shutdown.clone(),
        kill,
    ));
    say(&format!(
        "failoverd is proxying {} -> group \"{}\"",
        sc.proxy, sc.group.name
    ));

    say("waiting for the first health verdicts (rise = 2 good checks)...");
    let t = wait_group(sc.admin, &sc.group.name, PHASE_LIMIT, |g| {
        targets_up(g) == 2
    })
    .await?;
    say(&format!(
        "both stacks are up after {} ms; active: {}",
        t.as_millis(),
        sc.main
    ));
    for _ in 0..3 {
        say(&format!(
            "  GET http://{}/ -> {}",
            sc.proxy,
            request(sc.proxy).await?.trim()
        ));
    }

    let mut failed = failover(&sc, &mut main_stack).await?;
    failed += failback(&sc, &mut main_stack).await?;

    shutdown.cancel();
    proxy_task.await.context("proxy task")??;
    main_stack.stop().await;
    drop(backup_stack);
    if failed > 0 {
        bail!("{failed} requests failed during the demo");
    }
    say("done: a real failover and failback, and no client request failed");
    Ok(())
}

/// Stops the main stack and narrates the switch; returns the failed requests.
async fn failover(sc: &Scene, main_stack: &mut Stack) -> anyhow::Result<u32> {
    say(&format!(
        "stopping stack \"{}\" (its port now refuses connections)",
        sc.main
    ));
    main_stack.stop().await;
    let stopped = Instant::now();
    let first = wait_for(sc.proxy, &sc.backup, PHASE_LIMIT).await?;
    say(&format!(
        "  first connection served by \"{}\" {} ms after the stop (the proxy retries a refused connect on the next target)",
        sc.backup,
        first.elapsed.as_millis()
    ));
    let mut traffic = Traffic::start(sc.proxy);
    wait_group(sc.admin, &sc.group.name, PHASE_LIMIT, |g| {
        active(g) == [sc.backup.as_str()]
    })
    .await?;
    let (total, failed) = traffic.stop(first).await;
    say(&format!(
        "failover: the group switched to \"{}\" {} ms after the stop (fall = {} failed checks or refused connects); {failed} of {} requests failed",
        sc.backup,
        stopped.elapsed().as_millis(),
        sc.group.health.fall,
        total,
    ));
    Ok(failed)
}

/// Restores the main stack and narrates the failback after the hold; returns the failed
/// requests.
async fn failback(sc: &Scene, main_stack: &mut Stack) -> anyhow::Result<u32> {
    say(&format!(
        "restoring stack \"{}\"; failback waits failback_hold = {} after it is up",
        sc.main,
        show(sc.group.failback_hold)
    ));
    *main_stack = Stack::start(&sc.main, sc.main_addr).await?;
    let restored = Instant::now();
    let mut traffic = Traffic::start(sc.proxy);
    let up = wait_group(sc.admin, &sc.group.name, PHASE_LIMIT, |g| {
        targets_up(g) == 2
    })
    .await?;
    say(&format!(
        "  \"{}\" is up again after {} ms; traffic stays on \"{}\" during the hold",
        sc.main,
        up.as_millis(),
        sc.backup
    ));
    let limit = PHASE_LIMIT + sc.group.failback_hold;
    wait_group(sc.admin, &sc.group.name, limit, |g| {
        active(g) == [sc.main.as_str()]
    })
    .await?;
    let back = wait_for(sc.proxy, &sc.main, PHASE_LIMIT).await?;
    let (total, failed) = traffic.stop(back).await;
    say(&format!(
        "failback: \"{}\" serves again {} ms after it was restored; {failed} of {} requests failed",
        sc.main,
        restored.elapsed().as_millis(),
        total,
    ));
    Ok(failed)
}

fn say(line: &str) {
    println!("[demo] {line}");
}

struct Progress {
    elapsed: Duration,
    requests: u32,
    failed: u32,
}

/// Sends requests through the proxy until one is answered by `stack`.
async fn wait_for(proxy: SocketAddr, stack: &str, limit: Duration) -> anyhow::Result<Progress> {
    let started = Instant::now();
    let (mut requests, mut failed) = (0, 0);
    while started.elapsed() < limit {
        requests += 1;
        match request(proxy).await {
            Ok(body) if body.contains(&format!("from {stack}")) => {
                return Ok(Progress {
                    elapsed: started.elapsed(),
                    requests,
                    failed,
                })
            }
            Ok(_) => {}
            Err(_) => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "no answer from {stack} through {proxy} within {}s",
        limit.as_secs()
    )
}

/// Polls the admin API until the group satisfies `cond`; returns how long it took.
async fn wait_group(
    admin: SocketAddr,
    group: &str,
    limit: Duration,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(body) = get(admin, &format!("/v1/groups/{group}")).await {
            if serde_json::from_str(&body).is_ok_and(|g| cond(&g)) {
                return Ok(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!(
        "group {group} did not reach the expected state within {}s",
        limit.as_secs()
    )
}

fn targets_up(g: &serde_json::Value) -> usize {
    let targets = g["targets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    targets.iter().filter(|t| t["health"] == "up").count()
}

fn active(g: &serde_json::Value) -> Vec<&str> {
    g["active"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

/// Requests sent in the background (one every 20 ms) while the demo waits.
struct Traffic {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<(u32, u32)>,
}

impl Traffic {
    fn start(proxy: SocketAddr) -> Traffic {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while !token.is_cancelled() {
                match request(proxy).await {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (ok, failed)
        });
        Traffic { stop, task }
    }

    /// Stops sending; returns (requests, failed) of the phase: this traffic's and the
    /// probing requests' of `probe` together.
    async fn stop(&mut self, probe: Progress) -> (u32, u32) {
        self.stop.cancel();
        let (ok, failed) = (&mut self.task).await.unwrap_or((0, 0));
        (ok + failed + probe.requests, failed + probe.failed)
    }
}

/// One HTTP/1.1 GET with `Connection: close`; returns the body.
async fn request(addr: SocketAddr) -> anyhow::Result<String> {
    get(addr, "/").await
}

async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        anyhow::Ok(out)
    };
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .context("request timed out")??;
    let text = String::from_utf8_lossy(&raw);
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => bail!("bad response: {:?}", text.lines().next().unwrap_or("")),
    }
}
