//! The page's HTML, written on the server: the shell every browser gets, and, when the API
//! is open (no tokens), the groups and the event history inside it, so the page reads
//! without JavaScript. `page.js` writes the same markup from the API's JSON; the `data-*`
//! hooks are named in DESIGN.md ("Control") and scripts rely on them.
//!
//! Every text that comes from the config, the API or an event goes through `esc`.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::admin::views::{self, GroupView, SwitchView, TargetView};
use crate::group::snapshot::Snapshot;
use crate::store::events::Event;

/// Whether the API needs a token: the shell then asks for it and shows no state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Open,
    Token,
}

/// The whole page; `state` is rendered into it (only ever given with `Auth::Open`).
pub fn page(auth: Auth, state: Option<(&Snapshot, &[Event])>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let (auth_attr, live) = match (auth, state.is_some()) {
        (Auth::Open, true) => (
            "open",
            "State as of the page load; live updates need JavaScript.",
        ),
        (Auth::Open, false) => ("open", "Loading…"),
        (Auth::Token, _) => ("token", "Enter an admin token to see the state."),
    };
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>failoverd status</title>\n<link rel=\"stylesheet\" href=\"/assets/page.css\">\n\
         <script type=\"module\" src=\"/assets/page.js\"></script>\n</head>\n<body data-auth=\"{auth_attr}\">\n\
         <a class=\"skip\" href=\"#groups\">Skip to the groups</a>\n\
         <header class=\"top\"><h1>failoverd</h1>\
         <p id=\"live\" role=\"status\" aria-live=\"polite\">{live}</p>\
         <button type=\"button\" id=\"forget\" hidden>Forget token</button></header>\n"
    );
    login(&mut out, auth);
    out.push_str("<main id=\"main\">\n<section id=\"groups\" aria-label=\"Groups\">\n");
    let group_names: Vec<String> = match state {
        Some((snap, _)) => snap.groups.iter().map(|g| g.name().to_string()).collect(),
        None => Vec::new(),
    };
    if let Some((snap, _)) = state {
        for g in &snap.groups {
            group(&mut out, &views::group(g));
        }
    }
    out.push_str("</section>\n");
    history(&mut out, &group_names, state.map_or(&[][..], |(_, e)| e));
    out.push_str("</main>\n");
    out.push_str(TAIL);
    out
}

/// The answer line and the confirmation dialog, filled in by the script.
const TAIL: &str = "<p id=\"answer\" class=\"answer\" role=\"status\" aria-live=\"polite\"></p>\n\
<dialog id=\"confirm\" aria-labelledby=\"confirm-title\" aria-describedby=\"confirm-text\">\
<h2 id=\"confirm-title\">Confirm</h2><p id=\"confirm-text\"></p>\
<div class=\"dialog-buttons\"><button type=\"button\" id=\"confirm-cancel\">Cancel</button>\
<button type=\"button\" data-action=\"confirm\" class=\"primary\">Confirm</button></div>\
</dialog>\n</body>\n</html>\n";

/// The token form: shown by the script when tokens are configured. It has no action:
/// the script reads it, and the CSP's `form-action 'none'` stops a submit without the
/// script from putting the token in a URL.
fn login(out: &mut String, auth: Auth) {
    let hidden = if auth == Auth::Open { " hidden" } else { "" };
    let _ = write!(
        out,
        "<form id=\"login\" class=\"login\"{hidden}>\
         <label for=\"token\">Admin token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" spellcheck=\"false\" required>\
         <button type=\"submit\">Show status</button>\
         <p id=\"login-error\" class=\"error\" role=\"alert\"></p></form>\n\
         <noscript><p class=\"note\">Without JavaScript this page shows the state only when no \
         tokens are configured; <code>failoverd ctl status</code> shows it always.</p></noscript>\n"
    );
}

/// The group's chip: whether a backup serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chip {
    /// A target of a worse priority than the best one serves.
    BackupActive,
    BackupIdle,
    /// Nothing serves (all down under `fail_closed`).
    NoneActive,
}

impl Chip {
    pub fn of(g: &GroupView) -> Chip {
        let best = g.targets.iter().map(|t| t.priority).min();
        let active: Vec<&TargetView> = g.targets.iter().filter(|t| t.active).collect();
        if active.is_empty() {
            Chip::NoneActive
        } else if active.iter().any(|t| Some(t.priority) > best) {
            Chip::BackupActive
        } else {
            Chip::BackupIdle
        }
    }

    /// The `data-chip` value and CSS class suffix.
    pub fn kind(self) -> &'static str {
        match self {
            Chip::BackupActive => "active",
            Chip::BackupIdle => "idle",
            Chip::NoneActive => "none",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Chip::BackupActive => "Backup is active",
            Chip::BackupIdle => "Backup is idle",
            Chip::NoneActive => "No target is active",
        }
    }
}

pub(super) fn group(out: &mut String, g: &GroupView) {
    let name = esc(g.name);
    let state = g.state.as_str();
    let chip = Chip::of(g);
    let (chip_kind, chip_text) = (chip.kind(), chip.text());
    let _ = write!(
        out,
        "<article class=\"group\" data-group=\"{name}\" data-state=\"{state}\" aria-label=\"Group {name}\">\
         <div class=\"group-head\"><h2>{name}</h2>\
         <span class=\"chip chip-{chip_kind}\" data-chip=\"{chip_kind}\">{chip_text}</span></div>\n<dl class=\"facts\">"
    );
    let active = if g.active.is_empty() {
        "none".to_string()
    } else {
        g.active.join(", ")
    };
    fact(out, "State", state);
    fact(out, "Epoch", &g.epoch.to_string());
    fact(out, "Active", &active);
    fact(out, "Pinned to", g.pinned.unwrap_or("none"));
    let failback = match g.failback_in {
        Some(s) => format!("{} in {:.0} s", g.failback, s.ceil()),
        None => g.failback.to_string(),
    };
    fact(out, "Failback", &failback);
    let change = g.last_change.as_ref().map_or("none".to_string(), |c| {
        format!("{} at {}", c.cause.as_str(), time(c.at))
    });
    fact(out, "Last change", &change);
    if let Some(held) = &g.switch {
        fact(out, "Switch", &switch_text(held));
    }
    out.push_str("</dl>\n<div class=\"actions\">");
    for (action, label) in GROUP_ACTIONS {
        let _ = write!(
            out,
            "<button type=\"button\" data-action=\"{action}\" aria-label=\"{label}: {name}\" disabled>{label}</button>"
        );
    }
    let _ = write!(
        out,
        "</div>\n<div class=\"table-wrap\"><table><caption>Targets of {name}</caption><thead><tr>"
    );
    for h in COLUMNS {
        let _ = write!(out, "<th scope=\"col\">{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for t in &g.targets {
        target(out, t);
    }
    out.push_str("</tbody></table></div></article>\n");
}

/// The group's verbs, as buttons (each asks for a confirmation first).
pub const GROUP_ACTIONS: [(&str, &str); 7] = [
    ("release", "Release pin"),
    ("failback", "Fail back"),
    ("commit", "Commit"),
    ("uncommit", "Uncommit"),
    ("retry", "Retry gates"),
    ("drill", "Drill"),
    ("disconnect", "Disconnect sessions"),
];

/// A target's verbs.
pub const TARGET_ACTIONS: [(&str, &str); 4] = [
    ("switch", "Switch here"),
    ("drain", "Drain"),
    ("maintenance", "Maintenance"),
    ("enable", "Enable"),
];

const COLUMNS: [&str; 9] = [
    "Target",
    "Address",
    "Priority",
    "Health",
    "Last check error",
    "Admin state",
    "Sessions",
    "Traffic",
    "Actions",
];

fn target(out: &mut String, t: &TargetView) {
    let name = esc(t.name);
    let health = t.health;
    let flapping = if t.flapping { " (flapping)" } else { "" };
    let error = t.last_error.as_ref().map_or("none".to_string(), |e| {
        format!("{} ({})", esc(&e.message), time(e.at))
    });
    let _ = write!(
        out,
        "<tr data-target=\"{name}\" data-health=\"{health}\"><th scope=\"row\">{name}</th>\
         <td>{}</td><td>{}</td><td><span class=\"health health-{health}\">{health}{flapping}</span></td>\
         <td class=\"error-cell\">{error}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"actions\">",
        esc(&t.address),
        t.priority,
        t.admin_state.as_str(),
        t.sessions,
        if t.active { "active" } else { "idle" },
    );
    for (action, label) in TARGET_ACTIONS {
        let _ = write!(
            out,
            "<button type=\"button\" data-action=\"{action}\" aria-label=\"{label}: {name}\" disabled>{label}</button>"
        );
    }
    out.push_str("</td></tr>");
}

/// A switch held for its gates: which gate runs, or why it failed.
pub fn switch_text(s: &SwitchView) -> String {
    let to = s.to.join(", ");
    if let Some(reason) = s.reason {
        return format!("to {to} FAILED: {reason}");
    }
    match &s.step {
        Some(step) => format!(
            "to {to}: gate {} running ({} of {}, try {})",
            step.hook, step.number, step.of, step.try_no
        ),
        None => format!("to {to}: gates starting"),
    }
}

fn fact(out: &mut String, term: &str, value: &str) {
    let _ = write!(out, "<div><dt>{term}</dt><dd>{}</dd></div>", esc(value));
}

/// The history, newest first, with the group filter (a plain list without JavaScript).
pub(super) fn history(out: &mut String, groups: &[String], events: &[Event]) {
    out.push_str(
        "<section id=\"history\" aria-labelledby=\"history-title\"><div class=\"history-head\">\
         <h2 id=\"history-title\">Event history</h2><label for=\"event-filter\">Group</label>\
         <select id=\"event-filter\"><option value=\"\">All groups</option>",
    );
    for g in groups {
        let g = esc(g);
        let _ = write!(out, "<option value=\"{g}\">{g}</option>");
    }
    out.push_str("</select></div>\n<ol id=\"events\" class=\"events\">");
    for e in events.iter().rev() {
        let group = esc(e.group.as_deref().unwrap_or(""));
        let _ = write!(
            out,
            "<li data-event=\"{}\" data-event-group=\"{group}\"><time>{}</time> \
             <span class=\"kind\">{}</span> <span class=\"event-group\">{group}</span> {}</li>",
            e.id,
            time(e.at),
            esc(&e.kind),
            esc(&super::explain(e)),
        );
    }
    out.push_str("</ol></section>\n");
}

/// Unix seconds as `2026-12-01T07:30:00Z`.
fn time(at: f64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs_f64(at.max(0.0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Text for HTML element content and double- or single-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
