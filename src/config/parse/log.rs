//! The logging keys (`log_dest`, `log_type`, `log_timestamp`, `connection_messages`):
//! they build the [`LogConfig`](crate::log::LogConfig) the `log` module applies.
//!
//! This file must not install or reconfigure the log backend.

use super::Parser;
use crate::log::{LogDestinations, LogTypes};

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
            _ => self
                .flag(line, key, args, |c| &mut c.log.connection_messages)
                .then_some("connection_messages"),
        }
    }

    /// `log_dest syslog|stderr|stdout|none`, repeatable; the first replaces the default.
    fn log_dest(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let Some(&dest) = args.first() else {
            self.error(line, "log_dest: missing value");
            return None;
        };
        if matches!(dest, "file" | "topic" | "dlt") {
            self.error(line, format!("log_dest: '{dest}' is not supported yet"));
            return None;
        }
        let dest = self.one(line, "log_dest", args)?;
        if !self.log_dest_seen {
            self.log_dest_seen = true;
            self.config.log.dest = LogDestinations {
                syslog: false,
                stderr: false,
                stdout: false,
            };
        }
        match dest {
            "syslog" => self.config.log.dest.syslog = true,
            "stderr" => self.config.log.dest.stderr = true,
            "stdout" => self.config.log.dest.stdout = true,
            "none" => {
                self.config.log.dest.syslog = false;
                self.config.log.dest.stderr = false;
                self.config.log.dest.stdout = false;
            }
            other => {
                self.error(
                    line,
                    format!("log_dest: expected syslog, stderr, stdout or none, found '{other}'"),
                );
                return None;
            }
        }
        Some("log_dest")
    }

    /// `log_type TYPE`, repeatable; the first replaces the default.
    fn log_type(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let kind = self.one(line, "log_type", args)?;
        if matches!(kind, "websockets" | "internal" | "quic") {
            self.error(line, format!("log_type: '{kind}' is not supported yet"));
            return None;
        }
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
            "all" => types = LogTypes::ALL,
            "none" => types = LogTypes::NONE,
            other => {
                self.error(
                    line,
                    format!(
                        "log_type: expected error, warning, notice, information, debug, \
                         subscribe, unsubscribe, all or none, found '{other}'"
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
