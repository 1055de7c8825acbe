//! The `sol` binary talks to systemd: readiness, watchdog pets, reload and stop arrive on
//! the socket named by `NOTIFY_SOCKET`, here a datagram socket the test binds in place of
//! the service manager.
//!
//! Every wait is bounded ([`TIMEOUT`] on each receive and on the exit); nothing sleeps. A
//! broker left running by a failed assertion is killed on drop, and its stderr printed.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest any single wait may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh directory for one test's files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sol-systemd-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The broker process; killed on drop if it still runs, its stderr printed on failure.
struct Broker {
    /// `None` once waited for.
    child: Option<Child>,
    /// Where its stderr goes.
    log: PathBuf,
}

impl Broker {
    /// Starts `sol -c DIR/sol.conf` on an ephemeral loopback port with `NOTIFY_SOCKET` and
    /// the watchdog variables as given (anything the test runner had is removed).
    fn start(dir: &Path, notify_socket: &OsStr, watchdog_usec: Option<&str>) -> Broker {
        let config = dir.join("sol.conf");
        std::fs::write(&config, "listener 0 127.0.0.1\nallow_anonymous true\n")
            .expect("write the config");
        let log = dir.join("stderr.log");
        let stderr = std::fs::File::create(&log).expect("create the log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_sol"));
        command
            .arg("-c")
            .arg(&config)
            .env("NOTIFY_SOCKET", notify_socket)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(usec) = watchdog_usec {
            command.env("WATCHDOG_USEC", usec);
        }
        let child = command.spawn().expect("start sol");
        Broker {
            child: Some(child),
            log,
        }
    }

    fn pid(&self) -> Pid {
        let child = self.child.as_ref().expect("still running");
        Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"))
    }

    fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("send the signal");
    }

    /// Waits (at most [`TIMEOUT`]) for the process to exit.
    fn wait(&mut self) -> ExitStatus {
        let pid = self.pid();
        let mut child = self.child.take().expect("still running");
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(TIMEOUT) {
            Ok(status) => {
                let _ = waiter.join();
                status.expect("wait for sol")
            }
            Err(_) => {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waiter.join();
                panic!("sol did not exit within {TIMEOUT:?}");
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(&self.log) {
                eprintln!("--- sol's stderr ---\n{log}--- end ---");
            }
        }
    }
}

/// The service manager's end: receives notifications.
struct Manager {
    socket: UnixDatagram,
    /// `WATCHDOG=1` messages seen so far (including those skipped by [`Manager::next`]).
    watchdogs: usize,
}

impl Manager {
    fn new(socket: UnixDatagram) -> Manager {
        socket
            .set_read_timeout(Some(TIMEOUT))
            .expect("set the receive timeout");
        Manager {
            socket,
            watchdogs: 0,
        }
    }

    /// The next datagram, whatever it is.
    fn recv(&mut self) -> String {
        let mut buf = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification within {TIMEOUT:?}: {e}"));
        let message = String::from_utf8(buf[..n].to_vec()).expect("notifications are UTF-8");
        if message == "WATCHDOG=1" {
            self.watchdogs += 1;
        }
        message
    }

    /// The next datagram that is not `WATCHDOG=1`.
    fn next(&mut self) -> String {
        loop {
            let message = self.recv();
            if message != "WATCHDOG=1" {
                return message;
            }
        }
    }
}

/// The value of `key` in a notification.
fn field<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    message
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn ready_watchdog_reload_and_stop_reach_the_notify_socket() {
    let dir = TempDir::new("path");
    let socket_path = dir.path().join("notify");
    let mut manager = Manager::new(UnixDatagram::bind(&socket_path).expect("bind"));
    // Writable by all, like systemd's /run/systemd/notify: started as root, the broker
    // switches to an unprivileged user before it reports readiness.
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o777))
        .expect("chmod the socket");
    let mut broker = Broker::start(dir.path(), socket_path.as_os_str(), Some("200000"));

    let ready = manager.recv();
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready:?}");
    let status = field(&ready, "STATUS").expect("a status with READY=1");
    assert!(status.starts_with("listening on 127.0.0.1:"), "{status:?}");

    // WATCHDOG_USEC 200 ms: a pet every 100 ms from the idle reactor.
    while manager.watchdogs < 2 {
        let message = manager.recv();
        assert_eq!(message, "WATCHDOG=1");
    }

    broker.signal(Signal::SIGHUP);
    let reloading = manager.next();
    assert_eq!(field(&reloading, "RELOADING"), Some("1"), "{reloading:?}");
    let usec = field(&reloading, "MONOTONIC_USEC").expect("MONOTONIC_USEC with RELOADING=1");
    assert!(usec.parse::<u64>().is_ok_and(|n| n > 0), "{usec:?}");
    let ready = manager.next();
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready:?}");
    assert!(
        field(&ready, "STATUS").is_some_and(|s| s.starts_with("listening on ")),
        "{ready:?}"
    );

    // A broken file: still READY again, and the status says the reload failed.
    std::fs::write(
        dir.path().join("sol.conf"),
        "listener 0 127.0.0.1\nbogus_key 1\n",
    )
    .expect("rewrite the config");
    broker.signal(Signal::SIGHUP);
    assert_eq!(field(&manager.next(), "RELOADING"), Some("1"));
    let ready = manager.next();
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready:?}");
    assert!(
        field(&ready, "STATUS").is_some_and(|s| s.contains("reload failed")),
        "{ready:?}"
    );

    // The watchdog keeps going after reloads.
    let seen = manager.watchdogs;
    while manager.watchdogs < seen + 1 {
        manager.recv();
    }

    broker.signal(Signal::SIGTERM);
    let stopping = manager.next();
    assert_eq!(field(&stopping, "STOPPING"), Some("1"), "{stopping:?}");
    let status = broker.wait();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn abstract_notify_socket_and_no_watchdog() {
    let dir = TempDir::new("abstract");
    let name = format!("sol-test-{}-notify", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    let mut manager = Manager::new(UnixDatagram::bind_addr(&addr).expect("bind"));
    let mut broker = Broker::start(dir.path(), OsStr::new(&format!("@{name}")), None);

    let ready = manager.recv();
    assert_eq!(field(&ready, "READY"), Some("1"), "{ready:?}");

    // Without WATCHDOG_USEC nothing is petted: the next message is the stop.
    broker.signal(Signal::SIGTERM);
    let stopping = manager.recv();
    assert_eq!(field(&stopping, "STOPPING"), Some("1"), "{stopping:?}");
    assert_eq!(manager.watchdogs, 0);
    let status = broker.wait();
    assert_eq!(status.code(), Some(0), "{status:?}");
}
