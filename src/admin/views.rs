//! JSON shapes of the admin API. Field names are an interface: scripts rely on them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use futures_util::Stream;
use serde::Serialize;
use serde_json::json;

use crate::config::{AllDown, Failback};
use crate::group::snapshot::{GroupSnap, Snapshot};
use crate::group::{AdminState, Cause, GroupStatus, Role};
use crate::metrics::book;

#[derive(Serialize)]
pub struct GroupView<'a> {
    pub name: &'a str,
    pub dns_name: Option<&'a str>,
    pub epoch: u64,
    pub state: GroupStatus,
    pub active: Vec<&'a str>,
    /// The target an operator pinned the group to (`switch`), if any.
    pub pinned: Option<&'a str>,
    pub failback: &'static str,
    pub all_down: &'static str,
    pub last_change: Option<ChangeView>,
    /// When an automatic failback will happen if nothing fails meanwhile (Unix seconds),
    /// and how long that is from now by this server's clock (seconds): the countdown.
    pub failback_at: Option<f64>,
    pub failback_in: Option<f64>,
    /// A switch held for its gates: running (state `switching`) or failed.
    pub switch: Option<SwitchView<'a>>,
    pub targets: Vec<TargetView<'a>>,
}

#[derive(Serialize)]
pub struct SwitchView<'a> {
    /// `running` or `failed`.
    pub gates: &'static str,
    pub to: Vec<&'a str>,
    pub cause: Cause,
    pub attempt: u64,
    /// Seconds since the Unix epoch when the switch was held.
    pub since: Option<f64>,
    /// The gate running now.
    pub step: Option<StepView<'a>>,
    /// Why it failed.
    pub reason: Option<&'a str>,
}

#[derive(Serialize)]
pub struct StepView<'a> {
    pub hook: &'a str,
    /// 1-based, of `of` gates.
    pub number: usize,
    pub of: usize,
    /// 1-based try (a gate with `retries` may run again).
    #[serde(rename = "try")]
    pub try_no: u32,
    pub since: f64,
}

fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn switch_view(g: &GroupSnap) -> Option<SwitchView<'_>> {
    let h = g.held.as_deref()?;
    let names = h.to.iter().map(|&i| g.config.targets[i].name.as_str());
    Some(SwitchView {
        gates: if h.failed.is_some() {
            "failed"
        } else {
            "running"
        },
        to: names.collect(),
        cause: h.cause,
        attempt: h.attempt,
        since: h.since.map(unix),
        step: h.step.as_ref().map(|s| StepView {
            hook: &s.hook,
            number: s.number,
            of: s.of,
            try_no: s.try_no,
            since: unix(s.since),
        }),
        reason: h.failed.as_deref(),
    })
}

#[derive(Serialize)]
pub struct ChangeView {
    pub cause: Cause,
    /// Seconds since the Unix epoch.
    pub at: f64,
}

#[derive(Serialize)]
pub struct TargetView<'a> {
    pub name: &'a str,
    pub address: String,
    pub priority: u32,
    /// `up`, `down`, `unknown`, or `standby` (reachable, kept from traffic by the group's
    /// `role = "primary"`).
    pub health: &'static str,
    /// What the role check last answered (`primary`, `standby`); null when unknown or
    /// without a role check.
    pub role: Option<Role>,
    /// Why the target's last check failed; null once a check passed.
    pub last_check_error: Option<&'a str>,
    pub admin_state: AdminState,
    pub active: bool,
    /// Went down `flap_limit` times within `flap_window`, not yet stable for the hold.
    pub flapping: bool,
    /// Proxied sessions this instance has open to the target.
    pub sessions: u64,
    /// The last failed health check, whatever the verdict now.
    pub last_error: Option<ErrorView>,
}

#[derive(Serialize)]
pub struct ErrorView {
    pub message: String,
    /// Seconds since the Unix epoch.
    pub at: f64,
}

/// Groups written per chunk of `groups_json`.
const GROUPS_PER_CHUNK: usize = 128;

/// `GET /v1/groups` as a stream of chunks, `{"version":..,"generation":..,"groups":[..]}`,
/// each group turned into its view only while its chunk is written. 10,000 groups as one
/// `serde_json::Value` tree cost 60 MB for a 4 MB answer, and even written straight into
/// one buffer, the buffer (doubling to 8 MB) stayed resident after every poll.
pub fn groups_json(snap: Arc<Snapshot>) -> impl Stream<Item = Result<Bytes, serde_json::Error>> {
    let chunks = snap.groups.len().div_ceil(GROUPS_PER_CHUNK).max(1);
    futures_util::stream::iter((0..chunks).map(move |c| {
        let mut out = Vec::with_capacity(16 * 1024);
        if c == 0 {
            let head = json!({ "version": snap.version, "generation": snap.generation });
            let head = serde_json::to_string(&head)?;
            // `{"version":..,"generation":..}` without its `}`, then the list.
            out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            out.extend_from_slice(b",\"groups\":[");
        }
        let first = c * GROUPS_PER_CHUNK;
        for (i, g) in snap
            .groups
            .iter()
            .enumerate()
            .skip(first)
            .take(GROUPS_PER_CHUNK)
        {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &group(g))?;
        }
        if c + 1 == chunks {
            out.extend_from_slice(b"]}");
        }
        Ok(Bytes::from(out))
    }))
}

pub fn group(g: &GroupSnap) -> GroupView<'_> {
    let c = &g.config;
    let stats: Vec<Option<Arc<book::TargetStats>>> =
        book::with(|find| c.targets.iter().map(|t| find(&c.name, &t.name)).collect());
    let now = SystemTime::now();
    GroupView {
        name: &c.name,
        dns_name: c.dns_name.as_deref(),
        epoch: g.epoch,
        state: g.status,
        active: g.active_names(),
        pinned: g.pin.map(|p| c.targets[p].name.as_str()),
        failback: match c.failback {
            Failback::Auto => "auto",
            Failback::Manual => "manual",
        },
        all_down: match c.all_down {
            AllDown::FailStatic => "fail_static",
            AllDown::FailClosed => "fail_closed",
        },
        switch: switch_view(g),
        last_change: g.last_change.map(|ch| ChangeView {
            cause: ch.cause,
            at: unix(ch.at),
        }),
        failback_at: g.failback_at.map(unix),
        failback_in: g
            .failback_at
            .map(|at| at.duration_since(now).map_or(0.0, |d| d.as_secs_f64())),
        targets: c
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| TargetView {
                name: &t.name,
                address: t.address.to_string(),
                priority: g.targets[i].priority,
                health: g.targets[i].shown_health(),
                role: g.targets[i].role,
                last_check_error: g.targets[i].last_error.as_deref(),
                admin_state: g.targets[i].admin,
                active: g.is_active(i),
                flapping: g.targets[i].flapping,
                sessions: stats[i].as_ref().map_or(0, |s| s.sessions()),
                last_error: stats[i]
                    .as_ref()
                    .and_then(|s| s.last_error())
                    .map(|e| ErrorView {
                        message: e.message,
                        at: unix(e.at),
                    }),
            })
            .collect(),
    }
}
