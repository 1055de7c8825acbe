//! The few MQTT 3.1.1 packets the generator sends, and a framer for what it receives, on top
//! of the broker's own codec (`sol::codec`), so the wire format is written once.

use sol::codec::{
    encode_subscribe, Connect, FixedHeader, Packet, PerSubscriber, Properties, ProtocolVersion,
    PublishHeader, QoS, ReasonCode, SharedParts,
};

/// The version the generator speaks.
const VERSION: ProtocolVersion = ProtocolVersion::V311;

/// Appends an encoded packet (the generator only builds packets that fit).
fn put_packet(packet: &Packet<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(
        &packet
            .to_vec(VERSION)
            .expect("generator packets are small and valid"),
    );
}

/// CONNECT with no will and no credentials; `clean_session` false keeps the session (its
/// subscriptions and queued messages) while the client is away.
pub fn connect(client_id: &str, keepalive: u16, clean_session: bool, out: &mut Vec<u8>) {
    let connect = Connect {
        version: VERSION,
        clean_session,
        keep_alive: keepalive,
        properties: Properties::NONE,
        client_id,
        will: None,
        username: None,
        password: None,
    };
    put_packet(&Packet::Connect(connect), out);
}

/// SUBSCRIBE to `filters`, all at `qos`.
pub fn subscribe<S: AsRef<str>>(packet_id: u16, filters: &[S], qos: u8, out: &mut Vec<u8>) {
    let qos = QoS::from_bits(qos).expect("the generator subscribes at QoS 0 or 1");
    let filters: Vec<(&str, QoS)> = filters.iter().map(|f| (f.as_ref(), qos)).collect();
    encode_subscribe(VERSION, packet_id, Properties::NONE, &filters, out)
        .expect("the generator's filters are short");
}

/// The fixed header and topic of a PUBLISH whose payload is `payload_len` bytes; the packet id
/// (QoS > 0) and payload follow.
pub fn publish_prefix(topic: &str, qos: u8, retain: bool, payload_len: usize) -> Vec<u8> {
    let qos = QoS::from_bits(qos).expect("the generator publishes at QoS 0, 1 or 2");
    // The packet id is written by the caller; only its presence shapes the fixed header.
    let id = (qos != QoS::AtMostOnce).then_some(1);
    let shared = SharedParts {
        topic_field: 2 + topic.len(),
        properties: 0,
        payload: payload_len,
    };
    let header = PublishHeader::new(
        VERSION,
        false,
        qos,
        retain,
        id,
        shared,
        &PerSubscriber::default(),
    )
    .expect("the generator's messages are small");
    let mut out = Vec::with_capacity(5 + 2 + topic.len());
    out.extend_from_slice(header.fixed_header());
    out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    out
}

/// PUBACK for `packet_id`.
pub fn puback(packet_id: u16, out: &mut Vec<u8>) {
    put_packet(&Packet::puback(packet_id), out);
}

/// PINGREQ.
pub fn pingreq(out: &mut Vec<u8>) {
    put_packet(&Packet::Pingreq, out);
}

/// DISCONNECT.
pub fn disconnect(out: &mut Vec<u8>) {
    put_packet(&Packet::disconnect(), out);
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
    /// CONNACK accepted; the session-present flag [MQTT-3.2.2-2].
    Connected {
        /// The broker kept this client's session from an earlier connection.
        session_present: bool,
    },
    /// SUBACK granting every filter of the SUBSCRIBE.
    Subscribed,
}

/// Decodes a CONNACK or SUBACK frame.
pub fn ack(f: &Frame<'_>) -> Result<Ack, String> {
    let refused = |rc: &u8| ReasonCode(*rc).is_error();
    match sol::codec::decode(f.packet, VERSION).map_err(|e| format!("{e:?}"))? {
        Packet::Connack(c) if c.reason == ReasonCode::SUCCESS => Ok(Ack::Connected {
            session_present: c.session_present,
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

/// A received PUBLISH: QoS, packet id (0 for QoS 0) and payload. Deliberately not the full
/// decoder: the subscriber's hot path skips UTF-8 validation of topics it did not ask for.
pub fn parse_publish<'a>(f: &Frame<'a>) -> Option<(u8, u16, &'a [u8])> {
    let qos = (f.header >> 1) & 3;
    let tlen = u16::from_be_bytes(f.body.get(0..2)?.try_into().ok()?) as usize;
    let mut at = 2 + tlen;
    let mut id = 0;
    if qos > 0 {
        id = u16::from_be_bytes(f.body.get(at..at + 2)?.try_into().ok()?);
        at += 2;
    }
    Some((qos, id, f.body.get(at..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_prefix_encodes_the_remaining_length() {
        for (payload, want) in [(0usize, vec![0x30u8, 3]), (200, vec![0x30, 0xCB, 0x01])] {
            let prefix = publish_prefix("t", 0, false, payload);
            assert_eq!(&prefix[..want.len()], &want[..], "{payload}");
        }
    }

    #[test]
    fn publish_frames_and_parses_back() {
        let payload = [7u8; 200];
        let mut pkt = publish_prefix("bench/3", 1, false, payload.len());
        pkt.extend_from_slice(&42u16.to_be_bytes());
        pkt.extend_from_slice(&payload);
        pkt.extend_from_slice(&[0x40, 0x02, 0, 1]); // a second packet behind it
        let (f, used) = frame(&pkt).unwrap().unwrap();
        assert_eq!(used, pkt.len() - 4);
        assert_eq!(parse_publish(&f), Some((1, 42, &payload[..])));
        assert_eq!(frame(&pkt[..used - 1]), Ok(None));
        let (f2, _) = frame(&pkt[used..]).unwrap().unwrap();
        assert_eq!(f2.header, 0x40);
    }

    #[test]
    fn connect_is_well_formed() {
        for clean in [true, false] {
            let mut v = Vec::new();
            connect("abc", 60, clean, &mut v);
            let (f, used) = frame(&v).unwrap().unwrap();
            assert_eq!((f.header, used, f.body.len()), (0x10, v.len(), 15));
            assert_eq!(&f.body[..6], b"\x00\x04MQTT");
            assert_eq!(f.body[7] & 0x02 != 0, clean, "clean-session flag");
        }
    }

    #[test]
    fn retained_publish_sets_the_retain_bit() {
        assert_eq!(publish_prefix("t", 1, true, 20)[0], 0x33);
        assert_eq!(publish_prefix("t", 0, false, 20)[0], 0x30);
    }

    #[test]
    fn subscribe_carries_every_filter_and_its_suback_is_checked() {
        let mut v = Vec::new();
        subscribe(7, &["a/b", "c/+/d"], 1, &mut v);
        match sol::codec::decode(&v, VERSION).unwrap() {
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

    fn ack_of(bytes: &[u8]) -> Result<Ack, String> {
        let (f, _) = frame(bytes).unwrap().unwrap();
        ack(&f)
    }

    #[test]
    fn acks_decode_session_present_and_refusals() {
        assert_eq!(
            ack_of(&[0x20, 2, 1, 0]),
            Ok(Ack::Connected {
                session_present: true
            })
        );
        assert_eq!(
            ack_of(&[0x20, 2, 0, 0]),
            Ok(Ack::Connected {
                session_present: false
            })
        );
        assert!(ack_of(&[0x20, 2, 0, 5]).is_err());
        assert_eq!(ack_of(&[0x90, 4, 0, 7, 1, 0]), Ok(Ack::Subscribed));
        let refused = ack_of(&[0x90, 5, 0, 7, 1, 0x80, 0x80]).unwrap_err();
        assert!(refused.contains("2 of 3"), "{refused}");
    }
}
