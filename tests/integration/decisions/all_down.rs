//! All down under the default policy (fail_static): entering it and leaving it are events,
//! hook triggers and a metric; and planned work (drain) is cause `admin`, not `health`.

use std::time::Duration;

use super::*;

const TCP_FAST: &str =
    "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_all_down_and_recovered_run_their_hooks_under_fail_static() {
    let (port, mut main, backup) = http_stacks(MAIN, BACKUP);
    let extra = r#"failback_hold = "1h"

[[group.hook]]
name = "alert"
on = ["all_down", "recovered"]
command = ["sh", "-c", "echo $TRIGGER $CAUSE $EPOCH >> {dir}/alerts.log"]"#;
    let config = header("") + &pair_group("app", port, extra, TCP_FAST);
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let log = f.dir.path().join("alerts.log");

    main.stop();
    backup.stop();
    let g = f
        .wait_group("app", Duration::from_secs(10), "all down", |g| {
            g["state"] == "all_down"
        })
        .await;
    assert_eq!(
        active(&g).len(),
        1,
        "fail_static keeps serving the last tier: {g}"
    );
    let text = eventually(Duration::from_secs(10), "the all_down hook", || async {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("all_down"))
    })
    .await;
    assert!(text.starts_with("all_down health "), "{text}");
    let scrape = f.metrics().await;
    for (state, value) in [("all_down", 1.0), ("failed_over", 0.0), ("primary", 0.0)] {
        let series = format!("failoverd_group_state{{group=\"app\",state=\"{state}\"}}");
        assert_eq!(metric(&scrape, &series), Some(value), "{series}: {scrape}");
    }

    main.restart();
    f.wait_group("app", Duration::from_secs(10), "recovered on main", |g| {
        g["state"] == "primary" && active(g) == ["main"]
    })
    .await;
    let text = eventually(Duration::from_secs(10), "the recovered hook", || async {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("recovered"))
    })
    .await;
    assert_eq!(text.lines().count(), 2, "{text}");
    // The hook's line is in the file before its run is in the history: wait for both runs.
    let evs = eventually(
        Duration::from_secs(10),
        "both hook runs recorded",
        || async {
            let evs = f.events().await;
            (evs.iter().filter(|e| e["kind"] == "hook").count() >= 2).then_some(evs)
        },
    )
    .await;
    let kinds: Vec<&str> = evs
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| *k == "all_down" || *k == "recovered")
        .collect();
    assert_eq!(kinds, ["all_down", "recovered"], "{evs:?}");
    let hooks: Vec<_> = evs.iter().filter(|e| e["kind"] == "hook").collect();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert!(
        hooks.iter().all(|h| h["details"]["ok"] == true),
        "{hooks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_drain_and_enable_are_cause_admin() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let config = header("") + &pair_group("app", port, "failback_hold = \"0s\"", TCP_FAST);
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    for state in ["drain", "enabled"] {
        let body = format!("{{\"state\": \"{state}\"}}");
        let (status, text) = f
            .post("/v1/groups/app/targets/main/state", &body, None)
            .await;
        assert_eq!(status, 200, "{text}");
    }
    let evs = f.events().await;
    let admin = transitions(&evs, "app", "admin");
    assert_eq!(admin.len(), 2, "drain and enable: {evs:?}");
    assert!(transitions(&evs, "app", "health").is_empty(), "{evs:?}");
    let scrape = f.metrics().await;
    assert_eq!(
        metric(
            &scrape,
            "failoverd_transitions_total{group=\"app\",cause=\"admin\"}"
        ),
        Some(2.0),
        "{scrape}"
    );
}
