//! A network namespace per test, for what must never touch the host's own rules: a main
//! whose packets are dropped lives in a namespace of its own, behind a veth pair, and the
//! DROP rule goes into that namespace's INPUT chain. Dropping the `Netns` deletes the veth
//! pair and the namespace (and with it the rule), also when the test fails. Needs root.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::backends::HttpStack;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace `fo-test-PID-N` joined to the host by a veth pair on a /30 of
/// 10.231.0.0/16 (derived from the PID and N, so tests and concurrent runs differ).
pub struct Netns {
    pub name: String,
    host_if: String,
    /// The host's end of the pair.
    pub host_ip: Ipv4Addr,
    /// The namespace's end: where a backend inside listens and the host reaches it.
    pub inside_ip: Ipv4Addr,
}

impl Netns {
    /// Creates the namespace, the veth pair (one end inside) and their addresses; panics
    /// with the failing command's output (the `Netns` made so far is removed).
    pub fn create() -> Netns {
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let block = ((pid % 1024) * 16 + n % 16) * 4;
        let base = u32::from(Ipv4Addr::new(10, 231, 0, 0)) + block;
        // Interface names have at most 15 bytes: "fo" + PID (<= 7 digits) + "-" + N + "p".
        let peer_if = format!("fo{pid}-{n}p");
        let ns = Netns {
            name: format!("fo-test-{pid}-{n}"),
            host_if: format!("fo{pid}-{n}"),
            host_ip: Ipv4Addr::from(base + 1),
            inside_ip: Ipv4Addr::from(base + 2),
        };
        let (name, host_if) = (ns.name.as_str(), ns.host_if.as_str());
        run(Command::new("ip").args(["netns", "add", name]));
        run(Command::new("ip").args([
            "link", "add", host_if, "type", "veth", "peer", "name", &peer_if, "netns", name,
        ]));
        run(Command::new("ip").args([
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            host_if,
        ]));
        run(Command::new("ip").args(["link", "set", host_if, "up"]));
        let inside = format!("{}/30", ns.inside_ip);
        ns.exec(&["ip", "addr", "add", &inside, "dev", &peer_if]);
        ns.exec(&["ip", "link", "set", &peer_if, "up"]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `args` inside the namespace (`ip netns exec`); panics if it fails.
    pub fn exec(&self, args: &[&str]) {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args));
    }

    /// Adds another address to the host's end of the pair (k = 1, 2, ...: 10.(231-k).x.y
    /// for the pair's 10.231.x.y, so unique like it) and returns it. Reachable from the
    /// host as its own, and from inside once `route_all_via_host` ran.
    pub fn add_host_address(&self, k: u8) -> Ipv4Addr {
        let [a, b, c, d] = self.host_ip.octets();
        let ip = Ipv4Addr::new(a, b - k, c, d);
        run(Command::new("ip").args(["addr", "add", &format!("{ip}/32"), "dev", &self.host_if]));
        ip
    }

    /// Inside, a default route through the host's end, so every host address is reachable.
    pub fn route_all_via_host(&self) {
        self.exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &self.host_ip.to_string(),
        ]);
    }

    /// Inside only: `ip` cannot be reached (`unreachable` route: connects fail at once with
    /// EHOSTUNREACH), or can again with `cut = false`.
    pub fn cut_off(&self, ip: Ipv4Addr, cut: bool) {
        let verb = if cut { "add" } else { "del" };
        self.exec(&["ip", "route", verb, "unreachable", &format!("{ip}/32")]);
    }

    /// Drops every new TCP connection (SYN) to `port` of `inside_ip`, inside the namespace
    /// only: the host's rules are never touched. No RST, no answer: connects and checks
    /// time out. Connections already open go on, so a request that was in flight at the
    /// moment the rule went in is not mistaken for a connect the proxy failed to retry.
    pub fn drop_tcp_to(&self, port: u16) {
        let (ip, port) = (self.inside_ip.to_string(), port.to_string());
        self.exec(&[
            "iptables", "-w", "-I", "INPUT", "-d", &ip, "-p", "tcp", "--dport", &port, "--syn",
            "-j", "DROP",
        ]);
    }

    /// A TCP listener on `inside_ip:port` (0: the kernel picks), made by a thread that
    /// enters the namespace (setns) and ends: the socket stays in the namespace.
    pub fn listen(&self, port: u16) -> std::net::TcpListener {
        let path = format!("/run/netns/{}", self.name);
        let addr = SocketAddr::new(self.inside_ip.into(), port);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path)?;
            // SAFETY: setns(2) moves only this thread, which ends once the socket exists.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            std::net::TcpListener::bind(addr)
        })
        .join()
        .expect("the namespace thread")
        .unwrap_or_else(|e| panic!("listen on {addr} inside the namespace: {e}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the host's end deletes the pair at once; deleting the namespace takes
        // its rules with it (the kernel frees it when its last socket closes).
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip")
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        quiet(&["link", "del", &self.host_if]);
        quiet(&["netns", "del", &self.name]);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// HTTP stacks on one port: `main` inside a new namespace (at its `inside_ip`), `backup`
/// on the host's `backup_ip`. Returns (port, namespace, main, backup).
pub fn main_in_netns(backup_ip: &str) -> (u16, Netns, HttpStack, HttpStack) {
    let ns = Netns::create();
    // The port is the kernel's pick on the host; the fresh namespace has nothing bound.
    let b = std::net::TcpListener::bind((backup_ip, 0)).expect("bind the backup");
    let port = b.local_addr().unwrap().port();
    let main = HttpStack::start("main", ns.listen(port));
    (port, ns, main, HttpStack::start("backup", b))
}
