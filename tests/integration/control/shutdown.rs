//! Shutdown as the control plane shows it: `/ready` answers 503 while draining, `/live`
//! stays 200, and the process exits once the last session ends.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_ready_is_503_while_draining_at_shutdown() {
    let backends = echo_backends();
    let config = format!(
        "[proxy]\ndrain_timeout = \"5s\"\n{}",
        two_stack_config(backends.port, MAIN, BACKUP, "", TCP_FAST)
    );
    let mut f = Failoverd::start(&config).await;
    let mut s = echo_session(f.proxy("app")).await.expect("session");
    assert_eq!(f.get("/ready").await.0, 200);

    f.signal("TERM");
    let body = eventually(Duration::from_secs(3), "/ready to answer 503", || async {
        let (status, body) = f.get("/ready").await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(body.contains("draining"), "{body}");
    assert_eq!(f.get("/live").await.0, 200, "alive while draining");
    round_trip(&mut s, b"draining")
        .await
        .expect("session open while draining");
    assert!(f.exited().is_none());

    s.shutdown().await.unwrap();
    wait_closed(&mut s, IO_LIMIT).await.expect("session ends");
    drop(s);
    let status = f.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status:?}");
}
