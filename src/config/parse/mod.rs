//! The line grammar and the key dispatch: the driver of one parse.
//!
//! A line is `key [arguments...]`, split on spaces and tabs; blank lines and lines whose
//! first non-blank character is `#` are comments, and an argument starting with `#` starts
//! a trailing comment. Keys are applied in file order, as Mosquitto does: `listener` opens
//! a listener and the listener-scoped keys after it apply to it. Every problem is
//! recorded and parsing goes on, so one run reports the whole file; checks that involve
//! several keys run at the end ([`Parser::finish`]).
//!
//! A parse may read several files: `include_dir` parses the files of a directory where
//! its line stands (`include`). Every line read gets one position in the parse, so that
//! a line remembered by a rule (a listener's, a setting's) names its own file in errors:
//! each file has a span of positions ([`FileSpan`]), and [`Parser::error`] turns a
//! position back into `file:line`.
//!
//! This file owns the grammar, the argument helpers and which file handles which key; the
//! rules of the keys live beside it, one job per file: `caps` (the numeric caps of
//! `keys::CAPS`, `max_connections`), `listeners` (listener addresses and scoping, the
//! listener's protocol and interface), `clients` (`mount_point`,
//! `use_username_as_clientid`, `max_qos`), `tls` (a listener's TLS keys), `bridge` (the
//! `connection` blocks), `log` (the
//! `log_*` keys), `security` (anonymous access, client ids, the password and ACL files),
//! `persistence` (the store's keys), `include` (`include_dir`), `process` (`pid_file`)
//! and `refused` (Mosquitto keys Sol refuses or accepts without effect, each with its
//! reason). It must not know a key's rule itself.

mod bridge;
mod caps;
mod clients;
mod include;
mod listeners;
mod log;
mod persistence;
mod process;
mod refused;
mod security;
mod tls;

use super::keys;
use super::value::{self, ValueError};
use super::{policies, Config, ConfigError, ConfigErrors, Origin};
use clients::PendingClients;
use listeners::{DefaultListener, PendingListener};
use std::path::{Path, PathBuf};

/// Parses a whole file; `file` names it in errors. `path` is where it was read from (to
/// tell it apart from the files `include_dir` reads), if it was read from a file.
pub fn parse(bytes: &[u8], file: &str, path: Option<&Path>) -> Result<Config, ConfigErrors> {
    let mut parser = Parser::new(file, path);
    parser.read(bytes, file);
    parser.finish()
}

/// The positions one file's lines have in a parse: `base + line`, for `line` in
/// `1..=lines`.
struct FileSpan {
    /// The position before the file's first line.
    base: usize,
    /// How many lines it has.
    lines: usize,
    /// The file's name in errors.
    name: String,
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
    /// The main file's name, as given to [`parse`].
    file: &'f str,
    /// The files read so far, in the order they were read: the main file first.
    files: Vec<FileSpan>,
    /// The main file, canonical, when it was read from one (`include_dir` must not
    /// include it).
    main: Option<PathBuf>,
    /// Files are being read from an `include_dir` (which may not appear in them).
    including: bool,
    /// Every problem so far.
    errors: Vec<ConfigError>,
    /// Lines Sol accepts but the user should know about (a key without effect).
    warnings: Vec<ConfigError>,
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
    /// The last line of each key that was applied, for checks across keys. A list, not
    /// a map: a file sets a few dozen keys, and a map's code cost mipsel 1 KB.
    seen: Vec<(&'static str, usize)>,
    /// The `connection` blocks, in file order.
    bridges: Vec<bridge::PendingBridge>,
    /// The bridge the bridge keys apply to now (index into `bridges`), if one is open.
    bridge: Option<usize>,
}

impl<'f> Parser<'f> {
    /// A parse of the main file named `file` from the embedded defaults' caps and
    /// logging; `main` is its path, if it is read from one.
    fn new(file: &'f str, main: Option<&Path>) -> Self {
        Parser {
            file,
            files: Vec::new(),
            main: main.and_then(|p| std::fs::canonicalize(p).ok()),
            including: false,
            errors: Vec::new(),
            warnings: Vec::new(),
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
            seen: Vec::new(),
            bridges: Vec::new(),
            bridge: None,
        }
    }

    /// Parses the lines of one file, named `name` in errors, where the parse stands.
    fn read(&mut self, bytes: &[u8], name: &str) {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let lines = bytes.split(|&b| b == b'\n').count();
        let base = self.files.last().map_or(0, |f| f.base + f.lines);
        self.files.push(FileSpan {
            base,
            lines,
            name: name.to_string(),
        });
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = base + index + 1;
            match std::str::from_utf8(raw) {
                Ok(text) => self.line(line, text),
                Err(_) => self.error(line, "the line is not valid UTF-8"),
            }
        }
    }

    /// Records a problem at position `line` (0: the main file as a whole).
    fn error(&mut self, line: usize, message: impl Into<String>) {
        let error = self.at(line, message.into());
        self.errors.push(error);
    }

    /// Records a warning at position `line`: the line is accepted.
    fn warn(&mut self, line: usize, message: impl Into<String>) {
        let warning = self.at(line, message.into());
        self.warnings.push(warning);
    }

    /// `message` at position `line`, as `file:line`.
    fn at(&self, line: usize, message: String) -> ConfigError {
        let origin = self.origin(line);
        ConfigError {
            file: origin.file,
            line: origin.line,
            message,
        }
    }

    /// The file and line of position `line` (0: the main file as a whole).
    fn origin(&self, line: usize) -> Origin {
        let span = self
            .files
            .iter()
            .find(|f| line > f.base && line <= f.base + f.lines)
            .or(self.files.first());
        match span {
            Some(span) => Origin {
                file: span.name.clone(),
                line: line.saturating_sub(span.base),
            },
            None => Origin {
                file: self.file.to_string(),
                line,
            },
        }
    }

    /// Position `other` as an error at position `line` names it: `line N` in the same
    /// file, `FILE:N` in another.
    fn place(&self, other: usize, line: usize) -> String {
        let (a, b) = (self.origin(other), self.origin(line));
        if a.file == b.file {
            format!("line {}", a.line)
        } else {
            format!("{}:{}", a.file, a.line)
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
        // A bridge's `topic #` names the filter `#`: as in Mosquitto, the first word after
        // `topic` is its pattern, whatever it starts with.
        let pattern = if key == "topic" { words.next() } else { None };
        let rest = words.take_while(|w| !w.starts_with('#'));
        let args: Vec<&str> = pattern.into_iter().chain(rest).collect();
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
            "protocol" | "bind_interface" | "http_dir" => self.listener_key(line, key, args),
            "websockets_headers_size" => self.websockets_headers_size(line, args),
            "include_dir" => self.include_dir(line, args),
            "pid_file" => self.pid_file(line, args),
            "certfile"
            | "keyfile"
            | "cafile"
            | "capath"
            | "crlfile"
            | "require_certificate"
            | "disable_client_cert_date_checks"
            | "use_identity_as_username"
            | "tls_version"
            | "ciphers"
            | "ciphers_tls1.3"
            | "dhparamfile"
            | "tls_keyform" => self.tls_key(line, key, args),
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
            | "retained_persistence"
            | "persistence_location"
            | "persistence_file"
            | "autosave_interval"
            | "autosave_on_changes"
            | "persistence_sync" => self.persistence_key(line, key, args),
            "max_connections" | "global_max_connections" => self.max_connections(line, args),
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
            _ if bridge::is_key(key) => self.bridge_key(line, key, args),
            _ => self.listed_key(line, key, args),
        };
        if let Some(name) = applied {
            match self.seen.iter_mut().find(|(k, _)| *k == name) {
                Some(seen) => seen.1 = line,
                None => self.seen.push((name, line)),
            }
        }
    }

    /// A key of the tables in `keys` (a cap, one refused or without effect in Sol, one
    /// accepted only as Sol behaves, one not supported yet), or an unknown one.
    fn listed_key(&mut self, line: usize, key: &str, args: &[&str]) -> Option<&'static str> {
        if let Some(cap) = keys::cap(key) {
            return self.cap(line, cap, args);
        }
        if let Some(applied) = self.refused_key(line, key, args) {
            return applied;
        }
        if let Some((name, accepted)) = keys::as_sol_does(key) {
            let value = self.one(line, key, args)?;
            if accepted.contains(&value) {
                return Some(name);
            }
            let message = format!(
                "{key} {value}: not supported; Sol accepts only {} (what it does anyway)",
                accepted.join(" or ")
            );
            self.error(line, message);
            return None;
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

    /// The last line at which `key` was applied, if it was.
    fn seen(&self, key: &str) -> Option<usize> {
        self.seen
            .iter()
            .find(|(k, _)| *k == key)
            .map(|&(_, line)| line)
    }

    /// The later of the lines at which `a` and `b` were set, if either was.
    fn later(&self, a: &str, b: &str) -> Option<usize> {
        self.seen(a).max(self.seen(b))
    }

    /// Checks across keys, assembles the listeners and returns the configuration or every
    /// error found.
    fn finish(mut self) -> Result<Config, ConfigErrors> {
        self.check_caps();
        self.finish_bridges();
        let listeners = self.assemble_listeners();
        // File by file in reading order, each in line order (checks at the end of the
        // file add theirs last).
        let order = |e: &ConfigError| (self.files.iter().position(|f| f.name == e.file), e.line);
        let (mut errors, mut warnings) = (self.errors, self.warnings);
        if !errors.is_empty() {
            errors.sort_by_key(order);
            return Err(ConfigErrors(errors));
        }
        warnings.sort_by_key(order);
        let mut config = self.config;
        config.warnings = warnings;
        config.limits.listeners = policies(&listeners);
        config.listeners = listeners;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
