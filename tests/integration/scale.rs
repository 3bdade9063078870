//! Many groups: thousands of DNS-only groups on one process. Every group comes up, one
//! change rebuilds only what changed (counted, not timed), and when every main dies at
//! once every group fails over.

use std::collections::HashMap;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::dns_client::*;
use crate::harness::*;

const GROUPS: usize = 2000;

/// A listener that accepts and closes every connection (what a tcp check needs), until
/// `stop`; then its port refuses.
fn accept_and_close(listener: std::net::TcpListener, stop: CancellationToken) {
    tokio::spawn(serve_each_until(
        listener,
        stop.clone(),
        stop,
        |sock| async move { drop(sock) },
    ));
}

fn config(port: u16) -> String {
    let mut s = header("");
    s += "\n[dns]\nlisten = [\"127.0.0.1:0\"]\nzone = \"fo.test.\"\n\
          nameservers = [{ name = \"ns1.fo.test.\", addresses = [\"127.0.0.1\"] }]\n";
    for i in 0..GROUPS {
        s += &format!(
            "\n[[group]]\nname = \"g{i}\"\ndns_name = \"g{i}.fo.test.\"\nttl = \"1s\"\n\
             [group.health]\nkind = \"tcp\"\nport = {port}\ninterval = \"2s\"\n\
             timeout = \"500ms\"\nrise = 1\nfall = 2\n\
             [[group.target]]\nname = \"main\"\naddress = \"{MAIN}\"\npriority = 1\n\
             [[group.target]]\nname = \"backup\"\naddress = \"{BACKUP}\"\npriority = 2\n"
        );
    }
    s
}

/// Every group's JSON, by name.
async fn all_groups(f: &Failoverd) -> HashMap<String, Value> {
    let (status, body) = f.get("/v1/groups").await;
    assert_eq!(status, 200, "GET /v1/groups");
    parse_json("groups", &body)["groups"]
        .as_array()
        .expect("groups array")
        .iter()
        .map(|g| (g["name"].as_str().unwrap_or("").to_string(), g.clone()))
        .collect()
}

/// How many groups satisfy `cond`.
async fn count(f: &Failoverd, cond: impl Fn(&Value) -> bool) -> usize {
    all_groups(f).await.values().filter(|g| cond(g)).count()
}

fn rebuilt(scrape: &str) -> (f64, f64) {
    (
        metric(scrape, "failoverd_snapshot_groups_rebuilt_total").unwrap_or(-1.0),
        metric(scrape, "failoverd_dns_names_rebuilt_total").unwrap_or(-1.0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_thousands_of_groups_come_up_change_alone_and_fail_over_together() {
    let (main, backup) = same_port_pair(MAIN, BACKUP);
    let port = main.local_addr().unwrap().port();
    let (stop_main, stop_backup) = (CancellationToken::new(), CancellationToken::new());
    let _guards = (
        stop_main.clone().drop_guard(),
        stop_backup.clone().drop_guard(),
    );
    accept_and_close(main, stop_main.clone());
    accept_and_close(backup, stop_backup);
    let f = Failoverd::start(&config(port)).await;
    let all_up = |g: &Value| {
        g["state"] == "primary" && health(g, "main") == "up" && health(g, "backup") == "up"
    };
    eventually(
        Duration::from_secs(60),
        "every group primary, both up",
        || async {
            let n = count(&f, all_up).await;
            (n == GROUPS).then_some(())
        },
    )
    .await;

    // One operator switch: one group's snapshot and one DNS name rebuilt, whatever the
    // number of groups.
    let before = rebuilt(&f.metrics().await);
    let (status, body) = f
        .post("/v1/groups/g7/switch", r#"{"target":"backup"}"#, None)
        .await;
    assert_eq!(status, 200, "switch: {body}");
    let after = rebuilt(&f.metrics().await);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1.0, 1.0),
        "one switch rebuilt {before:?} -> {after:?} (group snapshots, DNS names)"
    );
    let m = ask_type(f.dns[0], Via::Udp, "g7.fo.test.", RecordType::A).await;
    assert_eq!(answer_data(&m), [BACKUP]);
    let (status, body) = f.post("/v1/groups/g7/release", "{}", None).await;
    assert_eq!(status, 200, "release: {body}");

    // Every main dies at once.
    let scrape = f.metrics().await;
    let transitions_before = metric_sum(&scrape, "failoverd_transitions_total", &[]);
    stop_main.cancel();
    let failed_over = |g: &Value| g["state"] == "failed_over" && active(g) == ["backup"];
    eventually(
        Duration::from_secs(60),
        "every group failed over",
        || async {
            let n = count(&f, failed_over).await;
            (n == GROUPS).then_some(())
        },
    )
    .await;
    for name in ["g0.fo.test.", "g1234.fo.test.", "g1999.fo.test."] {
        let m = ask_type(f.dns[0], Via::Udp, name, RecordType::A).await;
        assert_eq!(answer_data(&m), [BACKUP], "{name}");
    }
    let scrape = f.metrics().await;
    let transitions = metric_sum(&scrape, "failoverd_transitions_total", &[]) - transitions_before;
    let publishes = metric(&scrape, "failoverd_snapshot_publishes_total").unwrap_or(-1.0);
    eprintln!(
        "{GROUPS} groups failed over: {transitions} transitions, {publishes} publishes since start"
    );
    // g7 stays on the backup after its release (failback is manual by default).
    assert!(
        transitions >= (GROUPS - 1) as f64,
        "{transitions} transitions"
    );
}
