//! Proxy worker threads: `[proxy] workers` threads each run an accept loop on the shared
//! listening socket and relay what they accepted; the count changes only with a restart.

use super::*;
use crate::harness::*;

/// Threads of `pid` named as proxy workers (Linux: /proc/PID/task/*/comm).
fn proxy_worker_threads(pid: u32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("failoverd-proxy"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_workers_serve_concurrent_sessions_and_change_only_on_restart() {
    let backends = echo_backends();
    let text = |workers: usize| {
        format!(
            "[proxy]\nworkers = {workers}\n{}",
            echo_config(backends.port, "", "")
        )
    };
    let f = Failoverd::start(&text(3)).await;
    // The threads start just after the sockets are bound (and logged).
    eventually(
        std::time::Duration::from_secs(10),
        "one thread per worker",
        || async { (proxy_worker_threads(f.pid()) == 3).then_some(()) },
    )
    .await;

    // Sessions open at once, spread over the workers by whichever is free: all relay.
    let proxy = f.proxy("app");
    let mut sessions = hold_echo_sessions(proxy, 48).await;

    // A reload cannot change the count: refused, named, and everything keeps serving.
    std::fs::write(
        &f.config_path,
        text(2).replace("{dir}", &f.dir.path().display().to_string()),
    )
    .expect("rewrite config");
    let (status, body) = f.post("/v1/reload", "", None).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("proxy.workers cannot change on reload; restart failoverd"),
        "{body}"
    );
    for (i, s) in sessions.iter_mut().enumerate() {
        round_trip(s, b"after the refused reload")
            .await
            .unwrap_or_else(|e| panic!("session {i} after the reload: {e}"));
    }
    assert_eq!(proxy_worker_threads(f.pid()), 3);
}
