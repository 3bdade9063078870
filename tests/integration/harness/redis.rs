//! Real Redis servers for the tests (Debian's `redis-server`): a primary, replicas of it
//! (`--replicaof`), promotion (`REPLICAOF NO ONE`), stops. Each runs in a temp dir of its
//! own on a loopback address and port the test picks, nothing saved to disk; dropping it
//! kills it by PID and removes the dir, whether the test passed or not.
//!
//! Every server requires `REDIS_PASSWORD` (a replica also uses it towards its primary),
//! so a test can also show what a wrong one does, and has an ACL user `REDIS_ACL_USER`
//! (password `REDIS_ACL_PASSWORD`) that may run only `ROLE` and the connection commands:
//! what a role check needs, and no more.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::poll::eventually;
use super::require::{has_command, require};

pub const REDIS_PASSWORD: &str = "failoverd-test-redis-pw";
pub const REDIS_ACL_USER: &str = "probe";
pub const REDIS_ACL_PASSWORD: &str = "failoverd-test-probe-pw";

pub struct Redis {
    pub ip: String,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `ip port` of the primary this one replicates at start.
    replicaof: Option<(String, u16)>,
}

impl Redis {
    /// A primary on `ip:port`, answering; `None` (after SKIP, or failing in CI) where
    /// redis-server is not installed.
    pub async fn primary(ip: &str, port: u16) -> Option<Redis> {
        if !require(
            "redis-server (Debian redis-server)",
            has_command("redis-server"),
        ) {
            return None;
        }
        Some(Redis::launch(ip, port, None).await)
    }

    /// A replica of this server on `ip` (the same port), answering.
    pub async fn replica(&self, ip: &str) -> Redis {
        Redis::launch(ip, self.port, Some((self.ip.clone(), self.port))).await
    }

    async fn launch(ip: &str, port: u16, replicaof: Option<(String, u16)>) -> Redis {
        let mut r = Redis {
            ip: ip.to_string(),
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
            replicaof,
        };
        r.start().await;
        r
    }

    pub fn addr(&self) -> SocketAddr {
        format!("{}:{}", self.ip, self.port).parse().unwrap()
    }

    /// Starts (again) and waits until it answers `PING`.
    pub async fn start(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("redis.log")).expect("log");
        let mut c = Command::new("redis-server");
        c.args(["--bind", &self.ip, "--port", &self.port.to_string()])
            .args(["--requirepass", REDIS_PASSWORD])
            .args(["--user", REDIS_ACL_USER, "on"])
            .arg(format!(">{REDIS_ACL_PASSWORD}"))
            .args(["+role", "+@connection"])
            .args(["--save", "", "--appendonly", "no"])
            // A replica in sync at once, not after the default 5 s wait for more replicas.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no"]);
        if let Some((ip, port)) = &self.replicaof {
            c.args(["--replicaof", ip, &port.to_string()])
                .args(["--masterauth", REDIS_PASSWORD]);
        }
        let child = c
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let what = format!("redis-server on {} answers", self.addr());
        eventually(Duration::from_secs(10), &what, || async {
            self.command(&["PING"]).ok()
        })
        .await;
    }

    /// Kills it (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `REPLICAOF NO ONE`: a replica becomes a primary.
    pub fn promote(&self) {
        self.command(&["REPLICAOF", "NO", "ONE"])
            .expect("REPLICAOF NO ONE");
    }

    /// One command, authenticated, on a new connection; the reply.
    pub fn command(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        command_at(self.addr(), REDIS_PASSWORD, args)
    }
}

/// One command on a new connection to `addr` (e.g. through failoverd's proxy), after
/// `AUTH password`; the reply.
pub fn command_at(
    addr: SocketAddr,
    password: &str,
    args: &[&str],
) -> redis::RedisResult<redis::Value> {
    let mut con = connect_at(addr, password)?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut con)
}

/// A new connection to `addr`, after `AUTH password`; every step bounded by 2 s.
pub fn connect_at(addr: SocketAddr, password: &str) -> redis::RedisResult<redis::Connection> {
    use redis::IntoConnectionInfo;
    let info = redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port())
        .into_connection_info()?
        .set_redis_settings(redis::RedisConnectionInfo::default().set_password(password));
    let client = redis::Client::open(info)?;
    let timeout = Some(Duration::from_secs(2));
    let con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    con.set_read_timeout(timeout)?;
    con.set_write_timeout(timeout)?;
    Ok(con)
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
