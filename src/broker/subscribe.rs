//! SUBSCRIBE and UNSUBSCRIBE [MQTT-3.8], [MQTT-3.10]: filters checked against syntax,
//! caps and the ACL, stored in the topic tree and the session, answered with SUBACK or
//! UNSUBACK; retained messages of each granted filter follow the SUBACK.

use super::*;

impl Broker {
    /// SUBSCRIBE: each filter granted or refused on its own, SUBACK with one code each.
    pub(super) fn on_subscribe(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        p: codec::Subscribe<'_>,
        now: Instant,
    ) {
        let mut codes: heapless::Vec<u8, 64> = heapless::Vec::new();
        let mut more_codes = Vec::new();
        let mut granted_filters: Vec<(&str, QoS, bool)> = Vec::new();
        let v5 = self
            .conn(conn)
            .is_some_and(|c| c.version == ProtocolVersion::V5);
        let subscription_id = p
            .properties
            .u32(property::SUBSCRIPTION_IDENTIFIER)
            .unwrap_or(0);
        for (filter, options) in p.filters() {
            let qos = options.qos;
            let existed = self
                .tree
                .find(filter)
                .is_some_and(|at| self.tree.granted(at, sid).is_some());
            let outcome = if v5 && filter.starts_with("$share/") {
                let why = "shared subscriptions are not served yet";
                Err((ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, why))
            } else {
                self.subscribe_one(sid, filter, qos)
            };
            let code = match outcome {
                Ok(acl_checked) => {
                    if let Some(at) = self.tree.find(filter) {
                        let (nl, rap) = (options.no_local, options.retain_as_published);
                        self.tree.set_options(at, sid, nl, rap, subscription_id);
                    }
                    // Retained messages at subscribe, as Retain Handling says
                    // [MQTT-3.3.1-9..11 of 5.0].
                    let send_retained = match options.retain_handling {
                        codec::RetainHandling::SendAtSubscribe => true,
                        codec::RetainHandling::SendIfNew => !existed,
                        codec::RetainHandling::DoNotSend => false,
                    };
                    if send_retained {
                        granted_filters.push((filter, qos, acl_checked));
                    }
                    ReasonCode::granted(qos).0
                }
                Err((code, why)) => {
                    let id = self.client_id_of(conn).unwrap_or_default().to_string();
                    info!("client {id}: subscription to {filter:?} refused: {why}");
                    code.0
                }
            };
            if codes.push(code).is_err() {
                more_codes.push(code);
            }
        }
        let mut all = Vec::new();
        let reason_codes = if more_codes.is_empty() {
            &codes[..]
        } else {
            all.extend_from_slice(&codes);
            all.extend_from_slice(&more_codes);
            &all[..]
        };
        let suback = Suback {
            packet_id: p.packet_id,
            properties: codec::Properties::NONE,
            reason_codes,
        };
        // SUBACK first, then the retained messages of each granted filter, RETAIN set
        // [MQTT-3.3.1-6], re-sent on a repeated subscription too [MQTT-3.8.4-3].
        self.send(conn, &Packet::Suback(suback), now);
        for (filter, granted, acl_checked) in granted_filters {
            log::info!(target: crate::log::TARGET_SUBSCRIBE, "{} {} {filter}", self.client_id_of(conn).unwrap_or_default(), granted as u8);
            let stamp = self.clock.stamp(now);
            let mut retained: Vec<(Message, QoS)> = self
                .retained
                .matching(filter)
                .filter(|(m, _)| m.remaining(stamp).is_ok())
                .filter(|(m, _)| !acl_checked || self.acl_allows(sid, m.topic(), Want::Read))
                .cloned()
                .collect();
            retained.sort_by(|a, b| a.0.topic().cmp(b.0.topic()));
            for (message, qos) in retained {
                let item = Queued {
                    message,
                    qos: qos.min(granted),
                    retain: true,
                    subscription_id,
                };
                self.enqueue(sid, item, None, now);
            }
        }
    }

    /// Subscribes `sid` to `filter` at `qos`; `Ok(true)` when the ACL did not grant the
    /// whole filter, so its deliveries need a check each.
    pub(super) fn subscribe_one(
        &mut self,
        sid: SessionId,
        filter: &str,
        qos: QoS,
    ) -> Result<bool, (ReasonCode, &'static str)> {
        let verdict = match (&self.auth.acl, self.identity(sid)) {
            (Some(acl), Some(who)) => acl.subscribe(who, filter),
            (Some(_), None) => SubscribeVerdict::Refuse,
            (None, _) => SubscribeVerdict::GrantAll,
        };
        if verdict == SubscribeVerdict::Refuse {
            self.stats.acl_denied += 1;
            let why = "the ACL allows reading nothing it matches";
            return Err((ReasonCode::NOT_AUTHORIZED, why));
        }
        validate_filter(
            filter,
            self.limits.max_topic_length,
            self.limits.max_topic_levels,
        )
        .map_err(|e| (ReasonCode::TOPIC_FILTER_INVALID, FilterError::as_str(e)))?;
        let total_full = self.tree.len() >= self.limits.max_subscriptions;
        let per_client = self.limits.max_subscriptions_per_client;
        let stored = self.tree.find(filter);
        let Some(s) = self.sessions.get(sid) else {
            return Err((ReasonCode::UNSPECIFIED_ERROR, "no session"));
        };
        let existing = stored.filter(|at| s.subscriptions().contains(at));
        if existing.is_none() {
            if s.subscriptions().len() >= per_client {
                let why = "max_subscriptions_per_client reached";
                return Err((ReasonCode::QUOTA_EXCEEDED, why));
            }
            if total_full {
                return Err((ReasonCode::QUOTA_EXCEEDED, "max_subscriptions reached"));
            }
        }
        // A repeated subscription replaces the granted QoS [MQTT-3.8.4-3].
        let (_, at) = self.tree.subscribe(filter, sid, qos);
        // A grant of the whole filter spares every delivery through it the ACL check.
        let acl_checked = verdict == SubscribeVerdict::GrantChecked;
        self.tree.set_acl_checked(at, sid, acl_checked);
        self.sessions
            .subscribed(sid, at, existing.is_none(), filter, qos);
        Ok(acl_checked)
    }

    /// UNSUBSCRIBE: each filter the session has is removed; UNSUBACK answers.
    pub(super) fn on_unsubscribe(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        p: codec::Unsubscribe<'_>,
        now: Instant,
    ) {
        let mut codes = Vec::new();
        for filter in p.filters() {
            let removed = match self.tree.find(filter) {
                Some(at) if self.tree.remove_at(at, sid) => {
                    self.sessions.unsubscribed(sid, at, filter);
                    log::info!(target: crate::log::TARGET_UNSUBSCRIBE, "{} {filter}", self.client_id_of(conn).unwrap_or_default());
                    true
                }
                _ => false,
            };
            // MQTT 5.0 says which filters had no subscription [MQTT-3.11.3-1 of 5.0].
            codes.push(if removed {
                ReasonCode::SUCCESS.0
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED.0
            });
        }
        // UNSUBACK even when nothing matched [MQTT-3.10.4-4], [MQTT-3.10.4-5]; a 3.1.1
        // one is the packet id alone (the codec leaves the codes out).
        let unsuback = codec::Unsuback {
            packet_id: p.packet_id,
            properties: codec::Properties::NONE,
            reason_codes: &codes,
        };
        self.send(conn, &Packet::Unsuback(unsuback), now);
    }
}
