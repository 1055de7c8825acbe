//! The slow-consumer policy over real sockets (ARCHITECTURE.md, "Slow consumers and full
//! queues"): a subscriber that drains slowly loses no QoS 1 message, one that stops
//! acknowledging delays nobody else for longer than `max_publisher_stall`, one whose
//! socket stops draining is disconnected after `slow_consumer_timeout`, and one that
//! reads again in time gets everything that waited.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

/// Publishes `count` QoS 1 messages on `topic` (payload = big-endian index, padded to
/// `size`) and returns once every PUBACK has arrived.
fn publish_qos1(
    addr: std::net::SocketAddr,
    id: &str,
    topic: &str,
    count: u16,
    size: usize,
) -> thread::JoinHandle<()> {
    let topic = topic.to_string();
    let id = id.to_string();
    thread::spawn(move || {
        let mut publisher = handshake(addr, &id);
        let mut reader = publisher.try_clone().expect("clone");
        let acks = thread::spawn(move || {
            for i in 1..=count {
                assert_eq!(
                    read_packet(&mut reader),
                    ack(0x40, i),
                    "PUBACK {i} in order"
                );
            }
        });
        for i in 1..=count {
            let mut payload = i.to_be_bytes().to_vec();
            payload.resize(size.max(2), 0);
            publisher
                .write_all(&publish(&topic, &payload, 1, Some(i), false))
                .expect("publish");
        }
        acks.join().expect("every PUBACK arrives");
    })
}

/// Reads and acknowledges `count` QoS 1 messages, asserting they arrive in order.
fn drain_qos1(sub: &mut TcpStream, count: u16) {
    for i in 1..=count {
        let p = parse_publish(&read_packet(sub));
        assert_eq!(
            u16::from_be_bytes([p.payload[0], p.payload[1]]),
            i,
            "message {i} in order"
        );
        sub.write_all(&ack(0x40, p.packet_id.expect("QoS 1")))
            .expect("puback");
    }
}

fn subscriber(addr: std::net::SocketAddr, id: &str, filter: &str, qos: u8) -> TcpStream {
    let mut s = handshake(addr, id);
    s.write_all(&subscribe(1, filter, qos)).expect("subscribe");
    assert_eq!(read_packet(&mut s), suback(1, qos));
    s
}

#[test]
fn full_queue_of_a_draining_subscriber_loses_no_qos1_message() {
    let server = start(|c| {
        c.limits.max_inflight_messages = 5;
        c.limits.max_queued_messages = 10;
        c.limits.max_publisher_stall = Duration::from_secs(60);
        c.limits.slow_consumer_timeout = Duration::from_secs(60);
    });
    let mut sub = subscriber(server.tcp(), "slow", "t", 1);
    // The publisher writes 2,000 messages into a queue of 10 before the subscriber reads
    // anything: without flow control all but 15 would be dropped.
    let publisher = publish_qos1(server.tcp(), "fast", "t", 2000, 8);
    drain_qos1(&mut sub, 2000);
    publisher.join().expect("publisher done");
}

#[test]
fn subscriber_that_never_acknowledges_delays_others_only_briefly() {
    let server = start(|c| {
        c.limits.max_inflight_messages = 2;
        c.limits.max_queued_messages = 4;
        c.limits.max_publisher_stall = Duration::from_millis(200);
    });
    // Reads nothing and acknowledges nothing.
    let _stuck = subscriber(server.tcp(), "stuck", "t", 1);
    let mut healthy = subscriber(server.tcp(), "healthy", "t", 1);
    let publisher = publish_qos1(server.tcp(), "pub", "t", 500, 8);
    drain_qos1(&mut healthy, 500);
    publisher.join().expect("the publisher gets every PUBACK");
}

#[test]
fn subscriber_whose_socket_stops_draining_is_disconnected() {
    let server = start(|c| {
        c.limits.slow_consumer_timeout = Duration::from_secs(1);
        c.limits.sys_interval = Duration::from_secs(1);
        c.limits.max_packet_size = 64 * 1024;
    });
    let mut watcher = sys_watcher(server.tcp(), "watcher", "$SYS/broker/sol/clients/slow");
    // Subscribes to 16 KiB QoS 0 messages and never reads again: more of them than
    // loopback socket buffers hold, so output stays pending for it.
    let mut stalled = subscriber(server.tcp(), "stalled", "big", 0);
    let mut publisher = handshake(server.tcp(), "pub");
    for _ in 0..more_than_socket_buffers().div_ceil(16 * 1024) {
        publisher
            .write_all(&publish("big", &[0u8; 16 * 1024], 0, None, false))
            .expect("publish");
    }
    // The broker reports the disconnection in $SYS once the timeout has passed.
    wait_for_sys(&mut watcher, "1");
    // The stalled client finds its connection closed after the data that did get through.
    expect_closed(&mut stalled);
    // The publisher was never held up: it still gets answers at once.
    publisher.write_all(&PINGREQ).expect("ping");
    assert_eq!(read_packet(&mut publisher), PINGRESP);
}

#[test]
fn a_subscriber_that_reads_again_gets_what_waited_behind_its_full_socket() {
    let count = more_than_socket_buffers().div_ceil(16 * 1024);
    let server = start(|c| {
        c.limits.slow_consumer_timeout = Duration::from_secs(600);
        c.limits.max_queued_messages = count;
        c.limits.max_queued_bytes = 0;
        c.limits.max_queued_memory = 2 * count * 16 * 1024;
    });
    let mut sub = subscriber(server.tcp(), "paused", "big", 0);
    let mut publisher = handshake(server.tcp(), "pub");
    for i in 0..count {
        let mut payload = (i as u32).to_be_bytes().to_vec();
        payload.resize(16 * 1024, 0);
        publisher
            .write_all(&publish("big", &payload, 0, None, false))
            .expect("publish");
    }
    // The broker has routed every message: more than the subscriber's socket holds, so
    // its writes to it blocked, and the rest waits in the broker.
    publisher.write_all(&PINGREQ).expect("ping");
    assert_eq!(read_packet(&mut publisher), PINGRESP);
    // Reading again frees room; the broker hears of it (a writable edge, asked for when
    // the write blocked) and sends the rest, in order, none lost.
    for i in 0..count {
        let p = parse_publish(&read_packet(&mut sub));
        let index = u32::from_be_bytes(p.payload[..4].try_into().expect("index"));
        assert_eq!(index as usize, i, "message {i} in order");
    }
}
