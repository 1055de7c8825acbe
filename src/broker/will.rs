//! Wills [MQTT-3.1.2-8]: kept with their connection, published when it ends without
//! DISCONNECT, and checked against the ACL again at that moment (a reload may have taken
//! the right away since CONNECT).

use super::*;

/// A will, owned, waiting for an abnormal end of its connection.
#[derive(Clone, Debug)]
pub(super) struct Will {
    /// Topic, properties and payload.
    pub(super) message: Message,
    /// QoS it is published with.
    pub(super) qos: QoS,
    /// Whether it is published retained.
    pub(super) retain: bool,
    /// Who left it: a reload may take away its right to write the topic before the will
    /// is published, and by then a takeover may have given the session another username.
    pub(super) client_id: Box<str>,
    /// The username its connection logged in with.
    pub(super) username: Option<Box<str>>,
}

impl Broker {
    /// The will a CONNECT carries, checked like a PUBLISH of `client_id` logged in as
    /// `username` would be (caps, `$SYS`, the ACL): `Err` says why it is refused, which
    /// refuses the connection (MQTT 3.1.1 has no other way to say so).
    pub(super) fn will_of(
        &self,
        will: Option<codec::Will<'_>>,
        client_id: &str,
        username: Option<&str>,
    ) -> Result<Option<Will>, &'static str> {
        let Some(w) = will else { return Ok(None) };
        let who = Identity {
            client_id,
            username,
        };
        if let Some(why) = self.publish_refusal(w.topic, w.payload.len()) {
            return Err(why);
        }
        if self
            .auth
            .acl
            .as_ref()
            .is_some_and(|acl| !acl.allows(who, w.topic, Want::Write))
        {
            return Err(ACL_WRITE_DENIED);
        }
        Ok(Some(Will {
            message: Message::with_properties(w.topic, w.properties.as_bytes(), w.payload),
            qos: w.qos,
            retain: w.retain,
            client_id: client_id.into(),
            username: username.map(Box::from),
        }))
    }

    /// The connection that left `will` ended for `reason`: it is published unless the
    /// client sent DISCONNECT [MQTT-3.14.4-3], and only if the ACL still allows it. At
    /// the broker's own shutdown it is published only when there is a store: a retained
    /// will, or one queued for a persistent session, then outlives the stop (a device that
    /// dies while the broker is down must not stay "online"); without one nobody is left
    /// to receive it.
    pub(super) fn will_at_close(&mut self, will: Will, reason: CloseReason, now: Instant) {
        let published = match reason {
            CloseReason::ClientDisconnect => false,
            CloseReason::Shutdown => self.limits.track_durable,
            _ => true,
        };
        if published && self.will_still_allowed(&will, now) {
            self.publish(None, will.message, will.qos, will.retain, now);
        }
    }

    /// Whether the ACL in force lets a will's client write its topic. Checked at CONNECT
    /// and again when the will is published, as Mosquitto does: a reload in between may
    /// have taken the right away. A will refused here is counted and logged.
    pub(super) fn will_still_allowed(&mut self, will: &Will, now: Instant) -> bool {
        let who = Identity {
            client_id: &will.client_id,
            username: will.username.as_deref(),
        };
        let topic = will.message.topic();
        if self
            .auth
            .acl
            .as_ref()
            .is_none_or(|acl| acl.allows(who, topic, Want::Write))
        {
            return true;
        }
        self.stats.acl_denied += 1;
        self.stats.publish_dropped += 1;
        let id = &will.client_id;
        self.drop_log.warn(
            now,
            format_args!("dropped the will of {id} to {topic}: {ACL_WRITE_DENIED}"),
        );
        false
    }
}
