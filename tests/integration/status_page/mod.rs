//! The web status page at `/` on the admin listener: what it serves with and without
//! tokens, its live feed (`/v1/stream`), and, in a real headless Chromium, an operator's
//! whole round: sign in, switch, watch a failover, and a read token that cannot act.

mod api;
mod browser;
mod chrome;

use std::time::Duration;

use crate::harness::*;

const OPS: &str = "page-ops-secret-abcdefghijklmnop";
const VIEWER: &str = "page-viewer-secret-qrstuvwxyz0123";

const FAST_TCP: &str =
    "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 2\nfall = 2";

const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "fo.test."
nameservers = [{ name = "ns1.fo.test.", addresses = ["127.0.0.1"] }]
"#;

/// Main and backup HTTP stacks, failoverd with DNS, a proxy, and (with `tokens`) an
/// operate token `ops` and a read token `viewer`; returns once both are up, main active.
async fn start(tokens: bool) -> (HttpStack, HttpStack, Failoverd) {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = String::new();
    if tokens {
        for (name, role, secret) in [("ops", "operate", OPS), ("viewer", "read", VIEWER)] {
            std::fs::write(dir.path().join(name), format!("{secret}\n")).unwrap();
            admin += &format!(
                "[[admin.token]]\nname = \"{name}\"\nrole = \"{role}\"\nsecret_file = \"{{dir}}/{name}\"\n\n"
            );
        }
    }
    let (port, main, backup) = http_stacks(MAIN, BACKUP);
    let extra = "ttl = \"1s\"\nfailback = \"auto\"\nfailback_hold = \"3s\"";
    let config = header(&admin) + DNS + &pair_group("app", port, extra, FAST_TCP);
    let opts = StartOptions {
        dir: Some(dir),
        ..Default::default()
    };
    let f = Failoverd::start_with(&config, opts).await;
    let token = tokens.then_some(VIEWER);
    eventually(Duration::from_secs(10), "both up, main active", || async {
        let r = http_request(f.admin, "GET", "/v1/groups/app", None, token)
            .await
            .ok()?;
        let g = parse_json("group", &r.body);
        (health(&g, "main") == "up" && health(&g, "backup") == "up" && active(&g) == ["main"])
            .then_some(())
    })
    .await;
    (main, backup, f)
}
