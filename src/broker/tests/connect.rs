//! CONNECT, client ids, keep-alive limits and malformed first packets.

use super::*;

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
        .malformed(0, DecodeError::UnsupportedProtocolLevel(6), h.now);
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
            ..ListenerPolicy::default()
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
