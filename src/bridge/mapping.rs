//! A bridge's `topic` lines as the two directions use them: which local filters its
//! outbox subscribes to (each named by a Subscription Identifier), which remote filters
//! it subscribes to upstream, and how a topic is renamed on the way (Mosquitto's rule:
//! the prefix of one side is removed and the other side's added).
//!
//! This file must not know about sockets or the broker core.

use crate::codec::QoS;
use crate::config::{Direction, TopicMapping};
use crate::topic::filter_matches;

/// The `topic` lines of one bridge.
#[derive(Clone, Debug)]
pub struct Mappings {
    /// The lines, in file order.
    topics: Vec<TopicMapping>,
    /// For each local (out) subscription, in Subscription Identifier order (id `i + 1`),
    /// its line in `topics`.
    out: Vec<usize>,
}

impl Mappings {
    /// The mappings of `topics`.
    pub fn new(topics: &[TopicMapping]) -> Mappings {
        let out = (0..topics.len())
            .filter(|&i| topics[i].direction != Direction::In)
            .collect();
        Mappings {
            topics: topics.to_vec(),
            out,
        }
    }

    /// The local filters the outbox subscribes to, with their QoS; a message that
    /// matched the `i`-th carries Subscription Identifier `i + 1`.
    pub fn local_filters(&self) -> Vec<(String, QoS)> {
        self.out
            .iter()
            .map(|&i| (self.topics[i].local_filter(), self.topics[i].qos))
            .collect()
    }

    /// The remote filters subscribed to upstream (`in` and `both` lines), with their QoS
    /// and whether messages go both ways (No Local is asked for them).
    pub fn remote_filters(&self) -> Vec<(String, QoS, bool)> {
        self.topics
            .iter()
            .filter(|t| t.direction != Direction::Out)
            .map(|t| (t.remote_filter(), t.qos, t.direction == Direction::Both))
            .collect()
    }

    /// The remote filters of `out`-only lines, which are unsubscribed upstream
    /// (`bridge_attempt_unsubscribe`).
    pub fn out_only_filters(&self) -> Vec<String> {
        self.topics
            .iter()
            .filter(|t| t.direction == Direction::Out)
            .map(TopicMapping::remote_filter)
            .collect()
    }

    /// The remote topic of a local message on `topic` delivered through the local
    /// subscription with Subscription Identifier `subscription_id`: the local prefix
    /// replaced by the remote one. Without a usable identifier (0: a message restored
    /// from the store, which does not keep it), the first `out` line whose local filter
    /// matches. `None` if no line maps it.
    pub fn to_remote(&self, topic: &str, subscription_id: u32) -> Option<String> {
        let named = usize::try_from(subscription_id)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|i| self.out.get(i))
            .map(|&i| &self.topics[i])
            .filter(|t| filter_matches(&t.local_filter(), topic));
        let line = named.or_else(|| {
            self.out
                .iter()
                .map(|&i| &self.topics[i])
                .find(|t| filter_matches(&t.local_filter(), topic))
        })?;
        rename(
            topic,
            &line.local_prefix,
            &line.remote_prefix,
            &line.pattern,
        )
    }

    /// The local topic of a message that arrived from upstream on `topic`: through the
    /// first `in`/`both` line whose remote filter matches it, the remote prefix replaced
    /// by the local one. `None` if no line matches (an upstream sent what the bridge did
    /// not subscribe to).
    pub fn to_local(&self, topic: &str) -> Option<String> {
        self.topics
            .iter()
            .filter(|t| t.direction != Direction::Out)
            .filter(|t| filter_matches(&t.remote_filter(), topic))
            .find_map(|t| rename(topic, &t.remote_prefix, &t.local_prefix, &t.pattern))
    }
}

/// `topic` with prefix `from` replaced by `to`; a line whose pattern is empty maps one
/// topic (the prefix itself) to the other.
fn rename(topic: &str, from: &str, to: &str, pattern: &str) -> Option<String> {
    if pattern.is_empty() {
        return (topic == from).then(|| to.to_string());
    }
    let rest = topic.strip_prefix(from)?;
    Some(format!("{to}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pattern: &str, direction: Direction, local: &str, remote: &str) -> TopicMapping {
        TopicMapping {
            pattern: pattern.into(),
            direction,
            qos: QoS::AtLeastOnce,
            local_prefix: local.into(),
            remote_prefix: remote.into(),
            line: 1,
        }
    }

    #[test]
    fn prefixes_are_swapped_both_ways() {
        let m = Mappings::new(&[line("sensors/#", Direction::Both, "L/", "site1/")]);
        assert_eq!(
            m.local_filters(),
            [("L/sensors/#".to_string(), QoS::AtLeastOnce)]
        );
        assert_eq!(
            m.remote_filters(),
            [("site1/sensors/#".to_string(), QoS::AtLeastOnce, true)]
        );
        assert_eq!(
            m.to_remote("L/sensors/t1", 1).as_deref(),
            Some("site1/sensors/t1")
        );
        assert_eq!(
            m.to_local("site1/sensors/t1").as_deref(),
            Some("L/sensors/t1")
        );
        assert_eq!(m.to_local("other/sensors/t1"), None);
    }

    #[test]
    fn subscription_identifiers_name_out_lines_only() {
        let m = Mappings::new(&[
            line("cmd/#", Direction::In, "", "c/"),
            line("a/#", Direction::Out, "", "x/"),
            line("b/#", Direction::Out, "", "y/"),
        ]);
        assert_eq!(m.local_filters().len(), 2);
        assert_eq!(m.to_remote("a/1", 1).as_deref(), Some("x/a/1"));
        assert_eq!(m.to_remote("b/1", 2).as_deref(), Some("y/b/1"));
        assert_eq!(m.to_remote("c/1", 3), None, "no line maps it");
        assert_eq!(
            m.to_remote("b/1", 0).as_deref(),
            Some("y/b/1"),
            "restored from the store without its identifier: matched again"
        );
        assert_eq!(
            m.to_remote("b/1", 1).as_deref(),
            Some("y/b/1"),
            "a stale id"
        );
        assert_eq!(m.out_only_filters(), ["x/a/#", "y/b/#"]);
        assert_eq!(m.to_local("c/cmd/go").as_deref(), Some("cmd/go"));
    }

    #[test]
    fn an_empty_pattern_maps_one_topic() {
        let m = Mappings::new(&[line("", Direction::Both, "local/t", "remote/t")]);
        assert_eq!(m.to_remote("local/t", 1).as_deref(), Some("remote/t"));
        assert_eq!(m.to_local("remote/t").as_deref(), Some("local/t"));
        assert_eq!(m.to_local("remote/t/x"), None);
    }
}
