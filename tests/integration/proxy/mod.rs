//! TCP proxy end to end: the real binary in front of real backends on 127.0.0.2 (main) and
//! 127.0.0.3 (backup): bytes both ways, half-close, connection limit, idle timeout,
//! eviction on failover, graceful shutdown and connect retry.
//!
//! This module holds the config those tests share: echo backends behind tcp checks, with
//! lines added to the listener.

mod data_path;
mod limits;
mod retry;
mod sessions;
#[cfg(target_os = "linux")]
mod workers;

use crate::harness::*;

const TCP_HEALTH: &str = r#"kind = "tcp"
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1"#;

/// The line `two_stack_config` writes last in `[[group.listener]]`.
const LISTENER_ANCHOR: &str = "connect_timeout = \"300ms\"\n";

/// Adds `lines` to the (only) `[[group.listener]]` of a `two_stack_config` text.
fn with_listener_lines(config: &str, lines: &str) -> String {
    assert!(
        config.contains(LISTENER_ANCHOR),
        "two_stack_config changed: no {LISTENER_ANCHOR:?}"
    );
    config.replacen(LISTENER_ANCHOR, &format!("{LISTENER_ANCHOR}{lines}\n"), 1)
}

/// Config for echo backends on `port`: tcp checks, `group_extra` in the group and
/// `listener_extra` in the listener.
fn echo_config(port: u16, group_extra: &str, listener_extra: &str) -> String {
    let text = two_stack_config(port, MAIN, BACKUP, group_extra, TCP_HEALTH);
    with_listener_lines(&text, listener_extra)
}
