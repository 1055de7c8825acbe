//! Topic names of the measured traffic, and the background filters that must never match it.
//!
//! Measured publisher `n` publishes on `<root>/<n>`, followed by levels `l1`, `l2`, ... until
//! the topic has `--topic-levels` levels. Background filters (held by idle background
//! connections while a measured load runs, to show how the broker's cost per message grows
//! with the number of subscriptions) are generated from a seed, 4 to 6 levels deep, and share
//! as many top levels as possible with the measured topics so that a topic matcher has to walk
//! past them: every filter starts with the root, half of them continue with a measured
//! publisher's level and copy some of the measured levels below it. Each has one level
//! `k<k>` (unique per filter, never a wildcard) at which it leaves the measured tree, so no
//! background filter matches any measured topic, whatever its depth: deliveries per message
//! stay the same however many background filters there are. About 10 % of the filters carry
//! a `+` (on any other level) or end in `#` (after the `k<k>` level).

/// Levels of a topic or filter.
pub fn levels(topic: &str) -> usize {
    topic.split('/').count()
}

/// Topic of measured publisher `n`: `<root>/<n>/l1/l2/...`, `total_levels` levels in all (at
/// least the root's levels plus one).
pub fn measured_topic(root: &str, n: u32, total_levels: usize) -> String {
    let mut t = format!("{root}/{n}");
    for i in 1..total_levels.saturating_sub(levels(root)) {
        t.push_str(&format!("/l{i}"));
    }
    t
}

/// SplitMix64: a tiny, well-mixed deterministic generator (no dependency needed).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Background filter number `k`, a pure function of `(root, seed, k, publishers)` so every
/// generator thread and every run with the same seed builds the same set. `publishers` is the
/// number of measured publishers, whose levels the filters share.
pub fn background_filter(root: &str, seed: u64, k: u64, publishers: u32) -> String {
    let mut rng = SplitMix64(seed ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03));
    // 4, 5 or 6 levels; below the root at least a publisher level and the `k<k>` level.
    let total = 4 + rng.below(3) as usize;
    let rest = total.saturating_sub(levels(root)).max(2);
    let wildcard = rng.below(10) == 0;
    // `#` needs a level after `k<k>` to replace, so at least three levels below the root.
    let hash = wildcard && rest >= 3 && rng.below(2) == 0;
    // Index (below the root) of the `k<k>` level: 1..rest, or rest - 2 when `#` ends it.
    let unique_at = if hash {
        rest - 2
    } else {
        1 + rng.below(rest as u64 - 1) as usize
    };
    let mut parts: Vec<String> = Vec::with_capacity(rest);
    parts.push(if rng.below(2) == 0 {
        rng.below(u64::from(publishers.max(1))).to_string()
    } else {
        format!("b{}", rng.below(100))
    });
    for i in 1..rest {
        parts.push(if i < unique_at {
            format!("l{i}") // the measured topics' level here
        } else if i == unique_at {
            format!("k{k}")
        } else {
            format!("x{}", rng.below(10))
        });
    }
    if hash {
        parts[rest - 1] = "#".into();
    } else if wildcard {
        // Any level but the unique one.
        let mut at = rng.below(rest as u64 - 1) as usize;
        if at >= unique_at {
            at += 1;
        }
        parts[at] = "+".into();
    }
    format!("{root}/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sol::topic::{filter_matches, validate_filter};
    use std::collections::HashSet;

    const ROOT: &str = "bench/1234x5";

    #[test]
    fn measured_topics_have_the_requested_depth() {
        assert_eq!(measured_topic(ROOT, 7, 3), "bench/1234x5/7");
        assert_eq!(measured_topic(ROOT, 7, 0), "bench/1234x5/7");
        assert_eq!(measured_topic(ROOT, 7, 5), "bench/1234x5/7/l1/l2");
        assert_eq!(levels(&measured_topic("a", 0, 6)), 6);
    }

    #[test]
    fn background_filters_are_valid_distinct_and_4_to_6_levels_deep() {
        let n = 20_000;
        let mut seen = HashSet::new();
        let (mut plus, mut hash, mut shared) = (0, 0, 0);
        for k in 0..n {
            let f = background_filter(ROOT, 42, k, 64);
            assert!(validate_filter(&f, 256, 16).is_ok(), "{f}");
            assert!((4..=6).contains(&levels(&f)), "{f}");
            assert!(f.starts_with("bench/1234x5/"), "{f}");
            plus += usize::from(f.contains('+'));
            hash += usize::from(f.ends_with('#'));
            let publisher_level = f.split('/').nth(2).expect("at least 4 levels");
            shared += usize::from(publisher_level.parse::<u32>().is_ok_and(|p| p < 64));
            assert!(seen.insert(f));
        }
        let wild = (plus + hash) as f64 / n as f64;
        assert!((0.08..0.12).contains(&wild), "{wild}");
        assert!(plus > 0 && hash > 0, "{plus} {hash}");
        let shared = shared as f64 / n as f64;
        assert!((0.4..0.6).contains(&shared), "{shared}");
    }

    #[test]
    fn background_filters_match_no_measured_topic() {
        let topics: Vec<String> = (0..8)
            .flat_map(|n| (3..=8).map(move |depth| measured_topic(ROOT, n, depth)))
            .collect();
        for k in 0..20_000 {
            let f = background_filter(ROOT, 7, k, 8);
            for t in &topics {
                assert!(!filter_matches(&f, t), "{f} matches {t}");
            }
        }
        // ... while the measured subscription matches them all.
        assert!(topics.iter().all(|t| filter_matches("bench/1234x5/#", t)));
    }

    #[test]
    fn background_filters_depend_only_on_seed_and_index() {
        let a: Vec<String> = (0..100).map(|k| background_filter(ROOT, 1, k, 4)).collect();
        let b: Vec<String> = (0..100).map(|k| background_filter(ROOT, 1, k, 4)).collect();
        let c: Vec<String> = (0..100).map(|k| background_filter(ROOT, 2, k, 4)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_one_level_root_still_gives_4_to_6_levels() {
        for k in 0..1000 {
            let f = background_filter("r", 3, k, 1);
            assert!((4..=6).contains(&levels(&f)), "{f}");
            assert!(!filter_matches(&f, &measured_topic("r", 0, 6)), "{f}");
        }
    }
}
