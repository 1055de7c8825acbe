//! Wills [MQTT-3.1.2-8]: kept with their connection, published when it ends without
//! DISCONNECT, and checked against the ACL again at that moment (a reload may have taken
//! the right away since CONNECT).
//!
//! An MQTT 5.0 will may ask for a Will Delay Interval: it then waits with its session
//! (`Broker::delayed_wills`) and is published when the delay ends or the session ends,
//! whichever is first, and not at all if the client connects again before
//! [MQTT-3.1.3-9 of 5.0]. The will's Message Expiry Interval starts when it is
//! published.

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
    /// Will Delay Interval in seconds (MQTT 5.0; 0 for none).
    pub(super) delay: u32,
    /// Message Expiry Interval in seconds, counted from publication (MQTT 5.0).
    pub(super) expiry: Option<u32>,
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
        let props = w.properties;
        let delay = props.u32(property::WILL_DELAY_INTERVAL).unwrap_or(0);
        let expiry = props.u32(property::MESSAGE_EXPIRY_INTERVAL);
        // The will's properties as a PUBLISH carries them: not its delay (no PUBLISH
        // property), nor its expiry (written per delivery from publication on).
        let has_delay = props.get(property::WILL_DELAY_INTERVAL).is_some();
        let message = if !has_delay && expiry.is_none() {
            Message::with_properties(w.topic, props.as_bytes(), w.payload)
        } else {
            let kept = props.without(&[
                property::WILL_DELAY_INTERVAL,
                property::MESSAGE_EXPIRY_INTERVAL,
            ]);
            Message::with_properties(w.topic, &kept, w.payload)
        };
        Ok(Some(Will {
            message,
            qos: w.qos,
            retain: w.retain,
            client_id: client_id.into(),
            username: username.map(Box::from),
            delay,
            expiry,
        }))
    }

    /// Publishes `will` now, if the ACL still allows it.
    fn publish_will(&mut self, will: Will, now: Instant) {
        if !self.will_still_allowed(&will, now) {
            return;
        }
        let message = match will.expiry {
            None => will.message,
            Some(secs) => {
                let at = self
                    .clock
                    .stamp(now)
                    .after(std::time::Duration::from_secs(u64::from(secs)));
                let m = &will.message;
                Message::with_expiry(m.topic(), m.properties(), m.payload(), Some(at))
            }
        };
        if will.retain {
            // The will's client is its retain source, as in Mosquitto.
            let source = self.retain_source(&will.client_id, will.username.as_deref());
            self.retain(&message, will.qos, source, now);
        }
        self.route(None, message, will.qos, will.retain, now);
    }

    /// The delayed will of session `sid`, if one waits: published when its delay has
    /// passed (`due_only`) or whatever the time (its session ended).
    pub(super) fn delayed_will_due(&mut self, sid: SessionId, due_only: bool, now: Instant) {
        let passed = self.clock.passed(now);
        let due = self
            .delayed_wills
            .get(&sid)
            .is_some_and(|(at, _)| !due_only || passed >= *at);
        if due {
            if let Some((_, will)) = self.delayed_wills.remove(&sid) {
                self.publish_will(will, now);
            }
        }
    }

    /// Session `sid`'s client connected again: its delayed will is not published.
    pub(super) fn cancel_delayed_will(&mut self, sid: SessionId) {
        if !self.delayed_wills.is_empty() {
            self.delayed_wills.remove(&sid);
        }
    }

    /// The connection that left `will` ended for `reason`: it is published unless the
    /// client sent DISCONNECT [MQTT-3.14.4-3], and only if the ACL still allows it. At
    /// the broker's own shutdown it is published only when there is a store: a retained
    /// will, or one queued for a persistent session, then outlives the stop (a device that
    /// dies while the broker is down must not stay "online"); without one nobody is left
    /// to receive it.
    ///
    /// A will with a delay waits while its session `sid` goes on offline.
    pub(super) fn will_at_close(
        &mut self,
        will: Will,
        sid: Option<SessionId>,
        reason: CloseReason,
        now: Instant,
    ) {
        let published = match reason {
            CloseReason::ClientDisconnect => false,
            CloseReason::Shutdown => self.limits.track_durable,
            _ => true,
        };
        if !published {
            return;
        }
        let waiting_session = sid
            .and_then(|sid| Some((sid, self.sessions.get(sid)?)))
            .filter(|(_, s)| s.conn().is_none())
            .map(|(sid, s)| (sid, s.generation()));
        match waiting_session {
            Some((sid, generation)) if will.delay > 0 && reason != CloseReason::Shutdown => {
                let at = self
                    .clock
                    .stamp(now)
                    .after(std::time::Duration::from_secs(u64::from(will.delay)));
                self.timers.push(at, Owner::Session(sid, generation));
                self.delayed_wills.insert(sid, (at, will));
            }
            _ => self.publish_will(will, now),
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
