//! Ports held for servers a test starts later: bound, never listening, so the kernel
//! hands them to no other socket meanwhile.
//!
//! A port picked by binding and closing a probe is free only for a moment: with the tests
//! running side by side, another test's outgoing connection (its ephemeral port) or
//! `bind(0)` may take it before the server starts, or while it is stopped for an outage,
//! and the server then cannot listen (CI run 10 failed so). Here a socket stays bound to
//! the port with `SO_REUSEADDR` and never listens: the kernel hands the port to nothing
//! else, a connection to it is refused like one to any closed port, and a server that
//! sets `SO_REUSEADDR` itself (Sol and Mosquitto do) listens on it whenever the test
//! starts one.

use nix::sys::socket::{
    bind, getsockname, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    SockaddrIn6, SockaddrLike,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

/// A loopback address with nothing listening on it (yet), held for the test that asked.
pub struct Reserved {
    /// The address: 127.0.0.1 and the reserved port.
    pub addr: SocketAddr,
    /// The bound socket that holds the port.
    _held: OwnedFd,
}

/// A port held on every address, IPv4 and IPv6, for a server whose configuration file
/// listens on all of them (or on one of them).
pub struct ReservedPort {
    /// The port.
    pub port: u16,
    /// The bound socket that holds it.
    _held: OwnedFd,
}

/// A stream socket with `SO_REUSEADDR`, bound to `addr`, never listening.
fn held(family: AddressFamily, addr: &impl SockaddrLike) -> nix::Result<OwnedFd> {
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if family == AddressFamily::Inet6 {
        // Dual-stack: the IPv4 port too, whatever the system's default.
        setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
    }
    bind(fd.as_raw_fd(), addr)?;
    Ok(fd)
}

/// Reserves a loopback port for a server the test starts (and restarts) later.
pub fn reserve_addr() -> Reserved {
    let fd =
        held(AddressFamily::Inet, &SockaddrIn::new(127, 0, 0, 1, 0)).expect("bind 127.0.0.1:0");
    let bound: SockaddrIn = getsockname(fd.as_raw_fd()).expect("getsockname");
    Reserved {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, bound.port())),
        _held: fd,
    }
}

/// Reserves a port on every address (the IPv6 wildcard, dual-stack; the IPv4 one on a
/// machine without IPv6) for a server the test starts later.
pub fn reserve_port() -> ReservedPort {
    let any6 = SockaddrIn6::from(std::net::SocketAddrV6::new(
        std::net::Ipv6Addr::UNSPECIFIED,
        0,
        0,
        0,
    ));
    let (fd, port) = match held(AddressFamily::Inet6, &any6) {
        Ok(fd) => {
            let bound: SockaddrIn6 = getsockname(fd.as_raw_fd()).expect("getsockname");
            (fd, bound.port())
        }
        Err(_) => {
            let fd =
                held(AddressFamily::Inet, &SockaddrIn::new(0, 0, 0, 0, 0)).expect("bind 0.0.0.0:0");
            let bound: SockaddrIn = getsockname(fd.as_raw_fd()).expect("getsockname");
            (fd, bound.port())
        }
    };
    ReservedPort { port, _held: fd }
}
