//! Threads that each run a single-threaded tokio runtime until told to stop: the control
//! thread (supervisor and health checks) and the proxy workers.
//!
//! A runtime per thread owns its own epoll set, timers and run queue: a task and the
//! sockets it waits on stay on the thread that started them, with no work stealing or
//! cross-thread wake-ups in between.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Threads stopped together; tasks go to each through its handle.
pub struct RuntimeThreads {
    handles: Vec<Handle>,
    threads: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl RuntimeThreads {
    /// Starts one thread per name, in order.
    pub fn start(names: impl IntoIterator<Item = String>) -> io::Result<RuntimeThreads> {
        let mut started = RuntimeThreads {
            handles: Vec::new(),
            threads: Vec::new(),
            stop: CancellationToken::new(),
        };
        for name in names {
            let (handle, thread) = spawn(name, started.stop.clone())?;
            started.handles.push(handle);
            started.threads.push(thread);
        }
        Ok(started)
    }

    /// The threads' runtimes, in the order of their names.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops every thread and waits for it (blocking: call off the runtime). Tasks still
    /// on a thread are dropped.
    pub fn stop(mut self) {
        self.stop.cancel();
        for t in std::mem::take(&mut self.threads) {
            let name = t.thread().name().unwrap_or("?").to_string();
            if t.join().is_err() {
                warn!(thread = %name, "a runtime thread panicked");
            }
        }
    }
}

impl Drop for RuntimeThreads {
    /// Dropped without `stop` (an error path), the threads still end.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn spawn(name: String, stop: CancellationToken) -> io::Result<(Handle, JoinHandle<()>)> {
    // I/O and timers only. Hooks and signal handling run on the main runtime; a process
    // driver here would look for exited children at every wake-up of the loop.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let handle = rt.handle().clone();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || rt.block_on(stop.cancelled()))?;
    Ok((handle, thread))
}
