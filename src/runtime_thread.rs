//! A thread that runs a single-threaded tokio runtime until told to stop. The control
//! thread (supervisor and health checks) and each proxy worker are one.
//!
//! A runtime per thread owns its own epoll set, timers and run queue: a task and the
//! sockets it waits on stay on the thread that started them, with no work stealing or
//! cross-thread wake-ups in between.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// Starts the thread; tasks go to it through the returned handle. It stops (and drops
/// whatever tasks are left on it) once `stop` fires.
pub fn spawn(name: String, stop: CancellationToken) -> io::Result<(Handle, JoinHandle<()>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || rt.block_on(stop.cancelled()))?;
    Ok((handle, thread))
}
