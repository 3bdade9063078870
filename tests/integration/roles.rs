//! Role checks against real databases: a PostgreSQL 15 primary and streaming replica, a
//! Redis primary and replica, on 127.0.0.2 (main) and 127.0.0.3 (backup). The API shows
//! each target's role; with `role = "primary"` a standby never takes traffic (a group whose
//! primary is gone is all down), and once promoted it does. A wrong password is a down
//! target whose last check error says so.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// Fast checks, so the tests take seconds: one good check is up, two bad ones down.
fn check(kind_lines: &str, port: u16, password_file: &Path) -> String {
    format!(
        "{kind_lines}\nport = {port}\npassword_file = \"{}\"\n\
         interval = \"300ms\"\ntimeout = \"250ms\"\nrise = 1\nfall = 2",
        password_file.display()
    )
}

/// A group `name` of main and backup with `role = "primary"` and `health`, and a group
/// `{name}_wrong_password` of main alone checked with `wrong`.
fn config(name: &str, port: u16, health: &str, wrong: &str) -> String {
    let role = format!("{health}\nrole = \"primary\"");
    header("")
        + &pair_group(name, port, "failback = \"manual\"", &role)
        + &group_toml(
            &format!("{name}_wrong_password"),
            port,
            &[("main", MAIN, 1)],
            "",
            wrong,
        )
}

fn role(g: &Value, t: &str) -> Value {
    target(g, t)["role"].clone()
}

fn last_error(g: &Value, t: &str) -> String {
    target(g, t)["last_check_error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Main primary and up, backup a standby kept from traffic: the healthy start.
async fn wait_primary_and_standby(f: &Failoverd, group: &str) -> Value {
    let g = f
        .wait_group(
            group,
            Duration::from_secs(20),
            "main primary, backup standby",
            |g| {
                health(g, "main") == "up"
                    && role(g, "main") == "primary"
                    && health(g, "backup") == "standby"
                    && role(g, "backup") == "standby"
            },
        )
        .await;
    assert_eq!(active(&g), ["main"]);
    assert_eq!(g["state"], "primary");
    let m = f.metrics().await;
    for (t, r) in [("main", "primary"), ("backup", "standby")] {
        let line =
            format!("failoverd_target_role{{group=\"{group}\",target=\"{t}\",role=\"{r}\"}} 1");
        assert!(m.contains(&line), "no {line} in the scrape");
    }
    let up = format!("failoverd_target_up{{group=\"{group}\",target=\"backup\"}} 0");
    assert!(m.contains(&up), "a barred standby is not up: no {up}");
    g
}

/// After the primary stopped: all down, and for a while no client through the proxy
/// reaches the standby (`reaches` answers which server a client reached, if any).
async fn all_down_without_the_standby<F, Fut>(f: &Failoverd, group: &str, reaches: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let g = f
        .wait_group(group, Duration::from_secs(10), "all down", |g| {
            g["state"] == "all_down"
        })
        .await;
    assert_eq!(health(&g, "backup"), "standby");
    assert_eq!(
        role(&g, "main"),
        Value::Null,
        "a down target's role is unknown"
    );
    holds_for(
        Duration::from_millis(1500),
        "no traffic to the standby",
        || async {
            let g = f.group(group).await;
            if active(&g).iter().any(|t| t == "backup") || g["state"] != "all_down" {
                return Err(format!("group: {g}"));
            }
            match reaches().await {
                Ok(server) => Err(format!("a client through the proxy reached {server}")),
                Err(_) => Ok(()),
            }
        },
    )
    .await;
}

/// Through the proxy: which server answered and whether it is in recovery.
async fn postgres_server_of(proxy: SocketAddr) -> Result<(String, bool), String> {
    let mut c = tokio_postgres::Config::new();
    c.host(proxy.ip().to_string())
        .port(proxy.port())
        .user("postgres")
        .password(PG_PASSWORD)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(2));
    let ask = async {
        let (client, conn) = c.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT host(inet_server_addr()), pg_is_in_recovery()", &[])
            .await?;
        Ok::<_, tokio_postgres::Error>((row.get(0), row.get(1)))
    };
    match tokio::time::timeout(Duration::from_secs(3), ask).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}

#[tokio::test]
async fn role_postgres_standby_takes_traffic_only_once_promoted() {
    let port = free_port_on(&[MAIN, BACKUP]);
    let Some(mut primary) = Postgres::primary(MAIN, port) else {
        return;
    };
    let replica = primary.replica(BACKUP);
    let good = primary.write_file("pw", &format!("{PG_PASSWORD}\n"));
    let bad = primary.write_file("wrong-pw", "not-the-password\n");
    let kind = "kind = \"postgres\"\nuser = \"postgres\"";
    let f = Failoverd::start(&config(
        "db",
        port,
        &check(kind, port, &good),
        &check(kind, port, &bad),
    ))
    .await;
    let proxy = f.proxy("db");
    wait_primary_and_standby(&f, "db").await;
    assert_eq!(
        postgres_server_of(proxy).await,
        Ok((MAIN.to_string(), false))
    );

    let g = f
        .wait_group("db_wrong_password", Duration::from_secs(10), "down", |g| {
            health(g, "main") == "down"
        })
        .await;
    let want =
        "postgres login refused: FATAL: password authentication failed for user \"postgres\"";
    assert!(last_error(&g, "main").contains(want), "{g}");
    // The password file is read at each reload: once it holds the right password, the
    // check logs in and the error is gone.
    std::fs::write(&bad, format!("{PG_PASSWORD}\n")).unwrap();
    let (status, body) = f.post("/v1/reload", "", None).await;
    assert_eq!(status, 200, "{body}");
    let g = f
        .wait_group("db_wrong_password", Duration::from_secs(10), "up", |g| {
            health(g, "main") == "up"
        })
        .await;
    assert_eq!(target(&g, "main")["last_check_error"], Value::Null, "{g}");

    primary.stop();
    all_down_without_the_standby(&f, "db", || async {
        postgres_server_of(proxy).await.map(|(ip, _)| ip)
    })
    .await;

    replica.promote();
    let g = f
        .wait_group(
            "db",
            Duration::from_secs(10),
            "the promoted backup active",
            |g| {
                health(g, "backup") == "up"
                    && role(g, "backup") == "primary"
                    && active(g) == ["backup"]
            },
        )
        .await;
    assert_eq!(g["state"], "failed_over");
    assert!(last_error(&g, "main").contains("connect"), "{g}");
    let promoted = f.events().await.into_iter().any(|e| {
        let d = &e["details"];
        e["kind"] == "role"
            && e["group"] == "db"
            && d["target"] == "backup"
            && d["role"] == "primary"
            && d["from"] == "standby"
    });
    assert!(promoted, "no role event for the promotion");
    eventually(
        Duration::from_secs(5),
        "a client reaches the promoted backup",
        || async {
            let reached = postgres_server_of(proxy).await;
            (reached == Ok((BACKUP.to_string(), false))).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn role_redis_replica_takes_traffic_after_replicaof_no_one() {
    let port = free_port_on(&[MAIN, BACKUP]);
    let Some(mut primary) = Redis::primary(MAIN, port).await else {
        return;
    };
    let replica = primary.replica(BACKUP).await;
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("pw"), dir.path().join("wrong-pw"));
    std::fs::write(&good, format!("{REDIS_PASSWORD}\n")).unwrap();
    std::fs::write(&bad, "not-the-password\n").unwrap();
    let acl = dir.path().join("acl-pw");
    std::fs::write(&acl, format!("{REDIS_ACL_PASSWORD}\n")).unwrap();
    let kind = "kind = \"redis\"";
    let acl_kind = format!("{kind}\nusername = \"{REDIS_ACL_USER}\"");
    let acl_group = group_toml(
        "cache_acl",
        port,
        &[("main", MAIN, 1)],
        "",
        &check(&acl_kind, port, &acl),
    );
    let f = Failoverd::start(
        &(config(
            "cache",
            port,
            &check(kind, port, &good),
            &check(kind, port, &bad),
        ) + &acl_group),
    )
    .await;
    let proxy = f.proxy("cache");
    wait_primary_and_standby(&f, "cache").await;
    let status = crate::ctl::ctl(&f, &["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.stdout);
    let rows: Vec<Vec<&str>> = status
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for want in [
        [
            "main", MAIN, "priority", "1", "up", "enabled", "active", "0", "sessions", "role",
            "primary",
        ],
        [
            "backup", BACKUP, "priority", "2", "standby", "enabled", "idle", "0", "sessions",
            "role", "standby",
        ],
    ] {
        assert!(
            rows.iter().any(|r| *r == want),
            "no {want:?} in:\n{}",
            status.stdout
        );
    }
    command_at(proxy, REDIS_PASSWORD, &["SET", "k", "1"]).expect("a write through the proxy");

    let g = f
        .wait_group(
            "cache_wrong_password",
            Duration::from_secs(10),
            "down",
            |g| health(g, "main") == "down",
        )
        .await;
    assert!(
        last_error(&g, "main").contains("redis login refused"),
        "{g}"
    );
    // An ACL user allowed ROLE and nothing else is enough.
    f.wait_group("cache_acl", Duration::from_secs(10), "up as primary", |g| {
        health(g, "main") == "up" && role(g, "main") == "primary"
    })
    .await;

    primary.stop();
    // ROLE answers on any server: an answer means a client reached one.
    let reaches = || async move {
        command_at(proxy, REDIS_PASSWORD, &["ROLE"])
            .map(|v| format!("{v:?}"))
            .map_err(|e| e.to_string())
    };
    all_down_without_the_standby(&f, "cache", reaches).await;

    replica.promote();
    f.wait_group(
        "cache",
        Duration::from_secs(10),
        "the promoted backup active",
        |g| {
            health(g, "backup") == "up" && role(g, "backup") == "primary" && active(g) == ["backup"]
        },
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "a write through the proxy succeeds",
        || async { command_at(proxy, REDIS_PASSWORD, &["SET", "k", "3"]).ok() },
    )
    .await;
    let stored = replica.command(&["GET", "k"]).unwrap();
    assert_eq!(stored, redis::Value::BulkString(b"3".to_vec()));
}

/// The postgres check's TLS modes against a server with a certificate for 127.0.0.2:
/// `verify-full` with its CA and `require` log in; `verify-full` with another CA is down
/// and says why.
#[tokio::test]
async fn role_postgres_tls_modes() {
    let port = free_port_on(&[MAIN]);
    let Some(primary) = Postgres::primary(MAIN, port) else {
        return;
    };
    let (pki, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    make_pki_for(pki.path(), &[MAIN]);
    make_pki_for(other.path(), &[MAIN]);
    primary.enable_tls(&pki.path().join("cert.pem"), &pki.path().join("key.pem"));
    let pw = primary.write_file("pw", &format!("{PG_PASSWORD}\n"));
    let group = |name: &str, tls: &str| {
        let kind = format!("kind = \"postgres\"\nuser = \"postgres\"\n{tls}");
        group_toml(
            name,
            port,
            &[("main", MAIN, 1)],
            "",
            &check(&kind, port, &pw),
        )
    };
    let verify = |dir: &Path| {
        format!(
            "tls = \"verify-full\"\nca_file = \"{}\"",
            dir.join("ca.pem").display()
        )
    };
    let config = header("")
        + &group("full", &verify(pki.path()))
        + &group("require", "tls = \"require\"")
        + &group("wrong_ca", &verify(other.path()));
    let f = Failoverd::start(&config).await;
    for name in ["full", "require"] {
        f.wait_group(name, Duration::from_secs(20), "main up and primary", |g| {
            health(g, "main") == "up" && role(g, "main") == "primary"
        })
        .await;
    }
    let g = f
        .wait_group("wrong_ca", Duration::from_secs(10), "down", |g| {
            health(g, "main") == "down"
        })
        .await;
    let want = "postgres: error performing TLS handshake: invalid peer certificate";
    assert!(last_error(&g, "main").contains(want), "{g}");
}
