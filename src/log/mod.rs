//! The backend of the `log` facade: Mosquitto's log destinations (syslog, stdout,
//! stderr, a file, `$SYS` topics), filtered by Mosquitto's log types, none of which can
//! block the thread that logs.
//!
//! [`init`] installs the backend once; [`reconfigure`] swaps destinations and filters at
//! any time (on SIGHUP, which also reopens the log file for logrotate), because `log`
//! accepts a logger only once per process.
//!
//! # Never blocking
//!
//! A record that passes the filter (`filter.rs`) is formatted once (`format.rs`: the
//! timestamp of `log_timestamp`/`log_timestamp_format`, the syslog priority of
//! `log_facility`) and appended to each destination's bounded buffer (`queue.rs`,
//! [`SINK_BUFFER_BYTES`]); every destination that can block (a pipe nobody reads, a slow
//! SD card, a stalled syslog daemon) is written by a thread of its own (`sink.rs`). The
//! logging thread (the reactor) holds a lock only to copy the line in: never across I/O.
//! A line that does not fit is dropped and counted ([`dropped_lines`],
//! `$SYS/broker/sol/log/dropped`), and the sink says how many it lost once it drains.
//! `log_dest topic` lines wait in a small queue of their own (`topic.rs`) that the
//! reactor publishes once per turn. At exit, [`flush`] waits a bounded time for the
//! writers.
//!
//! Log types map to records as `filter.rs` tabulates them: `error` and `warning` are
//! levels, `notice`/`information` are Info records, `subscribe`, `unsubscribe` and
//! `websockets` are Info records with target `sol::subscribe`, `sol::unsubscribe` and
//! `sol::websockets`, and `debug` is the Debug level. Connection messages are Info
//! records with target `sol::connection`, dropped when `connection_messages false`.
//!
//! [`LogConfig`] is this module's own description of what to log; `config` builds it from
//! the `log_*` keys, so this module depends on nothing above it.
//!
//! This module must not be called on the per-message hot path at info level. Warnings
//! that hostile input could repeat go through a [`Throttle`].

mod filter;
mod format;
mod queue;
mod sink;
mod syslog;
mod throttle;
mod topic;

pub use queue::{dropped_lines, SINK_BUFFER_BYTES};
pub use throttle::{Throttle, WARN_INTERVAL};
pub use topic::{drain_topic, TopicLine, TOPIC_QUEUE_BYTES};

use ::log::{Level, Log, Metadata, Record};
use filter::Filter;
use format::{LineFormat, Stamp};
use sink::Sinks;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// How long [`flush`] waits for the writers at exit (a stdout nobody reads would
/// otherwise hold the process forever).
pub const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Where log messages go and which ones are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The destinations (`log_dest`); none set means `log_dest none`.
    pub dest: LogDestinations,
    /// The enabled message types (`log_type`).
    pub types: LogTypes,
    /// Stamp lines (not syslog's) with the wall-clock time (`log_timestamp`).
    pub timestamp: bool,
    /// The `strftime(3)` format of the stamp, in local time (`log_timestamp_format`);
    /// `None`: seconds since the epoch.
    pub timestamp_format: Option<String>,
    /// The syslog facility `local0`..`local7` (`log_facility 0..7`); `None`: daemon.
    pub facility: Option<u8>,
    /// Log client connections and disconnections (`connection_messages`); these are
    /// info messages with target `sol::connection`.
    pub connection_messages: bool,
    /// libwebsockets' log bitmask (`websockets_log_level`): Sol has no libwebsockets, so
    /// it only decides whether the `websockets` type includes Debug records (any of
    /// `LLL_INFO` = 8 and the more verbose bits) or only Info ones.
    pub websockets_log_level: u32,
}

/// The set of log destinations (`log_dest` is repeatable).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogDestinations {
    /// The local syslog daemon (`/dev/log`).
    pub syslog: bool,
    /// Standard error.
    pub stderr: bool,
    /// Standard output.
    pub stdout: bool,
    /// `$SYS/broker/log/<type>` topics (`log_dest topic`).
    pub topic: bool,
    /// A file appended to (`log_dest file PATH`), reopened on SIGHUP.
    pub file: Option<PathBuf>,
}

/// The set of enabled log types (`log_type` is repeatable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogTypes {
    /// Errors (`error`): log level Error.
    pub error: bool,
    /// Warnings (`warning`): log level Warn.
    pub warning: bool,
    /// Notices (`notice`): log level Info.
    pub notice: bool,
    /// Information (`information`): log level Info.
    pub information: bool,
    /// Debug messages (`debug`): log level Debug.
    pub debug: bool,
    /// Subscriptions (`subscribe`): info messages with target `sol::subscribe`.
    pub subscribe: bool,
    /// Unsubscriptions (`unsubscribe`): info messages with target `sol::unsubscribe`.
    pub unsubscribe: bool,
    /// WebSocket connections (`websockets`): messages with target `sol::websockets`.
    pub websockets: bool,
}

impl LogTypes {
    /// No type enabled (`log_type none`).
    pub const NONE: LogTypes = LogTypes {
        error: false,
        warning: false,
        notice: false,
        information: false,
        debug: false,
        subscribe: false,
        unsubscribe: false,
        websockets: false,
    };
    /// Every type enabled (`log_type all`, or `-v`).
    pub const ALL: LogTypes = LogTypes {
        error: true,
        warning: true,
        notice: true,
        information: true,
        debug: true,
        subscribe: true,
        unsubscribe: true,
        websockets: true,
    };
    /// Mosquitto's default: error, warning, notice and information.
    pub const DEFAULT: LogTypes = LogTypes {
        error: true,
        warning: true,
        notice: true,
        information: true,
        ..LogTypes::NONE
    };
}

impl Default for LogConfig {
    /// Mosquitto's defaults: stderr, types error to information, epoch timestamps,
    /// facility daemon, connection messages.
    fn default() -> Self {
        LogConfig {
            dest: LogDestinations {
                stderr: true,
                ..LogDestinations::default()
            },
            types: LogTypes::DEFAULT,
            timestamp: true,
            timestamp_format: None,
            facility: None,
            connection_messages: true,
            websockets_log_level: 0,
        }
    }
}

impl LogConfig {
    /// The most memory the log buffers of this configuration can hold: per sink that can
    /// block, its buffer and the batch its writer is writing; with `log_dest topic`, the
    /// topic queue's text. With syslog or a file configured, stderr is counted too (it
    /// stands in when they cannot be opened).
    pub fn buffer_bytes(&self) -> u64 {
        let d = &self.dest;
        let fallback = d.syslog || d.file.is_some();
        let sinks = [d.stdout, d.stderr || fallback, d.syslog, d.file.is_some()]
            .iter()
            .filter(|&&on| on)
            .count() as u64;
        let topic = if d.topic { TOPIC_QUEUE_BYTES as u64 } else { 0 };
        sinks * 2 * SINK_BUFFER_BYTES as u64 + topic
    }
}

/// Target of subscription messages (`log_type subscribe`).
pub const TARGET_SUBSCRIBE: &str = "sol::subscribe";
/// Target of unsubscription messages (`log_type unsubscribe`).
pub const TARGET_UNSUBSCRIBE: &str = "sol::unsubscribe";
/// Target of connect/disconnect messages (`connection_messages`).
pub const TARGET_CONNECTION: &str = "sol::connection";
/// Target of WebSocket messages (`log_type websockets`): the WebSocket stream logs its
/// handshakes and closes at Info, frame-level detail at Debug.
pub const TARGET_WEBSOCKETS: &str = "sol::websockets";

/// The configured destinations and filter.
struct State {
    /// Which records pass.
    filter: Filter,
    /// How lines and syslog messages are formatted.
    format: LineFormat,
    /// The sinks and their writer threads.
    sinks: Sinks,
    /// `log_dest topic`.
    topic: bool,
}

impl State {
    /// Formats a record that passed the filter and queues it on every sink.
    fn write(&self, level: Level, target: &str, message: &str) {
        let topic = if self.topic {
            filter::topic(level, target)
        } else {
            None
        };
        if topic.is_some() || self.sinks.lines().next().is_some() {
            let line = self.format.line(message);
            for sink in self.sinks.lines() {
                sink.push_line(&line);
            }
            if let Some(topic) = topic {
                topic::push(topic, line);
            }
        }
        if let Some(syslog) = &self.sinks.syslog {
            let severity = filter::severity(level, target);
            syslog.push_record(&self.format.datagram(severity, message));
        }
    }
}

/// The logger registered with `log`; forwards to the sinks in [`STATE`].
struct Backend;

/// The current state; `None` until [`init`].
static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Registers [`Backend`] with `log`, once.
static REGISTER: Once = Once::new();

/// Whether the registration succeeded (no other logger was installed first).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Whether connection lines pass the filter ([`connection_lines`]); true until
/// [`reconfigure`] says otherwise, and while another logger is installed.
static CONNECTION_LINES: AtomicBool = AtomicBool::new(true);

/// Whether a line for [`TARGET_CONNECTION`] (Mosquitto's `connection_messages`) would be
/// logged. The core asks before it builds one, twice per connection: refused by the
/// filter behind the state's lock, the two lines cost about 170 instructions of a
/// connect cycle of 7,900 (callgrind, `benches/instructions.py --breakdown`).
#[inline]
pub fn connection_lines() -> bool {
    CONNECTION_LINES.load(Ordering::Relaxed)
}

/// Registers [`Backend`] on the first call; returns whether it is the logger in use.
fn register() -> bool {
    REGISTER.call_once(|| {
        REGISTERED.store(::log::set_logger(&Backend).is_ok(), Ordering::Relaxed);
    });
    REGISTERED.load(Ordering::Relaxed)
}

/// The state, even if a thread panicked while holding it (it stays usable).
fn state() -> MutexGuard<'static, Option<State>> {
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Log for Backend {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        state()
            .as_ref()
            .is_some_and(|s| s.filter.allows(metadata.level(), metadata.target()))
    }

    fn log(&self, record: &Record<'_>) {
        let guard = state();
        let Some(state) = guard.as_ref() else { return };
        if !state.filter.allows(record.level(), record.target()) {
            return;
        }
        let message = record.args().to_string();
        state.write(record.level(), record.target(), &message);
    }

    fn flush(&self) {
        flush();
    }
}

/// Installs the backend with `config`; `verbose` (`-v`) enables every type at debug
/// level. Fails only if another logger was installed first. A destination that cannot
/// be opened (no `/dev/log` in a container, a log file in a missing directory) is
/// replaced by stderr, and one line says so.
pub fn init(config: &LogConfig, verbose: bool) -> Result<(), String> {
    let mut result = Ok(());
    REGISTER.call_once(|| {
        result = ::log::set_logger(&Backend).map_err(|e| format!("cannot install the logger: {e}"));
        REGISTERED.store(result.is_ok(), Ordering::Relaxed);
    });
    result?;
    reconfigure(config, verbose);
    Ok(())
}

/// Replaces destinations and filters (on reload), reopening the log file (logrotate);
/// if that fails, the file opened before stays in use and an error says so. Installs the
/// backend if [`init`] was not called; if another logger is installed, only the maximum
/// level changes.
pub fn reconfigure(config: &LogConfig, verbose: bool) {
    let filter = Filter::new(config, verbose);
    if register() {
        let format = LineFormat {
            stamp: Stamp::new(config.timestamp, config.timestamp_format.as_deref()),
            facility: format::facility(config.facility),
            pid: std::process::id(),
        };
        let mut guard = state();
        let mut sinks = guard.take().map(|s| s.sinks).unwrap_or_default();
        let notes = sinks.apply(config, &format);
        *guard = Some(State {
            filter,
            format,
            sinks,
            topic: config.dest.topic,
        });
        drop(guard);
        let connection = filter.allows(Level::Info, TARGET_CONNECTION);
        CONNECTION_LINES.store(connection, Ordering::Relaxed);
        ::log::set_max_level(filter.max_level());
        for (level, note) in notes {
            ::log::log!(level, "{note}");
        }
    } else {
        ::log::set_max_level(filter.max_level());
    }
}

/// Waits up to [`FLUSH_WAIT`] for every sink to write what it holds (at exit).
pub fn flush() {
    let queues = state()
        .as_ref()
        .map(|s| s.sinks.queues())
        .unwrap_or_default();
    sink::flush(&queues, Instant::now() + FLUSH_WAIT);
}

/// Whether error messages currently reach stderr (`log_dest stderr`, or standing in for
/// syslog or the file), so that a caller can avoid printing the same error twice.
pub fn errors_reach_stderr() -> bool {
    state()
        .as_ref()
        .is_some_and(|s| s.sinks.stderr.is_some() && s.filter.allows(Level::Error, "sol"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::log::LevelFilter;

    #[test]
    fn init_can_be_repeated_and_reconfigured() {
        let mut config = LogConfig::default();
        config.dest.stderr = false;
        config.types = LogTypes {
            error: true,
            ..LogTypes::NONE
        };
        init(&config, false).expect("first init");
        assert_eq!(::log::max_level(), LevelFilter::Error);
        init(&config, true).expect("second init");
        assert_eq!(::log::max_level(), LevelFilter::Debug);
        // Syslog may or may not exist here; either way logging keeps working.
        config.dest.syslog = true;
        reconfigure(&config, false);
        assert_eq!(::log::max_level(), LevelFilter::Error);
        ::log::error!(target: "sol::test", "log backend test message");
        config.dest.syslog = false;
        reconfigure(&config, false);
        assert!(!errors_reach_stderr());
        config.dest.stderr = true;
        reconfigure(&config, false);
        assert!(errors_reach_stderr());
        flush();
    }

    #[test]
    fn buffers_are_counted_per_sink() {
        let sink = 2 * SINK_BUFFER_BYTES as u64;
        assert_eq!(LogConfig::default().buffer_bytes(), sink);
        let mut config = LogConfig {
            dest: LogDestinations::default(),
            ..LogConfig::default()
        };
        assert_eq!(config.buffer_bytes(), 0);
        config.dest.topic = true;
        assert_eq!(config.buffer_bytes(), TOPIC_QUEUE_BYTES as u64);
        config.dest.file = Some(PathBuf::from("/var/log/sol.log"));
        config.dest.stdout = true;
        // stdout, the file, and stderr standing by for the file.
        assert_eq!(config.buffer_bytes(), 3 * sink + TOPIC_QUEUE_BYTES as u64);
    }
}
