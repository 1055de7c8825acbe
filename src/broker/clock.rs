//! The broker's clock: [`Tick`]s, compact monotonic time stamps, and the [`Clock`] that
//! converts `Instant`s to them.
//!
//! Per-connection and per-session times are [`Tick`]s, whole milliseconds since the
//! broker's start (8 bytes, where an `Instant` takes 16). A [`Clock`] converts: time
//! stamps round up and "has it passed" rounds down, so a deadline is never early. Only
//! the monotonic clock is used: a gateway may boot without a real-time clock. A leaf of
//! the core: it depends on nothing else in it.

use std::cell::Cell;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// Milliseconds from the lowest tick to the broker's start: ticks before the start exist,
/// so that a session restored from the store can have gone offline before this run
/// began (31.7 years of them; a whole number of seconds, so `ceil_second` still falls on
/// the broker's whole seconds).
const ORIGIN_MS: u64 = 1_000_000_000_000;

/// A point on the broker's clock: milliseconds since its epoch. `Option<Tick>` is 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(NonZeroU64);

impl Tick {
    /// The lowest tick, 31.7 years before the broker started.
    #[cfg(test)]
    pub const ZERO: Tick = Tick(NonZeroU64::MIN);

    /// The broker's start.
    #[cfg(test)]
    pub const START: Tick = Tick(NonZeroU64::MIN.saturating_add(ORIGIN_MS));

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

    /// Milliseconds from `earlier` to this tick (0 if `earlier` is later).
    pub fn ms_since(self, earlier: Tick) -> u64 {
        self.ms().saturating_sub(earlier.ms())
    }

    /// `d` earlier (rounded down to a whole millisecond, saturating at the lowest tick).
    pub fn before(self, d: Duration) -> Tick {
        Tick::from_ms(self.ms().saturating_sub(floor_ms(d)))
    }

    /// `ms` milliseconds later (saturating).
    pub fn after_ms(self, ms: u64) -> Tick {
        Tick::from_ms(self.ms().saturating_add(ms))
    }

    /// This tick as milliseconds of the broker's clock (never 0: how a message body
    /// keeps its expiry in 8 bytes, 0 meaning none).
    pub fn as_ms(self) -> u64 {
        self.0.get()
    }

    /// The tick [`Tick::as_ms`] gave.
    pub fn from_raw_ms(raw: u64) -> Tick {
        Tick(NonZeroU64::new(raw).unwrap_or(NonZeroU64::MIN))
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

/// The earlier of two optional deadlines (`None`: no deadline). Written out rather
/// than `[..].into_iter().flatten().min()`, which the per-message path paid for in
/// iterator adapters (about 100 instructions a turn, callgrind).
#[inline]
pub fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
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
    /// A clock started at `epoch`.
    pub fn new(epoch: Instant) -> Clock {
        let start = Tick::from_ms(ORIGIN_MS);
        Clock {
            epoch,
            last: Cell::new((epoch, start, start)),
        }
    }

    fn convert(&self, now: Instant) -> (Tick, Tick) {
        let (at, stamp, passed) = self.last.get();
        if at == now {
            return (stamp, passed);
        }
        let d = now.saturating_duration_since(self.epoch);
        let (stamp, passed) = (
            Tick::from_ms(ORIGIN_MS + ceil_ms(d)),
            Tick::from_ms(ORIGIN_MS + floor_ms(d)),
        );
        self.last.set((now, stamp, passed));
        (stamp, passed)
    }

    /// The stamp of the last `now` converted: the core's idea of the present between
    /// calls (for a store writing in the same reactor turn).
    pub fn latest(&self) -> Tick {
        self.last.get().1
    }

    /// `now` as a time stamp, rounded up: deadlines computed from it are never early.
    pub fn stamp(&self, now: Instant) -> Tick {
        self.convert(now).0
    }

    /// The latest tick that has passed at `now` (rounded down).
    pub fn passed(&self, now: Instant) -> Tick {
        self.convert(now).1
    }

    /// The instant of `t` (the broker's start for a tick before it), for tests.
    #[cfg(test)]
    pub fn instant(&self, t: Tick) -> Instant {
        self.epoch + Duration::from_millis(t.ms().saturating_sub(ORIGIN_MS))
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
    fn stamps_round_up_and_passed_rounds_down() {
        let epoch = Instant::now();
        let clock = Clock::new(epoch);
        let now = epoch + Duration::from_micros(1500);
        assert_eq!(clock.stamp(now), Tick::START.after_ms(2));
        assert_eq!(clock.passed(now), Tick::START.after_ms(1));
        assert_eq!(clock.stamp(epoch), Tick::START);
        let before = epoch.checked_sub(Duration::from_millis(5)).unwrap_or(epoch);
        assert_eq!(clock.passed(before), Tick::START);
        assert_eq!(clock.stamp(now), Tick::START.after_ms(2), "remembered");
        let t = Tick::START.after(Duration::from_micros(2001));
        assert_eq!(clock.instant(t), epoch + Duration::from_millis(3));
        // Ticks before the start exist (a session restored offline for a while).
        let earlier = Tick::START.before(Duration::from_secs(3600));
        assert_eq!(earlier.after(Duration::from_secs(3600)), Tick::START);
        assert_eq!(clock.instant(earlier), epoch, "no instant before the start");
        assert_eq!(Tick::ZERO.before(Duration::from_secs(1)), Tick::ZERO);
        assert_eq!(std::mem::size_of::<Option<Tick>>(), 8);
    }

    #[test]
    fn earliest_ignores_missing_deadlines() {
        assert_eq!(earliest(Some(3), Some(2)), Some(2));
        assert_eq!(earliest(Some(2), Some(3)), Some(2));
        assert_eq!(earliest(None, Some(3)), Some(3));
        assert_eq!(earliest(Some(3), None), Some(3));
        assert_eq!(earliest::<u8>(None, None), None);
    }
}
