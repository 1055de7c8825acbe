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
use std::rc::Rc;

/// Who published a retained message, kept with it under `check_retain_source`: the ACL
/// identity whose right to write its topic is checked again each time the message is
/// sent to a new subscriber (a reload may have taken the right away). `Rc`: the durable
/// record of the change shares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetainSource {
    /// The publisher's client id.
    pub client_id: Box<str>,
    /// The user name it logged in with.
    pub username: Option<Box<str>>,
}

/// A retained message: the body, its QoS and, under `check_retain_source`, who
/// published it (none for the broker's own `$SYS` messages and from an older store).
pub type Retained = (Message, QoS, Option<Rc<RetainSource>>);

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
    /// Topic to retained message, its QoS and its publisher.
    map: HashMap<Box<str>, Retained>,
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

    /// Stores `message` (published by `source`) as the topic's retained message,
    /// replacing any previous one.
    pub fn set(
        &mut self,
        (message, qos, source): Retained,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<(), RetainRefused> {
        let capped = !message.topic().starts_with('$');
        let old = self.map.get(message.topic()).map(|(m, ..)| m.budget_size());
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
            .insert(
                message.topic().into(),
                (message.clone(), qos, source.clone()),
            )
            .map(|(m, ..)| m);
        if capped {
            self.journal.record(|| Durable::RetainedSet {
                message,
                qos,
                source,
                replaced,
            });
        }
        Ok(())
    }

    /// Puts a retained message loaded from the store back, within the caps, without
    /// recording it (it is on disk already).
    pub fn restore(
        &mut self,
        retained: Retained,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<(), RetainRefused> {
        let enabled = self.journal.enabled();
        self.journal.set_enabled(false);
        let result = self.set(retained, max_count, max_bytes);
        self.journal.set_enabled(enabled);
        result
    }

    /// The retained messages a store keeps (every topic but `$SYS` ones).
    pub fn durable(&self) -> impl Iterator<Item = &Retained> {
        self.map
            .iter()
            .filter(|(topic, _)| !topic.starts_with('$'))
            .map(|(_, retained)| retained)
    }

    /// The topics of the large retained messages (not `$SYS` ones), largest first.
    pub fn large_topics(&self) -> Vec<Box<str>> {
        let mut large: Vec<(&Box<str>, usize)> = self
            .map
            .iter()
            .filter(|(topic, (m, ..))| !topic.starts_with('$') && super::large::is_large(m.size()))
            .map(|(topic, (m, ..))| (topic, m.size()))
            .collect();
        large.sort_unstable_by_key(|&(_, size)| std::cmp::Reverse(size));
        large.into_iter().map(|(topic, _)| topic.clone()).collect()
    }

    /// Removes the topic's retained message; true if there was one.
    pub fn clear(&mut self, topic: &str) -> bool {
        match self.map.remove(topic) {
            Some((m, ..)) => {
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
    pub fn matching<'a>(&'a self, filter: &'a str) -> impl Iterator<Item = &'a Retained> + 'a {
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
        r.set((Message::new("a", b"1"), QoS::AtMostOnce, None), 1, 100)
            .unwrap();
        assert_eq!(
            r.set((Message::new("b", b"1"), QoS::AtMostOnce, None), 1, 100),
            Err(RetainRefused::TooManyMessages)
        );
        r.set((Message::new("a", b"22"), QoS::AtLeastOnce, None), 1, 100)
            .unwrap();
        assert_eq!(r.bytes(), 5);
        assert_eq!(
            r.set(
                (Message::new("a", &[0; 100]), QoS::AtMostOnce, None),
                1,
                100
            ),
            Err(RetainRefused::TooManyBytes)
        );
        r.set(
            (Message::new("$SYS/x", b"1"), QoS::AtMostOnce, None),
            1,
            100,
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.clear("a"));
        assert_eq!((r.bytes(), r.count), (0, 0));
    }

    #[test]
    fn matching_literal_and_wildcard_filters() {
        let mut r = RetainedStore::default();
        for t in ["a/b", "a/c", "b/c", "$SYS/x"] {
            r.set((Message::new(t, b"p"), QoS::AtMostOnce, None), 10, 100)
                .unwrap();
        }
        let topics = |f: &str| {
            let mut v: Vec<String> = r.matching(f).map(|(m, ..)| m.topic().to_string()).collect();
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
