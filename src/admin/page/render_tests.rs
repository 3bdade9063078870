//! The page's HTML: names that look like markup come out as text, the hooks are where
//! DESIGN.md puts them, and a token-protected page carries no state.

use serde_json::json;

use super::render::{esc, group, history, page, Auth, Chip};
use crate::admin::views::{ErrorView, GroupView, StepView, SwitchView, TargetView};
use crate::group::{AdminState, GroupStatus};
use crate::store::events::Event;

const EVIL: &str = "<script>alert(\"x\")</script>'&";

fn target<'a>(name: &'a str, priority: u32, active: bool) -> TargetView<'a> {
    TargetView {
        name,
        address: "127.0.0.2".into(),
        priority,
        health: "up",
        role: None,
        last_check_error: None,
        admin_state: AdminState::Enabled,
        active,
        flapping: false,
        sessions: 3,
        last_error: Some(ErrorView {
            message: format!("refused by {EVIL}"),
            at: 1.5,
        }),
    }
}

fn view<'a>(name: &'a str, targets: Vec<TargetView<'a>>) -> GroupView<'a> {
    GroupView {
        name,
        dns_name: None,
        epoch: 4,
        state: GroupStatus::FailedOver,
        active: targets
            .iter()
            .filter(|t| t.active)
            .map(|t| t.name)
            .collect(),
        pinned: Some(name),
        failback: "auto",
        all_down: "fail_static",
        last_change: None,
        failback_at: Some(100.0),
        failback_in: Some(12.2),
        switch: None,
        targets,
    }
}

#[test]
fn esc_covers_every_character_that_ends_text_or_an_attribute() {
    assert_eq!(
        esc(EVIL),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;"
    );
    assert_eq!(esc("plain-name_1"), "plain-name_1");
}

#[test]
fn group_and_target_names_are_escaped_everywhere() {
    let g = view(EVIL, vec![target(EVIL, 1, false), target("b\"k", 2, true)]);
    let mut out = String::new();
    group(&mut out, &g);
    assert!(!out.contains("<script"), "{out}");
    assert!(!out.contains("\"x\""), "{out}");
    let escaped = esc(EVIL);
    assert!(out.contains(&format!("data-group=\"{escaped}\"")), "{out}");
    assert!(out.contains(&format!("data-target=\"{escaped}\"")), "{out}");
    assert!(out.contains("data-target=\"b&quot;k\""), "{out}");
    assert!(out.contains(&format!("refused by {escaped}")), "{out}");
    // Every quote in the output opens or closes an attribute: an even count per tag.
    for tag in out.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
    }
}

#[test]
fn hooks_and_facts_follow_the_design() {
    let g = view(
        "app",
        vec![target("main", 1, false), target("backup", 2, true)],
    );
    let mut out = String::new();
    group(&mut out, &g);
    for hook in [
        "data-group=\"app\"",
        "data-state=\"failed_over\"",
        "data-target=\"main\" data-health=\"up\"",
        "data-target=\"backup\" data-health=\"up\"",
        "data-action=\"switch\"",
        "data-action=\"release\"",
        "data-action=\"failback\"",
        "data-action=\"commit\"",
        "data-action=\"drain\"",
        "data-action=\"maintenance\"",
        "data-action=\"enable\"",
        "data-action=\"disconnect\"",
        "data-action=\"uncommit\"",
        "data-action=\"retry\"",
        "data-action=\"drill\"",
        "Backup is active",
        "auto in 13 s",
        "Pinned to</dt><dd>app",
        "aria-label=\"Switch here: backup\"",
        "aria-label=\"Release pin: app\"",
    ] {
        assert!(out.contains(hook), "missing {hook}: {out}");
    }
}

#[test]
fn the_chip_says_whether_a_backup_serves() {
    let idle = view(
        "a",
        vec![target("main", 1, true), target("backup", 2, false)],
    );
    assert_eq!(Chip::of(&idle).text(), "Backup is idle");
    let active = view(
        "a",
        vec![target("main", 1, false), target("backup", 2, true)],
    );
    assert_eq!(Chip::of(&active).text(), "Backup is active");
    let none = view(
        "a",
        vec![target("main", 1, false), target("backup", 2, false)],
    );
    assert_eq!(Chip::of(&none), Chip::NoneActive);
    // A tier of equal priorities sharing traffic is not a backup.
    let tier = view("a", vec![target("m1", 1, true), target("m2", 1, true)]);
    assert_eq!(Chip::of(&tier), Chip::BackupIdle);
}

#[test]
fn event_text_is_escaped_and_newest_first() {
    let event = |id, detail: &str| Event {
        id,
        at: 0.0,
        kind: "health".into(),
        group: Some(EVIL.into()),
        epoch: None,
        details: json!({"target": "main", "health": "down", "detail": detail}),
    };
    let mut out = String::new();
    history(
        &mut out,
        &[EVIL.to_string()],
        &[event(1, "first"), event(2, "<img src=x onerror=alert(1)>")],
    );
    assert!(!out.contains("<img") && !out.contains("<script"), "{out}");
    assert!(out.contains("&lt;img src=x onerror=alert(1)&gt;"), "{out}");
    let (first, second) = (out.find("data-event=\"1\""), out.find("data-event=\"2\""));
    assert!(second < first, "newest first: {out}");
}

#[test]
fn a_page_behind_tokens_carries_the_token_field_and_no_state() {
    let out = page(Auth::Token, None);
    assert!(out.contains("name=\"token\""));
    assert!(out.contains("data-auth=\"token\""));
    assert!(!out.contains("data-group="), "{out}");
    assert!(!out.contains("data-event="), "{out}");
    // No inline script or style for the CSP to refuse.
    assert!(
        !out.contains("<script>") && !out.contains("style="),
        "{out}"
    );
    assert!(out.contains("<script type=\"module\" src=\"/assets/page.js\"></script>"));
    let open = page(Auth::Open, None);
    assert!(open.contains("data-auth=\"open\""));
    assert!(open.contains("<form id=\"login\" class=\"login\" hidden>"));
}

#[test]
fn a_held_switch_says_which_gate_runs_or_why_it_failed() {
    let mut g = view(
        "app",
        vec![target("main", 1, true), target("backup", 2, false)],
    );
    g.switch = Some(SwitchView {
        gates: "running",
        to: vec!["backup"],
        cause: crate::group::Cause::Health,
        attempt: 1,
        since: Some(1.0),
        step: Some(StepView {
            hook: "promote<1>",
            number: 1,
            of: 2,
            try_no: 1,
            since: 1.0,
        }),
        reason: None,
    });
    let mut out = String::new();
    group(&mut out, &g);
    assert!(
        out.contains("to backup: gate promote&lt;1&gt; running (1 of 2, try 1)"),
        "{out}"
    );
    if let Some(s) = g.switch.as_mut() {
        s.reason = Some("gate promote<1> failed: exit 1");
    }
    let mut out = String::new();
    group(&mut out, &g);
    assert!(
        out.contains("to backup FAILED: gate promote&lt;1&gt; failed: exit 1"),
        "{out}"
    );
}
