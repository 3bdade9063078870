//! The shared vocabulary of the decision core, at the bottom of the module graph: what a
//! target's health and admin state are, why a group changed, what state a group is in.
//! Everything speaks it (checks, the state machine, the state file, the API, metrics) and
//! it depends on nothing of the crate.

use serde::{Deserialize, Serialize};

/// A target's health verdict. `Unknown` until the first verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What an operator allows a target to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// Normal.
    Enabled,
    /// No new traffic; existing connections stay.
    Drain,
    /// No traffic at all; checks keep running.
    Maintenance,
}

impl AdminState {
    pub const ALL: [AdminState; 3] = [
        AdminState::Enabled,
        AdminState::Drain,
        AdminState::Maintenance,
    ];

    /// The name the API, the state file and the metrics use (serde's, by the test below).
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Enabled => "enabled",
            AdminState::Drain => "drain",
            AdminState::Maintenance => "maintenance",
        }
    }
}

/// Why a group's active targets changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    Health,
    Manual,
    Failback,
    Commit,
    /// An operator's drain, maintenance or enable: planned work, never a health alert.
    Admin,
    Config,
    /// A rehearsed failover (the runbook's drill).
    Drill,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Health => "health",
            Cause::Manual => "manual",
            Cause::Failback => "failback",
            Cause::Commit => "commit",
            Cause::Admin => "admin",
            Cause::Config => "config",
            Cause::Drill => "drill",
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group's overall condition, as the API and metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// Serving from the best-priority tier.
    Primary,
    /// Serving from a lower-priority tier.
    FailedOver,
    /// No target is up: serving the last tier (fail_static) or nothing (fail_closed).
    AllDown,
    /// A switch is decided and its gates are running ("failover processing"); traffic
    /// stays where it was until they pass.
    Switching,
    /// A gate of the decided switch failed; traffic stayed.
    SwitchFailed,
}

impl GroupStatus {
    pub const ALL: [GroupStatus; 5] = [
        GroupStatus::Primary,
        GroupStatus::FailedOver,
        GroupStatus::AllDown,
        GroupStatus::Switching,
        GroupStatus::SwitchFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Primary => "primary",
            GroupStatus::FailedOver => "failed_over",
            GroupStatus::AllDown => "all_down",
            GroupStatus::Switching => "switching",
            GroupStatus::SwitchFailed => "switch_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AdminState;

    #[test]
    fn admin_state_names_are_serdes() {
        for s in AdminState::ALL {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, s.as_str());
        }
    }
}
