//! A small DNS client for the tests: hickory-proto messages over real UDP and TCP sockets,
//! every exchange bounded by a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

pub const TIMEOUT: Duration = Duration::from_secs(3);

/// A query: RD set like a stub resolver would; `edns` is (payload, version, DO).
pub fn query(name: &str, qtype: RecordType, edns: Option<(u16, u8, bool)>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some((payload, version, dnssec_ok)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        e.set_version(version);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

/// Sends one datagram; the reply, or None when nothing came back in `wait`.
pub async fn udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    // Any local address of the server's family: a server may be off loopback (inside a
    // test's network namespace).
    let any: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .unwrap();
    let sock = UdpSocket::bind(any).await.unwrap();
    sock.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Sends length-prefixed messages on one connection, reads one reply per message.
pub async fn tcp_raw(server: SocketAddr, packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let fut = async {
        let mut s = TcpStream::connect(server).await.unwrap();
        let mut out = Vec::new();
        for p in packets {
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        // All at once: the server must handle pipelined queries.
        s.write_all(&out).await.unwrap();
        let mut replies = Vec::new();
        for _ in packets {
            let len = s.read_u16().await.unwrap() as usize;
            let mut msg = vec![0u8; len];
            s.read_exact(&mut msg).await.unwrap();
            replies.push(msg);
        }
        replies
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("tcp dns exchange timed out")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Udp,
    Tcp,
}

/// One exchange over `via`; the reply decoded, with its ID checked.
pub async fn ask(server: SocketAddr, via: Via, packet: &[u8]) -> Message {
    let raw = match via {
        Via::Udp => udp_raw(server, packet, TIMEOUT).await.expect("a UDP reply"),
        Via::Tcp => tcp_raw(server, &[packet.to_vec()]).await.remove(0),
    };
    let m = Message::from_vec(&raw).expect("a reply hickory can decode");
    assert_eq!(m.id, u16::from_be_bytes([packet[0], packet[1]]), "reply ID");
    m
}

pub async fn ask_type(server: SocketAddr, via: Via, name: &str, qtype: RecordType) -> Message {
    ask(server, via, &query(name, qtype, None)).await
}

/// The addresses and CNAME targets in the answer section, as text.
pub fn answer_data(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.to_string(),
            RData::AAAA(a) => a.0.to_string(),
            RData::CNAME(c) => c.0.to_string(),
            RData::NS(n) => n.0.to_string(),
            other => other.to_string(),
        })
        .collect()
}

pub fn soa_serial(m: &Message) -> Option<u32> {
    m.answers
        .iter()
        .chain(&m.authorities)
        .find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        })
}
