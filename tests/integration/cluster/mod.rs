//! Several instances on a real three-member etcd cluster.

mod decisions;
mod membership;

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

pub(crate) const CHECK: &str =
    "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1";

pub(crate) const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "fo.test."
nameservers = [{ name = "ns1.fo.test.", addresses = ["127.0.0.1"] }]
"#;

/// The config of instance `name` on `etcd`: one main/backup group `app` (DNS name
/// `app.fo.test.`) behind a proxy listener.
pub(crate) fn instance_config(etcd: &EtcdCluster, name: &str, port: u16, prefix: &str) -> String {
    format!(
        "{}{DNS}\n[cluster]\nbackend = \"etcd\"\nendpoints = {}\nprefix = \"{prefix}\"\n\
         instance = \"{name}\"\nlease_ttl = \"2s\"\n{}",
        header(""),
        etcd.endpoints_toml(),
        pair_group("app", port, "", CHECK)
    )
}

pub(crate) async fn cluster_view(f: &Failoverd) -> Value {
    let (status, body) = f.get("/v1/cluster").await;
    assert_eq!(status, 200, "{body}");
    parse_json("cluster", &body)
}

/// Until every instance in `fs` is connected and sees the same leader and `members`;
/// returns that leader.
pub(crate) async fn agreed_leader(fs: &[&Failoverd], members: &[&str], limit: Duration) -> String {
    eventually(limit, "one leader seen by every instance", || async {
        let mut leader = None;
        for f in fs {
            let v = cluster_view(f).await;
            let seen: Vec<&str> = v["members"]
                .as_array()?
                .iter()
                .filter_map(|m| m.as_str())
                .collect();
            if v["connected"] != true || seen != members {
                return None;
            }
            let l = v["leader"].as_str()?.to_string();
            if leader.get_or_insert(l.clone()) != &l {
                return None;
            }
        }
        leader
    })
    .await
}
