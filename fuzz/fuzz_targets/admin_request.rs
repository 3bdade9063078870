//! The admin request path: any bytes as an HTTP/1.1 request through the real router and
//! its layers (token check, limits, JSON errors), over an in-memory connection. Every
//! request gets an answer within a second, and every error that has a body is JSON
//! `{"error": "..."}` (the HTTP parser's own bare 4xx for unparseable bytes has none).
#![no_main]

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use failoverd::admin::{router, AdminCtx, Tokens};
use failoverd::config::Config;
use failoverd::critical::Subsystems;
use failoverd::group::supervisor::{Services, Supervisor};
use failoverd::store::events::EventLog;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const CONFIG: &str = r#"
[[group]]
name = "app"
[group.health]
port = 80
[[group.target]]
name = "main"
address = "192.0.2.1"
[[group.target]]
name = "backup"
address = "192.0.2.2"
priority = 2
"#;

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = rt.block_on(async {
            let config = Config::parse(CONFIG).expect("fuzz config");
            let events = Arc::new(EventLog::open(None, 64));
            let services = Services {
                store: None,
                events: events.clone(),
                notices: None,
                cluster: None,
                gates: None,
                derive: None,
            };
            let (sup, supervisor, snapshot) = Supervisor::new(&config, None, &[], services);
            tokio::spawn(sup.run(CancellationToken::new()));
            let (reload, requests) = failoverd::reconfig::channel();
            // No reconfiguration task: a reload answers "shutting down" (a JSON 422).
            drop(requests);
            let ctx = AdminCtx {
                snapshot,
                metrics: failoverd::metrics::install().expect("metrics"),
                ready: Arc::new(AtomicBool::new(true)),
                supervisor,
                reload,
                events,
                tokens: Tokens::new(Vec::new()),
                subsystems: Subsystems::new(CancellationToken::new()),
                cluster: None,
                drills: Default::default(),
            };
            router(ctx, Duration::from_millis(200))
        });
        World { rt, app }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let answer = w.rt.block_on(async {
        let (client, server) = tokio::io::duplex(1 << 20);
        let service = TowerToHyperService::new(w.app.clone());
        let conn = hyper::server::conn::http1::Builder::new()
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(server), service);
        let serve = tokio::spawn(conn);
        let (mut r, mut wr) = tokio::io::split(client);
        let _ = wr.write_all(data).await;
        let _ = wr.shutdown().await;
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(1), r.read_to_end(&mut out)).await;
        serve.abort();
        read.map(|_| out)
    });
    let out = answer.expect("the admin router answered within a second");
    let text = String::from_utf8_lossy(&out);
    // Every response on the connection (pipelined requests give several).
    for response in text.split("HTTP/1.1 ").skip(1) {
        let status: u16 = response.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
        let Some((head, body)) = response.split_once("\r\n\r\n") else {
            continue;
        };
        if status < 400 || body.is_empty() || head.to_ascii_lowercase().contains("transfer-encoding") {
            continue;
        }
        let len = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().ok()))
            .flatten()
            .unwrap_or(body.len());
        let body = &body[..len.min(body.len())];
        let v: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {body:?}"));
        assert!(v["error"].is_string(), "{status}: {body}");
    }
});
