//! failoverd's own shortage of descriptors (EMFILE) is not the targets' fault: with its
//! open-file limit lowered from the outside and every descriptor taken by clients, its
//! checks and connects fail, yet no target is marked down and nothing fails over.

use std::time::Duration;

use super::*;

/// Open descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

/// Sets the open-file limit (soft and hard) of another process.
fn set_nofile(pid: u32, limit: u64) {
    let new = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: prlimit(2) on the PID of the child this test started; `new` outlives the call.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_running_out_of_descriptors_fails_nothing_over() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let checks = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2";
    let config = header("") + &pair_group("app", port, "failback = \"manual\"", checks);
    let f = Failoverd::start(&config).await;
    let before = f.wait_both_up("app", Duration::from_secs(10)).await;
    let epoch = before["epoch"].clone();

    // Room for a few sessions only, then every descriptor is the clients'.
    set_nofile(f.pid(), open_fds(f.pid()) as u64 + 24);
    let mut clients = Vec::new();
    for _ in 0..200 {
        match tokio::net::TcpStream::connect(f.proxy("app")).await {
            Ok(s) => clients.push(s),
            Err(_) => break,
        }
    }
    // Exhausted for 3 s: 15 check intervals, fall = 2. The admin API cannot answer now
    // (it has no descriptor either), so the verdicts are read once the clients are gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(clients);

    let scrape = eventually(Duration::from_secs(10), "the admin API back", || async {
        let (status, body) = f.get("/metrics").await;
        (status == 200).then_some(body)
    })
    .await;
    let emfile = metric(&scrape, "failoverd_local_errors_total{kind=\"emfile\"}").unwrap_or(0.0);
    assert!(emfile > 0.0, "no local error counted: {scrape}");
    let g = f.group("app").await;
    assert_eq!(active(&g), ["main"], "{g}");
    assert_eq!(g["epoch"], epoch, "a transition happened: {g}");
    assert_eq!(health(&g, "main"), "up");
    assert_eq!(health(&g, "backup"), "up");
    let evs = f.events().await;
    let downs: Vec<_> = evs
        .iter()
        .filter(|e| e["kind"] == "health" && e["details"]["health"] == "down")
        .collect();
    assert!(
        downs.is_empty(),
        "targets marked down by failoverd's own errors: {downs:?}"
    );
}
