//! JSON shapes of the admin API. Field names are an interface: scripts rely on them.

use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::config::{AllDown, Failback};
use crate::group::snapshot::GroupSnap;
use crate::group::{AdminState, Cause, GroupStatus, Health};

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
    pub targets: Vec<TargetView<'a>>,
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
    pub health: Health,
    pub admin_state: AdminState,
    pub active: bool,
    /// Went down `flap_limit` times within `flap_window`, not yet stable for the hold.
    pub flapping: bool,
}

pub fn group(g: &GroupSnap) -> GroupView<'_> {
    let c = &g.config;
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
        last_change: g.last_change.map(|ch| ChangeView {
            cause: ch.cause,
            at: ch
                .at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        }),
        targets: c
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| TargetView {
                name: &t.name,
                address: t.address.to_string(),
                priority: g.targets[i].priority,
                health: g.targets[i].health,
                admin_state: g.targets[i].admin,
                active: g.is_active(i),
                flapping: g.targets[i].flapping,
            })
            .collect(),
    }
}
