//! Measures failover with the default health settings (tcp check every 1s, timeout 500ms,
//! rise 2, fall 2; connect_timeout 1s) for three ways a main can die, and prints the
//! figures. Run: `cargo test --test integration failover_timing -- --nocapture`.

use std::time::Duration;

use tokio::time::Instant;

use crate::failover::{is_root, refuse_between_requests, Client, DropRule};
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
async fn measure(
    main_ip: &str,
    backup_ip: &str,
    check: &str,
    per_request: Duration,
    kill: Kill,
) -> Option<Figures> {
    let (port, main, _backup) = http_stacks(main_ip, backup_ip);
    let f = Failoverd::start(
        &two_stack_config(port, main_ip, backup_ip, "", check)
            .replace("connect_timeout = \"300ms\"\n", ""),
    )
    .await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let client = Client::start(f.proxy("app"), per_request);
    client.wait_served_by("main", Instant::now()).await;
    let port_s = port.to_string();
    let _rule;
    let mut stopped = Instant::now();
    match kill {
        Kill::Refuse => stopped = refuse_between_requests(&client, &main).await,
        // A hung application: connections are accepted, nothing is ever answered.
        Kill::Hang => main.hang.store(true, std::sync::atomic::Ordering::Relaxed),
        Kill::Drop => {
            _rule = DropRule::add(&[
                "INPUT", "-d", main_ip, "-p", "tcp", "--dport", &port_s, "-j", "DROP",
            ])?;
        }
    }
    f.wait_group("app", Duration::from_secs(20), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    let switched = stopped.elapsed();
    let first_backup = client.wait_served_by("backup", stopped).await - stopped;
    let (served, failed) = client.finish().await;
    Some(Figures {
        first_backup,
        switched,
        failed,
        served,
    })
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
    let refusing = measure(
        "127.0.0.2",
        "127.0.0.3",
        DEFAULT_TCP,
        Duration::from_secs(5),
        Kill::Refuse,
    )
    .await
    .unwrap();
    assert_eq!(
        refusing.failed, 0,
        "a refusing main must cost no connection"
    );
    rows.push(("refusing main (port closed), tcp check", refusing));
    if is_root() {
        match measure(
            "127.0.0.22",
            "127.0.0.23",
            DEFAULT_TCP,
            Duration::from_secs(5),
            Kill::Drop,
        )
        .await
        {
            Some(dropped) => {
                assert_eq!(
                    dropped.failed, 0,
                    "connect timeouts are retried on the backup"
                );
                rows.push(("silent main (packets dropped), tcp check", dropped));
            }
            None => eprintln!("SKIP dropped-packets case: iptables not available"),
        }
    } else {
        eprintln!("SKIP dropped-packets case: needs root");
    }
    let hung = measure(
        "127.0.0.32",
        "127.0.0.33",
        DEFAULT_HTTP,
        Duration::from_secs(2),
        Kill::Hang,
    )
    .await
    .unwrap();
    // fall x interval + timeout, plus phase and scheduling slack on a loaded 2-core machine.
    assert!(
        hung.switched < Duration::from_millis(2 * 1000 + 500 + 2 * 1000 + 1500),
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
