//! `sol-load`: a loopback MQTT 3.1.1 load generator for comparing brokers side by side.
//!
//! Scenarios: `fan-in` (N publishers to 1 subscriber), `fan-out` (1 publisher to N
//! subscribers), `latency` (fixed total rate; p50/p99/max from timestamps in the payload),
//! `idle` (hold N subscribed connections) and `storm` (connect/disconnect loop). Every run is
//! bounded in time. The result is one JSON line on stdout and one human line on stderr; the
//! generator's own CPU time (getrusage) is part of both so one can see it was not the
//! bottleneck. In `idle` mode a line `ready N` goes to stderr once the connections are up.

mod mqtt;
mod payload;
mod worker;

use argh::FromArgs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use worker::{Mode, Report, Role, Settings, Worker};

/// Loopback MQTT load generator (fan-in, fan-out, latency, idle, storm).
#[derive(FromArgs, Debug)]
struct Args {
    /// scenario: fan-in, fan-out, latency, idle or storm
    #[argh(positional)]
    scenario: String,
    /// broker host (loopback only; default 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    host: String,
    /// broker port
    #[argh(option, short = 'p')]
    port: u16,
    /// publishers (default: fan-in 64, otherwise 1)
    #[argh(option)]
    publishers: Option<u32>,
    /// subscribers (default: fan-out 100, otherwise 1)
    #[argh(option)]
    subscribers: Option<u32>,
    /// quality of service of publishes and subscriptions, 0 or 1 (default 0)
    #[argh(option, default = "0")]
    qos: u8,
    /// payload bytes, at least 20 (default 64)
    #[argh(option, default = "64")]
    size: usize,
    /// seconds of publishing, holding or storming (default 10)
    #[argh(option, default = "10.0")]
    duration: f64,
    /// unacknowledged QoS 1 messages per publisher (default 20)
    #[argh(option, default = "20")]
    window: u64,
    /// total messages per second, 0 = flood (default: latency 20000, otherwise 0)
    #[argh(option)]
    rate: Option<f64>,
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

fn run(a: Args) -> Result<(), String> {
    let addr = resolve(&a.host, a.port)?;
    let nofile = raise_nofile();
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
        "idle" => (Mode::Idle, 0, 0),
        "storm" => (Mode::Storm, 0, 0),
        s => {
            return Err(format!(
                "unknown scenario {s:?} (fan-in, fan-out, latency, idle, storm)"
            ))
        }
    };
    if a.qos > 1 {
        return Err("--qos must be 0 or 1".into());
    }
    if a.size < payload::HEADER_LEN {
        return Err(format!("--size must be at least {}", payload::HEADER_LEN));
    }
    if !(a.duration > 0.0 && a.duration <= 3600.0) {
        return Err("--duration must be in (0, 3600] seconds".into());
    }
    let threads = a.threads.max(1);
    let rate = a.rate.unwrap_or(if a.scenario == "latency" {
        20_000.0
    } else {
        0.0
    });
    let mut roles: Vec<Role> = Vec::new();
    match mode {
        Mode::PubSub => {
            roles.extend((0..subs).map(Role::Subscriber));
            roles.extend((0..pubs).map(Role::Publisher));
        }
        Mode::Idle => {
            let need = u64::from(a.connections) + 64;
            if nofile < need {
                return Err(format!(
                    "open-file limit {nofile} is below the {need} needed: raise it (ulimit -Hn)"
                ));
            }
            roles.extend((0..a.connections).map(Role::Idle));
        }
        Mode::Storm => roles.extend((0..a.concurrency.max(1) as u32).map(Role::Storm)),
    }
    let epoch = Instant::now();
    let nonce = format!(
        "{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros())
    );
    let set = Arc::new(Settings {
        addr,
        mode,
        qos: a.qos,
        size: a.size,
        window: a.window.max(1),
        rate_per_publisher: if pubs > 0 {
            rate / f64::from(pubs)
        } else {
            0.0
        },
        duration: Duration::from_secs_f64(a.duration),
        drain: Duration::from_secs_f64(a.drain.max(0.0)),
        keepalive: a.keepalive,
        concurrency: (a.concurrency / threads).max(1),
        record_latency: rate > 0.0,
        epoch,
        id_prefix: format!("sl{nonce}-"),
        topic_root: format!("bench/{nonce}"),
    });
    // Round-robin the connections over the threads.
    let mut per: Vec<Vec<Role>> = vec![Vec::new(); threads];
    for (k, r) in roles.into_iter().enumerate() {
        per[k % threads].push(r);
    }
    let barrier = Arc::new(Barrier::new(threads + 1));
    let cpu0 = cpu_times();
    let mut handles = Vec::new();
    for roles in per {
        let w = Worker::new(Arc::clone(&set), roles).map_err(|e| e.to_string())?;
        let b = Arc::clone(&barrier);
        handles.push(std::thread::spawn(move || w.run(b)));
    }
    barrier.wait();
    let start = Instant::now();
    if mode == Mode::Idle {
        eprintln!("ready {}", a.connections);
    }
    let mut reports: Vec<Report> = Vec::new();
    for h in handles {
        reports.push(
            h.join()
                .map_err(|_| "a generator thread panicked".to_string())?
                .map_err(|e| e.to_string())?,
        );
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu1 = cpu_times();
    let (cpu_user, cpu_sys) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let cpu = cpu_user + cpu_sys;

    let mut j = Json::new();
    j.str("tool", "sol-load")
        .str("scenario", &a.scenario)
        .str("label", &a.label);
    let errors: u64 = reports.iter().map(|r| r.errors).sum();
    let mut human = format!("{} {}", a.scenario, a.label);
    match mode {
        Mode::PubSub => {
            let sent: u64 = reports.iter().flat_map(|r| &r.sent).map(|s| s.1).sum();
            let acked: u64 = reports.iter().map(|r| r.acked).sum();
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
            j.num("qos", a.qos)
                .num("size", a.size)
                .num("publishers", pubs)
                .num("subscribers", subs)
                .num("window", a.window)
                .num("rate", rate)
                .num("sent", sent)
                .num("acked", acked)
                .num("expected", expected)
                .num("received", received)
                .num("lost", lost)
                .num("duplicates", dups)
                .num("send_rate", format!("{send_rate:.0}"))
                .num("recv_rate", format!("{recv_rate:.0}"))
                .num("received_in_window", in_window)
                .num("recv_rate_total", format!("{recv_rate_total:.0}"));
            human = format!(
                "{human}: {pubs}->{subs} qos{} {}B: sent {sent} ({send_rate:.0}/s) received {received} ({recv_rate:.0}/s while publishing) lost {lost} dup {dups}",
                a.qos, a.size
            );
            if a.qos > 0 {
                human.push_str(&format!(" acked {acked}"));
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
            let rate = connects as f64 / a.duration;
            j.num("concurrency", a.concurrency)
                .num("connects", connects)
                .num("connects_per_s", format!("{rate:.0}"));
            human = format!(
                "{human}: {connects} connect/CONNACK/DISCONNECT cycles, {rate:.0}/s with {} looping",
                a.concurrency
            );
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
