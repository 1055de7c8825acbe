//! SIGHUP reloads and SIGTERM stops the server through its signalfd.
//!
//! The signals are sent to the reactor thread itself (`pthread_kill`): it blocks them, so
//! they stay pending for its signalfd, and no other thread of the test process (which does
//! not block them) can receive them.

mod common;

use common::*;
use nix::sys::pthread::{pthread_kill, pthread_self, Pthread};
use nix::sys::signal::Signal;
use sol::config::Config;
use sol::net::Server;
use std::sync::mpsc;

#[test]
fn sighup_keeps_running_and_sigterm_stops_gracefully() {
    let (tx, rx) = mpsc::channel::<(std::net::SocketAddr, Pthread)>();
    let thread = std::thread::spawn(move || -> std::io::Result<()> {
        let mut server = Server::new(Config::loopback(0))?;
        server.enable_signals()?;
        let addr = server
            .local_addrs()
            .into_iter()
            .find_map(|a| match a {
                sol::net::LocalAddr::Tcp(a) => Some(a),
                sol::net::LocalAddr::Unix(_) => None,
            })
            .expect("a TCP listener");
        let _ = tx.send((addr, pthread_self()));
        server.run()
    });
    let (addr, reactor) = rx.recv_timeout(TIMEOUT).expect("server starts");
    let mut client = handshake(addr, "sig");

    // No config file: SIGHUP is logged and changes nothing; the client is still served.
    pthread_kill(reactor, Signal::SIGHUP).expect("SIGHUP");
    send(&mut client, &PINGREQ);
    assert_eq!(read_packet(&mut client), PINGRESP);

    // SIGTERM: the connection is closed and run() returns Ok.
    pthread_kill(reactor, Signal::SIGTERM).expect("SIGTERM");
    assert!(expect_closed(&mut client).is_empty());
    thread
        .join()
        .expect("reactor thread")
        .expect("run returns Ok after SIGTERM");
}
