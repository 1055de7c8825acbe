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
//! Security: a bit of the first byte turns on a password file and/or an ACL, chosen among
//! fixed variants by a second byte, with two listeners whose `allow_anonymous` differ;
//! CONNECTs carry usernames and passwords from small vocabularies (right, wrong, unknown
//! user); events reconfigure the caps and listener policies and put another `Auth` in
//! force mid-run, as a reload does.
//!
//! Invariants checked: nothing panics; every byte a connection receives frames into
//! packets that decode, that a server may send, and the first of which is CONNACK; a
//! connection whose output was flushed at close ends on a packet boundary; a closed
//! connection has no output; `bytes_sent` and `bytes_received` count what went through;
//! every PUBLISH a client receives is a `$SYS` message, or was published or left as a will
//! by a client the ACL (if any) let write it: a PUBLISH when it is handled, a will when it
//! is published at close (a reload may have taken the right away since CONNECT).
//!
//! MQTT 5.0: a CONNECT names MQTT 5.0 about a third of the time, with CONNECT properties
//! (Session Expiry Interval, Receive Maximum, Maximum Packet Size, Topic Alias Maximum,
//! user properties, request flags, sometimes an authentication method, which no
//! configuration supports) and will properties (Will Delay Interval, Message Expiry
//! Interval, payload format, content type, response topic, correlation data); the packets
//! after it are encoded and decoded as MQTT 5.0: PUBLISH with properties (Topic Alias set
//! and used, with and without a topic; Message Expiry Interval; user properties; Payload
//! Format Indicator, with invalid UTF-8 sometimes; response topic; correlation data;
//! content type; a Subscription Identifier, which a client may not send), SUBSCRIBE with
//! No Local, Retain As Published, Retain Handling and a Subscription Identifier,
//! acknowledgments with reason codes, DISCONNECT with 0x00, 0x04 (publish the will) or
//! 0x80 and a Session Expiry Interval, AUTH; and in any property section, sometimes, raw
//! bytes instead (malformed or not). Filters of either version are sometimes shared
//! (`$share/g/...`, `$share/h/...`, or an invalid share name).
//!
//! Checked for MQTT 5.0 as well: every byte the broker writes to a 5.0 client decodes as
//! MQTT 5.0 (the broker never writes what its codec refuses); it sends no AUTH, and
//! DISCONNECT only as the last packet of a connection; no PUBLISH exceeds the client's
//! Maximum Packet Size; no more unacknowledged QoS 1/2 PUBLISHes than its Receive Maximum
//! (acknowledgments the client sent before it read the PUBLISH they answer, which the
//! broker had already queued, are counted); a Topic Alias only within the client's Topic
//! Alias Maximum, and a known one when the topic is empty; a delivered message carries
//! its publisher's forwarded properties (payload format, content type, response topic,
//! correlation data, user properties) unchanged and in order, a Message Expiry Interval
//! if and only if it was published with one and never more than it, and only Subscription
//! Identifiers its client id subscribed with. Topic aliases the client sets are resolved
//! as the broker does before the ACL checks; a will published after a Will Delay Interval
//! counts as sent if the ACL lets its client write it at close or after any later reload;
//! DISCONNECT 0x04 keeps the will.
//!
//! With security on, also: a CONNECT with a wrong login, without a username on a listener
//! that refuses anonymous clients, or with a will the ACL does not let it write is not
//! accepted; a PUBLISH the ACL does not let its client write is dropped (counted, nothing
//! retained); a client never receives a PUBLISH its ACL denies it reading. The broker
//! checks reading when it routes a message, so that check accepts any ACL and username
//! the session has had since it was created: a message queued before a reload, or for the
//! previous user of a resumed session (as in Mosquitto, a session belongs to the client
//! id, not to the user), may be delivered under rules that have changed since.

use sol::auth::acl::{Acl, Identity, Want};
use sol::auth::password::PasswordFile;
use sol::auth::Auth;
use sol::broker::{Broker, CloseReason, ConnId, Effect, Limits, ListenerPolicy};
use sol::codec::{
    decode, encode_subscribe, encode_unsubscribe, property, Ack, Connack, Connect, Disconnect,
    FixedHeader, Packet, Properties, Property, ProtocolVersion, Publish, QoS, ReasonCode,
    RetainHandling, Suback, SubscriptionOptions, Will,
};

/// MQTT 3.1.1: the version of a connection before its CONNECT, and after a 3.1 or 3.1.1
/// one (3.1 and 3.1.1 packets after CONNECT are the same on the wire).
const V311: ProtocolVersion = ProtocolVersion::V311;
/// MQTT 5.0.
const V5: ProtocolVersion = ProtocolVersion::V5;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Connection slots the driver uses (and the broker's `max_connections`).
const CONNS: usize = 4;

/// Topic levels drawn for topic names; filters also draw wildcards. The last two are a
/// client id and a username, for the ACL's `%c` and `%u` patterns.
const LEVELS: [&str; 8] = ["a", "b", "c", "$SYS", "", "broker", "c0", "alice"];
/// Client ids: few, so sessions are taken over and resumed.
const CLIENT_IDS: [&str; 4] = ["", "c0", "c1", "c2"];
/// Packet ids: few, so acknowledgements find their message.
const PACKET_IDS: [u16; 4] = [1, 2, 3, 65535];
/// Usernames: two users of the password files, one in none of them, and one with a `/`,
/// to which no ACL pattern applies.
const USERS: [&str; 4] = ["alice", "bob", "eve", "a/b"];
/// Passwords: alice's and bob's in `PASSWORD_FILES[0]`, a wrong one, an empty one.
const PASSWORDS: [&[u8]; 4] = [b"secret-a", b"secret-b", b"wrong", b""];
/// The ACL identity's client id for a generated one: the driver cannot know it, and any id
/// without `/`, `+`, `#` that is no topic level gets the same answers.
const AUTO_ID: &str = "auto-id";
/// The first byte's bit that turns security on (and reads the security byte).
const SECURED: u8 = 0x20;

/// Password files. Cheap entries so a login costs microseconds: `$6$` (one SHA-512) and
/// `$7$` with one PBKDF2 iteration (salt `fuzzsalt0001`). The first has alice (`secret-a`,
/// `$6$`) and bob (`secret-b`, `$7$`); the second, after a "password change", only alice
/// with `secret-b`; the third no users at all.
const PASSWORD_FILES: [&str; 3] = [
    "alice:$6$ZnV6enNhbHQwMDAx$k0UUFXoFi36A0JUHIzFEd0v6uIW/xYJKS4ShLEYOrIXM9sEdsHuX3fUj/2PAlEq/QaGzzdQItSckaGGMKm0LYA==\n\
     bob:$7$1$ZnV6enNhbHQwMDAx$hY4gd2Br5SlceAw0+yhKxmvA4TVIeSaESjWifoUmTZSdOpApXubcEo/8/ugJiCQtSGIkk382/5c8x22cDcf6NA==\n",
    "alice:$7$1$ZnV6enNhbHQwMDAx$hY4gd2Br5SlceAw0+yhKxmvA4TVIeSaESjWifoUmTZSdOpApXubcEo/8/ugJiCQtSGIkk382/5c8x22cDcf6NA==\n",
    "# nobody\n",
];

/// The logins each of [`PASSWORD_FILES`] accepts: the driver's own answer, so the broker's
/// is checked against something it did not compute (and an unknown user's slow stand-in
/// hash is not paid twice).
const LOGINS: [&[(&str, &[u8])]; 3] = [
    &[("alice", b"secret-a"), ("bob", b"secret-b")],
    &[("alice", b"secret-b")],
    &[],
];

/// ACLs over the topic vocabulary: anonymous, per-user and pattern rules, deny rules,
/// `#` and `+` filters, a `user` section without rules, `$SYS` rules.
const ACLS: [&str; 3] = [
    "topic read a/#\n\
     topic deny a/b/#\n\
     topic read $SYS/#\n\
     user alice\n\
     topic readwrite a/#\n\
     topic deny a/c\n\
     topic write b\n\
     user bob\n\
     topic read +/b\n\
     topic write c/+\n\
     pattern readwrite %c/#\n\
     pattern read %u/#\n",
    "topic readwrite #\n\
     topic deny b/#\n\
     user alice\n\
     topic read #\n\
     topic deny +/+/a\n\
     topic write #\n\
     user eve\n\
     topic deny #\n\
     pattern write %u/c0\n",
    "pattern readwrite %c/%u/#\n\
     pattern read a/+\n\
     pattern deny a/b\n\
     user bob\n",
];

/// Time steps in milliseconds: none, within a timeout, past the short ones, past all.
const STEPS_MS: [u64; 6] = [0, 100, 1_500, 11_000, 61_000, 3_600_000];

/// Shared subscription prefixes a filter may get; the last has an invalid share name.
const SHARES: [&str; 3] = ["$share/g/", "$share/h/", "$share/g+/"];
/// Session Expiry Intervals (CONNECT, DISCONNECT): none kept, short, long, never.
const SESSION_EXPIRIES: [u32; 4] = [0, 10, 3_600, u32::MAX];
/// Receive Maximum values of a CONNECT.
const RECEIVE_MAXIMA: [u16; 3] = [1, 2, 65_535];
/// Maximum Packet Size values of a CONNECT: small enough that deliveries are dropped.
const MAX_PACKET_SIZES: [u32; 3] = [48, 96, 1_024];
/// Topic Alias Maximum values of a CONNECT.
const TOPIC_ALIAS_MAXIMA: [u16; 3] = [0, 2, 10];
/// Topic aliases of a PUBLISH: within the small caps' maximum (2), within the default
/// (10), beyond both.
const TOPIC_ALIASES: [u16; 4] = [1, 2, 3, 11];
/// Message Expiry Intervals of a PUBLISH or will.
const MESSAGE_EXPIRIES: [u32; 4] = [0, 1, 60, 86_400];
/// Will Delay Intervals.
const WILL_DELAYS: [u32; 3] = [0, 1, 100];
/// Subscription Identifiers of a SUBSCRIBE (the largest variable byte integer last).
const SUBSCRIPTION_IDS: [u32; 4] = [1, 2, 127, 268_435_455];
/// Reason codes of a PUBACK or PUBREC, and of a PUBREL or PUBCOMP, from a client.
const PUBACK_REASONS: [u8; 4] = [0x00, 0x10, 0x80, 0x97];
const PUBREL_REASONS: [u8; 2] = [0x00, 0x92];
/// Reason codes of a DISCONNECT from a client: normal, with will, error.
const DISCONNECT_REASONS: [u8; 3] = [0x00, 0x04, 0x80];
/// Reason codes of an AUTH.
const AUTH_REASONS: [u8; 3] = [0x00, 0x18, 0x19];
/// The properties a broker forwards unchanged with a message [MQTT-3.3.2-17..20 of 5.0]
/// (the others are its publisher's connection's, or per delivery).
const FORWARDED: [u8; 5] = [
    property::PAYLOAD_FORMAT_INDICATOR,
    property::CONTENT_TYPE,
    property::RESPONSE_TOPIC,
    property::CORRELATION_DATA,
    property::USER_PROPERTY,
];

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

    /// A topic filter: a topic whose levels may be `+`, and may end with `#`; shared
    /// (`$share/NAME/` in front, [`SHARES`]) when the top bits of its first byte say so.
    fn filter(&mut self) -> String {
        let first = self.u8();
        let levels = 1 + usize::from(first % 64) % 3;
        let parts: Vec<&str> = (0..levels)
            .map(|_| match self.u8() % 8 {
                0 => "+",
                1 => "#",
                _ => self.pick(&LEVELS),
            })
            .collect();
        match first >> 6 {
            0 => parts.join("/"),
            share => SHARES[usize::from(share) - 1].to_string() + &parts.join("/"),
        }
    }
}

/// Appends `p` to a property section being built.
fn put(out: &mut Vec<u8>, p: Property<'_>) {
    p.write(out).expect("the driver's properties are small");
}

/// Reads a property section's mask byte; when its top bit is set, the section is raw
/// bytes from the input instead (malformed or not), and this returns `None`.
fn mask(input: &mut Input<'_>, out: &mut Vec<u8>) -> Option<u8> {
    let mask = input.u8();
    if mask & 0x80 != 0 {
        out.extend_from_slice(input.bytes(16));
        return None;
    }
    Some(mask)
}

/// CONNECT properties: Session Expiry Interval, Receive Maximum, Maximum Packet Size,
/// Topic Alias Maximum, a user property, the request flags, an authentication method.
fn connect_properties(input: &mut Input<'_>, out: &mut Vec<u8>) {
    let Some(m) = mask(input, out) else { return };
    if m & 1 != 0 {
        let v = input.pick(&SESSION_EXPIRIES);
        put(out, Property::U32(property::SESSION_EXPIRY_INTERVAL, v));
    }
    if m & 2 != 0 {
        let v = input.pick(&RECEIVE_MAXIMA);
        put(out, Property::U16(property::RECEIVE_MAXIMUM, v));
    }
    if m & 4 != 0 {
        let v = input.pick(&MAX_PACKET_SIZES);
        put(out, Property::U32(property::MAXIMUM_PACKET_SIZE, v));
    }
    if m & 8 != 0 {
        let v = input.pick(&TOPIC_ALIAS_MAXIMA);
        put(out, Property::U16(property::TOPIC_ALIAS_MAXIMUM, v));
    }
    if m & 16 != 0 {
        put(out, Property::User("k", "v"));
    }
    if m & 32 != 0 {
        put(
            out,
            Property::Byte(property::REQUEST_PROBLEM_INFORMATION, 0),
        );
        put(
            out,
            Property::Byte(property::REQUEST_RESPONSE_INFORMATION, 1),
        );
    }
    if m & 64 != 0 {
        put(
            out,
            Property::Str(property::AUTHENTICATION_METHOD, "SCRAM-SHA-1"),
        );
        put(
            out,
            Property::Binary(property::AUTHENTICATION_DATA, b"n,,n=alice"),
        );
    }
}

/// Will properties: Will Delay Interval, Message Expiry Interval, payload format and
/// content type, a user property, response topic and correlation data.
fn will_properties(input: &mut Input<'_>, out: &mut Vec<u8>) {
    let Some(m) = mask(input, out) else { return };
    if m & 1 != 0 {
        let v = input.pick(&WILL_DELAYS);
        put(out, Property::U32(property::WILL_DELAY_INTERVAL, v));
    }
    if m & 2 != 0 {
        let v = input.pick(&MESSAGE_EXPIRIES);
        put(out, Property::U32(property::MESSAGE_EXPIRY_INTERVAL, v));
    }
    if m & 4 != 0 {
        put(out, Property::Byte(property::PAYLOAD_FORMAT_INDICATOR, 1));
        put(out, Property::Str(property::CONTENT_TYPE, "text/plain"));
    }
    if m & 8 != 0 {
        put(out, Property::User("k", "w"));
    }
    if m & 16 != 0 {
        put(out, Property::Str(property::RESPONSE_TOPIC, "c/r"));
        put(out, Property::Binary(property::CORRELATION_DATA, b"\x00id"));
    }
}

/// PUBLISH properties: a Topic Alias (bit 1: used instead of the topic), Message Expiry
/// Interval, user properties, Payload Format Indicator, response topic and correlation
/// data, and (bit 6, then another byte) a content type or a Subscription Identifier.
/// Returns whether the topic is to be left out for the alias.
fn publish_properties(input: &mut Input<'_>, out: &mut Vec<u8>) -> bool {
    let Some(m) = mask(input, out) else {
        return false;
    };
    if m & 1 != 0 {
        let v = input.pick(&TOPIC_ALIASES);
        put(out, Property::U16(property::TOPIC_ALIAS, v));
    }
    if m & 4 != 0 {
        let v = input.pick(&MESSAGE_EXPIRIES);
        put(out, Property::U32(property::MESSAGE_EXPIRY_INTERVAL, v));
    }
    if m & 8 != 0 {
        put(out, Property::User("k", "v1"));
        put(out, Property::User("k", "v2"));
    }
    if m & 16 != 0 {
        let v = input.u8() & 1;
        put(out, Property::Byte(property::PAYLOAD_FORMAT_INDICATOR, v));
    }
    if m & 32 != 0 {
        let topic = input.topic();
        put(out, Property::Str(property::RESPONSE_TOPIC, &topic));
        let data = input.bytes(4);
        put(out, Property::Binary(property::CORRELATION_DATA, data));
    }
    if m & 64 != 0 {
        let more = input.u8();
        if more & 1 != 0 {
            put(
                out,
                Property::Str(property::CONTENT_TYPE, "application/json"),
            );
        }
        if more & 2 != 0 {
            put(out, Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 1));
        }
    }
    m & 3 == 3
}

/// SUBSCRIBE properties: a Subscription Identifier, a user property.
fn subscribe_properties(input: &mut Input<'_>, out: &mut Vec<u8>) {
    let Some(m) = mask(input, out) else { return };
    if m & 1 != 0 {
        let v = input.pick(&SUBSCRIPTION_IDS);
        put(out, Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, v));
    }
    if m & 2 != 0 {
        put(out, Property::User("k", "v"));
    }
}

/// The properties of a packet with a reason (acknowledgment, DISCONNECT, AUTH): a reason
/// string (bit 0), a user property (bit 1), and what `extra` adds for the other bits.
fn reply_properties(
    input: &mut Input<'_>,
    out: &mut Vec<u8>,
    extra: impl FnOnce(u8, &mut Input<'_>, &mut Vec<u8>),
) {
    let Some(m) = mask(input, out) else { return };
    if m & 1 != 0 {
        put(out, Property::Str(property::REASON_STRING, "why"));
    }
    if m & 2 != 0 {
        put(out, Property::User("k", "v"));
    }
    extra(m, input, out);
}

/// What the driver knows of one connection slot, as the reactor would.
#[derive(Default)]
struct Client {
    /// Accepted and not yet closed.
    open: bool,
    /// The listener it was accepted on.
    listener: usize,
    /// Flow control stopped reading it.
    paused: bool,
    /// Bytes read from the socket and not yet framed.
    inbound: Vec<u8>,
    /// Bytes the client has received and not yet framed into a whole packet.
    received: Vec<u8>,
    /// Packets the client has received on this connection.
    packets: usize,
    /// A CONNECT was handed to the broker (only the first one is looked at).
    sent_connect: bool,
    /// The client id of its accepted CONNECT ([`AUTO_ID`] for a generated one).
    client_id: Option<String>,
    /// Its username, while connected.
    username: Option<String>,
    /// The rules its session's messages may have been routed under.
    routed: Vec<Routed>,
    /// The will of its accepted CONNECT, until DISCONNECT discards it.
    will: Option<WillModel>,
    /// The version the broker decodes its packets in and writes its own in, and the
    /// client encodes its packets in: that of its first CONNECT the broker handled (3.1.1
    /// before).
    version: ProtocolVersion,
    /// What its MQTT 5.0 CONNECT asked of the broker: Receive Maximum, Maximum Packet
    /// Size, Topic Alias Maximum (no limit, no limit, none before and without).
    receive_maximum: usize,
    maximum_packet_size: usize,
    topic_alias_maximum: u16,
    /// The topics of the Topic Aliases it set, as the broker records them.
    aliases: HashMap<u16, String>,
    /// The topics of the Topic Aliases the broker set for it.
    broker_aliases: HashMap<u16, String>,
    /// Outbound QoS 1/2 messages it received and has not completed, by packet id, and
    /// what the broker awaits for each (for Receive Maximum).
    unacked: HashMap<u16, Awaiting>,
    /// PUBACKs and PUBCOMPs it sent for packet ids it had not received a PUBLISH (PUBREL)
    /// of, each with the position in its stream up to which the broker had queued output
    /// when it handled it: a PUBLISH (PUBREL) of that id that ends there answers it.
    early_acks: Vec<(u16, Awaiting, u64)>,
    /// Bytes of whole packets it has received on this connection.
    framed: u64,
    /// It received DISCONNECT from the broker: nothing may follow.
    disconnected: bool,
}

/// A message as a client sees it: topic and payload.
type Message = (String, Vec<u8>);

/// What a message carries besides its topic and payload, as a client sees it: its
/// forwarded properties ([`FORWARDED`], encoded, in order) and its Message Expiry
/// Interval.
type Variant = (Vec<u8>, Option<u32>);

/// A will, as the driver knows it.
struct WillModel {
    message: Message,
    variant: Variant,
    /// It has a Will Delay Interval: it may be published well after its connection
    /// closed, under the ACL in force then.
    delayed: bool,
}

/// The step of an outbound QoS 1/2 flow the broker awaits from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    Puback,
    Pubrec,
    Pubcomp,
}

/// The forwarded properties and the Message Expiry Interval of `properties`.
fn variant(properties: &Properties<'_>) -> Variant {
    let mut forwarded = Vec::new();
    for p in properties.iter().filter(|p| FORWARDED.contains(&p.id())) {
        put(&mut forwarded, p);
    }
    (forwarded, properties.u32(property::MESSAGE_EXPIRY_INTERVAL))
}

/// Whether a delivery carrying `got` may be of a message sent with `sent`: the same
/// forwarded properties, and what is left of its expiry if it had one, which is never
/// more than it was sent with [MQTT-3.3.2-6 of 5.0] (an interval of 0 published in the
/// middle of a second was once delivered with 1:
/// `fuzz/regressions/broker/v5-message-expiry-zero-delivered-as-one`).
fn delivers(sent: &Variant, got: &Variant) -> bool {
    sent.0 == got.0
        && match (sent.1, got.1) {
            (None, None) => true,
            (Some(sent), Some(left)) => left <= sent,
            _ => false,
        }
}

/// An ACL (an index into [`ACLS`]; none: everything allowed) and the username it was
/// applied to.
type Routed = (Option<usize>, Option<String>);

/// What the driver knows of the session of a client id, from its last accepted CONNECT.
struct SessionModel {
    /// That CONNECT asked for a new session (clean session, MQTT 5.0's Clean Start).
    clean_start: bool,
    /// That CONNECT asked for a session that may outlive the connection (3.1.1: not clean;
    /// 5.0: a Session Expiry Interval above 0, which DISCONNECT may only lower to 0).
    kept: bool,
    /// The username it logged in with.
    username: Option<String>,
    /// The rules its messages may have been routed under.
    routed: Vec<Routed>,
}

/// The broker, the clock and the reactor's view of each connection.
struct Driver {
    broker: Broker,
    now: Instant,
    clients: [Client; CONNS],
    bytes_sent: u64,
    bytes_received: u64,
    /// The password file and ACL the broker has, to check its decisions against.
    auth: Auth,
    /// Which of [`PASSWORD_FILES`] `auth` has.
    passwords: Option<usize>,
    /// Which of [`ACLS`] `auth` has.
    acl: Option<usize>,
    /// [`ACLS`], parsed.
    acls: &'static [Acl],
    /// Sessions by client id (generated ids are left out: they are never resumed).
    sessions: HashMap<String, SessionModel>,
    /// Messages a client published, or left as its will, while the ACL let it write them,
    /// with what they carried: every PUBLISH a client receives is one of these, or a
    /// `$SYS` message.
    sources: HashMap<Message, HashSet<Variant>>,
    /// Wills with a Will Delay Interval whose connection closed without DISCONNECT (with
    /// their client id and username): published when the delay ends, if the ACL in force
    /// then lets them.
    delayed_wills: Vec<(WillModel, String, Option<String>)>,
    /// The Subscription Identifiers each client id subscribed with.
    subscription_ids: HashMap<String, HashSet<u32>>,
    /// What the run went through.
    reached: Reached,
}

/// How often a run reached the security paths, so the replay test can tell that the
/// seeds reach them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reached {
    /// CONNECTs the broker had to refuse (wrong login, anonymous, denied will), and did.
    pub refused_connects: usize,
    /// CONNECTs accepted with a username under a password file.
    pub logins: usize,
    /// PUBLISHes the ACL denied their client writing, dropped.
    pub denied_publishes: usize,
    /// PUBLISHes received under an ACL, checked against it.
    pub checked_deliveries: usize,
    /// `reconfigure` and `set_auth` calls.
    pub reloads: usize,
    /// The broker's count of ACL refusals (`Stats::acl_denied`) at the end.
    pub acl_denied: u64,
}

/// Runs the broker checks over `data`.
pub fn run(data: &[u8]) -> Reached {
    let mut input = Input(data);
    let now = Instant::now();
    let choice = input.u8();
    let mut limits = limits(choice);
    let mut security = 0;
    if choice & SECURED != 0 {
        security = input.u8();
        limits.listeners = listeners(security >> 4);
    }
    let (passwords, acl) = variants(security);
    let auth = auth(passwords, acl);
    let acls = &parsed().1;
    let mut broker = Broker::new(limits, now);
    broker.set_auth(auth.clone());
    let mut d = Driver {
        broker,
        now,
        clients: Default::default(),
        bytes_sent: 0,
        bytes_received: 0,
        auth,
        passwords,
        acl,
        acls,
        sessions: HashMap::new(),
        sources: HashMap::new(),
        delayed_wills: Vec::new(),
        subscription_ids: HashMap::new(),
        reached: Reached::default(),
    };
    while !input.is_empty() {
        let target = input.u8();
        let conn = usize::from(target) % CONNS;
        match input.u8() % 16 {
            0 => d.accept(conn, usize::from(target >> 2) & 1),
            4 => {
                let bytes = input.bytes(32);
                d.arrive(conn, bytes, 0);
            }
            5 => {
                let n = usize::from(input.u16());
                d.write(conn, n);
            }
            6 => d.peer_closed(conn),
            7 => {
                let step = input.pick(&STEPS_MS);
                d.advance(Duration::from_millis(step));
            }
            8 => d.reconfigure(input.u8()),
            9 => d.set_auth(input.u8()),
            _ => {
                let bytes = packet(&mut input, d.clients[conn].version);
                let split = input.u8();
                d.arrive(conn, &bytes, split);
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
    Reached {
        acl_denied: d.broker.stats().acl_denied,
        ..d.reached
    }
}

/// Which of [`PASSWORD_FILES`] (bits 0-1) and [`ACLS`] (bits 2-3) `choice` puts in force:
/// none, or one of them.
fn variants(choice: u8) -> (Option<usize>, Option<usize>) {
    let variant = |bits: u8| usize::from(bits & 3).checked_sub(1);
    (variant(choice), variant(choice >> 2))
}

/// The broker's `Auth` for those variants.
fn auth(passwords: Option<usize>, acl: Option<usize>) -> Auth {
    let (files, acls) = parsed();
    Auth {
        passwords: passwords.map(|i| files[i].clone()),
        acl: acl.map(|i| acls[i].clone()),
    }
}

/// [`PASSWORD_FILES`] and [`ACLS`], parsed once per process: parsing them in every run
/// would only slow the fuzzer down (the parsers have their own tests).
fn parsed() -> &'static (Vec<PasswordFile>, Vec<Acl>) {
    static PARSED: OnceLock<(Vec<PasswordFile>, Vec<Acl>)> = OnceLock::new();
    PARSED.get_or_init(|| {
        let files = PASSWORD_FILES
            .iter()
            .map(|text| PasswordFile::parse(text).expect("the driver's password files parse"))
            .collect();
        let acls = ACLS
            .iter()
            .map(|text| Acl::parse(text, 256, 32).expect("the driver's ACLs parse"))
            .collect();
        (files, acls)
    })
}

/// Two listeners; bits 0 and 1 of `choice` say whether each refuses anonymous clients.
fn listeners(choice: u8) -> Vec<ListenerPolicy> {
    (0..2)
        .map(|i| ListenerPolicy {
            allow_anonymous: choice >> i & 1 == 0,
            // Certificate names need the TLS layer; the x509_cn target covers their reading.
            use_identity_as_username: false,
            ..ListenerPolicy::default()
        })
        .collect()
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
        max_topic_alias: if choice & 0x80 == 0 { 2 } else { 0 },
        ..defaults
    }
}

/// The bytes of one packet a client speaking `version` might send, mostly well-formed.
/// An MQTT 5.0 client's packets read more of the input (properties, options, reasons)
/// than a 3.1.1 one's, which read what they always did.
fn packet(input: &mut Input<'_>, version: ProtocolVersion) -> Vec<u8> {
    let v5 = version == V5;
    let kind = input.u8() % 16;
    let id = input.pick(&PACKET_IDS);
    let mut out = Vec::new();
    let mut props = Vec::new();
    let mut will_props = Vec::new();
    let mut topic;
    let will_topic;
    let p = match kind {
        0 | 1 => {
            let version = match input.u8() % 8 {
                0 => ProtocolVersion::V31,
                5..=7 => V5,
                _ => V311,
            };
            let mut will = if input.bool() {
                will_topic = input.topic();
                Some(Will {
                    topic: &will_topic,
                    properties: Properties::NONE,
                    payload: input.bytes(8),
                    qos: input.qos(),
                    retain: input.bool(),
                })
            } else {
                None
            };
            let user = input.u8();
            let username = (user & 1 == 1).then(|| USERS[usize::from(user >> 1) % USERS.len()]);
            let clean_session = input.bool();
            let keep_alive = input.pick(&[0, 1, 5, 60]);
            let client_id = input.pick(&CLIENT_IDS);
            // MQTT 3.1.1 has no password without a username [MQTT-3.1.2-22].
            let mut password = match username {
                Some(_) => {
                    let pw = input.u8();
                    (pw & 1 == 1).then(|| PASSWORDS[usize::from(pw >> 1) % PASSWORDS.len()])
                }
                None => None,
            };
            if version == V5 {
                connect_properties(input, &mut props);
                if let Some(w) = &mut will {
                    will_properties(input, &mut will_props);
                    w.properties = Properties::from_bytes(&will_props);
                }
                if username.is_none() && user & 0x80 != 0 {
                    // A password without a username, which MQTT 5.0 allows
                    // [MQTT-3.1.2.9 of 5.0]: chosen by the username byte's bits 5-6.
                    password = Some(PASSWORDS[usize::from(user >> 5) & 3]);
                }
            }
            Packet::Connect(Connect {
                version,
                bridge: false,
                clean_session,
                keep_alive,
                properties: Properties::from_bytes(&props),
                client_id,
                will,
                username,
                password,
            })
        }
        2..=5 => {
            let qos = input.qos();
            topic = input.topic();
            let dup = input.bool();
            let retain = input.bool();
            let payload = input.bytes(24);
            if v5 && publish_properties(input, &mut props) {
                topic.clear();
            }
            Packet::Publish(Publish {
                dup,
                qos,
                retain,
                topic: &topic,
                packet_id: (qos != QoS::AtMostOnce).then_some(id),
                properties: Properties::from_bytes(&props),
                payload,
            })
        }
        6..=9 => {
            let mut ack = Ack::new(id);
            if v5 {
                let reasons: &[u8] = if kind < 8 {
                    &PUBACK_REASONS
                } else {
                    &PUBREL_REASONS
                };
                ack.reason = ReasonCode(input.pick(reasons));
                reply_properties(input, &mut props, |_, _, _| {});
                ack.properties = Properties::from_bytes(&props);
            }
            match kind {
                6 => Packet::Puback(ack),
                7 => Packet::Pubrec(ack),
                8 => Packet::Pubrel(ack),
                _ => Packet::Pubcomp(ack),
            }
        }
        10 => {
            let filters: Vec<(String, SubscriptionOptions)> = (0..1 + input.u8() % 3)
                .map(|_| {
                    let filter = input.filter();
                    let mut options = SubscriptionOptions::from(input.qos());
                    if v5 {
                        let bits = input.u8();
                        options.no_local = bits & 1 != 0;
                        options.retain_as_published = bits & 2 != 0;
                        options.retain_handling = match bits >> 2 & 3 {
                            1 => RetainHandling::SendIfNew,
                            2 => RetainHandling::DoNotSend,
                            _ => RetainHandling::SendAtSubscribe,
                        };
                    }
                    (filter, options)
                })
                .collect();
            if v5 {
                subscribe_properties(input, &mut props);
            }
            let filters: Vec<(&str, SubscriptionOptions)> =
                filters.iter().map(|(f, o)| (f.as_str(), *o)).collect();
            let properties = Properties::from_bytes(&props);
            encode_subscribe(version, id, properties, &filters, &mut out)
                .expect("small filters encode");
            return out;
        }
        11 => {
            let filters: Vec<String> = (0..1 + input.u8() % 2).map(|_| input.filter()).collect();
            let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
            encode_unsubscribe(version, id, &filters, &mut out).expect("small filters encode");
            return out;
        }
        12 => Packet::Pingreq,
        13 if v5 => {
            let reason = ReasonCode(input.pick(&DISCONNECT_REASONS));
            reply_properties(input, &mut props, |m, input, out| {
                if m & 4 != 0 {
                    let v = input.pick(&SESSION_EXPIRIES);
                    put(out, Property::U32(property::SESSION_EXPIRY_INTERVAL, v));
                }
                if m & 8 != 0 {
                    // Only a server sends one.
                    put(out, Property::Str(property::SERVER_REFERENCE, "elsewhere"));
                }
            });
            Packet::Disconnect(Disconnect {
                reason,
                properties: Properties::from_bytes(&props),
            })
        }
        13 => Packet::disconnect(),
        14 if v5 && input.bool() => {
            let reason = ReasonCode(input.pick(&AUTH_REASONS));
            reply_properties(input, &mut props, |m, _, out| {
                if m & 4 != 0 {
                    put(
                        out,
                        Property::Str(property::AUTHENTICATION_METHOD, "SCRAM-SHA-1"),
                    );
                }
                if m & 8 != 0 {
                    put(out, Property::Binary(property::AUTHENTICATION_DATA, b"r=x"));
                }
            });
            Packet::Auth(sol::codec::Auth {
                reason,
                properties: Properties::from_bytes(&props),
            })
        }
        14 => Packet::Connack(Connack::new(false, ReasonCode::SUCCESS)),
        _ => Packet::Suback(Suback {
            packet_id: id,
            properties: Properties::NONE,
            reason_codes: &[0],
        }),
    };
    p.to_vec(version).expect("small packets encode")
}

impl Driver {
    fn accept(&mut self, conn: ConnId, listener: usize) {
        if self.clients[conn].open {
            return;
        }
        let listener = listener % self.broker.limits().listeners.len();
        self.clients[conn] = Client {
            open: true,
            listener,
            receive_maximum: usize::from(u16::MAX),
            maximum_packet_size: usize::MAX,
            ..Client::default()
        };
        self.broker.accepted(conn, listener, self.now);
        self.drain();
    }

    /// New caps from `choice` (see [`limits`]), and listener policies from its bits 5-6,
    /// as a reload does; then the deadlines are rechecked.
    fn reconfigure(&mut self, choice: u8) {
        let mut limits = limits(choice);
        limits.listeners = listeners(choice >> 5);
        limits
            .listeners
            .truncate(self.broker.limits().listeners.len());
        self.broker.reconfigure(limits, self.now);
        self.reached.reloads += 1;
        self.advance(Duration::ZERO);
    }

    /// Puts the password file and ACL of `choice` in force (see [`variants`]), as a reload
    /// does. Sessions keep what was routed under the previous ACL.
    fn set_auth(&mut self, choice: u8) {
        (self.passwords, self.acl) = variants(choice);
        self.auth = auth(self.passwords, self.acl);
        self.broker.set_auth(self.auth.clone());
        self.reached.reloads += 1;
        let acl = self.acl;
        for c in self.clients.iter_mut().filter(|c| c.client_id.is_some()) {
            add_routed(&mut c.routed, (acl, c.username.clone()));
        }
        for s in self.sessions.values_mut() {
            add_routed(&mut s.routed, (acl, s.username.clone()));
        }
        // A delayed will is judged when its delay ends: under these rules, maybe.
        if let Some(acl) = &self.auth.acl {
            for (will, id, username) in &self.delayed_wills {
                let who = Identity {
                    client_id: id,
                    username: username.as_deref(),
                };
                if acl.allows(who, &will.message.0, Want::Write) {
                    let variants = self.sources.entry(will.message.clone()).or_default();
                    variants.insert(will.variant.clone());
                }
            }
        } else {
            for (will, _, _) in &self.delayed_wills {
                let variants = self.sources.entry(will.message.clone()).or_default();
                variants.insert(will.variant.clone());
            }
        }
    }

    /// Hands one decoded packet to the broker, checking its security decisions.
    fn handle(&mut self, conn: ConnId, packet: Packet<'_>) {
        let c = &self.clients[conn];
        let v5 = c.version == V5;
        let connect = match &packet {
            Packet::Connect(p) if !c.sent_connect => Some(self.connect_check(c.listener, p)),
            _ => None,
        };
        let mut source = None;
        let mut denied_publish = None;
        let mut new_alias = None;
        if let (Packet::Publish(p), Some(id)) = (&packet, &c.client_id) {
            let who = Identity {
                client_id: id,
                username: c.username.as_deref(),
            };
            let acl = self.auth.acl.as_ref();
            // A retained PUBLISH without retain_available is a protocol error first.
            let retain_refused = p.retain && !self.broker.limits().retain_available;
            let topic = if v5 {
                let (topic, alias) = self.alias_topic(c, p);
                new_alias = alias.filter(|_| !retain_refused);
                topic
            } else {
                Some(p.topic.to_string())
            };
            if let Some(topic) = topic {
                if acl.is_none_or(|acl| acl.allows(who, &topic, Want::Write)) {
                    source = Some(((topic, p.payload.to_vec()), variant(&p.properties)));
                } else if !retain_refused {
                    denied_publish = Some(topic);
                }
            }
        }
        if let (Packet::Subscribe(p), Some(id)) = (&packet, &c.client_id) {
            if let Some(sub_id) = p.properties.u32(property::SUBSCRIPTION_IDENTIFIER) {
                let ids = self.subscription_ids.entry(id.clone()).or_default();
                ids.insert(sub_id);
            }
        }
        // The will is discarded [MQTT-3.14.4-3], unless an MQTT 5.0 client asks for it
        // (or breaks a rule with the Session Expiry Interval it sends, which closes the
        // connection as a protocol error).
        let discards_will = matches!(&packet, Packet::Disconnect(d)
            if d.reason != ReasonCode::DISCONNECT_WITH_WILL
                && d.properties.get(property::SESSION_EXPIRY_INTERVAL).is_none());
        if v5 {
            self.client_acks(conn, &packet);
        }
        let before = self.broker.stats().clone();
        let retained = self.broker.retained_count();
        self.clients[conn].sent_connect |= connect.is_some();
        let first_connect = match &packet {
            Packet::Connect(p) if connect.is_some() => Some((p.version, p.properties)),
            _ => None,
        };
        self.broker.handle(conn, packet, self.now);
        let handled = self.broker.stats().messages_received > before.messages_received;
        if let Some(((message, variant), true)) = source.map(|s| (s, handled)) {
            self.sources.entry(message).or_default().insert(variant);
        }
        if let Some((alias, topic)) = new_alias.filter(|_| handled) {
            self.clients[conn].aliases.insert(alias, topic);
        }
        if discards_will && handled {
            self.clients[conn].will = None;
        }
        if let Some((version, props)) = first_connect.filter(|_| handled) {
            // The connection speaks the CONNECT's version from here on, a refusal
            // included; what a 5.0 client asks for holds from CONNACK on.
            let c = &mut self.clients[conn];
            c.version = version;
            if version == V5 {
                if let Some(max) = props.u16(property::RECEIVE_MAXIMUM) {
                    c.receive_maximum = usize::from(max);
                }
                if let Some(max) = props.u32(property::MAXIMUM_PACKET_SIZE) {
                    c.maximum_packet_size = max as usize;
                }
                c.topic_alias_maximum = props.u16(property::TOPIC_ALIAS_MAXIMUM).unwrap_or(0);
            }
        }
        if let Some((id, session, will, refusal)) = connect.filter(|_| handled) {
            // Nothing is written before CONNACK, so the output starts with it.
            let head: Vec<u8> = self
                .broker
                .output(conn)
                .segments()
                .flatten()
                .take(4)
                .copied()
                .collect();
            // The CONNACK return code (3.1.1) or reason code (5.0): byte 3 either way.
            let accepted = head.len() == 4 && head[0] == 0x20 && head[3] == 0;
            if let Some(why) = refusal {
                assert!(!accepted, "CONNECT accepted: {why}");
                self.reached.refused_connects += 1;
            }
            if accepted {
                self.reached.logins +=
                    usize::from(self.auth.passwords.is_some() && session.username.is_some());
                self.connected(conn, id, session);
                self.clients[conn].will = will;
            }
        }
        if let Some(topic) = denied_publish.filter(|_| handled) {
            let stats = self.broker.stats();
            assert_eq!(
                stats.publish_dropped,
                before.publish_dropped + 1,
                "PUBLISH to {topic}, which the ACL denies writing, is dropped"
            );
            assert_eq!(
                self.broker.retained_count(),
                retained,
                "PUBLISH to {topic}, which the ACL denies writing, retains nothing"
            );
            self.reached.denied_publishes += 1;
        }
    }

    /// The topic an MQTT 5.0 PUBLISH from `c` stands for, resolved through its Topic
    /// Alias as the broker does (`None` when the broker must refuse it: an alias out of
    /// range or unknown, or a Subscription Identifier from a client), and the alias it
    /// sets, if it sets one.
    fn alias_topic(&self, c: &Client, p: &Publish<'_>) -> (Option<String>, Option<(u16, String)>) {
        if p.properties
            .get(property::SUBSCRIPTION_IDENTIFIER)
            .is_some()
        {
            return (None, None);
        }
        let Some(alias) = p.properties.u16(property::TOPIC_ALIAS) else {
            return (Some(p.topic.to_string()), None);
        };
        if usize::from(alias) > self.broker.limits().max_topic_alias {
            (None, None)
        } else if p.topic.is_empty() {
            (c.aliases.get(&alias).cloned(), None)
        } else {
            (
                Some(p.topic.to_string()),
                Some((alias, p.topic.to_string())),
            )
        }
    }

    /// An acknowledgment `conn`'s MQTT 5.0 client sends for an outbound QoS 1/2 message:
    /// the flow it completes leaves the Receive Maximum count, now if the client has
    /// seen its PUBLISH (PUBREL), else when it does, if the broker had queued it by now.
    fn client_acks(&mut self, conn: ConnId, packet: &Packet<'_>) {
        let (id, awaiting) = match packet {
            Packet::Puback(a) => (a.packet_id, Awaiting::Puback),
            Packet::Pubcomp(a) => (a.packet_id, Awaiting::Pubcomp),
            Packet::Pubrec(a) if a.reason.0 >= 0x80 => {
                // An error code ends the flow [MQTT-4.3.3 of 5.0]; if the broker does not
                // count it out, it only sends less.
                let c = &mut self.clients[conn];
                if c.unacked.get(&a.packet_id) == Some(&Awaiting::Pubrec) {
                    c.unacked.remove(&a.packet_id);
                }
                return;
            }
            _ => return,
        };
        let pending: usize = self.broker.output(conn).segments().map(<[u8]>::len).sum();
        let c = &mut self.clients[conn];
        if c.unacked.get(&id) == Some(&awaiting) {
            c.unacked.remove(&id);
        } else {
            let horizon = c.framed + c.received.len() as u64 + pending as u64;
            c.early_acks.push((id, awaiting, horizon));
        }
    }

    /// The client id, session and will a CONNECT asks for, and why the broker must refuse
    /// it, if it must.
    fn connect_check(
        &self,
        listener: usize,
        p: &Connect<'_>,
    ) -> (
        String,
        SessionModel,
        Option<WillModel>,
        Option<&'static str>,
    ) {
        let id = if p.client_id.is_empty() {
            AUTO_ID
        } else {
            p.client_id
        };
        let anonymous_ok = self.broker.limits().listeners[listener].allow_anonymous;
        let password = p.password.unwrap_or_default();
        let refusal = match (p.username, self.passwords) {
            (None, _) if !anonymous_ok => Some("anonymous on a listener that refuses them"),
            (Some(user), Some(file)) if !LOGINS[file].contains(&(user, password)) => {
                Some("wrong password or unknown user")
            }
            _ => None,
        };
        let who = Identity {
            client_id: id,
            username: p.username,
        };
        let will_denied = match (&p.will, &self.auth.acl) {
            (Some(w), Some(acl)) => !acl.allows(who, w.topic, Want::Write),
            _ => false,
        };
        let refusal = refusal.or(will_denied.then_some("will to a topic the ACL denies"));
        // No enhanced authentication method is configured [MQTT-4.12.0-1 of 5.0].
        let auth_method = p.properties.get(property::AUTHENTICATION_METHOD).is_some();
        let refusal =
            refusal.or(auth_method.then_some("an authentication method, none configured"));
        let username = p.username.map(str::to_string);
        let kept = if p.version == V5 {
            p.properties
                .u32(property::SESSION_EXPIRY_INTERVAL)
                .is_some_and(|e| e > 0)
        } else {
            !p.clean_session
        };
        let session = SessionModel {
            clean_start: p.clean_session,
            kept,
            routed: vec![(self.acl, username.clone())],
            username,
        };
        let will = p.will.map(|w| WillModel {
            message: (w.topic.to_string(), w.payload.to_vec()),
            variant: variant(&w.properties),
            delayed: w
                .properties
                .u32(property::WILL_DELAY_INTERVAL)
                .is_some_and(|d| d > 0),
        });
        (id.to_string(), session, will, refusal)
    }

    /// `conn`'s CONNECT for client id `id` was accepted: its identity, and the rules its
    /// session's messages may have been routed under (more when it is resumed).
    fn connected(&mut self, conn: ConnId, id: String, mut session: SessionModel) {
        if id != AUTO_ID {
            // Resumed only when both this CONNECT and the last accepted one kept the
            // session [MQTT-3.1.2-4], [MQTT-3.1.2-6]; otherwise it is new.
            if let Some(last) = self.sessions.get(&id).filter(|l| l.kept) {
                if !session.clean_start {
                    let new = session.routed.pop().expect("a new session has its rules");
                    session.routed.clone_from(&last.routed);
                    add_routed(&mut session.routed, new);
                }
            }
            let model = SessionModel {
                clean_start: session.clean_start,
                kept: session.kept,
                username: session.username.clone(),
                routed: session.routed.clone(),
            };
            self.sessions.insert(id.clone(), model);
        }
        let c = &mut self.clients[conn];
        c.client_id = Some(id);
        c.username = session.username;
        c.routed = session.routed;
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
            match decode(&frame, self.clients[conn].version) {
                Ok(packet) => self.handle(conn, packet),
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
        for seg in self.broker.output(conn).segments() {
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
        let will = c.will.take();
        if let (Some(will), Some(id)) = (will, &c.client_id) {
            // Published unless the client sent DISCONNECT, if it may still write the topic:
            // the ACL may have changed since CONNECT.
            let who = Identity {
                client_id: id,
                username: c.username.as_deref(),
            };
            let published = !matches!(
                reason,
                CloseReason::ClientDisconnect | CloseReason::Shutdown
            );
            let acl = self.auth.acl.as_ref();
            if published && acl.is_none_or(|acl| acl.allows(who, &will.message.0, Want::Write)) {
                let variants = self.sources.entry(will.message.clone()).or_default();
                variants.insert(will.variant.clone());
            }
            if published && will.delayed {
                let (id, username) = (id.clone(), c.username.clone());
                self.delayed_wills.push((will, id, username));
            }
        }
        c.open = false;
        c.client_id = None;
        c.inbound.clear();
        self.broker.closed(conn, reason, self.now);
        self.drain();
    }

    fn advance(&mut self, step: Duration) {
        self.now += step;
        // As the reactor asks: the core's next deadline on its clock, due or not.
        let due = self
            .broker
            .next_tick()
            .is_some_and(|t| self.broker.is_due(t, self.now));
        if due || step.is_zero() {
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
        let acls = self.acls;
        let sources = &self.sources;
        let subscription_ids = &self.subscription_ids;
        let checked = &mut self.reached.checked_deliveries;
        let c = &mut self.clients[conn];
        let mut received = std::mem::take(&mut c.received);
        received.extend_from_slice(bytes);
        let v5 = c.version == V5;
        let mut offset = 0;
        loop {
            let rest = &received[offset..];
            let header = FixedHeader::parse(rest).expect("the broker writes valid headers");
            let Some(header) = header else { break };
            if rest.len() < header.packet_len() {
                break;
            }
            let frame = &rest[..header.packet_len()];
            let packet = decode(frame, c.version).unwrap_or_else(|e| {
                panic!(
                    "the broker writes packets that decode ({}): {e:?} {frame:02x?}",
                    c.version
                )
            });
            assert!(
                !c.disconnected,
                "a packet after the broker's DISCONNECT: {packet:?}"
            );
            assert!(
                !matches!(
                    packet,
                    Packet::Connect(_)
                        | Packet::Subscribe(_)
                        | Packet::Unsubscribe(_)
                        | Packet::Pingreq
                        | Packet::Auth(_)
                ),
                "a server never sends {packet:?} (no enhanced authentication either)"
            );
            // MQTT 5.0 servers send DISCONNECT before they close [MQTT-4.13.1-1 of 5.0].
            assert!(
                v5 || !matches!(packet, Packet::Disconnect(_)),
                "a server never sends an MQTT 3.1.1 client {packet:?}"
            );
            c.disconnected |= matches!(packet, Packet::Disconnect(_));
            // An Application Message too large for the client is not sent
            // [MQTT-3.1.2-24, MQTT-3.1.2-25 of 5.0]. (Other packets cannot be dropped: a
            // client whose Maximum Packet Size is smaller than an acknowledgment, or than
            // a CONNACK with an Assigned Client Identifier, gets them whole.)
            if matches!(packet, Packet::Publish(_)) {
                assert!(
                    frame.len() <= c.maximum_packet_size,
                    "{} bytes to a client whose Maximum Packet Size is {} \
                     [MQTT-3.1.2-24 of 5.0]: {packet:?}",
                    frame.len(),
                    c.maximum_packet_size
                );
            }
            assert_eq!(
                c.packets == 0,
                matches!(packet, Packet::Connack(_)),
                "CONNACK comes first, and once: {packet:?}"
            );
            let end = c.framed + frame.len() as u64;
            let mut topic = String::new();
            if let Packet::Publish(p) = &packet {
                topic = match p.properties.u16(property::TOPIC_ALIAS) {
                    None => p.topic.to_string(),
                    Some(alias) => {
                        assert!(
                            alias <= c.topic_alias_maximum,
                            "Topic Alias {alias} beyond the client's maximum {} \
                             [MQTT-3.3.2-9 of 5.0]",
                            c.topic_alias_maximum
                        );
                        if p.topic.is_empty() {
                            let known = c.broker_aliases.get(&alias);
                            known.expect("an empty topic with a known alias").clone()
                        } else {
                            c.broker_aliases.insert(alias, p.topic.to_string());
                            p.topic.to_string()
                        }
                    }
                };
                let message = (topic.clone(), p.payload.to_vec());
                let sent = sources.get(&message);
                assert!(
                    topic.starts_with("$SYS") || sent.is_some(),
                    "{:?} received {message:?}, which no client that may write it sent",
                    c.client_id
                );
                if let (Some(sent), true) = (sent, v5) {
                    let got = variant(&p.properties);
                    assert!(
                        sent.iter().any(|s| delivers(s, &got)),
                        "{:?} received {message:?} with {got:?}, sent with one of {sent:?}",
                        c.client_id
                    );
                }
                let ids = c.client_id.as_ref().and_then(|id| subscription_ids.get(id));
                for p in p.properties.iter() {
                    if let Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, sub_id) = p {
                        assert!(
                            ids.is_some_and(|ids| ids.contains(&sub_id)),
                            "{:?} received Subscription Identifier {sub_id}, not one of {ids:?}",
                            c.client_id
                        );
                    }
                }
                if let Some(id) = p.packet_id {
                    let awaiting = if p.qos == QoS::AtLeastOnce {
                        Awaiting::Puback
                    } else {
                        Awaiting::Pubrec
                    };
                    let early = c.early_acks.iter().position(|&(early, kind, horizon)| {
                        early == id && kind == awaiting && horizon >= end
                    });
                    if let Some(i) = early {
                        c.early_acks.swap_remove(i);
                    } else {
                        c.unacked.insert(id, awaiting);
                    }
                    // Re-sending on resume too (fuzz/regressions/broker/
                    // v5-retransmit-beyond-receive-maximum).
                    assert!(
                        !v5 || c.unacked.len() <= c.receive_maximum,
                        "{} unacknowledged QoS 1/2 PUBLISHes to a client whose Receive \
                         Maximum is {} [MQTT-3.3.4-7 of 5.0]: {:?}",
                        c.unacked.len(),
                        c.receive_maximum,
                        c.unacked
                    );
                }
            }
            if let Packet::Pubrel(a) = &packet {
                if c.unacked.get(&a.packet_id) == Some(&Awaiting::Pubrec) {
                    let early = c.early_acks.iter().position(|&(early, kind, horizon)| {
                        early == a.packet_id && kind == Awaiting::Pubcomp && horizon >= end
                    });
                    if let Some(i) = early {
                        c.early_acks.swap_remove(i);
                        c.unacked.remove(&a.packet_id);
                    } else {
                        c.unacked.insert(a.packet_id, Awaiting::Pubcomp);
                    }
                }
            }
            if let (Packet::Publish(_), Some(id)) = (&packet, &c.client_id) {
                *checked += usize::from(c.routed.iter().any(|(acl, _)| acl.is_some()));
                let readable = c.routed.iter().any(|(acl, user)| {
                    let who = Identity {
                        client_id: id,
                        username: user.as_deref(),
                    };
                    acl.is_none_or(|i| acls[i].allows(who, &topic, Want::Read))
                });
                assert!(
                    readable,
                    "{id} received {topic}, which its ACL denies it reading ({:?})",
                    c.routed
                );
            }
            c.packets += 1;
            c.framed = end;
            offset += header.packet_len();
        }
        received.drain(..offset);
        c.received = received;
        // Acknowledgments no PUBLISH still to come can answer.
        let framed = c.framed;
        c.early_acks.retain(|&(_, _, horizon)| horizon > framed);
    }

    /// Invariants that hold between events.
    fn check(&self) {
        for (conn, c) in self.clients.iter().enumerate() {
            if !c.open {
                assert!(
                    self.broker.output(conn).segments().next().is_none(),
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

/// Adds `rules` to `routed` unless they are there already.
fn add_routed(routed: &mut Vec<Routed>, rules: Routed) {
    if !routed.contains(&rules) {
        routed.push(rules);
    }
}
