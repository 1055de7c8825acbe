//! Readiness, reload, stop and watchdog notifications to systemd (`sd_notify`), spoken
//! directly over the notify socket: no libsystemd, no extra crate.
//!
//! The protocol (see `sd_notify(3)`): the service manager puts the address of a datagram
//! socket in `NOTIFY_SOCKET`, a filesystem path (`/run/systemd/notify`) or an abstract
//! name (`@name`, a leading NUL on the wire), and the service sends newline-separated
//! `KEY=VALUE` assignments to it from an unbound `AF_UNIX` datagram socket; the kernel
//! attaches the sender's credentials, which is how `NotifyAccess=main` knows who spoke.
//! Sol sends:
//!
//! | when | message |
//! |---|---|
//! | the listeners are open and the reactor starts | `READY=1`, `STATUS=listening on ...` |
//! | a reload (SIGHUP) begins | `RELOADING=1`, `MONOTONIC_USEC=` (systemd 253's `Type=notify-reload` wants it; 252 ignores it) |
//! | the reload is done (applied or refused) | `READY=1`, `STATUS=...` |
//! | a graceful stop begins | `STOPPING=1` |
//! | every `WATCHDOG_USEC / 2`, from the reactor loop | `WATCHDOG=1` |
//!
//! The watchdog is petted by the reactor loop itself ([`Notifier::poll_watchdog`], with
//! [`Notifier::watchdog_deadline`] folded into the poll timeout), so a reactor that hangs
//! stops petting and systemd restarts it. Without a watchdog the deadline is `None` and an
//! idle broker still does not wake.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd, or `Type=simple`) every call is a
//! no-op. Failures are never fatal: the first one is logged as a warning, later ones at
//! debug level, and a notification that cannot be sent is dropped. A send never blocks the
//! reactor for longer than [`SEND_TIMEOUT`].
//!
//! This module owns the notify socket and nothing else; it decides nothing about when to
//! notify (the reactor does).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Longest a notification may block the reactor (the manager's queue is full). A
/// notification that times out is dropped and logged.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// Shortest interval between two `WATCHDOG=1`, whatever `WATCHDOG_USEC` says: a smaller
/// one would turn the reactor into a busy loop.
pub const MIN_WATCHDOG_INTERVAL: Duration = Duration::from_millis(1);

/// Longest `sun_path` Linux accepts, including the terminating NUL of a path (or the
/// leading NUL of an abstract name).
const SUN_PATH_MAX: usize = 108;

/// Where `NOTIFY_SOCKET` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifySocket {
    /// A socket file (`/run/systemd/notify`).
    Path(PathBuf),
    /// An abstract socket: the name after the `@`, sent with a leading NUL.
    Abstract(Vec<u8>),
}

impl NotifySocket {
    /// Parses the value of `NOTIFY_SOCKET`: an absolute path, or `@` and an abstract name.
    pub fn parse(value: &OsStr) -> Result<NotifySocket, SocketError> {
        let bytes = value.as_bytes();
        match bytes.first() {
            None => Err(SocketError::Empty),
            Some(b'@') if bytes.len() == 1 => Err(SocketError::Empty),
            Some(b'@') if bytes.len() > SUN_PATH_MAX => Err(SocketError::TooLong(bytes.len())),
            Some(b'@') => Ok(NotifySocket::Abstract(bytes[1..].to_vec())),
            // Room for the terminating NUL.
            Some(b'/') if bytes.len() >= SUN_PATH_MAX => Err(SocketError::TooLong(bytes.len())),
            Some(b'/') => Ok(NotifySocket::Path(PathBuf::from(value))),
            // `vsock:` (systemd 253+) and relative paths: not for us.
            Some(_) => Err(SocketError::Unsupported(value.to_os_string())),
        }
    }

    /// The socket address to send to.
    fn address(&self) -> io::Result<SocketAddr> {
        match self {
            NotifySocket::Path(path) => SocketAddr::from_pathname(path),
            NotifySocket::Abstract(name) => SocketAddr::from_abstract_name(name),
        }
    }
}

impl fmt::Display for NotifySocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifySocket::Path(path) => write!(f, "{}", path.display()),
            NotifySocket::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// Why `NOTIFY_SOCKET` cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketError {
    /// Set but empty (or a lone `@`).
    Empty,
    /// Longer than `sun_path` allows (the length in bytes).
    TooLong(usize),
    /// Neither an absolute path nor `@name` (a relative path, or `vsock:` of systemd 253+).
    Unsupported(OsString),
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::Empty => write!(f, "NOTIFY_SOCKET is empty"),
            SocketError::TooLong(n) => write!(
                f,
                "NOTIFY_SOCKET is {n} bytes long, more than a socket address holds"
            ),
            SocketError::Unsupported(value) => write!(
                f,
                "NOTIFY_SOCKET {value:?} is neither an absolute path nor an abstract name (@name)"
            ),
        }
    }
}

/// Why `WATCHDOG_USEC`/`WATCHDOG_PID` cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchdogError {
    /// `WATCHDOG_USEC` is not a positive integer.
    BadUsec(OsString),
    /// `WATCHDOG_PID` is not a positive integer.
    BadPid(OsString),
}

impl fmt::Display for WatchdogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchdogError::BadUsec(v) => {
                write!(
                    f,
                    "WATCHDOG_USEC {v:?} is not a positive number of microseconds"
                )
            }
            WatchdogError::BadPid(v) => write!(f, "WATCHDOG_PID {v:?} is not a process id"),
        }
    }
}

/// The interval at which to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)`
/// recommends, at least [`MIN_WATCHDOG_INTERVAL`]. `None` when there is no watchdog, or it
/// is meant for another process (`WATCHDOG_PID` set to another pid than `our_pid`).
pub fn watchdog_interval(
    usec: Option<&OsStr>,
    pid: Option<&OsStr>,
    our_pid: u32,
) -> Result<Option<Duration>, WatchdogError> {
    let Some(usec) = usec else {
        return Ok(None);
    };
    let timeout = parse_positive(usec).ok_or_else(|| WatchdogError::BadUsec(usec.into()))?;
    if let Some(pid) = pid {
        let pid = parse_positive(pid).ok_or_else(|| WatchdogError::BadPid(pid.into()))?;
        if pid != u64::from(our_pid) {
            return Ok(None);
        }
    }
    Ok(Some(
        Duration::from_micros(timeout / 2).max(MIN_WATCHDOG_INTERVAL),
    ))
}

/// A decimal integer above zero (what systemd writes in its variables).
fn parse_positive(value: &OsStr) -> Option<u64> {
    let text = value.to_str()?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|&n| n > 0)
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares `MONOTONIC_USEC` with.
/// [`Instant`] reads the same clock but does not expose its value.
fn monotonic_usec() -> Option<u64> {
    let mut ts = std::mem::MaybeUninit::<nix::libc::timespec>::uninit();
    // SAFETY: `ts` points to writable memory the size of a `timespec`, which
    // `clock_gettime` fills on success; on failure (rc != 0) it is not read.
    let rc = unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_MONOTONIC, ts.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: `clock_gettime` returned 0, so it initialised `ts`.
    let ts = unsafe { ts.assume_init() };
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1_000_000)?.checked_add(nanos / 1000)
}

/// A `STATUS=` value: one line, since a newline would end the assignment.
fn status_line(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

/// The watchdog's schedule.
#[derive(Debug)]
struct Watchdog {
    /// Half of `WATCHDOG_USEC`.
    interval: Duration,
    /// When the next `WATCHDOG=1` is due.
    next: Instant,
}

/// Talks to systemd. Owned by the reactor, which calls it at each state change and on
/// every loop iteration ([`Notifier::poll_watchdog`]).
#[derive(Debug)]
pub struct Notifier {
    /// Where to send, `None` without `NOTIFY_SOCKET` (every call a no-op).
    target: Option<NotifySocket>,
    /// The sending socket, created on first use and kept (recreated after an error).
    socket: Option<UnixDatagram>,
    /// The watchdog, when systemd asked for one (and only with a target).
    watchdog: Option<Watchdog>,
    /// A failure was logged as a warning already; later ones go to debug.
    warned: bool,
}

impl Notifier {
    /// A notifier that sends nothing (the default of a [`Server`](crate::net::Server)).
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            socket: None,
            watchdog: None,
            warned: false,
        }
    }

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`. A bad value is logged
    /// and disables what it configures; nothing here is fatal. Call it after logging is up.
    pub fn from_env() -> Notifier {
        Notifier::from_vars(
            std::env::var_os("NOTIFY_SOCKET").as_deref(),
            std::env::var_os("WATCHDOG_USEC").as_deref(),
            std::env::var_os("WATCHDOG_PID").as_deref(),
            std::process::id(),
            Instant::now(),
        )
    }

    /// [`Notifier::from_env`] with the variables' values passed in; the first watchdog
    /// is due at `now`.
    pub fn from_vars(
        notify_socket: Option<&OsStr>,
        watchdog_usec: Option<&OsStr>,
        watchdog_pid: Option<&OsStr>,
        our_pid: u32,
        now: Instant,
    ) -> Notifier {
        let mut notifier = Notifier::disabled();
        let Some(value) = notify_socket else {
            return notifier;
        };
        match NotifySocket::parse(value) {
            Ok(target) => notifier.target = Some(target),
            Err(e) => {
                log::warn!("{e}: systemd will not be notified");
                return notifier;
            }
        }
        match watchdog_interval(watchdog_usec, watchdog_pid, our_pid) {
            Ok(Some(interval)) => {
                log::info!(
                    "systemd watchdog: notifying every {} ms",
                    interval.as_millis()
                );
                notifier.watchdog = Some(Watchdog {
                    interval,
                    next: now,
                });
            }
            Ok(None) => {}
            Err(e) => log::warn!("{e}: the systemd watchdog is not served"),
        }
        notifier
    }

    /// Whether notifications are sent at all.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The watchdog interval, when there is a watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.as_ref().map(|w| w.interval)
    }

    /// The service is ready (start-up done, or a reload finished): `READY=1` and `status`.
    pub fn ready(&mut self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", status_line(status)));
    }

    /// A reload begins: `RELOADING=1` with the monotonic time it began.
    pub fn reloading(&mut self) {
        let message = match monotonic_usec() {
            Some(usec) => format!("RELOADING=1\nMONOTONIC_USEC={usec}"),
            None => "RELOADING=1".to_string(),
        };
        self.send(&message);
    }

    /// A graceful stop begins: `STOPPING=1`.
    pub fn stopping(&mut self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    /// A free-form status line (`systemctl status` shows it).
    pub fn status(&mut self, status: &str) {
        self.send(&format!("STATUS={}", status_line(status)));
    }

    /// When the next `WATCHDOG=1` is due: part of the reactor's poll timeout. `None`
    /// without a watchdog.
    pub fn watchdog_deadline(&self) -> Option<Instant> {
        self.watchdog.as_ref().map(|w| w.next)
    }

    /// Sends `WATCHDOG=1` if it is due at `now`. Called by the reactor on every loop
    /// iteration, so only a loop that runs pets the watchdog.
    pub fn poll_watchdog(&mut self, now: Instant) {
        let Some(watchdog) = self.watchdog.as_mut() else {
            return;
        };
        if watchdog.next > now {
            return;
        }
        watchdog.next = now + watchdog.interval;
        self.send("WATCHDOG=1");
    }

    /// Sends one datagram; a failure is logged (a warning the first time) and dropped.
    fn send(&mut self, message: &str) {
        let Some(target) = &self.target else {
            return;
        };
        let result = target.address().and_then(|addr| {
            let socket = match self.socket.take() {
                Some(socket) => socket,
                None => {
                    let socket = UnixDatagram::unbound()?;
                    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
                    socket
                }
            };
            socket.send_to_addr(message.as_bytes(), &addr)?;
            self.socket = Some(socket);
            Ok(())
        });
        if let Err(e) = result {
            let first = first_line(message);
            if self.warned {
                log::debug!("systemd notification {first} to {target} failed: {e}");
            } else {
                self.warned = true;
                log::warn!(
                    "systemd notification {first} to {target} failed: {e} \
                     (further failures are logged at debug level)"
                );
            }
        }
    }
}

/// The first assignment of a message, to name it in a log line.
fn first_line(message: &str) -> &str {
    message.split('\n').next().unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn notify_socket_path_and_abstract_name() {
        assert_eq!(
            NotifySocket::parse(os("/run/systemd/notify")),
            Ok(NotifySocket::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            NotifySocket::parse(os("@/org/freedesktop/systemd1/notify/123")),
            Ok(NotifySocket::Abstract(
                b"/org/freedesktop/systemd1/notify/123".to_vec()
            ))
        );
        let non_utf8 = OsString::from_vec(b"/run/\xff".to_vec());
        assert_eq!(
            NotifySocket::parse(&non_utf8),
            Ok(NotifySocket::Path(PathBuf::from(non_utf8.clone())))
        );
    }

    #[test]
    fn notify_socket_rejects_what_cannot_be_an_address() {
        assert_eq!(NotifySocket::parse(os("")), Err(SocketError::Empty));
        assert_eq!(NotifySocket::parse(os("@")), Err(SocketError::Empty));
        assert!(matches!(
            NotifySocket::parse(os("run/notify")),
            Err(SocketError::Unsupported(_))
        ));
        assert!(matches!(
            NotifySocket::parse(os("vsock:2:1234")),
            Err(SocketError::Unsupported(_))
        ));
        let long = format!("/{}", "x".repeat(107));
        assert_eq!(
            NotifySocket::parse(os(&long)),
            Err(SocketError::TooLong(108))
        );
        let longest = format!("/{}", "x".repeat(106));
        assert!(NotifySocket::parse(os(&longest)).is_ok());
        let abstract_longest = format!("@{}", "x".repeat(107));
        assert!(NotifySocket::parse(os(&abstract_longest)).is_ok());
        let abstract_long = format!("@{}", "x".repeat(108));
        assert_eq!(
            NotifySocket::parse(os(&abstract_long)),
            Err(SocketError::TooLong(109))
        );
    }

    #[test]
    fn parsed_sockets_make_addresses() {
        let path = NotifySocket::parse(os("/run/systemd/notify")).expect("valid");
        let addr = path.address().expect("path address");
        assert_eq!(
            addr.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        let name = NotifySocket::parse(os("@sol")).expect("valid");
        let addr = name.address().expect("abstract address");
        assert_eq!(addr.as_abstract_name(), Some(&b"sol"[..]));
        assert_eq!(name.to_string(), "@sol");
    }

    #[test]
    fn watchdog_is_half_of_watchdog_usec() {
        assert_eq!(
            watchdog_interval(Some(os("30000000")), None, 42),
            Ok(Some(Duration::from_secs(15)))
        );
        assert_eq!(
            watchdog_interval(Some(os("200000")), Some(os("42")), 42),
            Ok(Some(Duration::from_millis(100)))
        );
        assert_eq!(
            watchdog_interval(Some(os("1")), None, 42),
            Ok(Some(MIN_WATCHDOG_INTERVAL))
        );
        assert_eq!(watchdog_interval(None, Some(os("42")), 42), Ok(None));
    }

    #[test]
    fn watchdog_for_another_process_is_ignored() {
        assert_eq!(
            watchdog_interval(Some(os("200000")), Some(os("43")), 42),
            Ok(None)
        );
    }

    #[test]
    fn watchdog_rejects_malformed_values() {
        for bad in ["", "0", "-5", "1s", " 100", "99999999999999999999999"] {
            assert_eq!(
                watchdog_interval(Some(os(bad)), None, 42),
                Err(WatchdogError::BadUsec(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            watchdog_interval(Some(os("100")), Some(os("x")), 42),
            Err(WatchdogError::BadPid("x".into()))
        );
    }

    #[test]
    fn without_notify_socket_everything_is_a_no_op() {
        let now = Instant::now();
        let mut n = Notifier::from_vars(None, Some(os("200000")), None, 42, now);
        assert!(!n.is_enabled());
        assert_eq!(n.watchdog_deadline(), None);
        n.ready("x");
        n.reloading();
        n.stopping();
        n.poll_watchdog(now);
        let mut bad = Notifier::from_vars(Some(os("relative")), None, None, 42, now);
        assert!(!bad.is_enabled());
        bad.ready("x");
    }

    /// A datagram socket bound in a fresh directory under the temp dir.
    fn receiver(name: &str) -> (UnixDatagram, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sol-notify-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        (socket, dir)
    }

    fn recv(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let (socket, dir) = receiver("path");
        let path = dir.join("notify");
        let now = Instant::now();
        let mut n = Notifier::from_vars(
            Some(path.as_os_str()),
            Some(os("2000000")),
            None,
            std::process::id(),
            now,
        );
        assert!(n.is_enabled());
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(1)));
        n.ready("listening on\n127.0.0.1:1883");
        assert_eq!(recv(&socket), "READY=1\nSTATUS=listening on 127.0.0.1:1883");

        // The first watchdog is due at once, the next one an interval later.
        assert_eq!(n.watchdog_deadline(), Some(now));
        n.poll_watchdog(now);
        assert_eq!(recv(&socket), "WATCHDOG=1");
        assert_eq!(n.watchdog_deadline(), Some(now + Duration::from_secs(1)));
        n.poll_watchdog(now + Duration::from_millis(999));
        n.poll_watchdog(now + Duration::from_secs(1));
        assert_eq!(recv(&socket), "WATCHDOG=1");

        n.reloading();
        let reloading = recv(&socket);
        let usec = reloading
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .and_then(|v| v.parse::<u64>().ok())
            .expect("RELOADING=1 with MONOTONIC_USEC");
        assert!(usec > 0);
        n.stopping();
        assert_eq!(recv(&socket), "STOPPING=1\nSTATUS=stopping");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_socket_is_not_fatal() {
        let mut n = Notifier::from_vars(
            Some(os("/nonexistent/sol/notify")),
            None,
            None,
            42,
            Instant::now(),
        );
        n.ready("x");
        assert!(n.warned);
        n.stopping();
    }

    #[test]
    fn monotonic_usec_follows_instant() {
        let outer = Instant::now();
        let before = monotonic_usec().expect("CLOCK_MONOTONIC");
        let inner = Instant::now();
        while inner.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let inner = inner.elapsed();
        let after = monotonic_usec().expect("CLOCK_MONOTONIC");
        let outer = outer.elapsed();
        // Both read CLOCK_MONOTONIC: the time between the two readings lies between what
        // Instant measured inside and outside them (give or take a microsecond each for
        // the truncation), however slow the calls (as under qemu on a busy machine).
        let us = |d: Duration| u64::try_from(d.as_micros()).expect("small");
        assert!(
            after + 1 >= before + us(inner),
            "{before} -> {after}, {inner:?}"
        );
        assert!(
            after <= before + us(outer) + 1,
            "{before} -> {after}, {outer:?}"
        );
    }
}
