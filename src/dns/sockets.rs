//! The sockets of a `[dns] listen` address: UDP sockets sharing the port through
//! SO_REUSEPORT (one per core, each served by a thread of its own, see `udp.rs`) and one
//! TCP listener. The UDP sockets stay plain (blocking) std sockets until a server loop
//! takes them: on Linux they never join the async runtime.

use std::net::{SocketAddr, UdpSocket};

use tokio::net::TcpListener;

/// The sockets of one `[dns] listen` address.
pub struct Listen {
    /// The bound address (the real port when the config said 0).
    pub addr: SocketAddr,
    pub udp: Vec<UdpSocket>,
    pub tcp: TcpListener,
}

pub use crate::sockets::udp_sockets_per_address;

/// Binds `count` UDP sockets (SO_REUSEPORT) and one TCP listener on `addr`, all on the
/// same port. With port 0, the port the first UDP socket got is used for the rest; if TCP
/// cannot have it, a new port is tried (a few times).
pub fn bind(addr: SocketAddr, count: usize) -> std::io::Result<Listen> {
    const PORT_TRIES: usize = 20;
    let mut last_err = None;
    for _ in 0..PORT_TRIES {
        let first = udp_socket(addr)?;
        let port = first.local_addr()?.port();
        let at = SocketAddr::new(addr.ip(), port);
        let tcp = match crate::sockets::listen_tcp(at) {
            Ok(t) => t,
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                last_err = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut udp = vec![first];
        for _ in 1..count.max(1) {
            udp.push(udp_socket(at)?);
        }
        return Ok(Listen { addr: at, udp, tcp });
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no free port for dns")))
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    // Room for bursts; the kernel caps it at net.core.rmem_max, which is fine.
    let _ = sock.set_recv_buffer_size(4 << 20);
    #[cfg(target_os = "linux")]
    never_fragment(&sock, addr.is_ipv6())?;
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// Answers leave with DF set and are never fragmented, sized against the interface's MTU
/// whatever the path-MTU cache says (IP_PMTUDISC_PROBE). A UDP answer is at most
/// `OUR_PAYLOAD` (1232) bytes, so it always fits; fragments are what off-path DNS
/// poisoning forges (RFC 9715 asks responders not to fragment); and a spoofed ICMP
/// "fragmentation needed" cannot make the kernel refuse an answer, as it could with
/// IP_PMTUDISC_DO. On IPv4 a DF packet also gets IP ID 0 instead of an ID drawn from the
/// kernel's shared hashed counters, which perf put at 3% of the CPU time per answer.
#[cfg(target_os = "linux")]
fn never_fragment(sock: &socket2::Socket, ipv6: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (level, name, value) = if ipv6 {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_PROBE,
        )
    } else {
        (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_PROBE,
        )
    };
    // SAFETY: setsockopt reads one c_int from `value`, which outlives the call.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    fn mtu_discover(sock: &UdpSocket, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `value`, which we own.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "getsockopt: {}", std::io::Error::last_os_error());
        value
    }

    #[tokio::test]
    async fn every_udp_socket_sends_unfragmented_answers_at_the_interface_mtu() {
        let v4 = bind("127.0.0.1:0".parse().unwrap(), 2).expect("bind 127.0.0.1");
        assert_eq!(v4.udp.len(), 2);
        for s in &v4.udp {
            let v = mtu_discover(s, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER);
            assert_eq!(v, libc::IP_PMTUDISC_PROBE);
        }
        // IPv6 where the machine has it.
        if let Ok(v6) = bind("[::1]:0".parse().unwrap(), 2) {
            for s in &v6.udp {
                let v = mtu_discover(s, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER);
                assert_eq!(v, libc::IPV6_PMTUDISC_PROBE);
            }
        }
    }
}
