//! TCP proxy: one accept loop per `[[group.listener]]` on every worker thread, forwarding
//! each connection to the group's active targets as the current snapshot names them.

mod connect;
mod copy;
mod listener;
mod session;
#[cfg(target_os = "linux")]
mod splice;

pub use listener::{serve, ListenerCtx};
