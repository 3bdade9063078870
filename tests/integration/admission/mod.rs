//! Admission control on the admin listener: a stranger without a token can neither exhaust
//! failoverd (connections, memory, slow headers) nor get anything but a JSON error.
//!
//! Real binary; raw TCP clients write the bytes themselves, so a test controls exactly
//! what is sent and when.

mod admin;
mod budget;
mod dns_tcp;
mod slow_reader;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

const OPS_SECRET: &str = "ops-secret-abcdefghijklmnop";

/// `[admin]` with an operate token `ops` (secret file in `{dir}`) and `admin_extra` lines,
/// and one main/backup group on `port`.
fn config(f_dir: &std::path::Path, admin_extra: &str, port: u16) -> String {
    std::fs::write(f_dir.join("ops.secret"), format!("{OPS_SECRET}\n")).expect("secret file");
    let tokens = format!(
        "{admin_extra}\n\n[[admin.token]]\nname = \"ops\"\nrole = \"operate\"\nsecret_file = \"{{dir}}/ops.secret\"\n"
    );
    let checks = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2";
    header(&tokens) + &pair_group("app", port, "", checks)
}

/// Reads what the server sends until it closes or `limit` passes; `None` on the deadline.
async fn read_until_close(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok()?;
    Some(got)
}

/// The status and body of a raw HTTP/1.1 response.
fn status_and_body(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends `head` (request line and headers, without the blank line) plus `rest`, then reads
/// the whole answer (the request says `Connection: close`).
async fn raw(addr: std::net::SocketAddr, head: &str, rest: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send head");
    let _ = s.write_all(rest).await;
    let got = read_until_close(&mut s, Duration::from_secs(10))
        .await
        .expect("an answer within 10 s");
    status_and_body(&got)
}

/// Resident memory of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}
