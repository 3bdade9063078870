//! Hot reload (API and SIGHUP): a bad config is refused with the message `failoverd
//! check` prints and the old one keeps serving; a new group is added while sessions on
//! other listeners stay open; pins, commits, admin states and epochs are kept.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_reload_with_a_bad_config_is_rejected_with_the_check_message_and_keeps_serving() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let good = header("") + &pair_group("app", port, "", HTTP_HEALTH);
    let f = Failoverd::start(&good).await;
    f.wait_both_up("app", Duration::from_secs(5)).await;
    let groups_before = parse_json("groups", &f.get("/v1/groups").await.1);

    let bad = header("") + &pair_group("app", port, "failback = \"sometimes\"", HTTP_HEALTH);
    rewrite_config(&f, &bad);
    let (status, body) = f.post("/v1/reload", "", None).await;
    assert_eq!(status, 422, "{body}");
    let msg = error_message(&body);
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&f.config_path)
        .output()
        .expect("failoverd check");
    assert_eq!(check.status.code(), Some(64));
    let check_msg = String::from_utf8_lossy(&check.stderr).trim().to_string();
    assert_eq!(
        check_msg,
        format!("failoverd: {msg}"),
        "the reload error must be the check message"
    );
    assert!(msg.contains("sometimes"), "{msg}");

    // The old config keeps serving.
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    // Equal again once the proxied session just made has closed (`sessions` counts it).
    let groups_after = eventually(Duration::from_secs(5), "groups as before", || async {
        let g = parse_json("groups", &f.get("/v1/groups").await.1);
        (g["groups"] == groups_before["groups"]).then_some(g)
    })
    .await;
    assert_eq!(groups_after["generation"], 0);
    let scrape = f.metrics().await;
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"error\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}").unwrap_or(0.0),
        0.0
    );

    // SIGHUP with the same bad file: rejected the same way.
    f.signal("HUP");
    eventually(
        Duration::from_secs(5),
        "the SIGHUP reload counted as an error",
        || async {
            let scrape = f.metrics().await;
            (metric(&scrape, "failoverd_config_reloads_total{result=\"error\"}") == Some(2.0))
                .then_some(())
        },
    )
    .await;
    assert_eq!(proxied(f.proxy("app")).await, "hello from main");
    let evs = events(&f, "", None).await;
    let rejected: Vec<_> = evs
        .iter()
        .filter(|e| e["kind"] == "reload" && e["details"]["result"] == "error")
        .collect();
    assert_eq!(rejected.len(), 2, "{evs:?}");
    assert_eq!(rejected[0]["details"]["actor"], "local");
    assert_eq!(rejected[1]["details"]["actor"], "SIGHUP");
    assert_eq!(rejected[0]["details"]["error"], msg.as_str());

    // What a reload cannot change is refused too.
    let moved = good.replace("{dir}/failoverd.state", "{dir}/elsewhere.state");
    rewrite_config(&f, &moved);
    let msg = post_err(&f, "/v1/reload", "", None, 422).await;
    assert!(msg.contains("state.path"), "{msg}");

    // A new listener on a port in use: refused before anything changes.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let busy = group_toml("web", port, &[("main", MAIN, 1)], "", HTTP_HEALTH).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{taken_addr}\""),
    );
    rewrite_config(&f, &(good.clone() + &busy));
    let msg = post_err(&f, "/v1/reload", "", None, 422).await;
    assert!(
        msg.contains("cannot listen") && msg.contains(&taken_addr.to_string()),
        "{msg}"
    );
    eventually(Duration::from_secs(5), "groups as before", || async {
        let g = parse_json("groups", &f.get("/v1/groups").await.1);
        (g["groups"] == groups_before["groups"]).then_some(())
    })
    .await;
    drop(taken);

    // A good config goes in.
    let manual = header("") + &pair_group("app", port, "failback = \"manual\"", HTTP_HEALTH);
    rewrite_config(&f, &manual);
    let r = post_ok(&f, "/v1/reload", "", None).await;
    assert_eq!(r["result"], "ok");
    assert_eq!(r["generation"], 1);
    let g = f.group("app").await;
    assert_eq!(g["failback"], "manual");
    assert_eq!(health(&g, "main"), "up");
    let scrape = f.metrics().await;
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"error\"}"),
        Some(4.0)
    );
}

/// The address a reload logged for a new proxy listener of `group`.
fn logged_listener(f: &Failoverd, group: &str) -> Option<SocketAddr> {
    f.log_lines_with("listening")
        .iter()
        .filter(|l| l["kind"] == "proxy" && l["group"] == group)
        .filter_map(|l| l["addr"].as_str()?.parse().ok())
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_reload_on_sighup_adds_a_group_while_a_session_on_another_listener_stays_open() {
    let backends = echo_backends();
    let other = std::net::TcpListener::bind((OTHER, 0)).expect("bind 127.0.0.4");
    let other_port = other.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(greeting_echo(other, "web-main", stop.clone()));

    let a = pair_group("app", backends.port, "", TCP_SLOW_VERDICT);
    let b = group_toml(
        "web",
        other_port,
        &[("main", OTHER, 1)],
        "",
        TCP_SLOW_VERDICT,
    );
    let f = Failoverd::start(&(header("") + &a)).await;
    let before = f.wait_both_up("app", Duration::from_secs(10)).await;
    let mut held = echo_session(f.proxy("app")).await.expect("app session");

    rewrite_config(&f, &(header("") + &a + &b));
    f.signal("HUP");
    let web_addr = eventually(
        Duration::from_secs(5),
        "group web listed and its listener logged",
        || async {
            let list = parse_json("groups", &f.get("/v1/groups").await.1);
            let listed = list["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "web");
            if listed {
                logged_listener(&f, "web")
            } else {
                None
            }
        },
    )
    .await;
    // Right after: app's targets kept their verdicts, web's new target has none yet.
    let g = f.group("app").await;
    assert_eq!(
        (health(&g, "main"), health(&g, "backup")),
        ("up".into(), "up".into()),
        "app's health was reset by the reload: {g}"
    );
    assert_eq!(g["epoch"], before["epoch"]);
    assert_eq!(active(&g), ["main"]);
    assert_eq!(health(&f.group("web").await, "main"), "unknown");
    assert_ne!(Some(web_addr), f.proxies.get("app").map(|p| p[0]));

    // The open session on app's listener goes on; new ones work; web proxies to its backend.
    keeps_echoing(
        &mut held,
        Duration::from_secs(1),
        "app session across the reload",
    )
    .await;
    let mut fresh = echo_session(f.proxy("app")).await.expect("new app session");
    round_trip(&mut fresh, b"new").await.unwrap();
    let (mut w, name) = named_session(web_addr).await.expect("web session");
    assert_eq!(name, "web-main");
    round_trip(&mut w, b"web").await.unwrap();

    let scrape = f.metrics().await;
    assert!(
        scrape.contains("failoverd_group_epoch{group=\"web\"} 0"),
        "{scrape}"
    );
    assert_eq!(
        metric(&scrape, "failoverd_config_reloads_total{result=\"ok\"}"),
        Some(1.0),
        "{scrape}"
    );
    let evs = events(&f, "", None).await;
    let reload = evs
        .iter()
        .find(|e| e["kind"] == "reload")
        .expect("reload event");
    assert_eq!(reload["details"]["actor"], "SIGHUP");
    assert_eq!(reload["details"]["added"], serde_json::json!(["web"]));

    // Removing web again: its listener stops accepting, its open session finishes.
    rewrite_config(&f, &(header("") + &a));
    let r = post_ok(&f, "/v1/reload", "", None).await;
    assert_eq!(r["generation"], 2);
    let (status, _) = f.get("/v1/groups/web").await;
    assert_eq!(status, 404);
    eventually(Duration::from_secs(5), "web's listener closed", || async {
        refused_or_closed(web_addr).await.then_some(())
    })
    .await;
    round_trip(&mut w, b"finishing")
        .await
        .expect("web session still open after its group was removed");
    // Its series left /metrics with it (a recorder would have kept them for ever).
    let scrape = f.metrics().await;
    for gone in [
        "failoverd_target_up{group=\"web\"",
        "failoverd_group_epoch{group=\"web\"",
        "failoverd_health_checks_total{group=\"web\"",
    ] {
        assert!(!scrape.contains(gone), "{gone} still scraped:\n{scrape}");
    }
    assert!(scrape.contains("failoverd_target_up{group=\"app\",target=\"main\"} 1"));
    round_trip(&mut held, b"and app").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_reload_keeps_pins_commits_admin_states_and_epochs() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let config = |extra: &str| {
        header("")
            + &pair_group("app", port, extra, HTTP_HEALTH)
            + &pair_group("web", port, extra, HTTP_HEALTH)
    };
    let f = Failoverd::start(&config("")).await;
    for name in ["app", "web"] {
        f.wait_both_up(name, Duration::from_secs(5)).await;
    }
    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/switch", r#"{"target": "backup"}"#, None).await;
    post_ok(&f, "/v1/groups/web/commit", "", None).await;
    post_ok(
        &f,
        "/v1/groups/web/targets/main/state",
        r#"{"state": "maintenance"}"#,
        None,
    )
    .await;
    let (app, web) = (f.group("app").await, f.group("web").await);

    rewrite_config(&f, &config("ttl = \"7s\""));
    let r = post_ok(&f, "/v1/reload", "", None).await;
    assert_eq!(r["generation"], 1);
    let (a, w) = (f.group("app").await, f.group("web").await);
    assert_eq!(pinned(&a).as_deref(), Some("backup"), "{a}");
    assert_eq!(active(&a), ["backup"]);
    assert_eq!(a["epoch"], app["epoch"]);
    assert_eq!(
        (priority(&w, "backup"), priority(&w, "main")),
        (1, 2),
        "{w}"
    );
    assert_eq!(admin_state(&w, "main"), "maintenance");
    assert_eq!(active(&w), ["backup"]);
    assert_eq!(w["epoch"], web["epoch"]);
    assert_eq!(health(&a, "main"), "up");
    assert_eq!(proxied(f.proxy("app")).await, "hello from backup");
}
