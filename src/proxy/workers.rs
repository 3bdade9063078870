//! The proxy's worker threads: each runs its own event loop (see `runtime_thread`) with an
//! accept loop on a copy of every listening socket, and relays the sessions it accepted.
//!
//! All copies share one socket and one accept queue, so whichever worker is free takes
//! the next connection: a busy worker is not polling and leaves it to the others. This
//! balances better than one SO_REUSEPORT socket per worker, where the kernel hashes each
//! connection to a worker whether or not that worker is busy. Measured under
//! `benches/compare.sh connrate` on 2 cores: the multi-threaded tokio runtime did 0.90x
//! HAProxy's connections per second, per-worker SO_REUSEPORT sockets 0.95x, and shared
//! copies 1.00x, with 10% less CPU per connection than the multi-threaded runtime.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub struct Workers {
    handles: Vec<Handle>,
    threads: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl Workers {
    /// Starts `count` workers (at least one).
    pub fn start(count: usize) -> io::Result<Workers> {
        let stop = CancellationToken::new();
        let mut workers = Workers {
            handles: Vec::new(),
            threads: Vec::new(),
            stop: stop.clone(),
        };
        for i in 0..count.max(1) {
            let (handle, thread) =
                crate::runtime_thread::spawn(format!("failoverd-proxy-{i}"), stop.clone())?;
            workers.handles.push(handle);
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    pub fn handles(&self) -> Vec<Handle> {
        self.handles.clone()
    }

    /// Stops every worker and waits for its thread (blocking: call off the runtime).
    pub fn stop(mut self) {
        self.stop.cancel();
        for t in std::mem::take(&mut self.threads) {
            if t.join().is_err() {
                warn!("a proxy worker thread panicked");
            }
        }
    }
}

impl Drop for Workers {
    /// A `Workers` dropped without `stop` (an error path) still ends its threads.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
