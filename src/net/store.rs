//! The reactor's side of the durable store: opening it and restoring the core before any
//! client is accepted, handing it each turn's changes, sending the acknowledgements it
//! held (`persistence_sync`) once their batch is on disk, and handing bridge outboxes
//! the messages it read back for them.
//!
//! The store's writer thread never blocks the loop: it wakes the poll (through the
//! [`ServerHandle`] waker) when a sync completes or the disk starts failing, and the turn
//! that follows releases what the sync made durable.

use super::*;
use crate::store::{disk::RealDisk, Store, StoreError, StoreSettings};

/// The longest a graceful stop waits for the disk to take the last changes.
pub const STORE_STOP_WAIT: Duration = Duration::from_secs(30);

impl Server {
    /// Opens the store, restores what it holds into the core (retained messages, then
    /// persistent sessions, offline, within the caps) and starts its writer thread. Call
    /// after dropping root (the store's files belong to the user the broker runs as) and
    /// before [`Server::run`]: no client is accepted before this returns. The
    /// configuration must have had persistence on when the server was made (the core
    /// records durable changes only then).
    pub fn start_store(&mut self, settings: StoreSettings) -> Result<(), StoreError> {
        debug_assert!(self.core.get().limits().track_durable);
        let shared = Arc::clone(&self.shared);
        let wake = Box::new(move || {
            // The poll wakes for the store; the loop's turn reads what changed.
            let _ = shared.waker.wake();
        });
        let path = settings.path.clone();
        let (mut store, opened) = Store::open(settings, RealDisk, Some(wake))?;
        let now = Instant::now();
        let started = Instant::now();
        self.core
            .call(&mut self.conns, |b| store.restore(opened, b, now));
        log::info!(
            "store: {} opened in {} ms",
            path.display(),
            started.elapsed().as_millis()
        );
        self.conns.store = Some(store);
        Ok(())
    }

    /// The end of a loop turn for the store: hands it the turn's changes when a save is
    /// due, seals the acknowledgements held in the turn with the batch that carries their
    /// changes, and sends those whose batch is on disk.
    pub(super) fn store_turn(&mut self, now: Instant) {
        let Some(store) = self.conns.store.as_mut() else {
            return;
        };
        // Bridge outboxes' messages read back from disk rejoin their queues (and are
        // sent) before the save, which then records that they did.
        let refills = store.take_refills(self.core.get(), now);
        if !refills.is_empty() {
            self.core.call(&mut self.conns, |b| {
                for (client_id, entries) in refills {
                    b.bridge_refill(&client_id, entries, now);
                }
            });
            self.flush_writable();
        }
        let Some(store) = self.conns.store.as_mut() else {
            return;
        };
        let gen = store.turn(self.core.get(), now);
        if !self.core.get().holds_acks() {
            return;
        }
        let synced = store.synced();
        self.core.call(&mut self.conns, |b| {
            b.seal_acks(gen);
            b.release_acks(synced, now);
        });
        self.flush_writable();
    }

    /// When the store wants the loop to run next (a save falls due).
    pub(super) fn store_deadline(&self) -> Option<Instant> {
        self.conns.store.as_ref().and_then(Store::next_deadline)
    }

    /// The store's counters, for the core's `$SYS` topics.
    pub(super) fn store_stats(&self) -> Option<crate::broker::StoreStats> {
        self.conns.store.as_ref().map(Store::stats)
    }
}
