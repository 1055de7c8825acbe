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
    decode, encode_subscribe, encode_unsubscribe, Connack, Connect, FixedHeader, Packet,
    Properties, ProtocolVersion, Publish, QoS, ReasonCode, Suback, Will,
};

/// The version packets are decoded and encoded in after CONNECT: the driver's clients
/// speak MQTT 3.1 or 3.1.1, whose packets after CONNECT are the same on the wire.
const V311: ProtocolVersion = ProtocolVersion::V311;
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
    /// The will of its accepted CONNECT (topic, payload), until DISCONNECT discards it.
    will: Option<Message>,
}

/// A message as a client sees it: topic and payload.
type Message = (String, Vec<u8>);

/// An ACL (an index into [`ACLS`]; none: everything allowed) and the username it was
/// applied to.
type Routed = (Option<usize>, Option<String>);

/// What the driver knows of the session of a client id, from its last accepted CONNECT.
struct SessionModel {
    /// That CONNECT asked for a clean session (nothing of it outlives the connection).
    clean: bool,
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
    /// Messages a client published, or left as its will, while the ACL let it write them:
    /// every PUBLISH a client receives is one of these, or a `$SYS` message.
    sources: HashSet<Message>,
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
        sources: HashSet::new(),
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
                let bytes = packet(&mut input);
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
            let version = if input.u8().is_multiple_of(8) {
                ProtocolVersion::V31
            } else {
                V311
            };
            let will = if input.bool() {
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
            let password = match username {
                Some(_) => {
                    let pw = input.u8();
                    (pw & 1 == 1).then(|| PASSWORDS[usize::from(pw >> 1) % PASSWORDS.len()])
                }
                None => None,
            };
            Packet::Connect(Connect {
                version,
                clean_session,
                keep_alive,
                properties: Properties::NONE,
                client_id,
                will,
                username,
                password,
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
                properties: Properties::NONE,
                payload: input.bytes(24),
            })
        }
        6 => Packet::puback(id),
        7 => Packet::pubrec(id),
        8 => Packet::pubrel(id),
        9 => Packet::pubcomp(id),
        10 => {
            let filters: Vec<(String, QoS)> = (0..1 + input.u8() % 3)
                .map(|_| (input.filter(), input.qos()))
                .collect();
            let filters: Vec<(&str, QoS)> = filters.iter().map(|(f, q)| (f.as_str(), *q)).collect();
            encode_subscribe(V311, id, Properties::NONE, &filters, &mut out)
                .expect("small filters encode");
            return out;
        }
        11 => {
            let filters: Vec<String> = (0..1 + input.u8() % 2).map(|_| input.filter()).collect();
            let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
            encode_unsubscribe(V311, id, &filters, &mut out).expect("small filters encode");
            return out;
        }
        12 => Packet::Pingreq,
        13 => Packet::disconnect(),
        14 => Packet::Connack(Connack::new(false, ReasonCode::SUCCESS)),
        _ => Packet::Suback(Suback {
            packet_id: id,
            properties: Properties::NONE,
            reason_codes: &[0],
        }),
    };
    p.to_vec(V311).expect("small packets encode")
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
    }

    /// Hands one decoded packet to the broker, checking its security decisions.
    fn handle(&mut self, conn: ConnId, packet: Packet<'_>) {
        let c = &self.clients[conn];
        let connect = match &packet {
            Packet::Connect(p) if !c.sent_connect => Some(self.connect_check(c.listener, p)),
            _ => None,
        };
        let mut source = None;
        let mut denied_publish = None;
        if let (Packet::Publish(p), Some(id)) = (&packet, &c.client_id) {
            let who = Identity {
                client_id: id,
                username: c.username.as_deref(),
            };
            let acl = self.auth.acl.as_ref();
            // A retained PUBLISH without retain_available is a protocol error first.
            let retain_refused = p.retain && !self.broker.limits().retain_available;
            if acl.is_none_or(|acl| acl.allows(who, p.topic, Want::Write)) {
                source = Some((p.topic.to_string(), p.payload.to_vec()));
            } else if !retain_refused {
                denied_publish = Some(p.topic.to_string());
            }
        }
        let disconnect = matches!(packet, Packet::Disconnect(_));
        let before = self.broker.stats().clone();
        let retained = self.broker.retained_count();
        self.clients[conn].sent_connect |= connect.is_some();
        self.broker.handle(conn, packet, self.now);
        let handled = self.broker.stats().messages_received > before.messages_received;
        if let Some(message) = source.filter(|_| handled) {
            self.sources.insert(message);
        }
        if disconnect && handled {
            // The will is discarded [MQTT-3.14.4-3].
            self.clients[conn].will = None;
        }
        if let Some((id, session, will, refusal)) = connect.filter(|_| handled) {
            // Nothing is written before CONNACK, so the output starts with it.
            let head: Vec<u8> = self
                .broker
                .output(conn)
                .flatten()
                .take(4)
                .copied()
                .collect();
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

    /// The client id, session and will a CONNECT asks for, and why the broker must refuse
    /// it, if it must.
    fn connect_check(
        &self,
        listener: usize,
        p: &Connect<'_>,
    ) -> (String, SessionModel, Option<Message>, Option<&'static str>) {
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
        let username = p.username.map(str::to_string);
        let session = SessionModel {
            clean: p.clean_session,
            routed: vec![(self.acl, username.clone())],
            username,
        };
        let will = p.will.map(|w| (w.topic.to_string(), w.payload.to_vec()));
        (id.to_string(), session, will, refusal)
    }

    /// `conn`'s CONNECT for client id `id` was accepted: its identity, and the rules its
    /// session's messages may have been routed under (more when it is resumed).
    fn connected(&mut self, conn: ConnId, id: String, mut session: SessionModel) {
        if id != AUTO_ID {
            // Resumed only when both this CONNECT and the last accepted one kept the
            // session [MQTT-3.1.2-4], [MQTT-3.1.2-6]; otherwise it is new.
            if let Some(last) = self.sessions.get(&id).filter(|l| !l.clean) {
                if !session.clean {
                    let new = session.routed.pop().expect("a new session has its rules");
                    session.routed.clone_from(&last.routed);
                    add_routed(&mut session.routed, new);
                }
            }
            let kept = SessionModel {
                clean: session.clean,
                username: session.username.clone(),
                routed: session.routed.clone(),
            };
            self.sessions.insert(id.clone(), kept);
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
            match decode(&frame, V311) {
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
            if published && acl.is_none_or(|acl| acl.allows(who, &will.0, Want::Write)) {
                self.sources.insert(will);
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
        let acls = self.acls;
        let sources = &self.sources;
        let checked = &mut self.reached.checked_deliveries;
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
            let packet = decode(frame, V311).expect("the broker writes packets that decode");
            assert!(
                !matches!(
                    packet,
                    Packet::Connect(_)
                        | Packet::Subscribe(_)
                        | Packet::Unsubscribe(_)
                        | Packet::Pingreq
                        | Packet::Disconnect(_)
                ),
                "a server never sends {packet:?}"
            );
            assert_eq!(
                c.packets == 0,
                matches!(packet, Packet::Connack(_)),
                "CONNACK comes first, and once: {packet:?}"
            );
            if let Packet::Publish(p) = &packet {
                let message = (p.topic.to_string(), p.payload.to_vec());
                assert!(
                    p.topic.starts_with("$SYS") || sources.contains(&message),
                    "{:?} received {message:?}, which no client that may write it sent",
                    c.client_id
                );
            }
            if let (Packet::Publish(p), Some(id)) = (&packet, &c.client_id) {
                *checked += usize::from(c.routed.iter().any(|(acl, _)| acl.is_some()));
                let readable = c.routed.iter().any(|(acl, user)| {
                    let who = Identity {
                        client_id: id,
                        username: user.as_deref(),
                    };
                    acl.is_none_or(|i| acls[i].allows(who, p.topic, Want::Read))
                });
                assert!(
                    readable,
                    "{id} received {}, which its ACL denies it reading ({:?})",
                    p.topic, c.routed
                );
            }
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

/// Adds `rules` to `routed` unless they are there already.
fn add_routed(routed: &mut Vec<Routed>, rules: Routed) {
    if !routed.contains(&rules) {
        routed.push(rules);
    }
}
