//! Closing: connections the core (or the socket) closed are written once more, dropped
//! and reported to the core; a graceful stop closes them all.

use super::*;

impl Server {
    /// Writes everything the broker queued and carries out every requested close, until
    /// neither produces more (closing publishes wills, writing releases publishers).
    pub(super) fn settle(&mut self) {
        loop {
            self.run_closes();
            self.flush_writable();
            if self.conns.closing.is_empty() {
                return;
            }
        }
    }

    /// Carries out the requested closes.
    pub(super) fn run_closes(&mut self) {
        while let Some(id) = self.conns.closing.pop_front() {
            let reason = match self.conns.slots.get_mut(id) {
                Some(conn) => conn.closing.unwrap_or(CloseReason::SocketError),
                None => continue,
            };
            self.close_now(id, reason);
        }
    }

    /// One write attempt (a refusing CONNACK must reach the client), then drops the socket,
    /// frees the slot and its buffer, and tells the broker.
    pub(super) fn close_now(&mut self, id: ConnId, reason: CloseReason) {
        self.flush(id);
        let Some(mut conn) = self.conns.slots.remove(id) else {
            return;
        };
        if reason == CloseReason::AuthFailed {
            if let Some(ip) = conn.stream.peer_ip() {
                self.logins.failure(ip, Instant::now());
            }
        }
        // The peer has finished: close() alone ends the connection. Otherwise shut down
        // first, so a last answer (a refusing CONNACK) leaves with a FIN before the reset
        // that unread input causes. Closing the descriptor also removes it from epoll
        // (no other descriptor shares it), so there is no explicit deregister: each saves
        // a syscall per connection in a connect storm.
        if !matches!(
            reason,
            CloseReason::ClientDisconnect | CloseReason::PeerClosed
        ) {
            conn.stream.shutdown();
        }
        conn.read.clear(&mut self.buffers);
        log::debug!(
            "connection {id} (listener {}) closed: {reason:?}",
            conn.listener
        );
        drop(conn);
        let now = Instant::now();
        self.core
            .call(&mut self.conns, |b| b.closed(id, reason, now));
    }

    /// Graceful stop: closes the listeners (removing Unix socket files), writes what each
    /// socket takes now, closes every connection, and has the store write everything
    /// (waiting at most [`STORE_STOP_WAIT`] for the disk).
    pub(super) fn shutdown(&mut self) {
        self.notifier.stopping();
        self.stop_bridges();
        for slot in &mut self.listeners {
            if let Some(mut bound) = slot.take() {
                let _ = self.poll.registry().deregister(&mut bound.listener);
            }
        }
        self.unbound.clear();
        let now = Instant::now();
        self.core.call(&mut self.conns, |b| b.shutting_down(now));
        let open = self.conns.slots.occupied();
        for &id in &open {
            self.flush(id);
        }
        for id in open {
            self.close_now(id, CloseReason::Shutdown);
        }
        self.settle();
        self.conns.slots.recycle();
        debug_assert_eq!(
            self.buffers.lent(),
            0,
            "every closed connection gave its buffer back"
        );
        if let Some(store) = self.conns.store.take() {
            store.stop(self.core.get(), STORE_STOP_WAIT);
        }
        log::info!(
            "stopped ({} refused: pool full, {} refused: no descriptors, {} closed: out of \
             buffer memory)",
            self.conns.counters.refused_pool_full,
            self.conns.counters.refused_no_fds,
            self.conns.counters.out_of_memory,
        );
    }
}
