//! One connection of a bridge to its upstream broker, as MQTT: the client side of the
//! protocol, sans I/O. It writes CONNECT, then (once CONNACK accepts) the upstream
//! subscriptions and the state notification; it frames what the upstream sends and hands
//! each packet, renamed, to the core as the bridge's local connection would send it; and
//! it turns the core's frames for that connection (MQTT 5.0 PUBLISHes of the outbox and
//! acknowledgments) into the upstream's version and names.
//!
//! Packet ids pass through unchanged both ways: the core numbers what it sends the bridge
//! (the outbox's inflight window), the upstream numbers what it sends; each side's ids
//! are the other side's acknowledgments. The two subscription packets take ids 1 and 2
//! before anything of the core's is forwarded, so they never meet one of its ids.
//!
//! An MQTT 5.0 upstream's CONNACK may accept less than the outbox sends: a Maximum QoS
//! and Retain Available 0. Messages then go up at the lower QoS, without RETAIN, and
//! the uplink completes for the core the flows the upstream will not: a message sent at
//! QoS 0 is acknowledged to the core at once, a QoS 2 message sent at QoS 1 when its
//! PUBACK arrives, and the core's PUBREL of such a message stays here.
//!
//! The reactor owns the socket and the clock; this file must not touch either.

use super::mapping::Mappings;
use crate::codec::{
    self, encode_subscribe, encode_unsubscribe, property, Ack, Connect, FixedHeader, Packet,
    Properties, Property, ProtocolVersion, Publish, QoS, RetainHandling, SubscriptionOptions, Will,
};
use crate::config::{BridgeConfig, BridgeProtocol, Direction, TopicMapping};
use std::time::{Duration, Instant};

/// Most bytes of output the uplink holds before it stops taking the core's frames:
/// beyond it the outbox's messages wait in the core (and its caps apply).
pub const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Largest packet accepted from the upstream when the bridge sets no limit: a message
/// larger than this closes the connection (and is logged) rather than grow the buffer.
pub const MAX_INCOMING_PACKET: usize = 16 << 20;

/// Most bytes of PUBLISHes kept when an upstream sends them before its CONNACK.
pub(crate) const MAX_EARLY: usize = 256 * 1024;

/// What the uplink hands to the core.
#[derive(Debug)]
pub enum ToCore<'a> {
    /// CONNACK accepted: attach the outbox's session, sending at most `receive_maximum`
    /// unacknowledged messages of at most `maximum_packet_size` bytes.
    Up {
        /// The upstream's Receive Maximum (or the bridge's window).
        receive_maximum: u16,
        /// The upstream's Maximum Packet Size (or `bridge_max_packet_size`).
        maximum_packet_size: u32,
    },
    /// A packet as the bridge's local connection sends it.
    Packet(Packet<'a>),
}

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// CONNECT sent, CONNACK awaited.
    AwaitConnack,
    /// Subscriptions sent, this many acknowledgments awaited; the core's frames already
    /// flow (they follow the SUBSCRIBEs on the connection, as Mosquitto's do).
    Subscribing(u8),
    /// Forwarding both ways.
    Up,
}

/// Counters of one connection, added to the bridge's by the reactor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Messages sent upstream.
    pub messages: u64,
    /// Of those, re-sent (DUP) after a reconnect.
    pub resent: u64,
    /// Messages not sent: larger than the upstream accepts, or on no mapping.
    pub dropped: u64,
    /// Messages received from upstream and handed to the core.
    pub received: u64,
}

/// What the upstream speaks and, from its CONNACK, accepts.
#[derive(Clone, Copy, Debug)]
struct Peer {
    /// The version spoken upstream.
    version: ProtocolVersion,
    /// Its Maximum QoS (2 when it sends none): no PUBLISH goes up above it.
    max_qos: QoS,
    /// Its Retain Available: without it no PUBLISH goes up with RETAIN 1.
    retain: bool,
}

/// How a bridge's CONNECT is made, beyond its configuration: what it learned from
/// upstreams that refused it, as Mosquitto's bridge does (`try_private_accepted`,
/// its `max_qos` and `retain_available` after a refusal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectShape {
    /// The bridge marker in the protocol level (`try_private`, 3.x only).
    pub marker: bool,
    /// The state notification will's QoS (1 unless refused).
    pub will_qos: QoS,
    /// Whether that will is retained (unless refused).
    pub will_retain: bool,
}

impl ConnectShape {
    /// As configured: the marker if `try_private`, a retained QoS 1 will.
    pub fn configured(cfg: &BridgeConfig) -> ConnectShape {
        ConnectShape {
            marker: cfg.try_private,
            will_qos: QoS::AtLeastOnce,
            will_retain: true,
        }
    }

    /// The shape to try next after a CONNACK refused this one with `reason` (`will`:
    /// the CONNECT had one; `max_qos`: the CONNACK's Maximum QoS), if the refusal is
    /// one the bridge can answer by leaving something out:
    /// - 3.x "unacceptable protocol version" to a marked CONNECT [MQTT-3.1.2-2]: the
    ///   upstream does not know the marker;
    /// - 5.0 "Retain not supported" with a retained will [MQTT-3.2.2-13 of 5.0];
    /// - 5.0 "QoS not supported" with a will above QoS 0 [MQTT-3.2.2-12 of 5.0]: the
    ///   will at the CONNACK's Maximum QoS, or one lower.
    ///
    /// Each step takes something away, so a bridge reshapes its CONNECT a few times at
    /// most; any other refusal is a failure.
    pub fn after_refusal(
        self,
        reason: codec::ReasonCode,
        will: bool,
        max_qos: Option<u8>,
    ) -> Option<ConnectShape> {
        use codec::ReasonCode as R;
        match reason {
            R::UNSUPPORTED_PROTOCOL_VERSION if self.marker => Some(ConnectShape {
                marker: false,
                ..self
            }),
            R::RETAIN_NOT_SUPPORTED if will && self.will_retain => Some(ConnectShape {
                will_retain: false,
                ..self
            }),
            R::QOS_NOT_SUPPORTED if will && self.will_qos != QoS::AtMostOnce => {
                let lower = (self.will_qos as u8).saturating_sub(1);
                let qos = max_qos
                    .filter(|&m| m < self.will_qos as u8)
                    .unwrap_or(lower);
                Some(ConnectShape {
                    will_qos: QoS::from_bits(qos).unwrap_or(QoS::AtMostOnce),
                    ..self
                })
            }
            _ => None,
        }
    }

    /// What this shape left out of `was`, the one refused before it, as the log says it
    /// (the refusal named the part: [`ConnectShape::after_refusal`] changes one at a time).
    /// The will, if it changed; else the marker, which a 5.0 CONNECT never carried
    /// whatever `was` says.
    pub fn change_from(self, was: ConnectShape) -> String {
        if (self.will_qos, self.will_retain) == (was.will_qos, was.will_retain) {
            return "without try_private's bridge marker (try_private false skips this)".into();
        }
        let retained = if self.will_retain { "" } else { "unretained, " };
        let qos = self.will_qos as u8;
        format!("with the state notification's will {retained}at QoS {qos}")
    }
}

/// One connection to the upstream. See the module documentation.
#[derive(Debug)]
pub struct Uplink {
    /// The upstream's version and limits.
    peer: Peer,
    /// Where the connection is.
    state: State,
    /// Bytes of a partial packet from upstream.
    input: Vec<u8>,
    /// Bytes for the upstream not written yet.
    output: Vec<u8>,
    /// Keep-alive interval.
    keepalive: Duration,
    /// When something was last written (a PINGREQ is due a keep-alive later).
    last_sent: Instant,
    /// When something was last read from the upstream: a steady stream out to an
    /// upstream that has gone silent (a half-open connection: a cut cellular link, a
    /// NAT that forgot it, a host that lost power) is found by a PINGREQ a keep-alive
    /// after it last spoke, as libmosquitto's keep-alive does.
    last_received: Instant,
    /// When an unanswered PINGREQ was sent.
    ping_sent: Option<Instant>,
    /// How its CONNECT was made (the marker, the will's QoS and retain).
    shape: ConnectShape,
    /// The shape to connect with next, when the upstream refused this one for what
    /// it can change ([`Uplink::reshaped`]).
    reshaped: Option<ConnectShape>,
    /// Largest packet the upstream accepts (0: no limit).
    max_packet: usize,
    /// PUBLISHes the upstream sent before its CONNACK, handled right after it.
    early: Vec<u8>,
    /// Packet ids of the core's QoS 2 messages sent at QoS 1: their PUBACK is the
    /// core's PUBREC and PUBCOMP.
    as_qos1: Vec<u16>,
    /// Packet ids of QoS 2 messages the uplink acknowledged to the core itself: the
    /// core's PUBREL for them is not the upstream's business.
    released: Vec<u16>,
    /// Counters since it connected.
    pub sent: Sent,
}

/// The version a bridge speaks upstream.
pub fn protocol_version(p: BridgeProtocol) -> ProtocolVersion {
    match p {
        BridgeProtocol::V31 => ProtocolVersion::V31,
        BridgeProtocol::V311 => ProtocolVersion::V311,
        BridgeProtocol::V5 => ProtocolVersion::V5,
    }
}

/// The topic of a bridge's state notification: `notification_topic`, or Mosquitto's
/// `$SYS/broker/connection/<remote_clientid>/state`.
pub fn notification_topic(cfg: &BridgeConfig) -> String {
    cfg.notification_topic
        .clone()
        .unwrap_or_else(|| format!("$SYS/broker/connection/{}/state", cfg.remote_clientid))
}

impl Uplink {
    /// A connection of bridge `cfg` whose socket is now open: CONNECT, made as `shape`
    /// says ([`crate::bridge::Bridge::connect_shape`]), is waiting to be written.
    pub fn new(
        cfg: &BridgeConfig,
        receive_maximum: u16,
        shape: ConnectShape,
        now: Instant,
    ) -> Uplink {
        let version = protocol_version(cfg.protocol);
        // The codec writes the marker for 3.x only (5.0 asks No Local per subscription).
        let shape = ConnectShape {
            marker: shape.marker && version != ProtocolVersion::V5,
            ..shape
        };
        let mut uplink = Uplink {
            peer: Peer {
                version,
                max_qos: QoS::ExactlyOnce,
                retain: true,
            },
            state: State::AwaitConnack,
            input: Vec::new(),
            output: Vec::new(),
            keepalive: Duration::from_secs(u64::from(cfg.keepalive)),
            last_sent: now,
            last_received: now,
            ping_sent: None,
            shape,
            reshaped: None,
            max_packet: cfg.max_packet_size as usize,
            early: Vec::new(),
            as_qos1: Vec::new(),
            released: Vec::new(),
            sent: Sent::default(),
        };
        let mut props = Vec::new();
        if version == ProtocolVersion::V5 {
            let _ = Property::U16(property::RECEIVE_MAXIMUM, receive_maximum).write(&mut props);
            if !cfg.cleansession {
                let expiry = cfg.session_expiry.unwrap_or(u32::MAX);
                let _ = Property::U32(property::SESSION_EXPIRY_INTERVAL, expiry).write(&mut props);
            }
        }
        let topic = notification_topic(cfg);
        let will = (cfg.notifications && !cfg.notifications_local_only).then(|| Will {
            topic: &topic,
            properties: Properties::NONE,
            payload: b"0",
            qos: shape.will_qos,
            retain: shape.will_retain,
        });
        let connect = Connect {
            version,
            clean_session: cfg.cleansession,
            keep_alive: cfg.keepalive,
            properties: Properties::from_bytes(&props),
            client_id: &cfg.remote_clientid,
            will,
            username: cfg.remote_username.as_deref(),
            password: cfg.remote_password.as_deref().map(str::as_bytes),
            // try_private: a 3.x upstream that knows the marker sends nothing back
            // (the codec writes it for 3.x only; 5.0 asks No Local per subscription).
            bridge: shape.marker,
        };
        uplink.put(&Packet::Connect(connect));
        uplink
    }

    /// The CONNECT to try next, when the upstream refused this one for something the
    /// bridge can leave out ([`ConnectShape::after_refusal`]); `None` for any other
    /// refusal, or none.
    pub fn reshaped(&self) -> Option<ConnectShape> {
        self.reshaped
    }

    /// Whether the upstream accepted the connection and the subscriptions are made.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// Bytes waiting to be written upstream.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// The socket took `n` bytes of [`Uplink::output`].
    pub fn wrote(&mut self, n: usize, now: Instant) {
        self.output.drain(..n.min(self.output.len()));
        if n > 0 {
            self.last_sent = now;
        }
    }

    /// Whether the uplink takes more of the core's frames now: from the upstream's
    /// CONNACK on, when the bridge also says it is connected (state `1`).
    pub fn wants_core_output(&self) -> bool {
        self.state != State::AwaitConnack && self.output.len() < OUTPUT_HIGH_WATER
    }

    /// Bytes read from the upstream: every whole packet is handled, what concerns the
    /// core handed to `core`. An error ends the connection (the reason is for the log).
    pub fn received(
        &mut self,
        bytes: &[u8],
        now: Instant,
        cfg: &BridgeConfig,
        mappings: &Mappings,
        core: &mut dyn FnMut(ToCore<'_>),
    ) -> Result<(), String> {
        if !bytes.is_empty() {
            self.last_received = now;
        }
        self.input.extend_from_slice(bytes);
        let mut start = 0;
        let result = loop {
            let rest = &self.input[start..];
            let header = match FixedHeader::parse(rest) {
                Ok(Some(h)) => h,
                Ok(None) => break Ok(()),
                Err(e) => break Err(format!("malformed packet from upstream: {e}")),
            };
            if header.remaining_len > MAX_INCOMING_PACKET {
                break Err(format!(
                    "upstream packet of {} bytes is larger than {MAX_INCOMING_PACKET}",
                    header.remaining_len
                ));
            }
            let end = header.header_len + header.remaining_len;
            if rest.len() < end {
                break Ok(());
            }
            let frame = &rest[header.header_len..end];
            let packet = match codec::decode_packet(&header, frame, self.peer.version) {
                Ok(p) => p,
                Err(e) => break Err(format!("malformed packet from upstream: {e}")),
            };
            match packet {
                Packet::Pingresp => self.ping_sent = None,
                // The keep-alive the upstream asks for replaces ours [MQTT-3.2.2-21 of 5.0].
                Packet::Connack(c) => {
                    if let Some(secs) = c.properties.u16(property::SERVER_KEEP_ALIVE) {
                        self.keepalive = Duration::from_secs(u64::from(secs.max(1)));
                    }
                    if self.state == State::AwaitConnack {
                        let max_qos = c.properties.byte(property::MAXIMUM_QOS);
                        let will = cfg.notifications && !cfg.notifications_local_only;
                        self.reshaped = self.shape.after_refusal(c.reason, will, max_qos);
                    }
                }
                // A QoS 2 message sent at QoS 1 is through: the core's flow completes.
                Packet::Puback(a) if take(&mut self.as_qos1, a.packet_id) => {
                    self.released.push(a.packet_id);
                    acknowledge_unsent(a.packet_id, QoS::ExactlyOnce, &mut |p| {
                        core(ToCore::Packet(p))
                    });
                    start += end;
                    continue;
                }
                _ => {}
            }
            if self.state == State::AwaitConnack && matches!(packet, Packet::Publish(_)) {
                // aedes sends a resumed session's messages before its CONNACK under a
                // stream, which [MQTT-3.2.0-1] forbids: kept, and handled after it.
                if self.early.len() + end > MAX_EARLY {
                    break Err("upstream sent too much before CONNACK".into());
                }
                self.early.extend_from_slice(&rest[..end]);
                start += end;
                continue;
            }
            let mut own = Vec::new();
            let outcome = handle(
                self.state,
                &mut self.peer,
                packet,
                cfg,
                mappings,
                &mut own,
                &mut self.sent,
                core,
            );
            self.output.extend_from_slice(&own);
            start += end;
            match outcome {
                Ok(Some(state)) => {
                    let was_waiting = self.state == State::AwaitConnack;
                    self.state = state;
                    if was_waiting && !self.early.is_empty() {
                        // What came before the CONNACK goes next, in its order.
                        let early = std::mem::take(&mut self.early);
                        self.input.splice(start..start, early);
                    }
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            }
        };
        self.input.drain(..start);
        result
    }

    /// Translates the core's frames for the bridge (whole MQTT 5.0 packets, oldest
    /// first) into packets for the upstream; returns how many bytes it took (only whole
    /// packets, and none before the uplink is up). Messages it cannot send (too large
    /// for the upstream, or on no mapping) are counted as dropped; their packet ids and
    /// QoS are added to `unsent`, and so are those of messages sent at QoS 0 below their
    /// own (the upstream's Maximum QoS), which no acknowledgment will come back for: the
    /// caller acknowledges them to the core ([`acknowledge_unsent`]), so that they
    /// leave the outbox's inflight window.
    pub fn from_core(
        &mut self,
        frames: &[u8],
        cfg: &BridgeConfig,
        mappings: &Mappings,
        unsent: &mut Vec<(u16, QoS)>,
    ) -> usize {
        let mut taken = 0;
        while self.wants_core_output() {
            let rest = &frames[taken..];
            let Ok(Some(header)) = FixedHeader::parse(rest) else {
                break;
            };
            let end = header.header_len + header.remaining_len;
            if rest.len() < end {
                break;
            }
            let body = &rest[header.header_len..end];
            taken += end;
            let Ok(packet) = codec::decode_packet(&header, body, ProtocolVersion::V5) else {
                continue;
            };
            match packet {
                Packet::Publish(p) => self.forward(p, cfg, mappings, unsent),
                // The answer to a PUBREC the uplink gave the core itself.
                Packet::Pubrel(a) if take(&mut self.released, a.packet_id) => {}
                Packet::Puback(_) | Packet::Pubrec(_) | Packet::Pubrel(_) | Packet::Pubcomp(_) => {
                    self.put(&packet)
                }
                // The core has nothing else for a bridge (its DISCONNECT is a close).
                _ => {}
            }
        }
        taken
    }

    /// Sends one message of the outbox upstream under its remote name.
    fn forward(
        &mut self,
        p: Publish<'_>,
        cfg: &BridgeConfig,
        mappings: &Mappings,
        unsent: &mut Vec<(u16, QoS)>,
    ) {
        let id = p
            .properties
            .get(property::SUBSCRIPTION_IDENTIFIER)
            .and_then(|prop| match prop {
                Property::VarInt(_, v) => Some(v),
                _ => None,
            })
            .unwrap_or(0);
        let kept;
        let properties = if self.peer.version == ProtocolVersion::V5 {
            kept = p.properties.without(&[property::SUBSCRIPTION_IDENTIFIER]);
            Properties::from_bytes(&kept)
        } else {
            Properties::NONE
        };
        let remote = mappings.to_remote(p.topic, id);
        // Never above the upstream's Maximum QoS [MQTT-3.2.2-11 of 5.0], never retained
        // without its Retain Available [MQTT-3.2.2-14 of 5.0]; Mosquitto's bridge does
        // the same (`db__message_insert` in src/database.c lowers a message's QoS to
        // the CONNACK's `maximum_qos`; `send__publish` in lib/send_publish.c clears
        // `retain` without `retain_available`).
        let qos = p.qos.min(self.peer.max_qos);
        let publish = remote.as_deref().map(|topic| Publish {
            topic,
            qos,
            // QoS 0 has no packet id and no DUP [MQTT-3.3.1-2], [MQTT-2.2.1-2].
            dup: p.dup && qos != QoS::AtMostOnce,
            packet_id: p.packet_id.filter(|_| qos != QoS::AtMostOnce),
            retain: p.retain && cfg.outgoing_retain && self.peer.retain,
            properties,
            ..p
        });
        let packet = publish.map(Packet::Publish);
        let fits = packet
            .as_ref()
            .and_then(|pk| pk.encoded_len(self.peer.version).ok());
        match (packet, fits) {
            (Some(packet), Some(len)) if self.max_packet == 0 || len <= self.max_packet => {
                self.sent.messages += 1;
                self.sent.resent += u64::from(p.dup);
                self.put(&packet);
                if let Some(id) = p.packet_id {
                    match (p.qos, qos) {
                        (_, QoS::AtMostOnce) => self.acknowledged_here(id, p.qos, unsent),
                        (QoS::ExactlyOnce, QoS::AtLeastOnce) => self.as_qos1.push(id),
                        _ => {}
                    }
                }
            }
            _ => {
                log::warn!(
                    "bridge {}: message on {} not sent upstream: {}",
                    cfg.name,
                    p.topic,
                    if remote.is_none() {
                        "no topic mapping"
                    } else {
                        "larger than the upstream accepts"
                    }
                );
                self.sent.dropped += 1;
                if let Some(id) = p.packet_id {
                    self.acknowledged_here(id, p.qos, unsent);
                }
            }
        }
    }

    /// Message `id` of QoS `qos` gets no acknowledgment from upstream: added to
    /// `unsent` for the caller to acknowledge to the core; for QoS 2, the core's PUBREL
    /// that follows stays here.
    fn acknowledged_here(&mut self, id: u16, qos: QoS, unsent: &mut Vec<(u16, QoS)>) {
        unsent.push((id, qos));
        if qos == QoS::ExactlyOnce {
            self.released.push(id);
        }
    }

    /// Keep-alive: a PINGREQ when nothing was written, or nothing was read, for the
    /// keep-alive interval; an error when the last one is unanswered for as long.
    /// Returns when to call again.
    pub fn tick(&mut self, now: Instant) -> Result<Instant, String> {
        if let Some(sent) = self.ping_sent {
            if now.duration_since(sent) >= self.keepalive {
                return Err("no PINGRESP within the keep-alive interval".into());
            }
            return Ok(sent + self.keepalive);
        }
        let quiet_since = self.last_sent.min(self.last_received);
        if now.duration_since(quiet_since) >= self.keepalive {
            self.put(&Packet::Pingreq);
            self.ping_sent = Some(now);
            return Ok(now + self.keepalive);
        }
        Ok(quiet_since + self.keepalive)
    }

    /// Queues DISCONNECT (a clean stop: the upstream does not publish the will).
    pub fn disconnect(&mut self) {
        let d = codec::Disconnect::default();
        self.put(&Packet::Disconnect(d));
    }

    /// Encodes `packet` for the upstream.
    fn put(&mut self, packet: &Packet<'_>) {
        put(&mut self.output, packet, self.peer.version);
    }
}

/// Removes `id` from `ids`; whether it was there.
fn take(ids: &mut Vec<u16>, id: u16) -> bool {
    let at = ids.iter().position(|&i| i == id);
    at.map(|i| ids.swap_remove(i)).is_some()
}

/// Hands the core the acknowledgments of a message (packet `id`, `qos`) the upstream
/// will not acknowledge as the core expects (not sent, sent at a lower QoS): PUBACK, or
/// PUBREC and PUBCOMP, as if the upstream had taken it.
pub fn acknowledge_unsent(id: u16, qos: QoS, core: &mut dyn FnMut(Packet<'_>)) {
    let ack = Ack::new(id);
    if qos == QoS::ExactlyOnce {
        core(Packet::Pubrec(ack));
        core(Packet::Pubcomp(ack));
    } else {
        core(Packet::Puback(ack));
    }
}

/// Appends `packet`, encoded for `version`, to `out`.
/// Encoded in place at the end of `out` (no buffer per packet: every bridged message
/// comes through here).
fn put(out: &mut Vec<u8>, packet: &Packet<'_>, version: ProtocolVersion) {
    let start = out.len();
    let written = packet.encoded_len(version).and_then(|len| {
        out.resize(start + len, 0);
        packet.encode(version, &mut out[start..])
    });
    if let Err(e) = written {
        out.truncate(start);
        log::warn!("bridge: packet not encodable for the upstream: {e}");
    }
}

/// Handles one packet from upstream in `state`; the new state, if it changes. What the
/// uplink answers itself goes to `out`; what a CONNACK says the upstream accepts, to
/// `peer`.
#[allow(clippy::too_many_arguments)]
fn handle(
    state: State,
    peer: &mut Peer,
    packet: Packet<'_>,
    cfg: &BridgeConfig,
    mappings: &Mappings,
    out: &mut Vec<u8>,
    sent: &mut Sent,
    core: &mut dyn FnMut(ToCore<'_>),
) -> Result<Option<State>, String> {
    let version = peer.version;
    match (state, packet) {
        (State::AwaitConnack, Packet::Connack(c)) => {
            if c.reason != codec::ReasonCode::SUCCESS {
                // Only the will can exceed the upstream's QoS or retain [MQTT-3.2.2-12
                // of 5.0], [MQTT-3.2.2-13 of 5.0].
                let will = [
                    codec::ReasonCode::RETAIN_NOT_SUPPORTED,
                    codec::ReasonCode::QOS_NOT_SUPPORTED,
                ]
                .contains(&c.reason);
                return Err(format!(
                    "upstream refused the connection (reason {:#04x}){}",
                    c.reason.0,
                    if will {
                        ": the state notification's will asks more than it takes \
                         (notifications_local_only true sends none)"
                    } else {
                        ""
                    }
                ));
            }
            let receive_maximum = c
                .properties
                .u16(property::RECEIVE_MAXIMUM)
                .unwrap_or(u16::MAX)
                .min(cfg_window(cfg));
            let limit = |v: u32| if v == 0 { u32::MAX } else { v };
            let maximum_packet_size = c
                .properties
                .u32(property::MAXIMUM_PACKET_SIZE)
                .unwrap_or(u32::MAX)
                .min(limit(cfg.max_packet_size));
            // What the upstream accepts (absent: QoS 2, retain; a 3.x CONNACK has no
            // properties). Said once per connection when it lowers what goes up.
            let props = c.properties;
            peer.max_qos = props
                .byte(property::MAXIMUM_QOS)
                .and_then(QoS::from_bits)
                .unwrap_or(QoS::ExactlyOnce);
            peer.retain = props.byte(property::RETAIN_AVAILABLE) != Some(0);
            let lowered = |t: &TopicMapping| t.direction != Direction::In && t.qos > peer.max_qos;
            if cfg.topics.iter().any(lowered) {
                let max = peer.max_qos as u8;
                log::warn!(
                    "bridge {}: the upstream accepts QoS {max} at most: messages above it \
                     are sent at QoS {max}",
                    cfg.name
                );
            }
            if !peer.retain && cfg.outgoing_retain {
                log::warn!(
                    "bridge {}: the upstream keeps no retained messages: messages are sent \
                     without the retain flag",
                    cfg.name
                );
            }
            core(ToCore::Up {
                receive_maximum,
                maximum_packet_size,
            });
            Ok(Some(subscribe(*peer, cfg, mappings, out)))
        }
        (State::AwaitConnack, _) => Err("upstream sent a packet before CONNACK".into()),
        (State::Subscribing(n), Packet::Suback(s)) => {
            if let Some(code) = s.reason_codes.iter().find(|&&c| c >= 0x80) {
                log::warn!(
                    "bridge {}: upstream refused a subscription ({code:#04x})",
                    cfg.name
                );
            }
            Ok(Some(if n <= 1 {
                State::Up
            } else {
                State::Subscribing(n - 1)
            }))
        }
        (State::Subscribing(n), Packet::Unsuback(_)) => Ok(Some(if n <= 1 {
            State::Up
        } else {
            State::Subscribing(n - 1)
        })),
        (_, Packet::Publish(p)) => {
            match mappings.to_local(p.topic) {
                Some(local) => {
                    sent.received += 1;
                    let properties = if version == ProtocolVersion::V5 {
                        p.properties
                    } else {
                        Properties::NONE
                    };
                    let publish = Publish {
                        topic: &local,
                        properties,
                        ..p
                    };
                    core(ToCore::Packet(Packet::Publish(publish)));
                }
                None => {
                    log::debug!(
                        "bridge {}: upstream message on {} matches no topic line",
                        cfg.name,
                        p.topic
                    );
                    if let Some(id) = p.packet_id {
                        let ack = Ack::new(id);
                        let answer = match p.qos {
                            QoS::ExactlyOnce => Packet::Pubrec(ack),
                            _ => Packet::Puback(ack),
                        };
                        put(out, &answer, version);
                    }
                }
            }
            Ok(None)
        }
        (
            _,
            packet @ (Packet::Puback(_)
            | Packet::Pubrec(_)
            | Packet::Pubrel(_)
            | Packet::Pubcomp(_)),
        ) => {
            core(ToCore::Packet(packet));
            Ok(None)
        }
        (_, Packet::Pingresp) => Ok(None),
        (_, Packet::Disconnect(d)) => Err(format!(
            "upstream disconnected (reason {:#04x})",
            d.reason.0
        )),
        (_, other) => Err(format!(
            "unexpected packet from upstream: {:?}",
            packet_name(&other)
        )),
    }
}

/// The inflight window a bridge asks for: `bridge_receive_maximum`, or 20.
fn cfg_window(cfg: &BridgeConfig) -> u16 {
    if cfg.receive_maximum == 0 {
        20
    } else {
        cfg.receive_maximum
    }
}

/// The bridge's Receive Maximum toward the upstream (MQTT 5.0 CONNECT).
pub fn receive_maximum(cfg: &BridgeConfig) -> u16 {
    cfg_window(cfg)
}

/// A packet's name for the log.
fn packet_name(packet: &Packet<'_>) -> &'static str {
    match packet {
        Packet::Connect(_) => "CONNECT",
        Packet::Connack(_) => "CONNACK",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::Suback(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::Unsuback(_) => "UNSUBACK",
        Packet::Pingreq => "PINGREQ",
        Packet::Auth(_) => "AUTH",
        _ => "packet",
    }
}

/// After CONNACK: UNSUBSCRIBE from the `out`-only remote filters (id 1, with
/// `bridge_attempt_unsubscribe`), SUBSCRIBE to the `in`/`both` ones (id 2), and the
/// state notification `1` (retained if the upstream keeps retained messages); the state
/// that awaits their acknowledgments.
fn subscribe(peer: Peer, cfg: &BridgeConfig, mappings: &Mappings, out: &mut Vec<u8>) -> State {
    let version = peer.version;
    let mut awaited = 0u8;
    let out_only = mappings.out_only_filters();
    if cfg.attempt_unsubscribe && !out_only.is_empty() {
        let filters: Vec<&str> = out_only.iter().map(String::as_str).collect();
        if encode_unsubscribe(version, 1, &filters, out).is_ok() {
            awaited += 1;
        }
    }
    let remote = mappings.remote_filters();
    if !remote.is_empty() {
        let filters: Vec<(&str, SubscriptionOptions)> = remote
            .iter()
            .map(|(f, qos, both)| {
                let options = SubscriptionOptions {
                    qos: *qos,
                    // What the bridge publishes upstream does not come back [MQTT-3.8.3-3
                    // of 5.0]; 3.x upstreams learn it is a bridge from try_private.
                    no_local: *both,
                    retain_as_published: true,
                    retain_handling: RetainHandling::SendAtSubscribe,
                };
                (f.as_str(), options)
            })
            .collect();
        if encode_subscribe(version, 2, Properties::NONE, &filters, out).is_ok() {
            awaited += 1;
        }
    }
    if cfg.notifications && !cfg.notifications_local_only {
        let topic = notification_topic(cfg);
        let up = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: peer.retain,
            topic: &topic,
            packet_id: None,
            properties: Properties::NONE,
            payload: b"1",
        };
        put(out, &Packet::Publish(up), version);
    }
    if awaited == 0 {
        State::Up
    } else {
        State::Subscribing(awaited)
    }
}
