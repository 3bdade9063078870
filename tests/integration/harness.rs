//! Test harness: runs the real `failoverd` binary on a config with `127.0.0.1:0` ports,
//! reads the bound addresses from its JSON log, and stops it (by PID) when dropped.
//! Also real backends (HTTP stacks, echo servers) on loopback addresses.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const BIN: &str = env!("CARGO_BIN_EXE_failoverd");

/// Polls `f` until it returns Some, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
    logs: Arc<Mutex<Vec<Value>>>,
}

impl Failoverd {
    /// Starts failoverd on `config` (TOML). `{dir}` in the text is replaced by a temp dir.
    pub async fn start(config: &str) -> Failoverd {
        Failoverd::start_with(config, StartOptions::default()).await
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

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).await.expect("admin request")
    }

    pub async fn group(&self, name: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/groups/{name}")).await;
        assert_eq!(status, 200, "GET group {name}: {body}");
        serde_json::from_str(&body).expect("group JSON")
    }

    /// Polls the group until `cond` holds; returns the group JSON.
    pub async fn wait_group(
        &self,
        name: &str,
        limit: Duration,
        what: &str,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(limit, what, || async {
            let g = self.group(name).await;
            cond(&g).then_some(g)
        })
        .await
    }

    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        body
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

pub fn active(g: &Value) -> Vec<String> {
    g["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

pub fn health(g: &Value, target: &str) -> String {
    let t = g["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == target)
        .expect("target");
    t["health"].as_str().unwrap().to_string()
}

/// One HTTP/1.1 GET with `Connection: close`: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        let text = String::from_utf8_lossy(&out).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "http_get timed out"))?
}

/// Binds two loopback addresses on one free port (e.g. 127.0.0.2 and 127.0.0.3).
pub fn same_port_pair(a: &str, b: &str) -> (std::net::TcpListener, std::net::TcpListener) {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind((a, 0)).expect("bind");
        let port = first.local_addr().unwrap().port();
        if let Ok(second) = std::net::TcpListener::bind((b, port)) {
            return (first, second);
        }
    }
    panic!("no common free port on {a} and {b}");
}

/// An HTTP stack: `/health` answers with a settable status and body; other paths answer
/// `hello from NAME`. Stopping it closes the listener and every open connection.
pub struct HttpStack {
    pub addr: SocketAddr,
    pub name: String,
    pub health_status: Arc<AtomicU16>,
    pub health_body: Arc<Mutex<String>>,
    /// When set, the stack reads requests but never answers: a hung application.
    pub hang: Arc<AtomicBool>,
    stop: CancellationToken,
}

impl HttpStack {
    pub fn start(name: &str, listener: std::net::TcpListener) -> HttpStack {
        listener.set_nonblocking(true).unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let addr = listener.local_addr().unwrap();
        let stack = HttpStack {
            addr,
            name: name.to_string(),
            health_status: Arc::new(AtomicU16::new(200)),
            health_body: Arc::new(Mutex::new("ok".into())),
            hang: Arc::new(AtomicBool::new(false)),
            stop: CancellationToken::new(),
        };
        let (status, body, stop, name) = (
            stack.health_status.clone(),
            stack.health_body.clone(),
            stack.stop.clone(),
            name.to_string(),
        );
        let hang = stack.hang.clone();
        tokio::spawn(async move {
            loop {
                let (sock, _) = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
                };
                let (status, body, stop, name) =
                    (status.clone(), body.clone(), stop.clone(), name.clone());
                let hang = hang.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = answer_http(sock, &name, &status, &body, &hang) => {}
                    }
                });
            }
        });
        stack
    }

    /// Starts again on the same address.
    pub fn restart(&mut self) {
        let l = std::net::TcpListener::bind(self.addr).expect("rebind stack");
        *self = HttpStack::start(&self.name, l);
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for HttpStack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn answer_http(
    mut sock: TcpStream,
    name: &str,
    status: &AtomicU16,
    body: &Mutex<String>,
    hang: &AtomicBool,
) -> std::io::Result<()> {
    // Keep-alive unless the request says `Connection: close`, so a held session stays open.
    loop {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        if hang.load(Ordering::Relaxed) {
            return std::future::pending().await;
        }
        let (code, text) = if head.starts_with(b"GET /health ") {
            (status.load(Ordering::Relaxed), body.lock().unwrap().clone())
        } else {
            (200, format!("hello from {name}"))
        };
        let resp = format!(
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        sock.write_all(resp.as_bytes()).await?;
        if String::from_utf8_lossy(&head)
            .to_ascii_lowercase()
            .contains("connection: close")
        {
            return sock.shutdown().await;
        }
    }
}

/// An echo server that honours half-close: after the client's EOF it finishes sending
/// what it read, then closes its side.
pub async fn echo_server(listener: std::net::TcpListener, stop: CancellationToken) {
    listener.set_nonblocking(true).unwrap();
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        let (mut sock, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut r, mut w) = sock.split();
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = async { let _ = tokio::io::copy(&mut r, &mut w).await; let _ = w.shutdown().await; } => {}
            }
        });
    }
}

/// Config text for one group `app` with main and backup on `port`, a proxy listener, and
/// `extra` lines added to the group.
pub fn two_stack_config(
    port: u16,
    main: &str,
    backup: &str,
    group_extra: &str,
    health: &str,
) -> String {
    format!(
        r#"
[admin]
listen = "127.0.0.1:0"

[state]
path = "{{dir}}/failoverd.state"

[[group]]
name = "app"
{group_extra}

[group.health]
{health}

[[group.listener]]
listen = "127.0.0.1:0"
target_port = {port}
connect_timeout = "300ms"

[[group.target]]
name = "main"
address = "{main}"
priority = 1

[[group.target]]
name = "backup"
address = "{backup}"
priority = 2
"#
    )
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// ---- Control-plane helpers (tests/integration/control.rs) ----

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
}

impl Failoverd {
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
        let mut child = Command::new(BIN)
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
            ..opts
        };
        Failoverd::start_with(&text, opts).await
    }

    /// `POST path` with a JSON body (and a bearer token): (status, body).
    pub async fn post(&self, path: &str, json_body: &str, token: Option<&str>) -> (u16, String) {
        http_post(self.admin, path, json_body, token)
            .await
            .expect("admin request")
    }
}

/// An HTTP response as the admin API gives it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`, an optional body (sent as JSON) and an
/// optional bearer token. Bounded by 5 s.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> std::io::Result<HttpResponse> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method != "GET" {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        let text = String::from_utf8_lossy(&out).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(HttpResponse {
            status,
            headers,
            body: body.to_string(),
        })
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "http_request timed out"))?
}

/// `POST path` with a JSON body and an optional bearer token: (status, body).
pub async fn http_post(
    addr: SocketAddr,
    path: &str,
    json_body: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let r = http_request(addr, "POST", path, Some(json_body), token).await?;
    Ok((r.status, r.body))
}
