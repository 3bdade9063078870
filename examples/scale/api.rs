//! The admin API as the bench reads it: plain HTTP/1.1 requests and polling of the
//! groups' states.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp};
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;
use tokio::time::Instant;

/// A plain HTTP/1.1 request to the admin API: (status, body).
pub fn http(admin: SocketAddr, method: &str, path: &str) -> Result<(u16, String)> {
    let mut s = StdTcp::connect_timeout(&admin, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = if method == "POST" { "{}" } else { "" };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, mut rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut body = String::new();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            body.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
    } else {
        body = rest.to_string();
    }
    Ok((status, body))
}

/// How many of the N scale groups satisfy `cond` (the proxied group is not counted).
fn count(admin: SocketAddr, cond: impl Fn(&Value) -> bool) -> usize {
    let Ok((200, body)) = http(admin, "GET", "/v1/groups") else {
        return 0;
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    v["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .filter(|g| g["name"] != "proxied" && cond(g))
                .count()
        })
        .unwrap_or(0)
}

/// The health of a group's target named `target`, as the API reports it ("" if none).
pub fn health(g: &Value, target: &str) -> String {
    g["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == target))
        .and_then(|t| t["health"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Polls every 200 ms until `cond` holds for all `n` groups or `limit` passes: the
/// seconds since `since`, or None.
pub fn wait_all(
    admin: SocketAddr,
    n: usize,
    since: Instant,
    limit: Duration,
    cond: impl Fn(&Value) -> bool,
) -> Option<f64> {
    while since.elapsed() < limit {
        let got = count(admin, &cond);
        if got == n {
            return Some(since.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}
