//! MQTT 5.0 clients, packet by packet. The v5 client's own output is decoded with the
//! codec in 5.0 ([`take_v5`]); watchers are 3.1.1 clients, which also checks that both
//! versions talk to each other. Statement ids are MQTT 5.0's (`_v5` in test names).

use super::*;
use crate::codec::{property, Connect, Properties, Property, Publish, Subscribe, Will as WireWill};

/// What a v5 client received, in 5.0 packets, owned enough to compare.
#[derive(Debug, PartialEq, Eq)]
enum V5 {
    Connack(bool, u8, Vec<u8>),
    Publish(String, Vec<u8>, QoS, bool, Vec<u8>),
    Ack(u8, u16, u8),
    Suback(Vec<u8>),
    Unsuback(Vec<u8>),
    Disconnect(u8),
    Other,
}

/// Every packet a v5 client on `conn` received since the last call, as whole frames.
fn frames_v5(h: &mut Harness, conn: ConnId) -> Vec<Vec<u8>> {
    let bytes = h.take_bytes(conn);
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let header = FixedHeader::parse(rest).unwrap().unwrap();
        let (frame, tail) = rest.split_at(header.packet_len());
        out.push(frame.to_vec());
        rest = tail;
    }
    out
}

fn take_v5(h: &mut Harness, conn: ConnId) -> Vec<V5> {
    let mut out = Vec::new();
    for frame in frames_v5(h, conn) {
        let packet = codec::decode(&frame, ProtocolVersion::V5).expect("well-formed 5.0");
        out.push(match packet {
            Packet::Connack(c) => V5::Connack(
                c.session_present,
                c.reason.0,
                c.properties.as_bytes().to_vec(),
            ),
            Packet::Publish(p) => V5::Publish(
                p.topic.into(),
                p.payload.to_vec(),
                p.qos,
                p.retain,
                p.properties.as_bytes().to_vec(),
            ),
            Packet::Puback(a) => V5::Ack(4, a.packet_id, a.reason.0),
            Packet::Pubrec(a) => V5::Ack(5, a.packet_id, a.reason.0),
            Packet::Suback(s) => V5::Suback(s.reason_codes.to_vec()),
            Packet::Unsuback(u) => V5::Unsuback(u.reason_codes.to_vec()),
            Packet::Disconnect(d) => V5::Disconnect(d.reason.0),
            _ => V5::Other,
        });
    }
    out
}

fn props(list: &[Property<'_>]) -> &'static [u8] {
    let mut out = Vec::new();
    for p in list {
        p.write(&mut out).unwrap();
    }
    Box::leak(out.into_boxed_slice())
}

/// An MQTT 5.0 CONNECT.
fn connect5(
    id: &'static str,
    clean_start: bool,
    properties: &'static [u8],
    will: Option<WireWill<'static>>,
) -> Packet<'static> {
    Packet::Connect(Connect {
        version: ProtocolVersion::V5,
        bridge: false,
        clean_session: clean_start,
        keep_alive: 60,
        properties: Properties::from_bytes(properties),
        client_id: id,
        will,
        username: None,
        password: None,
    })
}

fn will5(delay: u32) -> Option<WireWill<'static>> {
    Some(WireWill {
        topic: "w",
        properties: Properties::from_bytes(props(&[
            Property::U32(property::WILL_DELAY_INTERVAL, delay),
            Property::Str(property::CONTENT_TYPE, "text/plain"),
        ])),
        payload: b"gone",
        qos: Q0,
        retain: false,
    })
}

fn expiry(secs: u32) -> &'static [u8] {
    props(&[Property::U32(property::SESSION_EXPIRY_INTERVAL, secs)])
}

/// A v5 client on `conn`, connected.
fn open5(h: &mut Harness, conn: ConnId, packet: Packet<'static>) -> Vec<u8> {
    h.broker.accepted(conn, 0, h.now);
    h.send(conn, packet);
    match &take_v5(h, conn)[..] {
        [V5::Connack(_, 0, p)] => p.clone(),
        other => panic!("not accepted: {other:?}"),
    }
}

fn publish5(
    topic: &'static str,
    qos: QoS,
    id: Option<u16>,
    properties: &'static [u8],
) -> Packet<'static> {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic,
        packet_id: id,
        properties: Properties::from_bytes(properties),
        payload: b"m",
    })
}

fn watcher(h: &mut Harness, conn: ConnId, filter: &str) {
    h.subscriber(conn, "watcher", &[(filter, Q0)]);
}

#[test]
fn connack_says_what_the_server_allows_and_assigns_an_id_mqtt_3_2_2_v5() {
    let mut h = Harness::new();
    let p = open5(&mut h, 0, connect5("", false, &[], None));
    let p = Properties::from_bytes(&p);
    let id = p
        .str(property::ASSIGNED_CLIENT_IDENTIFIER)
        .expect("an id is assigned");
    assert!(id.starts_with("auto-"), "{id}");
    assert_eq!(p.u16(property::TOPIC_ALIAS_MAXIMUM), Some(4));
    assert_eq!(p.u16(property::RECEIVE_MAXIMUM), Some(100));
    assert_eq!(
        p.byte(property::SHARED_SUBSCRIPTION_AVAILABLE),
        None,
        "available"
    );
}

#[test]
fn an_authentication_method_is_refused_with_0x8c_mqtt_4_12_0_1_v5() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    let method = props(&[Property::Str(
        property::AUTHENTICATION_METHOD,
        "SCRAM-SHA-1",
    )]);
    h.send(0, connect5("c", true, method, None));
    assert_eq!(take_v5(&mut h, 0), [V5::Connack(false, 0x8c, vec![])]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
}

#[test]
fn a_delayed_will_waits_and_a_reconnect_cancels_it_mqtt_3_1_3_9_v5() {
    let mut h = Harness::new();
    watcher(&mut h, 9, "w");
    open5(&mut h, 0, connect5("c", true, expiry(60), will5(2)));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(9), vec![], "not before the delay");
    open5(&mut h, 1, connect5("c", false, expiry(60), None));
    h.advance(Duration::from_secs(5));
    assert_eq!(h.take(9), vec![], "the client came back in time");
}

#[test]
fn a_delayed_will_is_published_when_the_delay_ends_mqtt_3_1_3_9_v5() {
    let mut h = Harness::new();
    watcher(&mut h, 9, "w");
    open5(&mut h, 0, connect5("c", true, expiry(60), will5(2)));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.advance(Duration::from_millis(1900));
    assert_eq!(h.take(9), vec![]);
    h.advance(Duration::from_millis(200));
    assert_eq!(h.take(9), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn a_delayed_will_goes_when_its_session_ends_first_mqtt_3_1_3_9_v5() {
    let mut h = Harness::new();
    watcher(&mut h, 9, "w");
    // Session expiry 0: the session ends with the connection, so the will goes now.
    open5(&mut h, 0, connect5("c", true, &[], will5(30)));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    assert_eq!(h.take(9), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn will_properties_are_forwarded_without_the_delay_mqtt_3_1_3_v5() {
    let mut h = Harness::new();
    open5(&mut h, 9, connect5("w5", true, &[], None));
    h.send(9, subscribe(1, &[("w", Q0)]));
    take_v5(&mut h, 9);
    open5(&mut h, 0, connect5("c", true, &[], will5(0)));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    let got = take_v5(&mut h, 9);
    let [V5::Publish(topic, _, _, _, p)] = &got[..] else {
        panic!("{got:?}");
    };
    assert_eq!(topic, "w");
    let p = Properties::from_bytes(p);
    assert_eq!(p.str(property::CONTENT_TYPE), Some("text/plain"));
    assert_eq!(p.get(property::WILL_DELAY_INTERVAL), None);
}

#[test]
fn disconnect_with_will_message_publishes_it_mqtt_3_14_2_v5() {
    let mut h = Harness::new();
    watcher(&mut h, 9, "w");
    open5(&mut h, 0, connect5("c", true, &[], will5(0)));
    h.feed(0, &[0xe0, 1, 0x04]);
    assert_eq!(h.take(9), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn a_session_expiry_set_at_disconnect_after_none_is_a_protocol_error_mqtt_3_14_2_2_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("c", true, &[], None));
    h.feed(0, &[0xe0, 7, 0, 5, 0x11, 0, 0, 0, 9]);
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x82)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
}

#[test]
fn topic_aliases_stand_for_their_topic_mqtt_3_3_2_3_4_v5() {
    let mut h = Harness::new();
    watcher(&mut h, 9, "a/#");
    open5(&mut h, 0, connect5("p", true, &[], None));
    let alias = props(&[Property::U16(property::TOPIC_ALIAS, 3)]);
    h.send(0, publish5("a/b", Q0, None, alias));
    h.send(0, publish5("", Q0, None, alias));
    assert_eq!(
        h.take(9),
        vec![
            pub_seen("a/b", b"m", Q0, false, None),
            pub_seen("a/b", b"m", Q0, false, None)
        ]
    );
    // Above the maximum announced: DISCONNECT 0x94.
    let too_high = props(&[Property::U16(property::TOPIC_ALIAS, 5)]);
    h.send(0, publish5("a/c", Q0, None, too_high));
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x94)]);
}

#[test]
fn an_unknown_alias_without_a_topic_is_a_protocol_error_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("p", true, &[], None));
    let alias = props(&[Property::U16(property::TOPIC_ALIAS, 1)]);
    h.send(0, publish5("", Q0, None, alias));
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x82)]);
}

#[test]
fn a_refused_publish_is_acknowledged_with_its_reason_mqtt_3_4_2_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("p", true, &[], None));
    h.send(0, publish5("$SYS/x", Q1, Some(1), &[]));
    let utf8 = props(&[Property::Byte(property::PAYLOAD_FORMAT_INDICATOR, 1)]);
    h.send(
        0,
        Packet::Publish(Publish {
            payload: &[0xff, 0xfe],
            ..match publish5("t", Q1, Some(2), utf8) {
                Packet::Publish(p) => p,
                _ => unreachable!(),
            }
        }),
    );
    assert_eq!(
        take_v5(&mut h, 0),
        [V5::Ack(4, 1, 0x83), V5::Ack(4, 2, 0x99)]
    );
}

#[test]
fn the_clients_receive_maximum_bounds_what_is_in_flight_mqtt_3_3_4_9_v5() {
    let mut h = Harness::new();
    let two = props(&[Property::U16(property::RECEIVE_MAXIMUM, 2)]);
    open5(&mut h, 0, connect5("s", true, two, None));
    h.send(0, subscribe(1, &[("t", Q1)]));
    take_v5(&mut h, 0);
    h.open(1, "p", true);
    for id in 1..=5 {
        h.send(1, publish("t", b"x", Q1, false, Some(id)));
    }
    let got = take_v5(&mut h, 0);
    assert_eq!(got.len(), 2, "{got:?}");
    h.send(0, Packet::puback(1));
    assert_eq!(take_v5(&mut h, 0).len(), 1);
}

#[test]
fn a_message_larger_than_the_clients_maximum_is_not_sent_mqtt_3_1_2_24_v5() {
    let mut h = Harness::new();
    let small = props(&[Property::U32(property::MAXIMUM_PACKET_SIZE, 40)]);
    open5(&mut h, 0, connect5("s", true, small, None));
    h.send(0, subscribe(1, &[("t", Q0)]));
    take_v5(&mut h, 0);
    h.open(1, "p", true);
    h.send(1, publish("t", &[7; 100], Q0, false, None));
    h.send(1, publish("t", b"ok", Q0, false, None));
    let got = take_v5(&mut h, 0);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(&got[0], V5::Publish(_, p, ..) if p == b"ok"));
}

#[test]
fn an_expired_message_is_not_delivered_and_the_rest_is_counted_down_mqtt_3_3_2_5_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("s", true, expiry(600), None));
    h.send(0, subscribe(1, &[("t", Q1)]));
    take_v5(&mut h, 0);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.open(1, "p", true);
    open5(&mut h, 2, connect5("p5", true, &[], None));
    let short = props(&[Property::U32(property::MESSAGE_EXPIRY_INTERVAL, 2)]);
    let long = props(&[Property::U32(property::MESSAGE_EXPIRY_INTERVAL, 100)]);
    h.send(2, publish5("t", Q1, Some(1), short));
    h.send(2, publish5("t", Q1, Some(2), long));
    h.advance(Duration::from_secs(10));
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect5("s", false, expiry(600), None));
    let got = take_v5(&mut h, 0);
    let [V5::Connack(true, 0, _), V5::Publish(_, _, _, _, p)] = &got[..] else {
        panic!("only the long-lived one: {got:?}");
    };
    let left = Properties::from_bytes(p).u32(property::MESSAGE_EXPIRY_INTERVAL);
    assert!(left.is_some_and(|s| (89..=90).contains(&s)), "{left:?}");
}

#[test]
fn subscription_options_no_local_and_retain_as_published_mqtt_3_8_3_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("c", true, &[], None));
    let sub_id = props(&[Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 42)]);
    let mut payload = Vec::new();
    for (f, options) in [("own", 0b0000_0100u8), ("kept", 0b0000_1000)] {
        payload.extend_from_slice(&(f.len() as u16).to_be_bytes());
        payload.extend_from_slice(f.as_bytes());
        payload.push(options);
    }
    h.send(
        0,
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: Properties::from_bytes(sub_id),
            payload: Box::leak(payload.into_boxed_slice()),
        }),
    );
    assert_eq!(take_v5(&mut h, 0), [V5::Suback(vec![0, 0])]);
    // No Local: its own message on "own" does not come back.
    h.send(0, publish5("own", Q0, None, &[]));
    h.open(1, "p", true);
    h.send(1, publish("kept", b"r", Q0, true, None));
    let got = take_v5(&mut h, 0);
    let [V5::Publish(topic, _, _, retain, p)] = &got[..] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (topic.as_str(), *retain),
        ("kept", true),
        "Retain As Published"
    );
    assert_eq!(
        Properties::from_bytes(p).u32(property::SUBSCRIPTION_IDENTIFIER),
        Some(42)
    );
}

#[test]
fn unsuback_says_which_filters_had_no_subscription_mqtt_3_11_3_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("c", true, &[], None));
    h.send(0, subscribe(1, &[("a", Q0)]));
    take_v5(&mut h, 0);
    h.send(0, unsubscribe(2, &["a", "b"]));
    assert_eq!(take_v5(&mut h, 0), [V5::Unsuback(vec![0x00, 0x11])]);
}

#[test]
fn a_takeover_tells_the_old_connection_why_mqtt_3_1_4_3_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("c", true, &[], None));
    open5(&mut h, 1, connect5("c", true, &[], None));
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x8e)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::TakenOver));
}

#[test]
fn a_malformed_packet_is_answered_with_disconnect_0x81_mqtt_4_13_1_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("c", true, &[], None));
    // PUBLISH whose property section names an unknown property (0x7f).
    h.feed(0, &[0x30, 7, 0, 1, b't', 2, 0x7f, 0, b'x']);
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x81)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
}

#[test]
fn the_keep_alive_timeout_is_told_with_0x8d_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, connect5("c", true, &[], None));
    h.advance(Duration::from_secs(91));
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x8d)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::KeepAliveTimeout));
}

#[test]
fn max_qos_is_announced_granted_and_enforced_mqtt_3_2_2_9_to_12_v5() {
    let mut h = Harness::with(Limits {
        max_qos: Q1,
        ..Limits::default()
    });
    let p = open5(&mut h, 0, connect5("c", true, &[], None));
    assert_eq!(
        Properties::from_bytes(&p).byte(property::MAXIMUM_QOS),
        Some(1)
    );
    h.send(0, subscribe(1, &[("t", QoS::ExactlyOnce)]));
    assert_eq!(take_v5(&mut h, 0), [V5::Suback(vec![1])]);
    h.send(0, publish5("t", QoS::ExactlyOnce, Some(1), &[]));
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x9b)]);
    // A will above it refuses the connection.
    h.broker.accepted(1, 0, h.now);
    let will = WireWill {
        qos: QoS::ExactlyOnce,
        ..will5(0).expect("a will")
    };
    h.send(1, connect5("w", true, &[], Some(will)));
    assert_eq!(take_v5(&mut h, 1), [V5::Connack(false, 0x9b, vec![])]);
}

#[test]
fn a_retained_publish_without_retain_available_is_0x9a_mqtt_3_3_1_13_v5() {
    let mut h = Harness::with(Limits {
        retain_available: false,
        ..Limits::default()
    });
    let p = open5(&mut h, 0, connect5("c", true, &[], None));
    assert_eq!(
        Properties::from_bytes(&p).byte(property::RETAIN_AVAILABLE),
        Some(0)
    );
    h.send(
        0,
        Packet::Publish(Publish {
            retain: true,
            ..match publish5("t", Q0, None, &[]) {
                Packet::Publish(p) => p,
                _ => unreachable!(),
            }
        }),
    );
    assert_eq!(take_v5(&mut h, 0), [V5::Disconnect(0x9a)]);
}

/// A challenge-response method for the tests: "hello", then "response" to the challenge.
struct TokenMethod;

struct TokenExchange {
    round: u8,
}

impl crate::auth::enhanced::Exchange for TokenExchange {
    fn step(&mut self, data: &[u8]) -> crate::auth::enhanced::Step {
        use crate::auth::enhanced::Step;
        self.round += 1;
        match (self.round, data) {
            (1, b"hello") => Step::Continue(b"challenge".to_vec()),
            (2, b"response") => Step::Success(b"ok".to_vec()),
            _ => Step::Failure,
        }
    }
}

impl crate::auth::enhanced::Method for TokenMethod {
    fn name(&self) -> &str {
        "TOKEN"
    }

    fn start(&self, _: &str, _: Option<&str>) -> Box<dyn crate::auth::enhanced::Exchange> {
        Box::new(TokenExchange { round: 0 })
    }
}

fn auth_props(method: &str, data: &[u8]) -> &'static [u8] {
    props(&[
        Property::Str(property::AUTHENTICATION_METHOD, method),
        Property::Binary(property::AUTHENTICATION_DATA, data),
    ])
}

/// AUTH bytes with `reason`, `method` and `data`.
fn auth_bytes(reason: u8, method: &str, data: &[u8]) -> Vec<u8> {
    Packet::Auth(crate::codec::Auth {
        reason: ReasonCode(reason),
        properties: Properties::from_bytes(auth_props(method, data)),
    })
    .to_vec(ProtocolVersion::V5)
    .expect("small")
}

/// The (reason, method, data) of the AUTH packets among what `conn` received, and the
/// CONNACK's.
fn auth_frames(h: &mut Harness, conn: ConnId) -> Vec<(u8, Option<String>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for frame in frames_v5(h, conn) {
        let (reason, p) = match codec::decode(&frame, ProtocolVersion::V5).expect("5.0") {
            Packet::Auth(a) => (a.reason.0, a.properties),
            Packet::Connack(c) => (c.reason.0, c.properties),
            Packet::Disconnect(d) => (d.reason.0, d.properties),
            other => panic!("unexpected {other:?}"),
        };
        out.push((
            reason,
            p.str(property::AUTHENTICATION_METHOD).map(str::to_string),
            p.binary(property::AUTHENTICATION_DATA).map(<[u8]>::to_vec),
        ));
    }
    out
}

#[test]
fn an_enhanced_authentication_exchange_admits_the_client_mqtt_4_12_v5() {
    let mut h = Harness::new();
    h.broker.add_auth_method(Box::new(TokenMethod));
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect5("c", true, auth_props("TOKEN", b"hello"), None));
    let tok = Some("TOKEN".to_string());
    assert_eq!(
        auth_frames(&mut h, 0),
        [(0x18, tok.clone(), Some(b"challenge".to_vec()))]
    );
    assert_eq!(
        h.broker.clients_connected(),
        0,
        "not before the exchange succeeds"
    );
    h.feed(0, &auth_bytes(0x18, "TOKEN", b"response"));
    assert_eq!(
        auth_frames(&mut h, 0),
        [(0x00, tok.clone(), Some(b"ok".to_vec()))]
    );
    assert_eq!(h.broker.clients_connected(), 1);
    // Re-authentication [MQTT-4.12.1 of 5.0].
    h.feed(0, &auth_bytes(0x19, "TOKEN", b"hello"));
    assert_eq!(
        auth_frames(&mut h, 0),
        [(0x18, tok.clone(), Some(b"challenge".to_vec()))]
    );
    h.feed(0, &auth_bytes(0x18, "TOKEN", b"response"));
    assert_eq!(auth_frames(&mut h, 0), [(0x00, tok, Some(b"ok".to_vec()))]);
    // Another method in AUTH is a Protocol Error [MQTT-4.12.0-5 of 5.0].
    h.feed(0, &auth_bytes(0x19, "OTHER", b"hello"));
    assert_eq!(auth_frames(&mut h, 0), [(0x82, None, None)]);
}

#[test]
fn a_failed_enhanced_authentication_is_refused_with_0x87_mqtt_4_12_0_4_v5() {
    let mut h = Harness::new();
    h.broker.add_auth_method(Box::new(TokenMethod));
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect5("c", true, auth_props("TOKEN", b"hello"), None));
    auth_frames(&mut h, 0);
    h.feed(0, &auth_bytes(0x18, "TOKEN", b"wrong"));
    assert_eq!(auth_frames(&mut h, 0), [(0x87, None, None)]);
    assert_eq!(h.is_closed(0), Some(CloseReason::AuthFailed));
    // A method not offered: 0x8C [MQTT-4.12.0-1 of 5.0].
    h.broker.accepted(1, 0, h.now);
    h.send(
        1,
        connect5("d", true, auth_props("SCRAM-SHA-1", b"x"), None),
    );
    assert_eq!(auth_frames(&mut h, 1), [(0x8c, None, None)]);
}

#[test]
fn a_mounted_v5_client_aliases_its_own_topics_and_is_refused_with_0x87_v5() {
    let mut listeners = vec![ListenerPolicy::default(); 2];
    listeners[1].clients.mount_point = Some("mp/".into());
    listeners[1].clients.use_username_as_clientid = true;
    listeners[1].clients.max_qos = Some(Q1);
    let mut h = Harness::with(Limits {
        listeners,
        clientid_prefixes: "c".into(),
        ..Limits::default()
    });
    h.subscriber(9, "cw", &[("#", Q0)]);
    let Packet::Connect(mut c) = connect5("c1", true, &[], None) else {
        unreachable!("connect5 builds a CONNECT")
    };
    c.username = Some("carol");
    h.broker.accepted(0, 1, h.now);
    h.send(0, Packet::Connect(c));
    let maximum_qos = props(&[Property::Byte(property::MAXIMUM_QOS, 1)]);
    match &take_v5(&mut h, 0)[..] {
        [V5::Connack(false, 0, p)] => assert!(p.ends_with(maximum_qos), "{p:?}"),
        other => panic!("not accepted: {other:?}"),
    }
    assert_eq!(h.broker.client_id_of(0), Some("carol"));
    h.send(0, subscribe(1, &[("a", Q2)]));
    assert_eq!(take_v5(&mut h, 0), [V5::Suback(vec![1])]);
    // The alias names the client's own topic; the mount point goes in front after.
    let alias = props(&[Property::U16(property::TOPIC_ALIAS, 1)]);
    h.send(0, publish5("a", Q0, None, alias));
    h.send(0, publish5("", Q0, None, alias));
    let bare = || V5::Publish("a".into(), b"m".to_vec(), Q0, false, Vec::new());
    assert_eq!(take_v5(&mut h, 0), [bare(), bare()]);
    let mounted = || pub_seen("mp/a", b"m", Q0, false, None);
    assert_eq!(h.take(9), [mounted(), mounted()]);
    // No user name on that listener, or an id without the prefix: 0x87.
    h.broker.accepted(1, 1, h.now);
    h.send(1, connect5("c2", true, &[], None));
    assert_eq!(take_v5(&mut h, 1), [V5::Connack(false, 0x87, Vec::new())]);
    h.broker.accepted(2, 0, h.now);
    h.send(2, connect5("x", true, &[], None));
    assert_eq!(take_v5(&mut h, 2), [V5::Connack(false, 0x87, Vec::new())]);
}
