//! The subscription tree: who is subscribed to which topic filter [MQTT-4.7].
//!
//! Filter syntax and the reference matcher are the leaf module [`crate::topic`].
//!
//! The tree stores filters level by level, so matching a topic walks at most the topic's
//! depth times the wildcard branches present: the cost grows with topic depth, not with
//! the number of subscriptions. The tree owns who is subscribed to what; the caps on how
//! many subscriptions there may be are enforced by the caller.

use super::compact_str::CompactStr;
use super::id::SessionId;
use super::index::ArenaIndex;
use super::route_cache::{self, RouteCache};
use crate::codec::QoS;
#[cfg(test)]
use crate::topic::{filter_matches, tests::VALID_FILTERS};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// One subscription as the tree stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscriber {
    /// The subscribing session.
    pub session: SessionId,
    /// The QoS granted for this filter.
    pub qos: QoS,
    /// Deliveries through this subscription need an ACL check: an ACL is in force and did
    /// not grant reading every topic of the filter. Set by the broker
    /// ([`TopicTree::set_acl_checked`]); new subscriptions start unchecked.
    pub acl_checked: bool,
    /// MQTT 5.0 No Local: the session's own publications are not sent back to it.
    pub no_local: bool,
    /// MQTT 5.0 Retain As Published: forwarded messages keep their RETAIN flag.
    pub retain_as_published: bool,
    /// MQTT 5.0 Subscription Identifier, 0 for none ([`TopicTree::set_options`]).
    pub subscription_id: u32,
}

/// A stored filter: its node, and whether it ends with `#` there. Valid while the filter
/// has a subscriber (a node is freed only when nothing hangs on it), so a session can keep
/// its filters as these 4 bytes instead of strings; the string is the path of levels from
/// the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterRef(u32);

impl FilterRef {
    /// Bit marking a filter that ends with `#` at its node.
    const HASH: u32 = 1 << 31;

    fn new(node: u32, hash: bool) -> FilterRef {
        FilterRef(node | if hash { Self::HASH } else { 0 })
    }

    fn node(self) -> usize {
        (self.0 & !Self::HASH) as usize
    }

    fn hash(self) -> bool {
        self.0 & Self::HASH != 0
    }
}

/// Upper bound of the bytes one tree node costs (the node and its share of the children
/// index), for the memory ceiling. A filter creates at most one node per level; a level
/// longer than [`compact_str::INLINE_CAPACITY`](super::compact_str::INLINE_CAPACITY)
/// bytes also allocates its string.
pub const NODE_BYTES: usize = std::mem::size_of::<Node>() + super::index::BYTES_PER_ENTRY;

/// Upper bound of the bytes a subscription costs beyond its nodes, for the memory
/// ceiling: its entry in the node's subscriber list and in the session's filter list, each
/// allowed twice for vector growth, plus one allocation's overhead for each list.
pub const SUBSCRIPTION_BYTES: usize = 2 * std::mem::size_of::<Subscriber>()
    + 2 * std::mem::size_of::<FilterRef>()
    + 2 * super::compact_str::ALLOCATION_OVERHEAD;

/// Marks "no node" in a `u32` node link.
const NONE: u32 = u32::MAX;
/// Most nodes: node numbers leave the top bit to [`FilterRef`] and `u32::MAX` to [`NONE`].
const MAX_NODES: usize = (FilterRef::HASH - 1) as usize;

/// A node of the tree: one level of some filter.
#[derive(Debug)]
struct Node {
    /// The literal level this node stands for (empty for the root and `+` nodes).
    level: CompactStr,
    /// Parent node, [`NONE`] for the root and for free nodes.
    parent: u32,
    /// Child for a `+` level, or [`NONE`].
    plus: u32,
    /// Number of literal children (they are found through the tree's index).
    literal_children: u32,
    /// `subs[..hash_len]` subscribed to the filter ending here with `/#` (or `#` at the
    /// root); `subs[hash_len..]` to the filter ending exactly here.
    hash_len: u32,
    /// The subscribers, `#` ones first.
    subs: Vec<Subscriber>,
}

impl Node {
    fn new(parent: u32, level: &str) -> Node {
        Node {
            level: level.into(),
            parent,
            plus: NONE,
            literal_children: 0,
            hash_len: 0,
            subs: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.literal_children == 0 && self.plus == NONE && self.subs.is_empty()
    }

    fn hash_subs(&self) -> &[Subscriber] {
        &self.subs[..self.hash_len as usize]
    }

    fn exact_subs(&self) -> &[Subscriber] {
        &self.subs[self.hash_len as usize..]
    }

    /// The range of `subs` holding the `#` (`hash`) or exact subscribers.
    fn range(&self, hash: bool) -> std::ops::Range<usize> {
        if hash {
            0..self.hash_len as usize
        } else {
            self.hash_len as usize..self.subs.len()
        }
    }

    /// Adds a subscriber to the `#` or exact list; the first one allocates room for one
    /// only (most filters have a single subscriber).
    fn add(&mut self, sub: Subscriber, hash: bool) {
        if self.subs.capacity() == 0 {
            self.subs.reserve_exact(1);
        }
        self.subs.push(sub);
        if hash {
            let last = self.subs.len() - 1;
            self.subs.swap(self.hash_len as usize, last);
            self.hash_len += 1;
        }
    }

    /// Removes the subscriber at `i` (order within each list is not kept).
    fn take(&mut self, i: usize) {
        if i < self.hash_len as usize {
            self.hash_len -= 1;
            self.subs.swap(i, self.hash_len as usize);
            self.subs.swap_remove(self.hash_len as usize);
        } else {
            self.subs.swap_remove(i);
        }
        if self.subs.is_empty() {
            self.subs = Vec::new();
        }
    }
}

/// The subscription tree: filters to subscribers.
///
/// Nodes live in one arena; literal children are found through one tree-wide index keyed
/// by (parent, level), so a node costs no hash table of its own and its level string is
/// stored once, in the node.
pub struct TopicTree {
    /// Node arena; index 0 is the root.
    nodes: Vec<Node>,
    /// Indices of unused nodes, reused before the arena grows.
    free: Vec<u32>,
    /// Literal children by (parent, level).
    children: ArenaIndex,
    /// Keys the hash of (parent, level) for `children` (SipHash, keyed by the OS's
    /// random source: a client cannot choose filters that collide). About 140
    /// instructions per level, paid on the walk only: a repeated topic is answered by
    /// the route cache.
    hasher: RandomState,
    /// Number of (filter, session) subscriptions stored.
    count: usize,
    /// Bumped by every change (each `&mut self` method but `matches`), so the route
    /// cache never answers from an older tree. Starts at 1 (0 marks an empty slot).
    generation: u64,
    /// Recent matches by topic name.
    cache: RouteCache,
}

impl Default for TopicTree {
    fn default() -> Self {
        TopicTree {
            nodes: vec![Node::new(NONE, "")],
            free: Vec::new(),
            children: ArenaIndex::default(),
            hasher: RandomState::new(),
            count: 0,
            generation: 1,
            cache: RouteCache::default(),
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
    /// The broker uses the [`FilterRef`] forms ([`TopicTree::subscribe`]).
    pub fn insert(&mut self, filter: &str, session: SessionId, qos: QoS) -> bool {
        self.subscribe(filter, session, qos).0
    }

    /// As [`TopicTree::insert`], also returning the stored filter.
    pub fn subscribe(&mut self, filter: &str, session: SessionId, qos: QoS) -> (bool, FilterRef) {
        self.generation += 1;
        let at = self.walk_create(filter);
        let node = &mut self.nodes[at.node()];
        let range = node.range(at.hash());
        if let Some(s) = node.subs[range].iter_mut().find(|s| s.session == session) {
            s.qos = qos;
            return (false, at);
        }
        let sub = Subscriber {
            session,
            qos,
            acl_checked: false,
            no_local: false,
            retain_as_published: false,
            subscription_id: 0,
        };
        node.add(sub, at.hash());
        self.count += 1;
        (true, at)
    }

    /// Removes `session`'s subscription to `filter`. Returns true if there was one.
    pub fn remove(&mut self, filter: &str, session: SessionId) -> bool {
        self.find(filter)
            .is_some_and(|at| self.remove_at(at, session))
    }

    /// Removes `session`'s subscription to the stored filter `at`. Returns true if there
    /// was one.
    pub fn remove_at(&mut self, at: FilterRef, session: SessionId) -> bool {
        self.generation += 1;
        let Some(node) = self.nodes.get_mut(at.node()) else {
            return false;
        };
        let range = node.range(at.hash());
        let start = range.start;
        let Some(pos) = node.subs[range].iter().position(|s| s.session == session) else {
            return false;
        };
        node.take(start + pos);
        self.count -= 1;
        self.prune(at.node());
        true
    }

    /// Marks whether deliveries through `session`'s subscription to the stored filter `at`
    /// need an ACL check.
    pub fn set_acl_checked(&mut self, at: FilterRef, session: SessionId, checked: bool) {
        self.generation += 1;
        if let Some(node) = self.nodes.get_mut(at.node()) {
            let range = node.range(at.hash());
            if let Some(s) = node.subs[range].iter_mut().find(|s| s.session == session) {
                s.acl_checked = checked;
            }
        }
    }

    /// Sets the MQTT 5.0 options of `session`'s subscription to the stored filter `at`
    /// (a repeated SUBSCRIBE replaces them [MQTT-3.8.4-3]).
    pub fn set_options(
        &mut self,
        at: FilterRef,
        session: SessionId,
        no_local: bool,
        retain_as_published: bool,
        subscription_id: u32,
    ) {
        self.generation += 1;
        if let Some(node) = self.nodes.get_mut(at.node()) {
            let range = node.range(at.hash());
            if let Some(s) = node.subs[range].iter_mut().find(|s| s.session == session) {
                s.no_local = no_local;
                s.retain_as_published = retain_as_published;
                s.subscription_id = subscription_id;
            }
        }
    }

    /// The QoS granted to `session` for the stored filter `at`, if it subscribes to it.
    pub fn granted(&self, at: FilterRef, session: SessionId) -> Option<QoS> {
        self.subscriber(at, session).map(|s| s.qos)
    }

    /// `session`'s subscription to the stored filter `at`, if it has one.
    pub fn subscriber(&self, at: FilterRef, session: SessionId) -> Option<Subscriber> {
        let node = self.nodes.get(at.node())?;
        node.subs[node.range(at.hash())]
            .iter()
            .find(|s| s.session == session)
            .copied()
    }

    /// The filter string of the stored filter `at` (valid while it has a subscriber),
    /// rebuilt from its levels.
    pub fn filter_of(&self, at: FilterRef) -> String {
        let mut levels = Vec::new();
        let mut idx = at.node();
        while idx != 0 {
            let node = &self.nodes[idx];
            let parent = node.parent as usize;
            levels.push(if self.nodes[parent].plus == idx as u32 {
                "+"
            } else {
                node.level.as_str()
            });
            idx = parent;
        }
        if at.hash() {
            levels.insert(0, "#");
        }
        levels.reverse();
        levels.join("/")
    }

    /// The stored filter equal to `filter`, if any session subscribes to it.
    pub fn find(&self, filter: &str) -> Option<FilterRef> {
        let mut idx = 0;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            idx = match level {
                // Only a final `#` is a wildcard level: `a/#/b` names no stored filter.
                "#" if levels.peek().is_none() => {
                    return Some(FilterRef::new(idx as u32, true))
                        .filter(|_| self.nodes[idx].hash_len > 0);
                }
                "#" => return None,
                "+" => Some(self.nodes[idx].plus).filter(|&p| p != NONE)? as usize,
                _ => self.child(idx, level)?,
            };
        }
        Some(FilterRef::new(idx as u32, false)).filter(|_| !self.nodes[idx].exact_subs().is_empty())
    }

    /// Appends every subscriber whose filter matches `topic` to `out` (a session may appear
    /// once per matching filter: the caller merges them). Answered from the route cache
    /// when this topic was matched since the tree last changed.
    pub fn matches(&mut self, topic: &str, out: &mut Vec<Subscriber>) {
        let slot = route_cache::slot(topic);
        if let Some(found) = self.cache.get(slot, topic, self.generation) {
            out.extend_from_slice(found);
            return;
        }
        let start = out.len();
        self.collect(0, Some(topic), topic.starts_with('$'), out);
        self.cache.put(slot, topic, self.generation, &out[start..]);
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
            out.extend_from_slice(node.hash_subs());
        }
        let Some(rest) = rest else {
            out.extend_from_slice(node.exact_subs());
            return;
        };
        let (level, next) = first_level(rest);
        if node.literal_children > 0 {
            if let Some(child) = self.child(idx, level) {
                self.collect(child, next, false, out);
            }
        }
        if !dollar_root && node.plus != NONE {
            self.collect(node.plus as usize, next, false, out);
        }
    }

    /// The hash of a literal child's key: the keyed hash of the parent's number and the
    /// level (on the matching path once per level).
    #[inline]
    fn key_hash(&self, parent: usize, level: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_u32(parent as u32);
        h.write(level.as_bytes());
        h.finish()
    }

    /// The literal child `level` of node `parent`.
    fn child(&self, parent: usize, level: &str) -> Option<usize> {
        let nodes = &self.nodes;
        self.children
            .find(self.key_hash(parent, level), |c| {
                let n = &nodes[c as usize];
                n.parent as usize == parent && n.level.as_bytes() == level.as_bytes()
            })
            .map(|c| c as usize)
    }

    fn walk_create(&mut self, filter: &str) -> FilterRef {
        let mut idx = 0;
        for level in filter.split('/') {
            idx = match level {
                "#" => return FilterRef::new(idx as u32, true),
                "+" => match self.nodes[idx].plus {
                    NONE => {
                        let child = self.alloc(idx, "");
                        self.nodes[idx].plus = child as u32;
                        child
                    }
                    child => child as usize,
                },
                _ => match self.child(idx, level) {
                    Some(child) => child,
                    None => {
                        let child = self.alloc(idx, level);
                        let hash = self.key_hash(idx, level);
                        self.children.insert(hash, child as u32);
                        self.nodes[idx].literal_children += 1;
                        child
                    }
                },
            };
        }
        FilterRef::new(idx as u32, false)
    }

    fn alloc(&mut self, parent: usize, level: &str) -> usize {
        let node = Node::new(parent as u32, level);
        match self.free.pop() {
            Some(idx) => {
                self.nodes[idx as usize] = node;
                idx as usize
            }
            None => {
                assert!(
                    self.nodes.len() < MAX_NODES,
                    "topic tree nodes are bounded by max_subscriptions x max_topic_levels"
                );
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Unlinks empty nodes from `idx` up towards the root.
    fn prune(&mut self, mut idx: usize) {
        while idx != 0 && self.nodes[idx].is_empty() {
            let parent = self.nodes[idx].parent as usize;
            if self.nodes[parent].plus == idx as u32 {
                self.nodes[parent].plus = NONE;
            } else {
                let hash = self.key_hash(parent, self.nodes[idx].level.as_str());
                self.children.remove(hash, |c| c as usize == idx);
                self.nodes[parent].literal_children -= 1;
            }
            self.nodes[idx] = Node::new(NONE, "");
            self.free.push(idx as u32);
            idx = parent;
        }
    }
}

/// The first level of a topic name and the rest after its `/`, if any. A byte loop, not
/// `str::split_once`: levels are a few bytes long, and the general searcher's set-up costs
/// more than the search (it ran once per level of every routed message).
#[inline]
fn first_level(topic: &str) -> (&str, Option<&str>) {
    match topic.bytes().position(|b| b == b'/') {
        // `/` is ASCII, so both sides of it are on character boundaries.
        Some(at) => (&topic[..at], Some(&topic[at + 1..])),
        None => (topic, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q0: QoS = QoS::AtMostOnce;
    const Q1: QoS = QoS::AtLeastOnce;

    fn matched(tree: &mut TopicTree, topic: &str) -> Vec<(SessionId, QoS)> {
        let mut out = Vec::new();
        tree.matches(topic, &mut out);
        let mut v: Vec<_> = out.into_iter().map(|s| (s.session, s.qos)).collect();
        v.sort();
        v
    }

    /// The route cache never answers from an older tree: each kind of change shows in the
    /// next match of a topic matched (and so cached) before it.
    #[test]
    fn matches_follow_every_change_of_the_tree_however_often_a_topic_is_routed() {
        let mut tree = TopicTree::default();
        assert_eq!(
            matched(&mut tree, "a/b"),
            vec![],
            "an empty match is kept too"
        );
        tree.insert("a/+", 1, Q0);
        assert_eq!(matched(&mut tree, "a/b"), vec![(1, Q0)]);
        assert_eq!(matched(&mut tree, "a/b"), vec![(1, Q0)], "from the cache");
        tree.insert("a/b", 2, Q1);
        assert_eq!(matched(&mut tree, "a/b"), vec![(1, Q0), (2, Q1)]);
        tree.insert("a/+", 1, Q1);
        assert_eq!(
            matched(&mut tree, "a/b"),
            vec![(1, Q1), (2, Q1)],
            "QoS replaced"
        );
        assert!(tree.remove("a/+", 1));
        assert_eq!(matched(&mut tree, "a/b"), vec![(2, Q1)]);
        let at = tree.find("a/b").expect("stored");
        let options = |tree: &mut TopicTree| {
            let mut out = Vec::new();
            tree.matches("a/b", &mut out);
            out.iter()
                .map(|s| (s.acl_checked, s.subscription_id))
                .collect::<Vec<_>>()
        };
        assert_eq!(options(&mut tree), [(false, 0)]);
        tree.set_options(at, 2, false, false, 9);
        assert_eq!(options(&mut tree), [(false, 9)]);
        tree.set_acl_checked(at, 2, true);
        assert_eq!(options(&mut tree), [(true, 9)]);
        assert!(tree.remove("a/b", 2));
        assert_eq!(matched(&mut tree, "a/b"), vec![]);
    }

    #[test]
    fn stored_filters_rebuild_their_strings_and_keep_acl_marks() {
        let mut tree = TopicTree::default();
        for (i, f) in VALID_FILTERS.iter().enumerate() {
            let (_, at) = tree.subscribe(f, i as SessionId, Q0);
            assert_eq!(tree.filter_of(at), *f);
        }
        let (_, at) = tree.subscribe("a/+/b", 1, Q1);
        tree.set_acl_checked(at, 1, true);
        let mut out = Vec::new();
        tree.matches("a/x/b", &mut out);
        let marks: Vec<(SessionId, bool)> =
            out.iter().map(|s| (s.session, s.acl_checked)).collect();
        assert!(
            marks.contains(&(1, true)) && marks.contains(&(0, false)),
            "{marks:?}"
        );
    }

    #[test]
    fn leading_wildcards_skip_dollar_topics_mqtt_4_7_2_1() {
        let mut tree = TopicTree::default();
        tree.insert("#", 1, Q0);
        tree.insert("+/monitor/Clients", 2, Q0);
        tree.insert("$SYS/monitor/+", 3, Q0);
        assert_eq!(matched(&mut tree, "$SYS/monitor/Clients"), vec![(3, Q0)]);
        assert_eq!(
            matched(&mut tree, "a/monitor/Clients"),
            vec![(1, Q0), (2, Q0)]
        );
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
            assert_eq!(matched(&mut tree, t), expect, "topic {t}");
        }
    }

    #[test]
    fn matches_stay_right_through_removals_and_node_reuse() {
        let filters = [
            "#", "a/#", "a/+", "a/+/c", "+/b/#", "a/b/c", "/+", "+/+", "a//c", "x", "a/b", "+",
        ];
        let topics = [
            "a", "a/b", "a/b/c", "a/x/c", "/finance", "a//c", "x", "b/b", "$SYS/a",
        ];
        let mut tree = TopicTree::default();
        let mut live = vec![false; filters.len()];
        let mut x = 7u32;
        for _ in 0..400 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let i = (x >> 16) as usize % filters.len();
            let session = i as SessionId;
            if live[i] {
                assert!(tree.remove(filters[i], session));
            } else {
                assert!(tree.insert(filters[i], session, Q0));
            }
            live[i] = !live[i];
            assert_eq!(tree.len(), live.iter().filter(|&&l| l).count());
            for t in topics {
                let expect: Vec<_> = (0..filters.len())
                    .filter(|&f| live[f] && filter_matches(filters[f], t))
                    .map(|f| (f as SessionId, Q0))
                    .collect();
                assert_eq!(matched(&mut tree, t), expect, "topic {t}");
            }
        }
    }

    #[test]
    fn filter_refs_find_and_remove_the_stored_filter() {
        let mut tree = TopicTree::default();
        let (new, a) = tree.subscribe("a/+/#", 1, Q0);
        assert!(new);
        assert_eq!(tree.subscribe("a/+/#", 2, Q1), (true, a));
        assert_eq!(tree.find("a/+/#"), Some(a));
        assert_eq!(
            tree.find("a/+"),
            None,
            "an inner node is not a stored filter"
        );
        assert_eq!(tree.find("a/#"), None);
        assert!(tree.remove_at(a, 1));
        assert!(!tree.remove_at(a, 1));
        assert_eq!(matched(&mut tree, "a/b/c"), vec![(2, Q1)]);
        assert!(tree.remove_at(a, 2));
        assert!(tree.is_empty() && tree.nodes[0].is_empty());
    }

    #[test]
    fn a_node_is_at_most_64_bytes() {
        // Per distinct filter level: the node, 8-16 bytes of index, and a subscriber list.
        assert!(
            std::mem::size_of::<Node>() <= 64,
            "{}",
            std::mem::size_of::<Node>()
        );
        // Session, Subscription Identifier (MQTT 5.0), QoS and three flags.
        assert_eq!(std::mem::size_of::<Subscriber>(), 12);
    }

    #[test]
    fn resubscribe_replaces_qos_mqtt_3_8_4_3() {
        let mut tree = TopicTree::default();
        assert!(tree.insert("a/b", 7, Q0));
        assert!(!tree.insert("a/b", 7, Q1));
        assert_eq!(tree.len(), 1);
        assert_eq!(matched(&mut tree, "a/b"), vec![(7, Q1)]);
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
        assert_eq!(matched(&mut tree, "x/y/z/w"), vec![(3, Q0)]);
    }
}
