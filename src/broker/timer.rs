//! Deadlines of connections and sessions, on the monotonic clock.
//!
//! A binary heap of (deadline, owner) with lazy invalidation: an entry names its owner and
//! the owner's generation, and the owner recomputes its real deadline when the entry comes
//! due. So a keep-alive that moves on every packet costs no heap operation per packet,
//! and an idle broker only wakes when something is really due.
//!
//! Deadlines are [`Tick`]s of the broker's [`super::clock::Clock`].

use super::clock::Tick;
use super::id::{ConnId, SessionId};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Whose deadline an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A connection's CONNECT timeout, keep-alive or slow-consumer timeout.
    Conn(ConnId, u32),
    /// An offline session's expiry.
    Session(SessionId, u32),
}

/// A heap entry, 16 bytes: the owner packed as a number with a session bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    /// The deadline; entries order by it first.
    at: Tick,
    /// Connection slot, or session id with [`SESSION_BIT`].
    owner: u32,
    /// The owner's generation when the entry was pushed.
    generation: u32,
}

/// Bytes of one timer-heap entry.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

/// Marks a session in [`Entry::owner`]. Connection slots are below `net::MAX_POOL` (2^16)
/// and session ids below 2^31 (each session takes far more than 2^31 bytes' worth of
/// address space before that).
const SESSION_BIT: u32 = 1 << 31;

/// Pending deadlines, earliest first.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Timers {
    /// Adds a deadline.
    pub fn push(&mut self, at: Tick, owner: Owner) {
        let (owner, generation) = match owner {
            Owner::Conn(conn, generation) => (
                u32::try_from(conn)
                    .ok()
                    .filter(|&c| c < SESSION_BIT)
                    .expect("connection slots are below net::MAX_POOL"),
                generation,
            ),
            Owner::Session(sid, generation) => {
                assert!(sid < SESSION_BIT, "session ids stay below 2^31");
                (sid | SESSION_BIT, generation)
            }
        };
        self.heap.push(Reverse(Entry {
            at,
            owner,
            generation,
        }));
    }

    /// The earliest deadline (possibly stale).
    pub fn next(&self) -> Option<Tick> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Removes and returns an entry due at or before `passed`.
    pub fn pop_due(&mut self, passed: Tick) -> Option<(Tick, Owner)> {
        if self.next()? > passed {
            return None;
        }
        let Reverse(e) = self.heap.pop()?;
        let owner = if e.owner & SESSION_BIT != 0 {
            Owner::Session(e.owner & !SESSION_BIT, e.generation)
        } else {
            Owner::Conn(e.owner as ConnId, e.generation)
        };
        Some((e.at, owner))
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
        let t0 = Tick::ZERO;
        let mut t = Timers::default();
        t.push(t0.after(Duration::from_secs(2)), Owner::Conn(1, 0));
        t.push(t0.after(Duration::from_secs(1)), Owner::Session(4, 7));
        assert_eq!(t.next(), Some(t0.after_ms(1000)));
        assert_eq!(t.pop_due(t0), None);
        let later = t0.after(Duration::from_secs(5));
        assert_eq!(t.pop_due(later).map(|e| e.1), Some(Owner::Session(4, 7)));
        assert_eq!(t.pop_due(later).map(|e| e.1), Some(Owner::Conn(1, 0)));
        assert!(t.is_empty());
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}
