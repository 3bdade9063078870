//! Decisions are durable: pins, commits, admin states and epochs come back after
//! `kill -9`, none acknowledged is lost when the kill lands amid a stream of commands, a
//! corrupt state file stops the start (`--fresh-state` moves it aside), and a decision that
//! cannot be persisted is refused.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::time::{timeout, Instant};

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_restart_after_kill_9_restores_pin_commit_admin_state_and_epoch() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let config = header("")
        + &pair_group("app", port, "", TCP_SLOW_VERDICT)
        + &pair_group("web", port, "", TCP_SLOW_VERDICT);
    let mut f = Failoverd::start(&config).await;
    for name in ["app", "web"] {
        f.wait_both_up(name, Duration::from_secs(10)).await;
    }
    // app: pinned to the backup. web: switched, committed, and its old main drained.
    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/commit", "", None).await;
    let web = post_ok(
        &f,
        "/v1/groups/web/targets/main/state",
        r#"{"state": "drain"}"#,
        None,
    )
    .await;
    let app = f.group("app").await;
    assert_eq!(pinned(&app).as_deref(), Some("backup"));
    assert_eq!((priority(&web, "backup"), priority(&web, "main")), (1, 2));
    let before_events = events(&f, "", None).await;

    f.signal("KILL");
    let status = f.wait_exit(Duration::from_secs(5)).await;
    assert!(!status.success(), "kill -9 exit status {status:?}");
    let f = f.restart(StartOptions::default()).await;

    // Right after the start, before any verdict: the persisted decisions serve.
    let g = f.group("app").await;
    assert_eq!(
        (health(&g, "main"), health(&g, "backup")),
        ("unknown".into(), "unknown".into()),
        "premise: no verdict yet: {g}"
    );
    assert_eq!(pinned(&g).as_deref(), Some("backup"), "{g}");
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(g["epoch"], app["epoch"]);
    let w = f.group("web").await;
    assert_eq!(
        (priority(&w, "backup"), priority(&w, "main")),
        (1, 2),
        "{w}"
    );
    assert_eq!(active(&w), ["backup"]);
    assert_eq!(pinned(&w), None);
    assert_eq!(admin_state(&w, "main"), "drain");
    assert_eq!(w["epoch"], web["epoch"]);
    assert_eq!(w["state"], "primary");
    assert_eq!(proxied(f.proxy("app")).await, "hello from backup");
    assert_eq!(proxied(f.proxy("web")).await, "hello from backup");

    // Verdicts arrive: the decisions hold.
    for name in ["app", "web"] {
        f.wait_both_up(name, Duration::from_secs(10)).await;
    }
    holds_for(
        Duration::from_millis(500),
        "decisions after verdicts",
        || async {
            let g = f.group("app").await;
            let w = f.group("web").await;
            let ok = active(&g) == ["backup"]
                && pinned(&g).as_deref() == Some("backup")
                && g["epoch"] == app["epoch"]
                && active(&w) == ["backup"]
                && w["epoch"] == web["epoch"];
            ok.then_some(()).ok_or(format!("app {g}\nweb {w}"))
        },
    )
    .await;

    // The history survived too, and goes on from there.
    let after = events(&f, "", None).await;
    for e in admin_events(&before_events, "commit") {
        assert!(after.contains(e), "lost event {e}");
    }
    let last_before = before_events.last().unwrap()["id"].as_u64().unwrap();
    let start = after
        .iter()
        .rfind(|e| e["kind"] == "start")
        .expect("start event");
    assert!(start["id"].as_u64().unwrap() > last_before);
    assert_eq!(start["details"]["resumed"], true);
}

/// Runs `failoverd run --config FILE ARGS` to its exit (bounded): (status, stderr).
async fn run_to_exit(
    config: &std::path::Path,
    args: &[&str],
) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn failoverd");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("failoverd did not exit within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_corrupt_state_file_stops_the_start_and_fresh_state_moves_it_aside() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let dir = tempfile::tempdir().unwrap();
    let config = two_stack_config(port, MAIN, BACKUP, "", HTTP_HEALTH);
    let config_path = dir.path().join("failoverd.toml");
    std::fs::write(
        &config_path,
        config.replace("{dir}", &dir.path().display().to_string()),
    )
    .unwrap();
    let state = dir.path().join("failoverd.state");
    let garbage = "{\"format\": 1, \"groups\": {\"app\": \u{0}garbage";
    std::fs::write(&state, garbage).unwrap();

    let (status, stderr) = run_to_exit(&config_path, &[]).await;
    assert!(
        !status.success(),
        "started on a corrupt state file: {stderr}"
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&state.display().to_string())
            && stderr.contains("corrupt")
            && stderr.contains("--fresh-state"),
        "the error must name the state file and --fresh-state: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        garbage,
        "the corrupt file was touched"
    );

    let f = Failoverd::start_with(
        &config,
        StartOptions {
            dir: Some(dir),
            run_args: vec!["--fresh-state".into()],
            ..Default::default()
        },
    )
    .await;
    // The listeners are logged before the state file is read: wait for the move.
    let aside = eventually(
        Duration::from_secs(5),
        "the corrupt file moved aside",
        || {
            let found: Vec<_> = std::fs::read_dir(f.dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("failoverd.state.corrupt-"))
                })
                .collect();
            async move { (!found.is_empty()).then_some(found) }
        },
    )
    .await;
    assert_eq!(aside.len(), 1, "moved-aside file: {aside:?}");
    eventually(
        Duration::from_secs(5),
        "a log line about --fresh-state",
        || {
            let warned = f.logs().iter().any(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("--fresh-state"))
            });
            async move { warned.then_some(()) }
        },
    )
    .await;
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), garbage);
    let g = f.wait_both_up("app", Duration::from_secs(5)).await;
    assert_eq!(
        (active(&g), g["epoch"].as_u64()),
        (vec!["main".into()], Some(0))
    );
    // Decisions are saved again in a fresh file.
    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    assert_eq!(saved_state(&f)["groups"]["app"]["pin"], "backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_a_decision_that_cannot_be_persisted_is_refused_and_changes_nothing() {
    let (_main, _backup, f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    let state = f.dir.path().join("failoverd.state");
    // A non-empty directory where the state file goes: the rename over it fails (even as
    // root).
    let _ = std::fs::remove_file(&state);
    std::fs::create_dir_all(state.join("blocker")).unwrap();
    let before = f.group("app").await;

    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "backup"}"#,
        None,
        500,
    )
    .await;
    assert!(msg.contains("cannot persist"), "{msg}");
    let g = f.group("app").await;
    assert_eq!((active(&g), pinned(&g)), (vec!["main".to_string()], None));
    assert_eq!(g["epoch"], before["epoch"]);
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let msg = post_err(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "maintenance"}"#,
        None,
        500,
    )
    .await;
    assert!(msg.contains("cannot persist"), "{msg}");
    assert_eq!(admin_state(&f.group("app").await, "main"), "enabled");
    // Not a decision: still works.
    post_ok(&f, "/v1/groups/app/disconnect", "", None).await;

    std::fs::remove_dir_all(&state).unwrap();
    let g = post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    assert_eq!(active(&g), ["backup"]);
    assert_eq!(saved_state(&f)["groups"]["app"]["pin"], "backup");
}

/// (epoch, pin) as a command's answer or the group shows it.
fn decision_of(g: &Value) -> (u64, Option<String>) {
    (g["epoch"].as_u64().expect("epoch"), pinned(g))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_kill_9_amid_a_stream_of_commands_loses_no_acknowledged_one() {
    let (_main, _backup, mut f) = stacks("failback_hold = \"0s\"", HTTP_HEALTH).await;
    for round in 0..3u64 {
        // Switch and release in turn as fast as the API answers; every answer is a new
        // epoch. Remember the last acknowledged decision.
        let admin = f.admin;
        let start_pinned = pinned(&f.group("app").await).is_some();
        let acked = std::sync::Arc::new(std::sync::Mutex::new((0u64, None)));
        let sink = acked.clone();
        let stream = tokio::spawn(async move {
            let mut pin_next = !start_pinned;
            for _ in 0..10_000 {
                let (path, body) = if pin_next {
                    ("/v1/groups/app/switch", r#"{"target": "backup"}"#)
                } else {
                    ("/v1/groups/app/release", "")
                };
                match http_post(admin, path, body, None).await {
                    Ok((200, text)) => {
                        let mut a = sink.lock().unwrap();
                        *a = (a.0 + 1, Some(decision_of(&parse_json(path, &text))));
                        pin_next = !pin_next;
                    }
                    // Killed: refused, or closed before (or while) answering.
                    Ok((0, _)) | Err(_) => return,
                    Ok((status, text)) => panic!("POST {path}: {status} {text}"),
                }
            }
        });
        // Let some commands through, a different number each round, then kill.
        eventually(Duration::from_secs(5), "commands acknowledged", || {
            let n = acked.lock().unwrap().0;
            async move { (n >= 3 + 7 * round).then_some(()) }
        })
        .await;
        f.signal("KILL");
        f.wait_exit(Duration::from_secs(5)).await;
        timeout(Duration::from_secs(10), stream)
            .await
            .expect("command stream ends once the process is gone")
            .expect("command stream");
        let (epoch, pin) = acked.lock().unwrap().1.clone().expect("acknowledged");

        f = f.restart(StartOptions::default()).await;
        let (got_epoch, got_pin) = decision_of(&f.group("app").await);
        // The last acknowledged decision, or the one in flight at the kill (persisted but
        // not yet answered); never an older one.
        let in_flight = (
            epoch + 1,
            if pin.is_some() {
                None
            } else {
                Some("backup".into())
            },
        );
        assert!(
            (got_epoch, got_pin.clone()) == (epoch, pin.clone())
                || (got_epoch, got_pin.clone()) == in_flight,
            "round {round}: acknowledged ({epoch}, {pin:?}), restored ({got_epoch}, {got_pin:?})"
        );
        f.wait_both_up("app", Duration::from_secs(5)).await;
    }
}
