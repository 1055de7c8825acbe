//! The socket of a bridge's connection to its upstream broker: a non-blocking TCP
//! connect (from `bridge_bind_address` if set) and, with TLS, a `rustls` client session
//! over it. Reads and writes never block; `WouldBlock` means "wait for the next
//! readiness event", as for accepted connections.
//!
//! This file owns the bytes on the wire only: what they mean is `bridge::Uplink`'s.

use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

/// A bridge's socket to its upstream.
#[derive(Debug)]
pub(super) enum UpStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    #[cfg(feature = "tls")]
    Tls(Box<(TcpStream, rustls::ClientConnection)>),
}

/// Starts a non-blocking connect to `addr`, from `bind` when given.
pub(super) fn connect(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(local) = bind else {
        return TcpStream::connect(addr);
    };
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage};
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket::socket(family, SockType::Stream, flags, None)?;
    use std::os::fd::AsRawFd;
    socket::bind(
        fd.as_raw_fd(),
        &SockaddrStorage::from(SocketAddr::new(local, 0)),
    )?;
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(fd)))
}

impl UpStream {
    /// The TCP socket, for registration and the connect's outcome.
    pub(super) fn tcp(&mut self) -> &mut TcpStream {
        match self {
            UpStream::Tcp(s) => s,
            #[cfg(feature = "tls")]
            UpStream::Tls(b) => &mut b.0,
        }
    }

    /// Writes what TLS holds; `WouldBlock` if the socket is full.
    pub(super) fn send_pending(&mut self) -> io::Result<()> {
        match self {
            UpStream::Tcp(_) => Ok(()),
            #[cfg(feature = "tls")]
            UpStream::Tls(b) => {
                let (tcp, conn) = &mut **b;
                super::send_tls_records(conn, tcp)
            }
        }
    }
}

impl Read for UpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            UpStream::Tcp(s) => s.read(buf),
            #[cfg(feature = "tls")]
            UpStream::Tls(b) => {
                let (tcp, conn) = &mut **b;
                loop {
                    match conn.reader().read(buf) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                    if super::receive_tls_records(conn, tcp)? == 0 {
                        return Ok(0);
                    }
                    // Handshake answers go out as soon as they are made.
                    match super::send_tls_records(conn, tcp) {
                        Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                        _ => {}
                    }
                }
            }
        }
    }
}

impl Write for UpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            UpStream::Tcp(s) => s.write(buf),
            #[cfg(feature = "tls")]
            UpStream::Tls(b) => {
                let (tcp, conn) = &mut **b;
                super::send_tls_records(conn, tcp)?;
                let n = conn.writer().write(buf)?;
                if n == 0 && !buf.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                match super::send_tls_records(conn, tcp) {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
                    _ => Ok(n),
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending()
    }
}
