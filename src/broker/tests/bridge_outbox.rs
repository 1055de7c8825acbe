//! Bridges' local side: the outbox session exists without an uplink, has its own caps
//! and full-queue policy, drains within the upstream's window once attached, and does
//! not get back what the bridge itself published.

use super::*;
use crate::broker::{BridgeLocal, BridgeOutbox};

/// The bridge's slot: beyond any client slot these tests use.
const BRIDGE: ConnId = 40;

fn outbox(max_messages: usize, drop_oldest: bool) -> BridgeOutbox {
    BridgeOutbox::for_test(max_messages, drop_oldest)
}

/// Sets up bridge 0 `local.gw.b1` with outbox `o`, subscribed to `filter` at QoS 1.
fn set_up(h: &mut Harness, o: BridgeOutbox, filter: &str) {
    let filters = [(filter.to_string(), Q1)];
    let local = BridgeLocal {
        client_id: "local.gw.b1",
        username: None,
        clean: false,
        outbox: o,
        filters: &filters,
    };
    h.broker.bridge_session(0, &local, h.now);
}

/// A harness with bridge 0 (outbox `o`, subscribed to `L/#` at QoS 1) and a publisher
/// on connection 1.
fn bridged(o: BridgeOutbox) -> Harness {
    let mut h = Harness::new();
    set_up(&mut h, o, "L/#");
    h.open(1, "publisher", true);
    h
}

/// A PUBLISH the bridge's connection was sent (MQTT 5.0): payload, DUP, packet id and
/// Subscription Identifier.
type BridgeSeen = (Vec<u8>, bool, Option<u16>, Option<u32>);

/// The PUBLISHes the bridge's connection was sent.
fn bridge_seen(h: &mut Harness) -> Vec<BridgeSeen> {
    let bytes = h.drain(BRIDGE);
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while let Ok(Some(header)) = FixedHeader::parse(rest) {
        let (frame, tail) = rest.split_at(header.packet_len());
        rest = tail;
        if let Ok(Packet::Publish(p)) = codec::decode(frame, ProtocolVersion::V5) {
            let id = p.properties.get(property::SUBSCRIPTION_IDENTIFIER);
            let id = match id {
                Some(codec::Property::VarInt(_, v)) => Some(v),
                _ => None,
            };
            out.push((p.payload.to_vec(), p.dup, p.packet_id, id));
        }
    }
    out
}

fn publish_n(h: &mut Harness, n: u8) {
    for i in 1..=n {
        h.send(1, publish("L/t", &[i], Q1, false, Some(u16::from(i))));
    }
    h.take(1);
}

#[test]
fn messages_wait_in_the_outbox_until_the_uplink_is_up_then_drain_within_its_window() {
    let mut h = bridged(outbox(100, true));
    publish_n(&mut h, 3);
    assert_eq!(h.broker.bridge_counts(0).queued, 3, "kept with no uplink");
    h.broker.bridge_attach(BRIDGE, 0, 2, u32::MAX, h.now);
    h.effects();
    let seen = bridge_seen(&mut h);
    assert_eq!(
        seen,
        [
            (vec![1], false, Some(1), Some(1)),
            (vec![2], false, Some(2), Some(1)),
        ],
        "the upstream's Receive Maximum of 2 bounds what is in flight"
    );
    h.send(BRIDGE, Packet::Puback(codec::Ack::new(1)));
    assert_eq!(bridge_seen(&mut h), [(vec![3], false, Some(3), Some(1))]);
}

#[test]
fn a_lost_uplink_resends_what_was_in_flight_when_it_returns() {
    let mut h = bridged(outbox(100, true));
    h.broker.bridge_attach(BRIDGE, 0, 20, u32::MAX, h.now);
    publish_n(&mut h, 1);
    assert_eq!(bridge_seen(&mut h).len(), 1);
    h.broker.closed(BRIDGE, CloseReason::SocketError, h.now);
    publish_n(&mut h, 2);
    h.broker.bridge_attach(BRIDGE, 0, 20, u32::MAX, h.now);
    h.effects();
    let seen = bridge_seen(&mut h);
    assert_eq!(seen[0], (vec![1], true, Some(1), Some(1)), "DUP, same id");
    assert_eq!(seen.len(), 3, "then what waited: {seen:?}");
}

/// Three messages into a full outbox of two under `drop_oldest`: the payloads the
/// bridge is sent once attached.
fn overflow_of_two(drop_oldest: bool) -> Vec<Vec<u8>> {
    let mut h = bridged(outbox(2, drop_oldest));
    publish_n(&mut h, 3);
    let counts = h.broker.bridge_counts(0);
    assert_eq!((counts.queued, counts.dropped), (2, 1), "counted");
    h.broker.bridge_attach(BRIDGE, 0, 20, u32::MAX, h.now);
    h.effects();
    bridge_seen(&mut h).into_iter().map(|s| s.0).collect()
}

#[test]
fn a_full_outbox_drops_its_oldest_message_under_drop_oldest() {
    assert_eq!(overflow_of_two(true), [vec![2], vec![3]], "the newest kept");
}

#[test]
fn a_full_outbox_refuses_new_messages_under_refuse_new() {
    assert_eq!(
        overflow_of_two(false),
        [vec![1], vec![2]],
        "the oldest kept"
    );
}

#[test]
fn what_the_bridge_publishes_here_is_not_sent_back_up() {
    let mut h = bridged(outbox(100, true));
    h.subscriber(2, "local", &[("L/#", Q1)]);
    h.broker.bridge_attach(BRIDGE, 0, 20, u32::MAX, h.now);
    h.effects();
    h.send(BRIDGE, publish("L/from-upstream", b"x", Q1, false, Some(7)));
    assert_eq!(bridge_seen(&mut h), [], "No Local");
    assert_eq!(
        h.take(2),
        [pub_seen("L/from-upstream", b"x", Q1, false, Some(1))]
    );
}

#[test]
fn a_restart_keeps_the_outbox_and_its_subscriptions_are_the_configured_ones() {
    let mut h = bridged(outbox(100, true));
    publish_n(&mut h, 2);
    // The configuration changed: L/# is gone, M/# is new; what waited stays.
    set_up(&mut h, outbox(100, true), "M/#");
    assert_eq!(h.broker.bridge_counts(0).queued, 2);
    h.send(1, publish("L/t", b"late", Q1, false, Some(9)));
    h.send(1, publish("M/t", b"new", Q1, false, Some(10)));
    assert_eq!(h.broker.bridge_counts(0).queued, 3);
}

#[test]
fn a_restored_outbox_keeps_its_own_caps_not_the_clients() {
    let o = outbox(500, true);
    let mut h = Harness::with(Limits {
        max_queued_messages: 10,
        bridge_outboxes: vec![("local.gw.b1".into(), o)],
        ..Limits::default()
    });
    let entry = |i: u8| StoredEntry {
        message: Some(Message::new("L/t", &[i])),
        qos: Q1,
        retain: false,
        packet_id: None,
    };
    let restored = |id: &str| RestoredSession {
        client_id: id.into(),
        username: None,
        version: ProtocolVersion::V5,
        offline_for: Duration::ZERO,
        expiry: NEVER,
        subscriptions: Vec::new(),
        entries: (0..100).map(entry).collect(),
        pubrel_ids: Vec::new(),
    };
    let outcome = h.broker.restore_session(restored("local.gw.b1"), h.now);
    assert_eq!(outcome.dropped_messages, 0, "the outbox's cap is 500");
    let outcome = h.broker.restore_session(restored("a-client"), h.now);
    assert_eq!(
        outcome.dropped_messages, 90,
        "a client's is max_queued_messages"
    );
}

#[test]
fn max_queued_memory_neither_caps_nor_counts_an_outbox() {
    let o = outbox(1000, true);
    let mut h = Harness::with(Limits {
        max_queued_memory: 200,
        bridge_outboxes: vec![("local.gw.b1".into(), o)],
        ..Limits::default()
    });
    set_up(&mut h, o, "L/#");
    h.open(1, "publisher", true);
    // A parked client session, to see what max_queued_memory leaves it.
    h.open(2, "parked", false);
    h.send(2, subscribe(1, &[("L/#", Q1)]));
    h.take(2);
    h.broker.closed(2, CloseReason::SocketError, h.now);
    h.effects();
    publish_n(&mut h, 20);
    let counts = h.broker.bridge_counts(0);
    assert_eq!(
        (counts.queued, counts.dropped),
        (20, 0),
        "the outbox's own caps"
    );
    let parked = h.broker.client_held_bytes();
    assert!(
        parked > 0 && parked <= 200,
        "the client's queue: {parked} B, within the cap"
    );
}

#[test]
fn qos0_for_an_uplink_that_is_down_is_counted_unless_it_waits() {
    for (queue_qos0, queued, dropped) in [(false, 0, 2), (true, 2, 0)] {
        let mut h = bridged(BridgeOutbox {
            queue_qos0,
            ..outbox(100, true)
        });
        h.send(1, publish("L/t", b"a", Q0, false, None));
        h.send(1, publish("L/t", b"b", Q0, false, None));
        let counts = h.broker.bridge_counts(0);
        assert_eq!(
            (counts.queued, counts.dropped),
            (queued, dropped),
            "{queue_qos0}"
        );
    }
}
