//! The `sol` binary as a child process, for tests that need a real process: signals
//! (`SIGKILL` mid-write), privileges, restarts. Its stderr is read line by line by a
//! thread, so every wait for a log line is bounded by [`TIMEOUT`]; killed on drop. The
//! aedes cluster's `redis-server` and nodes run as these too (`aedes.rs`).

use super::TIMEOUT;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;

/// A running `sol -c CONFIG`; killed (and reaped) on drop.
pub struct SolProcess {
    /// The process.
    pub child: Child,
    /// Its stderr, line by line.
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl SolProcess {
    /// Starts the binary with the configuration file at `config`.
    pub fn start(config: &Path) -> SolProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sol"));
        command.arg("-c").arg(config);
        SolProcess::spawn(command)
    }

    /// Runs `command`, which runs the binary (perhaps through a wrapper whose stderr is
    /// the broker's).
    pub fn spawn(command: Command) -> SolProcess {
        SolProcess::spawn_with_stdout(command, Stdio::null())
    }

    /// As [`SolProcess::spawn`], with the broker's stdout going to `stdout` (with
    /// `Stdio::piped()`, `child.stdout` is the pipe's read end).
    pub fn spawn_with_stdout(mut command: Command, stdout: Stdio) -> SolProcess {
        let mut child = command
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sol");
        let lines = stderr_lines(&mut child);
        SolProcess {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `text`; returns it.
    pub fn expect_line(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line containing {text:?} from sol ({e}); it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits until it listens on TCP; the address (from its "listening on" line).
    pub fn tcp_addr(&mut self) -> SocketAddr {
        let line = self.expect_line("listening on ");
        let addr = line.rsplit("listening on ").next().unwrap_or_default();
        // "ADDR" or "ADDR (WebSockets)".
        let addr = addr.split_whitespace().next().unwrap_or_default();
        addr.parse().expect("a socket address")
    }

    /// Sends `signal` and waits (bounded) for the process to end; its exit status.
    pub fn signal_and_wait(&mut self, signal: nix::sys::signal::Signal) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        nix::sys::signal::kill(pid, signal).expect("signal sol");
        self.wait_end()
    }

    /// Waits (bounded) for the process to end; its exit status.
    pub fn wait_end(&mut self) -> ExitStatus {
        // Its stderr closes when it ends: read to the end (bounded), then reap.
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("sol did not end; it said:\n{}", self.seen.join("\n"))
                }
            }
        }
        self.child.wait().expect("reap sol")
    }

    /// The real user id of the process, from /proc.
    pub fn uid(&self) -> u32 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .expect("Uid line");
        line.split_whitespace()
            .nth(1)
            .and_then(|u| u.parse().ok())
            .expect("uid")
    }
}

/// The lines of `child`'s piped stderr, forwarded by a thread as they come.
pub(super) fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

impl Drop for SolProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
