//! `persistence_sync`: acknowledgements held until the store has the changes on disk.

use super::*;

fn holding() -> Harness {
    Harness::with(Limits {
        track_durable: true,
        ack_after_sync: true,
        ..Limits::default()
    })
}

#[test]
fn puback_and_pubrec_wait_for_their_batch_and_keep_their_order_mqtt_4_6_0_2() {
    let mut h = holding();
    h.open(0, "p", true);
    h.send(0, publish("t", b"1", Q1, false, Some(1)));
    h.send(0, publish("t", b"2", Q2, false, Some(2)));
    assert!(h.take(0).is_empty(), "nothing acknowledged before the sync");
    assert!(h.broker.holds_acks());
    h.broker.seal_acks(1);
    h.send(0, publish("t", b"3", Q1, false, Some(3)));
    h.broker.seal_acks(2);
    h.broker.release_acks(0, h.now);
    assert!(h.take(0).is_empty(), "batch 1 is not synced yet");
    h.broker.release_acks(1, h.now);
    assert_eq!(h.take(0), vec![Seen::Puback(1), Seen::Pubrec(2)]);
    h.broker.release_acks(2, h.now);
    assert_eq!(h.take(0), vec![Seen::Puback(3)]);
    assert!(!h.broker.holds_acks());
    // The rest of QoS 2 is not held: PUBCOMP answers PUBREL at once.
    h.send(0, Packet::pubrel(2));
    assert_eq!(h.take(0), vec![Seen::Pubcomp(2)]);
}

#[test]
fn a_resent_qos2_publish_is_acknowledged_only_once_its_batch_is_synced() {
    let mut h = holding();
    h.open(0, "p", true);
    h.send(0, publish("t", b"x", Q2, false, Some(7)));
    h.broker.seal_acks(1);
    h.send(0, publish_dup("t", b"x", Q2, false, Some(7), true));
    h.broker.seal_acks(2);
    h.broker.release_acks(1, h.now);
    assert_eq!(h.take(0), vec![Seen::Pubrec(7)]);
    h.broker.release_acks(2, h.now);
    assert_eq!(h.take(0), vec![Seen::Pubrec(7)]);
}

#[test]
fn a_publisher_with_too_many_waiting_acks_is_not_read_until_they_go() {
    let mut h = holding();
    h.open(0, "p", true);
    for id in 1..=HELD_PER_CONNECTION {
        assert!(h.paused.is_empty(), "read while fewer than the cap wait");
        h.send(0, publish("t", b"x", Q1, false, Some(id)));
    }
    assert_eq!(h.paused, vec![0], "paused at the cap");
    h.broker.seal_acks(1);
    h.broker.release_acks(1, h.now);
    h.effects();
    assert!(h.paused.is_empty(), "resumed once they are sent");
    assert_eq!(h.take(0).len(), usize::from(HELD_PER_CONNECTION));
}

#[test]
fn acks_of_a_closed_connection_are_dropped_not_sent_to_the_next() {
    let mut h = holding();
    h.open(0, "p", true);
    h.send(0, publish("t", b"x", Q1, false, Some(1)));
    h.broker.seal_acks(1);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    assert!(!h.broker.holds_acks());
    h.open(0, "q", true);
    h.broker.release_acks(1, h.now);
    assert!(h.take(0).is_empty());
}

#[test]
fn without_persistence_sync_acks_go_at_once() {
    let mut h = Harness::with(Limits {
        track_durable: true,
        ..Limits::default()
    });
    h.open(0, "p", true);
    h.send(0, publish("t", b"x", Q1, false, Some(1)));
    assert_eq!(h.take(0), vec![Seen::Puback(1)]);
    assert!(!h.broker.holds_acks());
}
