//! The per-group and per-target metric families, written at scrape time from the snapshot
//! and the counter book (`crate::metrics::book`) rather than kept as recorder series.
//!
//! A group's state series (epoch, state, up, active, flapping) are read from the same
//! snapshot DNS and the proxy serve from, so a scrape never shows a half-applied publish, and
//! a group a reload removed is gone from the next scrape (a recorder keeps a series forever).

use std::fmt::Write;
use std::sync::Arc;

use crate::group::snapshot::{GroupSnap, Snapshot};
use crate::group::{GroupStatus, Health};
use crate::metrics::book::{self, HookStats, TargetStats, CHECK_RESULTS, HOOK_RESULTS};
use crate::metrics::{
    DNS_ANSWERS_TOTAL, GROUP_EPOCH, GROUP_STATE, HEALTH_CHECKS_TOTAL, HOOK_RUNS_TOTAL,
    TARGET_ACTIVE, TARGET_ADMIN_STATE, TARGET_CHECK_DURATION, TARGET_FLAPPING, TARGET_UP,
};

/// One family: its name, type and HELP text.
struct Family(&'static str, &'static str, &'static str);

const EPOCH: Family = Family(
    GROUP_EPOCH,
    "gauge",
    "Epoch of the group: grows by one at every change of its active targets.",
);
const STATE: Family = Family(
    GROUP_STATE,
    "gauge",
    "1 for the group's current state (primary, failed_over, all_down), 0 for the others.",
);
const UP: Family = Family(
    TARGET_UP,
    "gauge",
    "1 when the target's health verdict is up, 0 when down or unknown.",
);
const ACTIVE: Family = Family(
    TARGET_ACTIVE,
    "gauge",
    "1 when the target is in its group's active set (DNS answers and proxy connects to it).",
);
const ADMIN_STATE: Family = Family(
    TARGET_ADMIN_STATE,
    "gauge",
    "The admin state an operator set on the target (enabled, drain, maintenance): one sample, 1, for the state in effect.",
);
const FLAPPING: Family = Family(
    TARGET_FLAPPING,
    "gauge",
    "1 while the target is flapping (went down flap_limit times within flap_window and has not been stable for failback_hold since).",
);
const CHECKS: Family = Family(
    HEALTH_CHECKS_TOTAL,
    "counter",
    "Health check probes of the target, by result (ok or the failure kind).",
);
const CHECK_DURATION: Family = Family(
    TARGET_CHECK_DURATION,
    "gauge",
    "Duration of the target's last finished health check probe.",
);
const ANSWERS: Family = Family(
    DNS_ANSWERS_TOTAL,
    "counter",
    "DNS answers for a failover address that named the target (A, AAAA or CNAME).",
);

const HOOK_RUNS: Family = Family(
    HOOK_RUNS_TOTAL,
    "counter",
    "Runs of the group's hooks, by hook name and result (ok, or error: failed, timed out or could not start).",
);

/// A group and its targets' and hooks' counters (`None`: no counters yet, e.g. before the
/// first check or run).
struct Row<'a> {
    group: &'a GroupSnap,
    stats: Vec<Option<Arc<TargetStats>>>,
    hooks: Vec<Option<Arc<HookStats>>>,
}

/// Appends every family of the snapshot's groups to `out`, in the text exposition format.
pub fn render(snap: &Snapshot, out: &mut String) {
    let mut rows: Vec<Row> = book::with(|find| {
        snap.groups
            .iter()
            .map(|g| Row {
                group: g,
                stats: g
                    .config
                    .targets
                    .iter()
                    .map(|t| find(g.name(), &t.name))
                    .collect(),
                hooks: Vec::new(),
            })
            .collect()
    });
    book::with_hooks(|find| {
        for r in &mut rows {
            let hooks = &r.group.config.hooks;
            r.hooks = hooks
                .iter()
                .map(|h| find(r.group.name(), &h.name))
                .collect();
        }
    });
    out.reserve(rows.len() * 1024);
    family(out, &EPOCH, &rows, |out, r| {
        sample(
            out,
            GROUP_EPOCH,
            &[r.group.name()],
            &[],
            r.group.epoch as f64,
        );
    });
    family(out, &STATE, &rows, |out, r| {
        for s in GroupStatus::ALL {
            let on = flag(r.group.status == s);
            sample(
                out,
                GROUP_STATE,
                &[r.group.name()],
                &[("state", s.as_str())],
                on,
            );
        }
    });
    per_target(out, &UP, &rows, |out, labels, r, i, _| {
        let up = r.group.targets[i].health == Health::Up;
        sample(out, TARGET_UP, labels, &[], flag(up));
    });
    per_target(out, &ACTIVE, &rows, |out, labels, r, i, _| {
        sample(out, TARGET_ACTIVE, labels, &[], flag(r.group.is_active(i)));
    });
    // One sample per target, its current state: the other states' zeros would triple the
    // family (three lines a target, 60,000 at 20,000 targets) for nothing `== 1` needs.
    per_target(out, &ADMIN_STATE, &rows, |out, labels, r, i, _| {
        let state = [("state", r.group.targets[i].admin.as_str())];
        sample(out, TARGET_ADMIN_STATE, labels, &state, 1.0);
    });
    per_target(out, &FLAPPING, &rows, |out, labels, r, i, _| {
        sample(
            out,
            TARGET_FLAPPING,
            labels,
            &[],
            flag(r.group.targets[i].flapping),
        );
    });
    per_target(out, &CHECKS, &rows, |out, labels, _, _, s| {
        let counts = s.map(|s| s.checks()).unwrap_or_default();
        for (n, (result, count)) in CHECK_RESULTS.iter().zip(counts).enumerate() {
            // `ok` always; a failure kind once it has happened (a scrape of 10,000 healthy
            // targets would otherwise be mostly zeros).
            if n == 0 || count > 0 {
                sample(
                    out,
                    HEALTH_CHECKS_TOTAL,
                    labels,
                    &[("result", result)],
                    count as f64,
                );
            }
        }
    });
    per_target(out, &CHECK_DURATION, &rows, |out, labels, _, _, s| {
        if let Some(took) = s.and_then(|s| s.last_check()) {
            sample(out, TARGET_CHECK_DURATION, labels, &[], took.as_secs_f64());
        }
    });
    family(out, &HOOK_RUNS, &rows, |out, r| {
        // Every configured hook, zeros included: the first failure is then an increase.
        for (h, stats) in r.group.config.hooks.iter().zip(&r.hooks) {
            let runs = stats.as_ref().map(|s| s.runs()).unwrap_or_default();
            for (result, n) in HOOK_RESULTS.iter().zip(runs) {
                let labels = [("hook", h.name.as_str()), ("result", *result)];
                sample(out, HOOK_RUNS_TOTAL, &[r.group.name()], &labels, n as f64);
            }
        }
    });
    if snap.derived.is_some() {
        per_target(out, &ANSWERS, &rows, |out, labels, _, _, s| {
            let n = s.map_or(0, |s| s.dns_answers());
            sample(out, DNS_ANSWERS_TOTAL, labels, &[], n as f64);
        });
    }
}

fn family<'a>(out: &mut String, f: &Family, rows: &'a [Row<'a>], each: impl Fn(&mut String, &Row)) {
    if rows.is_empty() {
        return;
    }
    let Family(name, kind, help) = f;
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    for r in rows {
        each(out, r);
    }
}

/// A family with one or more samples per target; `each` gets the target's `group` and
/// `target` label values, its row, its index and its counters.
fn per_target<'a>(
    out: &mut String,
    f: &Family,
    rows: &'a [Row<'a>],
    each: impl Fn(&mut String, &[&str; 2], &Row, usize, Option<&TargetStats>),
) {
    family(out, f, rows, |out, r| {
        for (i, t) in r.group.config.targets.iter().enumerate() {
            let labels = [r.group.name(), t.name.as_str()];
            each(out, &labels, r, i, r.stats[i].as_deref());
        }
    });
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// One sample line: `names[0]` is the group, `names[1]` (if any) the target, then `extra`.
fn sample(out: &mut String, name: &str, names: &[&str], extra: &[(&str, &str)], value: f64) {
    out.push_str(name);
    let keys = ["group", "target"];
    let labels = keys.iter().zip(names).map(|(k, v)| (*k, *v));
    for (n, (k, v)) in labels.chain(extra.iter().copied()).enumerate() {
        out.push(if n == 0 { '{' } else { ',' });
        out.push_str(k);
        out.push_str("=\"");
        escape(out, v);
        out.push('"');
    }
    out.push_str("} ");
    let _ = writeln!(out, "{value}");
}

/// Label values escape backslash, double quote and newline (the text format's rule).
fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
