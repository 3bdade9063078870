//! Hooks through the real binary: the runbook of a failover runs in order with its
//! environment, after the switch is live; a hanging hook is killed at its timeout and a
//! failing webhook is recorded, and neither delays the switch.

use std::time::Duration;

use crate::harness::*;

fn hooks_config(port: u16, refused_port: u16) -> String {
    let group = format!(
        r#"failback_hold = "1h"

[[group.hook]]
name = "hang"
on = ["failover"]
command = ["sh", "-c", "sleep 30"]
timeout = "5s"

[[group.hook]]
name = "first"
on = ["failover", "switch"]
command = ["sh", "-c", "echo first $GROUP $FROM $TO $CAUSE $EPOCH $TRIGGER >> {{dir}}/runbook.log"]

[[group.hook]]
name = "second"
on = ["failover"]
command = ["sh", "-c", "echo second $TRIGGER >> {{dir}}/runbook.log; exit 3"]

[[group.hook]]
name = "alert"
on = ["failover"]
webhook = "http://127.0.0.1:{refused_port}/alert"
timeout = "1s"

[[group.hook]]
name = "never"
on = ["commit"]
command = ["sh", "-c", "echo never >> {{dir}}/runbook.log"]"#
    );
    let check = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1";
    two_stack_config(port, "127.0.0.2", "127.0.0.3", &group, check)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_runbook_runs_in_order_after_the_switch() {
    let (port, main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    // Held (bound, never listening) for the whole test: the webhook is refused.
    let refused = refusing_port("127.0.0.1");
    let f = Failoverd::start(&hooks_config(port, refused.addr.port())).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;

    main.stop();
    f.wait_group("app", Duration::from_secs(10), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    // Hooks run one after another, the hanging one first (killed after 5 s): the switch
    // is live while no hook has finished, so no hook delayed it.
    let hooks_done = hook_results(&f).await;
    assert!(
        hooks_done.is_empty(),
        "the switch waited for hooks: {hooks_done:?}"
    );

    let log = f.dir.path().join("runbook.log");
    let lines = eventually(Duration::from_secs(30), "the runbook to finish", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move { (text.lines().count() >= 2).then_some(text) }
    })
    .await;
    assert_eq!(
        lines,
        "first app main backup health 1 failover\nsecond failover\n"
    );

    let results = eventually(
        Duration::from_secs(30),
        "all four hook results in the history",
        || async {
            let hooks = hook_results(&f).await;
            (hooks.len() >= 4).then_some(hooks)
        },
    )
    .await;
    let summary: Vec<(String, bool, String)> = results
        .iter()
        .map(|e| {
            let d = &e["details"];
            (
                d["hook"].as_str().unwrap().into(),
                d["ok"].as_bool().unwrap(),
                d["detail"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(summary[0].0, "hang");
    assert!(
        !summary[0].1 && summary[0].2.contains("killed after timeout 5s"),
        "{summary:?}"
    );
    assert_eq!((summary[1].0.as_str(), summary[1].1), ("first", true));
    assert_eq!(summary[2].0, "second");
    assert!(
        !summary[2].1 && summary[2].2.contains("exit 3"),
        "{summary:?}"
    );
    assert_eq!(summary[3].0, "alert");
    assert!(!summary[3].1, "a refused webhook is a failure: {summary:?}");
    assert!(results
        .iter()
        .all(|e| e["epoch"] == 1 && e["details"]["trigger"] == "failover"));
    // The traffic stayed switched whatever the hooks did.
    assert_eq!(active(&f.group("app").await), ["backup"]);
    let (_, body) = http_get(f.proxy("app"), "/").await.unwrap();
    assert_eq!(body, "hello from backup");
}

/// The hook results in the group's event history so far.
async fn hook_results(f: &Failoverd) -> Vec<serde_json::Value> {
    let (_, body) = f.get("/v1/events?group=app").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "hook")
        .cloned()
        .collect()
}
