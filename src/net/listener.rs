//! Listening sockets: what to bind for each configured listener, binding it, accepting.
//!
//! - `Bind::Any` binds `0.0.0.0` and `[::]` on the same port; the IPv6 socket has
//!   `IPV6_V6ONLY` so both coexist (with port 0 the IPv6 socket takes the port the IPv4 one
//!   got). `socket_domain` restricts it to one family. A kernel without IPv6 only loses the
//!   IPv6 socket.
//! - `Bind::Host` resolves the name and binds every address it resolves to.
//! - `Bind::Unix` binds a Unix domain socket; a stale socket file (nobody accepting on it)
//!   is removed first, and the file is removed again when the listener is dropped.
//! - `bind_interface` binds the wildcard addresses of the listener's families with
//!   `SO_BINDTODEVICE`, so only connections arriving on that interface are accepted. An
//!   interface that does not exist (yet: a PPP or Wi-Fi link) is retried like an address
//!   that is not available yet; a missing `CAP_NET_RAW` is fatal.
//! - A `protocol websockets` listener is refused with a clear error until the WebSocket
//!   stream joins the reactor, so that no WebSocket port silently speaks plain MQTT.
//!
//! TCP sockets are set up with `nix` (`SO_REUSEADDR`, `IPV6_V6ONLY`, non-blocking,
//! close-on-exec) and handed to `mio` through `std`. Errors are sorted into three kinds
//! ([`BindError`]): an address that may appear later (a LAN interface still coming up: the
//! reactor retries), an address family the kernel lacks (skipped), and everything else
//! (fatal at start, with the address in the message).
//!
//! This module must not know about connections or the broker.

use crate::config::{Bind, ListenerConfig, SocketDomain};
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{event, Interest, Registry, Token};
use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage,
};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

/// Listen backlog: generous, the kernel caps it at `somaxconn` anyway.
const BACKLOG: i32 = 1024;

/// Which address families a TCP listener uses (`socket_domain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Both IPv4 and IPv6.
    Both,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// The family of a configured listener.
    pub fn of(domain: Option<&SocketDomain>) -> Family {
        match domain {
            None => Family::Both,
            Some(SocketDomain::Ipv4) => Family::V4,
            Some(SocketDomain::Ipv6) => Family::V6,
        }
    }

    /// Whether `addr` belongs to this family.
    fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Both => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

/// What a configured listener binds, in a form the reactor keeps (and compares on reload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindTarget {
    /// One TCP address.
    Tcp(SocketAddr),
    /// A host name, resolved when bound (and again on each retry).
    Host {
        /// Name or address literal.
        name: String,
        /// TCP port.
        port: u16,
        /// Families to keep from the resolution.
        family: Family,
    },
    /// A Unix domain socket path.
    Unix(PathBuf),
    /// One TCP address, accepting only connections that arrive on a network interface
    /// (`bind_interface`).
    Device {
        /// The (wildcard) address.
        addr: SocketAddr,
        /// The interface name.
        interface: String,
    },
}

impl BindTarget {
    /// The targets of one configured listener, in binding order (IPv4 first, so that with
    /// port 0 the IPv6 socket can take the same port).
    pub fn of(config: &ListenerConfig) -> Vec<BindTarget> {
        let family = Family::of(config.socket_domain.as_ref());
        if let Some(interface) = &config.bind_interface {
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.port);
            let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), config.port);
            let addrs = match family {
                Family::Both => vec![v4, v6],
                Family::V4 => vec![v4],
                Family::V6 => vec![v6],
            };
            return addrs
                .into_iter()
                .map(|addr| BindTarget::Device {
                    addr,
                    interface: interface.clone(),
                })
                .collect();
        }
        match &config.bind {
            Bind::Unix(path) => vec![BindTarget::Unix(path.clone())],
            Bind::Host(name) => vec![BindTarget::Host {
                name: name.clone(),
                port: config.port,
                family,
            }],
            Bind::Any => {
                let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.port);
                let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), config.port);
                match family {
                    Family::Both => vec![BindTarget::Tcp(v4), BindTarget::Tcp(v6)],
                    Family::V4 => vec![BindTarget::Tcp(v4)],
                    Family::V6 => vec![BindTarget::Tcp(v6)],
                }
            }
        }
    }
}

impl std::fmt::Display for BindTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindTarget::Tcp(addr) => write!(f, "{addr}"),
            BindTarget::Host { name, port, .. } => write!(f, "{name}:{port}"),
            BindTarget::Unix(path) => write!(f, "unix:{}", path.display()),
            BindTarget::Device { addr, interface } => write!(f, "{addr}%{interface}"),
        }
    }
}

/// Why a target could not be bound.
#[derive(Debug)]
pub enum BindError {
    /// The address does not exist yet (`EADDRNOTAVAIL`, a name that does not resolve):
    /// retry later.
    Retry(String),
    /// The kernel lacks this address family (`EAFNOSUPPORT`): skip the target.
    Unsupported(String),
    /// Anything else (`EADDRINUSE`, `EACCES`, ...): fatal at start.
    Fatal(io::Error),
}

/// The result of binding one target: sockets bound, and addresses left to retry.
#[derive(Debug, Default)]
pub struct Bound {
    /// Listening sockets.
    pub listeners: Vec<Listener>,
    /// Addresses of a resolved host that are not available yet.
    pub retry: Vec<(BindTarget, String)>,
}

/// Binds `target`. A host name that resolves to several addresses binds all of them; the
/// ones not available yet come back in [`Bound::retry`].
pub fn bind(target: &BindTarget) -> Result<Bound, BindError> {
    match target {
        BindTarget::Tcp(addr) => Ok(Bound {
            listeners: vec![Listener::Tcp(bind_tcp(*addr)?)],
            retry: Vec::new(),
        }),
        BindTarget::Device { addr, interface } => Ok(Bound {
            listeners: vec![Listener::Tcp(bind_tcp_on(*addr, Some(interface))?)],
            retry: Vec::new(),
        }),
        BindTarget::Unix(path) => Ok(Bound {
            listeners: vec![bind_unix(path)?],
            retry: Vec::new(),
        }),
        BindTarget::Host { name, port, family } => {
            let addrs: Vec<SocketAddr> = (name.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| BindError::Retry(format!("cannot resolve {name}: {e}")))?
                .filter(|a| family.admits(a))
                .collect();
            if addrs.is_empty() {
                return Err(BindError::Retry(format!(
                    "{name} has no address of the configured family yet"
                )));
            }
            let mut bound = Bound::default();
            for addr in addrs {
                match bind_tcp(addr) {
                    Ok(l) => bound.listeners.push(Listener::Tcp(l)),
                    Err(BindError::Retry(why)) => bound.retry.push((BindTarget::Tcp(addr), why)),
                    Err(BindError::Unsupported(why)) => log::warn!("{why}"),
                    Err(e @ BindError::Fatal(_)) => return Err(e),
                }
            }
            if bound.listeners.is_empty() && bound.retry.is_empty() {
                return Err(BindError::Unsupported(format!(
                    "no address of {name} can be bound on this system"
                )));
            }
            Ok(bound)
        }
    }
}

/// Sorts a socket error into a [`BindError`], naming the address.
fn classify(errno: Errno, what: &str) -> BindError {
    let detail = format!("cannot listen on {what}: {}", errno.desc());
    match errno {
        Errno::EADDRNOTAVAIL => BindError::Retry(detail),
        Errno::EAFNOSUPPORT => BindError::Unsupported(detail),
        Errno::EADDRINUSE => BindError::Fatal(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{detail} (is another broker running?)"),
        )),
        Errno::EACCES => BindError::Fatal(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{detail} (ports below 1024 need root or CAP_NET_BIND_SERVICE)"),
        )),
        other => BindError::Fatal(io::Error::new(io::Error::from(other).kind(), detail)),
    }
}

/// A non-blocking TCP listener on `addr` with `SO_REUSEADDR` (and `IPV6_V6ONLY` for IPv6,
/// so an IPv4 socket can share the port).
fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, BindError> {
    bind_tcp_on(addr, None)
}

/// [`bind_tcp`], bound to the network interface `device` if one is given.
fn bind_tcp_on(addr: SocketAddr, device: Option<&str>) -> Result<TcpListener, BindError> {
    let what = match device {
        Some(device) => format!("{addr} on interface {device}"),
        None => addr.to_string(),
    };
    let fail = |e: Errno| classify(e, &what);
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(fail)?;
    // Accepted sockets inherit it on Linux, which saves a syscall per connection.
    socket::setsockopt(&fd, sockopt::TcpNoDelay, &true).map_err(fail)?;
    if addr.is_ipv6() {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(fail)?;
    }
    if let Some(device) = device {
        socket::setsockopt(&fd, sockopt::BindToDevice, &device.into()).map_err(|e| match e {
            Errno::ENODEV => BindError::Retry(format!(
                "cannot listen on {what}: there is no network interface named {device} (yet)"
            )),
            Errno::EPERM => BindError::Fatal(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "cannot listen on {what}: bind_interface needs the CAP_NET_RAW capability \
                     (start Sol as root, or grant it: AmbientCapabilities=CAP_NET_RAW)"
                ),
            )),
            other => fail(other),
        })?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)).map_err(fail)?;
    let backlog = Backlog::new(BACKLOG).unwrap_or(Backlog::MAXCONN);
    socket::listen(&fd, backlog).map_err(fail)?;
    Ok(TcpListener::from_std(std::net::TcpListener::from(fd)))
}

/// A Unix domain socket listener at `path`, replacing a stale socket file.
fn bind_unix(path: &Path) -> Result<Listener, BindError> {
    use std::os::unix::fs::FileTypeExt;
    let what = format!("unix:{}", path.display());
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(BindError::Fatal(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("cannot listen on {what}: the path exists and is not a socket"),
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::Fatal(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("cannot listen on {what}: another process accepts on it"),
            )));
        }
        // Nobody accepts on it: left over from a previous run.
        if let Err(e) = std::fs::remove_file(path) {
            return Err(BindError::Fatal(io::Error::new(
                e.kind(),
                format!("cannot remove stale socket {what}: {e}"),
            )));
        }
    }
    match UnixListener::bind(path) {
        Ok(listener) => Ok(Listener::Unix {
            listener,
            file: SocketFile(path.to_path_buf()),
        }),
        Err(e) => match e.raw_os_error().map(Errno::from_raw) {
            Some(errno) => Err(classify(errno, &what)),
            None => Err(BindError::Fatal(e)),
        },
    }
}

/// A Unix socket file, removed when the listener is dropped.
#[derive(Debug)]
pub struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            if e.kind() != io::ErrorKind::NotFound {
                log::warn!("cannot remove {}: {e}", self.0.display());
            }
        }
    }
}

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP, IPv4 or IPv6.
    Tcp(TcpListener),
    /// Unix domain socket.
    Unix {
        /// The socket.
        listener: UnixListener,
        /// Its file, removed on drop.
        file: SocketFile,
    },
}

/// Where a listener accepts connections (for tests and the start-up log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalAddr {
    /// A TCP address with its real port (also when port 0 was configured).
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for LocalAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalAddr::Tcp(addr) => write!(f, "{addr}"),
            LocalAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Listener {
    /// The address it accepts on.
    pub fn local_addr(&self) -> io::Result<LocalAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(LocalAddr::Tcp),
            Listener::Unix { file, .. } => Ok(LocalAddr::Unix(file.0.clone())),
        }
    }

    /// Accepts one connection; TCP connections get `TCP_NODELAY` (MQTT packets are small
    /// and latency matters more than segment count), inherited from the listener where
    /// the kernel does that (checked on the first connection). Returns the stream and
    /// who connected, for log lines.
    pub fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept()?;
                if !nodelay_inherited(&stream) {
                    if let Err(e) = stream.set_nodelay(true) {
                        log::debug!("TCP_NODELAY on connection from {peer}: {e}");
                    }
                }
                Ok((Stream::Tcp(stream), Peer::Tcp(peer)))
            }
            Listener::Unix { listener, file } => {
                let (stream, _) = listener.accept()?;
                Ok((Stream::Unix(stream), Peer::Unix(file.0.clone())))
            }
        }
    }
}

/// Who connected, for log lines only: kept as an address and formatted when a line is
/// written. Formatting it at every accept cost about 1,600 instructions, a sixth of a
/// whole connect/CONNACK/DISCONNECT cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client's address.
    Tcp(SocketAddr),
    /// A client of the Unix socket listener at this path.
    Unix(PathBuf),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => addr.fmt(f),
            Peer::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Whether accepted TCP sockets come with `TCP_NODELAY` from their listener (every TCP
/// listener sets it). A property of the kernel: asked of the first accepted socket, then
/// remembered (0 unknown, 1 inherited, 2 not).
static NODELAY_INHERITED: AtomicU8 = AtomicU8::new(0);

/// See [`NODELAY_INHERITED`].
fn nodelay_inherited(stream: &TcpStream) -> bool {
    match NODELAY_INHERITED.load(Ordering::Relaxed) {
        0 => {
            let inherited = stream.nodelay().unwrap_or(false);
            NODELAY_INHERITED.store(if inherited { 1 } else { 2 }, Ordering::Relaxed);
            inherited
        }
        state => state == 1,
    }
}

impl event::Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(r, t, i),
            Listener::Unix { listener, .. } => listener.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(r, t, i),
            Listener::Unix { listener, .. } => listener.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(r),
            Listener::Unix { listener, .. } => listener.deregister(r),
        }
    }
}

/// An accepted connection's socket.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    Unix(UnixStream),
    /// TLS over TCP (boxed: the rustls state is large and most connections are plain).
    #[cfg(feature = "tls")]
    Tls(Box<super::tls_stream::TlsStream>),
    /// MQTT over WebSockets, over TCP or TLS (boxed: most connections are plain).
    Ws(Box<super::ws_stream::WsStream>),
}

impl Stream {
    /// Whether bytes reach the socket only when the reactor writes (plain TCP or a Unix
    /// socket); TLS and WebSocket streams also write while they read (handshakes).
    pub fn writes_only_when_written(&self) -> bool {
        matches!(self, Stream::Tcp(_) | Stream::Unix(_))
    }

    /// The peer's IP address (`None` for a Unix socket or when it cannot be read).
    pub fn peer_ip(&self) -> Option<IpAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok().map(|a| a.ip()),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.peer_addr().ok().map(|a| a.ip()),
            Stream::Ws(s) => s.inner().peer_ip(),
            Stream::Unix(_) => None,
        }
    }

    /// Shuts both directions down (errors ignored: the socket is being dropped); a TLS
    /// stream sends `close_notify` first.
    pub fn shutdown(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.shutdown();
                Ok(())
            }
            Stream::Ws(s) => {
                s.shutdown();
                Ok(())
            }
        };
    }

    /// Whether a read that returned `n` of the `wanted` bytes left the socket empty, so
    /// that an edge-triggered reader may stop without the `EAGAIN` read: a short read for
    /// TCP and Unix sockets; never known for TLS (a read returns one record's plaintext
    /// at a time); for a WebSocket, whether its own read of the socket was short (it
    /// returns fewer MQTT bytes than it read).
    #[inline]
    pub fn drained_by(&self, n: usize, wanted: usize) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => n < wanted,
            #[cfg(feature = "tls")]
            Stream::Tls(_) => false,
            Stream::Ws(s) => s.last_read_drained(),
        }
    }

    /// The client certificate's common name, once, after a TLS handshake has completed
    /// (see [`super::tls_stream::TlsStream::take_client_identity`]); always `None` for plain
    /// streams.
    #[inline]
    pub fn take_client_identity(&mut self) -> Option<Result<&str, crate::x509::CommonNameError>> {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.take_client_identity(),
            Stream::Ws(s) => s.inner_mut().take_client_identity(),
            _ => None,
        }
    }

    /// Sends output a TLS stream still holds (records left when the socket blocked);
    /// nothing to do for plain streams.
    #[inline]
    pub fn send_pending(&mut self) -> io::Result<()> {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.send_pending(),
            Stream::Ws(s) => s.send_pending(),
            _ => Ok(()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
            Stream::Ws(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
            Stream::Ws(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write_vectored(bufs),
            Stream::Ws(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl event::Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp().register(r, t, i),
            Stream::Ws(s) => s.inner_mut().register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp().reregister(r, t, i),
            Stream::Ws(s) => s.inner_mut().reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp().deregister(r),
            Stream::Ws(s) => s.inner_mut().deregister(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ListenerProtocol;

    /// A listener on `bind` with the other settings at their defaults.
    fn listener(port: u16, protocol: ListenerProtocol, interface: Option<&str>) -> ListenerConfig {
        ListenerConfig {
            port,
            bind: Bind::Host("127.0.0.1".into()),
            socket_domain: Some(SocketDomain::Ipv4),
            allow_anonymous: true,
            tls: None,
            clients: Default::default(),
            protocol,
            bind_interface: interface.map(str::to_string),
            http_dir: None,
        }
    }

    #[test]
    fn bind_interface_accepts_on_that_interface_and_waits_for_a_missing_one() {
        let targets = BindTarget::of(&listener(0, ListenerProtocol::Mqtt, Some("lo")));
        assert_eq!(targets.len(), 1, "ipv4 only");
        let bound = bind(&targets[0]).expect("bound to lo");
        let Some(Listener::Tcp(l)) = bound.listeners.first() else {
            panic!("a TCP listener")
        };
        let port = l.local_addr().expect("addr").port();
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect over lo");
        let missing = BindTarget::of(&listener(0, ListenerProtocol::Mqtt, Some("nosuch0")));
        match bind(&missing[0]) {
            Err(BindError::Retry(why)) => assert!(
                why.ends_with("there is no network interface named nosuch0 (yet)"),
                "{why}"
            ),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    fn unique_path(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("sol-net-{tag}-{}.sock", std::process::id()))
    }

    #[test]
    fn any_binds_v4_and_v6_on_one_port() {
        let v4 = bind_tcp("0.0.0.0:0".parse().expect("literal")).expect("bind v4");
        let port = v4.local_addr().expect("addr").port();
        match bind_tcp(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
            Ok(v6) => assert_eq!(v6.local_addr().expect("addr").port(), port),
            Err(BindError::Unsupported(_)) | Err(BindError::Retry(_)) => {} // no IPv6 here
            Err(BindError::Fatal(e)) => panic!("V6ONLY should let both coexist: {e}"),
        }
    }

    #[test]
    fn accepted_tcp_connections_have_nodelay() {
        let listener =
            Listener::Tcp(bind_tcp("127.0.0.1:0".parse().expect("literal")).expect("bind"));
        let LocalAddr::Tcp(addr) = listener.local_addr().expect("addr") else {
            panic!("TCP listener");
        };
        // Twice: the first accept asks whether the kernel copied the option, the second
        // relies on the answer.
        for _ in 0..2 {
            let _client = std::net::TcpStream::connect(addr).expect("connect");
            let stream = loop {
                match listener.accept() {
                    Ok((Stream::Tcp(s), _)) => break s,
                    Ok(_) => panic!("TCP stream"),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(e) => panic!("accept: {e}"),
                }
            };
            assert!(stream.nodelay().expect("getsockopt"));
        }
    }

    #[test]
    fn a_peer_reads_in_log_lines_as_its_address_or_socket_file() {
        let tcp = Peer::Tcp("192.168.1.20:51234".parse().expect("an address"));
        assert_eq!(tcp.to_string(), "192.168.1.20:51234");
        let v6 = Peer::Tcp("[::1]:1883".parse().expect("an address"));
        assert_eq!(v6.to_string(), "[::1]:1883");
        assert_eq!(
            Peer::Unix("/run/sol/sol.sock".into()).to_string(),
            "unix:/run/sol/sol.sock"
        );
    }

    #[test]
    fn port_in_use_is_fatal_with_the_address() {
        let first = bind_tcp("127.0.0.1:0".parse().expect("literal")).expect("bind");
        let addr = first.local_addr().expect("addr");
        // SO_REUSEADDR does not allow two listeners on one port.
        match bind_tcp(addr) {
            Err(BindError::Fatal(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
                assert!(e.to_string().contains(&addr.to_string()));
            }
            other => panic!("expected fatal, got {other:?}"),
        }
    }

    #[test]
    fn unavailable_address_is_retryable() {
        // TEST-NET-3 (RFC 5737) is not configured on any interface here.
        match bind_tcp("203.0.113.7:0".parse().expect("literal")) {
            Err(BindError::Retry(_)) => {}
            other => panic!("expected retry, got {other:?}"),
        }
    }

    #[test]
    fn unix_socket_replaces_stale_file_and_removes_it_on_drop() {
        let path = unique_path("stale");
        let _ = std::fs::remove_file(&path);
        drop(std::os::unix::net::UnixListener::bind(&path).expect("stale socket"));
        assert!(path.exists(), "std leaves the file behind: stale");
        let listener = bind_unix(&path).expect("stale file replaced");
        match bind_unix(&path) {
            Err(BindError::Fatal(e)) => assert_eq!(e.kind(), io::ErrorKind::AddrInUse),
            other => panic!("a live socket must not be replaced: {other:?}"),
        }
        drop(listener);
        assert!(!path.exists());
    }

    #[test]
    fn unix_path_that_is_a_file_is_fatal() {
        let path = unique_path("file");
        std::fs::write(&path, b"x").expect("temp file");
        assert!(matches!(bind_unix(&path), Err(BindError::Fatal(_))));
        std::fs::remove_file(&path).expect("cleanup");
    }
}
