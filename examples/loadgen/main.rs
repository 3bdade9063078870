//! loadgen: the load tool of `benches/compare.sh` (servers and clients, loopback only).
//!
//! ```sh
//! cargo build --release --example loadgen
//! target/release/examples/loadgen echo --listen 127.0.0.2:7000 [--listen ...] [--name main]
//! target/release/examples/loadgen respond --listen 127.0.0.1:7001 --bytes 256
//! target/release/examples/loadgen connrate --target 127.0.0.1:8080 --seconds 10 --concurrency 16 \
//!     --request-bytes 64 --response-bytes 256
//! target/release/examples/loadgen pingpong --target 127.0.0.1:8080 --seconds 10
//! target/release/examples/loadgen idle --target 127.0.0.1:8080 --count 9000 --hold-seconds 10
//! target/release/examples/loadgen failover-load --target 127.0.0.1:8080 --seconds 12 --rate 200 \
//!     [--kill-pid PID --kill-after 4]
//! target/release/examples/loadgen free-ports --count 10
//! ```
//!
//! Every client run is bounded in time (`--seconds`, per-connection timeouts) and count;
//! every server stops by itself after `--max-seconds` (default one hour) if nobody stops
//! it first. Clients refuse targets outside 127.0.0.0/8 and ::1: this is a loopback tool.
//! Results are printed on stdout as one JSON object (or JSON lines where said).
//!
//! One module per subcommand, each with its arguments and its `run`; `server` and
//! `client` hold what the servers and the clients share.

mod client;
mod connrate;
mod echo;
mod failover_load;
mod free_ports;
mod idle;
mod pingpong;
mod respond;
mod server;

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generator and test backends for benches/compare.sh (loopback only)")]
struct Cli {
    /// Worker threads of the tokio runtime (default: number of cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Echo server: echoes every byte back; with --name, first sends NAME + "\n".
    Echo(echo::Args),
    /// Response server: reads the request (up to --request-bytes, or until the client
    /// stops sending), answers --bytes bytes and closes.
    Respond(respond::Args),
    /// Short connections: connect, send the request, read the whole response until the
    /// server closes, close. Prints {connections_per_sec, failed, p50_ms, p99_ms}.
    Connrate(connrate::Args),
    /// 1-byte round trips on one connection through an echo backend (no --name).
    /// Prints {round_trips, p50_us, p99_us}.
    Pingpong(pingpong::Args),
    /// Opens --count connections to an echo backend (no --name) in concurrent batches,
    /// proves each with one round trip, prints `READY n`, holds them, then closes them.
    Idle(idle::Args),
    /// A steady stream of new connections, each reading the backend's name line
    /// (echo --name). With --kill-pid, sends SIGTERM to that process after --kill-after
    /// seconds (same clock as the connections). Prints a summary; --lines also prints one
    /// JSON line per connection first.
    FailoverLoad(failover_load::Args),
    /// Prints N TCP/UDP ports free on 127.0.0.1-3, below the ephemeral range.
    FreePorts(free_ports::Args),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Echo(a) => echo::run(a).await,
            Cmd::Respond(a) => respond::run(a).await,
            Cmd::Connrate(a) => connrate::run(a).await,
            Cmd::Pingpong(a) => pingpong::run(a).await,
            Cmd::Idle(a) => idle::run(a).await,
            Cmd::FailoverLoad(a) => failover_load::run(a).await,
            Cmd::FreePorts(a) => free_ports::run(a),
        }
    })
}

/// Seconds from the command line as a Duration, clamped to [0, 24 h].
fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 24.0 * 3600.0))
}
