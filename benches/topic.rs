//! Micro-benchmarks of topic matching: `filter_matches` on single pairs, and
//! `TopicTree::matches`, `insert` and `remove` against generated subscription trees.
//!
//! The claim these measure (issue 4): matching a topic costs in proportion to the topic's
//! depth, not to the number of subscriptions. Trees of 10, 1,000 and 100,000
//! subscriptions are matched with topics 4, 5 and 6 levels deep.
//!
//! The subscriptions are generated deterministically (a fixed-seed SplitMix64, so every
//! run and every machine measures the same trees). Subscription `i` of a tree of `n`:
//!
//! - levels 1-4 are `l<d>` for the four base-`b` digits `d` of `i`, with `b` the smallest
//!   base giving `n` distinct prefixes: the tree stays balanced and nearly every filter is
//!   distinct, so a topic matches a handful of subscriptions whatever `n` is;
//! - 0-2 further levels `x<k>` (k in 0..4), picked by a generator seeded with `i`, make
//!   filters 4 to 6 levels deep;
//! - about 10 % are wildcard filters: 6 % have one level replaced by `+`, 4 % are cut
//!   after their third, fourth or fifth level and end with `#`.
//!
//! A benchmark topic of depth `d` is the literal path of a random index whose filter is
//! `d` levels deep: it matches that filter unless it got a wildcard (and may match a few
//! wildcard filters too), so each topic matches about one subscription at every size.
//!
//! The trees are built with `TopicTree::{default, insert, len}` and measured with
//! `matches` and `remove` only: the tree's representation may change underneath.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sol::broker::TopicTree;
use sol::codec::QoS;
use sol::topic::filter_matches;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Tree sizes measured, in subscriptions.
const TREE_SIZES: [usize; 3] = [10, 1_000, 100_000];
/// Topic depths measured.
const TOPIC_DEPTHS: [usize; 3] = [4, 5, 6];
/// Topics per (tree, depth) case; each iteration matches the next one.
const TOPICS_PER_CASE: usize = 64;
/// New filters inserted into (and removed from) the 100k tree per timed batch.
const CHURN_BATCH: usize = 1024;
/// Seed of every generator: fixed, so the trees are the same on every run.
const SEED: u64 = 0x5017_0ca1_ab1e_5eed;

/// SplitMix64 (Steele, Lea and Flood): a tiny deterministic generator, so the benchmark
/// data needs no dependency and does not change between runs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (the modulo bias is irrelevant here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Shapes the literal paths of a tree of `n` subscriptions (see the module comment).
struct PathShape {
    /// Base of the four digit levels: the smallest `b` with `b^4 >= n`.
    base: usize,
}

impl PathShape {
    fn for_tree(n: usize) -> PathShape {
        let base = (2..)
            .find(|b: &usize| b.pow(4) >= n)
            .expect("some base fits");
        PathShape { base }
    }

    /// The literal levels of path `index`: four digit levels, then 0-2 `x<k>` levels.
    /// The depth and the extra levels are a function of the index alone, so a topic made
    /// from an index is exactly that index's filter. `depth` forces another depth.
    fn levels(&self, index: usize, depth: Option<usize>) -> Vec<String> {
        let mut own = SplitMix64(SEED ^ index as u64);
        let depth = depth.unwrap_or(4 + own.below(3));
        let mut digits = index;
        let mut levels: Vec<String> = (0..4)
            .map(|_| {
                let digit = digits % self.base;
                digits /= self.base;
                format!("l{digit}")
            })
            .collect();
        levels.extend((4..depth).map(|_| format!("x{}", own.below(4))));
        levels
    }
}

/// The `n` filters of a benchmark tree, about 10 % with a wildcard.
fn filters(n: usize, rng: &mut SplitMix64) -> Vec<String> {
    filters_from(0, n, &PathShape::for_tree(n), rng)
}

/// Filters for indices `first..first + count`, shaped by `shape`; `rng` picks which get a
/// wildcard, and where.
fn filters_from(
    first: usize,
    count: usize,
    shape: &PathShape,
    rng: &mut SplitMix64,
) -> Vec<String> {
    (first..first + count)
        .map(|index| {
            let mut levels = shape.levels(index, None);
            let depth = levels.len();
            match rng.below(100) {
                0..=5 => levels[rng.below(depth)] = "+".to_owned(),
                // At least three literal levels before `#`: a short `l3/#` would be
                // shared by thousands of subscribers in the big tree, and the benchmark
                // would measure copying them out rather than the walk.
                6..=9 => {
                    levels.truncate(3 + rng.below(depth - 3));
                    levels.push("#".to_owned());
                }
                _ => {}
            }
            levels.join("/")
        })
        .collect()
}

/// A tree of `filters`, subscription `i` belonging to session `i`.
fn tree_of(filters: &[String]) -> TopicTree {
    let mut tree = TopicTree::default();
    for (session, filter) in filters.iter().enumerate() {
        let session = u32::try_from(session).expect("benchmark trees hold < 2^32 subscriptions");
        assert!(
            tree.insert(filter, session, QoS::AtMostOnce),
            "one session per filter"
        );
    }
    assert_eq!(tree.len(), filters.len());
    tree
}

/// `TOPICS_PER_CASE` topics `depth` levels deep for a tree of `n` subscriptions: paths of
/// random indices whose own depth is `depth` (any index if the tree has none that deep).
fn topics(n: usize, depth: usize, rng: &mut SplitMix64) -> Vec<String> {
    let shape = PathShape::for_tree(n);
    let mut candidates: Vec<usize> = (0..n)
        .filter(|&i| shape.levels(i, None).len() == depth)
        .collect();
    if candidates.is_empty() {
        candidates = (0..n).collect();
    }
    (0..TOPICS_PER_CASE)
        .map(|_| {
            let index = candidates[rng.below(candidates.len())];
            shape.levels(index, Some(depth)).join("/")
        })
        .collect()
}

/// `filter_matches` on single (filter, topic) pairs: each way it can end.
fn bench_filter_matches(c: &mut Criterion) {
    let topic = "site/3/device/42/temperature";
    let cases = [
        ("literal_match", "site/3/device/42/temperature", topic, true),
        ("plus_match", "site/+/device/+/temperature", topic, true),
        ("hash_match", "site/3/#", topic, true),
        (
            "mismatch_last_level",
            "site/3/device/42/humidity",
            topic,
            false,
        ),
        (
            "mismatch_first_level",
            "plant/3/device/42/temperature",
            topic,
            false,
        ),
        (
            "dollar_topic_vs_hash",
            "#",
            "$SYS/broker/load/messages",
            false,
        ),
    ];
    let mut group = c.benchmark_group("filter_matches");
    for (name, filter, topic, expected) in cases {
        assert_eq!(filter_matches(filter, topic), expected, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| filter_matches(black_box(filter), black_box(topic)))
        });
    }
    group.finish();
}

/// `TopicTree::matches` for every tree size and topic depth, one topic per iteration.
fn bench_tree_matches(c: &mut Criterion) {
    let mut group = c.benchmark_group("tree_matches");
    group.throughput(Throughput::Elements(1));
    for n in TREE_SIZES {
        let mut rng = SplitMix64(SEED);
        let mut tree = tree_of(&filters(n, &mut rng));
        for depth in TOPIC_DEPTHS {
            let topics = topics(n, depth, &mut rng);
            let mut out = Vec::new();
            let matched: usize = topics
                .iter()
                .map(|topic| {
                    out.clear();
                    tree.matches(topic, &mut out);
                    out.len()
                })
                .sum();
            eprintln!(
                "tree_matches/subs_{n}/depth_{depth}: {:.2} subscriptions matched per topic",
                matched as f64 / topics.len() as f64
            );
            let mut next = 0;
            let id = BenchmarkId::new(format!("subs_{n}"), format!("depth_{depth}"));
            group.bench_function(id, |b| {
                b.iter(|| {
                    out.clear();
                    tree.matches(black_box(&topics[next]), &mut out);
                    next = (next + 1) % topics.len();
                    out.len()
                })
            });
        }
    }
    group.finish();
}

/// Which tree operation a churn benchmark times.
#[derive(Clone, Copy)]
enum Churn {
    Insert,
    Remove,
}

/// `insert` and `remove` of new subscriptions in a 100k tree. Batches of new filters are
/// inserted, then removed; only the operation named is timed, so the tree is back to its
/// 100k subscriptions after every batch and both are measured on the same tree.
fn bench_tree_churn(c: &mut Criterion) {
    let n = 100_000;
    let mut rng = SplitMix64(SEED);
    let mut tree = tree_of(&filters(n, &mut rng));
    // Indices past the tree's own, with its shape: new subscriptions in existing branches.
    let new = filters_from(n, CHURN_BATCH, &PathShape::for_tree(n), &mut rng);
    let sessions = (n..n + CHURN_BATCH).map(|s| u32::try_from(s).expect("fits"));
    let batch: Vec<(String, u32)> = new.into_iter().zip(sessions).collect();

    let mut group = c.benchmark_group("tree_churn");
    group.throughput(Throughput::Elements(1));
    for (name, timed) in [("insert", Churn::Insert), ("remove", Churn::Remove)] {
        group.bench_function(BenchmarkId::new(name, "subs_100000"), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let take = usize::try_from(iters - done)
                        .map_or(CHURN_BATCH, |left| left.min(CHURN_BATCH));
                    let part = &batch[..take];
                    let start = Instant::now();
                    for (filter, session) in part {
                        black_box(tree.insert(black_box(filter), *session, QoS::AtLeastOnce));
                    }
                    if let Churn::Insert = timed {
                        elapsed += start.elapsed();
                    }
                    let start = Instant::now();
                    for (filter, session) in part {
                        black_box(tree.remove(black_box(filter), *session));
                    }
                    if let Churn::Remove = timed {
                        elapsed += start.elapsed();
                    }
                    done += take as u64;
                }
                elapsed
            })
        });
        assert_eq!(tree.len(), n, "every batch is removed again");
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_filter_matches, bench_tree_matches, bench_tree_churn
}
criterion_main!(benches);
