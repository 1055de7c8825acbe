//! Routing: an inbound PUBLISH checked against the caps and the ACL, then delivered to
//! every matching subscription (once per session, at the highest granted QoS) and stored
//! as retained when it asks to be. Wills and `$SYS` updates are routed the same way.

use super::*;

impl Broker {
    /// PUBLISH from a client: routed unless a cap or the ACL drops it, then acknowledged
    /// (QoS 1: PUBACK; QoS 2: PUBREC, delivered once per packet id [MQTT-4.3.3-2]).
    pub(super) fn on_publish(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        p: codec::Publish<'_>,
        body: Option<&Message>,
        now: Instant,
    ) {
        self.stats.publish_received += 1;
        if p.retain && !self.limits.retain_available {
            // Mosquitto's rule for MQTT 3.1.1, which cannot tell the client in CONNACK;
            // MQTT 5.0 says Retain not supported [MQTT-3.3.1-13 of 5.0].
            let why = "retained PUBLISH while retain_available is false";
            return self.protocol_error_code(conn, why, ReasonCode::RETAIN_NOT_SUPPORTED, now);
        }
        if p.qos > self.max_qos(conn) {
            // QoS not supported [MQTT-3.2.2-11 of 5.0]; Mosquitto disconnects a 3.1.1
            // client for it too.
            let why = "PUBLISH above max_qos";
            return self.protocol_error_code(conn, why, ReasonCode::QOS_NOT_SUPPORTED, now);
        }
        let v5 = self
            .conn(conn)
            .is_some_and(|c| c.version == ProtocolVersion::V5);
        let alias_topic;
        let p = if v5 {
            match self.v5_topic(conn, &p, now) {
                Ok(Some(topic)) => {
                    alias_topic = topic;
                    codec::Publish {
                        topic: &alias_topic,
                        ..p
                    }
                }
                Ok(None) => p,
                Err(()) => return,
            }
        } else {
            p
        };
        // The mount point goes in front once the alias is resolved (the alias names the
        // client's own topic), before the caps and the ACL see it, as in Mosquitto.
        let mounted_topic;
        let p = match self.mount_point(conn) {
            Some(mount) => {
                mounted_topic = format!("{mount}{}", p.topic);
                codec::Publish {
                    topic: &mounted_topic,
                    ..p
                }
            }
            None => p,
        };
        let verdict = self.accept_publish(conn, &p, now);
        let reason = match verdict {
            Ok(()) => ReasonCode::SUCCESS,
            Err(code) => code,
        };
        let (first_delivery, ack) = match (p.qos, p.packet_id) {
            (QoS::ExactlyOnce, Some(id)) if verdict.is_err() && v5 => {
                // A refusal in the PUBREC ends the flow: the id is not kept
                // [MQTT-4.3.3-9 of 5.0].
                (false, Some((PacketType::Pubrec, id)))
            }
            (QoS::ExactlyOnce, Some(id)) => {
                // Deliver on the first PUBLISH only; a re-sent one with the same id is
                // acknowledged again but not delivered twice [MQTT-4.3.3-2].
                let max_incoming = self.limits.max_inflight_incoming;
                let Ok(first) = self.sessions.await_pubrel(sid, id, max_incoming) else {
                    let why = "more QoS 2 messages awaiting PUBREL than max_inflight_incoming";
                    // More than the Receive Maximum announced [MQTT-3.3.4-9 of 5.0].
                    let code = ReasonCode::RECEIVE_MAXIMUM_EXCEEDED;
                    return self.protocol_error_code(conn, why, code, now);
                };
                (first, Some((PacketType::Pubrec, id)))
            }
            (QoS::AtLeastOnce, Some(id)) => (true, Some((PacketType::Puback, id))),
            _ => (true, None),
        };
        if verdict.is_ok() && first_delivery {
            let message = if v5 {
                self.v5_message(&p, body, now)
            } else {
                match body {
                    Some(body) if body.topic() == p.topic => body.clone(),
                    _ => Message::new(p.topic, p.payload),
                }
            };
            self.publish(Some(conn), message, p.qos, p.retain, now);
        }
        // Acknowledged after routing, in the order received [MQTT-4.6.0-2], [MQTT-4.6.0-3].
        if let Some((kind, id)) = ack {
            self.acknowledge(conn, kind, id, reason, now);
        }
    }

    /// The topic an MQTT 5.0 PUBLISH stands for, through its Topic Alias
    /// [MQTT-3.3.2.3.4 of 5.0]: `Ok(Some)` for a topic an alias named, `Ok(None)` for the
    /// packet's own topic (an alias it carries now names it), `Err` when the connection
    /// was closed for breaking the rules (an alias out of range, an unknown one, a
    /// Subscription Identifier from a client [MQTT-3.3.4-6 of 5.0]).
    fn v5_topic(
        &mut self,
        conn: ConnId,
        p: &codec::Publish<'_>,
        now: Instant,
    ) -> Result<Option<Box<str>>, ()> {
        if p.properties
            .get(property::SUBSCRIPTION_IDENTIFIER)
            .is_some()
        {
            self.protocol_error(
                conn,
                "PUBLISH from a client with a subscription identifier",
                now,
            );
            return Err(());
        }
        let Some(alias) = p.properties.u16(property::TOPIC_ALIAS) else {
            return Ok(None);
        };
        let max = self.limits.max_topic_alias;
        if usize::from(alias) > max {
            let why = "topic alias above the Topic Alias Maximum";
            self.protocol_error_code(conn, why, ReasonCode::TOPIC_ALIAS_INVALID, now);
            return Err(());
        }
        let Some(c) = self.conn_mut(conn) else {
            return Err(());
        };
        let aliases = &mut c.extra_mut().aliases;
        let slot = usize::from(alias) - 1;
        if p.topic.is_empty() {
            match aliases.get(slot).and_then(Option::as_ref) {
                Some(topic) => Ok(Some(topic.clone())),
                None => {
                    let why = "PUBLISH with an unknown topic alias and no topic";
                    self.protocol_error(conn, why, now);
                    Err(())
                }
            }
        } else {
            if aliases.len() <= slot {
                aliases.resize(slot + 1, None);
            }
            aliases[slot] = Some(p.topic.into());
            Ok(None)
        }
    }

    /// The shared body of an MQTT 5.0 PUBLISH: its properties without the Topic Alias
    /// (the connection's own) and the Message Expiry Interval (kept as a deadline; each
    /// delivery carries what is left of it [MQTT-3.3.2-6 of 5.0]). Everything else is
    /// forwarded unchanged and in order [MQTT-3.3.2-17..20 of 5.0]. `body`, a large
    /// message's body read with exactly these parts, is shared instead of copied.
    fn v5_message(&self, p: &codec::Publish<'_>, body: Option<&Message>, now: Instant) -> Message {
        let props = p.properties;
        let expiry = props.u32(property::MESSAGE_EXPIRY_INTERVAL);
        let expires = expiry.map(|secs| {
            self.clock
                .stamp(now)
                .after(std::time::Duration::from_secs(u64::from(secs)))
        });
        let read_into = |properties: &[u8]| {
            body.filter(|b| b.topic() == p.topic && b.properties() == properties)
                .cloned()
        };
        if props.get(property::TOPIC_ALIAS).is_none() && expiry.is_none() {
            return read_into(props.as_bytes())
                .unwrap_or_else(|| Message::with_properties(p.topic, props.as_bytes(), p.payload));
        }
        let kept = props.without(&[property::TOPIC_ALIAS, property::MESSAGE_EXPIRY_INTERVAL]);
        read_into(&kept).unwrap_or_else(|| Message::with_expiry(p.topic, &kept, p.payload, expires))
    }

    /// Checks an inbound PUBLISH against the caps and the ACL; `Err` (counted, logged)
    /// with the MQTT 5.0 reason if it is dropped.
    pub(super) fn accept_publish(
        &mut self,
        conn: ConnId,
        p: &codec::Publish<'_>,
        now: Instant,
    ) -> Result<(), ReasonCode> {
        let (reason, code) = match self.publish_refusal(p.topic, p.payload.len()) {
            Some(reason) => (reason, ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR),
            // Denied silently to an MQTT 3.1.1 client, which has no way to be told (it is
            // still acknowledged, so it is not re-sent); a 5.0 one gets 0x87. Counted
            // and logged here.
            None if self
                .session_of(conn)
                .is_some_and(|sid| !self.acl_allows(sid, p.topic, Want::Write)) =>
            {
                self.stats.acl_denied += 1;
                (ACL_WRITE_DENIED, ReasonCode::NOT_AUTHORIZED)
            }
            None if !p.properties.is_empty()
                && p.properties.byte(property::PAYLOAD_FORMAT_INDICATOR) == Some(1)
                && std::str::from_utf8(p.payload).is_err() =>
            {
                // A payload said to be UTF-8 that is not [MQTT-3.3.2-4 of 5.0].
                (
                    "payload is not the UTF-8 its format indicator says",
                    ReasonCode::PAYLOAD_FORMAT_INVALID,
                )
            }
            None => return Ok(()),
        };
        self.stats.publish_dropped += 1;
        let id = self.client_id_of(conn).unwrap_or_default().to_string();
        self.drop_log.warn(
            now,
            format_args!("dropped PUBLISH from {id} to {}: {reason}", p.topic),
        );
        Err(code)
    }

    /// Why a message from a client (a PUBLISH or a will) may not be published, if it may not.
    pub(super) fn publish_refusal(&self, topic: &str, payload_len: usize) -> Option<&'static str> {
        let l = &self.limits;
        if l.message_size_limit != 0 && payload_len > l.message_size_limit {
            Some("payload larger than message_size_limit")
        } else if !validate_topic(topic, l.max_topic_length, l.max_topic_levels) {
            Some("topic exceeds max_topic_length or max_topic_levels")
        } else if topic.starts_with("$SYS") && !is_bridge_state(topic) {
            Some("clients may not publish to $SYS")
        } else {
            None
        }
    }

    /// Updates the retained store and routes a message ([`Broker::route`]). `from` is
    /// the publishing connection (none for wills and `$SYS`), whose session is the
    /// message's retain source.
    pub(super) fn publish(
        &mut self,
        from: Option<ConnId>,
        message: Message,
        qos: QoS,
        retain: bool,
        now: Instant,
    ) {
        if retain {
            let source = from
                .and_then(|c| self.session_of(c))
                .and_then(|sid| self.sessions.get(sid))
                .and_then(|s| self.retain_source(s.client_id(), s.username()));
            self.retain(&message, qos, source, now);
        }
        self.route(from, message, qos, retain, now);
    }

    /// Who published a retained message, kept only under `check_retain_source`.
    pub(super) fn retain_source(
        &self,
        client_id: &str,
        username: Option<&str>,
    ) -> Option<std::rc::Rc<RetainSource>> {
        self.limits.check_retain_source.then(|| {
            std::rc::Rc::new(RetainSource {
                client_id: client_id.into(),
                username: username.map(Box::from),
            })
        })
    }

    /// Routes a message to every matching subscription, once per session at the highest
    /// granted QoS. `from` is the publishing connection.
    pub(super) fn route(
        &mut self,
        from: Option<ConnId>,
        message: Message,
        qos: QoS,
        retain: bool,
        now: Instant,
    ) {
        let mut matches = std::mem::take(&mut self.scratch);
        matches.clear();
        self.tree.matches(message.topic(), &mut matches);
        // Shared subscription groups: one member each, after the others.
        let mut groups: heapless::Vec<u16, 8> = heapless::Vec::new();
        let mut more_groups = Vec::new();
        if !self.shared.is_empty() {
            matches.retain(|s| {
                if s.session & shared::GROUP_FLAG == 0 {
                    return true;
                }
                let gid = (s.session & !shared::GROUP_FLAG) as u16;
                if groups.push(gid).is_err() {
                    more_groups.push(gid);
                }
                false
            });
        }
        let no_local_publisher = from
            .and_then(|c| self.conn(c))
            .filter(|c| c.version == ProtocolVersion::V5 || c.bridge);
        if let Some(Phase::Connected(me)) = no_local_publisher.map(|c| c.phase) {
            // No Local: not back to the publisher through such a subscription
            // [MQTT-3.8.3-3 of 5.0]. Only an MQTT 5.0 client asks for it, and a
            // Mosquitto bridge has it on every subscription (`on_subscribe`).
            matches.retain(|s| !(s.no_local && s.session == me));
        }
        if matches.len() > 1 {
            // One delivery per session, at the highest QoS of its matching filters
            // [MQTT-3.3.5-1]; overlapping subscriptions with different Subscription
            // Identifiers get one delivery each, carrying its own [MQTT-3.3.4-5 of 5.0].
            matches.sort_unstable_by_key(|s| (s.session, s.subscription_id));
            matches.dedup_by(|later, kept| {
                let same = later.session == kept.session
                    && (kept.subscription_id == 0
                        || later.subscription_id == 0
                        || later.subscription_id == kept.subscription_id);
                if same {
                    kept.qos = kept.qos.max(later.qos);
                    // One filter the ACL grants whole covers this topic.
                    kept.acl_checked &= later.acl_checked;
                    kept.retain_as_published |= later.retain_as_published;
                    kept.subscription_id = kept.subscription_id.max(later.subscription_id);
                }
                same
            });
        }
        if self.auth.acl.is_some() {
            // Every delivery is checked, unless its filter was granted whole: a wildcard
            // subscription never delivers a topic the subscriber may not read.
            let before = matches.len();
            matches.retain(|sub| {
                !sub.acl_checked || self.acl_allows(sub.session, message.topic(), Want::Read)
            });
            self.stats.acl_denied += (before - matches.len()) as u64;
        }
        for sub in &matches {
            // Delivery QoS is the lower of publish and granted QoS [MQTT-3.8.4-6]; RETAIN
            // is cleared on normal delivery [MQTT-3.3.1-9], unless the subscription asked
            // for Retain As Published [MQTT-3.3.1-12 of 5.0].
            let item = Queued {
                message: message.clone(),
                qos: self.limits.delivery_qos(qos, sub.qos),
                retain: retain && sub.retain_as_published,
                subscription_id: sub.subscription_id,
                share: 0,
            };
            self.enqueue(sub.session, item, from, now);
        }
        self.scratch = matches;
        if !groups.is_empty() {
            for gid in groups.into_iter().chain(more_groups) {
                self.deliver_shared(gid, &message, qos, retain, None, from, now);
            }
        }
    }

    /// Makes `message` (published by `source`) its topic's retained message, within the
    /// retained caps; an empty payload clears the topic [MQTT-3.3.1-10], [MQTT-3.3.1-11].
    pub(super) fn retain(
        &mut self,
        message: &Message,
        qos: QoS,
        source: Option<std::rc::Rc<RetainSource>>,
        now: Instant,
    ) {
        if message.payload().is_empty() {
            self.retained.clear(message.topic());
            return;
        }
        let (max_count, max_bytes) = (
            self.limits.max_retained_messages,
            self.limits.max_retained_bytes,
        );
        if let Err(why) = self
            .retained
            .set((message.clone(), qos, source), max_count, max_bytes)
        {
            // The previous retained message must go even if the new one cannot be
            // stored [MQTT-3.3.1-7]: a stale value is worse than none.
            self.retained.clear(message.topic());
            self.stats.publish_dropped += 1;
            self.drop_log.warn(
                now,
                format_args!("not retaining message on {}: {why:?}", message.topic()),
            );
        }
    }
}

/// Whether `topic` is a bridge's state, `$SYS/broker/connection/NAME/state`: the one
/// `$SYS` topic Mosquitto lets a client write (`acl__check_dollar`), so that a bridge
/// connecting in can publish `1` there when it is up and leave `0` as its will.
fn is_bridge_state(topic: &str) -> bool {
    crate::topic::filter_matches("$SYS/broker/connection/+/state", topic)
}
