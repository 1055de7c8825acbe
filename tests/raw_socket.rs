//! The broker over plain TCP with hand-written MQTT 3.1.1 bytes: framing as the network
//! delivers it (split, merged), protocol errors that close, timers, the connection cap and
//! the QoS 0/1/2 flows. Also a Unix domain socket listener.

mod common;

use common::*;
use sol::config::{Bind, ListenerConfig, ListenerProtocol};
use sol::net::LocalAddr;
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn connect_gets_connack() {
    let server = start(|_| {});
    let mut s = tcp(server.tcp());
    send(&mut s, &connect("c1", 60, true));
    assert_eq!(read_packet(&mut s), CONNACK_OK);
}

#[test]
fn connect_written_one_byte_at_a_time() {
    let server = start(|_| {});
    let mut s = tcp(server.tcp());
    for byte in connect("one-byte", 60, true) {
        s.write_all(&[byte]).expect("write");
        s.flush().expect("flush");
    }
    assert_eq!(read_packet(&mut s), CONNACK_OK);
    // And a packet split around its remaining length still works after it.
    let ping = PINGREQ;
    s.write_all(&ping[..1]).expect("write");
    s.write_all(&ping[1..]).expect("write");
    assert_eq!(read_packet(&mut s), PINGRESP);
}

#[test]
fn several_packets_in_one_write() {
    let server = start(|_| {});
    let mut s = tcp(server.tcp());
    let mut burst = connect("burst", 60, true);
    burst.extend(subscribe(1, "a/b", 0));
    burst.extend(publish("a/b", b"hello", 0, None, false));
    send(&mut s, &burst);
    assert_eq!(read_packet(&mut s), CONNACK_OK);
    assert_eq!(read_packet(&mut s), suback(1, 0));
    let got = parse_publish(&read_packet(&mut s));
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("a/b", &b"hello"[..])
    );
}

#[test]
fn packet_too_large_closes_before_body() {
    let server = start(|c| c.limits.max_packet_size = 1024);
    let mut s = handshake(server.tcp(), "big");
    // Announce a 1 MB PUBLISH; send only its header and a few bytes.
    let mut head = vec![0x30];
    remaining_len(1 << 20, &mut head);
    head.extend_from_slice(&[0, 3, b'a', b'/', b'b']);
    send(&mut s, &head);
    assert!(expect_closed(&mut s).is_empty());
}

#[test]
fn malformed_first_packet_closes() {
    let server = start(|_| {});
    // Remaining length longer than 4 bytes [MQTT-2.2.3].
    let mut s = tcp(server.tcp());
    send(&mut s, &[0x10, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(expect_closed(&mut s).is_empty());
    // Unknown protocol name [MQTT-3.1.2-1].
    let mut s = tcp(server.tcp());
    let mut body = string(b"XQTT");
    body.extend_from_slice(&[4, 0x02, 0, 60]);
    body.extend(string(b"id"));
    send(&mut s, &packet(0x10, &body));
    assert!(expect_closed(&mut s).is_empty());
}

#[test]
fn first_packet_not_connect_closes() {
    // [MQTT-3.1.0-1]
    let server = start(|_| {});
    let mut s = tcp(server.tcp());
    send(&mut s, &PINGREQ);
    assert!(
        expect_closed(&mut s).is_empty(),
        "no PINGRESP before CONNECT"
    );
}

#[test]
fn second_connect_closes() {
    // [MQTT-3.1.0-2]
    let server = start(|_| {});
    let mut s = handshake(server.tcp(), "twice");
    send(&mut s, &connect("twice", 60, true));
    assert!(expect_closed(&mut s).is_empty());
}

#[test]
fn unsupported_protocol_level_gets_connack_1_then_close() {
    // [MQTT-3.1.2-2]
    let server = start(|_| {});
    let mut s = tcp(server.tcp());
    send(&mut s, &connect_full(0x07, "level7", 60, true, None));
    assert_eq!(expect_closed(&mut s), vec![0x20, 0x02, 0x00, 0x01]);
}

#[test]
fn no_connect_within_connect_timeout_closes() {
    let server = start(|c| c.limits.connect_timeout = Duration::from_millis(200));
    let mut s = tcp(server.tcp());
    let t0 = Instant::now();
    assert!(expect_closed(&mut s).is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[test]
fn keep_alive_expiry_closes() {
    // No packet for 1.5 × keep-alive closes the connection [MQTT-3.1.2-24].
    let server = start(|_| {});
    let mut s = tcp(server.tcp());
    // Before the CONNECT: the broker's clock for it starts later still, so the lower
    // bound below cannot fail however late this thread is scheduled.
    let t0 = Instant::now();
    send(&mut s, &connect("ka", 1, true));
    assert_eq!(read_packet(&mut s), CONNACK_OK);
    assert!(expect_closed(&mut s).is_empty());
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

#[test]
fn pingreq_gets_pingresp() {
    let server = start(|_| {});
    let mut s = handshake(server.tcp(), "ping");
    for _ in 0..3 {
        send(&mut s, &PINGREQ);
        assert_eq!(read_packet(&mut s), PINGRESP);
    }
}

#[test]
fn connection_beyond_max_connections_is_closed() {
    let server = start(|c| c.limits.max_connections = 2);
    let mut a = handshake(server.tcp(), "a");
    let mut b = handshake(server.tcp(), "b");
    let mut c = tcp(server.tcp());
    let _ = c.write_all(&connect("c", 60, true));
    assert!(expect_closed(&mut c).is_empty(), "no CONNACK for the third");
    for s in [&mut a, &mut b] {
        send(s, &PINGREQ);
        assert_eq!(read_packet(s), PINGRESP);
    }
    // A slot freed by a DISCONNECT is usable again.
    send(&mut a, &DISCONNECT);
    assert!(expect_closed(&mut a).is_empty());
    let mut d = handshake(server.tcp(), "d");
    send(&mut d, &PINGREQ);
    assert_eq!(read_packet(&mut d), PINGRESP);
}

#[test]
fn publish_subscribe_qos_0_1_2() {
    let server = start(|_| {});
    let mut sub = handshake(server.tcp(), "sub");
    send(&mut sub, &subscribe(7, "t/+", 2));
    assert_eq!(read_packet(&mut sub), suback(7, 2));
    let mut publ = handshake(server.tcp(), "pub");

    // QoS 0: no acknowledgment.
    send(&mut publ, &publish("t/0", b"zero", 0, None, false));
    let got = parse_publish(&read_packet(&mut sub));
    assert_eq!(
        (got.qos, got.topic.as_str(), &got.payload[..]),
        (0, "t/0", &b"zero"[..])
    );

    // QoS 1: PUBACK to the publisher; the subscriber acknowledges its copy.
    send(&mut publ, &publish("t/1", b"one", 1, Some(11), false));
    assert_eq!(read_packet(&mut publ), ack(0x40, 11));
    let got = parse_publish(&read_packet(&mut sub));
    assert_eq!(
        (got.qos, got.topic.as_str(), &got.payload[..]),
        (1, "t/1", &b"one"[..])
    );
    let id = got.packet_id.expect("QoS 1 has a packet id");
    send(&mut sub, &ack(0x40, id));

    // QoS 2: PUBREC, PUBREL, PUBCOMP on both sides.
    send(&mut publ, &publish("t/2", b"two", 2, Some(12), false));
    assert_eq!(read_packet(&mut publ), ack(0x50, 12));
    send(&mut publ, &ack(0x62, 12));
    assert_eq!(read_packet(&mut publ), ack(0x70, 12));
    let got = parse_publish(&read_packet(&mut sub));
    assert_eq!(
        (got.qos, got.topic.as_str(), &got.payload[..]),
        (2, "t/2", &b"two"[..])
    );
    let id = got.packet_id.expect("QoS 2 has a packet id");
    send(&mut sub, &ack(0x50, id));
    assert_eq!(read_packet(&mut sub), ack(0x62, id));
    send(&mut sub, &ack(0x70, id));

    // Both still healthy.
    for s in [&mut sub, &mut publ] {
        send(s, &PINGREQ);
        assert_eq!(read_packet(s), PINGRESP);
    }
}

#[test]
fn fin_right_behind_a_packet_is_seen_at_once_and_publishes_the_will() {
    let server = start(|_| {});
    let mut sub = handshake(server.tcp(), "sub");
    send(&mut sub, &subscribe(1, "fin/#", 0));
    assert_eq!(read_packet(&mut sub), suback(1, 0));
    // The last packet and the FIN arrive together: the broker must not take the short
    // read of the packet for "drained" and miss the close (keep-alive is 60 s, far beyond
    // the test's read timeout).
    for i in 0..20 {
        let id = format!("gone{i}");
        let mut c = tcp(server.tcp());
        let will = ("fin/will", id.as_bytes(), 0, false);
        send(&mut c, &connect_full(4, &id, 60, true, Some(will)));
        assert_eq!(read_packet(&mut c), CONNACK_OK);
        send(&mut c, &publish("fin/last", id.as_bytes(), 0, None, false));
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let last = parse_publish(&read_packet(&mut sub));
        assert_eq!(
            (last.topic.as_str(), &last.payload[..]),
            ("fin/last", id.as_bytes())
        );
        let will = parse_publish(&read_packet(&mut sub));
        assert_eq!(
            (will.topic.as_str(), &will.payload[..]),
            ("fin/will", id.as_bytes())
        );
    }
}

/// Payload `i` of the mixed-size stream: sizes on both sides of the reactor's copy
/// threshold for output segments, content derived from `i`.
fn mixed_payload(i: usize) -> Vec<u8> {
    let len = [0, 1, 63, 511, 512, 513, 4_000, 20_000][i % 8];
    (0..len).map(|k| (i * 31 + k) as u8).collect()
}

#[test]
fn mixed_small_and_large_messages_arrive_whole_and_in_order() {
    let server = start(|_| {});
    let mut sub = handshake(server.tcp(), "sub");
    send(&mut sub, &subscribe(1, "mix/#", 0));
    assert_eq!(read_packet(&mut sub), suback(1, 0));
    let mut publ = handshake(server.tcp(), "pub");
    const COUNT: usize = 400;
    // The publisher writes while the subscriber reads, so the broker's writes to the
    // subscriber meet a full socket and resume mid-frame.
    let writer = std::thread::spawn(move || {
        for i in 0..COUNT {
            let topic = format!("mix/{}", i % 5);
            send(
                &mut publ,
                &publish(&topic, &mixed_payload(i), 0, None, false),
            );
        }
        publ
    });
    for i in 0..COUNT {
        let got = parse_publish(&read_packet(&mut sub));
        assert_eq!(got.topic, format!("mix/{}", i % 5), "message {i}");
        assert_eq!(got.payload, mixed_payload(i), "message {i}");
    }
    let mut publ = writer.join().expect("publisher thread");
    send(&mut publ, &PINGREQ);
    assert_eq!(read_packet(&mut publ), PINGRESP);
}

#[test]
fn unix_socket_listener() {
    let path = temp_socket_path("unix-listener");
    let server = start(|c| {
        c.listeners = vec![ListenerConfig {
            port: 0,
            bind: Bind::Unix(path.clone()),
            socket_domain: None,
            allow_anonymous: true,
            tls: None,
            clients: Default::default(),
            protocol: ListenerProtocol::Mqtt,
            bind_interface: None,
            http_dir: None,
        }];
    });
    assert_eq!(server.addrs, vec![LocalAddr::Unix(path.clone())]);
    let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    send(&mut s, &connect("unix", 60, true));
    assert_eq!(read_packet(&mut s), CONNACK_OK);
    send(&mut s, &PINGREQ);
    assert_eq!(read_packet(&mut s), PINGRESP);
    drop(server);
    assert!(!path.exists(), "socket file removed at exit");
}
