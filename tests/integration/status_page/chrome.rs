//! A real headless Chromium for the status page tests, driven through WebDriver:
//! chromedriver on a port of its own choosing (`--port=0`, read back from what it prints),
//! in a process group of its own, so that it and every browser it started are killed by
//! that group's id when the test ends, passed or failed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::http::Method;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::harness::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A running chromedriver; killed with its browsers when dropped.
pub struct Chromedriver {
    child: Child,
    url: String,
    /// The browser's profile: new and empty for every test.
    profile: tempfile::TempDir,
}

/// Whether the machine has both (Debian `chromium`, `chromium-driver`); in CI a missing
/// one fails the test (see `require`).
pub fn available() -> bool {
    require(
        "chromium and chromedriver (Debian chromium, chromium-driver)",
        has_command("chromedriver") && std::path::Path::new(CHROMIUM).exists(),
    )
}

impl Chromedriver {
    pub fn start() -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let out = child.stdout.take().expect("chromedriver stdout");
        let (tx, rx) = mpsc::channel();
        // Reads its port, then keeps draining what it prints so it never blocks on a pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("chromedriver printed no port within 20 s");
        Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: tempfile::tempdir().expect("profile dir"),
        }
    }

    /// A new headless browser session. The flags keep Chromium off the network: this
    /// machine has none, and without them it keeps trying to reach its update and sync
    /// services.
    pub async fn browser(&self) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", self.profile.path().display()),
        ];
        let caps = json!({ "goog:chromeOptions": { "binary": CHROMIUM, "args": args } });
        let caps = caps.as_object().cloned().unwrap_or_default();
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session from chromedriver")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group chromedriver leads: it, and the browsers it started.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Chromium's DevTools command `cmd` through chromedriver (`goog/cdp/execute`), for what
/// WebDriver itself cannot do, such as running a script before the page's own.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// Runs `source` in every page the browser loads from now on, before the page's scripts.
pub async fn before_page_scripts(b: &Client, source: &str) {
    let cmd = Cdp {
        cmd: "Page.addScriptToEvaluateOnNewDocument",
        params: json!({ "source": source }),
    };
    b.issue_cmd(cmd)
        .await
        .expect("add a script to every new page");
}
