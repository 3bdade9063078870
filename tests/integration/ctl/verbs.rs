//! Every ctl verb against a live failoverd: status (table and JSON), switch (refused,
//! forced), release, drain, maintenance, enable, failback, disconnect, commit, events and
//! reload, with what each prints on success and on refusal.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_switch_release_and_refusals() {
    let (f, _main, backup) = start_two_stacks("failback_hold = \"0s\"", "", None).await;

    let out = ctl(&f, &["status"]).await.ok();
    let table = out.stdout.as_str();
    assert_eq!(
        words(table.lines().next().unwrap()),
        ["GROUP", "STATE", "EPOCH", "ACTIVE", "FAILBACK", "LAST", "CHANGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("app    primary  0      main"),
        "{table}"
    );
    assert_eq!(
        words(target_line(table, "main")),
        [
            "main",
            "127.0.0.2",
            "priority",
            "1",
            "up",
            "enabled",
            "active",
            "0",
            "sessions"
        ]
    );
    assert_eq!(
        words(target_line(table, "backup")),
        [
            "backup",
            "127.0.0.3",
            "priority",
            "2",
            "up",
            "enabled",
            "idle",
            "0",
            "sessions"
        ]
    );

    let g = ctl(&f, &["status", "app", "--json"]).await.ok().json();
    assert_eq!(
        (&g["name"], &g["state"]),
        (&"app".into(), &"primary".into())
    );
    assert_eq!(active(&g), ["main"]);
    assert_eq!(target(&g, "backup")["health"], "up");
    let all = ctl(&f, &["--json", "status"]).await.ok().json();
    assert_eq!(all["groups"][0]["name"], "app");

    let out = ctl(&f, &["switch", "app", "backup"]).await.ok();
    assert!(
        out.stdout.starts_with(
            "app: switched to backup; active: backup, epoch 1, state failed_over, pinned to backup"
        ),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["backup".to_string()], &"backup".into())
    );
    let table = ctl(&f, &["status", "app"]).await.ok().stdout;
    assert!(table.contains(" backup (pinned) "), "{table}");
    assert_eq!(words(target_line(&table, "main"))[6], "idle");

    let out = ctl(&f, &["release", "app"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: released the pin; active: main"),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["main".to_string()], &Value::Null)
    );

    let out = ctl(&f, &["switch", "app", "nope"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 404 Not Found: group \"app\" has no target \"nope\"\n"
    );
    let out = ctl(&f, &["status", "nope"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 404 Not Found: no group \"nope\"\n"
    );

    backup.stop();
    f.wait_group("app", Duration::from_secs(10), "backup down", |g| {
        health(g, "backup") == "down"
    })
    .await;
    let out = ctl(&f, &["switch", "app", "backup"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 409 Conflict: target is down; use --force (API: \"force\": true) to switch to it anyway\n"
    );
    assert_eq!(active(&f.group("app").await), ["main"]);
    let out = ctl(&f, &["switch", "app", "backup", "--force"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: switched to backup (forced); active: backup"),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["backup".to_string()], &"backup".into())
    );
    let table = ctl(&f, &["status"]).await.ok().stdout;
    assert_eq!(
        words(target_line(&table, "backup"))[4..7],
        ["down", "enabled", "active"]
    );

    // Without [cluster], `ctl cluster` says this instance decides alone.
    let out = ctl(&f, &["cluster"]).await.ok();
    assert_eq!(
        out.stdout,
        "no [cluster]: this instance decides alone (its state file)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_states_failback_commit_events_reload() {
    let (f, _main, _backup) = start_two_stacks("failback = \"manual\"", "", None).await;

    let out = ctl(&f, &["drain", "app", "main"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: target main set to drain; active: backup"),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (target(&g, "main")["admin_state"].as_str(), active(&g)),
        (Some("drain"), vec!["backup".into()])
    );
    let table = ctl(&f, &["status"]).await.ok().stdout;
    assert_eq!(
        words(target_line(&table, "main"))[4..7],
        ["up", "drain", "idle"]
    );

    ctl(&f, &["enable", "app", "main"]).await.ok();
    assert_eq!(
        target(&f.group("app").await, "main")["admin_state"],
        "enabled"
    );
    let out = ctl(&f, &["maintenance", "app", "main"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: target main set to maintenance; active: backup"),
        "{out:#?}"
    );
    assert_eq!(
        target(&f.group("app").await, "main")["admin_state"],
        "maintenance"
    );
    ctl(&f, &["enable", "app", "main"]).await.ok();

    // failback = "manual": the enabled main waits for an operator.
    let g = f.group("app").await;
    assert_eq!(
        (target(&g, "main")["admin_state"].as_str(), active(&g)),
        (Some("enabled"), vec!["backup".into()])
    );
    let out = ctl(&f, &["failback", "app"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: failed back to the best healthy tier; active: main"),
        "{out:#?}"
    );
    assert_eq!(active(&f.group("app").await), ["main"]);
    let out = ctl(&f, &["failback", "app"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 409 Conflict: group already serves its best healthy tier\n"
    );

    let out = ctl(&f, &["disconnect", "app"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: closed 0 proxied sessions; active: main"),
        "{out:#?}"
    );

    ctl(&f, &["switch", "app", "backup"]).await.ok();
    let out = ctl(&f, &["commit", "app"]).await.ok();
    assert!(
        out.stdout.starts_with(
            "app: committed the active tier as the new main (priorities: backup 1, main 2); active: backup"
        ),
        "{out:#?}"
    );
    let g = ctl(&f, &["status", "app", "--json"]).await.ok().json();
    assert_eq!(
        (
            &target(&g, "backup")["priority"],
            &target(&g, "main")["priority"]
        ),
        (&1.into(), &2.into())
    );
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["backup".to_string()], &Value::Null)
    );
    let table = ctl(&f, &["status"]).await.ok().stdout;
    assert!(
        target_line(&table, "backup").contains("priority 1"),
        "{table}"
    );
    let first_target = table.lines().nth(2).unwrap();
    assert!(
        first_target.starts_with("  backup "),
        "by priority:\n{table}"
    );

    let events = ctl(&f, &["events", "--group", "app"]).await.ok().stdout;
    for want in [
        "action=target_state actor=local state=drain target=main",
        "action=target_state actor=local state=maintenance target=main",
        "action=failback actor=local",
        "action=disconnect actor=local",
        "action=switch actor=local force=false target=backup",
        "action=commit actor=local priorities=",
        "action=failback actor=local error=\"group already serves its best healthy tier\"",
    ] {
        assert!(events.contains(want), "no {want:?} in:\n{events}");
    }
    for line in events.lines() {
        let w = words(line);
        assert!(
            w[0].ends_with('Z') && w[0].len() == 24,
            "RFC 3339 UTC time: {line}"
        );
        assert!(w[1].starts_with('#') && w[3] == "app", "{line}");
    }
    let list = ctl(&f, &["events", "--json", "--group", "app", "--limit", "3"])
        .await
        .ok()
        .json();
    let list = list["events"].as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    let last = list[2]["id"].as_u64().unwrap();
    let since = (last - 1).to_string();
    let newer = ctl(&f, &["events", "--since", &since]).await.ok().stdout;
    assert_eq!(newer.lines().count(), 1, "{newer}");
    assert!(newer.contains(&format!(" #{last} ")), "{newer}");

    let out = ctl(&f, &["reload"]).await.ok();
    assert!(
        out.stdout.starts_with("reloaded the config (generation "),
        "{out:#?}"
    );
    assert_eq!(active(&f.group("app").await), ["backup"]);
}

/// What the status page shows, ctl shows too: open sessions per target, the last failed
/// check, the failback countdown; and disconnect says how many sessions it closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_sessions_errors_and_countdown_disconnect_counts() {
    let extra = "failback = \"auto\"\nfailback_hold = \"3s\"";
    let (f, mut main, _backup) = start_two_stacks(extra, "", None).await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let s = tokio::net::TcpStream::connect(f.proxy("app"))
            .await
            .unwrap();
        sessions.push(s);
    }
    eventually(Duration::from_secs(5), "2 sessions on main", || async {
        let table = ctl(&f, &["status"]).await.ok().stdout;
        target_line(&table, "main")
            .ends_with("active  2 sessions")
            .then_some(())
    })
    .await;
    let out = ctl(&f, &["disconnect", "app"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: closed 2 proxied sessions; active: main"),
        "{out:#?}"
    );

    main.stop();
    f.wait_group("app", Duration::from_secs(10), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    main.restart();
    let table = eventually(Duration::from_secs(10), "failback countdown", || async {
        let table = ctl(&f, &["status"]).await.ok().stdout;
        table.lines().nth(1)?.contains("auto in ").then_some(table)
    })
    .await;
    let line = target_line(&table, "main");
    assert!(
        line.contains("last error ") && line.contains("refused"),
        "{table}"
    );
}
