//! When a bridge connects again (`restart_timeout`): a constant wait, or Mosquitto's
//! "decorrelated jitter" back-off, each wait drawn between the base and three times the
//! last one, capped, so that many gateways cut off together do not return together.
//!
//! This file must not know about sockets or clocks: it turns the last wait into the next.

use crate::config::RestartTimeout;
use std::time::Duration;

/// The waits of one bridge between connection attempts.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// `restart_timeout`.
    policy: RestartTimeout,
    /// The last wait (the base after a success).
    last: Duration,
    /// A xorshift generator's state: jitter needs spread, not secrecy.
    seed: u64,
}

impl Backoff {
    /// Waits by `policy`, jittered from `seed` (anything but 0 spreads them).
    pub fn new(policy: RestartTimeout, seed: u64) -> Backoff {
        Backoff {
            policy,
            last: Duration::ZERO,
            seed: seed | 1,
        }
    }

    /// A connection succeeded: the next failure waits from the base again.
    pub fn reset(&mut self) {
        self.last = Duration::ZERO;
    }

    /// How long to wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let (base, cap) = match self.policy {
            RestartTimeout::Constant(d) => return d,
            RestartTimeout::Backoff { base, cap } => (base, cap),
        };
        let high = (self.last * 3).max(base);
        let span = high.saturating_sub(base).as_millis() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.random() % (span + 1)
        };
        self.last = (base + Duration::from_millis(jitter)).min(cap);
        self.last
    }

    /// The next xorshift64 number.
    fn random(&mut self) -> u64 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_constant_timeout_never_changes() {
        let mut b = Backoff::new(RestartTimeout::Constant(S(20)), 7);
        assert!((0..5).all(|_| b.next_wait() == S(20)));
    }

    #[test]
    fn jittered_waits_stay_between_base_and_cap_and_spread() {
        let policy = RestartTimeout::Backoff {
            base: S(5),
            cap: S(30),
        };
        let mut waits = Vec::new();
        for seed in 1..20 {
            let mut b = Backoff::new(policy, seed);
            assert_eq!(b.next_wait(), S(5), "the first wait is the base");
            for _ in 0..10 {
                let w = b.next_wait();
                assert!(w >= S(5) && w <= S(30), "{w:?}");
                waits.push(w);
            }
        }
        waits.sort();
        waits.dedup();
        assert!(waits.len() > 20, "jitter spreads the waits: {waits:?}");
        assert!(waits.contains(&S(30)), "and they reach the cap");
    }

    #[test]
    fn a_success_starts_again_from_the_base() {
        let mut b = Backoff::new(
            RestartTimeout::Backoff {
                base: S(1),
                cap: S(60),
            },
            3,
        );
        for _ in 0..20 {
            b.next_wait();
        }
        b.reset();
        assert_eq!(b.next_wait(), S(1));
    }
}
