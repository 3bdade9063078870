//! The `failoverd ctl status` table: per group a header, the group's line (with the
//! failback countdown while a `failback_hold` runs), then one line per target (by
//! priority) with its health (up, down, unknown, standby), admin state, whether it is
//! active or idle, its open proxied sessions, for a role check the role it answered,
//! and its last failed check.
//!
//! ```text
//! GROUP  STATE        EPOCH  ACTIVE  FAILBACK      LAST CHANGE
//! app    failed_over  3      backup  auto in 12 s  health at 2025-01-01T10:00:00.000Z
//!   main    127.0.0.2  priority 1  up    enabled  idle    0 sessions  last error 2025-01-01T09:59:58.000Z: connect: refused
//!   backup  127.0.0.3  priority 2  up    enabled  active  4 sessions
//! ```
//! With a role check: `  db1  127.0.0.2  priority 1  up  enabled  active  role primary`.

use serde_json::Value;

use super::render::{active_names, rfc3339, text};

const HEADER: [&str; 6] = [
    "GROUP",
    "STATE",
    "EPOCH",
    "ACTIVE",
    "FAILBACK",
    "LAST CHANGE",
];

/// One block per group, separated by a blank line.
pub fn status(groups: &[Value]) -> String {
    let blocks: Vec<String> = groups.iter().map(group).collect();
    blocks.join("\n")
}

fn group(g: &Value) -> String {
    let mut active = active_names(g);
    if !g["pinned"].is_null() {
        active.push_str(" (pinned)");
    }
    let change = &g["last_change"];
    let last_change = match change["at"].as_f64() {
        Some(at) => format!("{} at {}", text(&change["cause"]), rfc3339(at)),
        None => "-".into(),
    };
    let rows = vec![
        HEADER.iter().map(|h| h.to_string()).collect(),
        vec![
            text(&g["name"]),
            text(&g["state"]),
            text(&g["epoch"]),
            active,
            failback(g),
            last_change,
        ],
    ];
    let mut out = align(&rows, "");
    if let Some(line) = switch_line(g, now_unix()) {
        out.push_str(&line);
    }
    let mut targets: Vec<&Value> = g["targets"]
        .as_array()
        .map(|ts| ts.iter().collect())
        .unwrap_or_default();
    // Stable: equal priorities keep the config order.
    targets.sort_by_key(|t| t["priority"].as_u64().unwrap_or(u64::MAX));
    let rows: Vec<Vec<String>> = targets.iter().map(|t| target(t)).collect();
    out.push_str(&align(&rows, "  "));
    out
}

/// `auto`, `manual`, or `auto in 12 s` while a failback hold runs.
fn failback(g: &Value) -> String {
    let mode = text(&g["failback"]);
    match g["failback_in"].as_f64() {
        Some(s) => format!("{mode} in {:.0} s", s.ceil()),
        None => mode,
    }
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A switch held for its gates, in the words of a runbook: "failover processing" while
/// they run (which gate, for how long), or the failure and the ways on.
fn switch_line(g: &Value, now: f64) -> Option<String> {
    let s = g.get("switch").filter(|s| !s.is_null())?;
    let to: Vec<String> = s["to"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let (name, to, cause) = (text(&g["name"]), to.join(","), text(&s["cause"]));
    if s["gates"] == "failed" {
        return Some(format!(
            "  SWITCH FAILED to {to} ({cause}): {}
  traffic stayed; `failoverd ctl retry {name}` runs the gates again, `failoverd ctl switch {name} TARGET --force` moves without them
",
            text(&s["reason"])
        ));
    }
    let step = &s["step"];
    let doing = match step["hook"].as_str() {
        Some(hook) => format!(
            "gate {hook} ({} of {}, try {}) running for {:.1}s",
            text(&step["number"]),
            text(&step["of"]),
            text(&step["try"]),
            (now - step["since"].as_f64().unwrap_or(now)).max(0.0)
        ),
        None => "gates starting".into(),
    };
    Some(format!(
        "  failover processing: to {to} ({cause}), {doing}
"
    ))
}

fn target(t: &Value) -> Vec<String> {
    let active = match t["active"].as_bool() {
        Some(true) => "active",
        Some(false) => "idle",
        None => "?",
    };
    // A flapping target takes no traffic back until it is stable: say so beside its health.
    let health = match t["flapping"].as_bool() {
        Some(true) => format!("{} (flapping)", text(&t["health"])),
        _ => text(&t["health"]),
    };
    let sessions = match t["sessions"].as_u64() {
        Some(1) => "1 session".to_string(),
        Some(n) => format!("{n} sessions"),
        None => "? sessions".to_string(),
    };
    let mut row = vec![
        text(&t["name"]),
        text(&t["address"]),
        format!("priority {}", text(&t["priority"])),
        health,
        text(&t["admin_state"]),
        active.to_string(),
        sessions,
    ];
    // Only targets whose role is known: a group without role checks reads as before.
    if let Some(role) = t["role"].as_str() {
        row.push(format!("role {role}"));
    }
    let error = &t["last_error"];
    if let Some(message) = error["message"].as_str() {
        let at = error["at"].as_f64().map_or_else(|| "?".into(), rfc3339);
        row.push(format!("last error {at}: {message}"));
    }
    row
}

/// Rows as lines, each column padded to its widest cell (two spaces between columns).
pub fn align(rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(max) => *max = (*max).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_block() {
        let g = json!({
            "name": "app", "state": "failed_over", "epoch": 3, "active": ["backup"],
            "pinned": "backup", "last_change": { "cause": "manual", "at": 0.25 },
            "failback": "auto", "failback_in": 11.2,
            "targets": [
                { "name": "main", "address": "127.0.0.2", "priority": 1, "health": "down",
                  "admin_state": "enabled", "active": false, "flapping": true, "sessions": 0,
                  "last_error": { "message": "connect: refused", "at": 0.5 } },
                { "name": "backup", "address": "127.0.0.3", "priority": 2, "health": "up",
                  "admin_state": "enabled", "active": true, "flapping": false, "sessions": 1,
                  "last_error": null },
            ],
        });
        let want = "\
GROUP  STATE        EPOCH  ACTIVE           FAILBACK      LAST CHANGE
app    failed_over  3      backup (pinned)  auto in 12 s  manual at 1970-01-01T00:00:00.250Z
  main    127.0.0.2  priority 1  down (flapping)  enabled  idle    0 sessions  last error 1970-01-01T00:00:00.500Z: connect: refused
  backup  127.0.0.3  priority 2  up               enabled  active  1 session
";
        assert_eq!(status(std::slice::from_ref(&g)), want);
        assert_eq!(status(&[g.clone(), g]), format!("{want}\n{want}"));
    }

    #[test]
    fn role_beside_the_target() {
        let g = json!({
            "name": "db", "state": "all_down", "epoch": 2, "active": ["main"], "pinned": null,
            "last_change": null,
            "targets": [
                { "name": "main", "address": "127.0.0.2", "priority": 1, "health": "down",
                  "admin_state": "enabled", "active": true, "role": null, "sessions": 0 },
                { "name": "backup", "address": "127.0.0.3", "priority": 2, "health": "standby",
                  "admin_state": "enabled", "active": false, "role": "standby", "sessions": 0 },
            ],
        });
        let want = "\
GROUP  STATE     EPOCH  ACTIVE  FAILBACK  LAST CHANGE
db     all_down  2      main    -         -
  main    127.0.0.2  priority 1  down     enabled  active  0 sessions
  backup  127.0.0.3  priority 2  standby  enabled  idle    0 sessions  role standby
";
        assert_eq!(status(&[g]), want);
    }

    #[test]
    fn missing_fields_do_not_panic() {
        let out = status(&[json!({ "targets": [{}] })]);
        let want = "\
GROUP  STATE  EPOCH  ACTIVE  FAILBACK  LAST CHANGE
-      -      -      none    -         -
  -  -  priority -  -  -  ?  ? sessions
";
        assert_eq!(out, want);
    }
}

#[cfg(test)]
mod switch_tests {
    use serde_json::json;

    use super::switch_line;

    #[test]
    fn a_held_switch_reads_as_a_runbook_step() {
        let running = json!({ "name": "db", "switch": { "gates": "running", "to": ["replica"],
            "cause": "health", "step": { "hook": "promote", "number": 2, "of": 3, "try": 1,
            "since": 100.0 } } });
        assert_eq!(
            switch_line(&running, 103.25).unwrap(),
            "  failover processing: to replica (health), gate promote (2 of 3, try 1) running for 3.2s\n"
        );
        let failed = json!({ "name": "db", "switch": { "gates": "failed", "to": ["replica"],
            "cause": "manual", "reason": "gate promote failed (1 of 1, 1 try): exit 1" } });
        let line = switch_line(&failed, 0.0).unwrap();
        assert!(
            line.starts_with("  SWITCH FAILED to replica (manual): gate promote failed"),
            "{line}"
        );
        assert!(line.contains("`failoverd ctl retry db`"), "{line}");
        assert!(switch_line(&json!({ "name": "db", "switch": null }), 0.0).is_none());
    }
}
