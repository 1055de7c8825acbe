//! The line grammar and the key dispatch: the driver of one parse.
//!
//! A line is `key [arguments...]`, split on spaces and tabs; blank lines and lines whose
//! first non-blank character is `#` are comments, and an argument starting with `#` starts
//! a trailing comment. Keys are applied in file order, as Mosquitto does: `listener` opens
//! a listener and the listener-scoped keys after it apply to it. Every problem is
//! recorded and parsing goes on, so one run reports the whole file; checks that involve
//! several keys run at the end ([`Parser::finish`]).
//!
//! This file owns the grammar, the argument helpers and which file handles which key; the
//! rules of the keys live beside it, one job per file: `caps` (the numeric caps of
//! `keys::CAPS`, `max_connections`), `listeners` (listener addresses and scoping),
//! `clients` (`mount_point`, `use_username_as_clientid`, `max_qos`), `tls`
//! (a listener's TLS keys), `log` (the `log_*` keys), `security` (anonymous access,
//! client ids, the password and ACL files) and `persistence` (the store's keys). It must
//! not know a key's rule itself.

mod caps;
mod clients;
mod listeners;
mod log;
mod persistence;
mod security;
mod tls;

use super::keys;
use super::value::{self, ValueError};
use super::{policies, Config, ConfigError, ConfigErrors, Origin};
use clients::PendingClients;
use listeners::{DefaultListener, PendingListener};
use std::collections::HashMap;

/// Parses a whole file; `file` names it in errors.
pub fn parse(bytes: &[u8], file: &str) -> Result<Config, ConfigErrors> {
    let mut parser = Parser::new(file);
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        match std::str::from_utf8(raw) {
            Ok(text) => parser.line(line, text),
            Err(_) => parser.error(line, "the line is not valid UTF-8"),
        }
    }
    parser.finish()
}

/// Which listener the listener-scoped keys apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Before any `listener` line: the deprecated default listener (`port`).
    Default,
    /// The listener opened by the most recent `listener` line (index into `listeners`).
    Listener(usize),
    /// The most recent `listener` line was invalid; its settings are checked but dropped.
    Broken,
}

/// The state of one parse.
struct Parser<'f> {
    /// The file name for errors.
    file: &'f str,
    /// Every problem so far.
    errors: Vec<ConfigError>,
    /// The configuration as set so far, from the defaults on; [`Parser::finish`] adds the
    /// listeners and their policies.
    config: Config,
    /// A `log_dest` line was seen: the first one replaces the default destination.
    log_dest_seen: bool,
    /// A `log_type` line was seen: the first one replaces the default types.
    log_type_seen: bool,
    /// `per_listener_settings`.
    per_listener_settings: bool,
    /// `allow_anonymous` when settings are global.
    allow_anonymous: Option<bool>,
    /// The first line of a security setting, for the `per_listener_settings` order rule.
    first_security_line: Option<usize>,
    /// The default listener.
    default_listener: DefaultListener,
    /// The `listener` lines.
    listeners: Vec<PendingListener>,
    /// Where listener-scoped keys go now.
    scope: Scope,
    /// `use_username_as_clientid` before any `listener` line (every listener's default).
    top_clients: PendingClients,
    /// The last line of each key that was applied, for checks across keys.
    seen: HashMap<&'static str, usize>,
}

impl<'f> Parser<'f> {
    /// A parse of the file named `file`, from the embedded defaults' caps and logging.
    fn new(file: &'f str) -> Self {
        Parser {
            file,
            errors: Vec::new(),
            config: Config::with_listeners(Vec::new()),
            log_dest_seen: false,
            log_type_seen: false,
            per_listener_settings: false,
            allow_anonymous: None,
            first_security_line: None,
            default_listener: DefaultListener::default(),
            listeners: Vec::new(),
            scope: Scope::Default,
            top_clients: PendingClients::default(),
            seen: HashMap::new(),
        }
    }

    /// Records a problem at `line`.
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        });
    }

    /// The place of `line` in this file.
    fn origin(&self, line: usize) -> Origin {
        Origin {
            file: self.file.to_string(),
            line,
        }
    }

    /// Records a rejected value of `key`.
    fn value_error(&mut self, line: usize, key: &str, error: ValueError) {
        self.error(line, format!("{key}: {error}"));
    }

    /// One line of the file.
    fn line(&mut self, line: usize, text: &str) {
        let mut words = text.split([' ', '\t', '\r']).filter(|w| !w.is_empty());
        let Some(key) = words.next() else { return };
        if key.starts_with('#') {
            return;
        }
        let args: Vec<&str> = words.take_while(|w| !w.starts_with('#')).collect();
        self.key(line, key, &args);
    }

    /// The single argument of `key`, or `None` after recording why there is not one.
    fn one<'a>(&mut self, line: usize, key: &str, args: &[&'a str]) -> Option<&'a str> {
        match args {
            [value] => Some(value),
            [] => {
                self.error(line, format!("{key}: missing value"));
                None
            }
            [_, extra, ..] => {
                self.error(line, format!("{key}: unexpected extra argument '{extra}'"));
                None
            }
        }
    }

    /// The single boolean argument of `key` (`true`/`1`, `false`/`0`).
    fn bool_arg(&mut self, line: usize, key: &str, args: &[&str]) -> Option<bool> {
        let token = self.one(line, key, args)?;
        value::parse_bool(token)
            .map_err(|e| self.value_error(line, key, e))
            .ok()
    }

    /// Sets the field `field` selects to the boolean argument of `key`; whether it did.
    fn flag(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
        field: fn(&mut Config) -> &mut bool,
    ) -> bool {
        let Some(value) = self.bool_arg(line, key, args) else {
            return false;
        };
        *field(&mut self.config) = value;
        true
    }

    /// The single integer argument of `key`, in `min..=max`.
    fn int_arg(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let token = self.one(line, key, args)?;
        value::parse_int(token, min, max)
            .map_err(|e| self.value_error(line, key, e))
            .ok()
    }

    /// Applies one `key` line: hands it to the file that owns its rule.
    fn key(&mut self, line: usize, key: &str, args: &[&str]) {
        // Each arm returns the key's static name when the line was applied.
        let applied: Option<&'static str> = match key {
            "listener" => self.listener(line, args).then_some("listener"),
            "port" => self.port(line, args),
            "bind_address" => self.bind_address(line, args),
            "socket_domain" => self.socket_domain(line, args),
            "certfile"
            | "keyfile"
            | "cafile"
            | "capath"
            | "crlfile"
            | "require_certificate"
            | "disable_client_cert_date_checks"
            | "use_identity_as_username"
            | "tls_version" => self.tls_key(line, key, args),
            "per_listener_settings"
            | "allow_anonymous"
            | "allow_zero_length_clientid"
            | "auto_id_prefix"
            | "clientid_prefixes"
            | "check_retain_source"
            | "password_file"
            | "acl_file" => self.security_key(line, key, args),
            "mount_point" | "use_username_as_clientid" | "max_qos" => {
                self.clients_key(line, key, args)
            }
            "log_dest"
            | "log_type"
            | "log_timestamp"
            | "log_timestamp_format"
            | "log_facility"
            | "connection_messages"
            | "websockets_log_level" => self.log_key(line, key, args),
            "persistence"
            | "persistence_location"
            | "persistence_file"
            | "autosave_interval"
            | "autosave_on_changes"
            | "persistence_sync" => self.persistence_key(line, key, args),
            "max_connections" => self.max_connections(line, args),
            "queue_qos0_messages" => self
                .flag(line, key, args, |c| &mut c.limits.queue_qos0_messages)
                .then_some("queue_qos0_messages"),
            "retain_available" => self
                .flag(line, key, args, |c| &mut c.limits.retain_available)
                .then_some("retain_available"),
            "upgrade_outgoing_qos" => self
                .flag(line, key, args, |c| &mut c.limits.upgrade_outgoing_qos)
                .then_some("upgrade_outgoing_qos"),
            "user" => {
                let v = self.one(line, key, args);
                v.map(|v| self.config.user = Some(v.to_string()))
                    .map(|_| "user")
            }
            // Accepted and ignored: Sol always sets TCP_NODELAY; Mosquitto 2.0 itself
            // ignores the other two.
            "set_tcp_nodelay" | "allow_duplicate_messages" => {
                self.bool_arg(line, key, args).map(|_| "ignored")
            }
            "retry_interval" => self
                .int_arg(line, key, args, 0, i64::MAX)
                .map(|_| "ignored"),
            _ => self.listed_key(line, key, args),
        };
        if let Some(name) = applied {
            self.seen.insert(name, line);
        }
    }

    /// A key of the tables in `keys` (a cap, one accepted only as Sol behaves, one not
    /// supported yet), or an unknown one.
    fn listed_key(&mut self, line: usize, key: &str, args: &[&str]) -> Option<&'static str> {
        if let Some(cap) = keys::cap(key) {
            return self.cap(line, cap, args);
        }
        if let Some((name, accepted)) = keys::as_sol_does(key) {
            let value = self.one(line, key, args)?;
            if accepted.contains(&value) {
                return Some(name);
            }
        } else if !keys::is_unsupported(key) {
            self.error(line, format!("unknown option '{key}'"));
            return None;
        }
        self.error(
            line,
            format!("'{key}' is a Mosquitto option that Sol does not support yet"),
        );
        None
    }

    /// The later of the lines at which `a` and `b` were set, if either was.
    fn later(&self, a: &str, b: &str) -> Option<usize> {
        self.seen.get(a).max(self.seen.get(b)).copied()
    }

    /// Checks across keys, assembles the listeners and returns the configuration or every
    /// error found.
    fn finish(mut self) -> Result<Config, ConfigErrors> {
        self.check_caps();
        let listeners = self.assemble_listeners();
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.line);
            return Err(ConfigErrors(self.errors));
        }
        let mut config = self.config;
        config.limits.listeners = policies(&listeners);
        config.listeners = listeners;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
