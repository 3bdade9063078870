//! The status page in a real headless Chromium (WebDriver), against the real binary with
//! real backends: an operator signs in, switches to the backup from the page (API and DNS
//! follow, the page shows it without a reload), watches a release made through the API
//! and a failover when the main dies, and a read token sees disabled buttons and a 403.
//! The times from each change to the page showing it are printed (and asserted bounded).

use std::time::Duration;

use fantoccini::{Client, Locator};
use hickory_proto::rr::RecordType;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::chrome::{self, Chromedriver};
use super::{start, OPS, VIEWER};
use crate::dns_client::*;
use crate::harness::*;

/// How long the page may take to show a change the API already shows.
const PAGE_LIMIT: Duration = Duration::from_secs(5);

/// The group as the page shows it: state, chip, health per target, and whether each
/// action button is disabled. `None` while the page has no group.
const READ_PAGE: &str = r#"
const g = document.querySelector('[data-group="app"]');
if (!g) return null;
const rows = [...g.querySelectorAll('[data-target]')];
return {
  state: g.dataset.state,
  chip: g.querySelector('[data-chip]').textContent,
  health: Object.fromEntries(rows.map((r) => [r.dataset.target, r.dataset.health])),
  disabled: [...document.querySelectorAll('#groups button[data-action]')].map((b) => b.disabled),
  answer: document.getElementById('answer').textContent,
  countdown: (g.querySelector('.countdown') || {}).textContent || null,
};"#;

async fn page(b: &Client) -> Option<Value> {
    b.execute(READ_PAGE, vec![])
        .await
        .ok()
        .filter(|v| !v.is_null())
}

/// Waits until the page's group satisfies `cond`; returns how long that took.
async fn wait_page(b: &Client, what: &str, cond: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    eventually(PAGE_LIMIT, what, || async {
        page(b).await.filter(|p| cond(p)).map(|_| ())
    })
    .await;
    started.elapsed()
}

/// Clicks the element `css`, again if an update replaced it between find and click.
async fn click(b: &Client, css: &str) {
    eventually(Duration::from_secs(5), &format!("click {css}"), || async {
        let e = b.find(Locator::Css(css)).await.ok()?;
        e.click().await.ok()
    })
    .await;
}

async fn sign_in(b: &Client, token: &str) {
    let input = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name=\"token\"]"))
        .await
        .expect("the token field");
    eventually(Duration::from_secs(5), "token field shown", || async {
        input.is_displayed().await.ok().filter(|&shown| shown)
    })
    .await;
    input.send_keys(token).await.expect("type the token");
    click(b, "#login button[type=\"submit\"]").await;
}

/// Clicks `action` (on `target`'s row, or the group's own) and confirms in the dialog.
async fn act(b: &Client, target: Option<&str>, action: &str) {
    let css = match target {
        Some(t) => {
            format!("[data-group=\"app\"] [data-target=\"{t}\"] button[data-action=\"{action}\"]")
        }
        None => format!("[data-group=\"app\"] > .actions button[data-action=\"{action}\"]"),
    };
    click(b, &css).await;
    b.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("#confirm[open]"))
        .await
        .expect("the confirmation dialog");
    click(b, "#confirm [data-action=\"confirm\"]").await;
}

async fn dns_a(f: &Failoverd) -> Vec<String> {
    answer_data(&ask_type(f.dns[0], Via::Udp, "app.fo.test.", RecordType::A).await)
}

async fn api_group(f: &Failoverd) -> Value {
    let r = http_request(f.admin, "GET", "/v1/groups/app", None, Some(VIEWER))
        .await
        .expect("GET group");
    parse_json("group", &r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_operates_and_follows_a_failover_in_a_real_browser() {
    if !chrome::available() {
        return;
    }
    let (mut main, _backup, f) = start(true).await;
    let driver = Chromedriver::start();
    let b = driver.browser().await;
    b.goto(&format!("http://{}/", f.admin))
        .await
        .expect("load /");
    sign_in(&b, OPS).await;
    wait_page(&b, "group shown, Backup is idle", |p| {
        p["chip"] == "Backup is idle" && p["state"] == "primary"
    })
    .await;

    operate_switch(&b, &f).await;
    refused_shown(&b).await;
    follow_release(&b, &f).await;
    follow_failover(&b, &f, &main).await;
    follow_failback(&b, &mut main).await;
    read_token(&b, &f).await;
    let _ = b.close().await;
}

/// Switch to the backup from the page: the API and DNS follow, the page shows it.
async fn operate_switch(b: &Client, f: &Failoverd) {
    let clicked = Instant::now();
    act(b, Some("backup"), "switch").await;
    let shown = wait_page(b, "page shows Backup is active", |p| {
        p["chip"] == "Backup is active" && p["state"] == "failed_over"
    })
    .await;
    let g = api_group(f).await;
    assert_eq!(active(&g), ["backup"], "{g}");
    assert_eq!(g["pinned"], "backup");
    assert_eq!(dns_a(f).await, ["127.0.0.3"]);
    let p = page(b).await.unwrap();
    assert!(p["answer"].as_str().unwrap_or("").contains("done"), "{p}");
    eprintln!(
        "status page: switch confirmed -> page shows \"Backup is active\" in {} ms (page {} ms after the click)",
        clicked.elapsed().as_millis(),
        shown.as_millis()
    );
}

/// A verb the API refuses shows its error on the page: retry with no failed switch.
async fn refused_shown(b: &Client) {
    act(b, None, "retry").await;
    let answer = eventually(Duration::from_secs(5), "the refusal shown", || async {
        let p = page(b).await?;
        let a = p["answer"].as_str()?.to_string();
        a.contains("failed: HTTP 409").then_some(a)
    })
    .await;
    assert!(
        answer.starts_with("Retry the gates of app failed"),
        "{answer}"
    );
}

/// A release made outside the page (the API) shows on the page without a reload.
async fn follow_release(b: &Client, f: &Failoverd) {
    let r = http_request(
        f.admin,
        "POST",
        "/v1/groups/app/release",
        Some(""),
        Some(OPS),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // Auto failback: main serves again once it has been up for the 3 s hold (at once, if
    // it has been up that long already).
    eventually(Duration::from_secs(8), "API shows main active", || async {
        (active(&api_group(f).await) == ["main"]).then_some(())
    })
    .await;
    let took = wait_page(b, "page shows Backup is idle after the release", |p| {
        p["chip"] == "Backup is idle"
    })
    .await;
    assert_eq!(dns_a(f).await, ["127.0.0.2"]);
    eprintln!(
        "status page: release (API) -> page shows main active {} ms after the API does",
        took.as_millis()
    );
}

/// The main dies: the page shows it down and the backup active within seconds.
async fn follow_failover(b: &Client, f: &Failoverd, main: &HttpStack) {
    let killed = Instant::now();
    main.stop();
    let api = eventually(
        Duration::from_secs(10),
        "API shows the failover",
        || async {
            let g = api_group(f).await;
            (active(&g) == ["backup"]).then(|| killed.elapsed())
        },
    )
    .await;
    let shown = wait_page(b, "page shows main down, Backup is active", |p| {
        p["health"]["main"] == "down" && p["chip"] == "Backup is active"
    })
    .await;
    assert_eq!(dns_a(f).await, ["127.0.0.3"]);
    eprintln!(
        "status page: main killed -> API failed over after {} ms, page showed it {} ms after that",
        api.as_millis(),
        shown.as_millis()
    );
}

/// The main comes back: the page counts the failback hold down (the screenshot is taken
/// then), and shows the main serving again once the hold ends.
async fn follow_failback(b: &Client, main: &mut HttpStack) {
    main.restart();
    let p = eventually(
        Duration::from_secs(10),
        "page shows the failback countdown",
        || async { page(b).await.filter(|p| p["countdown"].is_string()) },
    )
    .await;
    assert_eq!(p["health"]["main"], "up", "{p}");
    assert_eq!(p["chip"], "Backup is active", "{p}");
    let text = p["countdown"].as_str().unwrap_or("");
    assert!(text.starts_with("auto in ") && text.ends_with(" s"), "{p}");
    screenshot(b).await;
    eventually(
        Duration::from_secs(10),
        "page shows the failback",
        || async {
            page(b)
                .await
                .filter(|p| p["chip"] == "Backup is idle" && p["countdown"].is_null())
        },
    )
    .await;
}

/// Saves what the page looks like now: in the test's temp dir always, and where
/// `FAILOVERD_SCREENSHOT` says (how docs/status-page.png is made).
async fn screenshot(b: &Client) {
    let png = b.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let mut paths = vec![std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png")];
    if let Ok(p) = std::env::var("FAILOVERD_SCREENSHOT") {
        paths.push(p.into());
    }
    for p in paths {
        std::fs::write(&p, &png).expect("write the screenshot");
        eprintln!("status page: screenshot in {}", p.display());
    }
}

/// A read token: every button disabled, and a call forced from the page's own script
/// context is refused with 403, changing nothing.
async fn read_token(b: &Client, f: &Failoverd) {
    click(b, "#forget").await;
    sign_in(b, VIEWER).await;
    wait_page(b, "every button disabled for the read token", |p| {
        let d = p["disabled"].as_array().cloned().unwrap_or_default();
        !d.is_empty() && d.iter().all(|x| x == true)
    })
    .await;
    let before = api_group(f).await;
    let forced = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            fetch('/v1/groups/app/switch', { method: 'POST', headers: {
                'Authorization': 'Bearer ' + sessionStorage.getItem('failoverd.token'),
                'Content-Type': 'application/json' }, body: JSON.stringify({ target: 'main' }) })
              .then((r) => r.json().then((j) => done([r.status, j.error])))
              .catch((e) => done([0, String(e)]));"#,
            vec![],
        )
        .await
        .expect("the forced call");
    assert_eq!(forced[0], json!(403), "{forced}");
    assert!(
        forced[1].as_str().unwrap_or("").contains("viewer"),
        "{forced}"
    );
    let after = api_group(f).await;
    assert_eq!(after["epoch"], before["epoch"]);
    assert_eq!(active(&after), active(&before));
}

/// Without tokens the page asks for none; and where the stream cannot be had (here every
/// fetch of it fails, as behind a proxy that buffers responses), the page polls and still
/// follows a change within about a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_without_tokens_falls_back_to_polling() {
    if !chrome::available() {
        return;
    }
    let (_main, _backup, f) = start(false).await;
    let driver = Chromedriver::start();
    let b = driver.browser().await;
    chrome::before_page_scripts(
        &b,
        "const realFetch = window.fetch; window.fetch = (url, init) => \
         String(url).includes('/v1/stream') ? Promise.reject(new TypeError('no stream here')) \
         : realFetch(url, init);",
    )
    .await;
    b.goto(&format!("http://{}/", f.admin))
        .await
        .expect("load /");
    wait_page(&b, "group shown, Backup is idle", |p| {
        p["chip"] == "Backup is idle"
    })
    .await;
    let login = b.find(Locator::Css("#login")).await.expect("the form");
    assert!(
        !login.is_displayed().await.unwrap(),
        "a token asked for without tokens"
    );
    eventually(Duration::from_secs(5), "the page says it polls", || async {
        let live = b
            .find(Locator::Css("#live"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        live.starts_with("Polling").then_some(())
    })
    .await;

    same_hooks_as_the_server(&b).await;

    let (status, body) = f
        .post("/v1/groups/app/switch", r#"{"target": "backup"}"#, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let took = wait_page(&b, "page shows the switch by polling", |p| {
        p["chip"] == "Backup is active"
    })
    .await;
    assert!(took < Duration::from_secs(3), "polling took {took:?}");
    eprintln!(
        "status page: polling (no stream) -> page shows the switch {} ms after the API",
        took.as_millis()
    );
    phone_width(&b).await;
    let _ = b.close().await;
}

/// The script draws the groups with the same hooks, in the same order, as the server
/// writes them into the HTML (`render.rs` and `render.js` are two writers of one markup).
async fn same_hooks_as_the_server(b: &Client) {
    let compare = r#"const done = arguments[arguments.length - 1];
        const hooks = (root) => [...root.querySelectorAll('#groups *')]
          .filter((e) => ['group', 'target', 'action', 'state', 'health', 'chip']
            .some((k) => e.dataset[k] !== undefined))
          .map((e) => e.tagName + ' ' + JSON.stringify(Object.assign({}, e.dataset)) + ' ' +
            (e.getAttribute('aria-label') || ''));
        fetch('/').then((r) => r.text()).then((html) => {
          const server = hooks(new DOMParser().parseFromString(html, 'text/html'));
          done([server, hooks(document)]);
        }).catch((e) => done(String(e)));"#;
    let got = b.execute_async(compare, vec![]).await.expect("compare");
    let (server, script) = (&got[0], &got[1]);
    assert!(server.as_array().is_some_and(|a| a.len() > 10), "{got}");
    assert_eq!(server, script, "server and script markup differ");
}

/// On a phone's width the page does not scroll sideways as a whole (only a target table
/// may, inside its own box).
async fn phone_width(b: &Client) {
    b.set_window_size(390, 844).await.expect("resize");
    let overflow = "const d = document.documentElement; return d.scrollWidth - d.clientWidth;";
    eventually(
        Duration::from_secs(5),
        "no sideways scroll at 390 px",
        || async {
            let extra = b.execute(overflow, vec![]).await.ok()?;
            (extra.as_i64() == Some(0)).then_some(())
        },
    )
    .await;
}
