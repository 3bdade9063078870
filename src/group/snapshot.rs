//! The snapshot: one immutable value with every group's active targets and state.
//!
//! The supervisor publishes a new `Arc<Snapshot>` through one `ArcSwap`; DNS, proxy and
//! admin load it lock-free, so they always agree on which targets are active. Each group
//! is its own `Arc`, shared by every snapshot until that group changes: a publish rebuilds
//! the groups that changed and copies pointers to the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::{AdminState, Cause, GroupStatus, Health, Role};
use crate::config::GroupConfig;

/// What each publish derives from the groups beside the snapshot itself, so that it
/// changes in the same step as the proxy's targets: the DNS answers. group defines this
/// interface and `dns` implements it; group knows nothing of DNS.
pub trait Derive: Send + Sync {
    /// Rebuilds after a publish in which only the groups at `changed` may differ from the
    /// last one. `serial`: the SOA serial the cluster's decisions give (`None` alone: the
    /// deriver uses `version`).
    fn derive(
        &mut self,
        version: u64,
        serial: Option<u32>,
        groups: &[Arc<GroupSnap>],
        changed: &[usize],
    ) -> Derived;
}

/// Makes the deriver of a config (`None`: nothing to derive, e.g. no `[dns]`).
pub type DeriveFactory = fn(&crate::config::Config) -> Option<Box<dyn Derive>>;

/// What a publish derived; its readers downcast it to the type they made.
#[derive(Clone)]
pub struct Derived(pub Arc<dyn std::any::Any + Send + Sync>);

impl Derived {
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived(..)")
    }
}

#[derive(Debug)]
pub struct Snapshot {
    /// Grows at every published change of any group.
    pub version: u64,
    /// Grows at every config reload; indices into `groups` and targets are per generation.
    pub generation: u64,
    pub groups: Vec<Arc<GroupSnap>>,
    /// Group index by name, made once per config generation.
    pub index: Arc<GroupIndex>,
    /// Derived from these very groups in the same publish (every DNS response; `None`
    /// without `[dns]`). See `Derive`.
    pub derived: Option<Derived>,
}

/// Group names to their index in `Snapshot::groups`.
pub type GroupIndex = HashMap<String, usize, rustc_hash::FxBuildHasher>;

/// The index of a config's groups.
pub fn index_of(groups: &[Arc<GroupConfig>]) -> Arc<GroupIndex> {
    Arc::new(
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.clone(), i))
            .collect(),
    )
}

#[derive(Debug, Clone)]
pub struct GroupSnap {
    pub config: Arc<GroupConfig>,
    /// Grows by one at every change of the active targets.
    pub epoch: u64,
    pub status: GroupStatus,
    /// Indices into `config.targets`, best first.
    pub active: Vec<usize>,
    pub targets: Vec<TargetSnap>,
    pub last_change: Option<Change>,
    /// The target an operator pinned the group to.
    pub pin: Option<usize>,
    /// When the running `failback_hold` ends and traffic goes back to a better tier, if
    /// nothing fails meanwhile (wall clock, for the API and the status page).
    pub failback_at: Option<SystemTime>,
    /// Grows at every `disconnect` command: sessions started before it close.
    pub disconnect_gen: u64,
    /// A switch held for its gates (state `switching` or `switch_failed`).
    pub held: Option<Arc<HeldSnap>>,
    /// Changes at every publish that changed this group (and closes when the group is
    /// gone): what a reader of this group alone waits on.
    pub changed: watch::Receiver<u64>,
}

/// A held switch as readers see it.
#[derive(Debug, Clone)]
pub struct HeldSnap {
    pub to: Vec<usize>,
    pub cause: Cause,
    pub attempt: u64,
    /// Why its gates failed (`None` while they run).
    pub failed: Option<String>,
    pub since: Option<SystemTime>,
    /// The gate running now.
    pub step: Option<super::gates::GateStep>,
}

#[derive(Debug, Clone)]
pub struct TargetSnap {
    pub health: Health,
    pub admin: AdminState,
    /// In effect (a commit can change it from the config's).
    pub priority: u32,
    /// See `machine::TargetState::flapping`.
    pub flapping: bool,
    /// What the role check last answered (`None`: unknown, or no role check).
    pub role: Option<Role>,
    /// A standby in a group with `role = "primary"`: a candidate, not a traffic target
    /// (shown as health `standby`).
    pub standby: bool,
    /// Why the last check failed; `None` once one passed.
    pub last_error: Option<Arc<str>>,
}

impl TargetSnap {
    /// The health the API and ctl show: `standby` for a reachable standby that takes no
    /// traffic, else the verdict.
    pub fn shown_health(&self) -> &'static str {
        match self.health {
            Health::Up if self.standby => "standby",
            h => h.as_str(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub cause: Cause,
    pub at: SystemTime,
}

impl Snapshot {
    pub fn group(&self, name: &str) -> Option<&GroupSnap> {
        self.groups.get(*self.index.get(name)?).map(|g| &**g)
    }

    /// The index of group `name`: `hint` when it is still that group (the same config
    /// generation), else looked up by name.
    pub fn find_group(&self, hint: usize, name: &str) -> Option<usize> {
        match self.groups.get(hint) {
            Some(g) if g.name() == name => Some(hint),
            _ => self.index.get(name).copied(),
        }
    }
}

impl GroupSnap {
    /// An empty group, for the moment before a group's first snapshot is made.
    pub(super) fn placeholder(config: Arc<GroupConfig>) -> GroupSnap {
        GroupSnap {
            config,
            epoch: 0,
            status: GroupStatus::Primary,
            active: Vec::new(),
            targets: Vec::new(),
            last_change: None,
            pin: None,
            failback_at: None,
            disconnect_gen: 0,
            held: None,
            changed: watch::channel(0).1,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn target_index(&self, name: &str) -> Option<usize> {
        self.config.targets.iter().position(|t| t.name == name)
    }

    pub fn is_active(&self, target: usize) -> bool {
        self.active.contains(&target)
    }

    pub fn active_names(&self) -> Vec<&str> {
        self.active
            .iter()
            .map(|&i| self.config.targets[i].name.as_str())
            .collect()
    }
}

/// What readers hold: the current snapshot, and a channel that says when it changed.
#[derive(Clone)]
pub struct SnapshotReader {
    swap: Arc<ArcSwap<Snapshot>>,
    changed: watch::Receiver<u64>,
}

impl SnapshotReader {
    pub fn new(swap: Arc<ArcSwap<Snapshot>>, changed: watch::Receiver<u64>) -> Self {
        SnapshotReader { swap, changed }
    }

    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.swap.load()
    }

    pub fn load_full(&self) -> Arc<Snapshot> {
        self.swap.load_full()
    }

    /// A receiver that wakes at every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.clone()
    }
}
