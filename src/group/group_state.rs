//! One group as the supervisor holds it: its config, state machine, rise/fall counters per
//! target, and what the snapshot shows of it.

use std::sync::Arc;

use metrics::counter;
use tokio::sync::watch;

use super::machine::Gate;
use super::machine::{Machine, Policy};
use super::snapshot::{Change, GroupSnap, HeldSnap, TargetSnap};
use crate::config::GroupConfig;
use crate::health::verdict::{Counter, PassiveWindow};
use crate::metrics as m;

pub(super) struct GroupState {
    pub config: Arc<GroupConfig>,
    pub machine: Machine,
    pub counters: Vec<Counter>,
    /// Failed client connects per target, counted apart from the active checks.
    pub passive: Vec<PassiveWindow>,
    /// Why each target's last check failed (`None` once one passed): what the API shows.
    /// Shared with the snapshots, and replaced only when the text changes.
    pub errors: Vec<Option<Arc<str>>>,
    pub last_change: Option<Change>,
    pub disconnect_gen: u64,
    /// What the last publish showed of this group; shared by every snapshot until the
    /// group changes.
    pub published: Arc<GroupSnap>,
    /// Changed since `published` was made: the next publish rebuilds it.
    pub dirty: bool,
    /// Wakes the readers of this group alone (its proxied sessions) at each publish that
    /// changed it. Kept across reloads, so sessions stay subscribed.
    pub changed: watch::Sender<u64>,
    /// The machine's `gate_seq` last seen by `Supervisor::gate_check`.
    pub gate_seen: u64,
    /// The gate running now, as the runner last reported.
    pub gate_step: Option<super::gates::GateStep>,
    /// Since when a switch is held (running or failed).
    pub held_since: Option<std::time::SystemTime>,
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
            gated: config.gated(),
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
        let (changed, _) = watch::channel(0);
        GroupState {
            machine: Machine::new(&priorities, policy)
                .with_primary_only(config.health.require_primary),
            counters,
            passive,
            errors: vec![None; config.targets.len()],
            published: Arc::new(GroupSnap::placeholder(config.clone())),
            config,
            last_change: None,
            disconnect_gen: 0,
            dirty: true,
            changed,
            gate_seen: 0,
            gate_step: None,
            held_since: None,
        }
    }

    /// Records why target `ti`'s last check failed (`None`: it passed); true when that
    /// changed what the group shows. A target failing the same way at every check
    /// changes nothing after the first.
    pub(super) fn note_error(&mut self, ti: usize, error: Option<&str>) -> bool {
        let Some(slot) = self.errors.get_mut(ti) else {
            return false;
        };
        if slot.as_deref() == error {
            return false;
        }
        *slot = error.map(Arc::from);
        true
    }

    /// Rebuilds what readers see of this group if it changed (its metrics are read from
    /// that at scrape time); true when it did.
    pub(super) fn refresh(&mut self) -> bool {
        if !self.dirty {
            return false;
        }
        self.published = Arc::new(self.snap());
        self.dirty = false;
        counter!(m::SNAPSHOT_GROUPS_REBUILT_TOTAL).increment(1);
        true
    }

    fn held_snap(&self) -> Option<Arc<HeldSnap>> {
        let (s, failed) = match self.machine.gate() {
            Gate::Open => return None,
            Gate::Running(s) => (s, None),
            Gate::Failed { switch, reason } => (switch, Some(reason.clone())),
        };
        Some(Arc::new(HeldSnap {
            to: s.to.clone(),
            cause: s.cause,
            attempt: s.attempt,
            failed,
            since: self.held_since,
            step: self.gate_step.clone(),
        }))
    }

    fn snap(&self) -> GroupSnap {
        GroupSnap {
            config: self.config.clone(),
            epoch: self.machine.epoch(),
            status: self.machine.status(),
            active: self.machine.active().to_vec(),
            targets: self
                .machine
                .targets()
                .iter()
                .zip(&self.errors)
                .map(|(t, error)| TargetSnap {
                    health: t.health,
                    admin: t.admin,
                    priority: t.priority,
                    flapping: t.flapping,
                    role: t.role,
                    standby: t.barred_standby(),
                    last_error: error.clone(),
                })
                .collect(),
            last_change: self.last_change,
            pin: self.machine.pin(),
            failback_at: self.machine.failback_due().map(wall_clock),
            disconnect_gen: self.disconnect_gen,
            held: self.held_snap(),
            changed: self.changed.subscribe(),
        }
    }
}

/// `at` on the wall clock: readers outside this process need a time they can compare.
fn wall_clock(at: tokio::time::Instant) -> std::time::SystemTime {
    let now = tokio::time::Instant::now();
    let wall = std::time::SystemTime::now();
    if at >= now {
        wall + (at - now)
    } else {
        wall - (now - at)
    }
}
