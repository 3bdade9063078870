//! The runbook with Redis: a primary on 127.0.0.2 and its replica on 127.0.0.3, a redis
//! role check with `role = "primary"`, and a gate that sends `REPLICAOF NO ONE` to the
//! target traffic moves to (`$TO_ADDRESS`, `$CHECK_PORT` from the switch's environment)
//! and waits until its check reports primary. A writer through the proxy sets a numbered
//! key every 100 ms, each followed by `WAIT 1 200` (did a replica confirm it?), while the
//! primary is killed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::harness::*;

/// How one numbered write through the proxy went.
#[derive(Debug, Clone)]
enum Write {
    /// Acknowledged; whether a replica confirmed it (`WAIT 1` answered 1).
    Acked {
        replicated: bool,
    },
    Failed(String),
}

/// `SET w:n n` then `WAIT 1 200`, on a connection of its own.
fn write(proxy: SocketAddr, n: u32) -> Write {
    let go = || -> redis::RedisResult<Write> {
        let mut con = connect_at(proxy, REDIS_PASSWORD)?;
        redis::cmd("SET")
            .arg(format!("w:{n}"))
            .arg(n)
            .exec(&mut con)?;
        let replicas: i64 = redis::cmd("WAIT").arg(1).arg(200).query(&mut con)?;
        Ok(Write::Acked {
            replicated: replicas >= 1,
        })
    };
    go().unwrap_or_else(|e| Write::Failed(e.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_redis_failover_through_a_replicaof_no_one_gate() {
    let port = free_port_on(&[MAIN, BACKUP]);
    let Some(mut primary) = Redis::primary(MAIN, port).await else {
        return;
    };
    if !require("redis-cli (Debian redis-tools)", has_command("redis-cli")) {
        return;
    }
    let replica = primary.replica(BACKUP).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{REDIS_PASSWORD}\n")).unwrap();
    let check = format!(
        "kind = \"redis\"\nport = {port}\npassword_file = \"{}\"\n\
         interval = \"300ms\"\ntimeout = \"250ms\"\nrise = 1\nfall = 2\nrole = \"primary\"",
        pw.display()
    );
    let promote = format!(
        "sleep 1; REDISCLI_AUTH=\\\"$(cat {})\\\" redis-cli --no-auth-warning \
         -h \\\"$TO_ADDRESS\\\" -p \\\"$CHECK_PORT\\\" REPLICAOF NO ONE | grep -qx OK",
        pw.display()
    );
    let gate = format!(
        "failback = \"manual\"\n\n[[group.hook]]\nname = \"promote\"\nstage = \"before\"\n\
         command = [\"sh\", \"-c\", \"{promote}\"]\nawait_role = \"primary\"\ntimeout = \"30s\"\n"
    );
    let f = Failoverd::start(&(header("") + &pair_group("cache", port, &gate, &check))).await;
    f.wait_group("cache", Duration::from_secs(20), "primary, standby", |g| {
        health(g, "main") == "up" && health(g, "backup") == "standby"
    })
    .await;
    let proxy = f.proxy("cache");

    // The writer: one numbered write every 100 ms, for at most 300 of them.
    let writes = Arc::new(Mutex::new(Vec::<(u32, Duration, Write)>::new()));
    let t0 = Instant::now();
    let writer = {
        let writes = writes.clone();
        tokio::spawn(async move {
            for n in 0..300 {
                let w = tokio::task::spawn_blocking(move || write(proxy, n))
                    .await
                    .unwrap();
                writes.lock().unwrap().push((n, t0.elapsed(), w));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Three writes acknowledged after `at` (and confirmed by the replica, if `replicated`).
    let acked_after = |at: Duration, replicated: bool| {
        let writes = writes.clone();
        move || {
            let n = writes
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, t, w)| {
                    *t > at && matches!(w, Write::Acked { replicated: r } if *r || !replicated)
                })
                .count();
            async move { (n >= 3).then_some(()) }
        }
    };
    eventually(
        Duration::from_secs(10),
        "writes through the proxy, confirmed by the replica",
        acked_after(Duration::ZERO, true),
    )
    .await;

    primary.stop();
    let stopped = t0.elapsed();
    let (switching, moved) = super::switching_then_moved(&f, "cache", t0, stopped).await;
    eventually(
        Duration::from_secs(10),
        "writes after the failover",
        acked_after(moved, false),
    )
    .await;
    writer.abort();

    let writes = writes.lock().unwrap().clone();
    let read_only: Vec<&String> = writes
        .iter()
        .filter_map(|(_, _, w)| match w {
            Write::Failed(e) if e.contains("READONLY") => Some(e),
            _ => None,
        })
        .collect();
    assert!(
        read_only.is_empty(),
        "writes refused read-only: {read_only:?}"
    );
    let first_after = writes
        .iter()
        .find(|(_, t, w)| *t > stopped && matches!(w, Write::Acked { .. }))
        .map(|(_, t, _)| *t)
        .expect("a write after the stop");
    assert!(
        first_after - stopped < Duration::from_secs(10),
        "{first_after:?}"
    );
    // Replication is asynchronous: what the promoted replica must hold is every write it
    // confirmed, and every write acknowledged once it was the primary.
    let kept: Vec<u32> = writes
        .iter()
        .filter(|(_, t, w)| match w {
            Write::Acked { replicated } => *replicated || *t > moved,
            Write::Failed(_) => false,
        })
        .map(|(n, _, _)| *n)
        .collect();
    let lost: Vec<u32> = kept
        .iter()
        .copied()
        .filter(|n| {
            !matches!(
                replica.command(&["EXISTS", &format!("w:{n}")]),
                Ok(redis::Value::Int(1))
            )
        })
        .collect();
    assert!(lost.is_empty(), "confirmed writes lost: {lost:?}");
    let failed = writes
        .iter()
        .filter(|(_, _, w)| matches!(w, Write::Failed(_)))
        .count();
    eprintln!(
        "runbook (redis): {} writes acknowledged, {failed} failed (0 read-only), 0 of {} \
         confirmed lost; first write {:?} after the kill; switching for {:?}",
        writes.len() - failed,
        kept.len(),
        first_after - stopped,
        moved - switching
    );
    let group = f.group("cache").await;
    assert_eq!(target(&group, "backup")["role"], "primary");
}
