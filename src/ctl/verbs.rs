//! The verbs of `failoverd ctl`, and the API request each one makes.

use clap::Subcommand;
use hyper::Method;
use serde_json::{json, Value};

use super::client::encode;
use super::render;

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Show every group (or one) with its targets: health, admin state, active or idle.
    Status { group: Option<String> },
    /// Pin GROUP to TARGET (after the group's gates; refused for a down target unless
    /// --force).
    Switch {
        group: String,
        target: String,
        /// Switch now, without the gates, even when the target is down.
        #[arg(long)]
        force: bool,
    },
    /// Remove the pin; the health rules decide again.
    Release { group: String },
    /// Return GROUP to its best healthy tier now (clears a pin).
    Failback { group: String },
    /// Make the active backup the new main (priorities rewritten and persisted).
    Commit { group: String },
    /// Undo commits: the config's priorities again (traffic stays; failback follows the
    /// group's policy).
    Uncommit { group: String },
    /// Run the gates of a failed switch again.
    Retry { group: String },
    /// Rehearse a failover of a healthy GROUP for real: gates, switch, check through
    /// failoverd's own DNS and proxy that the target serves, hold, switch back; prints
    /// the report (also in the event history).
    Drill {
        group: String,
        /// The target to drill to (default: the best other target that is up).
        #[arg(long, value_name = "TARGET")]
        to: Option<String>,
        /// How long traffic stays on the target.
        #[arg(long, value_name = "DURATION", default_value = "30s")]
        hold: String,
    },
    /// No new traffic to TARGET; its open connections finish.
    Drain { group: String, target: String },
    /// No traffic to TARGET at all; its connections are closed.
    Maintenance { group: String, target: String },
    /// Put TARGET back in service (after drain or maintenance).
    Enable { group: String, target: String },
    /// Close every proxied connection of GROUP (clients reconnect to the active tier).
    Disconnect { group: String },
    /// Show the event history, oldest first.
    Events {
        /// Only events of this group.
        #[arg(long)]
        group: Option<String>,
        /// Only events after this id.
        #[arg(long, value_name = "ID")]
        since: Option<u64>,
        /// At most this many (the newest; the API caps it at 1000).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Reload the config file (validated first; a bad one is refused and the old one stays).
    Reload,
    /// Show this instance's view of the cluster ([cluster]): connected, leader, members.
    Cluster,
    /// Exit 0 when failoverd is ready (`/ready` answers 200), 1 otherwise: a container's
    /// health check, or a script waiting for a start.
    Ready,
}

/// The API request of a verb: method, path with query, JSON body.
pub fn request(verb: &Verb) -> (Method, String, Option<Value>) {
    let group_path = |g: &str, action: &str| format!("/v1/groups/{}/{action}", encode(g));
    let target_state = |g: &str, t: &str, state: &str| {
        let path = format!("/v1/groups/{}/targets/{}/state", encode(g), encode(t));
        (Method::POST, path, Some(json!({ "state": state })))
    };
    match verb {
        Verb::Status { group: None } => (Method::GET, "/v1/groups".into(), None),
        Verb::Status { group: Some(g) } => (Method::GET, format!("/v1/groups/{}", encode(g)), None),
        Verb::Switch {
            group,
            target,
            force,
        } => (
            Method::POST,
            group_path(group, "switch"),
            Some(json!({ "target": target, "force": force })),
        ),
        Verb::Release { group } => (Method::POST, group_path(group, "release"), None),
        Verb::Failback { group } => (Method::POST, group_path(group, "failback"), None),
        Verb::Commit { group } => (Method::POST, group_path(group, "commit"), None),
        Verb::Uncommit { group } => (Method::POST, group_path(group, "uncommit"), None),
        Verb::Retry { group } => (Method::POST, group_path(group, "retry"), None),
        Verb::Drill { group, .. } => (Method::GET, group_path(group, "drill"), None),
        Verb::Disconnect { group } => (Method::POST, group_path(group, "disconnect"), None),
        Verb::Drain { group, target } => target_state(group, target, "drain"),
        Verb::Maintenance { group, target } => target_state(group, target, "maintenance"),
        Verb::Enable { group, target } => target_state(group, target, "enabled"),
        Verb::Events {
            group,
            since,
            limit,
        } => {
            let mut query = Vec::new();
            if let Some(g) = group {
                query.push(format!("group={}", encode(g)));
            }
            if let Some(s) = since {
                query.push(format!("since={s}"));
            }
            if let Some(l) = limit {
                query.push(format!("limit={l}"));
            }
            let path = match query.is_empty() {
                true => "/v1/events".to_string(),
                false => format!("/v1/events?{}", query.join("&")),
            };
            (Method::GET, path, None)
        }
        Verb::Reload => (Method::POST, "/v1/reload".into(), None),
        Verb::Cluster => (Method::GET, "/v1/cluster".into(), None),
        Verb::Ready => (Method::GET, "/ready".into(), None),
    }
}

/// What an operating verb did, for its confirmation line (None for the reading verbs).
pub fn action(verb: &Verb) -> Option<render::Action<'_>> {
    use render::Action;
    Some(match verb {
        Verb::Switch {
            group,
            target,
            force,
        } => Action::Switched {
            group,
            target,
            force: *force,
        },
        Verb::Release { group } => Action::Plain(group, "released the pin"),
        Verb::Failback { group } => Action::Plain(group, "failed back to the best healthy tier"),
        Verb::Commit { group } => Action::Committed(group),
        Verb::Uncommit { group } => Action::Plain(group, "restored the config's priorities"),
        Verb::Retry { group } => Action::Plain(group, "runs the gates of the failed switch again"),
        Verb::Disconnect { group } => Action::Disconnected(group),
        Verb::Drain { group, target } => Action::TargetState(group, target, "drain"),
        Verb::Maintenance { group, target } => Action::TargetState(group, target, "maintenance"),
        Verb::Enable { group, target } => Action::TargetState(group, target, "enabled"),
        Verb::Status { .. }
        | Verb::Events { .. }
        | Verb::Reload
        | Verb::Cluster
        | Verb::Ready
        | Verb::Drill { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_of_verbs() {
        let (m, p, b) = request(&Verb::Switch {
            group: "app".into(),
            target: "backup".into(),
            force: true,
        });
        assert_eq!((m, p.as_str()), (Method::POST, "/v1/groups/app/switch"));
        assert_eq!(b, Some(json!({ "target": "backup", "force": true })));
        let (_, p, b) = request(&Verb::Enable {
            group: "app".into(),
            target: "main".into(),
        });
        assert_eq!(p, "/v1/groups/app/targets/main/state");
        assert_eq!(b, Some(json!({ "state": "enabled" })));
        let (m, p, _) = request(&Verb::Events {
            group: Some("a b".into()),
            since: Some(7),
            limit: None,
        });
        assert_eq!(
            (m, p.as_str()),
            (Method::GET, "/v1/events?group=a%20b&since=7")
        );
    }
}
