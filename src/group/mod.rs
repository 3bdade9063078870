//! Group state: the pure failover state machine, the snapshot every reader serves from,
//! and the supervisor, the single writer that turns health verdicts into new snapshots.

mod announce;
pub mod cluster_link;
mod commands;
pub mod gates;
mod group_state;
mod inputs;
pub mod machine;
pub mod notices;
mod persist;
mod reload;
pub mod snapshot;
pub mod supervisor;
mod transition;
mod verdicts;
pub mod wire_command;

pub use crate::vocab::{AdminState, Cause, GroupStatus, Health, Role};
