//! Bridges over real sockets: a Sol bridged to an upstream broker started by the test on
//! loopback (a second Sol here; Debian's Mosquitto in `bridge_mosquitto.rs`), driven with
//! rumqttc on both sides. Every wait is bounded; the bridge being up is seen through its
//! retained state notification, not a sleep.

mod common;

use common::bridge::*;
use common::{client, reserve_addr, Mosquitto};
use nix::sys::signal::Signal;
use rumqttc::{Packet, QoS};
use sol::config::{BridgeProtocol, Direction, RestartTimeout, StartType};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Both directions at QoS 0, 1 and 2 through a bridge speaking `protocol` to the
/// broker at `up`, with prefixes on both sides.
fn forwards_both_ways(up: SocketAddr, protocol: BridgeProtocol) {
    let topics = [
        ("sensors/#", Direction::Out, 2, "", "site1/"),
        ("cmd/#", Direction::In, 2, "", "site1/"),
    ];
    let local = common::start(|c| c.bridges.push(bridge("b1", &[up], &topics, protocol)));
    let here = local.tcp();
    wait_up(here, "b1");

    let central = subscribed(up, "central", "site1/sensors/#", QoS::ExactlyOnce);
    let device = subscribed(here, "device", "cmd/#", QoS::ExactlyOnce);

    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        device
            .client
            .publish(format!("sensors/t{i}"), qos, false, vec![i as u8])
            .expect("publish");
        assert_eq!(
            next(&central),
            (format!("site1/sensors/t{i}"), vec![i as u8], qos),
            "out, {qos:?}"
        );
        central
            .client
            .publish(format!("site1/cmd/c{i}"), qos, false, vec![i as u8])
            .expect("publish");
        assert_eq!(
            next(&device),
            (format!("cmd/c{i}"), vec![i as u8], qos),
            "in, {qos:?}"
        );
    }
}

#[test]
fn a_bridge_to_a_311_sol_forwards_both_ways_at_every_qos() {
    let upstream = common::start(|_| {});
    forwards_both_ways(upstream.tcp(), BridgeProtocol::V311);
}

#[test]
fn a_bridge_to_a_50_sol_forwards_both_ways_at_every_qos() {
    let upstream = common::start(|_| {});
    forwards_both_ways(upstream.tcp(), BridgeProtocol::V5);
}

#[test]
fn a_bridge_to_a_311_mosquitto_forwards_both_ways_at_every_qos() {
    let upstream = Mosquitto::start("bridge-up-311", "");
    forwards_both_ways(upstream.addr, BridgeProtocol::V311);
}

#[test]
fn a_bridge_to_a_50_mosquitto_forwards_both_ways_at_every_qos() {
    let upstream = Mosquitto::start("bridge-up-5", "");
    forwards_both_ways(upstream.addr, BridgeProtocol::V5);
}

#[test]
fn a_both_way_topic_does_not_echo_through_a_sol() {
    for protocol in [BridgeProtocol::V311, BridgeProtocol::V5] {
        let upstream = common::start(|_| {});
        does_not_echo(upstream.tcp(), protocol);
    }
}

#[test]
fn a_both_way_topic_does_not_echo_through_a_mosquitto() {
    for protocol in [BridgeProtocol::V311, BridgeProtocol::V5] {
        let upstream = Mosquitto::start("bridge-echo", "");
        does_not_echo(upstream.addr, protocol);
    }
}

/// A `both` topic bridged to `up` with `protocol` (No Local for 5.0, `try_private` for
/// 3.1.1): each side sees each message once.
fn does_not_echo(up: SocketAddr, protocol: BridgeProtocol) {
    let topics = [("chat/#", Direction::Both, 1, "", "")];
    let local = common::start(|c| c.bridges.push(bridge("b1", &[up], &topics, protocol)));
    let here = local.tcp();
    wait_up(here, "b1");
    let a = subscribed(here, "a", "chat/#", QoS::AtLeastOnce);
    let b = subscribed(up, "b", "chat/#", QoS::AtLeastOnce);
    a.client
        .publish("chat/1", QoS::AtLeastOnce, false, "from a")
        .expect("publish");
    assert_eq!(next(&a).0, "chat/1", "a client gets its own message");
    // Through the bridge before b publishes: chat/1 and b's own messages reach b by two
    // paths, whose order nothing sets (the bridge forwards once its subscriptions are
    // acknowledged, after the state topic says it is connected).
    assert_eq!(
        next(&b).0,
        "chat/1",
        "the upstream gets it through the bridge"
    );
    b.client
        .publish("chat/2", QoS::AtLeastOnce, false, "from b")
        .expect("publish");
    b.client
        .publish("chat/end", QoS::AtLeastOnce, false, "end")
        .expect("publish");
    // Each side sees each message once, then the marker: nothing came back.
    let mut seen_a = Vec::new();
    while seen_a.last().map(String::as_str) != Some("chat/end") {
        seen_a.push(next(&a).0);
    }
    assert_eq!(seen_a, ["chat/2", "chat/end"]);
    let mut seen_b = Vec::new();
    while seen_b.last().map(String::as_str) != Some("chat/end") {
        seen_b.push(next(&b).0);
    }
    assert_eq!(seen_b, ["chat/2", "chat/end"]);
}

#[test]
fn an_upstream_that_stops_answering_is_left_though_messages_still_go_out() {
    // A half-open uplink: the upstream's process is stopped, so its kernel still takes
    // the bridge's bytes and nothing comes back (as behind a cut cellular link or a NAT
    // that forgot the connection). A QoS 0 stream keeps the bridge writing all along;
    // its keep-alive must notice the silence anyway, as libmosquitto's does.
    let upstream = Mosquitto::start("bridge-silent", "");
    let topics = [("data/#", Direction::Out, 0, "", "")];
    let mut b = bridge("b1", &[upstream.addr], &topics, BridgeProtocol::V311);
    b.keepalive = 2;
    let local = common::start(|c| c.bridges.push(b));
    let here = local.tcp();
    wait_up(here, "b1");
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = {
        let stop = Arc::clone(&stop);
        let device = client(here, "device", true);
        device.connack();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = device
                    .client
                    .publish("data/x", QoS::AtMostOnce, false, "tick")
                {
                    let events: Vec<_> = device.events.try_iter().collect();
                    panic!("publish: {e}; events: {events:?}");
                }
                // Pacing, not synchronisation: 20 messages/s.
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    upstream.signal(Signal::SIGSTOP);
    // Two keep-alives (4 s) from the last word heard, within the wait's 10 s.
    wait_value(here, "$SYS/broker/connection/b1/state", "0");
    stop.store(true, Ordering::Relaxed);
    streamer.join().expect("the streamer");
    upstream.signal(Signal::SIGCONT);
    wait_value(here, "$SYS/broker/connection/b1/state", "1");
    let central = subscribed(upstream.addr, "central", "data/#", QoS::AtMostOnce);
    let device = client(here, "device-after", true);
    device.connack();
    device
        .client
        .publish("data/after", QoS::AtMostOnce, false, "again")
        .expect("publish");
    assert_eq!(next(&central).0, "data/after", "forwarding again");
}

#[test]
fn a_bridge_whose_marker_is_refused_connects_again_at_once_without_it() {
    // An upstream that follows [MQTT-3.1.2-2] and does not know try_private's marker (no
    // Debian broker refuses it, so this one is scripted): CONNACK 1, "unacceptable
    // protocol version", to protocol level 0x84; level 4 is accepted.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = listener.local_addr().expect("address");
    let upstream = std::thread::spawn(move || {
        let mut levels = Vec::new();
        loop {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(common::TIMEOUT)).expect("timeout");
            let connect = common::read_packet(&mut s);
            assert_eq!(connect[0], 0x10, "a CONNECT");
            let level = connect[8];
            levels.push(level);
            if level & 0x80 != 0 {
                common::send(&mut s, &[0x20, 0x02, 0x00, 0x01]);
                continue;
            }
            common::send(&mut s, &[0x20, 0x02, 0x00, 0x00]);
            return (levels, s);
        }
    });
    let topics = [("data/#", Direction::Out, 1, "", "")];
    let mut b = bridge("b1", &[up], &topics, BridgeProtocol::V311);
    // Were the refusal a failure, the next attempt would wait a minute.
    b.restart = RestartTimeout::Constant(Duration::from_secs(60));
    let local = common::start(|c| c.bridges.push(b));
    wait_value(local.tcp(), "$SYS/broker/connection/b1/state", "1");
    let (levels, _connection) = upstream.join().expect("the upstream");
    assert_eq!(
        levels,
        [0x84, 0x04],
        "with the marker, then at once without it"
    );
}

#[test]
fn messages_published_while_the_upstream_is_down_arrive_in_order_when_it_returns() {
    // The upstream listens on a port nothing listens on until the outage is over.
    let up = reserve_addr();
    let topics = [("data/#", Direction::Out, 1, "", "")];
    let local = common::start(|c| {
        c.bridges
            .push(bridge("b1", &[up.addr], &topics, BridgeProtocol::V311))
    });
    let here = local.tcp();
    let device = client(here, "device", true);
    device.connack();
    publish_seq(&device, 0..200);
    let upstream = start_on(up.addr, |_| {});
    let central = client(upstream.tcp(), "central", false);
    central.connack();
    subscribe(&central, "data/#", QoS::AtLeastOnce);
    wait_up(here, "b1");
    let got = receive_seq(&central, 200);
    assert_eq!(got, (0..200).collect::<Vec<_>>(), "all of them, in order");
}

/// 80 QoS 1 messages into an outbox of 50 while the upstream is not there, under
/// `policy`: the 30 dropped are counted in `$SYS`; what arrives once it starts.
fn outbox_at_cap(policy: sol::config::OutboxPolicy) -> Vec<u32> {
    let up = reserve_addr();
    let topics = [("data/#", Direction::Out, 1, "", "")];
    let local = common::start(|c| {
        let mut b = bridge("b1", &[up.addr], &topics, BridgeProtocol::V311);
        b.outbox.max_messages = 50;
        b.outbox.policy = policy;
        c.bridges.push(b);
        c.limits.sys_interval = Duration::from_secs(1);
    });
    let here = local.tcp();
    let device = client(here, "device", true);
    device.connack();
    publish_seq(&device, 0..80);
    wait_value(here, "$SYS/broker/connection/b1/dropped", "30");
    wait_value(here, "$SYS/broker/connection/b1/queued", "50");
    let upstream = start_on(up.addr, |_| {});
    let central = subscribed(upstream.tcp(), "central", "data/#", QoS::AtLeastOnce);
    receive_seq(&central, 50)
}

#[test]
fn a_full_outbox_drops_the_oldest_counts_them_and_delivers_the_rest_in_order() {
    let got = outbox_at_cap(sol::config::OutboxPolicy::DropOldest);
    assert_eq!(got, (30..80).collect::<Vec<_>>());
}

#[test]
fn refuse_new_keeps_the_oldest() {
    let got = outbox_at_cap(sol::config::OutboxPolicy::RefuseNew);
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[test]
fn a_lazy_bridge_connects_at_its_threshold() {
    let upstream = common::start(|_| {});
    let topics = [("data/#", Direction::Out, 1, "", "")];
    let local = common::start(|c| {
        let mut b = bridge("b1", &[upstream.tcp()], &topics, BridgeProtocol::V311);
        b.start_type = StartType::Lazy;
        b.threshold = 5;
        c.bridges.push(b);
        c.limits.sys_interval = Duration::from_secs(1);
    });
    let here = local.tcp();
    let central = subscribed(upstream.tcp(), "central", "data/#", QoS::AtLeastOnce);
    let device = client(here, "device", true);
    device.connack();
    publish_seq(&device, 0..4);
    wait_value(here, "$SYS/broker/connection/b1/queued", "4");
    wait_value(here, "$SYS/broker/connection/b1/state", "0");
    publish_seq(&device, 4..5);
    assert_eq!(receive_seq(&central, 5), (0..5).collect::<Vec<_>>());
}

#[test]
fn failover_to_the_second_address_when_the_first_is_down() {
    let upstream = common::start(|_| {});
    let down = reserve_addr();
    let topics = [("data/#", Direction::Out, 1, "", "")];
    let local = common::start(|c| {
        let b = bridge(
            "b1",
            &[down.addr, upstream.tcp()],
            &topics,
            BridgeProtocol::V311,
        );
        c.bridges.push(b);
    });
    let here = local.tcp();
    wait_up(here, "b1");
    let central = subscribed(upstream.tcp(), "central", "data/#", QoS::AtLeastOnce);
    let device = client(here, "device", true);
    device.connack();
    publish_seq(&device, 0..3);
    assert_eq!(receive_seq(&central, 3), [0, 1, 2]);
}

#[test]
fn with_round_robin_false_the_bridge_moves_back_to_the_main_address_when_it_answers() {
    let main = reserve_addr();
    let second = common::start(|_| {});
    let topics = [("data/#", Direction::Out, 1, "", "")];
    let local = common::start(|c| {
        let b = bridge(
            "b1",
            &[main.addr, second.tcp()],
            &topics,
            BridgeProtocol::V311,
        );
        c.bridges.push(b);
    });
    let here = local.tcp();
    wait_up(here, "b1");
    // The main upstream starts: the bridge's state notification (retained, published
    // upstream when it connects) shows it arrived there. Probes run every 5 s: two
    // waits' worth.
    let upstream = start_on(main.addr, |_| {});
    let central = client(upstream.tcp(), "central", true);
    central.connack();
    subscribe(
        &central,
        "$SYS/broker/connection/gw.b1/state",
        QoS::AtMostOnce,
    );
    subscribe(&central, "data/#", QoS::AtLeastOnce);
    let moved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        central.wait_for("the bridge on the main address", |p| match p {
            Packet::Publish(p) if &p.payload[..] == b"1" => Some(()),
            _ => None,
        })
    }));
    if moved.is_err() {
        central.wait_for("the bridge on the main address", |p| match p {
            Packet::Publish(p) if &p.payload[..] == b"1" => Some(()),
            _ => None,
        });
    }
    let device = client(here, "device", true);
    device.connack();
    publish_seq(&device, 0..3);
    assert_eq!(receive_seq(&central, 3), [0, 1, 2]);
}

#[test]
fn bind_address_and_outgoing_retain_false() {
    let upstream = common::start(|_| {});
    let topics = [("data/#", Direction::Out, 1, "", "")];
    let local = common::start(|c| {
        let mut b = bridge("b1", &[upstream.tcp()], &topics, BridgeProtocol::V311);
        b.bind_address = Some("127.0.0.1".parse().expect("an address"));
        b.outgoing_retain = false;
        c.bridges.push(b);
    });
    let here = local.tcp();
    wait_up(here, "b1");
    let central = subscribed(upstream.tcp(), "central", "data/#", QoS::AtLeastOnce);
    let device = client(here, "device", true);
    device.connack();
    device
        .client
        .publish("data/r", QoS::AtLeastOnce, true, "kept here")
        .expect("publish");
    assert_eq!(central.publish().topic, "data/r");
    // A late subscriber upstream gets no retained message: the flag was cleared on the
    // way. (Its own marker, published after it subscribed, comes first.)
    let late = subscribed(upstream.tcp(), "late", "data/r", QoS::AtLeastOnce);
    late.client
        .publish("data/r", QoS::AtLeastOnce, false, "marker")
        .expect("publish");
    assert_eq!(next(&late).1, b"marker", "nothing was retained upstream");
    let here_late = subscribed(here, "here-late", "data/r", QoS::AtLeastOnce);
    let p = here_late.publish();
    assert!(p.retain && &p.payload[..] == b"kept here", "but it is here");
}

/// Sol bridges `a/#` out at QoS 2 (MQTT 5.0) to a Mosquitto with `config`, which
/// refuses a CONNECT whose will asks more than its `max_qos` or `retain_available`, and
/// disconnects a client that publishes so; a device publishes `sent` (QoS, retain) here.
/// Checks that the bridge gets in with its state notification's will lowered (default
/// notifications: retained, QoS 1, upstream too) and its state arrives upstream, that a
/// subscriber upstream gets each message at the QoS it expects (`received`), that one
/// connection was accepted and kept, and that the outbox drained (every message
/// acknowledged to the core, also those the upstream acknowledges differently).
fn through_a_limited_mosquitto(config: &str, sent: &[(QoS, bool)], received: &[QoS]) {
    let tag = format!("bridge-{}", config.trim().replace(' ', "-"));
    let mut upstream = Mosquitto::start(&tag, config);
    let state = "$SYS/broker/connection/gw.b1/state";
    let watcher = subscribed(upstream.addr, "watcher", state, QoS::AtLeastOnce);
    let topics = [("a/#", Direction::Out, 2, "", "")];
    let local = common::start(|c| {
        let b = bridge("b1", &[upstream.addr], &topics, BridgeProtocol::V5);
        assert!(
            b.notifications && !b.notifications_local_only,
            "a will upstream"
        );
        c.bridges.push(b);
        c.limits.sys_interval = Duration::from_secs(1);
    });
    let here = local.tcp();
    wait_up(here, "b1");
    let (topic, payload, _) = next(&watcher);
    assert_eq!((topic.as_str(), &payload[..]), (state, &b"1"[..]));
    let central = subscribed(upstream.addr, "central", "a/#", QoS::ExactlyOnce);
    let device = client(here, "device", true);
    device.connack();
    for (i, &(qos, retain)) in sent.iter().enumerate() {
        device
            .client
            .publish(format!("a/{i}"), qos, retain, vec![i as u8])
            .expect("publish");
    }
    // Mosquitto routes a QoS 2 message at its PUBREL: a later QoS 1 one may pass it.
    let mut got: Vec<_> = received.iter().map(|_| next(&central)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<_> = received
        .iter()
        .enumerate()
        .map(|(i, &qos)| (format!("a/{i}"), vec![i as u8], qos))
        .collect();
    assert_eq!(got, expected);
    let count = sent.len().to_string();
    wait_value(here, "$SYS/broker/connection/b1/sent", &count);
    wait_value(here, "$SYS/broker/connection/b1/inflight", "0");
    wait_value(here, "$SYS/broker/connection/b1/queued", "0");
    let logged = upstream.logged();
    let connects = logged.iter().filter(|l| l.contains(" as gw.b1 ")).count();
    assert_eq!(
        connects,
        1,
        "the bridge stayed connected:\n{}",
        logged.join("\n")
    );
}

#[test]
fn a_bridge_sends_qos_2_at_qos_1_to_a_mosquitto_with_max_qos_1() {
    through_a_limited_mosquitto(
        "max_qos 1\n",
        &[
            (QoS::ExactlyOnce, false),
            (QoS::AtLeastOnce, false),
            (QoS::ExactlyOnce, false),
        ],
        &[QoS::AtLeastOnce; 3],
    );
}

#[test]
fn a_bridge_sends_everything_at_qos_0_to_a_mosquitto_with_max_qos_0() {
    through_a_limited_mosquitto(
        "max_qos 0\n",
        &[
            (QoS::ExactlyOnce, false),
            (QoS::AtLeastOnce, false),
            (QoS::ExactlyOnce, false),
        ],
        &[QoS::AtMostOnce; 3],
    );
}

#[test]
fn a_bridge_sends_a_retained_message_unretained_to_a_mosquitto_without_retain_available() {
    through_a_limited_mosquitto(
        "retain_available false\n",
        &[
            (QoS::AtLeastOnce, true),
            (QoS::ExactlyOnce, true),
            (QoS::AtLeastOnce, false),
        ],
        &[QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce],
    );
}
