//! One group as the supervisor holds it: its config, state machine, rise/fall counters per
//! target, and what the snapshot shows of it.

use std::sync::Arc;

use super::machine::{Machine, Policy};
use super::snapshot::{Change, GroupSnap, TargetSnap};
use crate::config::GroupConfig;
use crate::health::verdict::{Counter, PassiveWindow};

pub(super) struct GroupState {
    pub config: Arc<GroupConfig>,
    pub machine: Machine,
    pub counters: Vec<Counter>,
    /// Failed client connects per target, counted apart from the active checks.
    pub passive: Vec<PassiveWindow>,
    pub last_change: Option<Change>,
    pub disconnect_gen: u64,
}

impl GroupState {
    pub(super) fn new(config: Arc<GroupConfig>) -> Self {
        let priorities: Vec<u32> = config.targets.iter().map(|t| t.priority).collect();
        let policy = Policy {
            failback: config.failback,
            failback_hold: config.failback_hold,
            all_down: config.all_down,
            flap_limit: config.health.flap_limit,
            flap_window: config.health.flap_window,
        };
        let counters = config
            .targets
            .iter()
            .map(|_| Counter::new(config.health.rise, config.health.fall))
            .collect();
        let h = &config.health;
        let passive = config
            .targets
            .iter()
            .map(|_| PassiveWindow::new(h.passive_fall, h.passive_window))
            .collect();
        GroupState {
            machine: Machine::new(&priorities, policy),
            counters,
            passive,
            config,
            last_change: None,
            disconnect_gen: 0,
        }
    }

    pub(super) fn snap(&self) -> GroupSnap {
        GroupSnap {
            config: self.config.clone(),
            epoch: self.machine.epoch(),
            status: self.machine.status(),
            active: self.machine.active().to_vec(),
            targets: self
                .machine
                .targets()
                .iter()
                .map(|t| TargetSnap {
                    health: t.health,
                    admin: t.admin,
                    priority: t.priority,
                    flapping: t.flapping,
                })
                .collect(),
            last_change: self.last_change,
            pin: self.machine.pin(),
            disconnect_gen: self.disconnect_gen,
        }
    }
}
