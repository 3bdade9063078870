//! What the state machine outputs: a change of a group's active targets or of its all-down
//! state, with its cause and epoch. The supervisor persists, announces and publishes it.

use super::Cause;

/// Entering or leaving the all-down state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDownEdge {
    Entered,
    Left,
}

/// A change of the active targets, or of the all-down state (then `from == to` may hold:
/// under `fail_static` the last tier keeps serving).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Vec<usize>,
    pub to: Vec<usize>,
    pub cause: Cause,
    pub epoch: u64,
    /// Priorities of the tiers before and after (`None`: nothing active).
    pub from_tier: Option<u32>,
    pub to_tier: Option<u32>,
    pub all_down: Option<AllDownEdge>,
}

impl Transition {
    /// A move to a better tier (or out of nothing).
    pub fn is_failback(&self) -> bool {
        match (self.from_tier, self.to_tier) {
            (Some(a), Some(b)) => b < a,
            _ => false,
        }
    }

    /// A move to a worse tier.
    pub fn is_failover(&self) -> bool {
        match (self.from_tier, self.to_tier) {
            (Some(a), Some(b)) => b > a,
            _ => false,
        }
    }

    /// The active targets changed (not only the all-down state).
    pub fn moved(&self) -> bool {
        self.from != self.to
    }
}
