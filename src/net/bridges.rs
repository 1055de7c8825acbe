//! The reactor's side of bridges: each bridge's socket to its upstream, in the same
//! `mio` loop as the clients. A bridge waits, resolves its address on a short-lived
//! thread (`getaddrinfo` blocks; the answer comes back through the reactor's waker),
//! connects without blocking, speaks MQTT through its [`Uplink`], and, once the upstream
//! accepts it, attaches its outbox session in the core to the connection slot it owns
//! (`base + index`, also its `mio` token). A failure detaches the session (messages
//! wait in it and in the store) and waits as the bridge's back-off says.
//!
//! This file owns sockets, timers and the calls into the core; what the bytes mean is
//! `bridge::uplink`'s, which address and how long to wait is `bridge::Bridge`'s.

use super::upstream::{self, UpStream};
use super::*;
use crate::bridge::uplink::{self as link, ConnectShape, ToCore, Uplink};
use crate::bridge::Bridge;
use crate::broker::CloseReason;
use crate::codec::QoS;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Mutex;

/// How long a TCP connect (and the upstream's CONNACK) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a bridge connected to another address checks whether its main one answers
/// again (`round_robin false`), and how long one check may take.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Most bytes of the core's output translated for one bridge per call.
const CORE_OUTPUT_CHUNK: usize = 64 * 1024;

/// The bridges of the reactor.
pub(super) struct Links {
    /// Connection slot (and token) of bridge 0; bridge `i` has `base + i`.
    pub(super) base: usize,
    /// The bridges, by index.
    pub(super) links: Vec<Link>,
    /// When the `$SYS` counters are published next (with `sys_interval`).
    pub(super) stats_at: Option<Instant>,
    /// The core's frames for a bridge, copied to be translated: one buffer, reused
    /// (at most [`CORE_OUTPUT_CHUNK`] plus a frame).
    frames: Vec<u8>,
}

/// One bridge and its connection.
pub(super) struct Link {
    /// The bridge.
    pub(super) bridge: Bridge,
    /// Where its connection is.
    phase: Phase,
    /// Counters as last published, to publish only changes.
    published: [u64; 6],
    /// While connected to another address than the main one (`round_robin false`):
    /// when to check the main one next, and the check under way.
    probe: (Option<Instant>, Option<Lookup>),
}

/// Where a bridge's connection is. (One per bridge, at most 64: the open connection's
/// size beside the others' does not matter, and it is the common case.)
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// Not connecting (`lazy` before its threshold, `once` after a failure, stopping).
    Idle,
    /// Connecting again at this time.
    Waiting(Instant),
    /// Resolving its address on a helper thread, since then.
    Resolving(Lookup, Instant),
    /// TCP connect under way, since then.
    Connecting(UpStream, Instant),
    /// Connected: MQTT under way.
    Open {
        /// The socket.
        stream: UpStream,
        /// The MQTT side.
        uplink: Uplink,
        /// The core's session is attached (CONNACK accepted).
        attached: bool,
        /// When a message last went either way (`idle_timeout` of lazy bridges).
        active: Instant,
        /// When the connection was opened (CONNACK must come within the timeout).
        since: Instant,
        /// When the keep-alive is due to be looked at ([`Uplink::tick`]).
        tick_at: Instant,
    },
}

impl Links {
    /// The bridges `configs`, owning slots from `base`.
    pub(super) fn new(configs: Vec<crate::config::BridgeConfig>, base: usize) -> Links {
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let links = configs
            .into_iter()
            .enumerate()
            .map(|(i, b)| Link {
                bridge: Bridge::new(b, seed.rotate_left(i as u32 * 7)),
                phase: Phase::Idle,
                published: [u64::MAX; 6],
                probe: (None, None),
            })
            .collect();
        Links {
            base,
            links,
            stats_at: None,
            frames: Vec::new(),
        }
    }

    /// The bridge index of connection slot `id`, if a bridge owns it.
    pub(super) fn index(&self, id: ConnId) -> Option<usize> {
        id.checked_sub(self.base).filter(|&i| i < self.links.len())
    }

    /// The nearest time a bridge has something to do.
    /// (What depends on traffic, a lazy bridge's threshold, is checked every turn: an
    /// idle broker with a connected bridge wakes for its keep-alive, probes and `$SYS`.)
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.links
            .iter()
            .filter_map(|l| match l.phase {
                Phase::Waiting(at) => Some(at),
                Phase::Connecting(_, since) | Phase::Resolving(_, since) => {
                    Some(since + CONNECT_TIMEOUT)
                }
                Phase::Open {
                    since,
                    attached: false,
                    ..
                } => Some(since + CONNECT_TIMEOUT),
                Phase::Open {
                    tick_at, active, ..
                } => {
                    let idle =
                        (!l.bridge.starts_at_once()).then(|| active + l.bridge.config.idle_timeout);
                    [Some(tick_at), idle, l.probe.0].into_iter().flatten().min()
                }
                _ => None,
            })
            .chain(self.stats_at)
            .min()
    }
}

impl Server {
    /// Sets up every bridge's outbox session in the core (after the store's restore)
    /// and starts the ones that connect at once.
    pub(super) fn start_bridges(&mut self, now: Instant) {
        let Server {
            core, conns, links, ..
        } = self;
        for (i, l) in links.links.iter_mut().enumerate() {
            core.call(conns, |b| {
                b.bridge_session(i, &l.bridge.local(), now);
                state_notification(b, &l.bridge, false, now);
            });
            if l.bridge.starts_at_once() {
                l.phase = Phase::Waiting(now);
            }
        }
        let interval = self.core.get().limits().sys_interval;
        if !self.links.links.is_empty() && !interval.is_zero() {
            self.links.stats_at = Some(now);
        }
    }

    /// Everything bridges have to do at `now`: attempts due, resolutions answered,
    /// timeouts, keep-alive, lazy starts and stops, the core's closes, `$SYS`.
    pub(super) fn bridges_turn(&mut self, now: Instant) {
        if self.links.links.is_empty() {
            return;
        }
        // Only what is asked now: a read that spends its budget asks again, next turn.
        for _ in 0..self.conns.bridge_events.len() {
            let Some((id, close)) = self.conns.bridge_events.pop_front() else {
                break;
            };
            let Some(i) = self.links.index(id) else {
                continue;
            };
            match close {
                Some(reason) => {
                    self.link_failed(i, &format!("closed by the broker: {reason:?}"), now)
                }
                None => self.read_link(i, now),
            }
        }
        for i in 0..self.links.links.len() {
            self.link_timers(i, now);
        }
        if self.links.stats_at.is_some_and(|at| at <= now) {
            let interval = self.core.get().limits().sys_interval;
            self.links.stats_at = Some(now + interval);
            self.publish_bridge_stats(now);
        }
    }

    /// Timers of bridge `i`.
    fn link_timers(&mut self, i: usize, now: Instant) {
        let threshold = self.links.links[i].bridge.config.threshold as usize;
        let idle_timeout = self.links.links[i].bridge.config.idle_timeout;
        let lazy = !self.links.links[i].bridge.starts_at_once();
        let queued = self.core.get().bridge_counts(i).queued;
        let l = &mut self.links.links[i];
        match &mut l.phase {
            Phase::Idle if lazy && queued >= threshold.max(1) => {
                log::info!(
                    "bridge {}: {queued} messages queued: connecting",
                    l.bridge.config.name
                );
                self.begin_resolve(i);
            }
            Phase::Waiting(at) if *at <= now => self.begin_resolve(i),
            Phase::Resolving(lookup, since) => match lookup.answer() {
                Some(Ok(addrs)) => self.begin_connect(i, addrs, now),
                Some(Err(e)) => self.link_failed(i, &format!("cannot resolve: {e}"), now),
                None if now.duration_since(*since) >= CONNECT_TIMEOUT => {
                    self.link_failed(i, "no answer from the resolver", now)
                }
                None => {}
            },
            Phase::Connecting(_, since) if now.duration_since(*since) >= CONNECT_TIMEOUT => {
                self.link_failed(i, "connect timed out", now)
            }
            Phase::Open {
                attached: false,
                since,
                ..
            } if now.duration_since(*since) >= CONNECT_TIMEOUT => {
                self.link_failed(i, "no CONNACK from the upstream", now)
            }
            Phase::Open {
                uplink,
                active,
                tick_at,
                ..
            } => {
                if lazy && uplink.is_up() && now.duration_since(*active) >= idle_timeout {
                    log::info!("bridge {}: idle: disconnecting", l.bridge.config.name);
                    uplink.disconnect();
                    self.write_link(i, now);
                    self.close_link(i, now);
                    self.links.links[i].phase = Phase::Idle;
                    return;
                }
                match uplink.tick(now) {
                    Ok(next) => {
                        *tick_at = next;
                        // Only a PINGREQ it just queued needs writing here.
                        if !uplink.output().is_empty() {
                            self.write_link(i, now);
                        }
                    }
                    Err(why) => return self.link_failed(i, &why, now),
                }
                self.probe_main(i, now);
            }
            _ => {}
        }
    }

    /// While bridge `i` is connected to another address than its main one (`round_robin
    /// false`): every [`PROBE_INTERVAL`], a helper thread checks whether the main one
    /// accepts a TCP connection; when it does, the bridge disconnects and goes back.
    fn probe_main(&mut self, i: usize, now: Instant) {
        let l = &mut self.links.links[i];
        if !l.bridge.probes_main() {
            l.probe = (None, None);
            return;
        }
        if let Some(lookup) = &l.probe.1 {
            match lookup.answer() {
                Some(Ok(_)) => {
                    let main = l.bridge.main_address();
                    log::info!(
                        "bridge {}: the main address {main} answers again: moving back",
                        l.bridge.config.name,
                    );
                    l.probe = (None, None);
                    if let Phase::Open { uplink, .. } = &mut l.phase {
                        uplink.disconnect();
                    }
                    self.write_link(i, now);
                    self.close_link(i, now);
                    let l = &mut self.links.links[i];
                    l.bridge.back_to_main();
                    l.phase = Phase::Waiting(now);
                }
                Some(Err(_)) => l.probe.1 = None,
                None => {}
            }
            return;
        }
        match l.probe.0 {
            None => l.probe.0 = Some(now + PROBE_INTERVAL),
            Some(at) if at <= now => {
                l.probe.0 = Some(now + PROBE_INTERVAL);
                let main = l.bridge.main_address().clone();
                l.probe.1 = Lookup::start(main, true, &self.shared).ok();
            }
            Some(_) => {}
        }
    }

    /// Starts resolving bridge `i`'s current address on a helper thread.
    fn begin_resolve(&mut self, i: usize) {
        let address = self.links.links[i].bridge.address().clone();
        self.links.links[i].phase = match Lookup::start(address, false, &self.shared) {
            Ok(lookup) => Phase::Resolving(lookup, Instant::now()),
            Err(e) => {
                log::warn!("bridge: cannot start a resolver thread: {e}");
                Phase::Waiting(Instant::now() + Duration::from_secs(1))
            }
        };
    }

    /// Bridge `i`'s address resolved to `addrs`: connects to the first.
    fn begin_connect(&mut self, i: usize, addrs: Vec<SocketAddr>, now: Instant) {
        let l = &self.links.links[i];
        let cfg = &l.bridge.config;
        let Some(&addr) = addrs.first() else {
            return self.link_failed(i, "the name has no address", now);
        };
        let opened = upstream::connect(addr, cfg.bind_address).and_then(|tcp| {
            // Small packets waiting for acknowledgements: Nagle's algorithm would hold
            // each behind the upstream's delayed ACK.
            tcp.set_nodelay(true)?;
            let mut stream = wrap(cfg, &l.bridge.address().host, tcp)?;
            let token = Token(self.links.base + i);
            self.poll.registry().register(
                stream.tcp(),
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                log::debug!("bridge {}: connecting to {addr}", cfg.name);
                self.links.links[i].phase = Phase::Connecting(stream, now);
            }
            Err(e) => self.link_failed(i, &format!("cannot connect to {addr}: {e}"), now),
        }
    }

    /// A readiness event for bridge `i`'s socket.
    pub(super) fn link_event(&mut self, i: usize, event: &mio::event::Event) {
        let now = Instant::now();
        if let Phase::Connecting(stream, _) = &mut self.links.links[i].phase {
            let tcp = stream.tcp();
            match tcp.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    return self.link_failed(i, &format!("cannot connect: {e}"), now);
                }
            }
            if tcp.peer_addr().is_err() {
                if event.is_error() || event.is_write_closed() {
                    return self.link_failed(i, "connection refused", now);
                }
                return;
            }
            let Phase::Connecting(stream, _) =
                std::mem::replace(&mut self.links.links[i].phase, Phase::Idle)
            else {
                return;
            };
            let l = &mut self.links.links[i];
            let receive_maximum = link::receive_maximum(&l.bridge.config);
            let uplink = Uplink::new(
                &l.bridge.config,
                receive_maximum,
                l.bridge.connect_shape(),
                now,
            );
            l.phase = Phase::Open {
                stream,
                uplink,
                attached: false,
                active: now,
                since: now,
                tick_at: now,
            };
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read_link(i, now);
        }
        self.write_link(i, now);
    }

    /// Reads what bridge `i`'s upstream sent and hands it to the core.
    fn read_link(&mut self, i: usize, now: Instant) {
        let id = self.links.base + i;
        for _ in 0..READS_PER_EVENT {
            if self.core.get().is_paused(id) {
                return;
            }
            let Phase::Open { stream, .. } = &mut self.links.links[i].phase else {
                return;
            };
            let n = match stream.read(&mut self.scratch) {
                Ok(0) => return self.link_failed(i, "the upstream closed the connection", now),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.link_failed(i, &format!("read: {e}"), now),
            };
            let Server {
                core,
                conns,
                links,
                scratch,
                ..
            } = self;
            let l = &mut links.links[i];
            let Phase::Open {
                uplink,
                attached,
                active,
                ..
            } = &mut l.phase
            else {
                return;
            };
            let before = uplink.sent.received;
            let mut up = false;
            let result = uplink.received(
                &scratch[..n],
                now,
                &l.bridge.config,
                &l.bridge.mappings,
                &mut |ev| match ev {
                    ToCore::Up {
                        receive_maximum,
                        maximum_packet_size,
                    } => {
                        core.call(conns, |b| {
                            b.bridge_attach(id, i, receive_maximum, maximum_packet_size, now)
                        });
                        up = true;
                    }
                    ToCore::Packet(p) => core.call(conns, |b| b.handle(id, p, now)),
                },
            );
            if uplink.sent.received != before {
                *active = now;
            }
            if up {
                *attached = true;
                l.bridge.connected();
                log::info!(
                    "bridge {}: connected to {}",
                    l.bridge.config.name,
                    l.bridge.address()
                );
                core.call(conns, |b| state_notification(b, &l.bridge, true, now));
            }
            if let Err(why) = result {
                if let Some(shape) = uplink.reshaped() {
                    return self.reconnect_reshaped(i, &why, shape, now);
                }
                return self.link_failed(i, &why, now);
            }
            self.write_link(i, now);
        }
        // Its read budget is spent: the rest next turn, after the others'.
        self.conns.bridge_events.push_back((id, None));
    }

    /// Moves the core's frames for bridge `i` into its uplink and writes what the socket
    /// takes.
    pub(super) fn write_link(&mut self, i: usize, now: Instant) {
        let id = self.links.base + i;
        loop {
            let Server {
                core, conns, links, ..
            } = self;
            let l = &mut links.links[i];
            let Phase::Open {
                stream,
                uplink,
                active,
                ..
            } = &mut l.phase
            else {
                return;
            };
            let mut took = 0;
            if uplink.wants_core_output() && core.get().has_output(id) {
                let frames = &mut links.frames;
                frames.clear();
                core.get().output(id).copy_to(frames, CORE_OUTPUT_CHUNK);
                let mut unsent = Vec::new();
                let before = uplink.sent.messages;
                let (cfg, mappings) = (&l.bridge.config, &l.bridge.mappings);
                took = uplink.from_core(frames, cfg, mappings, &mut unsent);
                if uplink.sent.messages != before {
                    *active = now;
                }
                core.call(conns, |b| {
                    b.written(id, took, now);
                    for &(packet_id, qos) in &unsent {
                        link::acknowledge_unsent(packet_id, qos, &mut |p| b.handle(id, p, now));
                    }
                });
            }
            if uplink.output().is_empty() {
                match stream.send_pending() {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                        return self.link_failed(i, &format!("write: {e}"), now)
                    }
                    _ => {}
                }
                if took == 0 {
                    return;
                }
                continue;
            }
            match stream.write(uplink.output()) {
                Ok(n) => uplink.wrote(n, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.link_failed(i, &format!("write: {e}"), now),
            }
            if took == 0 && !uplink.output().is_empty() {
                continue;
            }
        }
    }

    /// Bridge `i`'s connection failed (or never came up) for `why`: the core's session
    /// goes offline, and the bridge waits to connect again.
    fn link_failed(&mut self, i: usize, why: &str, now: Instant) {
        let name = self.links.links[i].bridge.config.name.clone();
        let address = self.links.links[i].bridge.address().clone();
        log::warn!("bridge {name}: {address}: {why}");
        self.close_link(i, now);
        let l = &mut self.links.links[i];
        l.phase = match l.bridge.failed() {
            Some(wait) => {
                if !wait.is_zero() {
                    log::info!("bridge {name}: connecting again in {} ms", wait.as_millis());
                }
                Phase::Waiting(now + wait)
            }
            None => {
                log::warn!("bridge {name}: start_type once: not connecting again");
                Phase::Idle
            }
        };
    }

    /// Bridge `i`'s upstream refused its CONNECT for something the bridge can leave out
    /// (the `try_private` marker, the will's retain or QoS: [`ConnectShape`]): connect
    /// again at once, to the same address, as `shape`, as Mosquitto's bridge does. Not a
    /// failure: neither the next address nor the back-off.
    fn reconnect_reshaped(&mut self, i: usize, why: &str, shape: ConnectShape, now: Instant) {
        let l = &self.links.links[i];
        let change = shape.change_from(l.bridge.connect_shape());
        log::warn!(
            "bridge {}: {}: {why}; connecting again {change}",
            l.bridge.config.name,
            l.bridge.address()
        );
        self.close_link(i, now);
        let l = &mut self.links.links[i];
        l.bridge.reshape(shape);
        l.phase = Phase::Waiting(now);
    }

    /// Drops bridge `i`'s socket and detaches its session in the core.
    fn close_link(&mut self, i: usize, now: Instant) {
        let id = self.links.base + i;
        let phase = std::mem::replace(&mut self.links.links[i].phase, Phase::Idle);
        if let Phase::Open {
            uplink, attached, ..
        } = phase
        {
            let l = &mut self.links.links[i];
            let c = &mut l.bridge.counts;
            c.sent += uplink.sent.messages;
            c.resent += uplink.sent.resent;
            c.received += uplink.sent.received;
            c.unsendable += uplink.sent.dropped;
            if attached {
                let bridge = &l.bridge;
                self.core.call(&mut self.conns, |b| {
                    b.closed(id, CloseReason::SocketError, now);
                    state_notification(b, bridge, false, now);
                });
            }
        }
    }

    /// A graceful stop: DISCONNECT to every upstream (after the state `0`).
    pub(super) fn stop_bridges(&mut self) {
        let now = Instant::now();
        for i in 0..self.links.links.len() {
            if let Phase::Open { uplink, .. } = &mut self.links.links[i].phase {
                uplink.disconnect();
                self.write_link(i, now);
            }
            self.close_link(i, now);
        }
    }

    /// Publishes each bridge's counters that changed, retained, under
    /// `$SYS/broker/connection/NAME/`.
    fn publish_bridge_stats(&mut self, now: Instant) {
        let Server {
            core, conns, links, ..
        } = self;
        for (i, l) in links.links.iter_mut().enumerate() {
            let counts = core.get().bridge_counts(i);
            let mut totals = l.bridge.counts;
            if let Phase::Open { uplink, .. } = &l.phase {
                totals.sent += uplink.sent.messages;
                totals.resent += uplink.sent.resent;
                totals.received += uplink.sent.received;
                totals.unsendable += uplink.sent.dropped;
            }
            let values = [
                counts.queued as u64,
                totals.sent,
                totals.resent,
                counts.dropped + totals.unsendable,
                totals.received,
                counts.inflight as u64,
            ];
            const NAMES: [&str; 6] = [
                "queued", "sent", "resent", "dropped", "received", "inflight",
            ];
            for (k, name) in NAMES.iter().enumerate() {
                if l.published[k] == values[k] {
                    continue;
                }
                l.published[k] = values[k];
                let topic = format!("$SYS/broker/connection/{}/{name}", l.bridge.config.name);
                let value = values[k].to_string();
                core.call(conns, |b| {
                    b.publish_state(&topic, value.as_bytes(), QoS::AtMostOnce, now)
                });
            }
        }
    }
}

/// A name resolved (and, for a probe, connected to) on a short-lived thread, because
/// `getaddrinfo` and a blocking connect would stall the reactor; the answer waits in a
/// shared slot, and the reactor's waker says it is there.
pub(super) struct Lookup(Arc<Mutex<Option<io::Result<Vec<SocketAddr>>>>>);

impl Lookup {
    /// Starts looking `address` up; with `probe`, the answer is an error unless its
    /// first address also accepts a TCP connection within [`PROBE_INTERVAL`].
    fn start(
        address: crate::config::BridgeAddress,
        probe: bool,
        shared: &Arc<Shared>,
    ) -> io::Result<Lookup> {
        let slot = Arc::new(Mutex::new(None));
        let (answer, shared) = (Arc::clone(&slot), Arc::clone(shared));
        std::thread::Builder::new()
            .name("sol-resolve".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut found: io::Result<Vec<SocketAddr>> = (address.host.as_str(), address.port)
                    .to_socket_addrs()
                    .map(Iterator::collect);
                if let (true, Ok(addrs)) = (probe, &found) {
                    let first = addrs.first().ok_or(io::ErrorKind::NotFound);
                    if let Err(e) = first
                        .map_err(io::Error::from)
                        .and_then(|a| std::net::TcpStream::connect_timeout(a, PROBE_INTERVAL))
                    {
                        found = Err(e);
                    }
                }
                if let Ok(mut slot) = answer.lock() {
                    *slot = Some(found);
                }
                let _ = shared.waker.wake();
            })?;
        Ok(Lookup(slot))
    }

    /// The answer, once there (taken).
    fn answer(&self) -> Option<io::Result<Vec<SocketAddr>>> {
        self.0.lock().ok()?.take()
    }
}

/// Publishes bridge `bridge`'s state (`1` up, `0` down) here, retained: at Mosquitto's
/// notification topic and at `$SYS/broker/connection/NAME/state`.
fn state_notification(b: &mut Broker, bridge: &Bridge, up: bool, now: Instant) {
    let payload: &[u8] = if up { b"1" } else { b"0" };
    let own = format!("$SYS/broker/connection/{}/state", bridge.config.name);
    b.publish_state(&own, payload, QoS::AtMostOnce, now);
    if bridge.config.notifications {
        let topic = link::notification_topic(&bridge.config);
        if topic != own {
            b.publish_state(&topic, payload, QoS::AtLeastOnce, now);
        }
    }
}

/// The socket of a connection of bridge `cfg`: TLS over `tcp` when it has TLS.
fn wrap(
    cfg: &crate::config::BridgeConfig,
    host: &str,
    tcp: mio::net::TcpStream,
) -> io::Result<UpStream> {
    match &cfg.tls {
        None => Ok(UpStream::Tcp(tcp)),
        #[cfg(feature = "tls")]
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let conn = rustls::ClientConnection::new(Arc::clone(&tls.client), name)
                .map_err(io::Error::other)?;
            Ok(UpStream::Tls(Box::new((tcp, conn))))
        }
        #[cfg(not(feature = "tls"))]
        Some(_) => {
            let _ = host;
            Err(io::Error::other("this build of Sol has no TLS"))
        }
    }
}
