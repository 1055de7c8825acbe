//! Running out of file descriptors must neither wedge nor spin the accept loop.
//!
//! Its own test binary (so its own process): it lowers `RLIMIT_NOFILE` for good.

mod common;

use common::*;
use nix::errno::Errno;
use nix::sys::resource::{getrusage, setrlimit, Resource, Usage, UsageWho};
use nix::sys::time::TimeValLike;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// CPU time used by the whole process so far, in microseconds.
fn cpu_micros(u: &Usage) -> i64 {
    u.user_time().num_microseconds() + u.system_time().num_microseconds()
}

/// What became of one connection attempt.
enum Attempt {
    /// This process had no descriptor left for the client's socket.
    NoDescriptor,
    /// The server accepted the connection and answered its CONNECT.
    Admitted(TcpStream),
    /// The server closed the connection without a CONNACK (the answer to accepting
    /// while out of descriptors: accept and close at once).
    Refused,
}

/// Connects and sends a CONNECT; waits (bounded) for the CONNACK or the close.
fn attempt(addr: SocketAddr, client_id: &str) -> Attempt {
    let mut s = match TcpStream::connect_timeout(&addr, TIMEOUT) {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(Errno::EMFILE as i32) => return Attempt::NoDescriptor,
        Err(e) => panic!("connect: {e}"),
    };
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    let mut answer = [0u8; 4];
    let answered = s
        .write_all(&connect(client_id, 60, true))
        .and_then(|()| s.read_exact(&mut answer));
    match answered {
        Ok(()) => {
            assert_eq!(answer, CONNACK_OK);
            Attempt::Admitted(s)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            panic!("neither served nor closed within {TIMEOUT:?}")
        }
        Err(_) => Attempt::Refused,
    }
}

#[test]
fn out_of_descriptors_refuses_without_spinning_and_recovers() {
    setrlimit(Resource::RLIMIT_NOFILE, 64, 64).expect("lower the descriptor limit");
    let server = start(|c| {
        c.limits.max_connections = 1000; // more slots than descriptors
        c.limits.connect_timeout = Duration::from_secs(60);
    });
    // Client and server ends share the process limit. One client at a time, each served
    // before the next: nothing else opens descriptors meanwhile, so the attempt that
    // takes the last one for its own socket leaves none for the server's accept, and is
    // refused. When the last one goes to a served client instead, closing this file
    // makes room for exactly one more socket.
    let mut reserve = Some(File::open("/dev/null").expect("open /dev/null"));
    let mut clients = Vec::new();
    loop {
        assert!(
            clients.len() < 64,
            "the server never ran out of descriptors"
        );
        match attempt(server.tcp(), &format!("c{}", clients.len())) {
            Attempt::Admitted(s) => clients.push(s),
            Attempt::Refused => break,
            Attempt::NoDescriptor => drop(reserve.take().expect("one reserved descriptor")),
        }
    }
    // Now keep the process out of descriptors: one more connection if a descriptor is
    // left for its socket (it waits in the backlog, none left for the server), then files
    // for any still free. The reactor must not spin meanwhile. (The sleep is a
    // measurement window, not synchronisation: nothing waits for it to be long enough.)
    let waiting = TcpStream::connect_timeout(&server.tcp(), TIMEOUT).ok();
    let mut filler = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        filler.push(f);
    }
    let before = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    std::thread::sleep(Duration::from_secs(1));
    let after = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let busy = cpu_micros(&after) - cpu_micros(&before);
    assert!(
        busy < 200_000,
        "reactor busy for {busy} µs in 1 s while out of fds"
    );

    // Descriptors come back: new clients are served again. The server frees its ends
    // only as it reads the closes, and a connect that arrives first is refused like the
    // one above, so a refused attempt is tried again (bounded by count, not time).
    drop((clients, waiting, filler));
    let served = (0..100).find_map(|_| match attempt(server.tcp(), "after-emfile") {
        Attempt::Admitted(s) => Some(s),
        Attempt::Refused | Attempt::NoDescriptor => None,
    });
    let mut s = served.expect("served again within 100 attempts once descriptors are back");
    send(&mut s, &PINGREQ);
    assert_eq!(read_packet(&mut s), PINGRESP);
}
