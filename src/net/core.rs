//! The reactor's hold on the broker core, and the connections the core's effects act on.
//!
//! "After calling into the core, carry out its effects" is enforced by shape, not by
//! memory: the reactor owns the [`Broker`] only through a [`Core`], whose one door for
//! anything that may change the core's state is [`Core::call`]. It runs the call, then
//! carries every [`Effect`] out on the [`Connections`] before it returns, so no caller can
//! forget to (and the broker's `poll_effect` is called nowhere else). Reading the core
//! (limits, deadlines, pending output) goes through [`Core::get`], which cannot produce
//! effects.

use super::pool::ClientPool;
use crate::broker::{Broker, CloseReason, ConnId, Effect};
use crate::store::Store;
use std::collections::VecDeque;

/// The broker core as the reactor holds it. See the module documentation.
pub(super) struct Core {
    /// The core; private, so that every mutable use goes through [`Core::call`].
    broker: Broker,
}

impl Core {
    /// Holds `broker`.
    pub(super) fn new(broker: Broker) -> Core {
        Core { broker }
    }

    /// The core, to read.
    #[inline]
    pub(super) fn get(&self) -> &Broker {
        &self.broker
    }

    /// Calls into the core with `f`, then carries out every effect it produced on
    /// `conns` before returning `f`'s result.
    #[inline]
    pub(super) fn call<R>(
        &mut self,
        conns: &mut Connections,
        f: impl FnOnce(&mut Broker) -> R,
    ) -> R {
        let result = f(&mut self.broker);
        if self.broker.may_have_effects() {
            self.carry_out(conns);
        }
        result
    }

    /// Carries out every effect the core has produced. Not inlined: `call` is inlined at
    /// each of its call sites, and one copy of this loop serves them all (it is not on a
    /// path where a call's cost shows).
    #[inline(never)]
    fn carry_out(&mut self, conns: &mut Connections) {
        while let Some(effect) = self.broker.poll_effect() {
            conns.apply(effect);
        }
    }
}

/// The connection slots and the work lists effects feed: the part of the reactor the
/// core's effects act on, split from the rest so both can be borrowed while a connection
/// is being read.
pub(super) struct Connections {
    /// Connection slots.
    pub(super) slots: ClientPool,
    /// Connections to read without a new readiness edge: resumed, or over their read
    /// budget last round.
    pub(super) ready: VecDeque<ConnId>,
    /// Connections whose large PUBLISH waits for the large-message allowance, oldest
    /// first: woken one at a time as the allowance frees.
    pub(super) large_waiters: VecDeque<LargeWaiter>,
    /// Connections to close, carried out when no connection is being read.
    pub(super) closing: VecDeque<ConnId>,
    /// Counters.
    pub(super) counters: Counters,
    /// The durable store the core's changes go to, when persistence is on.
    pub(super) store: Option<Store>,
    /// The first connection slot owned by a bridge (`net::bridges`); slots from here
    /// have no socket in `slots`.
    pub(super) bridge_base: usize,
    /// What the core asked of bridges' connections, for the reactor's bridge turn: a
    /// close (with its reason) or a resumed read (`None`).
    pub(super) bridge_events: VecDeque<(ConnId, Option<CloseReason>)>,
}

/// What the reactor counts (for logs now, `$SYS` later).
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Connections refused because every slot was taken.
    pub(super) refused_pool_full: u32,
    /// Connections refused because the process was out of file descriptors.
    pub(super) refused_no_fds: u32,
    /// Connections closed because the buffer budget could not be met.
    pub(super) out_of_memory: u32,
    /// Connections refused because their address failed to log in too often.
    pub(super) refused_login_limit: u32,
}

impl Connections {
    /// `size` empty connection slots.
    pub(super) fn new(size: usize) -> Connections {
        Connections {
            slots: ClientPool::new(size),
            ready: VecDeque::new(),
            large_waiters: VecDeque::new(),
            closing: VecDeque::new(),
            counters: Counters::default(),
            store: None,
            bridge_base: usize::MAX,
            bridge_events: VecDeque::new(),
        }
    }

    /// Carries out one effect of the core.
    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Close { conn, reason } if conn >= self.bridge_base => {
                self.bridge_events.push_back((conn, Some(reason)));
            }
            Effect::ResumeRead(conn) if conn >= self.bridge_base => {
                self.bridge_events.push_back((conn, None));
            }
            Effect::Close { conn, reason } => self.request_close(conn, reason),
            Effect::PauseRead(conn) => {
                if let Some(c) = self.slots.get_mut(conn) {
                    c.paused = true;
                }
            }
            Effect::ResumeRead(conn) => {
                let resumed = match self.slots.get_mut(conn) {
                    Some(c) if c.paused => {
                        c.paused = false;
                        true
                    }
                    _ => false,
                };
                if resumed {
                    // Its readiness edge may have passed while paused: read it ourselves.
                    self.queue_ready(conn);
                }
            }
            Effect::Durable(change) => {
                if let Some(store) = self.store.as_mut() {
                    store.record(change);
                }
            }
        }
    }

    /// Queues `id` to be closed (once) for `reason`.
    pub(super) fn request_close(&mut self, id: ConnId, reason: CloseReason) {
        if let Some(conn) = self.slots.get_mut(id) {
            if conn.closing.is_none() {
                conn.closing = Some(reason);
                self.closing.push_back(id);
            }
        }
    }

    /// Puts `id` on the ready list (once).
    pub(super) fn queue_ready(&mut self, id: ConnId) {
        if let Some(conn) = self.slots.get_mut(id) {
            if !conn.queued {
                conn.queued = true;
                self.ready.push_back(id);
            }
        }
    }
}

/// A connection whose large PUBLISH waits for the large-message allowance.
#[derive(Clone, Copy, Debug)]
pub(super) struct LargeWaiter {
    /// The connection.
    pub(super) conn: ConnId,
    /// The bytes its packet needs.
    pub(super) need: usize,
    /// Since when it waits.
    pub(super) since: std::time::Instant,
    /// The core was asked to make room for it (once).
    pub(super) reclaimed: bool,
}
