//! Rate limiting for warnings that a misbehaving network or client could otherwise repeat
//! thousands of times a second (pool full, out of descriptors, accept errors, dropped
//! messages, protocol violations): at most one line per interval, carrying the number of
//! occurrences it stands for. The one throttle of the crate: the reactor and the core
//! both use it.

use std::fmt;
use std::time::{Duration, Instant};

/// Interval between two lines of one throttled warning.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// One throttled warning.
#[derive(Debug, Default)]
pub struct Throttle {
    /// When a line was last let through.
    last: Option<Instant>,
    /// Occurrences since that line (including the current one when it is let through).
    count: u32,
}

impl Throttle {
    /// Records one occurrence; `Some(n)` when a line may be logged now, `n` being the
    /// occurrences it stands for (1 for the first, or all since the previous line).
    pub fn hit(&mut self, now: Instant) -> Option<u32> {
        self.count = self.count.saturating_add(1);
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= WARN_INTERVAL);
        if due {
            self.last = Some(now);
            Some(std::mem::take(&mut self.count))
        } else {
            None
        }
    }

    /// Records one occurrence of `what` and logs it at warning level if a line may be
    /// logged now, saying how many more occurred since the last line.
    pub fn warn(&mut self, now: Instant, what: fmt::Arguments<'_>) {
        match self.hit(now) {
            None => {}
            Some(1) => ::log::warn!("{what}"),
            Some(n) => ::log::warn!("{what} (and {} more since the last report)", n - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_count() {
        let t0 = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.hit(t0), Some(1));
        assert_eq!(throttle.hit(t0 + Duration::from_secs(1)), None);
        assert_eq!(throttle.hit(t0 + Duration::from_secs(9)), None);
        assert_eq!(throttle.hit(t0 + WARN_INTERVAL), Some(3));
        assert_eq!(throttle.hit(t0 + WARN_INTERVAL), None);
    }
}
