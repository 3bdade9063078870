//! The admin listener: Prometheus scrape, liveness/readiness, and the read-only JSON API.

use std::time::Duration;

use crate::harness::*;

const CHECK: &str = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_have_help_and_follow_the_switch() {
    let (port, main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let f = Failoverd::start(&two_stack_config(port, "127.0.0.2", "127.0.0.3", "", CHECK)).await;
    f.wait_both_up("app", Duration::from_secs(5)).await;
    let (status, _) = http_get(f.proxy("app"), "/").await.unwrap();
    assert_eq!(status, 200);

    let scrape = f.metrics().await;
    let present = [
        "failoverd_target_up",
        "failoverd_target_active",
        "failoverd_group_epoch",
        "failoverd_health_checks_total",
        "failoverd_health_check_duration_seconds",
        "failoverd_proxy_connections_total",
        "failoverd_proxy_active_connections",
        "failoverd_proxy_bytes_total",
        "failoverd_proxy_connect_duration_seconds",
        "failoverd_build_info",
    ];
    for name in present {
        assert!(
            scrape.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{scrape}"
        );
        assert!(
            scrape.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
    assert_eq!(
        sample(
            &scrape,
            "failoverd_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "failoverd_target_active", &[("target", "main")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "failoverd_target_active", &[("target", "backup")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "failoverd_target_up",
            &[("group", "app"), ("target", "main")]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &scrape,
            "failoverd_health_checks_total",
            &[("target", "main"), ("result", "ok")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        sample(
            &scrape,
            "failoverd_proxy_connections_total",
            &[("target", "main"), ("result", "ok")]
        ),
        Some(1.0)
    );
    assert!(
        !scrape.contains("127.0.0.1:"),
        "labels must never hold client addresses"
    );

    main.stop();
    f.wait_group("app", Duration::from_secs(5), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    let scrape = f.metrics().await;
    assert_eq!(
        sample(&scrape, "failoverd_target_active", &[("target", "main")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&scrape, "failoverd_target_active", &[("target", "backup")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "failoverd_target_up", &[("target", "main")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&scrape, "failoverd_group_epoch", &[("group", "app")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "failoverd_transitions_total",
            &[("group", "app"), ("cause", "health")]
        ),
        Some(1.0)
    );
    assert!(scrape.contains("# HELP failoverd_transitions_total "));
    assert!(
        sample(
            &scrape,
            "failoverd_health_checks_total",
            &[("target", "main"), ("result", "connect")]
        )
        .unwrap()
            >= 1.0
    );

    // Lint the whole exposition with promtool (CI installs it; elsewhere it may skip).
    if require("promtool (Debian prometheus)", has_command("promtool")) {
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run promtool");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(scrape.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "promtool check metrics: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_answer_json() {
    let (port, _main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let f = Failoverd::start(&two_stack_config(port, "127.0.0.2", "127.0.0.3", "", CHECK)).await;
    assert_eq!(f.get("/live").await.0, 200);
    assert_eq!(f.get("/ready").await.0, 200);

    let (status, body) = f.get("/v1/groups").await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["groups"][0]["name"], "app");

    let g = f
        .wait_group("app", Duration::from_secs(5), "main up", |g| {
            health(g, "main") == "up"
        })
        .await;
    assert_eq!(g["state"], "primary");
    assert_eq!(g["epoch"], 0);
    assert_eq!(g["failback"], "auto");
    assert_eq!(g["all_down"], "fail_static");
    let main = &g["targets"][0];
    assert_eq!(
        (&main["name"], &main["address"], &main["priority"]),
        (&"main".into(), &"127.0.0.2".into(), &1.into())
    );
    assert_eq!(
        (&main["admin_state"], &main["active"]),
        (&"enabled".into(), &true.into())
    );

    let (status, body) = f.get("/v1/groups/nope").await;
    assert_eq!(status, 404);
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"], "no group \"nope\"");
    let (status, body) = f.get("/v2/whatever").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""));
}
