//! Measures failover with the default health settings (tcp check every 1s, timeout 500ms,
//! rise 2, fall 2; connect_timeout 1s) for three ways a main can die, and prints the
//! figures. Run: `cargo test --test integration failover_timing -- --nocapture`.

use std::time::Duration;

use tokio::time::Instant;

use crate::failover::{refuse_between_requests, Client};
use crate::harness::*;

const DEFAULT_TCP: &str = "kind = \"tcp\"";
const DEFAULT_HTTP: &str = "kind = \"http\"\npath = \"/health\"";

struct Figures {
    first_backup: Duration,
    switched: Duration,
    failed: u32,
    served: usize,
}

/// Starts main and backup, waits until both are up, kills the main with `kill`, and
/// measures until the group has switched and a connection was served by the backup.
/// `Kill::Drop` puts the main in a network namespace of its own (needs root).
async fn measure(check: &str, per_request: Duration, kill: Kill) -> Figures {
    let (port, ns, main, _backup) = match kill {
        Kill::Drop => {
            let (port, ns, main, backup) = main_in_netns(BACKUP);
            (port, Some(ns), main, backup)
        }
        Kill::Refuse | Kill::Hang => {
            let (port, main, backup) = http_stacks(MAIN, BACKUP);
            (port, None, main, backup)
        }
    };
    let main_ip = ns
        .as_ref()
        .map_or(MAIN.to_string(), |ns| ns.inside_ip.to_string());
    let f = Failoverd::start(
        &two_stack_config(port, &main_ip, BACKUP, "", check)
            .replace("connect_timeout = \"300ms\"\n", ""),
    )
    .await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let client = Client::start(f.proxy("app"), per_request);
    client.wait_served_by("main", Instant::now()).await;
    let mut stopped = Instant::now();
    match (kill, &ns) {
        (Kill::Refuse, _) => stopped = refuse_between_requests(&client, &main).await,
        // A hung application: connections are accepted, nothing is ever answered.
        (Kill::Hang, _) => main.hang.store(true, std::sync::atomic::Ordering::Relaxed),
        (Kill::Drop, Some(ns)) => ns.drop_tcp_to(port),
        (Kill::Drop, None) => unreachable!("a dropping main lives in a namespace"),
    }
    f.wait_group("app", Duration::from_secs(20), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    let switched = stopped.elapsed();
    let first_backup = client.wait_served_by("backup", stopped).await - stopped;
    let (served, failed) = client.finish().await;
    Figures {
        first_backup,
        switched,
        failed,
        served,
    }
}

#[derive(Clone, Copy)]
enum Kill {
    Refuse,
    Hang,
    Drop,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_timing_with_default_settings() {
    let mut rows = Vec::new();
    let refusing = measure(DEFAULT_TCP, Duration::from_secs(5), Kill::Refuse).await;
    assert_eq!(
        refusing.failed, 0,
        "a refusing main must cost no connection"
    );
    rows.push(("refusing main (port closed), tcp check", refusing));
    if require(
        "root, ip and iptables for the dropped-packets case (a network namespace)",
        is_root() && has_command("ip") && has_command("iptables"),
    ) {
        let dropped = measure(DEFAULT_TCP, Duration::from_secs(5), Kill::Drop).await;
        assert_eq!(
            dropped.failed, 0,
            "connect timeouts are retried on the backup"
        );
        rows.push(("silent main (packets dropped), tcp check", dropped));
    }
    let hung = measure(DEFAULT_HTTP, Duration::from_secs(2), Kill::Hang).await;
    // Timing is what this test is about, so one bound stays: fall x interval + timeout is
    // 2.5 s, plus up to an interval of phase; 10 s leaves room for a loaded 2-core machine
    // and still fails a detection that waits for anything else (e.g. the 10 m idle timeout).
    assert!(
        hung.switched < Duration::from_secs(10),
        "hung main took {:?}",
        hung.switched
    );
    rows.push(("silent main (accepts, never answers), http check", hung));

    println!(
        "\n| how the main died | first connection on backup | group switched | failed / served |"
    );
    println!("|---|---|---|---|");
    for (what, f) in rows {
        println!(
            "| {what} | {} ms | {} ms | {} / {} |",
            f.first_backup.as_millis(),
            f.switched.as_millis(),
            f.failed,
            f.served
        );
    }
}
