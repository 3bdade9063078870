//! The session's lease: taking one (the last session's while etcd still holds it) and
//! how long an acknowledged renewal surely keeps it alive.

use std::collections::VecDeque;
use std::time::Duration;

use etcd_client::{Client, LeaseKeepAliveStream, LeaseKeeper};
use tokio::time::Instant;

use super::e;

/// A lease held: its keep-alive stream, the send times of renewals not yet acknowledged,
/// and until when it surely lives.
pub(super) struct Held {
    pub(super) lease: i64,
    pub(super) keeper: LeaseKeeper,
    pub(super) acks: LeaseKeepAliveStream,
    pub(super) sent: VecDeque<Instant>,
    pub(super) valid_until: Instant,
}

/// `previous` (the last session's lease) when etcd acknowledges a renewal of it, else a
/// new lease. Keeping it, a session lost with its etcd member keeps this instance's keys,
/// the leader key too: no election, no pause in deciding.
pub(super) async fn take_lease(
    client: &mut Client,
    ttl: Duration,
    previous: Option<i64>,
) -> Result<Held, String> {
    // `lease_keep_alive` sends a renewal and waits for etcd's answer to it: Ok is a renewal
    // acknowledged, and a lease etcd no longer holds is its LeaseKeepAliveError.
    if let Some(lease) = previous {
        let sent = Instant::now();
        match client.lease_keep_alive(lease).await {
            Ok((keeper, acks)) => {
                return Ok(Held {
                    lease,
                    keeper,
                    acks,
                    sent: VecDeque::new(),
                    valid_until: sent + margin_of(ttl),
                })
            }
            Err(etcd_client::Error::LeaseKeepAliveError(_)) => {}
            Err(err) => return Err(e("lease")(err)),
        }
    }
    let granted = Instant::now();
    let secs = ttl.as_secs().max(1) as i64;
    let lease = client
        .lease_grant(secs, None)
        .await
        .map_err(e("lease"))?
        .id();
    let (keeper, acks) = client.lease_keep_alive(lease).await.map_err(e("lease"))?;
    Ok(Held {
        lease,
        keeper,
        acks,
        sent: VecDeque::new(),
        valid_until: granted + margin_of(ttl),
    })
}

/// How long a lease acknowledged at `t` surely lives after `t`: its TTL less a tenth (at
/// least 300 ms) for clock rate differences and etcd's own expiry checks.
pub(super) fn margin_of(ttl: Duration) -> Duration {
    ttl.saturating_sub((ttl / 10).max(Duration::from_millis(300)))
}
