//! Choosing and connecting to a target: the active tier first (rotated, so a tier shares
//! load), then the other usable targets by priority. A failed connect moves on to the next
//! candidate and is reported to the supervisor as a passive health signal, unless the
//! failure was failoverd's own (out of descriptors, ports or buffers: `local_error`).

use std::io;
use std::net::SocketAddr;

use socket2::Socket;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use super::listener::ListenerCtx;
use crate::config::{AllDown, TargetAddress};
use crate::group::snapshot::{GroupSnap, Snapshot};
use crate::group::{AdminState, Health};

/// Targets to try, in order. Empty only when nothing may serve (fail_closed, all down).
/// In a group with gates, only the active targets: a target the gates have not prepared
/// (a replica not yet promoted, a stack not yet unfenced) must never take a connection, so
/// a dead main's clients see failed connects until the gates pass.
pub fn candidates(g: &GroupSnap, rotate: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(g.targets.len());
    let active = &g.active;
    for k in 0..active.len() {
        out.push(active[(rotate + k) % active.len()]);
    }
    if (active.is_empty() && g.config.all_down == AllDown::FailClosed) || g.config.gated() {
        return out;
    }
    // Fallbacks: up targets before unchecked ones, each by priority; never drained,
    // in maintenance, known down, or a standby that `role = "primary"` bars.
    for wanted in [Health::Up, Health::Unknown] {
        let mut rest: Vec<usize> = (0..g.targets.len())
            .filter(|i| !out.contains(i))
            .filter(|&i| {
                let t = &g.targets[i];
                t.admin == AdminState::Enabled && t.health == wanted && !t.standby
            })
            .collect();
        rest.sort_by_key(|&i| g.targets[i].priority);
        out.extend(rest);
    }
    out
}

/// Connects to the first candidate that answers within the connect timeout.
pub async fn connect(
    ctx: &ListenerCtx,
    snap: &Snapshot,
    group: usize,
    order: &[usize],
) -> Option<(usize, TcpStream)> {
    let g = &snap.groups[group];
    for &target in order {
        let addrs = match resolve(&g.config.targets[target].address, ctx.config.target_port).await {
            Ok(a) => a,
            Err(e) => {
                ctx.connect_failed(snap, group, target, format!("resolve: {e}"));
                continue;
            }
        };
        for addr in addrs {
            let started = Instant::now();
            match tokio::time::timeout(ctx.config.connect_timeout, crate::tcp::connect(addr, tune))
                .await
            {
                Ok(Ok(stream)) => {
                    if let Some(m) = ctx.metrics_for(&g.config.targets[target].name) {
                        m.connect_duration.record(started.elapsed().as_secs_f64());
                    }
                    return Some((target, stream));
                }
                Ok(Err(e)) => {
                    if let Some(kind) = crate::local_error::kind(&e) {
                        // failoverd's own shortage: nothing to hold against the target.
                        crate::local_error::record(kind, "proxy connect", &e);
                        continue;
                    }
                    debug!(group = %g.name(), target = %g.config.targets[target].name, %addr, error = %e, "connect failed");
                    ctx.connect_failed(snap, group, target, format!("connect {addr}: {e}"));
                }
                Err(_) => {
                    debug!(group = %g.name(), target = %g.config.targets[target].name, %addr, "connect timed out");
                    ctx.connect_failed(snap, group, target, format!("connect {addr}: timeout"));
                }
            }
        }
    }
    None
}

async fn resolve(address: &TargetAddress, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    match address {
        TargetAddress::Ips(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()),
        TargetAddress::Host(h) => Ok(tokio::net::lookup_host((h.as_str(), port)).await?.collect()),
    }
}

/// The options of `crate::sockets::tune` on a target connection, before its SYN (see
/// `crate::tcp::connect`); listeners get them once (`sockets::tune_listener`), and accepted
/// sockets inherit them (Linux), which saves four setsockopt calls per client connection.
fn tune(sock: &Socket) -> io::Result<()> {
    crate::sockets::tune(sock);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::group::snapshot::TargetSnap;
    use crate::group::GroupStatus;
    use crate::sockets::{tune_listener, KEEPALIVE_IDLE};
    use socket2::SockRef;

    fn group(all_down: &str, active: Vec<usize>, health: &[Health]) -> GroupSnap {
        group_with(all_down, "", active, health)
    }

    fn group_with(all_down: &str, hooks: &str, active: Vec<usize>, health: &[Health]) -> GroupSnap {
        let text = format!(
            r#"
            [[group]]
            name = "g"
            all_down = "{all_down}"
            {hooks}
            [[group.listener]]
            listen = "127.0.0.1:0"
            target_port = 1
            [[group.target]]
            name = "a"
            address = "127.0.0.2"
            priority = 1
            [[group.target]]
            name = "b"
            address = "127.0.0.3"
            priority = 1
            [[group.target]]
            name = "c"
            address = "127.0.0.4"
            priority = 2
            [[group.target]]
            name = "d"
            address = "127.0.0.5"
            priority = 3
            "#
        );
        let cfg = Config::parse(&text).unwrap();
        GroupSnap {
            config: cfg.groups[0].clone(),
            epoch: 1,
            status: GroupStatus::Primary,
            active,
            targets: health
                .iter()
                .zip(&cfg.groups[0].targets)
                .map(|(&h, t)| TargetSnap {
                    health: h,
                    admin: AdminState::Enabled,
                    priority: t.priority,
                    flapping: false,
                    role: None,
                    standby: false,
                    last_error: None,
                })
                .collect(),
            last_change: None,
            pin: None,
            failback_at: None,
            disconnect_gen: 0,
            held: None,
            changed: tokio::sync::watch::channel(0).1,
        }
    }

    #[tokio::test]
    async fn accepted_sockets_inherit_the_listener_options() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tune_listener(&listener);
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
        let sock = SockRef::from(&accepted);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
    }

    #[tokio::test]
    async fn target_connections_are_tuned_before_the_syn() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = crate::tcp::connect(listener.local_addr().unwrap(), tune)
            .await
            .unwrap();
        assert!(stream.nodelay().unwrap());
        let sock = SockRef::from(&stream);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
    }

    #[test]
    fn active_tier_rotates_then_up_then_unknown_fallbacks() {
        use Health::*;
        let g = group("fail_static", vec![0, 1], &[Up, Up, Unknown, Up]);
        assert_eq!(candidates(&g, 0), vec![0, 1, 3, 2]);
        assert_eq!(candidates(&g, 1), vec![1, 0, 3, 2]);
    }

    #[test]
    fn a_gated_group_never_falls_back_past_its_active_targets() {
        use Health::*;
        let gate =
            "[[group.hook]]\n            stage = \"before\"\n            command = [\"/bin/true\"]";
        let g = group_with("fail_static", gate, vec![0, 1], &[Down, Up, Up, Up]);
        assert_eq!(candidates(&g, 0), vec![0, 1]);
    }

    #[test]
    fn down_targets_are_not_fallbacks_and_fail_closed_refuses() {
        use Health::*;
        let g = group("fail_static", vec![2], &[Down, Down, Up, Down]);
        assert_eq!(candidates(&g, 7), vec![2]);
        let g = group("fail_closed", vec![], &[Down, Down, Down, Down]);
        assert!(candidates(&g, 0).is_empty());
    }
}
