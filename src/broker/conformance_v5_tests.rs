//! Packet-by-packet tests for the normative statements of MQTT 5.0 (chapters 1 to 4) that
//! no other test covered; see docs/conformance-v5.md, which names for every statement the
//! test that checks it. One file in the specification's order, like `conformance_tests.rs`
//! for MQTT 3.1.1. Statement ids are MQTT 5.0's: test names end in `_v5`, because many ids
//! name another statement in 3.1.1.
//!
//! The clients speak MQTT 5.0 on the wire: every packet is encoded by the codec (or
//! written byte by byte for a malformed one) and fed through framing and
//! [`Broker::receive`], as the reactor does. Everything the broker writes to a 5.0 client
//! is decoded by the codec in 5.0 ([`take5`]), which checks it is well-formed (reserved
//! flags, reason codes allowed on the packet, properties allowed on it, UTF-8 strings) and
//! that every length is in its shortest form. Watchers that need nothing of 5.0 are 3.1.1
//! clients of the shared harness.

use super::harness::*;
use super::*;
use crate::codec::{
    encode_subscribe, encode_unsubscribe, remaining_length_len, Ack, Auth, Connect, Properties,
    Property, Publish, RetainHandling, SubscriptionOptions, Will as WireWill,
};
use crate::topic::filter_matches;

const V5: ProtocolVersion = ProtocolVersion::V5;

// ----- what a 5.0 client sends ------------------------------------------------------------

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// A properties section (without its length), leaked for a `'static` packet.
fn props(list: &[Property<'_>]) -> &'static [u8] {
    let mut out = Vec::new();
    for p in list {
        p.write(&mut out).expect("a property fits");
    }
    Box::leak(out.into_boxed_slice())
}

fn session_expiry(secs: u32) -> Property<'static> {
    Property::U32(property::SESSION_EXPIRY_INTERVAL, secs)
}

/// A packet as a 5.0 client writes it.
fn wire(packet: Packet<'_>) -> Vec<u8> {
    packet.to_vec(V5).expect("encodes")
}

/// An MQTT 5.0 CONNECT: Clean Start 1, keep-alive 60, no properties, will or credentials.
fn c5(id: &'static str) -> Connect<'static> {
    Connect {
        version: V5,
        bridge: false,
        clean_session: true,
        keep_alive: 60,
        properties: Properties::NONE,
        client_id: id,
        will: None,
        username: None,
        password: None,
    }
}

/// `c5` with properties.
fn c5p(id: &'static str, list: &[Property<'_>]) -> Connect<'static> {
    Connect {
        properties: Properties::from_bytes(props(list)),
        ..c5(id)
    }
}

/// `c5` resuming (Clean Start 0) with a Session Expiry Interval.
fn c5_resume(id: &'static str, expiry: u32) -> Connect<'static> {
    Connect {
        clean_session: false,
        ..c5p(id, &[session_expiry(expiry)])
    }
}

/// A will on `topic`, payload "gone", with `list` as its properties.
fn will5(topic: &'static str, list: &[Property<'_>], qos: QoS, retain: bool) -> WireWill<'static> {
    WireWill {
        topic,
        properties: Properties::from_bytes(props(list)),
        payload: b"gone",
        qos,
        retain,
    }
}

fn p5(topic: &'static str, payload: &'static [u8], qos: QoS, id: Option<u16>) -> Publish<'static> {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic,
        packet_id: id,
        properties: Properties::NONE,
        payload,
    }
}

fn p5p(
    topic: &'static str,
    payload: &'static [u8],
    qos: QoS,
    id: Option<u16>,
    list: &[Property<'_>],
) -> Publish<'static> {
    Publish {
        properties: Properties::from_bytes(props(list)),
        ..p5(topic, payload, qos, id)
    }
}

fn publish_wire(p: Publish<'_>) -> Vec<u8> {
    wire(Packet::Publish(p))
}

fn opts(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: RetainHandling::SendAtSubscribe,
    }
}

fn subscribe_wire(
    id: u16,
    list: &[Property<'_>],
    filters: &[(&str, SubscriptionOptions)],
) -> Vec<u8> {
    let mut out = Vec::new();
    encode_subscribe(
        V5,
        id,
        Properties::from_bytes(props(list)),
        filters,
        &mut out,
    )
    .expect("encodes");
    out
}

fn unsubscribe_wire(id: u16, filters: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_unsubscribe(V5, id, filters, &mut out).expect("encodes");
    out
}

/// PUBACK (`kind` 4), PUBREC (5), PUBREL (6) or PUBCOMP (7) with a reason code.
fn ack_wire(kind: u8, id: u16, code: u8) -> Vec<u8> {
    let a = Ack {
        packet_id: id,
        reason: ReasonCode(code),
        properties: Properties::NONE,
    };
    wire(match kind {
        4 => Packet::Puback(a),
        5 => Packet::Pubrec(a),
        6 => Packet::Pubrel(a),
        _ => Packet::Pubcomp(a),
    })
}

const PINGREQ: [u8; 2] = [0xc0, 0];
const DISCONNECT_NORMAL: [u8; 2] = [0xe0, 0];

// ----- what a 5.0 client receives -----------------------------------------------------------

/// A PUBLISH a 5.0 client received.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg {
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    dup: bool,
    retain: bool,
    id: Option<u16>,
    props: Vec<u8>,
}

/// A packet a 5.0 client received, decoded by the codec in 5.0.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Connack {
        present: bool,
        code: u8,
        props: Vec<u8>,
    },
    Publish(Msg),
    /// PUBACK (4), PUBREC (5), PUBREL (6), PUBCOMP (7).
    Ack {
        kind: u8,
        id: u16,
        code: u8,
        props: Vec<u8>,
    },
    Suback {
        id: u16,
        codes: Vec<u8>,
        props: Vec<u8>,
    },
    Unsuback {
        id: u16,
        codes: Vec<u8>,
        props: Vec<u8>,
    },
    Pingresp,
    Disconnect {
        code: u8,
        props: Vec<u8>,
    },
}

fn ack(kind: u8, id: u16, code: u8) -> Got {
    Got::Ack {
        kind,
        id,
        code,
        props: vec![],
    }
}

fn suback(id: u16, codes: &[u8]) -> Got {
    Got::Suback {
        id,
        codes: codes.to_vec(),
        props: vec![],
    }
}

fn unsuback(id: u16, codes: &[u8]) -> Got {
    Got::Unsuback {
        id,
        codes: codes.to_vec(),
        props: vec![],
    }
}

fn disconnect(code: u8) -> Got {
    Got::Disconnect {
        code,
        props: vec![],
    }
}

/// The frames the client on `conn` received since the last call, each checked to have
/// its remaining length in the fewest bytes [MQTT-1.5.5-1].
fn frames(h: &mut Harness, conn: ConnId) -> Vec<Vec<u8>> {
    let bytes = h.take_bytes(conn);
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let header = FixedHeader::parse(rest)
            .expect("the broker writes well-formed headers")
            .expect("the broker writes whole packets");
        assert_eq!(
            header.header_len,
            1 + remaining_length_len(header.remaining_len),
            "a remaining length in its shortest form"
        );
        let (frame, tail) = rest.split_at(header.packet_len());
        out.push(frame.to_vec());
        rest = tail;
    }
    out
}

fn decode5(frame: &[u8]) -> Got {
    match codec::decode(frame, V5).expect("the broker writes well-formed 5.0 packets") {
        Packet::Connack(c) => Got::Connack {
            present: c.session_present,
            code: c.reason.0,
            props: c.properties.as_bytes().to_vec(),
        },
        Packet::Publish(p) => Got::Publish(Msg {
            topic: p.topic.to_string(),
            payload: p.payload.to_vec(),
            qos: p.qos,
            dup: p.dup,
            retain: p.retain,
            id: p.packet_id,
            props: p.properties.as_bytes().to_vec(),
        }),
        Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) => {
            Got::Ack {
                kind: frame[0] >> 4,
                id: a.packet_id,
                code: a.reason.0,
                props: a.properties.as_bytes().to_vec(),
            }
        }
        Packet::Suback(s) => Got::Suback {
            id: s.packet_id,
            codes: s.reason_codes.to_vec(),
            props: s.properties.as_bytes().to_vec(),
        },
        Packet::Unsuback(u) => Got::Unsuback {
            id: u.packet_id,
            codes: u.reason_codes.to_vec(),
            props: u.properties.as_bytes().to_vec(),
        },
        Packet::Pingresp => Got::Pingresp,
        Packet::Disconnect(d) => Got::Disconnect {
            code: d.reason.0,
            props: d.properties.as_bytes().to_vec(),
        },
        other => panic!("a server never sends {other:?}"),
    }
}

/// Everything the 5.0 client on `conn` received since the last call, decoded.
fn take5(h: &mut Harness, conn: ConnId) -> Vec<Got> {
    frames(h, conn).iter().map(|f| decode5(f)).collect()
}

/// The PUBLISHes among `got`.
fn msgs(got: &[Got]) -> Vec<Msg> {
    got.iter()
        .filter_map(|g| match g {
            Got::Publish(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// The only packet in `got`, a PUBLISH.
fn only_msg(got: &[Got]) -> Msg {
    match got {
        [Got::Publish(m)] => m.clone(),
        other => panic!("one PUBLISH expected: {other:?}"),
    }
}

/// The payloads of the PUBLISHes the 5.0 client on `conn` received.
fn payloads(h: &mut Harness, conn: ConnId) -> Vec<Vec<u8>> {
    msgs(&take5(h, conn))
        .into_iter()
        .map(|m| m.payload)
        .collect()
}

/// The identifiers of a properties section, in order.
fn prop_ids(bytes: &[u8]) -> Vec<u8> {
    Properties::from_bytes(bytes)
        .iter()
        .map(|p| p.id())
        .collect()
}

// ----- driving the core ----------------------------------------------------------------------

/// A 5.0 client connects on `conn`: everything it receives, decoded.
fn connect5(h: &mut Harness, conn: ConnId, c: Connect<'_>) -> Vec<Got> {
    h.broker.accepted(conn, 0, h.now);
    h.feed(conn, &wire(Packet::Connect(c)));
    take5(h, conn)
}

/// A 5.0 client connects on `conn` and is accepted with a CONNACK alone: Session Present
/// and the CONNACK's properties.
fn open5(h: &mut Harness, conn: ConnId, c: Connect<'_>) -> (bool, Vec<u8>) {
    match &connect5(h, conn, c)[..] {
        [Got::Connack {
            present,
            code: 0,
            props,
        }] => (*present, props.clone()),
        other => panic!("accepted with a CONNACK alone: {other:?}"),
    }
}

/// A 5.0 client `id` on `conn`, subscribed to `filters` (SUBACK checked, output drained).
fn sub5(h: &mut Harness, conn: ConnId, id: &'static str, filters: &[(&str, QoS)]) {
    open5(h, conn, c5(id));
    subscribe5(h, conn, filters);
}

/// The 5.0 client on `conn` subscribes to `filters`, each granted.
fn subscribe5(h: &mut Harness, conn: ConnId, filters: &[(&str, QoS)]) {
    let list: Vec<(&str, SubscriptionOptions)> =
        filters.iter().map(|&(f, q)| (f, opts(q))).collect();
    h.feed(conn, &subscribe_wire(1, &[], &list));
    let codes: Vec<u8> = filters.iter().map(|&(_, q)| q as u8).collect();
    assert_eq!(take5(h, conn)[0], suback(1, &codes));
}

/// The network connection of `conn` fails.
fn lose(h: &mut Harness, conn: ConnId) {
    h.broker.closed(conn, CloseReason::PeerClosed, h.now);
    h.effects();
}

/// The client on `conn` was told `code` with DISCONNECT, without properties, and closed.
fn assert_disconnected(h: &mut Harness, conn: ConnId, code: u8, reason: CloseReason) {
    assert_eq!(take5(h, conn), [disconnect(code)], "DISCONNECT {code:#04x}");
    assert_eq!(h.is_closed(conn), Some(reason));
}

/// A fresh broker with a 5.0 client "c" on connection 0 that sends `bytes`: it is told
/// `code` with DISCONNECT and closed as a protocol error.
fn rejects(bytes: &[u8], code: u8) {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("c"));
    h.feed(0, bytes);
    assert_eq!(take5(&mut h, 0), [disconnect(code)], "{bytes:02x?}");
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
}

/// A fresh broker where a connection sends `bytes` as its CONNECT: closed without any
/// answer (no CONNACK, and no DISCONNECT before a CONNACK [MQTT-3.14.0-1]).
fn connect_closes_silently(bytes: &[u8]) {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(0, bytes);
    assert_eq!(h.take_bytes(0), Vec::<u8>::new(), "{bytes:02x?}");
    assert_eq!(
        h.is_closed(0),
        Some(CloseReason::ProtocolError),
        "{bytes:02x?}"
    );
    assert_eq!(h.broker.clients_connected(), 0);
}

/// The outbound messages session `id` has in flight.
fn inflight(h: &Harness, id: &str) -> usize {
    let sid = h.broker.sessions.find(id).expect("the session exists");
    h.broker.sessions.get(sid).map_or(0, |s| s.inflight_len())
}

// ----- 1.5 Data representation ----------------------------------------------------------------

#[test]
fn ill_formed_utf8_is_a_malformed_packet_mqtt_1_5_4_1_v5() {
    // PUBLISH "t" whose Content Type is the lone byte 0xff.
    rejects(&[0x30, 9, 0, 1, b't', 4, 0x03, 0, 1, 0xff, b'x'], 0x81);
    // A topic holding an encoded surrogate, U+D800.
    rejects(&[0x30, 7, 0, 3, 0xed, 0xa0, 0x80, 0, b'x'], 0x81);
}

#[test]
fn a_null_character_is_a_malformed_packet_mqtt_1_5_4_2_v5() {
    // A User Property whose name is U+0000.
    rejects(
        &[0x30, 12, 0, 1, b't', 7, 0x26, 0, 1, 0, 0, 1, b'v', b'x'],
        0x81,
    );
    // A topic "a\0".
    rejects(&[0x30, 6, 0, 2, b'a', 0, 0, b'x'], 0x81);
}

#[test]
fn a_bom_is_kept_in_topics_and_properties_mqtt_1_5_4_3_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("\u{feff}t", Q0)]);
    open5(&mut h, 1, c5("p"));
    let bom = [Property::Str(property::CONTENT_TYPE, "\u{feff}x")];
    h.feed(1, &publish_wire(p5p("\u{feff}t", b"1", Q0, None, &bom)));
    h.feed(1, &publish_wire(p5("t", b"2", Q0, None)));
    let m = only_msg(&take5(&mut h, 0));
    assert_eq!(m.topic, "\u{feff}t");
    assert_eq!(m.payload, b"1");
    assert_eq!(
        Properties::from_bytes(&m.props).str(property::CONTENT_TYPE),
        Some("\u{feff}x")
    );
}

#[test]
fn variable_byte_integers_must_be_in_their_shortest_form_mqtt_1_5_5_1_v5() {
    // PINGREQ with its remaining length 0 written in two bytes.
    rejects(&[0xc0, 0x80, 0x00], 0x81);
    // PUBLISH whose property length 0 is written in two bytes.
    rejects(&[0x30, 6, 0, 1, b't', 0x80, 0x00, b'x'], 0x81);
    // What the broker writes: `frames` checks every remaining length, the codec every
    // property length and Subscription Identifier. 200 needs two bytes, and so does the
    // remaining length 207 of the PUBLISH carrying it.
    let mut h = Harness::new();
    open5(&mut h, 0, c5("s"));
    h.feed(
        0,
        &subscribe_wire(
            1,
            &[Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 200)],
            &[("t", opts(Q0))],
        ),
    );
    take5(&mut h, 0);
    h.open(1, "p", true);
    h.send(1, publish("t", &[1; 200], Q0, false, None));
    let f = frames(&mut h, 0);
    assert_eq!(f.len(), 1);
    assert_eq!(
        &f[0][..3],
        &[0x30, 0xcf, 0x01],
        "remaining length 207 in two bytes"
    );
    let m = only_msg(&[decode5(&f[0])]);
    assert_eq!(
        Properties::from_bytes(&m.props).u32(property::SUBSCRIPTION_IDENTIFIER),
        Some(200)
    );
}

#[test]
fn both_strings_of_a_user_property_follow_the_utf8_rules_mqtt_1_5_7_1_v5() {
    // Name "k", value the lone byte 0xc3.
    rejects(
        &[0x30, 12, 0, 1, b't', 7, 0x26, 0, 1, b'k', 0, 1, 0xc3, b'x'],
        0x81,
    );
    // Name the lone byte 0xc3, value "v".
    rejects(
        &[0x30, 12, 0, 1, b't', 7, 0x26, 0, 1, 0xc3, 0, 1, b'v', b'x'],
        0x81,
    );
}

// ----- 2 Control packet format ------------------------------------------------------------

#[test]
fn reserved_flag_bits_are_checked_mqtt_2_1_3_1_v5() {
    for frame in [
        &[0x41, 2, 0, 1][..],               // PUBACK
        &[0x51, 2, 0, 1],                   // PUBREC
        &[0x60, 2, 0, 1],                   // PUBREL [MQTT-3.6.1-1]
        &[0x72, 2, 0, 1],                   // PUBCOMP
        &[0x80, 7, 0, 1, 0, 0, 1, b't', 0], // SUBSCRIBE [MQTT-3.8.1-1]
        &[0x8a, 7, 0, 1, 0, 0, 1, b't', 0], // SUBSCRIBE
        &[0xa0, 6, 0, 1, 0, 0, 1, b't'],    // UNSUBSCRIBE [MQTT-3.10.1-1]
        &[0xc1, 0],                         // PINGREQ
        &[0xe1, 0],                         // DISCONNECT [MQTT-3.14.1-1]
        &[0xe8, 0],                         // DISCONNECT
        &[0xf1, 0],                         // AUTH [MQTT-3.15.1-1]
    ] {
        rejects(frame, 0x81);
    }
}

#[test]
fn a_qos_0_publish_has_no_packet_id_and_dup_0_mqtt_2_2_1_2_mqtt_3_3_1_2_mqtt_4_3_1_1_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("t", Q0)]);
    open5(&mut h, 1, c5("p"));
    // Published at QoS 1 with DUP 1, delivered at QoS 0.
    let p = Publish {
        dup: true,
        ..p5("t", b"x", Q1, Some(1))
    };
    h.feed(1, &publish_wire(p));
    let f = frames(&mut h, 0);
    // Flags 0000, topic, then at once the property length 0: no packet id.
    assert_eq!(f, [vec![0x30, 5, 0, 1, b't', 0, b'x']]);
}

#[test]
fn a_zero_packet_id_is_refused_mqtt_2_2_1_3_v5() {
    rejects(&[0x32, 7, 0, 1, b't', 0, 0, 0, b'x'], 0x82); // PUBLISH QoS 1
    rejects(&[0x34, 7, 0, 1, b't', 0, 0, 0, b'x'], 0x82); // PUBLISH QoS 2
    rejects(&[0x82, 7, 0, 0, 0, 0, 1, b't', 0], 0x82); // SUBSCRIBE
    rejects(&[0xa2, 6, 0, 0, 0, 0, 1, b't'], 0x82); // UNSUBSCRIBE
}

#[test]
fn outbound_packet_ids_are_new_non_zero_and_unused_mqtt_2_2_1_4_mqtt_4_3_2_1_mqtt_4_3_3_1_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("t", Q2)]);
    h.open(1, "p", true);
    for (i, qos) in [Q1, Q2, Q1, Q2, Q1].into_iter().enumerate() {
        let id = i as u16 + 1;
        h.send(1, publish("t", &[id as u8], qos, false, Some(id)));
    }
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.len(), 5);
    let mut ids: Vec<u16> = got
        .iter()
        .map(|m| m.id.expect("QoS > 0 has an id"))
        .collect();
    assert!(ids.iter().all(|&id| id != 0), "{ids:?}");
    // QoS as published, DUP 0 [MQTT-4.3.2-2], [MQTT-4.3.3-2].
    let qos: Vec<QoS> = got.iter().map(|m| m.qos).collect();
    assert_eq!(qos, [Q1, Q2, Q1, Q2, Q1]);
    assert!(got.iter().all(|m| !m.dup));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "no id used twice while unacknowledged");
}

#[test]
fn acknowledgements_carry_the_publish_packet_id_mqtt_2_2_1_5_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("t", Q2)]);
    open5(&mut h, 1, c5("p"));
    // Inbound: PUBACK, PUBREC, PUBCOMP carry the client's ids [MQTT-4.3.2-4],
    // [MQTT-4.3.3-8], [MQTT-4.3.3-11].
    h.feed(1, &publish_wire(p5("t", b"1", Q1, Some(0x0107))));
    assert_eq!(take5(&mut h, 1), [ack(4, 0x0107, 0)]);
    h.feed(1, &publish_wire(p5("t", b"2", Q2, Some(0xff09))));
    assert_eq!(take5(&mut h, 1), [ack(5, 0xff09, 0)]);
    h.feed(1, &ack_wire(6, 0xff09, 0));
    assert_eq!(take5(&mut h, 1), [ack(7, 0xff09, 0)]);
    // Outbound: PUBREL carries the id of the broker's own PUBLISH [MQTT-4.3.3-4].
    let got = msgs(&take5(&mut h, 0));
    let q2 = got[1].id.expect("an id");
    h.feed(0, &ack_wire(5, q2, 0));
    assert_eq!(take5(&mut h, 0), [ack(6, q2, 0)]);
}

#[test]
fn suback_and_unsuback_carry_the_request_packet_id_mqtt_2_2_1_6_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("c"));
    h.feed(0, &subscribe_wire(0x1234, &[], &[("t", opts(Q1))]));
    assert_eq!(take5(&mut h, 0), [suback(0x1234, &[1])]);
    // Even when nothing is deleted [MQTT-3.10.4-5].
    h.feed(0, &unsubscribe_wire(0xbeef, &["nothing"]));
    assert_eq!(take5(&mut h, 0), [unsuback(0xbeef, &[0x11])]);
}

#[test]
fn no_properties_is_a_property_length_of_0_mqtt_2_2_2_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("c"));
    // What the broker writes: SUBACK, UNSUBACK and PUBLISH without properties carry the
    // length 0.
    h.feed(0, &subscribe_wire(0x1234, &[], &[("t", opts(Q1))]));
    assert_eq!(frames(&mut h, 0), [vec![0x90, 4, 0x12, 0x34, 0, 1]]);
    h.feed(0, &unsubscribe_wire(0x0203, &["x"]));
    assert_eq!(frames(&mut h, 0), [vec![0xb0, 4, 2, 3, 0, 0x11]]);
    h.open(1, "p", true);
    h.send(1, publish("t", b"m", Q1, false, Some(1)));
    let f = frames(&mut h, 0);
    assert_eq!(f.len(), 1);
    assert_eq!(&f[0][..], &[0x32, 7, 0, 1, b't', f[0][5], f[0][6], 0, b'm']);
    // What a client sends: a PUBLISH without its property length is malformed.
    rejects(&[0x30, 3, 0, 1, b't'], 0x81);
    rejects(&[0x32, 5, 0, 1, b't', 0, 1], 0x81);
}

// ----- 3.1 CONNECT ---------------------------------------------------------------------------

#[test]
fn a_second_connect_is_a_protocol_error_mqtt_3_1_0_2_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("c"));
    h.feed(0, &wire(Packet::Connect(c5("c"))));
    // No second CONNACK [MQTT-3.2.0-2].
    assert_disconnected(&mut h, 0, 0x82, CloseReason::ProtocolError);
}

#[test]
fn the_connect_reserved_flag_must_be_0_mqtt_3_1_2_3_v5() {
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x03, &[0, 0, 1, b'c']));
}

/// A persistent 5.0 session "s" subscribed to "t" at QoS 1, offline, with one message
/// queued for it.
fn offline_session_with_a_message(h: &mut Harness) {
    let (present, _) = open5(h, 0, c5_resume("s", 60));
    assert!(!present);
    subscribe5(h, 0, &[("t", Q1)]);
    h.feed(0, &DISCONNECT_NORMAL);
    assert_eq!(h.is_closed(0), Some(CloseReason::ClientDisconnect));
    h.open(1, "p", true);
    h.send(1, publish("t", b"queued", Q1, false, Some(1)));
    h.take(1);
}

#[test]
fn clean_start_1_discards_the_session_mqtt_3_1_2_4_mqtt_3_2_2_2_v5() {
    let mut h = Harness::new();
    offline_session_with_a_message(&mut h);
    let fresh = c5p("s", &[session_expiry(60)]);
    let (present, _) = open5(&mut h, 2, fresh);
    assert!(!present, "Session Present 0 with a 0x00 CONNACK");
    // Neither the queued message nor the subscription survived.
    h.send(1, publish("t", b"after", Q1, false, Some(2)));
    assert_eq!(take5(&mut h, 2), []);
}

#[test]
fn clean_start_0_resumes_the_session_mqtt_3_1_2_5_mqtt_3_2_2_3_v5() {
    let mut h = Harness::new();
    offline_session_with_a_message(&mut h);
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    assert!(
        matches!(
            &got[0],
            Got::Connack {
                present: true,
                code: 0,
                ..
            }
        ),
        "{got:?}"
    );
    assert_eq!(msgs(&got[1..]).len(), 1);
    assert_eq!(msgs(&got[1..])[0].payload, b"queued");
    // The subscription goes on.
    h.send(1, publish("t", b"after", Q1, false, Some(2)));
    assert_eq!(payloads(&mut h, 2), [b"after".to_vec()]);
}

#[test]
fn clean_start_0_without_a_session_creates_one_mqtt_3_1_2_6_mqtt_3_2_2_3_v5() {
    let mut h = Harness::new();
    let (present, _) = open5(&mut h, 0, c5_resume("new", 60));
    assert!(!present, "no session yet: Session Present 0");
    subscribe5(&mut h, 0, &[("t", Q1)]);
    lose(&mut h, 0);
    let (present, _) = open5(&mut h, 1, c5_resume("new", 60));
    assert!(present, "the session created at the first CONNECT");
}

#[test]
fn the_will_is_stored_published_once_and_then_removed_mqtt_3_1_2_7_mqtt_3_1_2_8_mqtt_3_1_2_10_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("w", Q0)]);
    let with_will = Connect {
        will: Some(will5("w", &[], Q0, false)),
        ..c5("c")
    };
    open5(&mut h, 0, with_will);
    assert_eq!(h.take(9), vec![], "stored, not published while connected");
    lose(&mut h, 0);
    assert_eq!(h.take(9), vec![pub_seen("w", b"gone", Q0, false, None)]);
    h.advance(Duration::from_secs(30));
    assert_eq!(h.take(9), vec![], "published once");
    open5(&mut h, 1, c5("c"));
    lose(&mut h, 1);
    assert_eq!(h.take(9), vec![], "removed once published");
}

#[test]
fn a_delayed_will_goes_when_the_session_expires_first_mqtt_3_1_2_8_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("w", Q0)]);
    let delayed = [Property::U32(property::WILL_DELAY_INTERVAL, 30)];
    let c = Connect {
        will: Some(will5("w", &delayed, Q0, false)),
        ..c5_resume("c", 5)
    };
    open5(&mut h, 0, c);
    lose(&mut h, 0);
    h.advance(Duration::from_millis(4_900));
    assert_eq!(h.take(9), vec![], "neither delay nor session over");
    h.advance(Duration::from_millis(200));
    assert_eq!(h.take(9), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn the_will_is_published_when_the_server_closes_for_a_protocol_error_mqtt_3_1_2_8_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("w", Q0)]);
    let c = Connect {
        will: Some(will5("w", &[], Q0, false)),
        ..c5("c")
    };
    open5(&mut h, 0, c);
    h.feed(0, &[0xf0, 0]);
    assert_disconnected(&mut h, 0, 0x82, CloseReason::ProtocolError);
    assert_eq!(h.take(9), vec![pub_seen("w", b"gone", Q0, false, None)]);
}

#[test]
fn disconnect_0x00_deletes_the_will_mqtt_3_1_2_10_mqtt_3_14_4_3_v5() {
    for disconnect in [&[0xe0, 0][..], &[0xe0, 1, 0x00], &[0xe0, 2, 0x00, 0]] {
        let mut h = Harness::new();
        h.subscriber(9, "watcher", &[("w", Q0)]);
        let delayed = [Property::U32(property::WILL_DELAY_INTERVAL, 5)];
        let c = Connect {
            will: Some(will5("w", &delayed, Q0, false)),
            ..c5_resume("c", 60)
        };
        open5(&mut h, 0, c);
        h.feed(0, disconnect);
        assert_eq!(h.is_closed(0), Some(CloseReason::ClientDisconnect));
        h.advance(Duration::from_secs(100));
        assert_eq!(h.take(9), vec![], "{disconnect:02x?}");
    }
}

#[test]
fn will_fields_and_flags_must_match_the_will_flag_mqtt_3_1_2_9_mqtt_3_1_2_11_to_13_v5() {
    // Will QoS 1 without the Will Flag [MQTT-3.1.2-11].
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x0a, &[0, 0, 1, b'c']));
    // Will Retain without the Will Flag [MQTT-3.1.2-13].
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x22, &[0, 0, 1, b'c']));
    // Will Flag without will properties, topic and payload [MQTT-3.1.2-9].
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x06, &[0, 0, 1, b'c']));
    // ... with will properties but no topic and payload.
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x06, &[0, 0, 1, b'c', 0]));
    // ... with properties and topic but no payload.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x06,
        &[0, 0, 1, b'c', 0, 0, 1, b'w'],
    ));
    // Will QoS 3 [MQTT-3.1.2-12].
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x1e,
        &[0, 0, 1, b'c', 0, 0, 1, b'w', 0, 1, b'x'],
    ));
    // The same will at QoS 0, 1 and 2 is accepted.
    for qos_bits in [0x00, 0x08, 0x10] {
        let mut h = Harness::new();
        h.broker.accepted(0, 0, h.now);
        h.feed(
            0,
            &connect_bytes(
                b"MQTT",
                5,
                0x06 | qos_bits,
                &[0, 0, 1, b'c', 0, 0, 1, b'w', 0, 1, b'x'],
            ),
        );
        assert!(
            matches!(&take5(&mut h, 0)[..], [Got::Connack { code: 0, .. }]),
            "will QoS bits {qos_bits:#x}"
        );
    }
}

#[test]
fn the_will_is_published_retained_as_will_retain_says_mqtt_3_1_2_14_mqtt_3_1_2_15_v5() {
    let mut h = Harness::new();
    // A 5.0 watcher with Retain As Published sees the RETAIN flag the will has.
    open5(&mut h, 9, c5("watcher"));
    let rap = SubscriptionOptions {
        retain_as_published: true,
        ..opts(Q0)
    };
    h.feed(9, &subscribe_wire(1, &[], &[("w/#", rap)]));
    take5(&mut h, 9);
    let kept = Connect {
        will: Some(will5("w/kept", &[], Q0, true)),
        ..c5("a")
    };
    let plain = Connect {
        will: Some(will5("w/plain", &[], Q0, false)),
        ..c5("b")
    };
    open5(&mut h, 0, kept);
    open5(&mut h, 1, plain);
    lose(&mut h, 0);
    lose(&mut h, 1);
    let got: Vec<(String, bool)> = msgs(&take5(&mut h, 9))
        .into_iter()
        .map(|m| (m.topic, m.retain))
        .collect();
    assert_eq!(
        got,
        [("w/kept".to_string(), true), ("w/plain".to_string(), false)]
    );
    // Only the retained one is there for a later subscriber.
    h.open(8, "later", true);
    h.send(8, subscribe(2, &[("w/#", Q0)]));
    assert_eq!(
        h.take(8),
        vec![
            Seen::Suback(2, vec![0]),
            pub_seen("w/kept", b"gone", Q0, true, None)
        ]
    );
}

#[test]
fn user_name_and_password_flags_match_the_payload_mqtt_3_1_2_16_to_19_v5() {
    // User Name Flag 1, no user name [MQTT-3.1.2-17].
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x82, &[0, 0, 1, b'c']));
    // User Name Flag 0, a user name after the client id [MQTT-3.1.2-16].
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x02,
        &[0, 0, 1, b'c', 0, 1, b'u'],
    ));
    // Password Flag 1, no password [MQTT-3.1.2-19].
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0xc2,
        &[0, 0, 1, b'c', 0, 1, b'u'],
    ));
    // Password Flag 0, a password after the user name [MQTT-3.1.2-18].
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x82,
        &[0, 0, 1, b'c', 0, 1, b'u', 0, 1, b'p'],
    ));
    // Flags and fields that agree are accepted.
    for (flags, payload) in [
        (0x82, &[0, 0, 1, b'c', 0, 1, b'u'][..]),
        (0xc2, &[0, 0, 1, b'c', 0, 1, b'u', 0, 1, b'p']),
    ] {
        let mut h = Harness::new();
        h.broker.accepted(0, 0, h.now);
        h.feed(0, &connect_bytes(b"MQTT", 5, flags, payload));
        assert!(
            matches!(&take5(&mut h, 0)[..], [Got::Connack { code: 0, .. }]),
            "flags {flags:#x}"
        );
    }
}

#[test]
fn silence_for_one_and_a_half_keep_alives_closes_mqtt_3_1_2_22_mqtt_3_2_2_22_v5() {
    let mut h = Harness::new();
    let c = Connect {
        keep_alive: 10,
        ..c5("c")
    };
    let (_, p) = open5(&mut h, 0, c);
    // No Server Keep Alive: the client's 10 s is used.
    assert_eq!(
        Properties::from_bytes(&p).get(property::SERVER_KEEP_ALIVE),
        None
    );
    h.advance(Duration::from_millis(14_900));
    assert_eq!(h.is_closed(0), None);
    h.feed(0, &PINGREQ);
    assert_eq!(take5(&mut h, 0), [Got::Pingresp]);
    h.advance(Duration::from_millis(14_900));
    assert_eq!(h.is_closed(0), None, "a packet restarts the period");
    h.advance(Duration::from_millis(1_200));
    assert_disconnected(&mut h, 0, 0x8d, CloseReason::KeepAliveTimeout);
}

#[test]
fn a_server_keep_alive_replaces_the_clients_mqtt_3_2_2_21_v5() {
    let mut h = Harness::with(Limits {
        max_keepalive: 5,
        ..Limits::default()
    });
    let c = Connect {
        keep_alive: 10,
        ..c5("c")
    };
    let (_, p) = open5(&mut h, 0, c);
    assert_eq!(
        Properties::from_bytes(&p).u16(property::SERVER_KEEP_ALIVE),
        Some(5)
    );
    h.advance(Duration::from_millis(7_400));
    assert_eq!(h.is_closed(0), None);
    h.advance(Duration::from_millis(600));
    assert_disconnected(&mut h, 0, 0x8d, CloseReason::KeepAliveTimeout);
}

#[test]
fn session_state_is_kept_while_its_expiry_runs_mqtt_3_1_2_23_mqtt_4_1_0_2_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5_resume("s", 10));
    subscribe5(&mut h, 0, &[("t", Q1)]);
    lose(&mut h, 0);
    h.open(1, "p", true);
    h.send(1, publish("t", b"kept", Q1, false, Some(1)));
    h.advance(Duration::from_secs(9));
    let got = connect5(&mut h, 2, c5_resume("s", 10));
    assert!(matches!(&got[0], Got::Connack { present: true, .. }));
    assert_eq!(msgs(&got)[0].payload, b"kept");
    lose(&mut h, 2);
    // Discarded once the interval has passed with the connection closed.
    h.advance(Duration::from_secs(11));
    let got = connect5(&mut h, 3, c5_resume("s", 10));
    assert!(
        matches!(
            &got[..],
            [Got::Connack {
                present: false,
                code: 0,
                ..
            }]
        ),
        "{got:?}"
    );
}

#[test]
fn session_state_is_kept_while_the_connection_is_open_mqtt_4_1_0_1_v5() {
    let mut h = Harness::new();
    let c = Connect {
        keep_alive: 0,
        ..c5p("s", &[session_expiry(1)])
    };
    open5(&mut h, 0, c);
    subscribe5(&mut h, 0, &[("t", Q1)]);
    h.advance(Duration::from_secs(3600));
    h.open(1, "p", true);
    h.send(1, publish("t", b"still", Q1, false, Some(1)));
    assert_eq!(payloads(&mut h, 0), [b"still".to_vec()]);
}

#[test]
fn a_publish_above_the_clients_maximum_packet_size_is_skipped_as_if_sent_mqtt_3_1_2_24_mqtt_3_1_2_25_v5(
) {
    let mut h = Harness::new();
    let c = c5p(
        "s",
        &[
            Property::U32(property::MAXIMUM_PACKET_SIZE, 40),
            Property::U16(property::RECEIVE_MAXIMUM, 1),
        ],
    );
    open5(&mut h, 0, c);
    subscribe5(&mut h, 0, &[("t", Q1)]);
    h.open(1, "p", true);
    h.send(1, publish("t", &[7; 100], Q1, false, Some(1)));
    h.send(1, publish("t", b"ok", Q1, false, Some(2)));
    let f = frames(&mut h, 0);
    assert!(f.iter().all(|f| f.len() <= 40), "{f:02x?}");
    // The large one took no place in the Receive Maximum of 1: "ok" was sent at once.
    assert_eq!(f.len(), 1, "{f:02x?}");
    assert_eq!(only_msg(&[decode5(&f[0])]).payload, b"ok");
    assert_eq!(inflight(&h, "s"), 1);
}

#[test]
fn no_topic_alias_is_sent_to_clients_mqtt_3_1_2_26_mqtt_3_1_2_27_mqtt_3_3_2_8_mqtt_3_3_2_11_v5() {
    let mut h = Harness::new();
    // One client accepts 5 aliases, the other none.
    open5(
        &mut h,
        0,
        c5p("a", &[Property::U16(property::TOPIC_ALIAS_MAXIMUM, 5)]),
    );
    subscribe5(&mut h, 0, &[("t/#", Q1)]);
    sub5(&mut h, 1, "b", &[("t/#", Q1)]);
    open5(&mut h, 2, c5("p"));
    let alias = [Property::U16(property::TOPIC_ALIAS, 1)];
    h.feed(2, &publish_wire(p5p("t/x", b"1", Q1, Some(1), &alias)));
    h.feed(2, &publish_wire(p5p("", b"2", Q1, Some(2), &alias)));
    h.feed(2, &publish_wire(p5("t/x", b"3", Q0, None)));
    for conn in [0, 1] {
        let got = msgs(&take5(&mut h, conn));
        assert_eq!(got.len(), 3);
        for m in got {
            assert_eq!(m.topic, "t/x");
            assert!(
                !prop_ids(&m.props).contains(&property::TOPIC_ALIAS),
                "{m:?}"
            );
        }
    }
}

#[test]
fn response_information_is_never_returned_mqtt_3_1_2_28_v5() {
    for request in [0, 1] {
        let mut h = Harness::new();
        let c = c5p(
            "c",
            &[Property::Byte(
                property::REQUEST_RESPONSE_INFORMATION,
                request,
            )],
        );
        let (_, p) = open5(&mut h, 0, c);
        assert!(!prop_ids(&p).contains(&property::RESPONSE_INFORMATION));
    }
}

/// Whether a properties section carries a Reason String or a User Property.
fn has_problem_information(props: &[u8]) -> bool {
    prop_ids(props)
        .iter()
        .any(|&id| id == property::REASON_STRING || id == property::USER_PROPERTY)
}

#[test]
fn no_reason_string_or_user_property_on_any_reply_mqtt_3_1_2_29_v5() {
    let mut h = Harness::new();
    let c = c5p(
        "c",
        &[Property::Byte(property::REQUEST_PROBLEM_INFORMATION, 0)],
    );
    let mut got = connect5(&mut h, 0, c);
    // Refusals and successes of every acknowledgement the server sends.
    h.feed(0, &publish_wire(p5("$SYS/x", b"1", Q1, Some(1))));
    h.feed(0, &publish_wire(p5("$SYS/y", b"2", Q2, Some(2))));
    h.feed(0, &ack_wire(6, 2, 0));
    h.feed(0, &publish_wire(p5("fine", b"3", Q2, Some(3))));
    h.feed(0, &ack_wire(6, 3, 0));
    h.feed(
        0,
        &subscribe_wire(4, &[], &[("t", opts(Q2)), ("a/#/b", opts(Q0))]),
    );
    h.feed(0, &unsubscribe_wire(5, &["t", "none"]));
    h.feed(0, &subscribe_wire(6, &[], &[("t", opts(Q2))]));
    h.feed(0, &PINGREQ);
    got.extend(take5(&mut h, 0));
    // The server's own QoS 2 flow: PUBREL.
    h.open(1, "p", true);
    h.send(1, publish("t", b"4", Q2, false, Some(1)));
    let m = only_msg(&take5(&mut h, 0));
    h.feed(0, &ack_wire(5, m.id.expect("an id"), 0));
    got.extend(take5(&mut h, 0));
    // And a DISCONNECT: AUTH without a method is a Protocol Error.
    h.feed(0, &[0xf0, 0]);
    got.extend(take5(&mut h, 0));
    let kinds: Vec<&str> = got
        .iter()
        .map(|g| match g {
            Got::Connack { .. } => "CONNACK",
            Got::Ack { kind: 4, .. } => "PUBACK",
            Got::Ack { kind: 5, .. } => "PUBREC",
            Got::Ack { kind: 6, .. } => "PUBREL",
            Got::Ack { .. } => "PUBCOMP",
            Got::Suback { .. } => "SUBACK",
            Got::Unsuback { .. } => "UNSUBACK",
            Got::Pingresp => "PINGRESP",
            Got::Disconnect { .. } => "DISCONNECT",
            Got::Publish(_) => "PUBLISH",
        })
        .collect();
    for kind in [
        "CONNACK",
        "PUBACK",
        "PUBREC",
        "PUBREL",
        "PUBCOMP",
        "SUBACK",
        "UNSUBACK",
        "PINGRESP",
        "DISCONNECT",
    ] {
        assert!(kinds.contains(&kind), "{kind} was exercised: {got:?}");
    }
    for g in &got {
        let props = match g {
            Got::Connack { props, .. }
            | Got::Ack { props, .. }
            | Got::Suback { props, .. }
            | Got::Unsuback { props, .. }
            | Got::Disconnect { props, .. } => props,
            Got::Pingresp | Got::Publish(_) => continue,
        };
        assert!(!has_problem_information(props), "{g:?}");
    }
    // Refusals were among them.
    assert!(got.contains(&ack(4, 1, 0x83)), "{got:?}");
    assert!(got.contains(&ack(5, 2, 0x83)), "{got:?}");
    assert!(got.contains(&suback(4, &[2, 0x8f])), "{got:?}");
}

#[test]
fn packets_sent_before_a_refused_connack_are_not_processed_mqtt_3_1_2_30_mqtt_3_1_4_6_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("t", Q0)]);
    h.broker.accepted(0, 0, h.now);
    // CONNECT with an Authentication Method, then at once PUBLISH, SUBSCRIBE, PINGREQ.
    let method = c5p(
        "c",
        &[Property::Str(
            property::AUTHENTICATION_METHOD,
            "SCRAM-SHA-1",
        )],
    );
    let mut bytes = wire(Packet::Connect(method));
    bytes.extend(publish_wire(p5("t", b"x", Q0, None)));
    bytes.extend(subscribe_wire(1, &[], &[("t", opts(Q0))]));
    bytes.extend(PINGREQ);
    h.feed(0, &bytes);
    assert_eq!(
        take5(&mut h, 0),
        [Got::Connack {
            present: false,
            code: 0x8c,
            props: vec![]
        }]
    );
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
    assert_eq!(h.take(9), vec![], "the PUBLISH was not processed");
}

#[test]
fn the_client_id_identifies_the_session_mqtt_3_1_3_2_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5_resume("a", 60));
    subscribe5(&mut h, 0, &[("t", Q1)]);
    lose(&mut h, 0);
    let (present, _) = open5(&mut h, 1, c5_resume("b", 60));
    assert!(!present, "another id, another session");
    let (present, _) = open5(&mut h, 2, c5_resume("a", 60));
    assert!(present);
}

#[test]
fn short_alphanumeric_client_ids_are_allowed_mqtt_3_1_3_5_v5() {
    let mut h = Harness::with(Limits {
        max_client_id_length: 23,
        ..Limits::default()
    });
    for (conn, id) in [
        "0",
        "Z",
        "abcdefghijklmnopqrstuvw",
        "ABCDEFGHIJKLMNOPQRSTUVW",
        "01234567890123456789012",
    ]
    .into_iter()
    .enumerate()
    {
        open5(&mut h, conn, c5(id));
    }
}

#[test]
fn an_empty_client_id_gets_a_new_unique_id_mqtt_3_1_3_6_mqtt_3_1_3_7_mqtt_3_2_2_16_v5() {
    let mut h = Harness::new();
    let mut ids = Vec::new();
    for conn in 0..3 {
        let c = Connect {
            clean_session: conn != 0,
            ..c5p("", &[session_expiry(60)])
        };
        let (present, p) = open5(&mut h, conn, c);
        assert!(!present);
        let id = Properties::from_bytes(&p)
            .str(property::ASSIGNED_CLIENT_IDENTIFIER)
            .expect("an Assigned Client Identifier")
            .to_string();
        assert!(!id.is_empty());
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{ids:?}");
    // The CONNECT was processed as if the client had sent that id: its session is found
    // by it.
    subscribe5(&mut h, 0, &[("t", Q1)]);
    lose(&mut h, 0);
    let (present, p) = open5(&mut h, 3, c5_resume(leak_str(&ids[0]), 60));
    assert!(present, "the session of the assigned id");
    assert_eq!(
        Properties::from_bytes(&p).get(property::ASSIGNED_CLIENT_IDENTIFIER),
        None,
        "only for an empty client id"
    );
}

#[test]
fn a_refused_client_id_gets_connack_0x85_then_close_mqtt_3_1_3_8_v5() {
    let mut h = Harness::with(Limits {
        max_client_id_length: 23,
        allow_zero_length_clientid: false,
        ..Limits::default()
    });
    for (conn, id) in ["abcdefghijklmnopqrstuvwxyz", ""].into_iter().enumerate() {
        let got = connect5(&mut h, conn, c5(id));
        assert_eq!(
            got,
            [Got::Connack {
                present: false,
                code: 0x85,
                props: vec![]
            }]
        );
        assert_eq!(h.is_closed(conn), Some(CloseReason::ConnectRefused));
    }
}

#[test]
fn will_user_properties_keep_their_order_mqtt_3_1_3_10_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 9, "watcher", &[("w", Q0)]);
    let list = [
        Property::User("k", "2"),
        Property::User("a", "x"),
        Property::User("k", "1"),
        Property::Str(property::CONTENT_TYPE, "text/plain"),
        Property::User("k", "0"),
    ];
    let c = Connect {
        will: Some(will5("w", &list, Q0, false)),
        ..c5("c")
    };
    open5(&mut h, 0, c);
    lose(&mut h, 0);
    let m = only_msg(&take5(&mut h, 9));
    assert_eq!(m.props, props(&list));
}

#[test]
fn the_will_topic_and_user_name_must_be_utf8_mqtt_3_1_3_11_mqtt_3_1_3_12_v5() {
    // Will topic 0xc3 0x28.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x06,
        &[0, 0, 1, b'c', 0, 0, 2, 0xc3, 0x28, 0, 1, b'x'],
    ));
    // Will topic with U+0000.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x06,
        &[0, 0, 1, b'c', 0, 0, 2, b'w', 0, 0, 1, b'x'],
    ));
    // User name 0xff.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x82,
        &[0, 0, 1, b'c', 0, 1, 0xff],
    ));
}

#[test]
fn a_connect_not_in_the_format_of_3_1_is_closed_mqtt_3_1_4_1_v5() {
    // Topic Alias is not a CONNECT property.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x02,
        &[3, 0x23, 0, 1, 0, 1, b'c'],
    ));
    // Session Expiry Interval twice.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x02,
        &[10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 1, b'c'],
    ));
    // Receive Maximum 0.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x02,
        &[3, 0x21, 0, 0, 0, 1, b'c'],
    ));
    // A will property that only a PUBLISH has... not: Topic Alias in the will properties.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x06,
        &[0, 0, 1, b'c', 3, 0x23, 0, 1, 0, 1, b'w', 0, 0],
    ));
    // No property length at all.
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x02, &[]));
    // Bytes after the last field.
    connect_closes_silently(&connect_bytes(b"MQTT", 5, 0x02, &[0, 0, 1, b'c', 0]));
}

#[test]
fn a_refused_login_gets_a_connack_failure_then_close_mqtt_3_1_4_2_v5() {
    let mut h = Harness::with(Limits {
        listeners: vec![ListenerPolicy {
            allow_anonymous: false,
            use_identity_as_username: false,
            ..ListenerPolicy::default()
        }],
        ..Limits::default()
    });
    h.subscriber(9, "watcher", &[("t", Q0)]);
    h.broker.accepted(0, 0, h.now);
    let mut bytes = wire(Packet::Connect(c5("anonymous")));
    bytes.extend(publish_wire(p5("t", b"x", Q0, None)));
    h.feed(0, &bytes);
    assert_eq!(
        take5(&mut h, 0),
        [Got::Connack {
            present: false,
            code: 0x87,
            props: vec![]
        }]
    );
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectRefused));
    assert_eq!(h.take(9), vec![]);
}

#[test]
fn an_accepted_connect_gets_one_connack_0x00_before_anything_else_mqtt_3_1_4_5_mqtt_3_2_0_1_mqtt_3_2_0_2_v5(
) {
    let mut h = Harness::new();
    // A session with a backlog: the CONNACK still comes first.
    offline_session_with_a_message(&mut h);
    h.send(1, publish("t", b"second", Q1, false, Some(2)));
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    assert!(
        matches!(
            &got[0],
            Got::Connack {
                present: true,
                code: 0,
                ..
            }
        ),
        "{got:?}"
    );
    assert_eq!(msgs(&got).len(), 2);
    assert_eq!(
        got.iter()
            .filter(|g| matches!(g, Got::Connack { .. }))
            .count(),
        1
    );
    h.feed(2, &wire(Packet::Connect(c5_resume("s", 60))));
    assert_disconnected(&mut h, 2, 0x82, CloseReason::ProtocolError);
}

// ----- 3.2 CONNACK ---------------------------------------------------------------------------

#[test]
fn a_refused_connack_has_session_present_0_and_closes_mqtt_3_2_2_6_mqtt_3_2_2_7_v5() {
    let mut h = Harness::new();
    offline_session_with_a_message(&mut h);
    // The stored session exists, but the CONNECT is refused (Authentication Method).
    h.broker.accepted(2, 0, h.now);
    let c = Connect {
        clean_session: false,
        ..c5p(
            "s",
            &[
                session_expiry(60),
                Property::Str(property::AUTHENTICATION_METHOD, "GS2-KRB5"),
            ],
        )
    };
    h.feed(2, &wire(Packet::Connect(c)));
    // Flags byte 0 (bits 7-1 reserved [MQTT-3.2.2-1]), reason 0x8c, no properties.
    assert_eq!(frames(&mut h, 2), [vec![0x20, 3, 0x00, 0x8c, 0]]);
    assert_eq!(h.is_closed(2), Some(CloseReason::ConnectRefused));
    // The session was not touched by the refusal.
    let got = connect5(&mut h, 3, c5_resume("s", 60));
    assert!(matches!(
        &got[0],
        Got::Connack {
            present: true,
            code: 0,
            ..
        }
    ));
    assert_eq!(msgs(&got).len(), 1, "with its queued message");
}

#[test]
fn max_qos_0_is_announced_and_still_accepts_every_requested_qos_mqtt_3_2_2_9_mqtt_3_2_2_10_mqtt_3_2_2_11_v5(
) {
    let mut h = Harness::with(Limits {
        max_qos: Q0,
        ..Limits::default()
    });
    let (_, p) = open5(&mut h, 0, c5("c"));
    assert_eq!(
        Properties::from_bytes(&p).byte(property::MAXIMUM_QOS),
        Some(0)
    );
    h.feed(
        0,
        &subscribe_wire(1, &[], &[("a", opts(Q0)), ("b", opts(Q1)), ("c", opts(Q2))]),
    );
    assert_eq!(take5(&mut h, 0), [suback(1, &[0, 0, 0])]);
    // A PUBLISH above it: DISCONNECT 0x9B.
    h.feed(0, &publish_wire(p5("a", b"x", Q1, Some(1))));
    assert_disconnected(&mut h, 0, 0x9b, CloseReason::ProtocolError);
}

#[test]
fn a_packet_above_the_servers_maximum_packet_size_gets_0x95_mqtt_3_2_2_15_v5() {
    let mut h = Harness::new();
    let (_, p) = open5(&mut h, 0, c5("c"));
    let announced = Properties::from_bytes(&p).u32(property::MAXIMUM_PACKET_SIZE);
    assert_eq!(
        announced,
        Some(crate::broker::DEFAULT_LARGE_MESSAGE_MEMORY as u32)
    );
    // The reactor reports a packet whose announced length is larger (it never buffers it).
    h.broker.packet_too_large(0, 1 << 30, h.now);
    h.effects();
    assert_disconnected(&mut h, 0, 0x95, CloseReason::PacketTooLarge);
}

#[test]
fn topic_alias_maximum_0_refuses_every_alias_mqtt_3_2_2_18_v5() {
    let mut h = Harness::with(Limits {
        max_topic_alias: 0,
        ..Limits::default()
    });
    h.subscriber(9, "watcher", &[("t", Q0)]);
    let (_, p) = open5(&mut h, 0, c5("c"));
    assert_eq!(
        Properties::from_bytes(&p).get(property::TOPIC_ALIAS_MAXIMUM),
        None,
        "absent means 0"
    );
    let alias = [Property::U16(property::TOPIC_ALIAS, 1)];
    h.feed(0, &publish_wire(p5p("t", b"x", Q0, None, &alias)));
    assert_disconnected(&mut h, 0, 0x94, CloseReason::ProtocolError);
    assert_eq!(h.take(9), vec![]);
}

// ----- 3.3 PUBLISH ---------------------------------------------------------------------------

/// A persistent 5.0 subscriber "s" on `conn`, Session Expiry 60, subscribed to "t" at
/// `qos`.
fn persistent_subscriber(h: &mut Harness, conn: ConnId, qos: QoS) {
    open5(h, conn, c5_resume("s", 60));
    subscribe5(h, conn, &[("t", qos)]);
}

#[test]
fn a_redelivery_has_dup_1_and_its_original_id_mqtt_3_3_1_1_mqtt_4_4_0_1_v5() {
    let mut h = Harness::new();
    persistent_subscriber(&mut h, 0, Q2);
    h.open(1, "p", true);
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.send(1, publish("t", b"2", Q2, false, Some(2)));
    h.send(1, publish("t", b"3", Q1, false, Some(3)));
    let first = msgs(&take5(&mut h, 0));
    assert!(first.iter().all(|m| !m.dup));
    // Within the connection nothing is sent again, however long it waits.
    h.advance(Duration::from_secs(50));
    assert_eq!(take5(&mut h, 0), []);
    lose(&mut h, 0);
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    let again = msgs(&got);
    assert_eq!(again.len(), 3, "{got:?}");
    for (a, b) in first.iter().zip(&again) {
        assert!(b.dup, "DUP 1 on the re-delivery");
        assert_eq!((a.id, a.qos, &a.payload), (b.id, b.qos, &b.payload));
    }
}

#[test]
fn the_incoming_dup_is_not_forwarded_mqtt_3_3_1_3_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("t", Q2)]);
    open5(&mut h, 1, c5("p"));
    for (qos, id) in [(Q1, 1), (Q2, 2)] {
        let p = Publish {
            dup: true,
            ..p5("t", b"x", qos, Some(id))
        };
        h.feed(1, &publish_wire(p));
    }
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|m| !m.dup), "{got:?}");
}

#[test]
fn a_publish_at_qos_3_is_malformed_mqtt_3_3_1_4_v5() {
    rejects(&[0x36, 6, 0, 1, b't', 0, 1, 0], 0x81);
}

#[test]
fn retain_replaces_removes_and_keeps_retained_messages_mqtt_3_3_1_5_to_8_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("p"));
    let retained = |payload: &'static [u8]| {
        publish_wire(Publish {
            retain: true,
            ..p5("t", payload, Q1, Some(1))
        })
    };
    h.feed(0, &retained(b"old"));
    h.feed(0, &retained(b"new"));
    // RETAIN 0 neither stores nor removes [MQTT-3.3.1-8].
    h.feed(0, &publish_wire(p5("t", b"plain", Q1, Some(1))));
    take5(&mut h, 0);
    open5(&mut h, 1, c5("s1"));
    h.feed(1, &subscribe_wire(1, &[], &[("t", opts(Q1))]));
    let got = take5(&mut h, 1);
    assert_eq!(got[0], suback(1, &[1]));
    let m = only_msg(&got[1..]);
    assert_eq!((m.payload, m.retain), (b"new".to_vec(), true), "replaced");
    // An empty retained PUBLISH is delivered normally and removes the retained message
    // [MQTT-3.3.1-6]; it is not stored itself [MQTT-3.3.1-7].
    h.feed(0, &retained(b""));
    let m = only_msg(&take5(&mut h, 1));
    assert_eq!(m.payload, b"");
    assert_eq!(h.broker.retained_count(), 0);
    open5(&mut h, 2, c5("s2"));
    h.feed(2, &subscribe_wire(1, &[], &[("t", opts(Q1))]));
    assert_eq!(take5(&mut h, 2), [suback(1, &[1])]);
}

/// SUBSCRIBE options with a Retain Handling.
fn retain_handling(qos: QoS, rh: RetainHandling) -> SubscriptionOptions {
    SubscriptionOptions {
        retain_handling: rh,
        ..opts(qos)
    }
}

#[test]
fn retain_handling_decides_which_retained_messages_are_sent_mqtt_3_3_1_9_to_11_v5() {
    let mut h = Harness::new();
    h.open(1, "p", true);
    h.send(1, publish("r/1", b"kept", Q1, true, Some(1)));
    h.take(1);
    open5(&mut h, 0, c5("s"));
    let retained_after = |h: &mut Harness, filter: &str, rh: RetainHandling| {
        h.feed(
            0,
            &subscribe_wire(7, &[], &[(filter, retain_handling(Q1, rh))]),
        );
        let got = take5(h, 0);
        assert_eq!(got[0], suback(7, &[1]));
        msgs(&got[1..])
            .into_iter()
            .map(|m| {
                assert!(m.retain);
                m.payload
            })
            .collect::<Vec<_>>()
    };
    let kept = vec![b"kept".to_vec()];
    // 0: on every SUBSCRIBE, new or not.
    assert_eq!(
        retained_after(&mut h, "r/#", RetainHandling::SendAtSubscribe),
        kept
    );
    assert_eq!(
        retained_after(&mut h, "r/#", RetainHandling::SendAtSubscribe),
        kept
    );
    // 1: only for a subscription that did not exist.
    assert_eq!(
        retained_after(&mut h, "r/+", RetainHandling::SendIfNew),
        kept
    );
    assert_eq!(
        retained_after(&mut h, "r/+", RetainHandling::SendIfNew),
        Vec::<Vec<u8>>::new()
    );
    // 2: never.
    assert_eq!(
        retained_after(&mut h, "r/1", RetainHandling::DoNotSend),
        Vec::<Vec<u8>>::new()
    );
}

#[test]
fn retain_as_published_decides_the_forwarded_retain_flag_mqtt_3_3_1_12_mqtt_3_3_1_13_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("s"));
    let rap = SubscriptionOptions {
        retain_as_published: true,
        ..opts(Q0)
    };
    h.feed(0, &subscribe_wire(1, &[], &[("x", opts(Q0)), ("y", rap)]));
    take5(&mut h, 0);
    h.open(1, "p", true);
    h.send(1, publish("x", b"1", Q0, true, None));
    h.send(1, publish("y", b"2", Q0, true, None));
    h.send(1, publish("y", b"3", Q0, false, None));
    let got: Vec<(String, bool)> = msgs(&take5(&mut h, 0))
        .into_iter()
        .map(|m| (m.topic, m.retain))
        .collect();
    assert_eq!(
        got,
        [
            ("x".to_string(), false),
            ("y".to_string(), true),
            ("y".to_string(), false)
        ]
    );
}

#[test]
fn a_topic_name_must_be_present_and_without_wildcards_mqtt_3_3_2_1_mqtt_3_3_2_2_mqtt_4_7_0_1_v5() {
    for topic in ["a/+", "#", "a/#", "+", "a+b"] {
        let mut bytes = vec![0x30, 3 + topic.len() as u8, 0, topic.len() as u8];
        bytes.extend_from_slice(topic.as_bytes());
        bytes.push(0);
        rejects(&bytes, 0x81);
    }
    // An empty topic without a Topic Alias.
    rejects(&[0x30, 4, 0, 0, 0, b'x'], 0x81);
    // No topic at all.
    rejects(&[0x30, 1, 0], 0x81);
}

#[test]
fn the_topic_name_sent_matches_the_subscription_mqtt_3_3_2_3_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("a/+/c", Q0)]);
    open5(&mut h, 1, c5("p"));
    let alias = [Property::U16(property::TOPIC_ALIAS, 2)];
    h.feed(1, &publish_wire(p5p("a/b/c", b"1", Q0, None, &alias)));
    h.feed(1, &publish_wire(p5p("", b"2", Q0, None, &alias)));
    h.feed(1, &publish_wire(p5("a/b/d", b"3", Q0, None)));
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.len(), 2);
    for m in got {
        assert_eq!(m.topic, "a/b/c");
        assert!(filter_matches("a/+/c", &m.topic));
    }
}

#[test]
fn application_properties_are_forwarded_unaltered_and_in_order_mqtt_3_3_2_4_mqtt_3_3_2_15_to_18_mqtt_3_3_2_20_v5(
) {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("t", Q1)]);
    h.subscriber(9, "old", &[("t", Q1)]);
    open5(&mut h, 1, c5("p"));
    let list = [
        Property::Byte(property::PAYLOAD_FORMAT_INDICATOR, 1),
        Property::User("z", "1"),
        Property::Str(property::CONTENT_TYPE, "application/json"),
        Property::Str(property::RESPONSE_TOPIC, "reply/to/me"),
        Property::User("a", "2"),
        Property::Binary(property::CORRELATION_DATA, &[0, 0xff, 7]),
        Property::User("z", "0"),
    ];
    h.feed(1, &publish_wire(p5p("t", b"{}", Q1, Some(1), &list)));
    let m = only_msg(&take5(&mut h, 0));
    assert_eq!(m.props, props(&list), "the same bytes, in the same order");
    // With a Topic Alias and a Message Expiry Interval among them: the alias is the
    // connection's own and the expiry is counted down per delivery, the rest keeps its
    // order.
    let mixed = [
        Property::User("k", "1"),
        Property::U16(property::TOPIC_ALIAS, 1),
        Property::U32(property::MESSAGE_EXPIRY_INTERVAL, 100),
        Property::Str(property::CONTENT_TYPE, "c"),
        Property::User("k", "0"),
    ];
    h.feed(1, &publish_wire(p5p("t", b"m", Q1, Some(2), &mixed)));
    let m = only_msg(&take5(&mut h, 0));
    let got: Vec<Property<'_>> = Properties::from_bytes(&m.props).iter().collect();
    assert_eq!(
        got,
        [
            Property::U32(property::MESSAGE_EXPIRY_INTERVAL, 100),
            Property::User("k", "1"),
            Property::Str(property::CONTENT_TYPE, "c"),
            Property::User("k", "0"),
        ]
    );
    // A 3.1.1 subscriber gets the message without them.
    assert_eq!(
        h.take(9)
            .into_iter()
            .filter(|s| matches!(s, Seen::Publish { .. }))
            .count(),
        2
    );
}

#[test]
fn topic_aliases_end_with_their_connection_mqtt_3_3_2_7_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("a", Q0)]);
    open5(&mut h, 0, c5_resume("p", 60));
    let alias = [Property::U16(property::TOPIC_ALIAS, 1)];
    h.feed(0, &publish_wire(p5p("a", b"1", Q0, None, &alias)));
    h.feed(0, &publish_wire(p5p("", b"2", Q0, None, &alias)));
    assert_eq!(h.take(9).len(), 2);
    lose(&mut h, 0);
    let (present, _) = open5(&mut h, 1, c5_resume("p", 60));
    assert!(present, "the session goes on, its aliases do not");
    h.feed(1, &publish_wire(p5p("", b"3", Q0, None, &alias)));
    assert_disconnected(&mut h, 1, 0x82, CloseReason::ProtocolError);
    assert_eq!(h.take(9), vec![]);
}

#[test]
fn every_topic_alias_up_to_the_maximum_is_accepted_mqtt_3_3_2_12_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("t/#", Q0)]);
    let (_, p) = open5(&mut h, 0, c5("p"));
    let max = Properties::from_bytes(&p)
        .u16(property::TOPIC_ALIAS_MAXIMUM)
        .expect("aliases are accepted");
    for alias in 1..=max {
        let topic = leak_str(&format!("t/{alias}"));
        let list = [Property::U16(property::TOPIC_ALIAS, alias)];
        h.feed(0, &publish_wire(p5p(topic, b"set", Q0, None, &list)));
    }
    for alias in (1..=max).rev() {
        let list = [Property::U16(property::TOPIC_ALIAS, alias)];
        h.feed(0, &publish_wire(p5p("", b"use", Q0, None, &list)));
    }
    assert_eq!(h.is_closed(0), None);
    let topics: Vec<String> = h
        .take(9)
        .into_iter()
        .filter_map(|s| match s {
            Seen::Publish { topic, payload, .. } if payload == b"use" => Some(topic),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (1..=max).rev().map(|a| format!("t/{a}")).collect();
    assert_eq!(topics, expected);
}

#[test]
fn response_topic_and_content_type_must_be_utf8_mqtt_3_3_2_13_mqtt_3_3_2_19_v5() {
    // Response Topic 0xff.
    rejects(&[0x30, 9, 0, 1, b't', 4, 0x08, 0, 1, 0xff, b'x'], 0x81);
    // Content Type 0xc3 0x28.
    rejects(
        &[0x30, 10, 0, 1, b't', 5, 0x03, 0, 2, 0xc3, 0x28, b'x'],
        0x81,
    );
}

#[test]
fn a_publish_is_answered_as_its_qos_requires_mqtt_3_3_4_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("p"));
    h.feed(0, &publish_wire(p5("t", b"0", Q0, None)));
    assert_eq!(take5(&mut h, 0), []);
    h.feed(0, &publish_wire(p5("t", b"1", Q1, Some(5))));
    assert_eq!(take5(&mut h, 0), [ack(4, 5, 0)]);
    h.feed(0, &publish_wire(p5("t", b"2", Q2, Some(6))));
    assert_eq!(take5(&mut h, 0), [ack(5, 6, 0)]);
}

#[test]
fn overlapping_subscriptions_deliver_at_their_highest_qos_mqtt_3_3_4_2_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("a/+", Q1), ("a/b", Q2), ("#", Q0)]);
    h.open(1, "p", true);
    h.send(1, publish("a/b", b"x", Q2, false, Some(1)));
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.len(), 1, "one copy: {got:?}");
    assert_eq!(got[0].qos, Q2);
}

/// The Subscription Identifiers a delivery carries.
fn subscription_ids(m: &Msg) -> Vec<u32> {
    Properties::from_bytes(&m.props)
        .iter()
        .filter_map(|p| match p {
            Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, v) => Some(v),
            _ => None,
        })
        .collect()
}

#[test]
fn overlapping_subscriptions_carry_their_identifiers_mqtt_3_3_4_3_to_5_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("s"));
    let with_id = |h: &mut Harness, id: u32, filter: &str| {
        let list: &[Property<'_>] = if id == 0 {
            &[]
        } else {
            &[Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, id)]
        };
        h.feed(0, &subscribe_wire(1, list, &[(filter, opts(Q1))]));
        take5(h, 0);
    };
    with_id(&mut h, 7, "a/+");
    with_id(&mut h, 0, "a/b");
    with_id(&mut h, 7, "x/+");
    with_id(&mut h, 9, "x/y");
    h.open(1, "p", true);
    // One copy: it carries the one identifier among its subscriptions [MQTT-3.3.4-4].
    h.send(1, publish("a/b", b"1", Q1, false, Some(1)));
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.len(), 1);
    assert_eq!(subscription_ids(&got[0]), [7]);
    // Two identifiers: one copy each, with its own [MQTT-3.3.4-5].
    h.send(1, publish("x/y", b"2", Q1, false, Some(2)));
    let mut ids: Vec<Vec<u32>> = msgs(&take5(&mut h, 0))
        .iter()
        .map(subscription_ids)
        .collect();
    ids.sort();
    assert_eq!(ids, [vec![7], vec![9]]);
}

#[test]
fn a_subscription_identifier_from_a_client_is_a_protocol_error_mqtt_3_3_4_6_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("t", Q0)]);
    open5(&mut h, 0, c5("p"));
    let id = [Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 3)];
    h.feed(0, &publish_wire(p5p("t", b"x", Q0, None, &id)));
    assert_disconnected(&mut h, 0, 0x82, CloseReason::ProtocolError);
    assert_eq!(h.take(9), vec![]);
}

#[test]
fn more_unacknowledged_qos_2_publishes_than_receive_maximum_get_0x93_mqtt_3_3_4_7_v5() {
    let mut h = Harness::with(Limits {
        max_inflight_incoming: 2,
        ..Limits::default()
    });
    let (_, p) = open5(&mut h, 0, c5("p"));
    assert_eq!(
        Properties::from_bytes(&p).u16(property::RECEIVE_MAXIMUM),
        Some(2)
    );
    h.feed(0, &publish_wire(p5("t", b"1", Q2, Some(1))));
    h.feed(0, &publish_wire(p5("t", b"2", Q2, Some(2))));
    // QoS 1 is acknowledged at once: never unacknowledged.
    h.feed(0, &publish_wire(p5("t", b"q", Q1, Some(9))));
    h.feed(0, &ack_wire(6, 1, 0));
    h.feed(0, &publish_wire(p5("t", b"3", Q2, Some(3))));
    assert_eq!(
        take5(&mut h, 0),
        [
            ack(5, 1, 0),
            ack(5, 2, 0),
            ack(4, 9, 0),
            ack(7, 1, 0),
            ack(5, 3, 0)
        ]
    );
    // Ids 2 and 3 await PUBREL: a third is one too many.
    h.feed(0, &publish_wire(p5("t", b"4", Q2, Some(4))));
    assert_disconnected(&mut h, 0, 0x93, CloseReason::ProtocolError);
}

#[test]
fn a_spent_send_quota_holds_back_only_qos_1_and_2_publishes_mqtt_3_3_4_10_mqtt_4_9_0_3_v5() {
    let mut h = Harness::new();
    let c = c5p("s", &[Property::U16(property::RECEIVE_MAXIMUM, 1)]);
    open5(&mut h, 0, c);
    subscribe5(&mut h, 0, &[("t", Q1)]);
    h.open(1, "p", true);
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.send(1, publish("t", b"2", Q1, false, Some(2)));
    let first = only_msg(&take5(&mut h, 0));
    // The quota is 0: every other packet is still processed and answered at once.
    h.feed(0, &subscribe_wire(3, &[], &[("u", opts(Q0))]));
    h.feed(0, &PINGREQ);
    h.feed(0, &publish_wire(p5("v", b"own", Q1, Some(4))));
    h.feed(0, &publish_wire(p5("v", b"own", Q2, Some(5))));
    h.feed(0, &ack_wire(6, 5, 0));
    h.feed(0, &unsubscribe_wire(6, &["u"]));
    assert_eq!(
        take5(&mut h, 0),
        [
            suback(3, &[0]),
            Got::Pingresp,
            ack(4, 4, 0),
            ack(5, 5, 0),
            ack(7, 5, 0),
            unsuback(6, &[0]),
        ]
    );
    h.feed(0, &ack_wire(4, first.id.expect("an id"), 0));
    assert_eq!(payloads(&mut h, 0), [b"2".to_vec()]);
}

#[test]
fn the_send_quota_is_the_receive_maximum_and_comes_back_with_puback_and_pubcomp_mqtt_4_9_0_1_mqtt_4_9_0_2_v5(
) {
    let mut h = Harness::new();
    let c = c5p("s", &[Property::U16(property::RECEIVE_MAXIMUM, 2)]);
    open5(&mut h, 0, c);
    subscribe5(&mut h, 0, &[("t", Q2)]);
    h.open(1, "p", true);
    for i in 1..=5u8 {
        let qos = if i % 2 == 0 { Q1 } else { Q2 };
        h.send(1, publish("t", &[i], qos, false, Some(u16::from(i))));
    }
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.iter().map(|m| m.payload[0]).collect::<Vec<_>>(), [1, 2]);
    // PUBREC of the QoS 2 one: its PUBREL still waits for PUBCOMP, no new PUBLISH.
    let (q2, q1) = (got[0].id.expect("id"), got[1].id.expect("id"));
    h.feed(0, &ack_wire(5, q2, 0));
    assert_eq!(take5(&mut h, 0), [ack(6, q2, 0)]);
    h.feed(0, &ack_wire(7, q2, 0));
    assert_eq!(payloads(&mut h, 0), [vec![3]]);
    h.feed(0, &ack_wire(4, q1, 0));
    assert_eq!(payloads(&mut h, 0), [vec![4]]);
}

// ----- 3.4 to 3.7 PUBACK, PUBREC, PUBREL, PUBCOMP --------------------------------------------------

#[test]
fn acknowledgements_with_a_reason_code_of_another_packet_are_malformed_mqtt_3_4_2_1_mqtt_3_5_2_1_mqtt_3_6_2_1_mqtt_3_7_2_1_v5(
) {
    rejects(&[0x40, 3, 0, 1, 0x92], 0x81); // PUBACK with a PUBREL code
    rejects(&[0x50, 3, 0, 1, 0x92], 0x81); // PUBREC with a PUBREL code
    rejects(&[0x62, 3, 0, 1, 0x10], 0x81); // PUBREL with a PUBACK code
    rejects(&[0x70, 3, 0, 1, 0x87], 0x81); // PUBCOMP with a PUBACK code
                                           // Each one's own codes are accepted.
    let mut h = Harness::new();
    open5(&mut h, 0, c5("c"));
    for frame in [
        &[0x40, 3, 0, 1, 0x10][..],
        &[0x50, 3, 0, 2, 0x97],
        &[0x62, 3, 0, 3, 0x92],
        &[0x70, 3, 0, 4, 0x92],
    ] {
        h.feed(0, frame);
    }
    assert_eq!(h.is_closed(0), None);
}

// ----- 3.8 SUBSCRIBE, 3.9 SUBACK -----------------------------------------------------------

#[test]
fn subscribe_and_unsubscribe_need_utf8_filters_mqtt_3_8_3_1_mqtt_3_8_3_2_mqtt_3_10_3_1_mqtt_3_10_3_2_v5(
) {
    rejects(&[0x82, 3, 0, 1, 0], 0x81); // SUBSCRIBE without a filter
    rejects(&[0x82, 7, 0, 1, 0, 0, 1, 0xff, 0], 0x81); // SUBSCRIBE filter 0xff
    rejects(&[0x82, 6, 0, 1, 0, 0, 1, b't'], 0x81); // a filter without its options
    rejects(&[0xa2, 3, 0, 1, 0], 0x81); // UNSUBSCRIBE without a filter
    rejects(&[0xa2, 6, 0, 1, 0, 0, 1, 0xff], 0x81); // UNSUBSCRIBE filter 0xff
}

#[test]
fn no_local_keeps_a_clients_own_messages_from_it_mqtt_3_8_3_3_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("c"));
    let nl = SubscriptionOptions {
        no_local: true,
        ..opts(Q0)
    };
    h.feed(0, &subscribe_wire(1, &[], &[("t", nl)]));
    take5(&mut h, 0);
    sub5(&mut h, 1, "other", &[("t", Q0)]);
    h.feed(0, &publish_wire(p5("t", b"own", Q0, None)));
    assert_eq!(take5(&mut h, 0), [], "not to the publishing client");
    assert_eq!(payloads(&mut h, 1), [b"own".to_vec()], "to the others");
    open5(&mut h, 2, c5("p"));
    h.feed(2, &publish_wire(p5("t", b"theirs", Q0, None)));
    assert_eq!(payloads(&mut h, 0), [b"theirs".to_vec()]);
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error_mqtt_3_8_3_4_v5() {
    let nl = SubscriptionOptions {
        no_local: true,
        ..opts(Q0)
    };
    rejects(&subscribe_wire(1, &[], &[("$share/g/t", nl)]), 0x82);
}

#[test]
fn reserved_subscription_option_bits_are_malformed_mqtt_3_8_3_5_v5() {
    rejects(&[0x82, 7, 0, 1, 0, 0, 1, b't', 0x40], 0x81);
    rejects(&[0x82, 7, 0, 1, 0, 0, 1, b't', 0x80], 0x81);
    // Retain Handling 3 is a Protocol Error.
    rejects(&[0x82, 7, 0, 1, 0, 0, 1, b't', 0x30], 0x82);
}

#[test]
fn a_repeated_subscription_replaces_the_old_one_mqtt_3_8_4_3_mqtt_3_8_4_4_v5() {
    let mut h = Harness::new();
    h.open(9, "p", true);
    h.send(9, publish("t", b"r", Q1, true, Some(1)));
    h.take(9);
    open5(&mut h, 0, c5("s"));
    let nl = SubscriptionOptions {
        no_local: true,
        ..opts(Q0)
    };
    h.feed(0, &subscribe_wire(1, &[], &[("t", nl)]));
    let got = take5(&mut h, 0);
    assert_eq!(got[0], suback(1, &[0]));
    assert_eq!(only_msg(&got[1..]).qos, Q0);
    h.feed(0, &publish_wire(p5("t", b"own", Q0, None)));
    assert_eq!(take5(&mut h, 0), [], "No Local");
    // The same filter again, QoS 1 and without No Local: replaced, retained re-sent.
    h.feed(0, &subscribe_wire(2, &[], &[("t", opts(Q1))]));
    let got = take5(&mut h, 0);
    assert_eq!(got[0], suback(2, &[1]));
    let m = only_msg(&got[1..]);
    assert_eq!((m.payload, m.qos, m.retain), (b"r".to_vec(), Q1, true));
    h.feed(0, &publish_wire(p5("t", b"own", Q0, None)));
    assert_eq!(payloads(&mut h, 0), [b"own".to_vec()], "No Local is gone");
    h.send(9, publish("t", b"m", Q1, false, Some(2)));
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.len(), 1, "one subscription, one copy");
    assert_eq!(got[0].qos, Q1);
}

#[test]
fn replacing_a_subscription_loses_no_message_mqtt_3_8_4_4_v5() {
    let mut h = Harness::new();
    let c = c5p("s", &[Property::U16(property::RECEIVE_MAXIMUM, 1)]);
    open5(&mut h, 0, c);
    subscribe5(&mut h, 0, &[("t", Q1)]);
    h.open(9, "p", true);
    for i in 1..=3u8 {
        h.send(9, publish("t", &[i], Q1, false, Some(u16::from(i))));
    }
    let first = only_msg(&take5(&mut h, 0));
    h.feed(0, &subscribe_wire(2, &[], &[("t", opts(Q1))]));
    assert_eq!(take5(&mut h, 0), [suback(2, &[1])]);
    let mut got = vec![first.payload.clone()];
    let mut id = first.id.expect("an id");
    for _ in 0..2 {
        h.feed(0, &ack_wire(4, id, 0));
        let m = only_msg(&take5(&mut h, 0));
        id = m.id.expect("an id");
        got.push(m.payload);
    }
    assert_eq!(got, [vec![1], vec![2], vec![3]]);
}

#[test]
fn several_filters_get_one_suback_with_a_code_each_in_order_mqtt_3_8_4_5_to_7_mqtt_3_9_3_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("s"));
    h.feed(
        0,
        &subscribe_wire(
            3,
            &[],
            &[
                ("a", opts(Q2)),
                ("b/#/c", opts(Q1)),
                ("c", opts(Q0)),
                ("$share/g/d", opts(Q1)),
                ("$share/+/e", opts(Q1)),
                ("e", opts(Q1)),
            ],
        ),
    );
    // One SUBACK: granted QoS or a failure (0x8F Topic Filter invalid), filter by filter.
    assert_eq!(take5(&mut h, 0), [suback(3, &[2, 0x8f, 0, 1, 0x8f, 1])]);
    h.open(1, "p", true);
    for (id, topic) in (1..).zip(["a", "c", "d", "e"]) {
        h.send(1, publish(topic, b"x", Q2, false, Some(id)));
    }
    let got: Vec<(String, QoS)> = msgs(&take5(&mut h, 0))
        .into_iter()
        .map(|m| (m.topic, m.qos))
        .collect();
    assert_eq!(
        got,
        [
            ("a".to_string(), Q2),
            ("c".to_string(), Q0),
            ("d".to_string(), Q1),
            ("e".to_string(), Q1)
        ]
    );
}

#[test]
fn delivered_qos_is_the_lower_of_published_and_granted_mqtt_3_8_4_8_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("t", Q1)]);
    h.open(1, "p", true);
    h.send(1, publish("t", b"0", Q0, false, None));
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.send(1, publish("t", b"2", Q2, false, Some(2)));
    let qos: Vec<QoS> = msgs(&take5(&mut h, 0)).iter().map(|m| m.qos).collect();
    assert_eq!(qos, [Q0, Q1, Q1]);
}

// ----- 3.10 UNSUBSCRIBE, 3.11 UNSUBACK -------------------------------------------------------

#[test]
fn unsubscribe_compares_filters_character_by_character_mqtt_3_10_4_1_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("a/#", Q0), ("a/+", Q0)]);
    h.feed(0, &unsubscribe_wire(2, &["a/#/b", "A/#", "a/+/", "a/#/"]));
    assert_eq!(take5(&mut h, 0), [unsuback(2, &[0x11, 0x11, 0x11, 0x11])]);
    h.open(1, "p", true);
    h.send(1, publish("a/x/y", b"1", Q0, false, None));
    assert_eq!(payloads(&mut h, 0), [vec![b'1']], "a/# is still there");
    h.feed(0, &unsubscribe_wire(3, &["a/#"]));
    assert_eq!(take5(&mut h, 0), [unsuback(3, &[0])]);
    h.send(1, publish("a/x/y", b"2", Q0, false, None));
    assert_eq!(take5(&mut h, 0), []);
}

#[test]
fn unsubscribe_stops_new_messages_and_completes_started_ones_mqtt_3_10_4_2_mqtt_3_10_4_3_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("s"));
    subscribe5(&mut h, 0, &[("t", Q2), ("q", Q1)]);
    h.open(1, "p", true);
    h.send(1, publish("t", b"2", Q2, false, Some(1)));
    h.send(1, publish("q", b"1", Q1, false, Some(2)));
    let got = msgs(&take5(&mut h, 0));
    let (q2, q1) = (got[0].id.expect("id"), got[1].id.expect("id"));
    h.feed(0, &unsubscribe_wire(4, &["t", "q"]));
    assert_eq!(take5(&mut h, 0), [unsuback(4, &[0, 0])]);
    h.send(1, publish("t", b"new", Q2, false, Some(3)));
    h.send(1, publish("q", b"new", Q1, false, Some(4)));
    assert_eq!(take5(&mut h, 0), [], "no new message");
    // The started deliveries complete.
    h.feed(0, &ack_wire(5, q2, 0));
    assert_eq!(take5(&mut h, 0), [ack(6, q2, 0)]);
    h.feed(0, &ack_wire(7, q2, 0));
    h.feed(0, &ack_wire(4, q1, 0));
    assert_eq!(h.is_closed(0), None);
    assert_eq!(inflight(&h, "s"), 0);
}

#[test]
fn several_filters_get_one_unsuback_with_a_code_each_in_order_mqtt_3_10_4_4_to_6_mqtt_3_11_3_1_v5()
{
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("a", Q0), ("b", Q0), ("$share/g/c", Q0)]);
    h.feed(0, &unsubscribe_wire(9, &["b", "x", "$share/g/c", "a", "a"]));
    assert_eq!(take5(&mut h, 0), [unsuback(9, &[0, 0x11, 0, 0, 0x11])]);
    h.open(1, "p", true);
    for topic in ["a", "b", "c"] {
        h.send(1, publish(topic, b"x", Q0, false, None));
    }
    assert_eq!(take5(&mut h, 0), []);
}

// ----- 3.12 PINGREQ --------------------------------------------------------------------------

#[test]
fn pingreq_gets_pingresp_mqtt_3_12_4_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("c"));
    h.feed(0, &PINGREQ);
    assert_eq!(frames(&mut h, 0), [vec![0xd0, 0]]);
}

// ----- 3.14 DISCONNECT -----------------------------------------------------------------------

#[test]
fn no_disconnect_before_a_successful_connack_mqtt_3_14_0_1_v5() {
    // A first packet that is not CONNECT.
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(0, &[0xc0, 0]);
    assert_eq!(h.take_bytes(0), Vec::<u8>::new());
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    // A refused CONNECT: the CONNACK alone.
    let mut h = Harness::new();
    let got = connect5(
        &mut h,
        0,
        c5p("c", &[Property::Str(property::AUTHENTICATION_METHOD, "x")]),
    );
    assert!(
        matches!(&got[..], [Got::Connack { code: 0x8c, .. }]),
        "{got:?}"
    );
    // A malformed CONNECT, a CONNECT that never comes, a shutdown before CONNECT: nothing.
    connect_closes_silently(&connect_bytes(
        b"MQTT",
        5,
        0x02,
        &[3, 0x23, 0, 1, 0, 1, b'c'],
    ));
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.broker.accepted(1, 0, h.now);
    h.advance(Duration::from_secs(11));
    assert_eq!(h.is_closed(0), Some(CloseReason::ConnectTimeout));
    assert_eq!(h.take_bytes(0), Vec::<u8>::new());
    h.broker.accepted(2, 0, h.now);
    h.broker.shutting_down(h.now);
    h.effects();
    assert_eq!(h.take_bytes(2), Vec::<u8>::new());
}

#[test]
fn disconnect_reason_codes_are_checked_both_ways_mqtt_3_14_2_1_v5() {
    // A client's DISCONNECT with a code that is not a DISCONNECT code (0x10, 0x84).
    rejects(&[0xe0, 1, 0x10], 0x81);
    rejects(&[0xe0, 1, 0x84], 0x81);
    // A DISCONNECT code is accepted: 0x04 (with will), 0x80, 0x8b.
    for code in [0x04, 0x80, 0x8b] {
        let mut h = Harness::new();
        open5(&mut h, 0, c5("c"));
        h.feed(0, &[0xe0, 1, code]);
        assert_eq!(take5(&mut h, 0), []);
        assert!(h.is_closed(0).is_some());
    }
    // The broker's own DISCONNECTs: see `server_disconnects_carry_no_properties_mqtt_3_14_2_2_to_4_v5`, whose
    // every code the codec checks is a DISCONNECT code.
}

#[test]
fn server_disconnects_carry_no_properties_mqtt_3_14_2_2_to_4_v5() {
    // Each client asked for a Session Expiry Interval and for problem information.
    let c = |id| {
        c5p(
            id,
            &[
                session_expiry(60),
                Property::Byte(property::REQUEST_PROBLEM_INFORMATION, 1),
            ],
        )
    };
    let mut h = Harness::with(Limits {
        retain_available: false,
        ..Limits::default()
    });
    let mut seen = Vec::new();
    // Taken over (0x8E).
    open5(&mut h, 0, c("a"));
    open5(&mut h, 1, c("a"));
    seen.extend(take5(&mut h, 0));
    // Protocol Error (0x82), Malformed Packet (0x81), Topic Alias invalid (0x94), Retain
    // not supported (0x9A), Packet too large (0x95).
    for (conn, bytes) in [
        (2, wire(Packet::Connect(c5("b")))),
        (3, vec![0xc1, 0]),
        (
            4,
            publish_wire(p5p(
                "t",
                b"x",
                Q0,
                None,
                &[Property::U16(property::TOPIC_ALIAS, 9)],
            )),
        ),
        (
            5,
            publish_wire(Publish {
                retain: true,
                ..p5("t", b"x", Q0, None)
            }),
        ),
    ] {
        open5(&mut h, conn, c(leak_str(&format!("c{conn}"))));
        h.feed(conn, &bytes);
        seen.extend(take5(&mut h, conn));
    }
    open5(&mut h, 6, c("f"));
    h.broker.packet_too_large(6, 1 << 30, h.now);
    h.effects();
    seen.extend(take5(&mut h, 6));
    // Keep Alive timeout (0x8D).
    let short = Connect {
        keep_alive: 1,
        ..c("g")
    };
    open5(&mut h, 7, short);
    open5(&mut h, 8, c("h"));
    h.advance(Duration::from_secs(2));
    seen.extend(take5(&mut h, 7));
    // Server shutting down (0x8B).
    h.broker.shutting_down(h.now);
    h.effects();
    seen.extend(take5(&mut h, 8));
    let codes: Vec<u8> = seen
        .iter()
        .map(|g| match g {
            Got::Disconnect { code, props } => {
                assert_eq!(props, &Vec::<u8>::new(), "no properties: {g:?}");
                *code
            }
            other => panic!("only DISCONNECTs: {other:?}"),
        })
        .collect();
    assert_eq!(codes, [0x8e, 0x82, 0x81, 0x94, 0x9a, 0x95, 0x8d, 0x8b]);
}

#[test]
fn nothing_follows_the_servers_disconnect_and_the_connection_closes_mqtt_3_14_4_1_mqtt_3_14_4_2_v5()
{
    let mut h = Harness::new();
    sub5(&mut h, 0, "s", &[("t", Q0)]);
    // A protocol error followed, in the same read, by packets that would be answered.
    let mut bytes = publish_wire(p5p(
        "t",
        b"x",
        Q0,
        None,
        &[Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 1)],
    ));
    bytes.extend(PINGREQ);
    bytes.extend(subscribe_wire(2, &[], &[("u", opts(Q0))]));
    h.feed(0, &bytes);
    assert_disconnected(&mut h, 0, 0x82, CloseReason::ProtocolError);
    h.open(1, "p", true);
    h.send(1, publish("t", b"after", Q0, false, None));
    assert_eq!(h.take_bytes(0), Vec::<u8>::new());
}

// ----- 3.15 AUTH -----------------------------------------------------------------------------

#[test]
fn an_auth_reason_code_of_another_packet_is_malformed_mqtt_3_15_2_1_v5() {
    rejects(&[0xf0, 1, 0x87], 0x81);
    rejects(&[0xf0, 1, 0x04], 0x81);
}

// ----- 4.3 QoS flows -------------------------------------------------------------------------

#[test]
fn qos_1_outbound_stays_unacknowledged_until_its_puback_mqtt_4_3_2_1_to_3_v5() {
    let mut h = Harness::new();
    persistent_subscriber(&mut h, 0, Q1);
    h.open(1, "p", true);
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.send(1, publish("t", b"2", Q1, false, Some(2)));
    let got = msgs(&take5(&mut h, 0));
    assert!(got.iter().all(|m| m.qos == Q1 && !m.dup));
    h.feed(0, &ack_wire(4, got[0].id.expect("id"), 0));
    lose(&mut h, 0);
    let again = msgs(&connect5(&mut h, 2, c5_resume("s", 60)));
    assert_eq!(again.len(), 1, "only the unacknowledged one: {again:?}");
    assert_eq!((again[0].id, again[0].dup), (got[1].id, true));
    h.feed(2, &ack_wire(4, got[1].id.expect("id"), 0));
    lose(&mut h, 2);
    assert_eq!(msgs(&connect5(&mut h, 3, c5_resume("s", 60))), []);
}

#[test]
fn a_qos_1_packet_id_after_its_puback_is_a_new_message_mqtt_4_3_2_5_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("t", Q1)]);
    open5(&mut h, 0, c5("p"));
    h.feed(0, &publish_wire(p5("t", b"1", Q1, Some(4))));
    let again = Publish {
        dup: true,
        ..p5("t", b"2", Q1, Some(4))
    };
    h.feed(0, &publish_wire(again));
    assert_eq!(take5(&mut h, 0), [ack(4, 4, 0), ack(4, 4, 0)]);
    let payloads: Vec<Vec<u8>> = h
        .take(9)
        .into_iter()
        .filter_map(|s| match s {
            Seen::Publish { payload, .. } => Some(payload),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, [b"1".to_vec(), b"2".to_vec()]);
}

#[test]
fn qos_2_outbound_flow_until_pubcomp_mqtt_4_3_3_1_to_6_v5() {
    let mut h = Harness::new();
    persistent_subscriber(&mut h, 0, Q2);
    h.open(1, "p", true);
    h.send(1, publish("t", b"1", Q2, false, Some(1)));
    h.send(1, publish("t", b"2", Q2, false, Some(2)));
    let got = msgs(&take5(&mut h, 0));
    assert!(got.iter().all(|m| m.qos == Q2 && !m.dup));
    let (a, b) = (got[0].id.expect("id"), got[1].id.expect("id"));
    // PUBREC for the first: PUBREL; the second is still unacknowledged.
    h.feed(0, &ack_wire(5, a, 0));
    assert_eq!(take5(&mut h, 0), [ack(6, a, 0)]);
    lose(&mut h, 0);
    // On resume: the PUBREL again (never the first PUBLISH), the second PUBLISH again.
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    assert_eq!(got[1], ack(6, a, 0));
    let m = only_msg(&got[2..]);
    assert_eq!((m.id, m.dup, m.payload), (Some(b), true, b"2".to_vec()));
    h.feed(2, &ack_wire(7, a, 0));
    h.feed(2, &ack_wire(5, b, 0));
    assert_eq!(take5(&mut h, 2), [ack(6, b, 0)]);
    h.feed(2, &ack_wire(7, b, 0));
    lose(&mut h, 2);
    let got = connect5(&mut h, 3, c5_resume("s", 60));
    assert_eq!(got.len(), 1, "nothing left: {got:?}");
}

#[test]
fn a_sent_qos_2_message_is_not_expired_mqtt_4_3_3_7_v5() {
    let mut h = Harness::new();
    persistent_subscriber(&mut h, 0, Q2);
    open5(&mut h, 1, c5("p"));
    let short = [Property::U32(property::MESSAGE_EXPIRY_INTERVAL, 2)];
    h.feed(1, &publish_wire(p5p("t", b"x", Q2, Some(1), &short)));
    let sent = only_msg(&take5(&mut h, 0));
    lose(&mut h, 0);
    h.advance(Duration::from_secs(10));
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    let again = only_msg(&got[1..]);
    assert_eq!(
        (again.id, again.dup, again.payload),
        (sent.id, true, sent.payload)
    );
}

#[test]
fn a_qos_2_publish_resent_before_pubrel_is_acknowledged_not_delivered_again_mqtt_4_3_3_10_mqtt_4_3_3_12_v5(
) {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("t", Q2)]);
    open5(&mut h, 0, c5("p"));
    h.feed(0, &publish_wire(p5("t", b"1", Q2, Some(3))));
    let again = Publish {
        dup: true,
        ..p5("t", b"1", Q2, Some(3))
    };
    h.feed(0, &publish_wire(again));
    assert_eq!(take5(&mut h, 0), [ack(5, 3, 0), ack(5, 3, 0)]);
    let delivered = |h: &mut Harness| {
        h.take(9)
            .into_iter()
            .filter(|s| matches!(s, Seen::Publish { .. }))
            .count()
    };
    assert_eq!(delivered(&mut h), 1);
    h.feed(0, &ack_wire(6, 3, 0));
    assert_eq!(take5(&mut h, 0), [ack(7, 3, 0)]);
    // After the PUBCOMP the id is a new message.
    h.feed(0, &publish_wire(p5("t", b"2", Q2, Some(3))));
    assert_eq!(take5(&mut h, 0), [ack(5, 3, 0)]);
    assert_eq!(delivered(&mut h), 1);
}

#[test]
fn the_qos_2_handshake_completes_after_the_message_expired_mqtt_4_3_3_13_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("p"));
    let short = [Property::U32(property::MESSAGE_EXPIRY_INTERVAL, 1)];
    h.feed(0, &publish_wire(p5p("t", b"x", Q2, Some(8), &short)));
    assert_eq!(take5(&mut h, 0), [ack(5, 8, 0)]);
    h.advance(Duration::from_secs(30));
    h.feed(0, &PINGREQ);
    h.feed(0, &ack_wire(6, 8, 0));
    assert_eq!(take5(&mut h, 0), [Got::Pingresp, ack(7, 8, 0)]);
}

// ----- 4.4 Message delivery retry, 4.5 Message receipt --------------------------------------

#[test]
fn a_failed_puback_or_pubrec_acknowledges_the_message_mqtt_4_4_0_2_v5() {
    let mut h = Harness::new();
    persistent_subscriber(&mut h, 0, Q2);
    h.open(1, "p", true);
    h.send(1, publish("t", b"1", Q1, false, Some(1)));
    h.send(1, publish("t", b"2", Q2, false, Some(2)));
    let got = msgs(&take5(&mut h, 0));
    h.feed(0, &ack_wire(4, got[0].id.expect("id"), 0x80));
    h.feed(0, &ack_wire(5, got[1].id.expect("id"), 0x97));
    take5(&mut h, 0);
    lose(&mut h, 0);
    let again = connect5(&mut h, 2, c5_resume("s", 60));
    assert_eq!(msgs(&again), [], "neither PUBLISH is sent again: {again:?}");
}

#[test]
fn an_accepted_message_reaches_every_matching_session_mqtt_4_5_0_1_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "online5", &[("t/+", Q1)]);
    h.subscriber(1, "online311", &[("t/#", Q1)]);
    persistent_subscriber(&mut h, 2, Q1); // "s" on "t"
    open5(&mut h, 3, c5_resume("offline5", 60));
    subscribe5(&mut h, 3, &[("t/x", Q1)]);
    lose(&mut h, 3);
    open5(&mut h, 4, c5("p"));
    h.feed(4, &publish_wire(p5("t/x", b"m", Q1, Some(1))));
    assert_eq!(payloads(&mut h, 0), [b"m".to_vec()]);
    assert_eq!(h.take(1).len(), 1);
    assert_eq!(take5(&mut h, 2), [], "\"t\" does not match");
    let got = connect5(&mut h, 5, c5_resume("offline5", 60));
    assert_eq!(msgs(&got).len(), 1, "kept for the offline session");
}

// ----- 4.6 Message ordering ------------------------------------------------------------------

#[test]
fn messages_keep_their_order_per_topic_mqtt_4_6_0_5_mqtt_4_6_0_6_v5() {
    let mut h = Harness::new();
    let c = c5p("s", &[Property::U16(property::RECEIVE_MAXIMUM, 2)]);
    open5(&mut h, 0, c);
    subscribe5(&mut h, 0, &[("t", Q1), ("u", Q1)]);
    open5(&mut h, 1, c5("p"));
    for i in 0..10u8 {
        let id = u16::from(i) * 2 + 1;
        h.feed(
            1,
            &publish_wire(p5("t", leak_str(&i.to_string()).as_bytes(), Q1, Some(id))),
        );
        h.feed(
            1,
            &publish_wire(p5(
                "u",
                leak_str(&i.to_string()).as_bytes(),
                Q1,
                Some(id + 1),
            )),
        );
    }
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    for _ in 0..20 {
        let got = msgs(&take5(&mut h, 0));
        if got.is_empty() {
            break;
        }
        for m in got {
            h.feed(0, &ack_wire(4, m.id.expect("id"), 0));
            seen.push((m.topic, m.payload));
        }
    }
    assert_eq!(seen.len(), 20);
    for topic in ["t", "u"] {
        let order: Vec<Vec<u8>> = seen
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p.clone())
            .collect();
        let expected: Vec<Vec<u8>> = (0..10).map(|i: u8| i.to_string().into_bytes()).collect();
        assert_eq!(order, expected, "{topic}");
    }
}

// ----- 4.7 Topic names and topic filters --------------------------------------------------

#[test]
fn wildcards_must_fill_whole_levels_mqtt_4_7_1_1_mqtt_4_7_1_2_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("s"));
    let filters = [
        "a/#/b", "a#", "#/a", "#", "a/#", "a/+", "a+", "+a/b", "+/+", "+",
    ];
    let list: Vec<(&str, SubscriptionOptions)> = filters.iter().map(|&f| (f, opts(Q0))).collect();
    h.feed(0, &subscribe_wire(1, &[], &list));
    assert_eq!(
        take5(&mut h, 0),
        [suback(1, &[0x8f, 0x8f, 0x8f, 0, 0, 0, 0x8f, 0x8f, 0, 0])]
    );
}

#[test]
fn leading_wildcards_do_not_match_dollar_topics_mqtt_4_7_2_1_v5() {
    let mut h = Harness::new();
    open5(&mut h, 1, c5("p"));
    let retained = Publish {
        retain: true,
        ..p5("$x/y", b"r", Q0, None)
    };
    h.feed(1, &publish_wire(retained));
    sub5(&mut h, 0, "s", &[("#", Q0), ("+/y", Q0), ("$x/#", Q0)]);
    h.feed(
        0,
        &subscribe_wire(2, &[], &[("#", opts(Q0)), ("+/y", opts(Q0))]),
    );
    assert_eq!(
        take5(&mut h, 0),
        [suback(2, &[0, 0])],
        "no retained $ message"
    );
    h.feed(1, &publish_wire(p5("$x/y", b"live", Q0, None)));
    let got = msgs(&take5(&mut h, 0));
    assert_eq!(got.len(), 1, "through $x/# only: {got:?}");
}

#[test]
fn topic_names_and_filters_are_at_least_one_character_mqtt_4_7_3_1_v5() {
    rejects(&[0x82, 6, 0, 1, 0, 0, 0, 0], 0x81); // SUBSCRIBE ""
    rejects(&[0xa2, 5, 0, 1, 0, 0, 0], 0x81); // UNSUBSCRIBE ""
    rejects(&[0x30, 4, 0, 0, 0, b'x'], 0x81); // PUBLISH "" without a Topic Alias
}

#[test]
fn topic_names_and_filters_hold_no_null_character_mqtt_4_7_3_2_v5() {
    rejects(&[0x30, 6, 0, 2, b'a', 0, 0, b'x'], 0x81);
    rejects(&[0x82, 8, 0, 1, 0, 0, 2, b'a', 0, 0], 0x81);
    rejects(&[0xa2, 7, 0, 1, 0, 0, 2, b'a', 0], 0x81);
}

#[test]
fn matching_does_no_normalisation_mqtt_4_7_3_4_v5() {
    let mut h = Harness::new();
    // Precomposed é, a capital letter, a trailing space.
    sub5(
        &mut h,
        0,
        "s",
        &[("caf\u{e9}", Q0), ("Room", Q0), ("x ", Q0)],
    );
    h.open(1, "p", true);
    for topic in ["cafe\u{301}", "room", "x", "ROOM", "x  "] {
        h.send(1, publish(topic, b"no", Q0, false, None));
    }
    for topic in ["caf\u{e9}", "Room", "x "] {
        h.send(1, publish(topic, b"yes", Q0, false, None));
    }
    let got: Vec<(String, Vec<u8>)> = msgs(&take5(&mut h, 0))
        .into_iter()
        .map(|m| (m.topic, m.payload))
        .collect();
    assert_eq!(
        got,
        [
            ("caf\u{e9}".to_string(), b"yes".to_vec()),
            ("Room".to_string(), b"yes".to_vec()),
            ("x ".to_string(), b"yes".to_vec())
        ]
    );
}

// ----- 4.8 Shared Subscriptions --------------------------------------------------------------

#[test]
fn shared_subscription_filters_need_a_share_name_and_a_filter_mqtt_4_8_2_1_mqtt_4_8_2_2_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5("s"));
    let filters = [
        "$share//t",
        "$share/g",
        "$share/g/",
        "$share/a+/t",
        "$share/#/t",
        "$share/g/a/#/b",
        "$share/g/t",
        "$share/g/+/#",
    ];
    let list: Vec<(&str, SubscriptionOptions)> = filters.iter().map(|&f| (f, opts(Q1))).collect();
    h.feed(0, &subscribe_wire(1, &[], &list));
    assert_eq!(
        take5(&mut h, 0),
        [suback(1, &[0x8f, 0x8f, 0x8f, 0x8f, 0x8f, 0x8f, 1, 1])]
    );
}

#[test]
fn a_shared_delivery_respects_the_members_granted_qos_mqtt_4_8_2_3_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "a", &[("$share/g/t", Q1)]);
    sub5(&mut h, 1, "b", &[("$share/g/t", Q0)]);
    h.open(2, "p", true);
    for i in 1..=4u8 {
        h.send(2, publish("t", &[i], Q2, false, Some(u16::from(i))));
    }
    let (a, b) = (msgs(&take5(&mut h, 0)), msgs(&take5(&mut h, 1)));
    assert_eq!(a.len() + b.len(), 4);
    assert!(!a.is_empty() && !b.is_empty());
    assert!(a.iter().all(|m| m.qos == Q1), "{a:?}");
    assert!(b.iter().all(|m| m.qos == Q0), "{b:?}");
}

#[test]
fn a_shared_qos_2_delivery_completes_to_the_same_client_when_it_reconnects_mqtt_4_8_2_4_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5_resume("a", 60));
    subscribe5(&mut h, 0, &[("$share/g/t", Q2)]);
    sub5(&mut h, 1, "b", &[("$share/g/t", Q2)]);
    h.open(2, "p", true);
    h.send(2, publish("t", b"x", Q2, false, Some(1)));
    let sent = only_msg(&take5(&mut h, 0));
    lose(&mut h, 0);
    assert_eq!(take5(&mut h, 1), [], "not given to another member");
    let got = connect5(&mut h, 3, c5_resume("a", 60));
    let again = only_msg(&got[1..]);
    assert_eq!(
        (again.id, again.dup, again.payload),
        (sent.id, true, sent.payload)
    );
    let id = again.id.expect("id");
    h.feed(3, &ack_wire(5, id, 0));
    assert_eq!(take5(&mut h, 3), [ack(6, id, 0)]);
    h.feed(3, &ack_wire(7, id, 0));
    assert_eq!(take5(&mut h, 1), []);
}

#[test]
fn a_shared_message_refused_by_its_member_goes_to_no_other_mqtt_4_8_2_6_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "a", &[("$share/g/t", Q2)]);
    sub5(&mut h, 1, "b", &[("$share/g/t", Q2)]);
    h.open(2, "p", true);
    for (i, qos) in [(1u8, Q1), (2, Q1), (3, Q2), (4, Q2)] {
        h.send(2, publish("t", &[i], qos, false, Some(u16::from(i))));
    }
    let to_a = msgs(&take5(&mut h, 0));
    let to_b = msgs(&take5(&mut h, 1));
    assert_eq!((to_a.len(), to_b.len()), (2, 2), "{to_a:?} {to_b:?}");
    // "a" refuses both of its messages, then its session ends.
    for m in &to_a {
        let kind = if m.qos == Q1 { 4 } else { 5 };
        h.feed(0, &ack_wire(kind, m.id.expect("id"), 0x80));
    }
    take5(&mut h, 0);
    lose(&mut h, 0);
    assert_eq!(take5(&mut h, 1), [], "discarded, not offered to \"b\"");
}

// ----- 4.12 Enhanced authentication, 4.13 Handling errors -------------------------------------

#[test]
fn without_an_authentication_method_no_auth_is_sent_or_accepted_mqtt_4_12_0_6_mqtt_4_12_0_7_v5() {
    let mut h = Harness::new();
    let (_, p) = open5(&mut h, 0, c5("c"));
    let ids = prop_ids(&p);
    assert!(!ids.contains(&property::AUTHENTICATION_METHOD));
    assert!(!ids.contains(&property::AUTHENTICATION_DATA));
    // AUTH from the client: Protocol Error, whatever its reason code (0x00, 0x18 Continue
    // [MQTT-4.12.0-3], 0x19 Re-authenticate with a method [MQTT-4.12.1-1]).
    rejects(&[0xf0, 0], 0x82);
    rejects(&[0xf0, 2, 0x18, 0], 0x82);
    let reauth = wire(Packet::Auth(Auth {
        reason: ReasonCode::REAUTHENTICATE,
        properties: Properties::from_bytes(props(&[Property::Str(
            property::AUTHENTICATION_METHOD,
            "SCRAM-SHA-1",
        )])),
    }));
    rejects(&reauth, 0x82);
}

// Deviations found by the audit, fixed since: each test first showed Sol breaking the
// statement.
// ----- PROBES (suspected deviations) ----------------------------------------------------------

#[test]
fn will_retain_without_retain_available_is_refused_mqtt_3_2_2_13_v5() {
    let mut h = Harness::with(Limits {
        retain_available: false,
        ..Limits::default()
    });
    let c = Connect {
        will: Some(will5("w", &[], Q0, true)),
        ..c5("c")
    };
    let got = connect5(&mut h, 0, c);
    assert!(
        matches!(&got[..], [Got::Connack { present: false, code, .. }] if *code >= 0x80),
        "{got:?}"
    );
    assert!(h.is_closed(0).is_some());
}

#[test]
fn a_response_topic_with_a_wildcard_is_refused_mqtt_3_3_2_14_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 9, "s", &[("t", Q0)]);
    open5(&mut h, 0, c5("p"));
    let rt = [Property::Str(property::RESPONSE_TOPIC, "reply/#")];
    h.feed(0, &publish_wire(p5p("t", b"x", Q0, None, &rt)));
    let got = take5(&mut h, 9);
    assert_eq!(
        got,
        [],
        "not forwarded with a wildcard Response Topic: {got:?}"
    );
    let got = take5(&mut h, 0);
    assert!(
        matches!(&got[..], [Got::Disconnect { code, .. }] if *code >= 0x80),
        "{got:?}"
    );
}

#[test]
fn a_qos_2_id_refused_with_pubrec_0x80_or_more_is_new_next_time_mqtt_4_3_3_9_v5() {
    let mut h = Harness::new();
    h.subscriber(9, "watcher", &[("t", Q2)]);
    open5(&mut h, 0, c5("p"));
    h.feed(0, &publish_wire(p5("$SYS/x", b"refused", Q2, Some(1))));
    assert_eq!(take5(&mut h, 0), [ack(5, 1, 0x83)]);
    h.feed(0, &publish_wire(p5("t", b"new", Q2, Some(1))));
    assert_eq!(take5(&mut h, 0), [ack(5, 1, 0)]);
    let n = h
        .take(9)
        .into_iter()
        .filter(|s| matches!(s, Seen::Publish { .. }))
        .count();
    assert_eq!(n, 1, "the second PUBLISH with id 1 is a new message");
}

#[test]
fn a_shared_qos_2_message_in_flight_goes_to_no_other_member_mqtt_4_8_2_5_v5() {
    let mut h = Harness::new();
    sub5(&mut h, 0, "a", &[("$share/g/t", Q2)]);
    sub5(&mut h, 1, "b", &[("$share/g/t", Q2)]);
    h.open(2, "p", true);
    h.send(2, publish("t", b"x", Q2, false, Some(1)));
    let sent = only_msg(&take5(&mut h, 0));
    assert_eq!(sent.qos, Q2);
    lose(&mut h, 0); // Session Expiry 0: "a"'s session ends before it reconnects
    assert_eq!(take5(&mut h, 1), [], "not sent to another member");
}

#[test]
fn a_connack_or_suback_above_the_clients_maximum_packet_size_is_not_sent_mqtt_3_1_2_24_v5() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    let c = c5p("", &[Property::U32(property::MAXIMUM_PACKET_SIZE, 30)]);
    h.feed(0, &wire(Packet::Connect(c)));
    let f = frames(&mut h, 0);
    assert!(
        f.iter().all(|f| f.len() <= 30),
        "CONNACK {:?}",
        f.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn a_suback_above_the_clients_maximum_packet_size_is_not_sent_mqtt_3_1_2_24_v5() {
    let mut h = Harness::new();
    open5(
        &mut h,
        0,
        c5p("c", &[Property::U32(property::MAXIMUM_PACKET_SIZE, 30)]),
    );
    let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
    let list: Vec<(&str, SubscriptionOptions)> =
        names.iter().map(|f| (f.as_str(), opts(Q0))).collect();
    h.feed(0, &subscribe_wire(1, &[], &list));
    let f = frames(&mut h, 0);
    assert!(
        f.iter().all(|f| f.len() <= 30),
        "SUBACK {:?}",
        f.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn a_resent_publish_keeps_its_subscription_identifier_mqtt_3_3_4_3_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5_resume("s", 60));
    h.feed(
        0,
        &subscribe_wire(
            1,
            &[Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 42)],
            &[("t", opts(Q1))],
        ),
    );
    take5(&mut h, 0);
    h.open(1, "p", true);
    h.send(1, publish("t", b"x", Q1, false, Some(1)));
    let first = only_msg(&take5(&mut h, 0));
    assert_eq!(subscription_ids(&first), [42]);
    lose(&mut h, 0);
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    let again = only_msg(&got[1..]);
    assert!(again.dup);
    assert_eq!(subscription_ids(&again), [42], "{again:?}");
}

#[test]
fn a_resent_publish_carries_the_remaining_expiry_mqtt_3_3_2_6_v5() {
    let mut h = Harness::new();
    persistent_subscriber(&mut h, 0, Q1);
    open5(&mut h, 1, c5("p"));
    let exp = [Property::U32(property::MESSAGE_EXPIRY_INTERVAL, 100)];
    h.feed(1, &publish_wire(p5p("t", b"x", Q1, Some(1), &exp)));
    let first = only_msg(&take5(&mut h, 0));
    assert_eq!(
        Properties::from_bytes(&first.props).u32(property::MESSAGE_EXPIRY_INTERVAL),
        Some(100)
    );
    lose(&mut h, 0);
    h.advance(Duration::from_secs(10));
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    let again = only_msg(&got[1..]);
    let left = Properties::from_bytes(&again.props).u32(property::MESSAGE_EXPIRY_INTERVAL);
    assert!(left.is_some_and(|s| (89..=90).contains(&s)), "{again:?}");
}

#[test]
fn nothing_follows_the_disconnect_sent_at_shutdown_mqtt_3_14_4_1_v5() {
    let mut h = Harness::with(Limits {
        track_durable: true,
        ..Limits::default()
    });
    let dying = Connect {
        will: Some(will5("w", &[], Q0, false)),
        ..c5("dying")
    };
    open5(&mut h, 0, dying);
    sub5(&mut h, 1, "s", &[("w", Q0)]);
    h.broker.shutting_down(h.now);
    h.effects();
    // The reactor writes what is pending, then closes the slots in order.
    let before = take5(&mut h, 1);
    assert_eq!(before, [disconnect(0x8b)]);
    h.broker.closed(0, CloseReason::Shutdown, h.now);
    h.effects();
    assert_eq!(take5(&mut h, 1), [], "nothing after DISCONNECT 0x8B");
}

#[test]
fn nothing_follows_a_disconnect_whose_close_is_pending_mqtt_3_14_4_1_v5() {
    let mut h = Harness::new();
    // "x": keep-alive 10 s, so closed at 15 s; subscribed to "w".
    let x = Connect {
        keep_alive: 10,
        ..c5("x")
    };
    open5(&mut h, 0, x);
    subscribe5(&mut h, 0, &[("w", Q0)]);
    // "z": a will on "w" with a Will Delay Interval of 15 s; its connection is lost now.
    let z = Connect {
        keep_alive: 0,
        will: Some(will5(
            "w",
            &[Property::U32(property::WILL_DELAY_INTERVAL, 15)],
            Q0,
            false,
        )),
        ..c5_resume("z", 60)
    };
    open5(&mut h, 1, z);
    lose(&mut h, 1);
    // One tick runs both deadlines.
    h.advance(Duration::from_secs(16));
    assert_eq!(take5(&mut h, 0), [disconnect(0x8d)]);
}

#[test]
fn a_password_without_a_user_name_is_accepted_v5() {
    let mut h = Harness::new();
    h.broker.accepted(0, 0, h.now);
    h.feed(
        0,
        &connect_bytes(b"MQTT", 5, 0x42, &[0, 0, 1, b'c', 0, 1, b'p']),
    );
    let got = take5(&mut h, 0);
    assert!(
        matches!(&got[..], [Got::Connack { code: 0, .. }]),
        "{got:?}"
    );
}

#[test]
fn resent_copies_keep_their_own_identifiers_mqtt_3_3_4_5_v5() {
    let mut h = Harness::new();
    open5(&mut h, 0, c5_resume("s", 60));
    h.feed(
        0,
        &subscribe_wire(
            1,
            &[Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 7)],
            &[("x/+", opts(Q1))],
        ),
    );
    h.feed(
        0,
        &subscribe_wire(
            2,
            &[Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 9)],
            &[("x/y", opts(Q1))],
        ),
    );
    take5(&mut h, 0);
    h.open(1, "p", true);
    h.send(1, publish("x/y", b"x", Q1, false, Some(1)));
    assert_eq!(msgs(&take5(&mut h, 0)).len(), 2);
    lose(&mut h, 0);
    let got = connect5(&mut h, 2, c5_resume("s", 60));
    let mut ids: Vec<Vec<u32>> = msgs(&got).iter().map(subscription_ids).collect();
    ids.sort();
    assert_eq!(ids, [vec![7], vec![9]], "{got:?}");
}

#[test]
fn resending_on_resume_respects_the_new_receive_maximum_mqtt_3_3_4_9_v5() {
    let mut h = Harness::new();
    persistent_subscriber(&mut h, 0, Q1);
    h.open(1, "p", true);
    for i in 1..=3u8 {
        h.send(1, publish("t", &[i], Q1, false, Some(u16::from(i))));
    }
    assert_eq!(msgs(&take5(&mut h, 0)).len(), 3);
    lose(&mut h, 0);
    let c = Connect {
        clean_session: false,
        ..c5p(
            "s",
            &[
                session_expiry(60),
                Property::U16(property::RECEIVE_MAXIMUM, 1),
            ],
        )
    };
    let got = connect5(&mut h, 2, c);
    let mut seen = msgs(&got);
    assert_eq!(
        seen.len(),
        1,
        "at most Receive Maximum unacknowledged: {got:?}"
    );
    // Each acknowledgment lets the next one out, in order, until all three came.
    for _ in 0..2 {
        let id = seen.last().and_then(|m| m.id).expect("QoS 1");
        h.feed(2, &wire(Packet::puback(id)));
        let next = msgs(&take5(&mut h, 2));
        assert_eq!(next.len(), 1, "{next:?}");
        assert!(next[0].dup, "a re-delivery");
        seen.extend(next);
    }
    let payloads: Vec<u8> = seen.iter().map(|m| m.payload[0]).collect();
    assert_eq!(payloads, [1, 2, 3]);
}
