//! The topic tree's memory of recent matches: topic name → the subscribers its walk
//! found, for the topics messages keep being published on.
//!
//! A gateway's publishers send to the same few topics over and over (a sensor, its
//! topic), and walking the tree costs about 500 instructions for a three-level topic
//! (a hash and a probe per level, the wildcard branches), a seventh of everything Sol
//! does for a message arriving on its own. A hit costs one hash of the topic, one
//! comparison and the copy of the subscribers.
//!
//! The cache is valid for one state of the tree only: every entry carries the tree's
//! generation, which [`super::topic_tree::TopicTree`] bumps on every change, so an entry
//! from before a SUBSCRIBE or UNSUBSCRIBE is never used. It is small and fixed:
//! [`ENTRIES`] slots in pairs (two-way: a topic's pair holds its home slot and that
//! slot's neighbour, the more recently kept first), allocated on first use, and a slot
//! keeps its buffers when it is replaced, so a steady state allocates nothing.
//! Direct-mapped, two topics sharing a slot evicted each other on every message (for
//! sol-load's four fan-in topics, in 44 % of runs with the hash's low bits as the slot,
//! 18 % with its top bits); two-way, a miss takes three topics in one pair (1 %).
//! Matches with more than [`MAX_SUBSCRIBERS`] subscribers (a large fan-out, where the
//! walk is a small part of the work) and long topics are not kept, which bounds it at
//! about 12 KB. Sixteen covers a household's fan-out (dashboards, loggers, automations
//! on one sensor's topic): at ten subscribers the walk was 90 instructions of each
//! delivery's 1,600 (`benches/instructions.py`, fan-out QoS 0), a hit about nothing.

use super::topic_tree::Subscriber;
use crate::codec::swar;

/// Slots. A power of two (the index is the hash's top bits).
pub const ENTRIES: usize = 32;
/// Most subscribers a kept match has.
pub const MAX_SUBSCRIBERS: usize = 16;
/// Longest topic kept, in bytes.
pub const MAX_TOPIC: usize = 128;

/// One remembered match.
#[derive(Debug, Default)]
struct Entry {
    /// The tree's generation when it was made; 0: empty (generations start at 1).
    generation: u64,
    /// The topic name.
    topic: String,
    /// What the walk appended for it.
    subscribers: Vec<Subscriber>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct RouteCache {
    /// The slots; empty until the first match is kept.
    entries: Vec<Entry>,
}

impl RouteCache {
    /// The subscribers remembered for `topic` (in the pair of slot `at`, [`slot`]) in
    /// tree generation `generation`, if any.
    #[inline]
    pub fn get(&self, at: Slot, topic: &str, generation: u64) -> Option<&[Subscriber]> {
        let hit = |i: usize| {
            let e = self.entries.get(i)?;
            (e.generation == generation && e.topic == topic).then_some(&e.subscribers[..])
        };
        hit(at.first()).or_else(|| hit(at.second()))
    }

    /// Remembers what the walk found for `topic` in tree generation `generation`, if it
    /// is small enough to keep, first in its pair; what was first moves second, replacing
    /// what was second (the older of the two).
    pub fn put(&mut self, at: Slot, topic: &str, generation: u64, subscribers: &[Subscriber]) {
        if subscribers.len() > MAX_SUBSCRIBERS || topic.len() > MAX_TOPIC {
            return;
        }
        if self.entries.is_empty() {
            self.entries.resize_with(ENTRIES, Entry::default);
        }
        self.entries.swap(at.first(), at.second());
        let e = &mut self.entries[at.first()];
        e.generation = generation;
        e.topic.clear();
        e.topic.push_str(topic);
        e.subscribers.clear();
        e.subscribers.extend_from_slice(subscribers);
    }
}

/// The home slot of a topic: a multiply-xor of its words, a few instructions per eight
/// bytes, and the top bits of one more multiply (the low bits of a product depend only
/// on the low bits of what was multiplied, so they miss differences in a word's upper
/// bytes: the last character of `bench/1693x599334/0`).
/// Not keyed, on purpose: a collision costs only a miss (the walk the tree did before
/// the cache), so a client that aims its topics at one slot gains nothing, and the
/// tree's own index, which a collision would slow down, keeps its keyed hash. (foldhash
/// was measured for both: 7.4 KB on mipsel, whose 32-bit multiplies its 128-bit
/// products need.)
#[inline]
pub fn slot(topic: &str) -> Slot {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = topic.len() as u64;
    for w in swar::words(topic.as_bytes(), 0) {
        h = (h ^ w).wrapping_mul(K);
        h ^= h >> 32;
    }
    Slot((h.wrapping_mul(K) >> (64 - ENTRIES.trailing_zeros())) as usize)
}

/// A topic's slot, computed once for the lookup and, on a miss, the fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
    /// The pair's first slot: the most recently kept topic of the pair.
    fn first(self) -> usize {
        self.0 & !1
    }

    /// The pair's second slot.
    fn second(self) -> usize {
        self.0 | 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::QoS;

    fn sub(session: u32) -> Subscriber {
        Subscriber {
            session,
            qos: QoS::AtLeastOnce,
            acl_checked: false,
            no_local: false,
            retain_as_published: false,
            subscription_id: 0,
        }
    }

    #[test]
    fn a_match_is_found_for_its_topic_and_generation_only() {
        let mut cache = RouteCache::default();
        assert_eq!(
            cache.get(slot("a/b"), "a/b", 1),
            None,
            "empty, nothing allocated"
        );
        cache.put(slot("a/b"), "a/b", 1, &[sub(3)]);
        assert_eq!(cache.get(slot("a/b"), "a/b", 1), Some(&[sub(3)][..]));
        assert_eq!(
            cache.get(slot("a/b"), "a/b", 2),
            None,
            "the tree changed since"
        );
        let mut sharing = (0..)
            .map(|i| format!("t/{i}"))
            .filter(|t| slot(t) == slot("a/b"));
        let (other, third) = (sharing.next().unwrap(), sharing.next().unwrap());
        assert_eq!(
            cache.get(slot(&other), &other, 1),
            None,
            "another topic with the same home slot"
        );
        cache.put(slot(&other), &other, 1, &[]);
        assert_eq!(
            cache.get(slot(&other), &other, 1),
            Some(&[][..]),
            "no subscriber"
        );
        assert_eq!(
            cache.get(slot("a/b"), "a/b", 1),
            Some(&[sub(3)][..]),
            "two-way: both kept"
        );
        cache.put(slot(&third), &third, 1, &[sub(4)]);
        assert_eq!(cache.get(slot(&third), &third, 1), Some(&[sub(4)][..]));
        assert_eq!(cache.get(slot(&other), &other, 1), Some(&[][..]));
        assert_eq!(
            cache.get(slot("a/b"), "a/b", 1),
            None,
            "a third replaces the oldest"
        );
    }

    #[test]
    fn topics_whose_home_slots_are_neighbours_are_both_kept() {
        let mut cache = RouteCache::default();
        let neighbour = (0..)
            .map(|i| format!("n/{i}"))
            .find(|t| slot(t).0 == slot("a/b").0 ^ 1)
            .expect("some topic's home is the neighbour");
        cache.put(slot("a/b"), "a/b", 1, &[sub(3)]);
        cache.put(slot(&neighbour), &neighbour, 1, &[sub(4)]);
        assert_eq!(cache.get(slot("a/b"), "a/b", 1), Some(&[sub(3)][..]));
        assert_eq!(
            cache.get(slot(&neighbour), &neighbour, 1),
            Some(&[sub(4)][..])
        );
    }

    #[test]
    fn topics_that_differ_in_their_last_character_are_all_kept() {
        // sol-load's fan-in topics, ROOT/0 .. ROOT/3, published in turn: how many roots
        // leave one of them missing on every round. Direct-mapped on the hash's low bits
        // it was 889 of 2,000 (two shared a slot and evicted each other); on its top
        // bits 357, chance for 4 topics in 32 slots; two-way, 25.
        let missing = (1000..3000u32)
            .filter(|pid| {
                let topics: Vec<String> = (0..4)
                    .map(|i| format!("bench/{pid}x{}/{i}", 599_334 + pid))
                    .collect();
                let mut cache = RouteCache::default();
                let mut misses = 0;
                for round in 0..2 {
                    for t in &topics {
                        if cache.get(slot(t), t, 1).is_none() {
                            misses += round;
                            cache.put(slot(t), t, 1, &[sub(1)]);
                        }
                    }
                }
                misses > 0
            })
            .count();
        assert!(
            missing < 60,
            "{missing} of 2,000 roots keep missing a topic"
        );
    }

    #[test]
    fn topics_spread_over_the_slots() {
        let mut used = [0usize; ENTRIES];
        for i in 0..ENTRIES * 8 {
            used[slot(&format!("site/sensor{i}/temp")).0] += 1;
        }
        assert!(used.iter().all(|&n| n > 0), "every slot used: {used:?}");
    }

    #[test]
    fn large_matches_and_long_topics_are_not_kept() {
        let mut cache = RouteCache::default();
        // At the limits: kept.
        let most: Vec<Subscriber> = (0..MAX_SUBSCRIBERS as u32).map(sub).collect();
        cache.put(slot("fan/out"), "fan/out", 1, &most);
        assert_eq!(cache.get(slot("fan/out"), "fan/out", 1), Some(&most[..]));
        let longest = "t".repeat(MAX_TOPIC);
        cache.put(slot(&longest), &longest, 1, &[sub(1)]);
        assert_eq!(cache.get(slot(&longest), &longest, 1), Some(&[sub(1)][..]));
        // One past them: not kept (the fan-out's earlier entry is of generation 1; a
        // put of generation 2 that is refused leaves no entry of generation 2).
        let many: Vec<Subscriber> = (0..=MAX_SUBSCRIBERS as u32).map(sub).collect();
        cache.put(slot("fan/out"), "fan/out", 2, &many);
        assert_eq!(cache.get(slot("fan/out"), "fan/out", 2), None);
        let long = "t".repeat(MAX_TOPIC + 1);
        cache.put(slot(&long), &long, 1, &[sub(1)]);
        assert_eq!(cache.get(slot(&long), &long, 1), None);
    }
}
