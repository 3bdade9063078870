//! `failoverd demo`: a real failover on this machine, narrated.
//!
//! Two tiny HTTP stacks ("main" and "backup", each answering with its name) run on the
//! addresses of `config/demo.toml`; failoverd runs in this process on that config. The demo
//! sends requests through the proxy, stops the main stack, measures how long until the
//! backup answers (and how many requests failed), restores the main, and waits for the
//! failback. Everything is real sockets; nothing is simulated.
//!
//! To run beside anything else (tests, a busy machine), give it a config whose listeners
//! are `:0` and `--stack-port 0`: every socket is then bound on a port the kernel picks,
//! and the narration prints the addresses bound.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod stack;

use stack::Stack;

use crate::config::duration::show;
use crate::config::{Config, GroupConfig, TargetAddress, TargetConfig};
use crate::server;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const PHASE_LIMIT: Duration = Duration::from_secs(30);

/// How the demo runs beyond its config.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// The port of both stacks, instead of the group's `target_port`; 0: one the kernel
    /// picks that is free on both stack addresses.
    pub stack_port: Option<u16>,
}

pub async fn run(mut config: Config, options: Options) -> anyhow::Result<()> {
    // The demo starts fresh every time: its decisions go to a temporary state file.
    let state_dir = std::env::temp_dir().join(format!("failoverd-demo-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir).context("demo state directory")?;
    config.state.path = state_dir.join("demo.state");
    let result = narrate(config, options).await;
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
    /// The demo's group (the first), its main and backup (the first two targets) on the
    /// stacks' addresses, and the addresses failoverd bound.
    fn new(
        group: &GroupConfig,
        stacks: [&Stack; 2],
        bound: &server::Bound,
    ) -> anyhow::Result<Scene> {
        let (main, backup) = demo_targets(group)?;
        let proxy = bound
            .proxies
            .iter()
            .find(|(g, l, _)| (*g, *l) == (0, 0))
            .context("the demo group's listener is bound")?
            .2
            .local_addr()?;
        Ok(Scene {
            main: main.name.clone(),
            backup: backup.name.clone(),
            main_addr: stacks[0].addr,
            backup_addr: stacks[1].addr,
            proxy,
            admin: bound.admin.local_addr()?,
            group: group.clone(),
        })
    }
}

/// The first two targets of the demo group, main and backup.
fn demo_targets(group: &GroupConfig) -> anyhow::Result<(&TargetConfig, &TargetConfig)> {
    match (group.targets.first(), group.targets.get(1)) {
        (Some(main), Some(backup)) => Ok((main, backup)),
        _ => bail!("the demo group needs two targets"),
    }
}

fn target_ip(t: &TargetConfig) -> anyhow::Result<IpAddr> {
    match &t.address {
        TargetAddress::Ips(ips) => ips.first().copied().context("a target has an address"),
        TargetAddress::Host(_) => bail!("demo targets must be IP addresses"),
    }
}

/// Starts both stacks on `stack_port` (or the group's `target_port`), and points the
/// group at the port they got: every listener's `target_port`, and the health check's
/// port where it was the listeners' (the config's default).
fn start_stacks(
    group: &mut GroupConfig,
    stack_port: Option<u16>,
) -> anyhow::Result<(Stack, Stack)> {
    let configured = group
        .listeners
        .first()
        .context("the demo group needs a listener")?
        .target_port;
    let (main, backup) = demo_targets(group)?;
    let (main, backup) = (
        (main.name.as_str(), target_ip(main)?),
        (backup.name.as_str(), target_ip(backup)?),
    );
    let stacks = Stack::pair(main, backup, stack_port.unwrap_or(configured))?;
    let port = stacks.0.addr.port();
    if group.health.port == configured {
        group.health.port = port;
    }
    for l in &mut group.listeners {
        l.target_port = port;
    }
    Ok(stacks)
}

async fn narrate(mut config: Config, options: Options) -> anyhow::Result<()> {
    let group = Arc::make_mut(
        config
            .groups
            .first_mut()
            .context("the demo config needs a group")?,
    );
    let (mut main_stack, backup_stack) = start_stacks(group, options.stack_port)?;
    let bound = server::bind(&config)?;
    let sc = Scene::new(&config.groups[0], [&main_stack, &backup_stack], &bound)?;
    say(&format!(
        "started stack \"{}\" on {} and stack \"{}\" on {}",
        sc.main, sc.main_addr, sc.backup, sc.backup_addr
    ));
    if let Some(dns) = &config.dns {
        for l in &bound.dns {
            say(&format!("DNS for zone {} on {}", dns.zone, l.addr));
        }
    }
    say(&format!("admin API on {}", sc.admin));
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
        "failover: the group switched to \"{}\" {} ms after the stop (fall = {} failed checks, or {} refused client connects within {}); {failed} of {} requests failed",
        sc.backup,
        stopped.elapsed().as_millis(),
        sc.group.health.fall,
        sc.group.health.passive_fall,
        crate::config::duration::show(sc.group.health.passive_window),
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
    main_stack.restart()?;
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
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
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
