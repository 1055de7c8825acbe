//! Wills, deadlines, takeover, persistent sessions and what a store must record.

use super::*;

#[test]
fn will_is_published_on_keep_alive_timeout_mqtt_3_1_2_8_mqtt_3_1_2_24() {
    let mut h = Harness::new();
    h.open(0, "watcher", true);
    h.send(0, subscribe(1, &[("wills/#", Q1)]));
    h.take(0);
    h.broker.accepted(1, 0, h.now);
    h.send(
        1,
        connect("dying", true, 10, will("wills/dying", Q1, false)),
    );
    h.take(1);
    // 1.5 x 10 s: still alive just before, closed at the deadline.
    h.advance(Duration::from_millis(14_900));
    assert_eq!(h.is_closed(1), None);
    assert_eq!(h.take(0), vec![]);
    h.advance(Duration::from_millis(100));
    assert_eq!(h.is_closed(1), Some(CloseReason::KeepAliveTimeout));
    assert_eq!(
        h.take(0),
        vec![pub_seen("wills/dying", b"gone", Q1, false, Some(1))]
    );
}

#[test]
fn connection_deadlines_within_a_second_share_one_wake_up() {
    let mut h = Harness::new();
    let start = h.now;
    // Ten clients connecting 90 ms apart, keep-alive 10 s: their connect-timeout checks
    // (10 s after accept) and keep-alive deadlines (15 s after CONNECT) each fall within
    // one second of the broker's clock.
    h.advance(Duration::from_millis(50));
    for conn in 1..=10 {
        h.broker.accepted(conn, 0, h.now);
        h.send(conn, connect(&format!("c{conn}"), true, 10, None));
        h.take(conn);
        h.advance(Duration::from_millis(90));
    }
    let mut wakes = Vec::new();
    while let Some(at) = h.broker.next_deadline() {
        wakes.push(at - start);
        h.advance(at - h.now);
    }
    // Two wake-ups for ten clients: the stale connect-timeout entries together at 11 s,
    // the keep-alive expiry of all ten at 16 s.
    assert_eq!(
        wakes,
        vec![Duration::from_secs(11), Duration::from_secs(16)]
    );
    for conn in 1..=10 {
        assert_eq!(
            h.is_closed(conn),
            Some(CloseReason::KeepAliveTimeout),
            "c{conn}"
        );
    }
}

#[test]
fn any_packet_resets_keep_alive() {
    let mut h = Harness::new();
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 2, None));
    for _ in 0..10 {
        h.advance(Duration::from_secs(2));
        h.send(1, Packet::Pingreq);
    }
    assert_eq!(h.is_closed(1), None);
    h.advance(Duration::from_secs(3));
    assert_eq!(h.is_closed(1), Some(CloseReason::KeepAliveTimeout));
}

#[test]
fn will_is_not_published_after_disconnect_mqtt_3_14_4_3() {
    let mut h = Harness::new();
    h.open(0, "watcher", true);
    h.send(0, subscribe(1, &[("w", Q0)]));
    h.take(0);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 60, will("w", Q0, false)));
    h.send(1, Packet::disconnect());
    assert_eq!(h.is_closed(1), Some(CloseReason::ClientDisconnect));
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn will_is_published_on_socket_error_with_retain_honoured() {
    let mut h = Harness::new();
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 60, will("w", Q0, true)));
    h.broker.closed(1, CloseReason::SocketError, h.now);
    h.open(0, "late", true);
    h.send(0, subscribe(1, &[("w", Q0)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(1, vec![0]),
            pub_seen("w", b"gone", Q0, true, None)
        ]
    );
}

/// At the broker's shutdown a will is published only when a store keeps what it reaches.
#[test]
fn will_at_shutdown_is_published_only_with_a_store() {
    for track_durable in [false, true] {
        let mut h = Harness::with(Limits {
            track_durable,
            ..Limits::default()
        });
        h.broker.accepted(1, 0, h.now);
        h.send(1, connect("c", true, 60, will("w", Q0, true)));
        h.broker.closed(1, CloseReason::Shutdown, h.now);
        assert_eq!(h.broker.retained_count(), usize::from(track_durable));
    }
}

#[test]
fn takeover_by_a_clean_session_publishes_the_old_connections_will_mqtt_3_1_4_2() {
    let mut h = Harness::new();
    h.open(0, "watcher", true);
    h.send(0, subscribe(1, &[("w", Q0)]));
    h.take(0);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("dup", false, 60, will("w", Q0, false)));
    h.take(1);
    h.broker.accepted(2, 0, h.now);
    h.send(2, connect("dup", true, 60, None));
    assert_eq!(h.is_closed(1), Some(CloseReason::TakenOver));
    assert_eq!(h.take(2), vec![connack(false, 0)]);
    // The old session ended: its client is gone as far as anyone can tell.
    assert_eq!(h.take(0), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn takeover_of_a_continuing_session_keeps_the_will_unpublished_mqtt_3_1_4_2() {
    let mut h = Harness::new();
    h.open(0, "watcher", true);
    h.send(0, subscribe(1, &[("w", Q0)]));
    h.take(0);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("dup", false, 60, will("w", Q0, false)));
    h.send(1, subscribe(1, &[("keep", Q1)]));
    h.take(1);
    h.broker.accepted(2, 0, h.now);
    h.send(2, connect("dup", false, 60, None));
    assert_eq!(h.is_closed(1), Some(CloseReason::TakenOver));
    assert_eq!(
        h.take(2),
        vec![Seen::Connack {
            present: true,
            code: 0
        }]
    );
    // The session goes on with a new connection: the client has not gone, so its old
    // connection's will is not published (Mosquitto's behaviour; MQTT 5.0's rule).
    assert_eq!(h.take(0), vec![]);
    assert_eq!(h.broker.clients_connected(), 2);
    // The session, with its subscription, now belongs to the new connection.
    h.send(0, publish("keep", b"k", Q1, false, Some(4)));
    assert_eq!(h.take(2), vec![pub_seen("keep", b"k", Q1, false, Some(1))]);
}

#[test]
fn connect_timeout_closes_a_silent_connection() {
    let mut h = Harness::with(Limits {
        connect_timeout: Duration::from_secs(5),
        ..Limits::default()
    });
    h.broker.accepted(3, 0, h.now);
    assert_eq!(
        h.broker.next_deadline(),
        Some(h.now + Duration::from_secs(5))
    );
    h.advance(Duration::from_secs(4));
    assert_eq!(h.is_closed(3), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.is_closed(3), Some(CloseReason::ConnectTimeout));
}

#[test]
fn the_reactors_sleep_ends_when_the_deadline_is_due_never_before() {
    // The reactor times its sleep on the broker's clock (`next_tick`, `wait_until` from
    // the turn's start, `is_due` after the poll): from a turn that starts anywhere in a
    // millisecond, the wait ends at the deadline or at most a millisecond after, and the
    // deadline is due then (a wait that ended early would make a turn for nothing).
    let mut h = Harness::with(Limits {
        connect_timeout: Duration::from_secs(5),
        ..Limits::default()
    });
    h.broker.accepted(3, 0, h.now);
    let t = h.broker.next_tick().expect("the CONNECT timeout");
    let deadline = h.now + Duration::from_secs(5);
    assert!(!h.broker.is_due(t, deadline - Duration::from_nanos(1)));
    assert!(h.broker.is_due(t, deadline));
    for micros in [
        0, 1, 499, 999, 1000, 1001, 4_000_000, 4_999_999, 5_000_000, 6_000_000,
    ] {
        let start = h.now + Duration::from_micros(micros);
        let wait = h.broker.wait_until(t, start);
        assert!(start + wait >= deadline, "{micros} us: early");
        assert!(
            start + wait <= deadline.max(start) + Duration::from_millis(1),
            "{micros} us: late"
        );
        assert!(h.broker.is_due(t, start + wait), "{micros} us");
    }
}

#[test]
fn idle_broker_has_no_deadline() {
    let h = Harness::new();
    assert_eq!(h.broker.next_deadline(), None);
}

#[test]
fn persistent_session_queues_qos1_offline_and_resumes_mqtt_3_1_2_4_mqtt_3_2_2_2() {
    let mut h = Harness::new();
    assert_eq!(h.open(0, "p", false), ACCEPTED);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.effects();
    h.open(1, "pub", true);
    h.send(1, publish("t", b"q1", Q1, false, Some(1)));
    h.send(1, publish("t", b"q0", Q0, false, None));
    h.send(1, publish("t", b"q2", Q2, false, Some(2)));
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Connack {
                present: true,
                code: 0
            },
            pub_seen("t", b"q1", Q1, false, Some(1)),
            pub_seen("t", b"q2", Q1, false, Some(2)),
        ],
        "QoS 0 is not queued for an offline session; QoS 2 is delivered at the granted QoS 1"
    );
}

#[test]
fn clean_session_discards_the_stored_session_mqtt_3_1_2_6() {
    let mut h = Harness::new();
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", true, 60, None));
    assert_eq!(h.take(0), vec![ACCEPTED]);
    assert_eq!(h.broker.subscription_count(), 0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    assert!(
        h.broker.sessions.is_empty(),
        "a clean session ends with its connection"
    );
}

#[test]
fn unacknowledged_messages_are_resent_with_dup_on_resume_mqtt_4_4_0_1() {
    let mut h = Harness::new();
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("a", Q1), ("b", Q2)]));
    h.take(0);
    h.open(1, "pub", true);
    h.send(1, publish("a", b"1", Q1, false, Some(1)));
    h.send(1, publish("b", b"2", Q2, false, Some(2)));
    h.send(1, publish("b", b"3", Q2, false, Some(3)));
    assert_eq!(h.take(0).len(), 3);
    h.send(0, Packet::pubrec(3));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    let dup = |topic: &str, payload: &[u8], qos, id| Seen::Publish {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        dup: true,
        retain: false,
        id: Some(id),
    };
    assert_eq!(
        h.take(0),
        vec![
            Seen::Connack {
                present: true,
                code: 0
            },
            dup("a", b"1", Q1, 1),
            dup("b", b"2", Q2, 2),
            Seen::Pubrel(3)
        ]
    );
}

#[test]
fn offline_session_expires_after_persistent_client_expiration() {
    let mut h = Harness::with(Limits {
        persistent_client_expiration: Some(Duration::from_secs(3600)),
        ..Limits::default()
    });
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.advance(Duration::from_secs(3599));
    assert_eq!(h.broker.subscription_count(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.broker.subscription_count(), 0);
    assert_eq!(h.broker.stats().clients_expired, 1);
    assert_eq!(
        h.open(0, "p", false),
        ACCEPTED,
        "no session present after expiry"
    );
}

/// After a restart a session's age is the running time it was offline before the stop
/// (the store's clock; the time Sol was down does not count, as a gateway may boot
/// without a real-time clock): it expires when that age reaches the expiry.
#[test]
fn a_restored_session_expires_after_the_rest_of_its_expiry() {
    use crate::broker::{RestoredSession, StoredEntry};
    let mut h = Harness::with(Limits {
        persistent_client_expiration: Some(Duration::from_secs(3600)),
        ..Limits::default()
    });
    let session = |id: &str, offline_min: u64| RestoredSession {
        client_id: id.into(),
        username: None,
        version: ProtocolVersion::V311,
        offline_for: Duration::from_secs(offline_min * 60),
        expiry: crate::broker::sessions::NEVER,
        subscriptions: vec![crate::broker::StoredSubscription {
            filter: "t".into(),
            options: 1,
            subscription_id: 0,
        }],
        entries: vec![StoredEntry {
            message: Some(Message::with_properties("t", &[], b"queued")),
            qos: Q1,
            retain: false,
            packet_id: None,
        }],
        pubrel_ids: Vec::new(),
    };
    let now = h.now;
    assert!(h.broker.restore_session(session("old", 50), now).kept);
    let gone = h.broker.restore_session(session("expired", 60), now);
    assert!(!gone.kept, "past its expiry before the stop");
    assert_eq!(h.broker.persistent_sessions(), ["old".to_string()]);
    h.advance(Duration::from_secs(9 * 60));
    assert_eq!(h.broker.subscription_count(), 1);
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.broker.subscription_count(),
        0,
        "expired 10 minutes after the restart"
    );
    assert!(h.broker.persistent_sessions().is_empty());
}

#[test]
fn durable_effects_name_what_a_store_must_record() {
    let mut h = Harness::with(Limits {
        track_durable: true,
        ..Limits::default()
    });
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.send(0, publish("r", b"v", Q0, true, None));
    assert!(h.durable.contains(&Durable::SessionCreated {
        client_id: "p".into(),
        username: None,
    }));
    assert!(h.durable.contains(&Durable::Subscribed {
        client_id: "p".into(),
        filter: "t".into(),
        qos: Q1,
    }));
    assert!(h
        .durable
        .iter()
        .any(|d| matches!(d, Durable::RetainedSet { .. })));
    // A message for the session is queued and sent; its PUBACK ends it; going offline
    // and the session's end are recorded too. `$SYS` retained values never are.
    h.take(0);
    h.open(1, "q", true);
    // A QoS 0 message delivered at once leaves nothing to record.
    h.send(1, publish("t", b"q0", Q0, false, None));
    assert_eq!(h.take(0).len(), 1);
    h.send(1, publish("t", b"m", Q1, false, Some(1)));
    let id = match h.take(0).as_slice() {
        [Seen::Publish { id: Some(id), .. }] => *id,
        other => panic!("one QoS 1 delivery: {other:?}"),
    };
    h.send(0, Packet::puback(id));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.effects();
    h.open(0, "p", true);
    let p = |d: &Durable| match d {
        Durable::MessageQueued { client_id, .. }
        | Durable::MessageSent { client_id, .. }
        | Durable::MessageAcknowledged { client_id, .. }
        | Durable::SessionDetached { client_id }
        | Durable::SessionRemoved { client_id } => &**client_id == "p",
        _ => false,
    };
    let of_p: Vec<&Durable> = h.durable.iter().filter(|d| p(d)).collect();
    assert!(
        matches!(
            of_p.as_slice(),
            [
                Durable::MessageQueued { .. },
                Durable::MessageSent {
                    packet_id: Some(_),
                    ..
                },
                Durable::MessageAcknowledged { .. },
                Durable::SessionDetached { .. },
                Durable::SessionRemoved { .. },
            ]
        ),
        "{of_p:#?}"
    );
    assert!(
        !h.durable
            .iter()
            .any(|d| matches!(d, Durable::SessionCreated { client_id, .. } if &**client_id == "q")),
        "a clean session is not recorded"
    );
}
