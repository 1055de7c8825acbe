//! Listener rules for a connection's clients: the mount point (`mount_point`), which
//! puts a listener's clients below a topic prefix, and the listener's own `max_qos`.
//!
//! Mosquitto's meaning: the prefix is put in front of every topic a client of the
//! listener sends, as it arrives (PUBLISH after its Topic Alias is resolved, SUBSCRIBE
//! and UNSUBSCRIBE filters, the will's topic), so the broker, the ACL, the retained
//! store and every other listener see the mounted topic; it is taken off the topics
//! the client is sent. A client subscribing to `#` or `$SYS/#` therefore sees only what
//! is below its mount point (`$SYS` included: `mp/$SYS/#` matches none of the broker's
//! topics). Two rules differ from Mosquitto 2.0.11, both bugs there: the prefix is
//! taken off outgoing topics (2.0.11 forgot to; 2.0.12 fixed it), and a shared
//! subscription `$share/GROUP/FILTER` joins GROUP on the mounted FILTER (Mosquitto
//! makes it the plain filter `mp/$share/GROUP/FILTER`, which no message reaches).
//!
//! This file must not route or queue: it only rewrites topics and answers questions
//! about a connection's listener.

use super::*;
use crate::topic::shared_filter;
use std::borrow::Cow;

impl Broker {
    /// The listener rules of the listener `conn` came in on.
    pub(super) fn listener_clients(&self, conn: ConnId) -> Option<&ListenerClients> {
        let listener = self.conn(conn)?.listener as usize;
        self.limits.listeners.get(listener).map(|l| &l.clients)
    }

    /// The mount point of the listener `conn` came in on, if it has one.
    pub(super) fn mount_point(&self, conn: ConnId) -> Option<&str> {
        self.listener_clients(conn)?.mount_point.as_deref()
    }

    /// An in-flight `message` as `conn`'s client is sent it again: without its
    /// listener's mount point. One not below it (sent first through another listener)
    /// goes unchanged: its exchange has begun and must finish [MQTT-4.4.0-1].
    pub(super) fn sent_again(&self, conn: ConnId, message: Message) -> Message {
        match self.mount_point(conn) {
            Some(mount) => unmounted(&message, mount).unwrap_or(message),
            None => message,
        }
    }

    /// The highest QoS the clients of `conn`'s listener may use: its own `max_qos`, or
    /// the global one.
    pub(super) fn max_qos(&self, conn: ConnId) -> QoS {
        self.listener_clients(conn)
            .and_then(|l| l.max_qos)
            .unwrap_or(self.limits.max_qos)
    }
}

/// `topic` (or a filter) as the broker knows it: below `mount`, if any.
pub(super) fn mounted<'a>(mount: Option<&str>, topic: &'a str) -> Cow<'a, str> {
    match mount {
        Some(mount) => Cow::Owned(format!("{mount}{topic}")),
        None => Cow::Borrowed(topic),
    }
}

/// A subscription filter as the broker knows it: below `mount`, if any; a shared one
/// keeps its `$share/GROUP/` in front of the mounted filter (see the module comment).
pub(super) fn mounted_filter<'a>(mount: Option<&str>, filter: &'a str) -> Cow<'a, str> {
    match (mount, shared_filter(filter)) {
        (Some(mount), Some(Ok((group, inner)))) => {
            Cow::Owned(format!("$share/{group}/{mount}{inner}"))
        }
        _ => mounted(mount, filter),
    }
}

/// `message` as a client below `mount` is sent it: the same properties, payload and
/// expiry under its topic without the mount point (a copy: the body every subscriber
/// shares keeps the broker's topic). `None` for a topic not below the mount point (a
/// subscription made on another listener by the same persistent session): never sent,
/// so a mounted client sees nothing outside its mount point.
pub(super) fn unmounted(message: &Message, mount: &str) -> Option<Message> {
    let topic = message.topic().strip_prefix(mount)?;
    if topic.is_empty() {
        return None;
    }
    let (properties, payload) = (message.properties(), message.payload());
    Some(Message::with_expiry(
        topic,
        properties,
        payload,
        message.expires(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounting_prefixes_topics_and_keeps_share_in_front() {
        assert_eq!(mounted(Some("mp/"), "a/b"), "mp/a/b");
        assert_eq!(mounted(None, "a/b"), "a/b");
        assert_eq!(mounted_filter(Some("mp/"), "#"), "mp/#");
        assert_eq!(mounted_filter(Some("mp/"), "$SYS/#"), "mp/$SYS/#");
        assert_eq!(
            mounted_filter(Some("mp/"), "$share/g/a/+"),
            "$share/g/mp/a/+"
        );
        assert_eq!(mounted_filter(None, "$share/g/a/+"), "$share/g/a/+");
    }

    #[test]
    fn unmounting_strips_the_prefix_and_refuses_other_topics() {
        let m = Message::with_properties("mp/a", &[0x01, 0x01], b"xyz");
        let out = unmounted(&m, "mp/").expect("below the mount point");
        assert_eq!(
            (out.topic(), out.properties(), out.payload()),
            ("a", &[0x01, 0x01][..], &b"xyz"[..])
        );
        assert!(unmounted(&m, "other/").is_none());
        assert!(unmounted(&Message::new("mp/", b"x"), "mp/").is_none());
    }
}
