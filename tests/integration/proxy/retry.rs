//! Connect retry: while no verdict exists yet, a main that refuses is retried on the
//! backup and no client connection fails.

use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_retries_refusing_main_on_backup_without_failing_clients() {
    // The main's port is held, bound but never listening: it refuses for the whole test.
    let (refusing, b) = refusing_beside(MAIN, BACKUP);
    let port = refusing.addr.port();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(echo_server(b, stop.clone()));
    // Checks far apart (the first one lands anywhere in the first interval): no verdict
    // exists yet when the first connections arrive.
    let slow = "kind = \"tcp\"\ninterval = \"60s\"\ntimeout = \"1s\"\nrise = 1\nfall = 1";
    let f = Failoverd::start(&two_stack_config(port, MAIN, BACKUP, "", slow)).await;
    let proxy = f.proxy("app");
    let before = f.metrics().await;

    for i in 0..20 {
        let mut s = timeout(IO_LIMIT, TcpStream::connect(proxy))
            .await
            .expect("connect in time")
            .expect("connect");
        round_trip(&mut s, format!("conn {i}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("connection {i} failed: {e}"));
    }

    let m = f.metrics().await;
    let count = |text: &str, target: &str, result: &str| {
        metric_sum(
            text,
            "failoverd_proxy_connections_total",
            &[("group", "app"), ("target", target), ("result", result)],
        )
    };
    let served = count(&m, "backup", "ok") - count(&before, "backup", "ok");
    assert!(served >= 20.0, "served by backup: {served}\n{m}");
    assert_eq!(count(&m, "main", "ok"), 0.0, "main served something?");
    assert!(
        count(&m, "main", "connect_failed") >= 1.0,
        "no connect_failed for main in /metrics:\n{m}"
    );
}
