//! The README's database failover runbook, run for real: a PostgreSQL 15 primary on
//! 127.0.0.2 and its streaming replica on 127.0.0.3, failoverd in front with a postgres role
//! check (`role = "primary"`) and a gate that promotes the replica (`pg_ctl promote`, after a
//! short sleep so `switching` can be seen) and waits until it reports primary. A writer
//! inserts numbered rows through the proxy every 100 ms while the primary is stopped
//! (`pg_ctl stop -m immediate`): no insert ever fails read-only, writes succeed again within
//! 10 s, every acknowledged insert is in the promoted database; then the failover is
//! committed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::ctl::ctl;
use crate::harness::*;

/// One numbered insert through the proxy, on a connection of its own: Ok, or the error
/// (its SQLSTATE when the server gave one).
async fn insert(proxy: std::net::SocketAddr, n: i32) -> Result<(), String> {
    let mut c = tokio_postgres::Config::new();
    c.host(proxy.ip().to_string())
        .port(proxy.port())
        .user("postgres")
        .password(PG_PASSWORD)
        .dbname("postgres")
        .connect_timeout(Duration::from_millis(500));
    let go = async {
        let (client, conn) = c.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client
            .execute("INSERT INTO t (n) VALUES ($1)", &[&n])
            .await?;
        Ok::<_, tokio_postgres::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(2), go).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(match e.code() {
            Some(code) => format!("{} {e}", code.code()),
            None => e.to_string(),
        }),
        Err(_) => Err("timeout".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_postgres_failover_through_a_promote_gate() {
    let port = free_port_on(&[MAIN, BACKUP]);
    let Some(mut primary) = Postgres::primary(MAIN, port) else {
        return;
    };
    primary.psql("CREATE TABLE t (n int PRIMARY KEY)");
    let replica = primary.replica(BACKUP);
    let pw = primary.write_file("pw", &format!("{PG_PASSWORD}\n"));
    let check = format!(
        "kind = \"postgres\"\nuser = \"postgres\"\nport = {port}\npassword_file = \"{}\"\n\
         interval = \"300ms\"\ntimeout = \"250ms\"\nrise = 1\nfall = 2\nrole = \"primary\"",
        pw.display()
    );
    // The gate promotes the target traffic moves to; here that is the replica's data dir.
    let gate = format!(
        "failback = \"manual\"\n\n[[group.hook]]\nname = \"promote\"\nstage = \"before\"\n\
         command = [\"sh\", \"-c\", \"sleep 1; runuser -u postgres -- {PG_BIN}/pg_ctl -D {} -w promote\"]\n\
         await_role = \"primary\"\ntimeout = \"30s\"\n",
        replica.data().display()
    );
    let f = Failoverd::start(&(header("") + &pair_group("db", port, &gate, &check))).await;
    f.wait_group("db", Duration::from_secs(20), "primary, standby", |g| {
        health(g, "main") == "up" && health(g, "backup") == "standby"
    })
    .await;
    let proxy = f.proxy("db");

    // The writer: one numbered insert every 100 ms, for at most 300 of them.
    let acked = Arc::new(Mutex::new(Vec::<(i32, Duration)>::new()));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let t0 = Instant::now();
    let writer = {
        let (acked, failed) = (acked.clone(), failed.clone());
        tokio::spawn(async move {
            for n in 0..300 {
                match insert(proxy, n).await {
                    Ok(()) => acked.lock().unwrap().push((n, t0.elapsed())),
                    Err(e) => failed.lock().unwrap().push(e),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    eventually(
        Duration::from_secs(5),
        "writes through the proxy",
        || async { (acked.lock().unwrap().len() >= 5).then_some(()) },
    )
    .await;

    primary.stop();
    let stopped = t0.elapsed();
    // The gate runs (visible as switching), then traffic moves to the promoted replica.
    let (switching, moved) = super::switching_then_moved(&f, "db", t0, stopped).await;
    eventually(
        Duration::from_secs(10),
        "a write after the failover",
        || async {
            acked
                .lock()
                .unwrap()
                .iter()
                .any(|(_, at)| *at > moved)
                .then_some(())
        },
    )
    .await;
    writer.abort();

    let acked = acked.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    let read_only: Vec<&String> = failed.iter().filter(|e| e.starts_with("25006")).collect();
    assert!(
        read_only.is_empty(),
        "inserts refused read-only: {read_only:?}"
    );
    let first_after = acked
        .iter()
        .map(|(_, at)| *at)
        .find(|at| *at > stopped)
        .expect("a write after the stop");
    assert!(
        first_after - stopped < Duration::from_secs(10),
        "{first_after:?}"
    );
    // Every acknowledged insert is in the promoted database.
    let rows: std::collections::BTreeSet<i32> = replica
        .psql("SELECT n FROM t")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost: Vec<i32> = acked
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !rows.contains(n))
        .collect();
    assert!(lost.is_empty(), "acknowledged inserts lost: {lost:?}");
    eprintln!(
        "runbook: {} inserts acknowledged, {} failed (0 read-only), 0 lost; first write {:?} \
         after the stop; switching for {:?}",
        acked.len(),
        failed.len(),
        first_after - stopped,
        moved - switching
    );

    // Commit: the promoted replica is the main for good.
    let out = ctl(&f, &["commit", "db"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let g = f.group("db").await;
    assert_eq!(
        (
            g["state"].as_str(),
            target(&g, "backup")["priority"].as_u64()
        ),
        (Some("primary"), Some(1))
    );
}
