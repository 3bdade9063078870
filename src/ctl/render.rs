//! Text output of `failoverd ctl` besides the status table: the confirmation line of an
//! operating verb, event lines, and UTC timestamps. Every field is read leniently: a
//! missing one prints as `-` or `?`, never a panic.

use serde_json::Value;

use super::table::align;

/// What an operating verb did.
pub enum Action<'a> {
    Switched {
        group: &'a str,
        target: &'a str,
        force: bool,
    },
    Committed(&'a str),
    /// Closed the group's proxied sessions (how many: the answer's `sessions_closed`).
    Disconnected(&'a str),
    TargetState(&'a str, &'a str, &'static str),
    Plain(&'a str, &'static str),
}

/// `app: switched to backup; active: backup, epoch 3, state failed_over, pinned to backup`
pub fn confirmation(action: &Action, group: &Value) -> String {
    let (name, what) = match action {
        Action::Switched {
            group,
            target,
            force,
        } => {
            let forced = if *force { " (forced)" } else { "" };
            (group, format!("switched to {target}{forced}"))
        }
        Action::Committed(g) => (
            g,
            format!(
                "committed the active tier as the new main (priorities: {})",
                priorities(group)
            ),
        ),
        Action::Disconnected(g) => {
            let n = &group["sessions_closed"];
            let plural = if n.as_u64() == Some(1) { "" } else { "s" };
            (g, format!("closed {} proxied session{plural}", text(n)))
        }
        Action::TargetState(g, target, state) => (g, format!("target {target} set to {state}")),
        Action::Plain(g, what) => (g, what.to_string()),
    };
    format!("{name}: {what}; {}\n", summary(group))
}

/// The group's active targets and epoch after a change.
fn summary(g: &Value) -> String {
    let mut out = format!(
        "active: {}, epoch {}, state {}",
        active_names(g),
        text(&g["epoch"]),
        text(&g["state"])
    );
    if let Some(pin) = g["pinned"].as_str() {
        out.push_str(&format!(", pinned to {pin}"));
    }
    out
}

/// `backup, other` or `none`.
pub fn active_names(g: &Value) -> String {
    let names: Vec<&str> = g["active"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `backup 1, main 2`: targets by their (rewritten) priority.
fn priorities(g: &Value) -> String {
    let mut list: Vec<(u64, &str)> = g["targets"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        t["priority"].as_u64().unwrap_or(u64::MAX),
                        t["name"].as_str().unwrap_or("?"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    list.sort_by_key(|&(p, _)| p);
    let parts: Vec<String> = list.iter().map(|(p, n)| format!("{n} {p}")).collect();
    parts.join(", ")
}

pub fn reloaded(answer: &Value) -> String {
    format!(
        "reloaded the config (generation {})\n",
        text(&answer["generation"])
    )
}

/// `ctl status`'s cluster line (empty without `[cluster]`).
pub fn cluster_line(c: &Value) -> String {
    if c["backend"] != "etcd" {
        return String::new();
    }
    let instance = text(&c["instance"]);
    match c["connected"] == true {
        true => format!(
            "cluster: instance {instance}, leader {}{}\n",
            text(&c["leader"]),
            if c["is_leader"] == true {
                " (this one)"
            } else {
                ""
            }
        ),
        false => format!(
            "cluster: instance {instance} DISCONNECTED from etcd: serving the last decision seen\n"
        ),
    }
}

/// `ctl cluster`: whether this instance is connected to etcd, who leads, who is alive.
pub fn cluster(answer: &Value) -> String {
    if answer["backend"] == "local" {
        return "no [cluster]: this instance decides alone (its state file)\n".into();
    }
    let members: Vec<&str> = answer["members"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = format!("instance   {}\n", text(&answer["instance"]));
    if answer["connected"] == true {
        let role = if answer["is_leader"] == true {
            " (this instance)"
        } else {
            ""
        };
        out += &format!(
            "etcd       connected, revision {}\n",
            text(&answer["revision"])
        );
        out += &format!("leader     {}{role}\n", text(&answer["leader"]));
    } else {
        out += &format!(
            "etcd       DISCONNECTED: serving the last decision seen ({})\n",
            text(&answer["last_error"])
        );
    }
    out += &format!(
        "members    {} live: {}\n",
        members.len(),
        members.join(", ")
    );
    out
}

/// One line per event: time, id, kind, group, epoch, details as `key=value`.
pub fn events(answer: &Value) -> String {
    let Some(list) = answer["events"].as_array() else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            vec![
                e["at"].as_f64().map_or_else(|| "?".into(), rfc3339),
                format!("#{}", text(&e["id"])),
                text(&e["kind"]),
                text(&e["group"]),
                e["epoch"]
                    .as_u64()
                    .map_or_else(|| "-".into(), |n| format!("epoch {n}")),
                details(&e["details"]),
            ]
        })
        .collect();
    align(&rows, "")
}

/// `action=switch actor=ops force=false target=backup`: action and actor first, the rest
/// by name; strings bare when that is unambiguous, else as JSON.
pub fn details(v: &Value) -> String {
    let Some(map) = v.as_object() else {
        return v.to_string();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| (k.as_str() != "action", k.as_str() != "actor", k.as_str()));
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}={}", compact(&map[k.as_str()])))
        .collect();
    parts.join(" ")
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) if is_bare(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_bare(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '=')
}

/// A JSON value as table text: strings bare, null as `-`.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Valid JSON text re-indented (two spaces), keys in the order the API sent them
/// (serde_json's `preserve_order`). Text that is not JSON comes back as it was.
pub fn pretty(raw: &str) -> String {
    let parsed: Result<Value, _> = serde_json::from_str(raw);
    match parsed.and_then(|v| serde_json::to_string_pretty(&v)) {
        Ok(text) => text + "\n",
        Err(_) => raw.to_string(),
    }
}

/// Seconds since the Unix epoch as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(at: f64) -> String {
    // Up to 9999-12-31T23:59:59Z; NaN is outside every range.
    if !(0.0..=253_402_300_799.0).contains(&at) {
        return "?".into();
    }
    // In range, so the cast is exact enough and cannot overflow.
    let ms = (at * 1000.0).round() as u64;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_keeps_order_and_strings() {
        let raw = r#"{"name":"app","z":[],"o":{},"s":"a,b:{\"c\"}\\","n":[1, {"x":null}]}"#;
        let want = r#"{
  "name": "app",
  "z": [],
  "o": {},
  "s": "a,b:{\"c\"}\\",
  "n": [
    1,
    {
      "x": null
    }
  ]
}
"#;
        assert_eq!(pretty(raw), want);
        let back: Value = serde_json::from_str(&pretty(raw)).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(raw).unwrap());
    }

    #[test]
    fn timestamps_in_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400.5), "2000-02-29T00:00:00.500Z");
        assert_eq!(rfc3339(1_709_251_199.999_4), "2024-02-29T23:59:59.999Z");
        assert_eq!(rfc3339(1_735_689_600.0), "2025-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(f64::NAN), "?");
        assert_eq!(rfc3339(-1.0), "?");
    }

    #[test]
    fn details_read_compactly() {
        let d = json!({ "target": "backup", "force": false, "actor": "ops", "action": "switch",
                        "error": "target is down", "to": ["a", "b"] });
        assert_eq!(
            details(&d),
            r#"action=switch actor=ops error="target is down" force=false target=backup to=["a","b"]"#
        );
        assert_eq!(details(&json!({})), "");
        assert_eq!(details(&json!("x")), r#""x""#);
    }

    #[test]
    fn confirmation_names_active_and_epoch() {
        let g = json!({ "name": "app", "epoch": 3, "state": "failed_over", "active": ["backup"],
                        "pinned": "backup",
                        "targets": [{ "name": "main", "priority": 2 }, { "name": "backup", "priority": 1 }] });
        let a = Action::Switched {
            group: "app",
            target: "backup",
            force: true,
        };
        assert_eq!(
            confirmation(&a, &g),
            "app: switched to backup (forced); active: backup, epoch 3, state failed_over, pinned to backup\n"
        );
        let line = confirmation(&Action::Committed("app"), &g);
        assert!(line.contains("(priorities: backup 1, main 2)"), "{line}");
        assert_eq!(active_names(&json!({ "active": [] })), "none");
        assert_eq!(active_names(&json!({})), "none");
        let mut g = g;
        for (n, said) in [
            (json!(3), "3 proxied sessions"),
            (json!(1), "1 proxied session;"),
        ] {
            g["sessions_closed"] = n;
            let line = confirmation(&Action::Disconnected("app"), &g);
            assert!(line.starts_with(&format!("app: closed {said}")), "{line}");
        }
    }

    #[test]
    fn event_lines() {
        let answer = json!({ "events": [
            { "id": 7, "at": 0.0, "kind": "admin", "group": "app", "epoch": 2,
              "details": { "action": "commit", "actor": "local" } },
            { "id": 12, "at": 1.0, "kind": "reload", "details": { "result": "ok" } },
        ]});
        assert_eq!(
            events(&answer),
            "1970-01-01T00:00:00.000Z  #7   admin   app  epoch 2  action=commit actor=local\n\
             1970-01-01T00:00:01.000Z  #12  reload  -    -        result=ok\n"
        );
        assert_eq!(events(&json!({ "events": [] })), "");
    }
}
