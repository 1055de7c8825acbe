//! The client pool: one slot per possible connection, allocated once at start.
//!
//! A slot's index is the connection's `mio` [`Token`](mio::Token) and the broker's
//! [`ConnId`]. A slot holds connection *state* only (socket, read state, flow-control
//! flags); bytes live in the buffer pool, sessions in the broker. The pool never grows: a
//! connection beyond it is refused by the reactor.
//!
//! The slot table is reserved at start but written only up to the highest slot used so
//! far (slots are handed out lowest first), so slots never used cost address space, not
//! resident memory.
//!
//! Freed slots are not reused until the current batch of readiness events is done
//! ([`ClientPool::recycle`]), so a stale event for a closed socket can never be taken for
//! its successor's.
//!
//! Sizing ([`pool_size`]): `max_connections`, or with `max_connections -1` the file
//! descriptor limit (raised to the hard limit at start) minus a reserve for the broker's own
//! descriptors, capped at [`MAX_POOL`] in both cases.

use super::listener::Stream;
use super::read::ReadState;
use crate::broker::{CloseReason, ConnId};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Most connection slots: 65,536. Tokens above it name the reactor's own sources, and a
/// slot table of this size (a few MB) is already more than a router should reserve.
pub const MAX_POOL: usize = 65_536;

/// Descriptors kept back from an automatically sized pool besides the listeners: epoll,
/// the waker, the signal fd, the spare fd for `EMFILE`, standard streams, syslog, the
/// config file on reload and a margin.
pub const FD_RESERVE: usize = 16;

/// Bytes of one slot of the pool, for the memory ceiling.
pub const SLOT_BYTES: usize = std::mem::size_of::<Option<Connection>>();

/// One accepted connection (48 bytes in a 64-bit release build, 56 with TLS, checked by a
/// test).
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    pub stream: Stream,
    /// Framing state and pending bytes.
    pub read: ReadState,
    /// Index of the configured listener it came through.
    pub listener: u16,
    /// Flow control: the broker asked to stop reading ([`crate::broker::Effect::PauseRead`]).
    pub paused: bool,
    /// The connection is on the ready list (to be read without a new readiness edge).
    pub queued: bool,
    /// A large PUBLISH of it waits for the large-message allowance (on
    /// `Connections::large_waiters`); nothing is read until it is woken.
    pub waiting: bool,
    /// A close was requested, with its reason; nothing more is read.
    pub closing: Option<CloseReason>,
    /// Writable edges are registered with epoll: from the start for a TLS or WebSocket
    /// stream, after its first blocked write for a plain one ([`Stream::writes_only_when_written`]).
    pub write_watched: bool,
}

/// The preallocated slot table. See the module documentation.
#[derive(Debug)]
pub struct ClientPool {
    /// One entry per slot used so far; `None` = free. Its capacity, reserved at start, is
    /// the pool size; it never reallocates.
    slots: Vec<Option<Connection>>,
    /// Number of slots: the capacity reserved for `slots`.
    size: usize,
    /// Freed slot numbers, reused before a never-used slot. `u32`: the pool has at most
    /// [`MAX_POOL`] slots.
    free: Vec<u32>,
    /// Slots freed during the current event batch, made reusable by [`ClientPool::recycle`].
    freed: Vec<u32>,
}

impl ClientPool {
    /// A pool of `size` slots (capped at [`MAX_POOL`]), all allocated now.
    pub fn new(size: usize) -> ClientPool {
        let size = size.clamp(1, MAX_POOL);
        ClientPool {
            slots: Vec::with_capacity(size),
            size,
            free: Vec::new(),
            freed: Vec::new(),
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.size
    }

    /// Puts `conn` into a free slot; gives it back if the pool is full.
    pub fn insert(&mut self, conn: Connection) -> Result<ConnId, Connection> {
        if let Some(id) = self.free.pop() {
            let id = id as usize;
            self.slots[id] = Some(conn);
            return Ok(id);
        }
        if self.slots.len() == self.size {
            return Err(conn);
        }
        self.slots.push(Some(conn));
        Ok(self.slots.len() - 1)
    }

    /// The connection in slot `id`, if any.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    /// Empties slot `id`; the slot becomes reusable after [`ClientPool::recycle`].
    pub fn remove(&mut self, id: ConnId) -> Option<Connection> {
        let conn = self.slots.get_mut(id)?.take()?;
        self.freed.push(id as u32);
        Some(conn)
    }

    /// Makes the slots freed since the last call reusable.
    pub fn recycle(&mut self) {
        self.free.append(&mut self.freed);
    }

    /// Slot numbers in use, for shutdown.
    pub fn occupied(&self) -> Vec<ConnId> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .collect()
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in force.
pub fn raise_fd_limit() -> Option<usize> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => return Some(usize::try_from(hard).unwrap_or(usize::MAX)),
            Err(e) => log::debug!("cannot raise RLIMIT_NOFILE from {soft} to {hard}: {e}"),
        }
    }
    Some(usize::try_from(soft).unwrap_or(usize::MAX))
}

/// The number of slots: `configured`, or when `auto` the descriptor limit minus the
/// reserve (`listeners` plus [`FD_RESERVE`]); always within `1..=MAX_POOL`. Warns when a
/// configured size cannot be reached with the descriptor limit.
pub fn pool_size(
    configured: usize,
    auto: bool,
    fd_limit: Option<usize>,
    listeners: usize,
) -> usize {
    let reserve = FD_RESERVE + listeners;
    let size = if auto {
        match fd_limit {
            Some(limit) => limit.saturating_sub(reserve),
            None => {
                log::warn!("cannot read RLIMIT_NOFILE; using {} connection slots", 1024);
                1024
            }
        }
    } else {
        if let Some(limit) = fd_limit {
            if configured.saturating_add(reserve) > limit {
                log::warn!(
                    "max_connections {configured} exceeds the file descriptor limit {limit} \
                     (minus {reserve} reserved); connections beyond it will be refused"
                );
            }
        }
        configured
    };
    if size > MAX_POOL {
        log::info!("connection pool capped at {MAX_POOL} slots (asked for {size})");
    }
    size.clamp(1, MAX_POOL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing() {
        assert_eq!(pool_size(100, false, Some(1024), 2), 100);
        assert_eq!(pool_size(100, true, Some(1024), 2), 1024 - 18);
        assert_eq!(pool_size(100, true, Some(10), 2), 1);
        assert_eq!(pool_size(1, true, Some(1 << 20), 2), MAX_POOL);
        assert_eq!(pool_size(1 << 20, false, None, 2), MAX_POOL);
    }

    #[test]
    fn fd_limit_is_readable() {
        assert!(raise_fd_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn slots_are_not_reused_before_recycle() {
        let mut pool = ClientPool::new(2);
        let conn = || {
            let (a, _b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
            Connection {
                stream: Stream::Unix(mio::net::UnixStream::from_std(a)),
                read: ReadState::new(),
                listener: 0,
                paused: false,
                waiting: false,
                queued: false,
                closing: None,
                write_watched: false,
            }
        };
        let a = pool.insert(conn()).expect("free slot");
        let b = pool.insert(conn()).expect("free slot");
        assert_eq!((a, b), (0, 1));
        assert!(pool.insert(conn()).is_err(), "full");
        assert!(pool.remove(a).is_some());
        assert!(pool.remove(a).is_none());
        assert!(pool.insert(conn()).is_err(), "freed slot waits for recycle");
        pool.recycle();
        assert_eq!(pool.insert(conn()).ok(), Some(a));
        assert_eq!(pool.occupied(), vec![0, 1]);
    }

    #[test]
    fn slots_are_small_and_written_only_when_first_used() {
        // mio adds a selector id to every socket in debug builds; the TLS variant of the
        // stream (a box) widens the stream enum in release builds.
        let expected = match (cfg!(debug_assertions), cfg!(feature = "tls")) {
            (true, _) => 64,
            (false, true) => 56,
            (false, false) => 48,
        };
        crate::broker::assert_size_of::<Option<Connection>>(expected);
        let pool = ClientPool::new(1000);
        assert_eq!((pool.capacity(), pool.slots.len()), (1000, 0));
        assert!(pool.occupied().is_empty());
    }
}
