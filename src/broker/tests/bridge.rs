//! A Mosquitto bridge connecting in: the bridge marker in its CONNECT's protocol level
//! (`try_private`) gives each of its subscriptions No Local and Retain As Published, as
//! Mosquitto's `handle__subscribe` does, so that what it forwards does not loop back and
//! retained messages stay retained on the other side.

use super::*;
use crate::broker::{RestoredSession, StoredSubscription};

/// Clean-session flag of a CONNECT.
const CLEAN: u8 = 0x02;

/// Opens `conn` as a bridge: a CONNECT with the protocol `name` and `level` (the bridge
/// bit set), client id `id`, sent as bytes through the codec as the reactor does.
fn open_bridge(h: &mut Harness, conn: ConnId, name: &[u8], level: u8, id: &str, clean: bool) {
    let mut payload = (id.len() as u16).to_be_bytes().to_vec();
    payload.extend_from_slice(id.as_bytes());
    let flags = if clean { CLEAN } else { 0 };
    h.broker.accepted(conn, 0, h.now);
    h.feed(conn, &connect_bytes(name, level, flags, &payload));
    let got = h.take(conn);
    assert!(
        matches!(got[..], [Seen::Connack { code: 0, .. }]),
        "accepted: {got:?}"
    );
}

/// A bridge subscribed to `a/#` at QoS 1 hears a retained message of another client
/// with RETAIN set, and not its own; a plain 3.1.1 client beside it gets RETAIN cleared
/// and its own message back.
fn check_bridge(name: &[u8], level: u8) {
    let mut h = Harness::new();
    open_bridge(&mut h, 0, name, level, "bridge", true);
    h.send(0, subscribe(1, &[("a/#", Q1)]));
    assert_eq!(h.take(0), [Seen::Suback(1, vec![1])]);
    h.subscriber(1, "plain", &[("a/#", Q1)]);

    h.send(0, publish("a/own", b"from the bridge", Q1, true, Some(7)));
    assert_eq!(h.take(0), [Seen::Puback(7)], "not back to the bridge");
    assert_eq!(
        h.take(1),
        [pub_seen("a/own", b"from the bridge", Q1, false, Some(1))]
    );

    h.send(1, publish("a/x", b"local", Q1, true, Some(9)));
    assert_eq!(
        h.take(0),
        [pub_seen("a/x", b"local", Q1, true, Some(1))],
        "Retain As Published for the bridge"
    );
    assert_eq!(
        h.take(1),
        [
            pub_seen("a/x", b"local", Q1, false, Some(2)),
            Seen::Puback(9)
        ],
        "a plain client gets its own message, RETAIN cleared [MQTT-3.3.1-9]"
    );
}

#[test]
fn a_3_1_1_bridge_gets_no_local_and_retain_as_published() {
    check_bridge(b"MQTT", 0x84);
}

#[test]
fn a_3_1_bridge_gets_no_local_and_retain_as_published() {
    check_bridge(b"MQIsdp", 0x83);
}

#[test]
fn the_bridge_bit_on_5_0_is_refused_with_connack_1() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_bytes(b"MQTT", 0x85, CLEAN, &[0, 0, 1, b'c']));
    assert_eq!(h.take(0), [connack(false, 1)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
}

#[test]
fn a_bridge_may_join_a_shared_subscription() {
    // No Local on a shared subscription is a protocol error for a 5.0 client
    // [MQTT-3.8.3-4 of 5.0]; the bridge did not ask for it, so it is granted.
    let mut h = Harness::new();
    open_bridge(&mut h, 0, b"MQTT", 0x84, "bridge", true);
    h.send(0, subscribe(1, &[("$share/g/t", Q1)]));
    assert_eq!(h.take(0), [Seen::Suback(1, vec![1])]);
    h.open(1, "p", true);
    h.send(1, publish("t", b"r", Q0, true, None));
    assert_eq!(h.take(0), [pub_seen("t", b"r", Q0, true, None)]);
}

#[test]
fn a_restored_bridge_session_keeps_no_local_and_retain_as_published() {
    let mut h = Harness::new();
    open_bridge(&mut h, 0, b"MQTT", 0x84, "bridge", false);
    h.send(0, subscribe(1, &[("a/#", Q1)]));
    h.take(0);
    let facts = h
        .broker
        .session_facts("bridge")
        .expect("a persistent session");
    // MQTT 5.0's options byte: QoS 1, No Local (0x04), Retain As Published (0x08).
    let stored = StoredSubscription {
        filter: "a/#".into(),
        options: 0x0d,
        subscription_id: 0,
    };
    assert_eq!(facts.subscriptions, [stored]);

    // A restart: the session comes back from the store, and the bridge reconnects
    // without subscribing again.
    let mut h = Harness::new();
    let restored = RestoredSession {
        client_id: "bridge".into(),
        username: None,
        version: ProtocolVersion::V311,
        offline_for: Duration::ZERO,
        expiry: crate::broker::sessions::NEVER,
        subscriptions: facts.subscriptions.clone(),
        entries: Vec::new(),
        pubrel_ids: Vec::new(),
    };
    let now = h.now;
    assert!(h.broker.restore_session(restored, now).kept);
    open_bridge(&mut h, 0, b"MQTT", 0x84, "bridge", false);
    h.send(0, publish("a/own", b"o", Q1, false, Some(3)));
    assert_eq!(h.take(0), [Seen::Puback(3)], "No Local kept");
    h.open(1, "p", true);
    h.send(1, publish("a/x", b"r", Q1, true, Some(4)));
    assert_eq!(
        h.take(0),
        [pub_seen("a/x", b"r", Q1, true, Some(1))],
        "Retain As Published kept"
    );
}

#[test]
fn a_client_may_publish_a_bridge_state_to_sys_as_in_mosquitto() {
    let mut h = Harness::new();
    h.subscriber(0, "watcher", &[("$SYS/broker/connection/#", Q1)]);
    open_bridge(&mut h, 1, b"MQTT", 0x84, "edge.to-sol", true);
    let state = "$SYS/broker/connection/edge.to-sol/state";
    h.send(1, publish(state, b"1", Q1, true, Some(1)));
    h.send(
        1,
        publish("$SYS/broker/connection/x/other", b"1", Q1, false, Some(2)),
    );
    h.send(
        1,
        publish("$SYS/broker/connection/x", b"1", Q1, false, Some(3)),
    );
    assert_eq!(
        h.take(1),
        [Seen::Puback(1), Seen::Puback(2), Seen::Puback(3)]
    );
    assert_eq!(
        h.take(0),
        [pub_seen(state, b"1", Q1, false, Some(1))],
        "only the state topic is written"
    );
    // Retained: a later subscriber learns the bridge is up.
    h.open(2, "late", true);
    h.send(2, subscribe(1, &[("$SYS/broker/connection/+/state", Q1)]));
    assert_eq!(
        h.take(2),
        [
            Seen::Suback(1, vec![1]),
            pub_seen(state, b"1", Q1, true, Some(1))
        ]
    );
}
