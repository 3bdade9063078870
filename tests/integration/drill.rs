//! The drill end to end: a healthy group with a gate, a client connecting through the proxy
//! all along; `ctl drill` moves traffic to the backup through the gate, checks it through
//! failoverd's own DNS and proxy, holds, moves back, and reports; no client connection
//! fails. An unhealthy group is refused.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::ctl::ctl;
use crate::harness::*;

const CHECK: &str = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1";

const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "fo.test."
nameservers = [{ name = "ns1.fo.test.", addresses = ["127.0.0.1"] }]
"#;

const GATE: &str = r#"failback = "manual"

[[group.hook]]
name = "prepare"
stage = "before"
command = ["sh", "-c", "echo $TRIGGER $TO $CAUSE >> {dir}/gates.log; sleep 0.2"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_moves_checks_holds_and_comes_back_without_a_failed_connection() {
    let (port, main, _backup) = http_stacks(MAIN, BACKUP);
    let cfg = format!("{}{DNS}", two_stack_config(port, MAIN, BACKUP, GATE, CHECK));
    let f = Failoverd::start(&cfg).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;

    // A client through the proxy, one request after another, for the whole drill.
    let proxy = f.proxy("app");
    let (stop, served, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    );
    let client = {
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        tokio::spawn(async move {
            // Bounded: at most 2,000 requests.
            for _ in 0..2000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match http_get(proxy, "/").await {
                    Ok((200, _)) => served.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let out = ctl(&f, &["drill", "app", "--hold", "1s"]).await;
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();
    assert_eq!(out.code, Some(0), "{out:#?}");
    let report = &out.stdout;
    assert!(
        report.starts_with("drill of app to backup and back to main: ok\n"),
        "{report}"
    );
    for line in [
        "ok   switch ",
        "backup active, epoch 1",
        "ok   dns ",
        "app.fo.test. answers 127.0.0.3",
        "ok   proxy ",
        "ok   hold ",
        "ok   switch back ",
        "main active, epoch 2",
        "client connections that failed during the drill: 0",
    ] {
        assert!(report.contains(line), "{line:?} missing in\n{report}");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "client requests failed");
    assert!(served.load(Ordering::Relaxed) > 10);

    // Back where it was, unpinned; the gate ran both ways with cause drill.
    let g = f.group("app").await;
    assert_eq!(
        (g["state"].as_str(), active(&g)),
        (Some("primary"), vec!["main".to_string()])
    );
    assert!(g["pinned"].is_null(), "{g}");
    let gates = std::fs::read_to_string(f.dir.path().join("gates.log")).unwrap();
    assert_eq!(gates, "failover backup drill\nfailback main drill\n");
    let events = f.events().await;
    let drill = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "drill")
        .expect("a drill event");
    assert_eq!(drill["details"]["state"], "ok", "{drill}");
    let causes: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "transition")
        .map(|e| e["details"]["cause"].clone())
        .collect();
    assert_eq!(causes, ["drill", "drill"]);

    // Not from an unhealthy group.
    main.stop();
    f.wait_group("app", Duration::from_secs(10), "failed over", |g| {
        active(g) == ["backup"]
    })
    .await;
    let out = ctl(&f, &["drill", "app"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr
            .contains("409 Conflict: group \"app\" is not healthy (state failed_over)"),
        "{out:#?}"
    );
}
