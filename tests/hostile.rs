//! Hostile clients (issue 5): each attack is answered by closing the attacker, and a
//! bystander pair (a subscriber and a publisher connected before the attack) keeps
//! exchanging messages throughout.

mod common;

use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A subscriber to `bystander/#` and a publisher, both connected.
struct Bystanders {
    sub: TcpStream,
    publ: TcpStream,
    sent: u32,
}

impl Bystanders {
    fn connect(addr: SocketAddr) -> Bystanders {
        let mut sub = handshake(addr, "bystander-sub");
        send(&mut sub, &subscribe(1, "bystander/#", 0));
        assert_eq!(read_packet(&mut sub), suback(1, 0));
        let publ = handshake(addr, "bystander-pub");
        Bystanders { sub, publ, sent: 0 }
    }

    /// One message from the publisher reaches the subscriber.
    fn still_talk(&mut self) {
        self.sent += 1;
        let payload = self.sent.to_be_bytes();
        send(
            &mut self.publ,
            &publish("bystander/x", &payload, 0, None, false),
        );
        let got = parse_publish(&read_packet(&mut self.sub));
        assert_eq!(got.payload, payload, "the bystanders still talk");
    }
}

#[test]
fn a_connection_that_never_sends_connect_is_closed() {
    let server = start(|c| c.limits.connect_timeout = Duration::from_millis(300));
    let mut others = Bystanders::connect(server.tcp());
    let mut silent: Vec<TcpStream> = (0..10).map(|_| tcp(server.tcp())).collect();
    others.still_talk();
    for s in &mut silent {
        assert!(expect_closed(s).is_empty(), "closed without a word");
    }
    others.still_talk();
}

#[test]
fn a_storm_past_max_connections_is_refused_and_the_pool_recovers() {
    let server = start(|c| c.limits.max_connections = 6);
    let mut others = Bystanders::connect(server.tcp());
    // Four slots left: a storm of 40 connections; the ones beyond the pool are closed.
    let mut storm: Vec<TcpStream> = (0..40).map(|_| tcp(server.tcp())).collect();
    others.still_talk();
    let mut refused = 0;
    let mut admitted = Vec::new();
    for (i, s) in storm.iter_mut().enumerate() {
        if s.write_all(&connect(&format!("storm{i}"), 60, true))
            .is_err()
        {
            refused += 1;
            continue;
        }
        let mut first = [0u8; 4];
        match std::io::Read::read(s, &mut first) {
            Ok(4) => {
                assert_eq!(first, CONNACK_OK);
                admitted.push(i);
            }
            Ok(0) | Err(_) => refused += 1,
            Ok(n) => panic!("unexpected {n}-byte answer"),
        }
    }
    assert!(
        refused >= 36,
        "at most 4 of the storm got a slot, {refused} refused"
    );
    others.still_talk();
    // The admitted ones leave; the server closing each socket means its slot is free
    // (waiting for that, not for time, keeps the next connect from racing the release).
    for i in admitted {
        send(&mut storm[i], &DISCONNECT);
        expect_closed(&mut storm[i]);
    }
    drop(storm);
    // Once the storm is gone its slots are free again.
    let mut later = handshake(server.tcp(), "later");
    send(&mut later, &PINGREQ);
    assert_eq!(read_packet(&mut later), PINGRESP);
    others.still_talk();
}

#[test]
fn a_huge_remaining_length_is_cut_off_before_its_body() {
    let server = start(|c| c.limits.max_packet_size = 64 * 1024);
    let mut others = Bystanders::connect(server.tcp());
    let mut liar = handshake(server.tcp(), "liar");
    // 268,435,455 bytes announced (the protocol maximum), 5 sent.
    send(
        &mut liar,
        &[0x30, 0xff, 0xff, 0xff, 0x7f, 0, 3, b'a', b'/', b'b'],
    );
    assert!(expect_closed(&mut liar).is_empty());
    // A remaining length longer than four bytes is malformed.
    let mut garbler = handshake(server.tcp(), "garbler");
    send(&mut garbler, &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(expect_closed(&mut garbler).is_empty());
    others.still_talk();
}

#[test]
fn a_subscriber_that_never_reads_is_dropped_not_the_others() {
    let server = start(|c| {
        c.limits.slow_consumer_timeout = Duration::from_millis(500);
        c.limits.sys_interval = Duration::from_secs(1);
        c.limits.max_packet_size = 64 * 1024;
    });
    let mut watcher = sys_watcher(server.tcp(), "watcher", "$SYS/broker/sol/clients/slow");
    let mut others = Bystanders::connect(server.tcp());
    let mut deaf = handshake(server.tcp(), "deaf");
    send(&mut deaf, &subscribe(1, "bystander/#", 0));
    assert_eq!(read_packet(&mut deaf), suback(1, 0));
    // 16 KiB messages the deaf subscriber never reads, more than loopback socket buffers
    // hold, so output stays pending for it. The bystander reads each as it comes.
    let count = more_than_socket_buffers().div_ceil(16 * 1024);
    for i in 0..u32::try_from(count).expect("a few thousand messages") {
        let mut payload = vec![0u8; 16 * 1024];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        send(
            &mut others.publ,
            &publish("bystander/big", &payload, 0, None, false),
        );
        let got = parse_publish(&read_packet(&mut others.sub));
        assert_eq!(got.payload[..4], i.to_be_bytes());
    }
    // The broker counts the disconnection in $SYS; only then is the deaf socket read.
    // Reading it earlier would be progress, which rightly keeps a subscriber connected.
    wait_for_sys(&mut watcher, "1");
    expect_closed(&mut deaf);
    others.still_talk();
}
