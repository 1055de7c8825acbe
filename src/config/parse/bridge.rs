//! A bridge's keys: Mosquitto's `connection` block and Sol's outbox keys. Which bridge a
//! line applies to, each key's value, the defaults that depend on other keys (client ids,
//! `local_cleansession`), the checks once the file is read (an address and a topic per
//! bridge, unique names and local client ids, at most [`MAX_BRIDGES`]), the warnings about
//! topic mappings that may loop, and the bridge's [`UpstreamTls`], built here once (its
//! PEM files read by [`crate::tls`]).
//!
//! As in Mosquitto (`config__read_file_core`), `connection NAME` opens a bridge and the
//! bridge keys after it apply to it until the next `connection` line or the end of its
//! file: an included file starts with no bridge open, and the main file goes on with its
//! own after the include. Other keys keep their scope (a `listener` line inside a block
//! opens a listener; the bridge keys after it still apply to the bridge). A bridge key
//! with no bridge open is an error. Without the `tls` feature the bridge's TLS keys are
//! errors, as a listener's are.
//!
//! This file must not resolve addresses or open sockets (the bridge does, when it
//! connects), nor read the PEM files itself. The keys Sol refuses (`bridge_psk`,
//! `bridge_ciphers`, ...) are data in `keys`.

use super::super::bridge::{
    BridgeAddress, BridgeConfig, BridgeProtocol, Direction, OutboxPolicy, RestartTimeout,
    StartType, TopicMapping, DEFAULT_BRIDGE_PORT, MAX_BRIDGES,
};
use super::super::keys::{self, MAX_TIMEOUT_SECS};
use super::super::{value, PROTOCOL_MAX_PACKET_SIZE};
use super::Parser;
use crate::codec::QoS;
use crate::tls::{TlsVersion, UpstreamTls, UpstreamTlsSettings, NO_TLS};
use crate::topic::{self, Relation};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// How a bridge key's value is read, and where it goes.
#[derive(Clone, Copy)]
enum Kind {
    /// `connection NAME`: opens a bridge.
    Connection,
    /// `address`, `addresses`.
    Addresses,
    /// `topic`.
    Topic,
    /// `restart_timeout`.
    Restart,
    /// `bridge_bind_address`: an IP address.
    BindAddress,
    /// `notification_topic`: a topic name.
    NotificationTopic,
    /// `local_password`: accepted, unused.
    LocalPassword,
    /// `bridge_require_ocsp`: `false` only.
    Ocsp,
    /// `true` or `false`, into the field.
    Flag(fn(&mut PendingBridge) -> &mut bool),
    /// A decimal integer in `min..=max`, set by the function.
    Int(i64, i64, fn(&mut BridgeConfig, i64)),
    /// A size in bytes in `min..=max` (`k` and `M` suffixes), set by the function.
    Size(u64, u64, fn(&mut BridgeConfig, u64)),
    /// One of the names, set by the function from its index.
    Choice(&'static [&'static str], fn(&mut PendingBridge, usize)),
    /// One word, set by the function.
    Text(fn(&mut PendingBridge, String)),
}

/// Every key this file handles, with how its value is read.
const KEYS: &[(&str, Kind)] = &[
    ("connection", Kind::Connection),
    ("address", Kind::Addresses),
    ("addresses", Kind::Addresses),
    ("topic", Kind::Topic),
    ("restart_timeout", Kind::Restart),
    ("bridge_bind_address", Kind::BindAddress),
    ("notification_topic", Kind::NotificationTopic),
    ("local_password", Kind::LocalPassword),
    ("bridge_require_ocsp", Kind::Ocsp),
    ("round_robin", Kind::Flag(|p| &mut p.bridge.round_robin)),
    ("cleansession", Kind::Flag(|p| &mut p.bridge.cleansession)),
    (
        "local_cleansession",
        Kind::Flag(|p| p.local_cleansession.get_or_insert(false)),
    ),
    ("notifications", Kind::Flag(|p| &mut p.bridge.notifications)),
    (
        "notifications_local_only",
        Kind::Flag(|p| &mut p.bridge.notifications_local_only),
    ),
    ("try_private", Kind::Flag(|p| &mut p.bridge.try_private)),
    (
        "bridge_attempt_unsubscribe",
        Kind::Flag(|p| &mut p.bridge.attempt_unsubscribe),
    ),
    (
        "bridge_outgoing_retain",
        Kind::Flag(|p| &mut p.bridge.outgoing_retain),
    ),
    (
        "bridge_outbox_qos0",
        Kind::Flag(|p| &mut p.bridge.outbox.queue_qos0),
    ),
    ("bridge_insecure", Kind::Flag(|p| &mut p.tls.insecure)),
    // The bounds keep each value within its field's type.
    (
        "keepalive_interval",
        Kind::Int(5, 65535, |b, v| b.keepalive = v as u16),
    ),
    (
        "idle_timeout",
        Kind::Int(1, MAX_TIMEOUT_SECS as i64, |b, v| {
            b.idle_timeout = Duration::from_secs(v as u64)
        }),
    ),
    (
        "threshold",
        Kind::Int(1, u32::MAX as i64, |b, v| b.threshold = v as u32),
    ),
    (
        "bridge_receive_maximum",
        Kind::Int(1, 65535, |b, v| b.receive_maximum = v as u16),
    ),
    (
        "bridge_session_expiry_interval",
        Kind::Int(0, u32::MAX as i64, |b, v| b.session_expiry = Some(v as u32)),
    ),
    (
        "bridge_outbox_messages",
        Kind::Int(1, MAX_COUNT, |b, v| b.outbox.max_messages = v as usize),
    ),
    (
        "bridge_max_packet_size",
        Kind::Size(0, PROTOCOL_MAX_PACKET_SIZE as u64, |b, v| {
            b.max_packet_size = v as u32
        }),
    ),
    (
        "bridge_outbox_bytes",
        Kind::Size(1, usize::MAX as u64, |b, v| b.outbox.max_bytes = v as usize),
    ),
    (
        "start_type",
        Kind::Choice(&["automatic", "lazy", "once"], |p, i| {
            p.bridge.start_type = [StartType::Automatic, StartType::Lazy, StartType::Once][i]
        }),
    ),
    (
        "bridge_protocol_version",
        Kind::Choice(&["mqttv31", "mqttv311", "mqttv50"], |p, i| {
            p.bridge.protocol = [
                BridgeProtocol::V31,
                BridgeProtocol::V311,
                BridgeProtocol::V5,
            ][i]
        }),
    ),
    (
        "bridge_outbox_policy",
        Kind::Choice(&["drop_oldest", "refuse_new"], |p, i| {
            p.bridge.outbox.policy = [OutboxPolicy::DropOldest, OutboxPolicy::RefuseNew][i]
        }),
    ),
    (
        "bridge_tls_version",
        Kind::Choice(&["tlsv1.2", "tlsv1.3"], |p, i| {
            p.tls.min_version = [TlsVersion::Tls12, TlsVersion::Tls13][i]
        }),
    ),
    (
        "remote_clientid",
        Kind::Text(|p, v| p.bridge.remote_clientid = v),
    ),
    ("clientid", Kind::Text(|p, v| p.bridge.remote_clientid = v)),
    (
        "local_clientid",
        Kind::Text(|p, v| p.bridge.local_clientid = v),
    ),
    (
        "remote_username",
        Kind::Text(|p, v| p.bridge.remote_username = Some(v)),
    ),
    (
        "username",
        Kind::Text(|p, v| p.bridge.remote_username = Some(v)),
    ),
    (
        "remote_password",
        Kind::Text(|p, v| p.bridge.remote_password = Some(v)),
    ),
    (
        "password",
        Kind::Text(|p, v| p.bridge.remote_password = Some(v)),
    ),
    (
        "local_username",
        Kind::Text(|p, v| p.bridge.local_username = Some(v)),
    ),
    ("bridge_alpn", Kind::Text(|p, v| p.tls.alpn = Some(v))),
    (
        "bridge_cafile",
        Kind::Text(|p, v| p.tls.cafile = Some(v.into())),
    ),
    (
        "bridge_capath",
        Kind::Text(|p, v| p.tls.capath = Some(v.into())),
    ),
    (
        "bridge_certfile",
        Kind::Text(|p, v| p.tls.certfile = Some(v.into())),
    ),
    (
        "bridge_keyfile",
        Kind::Text(|p, v| p.tls.keyfile = Some(v.into())),
    ),
];

/// Largest count on this target (`usize::MAX`, as far as `i64` reaches).
const MAX_COUNT: i64 = if (usize::MAX as u64) < i64::MAX as u64 {
    usize::MAX as i64
} else {
    i64::MAX
};

/// Whether `key` is one of a bridge's keys.
pub(super) fn is_key(key: &str) -> bool {
    KEYS.iter().any(|(k, _)| *k == key)
}

/// The keys of a bridge's TLS: errors without the `tls` feature, and, in a bridge
/// without `bridge_cafile` or `bridge_capath`, errors at their line.
const TLS_KEYS: &[&str] = &[
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_keyfile",
    "bridge_insecure",
    "bridge_alpn",
    "bridge_tls_version",
];

/// Why `local_password` changes nothing.
const LOCAL_PASSWORD: &str = "local_password: accepted, but not used: the bridge enters \
    Sol's core directly, not through a listener, so no password is checked on the local \
    side; local_username still decides what the ACL lets it read and write";

/// A `connection` block as its lines set it so far.
pub(super) struct PendingBridge {
    /// The bridge, its defaults applied; client ids and `local_cleansession` are set
    /// once the file is read. `topics[..].line` holds parse positions until then.
    bridge: BridgeConfig,
    /// The `connection` line.
    line: usize,
    /// The `address` (or `addresses`) line, once given.
    address_line: Option<usize>,
    /// A `topic` line was given (valid or not).
    topic_seen: bool,
    /// `local_cleansession`, when given (default: `cleansession`, wherever its line is).
    local_cleansession: Option<bool>,
    /// The `remote_password` line, when given.
    password_line: Option<usize>,
    /// The TLS keys as given.
    tls: UpstreamTlsSettings,
    /// Each TLS key given, with its line.
    tls_lines: Vec<(&'static str, usize)>,
}

impl Parser<'_> {
    /// A key of a bridge ([`KEYS`]).
    pub(super) fn bridge_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<&'static str> {
        let (key, kind) = KEYS.iter().copied().find(|(k, _)| *k == key)?;
        if let Kind::Connection = kind {
            let name = self.one(line, key, args)?;
            self.bridges.push(PendingBridge {
                bridge: BridgeConfig::new(name.to_string(), self.origin(line)),
                line,
                address_line: None,
                topic_seen: false,
                local_cleansession: None,
                password_line: None,
                tls: UpstreamTlsSettings::default(),
                tls_lines: Vec::new(),
            });
            self.bridge = Some(self.bridges.len() - 1);
            return Some(key);
        }
        let tls = TLS_KEYS.contains(&key);
        if tls && !cfg!(feature = "tls") {
            self.error(line, format!("{key}: {NO_TLS}"));
            return None;
        }
        let Some(i) = self.bridge else {
            let why = format!("{key}: applies to a bridge; put it after a 'connection' line");
            self.error(line, why);
            return None;
        };
        match kind {
            Kind::Connection => {}
            Kind::Addresses => self.bridge_addresses(i, line, key, args)?,
            Kind::Topic => self.bridge_topic(i, line, args)?,
            Kind::Restart => self.bridge_restart(i, line, args)?,
            Kind::BindAddress => {
                let v = self.one(line, key, args)?;
                let Ok(ip) = v.parse::<IpAddr>() else {
                    let why = format!("{key}: expected an IP address of this machine, found '{v}'");
                    self.error(line, why);
                    return None;
                };
                self.bridges[i].bridge.bind_address = Some(ip);
            }
            Kind::NotificationTopic => {
                let v = self.one(line, key, args)?;
                if v.contains(['+', '#']) {
                    let why = format!(
                        "{key}: '{v}' is not a topic name: it may not contain the wildcards + or #"
                    );
                    self.error(line, why);
                    return None;
                }
                self.bridges[i].bridge.notification_topic = Some(v.to_string());
            }
            Kind::LocalPassword => {
                self.one(line, key, args)?;
                self.warn(line, LOCAL_PASSWORD);
            }
            Kind::Ocsp => {
                if self.bool_arg(line, key, args)? {
                    self.error(line, format!("{key} true: not supported: {}", keys::OCSP));
                    return None;
                }
            }
            Kind::Flag(field) => *field(&mut self.bridges[i]) = self.bool_arg(line, key, args)?,
            Kind::Int(min, max, set) => {
                let v = self.int_arg(line, key, args, min, max)?;
                set(&mut self.bridges[i].bridge, v);
            }
            Kind::Size(min, max, set) => {
                let token = self.one(line, key, args)?;
                let v = value::parse_size(token, min, max);
                let v = v.map_err(|e| self.value_error(line, key, e)).ok()?;
                set(&mut self.bridges[i].bridge, v);
            }
            Kind::Choice(names, set) => {
                let token = self.one(line, key, args)?;
                let Some(n) = names.iter().position(|name| *name == token) else {
                    let (last, rest) = names.split_last()?;
                    let rest = rest.join(", ");
                    let why = format!("{key}: expected {rest} or {last}, found '{token}'");
                    self.error(line, why);
                    return None;
                };
                set(&mut self.bridges[i], n);
            }
            Kind::Text(set) => {
                let v = self.one(line, key, args)?.to_string();
                if key.ends_with("password") {
                    self.bridges[i].password_line = Some(line);
                }
                set(&mut self.bridges[i], v);
            }
        }
        if tls {
            self.bridges[i].tls_lines.push((key, line));
        }
        Some(key)
    }

    /// `address` or `addresses` for bridge `i`: given once, every argument an address.
    fn bridge_addresses(&mut self, i: usize, line: usize, key: &str, args: &[&str]) -> Option<()> {
        if let Some(first) = self.bridges[i].address_line {
            let first = self.place(first, line);
            self.error(
                line,
                format!(
                    "{key}: the bridge's addresses are already given at {first}; list \
                     them all on one line"
                ),
            );
            return None;
        }
        self.bridges[i].address_line = Some(line);
        if args.is_empty() {
            self.error(line, format!("{key}: missing value"));
            return None;
        }
        let mut addresses = Vec::with_capacity(args.len());
        for a in args {
            match bridge_address(a) {
                Ok(address) => addresses.push(address),
                Err(why) => {
                    self.error(line, format!("{key}: '{a}': {why}"));
                    return None;
                }
            }
        }
        self.bridges[i].bridge.addresses = addresses;
        Some(())
    }

    /// A `topic` line for bridge `i`; the same mapping twice is kept once.
    fn bridge_topic(&mut self, i: usize, line: usize, args: &[&str]) -> Option<()> {
        self.bridges[i].topic_seen = true;
        let mapping = topic_mapping(args, line);
        let mapping = mapping.map_err(|e| self.error(line, format!("topic: {e}")));
        let mapping = mapping.ok()?;
        let topics = &self.bridges[i].bridge.topics;
        let same = |t: &&TopicMapping| {
            TopicMapping {
                line: t.line,
                ..mapping.clone()
            } == **t
        };
        if let Some(earlier) = topics.iter().find(same).map(|t| t.line) {
            let earlier = self.place(earlier, line);
            let why = format!("topic: the same mapping as {earlier}; ignored, as Mosquitto does");
            self.warn(line, why);
        } else {
            self.bridges[i].bridge.topics.push(mapping);
        }
        Some(())
    }

    /// `restart_timeout N` or `restart_timeout BASE CAP` for bridge `i`.
    fn bridge_restart(&mut self, i: usize, line: usize, args: &[&str]) -> Option<()> {
        let key = "restart_timeout";
        let mut values = [0; 2];
        for (v, token) in values.iter_mut().zip(args) {
            let secs = value::parse_int(token, 1, MAX_TIMEOUT_SECS as i64);
            *v = secs.map_err(|e| self.value_error(line, key, e)).ok()?;
        }
        let secs = |s: i64| Duration::from_secs(s.unsigned_abs());
        self.bridges[i].bridge.restart = match (args.len(), values) {
            (1, [n, _]) => RestartTimeout::Constant(secs(n)),
            (2, [base, cap]) if base <= cap => RestartTimeout::Backoff {
                base: secs(base),
                cap: secs(cap),
            },
            (2, [base, cap]) => {
                let why =
                    format!("restart_timeout: the cap ({cap} s) is lower than the base ({base} s)");
                self.error(line, why);
                return None;
            }
            _ => {
                let why = "restart_timeout: expected one number of seconds (a constant \
                           wait) or two, BASE CAP (a back-off from BASE up to CAP)";
                self.error(line, why);
                return None;
            }
        };
        Some(())
    }

    /// Checks every bridge now that the file is read, derives the defaults that depend on
    /// other keys, builds each bridge's TLS, warns about mappings that may loop, and sets
    /// `config.bridges`.
    pub(super) fn finish_bridges(&mut self) {
        let pending = std::mem::take(&mut self.bridges);
        let mut hostname = None;
        let mut bridges: Vec<(usize, BridgeConfig)> = Vec::new();
        for p in pending {
            let line = p.line;
            let tls = self.bridge_tls(&p);
            let mut b = p.bridge;
            let name = &b.name;
            // A bad address or topic line has its own error.
            if p.address_line.is_none() {
                let why = format!(
                    "connection {name}: no 'address' line: a bridge needs its upstream's \
                     HOST[:PORT]"
                );
                self.error(line, why);
            }
            if !p.topic_seen {
                let why = format!(
                    "connection {name}: no 'topic' line: a bridge forwards only the topics \
                     its topic lines name"
                );
                self.error(line, why);
            }
            if let (Some(at), None) = (p.password_line, &b.remote_username) {
                let why = "remote_password: needs remote_username too (an MQTT 3.1.1 CONNECT \
                           carries no password without a user name [MQTT-3.1.2-22])";
                self.error(at, why);
            }
            if b.remote_clientid.is_empty() {
                // As Mosquitto (`config__check_bridges`): HOSTNAME.NAME.
                let host = hostname.get_or_insert_with(|| {
                    let host = nix::unistd::gethostname().ok();
                    host.and_then(|h| h.into_string().ok())
                        .unwrap_or_else(|| "localhost".into())
                });
                b.remote_clientid = format!("{host}.{name}");
            }
            if b.local_clientid.is_empty() {
                b.local_clientid = format!("local.{}", b.remote_clientid);
            }
            b.local_cleansession = p.local_cleansession.unwrap_or(b.cleansession);
            b.tls = tls;
            self.check_filters(&b.topics);
            bridges.push((line, b));
        }
        for (n, (line, b)) in bridges.iter().enumerate() {
            if n == MAX_BRIDGES {
                let why = format!("connection {}: more than {MAX_BRIDGES} bridges", b.name);
                self.error(*line, why);
            }
            for (first, a) in &bridges[..n] {
                let first = self.place(*first, *line);
                let why = if a.name == b.name {
                    format!("connection {}: a bridge of that name is at {first}", b.name)
                } else if a.local_clientid == b.local_clientid {
                    format!(
                        "connection {}: its local_clientid '{}' is also the one of bridge \
                         '{}' ({first}); set local_clientid (or remote_clientid) so that \
                         they differ",
                        b.name, b.local_clientid, a.name
                    )
                } else {
                    continue;
                };
                self.error(*line, why);
            }
        }
        self.loop_warnings(&bridges);
        self.config.bridges = bridges
            .into_iter()
            .map(|(_, mut b)| {
                for t in &mut b.topics {
                    t.line = self.origin(t.line).line;
                }
                b
            })
            .collect();
    }

    /// Both filters of each mapping: the local one within the topic caps, the remote one
    /// a valid filter (the upstream has its own caps).
    fn check_filters(&mut self, topics: &[TopicMapping]) {
        let l = &self.config.limits;
        let (length, levels) = (l.max_topic_length, l.max_topic_levels);
        for t in topics {
            let sides = [
                ("local", t.local_filter(), length, levels),
                (
                    "remote",
                    t.remote_filter(),
                    usize::from(u16::MAX),
                    usize::MAX,
                ),
            ];
            // The first problem only: the pattern is in both.
            let bad = sides
                .into_iter()
                .find_map(|(side, filter, length, levels)| {
                    let e = topic::validate_filter(&filter, length, levels).err()?;
                    Some(format!(
                        "topic: the {side} filter '{filter}' is not valid: {e}"
                    ))
                });
            if let Some(why) = bad {
                self.error(t.line, why);
            }
        }
    }

    /// The TLS of bridge `p`: `Some` when it has `bridge_cafile` or `bridge_capath`, its
    /// client configuration built here (a problem with a file is reported at the line of
    /// the key it names).
    fn bridge_tls(&mut self, p: &PendingBridge) -> Option<UpstreamTls> {
        let tls = &p.tls;
        let at = |key: &str| p.tls_lines.iter().find(|(k, _)| *k == key).map(|k| k.1);
        if tls.cafile.is_none() && tls.capath.is_none() {
            if let Some((key, line)) = p.tls_lines.first() {
                let why = format!(
                    "{key}: applies to a bridge with TLS, which needs bridge_cafile or \
                     bridge_capath (the CAs the upstream's certificate must chain to)"
                );
                self.error(*line, why);
            }
            return None;
        }
        match (at("bridge_certfile"), at("bridge_keyfile")) {
            (Some(line), None) => self.error(line, "bridge_certfile: needs bridge_keyfile too"),
            (None, Some(line)) => self.error(line, "bridge_keyfile: needs bridge_certfile too"),
            _ => {
                return UpstreamTls::load(tls.clone())
                    .map_err(|e| {
                        let e = e.to_string();
                        let key = p.tls_lines.iter().find(|(k, _)| e.starts_with(k));
                        self.error(key.map_or(p.line, |k| k.1), e);
                    })
                    .ok();
            }
        }
        None
    }

    /// Warns about topic mappings whose messages may come back: a bridge whose MQTT 3.x
    /// upstream echoes what it sent (`try_private false`), and a bridge that sends upstream
    /// what another brought in.
    fn loop_warnings(&mut self, bridges: &[(usize, BridgeConfig)]) {
        let comes_in = |t: &&TopicMapping| t.direction != Direction::Out;
        let goes_out = |t: &&TopicMapping| t.direction != Direction::In;
        let overlap = |a: &str, b: &str| {
            !topic::dollar_apart(a, b) && topic::relates(a.split('/'), b, Relation::Overlaps)
        };
        for (n, (_, a)) in bridges.iter().enumerate() {
            let echoes = a.protocol != BridgeProtocol::V5 && !a.try_private;
            for t in a.topics.iter().filter(comes_in) {
                let (remote, local) = (t.remote_filter(), t.local_filter());
                let mut out = a.topics.iter().filter(goes_out);
                if let Some(o) = out.find(|o| echoes && overlap(&remote, &o.remote_filter())) {
                    let why = format!(
                        "topic: messages may loop: bridge '{}' sends messages upstream on '{}' \
                         ({}) and subscribes there to '{remote}', which matches them; with \
                         try_private false an MQTT 3.x upstream cannot tell the bridge from a \
                         client and sends them back. Set try_private true (the default)",
                        a.name,
                        o.remote_filter(),
                        self.place(o.line, t.line)
                    );
                    self.warn(t.line, why);
                }
                for (_, (_, b)) in bridges.iter().enumerate().filter(|(m, _)| *m != n) {
                    let mut out = b.topics.iter().filter(goes_out);
                    if let Some(o) = out.find(|o| overlap(&local, &o.local_filter())) {
                        let why = format!(
                            "topic: messages may loop: what bridge '{a}' brings in on \
                             '{local}' is sent upstream by bridge '{b}' (its topic '{}', {}); \
                             if the upstream of '{b}' passes them back to the upstream of \
                             '{a}' (the same broker, or brokers bridged together), they \
                             circle for ever",
                            o.local_filter(),
                            self.place(o.line, t.line),
                            a = a.name,
                            b = b.name,
                        );
                        self.warn(t.line, why);
                    }
                }
            }
        }
    }
}

/// One `address` argument: `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT`. As Mosquitto
/// splits at the last `:`, an IPv6 address without brackets needs its port
/// (`::1:1883`); one without a port is refused rather than read as another address.
fn bridge_address(token: &str) -> Result<BridgeAddress, String> {
    let (host, port) = match token.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or("expected [IPV6]:PORT")?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or("expected [IPV6]:PORT")?),
                ),
            }
        }
        None => match token.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (token, None),
        },
    };
    // A scope (`fe80::1%eth0`) is the resolver's business.
    let ipv6 = host
        .split('%')
        .next()
        .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok());
    if (host.contains(':') || token.starts_with('[')) && !ipv6 {
        return Err(
            "an IPv6 address needs its port: write [ADDRESS]:PORT, or ADDRESS:PORT as \
             Mosquitto does"
                .into(),
        );
    }
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None => DEFAULT_BRIDGE_PORT,
        Some(port) => {
            let port = value::parse_int(port, 1, 65535).map_err(|e| format!("port: {e}"))?;
            port as u16
        }
    };
    Ok(BridgeAddress {
        host: host.to_string(),
        port,
    })
}

/// A `topic PATTERN [out|in|both [QOS [LOCAL_PREFIX [REMOTE_PREFIX]]]]` line (`""`: an
/// empty pattern or prefix), as Mosquitto reads it (`bridge__add_topic`): the direction
/// in any case, prefixes without wildcards, and an empty pattern only between two
/// prefixes (one topic mapped to another). The full filters are checked at the end of
/// the file, against the caps.
fn topic_mapping(args: &[&str], line: usize) -> Result<TopicMapping, String> {
    let [pattern, rest @ ..] = args else {
        return Err("missing value".into());
    };
    if let Some(extra) = rest.get(4) {
        return Err(format!("unexpected extra argument '{extra}'"));
    }
    let direction = match rest.first().map(|d| d.to_ascii_lowercase()).as_deref() {
        None | Some("out") => Direction::Out,
        Some("in") => Direction::In,
        Some("both") => Direction::Both,
        Some(_) => {
            let found = rest[0];
            return Err(format!(
                "expected out, in or both after the pattern, found '{found}'"
            ));
        }
    };
    let qos = match rest.get(1) {
        None => QoS::AtMostOnce,
        Some(q) => {
            let q = value::parse_int(q, 0, 2).map_err(|e| format!("QoS: {e}"))?;
            QoS::from_bits(q as u8).unwrap_or(QoS::ExactlyOnce)
        }
    };
    let text = |word: Option<&&str>| match word {
        None | Some(&"\"\"") => String::new(),
        Some(word) => word.to_string(),
    };
    let (local_prefix, remote_prefix) = (text(rest.get(2)), text(rest.get(3)));
    for (side, prefix) in [("local", &local_prefix), ("remote", &remote_prefix)] {
        if prefix.contains(['+', '#']) {
            return Err(format!(
                "the {side} prefix '{prefix}' may not contain the wildcards + or #"
            ));
        }
    }
    let pattern = text(Some(pattern));
    if pattern.is_empty() && (local_prefix.is_empty() || remote_prefix.is_empty()) {
        return Err(
            "an empty pattern (\"\") maps one topic to another: it needs both a \
                    local and a remote prefix"
                .into(),
        );
    }
    Ok(TopicMapping {
        pattern,
        direction,
        qos,
        local_prefix,
        remote_prefix,
        line,
    })
}

#[cfg(test)]
mod tests;
