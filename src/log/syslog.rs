//! The connection to the local syslog daemon: the `/dev/log` socket, datagram (journald,
//! rsyslog, busybox's syslogd, OpenWrt's logd) or, failing that, stream (older syslog-ng
//! set-ups), as glibc's `syslog(3)` tries them. Messages are formatted by
//! `format::LineFormat::datagram`.
//!
//! Used only by the syslog sink's writer thread (a send blocks while the daemon's queue
//! is full); this file must not be called from the reactor except to connect.

use std::io::{self, Write};
use std::path::Path;
use syslog::LoggerBackend;

/// Where the syslog daemon listens on Linux.
const DEV_LOG: &str = "/dev/log";

/// A connection to the syslog daemon: the `syslog` crate's (one of the design card's
/// crates), which connects datagram first, then stream, and ends each message on a stream
/// with a NUL as glibc does. Messages arrive formatted; the crate's formatter is unused.
pub(super) struct Syslog(LoggerBackend);

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Syslog")
    }
}

impl Syslog {
    /// Connects to `/dev/log`, datagram first.
    pub fn connect() -> io::Result<Syslog> {
        Syslog::connect_to(Path::new(DEV_LOG))
    }

    /// Connects to the daemon's socket at `path`, datagram first.
    fn connect_to(path: &Path) -> io::Result<Syslog> {
        syslog::unix_custom((), path)
            .map(|logger| Syslog(logger.backend))
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Sends one message.
    pub fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.0.write(message).map(drop)
    }

    /// Sends one message; if that fails (the daemon restarted), reconnects once and
    /// tries again.
    pub fn send_or_reconnect(&mut self, message: &[u8]) -> io::Result<()> {
        if self.send(message).is_ok() {
            return Ok(());
        }
        *self = Syslog::connect()?;
        self.send(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::{UnixDatagram, UnixListener};

    #[test]
    fn messages_reach_a_datagram_or_stream_daemon() {
        let dir = std::env::temp_dir().join(format!("sol-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("dgram");
        let _ = std::fs::remove_file(&path);
        let daemon = UnixDatagram::bind(&path).expect("bind");
        let mut syslog = Syslog::connect_to(&path).expect("connect");
        assert!(matches!(syslog.0, LoggerBackend::Unix(_)));
        syslog
            .send_or_reconnect(b"<30>sol[1]: hello")
            .expect("send");
        let mut buf = [0u8; 64];
        let n = daemon.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"<30>sol[1]: hello");

        let path = dir.join("stream");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind");
        let mut syslog = Syslog::connect_to(&path).expect("connect");
        assert!(matches!(syslog.0, LoggerBackend::UnixStream(_)));
        syslog.send(b"<30>sol[1]: a").expect("send");
        drop(syslog);
        let (mut stream, _) = listener.accept().expect("accept");
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read");
        assert_eq!(got, b"<30>sol[1]: a\0");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
