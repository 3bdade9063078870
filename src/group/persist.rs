//! Between the supervisor's groups and the state file: what is saved, and how a saved
//! decision is resumed (after a restart) or carried over (after a reload).

use std::collections::BTreeMap;
use std::io;

use super::group_state::GroupState;
use super::machine::Decision;
use super::machine::SavedSwitch;
use super::supervisor::Supervisor;
use super::AdminState;
use crate::config::GroupConfig;
use crate::store::{SavedGroup, SavedHeld, SavedTarget, State, StateFile};

impl Supervisor {
    pub(super) fn saved_state(&self) -> State {
        let groups = self
            .groups
            .iter()
            .map(|g| (g.config.name.clone(), g.saved()))
            .collect();
        State {
            format: 1,
            groups,
            cluster_revision: self.cluster_revision,
        }
    }

    /// Writes every group's decision durably (see `store`); blocking I/O off the runtime.
    pub(super) async fn persist(&self) -> io::Result<()> {
        let Some(store) = &self.services.store else {
            return Ok(());
        };
        let (state, path) = (self.saved_state(), store.path().to_path_buf());
        tokio::task::spawn_blocking(move || StateFile::new(&path).save(&state))
            .await
            .map_err(io::Error::other)?
    }
}

impl GroupState {
    pub(super) fn saved(&self) -> SavedGroup {
        let names = |idx: &[usize]| {
            idx.iter()
                .map(|&i| self.config.targets[i].name.clone())
                .collect()
        };
        let targets: BTreeMap<String, SavedTarget> = self
            .config
            .targets
            .iter()
            .zip(self.machine.targets())
            .map(|(c, t)| {
                let saved = SavedTarget {
                    config_priority: c.priority,
                    priority: t.priority,
                    admin: t.admin,
                };
                (c.name.clone(), saved)
            })
            .collect();
        SavedGroup {
            epoch: self.machine.epoch(),
            active: names(self.machine.active()),
            pin: self
                .machine
                .pin()
                .map(|p| self.config.targets[p].name.clone()),
            targets,
            held: self.machine.saved_switch().map(|h| SavedHeld {
                to: names(&h.to),
                cause: h.cause,
                failed: h.failed,
            }),
        }
    }

    /// Resumes a saved decision by target name. A priority that the config changed since
    /// the save is the operator's newer word and wins over an older commit.
    pub(super) fn restore(&mut self, saved: &SavedGroup) {
        let decision = decision_for(&self.config, saved);
        self.machine.restore(&decision);
    }
}

pub(super) fn decision_for(config: &GroupConfig, saved: &SavedGroup) -> Decision {
    let index = |name: &str| config.targets.iter().position(|t| t.name == name);
    let mut priorities = Vec::with_capacity(config.targets.len());
    let mut admin = Vec::with_capacity(config.targets.len());
    for t in &config.targets {
        match saved.targets.get(&t.name) {
            Some(s) => {
                priorities.push(if s.config_priority == t.priority {
                    s.priority
                } else {
                    t.priority
                });
                admin.push(s.admin);
            }
            None => {
                priorities.push(t.priority);
                admin.push(AdminState::Enabled);
            }
        }
    }
    Decision {
        epoch: saved.epoch,
        active: saved.active.iter().filter_map(|n| index(n)).collect(),
        pin: saved.pin.as_deref().and_then(index),
        priorities,
        admin,
        // Held for targets that are all still in the config, or not at all.
        held: saved.held.as_ref().and_then(|h| {
            let to: Option<Vec<usize>> = h.to.iter().map(|n| index(n)).collect();
            Some(SavedSwitch {
                to: to?,
                cause: h.cause,
                failed: h.failed.clone(),
            })
        }),
    }
}
