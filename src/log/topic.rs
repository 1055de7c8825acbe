//! `log_dest topic`: log lines waiting to be published on `$SYS/broker/log/<type>`.
//!
//! The broker publishes, and this module sits below it, so the lines wait here in a small
//! bounded queue ([`TOPIC_QUEUE_BYTES`] of text) and the reactor hands them to the core
//! once per turn ([`drain_topic`]). A line logged while they are being published (by the
//! reactor thread, inside [`drain_topic`]) is not queued for the topic again: publishing
//! a log line can never feed itself. It still reaches the other sinks. A line that does
//! not fit is dropped and counted, and the next drain logs how many were lost.
//!
//! This file must not publish: it only queues and hands over.

use super::queue::count_dropped;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Bytes of line text waiting for the reactor's next turn: every line of a turn that
/// accepts a burst of connections, on a router.
pub const TOPIC_QUEUE_BYTES: usize = 8 * 1024;

/// One line to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicLine {
    /// `$SYS/broker/log/E`, `W`, `N`, `I`, `M/subscribe`, `M/unsubscribe` or `WS`.
    pub topic: &'static str,
    /// The stamped line, as written to a file, without its newline.
    pub payload: String,
}

/// The lines waiting, their bytes, and the count of those that did not fit.
#[derive(Debug)]
struct TopicQueue {
    /// Lines in logging order.
    lines: Vec<TopicLine>,
    /// Bytes of their payloads.
    bytes: usize,
    /// Lines dropped since the last drain.
    dropped: u32,
}

/// The queue of the process.
static QUEUE: Mutex<TopicQueue> = Mutex::new(TopicQueue {
    lines: Vec::new(),
    bytes: 0,
    dropped: 0,
});

/// Whether the queue may hold something to drain: set under the lock by every push (and
/// drop), cleared under it by the drain. The reactor checks it once per turn, so a turn
/// with nothing logged costs one load instead of a lock.
static WAITING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread is inside [`drain_topic`]: its log lines skip the topic.
    static PUBLISHING: Cell<bool> = const { Cell::new(false) };
}

/// The queue, even if a thread panicked while holding it.
fn queue() -> MutexGuard<'static, TopicQueue> {
    QUEUE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Queues `payload` for `topic`, unless this thread is publishing log lines now; drops and
/// counts it if the queue is full.
pub(super) fn push(topic: &'static str, payload: String) {
    if PUBLISHING.with(Cell::get) {
        return;
    }
    let mut q = queue();
    WAITING.store(true, Ordering::Release);
    if q.bytes + payload.len() > TOPIC_QUEUE_BYTES {
        q.dropped = q.dropped.saturating_add(1);
        count_dropped(1);
        return;
    }
    q.bytes += payload.len();
    q.lines.push(TopicLine { topic, payload });
}

/// Hands the waiting lines to `publish` (the reactor's door into the core); lines logged
/// meanwhile on this thread are not queued for the topic. Does nothing when none wait.
/// If some were dropped, says how many (a warning, published at the next drain).
pub fn drain_topic(publish: impl FnOnce(&[TopicLine])) {
    if !WAITING.load(Ordering::Acquire) {
        return;
    }
    let (lines, dropped) = {
        let mut q = queue();
        WAITING.store(false, Ordering::Relaxed);
        if q.lines.is_empty() && q.dropped == 0 {
            return;
        }
        q.bytes = 0;
        (std::mem::take(&mut q.lines), std::mem::take(&mut q.dropped))
    };
    PUBLISHING.with(|p| p.set(true));
    publish(&lines);
    PUBLISHING.with(|p| p.set(false));
    if dropped > 0 {
        ::log::warn!(
            "{dropped} log lines dropped: more were logged in one turn than the \
             $SYS/broker/log topics queue ({TOPIC_QUEUE_BYTES} bytes)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wait_for_a_drain_and_never_feed_themselves() {
        // One test owns the process-wide queue: the steps run in order.
        drain_topic(|_| {});
        push("$SYS/broker/log/N", "1: client a connected".into());
        let mut got = Vec::new();
        drain_topic(|lines| {
            got.extend_from_slice(lines);
            // Logged while publishing: not queued for the topic.
            push("$SYS/broker/log/W", "2: dropped a message".into());
        });
        assert_eq!(
            got,
            vec![TopicLine {
                topic: "$SYS/broker/log/N",
                payload: "1: client a connected".into()
            }]
        );
        let mut again = Vec::new();
        drain_topic(|lines| again.extend_from_slice(lines));
        assert!(again.is_empty());

        // A full queue drops and counts.
        let line = "x".repeat(1000);
        for _ in 0..(TOPIC_QUEUE_BYTES / 1000 + 3) {
            push("$SYS/broker/log/I", line.clone());
        }
        assert_eq!(queue().dropped, 3);
        let mut n = 0;
        drain_topic(|lines| n = lines.len());
        assert_eq!(n, TOPIC_QUEUE_BYTES / 1000);
        assert_eq!(queue().dropped, 0);
    }
}
