//! Further packet-by-packet tests, one or more per normative statement of MQTT 3.1.1
//! chapters 3 and 4 that `tests/` does not already cover; see docs/conformance.md. One
//! cohesive file in the specification's order (its sections are the spec's), so it is
//! longer than the others: a reader checks a statement by searching its number here.
//!
//! They use the shared harness of `harness.rs`, which only uses the core's public API, the
//! way the reactor does: packets go in through [`Broker::handle`] (or, for malformed input,
//! as raw bytes through the codec and [`Broker::malformed`]), and what a client would
//! receive is read back as bytes with [`Broker::fill_iovecs`] and decoded with the codec,
//! so every answer checked here is also checked to be well-formed on the wire. A
//! [`Effect::Close`] is carried out like the reactor does: pending output is written first,
//! then [`Broker::closed`] is called.

use super::harness::*;
use super::*;
use crate::codec::{decode, Connect, Will as WireWill};

// ----- 1.5 and 2: data representation and control packet format -------------------------

#[test]
fn ill_formed_utf8_topic_closes_the_connection_mqtt_1_5_3_1() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("#", Q0)]);
    h.open(1, "pub", true);
    // PUBLISH QoS 0, topic of 2 bytes 0xc3 0x28 (ill-formed), payload "x".
    h.feed(1, &[0x30, 5, 0, 2, 0xc3, 0x28, b'x']);
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn null_character_in_topic_closes_the_connection_mqtt_1_5_3_2() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.feed(1, &[0x30, 5, 0, 2, b'a', 0, b'x']);
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
}

#[test]
fn bom_in_topic_is_kept_and_matched_literally_mqtt_1_5_3_3() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("\u{feff}t", Q0)]);
    h.open(1, "pub", true);
    h.send(1, publish("\u{feff}t", b"x", Q0, false, None));
    h.send(1, publish("t", b"y", Q0, false, None));
    assert_eq!(
        h.take(0),
        vec![pub_seen("\u{feff}t", b"x", Q0, false, None)]
    );
}

#[test]
fn reserved_header_flags_close_the_connection_mqtt_2_2_2_2() {
    let mut h = Harness::new();
    h.open(1, "c", true);
    // PINGREQ with flags 0001.
    h.feed(1, &[0xc1, 0]);
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(1), vec![], "no PINGRESP to a malformed PINGREQ");
}

#[test]
fn zero_packet_id_closes_the_connection_mqtt_2_3_1_1() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q1)]);
    h.open(1, "pub", true);
    // PUBLISH QoS 1 topic "t" packet id 0.
    h.feed(1, &[0x32, 6, 0, 1, b't', 0, 0, b'x']);
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(1), vec![]);
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn outbound_packet_ids_are_unused_and_non_zero_mqtt_2_3_1_4_mqtt_4_3_2_1() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q2)]);
    h.open(1, "pub", true);
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.send(1, publish("t", b"2", Q2, false, Some(2)));
    h.send(1, publish("t", b"3", Q1, false, Some(3)));
    let got = h.take(0);
    let ids: Vec<u16> = got
        .iter()
        .map(|s| match s {
            Seen::Publish {
                id: Some(id),
                dup: false,
                ..
            } => *id,
            other => panic!("QoS > 0 with an id and DUP 0: {other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|&id| id != 0));
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        3,
        "distinct ids while unacknowledged: {ids:?}"
    );
}

#[test]
fn qos0_delivery_carries_no_packet_id_mqtt_2_3_1_5_mqtt_4_3_1_1() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q0)]);
    h.open(1, "pub", true);
    h.send(1, publish("t", b"x", Q2, false, Some(7)));
    assert_eq!(h.take(0), vec![pub_seen("t", b"x", Q0, false, None)]);
}

// ----- 3.1 CONNECT ---------------------------------------------------------------------

#[test]
fn unknown_protocol_name_closes_without_connack_mqtt_3_1_2_1_mqtt_3_1_4_1() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_bytes(b"MQTX", 4, 0x02, &[0, 1, b'c']));
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![], "no CONNACK");
    assert_eq!(h.broker.clients_connected(), 0);
}

#[test]
fn unsupported_level_on_the_wire_gets_connack_1_then_close_mqtt_3_1_2_2() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_bytes(b"MQTT", 6, 0x02, &[0, 1, b'c']));
    assert_eq!(h.take(0), vec![connack(false, 1)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
}

#[test]
fn connect_reserved_flag_closes_without_connack_mqtt_3_1_2_3() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_bytes(b"MQTT", 4, 0x03, &[0, 1, b'c']));
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn clean_session_state_is_not_reused_mqtt_3_1_2_6() {
    let mut h = Harness::new();
    h.open(0, "c", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    // The same id, now asking for a persistent session: nothing of the clean one is left.
    assert_eq!(h.open(0, "c", false), connack(false, 0));
    h.open(1, "pub", true);
    h.send(1, publish("t", b"x", Q1, false, Some(1)));
    assert_eq!(h.take(0), vec![]);
    assert_eq!(h.broker.subscription_count(), 0);
}

#[test]
fn clean_session_taken_over_by_persistent_one_is_discarded_mqtt_3_1_2_6_mqtt_3_2_2_3() {
    let mut h = Harness::new();
    h.open(0, "c", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", false, 60, None));
    assert_eq!(h.is_closed(0), Some(CloseReason::TakenOver));
    assert_eq!(h.take(1), vec![connack(false, 0)]);
    assert_eq!(h.broker.subscription_count(), 0);
}

#[test]
fn retained_messages_outlive_the_session_mqtt_3_1_2_7() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r", b"kept", Q1, true, Some(1)));
    h.send(1, Packet::disconnect());
    assert_eq!(h.is_closed(1), Some(CloseReason::ClientDisconnect));
    h.open(0, "late", true);
    h.send(0, subscribe(1, &[("r", Q1)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(1, vec![1]),
            pub_seen("r", b"kept", Q1, true, Some(1))
        ]
    );
}

#[test]
fn will_is_published_after_a_protocol_violation_mqtt_3_1_2_8_mqtt_4_8_0_1() {
    let mut h = Harness::new();
    h.subscriber(0, "watcher", &[("w", Q0)]);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 60, will("w", Q0, false)));
    h.take(1);
    h.send(1, connect("c", true, 60, None));
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn malformed_disconnect_is_not_a_disconnect_and_publishes_the_will_mqtt_3_14_1_1() {
    let mut h = Harness::new();
    h.subscriber(0, "watcher", &[("w", Q0)]);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 60, will("w", Q0, false)));
    h.take(1);
    h.feed(1, &[0xe1, 0]);
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn will_fields_must_be_present_when_the_will_flag_is_set_mqtt_3_1_2_9() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    // Will flag, will topic "t", will message missing.
    h.feed(
        0,
        &connect_bytes(b"MQTT", 4, 0x06, &[0, 1, b'c', 0, 1, b't']),
    );
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn will_is_published_once_then_forgotten_mqtt_3_1_2_10() {
    let mut h = Harness::new();
    h.subscriber(0, "watcher", &[("w", Q0)]);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 60, will("w", Q0, false)));
    h.take(1);
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.effects();
    assert_eq!(h.take(0), vec![pub_seen("w", b"gone", Q0, false, None)]);
    // A new connection with the same id and no will leaves no will behind.
    h.open(1, "c", true);
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.effects();
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn will_qos_or_retain_without_will_flag_closes_without_connack_mqtt_3_1_2_11() {
    for flags in [0x02 | 0x08, 0x02 | 0x10, 0x02 | 0x20] {
        let mut h = Harness::new();
        h.broker.accepted(0, 0, h.now);
        h.feed(0, &connect_bytes(b"MQTT", 4, flags, &[0, 1, b'c']));
        assert_eq!(
            h.is_closed(0),
            Some(CloseReason::ProtocolError),
            "{flags:#x}"
        );
        assert_eq!(h.take(0), vec![]);
    }
}

#[test]
fn no_will_flag_means_no_will_mqtt_3_1_2_12() {
    let mut h = Harness::new();
    h.subscriber(0, "watcher", &[("#", Q2)]);
    h.open(1, "c", true);
    h.broker.closed(1, CloseReason::SocketError, h.now);
    h.effects();
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn will_retain_0_is_published_non_retained_mqtt_3_1_2_16() {
    let mut h = Harness::new();
    h.subscriber(0, "watcher", &[("w", Q1)]);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 60, will("w", Q1, false)));
    h.take(1);
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.effects();
    assert_eq!(h.take(0), vec![pub_seen("w", b"gone", Q1, false, Some(1))]);
    assert_eq!(h.broker.retained_count(), 0, "not stored as retained");
}

#[test]
fn will_retain_1_is_published_retained_mqtt_3_1_2_17() {
    let mut h = Harness::new();
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("c", true, 60, will("w", Q1, true)));
    h.take(1);
    h.broker.closed(1, CloseReason::KeepAliveTimeout, h.now);
    h.effects();
    h.open(0, "late", true);
    h.send(0, subscribe(1, &[("w", Q1)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(1, vec![1]),
            pub_seen("w", b"gone", Q1, true, Some(1))
        ]
    );
}

#[test]
fn user_name_and_password_flags_match_the_payload_mqtt_3_1_2_18_to_21() {
    use crate::codec::DecodeError::{TrailingBytes, Truncated};
    let id = [0u8, 1, b'c'];
    let with = |extra: &[u8]| [&id[..], extra].concat();
    // 18: no user-name flag, a user name present.
    assert_eq!(
        decode(
            &connect_bytes(b"MQTT", 4, 0x02, &with(&[0, 1, b'u'])),
            ProtocolVersion::V311
        ),
        Err(TrailingBytes)
    );
    // 19: user-name flag, no user name.
    assert_eq!(
        decode(&connect_bytes(b"MQTT", 4, 0x82, &id), ProtocolVersion::V311),
        Err(Truncated)
    );
    // 20: user-name flag only, a password present too.
    assert_eq!(
        decode(
            &connect_bytes(b"MQTT", 4, 0x82, &with(&[0, 1, b'u', 0, 1, b'p'])),
            ProtocolVersion::V311
        ),
        Err(TrailingBytes)
    );
    // 21: password flag, no password.
    assert_eq!(
        decode(
            &connect_bytes(b"MQTT", 4, 0xc2, &with(&[0, 1, b'u'])),
            ProtocolVersion::V311
        ),
        Err(Truncated)
    );
    // And each of them closes the connection without a CONNACK.
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_bytes(b"MQTT", 4, 0xc2, &with(&[0, 1, b'u'])));
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn keep_alive_0_turns_the_timeout_off_mqtt_3_1_2_24() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("idle", true, 0, None));
    h.take(0);
    h.advance(Duration::from_secs(24 * 3600));
    assert_eq!(h.is_closed(0), None);
}

#[test]
fn client_id_is_read_first_from_the_payload_mqtt_3_1_3_1_mqtt_3_1_3_3() {
    let frame = Packet::Connect(Connect {
        will: Some(WireWill {
            topic: "wt",
            properties: crate::codec::Properties::NONE,
            payload: b"wm",
            qos: Q1,
            retain: false,
        }),
        username: Some("un"),
        password: Some(b"pw"),
        ..match connect("cid", true, 60, None) {
            Packet::Connect(c) => c,
            _ => unreachable!(),
        }
    })
    .to_vec(ProtocolVersion::V311)
    .unwrap();
    let Ok(Packet::Connect(c)) = decode(&frame, ProtocolVersion::V311) else {
        panic!("decodes")
    };
    assert_eq!(
        (
            c.client_id,
            c.will.map(|w| (w.topic, w.payload)),
            c.username,
            c.password
        ),
        (
            "cid",
            Some(("wt", &b"wm"[..])),
            Some("un"),
            Some(&b"pw"[..])
        )
    );
}

#[test]
fn will_topic_must_be_utf8_mqtt_3_1_3_10() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    // Will flag; will topic 0xff; will message "m".
    h.feed(
        0,
        &connect_bytes(b"MQTT", 4, 0x06, &[0, 1, b'c', 0, 1, 0xff, 0, 1, b'm']),
    );
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn short_alphanumeric_client_ids_are_allowed_mqtt_3_1_3_5() {
    let mut h = Harness::new();
    let id = "0123456789abcdefghijKLM";
    assert_eq!(id.len(), 23);
    assert_eq!(h.open(0, id, false), connack(false, 0));
    assert_eq!(h.open(1, "a", false), connack(false, 0));
}

#[test]
fn rejected_client_id_gets_connack_2_then_close_mqtt_3_1_3_9() {
    let mut h = Harness::with(Limits {
        max_client_id_length: 30,
        ..Limits::default()
    });
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect(&"x".repeat(31), true, 60, None));
    assert_eq!(h.take(0), vec![connack(false, 2)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
}

#[test]
fn refused_connect_stops_all_processing_mqtt_3_1_4_5() {
    let mut h = Harness::with(Limits {
        listeners: vec![ListenerPolicy {
            allow_anonymous: false,
            use_identity_as_username: false,
            ..ListenerPolicy::default()
        }],
        ..Limits::default()
    });
    h.broker.accepted(0, 0, h.now);
    // A client that pipelines packets after its CONNECT, as the reactor would feed them.
    h.broker.handle(0, connect("c", true, 60, None), h.now);
    h.broker
        .handle(0, publish("r", b"x", Q1, true, Some(1)), h.now);
    h.broker.handle(0, subscribe(2, &[("r", Q1)]), h.now);
    h.broker.handle(0, Packet::Pingreq, h.now);
    h.effects();
    assert_eq!(h.take(0), vec![connack(false, 5)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
    assert_eq!(h.broker.retained_count(), 0);
    assert_eq!(h.broker.subscription_count(), 0);
}

// ----- 3.2 CONNACK ---------------------------------------------------------------------

#[test]
fn connack_is_the_first_packet_sent_even_with_a_backlog_mqtt_3_2_0_1() {
    let mut h = Harness::new();
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.open(1, "pub", true);
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.send(1, publish("t", b"2", Q1, false, Some(2)));
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    let got = h.take(0);
    assert_eq!(got.first(), Some(&connack(true, 0)), "{got:?}");
    assert_eq!(got.len(), 3, "re-sent and queued messages follow: {got:?}");
}

#[test]
fn clean_session_1_gets_session_present_0_mqtt_3_2_2_1() {
    let mut h = Harness::new();
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    assert_eq!(h.open(0, "p", true), connack(false, 0));
}

#[test]
fn an_mqtt_3_1_session_resumed_gets_a_connack_without_session_present() {
    // MQTT 3.1's CONNACK has no session-present flag: the byte is reserved and 0.
    let mut h = Harness::new();
    let connect_31 = connect_bytes(b"MQIsdp", 3, 0x00, &[0, 2, b'o', b'l']);
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_31);
    assert_eq!(h.take_bytes(0), [0x20, 2, 0, 0]);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_31);
    assert_eq!(h.take_bytes(0), [0x20, 2, 0, 0], "resumed, flag still 0");
    // The same resume over MQTT 3.1.1 says the session is present.
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &connect_bytes(b"MQTT", 4, 0x00, &[0, 2, b'o', b'l']));
    assert_eq!(h.take_bytes(0), [0x20, 2, 1, 0]);
}

#[test]
fn refused_connack_has_session_present_0_and_closes_mqtt_3_2_2_4_mqtt_3_2_2_5() {
    let mut h = Harness::with(Limits {
        max_keepalive: 30,
        ..Limits::default()
    });
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 20, None));
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    // A stored session exists, but this CONNECT is refused.
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    assert_eq!(h.take(0), vec![connack(false, 2)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
    // The stored session was not touched by the refused CONNECT.
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 20, None));
    assert_eq!(h.take(0), vec![connack(true, 0)]);
}

// ----- 3.3 PUBLISH ---------------------------------------------------------------------

#[test]
fn incoming_dup_is_not_propagated_mqtt_3_3_1_2_mqtt_3_3_1_3() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q2)]);
    h.open(1, "pub", true);
    h.send(1, publish_dup("t", b"0", Q0, false, None, true));
    h.send(1, publish_dup("t", b"1", Q1, false, Some(1), true));
    h.send(1, publish_dup("t", b"2", Q2, false, Some(2), true));
    assert_eq!(
        h.take(0),
        vec![
            pub_seen("t", b"0", Q0, false, None),
            pub_seen("t", b"1", Q1, false, Some(1)),
            pub_seen("t", b"2", Q2, false, Some(2)),
        ]
    );
}

#[test]
fn publish_with_qos_3_closes_the_connection_mqtt_3_3_1_4() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q2)]);
    h.open(1, "pub", true);
    h.feed(1, &[0x36, 6, 0, 1, b't', 0, 1, b'x']);
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![]);
}

#[test]
fn qos0_retained_publish_replaces_the_previous_one_mqtt_3_3_1_7() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r", b"old", Q2, true, Some(1)));
    h.send(1, publish("r", b"new", Q0, true, None));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r", Q2)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(1, vec![2]),
            pub_seen("r", b"new", Q0, true, None)
        ]
    );
}

/// A QoS 0 retained message that does not fit `max_retained_bytes` may be dropped, but the
/// previous retained message must go anyway (deviation 1 of docs/conformance.md, fixed).
#[test]
fn qos0_retained_publish_discards_the_previous_one_even_when_not_stored_mqtt_3_3_1_7() {
    let mut h = Harness::with(Limits {
        max_retained_bytes: 64,
        ..Limits::default()
    });
    h.open(1, "pub", true);
    h.send(1, publish("r", b"old", Q0, true, None));
    h.send(1, publish("r", &[b'n'; 100], Q0, true, None));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r", Q0)]));
    assert_eq!(
        h.take(0),
        vec![Seen::Suback(1, vec![0])],
        "the server may drop the new QoS 0 retained message, but MUST discard the old one"
    );
}

#[test]
fn empty_retained_publish_is_never_stored_mqtt_3_3_1_11() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r", b"", Q1, true, Some(1)));
    assert_eq!(h.broker.retained_count(), 0);
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r", Q1)]));
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![1])]);
}

#[test]
fn non_retained_publish_leaves_the_retained_message_alone_mqtt_3_3_1_12() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r", b"v", Q1, true, Some(1)));
    h.send(1, publish("r", b"x", Q1, false, Some(2)));
    h.send(1, publish("r", b"", Q0, false, None));
    assert_eq!(h.broker.retained_count(), 1);
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r", Q1)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(1, vec![1]),
            pub_seen("r", b"v", Q1, true, Some(1))
        ]
    );
}

#[test]
fn wildcard_in_topic_name_closes_the_connection_mqtt_3_3_2_2_mqtt_4_7_1_1() {
    for topic in [b'+', b'#'] {
        let mut h = Harness::new();
        h.subscriber(0, "sub", &[("#", Q0)]);
        h.open(1, "pub", true);
        h.feed(1, &[0x30, 4, 0, 1, topic, b'x']);
        assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
        assert_eq!(h.take(0), vec![]);
    }
}

#[test]
fn topic_name_sent_matches_the_subscription_mqtt_3_3_2_3() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("a/+/c", Q0), ("x/#", Q0)]);
    h.open(1, "pub", true);
    for topic in ["a/b/c", "a/b/d", "x", "x/y/z", "y"] {
        h.send(1, publish(topic, b"p", Q0, false, None));
    }
    let topics: Vec<String> = h
        .take(0)
        .into_iter()
        .map(|s| match s {
            Seen::Publish { topic, .. } => topic,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(topics, ["a/b/c", "x", "x/y/z"]);
}

#[test]
fn publish_is_answered_as_table_3_4_says_mqtt_3_3_4_1() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("t", b"0", Q0, false, None));
    h.send(1, publish("t", b"1", Q1, false, Some(11)));
    h.send(1, publish("t", b"2", Q2, false, Some(12)));
    assert_eq!(h.take(1), vec![Seen::Puback(11), Seen::Pubrec(12)]);
}

#[test]
fn refused_qos2_publish_is_acknowledged_normally_mqtt_3_3_5_2() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("$SYS/#", Q2)]);
    h.open(1, "pub", true);
    h.send(1, publish("$SYS/fake", b"x", Q2, false, Some(4)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(4)]);
    h.send(1, Packet::pubrel(4));
    assert_eq!(h.take(1), vec![Seen::Pubcomp(4)]);
    assert_eq!(h.is_closed(1), None);
    assert_eq!(h.take(0), vec![]);
}

// ----- 3.8 SUBSCRIBE, 3.9 SUBACK ----------------------------------------------------------

#[test]
fn resubscribe_replaces_resends_retained_and_keeps_the_flow_mqtt_3_8_4_3() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("t", b"r", Q2, true, Some(1)));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("t", Q2)]));
    let got = h.take(0);
    assert_eq!(got.len(), 2, "{got:?}");
    // A QoS 2 delivery in flight when the subscription is replaced.
    h.send(1, publish("t", b"in flight", Q2, false, Some(2)));
    let Some(Seen::Publish {
        id: Some(inflight), ..
    }) = h.take(0).pop()
    else {
        panic!("delivered")
    };
    h.send(0, subscribe(2, &[("t", Q1)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(2, vec![1]),
            pub_seen("t", b"r", Q1, true, Some(3))
        ]
    );
    assert_eq!(h.broker.subscription_count(), 1, "replaced, not added");
    h.send(0, Packet::pubrec(inflight));
    assert_eq!(
        h.take(0),
        vec![Seen::Pubrel(inflight)],
        "flow not interrupted"
    );
    h.send(1, publish("t", b"after", Q2, false, Some(3)));
    assert_eq!(h.take(0), vec![pub_seen("t", b"after", Q1, false, Some(4))]);
}

#[test]
fn several_filters_act_as_a_sequence_of_subscribes_mqtt_3_8_4_4() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(0, subscribe(9, &[("t", Q0), ("u", Q1), ("t", Q2)]));
    assert_eq!(h.take(0), vec![Seen::Suback(9, vec![0, 1, 2])]);
    assert_eq!(h.broker.subscription_count(), 2);
    h.open(1, "pub", true);
    h.send(1, publish("t", b"x", Q2, false, Some(1)));
    assert_eq!(h.take(0), vec![pub_seen("t", b"x", Q2, false, Some(1))]);
}

#[test]
fn suback_codes_are_granted_qos_or_0x80_in_filter_order_mqtt_3_8_4_5_mqtt_3_9_3_1_mqtt_3_9_3_2() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(
        0,
        subscribe(
            3,
            &[("a", Q2), ("b+", Q1), ("c", Q0), ("#/d", Q2), ("e", Q1)],
        ),
    );
    assert_eq!(h.take(0), vec![Seen::Suback(3, vec![2, 0x80, 0, 0x80, 1])]);
}

#[test]
fn subscribe_without_filters_closes_the_connection_mqtt_3_8_3_3() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.feed(0, &[0x82, 2, 0, 1]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![], "no SUBACK");
}

#[test]
fn subscribe_reserved_qos_bits_close_the_connection_mqtt_3_8_3_4() {
    for options in [0x03u8, 0x04, 0x81] {
        let mut h = Harness::new();
        h.open(0, "sub", true);
        h.feed(0, &[0x82, 6, 0, 1, 0, 1, b't', options]);
        assert_eq!(
            h.is_closed(0),
            Some(CloseReason::ProtocolError),
            "{options:#x}"
        );
        assert_eq!(h.take(0), vec![]);
    }
}

// ----- 3.10 UNSUBSCRIBE ---------------------------------------------------------------------

#[test]
fn unsubscribe_compares_filters_character_by_character_mqtt_3_10_4_1() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("a/+", Q0), ("a/#", Q0)]);
    h.send(0, unsubscribe(2, &["a/b", "a/x/#", "+/+"]));
    assert_eq!(h.take(0), vec![Seen::Unsuback(2)]);
    assert_eq!(h.broker.subscription_count(), 2, "no wildcard matching");
    h.send(0, unsubscribe(3, &["a/+"]));
    h.take(0);
    assert_eq!(h.broker.subscription_count(), 1);
    h.open(1, "pub", true);
    h.send(1, publish("a/b", b"x", Q0, false, None));
    assert_eq!(h.take(0), vec![pub_seen("a/b", b"x", Q0, false, None)]);
}

/// UNSUBSCRIBE `a/#/b` must not delete the subscription `a/#`, which the tree walk used to
/// find by stopping at the first `#` level (deviation 2 of docs/conformance.md, fixed).
#[test]
fn unsubscribe_with_an_invalid_filter_deletes_nothing_mqtt_3_10_4_1() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("a/#", Q0)]);
    h.send(0, unsubscribe(2, &["a/#/b"]));
    assert_eq!(h.take(0), vec![Seen::Unsuback(2)]);
    assert_eq!(h.broker.subscription_count(), 1);
    h.open(1, "pub", true);
    h.send(1, publish("a/x", b"x", Q0, false, None));
    assert_eq!(
        h.take(0),
        vec![pub_seen("a/x", b"x", Q0, false, None)],
        "`a/#/b` is not character-for-character `a/#`"
    );
}

#[test]
fn unsubscribe_completes_deliveries_already_started_mqtt_3_10_4_3() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q2)]);
    h.open(1, "pub", true);
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.send(1, publish("t", b"2", Q2, false, Some(2)));
    assert_eq!(h.take(0).len(), 2);
    h.send(0, unsubscribe(5, &["t"]));
    assert_eq!(h.take(0), vec![Seen::Unsuback(5)]);
    h.send(1, publish("t", b"3", Q1, false, Some(3)));
    assert_eq!(h.take(0), vec![], "no new messages [MQTT-3.10.4-2]");
    h.send(0, Packet::pubrec(2));
    assert_eq!(h.take(0), vec![Seen::Pubrel(2)]);
    h.send(0, Packet::pubcomp(2));
    h.send(0, Packet::puback(1));
    assert_eq!(h.is_closed(0), None);
}

#[test]
fn unsubscribe_without_filters_closes_the_connection_mqtt_3_10_3_2() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.feed(0, &[0xa2, 2, 0, 1]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.take(0), vec![], "no UNSUBACK");
}

// ----- 3.14 DISCONNECT -----------------------------------------------------------------------

#[test]
fn packets_after_disconnect_are_not_processed_mqtt_3_14_4_2() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q0)]);
    h.open(1, "c", true);
    h.broker.handle(1, Packet::disconnect(), h.now);
    h.broker
        .handle(1, publish("t", b"late", Q0, false, None), h.now);
    h.broker.handle(1, Packet::Pingreq, h.now);
    h.effects();
    assert_eq!(h.is_closed(1), Some(CloseReason::ClientDisconnect));
    assert_eq!(h.take(1), vec![]);
    assert_eq!(h.take(0), vec![]);
}

// ----- 4.3 Quality of Service ----------------------------------------------------------------

#[test]
fn qos1_outbound_stays_unacknowledged_until_its_puback_mqtt_4_3_2_1() {
    let mut h = Harness::new();
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.open(1, "pub", true);
    h.send(1, publish("t", b"x", Q1, false, Some(1)));
    let Some(Seen::Publish { id: Some(id), .. }) = h.take(0).pop() else {
        panic!("delivered")
    };
    // Acknowledgments of other ids, or of the wrong kind, settle nothing.
    h.send(0, Packet::puback(id.wrapping_add(1).max(1)));
    h.send(0, Packet::pubcomp(id));
    h.take(0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    let got = h.take(0);
    assert_eq!(
        got[1..],
        [Seen::Publish {
            topic: "t".into(),
            payload: b"x".to_vec(),
            qos: Q1,
            dup: true,
            retain: false,
            id: Some(id)
        }]
    );
    h.send(0, Packet::puback(id));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    assert_eq!(h.take(0), vec![connack(true, 0)], "settled by its PUBACK");
}

#[test]
fn qos1_id_reused_after_puback_is_a_new_message_mqtt_4_3_2_2() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q1)]);
    h.open(1, "pub", true);
    h.send(1, publish("t", b"a", Q1, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Puback(5)]);
    h.send(1, publish_dup("t", b"a", Q1, false, Some(5), true));
    assert_eq!(h.take(1), vec![Seen::Puback(5)]);
    assert_eq!(h.take(0).len(), 2, "delivered again, DUP or not");
}

#[test]
fn qos2_resent_after_reconnect_is_not_delivered_twice_mqtt_4_3_3_2_mqtt_4_4_0_1() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q2)]);
    h.open(1, "pub", false);
    h.send(1, publish("t", b"once", Q2, false, Some(7)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(7)]);
    assert_eq!(h.take(0).len(), 1);
    // The publisher loses its connection before PUBREL and re-sends with DUP.
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("pub", false, 60, None));
    assert_eq!(h.take(1), vec![connack(true, 0)]);
    h.send(1, publish_dup("t", b"once", Q2, false, Some(7), true));
    assert_eq!(h.take(1), vec![Seen::Pubrec(7)]);
    h.send(1, Packet::pubrel(7));
    assert_eq!(h.take(1), vec![Seen::Pubcomp(7)]);
    assert_eq!(h.take(0), vec![], "not delivered twice");
}

#[test]
fn qos2_pubrel_gets_pubcomp_with_the_same_id_mqtt_4_3_3_2_mqtt_2_3_1_6() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("t", b"x", Q2, false, Some(0xbeef)));
    h.send(1, Packet::pubrel(0xbeef));
    assert_eq!(h.take(1), vec![Seen::Pubrec(0xbeef), Seen::Pubcomp(0xbeef)]);
}

// ----- 4.6 Message ordering ---------------------------------------------------------------------

#[test]
fn pubacks_and_pubrecs_follow_the_order_of_the_publishes_mqtt_4_6_0_2_mqtt_4_6_0_3() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    let order = [(Q1, 9u16), (Q2, 3), (Q1, 4), (Q2, 8), (Q2, 1), (Q1, 2)];
    for (qos, id) in order {
        h.send(1, publish("t", b"x", qos, false, Some(id)));
    }
    let expected: Vec<Seen> = order
        .iter()
        .map(|&(qos, id)| {
            if qos == Q1 {
                Seen::Puback(id)
            } else {
                Seen::Pubrec(id)
            }
        })
        .collect();
    assert_eq!(h.take(1), expected);
}

#[test]
fn pubrels_follow_the_order_of_the_pubrecs_mqtt_4_6_0_4() {
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q2)]);
    h.open(1, "pub", true);
    for i in 1..=3u16 {
        h.send(1, publish("t", &[i as u8], Q2, false, Some(i)));
    }
    let ids: Vec<u16> = h
        .take(0)
        .into_iter()
        .filter_map(|s| match s {
            Seen::Publish { id, .. } => id,
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 3);
    for &i in [ids[2], ids[0], ids[1]].iter() {
        h.send(0, Packet::pubrec(i));
    }
    assert_eq!(
        h.take(0),
        vec![
            Seen::Pubrel(ids[2]),
            Seen::Pubrel(ids[0]),
            Seen::Pubrel(ids[1])
        ]
    );
}

#[test]
fn resent_messages_keep_their_original_order_mqtt_4_6_0_1() {
    let mut h = Harness::new();
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q2)]));
    h.take(0);
    h.open(1, "pub", true);
    for i in 1..=5u16 {
        let qos = if i % 2 == 0 { Q1 } else { Q2 };
        h.send(1, publish("t", &[i as u8], qos, false, Some(i)));
    }
    assert_eq!(h.take(0).len(), 5);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    let payloads: Vec<u8> = h
        .take(0)
        .into_iter()
        .filter_map(|s| match s {
            Seen::Publish {
                payload, dup: true, ..
            } => Some(payload[0]),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, [1, 2, 3, 4, 5]);
}

// ----- 4.7 Topic names and filters --------------------------------------------------------------

#[test]
fn retained_dollar_topics_are_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("$app/x", b"v", Q0, true, None));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("#", Q0), ("+/x", Q0)]));
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![0, 0])]);
    h.send(0, subscribe(2, &[("$app/#", Q0)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(2, vec![0]),
            pub_seen("$app/x", b"v", Q0, true, None)
        ]
    );
}

#[test]
fn empty_topic_closes_the_connection_mqtt_4_7_3_1() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.feed(1, &[0x30, 3, 0, 0, b'x']);
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
}

#[test]
fn matching_does_no_normalisation_mqtt_4_7_3_4() {
    let mut h = Harness::new();
    // "é" precomposed (U+00E9) versus "e" + combining acute (U+0065 U+0301).
    h.subscriber(0, "sub", &[("Caf\u{e9}", Q0), ("A/b", Q0), ("t ", Q0)]);
    h.open(1, "pub", true);
    for topic in ["Cafe\u{301}", "a/b", "A/B", "t", " t", "A/b"] {
        h.send(1, publish(topic, b"x", Q0, false, None));
    }
    assert_eq!(h.take(0), vec![pub_seen("A/b", b"x", Q0, false, None)]);
}

// ----- 4.8 Handling errors ----------------------------------------------------------------------

#[test]
fn server_only_packets_from_a_client_close_the_connection_mqtt_4_8_0_1() {
    for packet in [
        Packet::Pingresp,
        Packet::unsuback(1),
        Packet::Connack(crate::codec::Connack::new(false, ReasonCode::SUCCESS)),
    ] {
        let mut h = Harness::new();
        h.open(0, "c", true);
        h.send(0, packet);
        assert_eq!(
            h.is_closed(0),
            Some(CloseReason::ProtocolError),
            "{packet:?}"
        );
    }
}

#[test]
fn transient_error_closes_only_that_connection_mqtt_4_8_0_2() {
    let mut h = Harness::with(Limits {
        max_connections: 2,
        ..Limits::default()
    });
    h.subscriber(0, "sub", &[("t", Q0)]);
    h.broker.accepted(7, 0, h.now);
    h.effects();
    assert_eq!(h.is_closed(7), Some(CloseReason::OutOfMemory));
    assert_eq!(h.is_closed(0), None);
    h.open(1, "pub", true);
    h.send(1, publish("t", b"x", Q0, false, None));
    assert_eq!(h.take(0), vec![pub_seen("t", b"x", Q0, false, None)]);
}

/// While the core has told the reactor to stop reading a publisher (flow control), the
/// client's PINGREQ waits unread in the socket: the keep-alive timer must not run out
/// meanwhile (deviation 3 of docs/conformance.md, fixed).
#[test]
fn keep_alive_does_not_expire_while_the_broker_is_not_reading_mqtt_3_1_2_24() {
    let mut h = Harness::with(Limits {
        max_inflight_messages: 1,
        max_queued_messages: 1,
        ..Limits::default()
    });
    h.subscriber(0, "slow", &[("t", Q1)]);
    h.broker.accepted(1, 0, h.now);
    h.send(1, connect("pub", true, 1, None));
    h.take(1);
    let mut paused = false;
    for i in 1..=3u16 {
        h.broker
            .handle(1, publish("t", b"x", Q1, false, Some(i)), h.now);
        while let Some(e) = h.broker.poll_effect() {
            paused |= e == Effect::PauseRead(1);
        }
    }
    assert!(paused, "the publisher is paused by the full queue");
    // The client sends PINGREQ every second, but the reactor does not read while paused.
    h.advance(Duration::from_millis(1600));
    assert_eq!(
        h.is_closed(1),
        None,
        "a client is not timed out for packets the broker declined to read"
    );
}
