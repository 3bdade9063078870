//! Reloads never stop or delay health checking: one cut short by its client, and a storm
//! of SIGHUPs while the main fails.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::*;

/// `POST /v1/reload` whose client goes away early, 21 times over, with 50 groups; then
/// the main dies: every group must still fail over (checks kept running, their reports
/// still counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_a_reload_cut_short_leaves_every_group_checked() {
    let (port, main, _backup) = http_stacks(MAIN, BACKUP);
    let checks = "kind = \"http\"\npath = \"/health\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 3";
    let names: Vec<String> = (0..50).map(|i| format!("g{i:02}")).collect();
    let mut config = header("");
    for name in &names {
        config += &pair_group(name, port, "", checks);
    }
    let f = Failoverd::start(&config).await;
    wait_all_active(&f, &names, "main", Duration::from_secs(20)).await;
    eventually(Duration::from_secs(20), "every target up", || async {
        let body = f.get("/v1/groups").await.1;
        let v = parse_json("groups", &body);
        let list = v["groups"].as_array()?.clone();
        list.iter()
            .all(|g| health(g, "main") == "up" && health(g, "backup") == "up")
            .then_some(())
    })
    .await;

    // The request is sent whole, then the client hangs up before the answer, after 60 ms
    // down to 0 ms: longer waits see whole reloads, shorter ones cut them at any step, the
    // last ones before they start. No whole reload comes after the cut ones.
    for delay_ms in (0..=60).rev().step_by(3) {
        let mut s = tokio::net::TcpStream::connect(f.admin)
            .await
            .expect("admin");
        let request = format!(
            "POST /v1/reload HTTP/1.1\r\nhost: {}\r\ncontent-length: 0\r\n\r\n",
            f.admin
        );
        s.write_all(request.as_bytes()).await.expect("send");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        drop(s);
        // Let that reload end before the next one starts.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually(Duration::from_secs(10), "a reload applied", || async {
        let scrape = f.metrics().await;
        (metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}").unwrap_or(0.0) >= 1.0)
            .then_some(())
    })
    .await;

    main.stop();
    wait_all_active(&f, &names, "backup", Duration::from_secs(15)).await;
}

/// A main failing its check while SIGHUP arrives every 0.5 s fails over within
/// fall x interval + timeout + 1 s, as without reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_a_reload_storm_does_not_delay_failover() {
    let (port, main, _backup) = http_stacks(MAIN, BACKUP);
    let checks = "kind = \"http\"\npath = \"/health\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nrise = 1\nfall = 2";
    let config = header("") + &pair_group("app", port, "", checks);
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;

    let storm = {
        let pid = f.pid() as i32;
        tokio::spawn(async move {
            // Bounded: at most 60 signals (30 s).
            for _ in 0..60 {
                // SAFETY: kill(2) with SIGHUP on the PID of the process this test started.
                unsafe { libc::kill(pid, libc::SIGHUP) };
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    // Let the storm run a few reloads first.
    eventually(Duration::from_secs(10), "three SIGHUP reloads", || async {
        let scrape = f.metrics().await;
        (metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}").unwrap_or(0.0) >= 3.0)
            .then_some(())
    })
    .await;
    main.health_status
        .store(500, std::sync::atomic::Ordering::Relaxed);
    let failing = Instant::now();
    f.wait_group("app", Duration::from_secs(30), "failover to backup", |g| {
        active(g) == ["backup"]
    })
    .await;
    let took = failing.elapsed();
    storm.abort();
    eprintln!(
        "failover under a SIGHUP every 0.5 s: {} ms",
        took.as_millis()
    );
    let bound = Duration::from_millis(2 * 1000 + 500 + 1000);
    assert!(
        took <= bound,
        "failover took {took:?} under a SIGHUP every 0.5 s; at most {bound:?} expected"
    );
    let scrape = f.metrics().await;
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"error\"}"),
        Some(0.0)
    );
}
