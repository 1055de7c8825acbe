//! The null broker over real sockets: it has no queue, so a subscriber whose socket does
//! not take a whole write is closed, and the broker goes on serving everyone else (the
//! behaviour `docs/performance.md` relies on when a flood outruns the floor's subscriber).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Every read and write here gives up after this long: a broken broker fails the test.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The null broker as a child process, killed on drop; its configuration's directory
/// removed.
struct NullBroker {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl NullBroker {
    /// Starts it on a port the system picks (`listener 0 127.0.0.1`) and reads the port
    /// from its `listening on` line.
    fn start() -> NullBroker {
        let dir = std::env::temp_dir().join(format!("null-broker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let conf = dir.join("null.conf");
        std::fs::write(&conf, "listener 0 127.0.0.1\n").expect("write conf");
        let mut child = Command::new(env!("CARGO_BIN_EXE_null-broker"))
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn null-broker");
        let mut line = String::new();
        let stderr = child.stderr.take().expect("stderr");
        BufReader::new(stderr).read_line(&mut line).expect("read");
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
        NullBroker { child, dir, port }
    }

    /// A client connected with client id `id`, its CONNACK read.
    fn connect(&self, id: u8) -> TcpStream {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
        // CONNECT: MQTT 3.1.1, clean session, keep-alive 60, a one-byte client id.
        s.write_all(&[
            0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 1, id,
        ])
        .expect("CONNECT");
        assert_eq!(read_n(&mut s, 4), [0x20, 0x02, 0, 0], "CONNACK");
        s
    }
}

impl Drop for NullBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fixes `s`'s receive buffer at 128 KiB (the kernel doubles it): no autotuning from now on.
fn small_receive_buffer(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 128 * 1024;
    // SAFETY: a valid socket descriptor and a c_int option value of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF: {}", io::Error::last_os_error());
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).expect("read");
    buf
}

/// A QoS 0 PUBLISH to `t` with `payload_len` bytes of payload.
fn publish(payload_len: usize) -> Vec<u8> {
    let mut packet = vec![0x30];
    let mut remaining = 3 + payload_len;
    loop {
        let byte = (remaining % 128) as u8;
        remaining /= 128;
        packet.push(if remaining > 0 { byte | 0x80 } else { byte });
        if remaining == 0 {
            break;
        }
    }
    packet.extend([0, 1, b't']);
    packet.resize(packet.len() + payload_len, b'x');
    packet
}

#[test]
fn a_subscriber_that_does_not_take_a_whole_write_is_closed_and_the_rest_go_on() {
    let broker = NullBroker::start();
    let mut subscriber = broker.connect(b's');
    // Its receive buffer fixed (the kernel would otherwise grow it to tens of
    // megabytes), so the 60 MB below overrun it and the broker's send buffer (4 MiB at
    // most here) many times over.
    small_receive_buffer(&subscriber);
    // SUBSCRIBE id 1: "t" at QoS 0; SUBACK granting 0.
    subscriber
        .write_all(&[0x82, 0x06, 0, 1, 0, 1, b't', 0])
        .expect("SUBSCRIBE");
    assert_eq!(read_n(&mut subscriber, 5), [0x90, 0x03, 0, 1, 0], "SUBACK");

    // 60 MB at a subscriber that reads nothing: far more than its socket's buffers take.
    // In rounds of 600 KB, each followed by a PINGREQ whose PINGRESP the publisher waits
    // for: the broker answers a PINGREQ as it reads it and writes a turn's PUBLISHes at
    // the turn's end, so one round is written to the subscriber before the broker reads
    // far into the next. In one piece, the 60 MB could all be read in one turn, answered
    // at once and written in one write while the test already reads the subscriber below,
    // which then takes it all (CI saw that once).
    let mut publisher = broker.connect(b'p');
    let packet = publish(60_000);
    for _ in 0..100 {
        for _ in 0..10 {
            publisher
                .write_all(&packet)
                .expect("the publisher is read all along");
        }
        publisher.write_all(&[0xC0, 0x00]).expect("PINGREQ");
        assert_eq!(read_n(&mut publisher, 2), [0xD0, 0x00], "PINGRESP");
    }

    // The subscriber gets what its socket held, then the end of the connection.
    let mut received = 0usize;
    let mut buf = vec![0; 64 * 1024];
    let ended = loop {
        match subscriber.read(&mut buf) {
            Ok(0) => break "closed",
            Ok(n) => received += n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break "reset",
            Err(e) => panic!("the subscriber's connection did not end: {e} after {received} bytes"),
        }
    };
    assert!(
        received < 1_000 * packet.len(),
        "{ended} after {received} bytes: cut short, not delivered whole"
    );
    assert!(received > 0, "the writes before the short one arrived");

    // Still serving: a new subscriber gets what is published next.
    let mut second = broker.connect(b'2');
    second
        .write_all(&[0x82, 0x06, 0, 2, 0, 1, b't', 0])
        .expect("SUBSCRIBE");
    assert_eq!(read_n(&mut second, 5), [0x90, 0x03, 0, 2, 0], "SUBACK");
    let small = publish(5);
    publisher.write_all(&small).expect("PUBLISH");
    assert_eq!(
        read_n(&mut second, small.len()),
        small,
        "passed on as it came"
    );
}
