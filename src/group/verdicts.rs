//! From check results to verdicts, as the supervisor counts them: active checks through
//! rise/fall, passive signals (refused client connects) through their own window, and the
//! passage of time (failback holds, flapping probation).

use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use super::supervisor::{CheckReport, PassiveReport, Supervisor};
use super::Health;

impl Supervisor {
    /// Handles one active check report; true when it changed a verdict (and so maybe a
    /// deadline). Every failure, verdict or not, restarts the target's failback hold; that
    /// only ever moves a deadline later, so the timer is left as it is (a tick that comes
    /// early finds nothing to do and sets the next one), sparing a pass over every group at
    /// each failed check.
    /// A role check's role is recorded before the verdict, so a standby's first verdict
    /// already knows it is one.
    pub(super) fn on_check(&mut self, r: CheckReport) -> bool {
        let Some(&(gi, ti)) = self.routes.get(&r.id) else {
            // A checker stopped by a reload, reporting its last probe.
            return false;
        };
        let now = Instant::now();
        let g = &mut self.groups[gi];
        if g.note_error(ti, (!r.ok).then_some(r.detail.as_str())) {
            self.touch(gi);
        }
        if !r.ok {
            self.note_failure(gi, ti, now);
        }
        let role_changed = r.role.is_some_and(|role| self.on_role(gi, ti, role, now));
        let g = &mut self.groups[gi];
        let Some(verdict) = g.counters[ti].record(r.ok) else {
            return role_changed;
        };
        self.verdict(gi, ti, verdict, false, &r.detail, now);
        true
    }

    /// The role a target's check answered; true when it changed (a promotion may start a
    /// failback hold, so a deadline may move). A follower records it but serves the
    /// committed decision, as with the passage of time.
    fn on_role(&mut self, gi: usize, ti: usize, role: super::Role, now: Instant) -> bool {
        let follower = self.role == super::cluster_link::Role::Follower;
        let g = &mut self.groups[gi];
        if g.machine.targets()[ti].role == Some(role) {
            return false;
        }
        let committed = follower.then(|| g.machine.decision());
        let was = g.machine.targets()[ti].role;
        let mut transition = g.machine.set_role(ti, role, now);
        if let Some(d) = committed {
            g.machine.restore(&d);
            transition = None;
        }
        let (group, target) = (&g.config.name, &g.config.targets[ti].name);
        info!(%group, %target, role = role.as_str(), "target role");
        // A promotion or demotion is history; a role learnt anew (at start, after a down)
        // is not, or 10,000 starting groups would push everything else out of it.
        if let Some(was) = was {
            let details = json!({ "target": target, "role": role, "from": was });
            let epoch = Some(g.machine.epoch());
            self.services
                .events
                .record("role", Some(group), epoch, details);
        }
        self.decide(gi, transition);
        true
    }

    /// A client connect the proxy saw fail. `passive_fall` of them within `passive_window`
    /// count as one failed check (HAProxy's `on-error fail-check`): a target that refuses
    /// every client reaches `fall` within milliseconds under traffic, while a backlog that
    /// overflows for a moment does not, since the good checks between reset the count.
    /// True when that made a verdict.
    pub(super) fn on_passive(&mut self, r: PassiveReport) -> bool {
        if r.generation != self.generation {
            return false;
        }
        let now = Instant::now();
        let Some(g) = self.groups.get(r.group) else {
            return false;
        };
        if r.target >= g.counters.len() {
            return false;
        }
        self.note_failure(r.group, r.target, now);
        let g = &mut self.groups[r.group];
        if g.counters[r.target].health() == Health::Down || !g.passive[r.target].record(now) {
            return false;
        }
        let Some(verdict) = g.counters[r.target].record(false) else {
            return false;
        };
        let h = &g.config.health;
        let detail = format!(
            "{} failed client connects within {} (a failed check); last: {}",
            h.passive_fall,
            crate::config::duration::show(h.passive_window),
            r.detail
        );
        self.verdict(r.group, r.target, verdict, true, &detail, now);
        true
    }

    /// A failure without a verdict restarts the target's failback hold; when that moves a
    /// pending failback, the group is published again so that readers (the API, the
    /// status page) show the new countdown rather than a deadline that will not come.
    fn note_failure(&mut self, gi: usize, ti: usize, now: Instant) {
        let g = &mut self.groups[gi];
        let due = g.machine.failback_due();
        g.machine.note_failure(ti, now);
        if due.is_some() && g.machine.failback_due() != due {
            self.touch(gi);
        }
    }

    /// A new verdict: logged, recorded, then decided on.
    fn verdict(
        &mut self,
        gi: usize,
        ti: usize,
        verdict: Health,
        passive: bool,
        detail: &str,
        now: Instant,
    ) {
        let g = &mut self.groups[gi];
        let (group, target) = (g.config.name.clone(), g.config.targets[ti].name.clone());
        let was_flapping = g.machine.targets()[ti].flapping;
        // With a cluster, this instance's verdict is one vote: shared, not decided on.
        let alone = self.role == super::cluster_link::Role::Alone;
        let transition = if alone {
            g.machine.set_health(ti, verdict, now)
        } else {
            None
        };
        let flapping = g.machine.targets()[ti].flapping;
        match verdict {
            Health::Down => {
                warn!(%group, target = %target, passive, detail, flapping, "target down")
            }
            _ => {
                info!(%group, target = %target, health = verdict.as_str(), "target {}", verdict.as_str())
            }
        }
        if flapping && !was_flapping {
            warn!(%group, target = %target, "target flapping: it takes no traffic back until it has been stable for failback_hold");
        }
        let details = json!({
            "target": target, "health": verdict.as_str(), "passive": passive,
            "detail": detail, "flapping": flapping,
        });
        self.services
            .events
            .record("health", Some(&group), Some(g.machine.epoch()), details);
        self.decide(gi, transition);
        if !alone {
            self.share_verdict(gi, ti, verdict);
        }
    }

    /// Time passed: holds may have ended, flapping targets may have calmed down.
    pub(super) fn on_tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.groups.len() {
            let flapping = |g: &super::group_state::GroupState| {
                g.machine.targets().iter().filter(|t| t.flapping).count()
            };
            let before = flapping(&self.groups[i]);
            // A follower serves committed decisions only: a failback its clock allows is
            // the leader's to decide, so its machine goes back to the committed decision.
            let follower = self.role == super::cluster_link::Role::Follower;
            let committed = follower.then(|| self.groups[i].machine.decision());
            let mut transition = self.groups[i].machine.tick(now);
            if let Some(d) = committed {
                self.groups[i].machine.restore(&d);
                transition = None;
            }
            if flapping(&self.groups[i]) != before {
                info!(group = %self.groups[i].config.name, "target stable again: no longer flapping");
                self.touch(i);
            }
            if transition.is_some() {
                self.decide(i, transition);
            }
            self.gate_check(i);
        }
    }
}
