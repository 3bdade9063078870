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
