//! `sol-load`: a loopback MQTT 3.1.1 and 5.0 load generator for comparing brokers side by side.
//!
//! Scenarios: `fan-in` (N publishers to 1 subscriber), `fan-out` (1 publisher to N
//! subscribers), `latency` (fixed total rate; p50/p99/max from timestamps in the payload),
//! `sessions` (persistent subscribers going offline and coming back), `idle` (hold N
//! subscribed connections), `storm` (connect/disconnect loop) and `resume` (persistent
//! sessions reconnecting at once after a broker restart, see [`resume`]). The publishing scenarios
//! can hold background connections and subscriptions that match none of the measured
//! traffic while they run. Every run is bounded in time. The result is one JSON line on
//! stdout and one human line on stderr; the generator's own CPU time (getrusage) is part of
//! both so one can see it was not the bottleneck. A line `ready N` goes to stderr once the
//! N connections are set up and the measured phase starts.
//!
//! `--write-mode batch|single` chooses whether publishers write many PUBLISH packets per
//! write or one (each paced message when it falls due, see [`pace`]); `--nodelay on|off`
//! whether every client socket sets TCP_NODELAY. Both are in the JSON line.
//!
//! With `--sub-port PORT` the subscribers connect to another broker on the same host as
//! the publishers (the upstream of a bridge the publishers feed, `benches/bridge.py`).
//!
//! With `--tls-ca FILE` every connection is TLS (rustls with the ring provider, TLS 1.3 or
//! 1.2 as the broker chooses), trusting that CA only; see [`tls`].
//!
//! With `--websocket` every connection speaks MQTT over WebSockets (RFC 6455, the
//! subprotocol `mqtt`, request target `--ws-path`): `ws://`, or `wss://` with `--tls-ca`;
//! see [`ws`]. What is measured is the same.
//!
//! With `--protocol 5` every client speaks MQTT 5.0 (see [`mqtt::Proto`]): CONNECT asks for
//! a Receive Maximum of `--window`, PUBLISH carries a property section (empty unless
//! `--user-property` or `--message-expiry` fill it), and what is measured is the same.

mod mqtt;
mod pace;
mod payload;
mod resume;
mod stream;
mod target;
mod tls;
mod topics;
mod worker;
mod ws;
mod ws_frame;

use argh::FromArgs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use target::Target;
use worker::{Mode, Role, Settings, Worker, WriteMode};

/// Loopback MQTT load generator (fan-in, fan-out, latency, sessions, idle, storm, resume).
#[derive(FromArgs, Debug)]
struct Args {
    /// scenario: fan-in, fan-out, latency, sessions, idle, storm or resume
    #[argh(positional)]
    scenario: String,
    /// broker host (loopback only; default 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    host: String,
    /// broker port
    #[argh(option, short = 'p')]
    port: u16,
    /// subscribers connect to this port on --host instead of --port (e.g. the upstream of
    /// a bridge the publishers feed)
    #[argh(option)]
    sub_port: Option<u16>,
    /// connect with TLS, trusting the CA certificate(s) in this PEM file only
    #[argh(option)]
    tls_ca: Option<std::path::PathBuf>,
    /// with --tls-ca: the name the broker's certificate must carry (default: --host)
    #[argh(option)]
    tls_server_name: Option<String>,
    /// speak MQTT over WebSockets (ws://, or wss:// with --tls-ca)
    #[argh(switch)]
    websocket: bool,
    /// with --websocket: the request target of the upgrade (default /mqtt)
    #[argh(option)]
    ws_path: Option<String>,
    /// MQTT version every client speaks: 3.1.1 (default) or 5
    #[argh(option, default = "String::from(\"3.1.1\")")]
    protocol: String,
    /// with --protocol 5: a user property NAME=VALUE in every PUBLISH (repeatable)
    #[argh(option)]
    user_property: Vec<String>,
    /// with --protocol 5: a message expiry interval, seconds, in every PUBLISH
    #[argh(option)]
    message_expiry: Option<u32>,
    /// publishers (default: fan-in 64, otherwise 1)
    #[argh(option)]
    publishers: Option<u32>,
    /// subscribers (default: fan-out 100, sessions 10, otherwise 1)
    #[argh(option)]
    subscribers: Option<u32>,
    /// quality of service of publishes and subscriptions, 0 or 1 (default: sessions 1,
    /// otherwise 0)
    #[argh(option)]
    qos: Option<u8>,
    /// payload bytes, at least 20 (default 64)
    #[argh(option, default = "64")]
    size: usize,
    /// seconds of publishing, holding or storming (default 10)
    #[argh(option, default = "10.0")]
    duration: f64,
    /// unacknowledged QoS 1 messages per publisher (default 20)
    #[argh(option, default = "20")]
    window: u64,
    /// total messages per second, 0 = flood (default: latency 20000, sessions 100,
    /// otherwise 0); storm: connects per second (default 0, as fast as possible)
    #[argh(option)]
    rate: Option<f64>,
    /// how publishers write: batch (up to 64 KiB of PUBLISH packets per write; the default)
    /// or single (one PUBLISH per write; with --rate each written when it falls due)
    #[argh(option, default = "String::from(\"batch\")")]
    write_mode: String,
    /// TCP_NODELAY on every client socket: on (the default) or off (Nagle's algorithm)
    #[argh(option, default = "String::from(\"on\")")]
    nodelay: String,
    /// publishers set the RETAIN flag on every message
    #[argh(switch)]
    retain: bool,
    /// topic prefix (default bench/NONCE, unique per run); several sol-load processes
    /// sharing one see each other's messages
    #[argh(option)]
    topic_root: Option<String>,
    /// levels of the measured topics, ROOT/PUBLISHER/l1/l2/... (default: the root's levels + 1)
    #[argh(option)]
    topic_levels: Option<usize>,
    /// fan-in, fan-out, latency, sessions: idle connections held while the measured load runs
    /// (default 0)
    #[argh(option, default = "0")]
    background_connections: u32,
    /// subscriptions spread over the background connections, matching none of the measured
    /// traffic (default 0)
    #[argh(option, default = "0")]
    background_subscriptions: u64,
    /// seed of the background filters (default 1)
    #[argh(option, default = "1")]
    seed: u64,
    /// sessions: seconds a subscriber stays online between absences (default 5)
    #[argh(option, default = "5.0")]
    online: f64,
    /// sessions: seconds a subscriber stays offline, its messages queued (default 2)
    #[argh(option, default = "2.0")]
    offline: f64,
    /// storm: subscribe to ROOT/# (receiving what is retained there) before disconnecting
    #[argh(switch)]
    subscribe: bool,
    /// resume: prepare (sessions subscribed, offline, one message queued each) or
    /// reconnect (all back at once, after a broker restart)
    #[argh(option)]
    phase: Option<String>,
    /// resume: client id prefix, the same in both phases (ids PREFIX0, PREFIX1, ...; topics
    /// ROOT/0, ROOT/1, ... with ROOT resume/PREFIX unless --topic-root)
    #[argh(option)]
    client_prefix: Option<String>,
    /// idle connections (default 1000)
    #[argh(option, default = "1000")]
    connections: u32,
    /// handshakes in flight (idle) or looping connections (storm) (default 64)
    #[argh(option, default = "64")]
    concurrency: usize,
    /// keep-alive in seconds sent in CONNECT (default 60)
    #[argh(option, default = "60")]
    keepalive: u16,
    /// generator threads (default 1)
    #[argh(option, default = "1")]
    threads: usize,
    /// longest wait in seconds for the last messages after publishing stops (default 5)
    #[argh(option, default = "5.0")]
    drain: f64,
    /// free-form label copied into the JSON line (e.g. the broker's name)
    #[argh(option, default = "String::new()")]
    label: String,
}

/// Raises the soft open-file limit to the hard one (10k idle connections need it).
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
        // rlim_t is not u64 on every target.
        #[allow(clippy::unnecessary_cast)]
        let cur = rl.rlim_cur as u64;
        cur
    }
}

/// User and system CPU seconds of this process so far.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (tv(ru.ru_utime), tv(ru.ru_stime))
    }
}

/// What the generator threads returned, with the time and CPU they took.
struct Finished<R> {
    /// Each thread's result, in the order the threads were made.
    results: Vec<R>,
    /// Seconds from the threads' common start to the end of the last one.
    wall: f64,
    /// The generator's CPU seconds (user, system) from before the first thread was made.
    cpu: (f64, f64),
}

/// Makes a generator thread for each of `runners` (built as its thread is made), starts
/// them together once all are set up (stderr: `ready {ready}`), and waits for all of them.
fn run_threads<R, F>(
    runners: impl ExactSizeIterator<Item = std::io::Result<F>>,
    ready: impl std::fmt::Display,
) -> Result<Finished<R>, String>
where
    F: FnOnce(Arc<Barrier>) -> std::io::Result<R> + Send + 'static,
    R: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(runners.len() + 1));
    let cpu0 = cpu_times();
    let mut handles = Vec::new();
    for runner in runners {
        let r = runner.map_err(|e| e.to_string())?;
        let b = Arc::clone(&barrier);
        handles.push(std::thread::spawn(move || r(b)));
    }
    barrier.wait();
    let start = Instant::now();
    eprintln!("ready {ready}");
    let mut results = Vec::new();
    for h in handles {
        results.push(
            h.join()
                .map_err(|_| "a generator thread panicked".to_string())?
                .map_err(|e| e.to_string())?,
        );
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu1 = cpu_times();
    Ok(Finished {
        results,
        wall,
        cpu: (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1),
    })
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: sol-load is loopback only"
        ));
    }
    Ok(addr)
}

/// A JSON line built field by field (numbers and plain strings only).
struct Json(String);

impl Json {
    fn new() -> Json {
        Json(String::from("{"))
    }
    fn sep(&mut self) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Json {
        self.sep();
        let v: String = v
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        self.0.push_str(&format!("\"{k}\":\"{v}\""));
        self
    }
    fn num(&mut self, k: &str, v: impl std::fmt::Display) -> &mut Json {
        self.sep();
        self.0.push_str(&format!("\"{k}\":{v}"));
        self
    }
    fn finish(&mut self) -> String {
        self.0.push('}');
        std::mem::take(&mut self.0)
    }
}

/// Checks a topic name given on the command line [MQTT-4.7.1-1, MQTT-4.7.3-1].
fn check_topic(t: &str) -> Result<(), String> {
    if t.is_empty() || t.contains(['+', '#', '\0']) {
        return Err(format!(
            "--topic-root {t:?}: not a topic name (empty, wildcard or NUL)"
        ));
    }
    Ok(())
}

/// The protocol of `--protocol`, with the PUBLISH properties asked for.
fn protocol(a: &Args) -> Result<mqtt::Proto, String> {
    match a.protocol.as_str() {
        "3.1.1" | "311" | "4" => {
            if !a.user_property.is_empty() || a.message_expiry.is_some() {
                return Err("--user-property and --message-expiry go with --protocol 5".into());
            }
            Ok(mqtt::Proto::v311())
        }
        "5" | "5.0" => {
            let users = a
                .user_property
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                    _ => Err(format!("--user-property {kv:?}: not NAME=VALUE")),
                })
                .collect::<Result<Vec<_>, String>>()?;
            mqtt::Proto::v5(a.window, &users, a.message_expiry)
        }
        p => Err(format!("--protocol {p:?}: 3.1.1 or 5")),
    }
}

fn run(a: Args) -> Result<(), String> {
    let addr = resolve(&a.host, a.port)?;
    let sub_addr = match a.sub_port {
        Some(port) => resolve(&a.host, port)?,
        None => addr,
    };
    let proto = protocol(&a)?;
    let tls = match &a.tls_ca {
        Some(ca) => Some(tls::Connector::new(
            ca,
            a.tls_server_name.as_deref().unwrap_or(&a.host),
        )?),
        None if a.tls_server_name.is_some() => {
            return Err("--tls-server-name goes with --tls-ca".into())
        }
        None => None,
    };
    let websocket = match (a.websocket, &a.ws_path) {
        (true, path) => Some(ws::Upgrade::new(
            path.as_deref().unwrap_or("/mqtt"),
            &addr.to_string(),
        )?),
        (false, Some(_)) => return Err("--ws-path goes with --websocket".into()),
        (false, None) => None,
    };
    if websocket.is_some() && a.sub_port.is_some() {
        // The upgrade request names one host:port for every connection.
        return Err("--sub-port does not go with --websocket".into());
    }
    let write_mode = match a.write_mode.as_str() {
        "batch" => WriteMode::Batch,
        "single" => WriteMode::Single,
        m => return Err(format!("--write-mode {m:?}: batch or single")),
    };
    let nodelay = match a.nodelay.as_str() {
        "on" => true,
        "off" => false,
        v => return Err(format!("--nodelay {v:?}: on or off")),
    };
    let nofile = raise_nofile();
    let target = Target {
        addr,
        tls,
        websocket: websocket.clone(),
        proto: proto.clone(),
    };
    if a.scenario == "resume" {
        return run_resume(a, target, nofile);
    }
    let (mode, pubs, subs) = match a.scenario.as_str() {
        "fan-in" => (
            Mode::PubSub,
            a.publishers.unwrap_or(64),
            a.subscribers.unwrap_or(1),
        ),
        "fan-out" => (
            Mode::PubSub,
            a.publishers.unwrap_or(1),
            a.subscribers.unwrap_or(100),
        ),
        "latency" => (
            Mode::PubSub,
            a.publishers.unwrap_or(1),
            a.subscribers.unwrap_or(1),
        ),
        "sessions" => (
            Mode::PubSub,
            a.publishers.unwrap_or(1),
            a.subscribers.unwrap_or(10),
        ),
        "idle" => (Mode::Idle, 0, 0),
        "storm" => (Mode::Storm, 0, 0),
        s => {
            return Err(format!(
                "unknown scenario {s:?} (fan-in, fan-out, latency, sessions, idle, storm, resume)"
            ))
        }
    };
    let sessions = a.scenario == "sessions";
    let qos = a.qos.unwrap_or(u8::from(sessions));
    if qos > 1 {
        return Err("--qos must be 0 or 1".into());
    }
    let background = u64::from(a.background_connections) + a.background_subscriptions;
    if background > 0 && mode != Mode::PubSub {
        return Err(
            "background connections and subscriptions go with fan-in, fan-out, latency or sessions"
                .into(),
        );
    }
    if a.background_subscriptions > 0 && a.background_connections == 0 {
        return Err("--background-subscriptions needs --background-connections".into());
    }
    if sessions && !(a.online > 0.0 && a.offline >= 0.0) {
        return Err("--online must be positive and --offline not negative".into());
    }
    if a.size < payload::HEADER_LEN {
        return Err(format!("--size must be at least {}", payload::HEADER_LEN));
    }
    if !(a.duration > 0.0 && a.duration <= 3600.0) {
        return Err("--duration must be in (0, 3600] seconds".into());
    }
    let threads = a.threads.max(1);
    let rate = a.rate.unwrap_or(match a.scenario.as_str() {
        "latency" => 20_000.0,
        "sessions" => 100.0,
        _ => 0.0,
    });
    if rate.is_nan() || rate < 0.0 {
        return Err("--rate must not be negative".into());
    }
    let epoch = Instant::now();
    let nonce = format!(
        "{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros())
    );
    let mut roles: Vec<Role> = Vec::new();
    match mode {
        Mode::PubSub => {
            // Background connections first: they are set up before the measured ones.
            roles.extend((0..a.background_connections).map(Role::Background));
            roles.extend((0..subs).map(Role::Subscriber));
            roles.extend((0..pubs).map(Role::Publisher));
        }
        Mode::Idle => roles.extend((0..a.connections).map(Role::Idle)),
        Mode::Storm => roles.extend((0..a.concurrency.max(1) as u32).map(Role::Storm)),
    }
    let need = roles.len() as u64 + 64;
    if nofile < need {
        return Err(format!(
            "open-file limit {nofile} is below the {need} needed: raise it (ulimit -Hn)"
        ));
    }
    let topic_root = match a.topic_root {
        Some(root) => root,
        None => format!("bench/{nonce}"),
    };
    check_topic(&topic_root)?;
    let topic_levels = a
        .topic_levels
        .unwrap_or(0)
        .max(topics::levels(&topic_root) + 1);
    let connections = roles.len();
    let set = Arc::new(Settings {
        target,
        sub_addr,
        mode,
        qos,
        size: a.size,
        window: a.window.max(1),
        rate_per_publisher: if pubs > 0 {
            rate / f64::from(pubs)
        } else {
            0.0
        },
        write_mode,
        nodelay,
        duration: Duration::from_secs_f64(a.duration),
        drain: Duration::from_secs_f64(a.drain.max(0.0)),
        keepalive: a.keepalive,
        concurrency: (a.concurrency / threads).max(1),
        record_latency: rate > 0.0 && mode == Mode::PubSub,
        epoch,
        id_prefix: format!("sl{nonce}-"),
        topic_root,
        topic_levels,
        retain: a.retain,
        publishers: pubs,
        subscribers: subs,
        background_connections: a.background_connections,
        background_subscriptions: a.background_subscriptions,
        seed: a.seed,
        persistent: sessions,
        online: Duration::from_secs_f64(a.online.max(0.001)),
        offline: Duration::from_secs_f64(a.offline.max(0.0)),
        storm_subscribe: a.subscribe,
        connect_rate: if mode == Mode::Storm {
            rate / threads as f64
        } else {
            0.0
        },
    });
    // Round-robin the connections over the threads.
    let mut per: Vec<Vec<Role>> = vec![Vec::new(); threads];
    for (k, r) in roles.into_iter().enumerate() {
        per[k % threads].push(r);
    }
    let runners = per
        .into_iter()
        .map(|roles| Worker::new(Arc::clone(&set), roles).map(|w| move |b| w.run(b)));
    let Finished {
        results: mut reports,
        wall,
        cpu: (cpu_user, cpu_sys),
    } = run_threads(runners, connections)?;
    let cpu = cpu_user + cpu_sys;

    let mut j = Json::new();
    let v5 = proto.version() == sol::codec::ProtocolVersion::V5;
    j.str("tool", "sol-load")
        .str("scenario", &a.scenario)
        .str("label", &a.label)
        .str("protocol", if v5 { "5.0" } else { "3.1.1" })
        .str("write_mode", &a.write_mode)
        .str("nodelay", &a.nodelay);
    if v5 {
        j.num("publish_properties_bytes", proto.publish_properties_len());
    }
    if a.tls_ca.is_some() {
        // The session of the first connection accepted; "none" if no handshake completed.
        let session = reports.iter().find_map(|r| r.tls.clone());
        j.str("tls", session.as_deref().unwrap_or("none"));
    }
    if let Some(upgrade) = &websocket {
        j.str("websocket", upgrade.path());
    }
    if let Some(port) = a.sub_port {
        j.num("sub_port", port);
    }
    let errors: u64 = reports.iter().map(|r| r.errors).sum();
    let mut human = format!("{} {}", a.scenario, a.label);
    if v5 {
        human.push_str(" [MQTT 5.0]");
    }
    if let Some(session) = reports.iter().find_map(|r| r.tls.as_deref()) {
        human.push_str(&format!(" ({session})"));
    }
    if let Some(upgrade) = &websocket {
        human.push_str(&format!(" [WebSocket {}]", upgrade.path()));
    }
    if write_mode != WriteMode::Batch || !nodelay {
        human.push_str(&format!(
            " [{} writes, nodelay {}]",
            a.write_mode, a.nodelay
        ));
    }
    match mode {
        Mode::PubSub => {
            let sent: u64 = reports.iter().flat_map(|r| &r.sent).map(|s| s.1).sum();
            let acked: u64 = reports.iter().map(|r| r.acked).sum();
            let pub_writes: u64 = reports.iter().map(|r| r.pub_writes).sum();
            let refused: u64 = reports.iter().map(|r| r.refused).sum();
            let received: u64 = reports.iter().map(|r| r.received).sum();
            let dups: u64 = reports.iter().map(|r| r.duplicates).sum();
            let expected = sent * u64::from(subs);
            let lost = expected.saturating_sub(received);
            let pub_secs = a.duration;
            let recv_secs = reports
                .iter()
                .filter_map(|r| r.last_delivery)
                .max()
                .map_or(pub_secs, |d| d.as_secs_f64().max(pub_secs));
            let in_window: u64 = reports.iter().map(|r| r.received_in_window).sum();
            let send_rate = sent as f64 / pub_secs;
            // Deliveries while publishing: a flood leaves a backlog in socket buffers that
            // the broker works through afterwards, which says little about its rate.
            let recv_rate = in_window as f64 / pub_secs;
            let recv_rate_total = received as f64 / recv_secs;
            let mut lat: Vec<u64> = reports
                .iter_mut()
                .flat_map(|r| r.latencies.drain(..))
                .collect();
            let other: u64 = reports.iter().map(|r| r.other_received).sum();
            let connects: u64 = reports.iter().map(|r| r.connects).sum();
            j.num("qos", qos)
                .num("size", a.size)
                .num("publishers", pubs)
                .num("subscribers", subs)
                .num("window", a.window)
                .num("rate", rate)
                .num("retain", u8::from(a.retain))
                .num("topic_levels", topic_levels)
                .num("background_connections", a.background_connections)
                .num("background_subscriptions", a.background_subscriptions)
                .num("seed", a.seed)
                .num("other_received", other)
                .num("connects", connects)
                .num("sent", sent)
                .num("pub_writes", pub_writes)
                .num("acked", acked)
                .num("refused", refused)
                .num("expected", expected)
                .num("received", received)
                .num("lost", lost)
                .num("duplicates", dups)
                .num("send_rate", format!("{send_rate:.0}"))
                .num("recv_rate", format!("{recv_rate:.0}"))
                .num("received_in_window", in_window)
                .num("recv_rate_total", format!("{recv_rate_total:.0}"));
            human = format!(
                "{human}: {pubs}->{subs} qos{qos} {}B: sent {sent} ({send_rate:.0}/s) received {received} ({recv_rate:.0}/s while publishing) lost {lost} dup {dups}",
                a.size
            );
            if qos > 0 {
                human.push_str(&format!(" acked {acked}"));
            }
            if refused > 0 {
                human.push_str(&format!(" ({refused} refused)"));
            }
            if sessions {
                j.num("online_s", a.online).num("offline_s", a.offline);
                human.push_str(&format!(", {connects} connects"));
            }
            if background > 0 {
                human.push_str(&format!(
                    ", background {} connections {} subscriptions (received {other})",
                    a.background_connections, a.background_subscriptions
                ));
            }
            if !lat.is_empty() {
                let p = payload::percentiles(&mut lat);
                j.num("lat_samples", lat.len())
                    .num("lat_p50_us", format!("{:.1}", p.p50))
                    .num("lat_p99_us", format!("{:.1}", p.p99))
                    .num("lat_p999_us", format!("{:.1}", p.p999))
                    .num("lat_max_us", format!("{:.1}", p.max));
                human.push_str(&format!(
                    ", latency p50 {:.0} us p99 {:.0} us p99.9 {:.0} us max {:.0} us",
                    p.p50, p.p99, p.p999, p.max
                ));
            }
        }
        Mode::Idle => {
            let est: u64 = reports.iter().map(|r| r.established).sum();
            let setup = reports
                .iter()
                .map(|r| r.setup)
                .max()
                .unwrap_or_default()
                .as_secs_f64();
            j.num("connections", a.connections)
                .num("established", est)
                .num("setup_s", format!("{setup:.3}"))
                .num("keepalive", a.keepalive);
            human = format!(
                "{human}: {est}/{} connections subscribed in {setup:.2} s, held {:.1} s",
                a.connections, a.duration
            );
        }
        Mode::Storm => {
            let connects: u64 = reports.iter().map(|r| r.connects).sum();
            let achieved = connects as f64 / a.duration;
            let other: u64 = reports.iter().map(|r| r.other_received).sum();
            j.num("concurrency", a.concurrency)
                .num("rate", rate)
                .num("subscribe", u8::from(a.subscribe))
                .num("other_received", other)
                .num("connects", connects)
                .num("connects_per_s", format!("{achieved:.0}"));
            human = format!(
                "{human}: {connects} connect/CONNACK/DISCONNECT cycles, {achieved:.0}/s with {} looping",
                a.concurrency
            );
            if a.subscribe {
                human.push_str(&format!(", {other} retained messages received"));
            }
        }
    }
    j.num("errors", errors)
        .num("duration_s", a.duration)
        .num("elapsed_s", format!("{wall:.3}"))
        .num("threads", threads)
        .num("gen_cpu_user_s", format!("{cpu_user:.3}"))
        .num("gen_cpu_sys_s", format!("{cpu_sys:.3}"))
        .num("gen_cpu_s", format!("{cpu:.3}"))
        .num(
            "gen_cpu_pct",
            format!("{:.1}", 100.0 * cpu / wall.max(1e-9)),
        );
    println!("{}", j.finish());
    eprintln!(
        "{human}; errors {errors}; elapsed {wall:.2} s; generator CPU {cpu:.2} s ({:.0}% of one core)",
        100.0 * cpu / wall.max(1e-9)
    );
    Ok(())
}

/// `resume`: checks its options and runs the phase (see [`resume`]).
fn run_resume(a: Args, target: Target, nofile: u64) -> Result<(), String> {
    let phase = resume::Phase::parse(a.phase.as_deref().unwrap_or(""))?;
    let prefix = a.client_prefix.ok_or("resume needs --client-prefix")?;
    let threads = a.threads.max(1);
    resume::check_prefix(&prefix, a.connections, threads)?;
    let topic_root = a.topic_root.unwrap_or_else(|| format!("resume/{prefix}"));
    check_topic(&topic_root)?;
    if !(a.duration > 0.0 && a.duration < f64::from(a.keepalive)) {
        return Err("resume: --duration must be positive and below --keepalive".into());
    }
    let need = u64::from(a.connections) + threads as u64 + 64;
    if nofile < need {
        return Err(format!(
            "open-file limit {nofile} is below the {need} needed: raise it (ulimit -Hn)"
        ));
    }
    let opts = resume::Options {
        target,
        phase,
        clients: a.connections,
        prefix,
        topic_root,
        concurrency: a.concurrency.div_ceil(threads).max(1),
        window: a.window,
        size: a.size.max(payload::HEADER_LEN),
        keepalive: a.keepalive,
        limit: Duration::from_secs_f64(a.duration),
        drain: Duration::from_secs_f64(a.drain.max(0.0)),
        epoch: Instant::now(),
    };
    resume::run(opts, threads, &a.label)
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sol-load: {e}");
            ExitCode::FAILURE
        }
    }
}
