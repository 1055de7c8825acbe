//! The backend of the `log` facade: syslog, stderr and/or stdout, filtered by Mosquitto's
//! log types.
//!
//! [`init`] installs the backend once; [`reconfigure`] swaps destinations and filters at
//! any time (on SIGHUP), because `log` accepts a logger only once per process. The sinks
//! live in a static behind a `Mutex`: the broker is single-threaded, so it is never
//! contended.
//!
//! Mapping of Mosquitto's `log_type` to `log` records:
//!
//! | log_type | record |
//! |---|---|
//! | `error` | level Error |
//! | `warning` | level Warn |
//! | `notice`, `information` | level Info (any target but the two below) |
//! | `subscribe` / `unsubscribe` | level Info, target `sol::subscribe` / `sol::unsubscribe` |
//! | `debug` | level Debug |
//!
//! Connection messages are Info records with target `sol::connection`, dropped when
//! `connection_messages false`. Trace records are never written. Syslog lines carry no
//! timestamp (syslog adds its own); stderr/stdout lines start with wall-clock seconds
//! since the epoch when `log_timestamp` is true, as Mosquitto's do.
//!
//! [`LogConfig`] (destinations, [`LogTypes`], timestamps, connection messages) is this
//! module's own description of what to log; `config` builds it from the `log_*` keys, so
//! this module depends on nothing above it.
//!
//! This module must not be called on the per-message hot path at info level. Warnings
//! that hostile input could repeat go through a [`Throttle`].

mod throttle;

pub use throttle::{Throttle, WARN_INTERVAL};

use ::log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{SystemTime, UNIX_EPOCH};
use syslog::{Facility, LogFormat, LoggerBackend, Severity};

/// Where log messages go and which ones are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The destinations (`log_dest`); all false means `log_dest none`.
    pub dest: LogDestinations,
    /// The enabled message types (`log_type`).
    pub types: LogTypes,
    /// Prefix stderr/stdout lines with wall-clock seconds since the epoch
    /// (`log_timestamp`).
    pub timestamp: bool,
    /// Log client connections and disconnections (`connection_messages`); these are
    /// info messages with target `sol::connection`.
    pub connection_messages: bool,
}

/// The set of log destinations (`log_dest` is repeatable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogDestinations {
    /// The local syslog daemon (`/dev/log`), facility daemon.
    pub syslog: bool,
    /// Standard error.
    pub stderr: bool,
    /// Standard output.
    pub stdout: bool,
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
    };
    /// Mosquitto's default: error, warning, notice and information.
    pub const DEFAULT: LogTypes = LogTypes {
        error: true,
        warning: true,
        notice: true,
        information: true,
        debug: false,
        subscribe: false,
        unsubscribe: false,
    };
}

impl Default for LogConfig {
    /// Mosquitto's defaults: stderr, types error to information, timestamps, connection
    /// messages.
    fn default() -> Self {
        LogConfig {
            dest: LogDestinations {
                syslog: false,
                stderr: true,
                stdout: false,
            },
            types: LogTypes::DEFAULT,
            timestamp: true,
            connection_messages: true,
        }
    }
}

/// Target of subscription messages (`log_type subscribe`).
pub const TARGET_SUBSCRIBE: &str = "sol::subscribe";
/// Target of unsubscription messages (`log_type unsubscribe`).
pub const TARGET_UNSUBSCRIBE: &str = "sol::unsubscribe";
/// Target of connect/disconnect messages (`connection_messages`).
pub const TARGET_CONNECTION: &str = "sol::connection";

/// A connection to the local syslog daemon.
type Syslog = syslog::Logger<LoggerBackend, SyslogLine>;

/// The configured destinations and filter.
struct Sinks {
    /// Which records pass.
    filter: Filter,
    /// The syslog connection, when `log_dest syslog` and `/dev/log` answered.
    syslog: Option<Syslog>,
    /// Write to stderr.
    stderr: bool,
    /// Write to stdout.
    stdout: bool,
    /// Prefix stderr/stdout lines with epoch seconds.
    timestamp: bool,
}

/// Which records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Filter {
    /// The enabled log types.
    types: LogTypes,
    /// Whether `sol::connection` records pass.
    connection_messages: bool,
}

impl Filter {
    /// The filter of `config`; `verbose` enables every type.
    fn new(config: &LogConfig, verbose: bool) -> Filter {
        Filter {
            types: if verbose { LogTypes::ALL } else { config.types },
            connection_messages: config.connection_messages || verbose,
        }
    }

    /// Whether a record at `level` with `target` passes.
    fn allows(&self, level: Level, target: &str) -> bool {
        let t = &self.types;
        match level {
            Level::Error => t.error,
            Level::Warn => t.warning,
            Level::Info => match target {
                TARGET_SUBSCRIBE => t.subscribe,
                TARGET_UNSUBSCRIBE => t.unsubscribe,
                TARGET_CONNECTION => self.connection_messages && (t.notice || t.information),
                _ => t.notice || t.information,
            },
            Level::Debug => t.debug,
            Level::Trace => false,
        }
    }

    /// The most verbose level any record can pass at, for `log::set_max_level`.
    fn max_level(&self) -> LevelFilter {
        let t = &self.types;
        if t.debug {
            LevelFilter::Debug
        } else if t.notice || t.information || t.subscribe || t.unsubscribe {
            LevelFilter::Info
        } else if t.warning {
            LevelFilter::Warn
        } else if t.error {
            LevelFilter::Error
        } else {
            LevelFilter::Off
        }
    }
}

/// The logger registered with `log`; forwards to the sinks in [`SINKS`].
struct Backend;

/// The current sinks; `None` until [`init`].
static SINKS: Mutex<Option<Sinks>> = Mutex::new(None);

/// Registers [`Backend`] with `log`, once.
static REGISTER: Once = Once::new();

/// Whether the registration succeeded (no other logger was installed first).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers [`Backend`] on the first call; returns whether it is the logger in use.
fn register() -> bool {
    REGISTER.call_once(|| {
        REGISTERED.store(::log::set_logger(&Backend).is_ok(), Ordering::Relaxed);
    });
    REGISTERED.load(Ordering::Relaxed)
}

/// The sinks, even if a thread panicked while holding them (they stay usable).
fn sinks() -> MutexGuard<'static, Option<Sinks>> {
    SINKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Log for Backend {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        sinks()
            .as_ref()
            .is_some_and(|s| s.filter.allows(metadata.level(), metadata.target()))
    }

    fn log(&self, record: &Record<'_>) {
        let mut guard = sinks();
        let Some(sinks) = guard.as_mut() else { return };
        if !sinks.filter.allows(record.level(), record.target()) {
            return;
        }
        let message = record.args().to_string();
        let mut to_stderr = sinks.stderr;
        if let Some(syslog) = sinks.syslog.as_mut() {
            if write_syslog(syslog, record.level(), &message).is_err() {
                // The daemon may have restarted: reconnect once, else fall back to stderr
                // for this message rather than lose it.
                match connect_syslog() {
                    Ok(mut fresh) => {
                        to_stderr |= write_syslog(&mut fresh, record.level(), &message).is_err();
                        sinks.syslog = Some(fresh);
                    }
                    Err(_) => to_stderr = true,
                }
            }
        }
        let line = format_line(sinks.timestamp.then(epoch_seconds), &message);
        // A full or closed terminal must not stop the broker: write errors are dropped.
        if to_stderr {
            to_terminal(Terminal::Stderr, &line);
        }
        if sinks.stdout {
            to_terminal(Terminal::Stdout, &line);
        }
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

/// Which stream of the process a line goes to.
#[derive(Clone, Copy)]
enum Terminal {
    /// Standard error.
    Stderr,
    /// Standard output.
    Stdout,
}

/// Writes `line` to the process's stderr or stdout. A full or closed terminal must not
/// stop the broker: write errors are dropped. In unit tests the lines go through
/// `eprint!`/`print!`, which the test runner captures, so a passing run stays quiet.
fn to_terminal(terminal: Terminal, line: &str) {
    #[cfg(not(test))]
    let _ = match terminal {
        Terminal::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
        Terminal::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
    };
    #[cfg(test)]
    match terminal {
        Terminal::Stderr => eprint!("{line}"),
        Terminal::Stdout => print!("{line}"),
    }
}

/// Installs the backend with `config`; `verbose` (`-v`) enables every type at debug
/// level. Fails only if another logger was installed first. When syslog is wanted but
/// `/dev/log` does not answer (a container, early boot), logs go to stderr and one note
/// says so.
pub fn init(config: &LogConfig, verbose: bool) -> Result<(), String> {
    let mut result = Ok(());
    REGISTER.call_once(|| {
        result = ::log::set_logger(&Backend).map_err(|e| format!("cannot install the logger: {e}"));
    });
    result?;
    reconfigure(config, verbose);
    Ok(())
}

/// Replaces destinations and filters (on reload). Installs the backend if [`init`] was
/// not called; if another logger is installed, only the maximum level changes.
pub fn reconfigure(config: &LogConfig, verbose: bool) {
    register();
    let filter = Filter::new(config, verbose);
    let mut stderr = config.dest.stderr;
    let mut syslog = None;
    if config.dest.syslog {
        match connect_syslog() {
            Ok(connection) => syslog = Some(connection),
            Err(e) => {
                let note =
                    format!("sol: syslog is not available ({e}); logging to stderr instead\n");
                to_terminal(Terminal::Stderr, &note);
                stderr = true;
            }
        }
    }
    *sinks() = Some(Sinks {
        filter,
        syslog,
        stderr,
        stdout: config.dest.stdout,
        timestamp: config.timestamp,
    });
    ::log::set_max_level(filter.max_level());
}

/// Whether error messages currently reach stderr (`log_dest stderr`, or the syslog
/// fallback), so that a caller can avoid printing the same error twice.
pub fn errors_reach_stderr() -> bool {
    sinks()
        .as_ref()
        .is_some_and(|s| s.stderr && s.filter.allows(Level::Error, "sol"))
}

/// Connects to the local syslog daemon, facility daemon, as `sol[PID]`.
fn connect_syslog() -> Result<Syslog, syslog::Error> {
    syslog::unix(SyslogLine {
        pid: std::process::id(),
    })
}

/// Formats one syslog message as `<PRI>sol[PID]: message`, facility daemon, without a
/// timestamp: RFC 3164 lets the receiver add it, and journald, rsyslog, busybox's
/// syslogd and OpenWrt's logd all do. The crate's `Formatter3164` would add one by
/// parsing a `time` format description at run time on every message, which also links
/// that parser and formatter into the binary (about 30 KB on MIPS).
#[derive(Clone, Copy, Debug)]
struct SyslogLine {
    /// Our process id.
    pid: u32,
}

impl LogFormat<&str> for SyslogLine {
    fn format<W: Write>(&self, w: &mut W, severity: Severity, message: &str) -> syslog::Result<()> {
        let priority = Facility::LOG_DAEMON as u8 | severity as u8;
        write!(w, "<{priority}>sol[{}]: {message}", self.pid).map_err(syslog::Error::Write)
    }
}

/// Sends one message at the syslog severity matching `level`.
fn write_syslog(syslog: &mut Syslog, level: Level, message: &str) -> Result<(), syslog::Error> {
    match level {
        Level::Error => syslog.err(message),
        Level::Warn => syslog.warning(message),
        Level::Info => syslog.info(message),
        Level::Debug | Level::Trace => syslog.debug(message),
    }
}

/// Seconds since the epoch by the wall clock (0 if the clock is before 1970).
fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One stderr/stdout line: `SECONDS: message\n`, or `message\n` without a timestamp.
fn format_line(timestamp: Option<u64>, message: &str) -> String {
    match timestamp {
        Some(secs) => format!("{secs}: {message}\n"),
        None => format!("{message}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(types: LogTypes, connection_messages: bool) -> Filter {
        let config = LogConfig {
            types,
            connection_messages,
            ..LogConfig::default()
        };
        Filter::new(&config, false)
    }

    #[test]
    fn log_types_map_to_levels_and_targets() {
        let f = filter(LogTypes::DEFAULT, true);
        assert!(f.allows(Level::Error, "sol::net"));
        assert!(f.allows(Level::Warn, "sol::net"));
        assert!(f.allows(Level::Info, "sol::broker"));
        assert!(f.allows(Level::Info, TARGET_CONNECTION));
        assert!(!f.allows(Level::Info, TARGET_SUBSCRIBE));
        assert!(!f.allows(Level::Info, TARGET_UNSUBSCRIBE));
        assert!(!f.allows(Level::Debug, "sol::net"));
        assert!(!f.allows(Level::Trace, "sol::net"));
        assert_eq!(f.max_level(), LevelFilter::Info);

        let only_subscribe = LogTypes {
            subscribe: true,
            ..LogTypes::NONE
        };
        let f = filter(only_subscribe, true);
        assert!(f.allows(Level::Info, TARGET_SUBSCRIBE));
        assert!(!f.allows(Level::Info, "sol::broker"));
        assert!(!f.allows(Level::Error, "sol::broker"));
        assert_eq!(f.max_level(), LevelFilter::Info);

        let errors = LogTypes {
            error: true,
            ..LogTypes::NONE
        };
        assert_eq!(filter(errors, true).max_level(), LevelFilter::Error);
        assert_eq!(filter(LogTypes::NONE, true).max_level(), LevelFilter::Off);
        assert_eq!(filter(LogTypes::ALL, true).max_level(), LevelFilter::Debug);
    }

    #[test]
    fn connection_messages_can_be_silenced() {
        let f = filter(LogTypes::DEFAULT, false);
        assert!(!f.allows(Level::Info, TARGET_CONNECTION));
        assert!(f.allows(Level::Info, "sol::broker"));
    }

    #[test]
    fn verbose_enables_everything_but_trace() {
        let config = LogConfig {
            types: LogTypes::NONE,
            connection_messages: false,
            ..LogConfig::default()
        };
        let f = Filter::new(&config, true);
        assert_eq!(f.max_level(), LevelFilter::Debug);
        assert!(f.allows(Level::Debug, "sol::net"));
        assert!(f.allows(Level::Info, TARGET_CONNECTION));
        assert!(!f.allows(Level::Trace, "sol::net"));
    }

    #[test]
    fn lines_have_mosquitto_timestamps() {
        assert_eq!(
            format_line(Some(1_700_000_000), "hello"),
            "1700000000: hello\n"
        );
        assert_eq!(format_line(None, "hello"), "hello\n");
        assert!(epoch_seconds() > 1_600_000_000);
    }

    #[test]
    fn syslog_messages_carry_priority_and_tag() {
        let mut line = Vec::new();
        SyslogLine { pid: 42 }
            .format(&mut line, Severity::LOG_ERR, "store: disk full")
            .expect("format");
        // daemon (3 << 3) | err (3): what syslog(3) sends for LOG_DAEMON | LOG_ERR.
        assert_eq!(line, b"<27>sol[42]: store: disk full");
        line.clear();
        SyslogLine { pid: 7 }
            .format(&mut line, Severity::LOG_DEBUG, "x")
            .expect("format");
        assert_eq!(line, b"<31>sol[7]: x");
    }

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
    }
}
