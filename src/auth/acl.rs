//! Mosquitto's ACL file: which topics a client may publish to and receive.
//!
//! ```text
//! # comment
//! topic read $SYS/#              rules before any `user` line: anonymous clients
//! user alice                     rules below: the client that logged in as alice
//! topic readwrite home/#         access: read, write, readwrite (default) or deny
//! topic deny home/secret/#
//! pattern write devices/%u/%c/#  every client; %u is the username, %c the client id
//! ```
//!
//! The rules of Mosquitto 2.0, checked in this order: the client's own rules (its user's,
//! or the anonymous ones), then the patterns. Within each list deny rules come first and
//! the first rule whose filter matches decides; nothing matching means denied. A topic
//! starting with `$` is only matched by rules starting with `$`. `%c` and `%u` stand for a
//! whole topic level; a pattern with `%u` does not apply to a client without a username,
//! and no pattern applies to a client whose id or username contains `/`, `+` or `#` (so
//! an id cannot widen the namespace a pattern gives it; Mosquitto checks `+` and `#`).
//!
//! SUBSCRIBE (Mosquitto 2.0 defers to delivery; Sol answers at once): a filter is refused
//! (SUBACK 0x80) when no rule granting read can match any topic the filter matches, or a
//! deny rule matches every topic it matches. Otherwise it is granted, and every delivery
//! is still checked, so a wildcard subscription never delivers a topic the client may not
//! read. [`Acl::subscribe`] tells when a grant covers the whole filter, so those
//! deliveries need no check.

use super::LineError;
use crate::topic::{dollar_apart, relates, validate_filter, Relation};
use std::collections::HashMap;

/// What a rule grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Receive messages (deliveries, retained messages).
    Read,
    /// Publish.
    Write,
    /// Both.
    ReadWrite,
    /// Neither, overriding grants of the same list.
    Deny,
}

impl Access {
    fn grants(self, want: Want) -> bool {
        matches!(
            (self, want),
            (Access::ReadWrite, _) | (Access::Read, Want::Read) | (Access::Write, Want::Write)
        )
    }
}

/// What a client asks to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Receive it.
    Read,
    /// Publish to it.
    Write,
}

/// The client a check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    /// Its client id.
    pub client_id: &'a str,
    /// The username it logged in with, if any.
    pub username: Option<&'a str>,
}

/// One `topic` or `pattern` line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    filter: Box<str>,
    access: Access,
}

/// Rules in check order: deny rules first, otherwise as in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RuleList(Vec<Rule>);

impl RuleList {
    fn push(&mut self, rule: Rule) {
        if rule.access == Access::Deny {
            let first_grant = self
                .0
                .iter()
                .position(|r| r.access != Access::Deny)
                .unwrap_or(self.0.len());
            self.0.insert(first_grant, rule);
        } else {
            self.0.push(rule);
        }
    }
}

/// The answer to a SUBSCRIBE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeVerdict {
    /// SUBACK 0x80: nothing the filter matches may be read.
    Refuse,
    /// Granted; every topic the filter matches may be read, so deliveries need no check.
    GrantAll,
    /// Granted; each delivery must be checked with [`Acl::allows`].
    GrantChecked,
}

/// A parsed ACL file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// Rules before the first `user` line.
    anonymous: RuleList,
    /// Rules per username.
    users: HashMap<Box<str>, RuleList>,
    /// `pattern` lines, for every client.
    patterns: RuleList,
}

impl Acl {
    /// Parses a file's text. Every bad line is reported, not only the first. Filters are
    /// checked with the broker's topic filter rules (`max_len` bytes, `max_levels`).
    pub fn parse(text: &str, max_len: usize, max_levels: usize) -> Result<Acl, Vec<LineError>> {
        let mut acl = Acl::default();
        let mut errors = Vec::new();
        let mut user: Option<Box<str>> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: String| LineError {
                line: i + 1,
                reason,
            };
            let (keyword, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "user" if rest.is_empty() => errors.push(error("user: missing username".into())),
                "user" => {
                    acl.users.entry(rest.into()).or_default();
                    user = Some(rest.into());
                }
                "topic" | "pattern" => {
                    let (access, filter) = match rest.split_once([' ', '\t']) {
                        Some((a, f)) => match parse_access(a) {
                            Some(access) => (access, f.trim()),
                            None => {
                                errors.push(error(format!(
                                    "{keyword}: access must be read, write, readwrite or \
                                     deny, not {a:?}"
                                )));
                                continue;
                            }
                        },
                        None => (Access::ReadWrite, rest),
                    };
                    if let Err(e) = validate_filter(filter, max_len, max_levels) {
                        errors.push(error(format!("{keyword}: invalid filter {filter:?}: {e}")));
                        continue;
                    }
                    let rule = Rule {
                        filter: filter.into(),
                        access,
                    };
                    match (keyword, &user) {
                        ("pattern", _) => acl.patterns.push(rule),
                        (_, Some(name)) => acl.users.entry(name.clone()).or_default().push(rule),
                        (_, None) => acl.anonymous.push(rule),
                    }
                }
                other => errors.push(error(format!(
                    "unknown keyword {other:?} (expected topic, pattern or user)"
                ))),
            }
        }
        if errors.is_empty() {
            Ok(acl)
        } else {
            Err(errors)
        }
    }

    /// Whether `who` may do `want` with the topic name `topic`.
    pub fn allows(&self, who: Identity<'_>, topic: &str, want: Want) -> bool {
        let decide = |rules: &RuleList, pattern: bool| -> Option<bool> {
            rules
                .0
                .iter()
                .filter(|r| !pattern || applies(r, who))
                .find(|r| {
                    matches_topic(&r.filter, topic, who, pattern)
                        && (r.access == Access::Deny || r.access.grants(want))
                })
                .map(|r| r.access != Access::Deny)
        };
        self.own_rules(who)
            .and_then(|rules| decide(rules, false))
            .or_else(|| decide(&self.patterns, true))
            .unwrap_or(false)
    }

    /// The answer to a SUBSCRIBE of `filter` by `who` (see the module comment).
    pub fn subscribe(&self, who: Identity<'_>, filter: &str) -> SubscribeVerdict {
        let lists = [(self.own_rules(who), false), (Some(&self.patterns), true)];
        let rules = || {
            lists.iter().flat_map(|&(list, pattern)| {
                list.into_iter()
                    .flat_map(|l| l.0.iter())
                    .filter(move |r| !pattern || applies(r, who))
                    .map(move |r| (r, pattern))
            })
        };
        let denies = || rules().filter(|(r, _)| r.access == Access::Deny);
        let reads = || rules().filter(|(r, _)| r.access.grants(Want::Read));
        if denies().any(|(r, p)| covers(&r.filter, filter, who, p))
            || !reads().any(|(r, p)| overlaps(&r.filter, filter, who, p))
        {
            return SubscribeVerdict::Refuse;
        }
        // Whole-filter grants: the first deciding rule for every topic of the filter is a
        // read grant when no deny overlaps and one read grant covers the filter, and the
        // own list cannot decide "deny by omission" before the patterns (it never does:
        // a list without a match defers).
        let no_deny_overlaps = !denies().any(|(r, p)| overlaps(&r.filter, filter, who, p));
        if no_deny_overlaps && reads().any(|(r, p)| covers(&r.filter, filter, who, p)) {
            SubscribeVerdict::GrantAll
        } else {
            SubscribeVerdict::GrantChecked
        }
    }

    /// The anonymous rules, or the user's (`None` for a user without a `user` section).
    fn own_rules(&self, who: Identity<'_>) -> Option<&RuleList> {
        match who.username {
            None => Some(&self.anonymous),
            Some(name) => self.users.get(name),
        }
    }
}

fn parse_access(s: &str) -> Option<Access> {
    Some(match s {
        "read" => Access::Read,
        "write" => Access::Write,
        "readwrite" => Access::ReadWrite,
        "deny" => Access::Deny,
        _ => return None,
    })
}

/// Whether a pattern applies to `who`: it has the username `%u` needs, and neither
/// substitution could reach beyond one level or act as a wildcard.
fn applies(rule: &Rule, who: Identity<'_>) -> bool {
    let unsafe_name = |s: &str| s.is_empty() || s.contains(['/', '+', '#']);
    let needs_user = rule.filter.split('/').any(|l| l == "%u");
    if unsafe_name(who.client_id) || who.username.is_some_and(unsafe_name) {
        return false;
    }
    !needs_user || who.username.is_some()
}

/// The levels of a rule's filter, with `%c`/`%u` substituted in a pattern.
fn levels<'a>(filter: &'a str, who: Identity<'a>, pattern: bool) -> impl Iterator<Item = &'a str> {
    filter.split('/').map(move |level| match (pattern, level) {
        (true, "%c") => who.client_id,
        (true, "%u") => who.username.unwrap_or(level),
        _ => level,
    })
}

/// Whether the rule's filter (substituted if a pattern) stands in `relation` to `other`,
/// with the `$` rule [MQTT-4.7.2-1]: a rule starting with `$` only meets a topic or filter
/// starting with `$`, and the reverse.
fn related(rule: &str, other: &str, who: Identity<'_>, pattern: bool, relation: Relation) -> bool {
    !dollar_apart(rule, other) && relates(levels(rule, who, pattern), other, relation)
}

/// Whether the rule's filter matches the topic name.
fn matches_topic(rule: &str, topic: &str, who: Identity<'_>, pattern: bool) -> bool {
    related(rule, topic, who, pattern, Relation::Overlaps)
}

/// Whether some topic is matched by both the rule's filter and `filter`.
fn overlaps(rule: &str, filter: &str, who: Identity<'_>, pattern: bool) -> bool {
    related(rule, filter, who, pattern, Relation::Overlaps)
}

/// Whether every topic `filter` matches is matched by the rule's filter.
fn covers(rule: &str, filter: &str, who: Identity<'_>, pattern: bool) -> bool {
    related(rule, filter, who, pattern, Relation::Covers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# anonymous clients
topic read public/#
topic deny public/private/#

user alice
topic readwrite home/#
topic deny home/secret/#
topic write alerts

user bob
topic read home/+/temp

pattern readwrite devices/%c/#
pattern read users/%u/inbox
";

    fn acl() -> Acl {
        Acl::parse(FILE, 256, 32).expect("valid file")
    }

    fn anon(id: &str) -> Identity<'_> {
        Identity {
            client_id: id,
            username: None,
        }
    }

    fn user<'a>(id: &'a str, name: &'a str) -> Identity<'a> {
        Identity {
            client_id: id,
            username: Some(name),
        }
    }

    #[test]
    fn anonymous_rules_are_those_before_the_first_user_line() {
        let acl = acl();
        assert!(acl.allows(anon("c"), "public/news", Want::Read));
        assert!(!acl.allows(anon("c"), "public/news", Want::Write));
        assert!(!acl.allows(anon("c"), "home/kitchen", Want::Read));
        assert!(!acl.allows(user("c", "alice"), "public/news", Want::Read));
    }

    #[test]
    fn deny_wins_over_an_earlier_grant() {
        let acl = acl();
        let alice = user("c", "alice");
        assert!(acl.allows(alice, "home/kitchen/temp", Want::Write));
        assert!(!acl.allows(alice, "home/secret/code", Want::Read));
        assert!(
            !acl.allows(alice, "home/secret", Want::Read),
            "# includes its parent"
        );
        assert!(!acl.allows(anon("c"), "public/private/x", Want::Read));
    }

    #[test]
    fn access_kinds() {
        let acl = acl();
        let alice = user("c", "alice");
        assert!(acl.allows(alice, "alerts", Want::Write));
        assert!(!acl.allows(alice, "alerts", Want::Read));
        let bob = user("c", "bob");
        assert!(acl.allows(bob, "home/kitchen/temp", Want::Read));
        assert!(!acl.allows(bob, "home/kitchen/temp", Want::Write));
        assert!(!acl.allows(bob, "home/kitchen/humidity", Want::Read));
    }

    #[test]
    fn patterns_substitute_whole_levels() {
        let acl = acl();
        assert!(acl.allows(anon("dev1"), "devices/dev1/status", Want::Write));
        assert!(!acl.allows(anon("dev1"), "devices/dev2/status", Want::Write));
        assert!(acl.allows(user("x", "carol"), "users/carol/inbox", Want::Read));
        assert!(!acl.allows(user("x", "carol"), "users/dave/inbox", Want::Read));
        // A user without a section still gets the patterns.
        assert!(acl.allows(user("dev9", "carol"), "devices/dev9/a", Want::Read));
    }

    #[test]
    fn patterns_do_not_apply_to_dangerous_names() {
        let acl = acl();
        assert!(!acl.allows(anon("+"), "devices/x/y", Want::Write));
        assert!(!acl.allows(anon("a/b"), "devices/a/b/c", Want::Write));
        assert!(!acl.allows(user("c", "#"), "users/#/inbox", Want::Read));
        // %u patterns need a username.
        assert!(!acl.allows(anon("c"), "users/%u/inbox", Want::Read));
    }

    #[test]
    fn dollar_topics_need_dollar_rules_mqtt_4_7_2_1() {
        let acl = Acl::parse("topic read #\ntopic read $SYS/broker/#\n", 256, 32).unwrap();
        assert!(acl.allows(anon("c"), "a/b", Want::Read));
        assert!(!acl.allows(anon("c"), "$SYS/other", Want::Read));
        assert!(acl.allows(anon("c"), "$SYS/broker/uptime", Want::Read));
    }

    #[test]
    fn subscribe_refuses_filters_that_can_read_nothing() {
        use SubscribeVerdict::{GrantAll, GrantChecked, Refuse};
        let acl = acl();
        let (alice, bob, d1) = (user("c", "alice"), user("c", "bob"), anon("d1"));
        let cases = [
            (alice, "home/kitchen/#", GrantAll),
            (alice, "home/#", GrantChecked),
            (alice, "home/secret/#", Refuse),
            (alice, "alerts", Refuse), // write only
            (alice, "#", GrantChecked),
            (alice, "garden/#", Refuse),
            (bob, "home/+/temp", GrantAll),
            (bob, "home/+/+", GrantChecked),
            (bob, "home/hall/light", Refuse),
            (d1, "devices/d1/#", GrantAll),
            (d1, "devices/+/cmd", GrantChecked),
            (d1, "$SYS/#", Refuse),
        ];
        for (who, filter, verdict) in cases {
            assert_eq!(acl.subscribe(who, filter), verdict, "{who:?} {filter}");
        }
    }

    /// Every topic and filter of up to three levels over a small alphabet.
    fn universe(alphabet: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = alphabet.iter().map(|s| s.to_string()).collect();
        for _ in 0..2 {
            let longer: Vec<String> = all
                .iter()
                .filter(|s| !s.ends_with('#'))
                .flat_map(|p| alphabet.iter().map(move |l| format!("{p}/{l}")))
                .collect();
            all.extend(longer);
        }
        all.sort();
        all.dedup();
        all
    }

    #[test]
    fn subscribe_verdicts_agree_with_every_delivery_check() {
        let rules = "topic read a/#\ntopic deny a/b/#\ntopic read +/a\ntopic write b/#\n\
                     topic read $S/a\npattern read c/%c/+\npattern deny c/%c/b\n";
        let acl = Acl::parse(rules, 256, 32).expect("valid");
        let topics = universe(&["a", "b", "c", "$S", "me"]);
        let topics: Vec<&String> = topics.iter().filter(|t| !t.contains(['+', '#'])).collect();
        let filters = universe(&["a", "b", "c", "+", "#", "me"]);
        let who = anon("me");
        let mut seen = [0usize; 3];
        for filter in filters
            .iter()
            .filter(|f| validate_filter(f, 256, 32).is_ok())
        {
            let verdict = acl.subscribe(who, filter);
            seen[verdict as usize] += 1;
            let readable: Vec<&&String> = topics
                .iter()
                .filter(|t| matches_topic(filter, t, who, false))
                .filter(|t| acl.allows(who, t, Want::Read))
                .collect();
            let matched = topics
                .iter()
                .filter(|t| matches_topic(filter, t, who, false))
                .count();
            match verdict {
                SubscribeVerdict::Refuse => {
                    assert!(
                        readable.is_empty(),
                        "{filter} refused but {readable:?} readable"
                    )
                }
                SubscribeVerdict::GrantAll => {
                    assert_eq!(readable.len(), matched, "{filter}: not all readable")
                }
                SubscribeVerdict::GrantChecked => {}
            }
        }
        assert!(
            seen.iter().all(|&n| n >= 10),
            "every verdict exercised: {seen:?}"
        );
    }

    #[test]
    fn parse_errors_name_every_bad_line() {
        let text = "topic read a/#\nuser\ntopic sometimes x\ntopic read a/#/b\nfoo bar\n";
        let errors = Acl::parse(text, 256, 32).expect_err("bad lines");
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5]);
    }

    #[test]
    fn filter_matching_helpers_agree_on_edge_cases() {
        let who = anon("c");
        assert!(overlaps("a/+/c", "a/b/#", who, false));
        assert!(!overlaps("a/b", "a/b/c", who, false));
        assert!(overlaps("a/#", "a", who, false));
        assert!(!overlaps("+/x", "$SYS/x", who, false));
        assert!(covers("a/#", "a", who, false));
        assert!(covers("a/+", "a/b", who, false));
        assert!(!covers("a/+", "a/#", who, false));
        assert!(!covers("a/b", "a/+", who, false));
        assert!(matches_topic("a/#", "a", who, false));
        assert!(!matches_topic("a/+", "a", who, false));
    }
}
