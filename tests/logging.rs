//! Logging like Mosquitto, through the real `sol` binary and real sockets: a stdout that
//! nobody reads does not stop the broker, the log file follows logrotate on SIGHUP,
//! `connection_messages` (and its reload) decides the connection lines,
//! `$SYS/broker/log/#` carries the log, and `log_timestamp_format` shapes the lines.

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A temporary directory with a `sol.conf`; removed on drop.
struct Site {
    /// The directory.
    dir: PathBuf,
    /// The configuration file in it.
    config: PathBuf,
}

impl Site {
    /// A site whose configuration is `text` with `{dir}` replaced by the directory.
    fn new(tag: &str, text: &str) -> Site {
        let dir = shared_temp_dir(&format!("logging-{tag}"));
        let config = dir.join("sol.conf");
        let text = text.replace("{dir}", &dir.display().to_string());
        std::fs::write(&config, text).expect("write the config");
        Site { dir, config }
    }

    /// A command running the broker on this site's configuration.
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sol"));
        command.arg("-c").arg(&self.config);
        command
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Connects `id`, subscribes it to `filter` at `qos`, and returns the connection.
fn subscriber(addr: SocketAddr, id: &str, filter: &str, qos: u8) -> std::net::TcpStream {
    let mut s = handshake(addr, id);
    send(&mut s, &subscribe(1, filter, qos));
    assert_eq!(read_packet(&mut s), suback(1, qos));
    s
}

/// Sends SIGHUP to the broker.
fn sighup(sol: &SolProcess) {
    let pid = Pid::from_raw(i32::try_from(sol.child.id()).expect("a pid"));
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
}

#[test]
fn a_stdout_nobody_reads_does_not_stop_the_broker() {
    // stderr is read (it says when the broker listens); stdout is a pipe kept open and
    // never read until the end, as when a container's log reader stalls.
    let site = Site::new(
        "stdout",
        "listener 0 127.0.0.1\nallow_anonymous true\nlog_dest stdout\nlog_dest stderr\n\
         log_type all\nconnection_messages true\nsys_interval 1\n",
    );
    let mut sol = SolProcess::spawn_with_stdout(site.command(), Stdio::piped());
    let stdout = sol.child.stdout.take().expect("piped stdout");
    let addr = sol.tcp_addr();

    // Each client logs its connection, subscription and disconnection, and debug lines
    // for its packets: far more than a pipe's 64 KiB and the broker's buffer.
    for i in 0..1500 {
        let mut c = subscriber(addr, &format!("client-{i}"), "load/+", 0);
        send(&mut c, &DISCONNECT);
    }

    // The lines stdout could not take are counted, and the count is visible.
    let mut watcher = sys_watcher(addr, "watcher", "$SYS/broker/sol/log/dropped");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "no log lines counted as dropped");
        let update = parse_publish(&read_packet(&mut watcher));
        let dropped: u64 = String::from_utf8_lossy(&update.payload)
            .parse()
            .expect("a count");
        if dropped > 0 {
            break;
        }
    }

    // With stdout still stalled, clients are served: a QoS 1 round trip completes.
    let started = Instant::now();
    let mut sub = subscriber(addr, "sub", "still/served", 1);
    let mut publisher = handshake(addr, "pub");
    send(
        &mut publisher,
        &publish("still/served", b"yes", 1, Some(7), false),
    );
    assert_eq!(read_packet(&mut publisher), ack(0x40, 7));
    let got = parse_publish(&read_packet(&mut sub));
    assert_eq!(
        (got.topic.as_str(), got.payload.as_slice()),
        ("still/served", &b"yes"[..])
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served, but slowly"
    );

    // Once the pipe is drained, stdout says how many lines it lost.
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("a notice of dropped lines on stdout");
        if line.contains("log lines dropped: stdout was not being read") {
            break;
        }
    }
}

#[test]
fn the_log_file_is_reopened_on_sighup_after_logrotate() {
    let site = Site::new(
        "file",
        "listener 0 127.0.0.1\nallow_anonymous true\nlog_dest file {dir}/sol.log\n\
         log_dest stderr\n",
    );
    let log = site.dir.join("sol.log");
    let rotated = site.dir.join("sol.log.1");
    let mut sol = SolProcess::spawn(site.command());
    let addr = sol.tcp_addr();
    let before = handshake(addr, "before-rotation");
    sol.expect_line("client before-rotation connected");

    // What logrotate does: rename, then SIGHUP (Debian's postrotate).
    std::fs::rename(&log, &rotated).expect("rotate");
    sighup(&sol);
    sol.expect_line("configuration reloaded");
    let after = handshake(addr, "after-rotation");
    sol.expect_line("client after-rotation connected");
    drop((before, after));

    // A clean stop writes what the file's writer still holds.
    assert!(sol.signal_and_wait(Signal::SIGTERM).success());
    let read = |p: &Path| std::fs::read_to_string(p).expect("read a log file");
    let (old, new) = (read(&rotated), read(&log));
    assert!(old.contains("client before-rotation connected"), "{old}");
    assert!(!old.contains("after-rotation"), "{old}");
    assert!(new.contains("client after-rotation connected"), "{new}");
    assert!(!new.contains("before-rotation connected"), "{new}");
}

#[test]
fn connection_messages_false_keeps_connection_lines_out_until_a_reload_turns_them_on() {
    let text = |on: bool| {
        format!(
            "listener 0 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n\
             connection_messages {on}\n"
        )
    };
    let site = Site::new("connection-messages", &text(false));
    let mut sol = SolProcess::spawn(site.command());
    let addr = sol.tcp_addr();
    // Its CONNACK came back: the broker has admitted it (and would have logged it).
    let quiet = handshake(addr, "quiet-client");
    std::fs::write(&site.config, text(true)).expect("rewrite the config");
    sighup(&sol);
    // Lines are written in the order they are logged: one for the quiet client would
    // come before this one.
    sol.expect_line("configuration reloaded");
    let said: Vec<&String> = sol
        .seen
        .iter()
        .filter(|l| l.contains("quiet-client"))
        .collect();
    assert!(said.is_empty(), "connection_messages false, yet: {said:?}");
    let loud = handshake(addr, "loud-client");
    sol.expect_line("client loud-client connected");
    drop((quiet, loud));
}

#[test]
fn sys_broker_log_topics_carry_connection_lines() {
    let site = Site::new(
        "topic",
        "listener 0 127.0.0.1\nallow_anonymous true\nlog_dest topic\nlog_dest stderr\n",
    );
    let mut sol = SolProcess::spawn(site.command());
    let addr = sol.tcp_addr();
    let mut watcher = subscriber(addr, "log-watcher", "$SYS/broker/log/#", 1);
    let _other = handshake(addr, "other-client");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no connection line on $SYS/broker/log/N"
        );
        let p = read_packet(&mut watcher);
        let got = parse_publish(&p);
        if let Some(id) = got.packet_id {
            send(&mut watcher, &ack(0x40, id));
        }
        let text = String::from_utf8_lossy(&got.payload).into_owned();
        if text.contains("client other-client connected") {
            assert_eq!(got.topic, "$SYS/broker/log/N");
            // Published at QoS 2 as Mosquitto does, delivered at the granted QoS 1.
            assert_eq!(got.qos, 1);
            assert!(!got.retain);
            // "SECONDS: message", as the other destinations write it.
            let (stamp, _) = text.split_once(": ").expect("a stamped line");
            assert!(stamp.parse::<u64>().is_ok(), "{text}");
            break;
        }
    }
}

#[test]
fn log_timestamp_format_shapes_the_lines() {
    let site = Site::new(
        "stamp",
        "listener 0 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S\n",
    );
    let mut command = site.command();
    command.env("TZ", "UTC");
    let mut sol = SolProcess::spawn(command);
    let line = sol.expect_line("listening on ");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    // "2026-12-06T10:18:42: listening on 127.0.0.1:PORT"
    let (stamp, rest) = line.split_once(": ").expect("a stamped line");
    assert!(rest.starts_with("listening on "), "{line}");
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { 'D' } else { c })
        .collect();
    assert_eq!(shape, "DDDD-DD-DDTDD:DD:DD", "{line}");
    // The time of day is UTC's now (TZ=UTC), within a minute.
    let secs_of_day = |h: &str, m: &str, s: &str| -> i64 {
        let n = |t: &str| t.parse::<i64>().expect("a number");
        n(h) * 3600 + n(m) * 60 + n(s)
    };
    let logged = secs_of_day(&stamp[11..13], &stamp[14..16], &stamp[17..19]);
    let expected = i64::try_from(now % 86_400).expect("small");
    let diff = (logged - expected).rem_euclid(86_400);
    assert!(diff.min(86_400 - diff) <= 60, "{line} at {now}");
}
