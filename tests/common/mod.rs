//! Test harness: a [`sol::net::Server`] on a thread ([`server`]), hand-written MQTT 3.1.1
//! packets, and the broker's log lines in the test's captured output; an aedes cluster as
//! the bridge tests' upstream ([`aedes`]).
//!
//! The packets here are spelled out byte by byte from the specification on purpose, not
//! built with `sol::codec`: these tests check the broker over a real socket against an
//! oracle that shares no code with it (a bug common to the codec's encoder and decoder
//! would pass a test written with the codec). Everything that produces packets for the
//! broker in normal operation (the core, the load generator, the fuzzer, the core's
//! packet-by-packet harness) uses the one encoder in `sol::codec`; the other oracles are
//! real clients (rumqttc, paho-mqtt, `mosquitto_pub`/`mosquitto_sub`).
//!
//! Every socket gets a [`TIMEOUT`] on reads and writes so a broken broker fails a test
//! instead of hanging it; waits are bounded, never sleeps.

#![allow(dead_code)] // each test file uses a different part of the harness

mod aedes;
pub mod bridge;
mod client;
mod mosquitto;
mod ports;
mod process;
mod server;

#[allow(unused_imports)] // used by the tests that need a clustered upstream
pub use aedes::AedesCluster;
#[allow(unused_imports)] // the type is named only by some test files
pub use client::{client, client_with, TestClient};
#[allow(unused_imports)] // used by the tests beside a real Mosquitto
pub use mosquitto::Mosquitto;
#[allow(unused_imports)] // used by the tests that start a server on a port they chose
pub use ports::{reserve_addr, reserve_port, Reserved, ReservedPort};
#[allow(unused_imports)] // used by the tests that need a process of their own
pub use process::SolProcess;
pub use server::{Running, TIMEOUT};
use sol::config::Config;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Once;

/// Starts a server on `Config::loopback(0)` after `configure` adjusted it; its log lines
/// go to the test's output ([`capture_logs`]).
pub fn start(configure: impl FnOnce(&mut Config)) -> Running {
    capture_logs();
    server::start(configure)
}

/// Starts a server with `config`; its log lines go to the test's output
/// ([`capture_logs`]).
pub fn start_with(config: Config) -> Running {
    capture_logs();
    server::start_with(config)
}

/// Routes the broker's log records to `eprintln!`, which the test harness captures per
/// test (the reactor thread inherits its test's capture) and prints only for a failing
/// test or with `--nocapture`. Without it, the first reload would install the broker's own
/// backend, which writes to the process's stderr and fills passing runs with log lines.
pub fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if log::set_logger(&CapturedLog).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    });
}

/// See [`capture_logs`]. A reload changes only the maximum level (`sol::log::reconfigure`
/// keeps a logger it did not install).
struct CapturedLog;

impl log::Log for CapturedLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        eprintln!("sol {}: {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

/// A TCP connection with timeouts and `TCP_NODELAY`.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// A connected MQTT client: CONNECT sent, CONNACK 0 received.
pub fn handshake(addr: SocketAddr, client_id: &str) -> TcpStream {
    let mut s = tcp(addr);
    s.write_all(&connect(client_id, 60, true)).expect("write");
    assert_eq!(read_packet(&mut s), CONNACK_OK);
    s
}

/// CONNACK, session not present, accepted.
pub const CONNACK_OK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
/// PINGREQ.
pub const PINGREQ: [u8; 2] = [0xc0, 0x00];
/// PINGRESP.
pub const PINGRESP: [u8; 2] = [0xd0, 0x00];
/// DISCONNECT.
pub const DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// Appends a remaining-length field [MQTT-2.2.3].
pub fn remaining_len(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

/// A packet with first byte `first` and `body`.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![first];
    remaining_len(body.len(), &mut p);
    p.extend_from_slice(body);
    p
}

/// A UTF-8 string field: 2-byte length and bytes.
pub fn string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// A will for [`connect_full`]: topic, payload, QoS, retain.
pub type Will<'a> = (&'a str, &'a [u8], u8, bool);

/// CONNECT, MQTT 3.1.1, no will, no credentials.
pub fn connect(client_id: &str, keep_alive: u16, clean: bool) -> Vec<u8> {
    connect_full(4, client_id, keep_alive, clean, None)
}

/// CONNECT with protocol name `MQTT` and protocol `level`.
pub fn connect_full(
    level: u8,
    client_id: &str,
    keep_alive: u16,
    clean: bool,
    will: Option<Will<'_>>,
) -> Vec<u8> {
    let mut flags = 0u8;
    if clean {
        flags |= 0x02;
    }
    if let Some((_, _, qos, retain)) = will {
        flags |= 0x04 | (qos << 3) | if retain { 0x20 } else { 0 };
    }
    let mut body = string(b"MQTT");
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    body.extend(string(client_id.as_bytes()));
    if let Some((topic, payload, _, _)) = will {
        body.extend(string(topic.as_bytes()));
        body.extend(string(payload));
    }
    packet(0x10, &body)
}

/// CONNECT (MQTT 3.1.1, clean session, keep-alive 60) with a username and password.
pub fn login(client_id: &str, user: &str, password: &str) -> Vec<u8> {
    let mut body = string(b"MQTT");
    body.push(4);
    body.push(0xc2); // username, password, clean session
    body.extend_from_slice(&60u16.to_be_bytes());
    body.extend(string(client_id.as_bytes()));
    body.extend(string(user.as_bytes()));
    body.extend(string(password.as_bytes()));
    packet(0x10, &body)
}

/// SUBSCRIBE to one filter.
pub fn subscribe(packet_id: u16, filter: &str, qos: u8) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    body.extend(string(filter.as_bytes()));
    body.push(qos);
    packet(0x82, &body)
}

/// SUBACK granting `qos` for one filter.
pub fn suback(packet_id: u16, qos: u8) -> Vec<u8> {
    let id = packet_id.to_be_bytes();
    vec![0x90, 0x03, id[0], id[1], qos]
}

/// PUBLISH; `packet_id` must be `Some` iff `qos > 0`.
pub fn publish(
    topic: &str,
    payload: &[u8],
    qos: u8,
    packet_id: Option<u16>,
    retain: bool,
) -> Vec<u8> {
    let mut body = string(topic.as_bytes());
    if let Some(id) = packet_id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1) | u8::from(retain), &body)
}

/// A 2-byte-body acknowledgment: `0x40` PUBACK, `0x50` PUBREC, `0x62` PUBREL, `0x70`
/// PUBCOMP, `0xb0` UNSUBACK.
pub fn ack(first: u8, packet_id: u16) -> Vec<u8> {
    let id = packet_id.to_be_bytes();
    vec![first, 0x02, id[0], id[1]]
}

/// Reads one whole packet; panics on EOF, error or timeout.
pub fn read_packet(stream: &mut impl Read) -> Vec<u8> {
    let mut p = vec![0u8; 1];
    stream
        .read_exact(&mut p)
        .expect("a packet (not EOF, not timeout)");
    let mut len = 0usize;
    for i in 0..4 {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).expect("remaining length");
        p.push(b[0]);
        len |= usize::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let start = p.len();
    p.resize(start + len, 0);
    stream.read_exact(&mut p[start..]).expect("packet body");
    p
}

/// Waits until the server closes the connection; returns the bytes it sent before.
/// Panics if it is still open after [`TIMEOUT`].
pub fn expect_closed(stream: &mut impl Read) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("connection not closed by the server: {e}"),
        }
    }
}

/// A PUBLISH as received.
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    /// QoS.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name.
    pub topic: String,
    /// Packet id (QoS > 0).
    pub packet_id: Option<u16>,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Parses a whole PUBLISH packet read with [`read_packet`].
pub fn parse_publish(p: &[u8]) -> Received {
    assert_eq!(p[0] >> 4, 3, "expected PUBLISH, got {p:02x?}");
    let qos = (p[0] >> 1) & 3;
    let mut i = 1;
    while p[i] & 0x80 != 0 {
        i += 1;
    }
    i += 1;
    let tlen = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
    let topic = String::from_utf8(p[i + 2..i + 2 + tlen].to_vec()).expect("UTF-8 topic");
    i += 2 + tlen;
    let packet_id = (qos > 0).then(|| {
        let id = u16::from_be_bytes([p[i], p[i + 1]]);
        i += 2;
        id
    });
    Received {
        qos,
        retain: p[0] & 1 == 1,
        topic,
        packet_id,
        payload: p[i..].to_vec(),
    }
}

/// A socket path in the temp directory, unique per process and `tag`.
pub fn temp_socket_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sol-test-{tag}-{}.sock", std::process::id()))
}

/// A fresh, empty directory in the temp directory, unique per process and `tag`, that
/// anyone may write to: started as root, the broker runs as another user and must be able
/// to create files there (its store, a new log file after a rotation).
pub fn shared_temp_dir(tag: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sol-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Writes all of `bytes`.
pub fn send(stream: &mut impl Write, bytes: &[u8]) {
    stream.write_all(bytes).expect("write");
}

/// A client subscribed (QoS 0) to one `$SYS` topic, e.g. `$SYS/broker/sol/clients/slow`;
/// the server needs a non-zero `sys_interval`.
pub fn sys_watcher(addr: SocketAddr, client_id: &str, topic: &str) -> TcpStream {
    let mut s = handshake(addr, client_id);
    send(&mut s, &subscribe(1, topic, 0));
    assert_eq!(read_packet(&mut s), suback(1, 0));
    s
}

/// Reads the `$SYS` updates a [`sys_watcher`] receives (the retained value, then each
/// change, checked every `sys_interval`) until one carries `value`. The whole wait is
/// bounded by [`TIMEOUT`], not only each read.
pub fn wait_for_sys(watcher: &mut TcpStream, value: &str) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut last = None;
    while std::time::Instant::now() < deadline {
        let p = parse_publish(&read_packet(watcher));
        if p.payload == value.as_bytes() {
            return;
        }
        last = Some(p);
    }
    panic!("$SYS never said {value:?} within {TIMEOUT:?}; last update: {last:?}");
}

/// Bytes that are sure to be more than the kernel buffers of a loopback connection whose
/// receiver stopped reading can hold (the largest receive buffer plus the largest send
/// buffer, from `/proc/sys/net/ipv4/tcp_rmem` and `tcp_wmem`, plus 1 MiB): writing more to
/// a subscriber that never reads leaves the broker with output it cannot send.
pub fn more_than_socket_buffers() -> usize {
    let max = |file: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{file}"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(2)?.parse::<usize>().ok())
            // Not Linux's /proc: a size larger than any default.
            .unwrap_or(32 << 20)
    };
    max("tcp_rmem") + max("tcp_wmem") + (1 << 20)
}

/// The Python with paho-mqtt 2 (the scripts use its VERSION2 callbacks):
/// `SOL_TEST_PYTHON` (CI: its venv), else the README's venv `.venv/bin/python`, else
/// `python3`. Panics, saying what to install, when that Python has no paho-mqtt 2.
pub fn paho_python() -> String {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let python = std::env::var("SOL_TEST_PYTHON").unwrap_or_else(|_| {
        if venv.exists() {
            venv.display().to_string()
        } else {
            "python3".into()
        }
    });
    let has_paho = std::process::Command::new(&python)
        .args([
            "-c",
            "import paho.mqtt.client as m; m.CallbackAPIVersion.VERSION2",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_paho,
        "{python} has no paho-mqtt 2: `python3 -m venv .venv && .venv/bin/pip install \
         paho-mqtt` in the repository (README, Quick start), or set SOL_TEST_PYTHON"
    );
    python
}
