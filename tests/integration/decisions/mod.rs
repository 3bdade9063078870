//! Decisions you can trust: the decision core tried as an operator and an attacker would.
//! A reload cut short or repeated every half second never stops or delays health checking;
//! a flapping main never ping-pongs traffic; failoverd's own errors (EMFILE) never fail a
//! target over; all-down is an event and a hook under the default policy; planned work has
//! cause `admin`; a dead subsystem stops the process.
//!
//! Real binary, real HTTP stacks on 127.0.0.2 (main) and 127.0.0.3 (backup).

mod all_down;
mod crash;
mod flapping;
mod hook_queue;
mod local_errors;
mod reload;

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// `[admin]` and `[state]` in `{dir}`.
fn header() -> String {
    "[admin]\nlisten = \"127.0.0.1:0\"\n\n[state]\npath = \"{dir}/failoverd.state\"\n".into()
}

/// A main/backup group on MAIN and BACKUP `port`, `extra` group lines, `health` lines; a
/// proxy listener when `listener`.
fn group(name: &str, port: u16, extra: &str, health: &str, listener: bool) -> String {
    let mut s = format!(
        "\n[[group]]\nname = \"{name}\"\n{extra}\n\n[group.health]\nport = {port}\n{health}\n"
    );
    if listener {
        s += &format!(
            "\n[[group.listener]]\nlisten = \"127.0.0.1:0\"\ntarget_port = {port}\nconnect_timeout = \"300ms\"\n"
        );
    }
    for (t, addr, prio) in [("main", MAIN, 1), ("backup", BACKUP, 2)] {
        s += &format!(
            "\n[[group.target]]\nname = \"{t}\"\naddress = \"{addr}\"\npriority = {prio}\n"
        );
    }
    s
}

/// Every event the process kept (up to 1,000), oldest first.
async fn all_events(f: &Failoverd) -> Vec<Value> {
    let (status, body) = f.get("/v1/events?limit=1000").await;
    assert_eq!(status, 200, "{body}");
    parse_json("events", &body)["events"]
        .as_array()
        .expect("events array")
        .clone()
}

/// Transition events of `group` with `cause`, oldest first.
fn transitions<'a>(evs: &'a [Value], group: &str, cause: &str) -> Vec<&'a Value> {
    evs.iter()
        .filter(|e| e["kind"] == "transition" && e["group"] == group)
        .filter(|e| e["details"]["cause"] == cause)
        .collect()
}

/// Waits until every group in `groups` has `active == [want]`.
async fn wait_all_active(f: &Failoverd, groups: &[String], want: &str, limit: Duration) {
    eventually(limit, &format!("every group active on {want}"), || async {
        let (status, body) = f.get("/v1/groups").await;
        if status != 200 {
            return None;
        }
        let v = parse_json("groups", &body);
        let list = v["groups"].as_array()?.clone();
        let done = groups.iter().all(|name| {
            list.iter()
                .find(|g| g["name"] == name.as_str())
                .is_some_and(|g| active(g) == [want])
        });
        done.then_some(())
    })
    .await;
}
