//! Operator commands as they travel through etcd, from the instance that was asked to the
//! leader that decides (see `cluster::forward`), and their answers.

use serde::{Deserialize, Serialize};

use super::commands::{Command, CommandError};
use super::AdminState;

/// The commands a follower hands to the leader. `disconnect` is not one: it closes this
/// instance's own sessions and decides nothing; a reload is each instance's own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum WireCommand {
    Switch {
        group: String,
        target: String,
        force: bool,
    },
    Release {
        group: String,
    },
    Failback {
        group: String,
    },
    Commit {
        group: String,
    },
    Uncommit {
        group: String,
    },
    Retry {
        group: String,
    },
    SetAdmin {
        group: String,
        target: String,
        state: AdminState,
    },
}

/// A forwarded command's answer: the leader's generation, or its error as it was.
pub type WireAnswer = Result<u64, CommandError>;

impl WireCommand {
    /// The wire form of `command`, or `None` when it is not the leader's to decide.
    pub fn of(command: &Command) -> Option<WireCommand> {
        Some(match command {
            Command::Switch {
                group,
                target,
                force,
            } => WireCommand::Switch {
                group: group.clone(),
                target: target.clone(),
                force: *force,
            },
            Command::Release { group } => WireCommand::Release {
                group: group.clone(),
            },
            Command::Failback { group } => WireCommand::Failback {
                group: group.clone(),
            },
            Command::Commit { group } => WireCommand::Commit {
                group: group.clone(),
            },
            Command::Uncommit { group } => WireCommand::Uncommit {
                group: group.clone(),
            },
            Command::Retry { group } => WireCommand::Retry {
                group: group.clone(),
            },
            Command::SetAdmin {
                group,
                target,
                state,
            } => WireCommand::SetAdmin {
                group: group.clone(),
                target: target.clone(),
                state: *state,
            },
            // A drill runs on the instance that leads (see `drill`).
            Command::Disconnect { .. }
            | Command::Reload(_)
            | Command::Drill { .. }
            | Command::EndDrill { .. } => return None,
        })
    }

    pub fn into_command(self) -> Command {
        match self {
            WireCommand::Switch {
                group,
                target,
                force,
            } => Command::Switch {
                group,
                target,
                force,
            },
            WireCommand::Release { group } => Command::Release { group },
            WireCommand::Failback { group } => Command::Failback { group },
            WireCommand::Commit { group } => Command::Commit { group },
            WireCommand::Uncommit { group } => Command::Uncommit { group },
            WireCommand::Retry { group } => Command::Retry { group },
            WireCommand::SetAdmin {
                group,
                target,
                state,
            } => Command::SetAdmin {
                group,
                target,
                state,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_forwarded_command_comes_back_the_same() {
        let all = [
            WireCommand::Switch {
                group: "g".into(),
                target: "b".into(),
                force: true,
            },
            WireCommand::Release { group: "g".into() },
            WireCommand::Failback { group: "g".into() },
            WireCommand::Commit { group: "g".into() },
            WireCommand::Uncommit { group: "g".into() },
            WireCommand::Retry { group: "g".into() },
            WireCommand::SetAdmin {
                group: "g".into(),
                target: "m".into(),
                state: AdminState::Drain,
            },
        ];
        for w in all {
            let text = serde_json::to_string(&w).unwrap();
            let back: WireCommand = serde_json::from_str(&text).unwrap();
            assert_eq!(
                WireCommand::of(&back.clone().into_command()),
                Some(w),
                "{text}"
            );
        }
        let e: WireAnswer = Err(CommandError::Conflict("target down".into()));
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<WireAnswer>(&text).unwrap(), e);
    }
}
