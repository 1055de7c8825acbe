//! CONNECT [MQTT-3.1]: who the client is (client id, user name and password or
//! certificate, will), whether it may connect, and which session it gets (new, resumed,
//! or taken over from another connection [MQTT-3.1.4-2]). Answered with CONNACK.

use super::*;

/// Why a CONNECT is refused: the CONNACK code, the reason for the log, and whether it
/// counts as a failed login (which the reactor rate-limits per source address).
pub(super) struct Refusal {
    /// The CONNACK reason code (mapped to a 3.1.1 return code by the codec).
    code: ReasonCode,
    /// What is wrong, for the log.
    why: String,
    /// The credentials were refused ([`CloseReason::AuthFailed`]).
    login: bool,
}

impl Refusal {
    /// A refusal for `why`, answered with `code`.
    fn new(code: ReasonCode, why: impl Into<String>) -> Refusal {
        Refusal {
            code,
            why: why.into(),
            login: false,
        }
    }

    /// A refusal of the client's credentials.
    fn login(code: ReasonCode, why: impl Into<String>) -> Refusal {
        Refusal {
            login: true,
            ..Refusal::new(code, why)
        }
    }
}

impl Broker {
    /// CONNECT: admitted (a session attached, CONNACK 0) or refused (CONNACK with a
    /// failure code, then closed [MQTT-3.2.2-4], [MQTT-3.2.2-5]).
    pub(super) fn on_connect(&mut self, conn: ConnId, p: codec::Connect<'_>, now: Instant) {
        // The connection speaks the CONNECT's version from here on, a refusal included.
        if let Some(c) = self.conn_mut(conn) {
            if c.extra.as_ref().is_some_and(|e| e.enhanced.is_some()) {
                return self.protocol_error(conn, "second CONNECT [MQTT-3.1.0-2]", now);
            }
            c.version = p.version;
            c.bridge = p.bridge;
        }
        match p.properties.str(property::AUTHENTICATION_METHOD) {
            // Enhanced authentication first; admitted once it succeeds [MQTT-4.12 of 5.0].
            Some(method) if self.has_auth_method(method) => {
                self.begin_enhanced_auth(conn, p, method, now)
            }
            _ => self.admit(conn, p, None, now),
        }
    }

    /// Refuses a CONNECT whose credentials are not accepted: CONNACK "not authorised",
    /// counted and rate-limited as a failed login.
    pub(super) fn refuse_login(&mut self, conn: ConnId, why: &str, now: Instant) {
        self.refuse(conn, Refusal::login(ReasonCode::NOT_AUTHORIZED, why), now);
    }

    /// Admits or refuses a CONNECT (after its enhanced authentication `auth`, the method
    /// and its last data, if it used one).
    pub(super) fn admit(
        &mut self,
        conn: ConnId,
        p: codec::Connect<'_>,
        auth: Option<(&str, &[u8])>,
        now: Instant,
    ) {
        // A will's topic is mounted like a PUBLISH's, then checked (as Mosquitto does).
        let will_topic = p
            .will
            .map(|w| mount::mounted(self.mount_point(conn), w.topic).into_owned());
        let will = p
            .will
            .zip(will_topic.as_deref())
            .map(|(w, topic)| codec::Will { topic, ..w });
        let admitted = self
            .check_connect(conn, &p)
            .and_then(|(client_id, username)| {
                let will = self
                    .will_of(will, &client_id, username.as_deref())
                    .map_err(|why| {
                        Refusal::new(ReasonCode::NOT_AUTHORIZED, format!("will refused: {why}"))
                    })?;
                Ok((client_id, username, will))
            });
        let (client_id, username, will) = match admitted {
            Ok(admitted) => admitted,
            Err(refusal) => return self.refuse(conn, refusal, now),
        };
        let v5 = p.version == ProtocolVersion::V5;
        let asked_expiry = if v5 {
            p.properties
                .u32(property::SESSION_EXPIRY_INTERVAL)
                .unwrap_or(0)
        } else if p.clean_session {
            0
        } else {
            NEVER
        };
        // persistent_client_expiration caps every session's life; a v5 client is told.
        let cap = self
            .limits
            .persistent_client_expiration
            .map_or(NEVER, |d| u32::try_from(d.as_secs()).unwrap_or(NEVER));
        let expiry = asked_expiry.min(cap);
        let keep_alive = self.granted_keep_alive(p.keep_alive);
        let (sid, resumed) =
            self.attach_session(conn, &client_id, &p, expiry, username.as_deref(), now);
        if let Some(c) = self.conn_mut(conn) {
            c.phase = Phase::Connected(sid);
            c.keep_alive = keep_alive;
            if v5 || will.is_some() {
                let e = c.extra_mut();
                e.will = will.map(Box::new);
                if v5 {
                    let props = &p.properties;
                    e.receive_maximum = props.u16(property::RECEIVE_MAXIMUM).unwrap_or(u16::MAX);
                    e.maximum_packet_size =
                        props.u32(property::MAXIMUM_PACKET_SIZE).unwrap_or(u32::MAX);
                    e.connect_expiry = asked_expiry;
                }
            }
        }
        self.connected += 1;
        self.stats.clients_maximum = self.stats.clients_maximum.max(self.connected as u64);
        if crate::log::connection_lines() {
            let uses_identity = self.uses_identity(conn);
            info!(
                target: TARGET_CONNECTION,
                "client {client_id} connected (p{}, c{}, k{}{}{}{})",
                p.version.level(),
                u8::from(p.clean_session),
                p.keep_alive,
                if p.bridge { ", bridge" } else { "" },
                match (uses_identity, &username) {
                    (true, Some(user)) => format!(", u'{user}' from its certificate"),
                    _ => String::new(),
                },
                if resumed { ", session resumed" } else { "" }
            );
        }
        // Session present only when a stored session is resumed [MQTT-3.2.2-1]..[MQTT-3.2.2-3].
        let properties = if v5 {
            let assigned = p.client_id.is_empty().then_some(&*client_id);
            let server_keep_alive = (keep_alive != p.keep_alive).then_some(keep_alive);
            let expiry = (expiry != asked_expiry).then_some(expiry);
            let mut props = self.connack_properties(conn, assigned, server_keep_alive, expiry);
            if let Some((method, data)) = auth {
                props.extend_from_slice(&enhanced_auth::auth_properties(method, data));
            }
            props
        } else {
            Vec::new()
        };
        let connack = Connack {
            session_present: resumed,
            reason: ReasonCode::SUCCESS,
            properties: codec::Properties::from_bytes(&properties),
        };
        self.send(conn, &Packet::Connack(connack), now);
        if resumed {
            self.retransmit(conn, sid, now);
        }
        self.pump(sid, now);
        self.arm_conn_timer(conn);
    }

    /// The keep-alive a client gets: its own, or `max_keepalive` when it asked for more
    /// or for none while a limit is set (MQTT 5.0 tells it with Server Keep Alive
    /// [MQTT-3.2.2-21 of 5.0]; a 3.1.1 client asking for that was refused already).
    fn granted_keep_alive(&self, asked: u16) -> u16 {
        let max = self.limits.max_keepalive;
        if asked > max || (asked == 0 && max < u16::MAX) {
            max
        } else {
            asked
        }
    }

    /// The CONNACK properties an MQTT 5.0 client gets: what the broker allows, where it
    /// differs from the protocol's defaults [MQTT-3.2.2.3 of 5.0], and what it decided
    /// for this client (its generated id, keep-alive, session expiry).
    fn connack_properties(
        &self,
        conn: ConnId,
        assigned_client_id: Option<&str>,
        server_keep_alive: Option<u16>,
        session_expiry: Option<u32>,
    ) -> Vec<u8> {
        use codec::Property::{Byte, Str, U16, U32};
        let l = &self.limits;
        let mut props: Vec<codec::Property<'_>> = Vec::with_capacity(8);
        // The inbound QoS 2 messages a client may have awaiting PUBREL.
        let receive_maximum = u16::try_from(l.max_inflight_incoming.max(1)).unwrap_or(u16::MAX);
        if receive_maximum < u16::MAX {
            props.push(U16(property::RECEIVE_MAXIMUM, receive_maximum));
        }
        if let Ok(size) = u32::try_from(l.max_packet_size) {
            props.push(U32(property::MAXIMUM_PACKET_SIZE, size));
        }
        if l.max_topic_alias > 0 {
            let max = u16::try_from(l.max_topic_alias).unwrap_or(u16::MAX);
            props.push(U16(property::TOPIC_ALIAS_MAXIMUM, max));
        }
        if !l.retain_available {
            props.push(Byte(property::RETAIN_AVAILABLE, 0));
        }
        let max_qos = self.max_qos(conn);
        if max_qos < QoS::ExactlyOnce {
            props.push(Byte(property::MAXIMUM_QOS, max_qos as u8));
        }
        if let Some(id) = assigned_client_id {
            props.push(Str(property::ASSIGNED_CLIENT_IDENTIFIER, id));
        }
        if let Some(keep_alive) = server_keep_alive {
            props.push(U16(property::SERVER_KEEP_ALIVE, keep_alive));
        }
        if let Some(expiry) = session_expiry {
            props.push(U32(property::SESSION_EXPIRY_INTERVAL, expiry));
        }
        let mut out = Vec::new();
        for p in props {
            // A client id within max_client_id_length: nothing here is too large.
            let _ = p.write(&mut out);
        }
        out
    }

    /// Whether `conn` came in on a `use_identity_as_username` listener.
    fn uses_identity(&self, conn: ConnId) -> bool {
        let listener = self.conn(conn).map_or(0, |c| c.listener as usize);
        self.limits
            .listeners
            .get(listener)
            .is_some_and(|l| l.use_identity_as_username)
    }

    /// The checks of a CONNECT that may refuse it, in Mosquitto's order: client id (and
    /// `clientid_prefixes`), user name and password (or certificate), the user name as
    /// client id (`use_username_as_clientid`), keep-alive. The client id (generated for
    /// an empty one) and the user name the client is known by.
    fn check_connect(
        &mut self,
        conn: ConnId,
        p: &codec::Connect<'_>,
    ) -> Result<(Box<str>, Option<Box<str>>), Refusal> {
        if let Some(method) = p.properties.str(property::AUTHENTICATION_METHOD) {
            if !self.has_auth_method(method) {
                // A method the broker does not offer [MQTT-4.12.0-1 of 5.0].
                let why = "authentication method not offered";
                return Err(Refusal::new(ReasonCode::BAD_AUTHENTICATION_METHOD, why));
            }
        }
        let mut client_id = self.client_id(p)?;
        if !client_id.starts_with(&*self.limits.clientid_prefixes) {
            // Checked after an empty id was given a generated one, so `auto_id_prefix`
            // must start with the prefix for those to connect (Mosquitto 2.0).
            let why = "client id without the clientid_prefixes prefix";
            return Err(Refusal::new(ReasonCode::NOT_AUTHORIZED, why));
        }
        let username = self.authenticate(conn, p)?;
        if self
            .listener_clients(conn)
            .is_some_and(|l| l.use_username_as_clientid)
        {
            // The user name (a certificate's included) replaces the id; without one the
            // client is not authorised (Mosquitto). One user, one session: a second
            // connection takes the first over [MQTT-3.1.4-2].
            client_id = match &username {
                // Sessions are sized by max_client_id_length (the memory ceiling).
                Some(user) if user.len() > self.limits.max_client_id_length => {
                    let why = "user name as client id longer than max_client_id_length";
                    let invalid = ReasonCode::CLIENT_IDENTIFIER_NOT_VALID;
                    return Err(Refusal::new(invalid, why));
                }
                Some(user) => user.clone(),
                None => {
                    let why = "no user name to use as client id (use_username_as_clientid)";
                    return Err(Refusal::new(ReasonCode::NOT_AUTHORIZED, why));
                }
            };
        }
        if p.will.is_some_and(|w| w.retain) && !self.limits.retain_available {
            // [MQTT-3.2.2-13 of 5.0]
            let why = "retained will while retain_available is false";
            return Err(Refusal::new(ReasonCode::RETAIN_NOT_SUPPORTED, why));
        }
        if p.will.is_some_and(|w| w.qos > self.max_qos(conn)) {
            // [MQTT-3.2.2-12 of 5.0]
            let why = "will QoS above max_qos";
            return Err(Refusal::new(ReasonCode::QOS_NOT_SUPPORTED, why));
        }
        if p.version != ProtocolVersion::V5 && self.granted_keep_alive(p.keep_alive) != p.keep_alive
        {
            let why = "keep-alive above max_keepalive";
            return Err(Refusal::new(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID, why));
        }
        Ok((client_id, username))
    }

    /// The client id of a CONNECT, or one generated for an empty id.
    fn client_id(&self, p: &codec::Connect<'_>) -> Result<Box<str>, Refusal> {
        let invalid = ReasonCode::CLIENT_IDENTIFIER_NOT_VALID;
        if p.client_id.is_empty() {
            // A server may accept an empty id only with clean session [MQTT-3.1.3-7],
            // [MQTT-3.1.3-8]; MQTT 3.1 requires an id. MQTT 5.0 assigns one whatever
            // Clean Start says [MQTT-3.1.3-6 of 5.0].
            if (!p.clean_session && p.version != ProtocolVersion::V5)
                || p.version == ProtocolVersion::V31
                || !self.limits.allow_zero_length_clientid
            {
                return Err(Refusal::new(invalid, "empty client id"));
            }
            Ok(self.generate_client_id())
        } else if p.client_id.len() > self.limits.max_client_id_length {
            Err(Refusal::new(
                invalid,
                "client id longer than max_client_id_length",
            ))
        } else {
            Ok(p.client_id.into())
        }
    }

    /// Who the client is: the user name its certificate names on a
    /// `use_identity_as_username` listener, else the CONNECT's, checked against the
    /// password file and the listener's anonymous policy.
    fn authenticate(
        &mut self,
        conn: ConnId,
        p: &codec::Connect<'_>,
    ) -> Result<Option<Box<str>>, Refusal> {
        if self.uses_identity(conn) {
            // The certificate's name, taken now whatever the outcome (a refusal closes).
            // The certificate authenticated the client: the CONNECT's user name and
            // password are ignored and the password file is not consulted (Mosquitto).
            // With a name, the client is not anonymous.
            return match self.identities.remove(&conn).flatten() {
                Some(name) => Ok(Some(name)),
                // Mosquitto (1.5 to 2.1) answers "bad user name or password" here.
                None => Err(Refusal::login(
                    ReasonCode::BAD_USER_NAME_OR_PASSWORD,
                    "the client certificate has no usable common name (use_identity_as_username)",
                )),
            };
        }
        if p.username
            .is_some_and(|u| u.len() > self.limits.max_username_length)
        {
            let why = "user name longer than max_username_length";
            return Err(Refusal::new(ReasonCode::BAD_USER_NAME_OR_PASSWORD, why));
        }
        let listener = self.conn(conn).map_or(0, |c| c.listener as usize);
        let allow_anonymous = self
            .limits
            .listeners
            .get(listener)
            .is_some_and(|l| l.allow_anonymous);
        match (p.username, &self.auth.passwords) {
            (None, _) if !allow_anonymous => {
                let why = "anonymous access is not allowed on this listener";
                return Err(Refusal::new(ReasonCode::NOT_AUTHORIZED, why));
            }
            (Some(user), Some(passwords)) => {
                // Mosquitto answers a wrong password with "not authorised" too.
                let login = passwords.check(user, p.password.unwrap_or_default());
                if login != Login::Accepted {
                    let why = format!("user {user:?}: {login:?}");
                    return Err(Refusal::login(ReasonCode::NOT_AUTHORIZED, why));
                }
            }
            _ => {}
        }
        Ok(p.username.map(Box::from))
    }

    /// Gives connection `conn` its session: a live connection with the same id is taken
    /// over [MQTT-3.1.4-2], a stored session is resumed unless clean session asks for a
    /// new one [MQTT-3.1.2-6]. Returns the session and whether it was resumed.
    #[allow(clippy::too_many_arguments)]
    fn attach_session(
        &mut self,
        conn: ConnId,
        client_id: &str,
        p: &codec::Connect<'_>,
        expiry: u32,
        username: Option<&str>,
        now: Instant,
    ) -> (SessionId, bool) {
        // Hashed once for the lookup and the new session's entry.
        let key = self.sessions.key(client_id);
        let existing = self.sessions.find_key(key);
        if let Some(sid) = existing {
            // The client is back before its will's delay ran out: no will
            // [MQTT-3.1.3-9 of 5.0].
            self.cancel_delayed_will(sid);
        }
        let resumed = existing.filter(|&sid| {
            !p.clean_session && self.sessions.get(sid).is_some_and(|s| !s.is_clean())
        });
        if let Some(sid) = existing {
            let stamp = self.clock.stamp(now);
            if let Some(old) = self.sessions.take_conn(sid, stamp) {
                if resumed.is_some() {
                    // The session goes on, so its client has not gone: the old
                    // connection's will is not published (as Mosquitto does; MQTT 5.0's
                    // rule for a reconnect within the will delay [MQTT-3.1.3-9 of 5.0]).
                    drop(self.conn_mut(old).and_then(Conn::take_will));
                }
                info!("client {client_id} already connected: closing the old connection");
                self.release_stalls_on(sid, now);
                let taken_over = ReasonCode::SESSION_TAKEN_OVER;
                self.disconnect(old, taken_over, CloseReason::TakenOver, now);
            }
        }
        if let Some(sid) = existing.filter(|&sid| Some(sid) != resumed) {
            // Clean session discards the previous session [MQTT-3.1.2-6].
            self.remove_session(sid, now);
        }
        let sid = match resumed {
            Some(sid) => sid,
            None => self.sessions.create_key(key, expiry),
        };
        let user_changed = self.sessions.attach(sid, conn, p.version, expiry, username);
        if resumed.is_some() && user_changed && self.auth.acl.is_some() {
            // Its subscriptions were granted to another user name: decide them again.
            self.mark_acl_checks(sid);
        }
        (sid, resumed.is_some())
    }

    /// Refuses a CONNECT whose credentials are not accepted with CONNACK `code`, counted
    /// as an authentication failure and closed as [`CloseReason::AuthFailed`], so the
    /// reactor rate-limits the source address.
    /// Refuses a CONNECT with CONNACK and closes the connection. A refusal of the
    /// credentials is counted as an authentication failure and closed as
    /// [`CloseReason::AuthFailed`], so the reactor rate-limits the source address.
    fn refuse(&mut self, conn: ConnId, refusal: Refusal, now: Instant) {
        let Refusal { code, why, login } = refusal;
        if login {
            self.stats.auth_failures += 1;
        }
        info!("connection {conn} refused: {why} (CONNACK {code})");
        // A non-zero CONNACK has session present 0 and is followed by a close
        // [MQTT-3.2.2-4], [MQTT-3.2.2-5].
        self.send(conn, &Packet::Connack(Connack::new(false, code)), now);
        let reason = if login {
            CloseReason::AuthFailed
        } else {
            CloseReason::ConnectRefused
        };
        self.close(conn, reason);
    }

    /// A client id for a client that sent none: `auto_id_prefix` and 16 random hex
    /// digits, unused by any session.
    fn generate_client_id(&self) -> Box<str> {
        use std::hash::{BuildHasher, Hasher};
        loop {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(self.conns.len());
            let id = format!("{}{:016x}", self.limits.auto_id_prefix, h.finish());
            if self.sessions.find(&id).is_none() {
                return id.into();
            }
        }
    }
}
