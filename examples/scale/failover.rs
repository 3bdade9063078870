//! The mass failover (step 4): every main's port closes at once; how long until every
//! group is failed over, and how many names then answer the backup.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::wait_all;
use crate::load::ask_a;
use crate::Cli;

/// Step 4: seconds from closing every main's port until every group is failed over to
/// its backup in the API, or None.
pub async fn fail_over_all(
    cli: &Arc<Cli>,
    admin: SocketAddr,
    stop_main: &CancellationToken,
) -> Result<Option<f64>> {
    // Every main dies at once: its port refuses from now on.
    let killed = Instant::now();
    stop_main.cancel();
    let failed_over = tokio::task::spawn_blocking({
        let cli = cli.clone();
        move || {
            let limit = cli.detect(cli.fall)
                + Duration::from_millis(cli.timeout_ms)
                + Duration::from_secs(120);
            wait_all(admin, cli.groups, killed, limit, |g| {
                g["state"] == "failed_over"
                    && g["active"]
                        .as_array()
                        .is_some_and(|a| a == &[json!("backup")])
            })
        }
    })
    .await?;
    eprintln!("  every main closed: all failed over after {failed_over:?} s");
    Ok(failed_over)
}

/// How many of the `n` names answer the backup's address (127.0.0.3).
pub async fn backup_answers(dns: SocketAddr, n: usize) -> Result<usize> {
    Ok(tokio::task::spawn_blocking(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        sock.set_read_timeout(Some(Duration::from_millis(500))).ok();
        (0..n)
            .filter(|i| {
                ask_a(&sock, dns, *i as u16, &format!("g{i}.scale.test.")) == Some([127, 0, 0, 3])
            })
            .count()
    })
    .await?)
}
