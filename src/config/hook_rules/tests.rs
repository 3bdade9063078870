use super::*;
use crate::config::Config;

fn group_with(hooks: &str) -> String {
    format!(
        r#"
[[group]]
name = "web"

[group.health]
port = 80

[[group.target]]
name = "main"
address = "192.0.2.1"

{hooks}
"#
    )
}

fn hooks(text: &str) -> std::result::Result<Vec<HookConfig>, String> {
    Config::parse(&group_with(text))
        .map(|c| c.groups[0].hooks.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn defaults_and_order_are_kept() {
    let got = hooks(
        r#"
[[group.hook]]
on = ["failover", "all_down"]
command = ["/bin/true"]

[[group.hook]]
name = "notify"
on = ["target_state"]
webhook = "http://127.0.0.1:9/hook?key=1"
timeout = "2s"
"#,
    )
    .unwrap();
    assert_eq!(
        got,
        vec![
            HookConfig {
                name: "hook-1".into(),
                on: vec![HookTrigger::Failover, HookTrigger::AllDown],
                action: HookAction::Command(vec!["/bin/true".into()]),
                timeout: Duration::from_secs(10),
                stage: HookStage::After,
                retries: 0,
                await_role: None,
            },
            HookConfig {
                name: "notify".into(),
                on: vec![HookTrigger::TargetState],
                action: HookAction::Webhook(WebhookUrl {
                    tls: false,
                    host: "127.0.0.1".into(),
                    port: 9,
                    path: "/hook?key=1".into(),
                }),
                timeout: Duration::from_secs(2),
                stage: HookStage::After,
                retries: 0,
                await_role: None,
            },
        ]
    );
}

#[test]
fn no_hooks_is_an_empty_runbook() {
    assert_eq!(hooks("").unwrap(), vec![]);
}

#[test]
fn webhook_urls_are_split() {
    let cases = [
        (
            "https://Alerts.Example.test",
            true,
            "alerts.example.test",
            443,
            "/",
        ),
        ("http://[::1]:8080/x", false, "::1", 8080, "/x"),
        (
            "HTTPS://h.example.test:8443/a/b?c=d",
            true,
            "h.example.test",
            8443,
            "/a/b?c=d",
        ),
    ];
    for (text, tls, host, port, path) in cases {
        let url = webhook_url("s", text).unwrap();
        let want = WebhookUrl {
            tls,
            host: host.into(),
            port,
            path: path.into(),
        };
        assert_eq!(url, want, "{text}");
    }
    let url = webhook_url("s", "http://[::1]:8080/x").unwrap();
    assert_eq!(url.authority(), "[::1]:8080");
    assert_eq!(url.origin(), "http://[::1]:8080");
    let url = webhook_url("s", "https://h.example.test:443/secret").unwrap();
    assert_eq!(url.origin(), "https://h.example.test");
}

#[test]
fn bad_webhook_urls_say_why() {
    let cases = [
        (
            "ftp://h.example.test/",
            "must be an http:// or https:// URL",
        ),
        ("/just/a/path", "must be an http:// or https:// URL"),
        ("h.example.test", "must be an http:// or https:// URL"),
        (
            "http://user:pw@h.example.test/",
            "must not hold user:password@",
        ),
        ("http://h.example.test:0/", "has port 0"),
        ("http://bad_host!/", "not a valid"),
        ("http://a..b/", "is not a valid domain name"),
        ("not a url", "is not a valid URL"),
        ("http://[::1/", "is not a valid URL"),
    ];
    for (text, want) in cases {
        let err = webhook_url("s", text).unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn rules_not_covered_by_fixtures() {
    let err = hooks(
        r#"
[[group.hook]]
on = ["failover", "failover"]
command = ["/bin/true"]
"#,
    )
    .unwrap_err();
    assert_eq!(err, r#"group "web": hook 1: on lists "failover" twice"#);
    let err = hooks(
        r#"
[[group.hook]]
on = ["commit"]
command = ["/bin/echo", "a\u0000b"]
"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        r#"group "web": hook 1: command[1] contains a NUL character"#
    );
    let err = hooks(
        r#"
[[group.hook]]
name = "bad name"
on = ["commit"]
command = ["/bin/true"]
"#,
    )
    .unwrap_err();
    assert!(
        err.starts_with(r#"group "web": hook 1: name "bad name" must be 1-63"#),
        "{err}"
    );
    let err = hooks(
        r#"
[[group.hook]]
on = ["commit"]
command = ["/bin/true"]
timeout = "10m1s"
"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        r#"group "web": hook 1: timeout (601s) must be at most 600s (10m)"#
    );
    // 10m itself is allowed.
    hooks(
        r#"
[[group.hook]]
on = ["commit"]
command = ["/bin/true"]
timeout = "10m"
"#,
    )
    .unwrap();
}
