//! One generator thread: a `mio` event loop driving many non-blocking client sockets.
//!
//! Publishers batch many PUBLISH packets into one buffer and write it with one syscall
//! ([`WriteMode::Batch`]), or write each PUBLISH on its own ([`WriteMode::Single`], as a
//! client library does); they write until the socket would block, then wait for the
//! writable edge, so a flooding publisher waits on the broker instead of spinning. With a
//! rate, batch mode looks at the schedule once a millisecond (the poll timeout's
//! resolution) and writes what fell due meanwhile in one go; single mode wakes on a
//! [`Timer`] when the next message is due, each publisher's schedule offset so the run's
//! messages are evenly spaced (see [`crate::pace`]). QoS 1 publishers keep at most
//! `window` messages unacknowledged. Subscribers read with one shared scratch buffer (an idle
//! connection holds no buffer), count deliveries per publisher sequence and acknowledge QoS 1.
//! Background connections hold subscriptions that match none of the measured traffic;
//! persistent subscribers (`sessions`) go offline and come back; every connection that has
//! sent nothing for 3/4 of the keep-alive sends PINGREQ, so runs may last longer than it.
//! Connections are [`Stream`]s: with `--tls-ca` each is a TLS client session, with
//! `--websocket` each carries its MQTT bytes in WebSocket frames, and the worker sees either
//! only through `Read`/`Write` (and `flush` for what a blocked socket left).
//! Packets are written and read through [`mqtt::Proto`], MQTT 3.1.1 or 5.0; with 5.0 a
//! publisher's window is also bounded by the broker's Receive Maximum, a Server Keep Alive
//! replaces the asked keep-alive, and PUBACKs with an error reason code are counted.

use crate::mqtt::{self, Ack, Frame, PublishParts};
use crate::pace::{self, Schedule, Timer};
use crate::payload::{self, SeqTracker, Stamp};
use crate::stream::Stream;
use crate::target::Target;
use crate::topics;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Bytes of PUBLISH packets built per batch (one write syscall each).
const BATCH_BYTES: usize = 64 * 1024;
/// Scratch read buffer shared by a thread's sockets.
const SCRATCH: usize = 256 * 1024;
/// Filters per SUBSCRIBE packet of a background connection.
const FILTERS_PER_SUBSCRIBE: usize = 64;
/// Single writes: messages a publisher writes before the loop serves the other sockets
/// (batch mode writes at most four batches).
const SINGLE_PER_TURN: usize = 64;
/// The poll token of the rate timer (connections use their index).
const TIMER: Token = Token(usize::MAX);

/// How publishers hand PUBLISH packets to the socket (`--write-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// As many packets per write as the budget allows, up to 64 KiB; with a rate, what fell
    /// due since the last look (about a millisecond) in one write, stamped together.
    Batch,
    /// One packet per write, each stamped when written; with a rate, each written when due.
    Single,
}

/// What a thread's connections do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Publishers and subscribers exchange benchmark messages.
    PubSub,
    /// Connections subscribe and then stay idle (pinging at 3/4 of the keep-alive).
    Idle,
    /// Each connection loops CONNECT, CONNACK, DISCONNECT, close, reconnect.
    Storm,
}

/// Settings shared by all threads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The broker, how every connection reaches it and the MQTT version spoken.
    pub target: Target,
    /// Where the subscribers connect (`--sub-port`; otherwise `target.addr`).
    pub sub_addr: SocketAddr,
    /// What the connections do.
    pub mode: Mode,
    /// QoS of publishes and subscriptions.
    pub qos: u8,
    /// Payload bytes per message.
    pub size: usize,
    /// QoS 1: unacknowledged messages per publisher.
    pub window: u64,
    /// Messages per second per publisher; 0 = as fast as the broker takes them.
    pub rate_per_publisher: f64,
    /// How publishers write their packets.
    pub write_mode: WriteMode,
    /// Set TCP_NODELAY on every client socket (`--nodelay on`).
    pub nodelay: bool,
    /// Publishing (or holding, or storming) time.
    pub duration: Duration,
    /// Longest wait for the last deliveries and acknowledgements after publishing stops.
    pub drain: Duration,
    /// Keep-alive sent in CONNECT, seconds.
    pub keepalive: u16,
    /// Connections in the handshake at once (idle set-up), or looping (storm) per thread.
    pub concurrency: usize,
    /// Whether to keep latency samples.
    pub record_latency: bool,
    /// Time origin for payload stamps.
    pub epoch: Instant,
    /// Prefix for client ids (unique per run).
    pub id_prefix: String,
    /// Topic prefix, by default unique per run, so a broker still delivering an earlier run's
    /// backlog cannot feed this run's subscribers.
    pub topic_root: String,
    /// Levels of the measured publishers' topics (see [`topics::measured_topic`]).
    pub topic_levels: usize,
    /// Publishers publish with the RETAIN flag.
    pub retain: bool,
    /// Measured publishers in the run (all threads); background filters share their levels.
    pub publishers: u32,
    /// Measured subscribers in the run (all threads).
    pub subscribers: u32,
    /// Background connections in the run (all threads).
    pub background_connections: u32,
    /// Background subscriptions, spread over the background connections.
    pub background_subscriptions: u64,
    /// Seed of the background filters.
    pub seed: u64,
    /// Subscribers keep their session (clean session off) and cycle online and offline.
    pub persistent: bool,
    /// Persistent subscribers: time online between two absences.
    pub online: Duration,
    /// Persistent subscribers: time offline (their messages queue in the broker meanwhile).
    pub offline: Duration,
    /// Storm: each cycle subscribes to `<topic_root>/#` (receiving what is retained there)
    /// before disconnecting.
    pub storm_subscribe: bool,
    /// Storm: connects per second for this thread; 0 = as fast as the broker answers.
    pub connect_rate: f64,
}

impl Settings {
    /// Publisher `n`'s schedule with a rate (`None`: flood). Single writes offset each
    /// publisher's so the run's messages are evenly spaced; batch writes start all at once.
    pub fn schedule(&self, n: u32) -> Option<Schedule> {
        if self.rate_per_publisher <= 0.0 {
            return None;
        }
        let phase = match self.write_mode {
            WriteMode::Batch => Duration::ZERO,
            WriteMode::Single => pace::phase(
                n,
                self.rate_per_publisher * f64::from(self.publishers.max(1)),
            ),
        };
        Some(Schedule::new(self.rate_per_publisher, phase))
    }
}

/// A connection's role and its global index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Publisher number `n` (global).
    Publisher(u32),
    /// Subscriber number `n` (global).
    Subscriber(u32),
    /// Idle connection number `n`.
    Idle(u32),
    /// Background connection number `n`: holds background subscriptions during a measured run.
    Background(u32),
    /// Storm slot number `n`.
    Storm(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotStarted,
    Connecting,
    AwaitConnack,
    AwaitSuback,
    Ready,
    AwaitClose,
    /// A persistent subscriber that disconnected on purpose and will come back.
    Offline,
    Closed,
}

struct Conn {
    role: Role,
    sock: Option<Stream>,
    state: State,
    writable: bool,
    out: Vec<u8>,
    out_pos: usize,
    pending: Vec<u8>,
    /// Publisher: the constant bytes of its PUBLISH packets.
    parts: PublishParts,
    seq: u64,
    acked: u64,
    /// Publisher: unacknowledged QoS 1 messages allowed (the window, or less if the
    /// broker's Receive Maximum says so).
    window: u64,
    /// Send a PINGREQ after this long without sending (3/4 of the keep-alive); `None`: never.
    ping_every: Option<Duration>,
    tracker: SeqTracker,
    /// When this connection last queued bytes for the broker (keep-alive).
    last_tx: Instant,
    /// SUBACKs still expected.
    pending_subacks: u32,
    /// CONNACKs received (persistent subscribers reconnect).
    connacks: u32,
    /// Persistent subscriber: when to go offline (online) or come back (offline).
    cycle_at: Option<Instant>,
}

/// What one thread measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Messages sent by each publisher of this thread: (publisher index, count).
    pub sent: Vec<(u32, u64)>,
    /// PUBACKs received by this thread's publishers.
    pub acked: u64,
    /// Of those, PUBACKs refusing the message (MQTT 5.0 reason code 0x80 or above).
    pub refused: u64,
    /// Write calls made by this thread's publishers (one syscall each on plain TCP).
    pub pub_writes: u64,
    /// Unique deliveries per subscriber of this thread.
    pub received: u64,
    /// Unique deliveries while publishers were publishing (the steady-state rate).
    pub received_in_window: u64,
    /// Duplicate deliveries.
    pub duplicates: u64,
    /// PUBLISH packets received by connections other than the measured subscribers
    /// (background connections, storm connections with `--subscribe`).
    pub other_received: u64,
    /// Time from start to this thread's last delivery.
    pub last_delivery: Option<Duration>,
    /// Latency samples, nanoseconds.
    pub latencies: Vec<u64>,
    /// Successful CONNACKs (storm: completed connects).
    pub connects: u64,
    /// Connections refused, reset or closed unexpectedly, and protocol errors.
    pub errors: u64,
    /// Connections that were up and subscribed when the hold began (idle mode).
    pub established: u64,
    /// Time to set up all connections (idle mode).
    pub setup: Duration,
    /// The TLS version and cipher suite of the first connection accepted (`None`: plain).
    pub tls: Option<String>,
}

/// One generator thread's state.
pub struct Worker {
    set: Arc<Settings>,
    poll: Poll,
    conns: Vec<Conn>,
    scratch: Vec<u8>,
    report: Report,
    start: Instant,
    last_rx: Instant,
    publishing: bool,
    /// No connection needs a PINGREQ before this.
    next_ping: Instant,
}

pub(crate) fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A generator thread's event loop: its connections indexed by their poll tokens
/// ([`Worker`], and the `resume` scenario's runner).
pub(crate) trait EventLoop {
    /// The poll the connections are registered with.
    fn poller(&mut self) -> &mut Poll;

    /// Serves connection `i`: whether to read (readable, closed or failed) and whether to
    /// write (writable or failed); `now` is the time after the wait.
    fn on_event(&mut self, i: usize, readable: bool, writable: bool, now: Instant);

    /// One round of the event loop waiting at most `timeout` for events (an interrupted
    /// wait is a round without any); returns the time after it.
    fn turn(&mut self, events: &mut Events, timeout: Duration) -> io::Result<Instant> {
        match self.poller().poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for ev in events.iter() {
            let failed = ev.is_error();
            let read = ev.is_readable() || ev.is_read_closed() || failed;
            self.on_event(ev.token().0, read, ev.is_writable() || failed, now);
        }
        Ok(now)
    }
}

impl Worker {
    /// A worker for these connections.
    pub fn new(set: Arc<Settings>, roles: Vec<Role>) -> io::Result<Worker> {
        let now = Instant::now();
        let parts_for = |r: &Role| match *r {
            Role::Publisher(n) => set.target.proto.publish_parts(
                &topics::measured_topic(&set.topic_root, n, set.topic_levels),
                set.qos,
                set.retain,
                set.size.max(payload::HEADER_LEN),
            ),
            _ => PublishParts::default(),
        };
        let conns = roles
            .iter()
            .map(|r| Conn {
                role: *r,
                sock: None,
                state: State::NotStarted,
                writable: false,
                out: Vec::new(),
                out_pos: 0,
                pending: Vec::new(),
                parts: parts_for(r),
                seq: 0,
                acked: 0,
                window: set.window,
                ping_every: ping_interval(set.keepalive),
                tracker: SeqTracker::default(),
                last_tx: now,
                pending_subacks: 0,
                connacks: 0,
                cycle_at: None,
            })
            .collect();
        Ok(Worker {
            set,
            poll: Poll::new()?,
            conns,
            scratch: vec![0; SCRATCH],
            report: Report::default(),
            start: now,
            last_rx: now,
            publishing: false,
            next_ping: now,
        })
    }

    fn client_id(&self, i: usize) -> String {
        let p = &self.set.id_prefix;
        match self.conns[i].role {
            Role::Publisher(n) => format!("{p}p{n}"),
            Role::Subscriber(n) => format!("{p}s{n}"),
            Role::Idle(n) => format!("{p}i{n}"),
            Role::Background(n) => format!("{p}b{n}"),
            Role::Storm(n) => format!("{p}c{n}"),
        }
    }

    fn open(&mut self, i: usize) {
        let id = self.client_id(i);
        let clean = !(self.set.persistent && matches!(self.conns[i].role, Role::Subscriber(_)));
        let c = &mut self.conns[i];
        if let Some(mut s) = c.sock.take() {
            let _ = self.poll.registry().deregister(s.tcp());
        }
        c.out.clear();
        c.out_pos = 0;
        c.pending = Vec::new();
        c.writable = false;
        c.window = self.set.window;
        c.ping_every = ping_interval(self.set.keepalive);
        let addr = match c.role {
            Role::Subscriber(_) => self.set.sub_addr,
            _ => self.set.target.addr,
        };
        match self.set.target.open(addr) {
            Ok(mut s) => {
                if let Err(e) = self.poll.registry().register(
                    s.tcp(),
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    eprintln!("sol-load: register: {e}");
                    self.report.errors += 1;
                    c.state = State::Closed;
                    return;
                }
                if self.set.nodelay {
                    let _ = s.tcp().set_nodelay(true);
                }
                self.set
                    .target
                    .proto
                    .connect(&id, self.set.keepalive, clean, &mut c.out);
                c.sock = Some(s);
                c.state = State::Connecting;
                c.last_tx = Instant::now();
            }
            Err(e) => {
                if self.report.errors == 0 {
                    eprintln!("sol-load: connect: {e}");
                }
                self.report.errors += 1;
                c.state = State::Closed;
            }
        }
    }

    fn close(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if let Some(mut s) = c.sock.take() {
            let _ = self.poll.registry().deregister(s.tcp());
        }
        c.state = State::Closed;
    }

    /// Writes what is buffered; returns false if the connection failed.
    fn flush(&mut self, i: usize) -> bool {
        let c = &mut self.conns[i];
        if c.state == State::Connecting || !c.writable {
            return true;
        }
        let Some(sock) = c.sock.as_mut() else {
            return true;
        };
        let publisher = matches!(c.role, Role::Publisher(_));
        while c.out_pos < c.out.len() {
            let written = sock.write(&c.out[c.out_pos..]);
            if publisher {
                self.report.pub_writes += 1;
            }
            match written {
                Ok(0) => return false,
                Ok(n) => c.out_pos += n,
                Err(e) if would_block(&e) => {
                    c.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if c.out_pos == c.out.len() {
            c.out.clear();
            c.out_pos = 0;
            // What the stream still holds (TLS records) goes out too.
            if c.writable {
                match sock.flush() {
                    Ok(()) => {}
                    Err(e) if would_block(&e) => c.writable = false,
                    Err(_) => return false,
                }
            }
        }
        true
    }

    /// A publisher builds and writes batches (or single messages) while it may; returns true
    /// if it stopped with budget left and the socket still writable (so the loop must come
    /// back without waiting).
    fn pump(&mut self, i: usize, now: Instant) -> bool {
        let set = Arc::clone(&self.set);
        let size = set.size.max(payload::HEADER_LEN);
        let single = set.write_mode == WriteMode::Single;
        for _round in 0..if single { SINGLE_PER_TURN } else { 4 } {
            if !self.flush(i) {
                self.fail(i);
                return false;
            }
            let c = &mut self.conns[i];
            let Role::Publisher(pid) = c.role else {
                return false;
            };
            if c.state != State::Ready || !c.writable || !c.out.is_empty() || !self.publishing {
                return false;
            }
            let mut budget = u64::MAX;
            if set.qos > 0 {
                budget = budget.min(c.window.saturating_sub(c.seq - c.acked));
            }
            // A single message is stamped (and its schedule read) when it is written.
            let now = if single { Instant::now() } else { now };
            if let Some(schedule) = set.schedule(pid) {
                let due = schedule.due(now.duration_since(self.start));
                budget = budget.min(due.saturating_sub(c.seq));
            }
            let per =
                c.parts.head.len() + if set.qos > 0 { 2 } else { 0 } + c.parts.tail.len() + size;
            let n = budget.min(if single {
                1
            } else {
                (BATCH_BYTES / per).max(1) as u64
            });
            if n == 0 {
                return false;
            }
            c.last_tx = now;
            let sent_ns = now.duration_since(set.epoch).as_nanos() as u64;
            for _ in 0..n {
                c.out.extend_from_slice(&c.parts.head);
                if set.qos > 0 {
                    c.out
                        .extend_from_slice(&((c.seq % 65535) as u16 + 1).to_be_bytes());
                }
                c.out.extend_from_slice(&c.parts.tail);
                payload::encode(
                    Stamp {
                        publisher: pid,
                        seq: c.seq,
                        sent_ns,
                    },
                    size,
                    &mut c.out,
                );
                c.seq += 1;
            }
        }
        let c = &self.conns[i];
        c.writable && c.state == State::Ready
    }

    /// The broker closed connection `i` (end of stream or error): the expected end of a
    /// storm cycle after DISCONNECT, a failure otherwise.
    fn ended(&mut self, i: usize) {
        if self.conns[i].state == State::AwaitClose {
            // `run_storm` reopens the slot when the connect rate allows.
            self.close(i);
        } else {
            self.fail(i);
        }
    }

    fn fail(&mut self, i: usize) {
        if self.conns[i].state != State::Closed {
            if self.report.errors == 0 {
                eprintln!(
                    "sol-load: connection {:?} lost in state {:?}",
                    self.conns[i].role, self.conns[i].state
                );
            }
            self.report.errors += 1;
        }
        self.close(i);
    }
}

impl EventLoop for Worker {
    fn poller(&mut self) -> &mut Poll {
        &mut self.poll
    }

    fn on_event(&mut self, i: usize, readable: bool, writable: bool, now: Instant) {
        if i >= self.conns.len() || self.conns[i].sock.is_none() {
            return;
        }
        if writable {
            let c = &mut self.conns[i];
            if c.state == State::Connecting {
                let sock = c.sock.as_mut().expect("checked").tcp();
                match sock.take_error() {
                    Ok(None) if sock.peer_addr().is_ok() => {
                        c.state = State::AwaitConnack;
                    }
                    Ok(None) => {} // spurious: still connecting
                    _ => {
                        self.fail(i);
                        return;
                    }
                }
            }
            self.conns[i].writable = true;
        }
        if readable && !self.read(i, now) {
            return;
        }
        if !self.flush(i) {
            self.fail(i);
        }
    }
}

impl Worker {
    /// Reads until the socket would block, handling every complete packet; false if closed.
    fn read(&mut self, i: usize, now: Instant) -> bool {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut alive = true;
        loop {
            let Some(sock) = self.conns[i].sock.as_mut() else {
                alive = false;
                break;
            };
            match sock.read(&mut scratch) {
                Ok(0) => {
                    self.ended(i);
                    alive = false;
                    break;
                }
                Ok(n) => {
                    let mut pending = std::mem::take(&mut self.conns[i].pending);
                    let ok = if pending.is_empty() {
                        let used = self.handle_bytes(i, &scratch[..n], now);
                        if let Some(used) = used {
                            pending.extend_from_slice(&scratch[used..n]);
                        }
                        used.is_some()
                    } else {
                        pending.extend_from_slice(&scratch[..n]);
                        match self.handle_bytes(i, &pending, now) {
                            Some(used) => {
                                pending.drain(..used);
                                true
                            }
                            None => false,
                        }
                    };
                    if !ok {
                        self.fail(i);
                        alive = false;
                        break;
                    }
                    if pending.is_empty() {
                        pending = Vec::new(); // an idle connection holds no buffer
                    }
                    if self.conns[i].sock.is_some() {
                        self.conns[i].pending = pending;
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.ended(i);
                    alive = false;
                    break;
                }
            }
        }
        self.scratch = scratch;
        alive
    }

    /// Handles the complete packets in `buf`; returns the bytes used, `None` on a protocol error.
    fn handle_bytes(&mut self, i: usize, buf: &[u8], now: Instant) -> Option<usize> {
        let mut at = 0;
        while let Some((f, used)) = mqtt::frame(&buf[at..]).ok()? {
            self.handle_packet(i, &f, now)?;
            at += used;
        }
        Some(at)
    }

    fn handle_packet(&mut self, i: usize, f: &Frame<'_>, now: Instant) -> Option<()> {
        let set = Arc::clone(&self.set);
        let c = &mut self.conns[i];
        match f.header >> 4 {
            2 => {
                let session_present = match set.target.proto.ack(f) {
                    Ok(Ack::Connected {
                        session_present,
                        receive_maximum,
                        server_keep_alive,
                    }) => {
                        if let Some(max) = receive_maximum {
                            c.window = c.window.min(u64::from(max));
                        }
                        if let Some(keepalive) = server_keep_alive {
                            c.ping_every = ping_interval(keepalive);
                            self.next_ping = now; // look again with this connection's interval
                        }
                        session_present
                    }
                    Ok(Ack::Subscribed) => return None,
                    Err(e) => {
                        eprintln!("sol-load: {e}");
                        return None;
                    }
                };
                self.report.connects += 1;
                if self.report.tls.is_none() {
                    self.report.tls = c.sock.as_ref().and_then(Stream::describe);
                }
                c.connacks += 1;
                let filters = match c.role {
                    Role::Publisher(_) => Vec::new(),
                    // A kept session still has its subscription; its queued messages follow.
                    Role::Subscriber(_) if set.persistent && session_present => Vec::new(),
                    Role::Subscriber(_) => vec![format!("{}/#", set.topic_root)],
                    Role::Idle(n) => vec![format!("{}/idle/{n}", set.topic_root)],
                    Role::Background(n) => background_filters(&set, n),
                    Role::Storm(_) if set.storm_subscribe => {
                        vec![format!("{}/#", set.topic_root)]
                    }
                    Role::Storm(_) => {
                        set.target.proto.disconnect(&mut c.out);
                        c.state = State::AwaitClose;
                        return Some(());
                    }
                };
                // Storm connections subscribe at QoS 0: a PUBACK after their DISCONNECT
                // would break the protocol.
                let qos = if matches!(c.role, Role::Storm(_)) {
                    0
                } else {
                    set.qos
                };
                c.pending_subacks = 0;
                for (k, chunk) in filters.chunks(FILTERS_PER_SUBSCRIBE).enumerate() {
                    set.target
                        .proto
                        .subscribe((k % 65535) as u16 + 1, chunk, qos, &mut c.out);
                    c.pending_subacks += 1;
                }
                if c.pending_subacks > 0 {
                    c.state = State::AwaitSuback;
                } else {
                    self.subscribed(i, now);
                }
            }
            9 => {
                if let Err(e) = set.target.proto.ack(f) {
                    eprintln!("sol-load: {e}");
                    return None;
                }
                c.pending_subacks = c.pending_subacks.saturating_sub(1);
                if c.pending_subacks == 0 {
                    self.subscribed(i, now);
                }
            }
            3 => {
                let (qos, id, body) = set.target.proto.parse_publish(f)?;
                if qos == 1 {
                    set.target.proto.puback(id, &mut c.out);
                    c.last_tx = now;
                }
                if !matches!(c.role, Role::Subscriber(_)) {
                    self.report.other_received += 1;
                } else if let Some(stamp) = payload::decode(body) {
                    let unique = c.tracker.record(stamp);
                    if unique && self.publishing {
                        self.report.received_in_window += 1;
                    }
                    if unique && set.record_latency {
                        let now_ns = now.duration_since(set.epoch).as_nanos() as u64;
                        self.report
                            .latencies
                            .push(now_ns.saturating_sub(stamp.sent_ns));
                    }
                    self.last_rx = now;
                }
            }
            4 => {
                c.acked += 1;
                if set.target.proto.puback_refused(f) {
                    if self.report.refused == 0 {
                        eprintln!(
                            "sol-load: a PUBACK refused a message: reason {:#04x}",
                            f.body[2]
                        );
                    }
                    self.report.refused += 1;
                }
            }
            13 => {}
            14 => {
                // MQTT 5.0: the broker says why it closes the connection.
                eprintln!(
                    "sol-load: the broker disconnected {:?}: {}",
                    c.role,
                    set.target.proto.disconnect_reason(f)
                );
                return None;
            }
            _ => {
                eprintln!("sol-load: unexpected packet type {:#x}", f.header);
                return None;
            }
        }
        Some(())
    }

    /// Connection `i` has all its subscriptions (or needs none).
    fn subscribed(&mut self, i: usize, now: Instant) {
        let set = &self.set;
        let c = &mut self.conns[i];
        match c.role {
            Role::Storm(_) => {
                set.target.proto.disconnect(&mut c.out);
                c.state = State::AwaitClose;
            }
            Role::Subscriber(n) if set.persistent => {
                c.state = State::Ready;
                // The first absences are staggered so the subscribers do not all leave at once.
                let online = if c.connacks == 1 {
                    set.online
                        .mul_f64(f64::from(n + 1) / f64::from(set.subscribers.max(1)))
                } else {
                    set.online
                };
                c.cycle_at = Some(now + online);
            }
            Role::Background(_) => {
                // The SUBSCRIBE packets are written: give their buffer back.
                if c.out.is_empty() {
                    c.out = Vec::new();
                }
                c.state = State::Ready;
            }
            _ => c.state = State::Ready,
        }
    }

    /// Sends PINGREQ on every ready connection that has sent nothing for 3/4 of its
    /// keep-alive (the asked one, or the broker's Server Keep Alive), at most when one may be
    /// due; returns when to look again (`None`: no connection needs pinging).
    fn keep_alive(&mut self, now: Instant) -> Option<Instant> {
        if now < self.next_ping {
            return Some(self.next_ping);
        }
        // Connections that are not subscribed yet are looked at within the asked interval.
        let mut next = ping_interval(self.set.keepalive).map(|every| now + every);
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            let Some(every) = c.ping_every else {
                continue;
            };
            match c.state {
                State::Ready if now.duration_since(c.last_tx) >= every => {
                    self.set.target.proto.pingreq(&mut c.out);
                    c.last_tx = now;
                    if !self.flush(i) {
                        self.fail(i);
                        continue;
                    }
                }
                State::Ready | State::AwaitSuback => {}
                _ => continue,
            }
            let due = self.conns[i].last_tx + every;
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        // Nothing to ping: look again in a while (a CONNACK imposing a keep-alive resets it).
        self.next_ping = next.unwrap_or(now + Duration::from_secs(3600));
        next
    }

    /// Takes persistent subscribers offline and brings them back on their schedule (all back
    /// at once when publishing has stopped); returns when to look again.
    fn cycle_sessions(&mut self, subs: &[usize], now: Instant) -> Option<Instant> {
        if !self.set.persistent || self.set.offline.is_zero() {
            return None;
        }
        let mut next: Option<Instant> = None;
        for &i in subs {
            let Some(at) = self.conns[i].cycle_at else {
                continue;
            };
            match self.conns[i].state {
                State::Ready if self.publishing && now >= at => {
                    self.set.target.proto.disconnect(&mut self.conns[i].out);
                    let _ = self.flush(i);
                    self.close(i);
                    let c = &mut self.conns[i];
                    c.state = State::Offline;
                    c.cycle_at = Some(now + self.set.offline);
                }
                State::Offline if now >= at || !self.publishing => {
                    self.conns[i].cycle_at = None; // set again once subscribed
                    self.open(i);
                }
                _ => {}
            }
            if let Some(at) = self.conns[i].cycle_at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        next
    }

    fn count_in(&self, states: &[State]) -> usize {
        self.conns
            .iter()
            .filter(|c| states.contains(&c.state))
            .count()
    }

    /// Opens connections (at most `concurrency` in the handshake at once) until all are ready.
    fn setup(&mut self, events: &mut Events, limit: Duration) -> io::Result<()> {
        let t0 = Instant::now();
        let mut next = 0;
        let hand = [State::Connecting, State::AwaitConnack, State::AwaitSuback];
        loop {
            while next < self.conns.len() && self.count_in(&hand) < self.set.concurrency.max(1) {
                self.open(next);
                next += 1;
            }
            if next == self.conns.len() && self.count_in(&hand) == 0 {
                break;
            }
            if t0.elapsed() > limit {
                eprintln!(
                    "sol-load: set-up timed out with {} of {} ready",
                    self.count_in(&[State::Ready]),
                    self.conns.len()
                );
                break;
            }
            self.turn(events, Duration::from_millis(50))?;
        }
        self.report.setup = t0.elapsed();
        self.report.established = self.count_in(&[State::Ready]) as u64;
        Ok(())
    }

    /// Runs the thread's part of the scenario; `barrier` lines all threads and the main thread
    /// up between set-up and the measured phase.
    pub fn run(mut self, barrier: Arc<Barrier>) -> io::Result<Report> {
        let mut events = Events::with_capacity(1024);
        if self.set.mode != Mode::Storm {
            self.setup(&mut events, Duration::from_secs(60))?;
        }
        barrier.wait();
        self.start = Instant::now();
        self.last_rx = self.start;
        let deadline = self.start + self.set.duration;
        self.publishing = true;
        match self.set.mode {
            Mode::PubSub => self.run_pubsub(&mut events, deadline)?,
            Mode::Idle => self.run_idle(&mut events, deadline)?,
            Mode::Storm => self.run_storm(&mut events, deadline)?,
        }
        for i in 0..self.conns.len() {
            if self.conns[i].sock.is_some() {
                self.set.target.proto.disconnect(&mut self.conns[i].out);
                let _ = self.flush(i);
                self.close(i);
            }
        }
        let mut r = self.report;
        for c in &self.conns {
            match c.role {
                Role::Publisher(n) => {
                    r.sent.push((n, c.seq));
                    r.acked += c.acked;
                }
                Role::Subscriber(_) => {
                    r.received += c.tracker.unique;
                    r.duplicates += c.tracker.duplicates;
                }
                _ => {}
            }
        }
        if r.received > 0 {
            r.last_delivery = Some(self.last_rx.duration_since(self.start));
        }
        Ok(r)
    }

    /// When the next message of a publisher that could write it now (ready, writable, with
    /// window left) is due; `None` if no such publisher or no rate.
    fn next_due(&self, pubs: &[usize]) -> Option<Instant> {
        pubs.iter()
            .filter_map(|&i| {
                let c = &self.conns[i];
                let Role::Publisher(pid) = c.role else {
                    return None;
                };
                let room = self.set.qos == 0 || c.seq - c.acked < c.window;
                if c.state != State::Ready || !c.writable || !c.out.is_empty() || !room {
                    return None;
                }
                Some(self.start + self.set.schedule(pid)?.at(c.seq))
            })
            .min()
    }

    fn run_pubsub(&mut self, events: &mut Events, deadline: Instant) -> io::Result<()> {
        let of_role = |w: &Worker, publisher: bool| -> Vec<usize> {
            (0..w.conns.len())
                .filter(|&i| match w.conns[i].role {
                    Role::Publisher(_) => publisher,
                    Role::Subscriber(_) => !publisher,
                    _ => false,
                })
                .collect()
        };
        let pubs = of_role(self, true);
        let subs = of_role(self, false);
        let paced = self.set.rate_per_publisher > 0.0 && !pubs.is_empty();
        let mut timer = match self.set.write_mode {
            WriteMode::Single if paced => Some(Timer::new(self.poll.registry(), TIMER)?),
            _ => None,
        };
        let mut now = Instant::now();
        while now < deadline {
            let mut busy = false;
            for &i in &pubs {
                busy |= self.pump(i, now);
            }
            let mut wake = deadline;
            for at in [self.keep_alive(now), self.cycle_sessions(&subs, now)]
                .into_iter()
                .flatten()
            {
                wake = wake.min(at);
            }
            let mut timeout = wake.saturating_duration_since(now);
            if busy {
                timeout = Duration::ZERO;
            } else if let Some(timer) = timer.as_mut() {
                // The timer wakes the poll when the next message is due (the timeout's
                // resolution is a millisecond).
                if let Some(at) = self.next_due(&pubs) {
                    timer.set(at, now)?;
                }
            } else if paced {
                timeout = timeout.min(Duration::from_millis(1));
            }
            now = self.turn(events, timeout)?;
        }
        // Drain: no more publishing; offline sessions come back; wait for acknowledgements
        // and the last deliveries.
        self.publishing = false;
        let drain_end = now + self.set.drain;
        let quiet = Duration::from_millis(300);
        while now < drain_end {
            for &i in &pubs {
                let _ = self.flush(i);
            }
            self.cycle_sessions(&subs, now);
            let acks_done = pubs.iter().all(|&i| {
                let c = &self.conns[i];
                self.set.qos == 0 || c.acked >= c.seq || c.state == State::Closed
            });
            let subs_back = subs
                .iter()
                .all(|&i| matches!(self.conns[i].state, State::Ready | State::Closed));
            if acks_done && subs_back && now.duration_since(self.last_rx.max(deadline)) > quiet {
                break;
            }
            now = self.turn(events, Duration::from_millis(20))?;
        }
        Ok(())
    }

    fn run_idle(&mut self, events: &mut Events, deadline: Instant) -> io::Result<()> {
        let mut now = Instant::now();
        while now < deadline {
            let wake = self.keep_alive(now).unwrap_or(deadline).min(deadline);
            now = self.turn(events, wake.saturating_duration_since(now))?;
        }
        Ok(())
    }

    fn run_storm(&mut self, events: &mut Events, deadline: Instant) -> io::Result<()> {
        let rate = self.set.connect_rate;
        let mut opened = 0u64;
        let mut now = Instant::now();
        while now < deadline {
            // Slots whose cycle ended (or whose connect failed outright) start again, as
            // many as the connect rate allows so far.
            let allowed = if rate > 0.0 {
                (now.duration_since(self.start).as_secs_f64() * rate) as u64 + 1
            } else {
                u64::MAX
            };
            for i in 0..self.conns.len() {
                if opened >= allowed {
                    break;
                }
                if matches!(self.conns[i].state, State::NotStarted | State::Closed) {
                    self.open(i);
                    opened += 1;
                }
            }
            let mut timeout = deadline.saturating_duration_since(now);
            if rate > 0.0 {
                timeout = timeout.min(Duration::from_millis(1));
            }
            now = self.turn(events, timeout)?;
        }
        self.publishing = false;
        Ok(())
    }
}

/// How long a connection with keep-alive `secs` may stay silent: 3/4 of it (`None` for 0,
/// no keep-alive).
fn ping_interval(secs: u16) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(u64::from(secs)) * 3 / 4)
}

/// The background filters of background connection `n`: filters `n`, `n + N`, `n + 2N`, ...
/// of the run's set, N being the number of background connections.
fn background_filters(set: &Settings, n: u32) -> Vec<String> {
    let step = usize::try_from(set.background_connections.max(1)).unwrap_or(1);
    (u64::from(n)..set.background_subscriptions)
        .step_by(step)
        .map(|k| topics::background_filter(&set.topic_root, set.seed, k, set.publishers))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_filters_are_spread_over_the_connections_without_overlap() {
        let set = Settings {
            target: Target {
                addr: "127.0.0.1:1".parse().unwrap(),
                tls: None,
                websocket: None,
                proto: mqtt::Proto::v311(),
            },
            sub_addr: "127.0.0.1:1".parse().unwrap(),
            mode: Mode::PubSub,
            qos: 0,
            size: 64,
            window: 20,
            rate_per_publisher: 0.0,
            write_mode: WriteMode::Batch,
            nodelay: true,
            duration: Duration::from_secs(1),
            drain: Duration::from_secs(1),
            keepalive: 60,
            concurrency: 1,
            record_latency: false,
            epoch: Instant::now(),
            id_prefix: "x".into(),
            topic_root: "bench/r".into(),
            topic_levels: 5,
            retain: false,
            publishers: 3,
            subscribers: 1,
            background_connections: 7,
            background_subscriptions: 100,
            seed: 9,
            persistent: false,
            online: Duration::ZERO,
            offline: Duration::ZERO,
            storm_subscribe: false,
            connect_rate: 0.0,
        };
        let mut all: Vec<String> = (0..7).flat_map(|n| background_filters(&set, n)).collect();
        let sizes: Vec<usize> = (0..7).map(|n| background_filters(&set, n).len()).collect();
        assert_eq!(sizes, [15, 15, 14, 14, 14, 14, 14]);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
    }
}
