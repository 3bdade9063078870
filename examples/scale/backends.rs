//! The groups' backends on loopback: the mains' and backups' tcp-checked ports and the
//! proxied group's echo servers.

use anyhow::{bail, Result};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every group's main and backup address.
pub const MAIN: &str = "127.0.0.2";
pub const BACKUP: &str = "127.0.0.3";

/// Every group's backends, serving: the mains' and backups' port (`check`), the echo
/// servers' (`echo`), and the tokens that close the mains' port (`stop_main`, the mass
/// failover) and every other backend (`stop_rest`).
pub struct Backends {
    pub check: u16,
    pub echo: u16,
    pub stop_main: CancellationToken,
    pub stop_rest: CancellationToken,
}

/// Binds and serves every backend.
pub async fn start() -> Result<Backends> {
    let (main_l, backup_l) = pair().await?;
    let (echo_main, echo_backup) = pair().await?;
    let (check, echo_port) = (main_l.local_addr()?.port(), echo_main.local_addr()?.port());
    let (stop_main, stop_rest) = (CancellationToken::new(), CancellationToken::new());
    tokio::spawn(accept_and_close(main_l, stop_main.clone()));
    tokio::spawn(accept_and_close(backup_l, stop_rest.clone()));
    tokio::spawn(echo(echo_main, stop_rest.clone()));
    tokio::spawn(echo(echo_backup, stop_rest.clone()));
    Ok(Backends {
        check,
        echo: echo_port,
        stop_main,
        stop_rest,
    })
}

/// A port free on 127.0.0.1 now (the bench's own race with other programs is accepted).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Accepts and closes (what a tcp check needs) until `stop`, then the port refuses.
pub async fn accept_and_close(l: TcpListener, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = l.accept() => drop(r),
        }
    }
}

/// Echoes until EOF, per connection, until `stop`.
async fn echo(l: TcpListener, stop: CancellationToken) {
    loop {
        let (mut s, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = l.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        tokio::spawn(async move {
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
    }
}

/// Binds `a` and `b` on one port.
async fn pair() -> Result<(TcpListener, TcpListener)> {
    for _ in 0..50 {
        let b = TcpListener::bind((BACKUP, 0)).await?;
        let port = b.local_addr()?.port();
        if let Ok(a) = TcpListener::bind((MAIN, port)).await {
            return Ok((a, b));
        }
    }
    bail!("no common free port on {MAIN} and {BACKUP}")
}
