//! A group's gauges, registered once when the group is made (at start or reload) and kept:
//! a publish sets the values of the groups it rebuilt, with no label lookup or allocation.

use metrics::{gauge, Gauge};

use super::group_state::GroupState;
use super::{GroupStatus, Health};
use crate::config::GroupConfig;
use crate::metrics as m;

pub(super) struct GroupGauges {
    epoch: Gauge,
    /// One per `GroupStatus::ALL`, in that order.
    state: Vec<Gauge>,
    targets: Vec<TargetGauges>,
}

struct TargetGauges {
    up: Gauge,
    active: Gauge,
    flapping: Gauge,
}

impl GroupGauges {
    pub(super) fn new(config: &GroupConfig) -> GroupGauges {
        let group = config.name.clone();
        GroupGauges {
            epoch: gauge!(m::GROUP_EPOCH, "group" => group.clone()),
            state: GroupStatus::ALL
                .iter()
                .map(|s| gauge!(m::GROUP_STATE, "group" => group.clone(), "state" => s.as_str()))
                .collect(),
            targets: config
                .targets
                .iter()
                .map(|t| {
                    let labels = [("group", group.clone()), ("target", t.name.clone())];
                    TargetGauges {
                        up: gauge!(m::TARGET_UP, &labels),
                        active: gauge!(m::TARGET_ACTIVE, &labels),
                        flapping: gauge!(m::TARGET_FLAPPING, &labels),
                    }
                })
                .collect(),
        }
    }

    /// Sets every gauge from the group's state.
    pub(super) fn set(&self, g: &GroupState) {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        self.epoch.set(g.machine.epoch() as f64);
        let status = g.machine.status();
        for (gauge, state) in self.state.iter().zip(GroupStatus::ALL) {
            gauge.set(flag(status == state));
        }
        for (i, (gauges, t)) in self.targets.iter().zip(g.machine.targets()).enumerate() {
            gauges.up.set(flag(t.health == Health::Up));
            gauges.active.set(flag(g.machine.active().contains(&i)));
            gauges.flapping.set(flag(t.flapping));
        }
    }
}
