//! Topic filters and the subscription tree [MQTT-4.7].
//!
//! The tree stores filters level by level, so matching a topic walks at most the topic's
//! depth times the wildcard branches present: the cost grows with topic depth, not with
//! the number of subscriptions. The tree owns who is subscribed to what; the caps on how
//! many subscriptions there may be are enforced by the caller.

use super::session::SessionId;
use crate::codec::QoS;
use std::collections::HashMap;

/// Why a topic filter is refused (answered with SUBACK 0x80).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// `#` is not alone in the last level [MQTT-4.7.1-2].
    MisplacedMultiLevelWildcard,
    /// `+` does not occupy a whole level [MQTT-4.7.1-3].
    MisplacedSingleLevelWildcard,
    /// Longer than `max_topic_length`.
    TooLong,
    /// More levels than `max_topic_levels`.
    TooManyLevels,
}

/// Checks a topic filter's wildcard placement and size caps. Emptiness, UTF-8 and U+0000
/// were checked by the codec.
pub fn validate_filter(filter: &str, max_len: usize, max_levels: usize) -> Result<(), FilterError> {
    if filter.len() > max_len {
        return Err(FilterError::TooLong);
    }
    let mut levels = filter.split('/').peekable();
    let mut count = 0;
    while let Some(level) = levels.next() {
        count += 1;
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(FilterError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(FilterError::MisplacedSingleLevelWildcard);
        }
    }
    if count > max_levels {
        return Err(FilterError::TooManyLevels);
    }
    Ok(())
}

/// Checks a topic name's size caps (wildcards were refused by the codec).
pub fn validate_topic(topic: &str, max_len: usize, max_levels: usize) -> bool {
    topic.len() <= max_len && topic.bytes().filter(|&b| b == b'/').count() < max_levels
}

/// Whether a valid `filter` matches `topic`, with the `$` rule [MQTT-4.7.2-1]: a filter
/// starting with a wildcard does not match a topic starting with `$`.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One subscription as the tree stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscriber {
    /// The subscribing session.
    pub session: SessionId,
    /// The QoS granted for this filter.
    pub qos: QoS,
}

/// A node of the tree: one level of some filter.
#[derive(Default)]
struct Node {
    /// Children by literal level.
    children: HashMap<Box<str>, usize>,
    /// Child for a `+` level.
    plus: Option<usize>,
    /// Subscribers of the filter ending at this node with `/#` (or `#` at the root).
    hash_subs: Vec<Subscriber>,
    /// Subscribers of the filter ending exactly at this node.
    subs: Vec<Subscriber>,
    /// Parent node and the key this node hangs under, for pruning empty branches.
    parent: Option<(usize, Key)>,
}

/// How a node hangs under its parent.
#[derive(Clone, Debug)]
enum Key {
    Literal(Box<str>),
    Plus,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash_subs.is_empty()
            && self.subs.is_empty()
    }
}

/// The subscription tree: filters to subscribers.
pub struct TopicTree {
    /// Node arena; index 0 is the root.
    nodes: Vec<Node>,
    /// Indices of unused nodes, reused before the arena grows.
    free: Vec<usize>,
    /// Number of (filter, session) subscriptions stored.
    count: usize,
}

impl Default for TopicTree {
    fn default() -> Self {
        TopicTree {
            nodes: vec![Node::default()],
            free: Vec::new(),
            count: 0,
        }
    }
}

impl TopicTree {
    /// Number of subscriptions stored.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no subscription is stored.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Subscribes `session` to a valid `filter` at `qos`; replaces the QoS of an existing
    /// identical subscription [MQTT-3.8.4-3]. Returns true if the subscription is new.
    pub fn insert(&mut self, filter: &str, session: SessionId, qos: QoS) -> bool {
        let (node, hash) = self.walk_create(filter);
        let list = if hash {
            &mut self.nodes[node].hash_subs
        } else {
            &mut self.nodes[node].subs
        };
        if let Some(s) = list.iter_mut().find(|s| s.session == session) {
            s.qos = qos;
            return false;
        }
        list.push(Subscriber { session, qos });
        self.count += 1;
        true
    }

    /// Removes `session`'s subscription to `filter`. Returns true if there was one.
    pub fn remove(&mut self, filter: &str, session: SessionId) -> bool {
        let Some((node, hash)) = self.walk(filter) else {
            return false;
        };
        let list = if hash {
            &mut self.nodes[node].hash_subs
        } else {
            &mut self.nodes[node].subs
        };
        let Some(pos) = list.iter().position(|s| s.session == session) else {
            return false;
        };
        list.swap_remove(pos);
        self.count -= 1;
        self.prune(node);
        true
    }

    /// Appends every subscriber whose filter matches `topic` to `out` (a session may appear
    /// once per matching filter: the caller merges them).
    pub fn matches(&self, topic: &str, out: &mut Vec<Subscriber>) {
        self.collect(0, Some(topic), topic.starts_with('$'), out);
    }

    fn collect(
        &self,
        idx: usize,
        rest: Option<&str>,
        dollar_root: bool,
        out: &mut Vec<Subscriber>,
    ) {
        let node = &self.nodes[idx];
        // A leading wildcard never matches a `$` topic [MQTT-4.7.2-1].
        if !dollar_root {
            // `x/#` also matches `x` itself [MQTT-4.7.1-2].
            out.extend_from_slice(&node.hash_subs);
        }
        let Some(rest) = rest else {
            out.extend_from_slice(&node.subs);
            return;
        };
        let (level, next) = match rest.split_once('/') {
            Some((level, next)) => (level, Some(next)),
            None => (rest, None),
        };
        if let Some(&child) = node.children.get(level) {
            self.collect(child, next, false, out);
        }
        if !dollar_root {
            if let Some(plus) = node.plus {
                self.collect(plus, next, false, out);
            }
        }
    }

    /// Finds the node for `filter` without creating it; `true` if it ends with `#`.
    fn walk(&self, filter: &str) -> Option<(usize, bool)> {
        let mut idx = 0;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            idx = match level {
                // Only a final `#` is a wildcard level: `a/#/b` names no stored filter.
                "#" if levels.peek().is_none() => return Some((idx, true)),
                "#" => return None,
                "+" => self.nodes[idx].plus?,
                _ => *self.nodes[idx].children.get(level)?,
            };
        }
        Some((idx, false))
    }

    fn walk_create(&mut self, filter: &str) -> (usize, bool) {
        let mut idx = 0;
        for level in filter.split('/') {
            idx = match level {
                "#" => return (idx, true),
                "+" => match self.nodes[idx].plus {
                    Some(child) => child,
                    None => {
                        let child = self.alloc(idx, Key::Plus);
                        self.nodes[idx].plus = Some(child);
                        child
                    }
                },
                _ => match self.nodes[idx].children.get(level) {
                    Some(&child) => child,
                    None => {
                        let child = self.alloc(idx, Key::Literal(level.into()));
                        self.nodes[idx].children.insert(level.into(), child);
                        child
                    }
                },
            };
        }
        (idx, false)
    }

    fn alloc(&mut self, parent: usize, key: Key) -> usize {
        let node = Node {
            parent: Some((parent, key)),
            ..Node::default()
        };
        match self.free.pop() {
            Some(idx) => {
                self.nodes[idx] = node;
                idx
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Unlinks empty nodes from `idx` up towards the root.
    fn prune(&mut self, mut idx: usize) {
        while idx != 0 && self.nodes[idx].is_empty() {
            let Some((parent, key)) = self.nodes[idx].parent.take() else {
                return;
            };
            match key {
                Key::Plus => self.nodes[parent].plus = None,
                Key::Literal(level) => {
                    self.nodes[parent].children.remove(&level);
                }
            }
            self.nodes[idx] = Node::default();
            self.free.push(idx);
            idx = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q0: QoS = QoS::AtMostOnce;
    const Q1: QoS = QoS::AtLeastOnce;

    fn matched(tree: &TopicTree, topic: &str) -> Vec<(SessionId, QoS)> {
        let mut out = Vec::new();
        tree.matches(topic, &mut out);
        let mut v: Vec<_> = out.into_iter().map(|s| (s.session, s.qos)).collect();
        v.sort();
        v
    }

    #[test]
    fn filter_validation_mqtt_4_7_1_2_and_4_7_1_3() {
        for ok in [
            "#",
            "a/#",
            "+",
            "+/+",
            "a/+/b",
            "/",
            "a//b",
            "sport/tennis/+",
            "+/tennis/#",
            "$SYS/#",
        ] {
            assert_eq!(validate_filter(ok, 1024, 32), Ok(()), "{ok}");
        }
        for bad in ["a#", "a/#/b", "#/a", "a/b#"] {
            assert_eq!(
                validate_filter(bad, 1024, 32),
                Err(FilterError::MisplacedMultiLevelWildcard),
                "{bad}"
            );
        }
        for bad in ["a+", "a/+b", "+a/b"] {
            assert_eq!(
                validate_filter(bad, 1024, 32),
                Err(FilterError::MisplacedSingleLevelWildcard),
                "{bad}"
            );
        }
        assert_eq!(validate_filter("a/b/c", 4, 32), Err(FilterError::TooLong));
        assert_eq!(
            validate_filter("a/b/c", 1024, 2),
            Err(FilterError::TooManyLevels)
        );
    }

    #[test]
    fn filter_matches_spec_examples_4_7_1() {
        assert!(filter_matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1"
        ));
        assert!(filter_matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(filter_matches("sport/#", "sport"));
        assert!(filter_matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!filter_matches(
            "sport/tennis/+",
            "sport/tennis/player1/ranking"
        ));
        assert!(!filter_matches("sport/+", "sport"));
        assert!(filter_matches("sport/+", "sport/"));
        assert!(filter_matches("+/+", "/finance"));
        assert!(filter_matches("/+", "/finance"));
        assert!(!filter_matches("+", "/finance"));
        assert!(filter_matches("#", "a/b"));
        assert!(!filter_matches("a/b", "a/b/c"));
    }

    #[test]
    fn leading_wildcards_skip_dollar_topics_mqtt_4_7_2_1() {
        assert!(!filter_matches("#", "$SYS/broker/uptime"));
        assert!(!filter_matches("+/broker/uptime", "$SYS/broker/uptime"));
        assert!(filter_matches("$SYS/#", "$SYS/broker/uptime"));
        let mut tree = TopicTree::default();
        tree.insert("#", 1, Q0);
        tree.insert("+/monitor/Clients", 2, Q0);
        tree.insert("$SYS/monitor/+", 3, Q0);
        assert_eq!(matched(&tree, "$SYS/monitor/Clients"), vec![(3, Q0)]);
        assert_eq!(matched(&tree, "a/monitor/Clients"), vec![(1, Q0), (2, Q0)]);
    }

    #[test]
    fn tree_matches_like_filter_matches() {
        let filters = [
            "#", "a/#", "a/+", "a/+/c", "+/b/#", "a/b/c", "/+", "+/+", "a//c", "x",
        ];
        let topics = [
            "a", "a/b", "a/b/c", "a/x/c", "/finance", "a//c", "x", "x/y", "$SYS/a", "b/b",
        ];
        let mut tree = TopicTree::default();
        for (i, f) in filters.iter().enumerate() {
            tree.insert(f, i as SessionId, Q0);
        }
        for t in topics {
            let expect: Vec<_> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| filter_matches(f, t))
                .map(|(i, _)| (i as SessionId, Q0))
                .collect();
            assert_eq!(matched(&tree, t), expect, "topic {t}");
        }
    }

    #[test]
    fn resubscribe_replaces_qos_mqtt_3_8_4_3() {
        let mut tree = TopicTree::default();
        assert!(tree.insert("a/b", 7, Q0));
        assert!(!tree.insert("a/b", 7, Q1));
        assert_eq!(tree.len(), 1);
        assert_eq!(matched(&tree, "a/b"), vec![(7, Q1)]);
    }

    #[test]
    fn remove_prunes_empty_branches_and_reuses_nodes() {
        let mut tree = TopicTree::default();
        tree.insert("a/b/c/d", 1, Q0);
        tree.insert("a/+/#", 2, Q0);
        let grown = tree.nodes.len();
        assert!(tree.remove("a/b/c/d", 1));
        assert!(!tree.remove("a/b/c/d", 1));
        assert!(tree.remove("a/+/#", 2));
        assert!(tree.is_empty());
        assert!(tree.nodes[0].is_empty());
        tree.insert("x/y/z/w", 3, Q0);
        assert_eq!(tree.nodes.len(), grown, "freed nodes are reused");
        assert_eq!(matched(&tree, "x/y/z/w"), vec![(3, Q0)]);
    }
}
