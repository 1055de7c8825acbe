//! The large-message allowance: the bytes of every message body larger than
//! [`LARGE_MESSAGE`], counted once wherever it is held (being read, queued, in flight,
//! retained, in the store's model), from the moment its packet starts to be read until
//! its last reference is dropped.
//!
//! Small messages are bounded by the queue and retained caps; a large one (a camera
//! snapshot, a firmware chunk) is bounded here instead, so a 10 MB message can pass with
//! the default caps and RSS stays within what `sol check` prints. The reactor asks
//! [`available`] before it starts reading a large PUBLISH and, when the allowance is in
//! use, waits (the connection is not read) instead of failing.
//!
//! The count is per thread: the reactor's bodies are `Rc`s, never sent to another
//! thread, and tests that run brokers on parallel threads do not see each other's.
//!
//! This module counts; it must not decide what waits or what is dropped.

use std::cell::Cell;

/// Bodies above this many bytes are large: more than one read of the reactor's scratch
/// buffer, so they are read straight into their shared body (see `net::read`).
pub const LARGE_MESSAGE: usize = 64 * 1024;

thread_local! {
    /// Bytes of large bodies alive and reserved on this thread.
    static IN_USE: Cell<usize> = const { Cell::new(0) };
}

/// Whether a body of `len` bytes is large.
#[inline(always)]
pub fn is_large(len: usize) -> bool {
    len > LARGE_MESSAGE
}

/// Bytes of large bodies alive and reserved now.
pub fn in_use() -> usize {
    IN_USE.with(Cell::get)
}

/// Whether `n` more bytes fit within `allowance`.
pub fn available(n: usize, allowance: usize) -> bool {
    in_use().saturating_add(n) <= allowance
}

/// Counts `n` bytes as in use.
pub(crate) fn acquire(n: usize) {
    IN_USE.with(|c| c.set(c.get().saturating_add(n)));
}

/// Stops counting `n` bytes.
pub(crate) fn release(n: usize) {
    IN_USE.with(|c| c.set(c.get().saturating_sub(n)));
}

/// Bytes set aside for a large packet while it is read (its body does not exist yet, or
/// is not a `Message` yet); given back when dropped.
#[derive(Debug)]
pub struct Reservation(usize);

impl Reservation {
    /// Sets `n` bytes aside, whether or not they fit: the caller checked [`available`].
    pub fn new(n: usize) -> Reservation {
        acquire(n);
        Reservation(n)
    }

    /// The bytes set aside.
    pub fn bytes(&self) -> usize {
        self.0
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        release(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_counts_until_dropped() {
        let before = in_use();
        let r = Reservation::new(1000);
        assert_eq!(in_use(), before + 1000);
        assert!(available(24, before + 1024));
        assert!(!available(25, before + 1024));
        drop(r);
        assert_eq!(in_use(), before);
    }

    #[test]
    fn the_threshold_is_one_scratch_read() {
        assert!(!is_large(LARGE_MESSAGE));
        assert!(is_large(LARGE_MESSAGE + 1));
    }
}
