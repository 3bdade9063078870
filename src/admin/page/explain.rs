//! One sentence per event of the history, for the status page: what happened and why, in
//! the words an operator uses ("traffic moved from main to backup: health checks").
//! `GET /v1/events` and the page's stream give it as each event's `summary`.

use serde_json::Value;

use crate::store::events::Event;

/// The event in one sentence. Fields are read leniently: an event written by an older
/// version, or with a field missing, still gets a sentence.
pub fn explain(e: &Event) -> String {
    let d = &e.details;
    let s = |k: &str| d[k].as_str().unwrap_or("?").to_string();
    match e.kind.as_str() {
        "transition" => format!(
            "traffic moved from {} to {}: {}",
            names(&d["from"]),
            names(&d["to"]),
            cause(d)
        ),
        "all_down" => format!(
            "every target is down; serving {} ({})",
            names(&d["to"]),
            cause(d)
        ),
        "recovered" => format!("recovered from all down; serving {}", names(&d["to"])),
        "health" => {
            let mut out = format!("{} is {}", s("target"), s("health"));
            if let Some(detail) = d["detail"].as_str().filter(|t| !t.is_empty()) {
                out.push_str(&format!(": {detail}"));
            }
            if d["flapping"] == true {
                out.push_str(" (flapping)");
            }
            out
        }
        "admin" => admin(d),
        "hook" => {
            let result = if d["ok"] == true { "ran" } else { "FAILED" };
            let mut out = format!("hook {} {result} on {}", s("hook"), s("trigger"));
            if let Some(ms) = d["duration_ms"].as_u64() {
                out.push_str(&format!(" in {ms} ms"));
            }
            if let Some(detail) = d["detail"].as_str().filter(|t| !t.is_empty()) {
                out.push_str(&format!(": {detail}"));
            }
            out
        }
        "switching" => format!(
            "switch to {} held for its gates ({}, attempt {})",
            names(&d["to"]),
            cause(d),
            d["attempt"]
        ),
        "switch_failed" => format!(
            "switch to {} FAILED, traffic stayed: {}",
            names(&d["to"]),
            s("reason")
        ),
        "gate" => {
            let result = if d["ok"] == true { "passed" } else { "FAILED" };
            let mut out = format!("gate {} {result} (try {})", s("hook"), d["try"]);
            if let Some(detail) = d["detail"].as_str().filter(|t| !t.is_empty()) {
                out.push_str(&format!(": {detail}"));
            }
            out
        }
        "drill" => {
            let mut out = format!("drill to {}: {}", s("to"), s("state"));
            if let Some(reason) = d["reason"].as_str() {
                out.push_str(&format!(": {reason}"));
            }
            if let Some(n) = d["failed_connections"].as_u64() {
                out.push_str(&format!(" ({n} failed client connections)"));
            }
            out
        }
        "reload" => "config reloaded".into(),
        "start" => "failoverd started".into(),
        "stop" => "failoverd stopped".into(),
        other => format!("{other}: {d}"),
    }
}

/// `main, other` or `none`.
fn names(v: &Value) -> String {
    let list: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn cause(d: &Value) -> String {
    let actor = d["actor"].as_str().unwrap_or("?");
    match d["cause"].as_str().unwrap_or("?") {
        "health" => "health checks".into(),
        "manual" => format!("operator {actor}"),
        "failback" => "automatic failback after the hold".into(),
        "commit" => format!("commit by {actor}"),
        "admin" => format!("admin state set by {actor}"),
        "config" => "config change".into(),
        "drill" => "drill".into(),
        other => other.to_string(),
    }
}

/// `ops: switch to backup`, `ops: drain main`.
fn admin(d: &Value) -> String {
    let actor = d["actor"].as_str().unwrap_or("?");
    let action = d["action"].as_str().unwrap_or("?");
    let mut out = format!("{actor}: {action}");
    for key in ["target", "state"] {
        if let Some(v) = d[key].as_str() {
            out.push_str(&format!(" {v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, details: Value) -> Event {
        Event {
            id: 1,
            at: 0.0,
            kind: kind.into(),
            group: Some("app".into()),
            epoch: Some(1),
            details,
        }
    }

    #[test]
    fn each_kind_reads_as_a_sentence() {
        let cases = [
            (
                event(
                    "transition",
                    json!({"from": ["main"], "to": ["backup"], "cause": "manual", "actor": "ops"}),
                ),
                "traffic moved from main to backup: operator ops",
            ),
            (
                event(
                    "health",
                    json!({"target": "main", "health": "down", "detail": "refused", "flapping": false}),
                ),
                "main is down: refused",
            ),
            (
                event(
                    "admin",
                    json!({"action": "switch", "actor": "ops", "target": "backup"}),
                ),
                "ops: switch backup",
            ),
            (
                event(
                    "hook",
                    json!({"hook": "page", "trigger": "failover", "ok": false, "duration_ms": 12, "detail": "exit 1"}),
                ),
                "hook page FAILED on failover in 12 ms: exit 1",
            ),
            (
                event("recovered", json!({"to": ["main"]})),
                "recovered from all down; serving main",
            ),
            (
                event(
                    "switch_failed",
                    json!({"to": ["backup"], "cause": "health", "reason": "gate promote failed"}),
                ),
                "switch to backup FAILED, traffic stayed: gate promote failed",
            ),
            (
                event(
                    "drill",
                    json!({"to": "backup", "state": "ok", "reason": null, "failed_connections": 0}),
                ),
                "drill to backup: ok (0 failed client connections)",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(explain(&e), want);
        }
    }

    #[test]
    fn missing_fields_never_panic() {
        for kind in [
            "transition",
            "health",
            "admin",
            "hook",
            "all_down",
            "switching",
            "switch_failed",
            "gate",
            "drill",
            "other",
        ] {
            assert!(!explain(&event(kind, json!(null))).is_empty(), "{kind}");
        }
    }
}
