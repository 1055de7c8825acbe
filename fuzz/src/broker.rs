//! Broker driver: the fuzzer's bytes are read as a sequence of events from up to four
//! connections (accept, packet bytes arriving, the socket taking some output, close, time
//! passing) and drive the public `Broker` API the way the reactor does: effects are
//! drained after every call, `Close` writes what is pending and then calls `closed`,
//! `PauseRead` stops framing a connection's bytes until `ResumeRead`.
//!
//! Most packets are well-formed, built with the codec's encoders from fields drawn from
//! small vocabularies (so client ids collide, filters match topics and QoS flows get
//! acknowledged); some events are raw bytes. The input is decoded by hand (`Input`) rather
//! than with `arbitrary`, so the driver needs nothing but `sol` and `std` and runs under
//! `cargo test` too.
//!
//! Invariants checked: nothing panics; every byte a connection receives frames into
//! packets that decode, that a server may send, and the first of which is CONNACK; a
//! connection whose output was flushed at close ends on a packet boundary; a closed
//! connection has no output; `bytes_sent` and `bytes_received` count what went through.

use sol::broker::{Broker, CloseReason, ConnId, Effect, Limits};
use sol::codec::{
    decode, encode_subscribe, encode_unsubscribe, Connack, Connect, ConnectReturnCode, FixedHeader,
    Packet, Publish, QoS, Suback, Will, LEVEL_31, LEVEL_311,
};
use std::time::{Duration, Instant};

/// Connection slots the driver uses (and the broker's `max_connections`).
const CONNS: usize = 4;

/// Topic levels drawn for topic names; filters also draw wildcards.
const LEVELS: [&str; 6] = ["a", "b", "c", "$SYS", "", "broker"];
/// Client ids: few, so sessions are taken over and resumed.
const CLIENT_IDS: [&str; 4] = ["", "c0", "c1", "c2"];
/// Packet ids: few, so acknowledgements find their message.
const PACKET_IDS: [u16; 4] = [1, 2, 3, 65535];
/// Time steps in milliseconds: none, within a timeout, past the short ones, past all.
const STEPS_MS: [u64; 6] = [0, 100, 1_500, 11_000, 61_000, 3_600_000];

/// A reader over the fuzzer's bytes that yields zeros once they run out.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.u8()) % from.len()]
    }

    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = (usize::from(self.u8()) % (max + 1)).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn qos(&mut self) -> QoS {
        self.pick(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
    }

    /// A topic name of one to three levels (may be invalid: empty, `$SYS`).
    fn topic(&mut self) -> String {
        let levels = 1 + usize::from(self.u8()) % 3;
        let parts: Vec<&str> = (0..levels).map(|_| self.pick(&LEVELS)).collect();
        parts.join("/")
    }

    /// A topic filter: a topic whose levels may be `+`, and may end with `#`.
    fn filter(&mut self) -> String {
        let levels = 1 + usize::from(self.u8()) % 3;
        let parts: Vec<&str> = (0..levels)
            .map(|_| match self.u8() % 8 {
                0 => "+",
                1 => "#",
                _ => self.pick(&LEVELS),
            })
            .collect();
        parts.join("/")
    }
}

/// What the driver knows of one connection slot, as the reactor would.
#[derive(Default)]
struct Client {
    /// Accepted and not yet closed.
    open: bool,
    /// Flow control stopped reading it.
    paused: bool,
    /// Bytes read from the socket and not yet framed.
    inbound: Vec<u8>,
    /// Bytes the client has received and not yet framed into a whole packet.
    received: Vec<u8>,
    /// Packets the client has received on this connection.
    packets: usize,
}

/// The broker, the clock and the reactor's view of each connection.
struct Driver {
    broker: Broker,
    now: Instant,
    clients: [Client; CONNS],
    bytes_sent: u64,
    bytes_received: u64,
}

/// Runs the broker checks over `data`.
pub fn run(data: &[u8]) {
    let mut input = Input(data);
    let now = Instant::now();
    let broker = Broker::new(limits(input.u8()), now);
    let mut d = Driver {
        broker,
        now,
        clients: Default::default(),
        bytes_sent: 0,
        bytes_received: 0,
    };
    while !input.is_empty() {
        let conn = usize::from(input.u8()) % CONNS;
        match input.u8() % 8 {
            0 => d.accept(conn),
            1..=3 => {
                let bytes = packet(&mut input);
                let split = input.u8();
                d.arrive(conn, &bytes, split);
            }
            4 => {
                let bytes = input.bytes(32);
                d.arrive(conn, bytes, 0);
            }
            5 => {
                let n = usize::from(input.u16());
                d.write(conn, n);
            }
            6 => d.peer_closed(conn),
            _ => {
                let step = input.pick(&STEPS_MS);
                d.advance(Duration::from_millis(step));
            }
        }
        d.check();
    }
    // The sockets take everything at the end: every stream must end on a packet boundary.
    for conn in 0..CONNS {
        d.write(conn, usize::MAX);
        assert!(d.clients[conn].received.is_empty() || !d.clients[conn].open);
    }
    d.check();
}

/// Default caps, or small ones (chosen by the first byte) so that caps, queues, flow
/// control and timeouts are reached within a short input.
fn limits(choice: u8) -> Limits {
    let defaults = Limits {
        max_connections: CONNS,
        ..Limits::default()
    };
    if choice & 1 == 0 {
        return defaults;
    }
    Limits {
        max_inflight_messages: 2,
        max_inflight_incoming: 2,
        max_queued_messages: 3,
        max_queued_bytes: 64,
        max_queued_memory: 256,
        queue_qos0_messages: choice & 2 == 2,
        message_size_limit: 16,
        max_packet_size: 128,
        max_keepalive: 5,
        persistent_client_expiration: Some(Duration::from_secs(60)),
        max_subscriptions_per_client: 3,
        max_subscriptions: 5,
        max_topic_length: 12,
        max_topic_levels: 3,
        max_client_id_length: 2,
        max_retained_messages: 2,
        max_retained_bytes: 16,
        max_offline_sessions: 2,
        allow_zero_length_clientid: choice & 4 == 4,
        retain_available: choice & 8 == 8,
        track_durable: choice & 16 == 16,
        ..defaults
    }
}

/// The bytes of one packet a client might send, mostly well-formed.
fn packet(input: &mut Input<'_>) -> Vec<u8> {
    let kind = input.u8() % 16;
    let id = input.pick(&PACKET_IDS);
    let mut out = Vec::new();
    let topic;
    let will_topic;
    let p = match kind {
        0 | 1 => {
            let level = if input.u8().is_multiple_of(8) {
                LEVEL_31
            } else {
                LEVEL_311
            };
            let will = if input.bool() {
                will_topic = input.topic();
                Some(Will {
                    topic: &will_topic,
                    payload: input.bytes(8),
                    qos: input.qos(),
                    retain: input.bool(),
                })
            } else {
                None
            };
            let username = input.bool().then_some("u");
            Packet::Connect(Connect {
                level,
                clean_session: input.bool(),
                keep_alive: input.pick(&[0, 1, 5, 60]),
                client_id: input.pick(&CLIENT_IDS),
                will,
                username,
                password: (username.is_some() && input.bool()).then_some(b"pw".as_slice()),
            })
        }
        2..=5 => {
            let qos = input.qos();
            topic = input.topic();
            Packet::Publish(Publish {
                dup: input.bool(),
                qos,
                retain: input.bool(),
                topic: &topic,
                packet_id: (qos != QoS::AtMostOnce).then_some(id),
                payload: input.bytes(24),
            })
        }
        6 => Packet::Puback(id),
        7 => Packet::Pubrec(id),
        8 => Packet::Pubrel(id),
        9 => Packet::Pubcomp(id),
        10 => {
            let filters: Vec<(String, QoS)> = (0..1 + input.u8() % 3)
                .map(|_| (input.filter(), input.qos()))
                .collect();
            let filters: Vec<(&str, QoS)> = filters.iter().map(|(f, q)| (f.as_str(), *q)).collect();
            encode_subscribe(id, &filters, &mut out).expect("small filters encode");
            return out;
        }
        11 => {
            let filters: Vec<String> = (0..1 + input.u8() % 2).map(|_| input.filter()).collect();
            let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
            encode_unsubscribe(id, &filters, &mut out).expect("small filters encode");
            return out;
        }
        12 => Packet::Pingreq,
        13 => Packet::Disconnect,
        14 => Packet::Connack(Connack {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        }),
        _ => Packet::Suback(Suback {
            packet_id: id,
            return_codes: &[0],
        }),
    };
    p.to_vec().expect("small packets encode")
}

impl Driver {
    fn accept(&mut self, conn: ConnId) {
        if self.clients[conn].open {
            return;
        }
        self.clients[conn] = Client {
            open: true,
            ..Client::default()
        };
        self.broker.accepted(conn, 0, self.now);
        self.drain();
    }

    /// `bytes` arrive on `conn`'s socket: all of them, or all but the last `split % 4`
    /// when `split` says so, to exercise packets split across reads.
    fn arrive(&mut self, conn: ConnId, bytes: &[u8], split: u8) {
        if !self.clients[conn].open {
            return;
        }
        let hold = if split & 0x80 != 0 {
            usize::from(split % 4).min(bytes.len())
        } else {
            0
        };
        let taken = &bytes[..bytes.len() - hold];
        self.bytes_received += taken.len() as u64;
        self.broker.bytes_received(taken.len());
        self.clients[conn].inbound.extend_from_slice(taken);
        self.read(conn);
    }

    /// Frames and hands on `conn`'s buffered bytes until they run out, it is paused or it
    /// is closed, as `net::read` does.
    fn read(&mut self, conn: ConnId) {
        loop {
            let c = &self.clients[conn];
            if !c.open || c.paused || c.inbound.is_empty() {
                return;
            }
            let len = match FixedHeader::parse(&c.inbound) {
                Err(error) => {
                    self.broker.malformed(conn, error, self.now);
                    self.drain();
                    // The reactor stops reading a connection whose header is malformed.
                    self.close(conn, CloseReason::ProtocolError);
                    return;
                }
                Ok(None) => return,
                Ok(Some(header)) => header.packet_len(),
            };
            if len > self.broker.limits().max_packet_size {
                self.close(conn, CloseReason::PacketTooLarge);
                return;
            }
            if c.inbound.len() < len {
                return;
            }
            let frame: Vec<u8> = self.clients[conn].inbound.drain(..len).collect();
            match decode(&frame) {
                Ok(packet) => self.broker.handle(conn, packet, self.now),
                Err(error) => self.broker.malformed(conn, error, self.now),
            }
            self.drain();
        }
    }

    /// The socket of `conn` takes up to `n` bytes of its pending output.
    fn write(&mut self, conn: ConnId, n: usize) {
        if !self.clients[conn].open {
            return;
        }
        let mut taken = 0;
        let mut bytes = Vec::new();
        for seg in self.broker.output(conn) {
            let take = seg.len().min(n - taken);
            bytes.extend_from_slice(&seg[..take]);
            taken += take;
            if taken == n {
                break;
            }
        }
        self.receive(conn, &bytes);
        self.bytes_sent += taken as u64;
        self.broker.written(conn, taken, self.now);
        self.drain();
    }

    fn peer_closed(&mut self, conn: ConnId) {
        if self.clients[conn].open {
            self.close(conn, CloseReason::PeerClosed);
        }
    }

    /// Closes `conn` as the reactor does after `Effect::Close`: what is pending is
    /// written (the driver's socket takes it all), then the core is told.
    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        if !self.clients[conn].open {
            return;
        }
        self.write(conn, usize::MAX);
        let c = &mut self.clients[conn];
        assert!(c.received.is_empty(), "connection {conn} closed mid-packet");
        c.open = false;
        c.inbound.clear();
        self.broker.closed(conn, reason, self.now);
        self.drain();
    }

    fn advance(&mut self, step: Duration) {
        self.now += step;
        if self.broker.next_deadline().is_some_and(|t| t <= self.now) || step.is_zero() {
            self.broker.tick(self.now);
            self.drain();
        }
    }

    /// Carries out every pending effect, and reads connections that were resumed.
    fn drain(&mut self) {
        while let Some(effect) = self.broker.poll_effect() {
            match effect {
                Effect::Close { conn, reason } => self.close(conn, reason),
                Effect::PauseRead(conn) => {
                    if let Some(c) = self.clients.get_mut(conn) {
                        c.paused = c.open;
                    }
                }
                Effect::ResumeRead(conn) => {
                    if let Some(c) = self.clients.get_mut(conn) {
                        if c.paused {
                            c.paused = false;
                            self.read(conn);
                        }
                    }
                }
                Effect::Durable(_) => {}
            }
        }
        while let Some(conn) = self.broker.poll_writable() {
            assert!(conn < CONNS && self.clients[conn].open, "writable: {conn}");
        }
    }

    /// `conn`'s client receives `bytes`: frame and decode what is whole.
    fn receive(&mut self, conn: ConnId, bytes: &[u8]) {
        let c = &mut self.clients[conn];
        c.received.extend_from_slice(bytes);
        let mut offset = 0;
        loop {
            let rest = &c.received[offset..];
            let header = FixedHeader::parse(rest).expect("the broker writes valid headers");
            let Some(header) = header else { break };
            if rest.len() < header.packet_len() {
                break;
            }
            let frame = &rest[..header.packet_len()];
            let packet = decode(frame).expect("the broker writes packets that decode");
            assert!(
                !matches!(
                    packet,
                    Packet::Connect(_)
                        | Packet::Subscribe(_)
                        | Packet::Unsubscribe(_)
                        | Packet::Pingreq
                        | Packet::Disconnect
                ),
                "a server never sends {packet:?}"
            );
            assert_eq!(
                c.packets == 0,
                matches!(packet, Packet::Connack(_)),
                "CONNACK comes first, and once: {packet:?}"
            );
            c.packets += 1;
            offset += header.packet_len();
        }
        c.received.drain(..offset);
    }

    /// Invariants that hold between events.
    fn check(&self) {
        for (conn, c) in self.clients.iter().enumerate() {
            if !c.open {
                assert!(
                    self.broker.output(conn).next().is_none(),
                    "output for closed {conn}"
                );
                assert!(!self.broker.has_output(conn));
            }
        }
        let stats = self.broker.stats();
        assert_eq!(stats.bytes_sent, self.bytes_sent);
        assert_eq!(stats.bytes_received, self.bytes_received);
        assert!(self.broker.clients_connected() <= CONNS);
    }
}
