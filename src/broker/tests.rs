//! The broker core driven packet by packet, without sockets. Test names cite the
//! normative statement of MQTT 3.1.1 they check.

use super::harness::*;
use super::*;

const ACCEPTED: Seen = Seen::Connack {
    present: false,
    code: 0,
};

#[test]
fn connect_is_answered_with_connack_0_and_no_session_present_mqtt_3_2_2_3() {
    let mut h = Harness::new();
    assert_eq!(h.open(0, "a", true), ACCEPTED);
    assert_eq!(h.broker.clients_connected(), 1);
}

#[test]
fn first_packet_must_be_connect_mqtt_3_1_0_1() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.send(0, Packet::Pingreq);
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
}

#[test]
fn second_connect_is_a_protocol_violation_mqtt_3_1_0_2() {
    let mut h = Harness::new();
    h.open(0, "a", true);
    h.send(0, connect("a", true, 60, None));
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.broker.clients_connected(), 0);
}

#[test]
fn packets_after_close_are_ignored() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.broker.handle(0, Packet::Pingreq, h.now);
    h.broker.handle(0, connect("x", true, 0, None), h.now);
    assert_eq!(
        h.broker.poll_effect(),
        Some(Effect::Close {
            conn: 0,
            reason: CloseReason::ProtocolError
        })
    );
    assert!(
        !h.broker.has_output(0),
        "nothing is answered after the close decision"
    );
}

#[test]
fn unsupported_protocol_level_gets_connack_1_then_close_mqtt_3_1_2_2() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.broker
        .malformed(0, DecodeError::UnsupportedProtocolLevel(5), h.now);
    assert_eq!(
        h.take(0),
        vec![Seen::Connack {
            present: false,
            code: 1
        }]
    );
    h.effects();
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
}

#[test]
fn malformed_packet_closes_mqtt_4_8_0_1() {
    let mut h = Harness::new();
    h.open(0, "a", true);
    h.broker.malformed(0, DecodeError::InvalidUtf8, h.now);
    h.effects();
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.broker.stats().protocol_errors, 1);
}

#[test]
fn empty_client_id_without_clean_session_is_rejected_mqtt_3_1_3_8() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("", false, 60, None));
    // The CONNACK 0x02 is written before the close.
    assert_eq!(
        h.take(0),
        vec![Seen::Connack {
            present: false,
            code: 2
        }]
    );
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
}

#[test]
fn empty_client_id_with_clean_session_gets_a_generated_id_mqtt_3_1_3_6() {
    let mut h = Harness::new();
    assert_eq!(h.open(0, "", true), ACCEPTED);
    assert_eq!(h.open(1, "", true), ACCEPTED);
    let ids: Vec<&str> = h.broker.sessions.iter().map(|s| s.client_id()).collect();
    assert_eq!(ids.len(), 2, "two distinct generated ids: {ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("auto-")));
}

#[test]
fn client_id_longer_than_cap_is_rejected() {
    let mut h = Harness::with(Limits {
        max_client_id_length: 3,
        ..Limits::default()
    });
    h.broker.accepted(0, 0, h.now);
    h.broker.handle(0, connect("abcd", true, 60, None), h.now);
    assert_eq!(
        h.take(0),
        vec![Seen::Connack {
            present: false,
            code: 2
        }]
    );
}

#[test]
fn anonymous_client_refused_when_listener_forbids_it() {
    let limits = Limits {
        listeners: vec![ListenerPolicy {
            allow_anonymous: false,
            use_identity_as_username: false,
        }],
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.broker.accepted(0, 0, h.now);
    h.broker.handle(0, connect("a", true, 60, None), h.now);
    assert_eq!(
        h.take(0),
        vec![Seen::Connack {
            present: false,
            code: 5
        }]
    );
}

#[test]
fn keep_alive_above_max_keepalive_is_rejected() {
    let mut h = Harness::with(Limits {
        max_keepalive: 30,
        ..Limits::default()
    });
    h.broker.accepted(0, 0, h.now);
    h.broker.handle(0, connect("a", true, 60, None), h.now);
    assert_eq!(
        h.take(0),
        vec![Seen::Connack {
            present: false,
            code: 2
        }]
    );
}

#[test]
fn pingreq_gets_pingresp_mqtt_3_12_4_1() {
    let mut h = Harness::new();
    h.open(0, "a", true);
    h.send(0, Packet::Pingreq);
    assert_eq!(h.take(0), vec![Seen::Pingresp]);
}

#[test]
fn qos0_publish_reaches_subscriber_without_retain_flag_mqtt_3_3_1_9() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(7, &[("a/+", Q0)]));
    assert_eq!(h.take(0), vec![Seen::Suback(7, vec![0])]);
    h.send(1, publish("a/b", b"hi", Q0, false, None));
    assert_eq!(h.take(0), vec![pub_seen("a/b", b"hi", Q0, false, None)]);
    assert_eq!(h.take(1), vec![], "QoS 0 is not acknowledged");
}

#[test]
fn qos1_publish_is_acknowledged_and_delivered_at_granted_qos_mqtt_4_3_2_2_mqtt_3_8_4_6() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q1, false, Some(9)));
    assert_eq!(h.take(1), vec![Seen::Puback(9)]);
    assert_eq!(
        h.take(0),
        vec![pub_seen("t", b"x", Q0, false, None)],
        "downgraded to the granted QoS 0"
    );
}

#[test]
fn qos2_inbound_is_exactly_once_mqtt_4_3_3_2() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q2)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q2, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(5)]);
    // The publisher re-sends before PUBREL: acknowledged again, not delivered again.
    h.send(1, publish("t", b"x", Q2, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(5)]);
    h.send(1, Packet::pubrel(5));
    assert_eq!(h.take(1), vec![Seen::Pubcomp(5)]);
    let got = h.take(0);
    assert_eq!(got.len(), 1, "delivered once: {got:?}");
    // After PUBCOMP the id is free: a new message with id 5 is a new message.
    h.send(1, publish("t", b"y", Q2, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(5)]);
    assert_eq!(h.take(0).len(), 1);
}

#[test]
fn qos2_outbound_flow_pubrec_pubrel_pubcomp_mqtt_4_3_3_1() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q2)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q2, false, Some(1)));
    let got = h.take(0);
    let Some(Seen::Publish {
        id: Some(id),
        qos: Q2,
        ..
    }) = got.first().cloned()
    else {
        panic!("{got:?}")
    };
    h.send(0, Packet::pubrec(id));
    assert_eq!(h.take(0), vec![Seen::Pubrel(id)]);
    h.send(0, Packet::pubcomp(id));
    assert!(h
        .broker
        .sessions
        .get(0)
        .is_some_and(|s| s.inflight_len() == 0));
}

#[test]
fn unknown_pubrel_still_gets_pubcomp_mqtt_4_3_3_2() {
    let mut h = Harness::new();
    h.open(0, "a", true);
    h.send(0, Packet::pubrel(44));
    assert_eq!(h.take(0), vec![Seen::Pubcomp(44)]);
}

#[test]
fn overlapping_subscriptions_deliver_once_at_highest_qos() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("a/#", Q0), ("a/+", Q1), ("a/b", Q0)]));
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![0, 1, 0])]);
    h.send(1, publish("a/b", b"x", Q2, false, Some(3)));
    let got = h.take(0);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(got[0], Seen::Publish { qos: Q1, .. }));
}

#[test]
fn invalid_filter_gets_0x80_without_dropping_the_others_mqtt_4_7_1_2() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(0, subscribe(2, &[("a/#/b", Q1), ("ok", Q1), ("x+", Q0)]));
    assert_eq!(h.take(0), vec![Seen::Suback(2, vec![0x80, 1, 0x80])]);
    assert_eq!(h.broker.subscription_count(), 1);
}

#[test]
fn subscription_caps_refuse_with_0x80() {
    let mut h = Harness::with(Limits {
        max_subscriptions_per_client: 2,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.send(
        0,
        subscribe(2, &[("a", Q1), ("b", Q1), ("c", Q0), ("a", Q0)]),
    );
    assert_eq!(
        h.take(0),
        vec![Seen::Suback(2, vec![1, 1, 0x80, 0])],
        "re-subscribing an existing filter is not a new one"
    );
}

#[test]
fn suback_with_more_than_64_filters() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    let names: Vec<String> = (0..100).map(|i| format!("t/{i}")).collect();
    let filters: Vec<(&str, QoS)> = names.iter().map(|n| (n.as_str(), Q1)).collect();
    h.send(0, subscribe(3, &filters));
    assert_eq!(h.take(0), vec![Seen::Suback(3, vec![1; 100])]);
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
    let mut h = Harness::with_sys(Limits {
        sys_interval: Duration::from_secs(10),
        ..Limits::default()
    });
    h.open(0, "all", true);
    h.open(1, "sys", true);
    h.send(0, subscribe(1, &[("#", Q0)]));
    h.send(1, subscribe(1, &[("$SYS/broker/clients/connected", Q0)]));
    h.take(0);
    h.take(1);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.take(0), vec![]);
    let got = h.take(1);
    assert_eq!(
        got,
        vec![pub_seen(
            "$SYS/broker/clients/connected",
            b"2",
            Q0,
            false,
            None
        )]
    );
}

#[test]
fn sys_topics_are_retained_and_only_changes_are_republished() {
    let mut h = Harness::with_sys(Limits {
        sys_interval: Duration::from_secs(10),
        ..Limits::default()
    });
    h.advance(Duration::ZERO);
    h.open(0, "late", true);
    h.send(0, subscribe(1, &[("$SYS/broker/version", Q0)]));
    let got = h.take(0);
    assert!(
        got.contains(&pub_seen(
            "$SYS/broker/version",
            format!("sol version {}", env!("CARGO_PKG_VERSION")).as_bytes(),
            Q0,
            true,
            None
        )),
        "{got:?}"
    );
    h.advance(Duration::from_secs(10));
    assert_eq!(h.take(0), vec![], "version unchanged: not published again");
    h.send(0, subscribe(2, &[("$SYS/broker/uptime", Q0)]));
    h.take(0);
    h.advance(Duration::from_secs(10));
    assert_eq!(
        h.take(0),
        vec![pub_seen(
            "$SYS/broker/uptime",
            b"20 seconds",
            Q0,
            false,
            None
        )]
    );
}

#[test]
fn clients_cannot_publish_to_sys() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("$SYS/#", Q0)]));
    h.take(0);
    h.send(
        0,
        publish("$SYS/broker/uptime", b"0 seconds", Q1, true, Some(1)),
    );
    assert_eq!(h.take(0), vec![Seen::Puback(1)]);
    assert_eq!(h.broker.stats().publish_dropped, 1);
}

#[test]
fn retained_message_is_sent_on_subscribe_with_retain_set_mqtt_3_3_1_6() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r/1", b"old", Q1, true, Some(1)));
    h.send(1, publish("r/1", b"new", Q1, true, Some(2)));
    h.send(1, publish("r/2", b"two", Q0, true, None));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r/+", Q1)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(1, vec![1]),
            pub_seen("r/1", b"new", Q1, true, Some(1)),
            pub_seen("r/2", b"two", Q0, true, None)
        ]
    );
    // Re-subscribing re-sends the retained messages [MQTT-3.8.4-3].
    h.send(0, Packet::puback(1));
    h.send(0, subscribe(2, &[("r/1", Q0)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(2, vec![0]),
            pub_seen("r/1", b"new", Q0, true, None)
        ]
    );
}

#[test]
fn zero_length_retained_publish_clears_and_is_delivered_mqtt_3_3_1_10_mqtt_3_3_1_12() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r", b"v", Q0, true, None));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r", Q0)]));
    assert_eq!(h.take(0).len(), 2);
    h.send(1, publish("r", b"", Q0, true, None));
    assert_eq!(h.take(0), vec![pub_seen("r", b"", Q0, false, None)]);
    h.send(0, subscribe(2, &[("r", Q0)]));
    assert_eq!(
        h.take(0),
        vec![Seen::Suback(2, vec![0])],
        "nothing retained any more"
    );
    assert_eq!(h.broker.retained_count(), 0);
}

#[test]
fn retained_caps_are_counted_drops() {
    let mut h = Harness::with(Limits {
        max_retained_messages: 1,
        ..Limits::default()
    });
    h.open(1, "pub", true);
    h.send(1, publish("a", b"1", Q0, true, None));
    h.send(1, publish("b", b"1", Q0, true, None));
    assert_eq!(h.broker.retained_count(), 1);
    assert_eq!(h.broker.stats().publish_dropped, 1);
}

#[test]
fn unsubscribe_stops_delivery_and_is_always_acknowledged_mqtt_3_10_4_4_mqtt_3_10_4_5() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.send(0, unsubscribe(2, &["t", "never-subscribed"]));
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![0]), Seen::Unsuback(2)]);
    h.send(1, publish("t", b"x", Q0, false, None));
    assert_eq!(h.take(0), vec![]);
    assert_eq!(h.broker.subscription_count(), 0);
}

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

#[test]
fn takeover_closes_the_old_connection_and_publishes_its_will_mqtt_3_1_4_2() {
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
    assert_eq!(h.take(0), vec![pub_seen("w", b"gone", Q0, false, None)]);
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
fn inflight_window_limits_unacknowledged_messages() {
    let mut h = Harness::with(Limits {
        max_inflight_messages: 2,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    for i in 1..=4u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    let got = h.take(0);
    assert_eq!(got.len(), 2, "{got:?}");
    h.send(0, Packet::puback(1));
    assert_eq!(h.take(0), vec![pub_seen("t", &[3], Q1, false, Some(3))]);
}

#[test]
fn messages_keep_their_order_mqtt_4_6_0_5() {
    let mut h = Harness::with(Limits {
        max_inflight_messages: 3,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    for i in 0..200u16 {
        h.send(
            1,
            publish(
                "t",
                &i.to_be_bytes(),
                if i % 3 == 0 { Q0 } else { Q1 },
                false,
                (i % 3 != 0).then_some(i + 1),
            ),
        );
    }
    let mut payloads = Vec::new();
    loop {
        let got = h.take(0);
        if got.is_empty() {
            break;
        }
        for s in got {
            if let Seen::Publish { payload, id, .. } = s {
                payloads.push(u16::from_be_bytes([payload[0], payload[1]]));
                if let Some(id) = id {
                    h.send(0, Packet::puback(id));
                }
            }
        }
    }
    assert_eq!(payloads, (0..200).collect::<Vec<_>>());
}

#[test]
fn offline_queue_cap_drops_new_messages_and_counts_them() {
    let mut h = Harness::with(Limits {
        max_queued_messages: 2,
        ..Limits::default()
    });
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.open(1, "pub", true);
    for i in 1..=5u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    assert_eq!(h.broker.stats().publish_dropped, 3);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    let got = h.take(0);
    assert_eq!(
        got[1..],
        [
            pub_seen("t", &[1], Q1, false, Some(1)),
            pub_seen("t", &[2], Q1, false, Some(2))
        ],
        "oldest kept"
    );
}

#[test]
fn full_queue_pauses_the_publisher_and_loses_no_qos1_message() {
    let limits = Limits {
        max_inflight_messages: 1,
        max_queued_messages: 2,
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    // 1 in flight, 2 queued; the 4th overflows the cap and pauses the publisher.
    for i in 1..=4u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    assert_eq!(h.paused, vec![1]);
    assert!(h.broker.is_paused(1));
    assert_eq!(h.broker.stats().publish_dropped, 0);
    // The subscriber drains: the publisher is released.
    let mut got = Vec::new();
    while got.len() < 4 {
        for s in h.take(0) {
            if let Seen::Publish {
                id: Some(id),
                payload,
                ..
            } = s
            {
                got.push(payload[0]);
                h.send(0, Packet::puback(id));
            }
        }
    }
    assert_eq!(got, [1, 2, 3, 4]);
    assert!(h.paused.is_empty(), "publisher resumed");
    assert_eq!(h.broker.stats().publisher_stalls, 1);
}

#[test]
fn stall_longer_than_max_publisher_stall_releases_publisher_and_drops_for_that_subscriber() {
    let limits = Limits {
        max_inflight_messages: 1,
        max_queued_messages: 1,
        max_publisher_stall: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "stuck", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    for i in 1..=3u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    assert_eq!(h.paused, vec![1]);
    assert_eq!(
        h.broker.next_deadline(),
        Some(h.now + Duration::from_secs(2))
    );
    h.advance(Duration::from_secs(2));
    assert!(h.paused.is_empty(), "released after max_publisher_stall");
    h.send(1, publish("t", b"late", Q1, false, Some(9)));
    assert_eq!(
        h.broker.stats().publish_dropped,
        1,
        "overflow for the stuck subscriber is now dropped"
    );
    assert!(h.paused.is_empty(), "and the publisher is not paused again");
}

#[test]
fn qos0_to_a_full_queue_is_dropped_and_counted() {
    let limits = Limits {
        max_queued_messages: 1,
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    // The outbox takes a batch; the queue holds one more; the rest is dropped.
    for i in 0..(OUTBOX_BATCH + 5) {
        h.send(1, publish("t", &[i as u8], Q0, false, None));
    }
    assert_eq!(h.broker.stats().publish_dropped, 4);
    assert!(h.paused.is_empty(), "QoS 0 never pauses a publisher");
}

#[test]
fn outbox_memory_is_returned_once_a_burst_is_written() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    for i in 0..(2 * OUTBOX_BATCH) {
        h.send(1, publish("t", &[i as u8], Q0, false, None));
    }
    assert_eq!(
        h.take(0).len(),
        2 * OUTBOX_BATCH,
        "the whole burst is delivered"
    );
    let outbox = &h.broker.conn(0).expect("connected").outbox;
    assert!(outbox.is_empty());
    assert!(
        outbox.capacity() <= output::OUTBOX_KEEP,
        "an idle subscriber keeps at most {} frames of outbox, not {}",
        output::OUTBOX_KEEP,
        outbox.capacity()
    );
}

#[test]
fn stalled_socket_is_disconnected_after_slow_consumer_timeout() {
    let limits = Limits {
        slow_consumer_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "sub", false);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q1, false, Some(1)));
    h.take(1);
    // Partial progress postpones the timeout: the socket takes one byte.
    h.advance(Duration::from_secs(20));
    let mut wire = {
        let mut iov = [IoSlice::new(&[]); 1];
        assert_eq!(h.broker.fill_iovecs(0, &mut iov), 1);
        vec![iov[0][0]]
    };
    h.broker.written(0, 1, h.now);
    h.advance(Duration::from_secs(20));
    assert_eq!(h.is_closed(0), None);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.is_closed(0), Some(CloseReason::SlowConsumer));
    assert_eq!(h.broker.stats().slow_consumers, 1);
    // The rest of the frame goes out with the close.
    wire.extend(h.take_bytes(0));
    assert_eq!(parse(&wire), vec![pub_seen("t", b"x", Q1, false, Some(1))]);
    // Its persistent session keeps the unacknowledged message.
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("sub", false, 60, None));
    assert!(h.take(0).contains(&Seen::Publish {
        topic: "t".into(),
        payload: b"x".to_vec(),
        qos: Q1,
        dup: true,
        retain: false,
        id: Some(1)
    }));
}

#[test]
fn partial_writes_resume_mid_frame() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    h.send(0, publish("t", b"payload", Q0, false, None));
    let mut wire = Vec::new();
    loop {
        let mut iov = [IoSlice::new(&[]); 8];
        let n = h.broker.fill_iovecs(0, &mut iov);
        if n == 0 {
            break;
        }
        let first = iov[0].to_vec();
        wire.push(first[0]);
        h.broker.written(0, 1, h.now);
    }
    assert_eq!(
        wire,
        [0x30, 10, 0, 1, b't', b'p', b'a', b'y', b'l', b'o', b'a', b'd']
    );
}

#[test]
fn message_size_limit_drops_but_acknowledges() {
    let mut h = Harness::with(Limits {
        message_size_limit: 4,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.send(0, publish("t", b"12345", Q1, false, Some(8)));
    assert_eq!(h.take(0), vec![Seen::Puback(8)]);
    assert_eq!(h.broker.stats().publish_dropped, 1);
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

#[test]
fn client_that_does_not_read_its_acks_is_paused() {
    let mut h = Harness::new();
    h.open(0, "flooder", true);
    for i in 0..=OUTBOX_HIGH_WATER as u16 {
        h.broker
            .handle(0, publish("t", b"x", Q1, false, Some(i + 1)), h.now);
    }
    h.effects();
    assert_eq!(h.paused, vec![0]);
    h.take(0);
    assert!(h.paused.is_empty());
}

#[test]
fn max_queued_memory_caps_all_queues_together() {
    let limits = Limits {
        max_queued_memory: 100,
        max_inflight_messages: 1,
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    for (conn, id) in [(0, "a"), (1, "b")] {
        h.open(conn, id, false);
        h.send(conn, subscribe(1, &[("t", Q1)]));
        h.take(conn);
    }
    h.open(2, "pub", true);
    // Each message is 1 + 2 + 27 = 30 bytes; two sessions hold two copies of each.
    for i in 1..=3u16 {
        h.send(2, publish("t", &[0; 27], Q1, false, Some(i)));
    }
    assert_eq!(h.broker.sessions.held_bytes(), 90);
    assert_eq!(
        h.broker.stats().publish_dropped,
        3,
        "the sixth copy and beyond are refused"
    );
    // Acknowledging frees memory for new messages.
    for conn in [0, 1] {
        for s in h.take(conn) {
            if let Seen::Publish { id: Some(id), .. } = s {
                h.send(conn, Packet::puback(id));
            }
        }
    }
    assert!(h.broker.sessions.held_bytes() < 90);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.effects();
}

#[test]
fn retained_publish_disconnects_when_retain_is_unavailable() {
    let mut h = Harness::with(Limits {
        retain_available: false,
        ..Limits::default()
    });
    h.open(0, "a", true);
    h.send(0, publish("t", b"x", Q0, false, None));
    assert_eq!(h.is_closed(0), None);
    h.send(0, publish("t", b"x", Q0, true, None));
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.broker.retained_count(), 0);
}

#[test]
fn wills_obey_the_same_rules_as_publish() {
    let mut h = Harness::with(Limits {
        message_size_limit: 3,
        ..Limits::default()
    });
    for (conn, topic) in [(0, "$SYS/broker/uptime"), (1, "ok")] {
        h.broker.accepted(conn, 0, h.now);
        h.broker
            .handle(conn, connect("c", true, 60, will(topic, Q0, true)), h.now);
        assert_eq!(
            h.take(conn),
            vec![Seen::Connack {
                present: false,
                code: 5
            }],
            "{topic}"
        );
    }
}

// ----- every cap, hit --------------------------------------------------------------------

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
    assert_size_of::<Option<sessions::Session>>(192);
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
