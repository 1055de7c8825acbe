//! Debian's `mosquitto` broker as a child process, for tests of Sol beside a real
//! Mosquitto (a Mosquitto bridge into Sol, Sol's bridge to a Mosquitto). It listens on a
//! free loopback port and logs everything to stderr, which a thread reads line by line so
//! that every wait for a line is bounded by [`TIMEOUT`]; killed on drop.
//!
//! Mosquitto 2.0 cannot be told port 0 (`listener 0` is a Unix socket named by the
//! address), so the port is one the kernel just handed out for a socket that was closed
//! again; if another process takes it in between, Mosquitto says "Address already in use"
//! and the start is retried on another.

use super::TIMEOUT;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};

/// A running `mosquitto -c FILE`; killed (and reaped) on drop, its directory removed.
pub struct Mosquitto {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process.
    child: Child,
    /// Its stderr, line by line.
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    /// The directory of its configuration file.
    dir: PathBuf,
}

/// The broker binary: Debian installs it in `/usr/sbin`, which a non-root `PATH` may lack.
fn binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/mosquitto");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("mosquitto")
    }
}

impl Mosquitto {
    /// Starts Mosquitto with a listener on a free loopback port, anonymous clients allowed,
    /// every log type on stderr, then `config` (a file in a fresh directory named after
    /// `tag`); returns once it says it is running.
    pub fn start(tag: &str, config: &str) -> Mosquitto {
        let dir = std::env::temp_dir().join(format!("sol-mosquitto-{tag}-{}", std::process::id()));
        let file = dir.join("mosquitto.conf");
        for _ in 0..5 {
            // Made again on each try: dropping a failed try removes it.
            std::fs::create_dir_all(&dir).expect("temp dir");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            std::fs::write(
                &file,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\n\
                     log_dest stderr\nlog_type all\n{config}"
                ),
            )
            .expect("write mosquitto.conf");
            let child = Command::new(binary())
                .arg("-c")
                .arg(&file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {}: {e}. Install Debian's package mosquitto \
                         (.ci/run does)",
                        binary().display()
                    )
                });
            let mut m = Mosquitto::reading(child, port, dir.clone());
            match m.wait_line(" running") {
                Ok(_) => return m,
                Err(_) if m.seen.iter().any(|l| l.contains("Address already in use")) => {}
                Err(e) => panic!("mosquitto did not start ({e}); it said:\n{}", m.said()),
            }
        }
        panic!("mosquitto found no free port in 5 tries");
    }

    /// A Mosquitto whose stderr a thread forwards line by line.
    fn reading(mut child: Child, port: u16, dir: PathBuf) -> Mosquitto {
        let lines = super::process::stderr_lines(&mut child);
        Mosquitto {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            lines,
            seen: Vec::new(),
            dir,
        }
    }

    /// Waits (bounded) for a log line containing `text`; the line, or why there is none
    /// (timed out, or Mosquitto ended).
    fn wait_line(&mut self, text: &str) -> Result<String, RecvTimeoutError> {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left)?;
            self.seen.push(line.clone());
            if line.contains(text) {
                return Ok(line);
            }
        }
    }

    /// Waits (bounded) for a log line containing `text`; returns it.
    pub fn expect_line(&mut self, text: &str) -> String {
        self.wait_line(text).unwrap_or_else(|e| {
            panic!(
                "no line containing {text:?} from mosquitto ({e}); it said:\n{}",
                self.said()
            )
        })
    }

    /// Every line it logged up to now (those read, and those waiting), without waiting.
    pub fn logged(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Sends it `signal` (`SIGSTOP` makes a silent upstream whose kernel still takes
    /// bytes: a half-open connection; `SIGCONT` brings it back).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        nix::sys::signal::kill(pid, signal).expect("signal mosquitto");
    }

    /// Everything it logged so far.
    fn said(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
