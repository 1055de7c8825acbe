//! Shared subscriptions `$share/GROUP/FILTER` [MQTT-4.8.2 of 5.0], served to MQTT 3.1.1
//! clients here (the harness speaks 3.1.1; the 5.0 path is the same code).

use super::*;

/// Publishes `n` numbered messages on `topic` from connection `from` at `qos`.
fn publish_numbered(h: &mut Harness, from: ConnId, topic: &str, n: u8, qos: QoS) {
    for i in 0..n {
        let id = (qos != Q0).then_some(u16::from(i) + 1);
        h.send(from, publish(topic, &[i], qos, false, id));
    }
    h.take(from);
}

/// The payloads of the PUBLISHes `conn` received.
fn payloads(h: &mut Harness, conn: ConnId) -> Vec<u8> {
    h.take(conn)
        .into_iter()
        .filter_map(|s| match s {
            Seen::Publish { payload, .. } => Some(payload[0]),
            _ => None,
        })
        .collect()
}

#[test]
fn each_message_goes_to_one_member_in_turn_mqtt_4_8_2_3() {
    let mut h = Harness::new();
    h.subscriber(0, "a", &[("$share/g/t/#", Q0)]);
    h.subscriber(1, "b", &[("$share/g/t/#", Q0)]);
    h.subscriber(2, "plain", &[("t/#", Q0)]);
    h.open(3, "pub", true);
    publish_numbered(&mut h, 3, "t/x", 6, Q0);
    let (a, b) = (payloads(&mut h, 0), payloads(&mut h, 1));
    assert_eq!(a.len() + b.len(), 6, "each message once: {a:?} {b:?}");
    assert_eq!((a.len(), b.len()), (3, 3), "round robin");
    // A non-shared subscription still gets every message.
    assert_eq!(payloads(&mut h, 2), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_shared_subscribe_gets_no_retained_message() {
    let mut h = Harness::new();
    h.open(0, "pub", true);
    h.send(0, publish("t", b"r", Q1, true, Some(1)));
    h.take(0);
    h.open(1, "a", true);
    h.send(1, subscribe(1, &[("$share/g/t", Q1)]));
    assert_eq!(h.take(1), vec![Seen::Suback(1, vec![1])]);
}

#[test]
fn malformed_shared_filters_are_refused_mqtt_4_8_2_1() {
    let mut h = Harness::new();
    h.open(0, "a", true);
    h.send(
        0,
        subscribe(
            1,
            &[("$share/g", Q0), ("$share/+/t", Q0), ("$share/g/t", Q0)],
        ),
    );
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![0x80, 0x80, 0])]);
}

#[test]
fn an_offline_member_is_skipped_while_another_is_online() {
    let mut h = Harness::new();
    h.open(0, "away", false);
    h.send(0, subscribe(1, &[("$share/g/t", Q1)]));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.subscriber(1, "here", &[("$share/g/t", Q1)]);
    h.open(2, "pub", true);
    publish_numbered(&mut h, 2, "t", 4, Q1);
    assert_eq!(payloads(&mut h, 1), [0, 1, 2, 3]);
}

#[test]
fn messages_of_a_member_whose_session_ends_go_to_the_others_mqtt_4_8_2_6() {
    let mut h = Harness::new();
    h.subscriber(0, "a", &[("$share/g/t", Q1)]);
    h.subscriber(1, "b", &[("$share/g/t", Q1)]);
    h.open(2, "pub", true);
    publish_numbered(&mut h, 2, "t", 4, Q1);
    // "a" got two, never acknowledges them, and goes (clean session: its session ends).
    let to_a = payloads(&mut h, 0);
    let to_b = payloads(&mut h, 1);
    assert_eq!((to_a.len(), to_b.len()), (2, 2));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    let mut again = payloads(&mut h, 1);
    again.sort_unstable();
    assert_eq!(again, to_a, "redelivered to the member left");
}

#[test]
fn unsubscribing_leaves_the_group_and_an_empty_group_goes() {
    let mut h = Harness::new();
    h.subscriber(0, "a", &[("$share/g/t", Q0)]);
    assert_eq!(h.broker.subscription_count(), 1);
    h.send(0, unsubscribe(2, &["$share/g/t"]));
    assert_eq!(h.take(0), vec![Seen::Unsuback(2)]);
    assert_eq!(h.broker.subscription_count(), 0);
    h.open(1, "pub", true);
    publish_numbered(&mut h, 1, "t", 1, Q0);
    assert_eq!(payloads(&mut h, 0), Vec::<u8>::new());
}

#[test]
fn memberships_count_against_max_subscriptions_once_each() {
    let mut h = Harness::with(Limits {
        max_subscriptions: 3,
        ..Limits::default()
    });
    h.subscriber(0, "a", &[("$share/g/t", Q0), ("plain", Q0)]);
    h.subscriber(1, "b", &[("$share/g/t", Q0)]);
    assert_eq!(
        h.broker.subscription_count(),
        3,
        "two members and one plain"
    );
    // The cap is reached: a fourth, shared or not, is refused.
    h.open(2, "c", true);
    h.send(2, subscribe(1, &[("$share/g/t", Q0), ("other", Q0)]));
    assert_eq!(h.take(2), vec![Seen::Suback(1, vec![0x80, 0x80])]);
    // A member leaving frees its place.
    h.send(1, unsubscribe(2, &["$share/g/t"]));
    h.take(1);
    h.send(2, subscribe(3, &[("$share/g/t", Q0)]));
    assert_eq!(h.take(2), vec![Seen::Suback(3, vec![0])]);
}
