//! `resume`: a reconnect storm of persistent sessions across a broker restart (issue 14).
//!
//! Two invocations share a client id prefix (`--client-prefix P`) and a topic root (by
//! default `resume/P`); the broker is restarted between them:
//!
//! - `--phase prepare`: N clients (`--connections`) with clean session off and the ids
//!   `P0`, `P1`, ... connect (at most `--concurrency` at a time), subscribe to `ROOT/<k>` at
//!   QoS 1 and disconnect. Once all are offline, a publisher sends one QoS 1 message to each
//!   topic (sequence 0, stamped with the client's index), which the broker must queue in
//!   the offline sessions.
//! - `--phase reconnect`: all N reconnect at once with clean session off (at most
//!   `--concurrency` handshakes in flight), without subscribing. Each must find its session
//!   (CONNACK session present [MQTT-3.2.2-2]) and receive the queued message; once all are
//!   back, a publisher sends sequence 1 to each topic, which only a kept subscription
//!   delivers. What counts is the time from the first connect to the last CONNACK and to
//!   the last queued message, and how many sessions, queued messages and subscriptions
//!   survived.
//!
//! With `--threads T` the clients are shared round-robin over T threads, each with its own
//! event loop and publisher; the threads start the storm together. This module drives its
//! own small event loop (one pass per connection, timed per client) rather than the
//! worker's looping ones, and writes packets only through [`mqtt::Proto`]. It sends no
//! PINGREQ: `--duration` bounds the phase and must stay below the keep-alive.

use crate::mqtt::{self, Ack, Frame};
use crate::payload::{self, Stamp};
use crate::stream::Stream;
use crate::target::Target;
use crate::worker::{would_block, EventLoop};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The longest client id every broker must accept [MQTT-3.1.3-5].
const MAX_ID_LEN: usize = 23;
/// Longest wait for a thread's publisher to be connected before the storm starts.
const PUBLISHER_SETUP: Duration = Duration::from_secs(10);

/// Which of the two invocations this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connect, subscribe, disconnect, then queue one message per session.
    Prepare,
    /// Reconnect all at once and check what the sessions kept.
    Reconnect,
}

impl Phase {
    /// `--phase`: `prepare` or `reconnect`.
    pub fn parse(s: &str) -> Result<Phase, String> {
        match s {
            "prepare" => Ok(Phase::Prepare),
            "reconnect" => Ok(Phase::Reconnect),
            _ => Err(format!("--phase {s:?}: prepare or reconnect")),
        }
    }
}

/// Checks `--client-prefix` for `clients` clients and `threads` publishers: letters,
/// digits, `-` and `_`, and every id it makes (`P<k>`, `P p<t>`) at most 23 characters, the
/// length every broker must accept [MQTT-3.1.3-5].
pub fn check_prefix(prefix: &str, clients: u32, threads: usize) -> Result<(), String> {
    if prefix.is_empty()
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "--client-prefix {prefix:?}: letters, digits, '-' and '_' only, not empty"
        ));
    }
    let longest = client_id(prefix, clients.saturating_sub(1))
        .len()
        .max(publisher_id(prefix, threads.saturating_sub(1)).len());
    if longest > MAX_ID_LEN {
        return Err(format!(
            "--client-prefix {prefix:?}: ids would be {longest} characters, above the {MAX_ID_LEN} every broker must accept"
        ));
    }
    Ok(())
}

/// Client `k`'s id, the same in both phases.
pub fn client_id(prefix: &str, k: u32) -> String {
    format!("{prefix}{k}")
}

/// The id of thread `t`'s publisher (never a client's: clients' ids end in digits only
/// after the prefix).
fn publisher_id(prefix: &str, t: usize) -> String {
    format!("{prefix}p{t}")
}

/// Client `k`'s topic.
pub fn topic(root: &str, k: u32) -> String {
    format!("{root}/{k}")
}

/// The clients thread `t` of `threads` drives: `t`, `t + threads`, ...
pub fn share(clients: u32, threads: usize, t: usize) -> Vec<u32> {
    let step = threads.max(1);
    (0..clients).skip(t).step_by(step).collect()
}

/// What both phases are given.
#[derive(Debug)]
pub struct Options {
    /// The broker, how every connection reaches it and the MQTT version spoken; with 5.0 the
    /// clients' sessions have an expiry that never ends.
    pub target: Target,
    /// Which invocation this is.
    pub phase: Phase,
    /// Persistent clients in all (`--connections`).
    pub clients: u32,
    /// Client id prefix shared by the two phases.
    pub prefix: String,
    /// Topic root: client `k` subscribes to `<root>/<k>`.
    pub topic_root: String,
    /// Connections in flight per thread (prepare: until closed; reconnect: until CONNACK).
    pub concurrency: usize,
    /// QoS 1 messages a publisher keeps unacknowledged.
    pub window: u64,
    /// Payload bytes of each message (at least the stamp).
    pub size: usize,
    /// Keep-alive sent in CONNECT, seconds.
    pub keepalive: u16,
    /// The longest the phase may take once the storm starts.
    pub limit: Duration,
    /// Reconnect: the longest wait for messages after the live ones are acknowledged.
    pub drain: Duration,
    /// Time origin shared by the threads.
    pub epoch: Instant,
}

/// What a client's connection is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not opened yet.
    Waiting,
    /// TCP connect in progress.
    Connecting,
    /// CONNECT written, CONNACK awaited.
    AwaitConnack,
    /// Prepare: SUBSCRIBE written.
    AwaitSuback,
    /// Prepare: DISCONNECT written, the broker's close awaited.
    AwaitClose,
    /// Connected (reconnect clients, publishers).
    Online,
    /// Prepare: closed by the broker after DISCONNECT; the session is offline.
    Offline,
    /// Refused, reset, closed early or a protocol error.
    Failed,
}

impl State {
    /// Whether a client in this state holds one of the `--concurrency` places: a connection
    /// being set up (prepare: until the broker has closed it; reconnect: until CONNACK).
    fn in_flight(self, phase: Phase) -> bool {
        match self {
            State::Connecting | State::AwaitConnack => true,
            State::AwaitSuback | State::AwaitClose => phase == Phase::Prepare,
            _ => false,
        }
    }

    /// Whether a client in this state is through the phase's storm, so the publisher may
    /// start (prepare: offline, its session waiting for the queued message; reconnect:
    /// back online), or failed.
    fn settled(self, phase: Phase) -> bool {
        match self {
            State::Failed => true,
            State::Offline => phase == Phase::Prepare,
            State::Online => phase == Phase::Reconnect,
            _ => false,
        }
    }
}

/// What a message received by a client is to the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Its own queued message (sequence 0), first time.
    Queued,
    /// Its own live message (sequence 1), first time.
    Live,
    /// One of those again (a QoS 1 redelivery).
    Duplicate,
    /// Not a message for this client.
    Foreign,
}

/// Which of its two messages a client has had.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Got {
    /// Sequence 0, queued while it was offline.
    pub queued: bool,
    /// Sequence 1, published once all were back.
    pub live: bool,
}

impl Got {
    /// Records a message whose payload carries `stamp` (`None`: not one of ours) for
    /// client `own`.
    pub fn record(&mut self, own: u32, stamp: Option<Stamp>) -> Receipt {
        let slot = match stamp {
            Some(s) if s.publisher == own && s.seq == 0 => &mut self.queued,
            Some(s) if s.publisher == own && s.seq == 1 => &mut self.live,
            _ => return Receipt::Foreign,
        };
        if *slot {
            return Receipt::Duplicate;
        }
        *slot = true;
        if stamp.is_some_and(|s| s.seq == 0) {
            Receipt::Queued
        } else {
            Receipt::Live
        }
    }
}

/// One connection: a client or a thread's publisher.
struct Link {
    /// The connection while it is open.
    sock: Option<Stream>,
    /// What it is doing; changed only by [`Runner::set_state`].
    state: State,
    /// The socket took everything last time (edge-triggered: set again by the writable event).
    writable: bool,
    /// Bytes for the broker not written yet.
    out: Vec<u8>,
    /// Received bytes not yet framed into a whole packet.
    inbuf: Vec<u8>,
    /// When its TCP connect started.
    opened: Option<Instant>,
    /// Client: its messages so far.
    got: Got,
}

impl Link {
    fn new() -> Link {
        Link {
            sock: None,
            state: State::Waiting,
            writable: false,
            out: Vec::new(),
            inbuf: Vec::new(),
            opened: None,
            got: Got::default(),
        }
    }
}

/// What one thread counted; threads' tallies are [`Tally::merge`]d.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    /// Clients driven.
    pub clients: u64,
    /// CONNACKs accepting a client.
    pub connacks: u64,
    /// Of those, with session present.
    pub session_present: u64,
    /// Prepare: SUBACKs granting the client's subscription.
    pub subscribed: u64,
    /// Prepare: clients closed by the broker after their DISCONNECT.
    pub offline: u64,
    /// Messages the publishers sent.
    pub published: u64,
    /// PUBACKs they received.
    pub acked: u64,
    /// Reconnect: clients that received their queued message.
    pub queued: u64,
    /// Reconnect: clients that received the live message (their subscription survived).
    pub live: u64,
    /// Messages received again.
    pub duplicates: u64,
    /// Messages a client received that were not its own.
    pub foreign: u64,
    /// Connections refused, reset, closed early, and protocol errors.
    pub errors: u64,
    /// First client connect, since the epoch.
    pub first_connect: Option<Duration>,
    /// Last client CONNACK, since the epoch.
    pub last_connack: Option<Duration>,
    /// Last queued message received, since the epoch.
    pub last_queued: Option<Duration>,
    /// Each client's connect-to-CONNACK time, nanoseconds.
    pub handshakes: Vec<u64>,
}

impl Tally {
    /// Adds another thread's tally: counts summed, first times the earliest, last the latest.
    pub fn merge(&mut self, o: Tally) {
        self.clients += o.clients;
        self.connacks += o.connacks;
        self.session_present += o.session_present;
        self.subscribed += o.subscribed;
        self.offline += o.offline;
        self.published += o.published;
        self.acked += o.acked;
        self.queued += o.queued;
        self.live += o.live;
        self.duplicates += o.duplicates;
        self.foreign += o.foreign;
        self.errors += o.errors;
        self.first_connect = min_some(self.first_connect, o.first_connect);
        self.last_connack = self.last_connack.max(o.last_connack);
        self.last_queued = self.last_queued.max(o.last_queued);
        self.handshakes.extend(o.handshakes);
    }

    /// Seconds from the first client connect to `last` (0 if either is missing).
    pub fn span(&self, last: Option<Duration>) -> f64 {
        match (self.first_connect, last) {
            (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

fn min_some(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One thread's part: its clients (global indices) and its publisher.
pub struct Runner {
    /// What all threads were given.
    opts: Arc<Options>,
    /// This thread's number (its publisher's id).
    thread: usize,
    /// This thread's event loop; a link's token is its index.
    poll: Poll,
    /// Global index of each client; `links[i]` is client `ks[i]`, the last link the publisher.
    ks: Vec<u32>,
    /// The clients' connections, then the publisher's.
    links: Vec<Link>,
    /// What this thread counted.
    tally: Tally,
    /// Clients opened so far.
    next: usize,
    /// Clients whose state is [`State::in_flight`] (kept by [`Runner::set_state`]).
    in_flight: usize,
    /// Clients whose state is [`State::settled`] (kept by [`Runner::set_state`]).
    settled: usize,
    /// Publisher: topics (client indices) left to publish to.
    to_publish: Vec<u32>,
    /// Publisher: the sequence number it sends (0 queued, 1 live).
    seq: u64,
    /// Publisher: whether it has started.
    publishing: bool,
    /// Publisher: when all its messages were acknowledged.
    published_all_at: Option<Instant>,
}

impl Runner {
    /// Thread `thread`'s runner for clients `ks`.
    pub fn new(opts: Arc<Options>, thread: usize, ks: Vec<u32>) -> io::Result<Runner> {
        let links = (0..=ks.len()).map(|_| Link::new()).collect();
        let tally = Tally {
            clients: ks.len() as u64,
            ..Tally::default()
        };
        Ok(Runner {
            opts,
            thread,
            poll: Poll::new()?,
            ks,
            links,
            tally,
            next: 0,
            in_flight: 0,
            settled: 0,
            to_publish: Vec::new(),
            seq: 0,
            publishing: false,
            published_all_at: None,
        })
    }

    fn publisher(&self) -> usize {
        self.ks.len()
    }

    /// The one door for a link's state: keeps the counts of clients in flight and settled.
    fn set_state(&mut self, i: usize, s: State) {
        let old = std::mem::replace(&mut self.links[i].state, s);
        if i == self.publisher() {
            return;
        }
        let phase = self.opts.phase;
        self.in_flight =
            self.in_flight + usize::from(s.in_flight(phase)) - usize::from(old.in_flight(phase));
        self.settled =
            self.settled + usize::from(s.settled(phase)) - usize::from(old.settled(phase));
    }

    fn open(&mut self, i: usize) {
        let now = Instant::now();
        let publisher = i == self.publisher();
        let id = if publisher {
            publisher_id(&self.opts.prefix, self.thread)
        } else {
            client_id(&self.opts.prefix, self.ks[i])
        };
        let opts = Arc::clone(&self.opts);
        self.links[i].opened = Some(now);
        if !publisher && self.tally.first_connect.is_none() {
            self.tally.first_connect = Some(now.duration_since(opts.epoch));
        }
        let mut s = match opts.target.open(opts.target.addr) {
            Ok(s) => s,
            Err(e) => {
                if self.tally.errors == 0 {
                    eprintln!("sol-load: connect: {e}");
                }
                self.tally.errors += 1;
                self.set_state(i, State::Failed);
                return;
            }
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(s.tcp(), Token(i), interest) {
            eprintln!("sol-load: register: {e}");
            self.tally.errors += 1;
            self.set_state(i, State::Failed);
            return;
        }
        let _ = s.tcp().set_nodelay(true);
        // Clients keep their sessions; the publishers need none.
        let l = &mut self.links[i];
        opts.target
            .proto
            .connect(&id, opts.keepalive, publisher, &mut l.out);
        l.sock = Some(s);
        self.set_state(i, State::Connecting);
    }

    fn close(&mut self, i: usize, state: State) {
        let l = &mut self.links[i];
        if let Some(mut s) = l.sock.take() {
            let _ = self.poll.registry().deregister(s.tcp());
        }
        l.out = Vec::new();
        l.inbuf = Vec::new();
        self.set_state(i, state);
    }

    fn fail(&mut self, i: usize) {
        if self.links[i].state == State::Failed {
            return;
        }
        if self.tally.errors == 0 {
            let who = if i == self.publisher() {
                "the publisher".to_string()
            } else {
                format!("client {}", self.ks[i])
            };
            eprintln!("sol-load: {who} lost in state {:?}", self.links[i].state);
        }
        self.tally.errors += 1;
        self.close(i, State::Failed);
    }

    /// Writes what is buffered; false if the connection failed.
    fn flush(&mut self, i: usize) -> bool {
        let l = &mut self.links[i];
        let Some(sock) = l.sock.as_mut() else {
            return true;
        };
        if l.state == State::Connecting || !l.writable {
            return true;
        }
        let (sent, result) = sock.send(&l.out);
        l.out.drain(..sent);
        match result {
            Ok(()) => true,
            Err(e) if would_block(&e) => {
                l.writable = false;
                true
            }
            Err(_) => false,
        }
    }
}

impl EventLoop for Runner {
    fn poller(&mut self) -> &mut Poll {
        &mut self.poll
    }

    fn on_event(&mut self, i: usize, readable: bool, writable: bool, now: Instant) {
        if i >= self.links.len() || self.links[i].sock.is_none() {
            return;
        }
        if writable && self.links[i].state == State::Connecting {
            match self.links[i].sock.as_mut().map(Stream::connected) {
                Some(Ok(true)) => self.set_state(i, State::AwaitConnack),
                Some(Ok(false)) => return,
                _ => return self.fail(i),
            }
        }
        self.links[i].writable |= writable;
        let alive = !readable || self.read(i, now);
        if alive && !self.flush(i) {
            self.fail(i);
        }
    }
}

impl Runner {
    /// Reads until the socket would block and handles every whole packet; false once the
    /// connection is closed.
    fn read(&mut self, i: usize, now: Instant) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            let Some(sock) = self.links[i].sock.as_mut() else {
                return false;
            };
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.links[i].inbuf.extend_from_slice(&buf[..n]),
                Err(e) if would_block(&e) => {
                    return self.handle_input(i, now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // The end of the stream: what came before it still counts (a SUBACK, a message).
        if self.handle_input(i, now) {
            if self.links[i].state == State::AwaitClose {
                self.tally.offline += 1;
                self.close(i, State::Offline);
            } else {
                self.fail(i);
            }
        }
        false
    }

    /// Handles the whole packets in link `i`'s input; false if it failed.
    fn handle_input(&mut self, i: usize, now: Instant) -> bool {
        let inbuf = std::mem::take(&mut self.links[i].inbuf);
        let mut at = 0;
        let ok = loop {
            match mqtt::frame(&inbuf[at..]) {
                Ok(Some((f, used))) => {
                    if let Err(e) = self.handle_packet(i, &f, now) {
                        eprintln!("sol-load: {e}");
                        break false;
                    }
                    at += used;
                }
                Ok(None) => break true,
                Err(()) => break false,
            }
        };
        if !ok {
            self.fail(i);
            return false;
        }
        if self.links[i].sock.is_some() {
            self.links[i].inbuf = inbuf[at..].to_vec();
        }
        true
    }

    fn handle_packet(&mut self, i: usize, f: &Frame<'_>, now: Instant) -> Result<(), String> {
        let opts = Arc::clone(&self.opts);
        let publisher = i == self.publisher();
        match f.header >> 4 {
            2 => {
                let Ack::Connected {
                    session_present, ..
                } = opts.target.proto.ack(f)?
                else {
                    return Err("SUBACK where a CONNACK was due".into());
                };
                self.set_state(i, State::Online);
                if publisher {
                    return Ok(());
                }
                let l = &mut self.links[i];
                let since = l
                    .opened
                    .map_or(0, |t| now.duration_since(t).as_nanos() as u64);
                self.tally.handshakes.push(since);
                self.tally.connacks += 1;
                self.tally.session_present += u64::from(session_present);
                self.tally.last_connack = Some(now.duration_since(opts.epoch));
                if opts.phase == Phase::Prepare {
                    let filter = [topic(&opts.topic_root, self.ks[i])];
                    opts.target.proto.subscribe(1, &filter, 1, &mut l.out);
                    self.set_state(i, State::AwaitSuback);
                }
            }
            9 => {
                opts.target.proto.ack(f)?;
                self.tally.subscribed += 1;
                opts.target.proto.disconnect(&mut self.links[i].out);
                self.set_state(i, State::AwaitClose);
            }
            3 => {
                let (qos, id, body) = opts
                    .target
                    .proto
                    .parse_publish(f)
                    .ok_or("a malformed PUBLISH")?;
                if qos == 1 {
                    opts.target.proto.puback(id, &mut self.links[i].out);
                }
                if publisher {
                    self.tally.foreign += 1;
                    return Ok(());
                }
                match self.links[i].got.record(self.ks[i], payload::decode(body)) {
                    Receipt::Queued => {
                        self.tally.queued += 1;
                        self.tally.last_queued = Some(now.duration_since(opts.epoch));
                    }
                    Receipt::Live => self.tally.live += 1,
                    Receipt::Duplicate => self.tally.duplicates += 1,
                    Receipt::Foreign => self.tally.foreign += 1,
                }
            }
            4 if publisher => {
                self.tally.acked += 1;
                if opts.target.proto.puback_refused(f) {
                    return Err("a PUBACK refused a message".into());
                }
            }
            13 => {}
            t => return Err(format!("unexpected packet type {t}")),
        }
        Ok(())
    }

    /// The publisher writes what its window allows.
    fn pump(&mut self, now: Instant) {
        let p = self.publisher();
        if !self.publishing || self.links[p].state != State::Online {
            return;
        }
        let window = self.opts.window.max(1);
        let size = self.opts.size.max(payload::HEADER_LEN);
        while !self.to_publish.is_empty() && self.tally.published - self.tally.acked < window {
            let k = self.to_publish.pop().expect("checked not empty");
            let parts = self.opts.target.proto.publish_parts(
                &topic(&self.opts.topic_root, k),
                1,
                false,
                size,
            );
            let out = &mut self.links[p].out;
            out.extend_from_slice(&parts.head);
            out.extend_from_slice(&((self.tally.published % 65535) as u16 + 1).to_be_bytes());
            out.extend_from_slice(&parts.tail);
            let stamp = Stamp {
                publisher: k,
                seq: self.seq,
                sent_ns: now.duration_since(self.opts.epoch).as_nanos() as u64,
            };
            payload::encode(stamp, size, out);
            self.tally.published += 1;
        }
        if !self.flush(p) {
            self.fail(p);
        }
        if self.to_publish.is_empty() && self.tally.acked >= self.tally.published {
            self.published_all_at.get_or_insert(now);
        }
    }

    /// Whether the phase is over (`now`: for the reconnect drain).
    fn done(&self, now: Instant) -> bool {
        let p = self.publisher();
        if self.links[p].state == State::Failed {
            return true;
        }
        let Some(at) = self.published_all_at else {
            return false;
        };
        match self.opts.phase {
            Phase::Prepare => true,
            Phase::Reconnect => {
                let t = &self.tally;
                (t.queued == t.clients && t.live == t.clients) || now >= at + self.opts.drain
            }
        }
    }

    /// Connects the publisher, waits at `barrier` for the other threads, runs the phase
    /// and returns what it counted.
    pub fn run(mut self, barrier: Arc<Barrier>) -> io::Result<Tally> {
        let mut events = Events::with_capacity(1024);
        let p = self.publisher();
        let mut now = Instant::now();
        self.open(p);
        let setup_end = now + PUBLISHER_SETUP;
        while !matches!(self.links[p].state, State::Online | State::Failed) && now < setup_end {
            now = self.turn(&mut events, Duration::from_millis(50))?;
        }
        if self.links[p].state != State::Online {
            self.fail(p);
        }
        barrier.wait();
        let deadline = Instant::now() + self.opts.limit;
        now = Instant::now();
        while now < deadline && !self.done(now) {
            while self.in_flight < self.opts.concurrency.max(1) && self.next < self.ks.len() {
                self.open(self.next);
                self.next += 1;
            }
            // Prepare queues once every client is offline; reconnect publishes the live
            // messages once every client is back.
            if !self.publishing && self.settled == self.ks.len() {
                self.publishing = true;
                self.seq = u64::from(self.opts.phase == Phase::Reconnect);
                self.to_publish = self.ks.iter().rev().copied().collect();
            }
            self.pump(now);
            now = self.turn(&mut events, Duration::from_millis(5))?;
        }
        if now >= deadline && !self.done(now) {
            eprintln!(
                "sol-load: thread {} timed out: {} of {} CONNACKs",
                self.thread,
                self.tally.connacks,
                self.ks.len()
            );
        }
        for i in 0..self.links.len() {
            if self.links[i].sock.is_some() {
                self.opts.target.proto.disconnect(&mut self.links[i].out);
                let _ = self.flush(i);
                self.close(i, State::Offline);
            }
        }
        Ok(self.tally)
    }
}

/// Runs the phase over `threads` threads and prints the JSON line (stdout) and the human
/// line (stderr); `ready N` goes to stderr when the storm starts.
pub fn run(opts: Options, threads: usize, label: &str) -> Result<(), String> {
    let threads = threads.max(1);
    let opts = Arc::new(opts);
    let runners = (0..threads).map(|t| {
        Runner::new(Arc::clone(&opts), t, share(opts.clients, threads, t))
            .map(|r| move |b| r.run(b))
    });
    let done = crate::run_threads(runners, opts.clients)?;
    let mut t = Tally::default();
    for tally in done.results {
        t.merge(tally);
    }
    let (wall, cpu) = (done.wall, done.cpu.0 + done.cpu.1);
    let phase = match opts.phase {
        Phase::Prepare => "prepare",
        Phase::Reconnect => "reconnect",
    };
    let back_s = t.span(t.last_connack);
    let queued_s = t.span(t.last_queued);
    let hs = payload::percentiles(&mut t.handshakes);
    let mut j = crate::Json::new();
    j.str("tool", "sol-load")
        .str("scenario", "resume")
        .str("phase", phase)
        .str("label", label)
        .str("client_prefix", &opts.prefix)
        .str("topic_root", &opts.topic_root)
        .num("clients", t.clients)
        .num("concurrency", opts.concurrency * threads)
        .num("connacks", t.connacks)
        .num("session_present", t.session_present)
        .num("subscribed", t.subscribed)
        .num("offline", t.offline)
        .num("published", t.published)
        .num("acked", t.acked)
        .num("queued_received", t.queued)
        .num("live_received", t.live)
        .num("duplicates", t.duplicates)
        .num("foreign", t.foreign)
        .num("connect_to_last_connack_s", format!("{back_s:.4}"))
        .num("connect_to_last_queued_s", format!("{queued_s:.4}"))
        .num("handshake_p50_us", format!("{:.1}", hs.p50))
        .num("handshake_p99_us", format!("{:.1}", hs.p99))
        .num("handshake_max_us", format!("{:.1}", hs.max))
        .num("errors", t.errors)
        .num("elapsed_s", format!("{wall:.3}"))
        .num("threads", threads)
        .num("gen_cpu_s", format!("{cpu:.3}"));
    println!("{}", j.finish());
    let what = match opts.phase {
        Phase::Prepare => format!(
            "{} of {} sessions subscribed and offline; {} of {} messages queued (acknowledged)",
            t.offline, t.clients, t.acked, t.clients
        ),
        Phase::Reconnect => format!(
            "{} of {} back in {back_s:.3} s (session present {}), queued messages {} by {queued_s:.3} s, live {}, duplicates {}, foreign {}; connect to CONNACK p50 {:.0} us p99 {:.0} us max {:.0} us",
            t.connacks, t.clients, t.session_present, t.queued, t.live, t.duplicates, t.foreign,
            hs.p50, hs.p99, hs.max
        ),
    };
    eprintln!(
        "resume {phase} {label}: {what}; errors {}; elapsed {wall:.2} s; generator CPU {cpu:.2} s",
        t.errors
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(publisher: u32, seq: u64) -> Option<Stamp> {
        Some(Stamp {
            publisher,
            seq,
            sent_ns: 0,
        })
    }

    #[test]
    fn phases_are_named_on_the_command_line() {
        assert_eq!(Phase::parse("prepare"), Ok(Phase::Prepare));
        assert_eq!(Phase::parse("reconnect"), Ok(Phase::Reconnect));
        assert!(Phase::parse("restart").is_err());
    }

    #[test]
    fn client_ids_stay_within_what_every_broker_accepts() {
        assert!(check_prefix("rs4242x5-", 5000, 4).is_ok());
        assert_eq!(client_id("rs-", 4999), "rs-4999");
        // 18 + 5 digits = 23: the limit itself is accepted, one more is not.
        assert!(check_prefix(&"a".repeat(18), 100_000, 1).is_ok());
        assert!(check_prefix(&"a".repeat(19), 100_000, 1).is_err());
        // The publishers' ids count too.
        assert!(check_prefix(&"a".repeat(20), 10, 1000).is_err());
        for bad in ["", "a/b", "a b", "é", "a+"] {
            assert!(check_prefix(bad, 10, 1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_publisher_id_is_never_a_client_id() {
        let clients: Vec<String> = (0..1000).map(|k| client_id("x", k)).collect();
        for t in 0..16 {
            assert!(!clients.contains(&publisher_id("x", t)));
        }
    }

    #[test]
    fn a_reconnecting_client_frees_its_place_at_connack_a_preparing_one_when_closed() {
        use State::*;
        // Each state: in flight (prepare, reconnect), then settled (prepare, reconnect).
        let table = [
            (Waiting, [false, false], [false, false]),
            (Connecting, [true, true], [false, false]),
            (AwaitConnack, [true, true], [false, false]),
            (AwaitSuback, [true, false], [false, false]),
            (AwaitClose, [true, false], [false, false]),
            (Online, [false, false], [false, true]),
            (Offline, [false, false], [true, false]),
            (Failed, [false, false], [true, true]),
        ];
        let phases = [Phase::Prepare, Phase::Reconnect];
        for (s, in_flight, settled) in table {
            assert_eq!(phases.map(|p| s.in_flight(p)), in_flight, "{s:?} in flight");
            assert_eq!(phases.map(|p| s.settled(p)), settled, "{s:?} settled");
        }
    }

    #[test]
    fn threads_share_every_client_once() {
        let mut all: Vec<u32> = (0..3).flat_map(|t| share(10, 3, t)).collect();
        assert_eq!(share(10, 3, 0), [0, 3, 6, 9]);
        assert_eq!(share(10, 3, 2), [2, 5, 8]);
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(share(2, 4, 3).is_empty());
        assert_eq!(share(3, 0, 0), [0, 1, 2]);
    }

    #[test]
    fn a_client_counts_its_own_queued_and_live_message_once() {
        let mut g = Got::default();
        assert_eq!(g.record(7, stamp(7, 1)), Receipt::Live);
        assert_eq!(g.record(7, stamp(7, 0)), Receipt::Queued);
        assert_eq!(g.record(7, stamp(7, 0)), Receipt::Duplicate);
        assert_eq!(g.record(7, stamp(7, 1)), Receipt::Duplicate);
        assert_eq!(g.record(7, stamp(8, 0)), Receipt::Foreign);
        assert_eq!(g.record(7, stamp(7, 2)), Receipt::Foreign);
        assert_eq!(g.record(7, None), Receipt::Foreign);
        assert_eq!(
            g,
            Got {
                queued: true,
                live: true
            }
        );
    }

    #[test]
    fn merged_tallies_span_from_the_first_connect_to_the_last_connack() {
        let ms = Duration::from_millis;
        let mut a = Tally {
            clients: 2,
            connacks: 2,
            session_present: 2,
            first_connect: Some(ms(10)),
            last_connack: Some(ms(50)),
            handshakes: vec![1, 2],
            ..Tally::default()
        };
        let b = Tally {
            clients: 3,
            connacks: 3,
            session_present: 1,
            errors: 1,
            first_connect: Some(ms(5)),
            last_connack: Some(ms(40)),
            last_queued: Some(ms(60)),
            handshakes: vec![3],
            ..Tally::default()
        };
        a.merge(b);
        a.merge(Tally::default());
        assert_eq!(
            (a.clients, a.connacks, a.session_present, a.errors),
            (5, 5, 3, 1)
        );
        assert_eq!(a.handshakes, [1, 2, 3]);
        assert!((a.span(a.last_connack) - 0.045).abs() < 1e-9);
        assert!((a.span(a.last_queued) - 0.055).abs() < 1e-9);
        assert_eq!(Tally::default().span(Some(ms(3))), 0.0);
    }
}
