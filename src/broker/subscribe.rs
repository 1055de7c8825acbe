//! SUBSCRIBE and UNSUBSCRIBE [MQTT-3.8], [MQTT-3.10]: filters checked against syntax,
//! caps and the ACL, stored in the topic tree and the session, answered with SUBACK or
//! UNSUBACK; retained messages of each granted filter follow the SUBACK.

use super::*;
use crate::topic::shared_filter;

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
        let mut granted_filters: Vec<(std::borrow::Cow<'_, str>, QoS, bool)> = Vec::new();
        let subscription_id = p
            .properties
            .u32(property::SUBSCRIPTION_IDENTIFIER)
            .unwrap_or(0);
        let max_qos = self.max_qos(conn);
        let mount: Option<Box<str>> = self.mount_point(conn).map(Box::from);
        let bridge = self.conn(conn).is_some_and(|c| c.bridge);
        for (filter, options) in p.filters() {
            let filter = mount::mounted_filter(mount.as_deref(), filter);
            // Granted at most max_qos [MQTT-3.2.2-9 of 5.0].
            let qos = options.qos.min(max_qos);
            let existed = self
                .tree
                .find(&filter)
                .is_some_and(|at| self.tree.granted(at, sid).is_some());
            let shared = shared_filter(&filter);
            if matches!(shared, Some(Ok(_))) && options.no_local {
                // [MQTT-3.8.3-4 of 5.0]
                let why = "No Local on a shared subscription";
                return self.protocol_error(conn, why, now);
            }
            // A Mosquitto bridge (3.1/3.1.1 with the bridge marker) gets No Local and
            // Retain As Published on every subscription, as Mosquitto's
            // `handle__subscribe` gives it: its own messages do not come back to it
            // (no loop), and retained ones keep their flag on the other side.
            let options = codec::SubscriptionOptions {
                no_local: options.no_local || bridge,
                retain_as_published: options.retain_as_published || bridge,
                ..options
            };
            let outcome = match shared {
                None => self.subscribe_one(sid, &filter, qos).map(Some),
                Some(Err(e)) => Err((ReasonCode::TOPIC_FILTER_INVALID, e.as_str())),
                Some(Ok((group, inner))) => {
                    let member = (group, inner, &*filter);
                    let rap = options.retain_as_published;
                    self.subscribe_shared(sid, member, qos, rap, subscription_id)
                        .map(|()| None)
                }
            };
            let code = match outcome {
                // A shared subscription: no retained messages [MQTT-3.3.1-? of 5.0].
                Ok(None) => ReasonCode::granted(qos).0,
                Ok(Some(acl_checked)) => {
                    if let Some(at) = self.tree.find(&filter) {
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
            let mut retained: Vec<Retained> = self
                .retained
                .matching(&filter)
                .filter(|(m, ..)| m.remaining(stamp).is_ok())
                .filter(|(m, ..)| !acl_checked || self.acl_allows(sid, m.topic(), Want::Read))
                .filter(|(m, _, source)| self.source_may_write(source.as_deref(), m.topic()))
                .cloned()
                .collect();
            retained.sort_by(|a, b| a.0.topic().cmp(b.0.topic()));
            for (message, qos, _) in retained {
                let item = Queued {
                    message,
                    qos: self.limits.delivery_qos(qos, granted),
                    retain: true,
                    subscription_id,
                    share: 0,
                };
                self.enqueue(sid, item, None, now);
            }
        }
    }

    /// Whether session `sid` may subscribe to `filter` (the ACL, the filter's syntax
    /// and caps, and, for a subscription it does not have yet (`new`), the caps on
    /// subscriptions): the ACL's verdict, or why not.
    fn check_subscription(
        &mut self,
        sid: SessionId,
        filter: &str,
        new: bool,
    ) -> Result<SubscribeVerdict, (ReasonCode, &'static str)> {
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
        if new {
            let Some(s) = self.sessions.get(sid) else {
                return Err((ReasonCode::UNSPECIFIED_ERROR, "no session"));
            };
            let count = s.subscriptions().len() + self.shared.memberships(sid);
            if count >= self.limits.max_subscriptions_per_client {
                let why = "max_subscriptions_per_client reached";
                return Err((ReasonCode::QUOTA_EXCEEDED, why));
            }
            if self.subscription_count() >= self.limits.max_subscriptions {
                return Err((ReasonCode::QUOTA_EXCEEDED, "max_subscriptions reached"));
            }
        }
        Ok(verdict)
    }

    /// Puts a restored session back in the shared subscription `(group, filter, whole
    /// filter)` at `qos` with its options, checked like a SUBSCRIBE, without recording
    /// it.
    pub(super) fn restore_shared(
        &mut self,
        sid: SessionId,
        (group, filter, _): (&str, &str, &str),
        qos: QoS,
        retain_as_published: bool,
        subscription_id: u32,
    ) -> Result<(), ()> {
        let verdict = self.check_subscription(sid, filter, true).map_err(|_| ())?;
        let member = shared::Member {
            session: sid,
            qos,
            retain_as_published,
            subscription_id,
            acl_checked: verdict == SubscribeVerdict::GrantChecked,
        };
        self.join_group(sid, group, filter, member).map_err(|_| ())
    }

    /// Subscribes `sid` to the shared subscription `(group, filter, whole filter)` at
    /// `qos`, with its MQTT 5.0 options. No retained message follows [MQTT-4.8.2 of 5.0].
    fn subscribe_shared(
        &mut self,
        sid: SessionId,
        (group, filter, whole): (&str, &str, &str),
        qos: QoS,
        retain_as_published: bool,
        subscription_id: u32,
    ) -> Result<(), (ReasonCode, &'static str)> {
        let is_new = self
            .shared
            .group_of(group, filter)
            .is_none_or(|g| g.member(sid).is_none());
        let verdict = self.check_subscription(sid, filter, is_new)?;
        let member = shared::Member {
            session: sid,
            qos,
            retain_as_published,
            subscription_id,
            acl_checked: verdict == SubscribeVerdict::GrantChecked,
        };
        self.join_group(sid, group, filter, member)?;
        self.sessions.shared_subscribed(sid, whole, qos);
        Ok(())
    }

    /// Subscribes `sid` to `filter` at `qos`; `Ok(true)` when the ACL did not grant the
    /// whole filter, so its deliveries need a check each.
    pub(super) fn subscribe_one(
        &mut self,
        sid: SessionId,
        filter: &str,
        qos: QoS,
    ) -> Result<bool, (ReasonCode, &'static str)> {
        let stored = self.tree.find(filter);
        let existing = stored.filter(|at| {
            self.sessions
                .get(sid)
                .is_some_and(|s| s.subscriptions().contains(at))
        });
        let verdict = self.check_subscription(sid, filter, existing.is_none())?;
        // A repeated subscription replaces the granted QoS [MQTT-3.8.4-3].
        let (_, at) = self.tree.subscribe(filter, sid, qos);
        // A grant of the whole filter spares every delivery through it the ACL check.
        let acl_checked = verdict == SubscribeVerdict::GrantChecked;
        self.tree.set_acl_checked(at, sid, acl_checked);
        self.sessions
            .subscribed(sid, at, existing.is_none(), filter, qos);
        Ok(acl_checked)
    }

    /// Removes session `sid`'s (non-shared) subscription to `filter`; whether it had one.
    pub(super) fn unsubscribe_one(&mut self, sid: SessionId, filter: &str) -> bool {
        match self.tree.find(filter) {
            Some(at) if self.tree.remove_at(at, sid) => {
                self.sessions.unsubscribed(sid, at, filter);
                true
            }
            _ => false,
        }
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
        let mount: Option<Box<str>> = self.mount_point(conn).map(Box::from);
        for filter in p.filters() {
            let filter = &*mount::mounted_filter(mount.as_deref(), filter);
            if let Some(Ok((group, inner))) = shared_filter(filter) {
                let removed = self.leave_group(sid, group, inner);
                if removed {
                    self.sessions.shared_unsubscribed(sid, filter);
                }
                codes.push(if removed {
                    ReasonCode::SUCCESS.0
                } else {
                    ReasonCode::NO_SUBSCRIPTION_EXISTED.0
                });
                continue;
            }
            let removed = self.unsubscribe_one(sid, filter);
            if removed {
                log::info!(target: crate::log::TARGET_UNSUBSCRIBE, "{} {filter}", self.client_id_of(conn).unwrap_or_default());
            }
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
