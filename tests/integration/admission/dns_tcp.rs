//! DNS over TCP under a hog: one address holding a thousand connections, each sending a
//! query now and then, cannot stop another client's query.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::dns_client::query;
use crate::harness::*;

const CONFIG: &str = r#"
[admin]
listen = "127.0.0.1:0"

[state]
path = "{dir}/failoverd.state"

[dns]
listen = ["127.0.0.1:0"]
zone = "fo.test."
nameservers = [{ name = "ns1.fo.test.", addresses = ["127.0.0.1"] }]

[[group]]
name = "app"
[group.health]
port = 1
[[group.target]]
name = "main"
address = "127.0.0.2"
"#;

/// A TCP connection to `server` from the loopback address `from`.
async fn connect_from(from: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))?;
    sock.connect(server).await
}

/// One framed query and its answer on `s`, within 5 s; `None` if the server closed.
async fn exchange(s: &mut TcpStream, packet: &[u8]) -> Option<Vec<u8>> {
    let fut = async {
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        s.write_all(&framed).await.ok()?;
        let len = s.read_u16().await.ok()? as usize;
        let mut msg = vec![0u8; len];
        s.read_exact(&mut msg).await.ok()?;
        Some(msg)
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .ok()?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_a_dns_tcp_hog_does_not_stop_another_client() {
    let f = Failoverd::start(CONFIG).await;
    let server = f.dns[0];
    let q = query("app.fo.test.", RecordType::A, None);
    // The hog: 1,000 connections from 127.0.0.1, each asking once (kept busy, not idle).
    let mut hog = Vec::new();
    for _ in 0..1000 {
        match connect_from("127.0.0.1", server).await {
            Ok(s) => hog.push(s),
            Err(_) => break,
        }
    }
    let mut served = 0;
    for s in hog.iter_mut() {
        if exchange(s, &q).await.is_some() {
            served += 1;
        }
    }
    eprintln!(
        "one address opened {} DNS TCP connections; {served} were served",
        hog.len()
    );
    // Another client, from another network: answered.
    let mut other = connect_from("127.0.1.9", server).await.expect("connect");
    let answer = exchange(&mut other, &q).await;
    assert!(
        answer.is_some(),
        "another client's query over TCP went unanswered"
    );
    drop(hog);
}
