//! A real etcd cluster for the tests: three members (Debian's `etcd-server`) on loopback,
//! each test on loopback addresses of its own (127.77.N.1-3, etcd's standard ports), so no
//! port is reserved and released (a race) and tests run side by side. Members are started
//! and killed by PID; dropping the cluster kills every member and removes its data.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http::http_get;
use super::poll::eventually;
use super::require::{has_command, require};

pub struct Member {
    pub name: String,
    pub ip: String,
    child: Option<Child>,
}

pub struct EtcdCluster {
    pub members: Vec<Member>,
    dir: tempfile::TempDir,
    token: String,
    /// Another address each member also serves clients on (port 23791-23793), e.g. the
    /// host's end of a namespace's veth pair, for an instance inside that namespace.
    also_on: Option<String>,
}

impl EtcdCluster {
    /// Three members on 127.77.`net`.1-3; `None` (after saying why, or failing under
    /// `CI=true`) where etcd is not installed. `net` must be unique per test.
    pub async fn start(net: u8) -> Option<EtcdCluster> {
        EtcdCluster::start_also_on(net, None).await
    }

    /// Like `start`; with `also_on`, each member also serves clients on that address.
    pub async fn start_also_on(net: u8, also_on: Option<String>) -> Option<EtcdCluster> {
        if !require("etcd (Debian etcd-server)", has_command("etcd")) {
            return None;
        }
        let members = (1..=3)
            .map(|i| Member {
                name: format!("m{i}"),
                ip: format!("127.77.{net}.{i}"),
                child: None,
            })
            .collect();
        let mut c = EtcdCluster {
            members,
            dir: tempfile::tempdir().expect("tempdir"),
            token: format!("failoverd-test-{net}-{}", std::process::id()),
            also_on,
        };
        for i in 0..3 {
            c.spawn(i, "new");
        }
        c.wait_healthy(Duration::from_secs(20)).await;
        Some(c)
    }

    /// `endpoints = [...]` for a failoverd `[cluster]` section.
    pub fn endpoints_toml(&self) -> String {
        let list: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("\"http://{}:2379\"", m.ip))
            .collect();
        format!("[{}]", list.join(", "))
    }

    /// `endpoints = [...]` on the `also_on` address given at start.
    pub fn endpoints_also_on_toml(&self) -> String {
        let ip = self.also_on.as_deref().expect("started with also_on");
        let list: Vec<String> = (1..=self.members.len())
            .map(|i| format!("\"http://{ip}:2379{i}\""))
            .collect();
        format!("[{}]", list.join(", "))
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let initial: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}=http://{}:2380", m.name, m.ip))
            .collect();
        let m = &self.members[i];
        let data = self.dir.path().join(&m.name);
        let advertised = format!("http://{}:2379", m.ip);
        let client = match &self.also_on {
            Some(ip) => format!("{advertised},http://{ip}:2379{}", i + 1),
            None => advertised.clone(),
        };
        let peer = format!("http://{}:2380", m.ip);
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", m.name)))
            .expect("etcd log");
        let child = Command::new("etcd")
            .arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &advertised,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.token])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        self.members[i].child = Some(child);
    }

    /// Kills member `i` (SIGKILL) and waits for it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i, "existing");
    }

    /// Until every running member answers `/health` with `"health":"true"`.
    pub async fn wait_healthy(&self, limit: Duration) {
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let addr: SocketAddr = format!("{}:2379", m.ip).parse().unwrap();
            eventually(limit, &format!("etcd {} healthy", m.name), || async move {
                let (status, body) = http_get(addr, "/health").await.ok()?;
                (status == 200 && body.contains("\"true\"")).then_some(())
            })
            .await;
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
