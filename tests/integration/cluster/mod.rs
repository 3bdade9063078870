//! Several instances on a real three-member etcd cluster.

mod decisions;
mod failures;
mod figures;
mod membership;
mod sampler;

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
    let group = pair_group("app", port, "", CHECK);
    cluster_config(&etcd.endpoints_toml(), name, prefix, &group)
}

/// The config of instance `name` on etcd's `endpoints` (TOML list), with `group`.
pub(crate) fn cluster_config(endpoints: &str, name: &str, prefix: &str, group: &str) -> String {
    format!(
        "{}{DNS}\n[cluster]\nbackend = \"etcd\"\nendpoints = {endpoints}\nprefix = \"{prefix}\"\n\
         instance = \"{name}\"\nlease_ttl = \"2s\"\n{group}",
        header("")
    )
}

/// Every instance's DNS address, for a `sampler::Sampler`.
pub(crate) fn dns_of(fs: &[Failoverd]) -> Vec<std::net::SocketAddr> {
    fs.iter().map(|f| f.dns[0]).collect()
}

pub(crate) async fn cluster_view(f: &Failoverd) -> Value {
    let (status, body) = f.get("/v1/cluster").await;
    assert_eq!(status, 200, "{body}");
    parse_json("cluster", &body)
}

/// Until every instance in `fs` is connected and sees the same leader, one of `members`;
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
            // A leader among the members: each watched key has its own watcher, so a dead
            // leader's member key may be seen gone a moment before its leader key.
            let l = v["leader"]
                .as_str()
                .filter(|l| members.contains(l))?
                .to_string();
            if leader.get_or_insert(l.clone()) != &l {
                return None;
            }
        }
        leader
    })
    .await
}

/// Instances ns1, ns2 and ns3 of one cluster on `etcd` (the group's port `port`), once
/// they agree on a leader; and that leader.
pub(crate) async fn three_instances(etcd: &EtcdCluster, port: u16) -> (Vec<Failoverd>, String) {
    let prefix = format!("/failoverd/test-{}/", std::process::id());
    let mut fs = Vec::new();
    for name in ["ns1", "ns2", "ns3"] {
        fs.push(Failoverd::start(&instance_config(etcd, name, port, &prefix)).await);
    }
    let refs: Vec<&Failoverd> = fs.iter().collect();
    let leader = agreed_leader(&refs, &["ns1", "ns2", "ns3"], Duration::from_secs(10)).await;
    (fs, leader)
}
