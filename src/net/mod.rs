//! The `mio` reactor: sockets in, broker calls out, effects carried out.
//!
//! One edge-triggered [`mio::Poll`] watches the listeners, every accepted connection, a
//! [`mio::Waker`] (for [`ServerHandle`]) and, once [`Server::enable_signals`] was called,
//! a `signalfd` for SIGINT, SIGTERM and SIGHUP. The reactor owns the sockets and the clock
//! and nothing else: every protocol decision is the [`Broker`]'s.
//!
//! # Data flow
//!
//! - **Accept** ([`listener`]): a connection gets a slot of the preallocated [`pool`]; its
//!   slot number is its `mio` token and its broker [`ConnId`]. With every slot taken the
//!   connection is closed at once. With no file descriptor left (`EMFILE`), a spare
//!   descriptor kept for the purpose is closed, the pending connection accepted and
//!   closed, and the spare reopened, so the listener's backlog never wedges the loop.
//! - **Read** ([`read`]): up to [`READS_PER_EVENT`] reads into one reactor-wide scratch
//!   buffer per connection and event (a busy connection is put on the ready list to be
//!   read again next round, so one client cannot starve the others); whole packets are
//!   framed from the scratch buffer without copying and handed to [`Broker::handle`]. Only
//!   partial packets, and bytes held back by flow control, are copied into a block of the
//!   bounded [`buffer`] pool.
//! - **Effects**: the reactor holds the broker only through [`core::Core`], whose one
//!   door for calls that may change the core carries their effects out before it returns,
//!   so every call's effects are drained by construction. A close is queued and carried
//!   out (one write attempt, then the socket is dropped and [`Broker::closed`] called) as
//!   soon as no connection is being read; pause and resume set a flag, and a resumed
//!   connection goes on the ready list because its readiness edge may have passed while
//!   it was paused.
//! - **Write**: connections named by [`Broker::poll_writable`] are flushed after every
//!   read (so subscribers drain while publishers are read) and when they turn writable.
//!   One `writev` carries up to 64 KiB: [`gather`] packs small segments of the broker's
//!   frames into one buffer and lends large payloads in place.
//! - **Time**: the poll timeout is the broker's next deadline (or a listener retry, or
//!   the systemd watchdog when there is one), so an idle broker sleeps. Only the monotonic
//!   clock is used.
//! - **systemd**: the reactor owns a [`Notifier`] (disabled unless
//!   [`Server::set_notifier`] gave it one) and tells it when it is ready (start of
//!   [`Server::run`]), reloading and ready again (around a reload), and stopping (start of
//!   the graceful stop); every loop iteration offers it the chance to pet the watchdog,
//!   so a hung loop stops petting.
//!
//! Tokens: slots are `0..MAX_POOL`; the reactor's own sources sit above ([`WAKER`],
//! [`SIGNALS`], listeners from [`LISTENER_BASE`]).
//!
//! # Files
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Server`] (the reactor), its start-up and event loop |
//! | `core.rs` | the hold on the broker ([`core::Core`]) and the connections its effects act on |
//! | `accept.rs` | binding and accepting; where a new connection is admitted or refused |
//! | `receive.rs`, `read.rs` | reading sockets; the per-connection read state machine |
//! | `write.rs`, `gather.rs` | the write path; packing output for `writev` |
//! | `close.rs` | closing connections, the graceful stop |
//! | `signals.rs`, `reload.rs` | SIGINT/SIGTERM/SIGHUP and handles; applying a reload |
//! | `store.rs` | the durable store: restore at start, saves each turn, acks held for it |
//! | `listener.rs`, `tls_stream.rs` | sockets (TCP, Unix, TLS streams) |
//! | `pool.rs`, `buffer.rs`, `login_limit.rs` | the client pool, the buffer pool, failed-login limits |

mod accept;
mod bridges;
mod buffer;
mod close;
mod core;
mod gather;
mod listener;
mod login_limit;
mod pool;
mod read;
mod receive;
mod reload;
mod signals;
mod store;
#[cfg(feature = "tls")]
mod tls_stream;
mod upstream;
mod write;
mod ws_stream;

#[cfg(feature = "tls")]
pub use tls_stream::{receive_tls_records, send_tls_records, TLS_CONNECTION_BYTES};

pub use listener::LocalAddr;
pub use pool::SLOT_BYTES;
pub use store::STORE_STOP_WAIT;
pub use ws_stream::WS_CONNECTION_BYTES;

use crate::broker::{earliest, Broker, CloseReason, ConnId, Tick};
use crate::codec::{DecodeError, FixedHeader};
use crate::config::{Config, ListenerProtocol, SlotSizes};
use crate::log::Throttle;
use crate::notify::Notifier;
use accept::{open_spare_fd, BoundListener, UnboundTarget};
use buffer::BufferPool;
use core::{Connections, Core};
use gather::Gather;
use listener::{BindError, BindTarget, Listener, Stream};
use login_limit::LoginLimiter;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use pool::{Connection, MAX_POOL};
use read::{Flow, Outcome, PacketSink, ReadState};
use reload::{load_auth, FixedSettings};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deadlines further than this from the start of a reactor turn are timed from that
/// start: the poll's timeout is then long by the turn's length (microseconds, at most
/// the read budgets' worth), which no deadline that far away notices (keep-alive,
/// `$SYS`, session expiry and slow consumers are checked on whole seconds), and the
/// clock is read once per turn instead of twice. Nearer ones read the clock again.
const CLOCK_READ_WITHIN: Duration = Duration::from_secs(1);

/// The reactor's per-connection sizes, for the memory ceiling `config` computes (`sol
/// check`): `config` sits below `net` and cannot read them itself.
pub const SLOT_SIZES: SlotSizes = SlotSizes {
    reactor_slot: SLOT_BYTES,
    #[cfg(feature = "tls")]
    tls_connection: TLS_CONNECTION_BYTES,
    #[cfg(not(feature = "tls"))]
    tls_connection: 0,
    ws_connection: WS_CONNECTION_BYTES,
};

/// Token of the [`ServerHandle`]'s waker.
const WAKER: Token = Token(MAX_POOL);
/// Token of the signal fd.
const SIGNALS: Token = Token(MAX_POOL + 1);
/// Token of listener `i` is `LISTENER_BASE + i`.
const LISTENER_BASE: usize = MAX_POOL + 2;

/// Size of the reactor's read buffer, allocated once. Bounds what one read (and so what a
/// pause can leave pending) may bring in.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Reads per connection per readiness event before others get their turn (4 × 64 KiB).
pub const READS_PER_EVENT: usize = 4;
/// Frames of output after which a read is followed by a write, before the next read: a
/// subscriber's refilled inflight window (20 PUBLISHes by default) goes at once, and a
/// flood from many publishers cannot overflow a queue between two writes. Output of
/// packets read one at a time waits for the end of the turn and leaves in one write.
const WRITE_AFTER_FRAMES: usize = 16;
/// Connections accepted per listener per round before others get their turn.
const ACCEPTS_PER_EVENT: usize = 64;
/// Interval between attempts to bind a listener whose address is not available yet.
const BIND_RETRY: Duration = Duration::from_secs(5);
/// Pause before accepting again after an unexpected accept error or no spare descriptor.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Poll events fetched per wake-up.
const EVENTS_CAPACITY: usize = 1024;

/// The broker's network front: listeners, connections and the event loop.
pub struct Server {
    /// The readiness queue.
    poll: Poll,
    /// Event storage, reused by every poll.
    events: Events,
    /// The protocol core, called only through [`Core::call`], which carries out its effects.
    core: Core,
    /// Connection slots and the lists the core's effects feed.
    conns: Connections,
    /// Pending-bytes buffers of all connections, within `max_buffer_memory`.
    buffers: BufferPool,
    /// Where every read lands; packets are framed from here without copying.
    scratch: Box<[u8]>,
    /// The monotonic clock as the current turn began (read once when the poll returns):
    /// every read, write and timer of the turn uses it. A clock read costs about a
    /// hundred instructions, more than framing a small PUBLISH, and a turn lasts
    /// microseconds, far below the one-second granularity of the deadlines.
    turn_now: Instant,
    /// Packs small output segments for one write.
    gather: Gather,
    /// Bound listeners; `listeners[i]` has token `LISTENER_BASE + i`. `None` once closed.
    listeners: Vec<Option<BoundListener>>,
    /// Targets whose address was not available yet, retried every [`BIND_RETRY`].
    unbound: Vec<UnboundTarget>,
    /// When to retry `unbound`.
    bind_retry_at: Option<Instant>,
    /// Listeners with connections possibly left in their backlog.
    accept_again: Vec<usize>,
    /// When to accept from `accept_again` (now, or after a back-off).
    accept_again_at: Option<Instant>,
    /// A spare descriptor, closed to make room for accepting (and refusing) a connection
    /// when the process is out of descriptors.
    spare_fd: Option<std::fs::File>,
    /// SIGINT, SIGTERM and SIGHUP, once enabled.
    signals: Option<SignalFd>,
    /// State shared with [`ServerHandle`]s.
    shared: Arc<Shared>,
    /// Set by SIGINT/SIGTERM.
    stop: bool,
    /// The config file, re-read on SIGHUP.
    source: Option<PathBuf>,
    /// Settings that need a restart to change.
    fixed: FixedSettings,
    /// Passed to the log backend on reload.
    verbose: bool,
    /// systemd notifications (readiness, reload, stop, watchdog); disabled by default.
    notifier: Notifier,
    /// Throttled warnings.
    warn_pool_full: Throttle,
    /// Throttled warnings.
    warn_no_fds: Throttle,
    /// Throttled warnings.
    warn_accept: Throttle,
    /// Throttled warnings.
    warn_oom: Throttle,
    /// Throttled warnings: the spare descriptor could not be reopened.
    warn_spare_fd: Throttle,
    /// Source addresses with recent failed logins.
    logins: LoginLimiter,
    /// Throttled warnings.
    warn_logins: Throttle,
    /// The TLS configuration of each configured listener (`None`: plain), replaced on
    /// SIGHUP; connections keep the configuration they were accepted with.
    #[cfg(feature = "tls")]
    tls: Vec<Option<Arc<rustls::ServerConfig>>>,
    /// The bridges to upstream brokers, owning the connection slots after the pool's.
    links: bridges::Links,
    /// For each configured listener, `Some(websockets_headers_size)` if it speaks MQTT
    /// over WebSockets (`protocol websockets`), `None` for plain MQTT; the size is
    /// replaced on SIGHUP.
    websockets: Vec<Option<usize>>,
}

/// State shared between the reactor and its handles.
struct Shared {
    /// Wakes the poll.
    waker: Waker,
    /// A stop was requested.
    shutdown: AtomicBool,
    /// A config reload was requested.
    reload: AtomicBool,
}

/// Controls a running [`Server`] from another thread. `Send + Sync`; only `AtomicBool`s
/// (32-bit MIPS has no 64-bit atomics).
#[derive(Clone)]
pub struct ServerHandle {
    /// Flags and the waker.
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Asks [`Server::run`] to stop gracefully, as SIGTERM does.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Err(e) = self.shared.waker.wake() {
            log::error!("cannot wake the reactor for shutdown: {e}");
        }
    }

    /// Asks the server to re-read its config file, as SIGHUP does.
    pub fn reload(&self) {
        self.shared.reload.store(true, Ordering::SeqCst);
        if let Err(e) = self.shared.waker.wake() {
            log::error!("cannot wake the reactor for reload: {e}");
        }
    }
}

impl Server {
    /// Raises the descriptor limit, binds the listeners, sizes and allocates the client
    /// pool and creates the broker.
    ///
    /// Fails if a listener cannot be bound for a reason other than its address not being
    /// available yet (`EADDRINUSE`, `EACCES`, ...), or if no listener is bound or waiting.
    pub fn new(mut config: Config) -> io::Result<Server> {
        let auth = load_auth(&config)
            .map_err(|errors| io::Error::new(io::ErrorKind::InvalidData, errors.join("; ")))?;
        // Built when the configuration was parsed: a bad certificate failed that.
        #[cfg(feature = "tls")]
        let tls = reload::tls_configs(&config);
        let fd_limit = pool::raise_fd_limit();
        let poll = Poll::new()?;
        let now = Instant::now();

        let mut listeners = Vec::new();
        let mut unbound = Vec::new();
        for (index, listener_config) in config.listeners.iter().enumerate() {
            let mut targets = BindTarget::of(listener_config);
            let mut i = 0;
            while i < targets.len() {
                match listener::bind(&targets[i]) {
                    Ok(bound) => {
                        // Port 0 on all interfaces: IPv6 takes the port IPv4 got.
                        if let (Some(Listener::Tcp(l)), BindTarget::Tcp(a)) =
                            (bound.listeners.first(), &targets[i])
                        {
                            if a.port() == 0 {
                                let port = l.local_addr()?.port();
                                for t in &mut targets[i + 1..] {
                                    if let BindTarget::Tcp(other) = t {
                                        other.set_port(port);
                                    }
                                }
                            }
                        }
                        for listener in bound.listeners {
                            listeners.push(BoundListener { listener, index });
                        }
                        for (target, why) in bound.retry {
                            log::warn!("{why}; retrying every {}s", BIND_RETRY.as_secs());
                            unbound.push(UnboundTarget { target, index });
                        }
                    }
                    Err(BindError::Retry(why)) => {
                        log::warn!("{why}; retrying every {}s", BIND_RETRY.as_secs());
                        unbound.push(UnboundTarget {
                            target: targets[i].clone(),
                            index,
                        });
                    }
                    Err(BindError::Unsupported(why)) => log::warn!("{why}; skipped"),
                    Err(BindError::Fatal(e)) => return Err(e),
                }
                i += 1;
            }
        }
        if listeners.is_empty() && unbound.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no listener could be bound",
            ));
        }

        let size = pool::pool_size(
            config.limits.max_connections,
            config.max_connections_auto,
            fd_limit,
            listeners.len() + unbound.len(),
        );
        // Bridges' slots (and tokens) follow the pool's, below the reactor's own tokens.
        let size = size.min(MAX_POOL - config.bridges.len());
        let fixed = FixedSettings::of(&config);
        let websockets = websocket_listeners(&config);
        let links = bridges::Links::new(std::mem::take(&mut config.bridges), size);
        let mut limits = config.limits;
        // Each bridge owns a slot of the core after the pool's (its mio token too), and
        // its outbox's caps hold from the store's restore on.
        limits.max_connections = size + links.links.len();
        limits.bridge_outboxes = links
            .links
            .iter()
            .map(|l| {
                let local = l.bridge.local();
                (Box::from(local.client_id), local.outbox)
            })
            .collect();
        // The core records durable changes (and holds acks) only for a store.
        limits.track_durable = config.persistence.enabled;
        limits.ack_after_sync = config.persistence.enabled && config.persistence.sync;

        let mut slots: Vec<Option<BoundListener>> = Vec::with_capacity(listeners.len());
        for (i, mut bound) in listeners.into_iter().enumerate() {
            poll.registry().register(
                &mut bound.listener,
                Token(LISTENER_BASE + i),
                Interest::READABLE,
            )?;
            if let Ok(addr) = bound.listener.local_addr() {
                let websockets = websockets.get(bound.index).copied().flatten().is_some();
                log::info!("listening on {addr}{}", protocol_note(websockets));
            }
            slots.push(Some(bound));
        }
        let waker = Waker::new(poll.registry(), WAKER)?;
        log::info!("{size} connection slots");

        let mut broker = Broker::new(limits, now);
        broker.set_auth(auth);
        let core = Core::new(broker);
        Ok(Server {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            core,
            conns: Connections {
                bridge_base: size,
                ..Connections::new(size)
            },
            links,
            buffers: BufferPool::new(config.memory.block_size, config.memory.max_buffer_memory),
            scratch: vec![0u8; SCRATCH_SIZE].into_boxed_slice(),
            turn_now: now,
            gather: Gather::new(),
            listeners: slots,
            bind_retry_at: (!unbound.is_empty()).then(|| now + BIND_RETRY),
            unbound,
            accept_again: Vec::new(),
            accept_again_at: None,
            spare_fd: open_spare_fd(),
            signals: None,
            shared: Arc::new(Shared {
                waker,
                shutdown: AtomicBool::new(false),
                reload: AtomicBool::new(false),
            }),
            stop: false,
            #[cfg(feature = "tls")]
            tls,
            websockets,
            source: config.source,
            fixed,
            verbose: false,
            notifier: Notifier::disabled(),
            warn_pool_full: Throttle::default(),
            warn_no_fds: Throttle::default(),
            warn_accept: Throttle::default(),
            warn_oom: Throttle::default(),
            warn_spare_fd: Throttle::default(),
            logins: LoginLimiter::default(),
            warn_logins: Throttle::default(),
        })
    }

    /// The addresses the listeners accept on (with the real port when 0 was configured).
    pub fn local_addrs(&self) -> Vec<LocalAddr> {
        self.listeners
            .iter()
            .flatten()
            .filter_map(|b| b.listener.local_addr().ok())
            .collect()
    }

    /// A handle to stop or reload the server from another thread.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The verbose flag passed to the log backend when the config is reloaded.
    pub fn set_verbose(&mut self, verbose: bool) {
        self.verbose = verbose;
    }

    /// Sends systemd notifications through `notifier` (the default sends none).
    pub fn set_notifier(&mut self, notifier: Notifier) {
        self.notifier = notifier;
    }

    /// Runs the event loop until SIGINT, SIGTERM or [`ServerHandle::shutdown`], then stops
    /// accepting, writes what the sockets take, closes every connection
    /// ([`CloseReason::Shutdown`]) and removes Unix socket files.
    pub fn run(&mut self) -> io::Result<()> {
        // Deadlines are timed from the turn's start (`poll_timeout`): the first turn's is now.
        self.turn_now = Instant::now();
        self.start_bridges(self.turn_now);
        self.notifier.ready(&self.status());
        while !self.stop {
            // The core's next deadline, asked once per turn: a timer armed during the
            // turn is never due before the poll after it, which computes a zero timeout
            // if it is due by then.
            let core_deadline = self.core.get().next_tick();
            let timeout = self.poll_timeout(core_deadline);
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            self.turn_now = now;
            self.dispatch_events();
            self.notifier.poll_watchdog(now);
            self.read_ready();
            if self.accept_again_at.is_some_and(|at| at <= now) {
                self.accept_again_at = None;
                for k in std::mem::take(&mut self.accept_again) {
                    self.accept(k);
                }
            }
            if self.bind_retry_at.is_some_and(|at| at <= now) {
                self.retry_binds(now);
            }
            if core_deadline.is_some_and(|at| self.core.get().is_due(at, now)) {
                let stats = self.store_stats();
                self.core.call(&mut self.conns, |b| {
                    if let Some(stats) = stats {
                        b.set_store_stats(stats);
                    }
                    b.tick(now);
                });
            }
            self.publish_log_lines(now);
            self.bridges_turn(now);
            self.settle();
            // After the turn's writes, acknowledgements and closes freed what they free.
            self.wake_large_waiter(now);
            self.store_turn(now);
            self.conns.slots.recycle();
        }
        self.shutdown();
        Ok(())
    }

    /// Publishes the lines `log_dest topic` queued (`$SYS/broker/log/...`); a line
    /// logged while they are published is not queued for the topic again.
    fn publish_log_lines(&mut self, now: Instant) {
        crate::log::drain_topic(|lines| {
            self.core.call(&mut self.conns, |b| {
                for line in lines {
                    b.publish_log(line.topic, &line.payload, now);
                }
            });
        });
    }

    /// How long to sleep: zero with work left over, else until the nearest deadline
    /// (`core_deadline` is the core's, on its clock; the reactor's own are instants, most
    /// often none). A deadline more than [`CLOCK_READ_WITHIN`] after the turn's start is
    /// timed from that start, without reading the clock again.
    fn poll_timeout(&self, core_deadline: Option<Tick>) -> Option<Duration> {
        if !self.conns.ready.is_empty() || !self.conns.bridge_events.is_empty() {
            return Some(Duration::ZERO);
        }
        let start = self.turn_now;
        let reactor = earliest(self.bind_retry_at, self.accept_again_at);
        let others = earliest(self.notifier.watchdog_deadline(), self.store_deadline());
        let waiting = earliest(self.large_waiter_deadline(), self.links.deadline());
        let own = earliest(earliest(reactor, others), waiting);
        let own = own.map(|at| at.saturating_duration_since(start));
        let core = core_deadline.map(|t| self.core.get().wait_until(t, start));
        Some(sleep_for(earliest(core, own)?, start, Instant::now))
    }

    /// Handles one batch of readiness events.
    fn dispatch_events(&mut self) {
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            match event.token() {
                WAKER => self.on_wake(),
                SIGNALS => self.on_signals(),
                Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
                Token(id) if self.links.index(id).is_some() => {
                    if let Some(i) = self.links.index(id) {
                        self.link_event(i, event);
                    }
                }
                Token(id) => {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        // With the peer's FIN or an error pending, read until EOF/error.
                        let short_read_drains = !event.is_read_closed() && !event.is_error();
                        self.read_conn(id, short_read_drains);
                    }
                    if event.is_writable() {
                        self.flush(id);
                    }
                    self.run_closes();
                }
            }
        }
        self.events = events;
    }

    /// What systemd shows as the status of a running broker: the listening addresses.
    fn status(&self) -> String {
        let addrs: Vec<String> = self.local_addrs().iter().map(|a| a.to_string()).collect();
        let mut status = format!("listening on {}", addrs.join(", "));
        if !self.unbound.is_empty() {
            status.push_str(&format!(
                "; {} address(es) not available yet",
                self.unbound.len()
            ));
        }
        status
    }
}

/// How long to sleep for a deadline `wait` after the start of a turn, `turn_start`: a
/// deadline more than [`CLOCK_READ_WITHIN`] away is timed from the start; only a nearer
/// one asks `clock` for the time now and takes off what the turn took (one
/// `clock_gettime` a turn instead of two).
fn sleep_for(wait: Duration, turn_start: Instant, clock: impl FnOnce() -> Instant) -> Duration {
    if wait > CLOCK_READ_WITHIN {
        return wait;
    }
    wait.saturating_sub(clock().saturating_duration_since(turn_start))
}

/// For each configured listener, its `websockets_headers_size` if it speaks MQTT over
/// WebSockets.
fn websocket_listeners(config: &Config) -> Vec<Option<usize>> {
    config
        .listeners
        .iter()
        .map(|l| {
            (l.protocol == ListenerProtocol::WebSockets).then_some(config.websockets_headers_size)
        })
        .collect()
}

/// What the "listening on" line adds for a listener: its protocol, when it is not plain
/// MQTT.
pub(super) fn protocol_note(websockets: bool) -> &'static str {
    if websockets {
        " (WebSockets)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_far_deadline_is_timed_from_the_turn_and_a_near_one_from_the_clock() {
        let start = Instant::now();
        let unread = || -> Instant { panic!("the clock is not read for a far deadline") };
        assert_eq!(
            sleep_for(Duration::from_secs(5), start, unread),
            Duration::from_secs(5)
        );
        // Within a second the turn's own time may matter: the clock is read.
        let later = start + Duration::from_millis(100);
        assert_eq!(
            sleep_for(Duration::from_millis(300), start, || later),
            Duration::from_millis(200)
        );
        // Due already, or by the time the clock is read: no sleep.
        assert_eq!(sleep_for(Duration::ZERO, start, || later), Duration::ZERO);
        assert_eq!(
            sleep_for(Duration::from_millis(50), start, || later),
            Duration::ZERO
        );
    }
}
