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
        now: Instant,
    ) {
        self.stats.publish_received += 1;
        if p.retain && !self.limits.retain_available {
            // Mosquitto's rule for MQTT 3.1.1, which cannot tell the client in CONNACK.
            return self.protocol_error(
                conn,
                "retained PUBLISH while retain_available is false",
                now,
            );
        }
        let deliver = self.accept_publish(conn, &p, now);
        let (first_delivery, ack) = match (p.qos, p.packet_id) {
            (QoS::ExactlyOnce, Some(id)) => {
                // Deliver on the first PUBLISH only; a re-sent one with the same id is
                // acknowledged again but not delivered twice [MQTT-4.3.3-2].
                let max_incoming = self.limits.max_inflight_incoming;
                let Ok(first) = self.sessions.await_pubrel(sid, id, max_incoming) else {
                    let why = "more QoS 2 messages awaiting PUBREL than max_inflight_incoming";
                    return self.protocol_error(conn, why, now);
                };
                (first, Some(Packet::pubrec(id)))
            }
            (QoS::AtLeastOnce, Some(id)) => (true, Some(Packet::puback(id))),
            _ => (true, None),
        };
        if deliver && first_delivery {
            let message = Message::with_properties(p.topic, p.properties.as_bytes(), p.payload);
            self.publish(Some(conn), message, p.qos, p.retain, now);
        }
        // Acknowledged after routing, in the order received [MQTT-4.6.0-2], [MQTT-4.6.0-3].
        if let Some(ack) = ack {
            self.acknowledge(conn, &ack, now);
        }
    }

    /// Checks an inbound PUBLISH against the caps; false (counted, logged) if it is dropped.
    pub(super) fn accept_publish(
        &mut self,
        conn: ConnId,
        p: &codec::Publish<'_>,
        now: Instant,
    ) -> bool {
        let reason = match self.publish_refusal(p.topic, p.payload.len()) {
            Some(reason) => reason,
            // Denied silently to the client, as MQTT 3.1.1 has no way to say so (it is
            // still acknowledged, so it is not re-sent); counted and logged here.
            None if self
                .session_of(conn)
                .is_some_and(|sid| !self.acl_allows(sid, p.topic, Want::Write)) =>
            {
                self.stats.acl_denied += 1;
                ACL_WRITE_DENIED
            }
            None => return true,
        };
        self.stats.publish_dropped += 1;
        let id = self.client_id_of(conn).unwrap_or_default().to_string();
        self.drop_log.warn(
            now,
            format_args!("dropped PUBLISH from {id} to {}: {reason}", p.topic),
        );
        false
    }

    /// Why a message from a client (a PUBLISH or a will) may not be published, if it may not.
    pub(super) fn publish_refusal(&self, topic: &str, payload_len: usize) -> Option<&'static str> {
        let l = &self.limits;
        if l.message_size_limit != 0 && payload_len > l.message_size_limit {
            Some("payload larger than message_size_limit")
        } else if !validate_topic(topic, l.max_topic_length, l.max_topic_levels) {
            Some("topic exceeds max_topic_length or max_topic_levels")
        } else if topic.starts_with("$SYS") {
            Some("clients may not publish to $SYS")
        } else {
            None
        }
    }

    /// Routes a message to every matching subscription, once per session at the highest
    /// granted QoS, and updates the retained store. `from` is the publishing connection
    /// (none for wills and `$SYS`).
    pub(super) fn publish(
        &mut self,
        from: Option<ConnId>,
        message: Message,
        qos: QoS,
        retain: bool,
        now: Instant,
    ) {
        if retain {
            self.retain(&message, qos, now);
        }
        let mut matches = std::mem::take(&mut self.scratch);
        matches.clear();
        self.tree.matches(message.topic(), &mut matches);
        if matches.len() > 1 {
            // One delivery per session, at the highest QoS of its matching filters.
            matches.sort_unstable_by_key(|s| s.session);
            matches.dedup_by(|later, kept| {
                let same = later.session == kept.session;
                if same {
                    kept.qos = kept.qos.max(later.qos);
                    // One filter the ACL grants whole covers this topic.
                    kept.acl_checked &= later.acl_checked;
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
            // is cleared on normal delivery [MQTT-3.3.1-9].
            let item = Queued {
                message: message.clone(),
                qos: qos.min(sub.qos),
                retain: false,
            };
            self.enqueue(sub.session, item, from, now);
        }
        self.scratch = matches;
    }

    /// Makes `message` its topic's retained message, within the retained caps; an empty
    /// payload clears the topic [MQTT-3.3.1-10], [MQTT-3.3.1-11].
    pub(super) fn retain(&mut self, message: &Message, qos: QoS, now: Instant) {
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
            .set(message.clone(), qos, max_count, max_bytes)
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
