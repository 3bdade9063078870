//! Command hooks: one program started without a shell, the event in its environment,
//! killed with everything it started when its timeout runs out.
//!
//! The command gets a process group of its own, so a timeout kills the whole group (a
//! script's `sleep`, a `curl` it started), not just the process we spawned: tokio's
//! `kill_on_drop` and `start_kill` only signal that one (the group gets `killpg(2)`). Processes still running after the
//! command *exits* on its own are left alone: the hook ended, whatever it left behind in
//! the background was meant to outlive it.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{HookEvent, Outcome};
use crate::config::duration::show;

/// How much of stdout and of stderr is kept: the end, where the error usually is.
const OUTPUT_LIMIT: usize = 4096;
/// After the command exits, how long output still in flight may take to arrive. A
/// background child can hold the pipes open for ever; it must not hold up the runbook.
const PIPE_GRACE: Duration = Duration::from_millis(200);
/// After SIGKILL, how long to wait for the process to be reaped.
const REAP_GRACE: Duration = Duration::from_secs(1);
/// Longest stderr line quoted in a result.
const LINE_LIMIT: usize = 300;

/// Runs `argv` to completion or until `timeout`; the outcome says how it ended.
pub(super) async fn run(argv: &[String], event: &HookEvent, timeout: Duration) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::fail("command is empty");
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GROUP", &event.group)
        .env("FROM", event.from.join(","))
        .env("TO", event.to.join(","))
        .env("CAUSE", &event.cause)
        .env("EPOCH", event.epoch.to_string())
        .env("TRIGGER", event.trigger.as_str())
        .env("ACTOR", event.actor.as_deref().unwrap_or_default())
        .env("FROM_ADDRESS", &event.from_address)
        .env("TO_ADDRESS", &event.to_address)
        .env("CHECK_PORT", event.check_port.to_string())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::fail(format!("cannot start {program:?}: {e}")),
    };
    // Declared after `child` so it drops first: if this future is dropped mid-run, the
    // group is killed while the leader is still unreaped (its id cannot be reused yet).
    let mut group = ProcessGroup(child.id());
    let stdout = child.stdout.take().map(Tail::read);
    let stderr = child.stderr.take().map(Tail::read);

    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // Reaped: from here the id may belong to someone else, never signal it.
            group.disarm();
            exited(status, collect(stderr).await, collect(stdout).await)
        }
        Ok(Err(e)) => {
            group.kill();
            Outcome::fail(format!("wait for {program:?}: {e}"))
        }
        Err(_) => {
            group.kill();
            // The group kill covers the leader; this is in case `killpg` itself failed.
            let _ = child.start_kill();
            if tokio::time::timeout(REAP_GRACE, child.wait())
                .await
                .is_err()
            {
                warn!(program = %program, "hook command still not reaped after SIGKILL");
            }
            let (err, out) = (collect(stderr).await, collect(stdout).await);
            debug!(program = %program, stderr = %err, stdout = %out, "hook output before the kill");
            Outcome::fail(format!("killed after timeout {}", show(timeout)))
        }
    }
}

/// "exit 0", "exit 3: <last stderr line>", "killed by signal 9: ...".
fn exited(status: ExitStatus, stderr: String, stdout: String) -> Outcome {
    debug!(%status, stderr = %stderr, stdout = %stdout, "hook command exited");
    // stderr is where programs say what went wrong; some only print to stdout.
    let line = last_line(&stderr).or_else(|| last_line(&stdout));
    let with_line = |head: String| match &line {
        Some(line) => format!("{head}: {line}"),
        None => head,
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::ok("exit 0"),
        (Some(code), _) => Outcome::fail(with_line(format!("exit {code}"))),
        (None, Some(signal)) => Outcome::fail(with_line(format!("killed by signal {signal}"))),
        (None, None) => Outcome::fail(with_line(status.to_string())),
    }
}

fn last_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(line.chars().take(LINE_LIMIT).collect())
}

/// The last [`OUTPUT_LIMIT`] bytes of a pipe, filled by a task of its own so a chatty
/// command never blocks on a full pipe.
struct Tail {
    buf: Arc<Mutex<Vec<u8>>>,
    task: JoinHandle<()>,
}

impl Tail {
    fn read<R: AsyncRead + Unpin + Send + 'static>(mut pipe: R) -> Tail {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let shared = buf.clone();
        let task = tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                // Never held across an await.
                let mut kept = shared.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&chunk[..n]);
                let excess = kept.len().saturating_sub(OUTPUT_LIMIT);
                kept.drain(..excess);
            }
        });
        Tail { buf, task }
    }
}

impl Drop for Tail {
    /// A reader outliving its run (a process that escaped the group holds the pipe) would
    /// read for nothing.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a pipe delivered, waiting at most [`PIPE_GRACE`] for the rest.
async fn collect(tail: Option<Tail>) -> String {
    let Some(mut tail) = tail else {
        return String::new();
    };
    // A reader still running after the grace is aborted when `tail` drops (Drop above).
    let _ = tokio::time::timeout(PIPE_GRACE, &mut tail.task).await;
    let bytes = tail.buf.lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The command's process group (its id is the leader's pid), to be killed as a whole.
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    fn disarm(&mut self) {
        self.0 = None;
    }

    /// SIGKILL to every process of the group (`killpg(2)`: one system call, no helper
    /// process, nothing to wait for).
    fn kill(&mut self) {
        let Some(pgid) = self.0.take() else {
            return;
        };
        let Ok(pgid) = libc::pid_t::try_from(pgid) else {
            return;
        };
        // SAFETY: killpg with a process group id this hook created (the leader is still
        // unreaped, so the id cannot have been reused).
        if unsafe { libc::killpg(pgid, libc::SIGKILL) } != 0 {
            let e = std::io::Error::last_os_error();
            warn!(pgid, error = %e, "killing a hook's process group failed");
        }
    }
}

impl Drop for ProcessGroup {
    /// The run was abandoned (its future dropped, e.g. at shutdown): kill what it started.
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests;
