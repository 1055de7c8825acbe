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
//! - **Effects**: after *every* call into the broker its effects are drained. A close is
//!   queued and carried out (one write attempt, then the socket is dropped and
//!   [`Broker::closed`] called) as soon as no connection is being read; pause and resume
//!   set a flag, and a resumed connection goes on the ready list because its readiness
//!   edge may have passed while it was paused.
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

mod buffer;
mod gather;
mod listener;
mod login_limit;
mod pool;
mod read;
mod reload;
mod throttle;
#[cfg(feature = "tls")]
mod tls;

#[cfg(feature = "tls")]
pub use tls::{receive_tls_records, send_tls_records, TLS_CONNECTION_BYTES};

pub use listener::LocalAddr;
pub use pool::SLOT_BYTES;

use crate::auth::Auth;
use crate::broker::{Broker, CloseReason, ConnId, Effect};
use crate::codec::{DecodeError, FixedHeader};
use crate::config::{Config, SlotSizes};
use crate::notify::Notifier;
use buffer::BufferPool;
use gather::Gather;
use listener::{BindError, BindTarget, Listener, Stream};
use login_limit::LoginLimiter;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use pool::{ClientPool, Connection, MAX_POOL};
use read::{Flow, Outcome, PacketSink, ReadState};
use reload::FixedSettings;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use throttle::LogThrottle;

/// The reactor's per-connection sizes, for the memory ceiling `config` computes (`sol
/// check`): `config` sits below `net` and cannot read them itself.
pub const SLOT_SIZES: SlotSizes = SlotSizes {
    reactor_slot: SLOT_BYTES,
    #[cfg(feature = "tls")]
    tls_connection: TLS_CONNECTION_BYTES,
    #[cfg(not(feature = "tls"))]
    tls_connection: 0,
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
    /// The protocol core.
    broker: Broker,
    /// Connection slots and the lists effects feed.
    fx: Reactor,
    /// Pending-bytes buffers of all connections, within `max_buffer_memory`.
    buffers: BufferPool,
    /// Where every read lands; packets are framed from here without copying.
    scratch: Box<[u8]>,
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
    warn_pool_full: LogThrottle,
    /// Throttled warnings.
    warn_no_fds: LogThrottle,
    /// Throttled warnings.
    warn_accept: LogThrottle,
    /// Throttled warnings.
    warn_oom: LogThrottle,
    /// Source addresses with recent failed logins.
    logins: LoginLimiter,
    /// Throttled warnings.
    warn_logins: LogThrottle,
    /// The TLS configuration of each configured listener (`None`: plain), replaced on
    /// SIGHUP; connections keep the configuration they were accepted with.
    #[cfg(feature = "tls")]
    tls: Vec<Option<Arc<rustls::ServerConfig>>>,
}

/// The part of the reactor that effects act on, split from the broker so both can be
/// borrowed while a connection is being read.
struct Reactor {
    /// Connection slots.
    conns: ClientPool,
    /// Connections to read without a new readiness edge: resumed, or over their read
    /// budget last round.
    ready: VecDeque<ConnId>,
    /// Connections to close, carried out when no connection is being read.
    closing: VecDeque<ConnId>,
    /// Counters.
    counters: Counters,
}

/// What the reactor counts (for logs now, `$SYS` later).
#[derive(Debug, Default)]
struct Counters {
    /// Connections refused because every slot was taken.
    refused_pool_full: u32,
    /// Connections refused because the process was out of file descriptors.
    refused_no_fds: u32,
    /// Connections closed because the buffer budget could not be met.
    out_of_memory: u32,
    /// Connections refused because their address failed to log in too often.
    refused_login_limit: u32,
    /// Durable effects seen (no store yet).
    durable_ignored: u32,
}

/// A listening socket and the configured listener it belongs to.
struct BoundListener {
    /// The socket.
    listener: Listener,
    /// Index into the configured listeners (and `Limits::listeners`).
    index: usize,
}

/// A bind target waiting for its address.
struct UnboundTarget {
    /// What to bind.
    target: BindTarget,
    /// Index into the configured listeners.
    index: usize,
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
    pub fn new(config: Config) -> io::Result<Server> {
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
        let fixed = FixedSettings::of(&config);
        let mut limits = config.limits;
        limits.max_connections = size;

        let mut slots: Vec<Option<BoundListener>> = Vec::with_capacity(listeners.len());
        for (i, mut bound) in listeners.into_iter().enumerate() {
            poll.registry().register(
                &mut bound.listener,
                Token(LISTENER_BASE + i),
                Interest::READABLE,
            )?;
            if let Ok(addr) = bound.listener.local_addr() {
                log::info!("listening on {addr}");
            }
            slots.push(Some(bound));
        }
        let waker = Waker::new(poll.registry(), WAKER)?;
        log::info!("{size} connection slots");

        let mut broker = Broker::new(limits, now);
        broker.set_auth(auth);
        Ok(Server {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            broker,
            fx: Reactor {
                conns: ClientPool::new(size),
                ready: VecDeque::new(),
                closing: VecDeque::new(),
                counters: Counters::default(),
            },
            buffers: BufferPool::new(config.memory.block_size, config.memory.max_buffer_memory),
            scratch: vec![0u8; SCRATCH_SIZE].into_boxed_slice(),
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
            source: config.source,
            fixed,
            verbose: false,
            notifier: Notifier::disabled(),
            warn_pool_full: LogThrottle::default(),
            warn_no_fds: LogThrottle::default(),
            warn_accept: LogThrottle::default(),
            warn_oom: LogThrottle::default(),
            logins: LoginLimiter::default(),
            warn_logins: LogThrottle::default(),
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

    /// Handles SIGINT and SIGTERM (graceful stop) and SIGHUP (reload) in the event loop.
    ///
    /// The signals are blocked in the calling thread first (threads it starts later inherit
    /// the mask), so call this from the main thread before starting others.
    pub fn enable_signals(&mut self) -> io::Result<()> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGHUP);
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        self.poll.registry().register(
            &mut SourceFd(&fd.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )?;
        self.signals = Some(fd);
        Ok(())
    }

    /// Runs the event loop until SIGINT, SIGTERM or [`ServerHandle::shutdown`], then stops
    /// accepting, writes what the sockets take, closes every connection
    /// ([`CloseReason::Shutdown`]) and removes Unix socket files.
    pub fn run(&mut self) -> io::Result<()> {
        self.notifier.ready(&self.status());
        while !self.stop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.dispatch_events();
            let now = Instant::now();
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
            if self.broker.next_deadline().is_some_and(|at| at <= now) {
                self.broker.tick(now);
                self.drain_effects();
            }
            self.settle();
            self.fx.conns.recycle();
        }
        self.shutdown();
        Ok(())
    }

    /// How long to sleep: zero with work left over, else until the nearest deadline.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.fx.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        [
            self.broker.next_deadline(),
            self.bind_retry_at,
            self.accept_again_at,
            self.notifier.watchdog_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
    }

    /// Handles one batch of readiness events.
    fn dispatch_events(&mut self) {
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            match event.token() {
                WAKER => self.on_wake(),
                SIGNALS => self.on_signals(),
                Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
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

    /// Handles the [`ServerHandle`]'s requests.
    fn on_wake(&mut self) {
        if self.shared.shutdown.load(Ordering::SeqCst) {
            self.stop = true;
        }
        if self.shared.reload.swap(false, Ordering::SeqCst) {
            self.reload();
        }
    }

    /// Reads every pending signal.
    fn on_signals(&mut self) {
        loop {
            let Some(fd) = self.signals.as_ref() else {
                return;
            };
            match fd.read_signal() {
                Ok(Some(info)) => {
                    let signal = i32::try_from(info.ssi_signo)
                        .ok()
                        .and_then(|n| Signal::try_from(n).ok());
                    match signal {
                        Some(Signal::SIGHUP) => {
                            log::info!("SIGHUP: reloading the configuration");
                            self.reload();
                        }
                        Some(s @ (Signal::SIGINT | Signal::SIGTERM)) => {
                            log::info!("{s}: shutting down");
                            self.stop = true;
                        }
                        other => log::debug!("unexpected signal {other:?}"),
                    }
                }
                Ok(None) => return,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    log::warn!("reading the signal fd: {e}");
                    return;
                }
            }
        }
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

    /// A reload, told to systemd: reloading, then ready again with the outcome.
    fn reload(&mut self) {
        self.notifier.reloading();
        let status = if self.reload_config() {
            self.status()
        } else {
            format!(
                "{}; reload failed, running configuration kept",
                self.status()
            )
        };
        self.notifier.ready(&status);
    }

    /// Re-reads the config file and applies what can change at run time (see [`reload`]).
    /// False if the file has errors (nothing was changed).
    fn reload_config(&mut self) -> bool {
        let Some(path) = self.source.clone() else {
            log::info!("no configuration file to reload (running on built-in defaults)");
            return true;
        };
        let new = match Config::load(&path) {
            Ok(new) => new,
            Err(errors) => {
                for line in errors.to_string().lines() {
                    log::error!("{line}");
                }
                log::error!(
                    "{}: not reloaded, the running configuration is kept",
                    path.display()
                );
                return false;
            }
        };
        // The password and ACL files are part of the configuration: with errors in them
        // nothing is reloaded, as for errors in the file itself.
        let auth = match load_auth(&new) {
            Ok(auth) => auth,
            Err(errors) => {
                for line in errors {
                    log::error!("{line}");
                }
                log::error!(
                    "{}: not reloaded, the running configuration is kept",
                    path.display()
                );
                return false;
            }
        };
        let fixed = FixedSettings::of(&new);
        let changed = self.fixed.changed(&fixed);
        for setting in &changed {
            log::warn!("{}: {setting} changes need a restart", path.display());
        }
        #[cfg(feature = "tls")]
        if !changed.contains(&"listener") {
            self.reload_tls(&new);
        }
        self.buffers.set_budget(new.memory.max_buffer_memory);
        let mut limits = new.limits;
        limits.max_connections = self.fx.conns.capacity();
        if changed.contains(&"listener") {
            // The running listeners stay: keep the policies their numbers refer to.
            limits.listeners = self.broker.limits().listeners.clone();
        }
        self.broker.reconfigure(limits, Instant::now());
        self.drain_effects();
        self.broker.set_auth(auth);
        reload::apply_log(&new.log, self.verbose);
        log::info!("{}: configuration reloaded", path.display());
        true
    }

    /// Takes every TLS listener's configuration built when the new file was parsed (a
    /// file that could not be loaded failed the parse, so nothing got here). Connected
    /// clients keep their sessions (and the configuration they were accepted with); new
    /// connections get the new certificates.
    #[cfg(feature = "tls")]
    fn reload_tls(&mut self, new: &Config) {
        let configs = reload::tls_configs(new);
        for (i, (old, new)) in self.tls.iter().zip(&configs).enumerate() {
            if old.is_some() != new.is_some() {
                log::warn!("listener {i}: turning TLS on or off needs a restart");
            }
        }
        for (old, new) in self.tls.iter_mut().zip(configs) {
            if old.is_some() && new.is_some() {
                *old = new;
            }
        }
    }

    /// Wraps an accepted socket of configured listener `index` in TLS if it is a TLS
    /// listener.
    #[inline]
    fn wrap(&self, stream: Stream, index: usize) -> io::Result<Stream> {
        #[cfg(feature = "tls")]
        if let (Some(Some(config)), Stream::Tcp(_)) = (self.tls.get(index), &stream) {
            let conn = rustls::ServerConnection::new(config.clone())
                .map_err(|e| io::Error::other(e.to_string()))?;
            let Stream::Tcp(tcp) = stream else {
                unreachable!("matched above")
            };
            return Ok(Stream::Tls(Box::new(tls::TlsStream::new(tcp, conn))));
        }
        let _ = index;
        Ok(stream)
    }

    /// Accepts from listener `k` until its backlog is empty (or its turn is over).
    fn accept(&mut self, k: usize) {
        for _ in 0..ACCEPTS_PER_EVENT {
            let Some(bound) = self.listeners.get(k).and_then(Option::as_ref) else {
                return;
            };
            let index = bound.index;
            match bound.listener.accept() {
                Ok((stream, peer)) => match self.wrap(stream, index) {
                    Ok(stream) => self.admit(stream, peer, index),
                    Err(e) => log::warn!("connection from {peer}: TLS: {e}"),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_fd_exhaustion(&e) => match self.shed_one(k) {
                    Shed::Refused => {}
                    // Linux reports EMFILE before looking at the backlog: it may be empty.
                    Shed::Empty => return,
                    Shed::Failed => {
                        self.accept_later(k, ACCEPT_BACKOFF);
                        return;
                    }
                },
                Err(e) if is_transient_accept_error(&e) => {
                    log::debug!("accept: {e}");
                }
                Err(e) => {
                    if let Some(n) = self.warn_accept.hit(Instant::now()) {
                        log::warn!("accept failed ({n} times in the last 10 s): {e}");
                    }
                    self.accept_later(k, ACCEPT_BACKOFF);
                    return;
                }
            }
        }
        // More may be waiting: edge-triggered, so come back next round.
        self.accept_later(k, Duration::ZERO);
    }

    /// Schedules listener `k` to accept again after `delay`.
    fn accept_later(&mut self, k: usize, delay: Duration) {
        if !self.accept_again.contains(&k) {
            self.accept_again.push(k);
        }
        let at = Instant::now() + delay;
        self.accept_again_at = Some(self.accept_again_at.map_or(at, |t| t.min(at)));
    }

    /// Out of descriptors: frees the spare one, accepts and closes one connection, and
    /// reopens the spare.
    fn shed_one(&mut self, k: usize) -> Shed {
        if self.spare_fd.take().is_none() {
            self.spare_fd = open_spare_fd();
            return Shed::Failed;
        }
        let accepted = match self.listeners.get(k).and_then(Option::as_ref) {
            Some(bound) => bound.listener.accept(),
            None => Err(io::ErrorKind::NotFound.into()),
        };
        self.spare_fd = open_spare_fd();
        match accepted {
            Ok((stream, peer)) => {
                drop(stream);
                let counters = &mut self.fx.counters;
                counters.refused_no_fds = counters.refused_no_fds.wrapping_add(1);
                if let Some(n) = self.warn_no_fds.hit(Instant::now()) {
                    log::warn!(
                        "out of file descriptors: refused {n} connection(s) in the last 10 s, \
                         latest from {peer} (raise the descriptor limit or lower \
                         max_connections)"
                    );
                }
                Shed::Refused
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Shed::Empty,
            Err(_) => Shed::Failed,
        }
    }

    /// Gives an accepted socket a slot and tells the broker; refuses it if the pool is full.
    fn admit(&mut self, stream: Stream, peer: String, listener: usize) {
        let now = Instant::now();
        if !self.logins.is_empty() {
            if let Some(ip) = stream.peer_ip().filter(|&ip| self.logins.refuses(ip, now)) {
                drop(stream);
                let counters = &mut self.fx.counters;
                counters.refused_login_limit = counters.refused_login_limit.wrapping_add(1);
                if let Some(n) = self.warn_logins.hit(now) {
                    log::warn!(
                        "refused {n} connection(s) in the last 10 s from addresses with too \
                         many failed logins (latest {ip})"
                    );
                }
                return;
            }
        }
        let conn = Connection {
            stream,
            read: ReadState::new(),
            // Only logged: the broker keeps the listener number that decides policy.
            listener: u16::try_from(listener).unwrap_or(u16::MAX),
            paused: false,
            queued: false,
            closing: None,
        };
        let id = match self.fx.conns.insert(conn) {
            Ok(id) => id,
            Err(refused) => {
                drop(refused);
                let counters = &mut self.fx.counters;
                counters.refused_pool_full = counters.refused_pool_full.wrapping_add(1);
                if let Some(n) = self.warn_pool_full.hit(now) {
                    log::warn!(
                        "all {} connection slots in use: refused {n} connection(s) in the \
                         last 10 s (latest from {peer})",
                        self.fx.conns.capacity()
                    );
                }
                return;
            }
        };
        let registry = self.poll.registry();
        let registered = match self.fx.conns.get_mut(id) {
            Some(conn) => registry.register(
                &mut conn.stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            ),
            None => return,
        };
        if let Err(e) = registered {
            log::warn!("cannot register connection from {peer}: {e}");
            self.fx.conns.remove(id);
            return;
        }
        log::debug!("connection {id} from {peer} (listener {listener})");
        self.broker.accepted(id, listener, now);
        self.drain_effects();
    }

    /// Reads connection `id` until the socket is drained, its read budget is spent, it is
    /// paused or it closes. With `short_read_drains`, a read that does not fill the scratch
    /// buffer counts as drained (edge-triggered: later bytes raise a new edge), saving the
    /// `EAGAIN` read; the caller passes false when a FIN may be waiting behind the data,
    /// since its edge was already consumed.
    fn read_conn(&mut self, id: ConnId, short_read_drains: bool) {
        let now = Instant::now();
        let mut reads = 0;
        loop {
            let Some(conn) = self.fx.conns.get_mut(id) else {
                return;
            };
            if conn.paused || conn.closing.is_some() {
                return;
            }
            let short_read_drains = short_read_drains && !conn.stream.short_read_may_leave_bytes();
            if reads == READS_PER_EVENT {
                // Fairness: let the others have their turn; come back next round.
                self.fx.queue_ready(id);
                return;
            }
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.fx.request_close(id, CloseReason::PeerClosed);
                    return;
                }
                Ok(n) => {
                    reads += 1;
                    // The first plaintext follows the completed handshake: the broker
                    // learns the client certificate's identity before any packet.
                    if let Some(common_name) = conn.stream.take_client_identity() {
                        self.broker.client_certificate(id, common_name);
                    }
                    self.broker.bytes_received(n);
                    self.drain_effects();
                    let outcome = self.frame(id, n, now);
                    // Deliver what this read produced before reading more: subscribers
                    // drain while publishers are read, so a flood from many publishers
                    // does not overflow their queues between two writes.
                    self.flush_writable();
                    if outcome != Outcome::Open {
                        self.on_outcome(id, outcome);
                        return;
                    }
                    if short_read_drains && n < SCRATCH_SIZE {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("connection {id}: read: {e}");
                    self.fx.request_close(id, CloseReason::SocketError);
                    return;
                }
            }
        }
    }

    /// Frames the first `n` scratch bytes for `id` (after its pending bytes) and hands the
    /// packets to the broker.
    fn frame(&mut self, id: ConnId, n: usize, now: Instant) -> Outcome {
        self.with_read_state(id, now, |read, buffers, scratch, sink| {
            let max = sink.broker.limits().max_packet_size;
            read.feed(&scratch[..n], buffers, max, sink)
        })
    }

    /// Processes the bytes held back while `id` was paused.
    fn resume(&mut self, id: ConnId, now: Instant) -> Outcome {
        self.with_read_state(id, now, |read, buffers, _, sink| {
            let max = sink.broker.limits().max_packet_size;
            read.resume(buffers, max, sink)
        })
    }

    /// Runs `f` on the read state of `id` with a sink into the broker. The read state is
    /// moved out of the slot meanwhile, so the sink can apply effects to every slot.
    fn with_read_state(
        &mut self,
        id: ConnId,
        now: Instant,
        f: impl FnOnce(&mut ReadState, &mut BufferPool, &[u8], &mut BrokerSink<'_>) -> Outcome,
    ) -> Outcome {
        let Some(conn) = self.fx.conns.get_mut(id) else {
            return Outcome::Stopped;
        };
        let mut read = std::mem::take(&mut conn.read);
        let mut sink = BrokerSink {
            broker: &mut self.broker,
            fx: &mut self.fx,
            conn: id,
            now,
        };
        let outcome = f(&mut read, &mut self.buffers, &self.scratch, &mut sink);
        match self.fx.conns.get_mut(id) {
            Some(conn) => conn.read = read,
            None => read.clear(&mut self.buffers),
        }
        outcome
    }

    /// Carries out what the read state machine decided.
    fn on_outcome(&mut self, id: ConnId, outcome: Outcome) {
        match outcome {
            Outcome::Open | Outcome::Paused | Outcome::Stopped => {}
            Outcome::Close(reason) => {
                if reason == CloseReason::OutOfMemory {
                    let counters = &mut self.fx.counters;
                    counters.out_of_memory = counters.out_of_memory.wrapping_add(1);
                    if let Some(n) = self.warn_oom.hit(Instant::now()) {
                        log::warn!(
                            "read buffer budget ({} bytes allocated, {} buffers lent) \
                             exhausted: closed {n} connection(s) in the last 10 s ({} \
                             refusals since start)",
                            self.buffers.allocated(),
                            self.buffers.lent(),
                            self.buffers.refused()
                        );
                    }
                } else {
                    log::debug!("connection {id}: {reason:?}");
                }
                self.fx.request_close(id, reason);
            }
        }
    }

    /// Reads the connections on the ready list (resumed, or over budget last round): first
    /// the bytes they hold, then their sockets.
    fn read_ready(&mut self) {
        let now = Instant::now();
        for _ in 0..self.fx.ready.len() {
            let Some(id) = self.fx.ready.pop_front() else {
                break;
            };
            let Some(conn) = self.fx.conns.get_mut(id) else {
                continue;
            };
            conn.queued = false;
            if conn.paused || conn.closing.is_some() {
                continue;
            }
            match self.resume(id, now) {
                Outcome::Open => self.read_conn(id, false),
                outcome => self.on_outcome(id, outcome),
            }
            self.run_closes();
        }
    }

    /// Writes what the broker has for `id` until done or the socket is full: small
    /// segments packed into one buffer, large ones lent in place ([`gather`]).
    fn flush(&mut self, id: ConnId) {
        let now = Instant::now();
        loop {
            let Some(conn) = self.fx.conns.get_mut(id) else {
                return;
            };
            // TLS records left when the socket last blocked go first.
            match conn.stream.send_pending() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("connection {id}: write: {e}");
                    self.fx.request_close(id, CloseReason::SocketError);
                    return;
                }
            }
            if !self.broker.has_output(id) {
                return;
            }
            let mut out = [IoSlice::new(&[]); gather::MAX_OUT];
            let (n, total) = self.gather.pack(self.broker.output(id), &mut out);
            if total == 0 {
                return;
            }
            match conn.stream.write_vectored(&out[..n]) {
                Ok(0) => {
                    self.fx.request_close(id, CloseReason::SocketError);
                    return;
                }
                Ok(n) => {
                    self.broker.written(id, n, now);
                    self.drain_effects();
                    if n < total {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("connection {id}: write: {e}");
                    self.fx.request_close(id, CloseReason::SocketError);
                    return;
                }
            }
        }
    }

    /// Flushes every connection the broker has new output for.
    fn flush_writable(&mut self) {
        while let Some(id) = self.broker.poll_writable() {
            self.flush(id);
        }
    }

    /// Drains the broker's effects into the reactor.
    fn drain_effects(&mut self) {
        drain_effects(&mut self.broker, &mut self.fx);
    }

    /// Writes everything the broker queued and carries out every requested close, until
    /// neither produces more (closing publishes wills, writing releases publishers).
    fn settle(&mut self) {
        loop {
            self.run_closes();
            self.flush_writable();
            if self.fx.closing.is_empty() {
                return;
            }
        }
    }

    /// Carries out the requested closes.
    fn run_closes(&mut self) {
        while let Some(id) = self.fx.closing.pop_front() {
            let reason = match self.fx.conns.get_mut(id) {
                Some(conn) => conn.closing.unwrap_or(CloseReason::SocketError),
                None => continue,
            };
            self.close_now(id, reason);
        }
    }

    /// One write attempt (a refusing CONNACK must reach the client), then drops the socket,
    /// frees the slot and its buffer, and tells the broker.
    fn close_now(&mut self, id: ConnId, reason: CloseReason) {
        self.flush(id);
        let Some(mut conn) = self.fx.conns.remove(id) else {
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
        self.broker.closed(id, reason, Instant::now());
        self.drain_effects();
    }

    /// Tries to bind the listeners whose address was not available yet.
    fn retry_binds(&mut self, now: Instant) {
        for pending in std::mem::take(&mut self.unbound) {
            match listener::bind(&pending.target) {
                Ok(bound) => {
                    for listener in bound.listeners {
                        self.add_listener(listener, pending.index);
                    }
                    for (target, why) in bound.retry {
                        log::debug!("{why}; retrying");
                        self.unbound.push(UnboundTarget {
                            target,
                            index: pending.index,
                        });
                    }
                }
                Err(BindError::Retry(why)) => {
                    log::debug!("{why}; retrying");
                    self.unbound.push(pending);
                }
                Err(BindError::Unsupported(why)) => log::warn!("{why}; skipped"),
                Err(BindError::Fatal(e)) => log::error!("{e}; listener abandoned"),
            }
        }
        self.bind_retry_at = (!self.unbound.is_empty()).then(|| now + BIND_RETRY);
    }

    /// Registers a newly bound listener.
    fn add_listener(&mut self, mut listener: Listener, index: usize) {
        let k = self.listeners.len();
        if let Err(e) = self.poll.registry().register(
            &mut listener,
            Token(LISTENER_BASE + k),
            Interest::READABLE,
        ) {
            log::error!("cannot register a listener: {e}");
            return;
        }
        if let Ok(addr) = listener.local_addr() {
            log::info!("listening on {addr}");
        }
        self.listeners.push(Some(BoundListener { listener, index }));
        // Connections may have queued before registration: accept them.
        self.accept_later(k, Duration::ZERO);
    }

    /// Graceful stop: closes the listeners (removing Unix socket files), writes what each
    /// socket takes now, and closes every connection.
    fn shutdown(&mut self) {
        self.notifier.stopping();
        for slot in &mut self.listeners {
            if let Some(mut bound) = slot.take() {
                let _ = self.poll.registry().deregister(&mut bound.listener);
            }
        }
        self.unbound.clear();
        let open = self.fx.conns.occupied();
        for &id in &open {
            self.flush(id);
        }
        for id in open {
            self.close_now(id, CloseReason::Shutdown);
        }
        self.settle();
        self.fx.conns.recycle();
        debug_assert_eq!(
            self.buffers.lent(),
            0,
            "every closed connection gave its buffer back"
        );
        log::info!(
            "stopped ({} refused: pool full, {} refused: no descriptors, {} closed: out of \
             buffer memory, {} durable effects not stored)",
            self.fx.counters.refused_pool_full,
            self.fx.counters.refused_no_fds,
            self.fx.counters.out_of_memory,
            self.fx.counters.durable_ignored
        );
    }
}

impl Reactor {
    /// Queues `id` to be closed (once) for `reason`.
    fn request_close(&mut self, id: ConnId, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.closing.is_none() {
                conn.closing = Some(reason);
                self.closing.push_back(id);
            }
        }
    }

    /// Puts `id` on the ready list (once).
    fn queue_ready(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.queued {
                conn.queued = true;
                self.ready.push_back(id);
            }
        }
    }
}

/// Applies every pending effect of `broker` to the reactor.
fn drain_effects(broker: &mut Broker, fx: &mut Reactor) {
    while let Some(effect) = broker.poll_effect() {
        match effect {
            Effect::Close { conn, reason } => fx.request_close(conn, reason),
            Effect::PauseRead(conn) => {
                if let Some(c) = fx.conns.get_mut(conn) {
                    c.paused = true;
                }
            }
            Effect::ResumeRead(conn) => {
                let resumed = match fx.conns.get_mut(conn) {
                    Some(c) if c.paused => {
                        c.paused = false;
                        true
                    }
                    _ => false,
                };
                if resumed {
                    // Its readiness edge may have passed while paused: read it ourselves.
                    fx.queue_ready(conn);
                }
            }
            Effect::Durable(_) => {
                fx.counters.durable_ignored = fx.counters.durable_ignored.wrapping_add(1);
            }
        }
    }
}

/// The read state machine's consumer under the reactor: decodes each frame, hands it to
/// the broker and drains the effects at once, so the next packet sees them.
struct BrokerSink<'a> {
    /// The core.
    broker: &'a mut Broker,
    /// Where effects go.
    fx: &'a mut Reactor,
    /// The connection being read.
    conn: ConnId,
    /// The time of this read.
    now: Instant,
}

impl BrokerSink<'_> {
    /// What the effects so far mean for the connection being read.
    fn flow(&mut self) -> Flow {
        match self.fx.conns.get_mut(self.conn) {
            None => Flow::Stop,
            Some(c) if c.closing.is_some() => Flow::Stop,
            Some(c) if c.paused => Flow::Pause,
            Some(_) => Flow::Continue,
        }
    }
}

impl PacketSink for BrokerSink<'_> {
    fn packet(&mut self, header: &FixedHeader, frame: &[u8]) -> Flow {
        let body = &frame[header.header_len..];
        self.broker.receive(self.conn, header, body, self.now);
        drain_effects(self.broker, self.fx);
        self.flow()
    }

    fn malformed(&mut self, error: DecodeError) {
        log::debug!("connection {}: malformed header: {error}", self.conn);
        self.broker.malformed(self.conn, error, self.now);
        drain_effects(self.broker, self.fx);
    }
}

/// What [`Server::shed_one`] achieved.
enum Shed {
    /// A pending connection was accepted and closed.
    Refused,
    /// The backlog was empty after all.
    Empty,
    /// No descriptor could be freed or the accept failed: back off.
    Failed,
}

/// The password file and ACL a configuration names.
fn load_auth(config: &Config) -> Result<Auth, Vec<String>> {
    config
        .load_auth()
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

/// Opens the spare descriptor kept for `EMFILE`.
fn open_spare_fd() -> Option<std::fs::File> {
    match std::fs::File::open("/dev/null") {
        Ok(file) => Some(file),
        Err(e) => {
            log::warn!("cannot open the spare descriptor /dev/null: {e}");
            None
        }
    }
}

/// Whether an accept error means the process or system is out of descriptors.
fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
}

/// Whether an accept error concerns only the connection being accepted (it died in the
/// backlog, or was refused by a firewall): skip it and accept the next.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(
            Errno::ECONNABORTED
                | Errno::ECONNRESET
                | Errno::EPROTO
                | Errno::EPERM
                | Errno::ENETDOWN
                | Errno::ENOPROTOOPT
                | Errno::EHOSTDOWN
                | Errno::ENONET
                | Errno::EHOSTUNREACH
                | Errno::EOPNOTSUPP
                | Errno::ENETUNREACH
        )
    )
}
