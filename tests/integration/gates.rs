//! Runbook gates end to end: `stage = "before"` hooks (real commands) hold a decided switch
//! (state `switching`, the gate running shown) until they pass; a failing gate leaves
//! traffic where it was (`switch_failed`, the reason, an alert hook), `ctl retry` runs
//! them again, `ctl switch --force` moves without them, and a held switch survives a
//! `kill -9` of failoverd.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::ctl::ctl;
use crate::harness::*;

const CHECK: &str = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1";

/// A gate `promote` that logs its run, waits while `{dir}/slow` exists, and passes only
/// while `{dir}/allow` exists; an after-hook that logs `switch_failed`.
fn gated_group(failback: &str) -> String {
    format!(
        r#"failback = "{failback}"
failback_hold = "0s"

[[group.hook]]
name = "promote"
stage = "before"
command = ["sh", "-c", "echo $TRIGGER $FROM $TO $EPOCH >> {{dir}}/gates.log; while test -e {{dir}}/slow; do sleep 0.05; done; sleep 0.3; test -e {{dir}}/allow"]
timeout = "20s"

[[group.hook]]
name = "alert"
on = ["switch_failed"]
command = ["sh", "-c", "echo $TRIGGER $TO >> {{dir}}/alerts.log"]
"#
    )
}

async fn start(failback: &str) -> (Failoverd, HttpStack, HttpStack) {
    let (port, main, backup) = http_stacks(MAIN, BACKUP);
    let cfg = two_stack_config(port, MAIN, BACKUP, &gated_group(failback), CHECK);
    let f = Failoverd::start(&cfg).await;
    f.wait_group(
        "app",
        Duration::from_secs(10),
        "both up, main active",
        |g| health(g, "main") == "up" && health(g, "backup") == "up" && active(g) == ["main"],
    )
    .await;
    (f, main, backup)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

async fn wait_state(f: &Failoverd, state: &str, limit: Duration) -> Value {
    f.wait_group("app", limit, &format!("state {state}"), |g| {
        g["state"] == state
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_hold_a_failover_and_a_failed_gate_keeps_traffic_until_retried() {
    let (f, main, _backup) = start("manual").await;
    let dir = f.dir.path().to_path_buf();
    std::fs::write(dir.join("slow"), "").unwrap();
    main.stop();
    // Switching: the gate runs, traffic has not moved, and it shows.
    let g = wait_state(&f, "switching", Duration::from_secs(5)).await;
    assert_eq!(active(&g), ["main"], "traffic waits for the gates: {g}");
    let g = f
        .wait_group("app", Duration::from_secs(5), "the gate shown", |g| {
            g["switch"]["step"]["hook"] == "promote"
        })
        .await;
    assert_eq!(g["switch"]["to"], serde_json::json!(["backup"]), "{g}");
    assert_eq!(g["switch"]["cause"], "health");
    let status = ctl(&f, &["status", "app"]).await;
    assert!(
        status.stdout.contains(
            "failover processing: to backup (health), gate promote (1 of 1, try 1) running for"
        ),
        "{}",
        status.stdout
    );
    // The proxy does not reach the unprepared backup meanwhile.
    assert!(
        http_get(f.proxy("app"), "/").await.map(|r| r.0).ok() != Some(200),
        "a connection reached the backup before the gates passed"
    );

    // No `allow`: the gate fails, traffic stays, the alert hook hears it.
    std::fs::remove_file(dir.join("slow")).unwrap();
    let g = wait_state(&f, "switch_failed", Duration::from_secs(5)).await;
    assert_eq!(active(&g), ["main"]);
    let reason = g["switch"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.starts_with("gate promote failed (1 of 1, 1 try): exit 1"),
        "{g}"
    );
    eventually(Duration::from_secs(5), "the alert hook ran", || async {
        (read(&dir, "alerts.log") == "switch_failed backup\n").then_some(())
    })
    .await;
    let status = ctl(&f, &["status", "app"]).await;
    assert!(
        status
            .stdout
            .contains("SWITCH FAILED to backup (health): gate promote failed"),
        "{}",
        status.stdout
    );

    // Fixed, retried: the switch happens, with the epoch the gates were told.
    std::fs::write(dir.join("allow"), "").unwrap();
    let out = ctl(&f, &["retry", "app"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let g = wait_state(&f, "failed_over", Duration::from_secs(5)).await;
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(g["epoch"], 1);
    assert!(g["switch"].is_null(), "{g}");
    assert_eq!(
        read(&dir, "gates.log"),
        "failover main backup 1\nfailover main backup 1\n"
    );
    let (status, body) = http_get(f.proxy("app"), "/").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "hello from backup"));
    let kinds: Vec<String> = f
        .events()
        .await
        .iter()
        .filter(|e| e["group"] == "app")
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .filter(|k| ["switching", "gate", "switch_failed", "transition"].contains(&k.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            "switching",
            "gate",
            "switch_failed",
            "switching",
            "gate",
            "transition"
        ],
        "the history tells the runbook"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_switch_survives_a_restart_and_force_moves_without_gates() {
    let (f, _main, _backup) = start("auto").await;
    let dir = f.dir.path().to_path_buf();
    std::fs::write(dir.join("allow"), "").unwrap();
    std::fs::write(dir.join("slow"), "").unwrap();
    let out = ctl(&f, &["switch", "app", "backup"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    wait_state(&f, "switching", Duration::from_secs(5)).await;
    // Killed while the gate runs: the held switch is in the state file, and its gates
    // run again after the restart.
    let dir_kept = f.kill_keep_dir();
    let opts = StartOptions {
        dir: Some(dir_kept),
        ..Default::default()
    };
    let cfg_path = dir.join("failoverd.toml");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    let f = Failoverd::start_with(&cfg, opts).await;
    let g = f.group("app").await;
    assert_eq!(
        (g["state"].as_str(), active(&g)),
        (Some("switching"), vec!["main".to_string()])
    );
    std::fs::remove_file(dir.join("slow")).unwrap();
    let g = wait_state(&f, "failed_over", Duration::from_secs(10)).await;
    assert_eq!(
        (active(&g), g["pinned"].as_str()),
        (vec!["backup".to_string()], Some("backup"))
    );
    assert_eq!(
        read(&dir, "gates.log").lines().count(),
        2,
        "ran again after the restart"
    );

    // Back to the main: the gates fail; --force moves at once without them.
    std::fs::remove_file(dir.join("allow")).unwrap();
    let out = ctl(&f, &["release", "app"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    wait_state(&f, "switch_failed", Duration::from_secs(5)).await;
    let out = ctl(&f, &["switch", "app", "main", "--force"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let g = f.group("app").await;
    assert_eq!(
        (g["state"].as_str(), active(&g)),
        (Some("primary"), vec!["main".to_string()])
    );
    assert!(g["switch"].is_null(), "{g}");
}
