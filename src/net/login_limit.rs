//! Rate-limiting failed logins per source address.
//!
//! Checking a password costs a PBKDF2 hash on the reactor thread, so a client guessing
//! passwords in a loop could take the reactor from everyone else. Each source address has
//! a bucket of [`BURST`] failures that refills by one every [`REFILL`]; while its bucket
//! is empty, new connections from that address are closed as soon as they are accepted,
//! before a byte is read or a hash computed. Connections already open are not touched.
//! Unix-socket clients (local) are not limited.
//!
//! The table is bounded ([`CAPACITY`] addresses): when it is full, the address with the
//! most tokens left (the least suspicious) makes room. An address whose bucket is full
//! again is forgotten.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures an address may have in a row before it is refused.
pub const BURST: u32 = 5;
/// Time for one failure to be forgiven.
pub const REFILL: Duration = Duration::from_secs(12);
/// Addresses tracked at most.
pub const CAPACITY: usize = 256;

/// One address's bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    ip: IpAddr,
    /// Tokens at `since`.
    tokens: u32,
    /// When `tokens` was computed.
    since: Instant,
}

impl Bucket {
    /// Tokens at `now`, refilled.
    fn tokens_at(&self, now: Instant) -> u32 {
        let refilled = now.saturating_duration_since(self.since).as_secs() / REFILL.as_secs();
        let refilled = u32::try_from(refilled).unwrap_or(u32::MAX);
        self.tokens.saturating_add(refilled).min(BURST)
    }
}

/// The failure buckets of recently failing addresses.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    buckets: Vec<Bucket>,
}

impl LoginLimiter {
    /// Whether no address is being tracked (then no check is needed at accept).
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Records a failed login from `ip`.
    pub fn failure(&mut self, ip: IpAddr, now: Instant) {
        if let Some(b) = self.buckets.iter_mut().find(|b| b.ip == ip) {
            b.tokens = b.tokens_at(now).saturating_sub(1);
            b.since = now;
            return;
        }
        let bucket = Bucket {
            ip,
            tokens: BURST - 1,
            since: now,
        };
        if self.buckets.len() < CAPACITY {
            self.buckets.push(bucket);
        } else if let Some(slot) = self
            .buckets
            .iter_mut()
            .max_by_key(|b| (b.tokens_at(now), std::cmp::Reverse(b.since)))
        {
            *slot = bucket;
        }
    }

    /// Whether a new connection from `ip` must be refused now. Forgets addresses whose
    /// bucket has refilled.
    pub fn refuses(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(i) = self.buckets.iter().position(|b| b.ip == ip) else {
            return false;
        };
        match self.buckets[i].tokens_at(now) {
            0 => true,
            BURST => {
                self.buckets.swap_remove(i);
                false
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 168, 1, last])
    }

    #[test]
    fn an_address_is_refused_after_its_burst_and_forgiven_with_time() {
        let t0 = Instant::now();
        let mut limiter = LoginLimiter::default();
        for _ in 0..BURST {
            assert!(!limiter.refuses(ip(1), t0));
            limiter.failure(ip(1), t0);
        }
        assert!(limiter.refuses(ip(1), t0));
        assert!(
            !limiter.refuses(ip(2), t0),
            "other addresses are not affected"
        );
        assert!(limiter.refuses(ip(1), t0 + REFILL - Duration::from_millis(1)));
        assert!(!limiter.refuses(ip(1), t0 + REFILL), "one failure forgiven");
        limiter.failure(ip(1), t0 + REFILL);
        assert!(limiter.refuses(ip(1), t0 + REFILL), "and spent again");
        assert!(!limiter.refuses(ip(1), t0 + REFILL * (BURST + 1)));
        assert!(limiter.is_empty(), "a full bucket is forgotten");
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_worst_offenders() {
        let t0 = Instant::now();
        let mut limiter = LoginLimiter::default();
        for _ in 0..BURST {
            limiter.failure(ip(1), t0);
        }
        for i in 0..CAPACITY * 2 {
            let other = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            limiter.failure(other, t0);
        }
        assert_eq!(limiter.buckets.len(), CAPACITY);
        assert!(
            limiter.refuses(ip(1), t0),
            "the address out of tokens was kept"
        );
    }
}
