//! The event history (`GET /v1/events`): filtered by group, `since` and `limit`; every
//! admin action and reload names its actor (the token's name).

use std::time::Duration;

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_events_filter_by_group_and_since_and_name_the_token() {
    let dir = tempfile::tempdir().unwrap();
    const ALICE: &str = "alice-secret-0123456789";
    std::fs::write(dir.path().join("alice.secret"), ALICE).unwrap();
    let tokens = "[[admin.token]]\nname = \"alice\"\nrole = \"operate\"\nsecret_file = \"{dir}/alice.secret\"\n";
    let backends = echo_backends();
    let config = header(tokens)
        + &pair_group("app", backends.port, "", TCP_FAST)
        + &pair_group("web", backends.port, "", TCP_FAST);
    let f = Failoverd::start_with(
        &config,
        StartOptions {
            dir: Some(dir),
            ..Default::default()
        },
    )
    .await;
    let tok = Some(ALICE);
    for name in ["app", "web"] {
        eventually(Duration::from_secs(5), "both targets up", || async {
            let g = group_as(&f, name, tok).await;
            (health(&g, "main") == "up" && health(&g, "backup") == "up").then_some(())
        })
        .await;
    }
    let all = events(&f, "", tok).await;
    assert!(
        all.iter().any(|e| e["kind"] == "start"),
        "no start event: {all:?}"
    );

    post_ok(&f, "/v1/groups/app/switch", r#"{"target": "backup"}"#, tok).await;
    post_ok(&f, "/v1/groups/web/switch", r#"{"target": "backup"}"#, tok).await;
    let app = events(&f, "?group=app", tok).await;
    assert!(!app.is_empty());
    assert!(app.iter().all(|e| e["group"] == "app"), "{app:?}");
    let sw = admin_events(&app, "switch");
    assert_eq!(sw.len(), 1, "{app:?}");
    assert_eq!(sw[0]["details"]["actor"], "alice");
    assert_eq!(sw[0]["details"]["target"], "backup");
    assert_eq!(sw[0]["epoch"], 1);
    let tr: Vec<_> = app.iter().filter(|e| e["kind"] == "transition").collect();
    assert_eq!(tr.len(), 1, "{app:?}");
    assert_eq!(tr[0]["details"]["actor"], "alice");
    assert_eq!(tr[0]["details"]["cause"], "manual");
    assert_eq!(tr[0]["details"]["to"], serde_json::json!(["backup"]));

    let last = events(&f, "", tok)
        .await
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .max()
        .expect("ids");
    post_ok(&f, "/v1/groups/app/release", "", tok).await;
    let since = events(&f, &format!("?since={last}"), tok).await;
    assert!(
        since.iter().all(|e| e["id"].as_u64().unwrap() > last),
        "since={last}: {since:?}"
    );
    let rel = admin_events(&since, "release");
    assert_eq!(rel.len(), 1, "{since:?}");
    assert_eq!(rel[0]["details"]["actor"], "alice");
    assert!(admin_events(&since, "switch").is_empty(), "{since:?}");
    let web_since = events(&f, &format!("?group=web&since={last}"), tok).await;
    assert!(
        web_since
            .iter()
            .all(|e| e["group"] == "web" && e["id"].as_u64().unwrap() > last),
        "{web_since:?}"
    );
    assert!(admin_events(&web_since, "release").is_empty());

    let newest = events(&f, "?limit=1", tok).await;
    assert_eq!(newest.len(), 1);
    let all = events(&f, "", tok).await;
    assert_eq!(newest[0]["id"], all.last().unwrap()["id"]);

    let r = get_as(&f, "/v1/events?since=yesterday", tok).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = error_message(&r.body);
    assert!(msg.contains("since"), "{msg}");

    // Reloads are events too, with the actor.
    let (status, body) = f.post("/v1/reload", "", tok).await;
    assert_eq!(status, 200, "{body}");
    let reloads: Vec<_> = events(&f, "", tok)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "reload")
        .collect();
    assert_eq!(reloads.len(), 1);
    assert_eq!(reloads[0]["details"]["actor"], "alice");
    assert_eq!(reloads[0]["details"]["result"], "ok");
}
