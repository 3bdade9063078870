//! How a drill checks, from the outside in, that the target serves: a DNS query to
//! failoverd's own DNS server, and a connection through the group's own proxy listener.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(2);

/// The addresses (or CNAME target) failoverd's DNS at `server` answers for `name`.
pub async fn dns_answer(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
) -> Result<Vec<String>, String> {
    let qname = Name::from_ascii(name).map_err(|e| format!("name {name:?}: {e}"))?;
    let mut m = Message::query();
    m.add_query(Query::query(qname, qtype));
    let packet = m.to_vec().map_err(|e| format!("encode the query: {e}"))?;
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => ([0u16; 8], 0).into(),
    };
    let sock = UdpSocket::bind(any)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    sock.send_to(&packet, server)
        .await
        .map_err(|e| format!("send to {server}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .map_err(|_| format!("no DNS answer from {server} within 2s"))?
        .map_err(|e| format!("receive: {e}"))?;
    let reply = Message::from_vec(&buf[..n]).map_err(|e| format!("a bad answer: {e}"))?;
    Ok(reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            RData::CNAME(c) => Some(c.0.to_string()),
            _ => None,
        })
        .collect())
}

/// Opens a connection through the proxy listener at `listener` and holds it briefly: the
/// proxy closes a client at once when no target accepted it, so a connection still open
/// (or answering) after `hold` reached a target.
pub async fn through_proxy(listener: SocketAddr, hold: Duration) -> Result<(), String> {
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(listener))
        .await
        .map_err(|_| format!("connect to {listener}: no answer within 2s"))?
        .map_err(|e| format!("connect to {listener}: {e}"))?;
    let mut byte = [0u8; 1];
    match tokio::time::timeout(hold, s.read(&mut byte)).await {
        // Nothing within the hold: the proxy kept the client, a target took it.
        Err(_) => Ok(()),
        // The target spoke first (a banner): it serves.
        Ok(Ok(n)) if n > 0 => Ok(()),
        Ok(Ok(_)) => Err(format!(
            "{listener} closed the connection: no target accepted it"
        )),
        Ok(Err(e)) => Err(format!("{listener}: {e}")),
    }
}
