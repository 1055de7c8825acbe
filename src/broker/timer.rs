//! Deadlines of connections and sessions, on the monotonic clock.
//!
//! A binary heap of (instant, owner) with lazy invalidation: an entry names its owner and
//! the owner's generation, and the owner recomputes its real deadline when the entry comes
//! due. So a keep-alive that moves on every packet costs no heap operation per packet,
//! and an idle broker only wakes when something is really due.

use super::session::SessionId;
use super::ConnId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Whose deadline an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A connection's CONNECT timeout, keep-alive or slow-consumer timeout.
    Conn(ConnId, u32),
    /// An offline session's expiry.
    Session(SessionId, u32),
}

/// Pending deadlines, earliest first.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Owner)>>,
}

impl Timers {
    /// Adds a deadline.
    pub fn push(&mut self, at: Instant, owner: Owner) {
        self.heap.push(Reverse((at, owner)));
    }

    /// The earliest deadline (possibly stale).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns an entry due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Owner)> {
        if self.next()? <= now {
            self.heap.pop().map(|Reverse(e)| e)
        } else {
            None
        }
    }

    /// Whether there are no entries.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.push(t0 + Duration::from_secs(2), Owner::Conn(1, 0));
        t.push(t0 + Duration::from_secs(1), Owner::Session(4, 0));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(
            t.pop_due(t0 + Duration::from_secs(5)).map(|e| e.1),
            Some(Owner::Session(4, 0))
        );
        assert_eq!(
            t.pop_due(t0 + Duration::from_secs(5)).map(|e| e.1),
            Some(Owner::Conn(1, 0))
        );
        assert!(t.is_empty());
    }
}
