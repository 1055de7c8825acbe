//! Retained messages [MQTT-3.3.1-5]: the last retained message per topic, within caps.
//!
//! A zero-length retained PUBLISH clears the topic [MQTT-3.3.1-10]. `$SYS` topics are
//! exempt from the caps: the broker publishes a fixed, small set of them.
//!
//! The store is the one door through which retained messages change: it records every
//! change of a non-`$SYS` topic in its [`Journal`] for a store to make durable (`$SYS`
//! values are the running broker's and are not kept).

use super::effect::{Durable, Journal};
use super::message::Message;
use crate::codec::QoS;
use std::collections::HashMap;

/// Why a retained message was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainRefused {
    /// `max_retained_messages` reached and the topic had no retained message yet.
    TooManyMessages,
    /// Storing it would exceed `max_retained_bytes`.
    TooManyBytes,
}

/// The retained messages by topic.
#[derive(Default)]
pub struct RetainedStore {
    /// Changes of non-`$SYS` topics, for a store.
    journal: Journal,
    /// Topic to retained message and its QoS.
    map: HashMap<Box<str>, (Message, QoS)>,
    /// Sum of the sizes of non-`$SYS` retained messages.
    bytes: usize,
    /// Number of non-`$SYS` retained messages.
    count: usize,
}

impl RetainedStore {
    /// An empty store; it records durable changes only if `track_durable`.
    pub fn new(track_durable: bool) -> RetainedStore {
        RetainedStore {
            journal: Journal::new(track_durable),
            ..RetainedStore::default()
        }
    }

    /// The next durable record not handed out yet.
    pub fn pop_durable(&mut self) -> Option<Durable> {
        self.journal.pop()
    }

    /// Stores `message` as the topic's retained message, replacing any previous one.
    pub fn set(
        &mut self,
        message: Message,
        qos: QoS,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<(), RetainRefused> {
        let capped = !message.topic().starts_with('$');
        let old = self.map.get(message.topic()).map(|(m, _)| m.budget_size());
        if capped {
            if old.is_none() && self.count >= max_count {
                return Err(RetainRefused::TooManyMessages);
            }
            if self.bytes - old.unwrap_or(0) + message.budget_size() > max_bytes {
                return Err(RetainRefused::TooManyBytes);
            }
            self.bytes = self.bytes - old.unwrap_or(0) + message.budget_size();
            self.count += usize::from(old.is_none());
        }
        let replaced = self
            .map
            .insert(message.topic().into(), (message.clone(), qos))
            .map(|(m, _)| m);
        if capped {
            self.journal.record(|| Durable::RetainedSet {
                message,
                qos,
                replaced,
            });
        }
        Ok(())
    }

    /// Puts a retained message loaded from the store back, within the caps, without
    /// recording it (it is on disk already).
    pub fn restore(
        &mut self,
        message: Message,
        qos: QoS,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<(), RetainRefused> {
        let enabled = self.journal.enabled();
        self.journal.set_enabled(false);
        let result = self.set(message, qos, max_count, max_bytes);
        self.journal.set_enabled(enabled);
        result
    }

    /// The retained messages a store keeps (every topic but `$SYS` ones).
    pub fn durable(&self) -> impl Iterator<Item = (&Message, QoS)> {
        self.map
            .iter()
            .filter(|(topic, _)| !topic.starts_with('$'))
            .map(|(_, (m, qos))| (m, *qos))
    }

    /// Removes the topic's retained message; true if there was one.
    pub fn clear(&mut self, topic: &str) -> bool {
        match self.map.remove(topic) {
            Some((m, _)) => {
                if !topic.starts_with('$') {
                    self.bytes -= m.budget_size();
                    self.count -= 1;
                    let topic = topic.into();
                    self.journal
                        .record(|| Durable::RetainedCleared { topic, cleared: m });
                }
                true
            }
            None => false,
        }
    }

    /// Retained messages whose topic matches `filter`.
    pub fn matching<'a>(
        &'a self,
        filter: &'a str,
    ) -> impl Iterator<Item = &'a (Message, QoS)> + 'a {
        let literal = !filter.contains(['+', '#']);
        let exact = if literal { self.map.get(filter) } else { None };
        let scan = (!literal).then(|| {
            self.map
                .iter()
                .filter(move |(t, _)| crate::topic::filter_matches(filter, t))
                .map(|(_, v)| v)
        });
        exact.into_iter().chain(scan.into_iter().flatten())
    }

    /// Number of retained messages, `$SYS` included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Payload bytes held by capped (non-`$SYS`) retained messages.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_and_bytes_but_replacing_is_allowed() {
        let mut r = RetainedStore::default();
        r.set(Message::new("a", b"1"), QoS::AtMostOnce, 1, 100)
            .unwrap();
        assert_eq!(
            r.set(Message::new("b", b"1"), QoS::AtMostOnce, 1, 100),
            Err(RetainRefused::TooManyMessages)
        );
        r.set(Message::new("a", b"22"), QoS::AtLeastOnce, 1, 100)
            .unwrap();
        assert_eq!(r.bytes(), 5);
        assert_eq!(
            r.set(Message::new("a", &[0; 100]), QoS::AtMostOnce, 1, 100),
            Err(RetainRefused::TooManyBytes)
        );
        r.set(Message::new("$SYS/x", b"1"), QoS::AtMostOnce, 1, 100)
            .unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.clear("a"));
        assert_eq!((r.bytes(), r.count), (0, 0));
    }

    #[test]
    fn matching_literal_and_wildcard_filters() {
        let mut r = RetainedStore::default();
        for t in ["a/b", "a/c", "b/c", "$SYS/x"] {
            r.set(Message::new(t, b"p"), QoS::AtMostOnce, 10, 100)
                .unwrap();
        }
        let topics = |f: &str| {
            let mut v: Vec<String> = r.matching(f).map(|(m, _)| m.topic().to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(topics("a/b"), ["a/b"]);
        assert_eq!(topics("a/+"), ["a/b", "a/c"]);
        assert_eq!(topics("#"), ["a/b", "a/c", "b/c"]);
        assert_eq!(topics("$SYS/#"), ["$SYS/x"]);
        assert!(topics("zz").is_empty());
    }
}
