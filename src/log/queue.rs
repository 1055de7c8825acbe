//! The bounded buffer between the threads that log (the reactor, mostly) and one sink's
//! writer thread.
//!
//! A logging thread appends a formatted line with [`Queue::push`]: a copy into the
//! buffer under a lock held for nothing else, then a wake-up if the writer may be
//! asleep. The writer takes the whole buffer at once ([`Queue::take`] swaps it with the
//! one it has just written, so after warm-up no line allocates) and writes it with the
//! lock released: the lock is never held across I/O, so a logging thread waits at most
//! for a buffer swap. A line that does not fit is dropped and counted; the writer gets
//! the count with the next batch and writes a notice after it, and every drop is added
//! to the process-wide total [`dropped_lines`] (`$SYS/broker/sol/log/dropped`).
//!
//! Memory: the buffer holds at most [`SINK_BUFFER_BYTES`], and the batch being written
//! as much again.
//!
//! This file must not do I/O: the writer's loop and the sinks are in `sink.rs`.

use super::format::LineFormat;
use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Bytes of lines one sink buffers while its writer is busy: about 150 lines of 100
/// bytes, a burst of connections on a router. With the batch being written, a sink holds
/// at most twice this.
pub const SINK_BUFFER_BYTES: usize = 16 * 1024;

/// Log lines dropped since start, all sinks together (a `u32`: 32-bit MIPS has no 64-bit
/// atomics; it saturates rather than wrap).
static DROPPED: AtomicU32 = AtomicU32::new(0);

/// Log lines dropped since start because a sink could not keep up (its buffer was full)
/// or could not be written, all sinks together.
pub fn dropped_lines() -> u32 {
    DROPPED.load(Ordering::Relaxed)
}

/// Counts `n` dropped lines in the process-wide total.
pub(super) fn count_dropped(n: u32) {
    let _ = DROPPED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
        Some(d.saturating_add(n))
    });
}

/// One sink's buffer and the writer's signals.
#[derive(Debug)]
pub(super) struct Queue {
    /// What is waiting for the writer.
    pending: Mutex<Pending>,
    /// Signalled when the writer may have something to do (it waits on it).
    arrived: Condvar,
    /// Signalled when the writer finished a batch (a flush waits on it).
    written: Condvar,
    /// Largest `pending.bytes`.
    capacity: usize,
}

/// The state shared by the logging threads and the writer.
#[derive(Debug)]
struct Pending {
    /// Lines waiting, in the sink's framing.
    bytes: Vec<u8>,
    /// Lines dropped since the writer's last batch.
    dropped: u32,
    /// The writer is writing a batch.
    writing: bool,
    /// No more lines will come: the writer writes what is left and ends.
    closed: bool,
    /// A file to write to (the log file reopened on SIGHUP) from this offset of `bytes`
    /// on: the lines logged before the reopen still go to the old file.
    reopen: Option<(File, usize)>,
    /// How the writer formats its notices.
    format: LineFormat,
}

/// What the writer took besides the lines.
#[derive(Debug)]
pub(super) struct Batch {
    /// Lines dropped before or during this batch, and how to format the notice about
    /// them; `None` when none was.
    pub dropped: Option<(u32, LineFormat)>,
    /// A file to write the batch to from this offset on, and the next batches.
    pub reopen: Option<(File, usize)>,
}

impl Queue {
    /// An empty queue of `capacity` bytes; the writer formats notices with `format`.
    pub fn new(capacity: usize, format: LineFormat) -> Queue {
        Queue {
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                dropped: 0,
                writing: false,
                closed: false,
                reopen: None,
                format,
            }),
            arrived: Condvar::new(),
            written: Condvar::new(),
            capacity,
        }
    }

    /// The shared state, even if a thread panicked while holding it (it stays
    /// consistent: every change is a single assignment or append).
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one line made of `parts`, or drops and counts it if it does not fit;
    /// whether it was kept. Never waits for the writer's I/O.
    pub fn push(&self, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut p = self.lock();
        // The writer sleeps only with nothing to do: wake it for the first line (or
        // the first drop) after that.
        let idle = p.bytes.is_empty() && p.dropped == 0;
        let fits = p.bytes.len() + len <= self.capacity;
        if fits {
            for part in parts {
                p.bytes.extend_from_slice(part);
            }
        } else {
            p.dropped = p.dropped.saturating_add(1);
            count_dropped(1);
        }
        drop(p);
        if idle {
            self.arrived.notify_one();
        }
        fits
    }

    /// Counts one line dropped before it reached the buffer (too long to frame).
    pub fn drop_line(&self) {
        let mut p = self.lock();
        let idle = p.bytes.is_empty() && p.dropped == 0;
        p.dropped = p.dropped.saturating_add(1);
        count_dropped(1);
        drop(p);
        if idle {
            self.arrived.notify_one();
        }
    }

    /// Sets how the writer formats its notices (on reload).
    pub fn set_format(&self, format: LineFormat) {
        self.lock().format = format;
    }

    /// Hands the writer a file to write the lines pushed from now on to.
    pub fn reopen(&self, file: File) {
        let mut p = self.lock();
        let at = p.bytes.len();
        p.reopen = Some((file, at));
        drop(p);
        self.arrived.notify_one();
    }

    /// No more lines: the writer writes what is left and ends.
    pub fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_one();
    }

    /// For the writer: waits until there is something to do, then swaps the waiting
    /// lines into `batch` (which must be empty; its capacity is reused). `None` once the
    /// queue is closed and everything was written.
    pub fn take(&self, batch: &mut Vec<u8>) -> Option<Batch> {
        let mut p = self.lock();
        p.writing = false;
        self.written.notify_all();
        while p.bytes.is_empty() && p.dropped == 0 && p.reopen.is_none() {
            if p.closed {
                return None;
            }
            p = self
                .arrived
                .wait(p)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        std::mem::swap(&mut p.bytes, batch);
        p.writing = true;
        let dropped = std::mem::take(&mut p.dropped);
        Some(Batch {
            dropped: (dropped > 0).then(|| (dropped, p.format.clone())),
            reopen: p.reopen.take(),
        })
    }

    /// Waits until every line pushed so far was written, or `deadline`; whether it was.
    pub fn wait_written(&self, deadline: Instant) -> bool {
        let mut p = self.lock();
        loop {
            let busy = p.writing || !p.bytes.is_empty() || p.dropped > 0 || p.reopen.is_some();
            if !busy {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            p = match self.written.wait_timeout(p, left) {
                Ok((p, _)) => p,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::format::{Stamp, FACILITY_DAEMON};
    use super::*;

    pub(in crate::log) fn format() -> LineFormat {
        LineFormat {
            stamp: Stamp::Off,
            facility: FACILITY_DAEMON,
            pid: 1,
        }
    }

    #[test]
    fn a_full_buffer_drops_and_counts_lines() {
        let queue = Queue::new(10, format());
        let before = dropped_lines();
        assert!(queue.push(&[b"1234", b"\n"]));
        assert!(queue.push(&[b"abcd\n"]));
        assert!(!queue.push(&[b"x\n"]));
        assert!(!queue.push(&[b"y\n"]));
        assert!(dropped_lines() >= before + 2);

        let mut batch = Vec::new();
        let taken = queue.take(&mut batch).expect("a batch");
        assert_eq!(batch, b"1234\nabcd\n");
        assert_eq!(taken.dropped.map(|(n, _)| n), Some(2));
        // Room again; the count starts over.
        batch.clear();
        assert!(queue.push(&[b"z\n"]));
        let taken = queue.take(&mut batch).expect("a batch");
        assert_eq!(batch, b"z\n");
        assert!(taken.dropped.is_none());
    }

    #[test]
    fn a_closed_queue_ends_after_its_last_lines() {
        let queue = Queue::new(100, format());
        queue.push(&[b"last\n"]);
        queue.close();
        let mut batch = Vec::new();
        assert!(queue.take(&mut batch).is_some());
        assert_eq!(batch, b"last\n");
        batch.clear();
        assert!(queue.take(&mut batch).is_none());
        assert!(queue.wait_written(Instant::now()));
    }

    #[test]
    fn a_flush_waits_for_the_writer_within_its_deadline() {
        let queue = Queue::new(100, format());
        queue.push(&[b"pending\n"]);
        // No writer: the wait gives up at its deadline.
        assert!(!queue.wait_written(Instant::now() + std::time::Duration::from_millis(10)));
        let mut batch = Vec::new();
        queue.take(&mut batch);
        assert!(!queue.wait_written(Instant::now()), "still being written");
        queue.close();
        batch.clear();
        assert!(queue.take(&mut batch).is_none());
        assert!(queue.wait_written(Instant::now()));
    }
}
