//! Applying a new (already validated) config to the running groups.
//!
//! Groups are matched by name and targets by name: a kept target keeps its health verdict,
//! counters, failure history and admin state; an added one starts unknown; a removed group
//! is dropped (its listeners and checkers are stopped by the reconfiguration task). Pins,
//! commits and the epoch carry over. Check reports are routed by checker id, so a checker
//! kept by the reload goes on counting; the generation grows, so passive reports made on
//! an older snapshot's indices are ignored.

use std::collections::HashMap;

use serde_json::json;
use tokio::time::Instant;
use tracing::{error, info};

use super::commands::CommandError;
use super::group_state::GroupState;
use super::persist::decision_for;
use super::supervisor::{routes, Supervisor};
use super::Cause;
use crate::config::Config;
use crate::health::checker::CheckId;
use crate::health::verdict::Counter;

impl Supervisor {
    pub(super) async fn reload(
        &mut self,
        config: Config,
        checks: Vec<Vec<CheckId>>,
        actor: &str,
    ) -> Result<u64, CommandError> {
        let old_saved = self.saved_state();
        let mut old: HashMap<String, GroupState> = std::mem::take(&mut self.groups)
            .into_iter()
            .map(|g| (g.config.name.clone(), g))
            .collect();
        let (mut added, mut changed) = (Vec::new(), Vec::new());
        let mut groups = Vec::with_capacity(config.groups.len());
        for cfg in &config.groups {
            let mut state = GroupState::new(cfg.clone());
            match old.remove(&cfg.name) {
                Some(prev) => {
                    if prev.config != *cfg {
                        changed.push(cfg.name.clone());
                    }
                    state.carry_over(prev, old_saved.groups.get(&cfg.name));
                }
                None => added.push(cfg.name.clone()),
            }
            groups.push(state);
        }
        let removed: Vec<String> = old.into_keys().collect();
        self.groups = groups;
        // Every group is new (indices and configs may have moved): all are rebuilt.
        self.dirty = (0..self.groups.len()).collect();
        self.routes = routes(&checks);
        self.index = super::snapshot::index_of(&config.groups);
        self.generation += 1;
        // The zone's own records (SOA, NS, glue) may have changed too.
        self.dns = self.services.derive.and_then(|f| f(&config));
        let now = Instant::now();
        let transitions: Vec<_> = (0..self.groups.len())
            .map(|i| self.groups[i].machine.reevaluate(now, Cause::Config))
            .collect();
        for i in 0..self.groups.len() {
            self.gate_check(i);
        }
        if let Err(e) = self.persist().await {
            error!(error = %e, "cannot persist the decisions after a reload; serving them anyway");
        }
        for (i, t) in transitions.iter().enumerate() {
            self.announce(i, t.as_ref(), Some(actor), true);
        }
        info!(
            generation = self.generation,
            ?added,
            ?removed,
            ?changed,
            actor,
            "config reloaded"
        );
        let details = json!({ "result": "ok", "actor": actor, "added": added, "removed": removed, "changed": changed });
        self.services.events.record("reload", None, None, details);
        self.publish();
        Ok(self.generation)
    }
}

impl GroupState {
    /// Takes over what the previous incarnation of this group knew.
    fn carry_over(&mut self, prev: GroupState, saved: Option<&crate::store::SavedGroup>) {
        if let Some(saved) = saved {
            self.machine.restore(&decision_for(&self.config, saved));
        }
        for (i, t) in self.config.targets.iter().enumerate() {
            let Some(p) = prev.config.targets.iter().position(|o| o.name == t.name) else {
                continue;
            };
            self.machine.carry_target(i, &prev.machine.targets()[p]);
            let h = &self.config.health;
            self.counters[i] =
                if (h.rise, h.fall) == (prev.config.health.rise, prev.config.health.fall) {
                    prev.counters[p].clone()
                } else {
                    Counter::with_health(h.rise, h.fall, prev.counters[p].health())
                };
            if (h.passive_fall, h.passive_window)
                == (
                    prev.config.health.passive_fall,
                    prev.config.health.passive_window,
                )
            {
                self.passive[i] = prev.passive[p].clone();
            }
        }
        self.machine.carry_all_down(prev.machine.is_all_down());
        // The same held switch keeps its attempt and its running gates (none start again).
        self.machine.carry_gate(&prev.machine);
        self.gate_seen = self.machine.gate_seq();
        self.gate_step = prev.gate_step;
        self.held_since = prev.held_since;
        self.last_change = prev.last_change;
        self.disconnect_gen = prev.disconnect_gen;
        // The same channel: sessions of this group stay subscribed across the reload.
        self.changed = prev.changed;
    }
}
