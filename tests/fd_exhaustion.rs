//! Running out of file descriptors must neither wedge nor spin the accept loop.
//!
//! Its own test binary (so its own process): it lowers `RLIMIT_NOFILE` for good.

mod common;

use common::*;
use nix::sys::resource::{getrusage, setrlimit, Resource, Usage, UsageWho};
use nix::sys::time::TimeValLike;
use std::io::{Read, Write};
use std::time::Duration;

/// CPU time used by the whole process so far, in microseconds.
fn cpu_micros(u: &Usage) -> i64 {
    u.user_time().num_microseconds() + u.system_time().num_microseconds()
}

#[test]
fn out_of_descriptors_refuses_without_spinning_and_recovers() {
    setrlimit(Resource::RLIMIT_NOFILE, 64, 64).expect("lower the descriptor limit");
    let server = start(|c| {
        c.limits.max_connections = 1000; // more slots than descriptors
        c.limits.connect_timeout = Duration::from_secs(60);
    });
    // Client and server ends share the process limit: connect until it runs out.
    let mut clients = Vec::new();
    while clients.len() < 200 {
        match std::net::TcpStream::connect(server.tcp()) {
            Ok(s) => clients.push(s),
            Err(_) => break,
        }
    }
    // Let the reactor meet EMFILE, then measure it idle. (These sleeps are measurement
    // windows, not synchronisation: nothing waits for them to be long enough.)
    std::thread::sleep(Duration::from_millis(300));
    let before = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    std::thread::sleep(Duration::from_secs(1));
    let after = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let busy = cpu_micros(&after) - cpu_micros(&before);
    assert!(
        busy < 200_000,
        "reactor busy for {busy} µs in 1 s while out of fds"
    );

    // Descriptors come back: new clients are served again. The server frees its ends
    // only as it reads the closes, and a connect that arrives first is shed like the
    // others were, so a refused attempt is tried again (bounded by count, not time).
    clients.clear();
    let mut served = None;
    for _ in 0..100 {
        let mut s = tcp(server.tcp());
        let mut answer = [0u8; 4];
        let ok = s.write_all(&connect("after-emfile", 60, true)).is_ok()
            && s.read_exact(&mut answer).is_ok();
        if ok {
            assert_eq!(answer, CONNACK_OK);
            served = Some(s);
            break;
        }
    }
    let mut s = served.expect("served again within 100 attempts once descriptors are back");
    send(&mut s, &PINGREQ);
    assert_eq!(read_packet(&mut s), PINGRESP);
}
