//! Accepting connections: listeners bound at start or retried until their address
//! exists, accepts per readiness event within a budget, TLS wrapping, and admission into
//! a slot of the client pool ([`Server::admit`]: where a new connection is admitted, or
//! refused when the pool is full, its address failed to log in too often, or the
//! process is out of descriptors).

use super::listener::Peer;
use super::ws_stream::WsStream;
use super::*;

/// A listening socket and the configured listener it belongs to.
pub(super) struct BoundListener {
    /// The socket.
    pub(super) listener: Listener,
    /// Index into the configured listeners (and `Limits::listeners`).
    pub(super) index: usize,
}

/// A bind target waiting for its address.
pub(super) struct UnboundTarget {
    /// What to bind.
    pub(super) target: BindTarget,
    /// Index into the configured listeners.
    pub(super) index: usize,
}

/// What [`Server::shed_one`] achieved.
pub(super) enum Shed {
    /// A pending connection was accepted and closed.
    Refused,
    /// The backlog was empty after all.
    Empty,
    /// No descriptor could be freed or the accept failed: back off.
    Failed,
}

/// Opens the spare descriptor kept for `EMFILE`.
pub(super) fn open_spare_fd() -> Option<std::fs::File> {
    match std::fs::File::open("/dev/null") {
        Ok(file) => Some(file),
        Err(e) => {
            log::warn!("cannot open the spare descriptor /dev/null: {e}");
            None
        }
    }
}

/// Whether an accept error means the process or system is out of descriptors.
pub(super) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
}

/// Whether an accept error concerns only the connection being accepted (it died in the
/// backlog, or was refused by a firewall): skip it and accept the next.
pub(super) fn is_transient_accept_error(e: &io::Error) -> bool {
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

impl Server {
    /// Wraps an accepted socket of configured listener `index` in TLS if it is a TLS
    /// listener, then in a WebSocket if it speaks MQTT over WebSockets.
    #[inline]
    pub(super) fn wrap(&self, stream: Stream, index: usize) -> io::Result<Stream> {
        let stream = self.wrap_tls(stream, index)?;
        Ok(match self.websockets.get(index).copied().flatten() {
            Some(headers_limit) => Stream::Ws(Box::new(WsStream::new(stream, headers_limit))),
            None => stream,
        })
    }

    /// Wraps an accepted socket of configured listener `index` in TLS if it is a TLS
    /// listener.
    #[inline]
    fn wrap_tls(&self, stream: Stream, index: usize) -> io::Result<Stream> {
        #[cfg(feature = "tls")]
        if let (Some(Some(config)), Stream::Tcp(_)) = (self.tls.get(index), &stream) {
            let conn = rustls::ServerConnection::new(config.clone())
                .map_err(|e| io::Error::other(e.to_string()))?;
            let Stream::Tcp(tcp) = stream else {
                unreachable!("matched above")
            };
            return Ok(Stream::Tls(Box::new(tls_stream::TlsStream::new(tcp, conn))));
        }
        let _ = index;
        Ok(stream)
    }

    /// Accepts from listener `k` until its backlog is empty (or its turn is over).
    pub(super) fn accept(&mut self, k: usize) {
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
    pub(super) fn accept_later(&mut self, k: usize, delay: Duration) {
        if !self.accept_again.contains(&k) {
            self.accept_again.push(k);
        }
        let at = Instant::now() + delay;
        self.accept_again_at = Some(self.accept_again_at.map_or(at, |t| t.min(at)));
    }

    /// Out of descriptors: frees the spare one, accepts and closes one connection, and
    /// reopens the spare.
    pub(super) fn shed_one(&mut self, k: usize) -> Shed {
        if self.spare_fd.take().is_none() {
            self.reopen_spare_fd();
            return Shed::Failed;
        }
        let accepted = match self.listeners.get(k).and_then(Option::as_ref) {
            Some(bound) => bound.listener.accept(),
            None => Err(io::ErrorKind::NotFound.into()),
        };
        let shed = match accepted {
            Ok((stream, peer)) => {
                drop(stream);
                let counters = &mut self.conns.counters;
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
        };
        // After the refused socket is closed: its descriptor is the one the spare takes
        // back (the process may have no other).
        self.reopen_spare_fd();
        shed
    }

    /// Opens the spare descriptor again; a failure is logged at most once per interval
    /// (it repeats on every accept attempt while the process is out of descriptors).
    fn reopen_spare_fd(&mut self) {
        match std::fs::File::open("/dev/null") {
            Ok(file) => self.spare_fd = Some(file),
            Err(e) => self.warn_spare_fd.warn(
                Instant::now(),
                format_args!("cannot open the spare descriptor /dev/null: {e}"),
            ),
        }
    }

    /// Gives an accepted socket a slot and tells the broker; refuses it if the pool is full.
    pub(super) fn admit(&mut self, stream: Stream, peer: Peer, listener: usize) {
        let now = self.turn_now;
        if !self.logins.is_empty() {
            if let Some(ip) = stream.peer_ip().filter(|&ip| self.logins.refuses(ip, now)) {
                drop(stream);
                let counters = &mut self.conns.counters;
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
        // A plain socket asks for writable edges only once a write blocks (`flush`):
        // epoll reports a new socket writable at once, which cost a turn of the loop per
        // connection in a paced connect storm (2.45 `epoll_wait` per cycle, now 2.3).
        let write_watched = !stream.writes_only_when_written();
        let conn = Connection {
            stream,
            write_watched,
            read: ReadState::new(),
            // Only logged: the broker keeps the listener number that decides policy.
            listener: u16::try_from(listener).unwrap_or(u16::MAX),
            paused: false,
            waiting: false,
            queued: false,
            closing: None,
        };
        let id = match self.conns.slots.insert(conn) {
            Ok(id) => id,
            Err(refused) => {
                drop(refused);
                let counters = &mut self.conns.counters;
                counters.refused_pool_full = counters.refused_pool_full.wrapping_add(1);
                if let Some(n) = self.warn_pool_full.hit(now) {
                    log::warn!(
                        "all {} connection slots in use: refused {n} connection(s) in the \
                         last 10 s (latest from {peer})",
                        self.conns.slots.capacity()
                    );
                }
                return;
            }
        };
        let registry = self.poll.registry();
        let registered = match self.conns.slots.get_mut(id) {
            Some(conn) => registry.register(&mut conn.stream, Token(id), interest(write_watched)),
            None => return,
        };
        if let Err(e) = registered {
            log::warn!("cannot register connection from {peer}: {e}");
            self.conns.slots.remove(id);
            return;
        }
        log::debug!("connection {id} from {peer} (listener {listener})");
        self.core
            .call(&mut self.conns, |b| b.accepted(id, listener, now));
    }

    /// Tries to bind the listeners whose address was not available yet.
    pub(super) fn retry_binds(&mut self, now: Instant) {
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
    pub(super) fn add_listener(&mut self, mut listener: Listener, index: usize) {
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
            let websockets = self.websockets.get(index).copied().flatten().is_some();
            log::info!("listening on {addr}{}", protocol_note(websockets));
        }
        self.listeners.push(Some(BoundListener { listener, index }));
        // Connections may have queued before registration: accept them.
        self.accept_later(k, Duration::ZERO);
    }
}

/// What epoll reports for a connection: readable edges, and writable ones when watched.
pub(super) fn interest(write_watched: bool) -> Interest {
    if write_watched {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    }
}
