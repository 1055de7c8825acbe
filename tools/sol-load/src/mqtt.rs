//! The few MQTT packets the generator sends, and a framer for what it receives, on top of
//! the broker's own codec (`sol::codec`), so the wire format is written once.
//!
//! [`Proto`] holds what differs between the versions the generator speaks: MQTT 3.1.1 (the
//! default) and MQTT 5.0 (`--protocol 5`), where CONNECT carries a Receive Maximum (the
//! publishers' window) and, for a kept session, a Session Expiry Interval; PUBLISH carries
//! a property section (empty unless `--user-property` or `--message-expiry` fill it); and
//! CONNACK, SUBACK, PUBACK and DISCONNECT may carry reason codes and properties.

use sol::codec::{
    encode_subscribe, property, Connect, FixedHeader, Packet, PerSubscriber, Properties, Property,
    ProtocolVersion, PublishHeader, QoS, ReasonCode, SharedParts,
};

/// How the generator speaks: the version, and (MQTT 5.0) what its CONNECT and PUBLISH
/// packets carry as properties.
#[derive(Clone, Debug)]
pub struct Proto {
    version: ProtocolVersion,
    /// MQTT 5.0: the Receive Maximum sent in CONNECT (QoS 1 messages the broker may have
    /// unacknowledged towards this client, like the publishers' own window).
    receive_maximum: u16,
    /// MQTT 5.0: every PUBLISH's properties, encoded, without their length.
    publish_properties: Vec<u8>,
}

impl Proto {
    /// MQTT 3.1.1: no properties anywhere.
    pub fn v311() -> Proto {
        Proto {
            version: ProtocolVersion::V311,
            receive_maximum: u16::MAX,
            publish_properties: Vec::new(),
        }
    }

    /// MQTT 5.0 with a Receive Maximum of `window` (clamped to 1..=65535) in CONNECT, and
    /// these user properties (name, value) and message expiry in every PUBLISH.
    pub fn v5(
        window: u64,
        user_properties: &[(String, String)],
        message_expiry: Option<u32>,
    ) -> Result<Proto, String> {
        let mut props = Vec::new();
        if let Some(secs) = message_expiry {
            Property::U32(property::MESSAGE_EXPIRY_INTERVAL, secs)
                .write(&mut props)
                .map_err(|e| format!("--message-expiry: {e:?}"))?;
        }
        for (k, v) in user_properties {
            Property::User(k, v)
                .write(&mut props)
                .map_err(|e| format!("--user-property {k}: {e:?}"))?;
        }
        Ok(Proto {
            version: ProtocolVersion::V5,
            receive_maximum: u16::try_from(window.max(1)).unwrap_or(u16::MAX),
            publish_properties: props,
        })
    }

    /// The version spoken.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Bytes of every PUBLISH's properties (without their length; 0 for MQTT 3.1.1).
    pub fn publish_properties_len(&self) -> usize {
        self.publish_properties.len()
    }

    /// Appends an encoded packet (the generator only builds packets that fit).
    fn put_packet(&self, packet: &Packet<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(
            &packet
                .to_vec(self.version)
                .expect("generator packets are small and valid"),
        );
    }

    /// CONNECT with no will and no credentials; `clean_session` false keeps the session
    /// (its subscriptions and queued messages) while the client is away: MQTT 5.0 says so
    /// with Clean Start 0 and a Session Expiry Interval that never ends, as a 3.1.1 session.
    pub fn connect(&self, client_id: &str, keepalive: u16, clean_session: bool, out: &mut Vec<u8>) {
        let mut props = Vec::new();
        if self.version.has_properties() {
            if self.receive_maximum < u16::MAX {
                let _ = Property::U16(property::RECEIVE_MAXIMUM, self.receive_maximum)
                    .write(&mut props);
            }
            if !clean_session {
                let _ =
                    Property::U32(property::SESSION_EXPIRY_INTERVAL, u32::MAX).write(&mut props);
            }
        }
        let connect = Connect {
            version: self.version,
            bridge: false,
            clean_session,
            keep_alive: keepalive,
            properties: Properties::from_bytes(&props),
            client_id,
            will: None,
            username: None,
            password: None,
        };
        self.put_packet(&Packet::Connect(connect), out);
    }

    /// SUBSCRIBE to `filters`, all at `qos`.
    pub fn subscribe<S: AsRef<str>>(
        &self,
        packet_id: u16,
        filters: &[S],
        qos: u8,
        out: &mut Vec<u8>,
    ) {
        let qos = QoS::from_bits(qos).expect("the generator subscribes at QoS 0 or 1");
        let filters: Vec<(&str, QoS)> = filters.iter().map(|f| (f.as_ref(), qos)).collect();
        encode_subscribe(self.version, packet_id, Properties::NONE, &filters, out)
            .expect("the generator's filters are short");
    }

    /// The constant parts of a PUBLISH to `topic` whose payload is `payload_len` bytes: the
    /// fixed header and topic, written before the packet id (QoS > 0), and what follows the
    /// packet id before the payload (MQTT 5.0: the property length and properties; nothing
    /// for 3.1.1).
    pub fn publish_parts(
        &self,
        topic: &str,
        qos: u8,
        retain: bool,
        payload_len: usize,
    ) -> PublishParts {
        let qos = QoS::from_bits(qos).expect("the generator publishes at QoS 0, 1 or 2");
        // The packet id is written by the caller; only its presence shapes the header.
        let id = (qos != QoS::AtMostOnce).then_some(1);
        let props = if self.version.has_properties() {
            &self.publish_properties[..]
        } else {
            &[]
        };
        let shared = SharedParts {
            topic_field: 2 + topic.len(),
            properties: props.len(),
            payload: payload_len,
        };
        let header = PublishHeader::new(
            self.version,
            false,
            qos,
            retain,
            id,
            shared,
            &PerSubscriber::default(),
        )
        .expect("the generator's messages are small");
        let mut head = Vec::with_capacity(5 + 2 + topic.len());
        head.extend_from_slice(header.fixed_header());
        head.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        head.extend_from_slice(topic.as_bytes());
        // after_topic() is the packet id, then (MQTT 5.0) the property length.
        let id_len = if id.is_some() { 2 } else { 0 };
        let mut tail = header.after_topic()[id_len..].to_vec();
        tail.extend_from_slice(props);
        PublishParts { head, tail }
    }

    /// PUBACK for `packet_id`.
    pub fn puback(&self, packet_id: u16, out: &mut Vec<u8>) {
        self.put_packet(&Packet::puback(packet_id), out);
    }

    /// PINGREQ.
    pub fn pingreq(&self, out: &mut Vec<u8>) {
        self.put_packet(&Packet::Pingreq, out);
    }

    /// DISCONNECT (MQTT 5.0: normal disconnection, no properties).
    pub fn disconnect(&self, out: &mut Vec<u8>) {
        self.put_packet(&Packet::disconnect(), out);
    }

    /// Decodes a CONNACK or SUBACK frame.
    pub fn ack(&self, f: &Frame<'_>) -> Result<Ack, String> {
        let refused = |rc: &u8| ReasonCode(*rc).is_error();
        match sol::codec::decode(f.packet, self.version).map_err(|e| format!("{e:?}"))? {
            Packet::Connack(c) if c.reason == ReasonCode::SUCCESS => Ok(Ack::Connected {
                session_present: c.session_present,
                receive_maximum: c.properties.u16(property::RECEIVE_MAXIMUM),
                server_keep_alive: c.properties.u16(property::SERVER_KEEP_ALIVE),
            }),
            Packet::Connack(c) => Err(format!("CONNACK refused: {}", c.reason)),
            Packet::Suback(s) if s.reason_codes.iter().any(refused) => Err(format!(
                "SUBACK refused {} of {} filters",
                s.reason_codes.iter().filter(|rc| refused(rc)).count(),
                s.reason_codes.len()
            )),
            Packet::Suback(_) => Ok(Ack::Subscribed),
            p => Err(format!("expected CONNACK or SUBACK, got {p:?}")),
        }
    }

    /// What a DISCONNECT from the broker (MQTT 5.0) says, for the error message.
    pub fn disconnect_reason(&self, f: &Frame<'_>) -> String {
        match sol::codec::decode(f.packet, self.version) {
            Ok(Packet::Disconnect(d)) => match d.properties.str(property::REASON_STRING) {
                Some(why) => format!("{} ({why})", d.reason),
                None => d.reason.to_string(),
            },
            other => format!("{other:?}"),
        }
    }

    /// A received PUBLISH: QoS, packet id (0 for QoS 0) and payload (after the properties
    /// in MQTT 5.0). Deliberately not the full decoder: the subscriber's hot path skips
    /// UTF-8 validation of topics and properties it did not ask for.
    pub fn parse_publish<'a>(&self, f: &Frame<'a>) -> Option<(u8, u16, &'a [u8])> {
        let qos = (f.header >> 1) & 3;
        let tlen = u16::from_be_bytes(f.body.get(0..2)?.try_into().ok()?) as usize;
        let mut at = 2 + tlen;
        let mut id = 0;
        if qos > 0 {
            id = u16::from_be_bytes(f.body.get(at..at + 2)?.try_into().ok()?);
            at += 2;
        }
        if self.version.has_properties() {
            let (len, used) = varint(f.body.get(at..)?)?;
            at = at.checked_add(used + len as usize)?;
        }
        Some((qos, id, f.body.get(at..)?))
    }

    /// Whether a PUBACK refuses the message: MQTT 5.0 reason code 0x80 or above (0x10, no
    /// matching subscribers, is a success). A 3.1.1 PUBACK has no reason code.
    pub fn puback_refused(&self, f: &Frame<'_>) -> bool {
        self.version.has_properties() && f.body.get(2).is_some_and(|&rc| ReasonCode(rc).is_error())
    }
}

/// The constant bytes of one publisher's PUBLISH packets, around the packet id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishParts {
    /// Fixed header and topic.
    pub head: Vec<u8>,
    /// After the packet id, before the payload: MQTT 5.0's property section.
    pub tail: Vec<u8>,
}

/// Reads a variable byte integer [MQTT-1.5.5]: (value, bytes used).
fn varint(buf: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, &b) in buf.iter().take(4).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// One packet framed from received bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The first byte: type and flags.
    pub header: u8,
    /// The variable header and payload.
    pub body: &'a [u8],
    /// The whole packet, for [`sol::codec::decode`] (used for the rare control packets).
    pub packet: &'a [u8],
}

/// What a CONNACK or SUBACK says, decoded by the broker's codec; `Err` names the refusal or
/// the malformation.
#[derive(Debug, PartialEq, Eq)]
pub enum Ack {
    /// CONNACK accepted.
    Connected {
        /// The broker kept this client's session from an earlier connection [MQTT-3.2.2-2].
        session_present: bool,
        /// MQTT 5.0: QoS 1 messages the broker takes unacknowledged from this client
        /// (`None`: 65,535).
        receive_maximum: Option<u16>,
        /// MQTT 5.0: the keep-alive the broker imposes instead of the one asked for.
        server_keep_alive: Option<u16>,
    },
    /// SUBACK granting every filter of the SUBSCRIBE.
    Subscribed,
}

/// Frames the packet at the start of `buf`: `Ok(Some((frame, consumed)))`, `Ok(None)` if
/// incomplete, `Err` if the fixed header is malformed.
pub fn frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ()> {
    let Some(h) = FixedHeader::parse(buf).map_err(|_| ())? else {
        return Ok(None);
    };
    let Some(body) = buf.get(h.header_len..h.packet_len()) else {
        return Ok(None);
    };
    Ok(Some((
        Frame {
            header: h.first_byte,
            body,
            packet: &buf[..h.packet_len()],
        },
        h.packet_len(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v5() -> Proto {
        Proto::v5(20, &[], None).unwrap()
    }

    fn v5_props() -> Proto {
        Proto::v5(20, &[("k".into(), "v".into())], Some(60)).unwrap()
    }

    /// A whole PUBLISH as the generator writes it: head, packet id, tail, payload.
    fn publish(p: &Proto, topic: &str, qos: u8, id: u16, payload: &[u8]) -> Vec<u8> {
        let parts = p.publish_parts(topic, qos, false, payload.len());
        let mut pkt = parts.head;
        if qos > 0 {
            pkt.extend_from_slice(&id.to_be_bytes());
        }
        pkt.extend_from_slice(&parts.tail);
        pkt.extend_from_slice(payload);
        pkt
    }

    #[test]
    fn publish_parts_encode_the_remaining_length() {
        for (payload, want) in [(0usize, vec![0x30u8, 3]), (200, vec![0x30, 0xCB, 0x01])] {
            let parts = Proto::v311().publish_parts("t", 0, false, payload);
            assert_eq!(&parts.head[..want.len()], &want[..], "{payload}");
            assert!(parts.tail.is_empty());
        }
        // MQTT 5.0: one more byte, the empty property section.
        let parts = v5().publish_parts("t", 0, false, 0);
        assert_eq!(
            (&parts.head[..2], &parts.tail[..]),
            (&[0x30u8, 4][..], &[0u8][..])
        );
    }

    #[test]
    fn publish_frames_and_parses_back() {
        let payload = [7u8; 200];
        for p in [Proto::v311(), v5(), v5_props()] {
            let mut pkt = publish(&p, "bench/3", 1, 42, &payload);
            let len = pkt.len();
            pkt.extend_from_slice(&[0x40, 0x02, 0, 1]); // a second packet behind it
            let (f, used) = frame(&pkt).unwrap().unwrap();
            assert_eq!(used, len);
            assert_eq!(p.parse_publish(&f), Some((1, 42, &payload[..])));
            assert_eq!(frame(&pkt[..used - 1]), Ok(None));
            let (f2, _) = frame(&pkt[used..]).unwrap().unwrap();
            assert_eq!(f2.header, 0x40);
        }
    }

    #[test]
    fn v5_publishes_are_what_the_codec_decodes() {
        let payload = [9u8; 30];
        for (p, expiry, user) in [(v5(), None, None), (v5_props(), Some(60), Some(("k", "v")))] {
            for qos in [0, 1] {
                let pkt = publish(&p, "a/b", qos, 5, &payload);
                let Ok(Packet::Publish(d)) = sol::codec::decode(&pkt, ProtocolVersion::V5) else {
                    panic!("{pkt:?}");
                };
                assert_eq!((d.topic, d.payload), ("a/b", &payload[..]));
                assert_eq!(d.packet_id, (qos > 0).then_some(5));
                assert_eq!(d.properties.u32(property::MESSAGE_EXPIRY_INTERVAL), expiry);
                let got = d.properties.get(property::USER_PROPERTY);
                assert_eq!(got, user.map(|(k, v)| Property::User(k, v)));
            }
        }
    }

    #[test]
    fn v5_publish_payload_starts_after_the_properties() {
        // A delivery whose broker added properties of its own (expiry, subscription id).
        let payload = b"stamp-bytes-here-0123456789";
        let props = [0x02, 0, 0, 0, 30, 0x0b, 0x85, 0x01];
        let mut body = vec![0, 1, b't', 0, 9, props.len() as u8];
        body.extend_from_slice(&props);
        body.extend_from_slice(payload);
        let mut pkt = vec![0x32, body.len() as u8];
        pkt.extend_from_slice(&body);
        let (f, _) = frame(&pkt).unwrap().unwrap();
        assert_eq!(v5().parse_publish(&f), Some((1, 9, &payload[..])));
        // A property length running past the packet is no PUBLISH of ours.
        pkt[7] = 0x7f;
        let (f, _) = frame(&pkt).unwrap().unwrap();
        assert_eq!(v5().parse_publish(&f), None);
    }

    #[test]
    fn connect_is_well_formed() {
        for clean in [true, false] {
            let mut v = Vec::new();
            Proto::v311().connect("abc", 60, clean, &mut v);
            let (f, used) = frame(&v).unwrap().unwrap();
            assert_eq!((f.header, used, f.body.len()), (0x10, v.len(), 15));
            assert_eq!(&f.body[..7], b"\x00\x04MQTT\x04");
            assert_eq!(f.body[7] & 0x02 != 0, clean, "clean-session flag");
        }
    }

    #[test]
    fn v5_connect_carries_the_window_and_keeps_sessions() {
        for clean in [true, false] {
            let mut v = Vec::new();
            v5().connect("abc", 60, clean, &mut v);
            assert_eq!(&v[2..9], b"\x00\x04MQTT\x05");
            let Ok(Packet::Connect(c)) = sol::codec::decode(&v, ProtocolVersion::V5) else {
                panic!("{v:?}");
            };
            assert_eq!(
                (c.version, c.clean_session, c.client_id),
                (ProtocolVersion::V5, clean, "abc")
            );
            assert_eq!(c.properties.u16(property::RECEIVE_MAXIMUM), Some(20));
            let expiry = c.properties.u32(property::SESSION_EXPIRY_INTERVAL);
            assert_eq!(expiry, (!clean).then_some(u32::MAX));
        }
        // A window of 65,535 or more is the default Receive Maximum: not written.
        let mut v = Vec::new();
        Proto::v5(1 << 20, &[], None)
            .unwrap()
            .connect("abc", 60, true, &mut v);
        let Ok(Packet::Connect(c)) = sol::codec::decode(&v, ProtocolVersion::V5) else {
            panic!("{v:?}");
        };
        assert!(c.properties.is_empty());
    }

    #[test]
    fn retained_publish_sets_the_retain_bit() {
        for p in [Proto::v311(), v5()] {
            assert_eq!(p.publish_parts("t", 1, true, 20).head[0], 0x33);
            assert_eq!(p.publish_parts("t", 0, false, 20).head[0], 0x30);
        }
    }

    #[test]
    fn subscribe_carries_every_filter_and_its_suback_is_checked() {
        for p in [Proto::v311(), v5()] {
            let mut v = Vec::new();
            p.subscribe(7, &["a/b", "c/+/d"], 1, &mut v);
            match sol::codec::decode(&v, p.version()).unwrap() {
                Packet::Subscribe(s) => {
                    assert_eq!(s.packet_id, 7);
                    let got: Vec<(String, QoS)> =
                        s.filters().map(|(f, o)| (f.to_string(), o.qos)).collect();
                    assert_eq!(
                        got,
                        [
                            ("a/b".into(), QoS::AtLeastOnce),
                            ("c/+/d".into(), QoS::AtLeastOnce)
                        ]
                    );
                }
                p => panic!("{p:?}"),
            }
        }
    }

    fn ack_of(p: &Proto, bytes: &[u8]) -> Result<Ack, String> {
        let (f, _) = frame(bytes).unwrap().unwrap();
        p.ack(&f)
    }

    fn connected(session_present: bool) -> Ack {
        Ack::Connected {
            session_present,
            receive_maximum: None,
            server_keep_alive: None,
        }
    }

    #[test]
    fn acks_decode_session_present_and_refusals() {
        let p = Proto::v311();
        assert_eq!(ack_of(&p, &[0x20, 2, 1, 0]), Ok(connected(true)));
        assert_eq!(ack_of(&p, &[0x20, 2, 0, 0]), Ok(connected(false)));
        assert!(ack_of(&p, &[0x20, 2, 0, 5]).is_err());
        assert_eq!(ack_of(&p, &[0x90, 4, 0, 7, 1, 0]), Ok(Ack::Subscribed));
        let refused = ack_of(&p, &[0x90, 5, 0, 7, 1, 0x80, 0x80]).unwrap_err();
        assert!(refused.contains("2 of 3"), "{refused}");
    }

    #[test]
    fn v5_acks_carry_properties_and_reason_codes() {
        let p = v5();
        assert_eq!(ack_of(&p, &[0x20, 3, 1, 0, 0]), Ok(connected(true)));
        // Receive Maximum 10, Server Keep Alive 30.
        assert_eq!(
            ack_of(&p, &[0x20, 9, 0, 0, 6, 0x21, 0, 10, 0x13, 0, 30]),
            Ok(Ack::Connected {
                session_present: false,
                receive_maximum: Some(10),
                server_keep_alive: Some(30),
            })
        );
        let refused = ack_of(&p, &[0x20, 3, 0, 0x87, 0]).unwrap_err();
        assert!(refused.contains("CONNACK refused"), "{refused}");
        // Properties (a reason string) before the reason codes.
        assert_eq!(
            ack_of(&p, &[0x90, 10, 0, 7, 5, 0x1f, 0, 2, b'o', b'k', 1, 0]),
            Ok(Ack::Subscribed)
        );
        let refused = ack_of(&p, &[0x90, 6, 0, 7, 0, 1, 0x87, 0x97]).unwrap_err();
        assert!(refused.contains("2 of 3"), "{refused}");
    }

    #[test]
    fn v5_puback_and_disconnect() {
        let p = v5();
        let mut v = Vec::new();
        p.puback(7, &mut v);
        p.disconnect(&mut v);
        assert_eq!(v, [0x40, 2, 0, 7, 0xe0, 0]);
        let refused = |bytes: &[u8]| p.puback_refused(&frame(bytes).unwrap().unwrap().0);
        assert!(!refused(&[0x40, 2, 0, 7]));
        assert!(!refused(&[0x40, 3, 0, 7, 0x10]));
        assert!(refused(&[0x40, 3, 0, 7, 0x97]));
        let (f, _) = frame(&[0xe0, 1, 0x93]).unwrap().unwrap();
        assert_eq!(p.disconnect_reason(&f), "0x93");
        let (f, _) = frame(&[0xe0, 7, 0x8b, 5, 0x1f, 0, 2, b'b', b'y'])
            .unwrap()
            .unwrap();
        assert_eq!(p.disconnect_reason(&f), "0x8b (by)");
    }
}
