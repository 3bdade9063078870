//! A main that refuses and serves by turns every 1-2 s, with clients going through the
//! proxy: at most one failover and one failback for the whole episode, never a ping-pong.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_a_flapping_main_fails_over_once_and_back_once() {
    let (port, mut main, _backup) = http_stacks(MAIN, BACKUP);
    let checks = "kind = \"http\"\npath = \"/health\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2";
    let extra = "failback = \"auto\"\nfailback_hold = \"5s\"";
    let config = header("") + &pair_group("app", port, extra, checks);
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let proxy = f.proxy("app");

    // Clients through the proxy all along (bounded: at most 2,000 requests).
    let (stop, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU32::new(0)),
    );
    let clients = {
        let (stop, failed) = (stop.clone(), failed.clone());
        tokio::spawn(async move {
            for _ in 0..2000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if http_get(proxy, "/").await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // 40 s of flapping (FLAP_SECS=60 for the README's figure): down 1-2 s, up 1-2 s, by
    // turns.
    let secs: u64 = std::env::var("FLAP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
        .min(300);
    let started = Instant::now();
    let mut seen_flapping = false;
    for cycle in 0u64.. {
        if started.elapsed() >= Duration::from_secs(secs) {
            break;
        }
        main.stop();
        tokio::time::sleep(Duration::from_millis(1000 + (cycle % 3) * 500)).await;
        main.restart();
        tokio::time::sleep(Duration::from_millis(1000 + ((cycle + 1) % 3) * 500)).await;
        let g = f.group("app").await;
        seen_flapping |= target(&g, "main")["flapping"] == true;
    }
    let during = f.events().await;
    let failovers = transitions(&during, "app", "health").len();
    let failbacks = transitions(&during, "app", "failback").len();
    eprintln!(
        "{secs} s of a main flapping every 1-2 s: {failovers} failover(s), {failbacks} failback(s)"
    );
    assert!(
        failovers <= 1,
        "{failovers} failovers while flapping: {during:?}"
    );
    assert_eq!(
        failbacks, 0,
        "a failback while the main still flapped: {during:?}"
    );
    assert!(seen_flapping, "the main was never shown flapping");

    // Stable at last: exactly one failback, after the hold.
    f.wait_group("app", Duration::from_secs(20), "failback to main", |g| {
        active(g) == ["main"]
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    clients.await.expect("clients");
    let after = f.events().await;
    assert_eq!(transitions(&after, "app", "failback").len(), 1, "{after:?}");
    assert!(transitions(&after, "app", "health").len() <= 1, "{after:?}");
}
