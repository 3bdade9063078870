//! Real PostgreSQL 15 servers for the tests: a primary (`initdb`), streaming replicas of it
//! (`pg_basebackup -R`), promotion, stops. Each server runs as user `postgres` in a temp
//! dir of its own (owned by postgres), on a loopback address and port the test picks;
//! dropping it stops it (`pg_ctl stop -m immediate`, then SIGKILL by the postmaster's PID
//! if that failed) and removes its data, whether the test passed or not.
//!
//! Host connections need a password (scram-sha-256, `PG_PASSWORD` for user `postgres`),
//! so a test can also show what a wrong one does; the server's own unix socket (in its
//! temp dir) trusts its local user.

use std::net::SocketAddr;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::require::{has_command, is_root, require};

/// Where Debian's postgresql-15 puts its programs (not on PATH).
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The password of user `postgres` on every test server.
pub const PG_PASSWORD: &str = "failoverd-test-pw";

pub struct Postgres {
    pub ip: String,
    pub port: u16,
    /// The temp dir (owned by postgres): data in `data/`, log, socket, password file.
    dir: tempfile::TempDir,
    running: bool,
}

/// Whether this machine can run the tests' PostgreSQL (root, to run as `postgres`; the
/// binaries). Missing: SKIP, or under `CI=true` a failure.
pub fn postgres_available() -> bool {
    require("root (to run PostgreSQL as user postgres)", is_root())
        && require(
            "PostgreSQL 15 (Debian postgresql-15)",
            Path::new(PG_BIN).join("initdb").exists() && has_command("runuser"),
        )
}

impl Postgres {
    /// A new primary on `ip:port`; `None` (after SKIP, or failing in CI) where PostgreSQL
    /// cannot run.
    pub fn primary(ip: &str, port: u16) -> Option<Postgres> {
        if !postgres_available() {
            return None;
        }
        let pg = Postgres::new_dir(ip, port);
        let pwfile = pg.dir.path().join("initdb.pw");
        write_owned(&pwfile, PG_PASSWORD);
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                &format!("--pwfile={}", pwfile.display()),
            ],
        );
        // initdb allows host connections from 127.0.0.1 only; the tests' clients and
        // replicas connect from other loopback addresses.
        let hba = pg.data().join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        text.push_str("host all all 127.0.0.0/8 scram-sha-256\n");
        text.push_str("host replication all 127.0.0.0/8 scram-sha-256\n");
        std::fs::write(&hba, text).expect("write pg_hba.conf");
        let mut pg = pg;
        pg.start();
        Some(pg)
    }

    /// A streaming replica of this server on `ip` (the same port), started.
    pub fn replica(&self, ip: &str) -> Postgres {
        let mut r = Postgres::new_dir(ip, self.port);
        let source = format!(
            "host={} port={} user=postgres password={PG_PASSWORD}",
            self.ip, self.port
        );
        let data = r.data().display().to_string();
        r.run(
            "pg_basebackup",
            &[
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "-d",
                &source,
            ],
        );
        r.start();
        r
    }

    fn new_dir(ip: &str, port: u16) -> Postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        let (uid, gid) = postgres_ids();
        chown(dir.path(), Some(uid), Some(gid)).expect("chown the temp dir to postgres");
        Postgres {
            ip: ip.to_string(),
            port,
            dir,
            running: false,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        format!("{}:{}", self.ip, self.port).parse().unwrap()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A file only the test's user and postgres may read, e.g. a `password_file`.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        write_owned(&path, text);
        path
    }

    /// Starts (again) on its address and port, and waits until it accepts connections.
    pub fn start(&mut self) {
        let options = format!(
            "-c listen_addresses={} -c port={} -c unix_socket_directories={} -c fsync=off",
            self.ip,
            self.port,
            self.dir.path().display()
        );
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
        self.running = true;
    }

    /// Stops at once (`-m immediate`: as a crash would, no shutdown checkpoint).
    pub fn stop(&mut self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        self.running = false;
    }

    /// Promotes a replica to primary (`pg_ctl promote`, waiting until it is done).
    pub fn promote(&self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-w", "promote"]);
    }

    /// Serves TLS from now on with this certificate and key (PEM files), as well as plain
    /// connections (pg_hba's `host` lines take both); takes effect at a reload.
    pub fn enable_tls(&self, cert: &Path, key: &Path) {
        let (server_cert, server_key) = (
            self.data().join("server.crt"),
            self.data().join("server.key"),
        );
        write_owned(
            &server_cert,
            &std::fs::read_to_string(cert).expect("read cert"),
        );
        write_owned(
            &server_key,
            &std::fs::read_to_string(key).expect("read key"),
        );
        let conf = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).expect("write postgresql.conf");
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "reload"]);
    }

    /// Runs SQL through the server's own socket with `psql`; the output, unaligned.
    pub fn psql(&self, sql: &str) -> String {
        let host = self.dir.path().display().to_string();
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &[
                "-h", &host, "-p", &port, "-U", "postgres", "-d", "postgres", "-AtXq", "-c", sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs a PostgreSQL program as user postgres; panics with its output if it fails.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join(program))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log"));
            panic!(
                "{program} {args:?} failed ({}): {}{}\nserver log: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                log.unwrap_or_default()
            );
        }
        out
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.data().display().to_string();
        let stopped = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if stopped {
            return;
        }
        // The postmaster's PID is the first line of postmaster.pid.
        let pid = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if let Some(pid) = pid {
            // SAFETY: kill has no memory preconditions; a stale PID fails harmlessly.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A port for a database server on every one of `ips` (a server cannot bind port 0 and
/// tell us: PostgreSQL names its socket by the port, Redis takes 0 as "no TCP").
///
/// Not one bound and released: another test's port-0 bind could take it in between. These
/// come from below the kernel's ephemeral range (32768 and up), where no port-0 bind ever
/// lands: each test process counts up from a base of its own (by PID, so two test runs on
/// one machine start apart) and skips a port something already holds.
pub fn free_port_on(ips: &[&str]) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20000;
    const SPAN: u16 = 12000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 100) as u16 * (SPAN / 100);
    for _ in 0..SPAN {
        let port = FIRST + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        let free = ips
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok());
        if free {
            return port;
        }
    }
    panic!("no port free on all of {ips:?}");
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id postgres");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    (id("-u"), id("-g"))
}

/// Writes `text` to `path`, owned by postgres, readable by nobody else (a password file).
fn write_owned(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write file");
    let (uid, gid) = postgres_ids();
    chown(path, Some(uid), Some(gid)).expect("chown");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}
