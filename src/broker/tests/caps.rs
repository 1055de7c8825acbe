//! Every cap, hit: each refuses or drops, counts and logs, and the others keep working; memory per connection.

use super::*;

#[test]
fn total_subscription_cap_refuses_with_0x80_across_clients() {
    let mut h = Harness::with(Limits {
        max_subscriptions: 2,
        ..Limits::default()
    });
    h.open(0, "a", true);
    h.open(1, "b", true);
    h.send(0, subscribe(1, &[("x", Q0), ("y", Q0)]));
    h.send(1, subscribe(1, &[("z", Q1)]));
    assert_eq!(h.take(1), vec![Seen::Suback(1, vec![0x80])]);
    h.send(0, unsubscribe(2, &["x"]));
    h.send(1, subscribe(3, &[("z", Q1)]));
    assert_eq!(
        h.take(1),
        vec![Seen::Suback(3, vec![1])],
        "room again after an UNSUBSCRIBE"
    );
}

#[test]
fn too_many_qos2_awaiting_pubrel_disconnects() {
    let mut h = Harness::with(Limits {
        max_inflight_incoming: 2,
        ..Limits::default()
    });
    h.open(0, "pub", true);
    h.send(0, publish("t", b"1", Q2, false, Some(1)));
    h.send(0, publish("t", b"2", Q2, false, Some(2)));
    assert_eq!(h.is_closed(0), None);
    h.send(0, publish("t", b"3", Q2, false, Some(3)));
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.broker.stats().protocol_errors, 1);
}

#[test]
fn session_beyond_max_offline_sessions_is_not_kept() {
    let mut h = Harness::with(Limits {
        max_offline_sessions: 1,
        ..Limits::default()
    });
    for (conn, id) in [(0, "first"), (1, "second")] {
        h.open(conn, id, false);
        h.send(conn, subscribe(1, &[("t", Q1)]));
        h.broker.closed(conn, CloseReason::PeerClosed, h.now);
        h.effects();
    }
    assert_eq!(
        h.open(0, "first", false),
        connack(true, 0),
        "the first is kept"
    );
    assert_eq!(
        h.open(1, "second", false),
        ACCEPTED,
        "the second was not kept"
    );
}

#[test]
fn offline_queue_byte_cap_drops_and_counts() {
    let mut h = Harness::with(Limits {
        max_queued_bytes: 100,
        ..Limits::default()
    });
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.open(1, "pub", true);
    // 3 + 40 bytes each: two fit in 100, the third does not.
    for i in 1..=3u16 {
        h.send(1, publish("t", &[i as u8; 40], Q1, false, Some(i)));
    }
    assert_eq!(h.broker.stats().publish_dropped, 1);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    let got = h.take(0);
    assert_eq!(got[0], connack(true, 0));
    assert_eq!(got.len(), 3, "the two that fit are delivered: {got:?}");
}

#[test]
fn publish_with_too_many_topic_levels_is_dropped_counted_and_acknowledged() {
    let mut h = Harness::with(Limits {
        max_topic_levels: 3,
        ..Limits::default()
    });
    h.subscriber(0, "sub", &[("#", Q1)]);
    h.open(1, "pub", true);
    h.send(1, publish("a/b/c/d", b"x", Q1, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Puback(5)]);
    assert_eq!(h.take(0), vec![]);
    assert_eq!(h.broker.stats().publish_dropped, 1);
    assert_eq!(h.is_closed(1), None, "the connection stays");
}

#[test]
fn per_connection_state_stays_small() {
    // What every connection slot and session costs; ../config/ceiling.rs counts on it.
    assert_size_of::<Option<Conn>>(104);
    assert_size_of::<Option<crate::broker::sessions::Session>>(192);
}

#[test]
fn connection_table_is_written_only_up_to_the_highest_slot_used() {
    let mut h = Harness::with(Limits {
        max_connections: 1000,
        ..Limits::default()
    });
    assert_eq!(h.broker.conns.len(), 0);
    assert!(h.broker.conns.capacity() >= 1000);
    h.open(2, "c", true);
    assert_eq!(h.broker.conns.len(), 3);
    h.broker.accepted(1000, 0, h.now);
    assert_eq!(
        h.broker.conns.len(),
        3,
        "a slot outside the pool is refused"
    );
}
