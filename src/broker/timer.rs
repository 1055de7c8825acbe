//! Deadlines of connections and sessions, on the monotonic clock.
//!
//! A binary heap of (deadline, owner) with lazy invalidation: an entry names its owner and
//! the owner's generation, and the owner recomputes its real deadline when the entry comes
//! due. So a keep-alive that moves on every packet costs no heap operation per packet,
//! and an idle broker only wakes when something is really due.
//!
//! Per-connection and per-session times are [`Tick`]s, whole milliseconds since the
//! broker's start (8 bytes, where an `Instant` takes 16). A [`Clock`] converts: time
//! stamps round up and "has it passed" rounds down, so a deadline is never early.

use super::session::SessionId;
use super::ConnId;
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// A point on the broker's clock: milliseconds since its epoch. `Option<Tick>` is 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(NonZeroU64);

impl Tick {
    /// The epoch itself.
    #[cfg(test)]
    pub const ZERO: Tick = Tick(NonZeroU64::MIN);

    fn from_ms(ms: u64) -> Tick {
        Tick(NonZeroU64::MIN.saturating_add(ms.min(u64::MAX - 1)))
    }

    fn ms(self) -> u64 {
        self.0.get() - 1
    }

    /// `d` later (rounded up to a whole millisecond, saturating).
    pub fn after(self, d: Duration) -> Tick {
        Tick::from_ms(self.ms().saturating_add(ceil_ms(d)))
    }

    /// `ms` milliseconds later (saturating).
    pub fn after_ms(self, ms: u64) -> Tick {
        Tick::from_ms(self.ms().saturating_add(ms))
    }

    /// The first whole second of the broker's clock at or after this tick. Deadlines that
    /// may be up to a second late are rounded so, so that many connections share one
    /// wake-up instead of each waking the broker at its own millisecond.
    pub fn ceil_second(self) -> Tick {
        Tick::from_ms(self.ms().div_ceil(1000).saturating_mul(1000))
    }
}

/// Whole milliseconds in `d`, rounded up (64-bit arithmetic: this is on the per-message
/// path, where `Duration::as_nanos`' 128-bit division showed up in profiles).
fn ceil_ms(d: Duration) -> u64 {
    let sub = u64::from(d.subsec_nanos().div_ceil(1_000_000));
    d.as_secs().saturating_mul(1000).saturating_add(sub)
}

/// Whole milliseconds in `d`, rounded down.
fn floor_ms(d: Duration) -> u64 {
    let sub = u64::from(d.subsec_millis());
    d.as_secs().saturating_mul(1000).saturating_add(sub)
}

/// Converts between `Instant`s and [`Tick`]s of one broker.
///
/// The core is called many times with the same `now` (every packet of a read, every
/// frame of a write), so the last conversion is remembered.
#[derive(Clone, Debug)]
pub struct Clock {
    /// Tick zero.
    epoch: Instant,
    /// The last `now` converted, its stamp and its passed tick.
    last: Cell<(Instant, Tick, Tick)>,
}

impl Clock {
    /// A clock whose tick zero is `epoch`.
    pub fn new(epoch: Instant) -> Clock {
        Clock {
            epoch,
            last: Cell::new((epoch, Tick::from_ms(0), Tick::from_ms(0))),
        }
    }

    fn convert(&self, now: Instant) -> (Tick, Tick) {
        let (at, stamp, passed) = self.last.get();
        if at == now {
            return (stamp, passed);
        }
        let d = now.saturating_duration_since(self.epoch);
        let (stamp, passed) = (Tick::from_ms(ceil_ms(d)), Tick::from_ms(floor_ms(d)));
        self.last.set((now, stamp, passed));
        (stamp, passed)
    }

    /// `now` as a time stamp, rounded up: deadlines computed from it are never early.
    pub fn stamp(&self, now: Instant) -> Tick {
        self.convert(now).0
    }

    /// The latest tick that has passed at `now` (rounded down).
    pub fn passed(&self, now: Instant) -> Tick {
        self.convert(now).1
    }

    /// The instant of `t`.
    pub fn instant(&self, t: Tick) -> Instant {
        self.epoch + Duration::from_millis(t.ms())
    }
}

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

    #[test]
    fn ceil_second_rounds_up_to_whole_seconds_only() {
        assert_eq!(Tick::ZERO.ceil_second(), Tick::ZERO);
        assert_eq!(
            Tick::ZERO.after_ms(1).ceil_second(),
            Tick::ZERO.after_ms(1000)
        );
        assert_eq!(
            Tick::ZERO.after_ms(1000).ceil_second(),
            Tick::ZERO.after_ms(1000)
        );
        assert_eq!(
            Tick::ZERO.after_ms(1999).ceil_second(),
            Tick::ZERO.after_ms(2000)
        );
    }

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

    #[test]
    fn stamps_round_up_and_passed_rounds_down() {
        let epoch = Instant::now();
        let clock = Clock::new(epoch);
        let now = epoch + Duration::from_micros(1500);
        assert_eq!(clock.stamp(now), Tick::ZERO.after_ms(2));
        assert_eq!(clock.passed(now), Tick::ZERO.after_ms(1));
        assert_eq!(clock.stamp(epoch), Tick::ZERO);
        let before = epoch.checked_sub(Duration::from_millis(5)).unwrap_or(epoch);
        assert_eq!(clock.passed(before), Tick::ZERO);
        assert_eq!(clock.stamp(now), Tick::ZERO.after_ms(2), "remembered");
        let t = Tick::ZERO.after(Duration::from_micros(2001));
        assert_eq!(clock.instant(t), epoch + Duration::from_millis(3));
        assert_eq!(std::mem::size_of::<Option<Tick>>(), 8);
    }
}
