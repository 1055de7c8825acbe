//! The logging keys (`log_dest`, `log_type`, `log_timestamp`, `log_timestamp_format`,
//! `log_facility`, `connection_messages`, `websockets_log_level`): they build the
//! [`LogConfig`](crate::log::LogConfig) the `log` module applies, with Mosquitto's
//! meanings (`mosquitto.conf(5)`).
//!
//! This file must not install or reconfigure the log backend, nor open the log file.

use super::Parser;
use crate::log::{LogDestinations, LogTypes};
use std::path::PathBuf;

impl Parser<'_> {
    /// A logging key.
    pub(super) fn log_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<&'static str> {
        match key {
            "log_dest" => self.log_dest(line, args),
            "log_type" => self.log_type(line, args),
            "log_timestamp" => self
                .flag(line, key, args, |c| &mut c.log.timestamp)
                .then_some("log_timestamp"),
            "log_timestamp_format" => self.log_timestamp_format(line, args),
            // `log_facility 5` logs to local5 [mosquitto.conf(5)]; Mosquitto refuses
            // other values.
            "log_facility" => self.int_arg(line, key, args, 0, 7).map(|n| {
                self.config.log.facility = u8::try_from(n).ok();
                "log_facility"
            }),
            // A libwebsockets bitmask in Mosquitto; see `LogConfig::websockets_log_level`.
            "websockets_log_level" => {
                self.int_arg(line, key, args, 0, i64::from(i32::MAX))
                    .map(|n| {
                        self.config.log.websockets_log_level = u32::try_from(n).unwrap_or(0);
                        "websockets_log_level"
                    })
            }
            _ => self
                .flag(line, key, args, |c| &mut c.log.connection_messages)
                .then_some("connection_messages"),
        }
    }

    /// `log_dest syslog|stderr|stdout|topic|file PATH|none`, repeatable; the first
    /// replaces the default (stderr), `none` clears them all.
    fn log_dest(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let Some((&dest, rest)) = args.split_first() else {
            self.error(line, "log_dest: missing value");
            return None;
        };
        if dest == "file" {
            return self.log_dest_file(line, rest);
        }
        if dest == "dlt" {
            self.error(
                line,
                "log_dest: 'dlt' (automotive Diagnostic Log and Trace) is not supported; \
                 use syslog, file, stdout, stderr or topic",
            );
            return None;
        }
        let dest = self.one(line, "log_dest", args)?;
        let d = self.log_dests();
        match dest {
            "syslog" => d.syslog = true,
            "stderr" => d.stderr = true,
            "stdout" => d.stdout = true,
            "topic" => d.topic = true,
            "none" => *d = LogDestinations::default(),
            other => {
                self.error(
                    line,
                    format!(
                        "log_dest: expected syslog, stderr, stdout, topic, file PATH or none, \
                         found '{other}'"
                    ),
                );
                return None;
            }
        }
        Some("log_dest")
    }

    /// The destinations, emptied first at the first `log_dest` line (it replaces the
    /// default).
    fn log_dests(&mut self) -> &mut LogDestinations {
        if !self.log_dest_seen {
            self.log_dest_seen = true;
            self.config.log.dest = LogDestinations::default();
        }
        &mut self.config.log.dest
    }

    /// `log_dest file PATH`: the rest of the line is the path (words joined by single
    /// spaces). Mosquitto takes a single file destination.
    fn log_dest_file(&mut self, line: usize, path: &[&str]) -> Option<&'static str> {
        if path.is_empty() {
            self.error(
                line,
                "log_dest: 'file' needs a path, as in: log_dest file /var/log/sol.log",
            );
            return None;
        }
        let path = PathBuf::from(path.join(" "));
        if let Some(first) = &self.config.log.dest.file {
            let message = format!(
                "log_dest: only one file destination may be configured (already {})",
                first.display()
            );
            self.error(line, message);
            return None;
        }
        self.log_dests().file = Some(path);
        Some("log_dest")
    }

    /// `log_timestamp_format FORMAT`: a `strftime(3)` format, the rest of the line (words
    /// joined by single spaces, so `%Y-%m-%d %H:%M:%S` works).
    fn log_timestamp_format(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        if args.is_empty() {
            self.error(
                line,
                "log_timestamp_format: missing value (a strftime format such as %Y-%m-%dT%H:%M:%S)",
            );
            return None;
        }
        self.config.log.timestamp_format = Some(args.join(" "));
        Some("log_timestamp_format")
    }

    /// `log_type TYPE`, repeatable; the first replaces the default.
    fn log_type(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let kind = self.one(line, "log_type", args)?;
        let mut types = if self.log_type_seen {
            self.config.log.types
        } else {
            LogTypes::NONE
        };
        match kind {
            "error" => types.error = true,
            "warning" => types.warning = true,
            "notice" => types.notice = true,
            "information" => types.information = true,
            "debug" => types.debug = true,
            "subscribe" => types.subscribe = true,
            "unsubscribe" => types.unsubscribe = true,
            "websockets" => types.websockets = true,
            "all" => types = LogTypes::ALL,
            "none" => types = LogTypes::NONE,
            other => {
                self.error(
                    line,
                    format!(
                        "log_type: expected error, warning, notice, information, debug, \
                         subscribe, unsubscribe, websockets, all or none, found '{other}'"
                    ),
                );
                return None;
            }
        }
        self.log_type_seen = true;
        self.config.log.types = types;
        Some("log_type")
    }
}
