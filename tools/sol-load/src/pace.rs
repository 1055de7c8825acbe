//! Pacing of rate-mode publishers: when each message is due ([`Schedule`], pure arithmetic)
//! and a wake-up for the event loop at that instant ([`Timer`], a Linux timerfd).
//!
//! The timer exists because `mio`'s poll timeout is whole milliseconds (`epoll_wait` takes
//! milliseconds, and mio rounds a shorter timeout up to one): a loop that only sleeps in
//! `poll` can look at the schedule once a millisecond at best, so the messages due in that
//! millisecond leave together. A timerfd registered in the same poll wakes it at the
//! nanosecond the next message is due.
//!
//! Must not: touch sockets or connections (the worker decides who writes what).

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// When a publisher's messages are due: message `k` at `phase + k / rate` after the start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Messages per second.
    rate: f64,
    /// When the first message is due, from the start.
    phase: Duration,
}

impl Schedule {
    /// `rate` messages per second (positive), the first due `phase` after the start.
    pub fn new(rate: f64, phase: Duration) -> Schedule {
        Schedule { rate, phase }
    }

    /// How many messages are due `elapsed` after the start: those whose [`Schedule::at`] is
    /// not after it (none before `phase`).
    pub fn due(&self, elapsed: Duration) -> u64 {
        let Some(t) = elapsed.checked_sub(self.phase) else {
            return 0;
        };
        // The floating-point estimate, corrected against `at` so both agree to the nanosecond.
        let mut k = (t.as_secs_f64() * self.rate) as u64;
        while k > 0 && self.at(k) > elapsed {
            k -= 1;
        }
        while self.at(k + 1) <= elapsed {
            k += 1;
        }
        k + 1
    }

    /// When message `k` (from 0) is due, from the start, rounded up to the nanosecond.
    pub fn at(&self, k: u64) -> Duration {
        self.phase + Duration::from_nanos((k as f64 * 1e9 / self.rate).ceil() as u64)
    }
}

/// The phase of publisher `n` when the run's publishers share `total` messages per second
/// equally: `n / total` seconds. Each publisher sends every `publishers / total` seconds, so
/// with these phases the run as a whole sends one message every `1 / total` seconds instead
/// of one from every publisher at the same instant.
pub fn phase(n: u32, total: f64) -> Duration {
    if total > 0.0 {
        Duration::from_secs_f64(f64::from(n) / total)
    } else {
        Duration::ZERO
    }
}

/// A one-shot timer (timerfd, `CLOCK_MONOTONIC`, the clock of [`Instant`] on Linux) that
/// makes a `mio` poll readable when it fires.
#[derive(Debug)]
pub struct Timer {
    fd: OwnedFd,
    /// The instant it is set for, while that is still ahead (setting it again is then a no-op).
    armed: Option<Instant>,
}

impl Timer {
    /// A disarmed timer registered in `registry` under `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Timer> {
        // SAFETY: timerfd_create takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is the open descriptor just created, owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Timer { fd, armed: None })
    }

    /// Fires once at `at` (as soon as possible if that is not after `now`), replacing any
    /// earlier setting. Setting it again in the kernel also clears the expiry count, so an
    /// edge-triggered poll reports the next firing without the descriptor being read.
    pub fn set(&mut self, at: Instant, now: Instant) -> io::Result<()> {
        if self.armed == Some(at) && at > now {
            return Ok(());
        }
        // A zero it_value disarms the timer: one nanosecond fires it at once.
        let d = at
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec we own for the call; a null old_value is allowed.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fall_due_at_the_rate_from_the_phase() {
        let s = Schedule::new(1000.0, Duration::from_micros(250));
        assert_eq!(s.due(Duration::ZERO), 0);
        assert_eq!(s.due(Duration::from_micros(249)), 0);
        assert_eq!(s.due(Duration::from_micros(250)), 1);
        assert_eq!(s.due(Duration::from_micros(1249)), 1);
        assert_eq!(s.due(Duration::from_micros(1250)), 2);
        assert_eq!(s.due(Duration::from_secs(1)), 1000);
        assert_eq!(s.at(0), Duration::from_micros(250));
        assert_eq!(s.at(3), Duration::from_micros(3250));
    }

    #[test]
    fn each_message_is_due_exactly_at_its_instant_and_not_before() {
        // Rates whose intervals are not whole nanoseconds, as --rate / --publishers gives.
        for rate in [
            312.5,
            1562.5,
            3333.0,
            20_000.0 / 64.0,
            224_000.0 / 64.0,
            98_729.0,
        ] {
            let s = Schedule::new(rate, phase(7, rate * 64.0));
            for k in (0..200_000).step_by(997) {
                let at = s.at(k);
                assert_eq!(s.due(at), k + 1, "rate {rate} message {k}");
                assert_eq!(
                    s.due(at - Duration::from_nanos(1)),
                    k,
                    "rate {rate} message {k}"
                );
            }
        }
    }

    #[test]
    fn phases_interleave_the_publishers_into_one_even_stream() {
        // 4 publishers sharing 4,000 msg/s: each sends every millisecond, a quarter apart.
        let total = 4000.0;
        let mut times: Vec<Duration> = (0..4)
            .flat_map(|n| {
                let s = Schedule::new(total / 4.0, phase(n, total));
                (0..10).map(move |k| s.at(k))
            })
            .collect();
        times.sort();
        for pair in times.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_micros(250));
        }
        assert_eq!(phase(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn the_timer_wakes_a_poll_before_its_millisecond_timeout_would() {
        let mut poll = mio::Poll::new().expect("poll");
        let mut events = mio::Events::with_capacity(4);
        let mut timer = Timer::new(poll.registry(), Token(7)).expect("timerfd");
        let t0 = Instant::now();
        timer
            .set(t0 + Duration::from_micros(300), t0)
            .expect("armed");
        // Without the timer this poll would sleep the whole 10 s.
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .expect("poll");
        let woke = t0.elapsed();
        assert!(events.iter().any(|e| e.token() == Token(7)));
        assert!(woke >= Duration::from_micros(300), "{woke:?}");
        assert!(woke < Duration::from_secs(5), "{woke:?}");
        // Re-armed (here for an instant already past: at once), it fires again without the
        // descriptor having been read.
        let now = Instant::now();
        timer.set(now, now).expect("armed");
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .expect("poll");
        assert!(events.iter().any(|e| e.token() == Token(7)));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
