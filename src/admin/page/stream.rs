//! `GET /v1/stream`: the status page's live feed, as server-sent events over one long
//! response (read with `fetch`, since `EventSource` cannot send the bearer header).
//!
//! - `event: groups`, the `GET /v1/groups` body: at once, then at every new snapshot
//!   (the supervisor's change notification) and whenever the sessions or last check
//!   errors, which live beside the snapshot, changed (looked at every second);
//! - `event: events`, `{"events": [...]}` with each event's `summary`: the newest ones at
//!   once, then each new one as the history records it;
//! - a comment line every 15 s, so proxies and the browser see the stream alive;
//! - at most one message per 200 ms (`MIN_GAP`): bursts of changes are coalesced.
//!
//! The token is checked again every second, so a token a reload removed stops its
//! streams; a stream ends too when the process starts draining, so a stop never waits
//! on it.

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::super::{views, AdminCtx};
use crate::config::Role;
use crate::group::snapshot::Snapshot;
use crate::metrics::book;

/// How often the sessions, the errors and the token are looked at.
const TICK: Duration = Duration::from_secs(1);
/// A comment line at least this often.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Events sent when the stream opens (the newest).
const FIRST_EVENTS: usize = 100;
/// Events per `events` message at most; more wait for the next one.
const EVENTS_PER_MESSAGE: usize = 500;
/// Messages to one page at most this often: a `groups` message is the whole fleet (about
/// 4 MB at 10,000 groups), and a mass failover publishes many snapshots within a second.
/// The first change after a quiet spell still goes out at once; a burst is coalesced.
const MIN_GAP: Duration = Duration::from_millis(200);

struct Feed {
    ctx: AdminCtx,
    headers: HeaderMap,
    snapshots: watch::Receiver<u64>,
    events: watch::Receiver<u64>,
    tick: Interval,
    /// What the last `groups` message showed: the snapshot version and the activity.
    sent: Option<(u64, u64)>,
    last_event: Option<u64>,
    last_write: Instant,
}

pub async fn stream(State(ctx): State<AdminCtx>, headers: HeaderMap) -> Response {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let feed = Feed {
        snapshots: ctx.snapshot.subscribe(),
        events: ctx.events.subscribe(),
        ctx,
        headers,
        tick,
        sent: None,
        last_event: None,
        last_write: Instant::now(),
    };
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), feed))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

impl Feed {
    /// The next chunk to write, waiting until there is one; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.sent.is_some() {
                tokio::select! {
                    r = self.snapshots.changed() => r.ok()?,
                    r = self.events.changed() => r.ok()?,
                    _ = self.tick.tick() => {}
                }
                tokio::time::sleep_until(self.last_write + MIN_GAP).await;
            }
            if !self.ctx.ready.load(Ordering::Relaxed)
                || self
                    .ctx
                    .tokens
                    .authorize(&self.headers, Role::Read)
                    .is_err()
            {
                return None;
            }
            let mut out = Vec::new();
            self.groups(&mut out);
            self.new_events(&mut out);
            if out.is_empty() && self.last_write.elapsed() >= KEEPALIVE {
                out.extend_from_slice(b": keepalive\n\n");
            }
            if !out.is_empty() {
                self.last_write = Instant::now();
                return Some(Bytes::from(out));
            }
        }
    }

    /// A `groups` message when the snapshot or the activity changed since the last one.
    fn groups(&mut self, out: &mut Vec<u8>) {
        let snap = self.ctx.snapshot.load_full();
        let now = (snap.version, activity(&snap));
        if self.sent == Some(now) {
            return;
        }
        self.sent = Some(now);
        let groups: Vec<views::GroupView> = snap.groups.iter().map(|g| views::group(g)).collect();
        let body =
            json!({ "version": snap.version, "generation": snap.generation, "groups": groups });
        message(out, "groups", &body);
    }

    fn new_events(&mut self, out: &mut Vec<u8>) {
        let list = match self.last_event {
            None => self.ctx.events.query(None, None, FIRST_EVENTS),
            Some(id) => self.ctx.events.query(None, Some(id), EVENTS_PER_MESSAGE),
        };
        if let Some(last) = list.last() {
            self.last_event = Some(last.id);
        } else if self.last_event.is_none() {
            self.last_event = Some(0);
            message(out, "events", &json!({ "events": [] }));
            return;
        } else {
            return;
        }
        let list: Vec<serde_json::Value> = list.iter().map(super::with_summary).collect();
        message(out, "events", &json!({ "events": list }));
    }
}

/// One server-sent event; compact JSON has no line breaks, so it is one `data:` line.
fn message(out: &mut Vec<u8>, event: &str, body: &serde_json::Value) {
    out.extend_from_slice(format!("event: {event}\ndata: ").as_bytes());
    if serde_json::to_writer(&mut *out, body).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

/// A fingerprint of what the page shows beside the snapshot (open sessions, the last
/// check errors): when it changes, the groups are sent again.
fn activity(snap: &Snapshot) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    book::with(|find| {
        for g in &snap.groups {
            for t in &g.config.targets {
                if let Some(s) = find(g.name(), &t.name) {
                    s.sessions().hash(&mut h);
                    s.last_error().map(|e| e.at).hash(&mut h);
                }
            }
        }
    });
    h.finish()
}
