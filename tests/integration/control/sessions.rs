//! What the control plane does to live sessions: disconnect closes a group's sessions,
//! drain lets them finish while new ones go elsewhere, maintenance closes them, enable
//! brings the target back; a pinned target drained or in maintenance gets no new ones.

use std::time::Duration;

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_disconnect_closes_every_session_of_the_group_and_only_of_it() {
    let backends = echo_backends();
    let config = header("")
        + &pair_group("app", backends.port, "", TCP_FAST)
        + &pair_group("web", backends.port, "", TCP_FAST);
    let f = Failoverd::start(&config).await;
    let mut a1 = echo_session(f.proxy("app")).await.expect("app session 1");
    let mut a2 = echo_session(f.proxy("app")).await.expect("app session 2");
    let mut w = echo_session(f.proxy("web")).await.expect("web session");
    let epoch = f.group("app").await["epoch"].clone();

    let g = post_ok(&f, "/v1/groups/app/disconnect", "", None).await;
    assert_eq!(g["name"], "app");
    assert_eq!(g["epoch"], epoch, "a disconnect is not a transition");
    for (i, s) in [&mut a1, &mut a2].into_iter().enumerate() {
        wait_closed(s, Duration::from_secs(3))
            .await
            .unwrap_or_else(|e| panic!("app session {} not closed by disconnect: {e}", i + 1));
    }
    keeps_echoing(&mut w, Duration::from_secs(1), "web session untouched").await;
    let mut fresh = echo_session(f.proxy("app"))
        .await
        .expect("a new app connection after the disconnect");
    round_trip(&mut fresh, b"again").await.unwrap();

    let msg = post_err(&f, "/v1/groups/nope/disconnect", "", None, 404).await;
    assert_eq!(msg, "no group \"nope\"");
    let evs = events(&f, "?group=app", None).await;
    assert_eq!(admin_events(&evs, "disconnect").len(), 1, "{evs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_drain_lets_sessions_finish_maintenance_closes_them_enable_returns() {
    let backends = named_backends();
    let config = two_stack_config(
        backends.port,
        MAIN,
        BACKUP,
        "failback = \"auto\"\nfailback_hold = \"0s\"",
        TCP_FAST,
    );
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(5)).await;
    let proxy = f.proxy("app");
    let (mut held, name) = named_session(proxy).await.expect("session");
    assert_eq!(name, "main");
    round_trip(&mut held, b"before").await.unwrap();

    // Drain: no new connections to main, the open one goes on.
    let g = post_ok(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "drain"}"#,
        None,
    )
    .await;
    assert_eq!(admin_state(&g, "main"), "drain");
    assert_eq!(active(&g), ["backup"]);
    for i in 0..5 {
        let (mut s, name) = named_session(proxy).await.expect("new session");
        assert_eq!(name, "backup", "new connection {i} while main drains");
        round_trip(&mut s, b"new").await.unwrap();
    }
    keeps_echoing(
        &mut held,
        Duration::from_secs(1),
        "session on the drained main",
    )
    .await;
    let msg = post_err(
        &f,
        "/v1/groups/app/switch",
        r#"{"target": "main", "force": true}"#,
        None,
        409,
    )
    .await;
    assert!(msg.contains("drain") && msg.contains("enable"), "{msg}");

    // Maintenance: failoverd closes the open session.
    let g = post_ok(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "maintenance"}"#,
        None,
    )
    .await;
    assert_eq!(admin_state(&g, "main"), "maintenance");
    wait_closed(&mut held, Duration::from_secs(3))
        .await
        .expect("session on main closed by maintenance");
    let (_s, name) = named_session(proxy).await.expect("new session");
    assert_eq!(name, "backup");
    assert_eq!(
        saved_state(&f)["groups"]["app"]["targets"]["main"]["admin"],
        "maintenance"
    );

    // Enable: main takes new connections again (failback hold 0s).
    let g = post_ok(
        &f,
        "/v1/groups/app/targets/main/state",
        r#"{"state": "enabled"}"#,
        None,
    )
    .await;
    assert_eq!(admin_state(&g, "main"), "enabled");
    f.wait_group("app", Duration::from_secs(5), "main active again", |g| {
        active(g) == ["main"]
    })
    .await;
    for i in 0..3 {
        let (_s, name) = named_session(proxy).await.expect("new session");
        assert_eq!(name, "main", "new connection {i} after enable");
    }
    let evs = events(&f, "?group=app", None).await;
    let states: Vec<_> = admin_events(&evs, "target_state")
        .iter()
        .map(|e| e["details"]["state"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(states, ["drain", "maintenance", "enabled"]);
}

// Regression (found by this test, since fixed): src/group/machine.rs `Machine::evaluate_as` (the `Some(p)` arm) makes a pinned
// target the only active one whatever its admin state, and `Machine::set_admin` (called by
// src/group/commands.rs `apply`, `Command::SetAdmin`) accepts `drain`/`maintenance` on the
// pinned target. `switch` refuses a drained target ("enable it first"), but draining or
// maintaining it after the switch leaves it pinned and the only active target:
// - drain: every new connection still goes to the drained target;
// - maintenance: every new connection is accepted, connected to the target, and closed at
//   once by the maintenance eviction (src/proxy/session.rs `should_close`): the group
//   serves nobody although main is up and enabled.
// Expected: the state change is refused with 409 while the target is pinned, or the pin
// yields (the target leaves the active set; new connections go to main).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_drain_or_maintenance_of_the_pinned_target_stops_new_connections_to_it() {
    let backends = named_backends();
    let config = two_stack_config(
        backends.port,
        MAIN,
        BACKUP,
        "failback_hold = \"0s\"",
        TCP_FAST,
    );
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(5)).await;
    let mut wrong = Vec::new();
    for state in ["drain", "maintenance"] {
        post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, None).await;
        let (_s, name) = named_session(f.proxy("app")).await.expect("session");
        assert_eq!(name, "backup");
        let (status, body) = f
            .post(
                "/v1/groups/app/targets/backup/state",
                &format!(r#"{{"state": "{state}"}}"#),
                None,
            )
            .await;
        if status == 409 {
            continue; // refused while pinned: fine
        }
        assert_eq!(status, 200, "{body}");
        let g = parse_json("group", &body);
        let reached = match named_session(f.proxy("app")).await {
            Ok((_s, name)) => name,
            Err(e) => format!("nothing (closed at once: {e})"),
        };
        if active(&g).contains(&"backup".to_string()) || reached != "main" {
            wrong.push(format!(
                "backup in {state} while pinned: active {:?}, pinned {:?}, a new connection reached {reached}",
                active(&g),
                pinned(&g)
            ));
        }
        // Back to the start.
        let _ = f.post("/v1/groups/app/release", "", None).await;
        post_ok(
            &f,
            "/v1/groups/app/targets/backup/state",
            r#"{"state": "enabled"}"#,
            None,
        )
        .await;
        f.wait_group("app", Duration::from_secs(5), "main active", |g| {
            active(g) == ["main"] && pinned(g).is_none()
        })
        .await;
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
