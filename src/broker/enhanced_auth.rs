//! MQTT 5.0 enhanced authentication [MQTT-4.12 of 5.0]: the AUTH exchange at CONNECT and
//! re-authentication, carried for the methods registered with
//! [`Broker::add_auth_method`] (`auth::enhanced`). With none registered (Sol's default)
//! a CONNECT naming a method is refused with 0x8C and an AUTH is a Protocol Error.
//!
//! While an exchange runs at CONNECT, the CONNECT waits as the codec re-encoded it (the
//! packet's own buffer is gone by the next AUTH), and the CONNECT timeout keeps running.

use super::*;
use crate::auth::enhanced::{Exchange, Method, Step};

/// A connection's enhanced authentication: its method, and an exchange under way.
pub(super) struct Enhanced {
    /// The method the client authenticated (or authenticates) with.
    method: Box<str>,
    /// The exchange under way, if one is.
    exchange: Option<Box<dyn Exchange>>,
    /// The CONNECT waiting for the exchange (encoded), or `None` for a
    /// re-authentication.
    connect: Option<Box<[u8]>>,
}

impl core::fmt::Debug for Enhanced {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Enhanced")
            .field("method", &self.method)
            .field("exchanging", &self.exchange.is_some())
            .finish()
    }
}

/// The properties naming `method` and carrying its `data` (none when empty), for AUTH
/// and CONNACK [MQTT-4.12.0-2 of 5.0].
pub(super) fn auth_properties(method: &str, data: &[u8]) -> Vec<u8> {
    let mut props = Vec::new();
    // A method name and data the method produced: within a property's 65,535 bytes.
    let _ = codec::Property::Str(property::AUTHENTICATION_METHOD, method).write(&mut props);
    if !data.is_empty() {
        let _ = codec::Property::Binary(property::AUTHENTICATION_DATA, data).write(&mut props);
    }
    props
}

impl Broker {
    /// Offers enhanced authentication method `method` to MQTT 5.0 clients.
    pub fn add_auth_method(&mut self, method: Box<dyn Method>) {
        self.auth_methods.push(method);
    }

    /// The registered method called `name`.
    fn auth_method(&self, name: &str) -> Option<&dyn Method> {
        self.auth_methods
            .iter()
            .find(|m| m.name() == name)
            .map(|m| &**m)
    }

    /// Whether a method called `name` is registered.
    pub(super) fn has_auth_method(&self, name: &str) -> bool {
        self.auth_method(name).is_some()
    }

    /// A CONNECT naming the registered method `method`: its exchange starts; the client
    /// is admitted when it succeeds.
    pub(super) fn begin_enhanced_auth(
        &mut self,
        conn: ConnId,
        p: codec::Connect<'_>,
        method: &str,
        now: Instant,
    ) {
        let data = p
            .properties
            .binary(property::AUTHENTICATION_DATA)
            .unwrap_or(&[]);
        let Some(m) = self.auth_method(method) else {
            return self.admit(conn, p, None, now);
        };
        let mut exchange = m.start(p.client_id, p.username);
        let step = exchange.step(data);
        let connect = Packet::Connect(p)
            .to_vec(ProtocolVersion::V5)
            .map(Vec::into_boxed_slice)
            .ok();
        let enhanced = Enhanced {
            method: method.into(),
            exchange: Some(exchange),
            connect,
        };
        if let Some(c) = self.conn_mut(conn) {
            c.extra_mut().enhanced = Some(Box::new(enhanced));
        }
        self.auth_step(conn, step, now);
    }

    /// AUTH from a client: the next step of its exchange, or a re-authentication
    /// (0x19) [MQTT-4.12.1 of 5.0].
    pub(super) fn on_auth(&mut self, conn: ConnId, a: codec::Auth<'_>, now: Instant) {
        let method = a.properties.str(property::AUTHENTICATION_METHOD);
        let data = a
            .properties
            .binary(property::AUTHENTICATION_DATA)
            .unwrap_or(&[]);
        let connected = self.session_of(conn).is_some();
        let Some(enhanced) = self
            .conn_mut(conn)
            .and_then(|c| c.extra.as_mut())
            .and_then(|e| e.enhanced.as_mut())
        else {
            return self.protocol_error(conn, "AUTH without an authentication method", now);
        };
        if method != Some(&*enhanced.method) {
            // The method may not change [MQTT-4.12.0-5 of 5.0].
            return self.protocol_error(conn, "AUTH with another authentication method", now);
        }
        let step = match (a.reason, enhanced.exchange.as_mut()) {
            (ReasonCode::CONTINUE_AUTHENTICATION, Some(exchange)) => exchange.step(data),
            (ReasonCode::REAUTHENTICATE, None) if connected => {
                let name = enhanced.method.clone();
                let (client_id, username) = self.identity_of(conn);
                let Some(m) = self.auth_method(&name) else {
                    return self.protocol_error(conn, "the authentication method is gone", now);
                };
                let mut exchange = m.start(&client_id, username.as_deref());
                let step = exchange.step(data);
                if let Some(e) = self
                    .conn_mut(conn)
                    .and_then(|c| c.extra.as_mut())
                    .and_then(|e| e.enhanced.as_mut())
                {
                    e.exchange = Some(exchange);
                }
                step
            }
            _ => return self.protocol_error(conn, "AUTH out of turn", now),
        };
        self.auth_step(conn, step, now);
    }

    /// Carries out one step's outcome for `conn`.
    fn auth_step(&mut self, conn: ConnId, step: Step, now: Instant) {
        let Some(enhanced) = self
            .conn_mut(conn)
            .and_then(|c| c.extra.as_mut())
            .and_then(|e| e.enhanced.as_mut())
        else {
            return;
        };
        let method = enhanced.method.clone();
        match step {
            Step::Continue(data) => {
                let props = auth_properties(&method, &data);
                let auth = codec::Auth {
                    reason: ReasonCode::CONTINUE_AUTHENTICATION,
                    properties: codec::Properties::from_bytes(&props),
                };
                self.send(conn, &Packet::Auth(auth), now);
            }
            Step::Success(data) => {
                enhanced.exchange = None;
                match enhanced.connect.take() {
                    Some(bytes) => {
                        let Ok(Packet::Connect(p)) = codec::decode(&bytes, ProtocolVersion::V5)
                        else {
                            return self.protocol_error(conn, "the waiting CONNECT is gone", now);
                        };
                        self.admit(conn, p, Some((&method, &data)), now);
                    }
                    None => {
                        // Re-authenticated [MQTT-4.12.1-2 of 5.0].
                        let props = auth_properties(&method, &data);
                        let auth = codec::Auth {
                            reason: ReasonCode::SUCCESS,
                            properties: codec::Properties::from_bytes(&props),
                        };
                        self.send(conn, &Packet::Auth(auth), now);
                    }
                }
            }
            Step::Failure => {
                if enhanced.connect.is_some() {
                    self.refuse_login(conn, "enhanced authentication failed", now);
                } else {
                    self.stats.auth_failures += 1;
                    info!("connection {conn}: re-authentication failed");
                    self.disconnect(
                        conn,
                        ReasonCode::NOT_AUTHORIZED,
                        CloseReason::AuthFailed,
                        now,
                    );
                }
            }
        }
    }

    /// The client id and user name of connected `conn`.
    fn identity_of(&self, conn: ConnId) -> (String, Option<String>) {
        let s = self.session_of(conn).and_then(|sid| self.sessions.get(sid));
        (
            s.map_or_else(String::new, |s| s.client_id().to_string()),
            s.and_then(|s| s.username()).map(str::to_string),
        )
    }
}
