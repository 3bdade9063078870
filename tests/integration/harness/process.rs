//! The `failoverd` process under test: started on a config with `127.0.0.1:0` ports in a
//! temp dir, its JSON log collected, its bound addresses read from the `listening` lines;
//! signalled and restarted by PID, killed when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::poll::eventually;

pub const BIN: &str = env!("CARGO_BIN_EXE_failoverd");

/// Addresses read from the `listening` log lines.
struct BoundAddrs {
    admin: SocketAddr,
    proxies: HashMap<String, Vec<SocketAddr>>,
    dns_udp: Vec<SocketAddr>,
    dns_tcp: Vec<SocketAddr>,
}

/// A running failoverd process.
pub struct Failoverd {
    child: Child,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub admin: SocketAddr,
    /// Bound proxy listeners by group name, in config order.
    pub proxies: HashMap<String, Vec<SocketAddr>>,
    /// Bound DNS addresses (UDP and TCP share each), in `[dns] listen` order.
    pub dns: Vec<SocketAddr>,
    /// The bearer token `get` sends, if any.
    pub token: Option<String>,
    logs: Arc<Mutex<Vec<Value>>>,
}

/// How to start failoverd beyond what `Failoverd::start` does.
#[derive(Default)]
pub struct StartOptions {
    /// Start in this (existing) directory, e.g. the one of a killed process: its config
    /// file, state file and event history stay. `None`: a new temp dir.
    pub dir: Option<tempfile::TempDir>,
    /// Extra flags after `run --config FILE`, e.g. `--fresh-state`.
    pub run_args: Vec<String>,
    /// Extra environment for the child (e.g. a token secret for `secret_env`).
    pub env: Vec<(String, String)>,
    /// The child's open-file limit (soft, hard), as a service manager would set it.
    pub nofile: Option<(u64, u64)>,
    /// Run inside this network namespace (`ip netns exec`, which execs: the PID is
    /// failoverd's).
    pub netns: Option<String>,
    /// The bearer token `get` sends (where the admin API is not on loopback).
    pub token: Option<String>,
}

impl Failoverd {
    /// Starts failoverd on `config` (TOML). `{dir}` in the text is replaced by a temp dir.
    pub async fn start(config: &str) -> Failoverd {
        Failoverd::start_with(config, StartOptions::default()).await
    }

    /// Like `start`, with a given directory, extra `run` flags and environment.
    pub async fn start_with(config: &str, opts: StartOptions) -> Failoverd {
        let dir = match opts.dir {
            Some(d) => d,
            None => tempfile::tempdir().expect("tempdir"),
        };
        let text = config.replace("{dir}", &dir.path().display().to_string());
        let config_path = dir.path().join("failoverd.toml");
        std::fs::write(&config_path, &text).expect("write config");
        let listeners = text.matches("[[group.listener]]").count();
        // With [dns], also wait for a dns-udp and a dns-tcp line per listen address.
        let dns_listens = failoverd::config::Config::parse(&text)
            .ok()
            .and_then(|c| c.dns)
            .map_or(0, |d| d.listen.len());
        let mut command = match &opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        if let Some((soft, hard)) = opts.nofile {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .args([
                "--log-format",
                "json",
                "--log-level",
                "failoverd=debug,info",
                "run",
                "--config",
            ])
            .arg(&config_path)
            .args(&opts.run_args)
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn failoverd");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(v);
            }
        });
        let mut f = Failoverd {
            child,
            dir,
            config_path,
            admin: "0.0.0.0:0".parse().unwrap(),
            proxies: HashMap::new(),
            dns: Vec::new(),
            token: opts.token.clone(),
            logs,
        };
        let bound = eventually(
            Duration::from_secs(20),
            "failoverd to log its listening addresses",
            || {
                let found = f.bound_addresses();
                let exited = f.exited();
                let logs = f.logs();
                async move {
                    if let Some(code) = exited {
                        panic!("failoverd exited early with {code:?}; logs: {logs:?}");
                    }
                    found.filter(|b| {
                        b.proxies.values().map(Vec::len).sum::<usize>() == listeners
                            && b.dns_udp.len() == dns_listens
                            && b.dns_tcp.len() == dns_listens
                    })
                }
            },
        )
        .await;
        assert_eq!(
            bound.dns_udp, bound.dns_tcp,
            "UDP and TCP share each DNS address"
        );
        f.admin = bound.admin;
        f.proxies = bound.proxies;
        f.dns = bound.dns_udp;
        f
    }

    /// Kills this process (SIGKILL: no clean stop) and hands back its directory, to start
    /// it again later with `StartOptions::dir`.
    pub fn kill_keep_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let spare = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, spare)
    }

    /// Stops this process (SIGKILL if still running) and starts a new one on the same
    /// directory and config file (so the same state file and event history), with `opts`'
    /// flags and environment (`opts.dir` is ignored).
    pub async fn restart(mut self, opts: StartOptions) -> Failoverd {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.config_path).expect("read config");
        let spare = tempfile::tempdir().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, spare);
        let opts = StartOptions {
            dir: Some(dir),
            token: opts.token.or(self.token.take()),
            ..opts
        };
        Failoverd::start_with(&text, opts).await
    }

    fn bound_addresses(&self) -> Option<BoundAddrs> {
        let logs = self.logs.lock().unwrap();
        let mut admin = None;
        let mut proxies: HashMap<String, Vec<SocketAddr>> = HashMap::new();
        let (mut dns_udp, mut dns_tcp) = (Vec::new(), Vec::new());
        for l in logs.iter().filter(|l| l["message"] == "listening") {
            let addr: SocketAddr = l["addr"].as_str()?.parse().ok()?;
            match l["kind"].as_str()? {
                "admin" => admin = Some(addr),
                "proxy" => proxies
                    .entry(l["group"].as_str()?.to_string())
                    .or_default()
                    .push(addr),
                "dns-udp" => dns_udp.push(addr),
                "dns-tcp" => dns_tcp.push(addr),
                _ => {}
            }
        }
        Some(BoundAddrs {
            admin: admin?,
            proxies,
            dns_udp,
            dns_tcp,
        })
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn proxy(&self, group: &str) -> SocketAddr {
        self.proxies[group][0]
    }

    /// Log lines (JSON values) so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs.lock().unwrap().clone()
    }

    pub fn log_lines_with(&self, message: &str) -> Vec<Value> {
        self.logs()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }

    /// Sends a signal by PID.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -s {sig} failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        eventually(limit, "failoverd to exit", || {
            let s = self.exited();
            async move { s }
        })
        .await
    }
}

impl Drop for Failoverd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
