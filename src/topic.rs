//! Topic names and topic filters [MQTT-4.7]: their syntax, their size caps and how they
//! match. One matcher for the whole crate: the broker's retained store, the ACL (whose
//! rules are filters too) and the load generator's checks all ask this module.
//!
//! A leaf: it depends on nothing else in Sol. The subscription index (the broker's
//! `TopicTree`) walks levels on its own for speed; its tests check it against
//! [`filter_matches`]. Emptiness, UTF-8 and U+0000 are the codec's checks, made when a
//! string is decoded; wildcards in a PUBLISH topic name too.

use std::fmt;

/// Why a topic filter is refused (answered with SUBACK 0x80, or an ACL file error).
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
    /// A `$share/` filter without a group name, with a wildcard in it, or without a
    /// filter after it [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    SharedSubscription,
}

impl FilterError {
    /// What is wrong, in words (for SUBACK refusal logs and ACL file errors).
    pub fn as_str(self) -> &'static str {
        match self {
            FilterError::MisplacedMultiLevelWildcard => {
                "'#' must be the last level, alone [MQTT-4.7.1-2]"
            }
            FilterError::MisplacedSingleLevelWildcard => {
                "'+' must fill a whole level [MQTT-4.7.1-3]"
            }
            FilterError::TooLong => "longer than max_topic_length",
            FilterError::TooManyLevels => "more levels than max_topic_levels",
            FilterError::SharedSubscription => {
                "'$share/GROUP/FILTER' needs a group name without wildcards and a filter \
                 [MQTT-4.8.2-1]"
            }
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for FilterError {}

/// Checks a topic filter's wildcard placement and size caps.
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

/// The prefix of a shared subscription's filter [MQTT-4.8.2].
pub const SHARE_PREFIX: &str = "$share/";

/// Splits a shared subscription's filter `$share/GROUP/FILTER` into its group name and
/// filter: `None` for a filter that is not shared, `Err` for a malformed one (an empty
/// group, a group with `+` or `#` [MQTT-4.8.2-2], nothing after the group
/// [MQTT-4.8.2-1]). The filter itself is checked like any other.
pub fn shared_filter(filter: &str) -> Option<Result<(&str, &str), FilterError>> {
    let rest = filter.strip_prefix(SHARE_PREFIX)?;
    Some(match rest.split_once('/') {
        Some((group, inner))
            if !group.is_empty() && !group.contains(['+', '#']) && !inner.is_empty() =>
        {
            Ok((group, inner))
        }
        _ => Err(FilterError::SharedSubscription),
    })
}

/// Checks a topic name's size caps (wildcards were refused by the codec).
pub fn validate_topic(topic: &str, max_len: usize, max_levels: usize) -> bool {
    // Levels are separators plus one; a byte count (a word at a time) is cheaper than
    // splitting, and this runs for every PUBLISH.
    topic.len() <= max_len && crate::codec::swar::count(topic.as_bytes(), b'/') < max_levels
}

/// Whether a valid `filter` matches `topic`, with the `$` rule [MQTT-4.7.2-1]: a filter
/// starting with a wildcard does not match a topic starting with `$`.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    !dollar_apart(filter, topic) && relates(filter.split('/'), topic, Relation::Overlaps)
}

/// The `$` rule [MQTT-4.7.2-1] between two filters (or a filter and a topic name): one
/// that starts with `$` only meets one that also does. For a topic name and a valid
/// filter this is the spec's "a filter starting with a wildcard does not match a topic
/// starting with `$`" (a literal first level decides the rest).
pub fn dollar_apart(a: &str, b: &str) -> bool {
    a.starts_with('$') != b.starts_with('$')
}

/// How a filter must relate to another filter or topic name, for [`relates`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// Some topic is matched by both. For a topic name (no wildcards): the filter matches
    /// it.
    Overlaps,
    /// Every topic the other filter matches is matched by the first.
    Covers,
}

/// Whether the filter given as its `levels` stands in `relation` to `other` (a filter or a
/// topic name), level by level and without the `$` rule ([`dollar_apart`]). The levels
/// are an iterator so that a caller can substitute some of them (the ACL's `%c`/`%u`)
/// without building a string.
pub fn relates<'a>(
    mut levels: impl Iterator<Item = &'a str>,
    other: &str,
    relation: Relation,
) -> bool {
    let mut other = other.split('/');
    loop {
        match (levels.next(), other.next()) {
            (None, None) | (Some("#"), _) => return true,
            (_, Some("#")) => return relation == Relation::Overlaps,
            (Some("+"), Some(_)) => {}
            (Some(_), Some("+")) if relation == Relation::Overlaps => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn shared_filters_split_into_group_and_filter_mqtt_4_8_2_1() {
        assert_eq!(shared_filter("a/b"), None);
        assert_eq!(shared_filter("$share/g/a/#"), Some(Ok(("g", "a/#"))));
        assert_eq!(shared_filter("$share/g//"), Some(Ok(("g", "/"))));
        for bad in [
            "$share/",
            "$share/g",
            "$share/g/",
            "$share//a",
            "$share/g+/a",
            "$share/#/a",
        ] {
            assert_eq!(
                shared_filter(bad),
                Some(Err(FilterError::SharedSubscription)),
                "{bad}"
            );
        }
        // "$shared/..." or "$SHARE/..." are ordinary filters.
        assert_eq!(shared_filter("$SHARE/g/a"), None);
    }
    use super::*;

    /// Valid filters with every wildcard placement and empty levels.
    pub(crate) const VALID_FILTERS: [&str; 10] = [
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
    ];

    #[test]
    fn filter_validation_mqtt_4_7_1_2_and_4_7_1_3() {
        for ok in VALID_FILTERS {
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
    fn topic_caps_count_bytes_and_levels() {
        assert!(validate_topic("a/b/c", 5, 3));
        assert!(!validate_topic("a/b/c", 4, 3));
        assert!(!validate_topic("a/b/c", 5, 2));
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
    }

    #[test]
    fn filters_overlap_and_cover() {
        let rel = |a: &str, b: &str, r| relates(a.split('/'), b, r);
        assert!(rel("a/+", "a/#", Relation::Overlaps));
        assert!(
            !rel("a/+", "a/#", Relation::Covers),
            "a/# also matches a/b/c"
        );
        assert!(rel("a/#", "a/+/c", Relation::Covers));
        assert!(rel("+/b", "a/+", Relation::Overlaps));
        assert!(!rel("+/b", "a/+", Relation::Covers));
        assert!(!rel("a/b", "a/c", Relation::Overlaps));
    }
}
