//! The bridge without sockets: an uplink driven packet by packet, answers decoded back
//! with the codec, and the failover order across addresses.

use super::uplink::{ConnectShape, ToCore, Uplink};
use super::Bridge;
use crate::codec::{
    self, property, Ack, Connack, Packet, Properties, Property, ProtocolVersion, Publish, QoS,
    ReasonCode, Suback,
};
use crate::config::Origin;
use crate::config::{
    BridgeAddress, BridgeConfig, BridgeProtocol, Direction, RestartTimeout, StartType, TopicMapping,
};
use std::time::{Duration, Instant};

/// A bridge as `connection b1` with `topic sensors/# both 1 L/ R/` and `cmd/# in`.
pub(crate) fn config(protocol: BridgeProtocol) -> BridgeConfig {
    let topic = |pattern: &str, direction, local: &str, remote: &str| TopicMapping {
        pattern: pattern.into(),
        direction,
        qos: QoS::AtLeastOnce,
        local_prefix: local.into(),
        remote_prefix: remote.into(),
        line: 2,
    };
    let mut b = BridgeConfig::new(
        "b1".into(),
        Origin {
            file: "sol.conf".into(),
            line: 1,
        },
    );
    b.addresses = vec![
        BridgeAddress {
            host: "primary".into(),
            port: 1883,
        },
        BridgeAddress {
            host: "secondary".into(),
            port: 1884,
        },
    ];
    b.topics = vec![
        topic("sensors/#", Direction::Both, "L/", "R/"),
        topic("cmd/#", Direction::In, "", "site/"),
        topic("logs/#", Direction::Out, "", ""),
    ];
    b.remote_clientid = "gw.b1".into();
    b.local_clientid = "local.gw.b1".into();
    b.remote_username = Some("u".into());
    b.remote_password = Some("p".into());
    b.restart = RestartTimeout::Backoff {
        base: Duration::from_secs(5),
        cap: Duration::from_secs(30),
    };
    b.protocol = protocol;
    b
}

/// Every packet in `bytes`, decoded as `version` speaks.
fn packets(bytes: &[u8], version: ProtocolVersion) -> Vec<Packet<'_>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Ok(Some(h)) = codec::FixedHeader::parse(rest) {
        let end = h.header_len + h.remaining_len;
        out.push(codec::decode(&rest[..end], version).expect("the uplink writes valid packets"));
        rest = &rest[end..];
    }
    assert!(rest.is_empty(), "whole packets only");
    out
}

/// An uplink of `cfg` past CONNACK and SUBACK.
fn connected(cfg: &BridgeConfig) -> Uplink {
    connected_with(cfg, &[])
}

/// A CONNACK with `reason` and the byte properties `props` (MQTT 5.0), encoded for
/// `version`.
fn connack_bytes(version: ProtocolVersion, reason: ReasonCode, props: &[(u8, u8)]) -> Vec<u8> {
    let mut encoded = Vec::new();
    for &(id, value) in props {
        Property::Byte(id, value)
            .write(&mut encoded)
            .expect("small");
    }
    let connack = Connack {
        properties: Properties::from_bytes(&encoded),
        ..Connack::new(false, reason)
    };
    Packet::Connack(connack).to_vec(version).expect("encodable")
}

/// An uplink of `cfg` past a CONNACK with the byte properties `props` (MQTT 5.0) and
/// SUBACK; what it wrote after the CONNACK is left in its output.
fn connected_with(cfg: &BridgeConfig, props: &[(u8, u8)]) -> Uplink {
    let bridge = Bridge::new(cfg.clone(), 1);
    let now = Instant::now();
    let mut uplink = Uplink::new(cfg, 20, ConnectShape::configured(cfg), now);
    let n = uplink.output().len();
    uplink.wrote(n, now);
    let version = super::uplink::protocol_version(cfg.protocol);
    let mut bytes = connack_bytes(version, ReasonCode::SUCCESS, props);
    let unsuback = codec::Unsuback {
        reason_codes: if version == ProtocolVersion::V5 {
            &[0]
        } else {
            &[]
        },
        ..codec::Unsuback::new(1)
    };
    bytes.extend(
        Packet::Unsuback(unsuback)
            .to_vec(version)
            .expect("encodable"),
    );
    let suback = Suback {
        packet_id: 2,
        properties: Properties::NONE,
        reason_codes: &[1, 1],
    };
    bytes.extend(Packet::Suback(suback).to_vec(version).expect("encodable"));
    let mut ups = 0;
    uplink
        .received(&bytes, now, cfg, &bridge.mappings, &mut |ev| {
            if let ToCore::Up {
                receive_maximum, ..
            } = ev
            {
                assert_eq!(receive_maximum, 20);
                ups += 1;
            }
        })
        .expect("accepted");
    assert_eq!(ups, 1);
    assert!(uplink.is_up());
    uplink
}

/// An MQTT 5.0 CONNACK accepting the connection with the u16 property `id` = `value`.
fn connack_with(id: u8, value: u16) -> Vec<u8> {
    let mut props = Vec::new();
    Property::U16(id, value).write(&mut props).expect("small");
    let connack = Connack {
        session_present: false,
        reason: ReasonCode::SUCCESS,
        properties: Properties::from_bytes(&props),
    };
    Packet::Connack(connack)
        .to_vec(ProtocolVersion::V5)
        .expect("encodable")
}

#[test]
fn connect_carries_the_bridge_identity_and_a_will_of_state_zero() {
    let cfg = config(BridgeProtocol::V311);
    let uplink = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), Instant::now());
    let sent = packets(uplink.output(), ProtocolVersion::V311);
    let [Packet::Connect(c)] = sent.as_slice() else {
        panic!("one CONNECT: {sent:?}");
    };
    assert_eq!(c.client_id, "gw.b1");
    assert!(c.bridge, "try_private marks the CONNECT");
    assert!(!c.clean_session);
    assert_eq!((c.username, c.password), (Some("u"), Some(&b"p"[..])));
    let will = c.will.expect("a will");
    assert_eq!(will.topic, "$SYS/broker/connection/gw.b1/state");
    assert_eq!((will.payload, will.retain), (&b"0"[..], true));
}

#[test]
fn after_connack_it_unsubscribes_out_topics_subscribes_in_topics_and_says_it_is_up() {
    let cfg = config(BridgeProtocol::V5);
    let bridge = Bridge::new(cfg.clone(), 1);
    let now = Instant::now();
    let mut uplink = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), now);
    let n = uplink.output().len();
    uplink.wrote(n, now);
    let bytes = connack_with(property::RECEIVE_MAXIMUM, 5);
    let mut window = 0;
    uplink
        .received(&bytes, Instant::now(), &cfg, &bridge.mappings, &mut |ev| {
            if let ToCore::Up {
                receive_maximum, ..
            } = ev
            {
                window = receive_maximum;
            }
        })
        .expect("accepted");
    assert_eq!(
        window, 5,
        "the upstream's Receive Maximum bounds the outbox's window"
    );
    assert!(
        !uplink.is_up(),
        "not before the subscriptions are acknowledged"
    );
    assert!(
        uplink.wants_core_output(),
        "the outbox drains from the CONNACK on, when the state says 1"
    );
    let sent = packets(uplink.output(), ProtocolVersion::V5);
    assert!(matches!(sent[0], Packet::Unsubscribe(u) if u.packet_id == 1
        && u.filters().collect::<Vec<_>>() == ["logs/#"]));
    let Packet::Subscribe(s) = sent[1] else {
        panic!("SUBSCRIBE: {sent:?}")
    };
    let filters: Vec<_> = s.filters().collect();
    assert_eq!(filters[0].0, "R/sensors/#");
    assert!(filters[0].1.no_local, "a both-way topic does not come back");
    assert_eq!(filters[1].0, "site/cmd/#");
    assert!(!filters[1].1.no_local);
    assert!(matches!(sent[2], Packet::Publish(p)
        if p.topic == "$SYS/broker/connection/gw.b1/state" && p.payload == b"1" && p.retain));
    // A queued message goes up behind them, before the SUBACKs, as Mosquitto's do.
    let frame = core_publish("L/sensors/t1", 1, b"21.5", false);
    let before = uplink.output().len();
    assert_eq!(
        uplink.from_core(&frame, &cfg, &bridge.mappings, &mut Vec::new()),
        frame.len()
    );
    let sent = packets(&uplink.output()[before..], ProtocolVersion::V5);
    assert!(matches!(sent[..], [Packet::Publish(p)] if p.topic == "R/sensors/t1"));
}

#[test]
fn upstream_messages_reach_the_core_under_their_local_name() {
    let cfg = config(BridgeProtocol::V311);
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut uplink = connected(&cfg);
    let publish = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "site/cmd/open",
        packet_id: Some(7),
        properties: Properties::NONE,
        payload: b"go",
    };
    let bytes = Packet::Publish(publish)
        .to_vec(ProtocolVersion::V311)
        .expect("encodable");
    let mut got = Vec::new();
    uplink
        .received(&bytes, Instant::now(), &cfg, &bridge.mappings, &mut |ev| {
            if let ToCore::Packet(Packet::Publish(p)) = ev {
                got.push((p.topic.to_string(), p.packet_id, p.payload.to_vec()));
            }
        })
        .expect("handled");
    assert_eq!(got, [("cmd/open".to_string(), Some(7), b"go".to_vec())]);
    // Its acknowledgment, from the core, goes back up unchanged.
    let puback = Packet::Puback(Ack::new(7))
        .to_vec(ProtocolVersion::V5)
        .expect("encodable");
    let mut unsent = Vec::new();
    let before = uplink.output().len();
    let took = uplink.from_core(&puback, &cfg, &bridge.mappings, &mut unsent);
    assert_eq!(took, puback.len());
    let sent = packets(&uplink.output()[before..], ProtocolVersion::V311);
    assert!(matches!(sent[..], [Packet::Puback(a)] if a.packet_id == 7));
}

/// A v5 PUBLISH frame as the core writes it for the bridge: Subscription Identifier
/// `id`, packet id 9, QoS 1, retained.
fn core_publish(topic: &str, id: u32, payload: &[u8], dup: bool) -> Vec<u8> {
    core_publish_at(QoS::AtLeastOnce, topic, id, payload, dup)
}

/// [`core_publish`] at `qos`.
fn core_publish_at(qos: QoS, topic: &str, id: u32, payload: &[u8], dup: bool) -> Vec<u8> {
    let mut props = Vec::new();
    Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, id)
        .write(&mut props)
        .expect("small");
    let publish = Publish {
        dup,
        qos,
        retain: true,
        topic,
        packet_id: Some(9),
        properties: Properties::from_bytes(&props),
        payload,
    };
    Packet::Publish(publish)
        .to_vec(ProtocolVersion::V5)
        .expect("encodable")
}

#[test]
fn outbox_messages_go_up_renamed_with_their_packet_id_and_retain_flag() {
    let cfg = config(BridgeProtocol::V311);
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut uplink = connected(&cfg);
    let before = uplink.output().len();
    let frame = core_publish("L/sensors/t1", 1, b"21.5", true);
    let mut unsent = Vec::new();
    assert_eq!(
        uplink.from_core(&frame, &cfg, &bridge.mappings, &mut unsent),
        frame.len()
    );
    let sent = packets(&uplink.output()[before..], ProtocolVersion::V311);
    let [Packet::Publish(p)] = sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (p.topic, p.packet_id, p.payload),
        ("R/sensors/t1", Some(9), &b"21.5"[..])
    );
    assert!(p.retain && p.dup);
    assert_eq!((uplink.sent.messages, uplink.sent.resent), (1, 1));
}

#[test]
fn a_message_the_upstream_would_refuse_is_acknowledged_to_the_core_and_counted() {
    let mut cfg = config(BridgeProtocol::V311);
    cfg.max_packet_size = 64;
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut uplink = connected(&cfg);
    let before = uplink.output().len();
    let frame = core_publish("L/sensors/t1", 1, &[0; 100], false);
    let mut unsent = Vec::new();
    uplink.from_core(&frame, &cfg, &bridge.mappings, &mut unsent);
    assert_eq!(unsent, [(9, QoS::AtLeastOnce)]);
    assert_eq!(uplink.output().len(), before, "nothing sent");
    assert_eq!(uplink.sent.dropped, 1);
}

#[test]
fn nothing_of_the_outbox_goes_up_before_the_subscriptions_are_acknowledged() {
    let cfg = config(BridgeProtocol::V311);
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut uplink = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), Instant::now());
    let frame = core_publish("L/sensors/t1", 1, b"x", false);
    assert_eq!(
        uplink.from_core(&frame, &cfg, &bridge.mappings, &mut Vec::new()),
        0
    );
}

#[test]
fn a_refused_connection_is_an_error_that_says_why() {
    // [MQTT-3.2.2-13 of 5.0]: an upstream without retained messages refuses a retained
    // will, and the bridge's state notification is one: the error says how to do
    // without it.
    let cases = [
        (BridgeProtocol::V311, ReasonCode::NOT_AUTHORIZED, "refused"),
        (
            BridgeProtocol::V5,
            ReasonCode::RETAIN_NOT_SUPPORTED,
            "notifications_local_only true",
        ),
    ];
    for (protocol, reason, says) in cases {
        let cfg = config(protocol);
        let bridge = Bridge::new(cfg.clone(), 1);
        let mut uplink = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), Instant::now());
        let refusal = Packet::Connack(Connack::new(false, reason))
            .to_vec(super::uplink::protocol_version(protocol))
            .expect("encodable");
        let err = uplink
            .received(
                &refusal,
                Instant::now(),
                &cfg,
                &bridge.mappings,
                &mut |_| {},
            )
            .expect_err("refused");
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn an_upstream_that_refuses_the_bridge_marker_is_tried_again_without_it() {
    // A 3.1.1 broker that does not know try_private's marker answers CONNACK 1
    // ("unacceptable protocol version") [MQTT-3.1.2-2].
    let cfg = config(BridgeProtocol::V311);
    assert!(cfg.try_private, "Mosquitto's default");
    let mut bridge = Bridge::new(cfg.clone(), 1);
    let mappings = Bridge::new(cfg.clone(), 1).mappings;
    let refuse = |uplink: &mut Uplink, reason| {
        let refusal = Packet::Connack(Connack::new(false, reason))
            .to_vec(ProtocolVersion::V311)
            .expect("encodable");
        uplink
            .received(&refusal, Instant::now(), &cfg, &mappings, &mut |_| {})
            .expect_err("refused");
    };
    let mut marked = Uplink::new(&cfg, 20, bridge.connect_shape(), Instant::now());
    let level = |u: &Uplink| u.output()[8];
    assert_eq!(level(&marked), 0x84, "protocol level 4 with the bridge bit");
    refuse(&mut marked, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
    let unmarked = marked.reshaped().expect("tried again without the marker");
    assert!(!unmarked.marker);
    assert_eq!(
        unmarked.change_from(bridge.connect_shape()),
        "without try_private's bridge marker (try_private false skips this)"
    );
    bridge.reshape(unmarked);
    let mut plain = Uplink::new(&cfg, 20, bridge.connect_shape(), Instant::now());
    assert_eq!(level(&plain), 0x04);
    // Refused again without the marker: a real protocol mismatch, a failure.
    refuse(&mut plain, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(plain.reshaped(), None);
    // Other refusals are failures too, and 5.0 never carries the marker.
    let mut marked = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), Instant::now());
    refuse(&mut marked, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(marked.reshaped(), None);
    let v5 = Uplink::new(
        &config(BridgeProtocol::V5),
        20,
        ConnectShape::configured(&cfg),
        Instant::now(),
    );
    assert_eq!(v5.output()[8], 0x05);
}

#[test]
fn a_will_the_upstream_refuses_is_lowered_step_by_step() {
    // An MQTT 5.0 upstream refuses a will above what it takes [MQTT-3.2.2-12 of 5.0],
    // [MQTT-3.2.2-13 of 5.0]; Mosquitto with max_qos 0 or retain_available false does.
    let cfg = config(BridgeProtocol::V5);
    let mappings = Bridge::new(cfg.clone(), 1).mappings;
    let refused = |shape: ConnectShape, reason, props: &[(u8, u8)]| {
        let mut uplink = Uplink::new(&cfg, 20, shape, Instant::now());
        let bytes = connack_bytes(ProtocolVersion::V5, reason, props);
        uplink
            .received(&bytes, Instant::now(), &cfg, &mappings, &mut |_| {})
            .expect_err("refused");
        uplink.reshaped()
    };
    // The CONNECT's flags byte: will retain 0x20, will QoS << 3, will flag 0x04.
    let flags = |shape| Uplink::new(&cfg, 20, shape, Instant::now()).output()[9];
    let first = ConnectShape::configured(&cfg);
    assert_eq!(
        flags(first) & 0x3c,
        0x20 | 0x08 | 0x04,
        "a retained QoS 1 will"
    );
    let unretained = refused(first, ReasonCode::RETAIN_NOT_SUPPORTED, &[]).expect("again");
    assert!(!unretained.will_retain && unretained.will_qos == QoS::AtLeastOnce);
    assert_eq!(
        unretained.change_from(first),
        "with the state notification's will unretained, at QoS 1"
    );
    assert_eq!(flags(unretained) & 0x3c, 0x08 | 0x04);
    assert_eq!(
        refused(unretained, ReasonCode::RETAIN_NOT_SUPPORTED, &[]),
        None
    );
    // QoS: the CONNACK's Maximum QoS, or one lower without it.
    let at_zero = refused(
        first,
        ReasonCode::QOS_NOT_SUPPORTED,
        &[(property::MAXIMUM_QOS, 0)],
    );
    assert_eq!(at_zero.map(|s| s.will_qos), Some(QoS::AtMostOnce));
    let lower = refused(first, ReasonCode::QOS_NOT_SUPPORTED, &[]).expect("again");
    assert_eq!(lower.will_qos, QoS::AtMostOnce);
    assert_eq!(
        lower.change_from(first),
        "with the state notification's will at QoS 0",
        "a 5.0 CONNECT carries no marker: the will is what changed"
    );
    assert_eq!(flags(lower) & 0x3c, 0x20 | 0x04, "a retained QoS 0 will");
    assert_eq!(refused(lower, ReasonCode::QOS_NOT_SUPPORTED, &[]), None);
    // Without a will (notifications_local_only) nothing is the will's fault.
    let mut local = cfg.clone();
    local.notifications_local_only = true;
    let shape = ConnectShape::configured(&local);
    assert_eq!(
        shape.after_refusal(ReasonCode::RETAIN_NOT_SUPPORTED, false, None),
        None
    );
}

#[test]
fn keep_alive_pings_then_gives_up_without_an_answer() {
    let cfg = config(BridgeProtocol::V311);
    let t0 = Instant::now();
    let mut uplink = connected(&cfg);
    let n = uplink.output().len();
    uplink.wrote(n, t0);
    let later = t0 + Duration::from_secs(61);
    uplink.tick(later).expect("a ping is due, not a failure");
    assert!(matches!(
        packets(uplink.output(), ProtocolVersion::V311)[..],
        [Packet::Pingreq]
    ));
    assert!(uplink.tick(later + Duration::from_secs(61)).is_err());
}

#[test]
fn a_steady_stream_to_an_upstream_that_went_silent_is_found_by_a_ping() {
    // A half-open uplink (a cut cellular link, a NAT that forgot the connection): the
    // bridge writes every second, the upstream answers nothing. Writing alone must not
    // keep the connection for alive.
    let cfg = config(BridgeProtocol::V311);
    let keepalive = Duration::from_secs(u64::from(cfg.keepalive));
    let mut uplink = connected(&cfg);
    let n = uplink.output().len();
    let t0 = Instant::now();
    uplink.wrote(n, t0);
    let mut t = t0;
    let pinged = loop {
        t += Duration::from_secs(1);
        assert!(
            t <= t0 + keepalive + Duration::from_secs(1),
            "no PINGREQ while only writing"
        );
        uplink.wrote(1, t);
        uplink.tick(t).expect("a ping, not yet a failure");
        if packets(uplink.output(), ProtocolVersion::V311).contains(&Packet::Pingreq) {
            break t;
        }
    };
    assert!(
        pinged >= t0 + keepalive - Duration::from_secs(1),
        "pinged early: {:?}",
        pinged - t0
    );
    // Still writing, still no answer: the connection ends a keep-alive after the ping.
    let n = uplink.output().len();
    uplink.wrote(n, pinged);
    uplink.wrote(1, pinged + keepalive);
    assert!(uplink.tick(pinged + keepalive).is_err());
}

#[test]
fn anything_heard_from_the_upstream_postpones_the_ping() {
    let cfg = config(BridgeProtocol::V311);
    let bridge = Bridge::new(cfg.clone(), 1);
    let keepalive = Duration::from_secs(u64::from(cfg.keepalive));
    let mut uplink = connected(&cfg);
    let n = uplink.output().len();
    let t0 = Instant::now();
    uplink.wrote(n, t0);
    // A PUBACK from upstream half a keep-alive in, and the bridge writing throughout.
    let half = t0 + keepalive / 2;
    let puback = Packet::puback(1)
        .to_vec(ProtocolVersion::V311)
        .expect("encodable");
    uplink
        .received(&puback, half, &cfg, &bridge.mappings, &mut |_| {})
        .expect("a PUBACK for an id it does not know is harmless");
    uplink.wrote(1, t0 + keepalive);
    let next = uplink.tick(t0 + keepalive).expect("no failure");
    assert!(
        uplink.output().is_empty(),
        "no PINGREQ: heard from it {:?} ago",
        keepalive / 2
    );
    assert_eq!(next, half + keepalive);
}

#[test]
fn failover_tries_each_address_then_waits_and_returns_to_the_first() {
    let mut bridge = Bridge::new(config(BridgeProtocol::V311), 1);
    assert_eq!(bridge.address().host, "primary");
    assert_eq!(
        bridge.failed(),
        Some(Duration::ZERO),
        "the next address at once"
    );
    assert_eq!(bridge.address().host, "secondary");
    let wait = bridge.failed().expect("automatic");
    assert!(
        wait >= Duration::from_secs(5),
        "a round done: back-off ({wait:?})"
    );
    assert_eq!(bridge.address().host, "primary", "then the main one again");
    assert_eq!(
        bridge.failed(),
        Some(Duration::ZERO),
        "a new round starts at once"
    );
    bridge.connected();
    assert_eq!(
        bridge.address().host,
        "secondary",
        "connected to the second"
    );
    assert_eq!(
        bridge.failed(),
        Some(Duration::ZERO),
        "its loss: the main one at once"
    );
    assert_eq!(bridge.address().host, "primary");
    bridge.failed();
    bridge.connected();
    assert!(
        bridge.probes_main(),
        "round_robin false: the main one is probed"
    );
    bridge.back_to_main();
    assert_eq!(bridge.address().host, "primary");
    assert!(!bridge.probes_main());
    bridge.failed();
    bridge.connected();
    bridge.config.round_robin = true;
    assert!(
        !bridge.probes_main(),
        "round_robin true: it stays where it works"
    );
}

#[test]
fn start_type_once_gives_up_after_a_failure() {
    let mut cfg = config(BridgeProtocol::V311);
    cfg.start_type = StartType::Once;
    let mut bridge = Bridge::new(cfg, 1);
    assert_eq!(bridge.failed(), None);
    assert!(bridge.given_up());
}

#[test]
fn a_publish_before_connack_is_handled_after_it() {
    // aedes does this when a resumed session has messages under a stream.
    let cfg = config(BridgeProtocol::V311);
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut uplink = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), Instant::now());
    let publish = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "site/cmd/early",
        packet_id: Some(3),
        properties: Properties::NONE,
        payload: b"x",
    };
    let mut bytes = Packet::Publish(publish)
        .to_vec(ProtocolVersion::V311)
        .expect("encodable");
    bytes.extend(
        Packet::Connack(Connack::new(true, ReasonCode::SUCCESS))
            .to_vec(ProtocolVersion::V311)
            .expect("encodable"),
    );
    let mut seen = Vec::new();
    uplink
        .received(
            &bytes,
            Instant::now(),
            &cfg,
            &bridge.mappings,
            &mut |ev| match ev {
                ToCore::Up { .. } => seen.push("up".to_string()),
                ToCore::Packet(Packet::Publish(p)) => seen.push(p.topic.to_string()),
                ToCore::Packet(_) => {}
            },
        )
        .expect("tolerated");
    assert_eq!(seen, ["up", "cmd/early"], "the core attached first");
}

#[test]
fn the_upstreams_server_keep_alive_replaces_the_bridges() {
    let cfg = config(BridgeProtocol::V5);
    let bridge = Bridge::new(cfg.clone(), 1);
    let t0 = Instant::now();
    let mut uplink = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), t0);
    let n = uplink.output().len();
    uplink.wrote(n, t0);
    let bytes = connack_with(property::SERVER_KEEP_ALIVE, 10);
    uplink
        .received(&bytes, t0, &cfg, &bridge.mappings, &mut |_| {})
        .expect("accepted");
    let n = uplink.output().len();
    uplink.wrote(n, t0);
    uplink.tick(t0 + Duration::from_secs(10)).expect("a ping");
    assert!(
        packets(uplink.output(), ProtocolVersion::V5).contains(&Packet::Pingreq),
        "pinged after 10 s, not the configured 60"
    );
}

#[test]
fn more_than_max_early_before_connack_ends_the_connection() {
    let cfg = config(BridgeProtocol::V311);
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut uplink = Uplink::new(&cfg, 20, ConnectShape::configured(&cfg), Instant::now());
    let payload = vec![0u8; 60 * 1024];
    let publish = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "site/cmd/early",
        packet_id: None,
        properties: Properties::NONE,
        payload: &payload,
    };
    let one = Packet::Publish(publish)
        .to_vec(ProtocolVersion::V311)
        .expect("encodable");
    let fits = super::uplink::MAX_EARLY / one.len();
    for _ in 0..fits {
        uplink
            .received(&one, Instant::now(), &cfg, &bridge.mappings, &mut |_| {})
            .expect("kept while within MAX_EARLY");
    }
    let err = uplink
        .received(&one, Instant::now(), &cfg, &bridge.mappings, &mut |_| {})
        .expect_err("one more is too much");
    assert!(err.contains("before CONNACK"), "{err}");
}

#[test]
fn the_uplink_takes_no_more_of_the_outbox_once_its_output_is_at_high_water() {
    let cfg = config(BridgeProtocol::V311);
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut uplink = connected(&cfg);
    let frame = core_publish("L/sensors/t1", 1, &[0; 1000], false);
    let frames: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 100)
        .collect();
    let took = uplink.from_core(&frames, &cfg, &bridge.mappings, &mut Vec::new());
    assert!(
        took < frames.len(),
        "the socket did not drain: the rest waits in the core"
    );
    let high = super::uplink::OUTPUT_HIGH_WATER;
    assert!(uplink.output().len() >= high && uplink.output().len() < high + frame.len() + 64);
}

/// Hands `uplink` the core's `frames`; what it wrote upstream for them, and what it
/// left for the caller to acknowledge to the core.
fn from_core(uplink: &mut Uplink, cfg: &BridgeConfig, frames: &[u8]) -> (Vec<u8>, Vec<(u16, QoS)>) {
    let bridge = Bridge::new(cfg.clone(), 1);
    let before = uplink.output().len();
    let mut unsent = Vec::new();
    let took = uplink.from_core(frames, cfg, &bridge.mappings, &mut unsent);
    assert_eq!(took, frames.len(), "every frame taken");
    (uplink.output()[before..].to_vec(), unsent)
}

/// Feeds `uplink` `bytes` from upstream; the packets it handed the core, each encoded
/// as MQTT 5.0.
fn from_upstream(uplink: &mut Uplink, cfg: &BridgeConfig, bytes: &[u8]) -> Vec<Vec<u8>> {
    let bridge = Bridge::new(cfg.clone(), 1);
    let mut got = Vec::new();
    uplink
        .received(bytes, Instant::now(), cfg, &bridge.mappings, &mut |ev| {
            if let ToCore::Packet(p) = ev {
                got.push(ack(p, ProtocolVersion::V5));
            }
        })
        .expect("handled");
    got
}

/// `packet` (an acknowledgment of the core's or the upstream's), encoded for `version`.
fn ack(packet: Packet<'_>, version: ProtocolVersion) -> Vec<u8> {
    packet.to_vec(version).expect("encodable")
}

#[test]
fn above_a_maximum_qos_of_0_messages_go_up_at_qos_0_and_are_acknowledged_to_the_core() {
    // [MQTT-3.2.2-11 of 5.0]: nothing goes up above the upstream's Maximum QoS.
    let cfg = config(BridgeProtocol::V5);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut uplink = connected_with(&cfg, &[(property::MAXIMUM_QOS, 0)]);
        let frame = core_publish_at(qos, "L/sensors/t1", 1, b"x", true);
        let (sent, unsent) = from_core(&mut uplink, &cfg, &frame);
        let [Packet::Publish(p)] = packets(&sent, ProtocolVersion::V5)[..] else {
            panic!("one PUBLISH: {sent:?}")
        };
        assert_eq!((p.qos, p.packet_id, p.dup), (QoS::AtMostOnce, None, false));
        assert_eq!(p.topic, "R/sensors/t1");
        assert_eq!(
            unsent,
            [(9, qos)],
            "no ack comes from upstream: the caller acks it to the core"
        );
        assert_eq!(
            (uplink.sent.messages, uplink.sent.dropped),
            (1, 0),
            "sent, not dropped"
        );
        if qos == QoS::ExactlyOnce {
            // The core answers the PUBREC it was given with PUBREL: not the upstream's.
            let pubrel = ack(Packet::pubrel(9), ProtocolVersion::V5);
            let (sent, _) = from_core(&mut uplink, &cfg, &pubrel);
            assert!(sent.is_empty(), "the core's PUBREL stays here: {sent:?}");
        }
    }
}

#[test]
fn above_a_maximum_qos_of_1_a_qos_2_message_goes_up_at_qos_1_and_its_puback_completes_the_cores_flow(
) {
    let cfg = config(BridgeProtocol::V5);
    let mut uplink = connected_with(&cfg, &[(property::MAXIMUM_QOS, 1)]);
    let frame = core_publish_at(QoS::ExactlyOnce, "L/sensors/t1", 1, b"x", false);
    let (sent, unsent) = from_core(&mut uplink, &cfg, &frame);
    let [Packet::Publish(p)] = packets(&sent, ProtocolVersion::V5)[..] else {
        panic!("one PUBLISH: {sent:?}")
    };
    assert_eq!((p.qos, p.packet_id), (QoS::AtLeastOnce, Some(9)));
    assert!(unsent.is_empty(), "the upstream acknowledges it");
    // The upstream's PUBACK is the core's PUBREC and PUBCOMP.
    let puback = ack(Packet::Puback(Ack::new(9)), ProtocolVersion::V5);
    let core = from_upstream(&mut uplink, &cfg, &puback);
    let v5 = ProtocolVersion::V5;
    assert_eq!(
        core,
        [
            ack(Packet::Pubrec(Ack::new(9)), v5),
            ack(Packet::Pubcomp(Ack::new(9)), v5)
        ]
    );
    let pubrel = ack(Packet::pubrel(9), ProtocolVersion::V5);
    let (sent, _) = from_core(&mut uplink, &cfg, &pubrel);
    assert!(sent.is_empty(), "the core's PUBREL stays here: {sent:?}");
    // A QoS 1 message is not lowered: its PUBACK reaches the core as it is.
    let frame = core_publish_at(QoS::AtLeastOnce, "L/sensors/t2", 1, b"y", false);
    let (sent, _) = from_core(&mut uplink, &cfg, &frame);
    assert!(matches!(packets(&sent, ProtocolVersion::V5)[..],
        [Packet::Publish(p)] if p.qos == QoS::AtLeastOnce));
    let core = from_upstream(&mut uplink, &cfg, &puback);
    assert_eq!(core, [puback], "its PUBACK reaches the core as it is");
}

#[test]
fn without_retain_available_messages_and_the_state_go_up_without_retain() {
    // [MQTT-3.2.2-14 of 5.0]: no RETAIN 1 to an upstream that has no retained messages.
    let cfg = config(BridgeProtocol::V5);
    let mut uplink = connected_with(&cfg, &[(property::RETAIN_AVAILABLE, 0)]);
    let state = packets(uplink.output(), ProtocolVersion::V5)
        .into_iter()
        .find_map(|p| match p {
            Packet::Publish(p) => Some((p.topic.to_string(), p.retain)),
            _ => None,
        });
    assert_eq!(
        state,
        Some(("$SYS/broker/connection/gw.b1/state".to_string(), false))
    );
    let frame = core_publish("L/sensors/t1", 1, b"x", false);
    let (sent, _) = from_core(&mut uplink, &cfg, &frame);
    assert!(matches!(packets(&sent, ProtocolVersion::V5)[..],
        [Packet::Publish(p)] if !p.retain && p.qos == QoS::AtLeastOnce));
}

#[test]
fn without_those_properties_qos_2_and_retain_go_up_unchanged_and_acks_pass_through() {
    for protocol in [BridgeProtocol::V311, BridgeProtocol::V5] {
        let cfg = config(protocol);
        let version = super::uplink::protocol_version(protocol);
        let mut uplink = connected(&cfg);
        let frame = core_publish_at(QoS::ExactlyOnce, "L/sensors/t1", 1, b"x", false);
        let (sent, unsent) = from_core(&mut uplink, &cfg, &frame);
        assert!(matches!(packets(&sent, version)[..],
            [Packet::Publish(p)] if p.qos == QoS::ExactlyOnce && p.retain && p.packet_id == Some(9)));
        assert!(unsent.is_empty());
        let pubrec = ack(Packet::Pubrec(Ack::new(9)), version);
        let core = from_upstream(&mut uplink, &cfg, &pubrec);
        assert_eq!(
            core,
            [ack(Packet::Pubrec(Ack::new(9)), ProtocolVersion::V5)]
        );
        let pubrel = ack(Packet::pubrel(9), ProtocolVersion::V5);
        let (sent, _) = from_core(&mut uplink, &cfg, &pubrel);
        assert!(matches!(packets(&sent, version)[..], [Packet::Pubrel(a)] if a.packet_id == 9));
    }
}

#[test]
fn a_qos_2_message_the_upstream_would_refuse_keeps_the_cores_pubrel_here() {
    let mut cfg = config(BridgeProtocol::V311);
    cfg.max_packet_size = 64;
    let mut uplink = connected(&cfg);
    let frame = core_publish_at(QoS::ExactlyOnce, "L/sensors/t1", 1, &[0; 100], false);
    let (sent, unsent) = from_core(&mut uplink, &cfg, &frame);
    assert!(sent.is_empty());
    assert_eq!(unsent, [(9, QoS::ExactlyOnce)]);
    let pubrel = ack(Packet::pubrel(9), ProtocolVersion::V5);
    let (sent, _) = from_core(&mut uplink, &cfg, &pubrel);
    assert!(
        sent.is_empty(),
        "no PUBREL upstream for what it never got: {sent:?}"
    );
}
