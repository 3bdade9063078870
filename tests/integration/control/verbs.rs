//! The verbs that move traffic: switch (refused on a down target, forced), release,
//! failback of a manual group, and commit (the backup becomes the main), including commits
//! of a forced pin and while every target is down.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_switch_refuses_a_down_target_with_409_then_forces_it_and_releases() {
    // Hold 0s: after a release the rules return to main at once (main has been up for
    // less than the default 30s hold).
    let (_main, backup, f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    assert!(
        !f.log_lines_with(STARTUP_OPEN_API).is_empty(),
        "no start-up line saying the API is open without tokens"
    );
    let epoch0 = f.group("app").await["epoch"].as_u64().unwrap();

    // Switch to an up backup: pinned, live, and persisted before the answer.
    let g = post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    assert_eq!(g["name"], "app", "the answer is the group: {g}");
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(pinned(&g).as_deref(), Some("backup"));
    assert_eq!(g["last_change"]["cause"], "manual");
    assert_eq!(g["state"], "failed_over");
    assert_eq!(g["epoch"].as_u64().unwrap(), epoch0 + 1);
    let saved = saved_state(&f);
    assert_eq!(
        saved["groups"]["app"]["pin"], "backup",
        "state file: {saved}"
    );
    assert_eq!(
        saved["groups"]["app"]["active"],
        serde_json::json!(["backup"])
    );
    assert_eq!(saved["groups"]["app"]["epoch"].as_u64(), Some(epoch0 + 1));
    assert_eq!(proxied(f.proxy("app")).await, "hello from backup");

    // Release: the rules decide again (main is up).
    let g = post_ok(&f, "/v1/groups/app/release", "", None).await;
    assert_eq!((active(&g), pinned(&g)), (vec!["main".to_string()], None));
    assert_eq!(g["last_change"]["cause"], "manual");
    assert_eq!(saved_state(&f)["groups"]["app"]["pin"], Value::Null);
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let msg = post_err(&f, "/v1/groups/app/release", "", None, 409).await;
    assert!(msg.contains("not pinned"), "{msg}");

    // A down backup: refused with 409 and the reason, nothing changes.
    backup.health_status.store(503, Ordering::Relaxed);
    let before = f
        .wait_group("app", Duration::from_secs(5), "backup down", |g| {
            health(g, "backup") == "down"
        })
        .await;
    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup"}"#,
        None,
        409,
    )
    .await;
    assert!(msg.contains("down") && msg.contains("force"), "{msg}");
    let g = f.group("app").await;
    assert_eq!((active(&g), pinned(&g)), (vec!["main".to_string()], None));
    assert_eq!(
        g["epoch"], before["epoch"],
        "a refused switch changed the epoch"
    );

    // With force: pinned to the down backup, and it holds while the backup stays down.
    let g = post_ok(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup", "force": true}"#,
        None,
    )
    .await;
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(pinned(&g).as_deref(), Some("backup"));
    assert_eq!(health(&g, "backup"), "down");
    holds_for(
        Duration::from_secs(1),
        "forced pin on a down target",
        || async {
            let g = f.group("app").await;
            if active(&g) != ["backup"] || pinned(&g).as_deref() != Some("backup") {
                return Err(format!("pin lost: {g}"));
            }
            match proxied(f.proxy("app")).await.as_str() {
                "hello from backup" => Ok(()),
                other => Err(format!("served by {other}")),
            }
        },
    )
    .await;

    // Unknown target or group: 404.
    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "nope"}"#,
        None,
        404,
    )
    .await;
    assert_eq!(msg, "group \"app\" has no target \"nope\"");
    let msg = post_err(
        &f,
        "/v1/groups/nope/switch",
        r#"{"target": "main"}"#,
        None,
        404,
    )
    .await;
    assert_eq!(msg, "no group \"nope\"");

    let g = post_ok(&f, "/v1/groups/app/release", "", None).await;
    assert_eq!(active(&g), ["main"]);

    // Every command is an admin event with its actor ("local" without tokens), a refused one
    // with its error.
    let evs = events(&f, "?group=app", None).await;
    let switches = admin_events(&evs, "switch");
    assert_eq!(switches.len(), 4, "switch events: {switches:?}");
    assert!(switches.iter().all(|e| e["details"]["actor"] == "local"));
    assert!(
        switches.iter().any(|e| e["details"]["error"]
            .as_str()
            .is_some_and(|m| m.contains("force"))),
        "the refused switch is not in the history: {switches:?}"
    );
    assert_eq!(admin_events(&evs, "release").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_failback_returns_a_manual_group_to_the_recovered_main() {
    let (main, _backup, f) = stacks("failback = \"manual\"", HTTP_HEALTH).await;
    main.health_status.store(503, Ordering::Relaxed);
    let g = f
        .wait_group("app", Duration::from_secs(5), "failover to backup", |g| {
            active(g) == ["backup"]
        })
        .await;
    assert_eq!(g["last_change"]["cause"], "health");
    let msg = post_err(&f, "/v1/groups/app/failback", "", None, 409).await;
    assert!(
        msg.contains("already serves its best healthy tier"),
        "{msg}"
    );

    main.health_status.store(200, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "main up again", |g| {
        health(g, "main") == "up"
    })
    .await;
    holds_for(
        Duration::from_secs(1),
        "manual group stays on the backup",
        || async {
            let g = f.group("app").await;
            (active(&g) == ["backup"])
                .then_some(())
                .ok_or(format!("moved without an operator: {g}"))
        },
    )
    .await;

    let g = post_ok(&f, "/v1/groups/app/failback", "", None).await;
    assert_eq!(active(&g), ["main"]);
    assert_eq!(g["last_change"]["cause"], "failback");
    assert_eq!(g["state"], "primary");
    assert_eq!(pinned(&g), None);
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let msg = post_err(&f, "/v1/groups/app/failback", "", None, 409).await;
    assert!(msg.contains("already serves"), "{msg}");
    let msg = post_err(&f, "/v1/groups/nope/failback", "", None, 404).await;
    assert_eq!(msg, "no group \"nope\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commit_makes_the_backup_main_and_the_old_main_recovery_does_not_fail_back() {
    let (mut main, _backup, f) =
        stacks("failback = \"auto\"\nfailback_hold = \"0s\"", HTTP_HEALTH).await;
    let msg = post_err(&f, "/v1/groups/app/commit", "", None, 409).await;
    assert!(msg.contains("nothing to commit"), "{msg}");

    main.stop();
    f.wait_group("app", Duration::from_secs(5), "failover to backup", |g| {
        active(g) == ["backup"] && health(g, "main") == "down"
    })
    .await;
    let g = post_ok(&f, "/v1/groups/app/commit", "", None).await;
    assert_eq!(
        (priority(&g, "backup"), priority(&g, "main")),
        (1, 2),
        "{g}"
    );
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(g["state"], "primary", "the backup is the main now: {g}");
    assert_eq!(pinned(&g), None);
    let saved = saved_state(&f);
    let t = &saved["groups"]["app"]["targets"];
    assert_eq!(
        (&t["backup"]["priority"], &t["main"]["priority"]),
        (&1.into(), &2.into()),
        "state file: {saved}"
    );

    // The old main comes back: with auto failback and a 0s hold it would take traffic at
    // once, were it still the main.
    main.restart();
    f.wait_group("app", Duration::from_secs(5), "old main up again", |g| {
        health(g, "main") == "up"
    })
    .await;
    holds_for(
        Duration::from_millis(1500),
        "committed backup keeps traffic",
        || async {
            let g = f.group("app").await;
            if active(&g) != ["backup"] || priority(&g, "backup") != 1 || priority(&g, "main") != 2
            {
                return Err(format!("moved back: {g}"));
            }
            match proxied(f.proxy("app")).await.as_str() {
                "hello from backup" => Ok(()),
                other => Err(format!("served by {other}")),
            }
        },
    )
    .await;

    let evs = events(&f, "?group=app", None).await;
    let commits = admin_events(&evs, "commit");
    let ok = commits
        .iter()
        .find(|e| e["details"]["error"].is_null())
        .expect("commit event");
    assert_eq!(
        ok["details"]["priorities"],
        serde_json::json!({ "main": 2, "backup": 1 })
    );
}

// Regression (found by this test, since fixed): src/group/operate.rs `Machine::commit` rewrites priorities, clears the pin and sets
// the tier, but never re-evaluates. Committing a forced pin on a down backup leaves the
// group on the down backup with no pin, `state = "primary"`, while main is up: nothing
// re-decides until a verdict changes (and none will: backup stays down, main stays up; no
// failback deadline exists above priority 1). Expected: after the commit the rules decide
// again — the new main (backup) is down, so traffic goes to the up old main.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commit_of_a_forced_pin_on_a_down_target_lets_the_rules_decide() {
    let (_main, backup, f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    backup.health_status.store(503, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "backup down", |g| {
        health(g, "backup") == "down"
    })
    .await;
    post_ok(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup", "force": true}"#,
        None,
    )
    .await;
    let g = post_ok(&f, "/v1/groups/app/commit", "", None).await;
    assert_eq!((priority(&g, "backup"), priority(&g, "main")), (1, 2));
    assert_eq!(pinned(&g), None);
    let g = eventually(
        Duration::from_secs(3),
        "traffic to the up target after committing a down one",
        || async {
            let g = f.group("app").await;
            (active(&g) == ["main"]).then_some(g)
        },
    )
    .await;
    assert_eq!(g["state"], "failed_over", "{g}");
}

// Regression (found by this test, since fixed): same root cause (src/group/operate.rs `Machine::commit` sets `all_down = false` and
// does not re-evaluate): committing while every target is down (fail_static keeps the
// backup tier) makes the group report `state = "primary"` although no target is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commit_while_all_down_still_reports_all_down() {
    let (main, backup, f) = stacks("", HTTP_HEALTH).await;
    main.health_status.store(503, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    backup.health_status.store(503, Ordering::Relaxed);
    f.wait_group("app", Duration::from_secs(5), "all down", |g| {
        g["state"] == "all_down"
    })
    .await;
    let g = post_ok(&f, "/v1/groups/app/commit", "", None).await;
    assert_eq!(g["state"], "all_down", "after the commit: {g}");
    holds_for(Duration::from_millis(600), "still all down", || async {
        let g = f.group("app").await;
        (g["state"] == "all_down")
            .then_some(())
            .ok_or(format!("{g}"))
    })
    .await;
}
