//! The shared packet-by-packet test harness for the broker core, used by `tests.rs` and
//! `conformance_tests.rs`: a [`Broker`] without sockets, a clock, and the bookkeeping a
//! reactor does.
//!
//! The core is driven only through its public API, the way the reactor does it: packets go
//! in through [`Broker::handle`] (or, for malformed input, as raw bytes through the codec
//! and [`Broker::malformed`]), and what a client would receive is read back as bytes with
//! [`Broker::fill_iovecs`] and decoded with the codec, so every answer a test checks is
//! also checked to be well-formed on the wire. A [`Effect::Close`] is carried out like the
//! reactor does: pending output is written first (the harness's socket takes everything),
//! then [`Broker::closed`] is called. After every round of effects the harness checks that
//! the broker's `held_bytes` (the `max_queued_memory` accounting) is the sum over its
//! sessions.
//!
//! The harness is a child of `broker`, so tests may also look at the broker's private state
//! through [`Harness::broker`].

use super::*;
use crate::codec::{
    decode, Connect, FixedHeader, Properties, Publish, Subscribe, Unsubscribe, Will as WireWill,
};
pub(super) use std::time::Duration;

pub(super) const Q0: QoS = QoS::AtMostOnce;
pub(super) const Q1: QoS = QoS::AtLeastOnce;
pub(super) const Q2: QoS = QoS::ExactlyOnce;

/// What a client sees on the wire, decoded by the codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    Connack {
        present: bool,
        code: u8,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        dup: bool,
        retain: bool,
        id: Option<u16>,
    },
    Puback(u16),
    Pubrec(u16),
    Pubrel(u16),
    Pubcomp(u16),
    Suback(u16, Vec<u8>),
    Unsuback(u16),
    Pingresp,
}

/// Decodes a byte stream written by the broker into packets.
pub(super) fn parse(mut bytes: &[u8]) -> Vec<Seen> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header = FixedHeader::parse(bytes)
            .expect("the broker writes well-formed headers")
            .expect("the broker writes whole packets");
        let (frame, rest) = bytes.split_at(header.packet_len());
        bytes = rest;
        let packet = decode(frame, ProtocolVersion::V311);
        let seen = match packet.expect("the broker writes well-formed packets") {
            Packet::Connack(c) => Seen::Connack {
                present: c.session_present,
                code: c.reason.to_v311_connack(),
            },
            Packet::Publish(p) => Seen::Publish {
                topic: p.topic.to_string(),
                payload: p.payload.to_vec(),
                qos: p.qos,
                dup: p.dup,
                retain: p.retain,
                id: p.packet_id,
            },
            Packet::Puback(a) => Seen::Puback(a.packet_id),
            Packet::Pubrec(a) => Seen::Pubrec(a.packet_id),
            Packet::Pubrel(a) => Seen::Pubrel(a.packet_id),
            Packet::Pubcomp(a) => Seen::Pubcomp(a.packet_id),
            Packet::Suback(s) => Seen::Suback(s.packet_id, s.reason_codes.to_vec()),
            Packet::Unsuback(u) => Seen::Unsuback(u.packet_id),
            Packet::Pingresp => Seen::Pingresp,
            other => panic!("a server never sends {other:?}"),
        };
        out.push(seen);
    }
    out
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_bytes(b: &[u8]) -> &'static [u8] {
    Box::leak(b.to_vec().into_boxed_slice())
}

pub(super) fn publish(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    id: Option<u16>,
) -> Packet<'static> {
    publish_dup(topic, payload, qos, retain, id, false)
}

pub(super) fn publish_dup(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    id: Option<u16>,
    dup: bool,
) -> Packet<'static> {
    Packet::Publish(Publish {
        dup,
        qos,
        retain,
        topic: leak_str(topic),
        packet_id: id,
        properties: Properties::NONE,
        payload: leak_bytes(payload),
    })
}

pub(super) fn subscribe(id: u16, filters: &[(&str, QoS)]) -> Packet<'static> {
    let mut payload = Vec::new();
    for (f, q) in filters {
        payload.extend_from_slice(&(f.len() as u16).to_be_bytes());
        payload.extend_from_slice(f.as_bytes());
        payload.push(*q as u8);
    }
    Packet::Subscribe(Subscribe {
        packet_id: id,
        properties: Properties::NONE,
        payload: leak_bytes(&payload),
    })
}

pub(super) fn unsubscribe(id: u16, filters: &[&str]) -> Packet<'static> {
    let mut payload = Vec::new();
    for f in filters {
        payload.extend_from_slice(&(f.len() as u16).to_be_bytes());
        payload.extend_from_slice(f.as_bytes());
    }
    Packet::Unsubscribe(Unsubscribe {
        packet_id: id,
        properties: Properties::NONE,
        payload: leak_bytes(&payload),
    })
}

pub(super) fn connect(
    id: &str,
    clean: bool,
    keep_alive: u16,
    will: Option<WireWill<'static>>,
) -> Packet<'static> {
    Packet::Connect(Connect {
        version: ProtocolVersion::V311,
        bridge: false,
        clean_session: clean,
        keep_alive,
        properties: Properties::NONE,
        client_id: leak_str(id),
        will,
        username: None,
        password: None,
    })
}

pub(super) fn will(topic: &'static str, qos: QoS, retain: bool) -> Option<WireWill<'static>> {
    Some(WireWill {
        topic,
        properties: Properties::NONE,
        payload: b"gone",
        qos,
        retain,
    })
}

/// A CONNECT frame built by hand: protocol name, level, flags, keep-alive 60, payload.
pub(super) fn connect_bytes(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    body.extend_from_slice(payload);
    let mut frame = vec![0x10, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// A broker, a clock, and the bookkeeping a reactor does.
pub(super) struct Harness {
    pub(super) broker: Broker,
    pub(super) now: Instant,
    /// Connections the broker closed, with the reason, in order.
    pub(super) closed: Vec<(ConnId, CloseReason)>,
    /// Connections the broker has told the reactor to stop reading, in order.
    pub(super) paused: Vec<ConnId>,
    /// What the broker has asked a store to make durable, in order.
    pub(super) durable: Vec<Durable>,
    /// Bytes written to a connection just before the broker closed it.
    last_words: HashMap<ConnId, Vec<u8>>,
}

impl Harness {
    /// A broker with the default limits and no `$SYS` updates.
    pub(super) fn new() -> Harness {
        Harness::with(Limits::default())
    }

    /// A broker with `limits`, but no `$SYS` updates: they would interleave with the output
    /// a test checks.
    pub(super) fn with(limits: Limits) -> Harness {
        Harness::with_sys(Limits {
            sys_interval: Duration::ZERO,
            ..limits
        })
    }

    /// A broker with `limits` exactly as given, `sys_interval` included, for `$SYS` tests.
    pub(super) fn with_sys(limits: Limits) -> Harness {
        let now = Instant::now();
        Harness {
            broker: Broker::new(limits, now),
            now,
            closed: Vec::new(),
            paused: Vec::new(),
            durable: Vec::new(),
            last_words: HashMap::new(),
        }
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.broker.tick(self.now);
        self.effects();
    }

    /// Takes every byte pending for `conn`, as a socket that accepts everything would.
    pub(super) fn drain(&mut self, conn: ConnId) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = self.broker.take_output(conn, self.now) {
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// Carries out effects like the reactor: a Close writes what is pending, then closes.
    /// Then checks the `max_queued_memory` accounting against the sessions.
    pub(super) fn effects(&mut self) {
        while let Some(e) = self.broker.poll_effect() {
            match e {
                Effect::Close { conn, reason } => {
                    let bytes = self.drain(conn);
                    self.last_words.entry(conn).or_default().extend(bytes);
                    self.closed.push((conn, reason));
                    self.broker.closed(conn, reason, self.now);
                }
                Effect::PauseRead(c) => self.paused.push(c),
                Effect::ResumeRead(c) => self.paused.retain(|&p| p != c),
                Effect::Durable(d) => self.durable.push(d),
            }
        }
        let held: usize = self
            .broker
            .sessions
            .iter()
            .map(sessions::Session::held_bytes)
            .sum();
        assert_eq!(
            self.broker.sessions.held_bytes(),
            held,
            "max_queued_memory accounting drifted"
        );
    }

    pub(super) fn send(&mut self, conn: ConnId, packet: Packet<'_>) {
        self.broker.handle(conn, packet, self.now);
        self.effects();
    }

    /// Feeds raw bytes from a client through framing and [`Broker::receive`], as the
    /// reactor does.
    pub(super) fn feed(&mut self, conn: ConnId, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match FixedHeader::parse(bytes) {
                Err(e) => {
                    self.broker.malformed(conn, e, self.now);
                    break;
                }
                Ok(None) => panic!("test fed a partial packet"),
                Ok(Some(h)) => {
                    let (frame, rest) = bytes.split_at(h.packet_len());
                    bytes = rest;
                    let body = &frame[h.header_len..];
                    self.broker.receive(conn, &h, body, self.now);
                }
            }
            self.effects();
        }
        self.effects();
    }

    pub(super) fn open_with(&mut self, conn: ConnId, packet: Packet<'_>) -> Seen {
        self.broker.accepted(conn, 0, self.now);
        self.send(conn, packet);
        let out = self.take(conn);
        assert_eq!(out.len(), 1, "only a CONNACK: {out:?}");
        out[0].clone()
    }

    pub(super) fn open(&mut self, conn: ConnId, id: &str, clean: bool) -> Seen {
        self.open_with(conn, connect(id, clean, 60, None))
    }

    /// Everything the client on `conn` has received since the last call, decoded.
    pub(super) fn take(&mut self, conn: ConnId) -> Vec<Seen> {
        parse(&self.take_bytes(conn))
    }

    /// Every byte the client on `conn` has received since the last call, including what was
    /// written just before the broker closed the connection.
    pub(super) fn take_bytes(&mut self, conn: ConnId) -> Vec<u8> {
        let mut bytes = Vec::new();
        loop {
            let chunk = self.drain(conn);
            self.effects();
            let last = self.last_words.remove(&conn);
            if chunk.is_empty() && last.is_none() {
                return bytes;
            }
            bytes.extend(chunk);
            bytes.extend(last.unwrap_or_default());
        }
    }

    pub(super) fn is_closed(&self, conn: ConnId) -> Option<CloseReason> {
        self.closed
            .iter()
            .rev()
            .find(|(c, _)| *c == conn)
            .map(|(_, r)| *r)
    }

    /// A subscriber on `conn` with client id `id`, subscribed to `filters`, output drained.
    pub(super) fn subscriber(&mut self, conn: ConnId, id: &str, filters: &[(&str, QoS)]) {
        self.open(conn, id, true);
        self.send(conn, subscribe(1, filters));
        self.take(conn);
    }
}

pub(super) fn pub_seen(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    id: Option<u16>,
) -> Seen {
    Seen::Publish {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        dup: false,
        retain,
        id,
    }
}

pub(super) fn connack(present: bool, code: u8) -> Seen {
    Seen::Connack { present, code }
}

impl Broker {
    /// Takes one `writev`'s worth of `conn`'s pending output, as a socket that accepts
    /// everything would; `None` when nothing is pending. For tests here and in `store`.
    pub(crate) fn take_output(&mut self, conn: ConnId, now: Instant) -> Option<Vec<u8>> {
        let mut chunk = Vec::new();
        let mut iov = [IoSlice::new(&[]); 64];
        let n = self.fill_iovecs(conn, &mut iov);
        for s in &iov[..n] {
            chunk.extend_from_slice(s);
        }
        if chunk.is_empty() {
            return None;
        }
        self.written(conn, chunk.len(), now);
        Some(chunk)
    }
}
