//! Bearer auth on the admin API: tokens from a file and from the environment, the read
//! and operate roles, rotation on reload, secrets kept out of the log, and auth checked
//! before the body is.

use std::time::Duration;

use super::*;
use crate::harness::*;

const OPS_SECRET: &str = "ops-secret-abcdefghijklmnop";
const VIEWER_SECRET: &str = "viewer-secret-qrstuvwxyz0123";

/// Failoverd with an operate token `ops` (secret file) and a read token `viewer` (secret
/// in an environment variable unique to this process and `tag`) in front of both stacks.
async fn with_tokens(tag: &str) -> (HttpStack, HttpStack, Failoverd) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ops.secret"), format!("{OPS_SECRET}\n")).unwrap();
    let var = format!("FAILOVERD_TEST_VIEWER_{}_{tag}", std::process::id());
    let tokens = format!(
        "[[admin.token]]\nname = \"ops\"\nrole = \"operate\"\nsecret_file = \"{{dir}}/ops.secret\"\n\n\
         [[admin.token]]\nname = \"viewer\"\nrole = \"read\"\nsecret_env = \"{var}\"\n"
    );
    let (port, main, backup) = http_stacks(MAIN, BACKUP);
    let config = header(&tokens) + &pair_group("app", port, "failback_hold = \"0s\"", HTTP_HEALTH);
    let f = Failoverd::start_with(
        &config,
        StartOptions {
            dir: Some(dir),
            env: vec![(var, VIEWER_SECRET.into())],
            ..Default::default()
        },
    )
    .await;
    eventually(Duration::from_secs(10), "both up, main active", || async {
        let g = group_as(&f, "app", Some(VIEWER_SECRET)).await;
        (health(&g, "main") == "up" && health(&g, "backup") == "up" && active(&g) == ["main"])
            .then_some(())
    })
    .await;
    (main, backup, f)
}

/// Every operating endpoint with a valid body.
const OPERATE: [(&str, &str); 7] = [
    ("/v1/groups/app/switch", r#"{"target": "backup"}"#),
    ("/v1/groups/app/release", ""),
    ("/v1/groups/app/failback", ""),
    ("/v1/groups/app/commit", ""),
    ("/v1/groups/app/disconnect", ""),
    (
        "/v1/groups/app/targets/main/state",
        r#"{"state": "maintenance"}"#,
    ),
    ("/v1/reload", ""),
];

const READ: [&str; 4] = ["/v1/groups", "/v1/groups/app", "/v1/events", "/metrics"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_auth_tokens_from_file_and_env_enforce_roles() {
    let (_main, _backup, f) = with_tokens("roles").await;
    assert!(
        f.log_lines_with(STARTUP_OPEN_API).is_empty(),
        "says the API is open although tokens are configured"
    );
    let before = group_as(&f, "app", Some(VIEWER_SECRET)).await;
    let wrong = "not-a-configured-token-at-all";

    for path in READ {
        for (token, who) in [(None, "no token"), (Some(wrong), "wrong token")] {
            let r = get_as(&f, path, token).await;
            assert_eq!(r.status, 401, "GET {path} with {who}: {}", r.body);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "GET {path}");
            error_message(&r.body);
        }
        for token in [VIEWER_SECRET, OPS_SECRET] {
            let r = get_as(&f, path, Some(token)).await;
            assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        }
    }
    for path in ["/live", "/ready"] {
        for token in [None, Some(wrong)] {
            assert_eq!(get_as(&f, path, token).await.status, 200, "GET {path}");
        }
    }

    for (path, body) in OPERATE {
        for (token, who) in [(None, "no token"), (Some(wrong), "wrong token")] {
            let r = http_request(f.admin, "POST", path, Some(body), token)
                .await
                .unwrap();
            assert_eq!(r.status, 401, "POST {path} with {who}: {}", r.body);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "POST {path}");
            error_message(&r.body);
        }
        let msg = post_err(&f, path, body, Some(VIEWER_SECRET), 403).await;
        assert!(msg.contains("viewer") && msg.contains("operate"), "{msg}");
    }
    // Refused requests changed nothing and are not admin actions.
    let g = group_as(&f, "app", Some(VIEWER_SECRET)).await;
    assert_eq!(g, before, "a refused request changed the group");
    let evs = events(&f, "", Some(VIEWER_SECRET)).await;
    assert!(
        evs.iter()
            .all(|e| e["kind"] != "admin" && e["kind"] != "reload"),
        "{evs:?}"
    );

    // The operate token operates; its name is the actor.
    let g = post_ok(&f, OPERATE[0].0, OPERATE[0].1, Some(OPS_SECRET)).await;
    assert_eq!(active(&g), ["backup"]);
    let g = post_ok(&f, "/v1/groups/app/release", "", Some(OPS_SECRET)).await;
    assert_eq!(active(&g), ["main"]);
    let r = http_request(f.admin, "POST", "/v1/reload", Some(""), Some(OPS_SECRET))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let evs = events(&f, "", Some(OPS_SECRET)).await;
    let actions: Vec<_> = evs.iter().filter(|e| e["kind"] == "admin").collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(actions.iter().all(|e| e["details"]["actor"] == "ops"));

    // Rotation: a reload re-reads the secret file; the old secret stops working.
    const ROTATED: &str = "ops-rotated-secret-987654321";
    std::fs::write(f.dir.path().join("ops.secret"), ROTATED).unwrap();
    let r = http_request(f.admin, "POST", "/v1/reload", Some(""), Some(OPS_SECRET))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get_as(&f, "/v1/groups", Some(OPS_SECRET)).await;
    assert_eq!(r.status, 401, "the old secret still works after rotation");
    post_err(&f, "/v1/groups/app/disconnect", "", Some(OPS_SECRET), 401).await;
    post_ok(&f, "/v1/groups/app/disconnect", "", Some(ROTATED)).await;
    assert_eq!(
        get_as(&f, "/v1/groups", Some(VIEWER_SECRET)).await.status,
        200
    );

    // Secrets never reach the log.
    for line in f.logs() {
        let text = line.to_string();
        for secret in [OPS_SECRET, VIEWER_SECRET, ROTATED] {
            assert!(!text.contains(secret), "a secret in the log: {text}");
        }
    }
}

// Regression (found by this test, since fixed): src/admin/operate.rs `switch` and `target_state` parse and validate the body before
// `run` authorizes the caller, so a request without a token (or with a read token) and a bad
// body gets 400 (with the parse error) instead of 401 (403). Auth must come first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_auth_comes_before_body_validation() {
    let (_main, _backup, f) = with_tokens("order").await;
    let cases = [
        ("/v1/groups/app/switch", "{"),
        ("/v1/groups/app/switch", r#"{"target": 1}"#),
        ("/v1/groups/app/targets/main/state", r#"{"state": "off"}"#),
    ];
    for (path, body) in cases {
        let r = http_request(f.admin, "POST", path, Some(body), None)
            .await
            .unwrap();
        assert_eq!(
            r.status, 401,
            "POST {path} {body:?} without a token: {}",
            r.body
        );
        let r = http_request(f.admin, "POST", path, Some(body), Some(VIEWER_SECRET))
            .await
            .unwrap();
        assert_eq!(
            r.status, 403,
            "POST {path} {body:?} with a read token: {}",
            r.body
        );
    }
}
