//! Failover end to end: real HTTP stacks on 127.0.0.2 (main) and 127.0.0.3 (backup), the
//! real binary in front, a client opening connections in a loop while the main dies.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::harness::*;

const FAST_TCP: &str = r#"kind = "tcp"
interval = "200ms"
timeout = "100ms"
rise = 2
fall = 2"#;

/// Opens one HTTP connection through the proxy after another until stopped, bounded in
/// count and time; records who answered and how many failed.
pub struct Client {
    stop: Arc<AtomicBool>,
    /// Held for reading by each request; `pause` takes it for writing.
    gate: Arc<tokio::sync::RwLock<()>>,
    served: Arc<Mutex<Vec<(Instant, String)>>>,
    failed: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    pub fn start(proxy: std::net::SocketAddr, per_request: Duration) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(AtomicU32::new(0));
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let (s, v, f, g) = (stop.clone(), served.clone(), failed.clone(), gate.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..20_000 {
                if s.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                let turn = g.read().await;
                match tokio::time::timeout(per_request, http_get(proxy, "/")).await {
                    Ok(Ok((200, body))) => v.lock().unwrap().push((Instant::now(), body)),
                    _ => {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(turn);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Client {
            stop,
            gate,
            served,
            failed,
            task,
        }
    }

    /// Waits for the request in flight to finish and holds the next until the guard is
    /// dropped.
    pub async fn pause(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }

    fn first_served_by(&self, name: &str, after: Instant) -> Option<Instant> {
        let want = format!("hello from {name}");
        self.served
            .lock()
            .unwrap()
            .iter()
            .find(|(t, b)| *t >= after && *b == want)
            .map(|(t, _)| *t)
    }

    pub async fn wait_served_by(&self, name: &str, after: Instant) -> Instant {
        eventually(
            Duration::from_secs(20),
            &format!("a connection served by {name}"),
            || async { self.first_served_by(name, after) },
        )
        .await
    }

    pub async fn finish(self) -> (usize, u32) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let n = self.served.lock().unwrap().len();
        (n, self.failed.load(Ordering::Relaxed))
    }
}

/// Closes the main's port between two requests of `client` and returns when it refuses.
/// Closing a listener resets the connections the kernel had queued on it: one of them
/// would be a connection accepted and then dropped by the main, not refused (no proxy can
/// replay a request its server dropped). Pausing keeps the scenario what it says.
pub async fn refuse_between_requests(client: &Client, main: &HttpStack) -> Instant {
    let paused = client.pause().await;
    main.stop_listening();
    let addr = main.addr;
    eventually(
        Duration::from_secs(5),
        "the main's port to refuse",
        || async move { refused_or_closed(addr).await.then_some(()) },
    )
    .await;
    drop(paused);
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_main_fails_over_with_zero_failed_connections_and_fails_back() {
    let (port, mut main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cfg = two_stack_config(
        port,
        "127.0.0.2",
        "127.0.0.3",
        "failback = \"auto\"\nfailback_hold = \"1s\"",
        FAST_TCP,
    );
    let f = Failoverd::start(&cfg).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let client = Client::start(f.proxy("app"), Duration::from_secs(5));
    client.wait_served_by("main", Instant::now()).await;

    // The main's listener stops: new connections are refused, requests in flight finish.
    // (A crash that also cuts open connections loses those requests; no proxy can save
    // a request its server dropped. Connections are what must not fail.)
    let stopped = refuse_between_requests(&client, &main).await;
    let g = f
        .wait_group("app", Duration::from_secs(10), "failover to backup", |g| {
            active(g) == ["backup"]
        })
        .await;
    assert_eq!(g["state"], "failed_over");
    assert_eq!(g["last_change"]["cause"], "health");
    assert_eq!(health(&g, "main"), "down");
    client.wait_served_by("backup", stopped).await;

    main.restart();
    let restarted = Instant::now();
    let g = f
        .wait_group("app", Duration::from_secs(15), "failback to main", |g| {
            active(g) == ["main"]
        })
        .await;
    assert!(
        restarted.elapsed() >= Duration::from_secs(1),
        "failback must wait the 1s hold"
    );
    assert_eq!(g["last_change"]["cause"], "failback");
    assert_eq!(g["epoch"], 2);
    client.wait_served_by("main", restarted).await;
    let (served, failed) = client.finish().await;
    assert_eq!(
        failed, 0,
        "no client connection may fail while a healthy target exists ({served} served)"
    );

    let transitions = f.log_lines_with("transition");
    assert_eq!(transitions.len(), 2, "{transitions:?}");
    assert_eq!(
        (
            &transitions[0]["from"],
            &transitions[0]["to"],
            &transitions[0]["cause"],
            &transitions[0]["epoch"]
        ),
        (
            &"main".into(),
            &"backup".into(),
            &"health".into(),
            &1.into()
        )
    );
    assert_eq!(transitions[1]["cause"], "failback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_failback_keeps_traffic_on_backup() {
    let (port, mut main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cfg = two_stack_config(
        port,
        "127.0.0.2",
        "127.0.0.3",
        "failback = \"manual\"\nfailback_hold = \"200ms\"",
        FAST_TCP,
    );
    let f = Failoverd::start(&cfg).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    main.stop();
    f.wait_group("app", Duration::from_secs(10), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    main.restart();
    f.wait_group("app", Duration::from_secs(10), "main up again", |g| {
        health(g, "main") == "up"
    })
    .await;
    // Watch for several times the hold: traffic must stay on the backup.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let g = f.group("app").await;
        assert_eq!(
            active(&g),
            ["backup"],
            "manual failback must not return to main by itself"
        );
        let (_, body) = http_get(f.proxy("app"), "/").await.unwrap();
        assert_eq!(body, "hello from backup");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A listener that completes handshakes (the kernel's backlog) but never accepts or
/// answers: the classic hung main. Only the check timeout can find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_main_is_detected_by_the_check_timeout() {
    let (silent, b) = same_port_pair("127.0.0.2", "127.0.0.3");
    let port = silent.local_addr().unwrap().port();
    let _backup = HttpStack::start("backup", b);
    let check = "kind = \"http\"\npath = \"/health\"\ninterval = \"300ms\"\ntimeout = \"200ms\"\nrise = 1\nfall = 2";
    let cfg = two_stack_config(port, "127.0.0.2", "127.0.0.3", "", check);
    let f = Failoverd::start(&cfg).await;
    let g = f
        .wait_group(
            "app",
            Duration::from_secs(20),
            "silent main detected",
            |g| active(g) == ["backup"],
        )
        .await;
    assert_eq!(health(&g, "main"), "down");
    // Found by the check timeout (the kernel completes the handshake; nothing answers).
    // (The log's `target` field is the module; the detail names the address.)
    let timed_out = format!("127.0.0.2:{port}: timeout after 200ms");
    // The harness reads the log on a thread of its own: the line may come after the API.
    eventually(Duration::from_secs(5), "the timeout logged", || async {
        let down = f.log_lines_with("target down");
        down.iter()
            .any(|l| l["detail"] == timed_out.as_str())
            .then_some(())
    })
    .await;
    for _ in 0..20 {
        let (status, body) = http_get(f.proxy("app"), "/").await.unwrap();
        assert_eq!((status, body.as_str()), (200, "hello from backup"));
    }
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_status_and_body_decide_health() {
    let (port, main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let check = "kind = \"http\"\npath = \"/health\"\nbody = \"ok\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1";
    let cfg = two_stack_config(
        port,
        "127.0.0.2",
        "127.0.0.3",
        "failback_hold = \"0s\"",
        check,
    );
    let f = Failoverd::start(&cfg).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;

    main.health_status.store(503, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "503 marks main down", |g| {
        health(g, "main") == "down" && active(g) == ["backup"]
    })
    .await;
    main.health_status.store(200, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "200 brings main back", |g| {
        active(g) == ["main"]
    })
    .await;

    *main.health_body.lock().unwrap() = "degraded".into();
    f.wait_group(
        "app",
        Duration::from_secs(5),
        "body mismatch marks main down",
        |g| health(g, "main") == "down" && active(g) == ["backup"],
    )
    .await;
    // The harness reads the log on a thread of its own: the lines may come after the API.
    let logged = |text: &'static str| {
        let f = &f;
        async move {
            let down = f.log_lines_with("target down");
            down.iter()
                .any(|l| l["detail"].as_str().unwrap_or("").contains(text))
                .then_some(())
        }
    };
    eventually(Duration::from_secs(5), "the 503 logged", || {
        logged("status 503 not in 200-399")
    })
    .await;
    eventually(Duration::from_secs(5), "the body mismatch logged", || {
        logged("body does not contain \"ok\"")
    })
    .await;
}

/// Packets to the main dropped (no RST, no answer): connects time out. The main lives in
/// a network namespace of the test's own, with the DROP rule inside it: the host's rules
/// are never touched. Needs root, `ip` and `iptables`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_behind_dropped_packets_fails_over_without_failed_connections() {
    if !require(
        "root, ip and iptables (a network namespace with a DROP rule)",
        is_root() && has_command("ip") && has_command("iptables"),
    ) {
        return;
    }
    let (port, ns, _main, _backup) = main_in_netns(BACKUP);
    let inside = ns.inside_ip.to_string();
    let cfg = two_stack_config(port, &inside, BACKUP, "", FAST_TCP);
    let f = Failoverd::start(&cfg).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let client = Client::start(f.proxy("app"), Duration::from_secs(5));
    client.wait_served_by("main", Instant::now()).await;
    ns.drop_tcp_to(port);
    let dropped = Instant::now();
    let g = f
        .wait_group(
            "app",
            Duration::from_secs(20),
            "failover on dropped packets",
            |g| active(g) == ["backup"],
        )
        .await;
    assert_eq!(health(&g, "main"), "down");
    assert_eq!(g["last_change"]["cause"], "health");
    client.wait_served_by("backup", dropped).await;
    let (served, failed) = client.finish().await;
    assert_eq!(
        failed, 0,
        "connect timeouts must be retried on the backup ({served} served)"
    );
}
