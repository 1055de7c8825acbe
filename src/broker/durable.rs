//! What a store reads from the core and puts back into it.
//!
//! Reading: when a store writes a persistent session that changed, it asks the core for
//! the session's facts (user name, version, subscriptions, inbound QoS 2 ids) and, to
//! rewrite its file from scratch, for the session's messages and the retained messages.
//! Restoring: at start-up, before any listener accepts, the store hands back what it
//! loaded; the caps in force apply to it as to anything else (what does not fit is
//! dropped, counted in `$SYS/broker/publish/messages/dropped` and logged), and an offline
//! session's expiry runs on from the age the store kept.

use super::*;
use crate::codec::SubscriptionOptions;
use sessions::Inflight;
use std::time::Duration;

/// One subscription as a store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredSubscription {
    /// The filter (`$share/GROUP/FILTER` for a shared subscription).
    pub filter: String,
    /// The MQTT 5.0 options byte ([`options_byte`]): granted QoS, No Local, Retain As
    /// Published (Retain Handling only matters at SUBSCRIBE and is not kept).
    pub options: u8,
    /// The MQTT 5.0 Subscription Identifier, 0 for none.
    pub subscription_id: u32,
}

impl StoredSubscription {
    /// The granted QoS in [`StoredSubscription::options`].
    pub fn qos(&self) -> QoS {
        QoS::from_bits(self.options & 3).unwrap_or(QoS::AtMostOnce)
    }
}

/// The facts of a persistent session a store writes beside its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFacts {
    /// User name of its last connection.
    pub username: Option<String>,
    /// Protocol version of its last connection.
    pub version: ProtocolVersion,
    /// Its Session Expiry Interval in seconds (`u32::MAX`: until
    /// `persistent_client_expiration`).
    pub expiry: u32,
    /// Subscriptions.
    pub subscriptions: Vec<StoredSubscription>,
    /// Inbound QoS 2 packet ids awaiting PUBREL.
    pub pubrel_ids: Vec<u16>,
}

/// One message of a session, in queue order (in flight first, then queued).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// The message; `None` for a QoS 2 delivery past PUBREC (only PUBREL remains).
    pub message: Option<Message>,
    /// Delivery QoS.
    pub qos: QoS,
    /// RETAIN flag it is sent with.
    pub retain: bool,
    /// Packet id it was sent with; `None` while queued.
    pub packet_id: Option<u16>,
}

/// A persistent session loaded by a store, to put back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoredSession {
    /// Client id.
    pub client_id: String,
    /// User name of its last connection.
    pub username: Option<String>,
    /// Protocol version of its last connection.
    pub version: ProtocolVersion,
    /// How long it has been offline, in the store's running time.
    pub offline_for: Duration,
    /// Its Session Expiry Interval in seconds (`u32::MAX`: until
    /// `persistent_client_expiration`).
    pub expiry: u32,
    /// Subscriptions.
    pub subscriptions: Vec<StoredSubscription>,
    /// Messages, in flight first (with packet ids), then queued.
    pub entries: Vec<StoredEntry>,
    /// Inbound QoS 2 packet ids awaiting PUBREL.
    pub pubrel_ids: Vec<u16>,
}

/// What became of a restored session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// The session was put back (false: expired, or over a cap; see the log).
    pub kept: bool,
    /// Its messages dropped under the caps.
    pub dropped_messages: usize,
    /// Its subscriptions dropped (invalid under the caps in force).
    pub dropped_subscriptions: usize,
    /// A bridge outbox's messages beyond its window in RAM, in order: the core counts
    /// them as on disk only; the store keeps them so (queued, no packet id).
    pub spilled: Vec<StoredEntry>,
}

impl Broker {
    /// What is left of `message`'s Message Expiry Interval (MQTT 5.0) as of the core's
    /// last call; `None` for a message that does not expire. A store keeps it on its own
    /// clock.
    pub fn expiry_left(&self, message: &Message) -> Option<Duration> {
        let at = message.expires()?;
        let now = self.clock.latest();
        Some(Duration::from_millis(at.ms_since(now)))
    }

    /// A message body a store loaded, expiring `expires_in` from `now` if it does (a
    /// message that expired while stored gets a deadline of `now`: it is dropped
    /// rather than delivered).
    pub fn restored_message(
        &self,
        (topic, properties, payload): (&str, &[u8], &[u8]),
        expires_in: Option<Duration>,
        now: Instant,
    ) -> Message {
        let expires = expires_in.map(|d| self.clock.stamp(now).after(d));
        Message::with_expiry(topic, properties, payload, expires)
    }

    /// The facts of the persistent session of `client_id`, if there is one.
    pub fn session_facts(&self, client_id: &str) -> Option<SessionFacts> {
        let sid = self.sessions.find(client_id)?;
        let s = self.sessions.get(sid).filter(|s| !s.is_clean())?;
        let mut subscriptions: Vec<StoredSubscription> = s
            .subscriptions()
            .iter()
            .filter_map(|&at| {
                let sub = self.tree.subscriber(at, sid)?;
                Some(StoredSubscription {
                    filter: self.tree.filter_of(at),
                    options: options_byte(sub.qos, sub.no_local, sub.retain_as_published),
                    subscription_id: sub.subscription_id,
                })
            })
            .collect();
        subscriptions.extend(self.shared.stored_of(sid));
        Some(SessionFacts {
            username: s.username().map(str::to_owned),
            version: s.version(),
            expiry: s.expiry(),
            subscriptions,
            pubrel_ids: s.pubrel_ids().to_vec(),
        })
    }

    /// The messages of the persistent session of `client_id`, in queue order.
    pub fn session_entries(&self, client_id: &str) -> Vec<StoredEntry> {
        let Some(s) = self
            .sessions
            .find(client_id)
            .and_then(|sid| self.sessions.get(sid))
        else {
            return Vec::new();
        };
        let inflight = s.inflight().map(|e| StoredEntry {
            message: e.message.clone(),
            qos: e.qos,
            retain: e.retain,
            packet_id: Some(e.packet_id),
        });
        let queued = s.queued().map(|q| StoredEntry {
            message: Some(q.message.clone()),
            qos: q.qos,
            retain: q.retain,
            packet_id: None,
        });
        inflight.chain(queued).collect()
    }

    /// The client ids of the persistent sessions.
    pub fn persistent_sessions(&self) -> Vec<String> {
        self.sessions
            .ids()
            .filter_map(|sid| self.sessions.get(sid))
            .filter(|s| !s.is_clean())
            .map(|s| s.client_id().to_owned())
            .collect()
    }

    /// The retained messages a store keeps (all but `$SYS` ones).
    pub fn durable_retained(&self) -> impl Iterator<Item = &Retained> {
        self.retained.durable()
    }

    /// Puts back a retained message loaded by a store, with its retain source if the
    /// store kept one. False (counted and logged) if the retained caps in force leave no
    /// room for it.
    pub fn restore_retained(&mut self, retained: Retained, now: Instant) -> bool {
        let (max_count, max_bytes) = (
            self.limits.max_retained_messages,
            self.limits.max_retained_bytes,
        );
        let topic = retained.0.topic().to_owned();
        match self.retained.restore(retained, max_count, max_bytes) {
            Ok(()) => true,
            Err(why) => {
                self.stats.publish_dropped += 1;
                self.drop_log.warn(
                    now,
                    format_args!("not restoring the retained message on {topic}: {why:?}"),
                );
                false
            }
        }
    }

    /// Puts back a persistent session loaded by a store, offline, its expiry running on
    /// from `offline_for`. A session past `persistent_client_expiration`, beyond
    /// `max_offline_sessions` or with a client id over `max_client_id_length` is not
    /// restored; subscriptions and messages the caps in force refuse are dropped.
    pub fn restore_session(&mut self, s: RestoredSession, now: Instant) -> RestoreOutcome {
        let l = &self.limits;
        let id = s.client_id.as_str();
        let lifetime = match s.expiry {
            NEVER => l.persistent_client_expiration,
            secs => Some(Duration::from_secs(u64::from(secs))),
        };
        let refusal = if lifetime.is_some_and(|expiry| s.offline_for >= expiry) {
            Some("expired while Sol was running before")
        } else if self.sessions.offline() >= l.max_offline_sessions {
            Some("max_offline_sessions reached")
        } else if id.is_empty() || id.len() > l.max_client_id_length {
            Some("client id not allowed by max_client_id_length")
        } else if self.sessions.find(id).is_some() {
            Some("a session with this client id exists already")
        } else {
            None
        };
        if let Some(why) = refusal {
            warn!("not restoring the session of {id}: {why}");
            if why.starts_with("expired") {
                self.stats.clients_expired += 1;
            }
            return RestoreOutcome {
                dropped_messages: s.entries.len(),
                ..RestoreOutcome::default()
            };
        }
        let (inflight, queue, spilled, dropped_messages) = self.restorable_entries(id, s.entries);
        if !spilled.is_empty() {
            let mut on_disk = bridge::Spilled::default();
            for e in &spilled {
                on_disk.push(e.message.as_ref().map_or(0, Message::budget_size));
            }
            self.restored_spills.push((id.into(), on_disk));
        }
        let offline_since = self.clock.stamp(now).before(s.offline_for);
        let sid = self.sessions.restore(
            id,
            s.username.as_deref(),
            s.version,
            s.expiry,
            offline_since,
            inflight,
            queue,
            s.pubrel_ids,
        );
        let mut dropped_subscriptions = 0;
        for sub in &s.subscriptions {
            if self.restore_subscription(sid, sub).is_err() {
                dropped_subscriptions += 1;
            }
        }
        if self.auth.acl.is_some() {
            self.mark_acl_checks(sid);
        }
        if let (Some(expiry), Some(gen)) = (
            self.session_lifetime(sid),
            self.sessions.get(sid).map(|s| s.generation()),
        ) {
            self.timers
                .push(offline_since.after(expiry), Owner::Session(sid, gen));
        }
        let dropped = dropped_messages + dropped_subscriptions;
        if dropped > 0 {
            self.stats.publish_dropped += dropped_messages as u64;
            warn!(
                "restored the session of {id} without {dropped_messages} message(s) and \
                 {dropped_subscriptions} subscription(s) the caps in force refuse"
            );
        }
        RestoreOutcome {
            kept: true,
            dropped_messages,
            dropped_subscriptions,
            spilled,
        }
    }

    /// Splits the stored entries of `client_id`'s session into the inflight window and
    /// the queue, within its queue caps (a bridge's outbox has its own) and
    /// `max_queued_memory`; a bridge's outbox keeps its window in RAM and the rest of its
    /// queue on disk only (the third list). Returns them and how many were dropped.
    fn restorable_entries(
        &self,
        client_id: &str,
        entries: Vec<StoredEntry>,
    ) -> (Vec<Inflight>, Vec<Queued>, Vec<StoredEntry>, usize) {
        let l = &self.limits;
        // A bridge's outbox has its own caps, and max_queued_memory does not count it.
        let outbox = l.bridge_outboxes.iter().find(|(id, _)| &**id == client_id);
        let (max_messages, max_bytes, queue_qos0, max_memory) = match outbox {
            Some((_, o)) => (o.max_messages, o.max_bytes, o.queue_qos0, usize::MAX),
            None => (
                l.max_queued_messages,
                l.max_queued_bytes,
                l.queue_qos0_messages,
                l.max_queued_memory,
            ),
        };
        let spills = outbox.is_some() && l.track_durable;
        let mut memory = self.client_held_bytes();
        let (mut inflight, mut queue, mut queued_bytes, mut dropped) =
            (Vec::new(), Vec::new(), 0usize, 0usize);
        let (mut spilled, mut ram_bytes) = (Vec::new(), 0usize);
        for e in entries {
            let size = e.message.as_ref().map_or(0, Message::budget_size);
            if memory.saturating_add(size) > max_memory {
                dropped += 1;
                continue;
            }
            match (e.packet_id, e.message) {
                (Some(packet_id), message) => {
                    let state = match (e.qos, &message) {
                        (QoS::ExactlyOnce, None) => Awaiting::Pubcomp,
                        (QoS::ExactlyOnce, Some(_)) => Awaiting::Pubrec,
                        _ => Awaiting::Puback,
                    };
                    if message.is_none() && state != Awaiting::Pubcomp {
                        dropped += 1;
                        continue;
                    }
                    inflight.push(Inflight {
                        packet_id,
                        message,
                        qos: e.qos,
                        retain: e.retain,
                        share: 0,
                        subscription_id: 0,
                        deferred: false,
                        state,
                    });
                }
                (None, Some(message)) => {
                    let waiting = queue.len() + spilled.len();
                    let over_bytes =
                        max_bytes != 0 && queued_bytes + size > max_bytes && waiting > 0;
                    let qos0_dropped = e.qos == QoS::AtMostOnce && !queue_qos0;
                    if waiting >= max_messages || over_bytes || qos0_dropped {
                        dropped += 1;
                        continue;
                    }
                    queued_bytes += size;
                    let window_full = !spilled.is_empty()
                        || queue.len() >= bridge::WINDOW_MESSAGES
                        || (!queue.is_empty() && ram_bytes + size > bridge::WINDOW_BYTES);
                    if spills && window_full {
                        spilled.push(StoredEntry {
                            message: Some(message),
                            qos: e.qos,
                            retain: e.retain,
                            packet_id: None,
                        });
                        continue;
                    }
                    ram_bytes += size;
                    queue.push(Queued {
                        message,
                        qos: e.qos,
                        retain: e.retain,
                        subscription_id: 0,
                        share: 0,
                    });
                }
                (None, None) => {
                    dropped += 1;
                    continue;
                }
            }
            memory += size;
        }
        (inflight, queue, spilled, dropped)
    }

    /// Subscribes a restored session to `filter` at `qos`, checked like a SUBSCRIBE
    /// (syntax, caps; the ACL marks follow), without recording it.
    fn restore_subscription(&mut self, sid: SessionId, sub: &StoredSubscription) -> Result<(), ()> {
        let (filter, qos) = (sub.filter.as_str(), sub.qos());
        let retain_as_published = sub.options & RETAIN_AS_PUBLISHED != 0;
        if let Some(shared) = crate::topic::shared_filter(filter) {
            let (group, inner) = shared.map_err(|_| ())?;
            let member = (group, inner, filter);
            return self.restore_shared(sid, member, qos, retain_as_published, sub.subscription_id);
        }
        let l = &self.limits;
        let count = self
            .sessions
            .get(sid)
            .map_or(0, |s| s.subscriptions().len());
        if validate_filter(filter, l.max_topic_length, l.max_topic_levels).is_err()
            || count >= l.max_subscriptions_per_client
            || self.tree.len() >= l.max_subscriptions
        {
            return Err(());
        }
        let (_, at) = self.tree.subscribe(filter, sid, qos);
        let no_local = sub.options & NO_LOCAL != 0;
        self.tree
            .set_options(at, sid, no_local, retain_as_published, sub.subscription_id);
        self.sessions.restore_subscription(sid, at);
        Ok(())
    }
}

/// No Local in a subscription's options byte [MQTT-3.8.3.1 of 5.0].
const NO_LOCAL: u8 = 0x04;
/// Retain As Published in a subscription's options byte.
const RETAIN_AS_PUBLISHED: u8 = 0x08;

/// The options byte a store keeps for a subscription: MQTT 5.0's SUBSCRIBE options byte
/// (QoS in bits 0-1, No Local, Retain As Published; a 3.1.1 subscription has only the
/// QoS).
pub fn options_byte(qos: QoS, no_local: bool, retain_as_published: bool) -> u8 {
    let options = SubscriptionOptions {
        no_local,
        retain_as_published,
        ..SubscriptionOptions::from(qos)
    };
    options.to_byte(ProtocolVersion::V5)
}
