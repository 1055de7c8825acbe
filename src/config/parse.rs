//! The line grammar and the rule of every supported key.
//!
//! A line is `key [arguments...]`, split on spaces and tabs; blank lines and lines whose
//! first non-blank character is `#` are comments, and an argument starting with `#` starts
//! a trailing comment. Keys are applied in file order, as Mosquitto does: `listener` opens
//! a listener and the listener-scoped keys after it apply to it. Every problem is
//! recorded and parsing goes on, so one run reports the whole file; checks that involve
//! several keys run at the end.

use super::keys;
use super::value::{self, ValueError};
use super::{
    loopback_listeners, policies, Bind, Config, ConfigError, ConfigErrors, ListenerConfig,
    MemoryConfig, Origin, SecurityFiles, SocketDomain, DEFAULT_PORT, MAX_UNIX_SOCKET_PATH,
    PROTOCOL_MAX_PACKET_SIZE, PROTOCOL_MAX_PAYLOAD,
};
use crate::broker::Limits;
use crate::log::{LogConfig, LogDestinations, LogTypes};
use crate::tls::{ListenerTls, TlsSettings, TlsVersion};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Largest `max_connections`: far beyond any device Sol targets, small enough that a typo
/// cannot ask for a pool of billions of slots.
const MAX_CONNECTIONS: i64 = 1_000_000;

/// Smallest `max_packet_size`, as in Mosquitto: below it not even a CONNECT fits.
const MIN_PACKET_SIZE: u64 = 20;

/// Largest value of the Sol timeouts, in seconds (one day).
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// `max` lowered to `usize::MAX` (4 GiB - 1 on the 32-bit targets).
fn usize_bound(max: u64) -> u64 {
    u64::try_from(usize::MAX).map_or(max, |limit| max.min(limit))
}

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

/// A `listener` line and the listener-scoped settings that followed it.
struct PendingListener {
    /// The `listener` line.
    line: usize,
    /// The port given.
    port: u16,
    /// The address given.
    bind: Bind,
    /// `socket_domain`, with its line.
    socket_domain: Option<(SocketDomain, usize)>,
    /// `allow_anonymous` under `per_listener_settings true`.
    allow_anonymous: Option<bool>,
    /// The TLS keys given for this listener, each with its line.
    tls: PendingTls,
}

/// A listener's TLS keys as given, each with its line (0: not given).
#[derive(Default)]
struct PendingTls {
    /// `certfile`.
    certfile: Option<(PathBuf, usize)>,
    /// `keyfile`.
    keyfile: Option<(PathBuf, usize)>,
    /// `cafile`.
    cafile: Option<PathBuf>,
    /// `capath`.
    capath: Option<PathBuf>,
    /// `crlfile`.
    crlfile: Option<(PathBuf, usize)>,
    /// `require_certificate`, with its line.
    require_certificate: Option<(bool, usize)>,
    /// `disable_client_cert_date_checks`, with its line.
    no_date_checks: Option<(bool, usize)>,
    /// `use_identity_as_username`, with its line.
    use_identity_as_username: Option<(bool, usize)>,
    /// `tls_version`.
    min_version: Option<TlsVersion>,
}

/// The deprecated default listener of `port` and `bind_address` and the settings given
/// before the first `listener` line.
#[derive(Default)]
struct DefaultListener {
    /// `port`, with its line.
    port: Option<(u16, usize)>,
    /// `bind_address`, with its line.
    bind: Option<(String, usize)>,
    /// `socket_domain` before any `listener`, with its line.
    socket_domain: Option<(SocketDomain, usize)>,
    /// `allow_anonymous` before any `listener` under `per_listener_settings true`.
    allow_anonymous: Option<(bool, usize)>,
}

/// The state of one parse.
struct Parser<'f> {
    /// The file name for errors.
    file: &'f str,
    /// Every problem so far.
    errors: Vec<ConfigError>,
    /// Caps as set so far (defaults first).
    limits: Limits,
    /// Logging as set so far.
    log: LogConfig,
    /// A `log_dest` line was seen: the first one replaces the default destination.
    log_dest_seen: bool,
    /// A `log_type` line was seen: the first one replaces the default types.
    log_type_seen: bool,
    /// The buffer pool as set so far.
    memory: MemoryConfig,
    /// `max_packet_size 0` was given: resolved against `max_buffer_memory` at the end.
    packet_size_unlimited: bool,
    /// `max_queued_messages 0` was given (no count cap).
    queued_messages_unlimited: bool,
    /// `max_connections -1`.
    max_connections_auto: bool,
    /// `user`.
    user: Option<String>,
    /// `password_file` and `acl_file`.
    security: SecurityFiles,
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
    /// The last line of each key that was applied, for checks across keys.
    seen: HashMap<&'static str, usize>,
}

impl<'f> Parser<'f> {
    fn new(file: &'f str) -> Self {
        Parser {
            file,
            errors: Vec::new(),
            limits: Limits::default(),
            log: LogConfig::default(),
            log_dest_seen: false,
            log_type_seen: false,
            memory: MemoryConfig::default(),
            packet_size_unlimited: false,
            queued_messages_unlimited: false,
            max_connections_auto: false,
            user: None,
            security: SecurityFiles::default(),
            per_listener_settings: false,
            allow_anonymous: None,
            first_security_line: None,
            default_listener: DefaultListener::default(),
            listeners: Vec::new(),
            scope: Scope::Default,
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

    fn bool_arg(&mut self, line: usize, key: &str, args: &[&str]) -> Option<bool> {
        let token = self.one(line, key, args)?;
        value::parse_bool(token)
            .map_err(|e| self.value_error(line, key, e))
            .ok()
    }

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

    /// A count in `min..=max` as `usize`.
    fn count_arg(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
        min: usize,
        max: usize,
    ) -> Option<usize> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let min = i64::try_from(min).unwrap_or(0);
        let value = self.int_arg(line, key, args, min, max)?;
        usize::try_from(value).ok()
    }

    /// A byte size in `min..=max` (bounded by `usize::MAX`) as `usize`.
    fn size_arg(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
        min: u64,
        max: u64,
    ) -> Option<usize> {
        let token = self.one(line, key, args)?;
        let value = value::parse_size(token, min, usize_bound(max))
            .map_err(|e| self.value_error(line, key, e))
            .ok()?;
        usize::try_from(value).ok()
    }

    /// Seconds, fractional allowed; `positive` rejects zero.
    fn seconds_arg(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
        positive: bool,
    ) -> Option<Duration> {
        let token = self.one(line, key, args)?;
        let value = value::parse_seconds(token, MAX_TIMEOUT_SECS)
            .map_err(|e| self.value_error(line, key, e))
            .ok()?;
        if positive && value.is_zero() {
            self.error(line, format!("{key}: must be greater than 0"));
            return None;
        }
        Some(value)
    }

    /// Applies one `key` line.
    fn key(&mut self, line: usize, key: &str, args: &[&str]) {
        // Each arm returns the key's static name when the line was applied.
        let applied: Option<&'static str> = match key {
            "listener" => self.listener(line, args).then_some("listener"),
            "port" => self.port(line, args),
            "bind_address" => self.bind_address(line, args),
            "socket_domain" => self.socket_domain(line, args),
            "per_listener_settings" => self.per_listener_settings(line, args),
            "allow_anonymous" => self.allow_anonymous(line, args),
            "certfile"
            | "keyfile"
            | "cafile"
            | "capath"
            | "crlfile"
            | "require_certificate"
            | "disable_client_cert_date_checks"
            | "use_identity_as_username"
            | "tls_version" => self.tls_key(line, key, args),
            "allow_zero_length_clientid" => {
                self.global_security(line, key);
                let v = self.bool_arg(line, key, args);
                v.map(|v| self.limits.allow_zero_length_clientid = v)
                    .map(|_| "allow_zero_length_clientid")
            }
            "auto_id_prefix" => {
                self.global_security(line, key);
                let v = self.one(line, key, args);
                v.map(|v| self.limits.auto_id_prefix = v.to_string())
                    .map(|_| "auto_id_prefix")
            }
            "max_connections" => self.max_connections(line, args),
            "max_inflight_messages" => {
                // Mosquitto: 0 (and 65535) mean no maximum; packet ids cap it at 65535.
                let v = self.count_arg(line, key, args, 0, 65535);
                v.map(|v| self.limits.max_inflight_messages = if v == 0 { 65535 } else { v })
                    .map(|_| "max_inflight_messages")
            }
            "max_queued_messages" => {
                let v = self.count_arg(line, key, args, 0, usize::MAX);
                v.map(|v| {
                    self.queued_messages_unlimited = v == 0;
                    self.limits.max_queued_messages = if v == 0 { usize::MAX } else { v };
                })
                .map(|_| "max_queued_messages")
            }
            "max_queued_bytes" => {
                let v = self.size_arg(line, key, args, 0, u64::MAX);
                v.map(|v| self.limits.max_queued_bytes = v)
                    .map(|_| "max_queued_bytes")
            }
            "queue_qos0_messages" => {
                let v = self.bool_arg(line, key, args);
                v.map(|v| self.limits.queue_qos0_messages = v)
                    .map(|_| "queue_qos0_messages")
            }
            "message_size_limit" => {
                let v = self.size_arg(line, key, args, 0, PROTOCOL_MAX_PAYLOAD as u64);
                v.map(|v| self.limits.message_size_limit = v)
                    .map(|_| "message_size_limit")
            }
            "max_packet_size" => self.max_packet_size(line, args),
            "max_keepalive" => {
                let v = self.int_arg(line, key, args, 0, 65535);
                v.and_then(|v| u16::try_from(v).ok())
                    .map(|v| self.limits.max_keepalive = v)
                    .map(|_| "max_keepalive")
            }
            "sys_interval" => {
                let v = self.int_arg(line, key, args, 0, 65535);
                v.and_then(|v| u64::try_from(v).ok())
                    .map(|v| self.limits.sys_interval = Duration::from_secs(v))
                    .map(|_| "sys_interval")
            }
            "persistent_client_expiration" => {
                let token = self.one(line, key, args);
                token
                    .and_then(|t| {
                        value::parse_expiry(t)
                            .map_err(|e| self.value_error(line, key, e))
                            .ok()
                    })
                    .map(|d| self.limits.persistent_client_expiration = Some(d))
                    .map(|_| "persistent_client_expiration")
            }
            "retain_available" => {
                let v = self.bool_arg(line, key, args);
                v.map(|v| self.limits.retain_available = v)
                    .map(|_| "retain_available")
            }
            "log_dest" => self.log_dest(line, args),
            "log_type" => self.log_type(line, args),
            "log_timestamp" => {
                let v = self.bool_arg(line, key, args);
                v.map(|v| self.log.timestamp = v).map(|_| "log_timestamp")
            }
            "connection_messages" => {
                let v = self.bool_arg(line, key, args);
                v.map(|v| self.log.connection_messages = v)
                    .map(|_| "connection_messages")
            }
            "user" => {
                let v = self.one(line, key, args);
                v.map(|v| self.user = Some(v.to_string())).map(|_| "user")
            }
            "password_file" => {
                self.global_security(line, key);
                let v = self.one(line, key, args);
                v.map(|v| {
                    self.security.password_file = Some(v.into());
                    self.security.password_file_at = Some(self.origin(line));
                })
                .map(|_| "password_file")
            }
            "acl_file" => {
                self.global_security(line, key);
                let v = self.one(line, key, args);
                v.map(|v| {
                    self.security.acl_file = Some(v.into());
                    self.security.acl_file_at = Some(self.origin(line));
                })
                .map(|_| "acl_file")
            }
            // Accepted and ignored: Sol always sets TCP_NODELAY; Mosquitto 2.0 itself
            // ignores the other two.
            "set_tcp_nodelay" | "allow_duplicate_messages" => {
                self.bool_arg(line, key, args).map(|_| "ignored")
            }
            "retry_interval" => self
                .int_arg(line, key, args, 0, i64::MAX)
                .map(|_| "ignored"),
            // Sol's own caps.
            "connect_timeout" => {
                let v = self.seconds_arg(line, key, args, true);
                v.map(|v| self.limits.connect_timeout = v)
                    .map(|_| "connect_timeout")
            }
            "slow_consumer_timeout" => {
                let v = self.seconds_arg(line, key, args, true);
                v.map(|v| self.limits.slow_consumer_timeout = v)
                    .map(|_| "slow_consumer_timeout")
            }
            "max_publisher_stall" => {
                let v = self.seconds_arg(line, key, args, false);
                v.map(|v| self.limits.max_publisher_stall = v)
                    .map(|_| "max_publisher_stall")
            }
            "max_inflight_incoming" => {
                let v = self.count_arg(line, key, args, 1, 65535);
                v.map(|v| self.limits.max_inflight_incoming = v)
                    .map(|_| "max_inflight_incoming")
            }
            "max_subscriptions_per_client" => {
                let v = self.count_arg(line, key, args, 1, usize::MAX);
                v.map(|v| self.limits.max_subscriptions_per_client = v)
                    .map(|_| "max_subscriptions_per_client")
            }
            "max_subscriptions" => {
                let v = self.count_arg(line, key, args, 1, usize::MAX);
                v.map(|v| self.limits.max_subscriptions = v)
                    .map(|_| "max_subscriptions")
            }
            "max_topic_length" => {
                let v = self.count_arg(line, key, args, 1, 65535);
                v.map(|v| self.limits.max_topic_length = v)
                    .map(|_| "max_topic_length")
            }
            "max_topic_levels" => {
                let v = self.count_arg(line, key, args, 1, 65535);
                v.map(|v| self.limits.max_topic_levels = v)
                    .map(|_| "max_topic_levels")
            }
            "max_client_id_length" => {
                // A server must accept ids of 1 to 23 bytes [MQTT-3.1.3-5].
                let v = self.count_arg(line, key, args, 23, 65535);
                v.map(|v| self.limits.max_client_id_length = v)
                    .map(|_| "max_client_id_length")
            }
            "max_username_length" => {
                let v = self.count_arg(line, key, args, 1, 65535);
                v.map(|v| self.limits.max_username_length = v)
                    .map(|_| "max_username_length")
            }
            "max_retained_messages" => {
                let v = self.count_arg(line, key, args, 1, usize::MAX);
                v.map(|v| self.limits.max_retained_messages = v)
                    .map(|_| "max_retained_messages")
            }
            "max_retained_bytes" => {
                let v = self.size_arg(line, key, args, 1, u64::MAX);
                v.map(|v| self.limits.max_retained_bytes = v)
                    .map(|_| "max_retained_bytes")
            }
            "max_queued_memory" => {
                let v = self.size_arg(line, key, args, 1, u64::MAX);
                v.map(|v| self.limits.max_queued_memory = v)
                    .map(|_| "max_queued_memory")
            }
            "max_offline_sessions" => {
                let v = self.count_arg(line, key, args, 0, usize::MAX);
                v.map(|v| self.limits.max_offline_sessions = v)
                    .map(|_| "max_offline_sessions")
            }
            "buffer_block_size" => {
                let v = self.size_arg(line, key, args, 256, 1 << 20);
                v.map(|v| self.memory.block_size = v)
                    .map(|_| "buffer_block_size")
            }
            "max_buffer_memory" => {
                let v = self.size_arg(line, key, args, 1, u64::MAX);
                v.map(|v| self.memory.max_buffer_memory = v)
                    .map(|_| "max_buffer_memory")
            }
            _ if keys::is_unsupported(key) => {
                self.error(
                    line,
                    format!("'{key}' is a Mosquitto option that Sol does not support yet"),
                );
                None
            }
            _ => {
                self.error(line, format!("unknown option '{key}'"));
                None
            }
        };
        if let Some(name) = applied {
            self.seen.insert(name, line);
        }
    }

    /// `listener PORT [ADDRESS|PATH]`. Returns whether a listener was opened.
    fn listener(&mut self, line: usize, args: &[&str]) -> bool {
        self.scope = Scope::Broken;
        let (port, address) = match args {
            [] => {
                self.error(line, "listener: missing port");
                return false;
            }
            [port] => (*port, None),
            [port, address] => (*port, Some(*address)),
            [_, _, extra, ..] => {
                self.error(
                    line,
                    format!("listener: unexpected extra argument '{extra}'"),
                );
                return false;
            }
        };
        let port = match value::parse_int(port, 0, 65535) {
            Ok(p) => p as u16,
            Err(e) => {
                self.value_error(line, "listener", e);
                return false;
            }
        };
        let bind = match address {
            None if port == 0 => {
                self.error(
                    line,
                    "listener: port 0 needs a Unix socket path (listener 0 /path/to/socket)",
                );
                return false;
            }
            None => Bind::Any,
            // Port 0 with an IP address is an ephemeral TCP port (tests, CI); otherwise port 0
            // means a Unix socket path, as in Mosquitto.
            Some(ip) if port == 0 && ip.parse::<std::net::IpAddr>().is_ok() => {
                Bind::Host(ip.to_string())
            }
            Some(path) if port == 0 || path.starts_with('/') => {
                if path.len() > MAX_UNIX_SOCKET_PATH {
                    self.error(
                        line,
                        format!(
                            "listener: the Unix socket path is {} bytes long, the limit is {MAX_UNIX_SOCKET_PATH}",
                            path.len()
                        ),
                    );
                    return false;
                }
                Bind::Unix(PathBuf::from(path))
            }
            Some(host) => Bind::Host(host.to_string()),
        };
        self.listeners.push(PendingListener {
            line,
            port,
            bind,
            socket_domain: None,
            allow_anonymous: None,
            tls: PendingTls::default(),
        });
        self.scope = Scope::Listener(self.listeners.len() - 1);
        true
    }

    /// `port N`: the deprecated default listener's port.
    fn port(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let port = self.int_arg(line, "port", args, 1, 65535)?;
        self.default_listener.port = Some((u16::try_from(port).ok()?, line));
        Some("port")
    }

    /// `bind_address ADDRESS`: the deprecated default listener's address.
    fn bind_address(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let address = self.one(line, "bind_address", args)?;
        if self.scope != Scope::Default {
            self.error(
                line,
                "bind_address: it sets the address of the default listener ('port'); \
                 give the address on the 'listener' line instead (listener PORT ADDRESS)",
            );
            return None;
        }
        self.default_listener.bind = Some((address.to_string(), line));
        Some("bind_address")
    }

    /// A listener-scoped TLS key (`certfile`, `keyfile`, `cafile`, `capath`, `crlfile`,
    /// `require_certificate`, `disable_client_cert_date_checks`, `use_identity_as_username`,
    /// `tls_version`). Without the `tls` feature every one is an
    /// error: a file written for TLS must not silently serve plain MQTT.
    fn tls_key(&mut self, line: usize, key: &str, args: &[&str]) -> Option<&'static str> {
        if !cfg!(feature = "tls") {
            self.error(
                line,
                format!("{key}: this build of Sol has no TLS (built without the 'tls' feature)"),
            );
            return None;
        }
        let i = match self.scope {
            Scope::Listener(i) => i,
            Scope::Broken => return None,
            Scope::Default => {
                self.error(
                    line,
                    format!("{key}: applies to a listener; put it after a 'listener' line"),
                );
                return None;
            }
        };
        if matches!(self.listeners[i].bind, Bind::Unix(_)) {
            self.error(
                line,
                format!("{key}: TLS does not apply to a Unix socket listener"),
            );
            return None;
        }
        let name = match key {
            "require_certificate" => {
                let v = self.bool_arg(line, key, args)?;
                self.listeners[i].tls.require_certificate = Some((v, line));
                "require_certificate"
            }
            "disable_client_cert_date_checks" => {
                let v = self.bool_arg(line, key, args)?;
                self.listeners[i].tls.no_date_checks = Some((v, line));
                "disable_client_cert_date_checks"
            }
            "use_identity_as_username" => {
                let v = self.bool_arg(line, key, args)?;
                self.listeners[i].tls.use_identity_as_username = Some((v, line));
                "use_identity_as_username"
            }
            "tls_version" => {
                let v = match self.one(line, key, args)? {
                    "tlsv1.2" => TlsVersion::Tls12,
                    "tlsv1.3" => TlsVersion::Tls13,
                    other => {
                        self.error(
                            line,
                            format!(
                                "tls_version: expected tlsv1.2 or tlsv1.3 (TLS 1.0 and 1.1 \
                                 are not supported), found '{other}'"
                            ),
                        );
                        return None;
                    }
                };
                self.listeners[i].tls.min_version = Some(v);
                "tls_version"
            }
            _ => {
                let path = PathBuf::from(self.one(line, key, args)?);
                let tls = &mut self.listeners[i].tls;
                match key {
                    "certfile" => tls.certfile = Some((path, line)),
                    "keyfile" => tls.keyfile = Some((path, line)),
                    "cafile" => tls.cafile = Some(path),
                    "capath" => tls.capath = Some(path),
                    _ => tls.crlfile = Some((path, line)),
                }
                match key {
                    "certfile" => "certfile",
                    "keyfile" => "keyfile",
                    "cafile" => "cafile",
                    "capath" => "capath",
                    _ => "crlfile",
                }
            }
        };
        Some(name)
    }

    /// The TLS of listener `l`, checked: both `certfile` and `keyfile`, or neither and no
    /// other TLS key. The server configuration is built here, once (its files read by
    /// [`crate::tls`]; a problem is reported at the `certfile` line).
    fn listener_tls(&mut self, l: &mut PendingListener) -> Option<ListenerTls> {
        let tls = std::mem::take(&mut l.tls);
        let (certfile, line) = match (tls.certfile, tls.keyfile) {
            (Some((cert, line)), Some((key, _))) => ((cert, key), line),
            (Some((_, line)), None) => {
                self.error(line, "certfile: a TLS listener also needs 'keyfile'");
                return None;
            }
            (None, Some((_, line))) => {
                self.error(line, "keyfile: a TLS listener also needs 'certfile'");
                return None;
            }
            (None, None) => {
                let stray = [
                    tls.crlfile.map(|c| c.1),
                    tls.require_certificate.map(|r| r.1),
                    tls.no_date_checks.map(|d| d.1),
                    tls.use_identity_as_username.map(|u| u.1),
                ];
                if tls.cafile.is_some()
                    || tls.capath.is_some()
                    || tls.min_version.is_some()
                    || stray.iter().any(Option::is_some)
                {
                    self.error(
                        l.line,
                        "listener: has TLS keys (cafile, capath, crlfile, require_certificate, \
                         disable_client_cert_date_checks, use_identity_as_username or \
                         tls_version) but no 'certfile' and \
                         'keyfile'",
                    );
                }
                return None;
            }
        };
        let require_certificate = tls.require_certificate.is_some_and(|r| r.0);
        if require_certificate && tls.cafile.is_none() && tls.capath.is_none() {
            let at = tls.require_certificate.map_or(line, |r| r.1);
            self.error(
                at,
                "require_certificate: needs 'cafile' or 'capath' to verify client certificates",
            );
            return None;
        }
        let client_only = [
            ("crlfile", tls.crlfile.as_ref().map(|c| c.1)),
            (
                "disable_client_cert_date_checks",
                tls.no_date_checks.filter(|d| d.0).map(|d| d.1),
            ),
            (
                "use_identity_as_username",
                tls.use_identity_as_username.filter(|u| u.0).map(|u| u.1),
            ),
        ];
        for (key, at) in client_only {
            if let Some(at) = at.filter(|_| !require_certificate) {
                self.error(
                    at,
                    format!(
                        "{key}: only applies with 'require_certificate true' (client \
                         certificates are not requested otherwise)"
                    ),
                );
                return None;
            }
        }
        let settings = TlsSettings {
            certfile: certfile.0,
            keyfile: certfile.1,
            cafile: tls.cafile,
            capath: tls.capath,
            crlfile: tls.crlfile.map(|c| c.0),
            require_certificate,
            disable_client_cert_date_checks: tls.no_date_checks.is_some_and(|d| d.0),
            use_identity_as_username: tls.use_identity_as_username.is_some_and(|u| u.0),
            min_version: tls.min_version.unwrap_or_default(),
        };
        #[cfg(feature = "tls")]
        return ListenerTls::load(settings)
            .map_err(|e| self.error(line, e.to_string()))
            .ok();
        // Without the feature every TLS key was refused, so no listener gets this far.
        #[cfg(not(feature = "tls"))]
        {
            let _ = (settings, line);
            None
        }
    }

    /// `socket_domain ipv4|ipv6`, listener-scoped.
    fn socket_domain(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let domain = match self.one(line, "socket_domain", args)? {
            "ipv4" => SocketDomain::Ipv4,
            "ipv6" => SocketDomain::Ipv6,
            other => {
                self.error(
                    line,
                    format!("socket_domain: expected ipv4 or ipv6, found '{other}'"),
                );
                return None;
            }
        };
        match self.scope {
            Scope::Default => self.default_listener.socket_domain = Some((domain, line)),
            Scope::Listener(i) => {
                if matches!(self.listeners[i].bind, Bind::Unix(_)) {
                    self.error(
                        line,
                        "socket_domain: does not apply to a Unix socket listener",
                    );
                    return None;
                }
                self.listeners[i].socket_domain = Some((domain, line));
            }
            Scope::Broken => {}
        }
        Some("socket_domain")
    }

    /// `per_listener_settings true|false`: must come before any security setting, and
    /// once true it stays true (as in Mosquitto).
    fn per_listener_settings(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let value = self.bool_arg(line, "per_listener_settings", args)?;
        if self.per_listener_settings {
            return Some("per_listener_settings");
        }
        if value {
            if let Some(first) = self.first_security_line {
                self.error(
                    line,
                    format!(
                        "per_listener_settings: must come before any allow_anonymous, \
                         allow_zero_length_clientid or auto_id_prefix line (line {first})"
                    ),
                );
                return None;
            }
        }
        self.per_listener_settings = value;
        Some("per_listener_settings")
    }

    /// `allow_anonymous true|false`: global, or per listener under
    /// `per_listener_settings true`.
    fn allow_anonymous(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        self.first_security_line.get_or_insert(line);
        let value = self.bool_arg(line, "allow_anonymous", args)?;
        if !self.per_listener_settings {
            self.allow_anonymous = Some(value);
        } else {
            match self.scope {
                Scope::Default => self.default_listener.allow_anonymous = Some((value, line)),
                Scope::Listener(i) => self.listeners[i].allow_anonymous = Some(value),
                Scope::Broken => {}
            }
        }
        Some("allow_anonymous")
    }

    /// A security key that Mosquitto makes per listener under `per_listener_settings
    /// true` but Sol keeps global: refused after a `listener` line in that mode.
    fn global_security(&mut self, line: usize, key: &str) {
        self.first_security_line.get_or_insert(line);
        if self.per_listener_settings && self.scope != Scope::Default {
            self.error(
                line,
                format!(
                    "{key}: Sol does not support it per listener yet; \
                     set it before the first 'listener' line"
                ),
            );
        }
    }

    /// `max_connections N|-1`: the size of the one pool all listeners share.
    fn max_connections(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        if let Some(&first) = self.seen.get("max_connections") {
            self.error(
                line,
                format!(
                    "max_connections: already set at line {first}; Sol has one connection \
                     pool for all listeners, so the cap is global and set once"
                ),
            );
            return None;
        }
        let value = self.int_arg(line, "max_connections", args, -1, MAX_CONNECTIONS)?;
        match value {
            -1 => self.max_connections_auto = true,
            0 => {
                self.error(
                    line,
                    "max_connections: must be -1 (automatic) or at least 1",
                );
                return None;
            }
            n => {
                self.max_connections_auto = false;
                self.limits.max_connections = usize::try_from(n).ok()?;
            }
        }
        Some("max_connections")
    }

    /// `max_packet_size N`: 0 is Mosquitto's "no limit", resolved at the end.
    fn max_packet_size(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let token = self.one(line, "max_packet_size", args)?;
        if token == "0" {
            self.packet_size_unlimited = true;
            return Some("max_packet_size");
        }
        let value = value::parse_size(token, MIN_PACKET_SIZE, PROTOCOL_MAX_PACKET_SIZE as u64)
            .map_err(|e| self.value_error(line, "max_packet_size", e))
            .ok()?;
        self.packet_size_unlimited = false;
        self.limits.max_packet_size = usize::try_from(value).ok()?;
        Some("max_packet_size")
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
            self.log.dest = LogDestinations {
                syslog: false,
                stderr: false,
                stdout: false,
            };
        }
        match dest {
            "syslog" => self.log.dest.syslog = true,
            "stderr" => self.log.dest.stderr = true,
            "stdout" => self.log.dest.stdout = true,
            "none" => {
                self.log.dest.syslog = false;
                self.log.dest.stderr = false;
                self.log.dest.stdout = false;
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
            self.log.types
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
        self.log.types = types;
        Some("log_type")
    }

    /// The later of the lines at which `a` and `b` were set, if either was.
    fn later(&self, a: &str, b: &str) -> Option<usize> {
        self.seen.get(a).max(self.seen.get(b)).copied()
    }

    /// Checks across keys, assembles the listeners and returns the configuration or every
    /// error found.
    fn finish(mut self) -> Result<Config, ConfigErrors> {
        self.check_memory();
        let listeners = self.assemble_listeners();
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.line);
            return Err(ConfigErrors(self.errors));
        }
        let mut limits = self.limits;
        limits.listeners = policies(&listeners);
        Ok(Config {
            listeners,
            limits,
            log: self.log,
            max_connections_auto: self.max_connections_auto,
            source: None,
            memory: self.memory,
            user: self.user,
            security: self.security,
        })
    }

    /// Buffer pool and queue caps that only make sense together.
    fn check_memory(&mut self) {
        let budget = self.memory.max_buffer_memory;
        if self.memory.block_size > budget {
            if let Some(line) = self.later("buffer_block_size", "max_buffer_memory") {
                self.error(
                    line,
                    format!(
                        "buffer_block_size ({}) is larger than max_buffer_memory ({budget})",
                        self.memory.block_size
                    ),
                );
            }
        }
        if self.packet_size_unlimited {
            self.limits.max_packet_size = PROTOCOL_MAX_PACKET_SIZE.min(budget);
        } else if self.limits.max_packet_size > budget {
            if let Some(line) = self.later("max_packet_size", "max_buffer_memory") {
                self.error(
                    line,
                    format!(
                        "max_packet_size ({}) is larger than max_buffer_memory ({budget}): \
                         such a packet could never be buffered",
                        self.limits.max_packet_size
                    ),
                );
            }
        }
        if self.queued_messages_unlimited && self.limits.max_queued_bytes == 0 {
            if let Some(line) = self.later("max_queued_messages", "max_queued_bytes") {
                self.error(
                    line,
                    "max_queued_messages 0 and max_queued_bytes 0 together leave queues \
                     unbounded; Sol needs at least one of the two caps",
                );
            }
        }
    }

    /// The final listener list: the default listener, the `listener` lines, or the
    /// embedded loopback listeners when the file declares none.
    fn assemble_listeners(&mut self) -> Vec<ListenerConfig> {
        let defaults = std::mem::take(&mut self.default_listener);
        let has_default = defaults.port.is_some() || defaults.bind.is_some();
        let explicit = has_default || !self.listeners.is_empty();
        // Mosquitto 2.0: with listeners in the file, anonymous access must be granted.
        let global_anonymous = self.allow_anonymous.unwrap_or(!explicit);
        let per_listener = self.per_listener_settings;
        let anonymous = |own: Option<bool>| {
            if per_listener {
                own.unwrap_or(!explicit)
            } else {
                global_anonymous
            }
        };

        if !explicit {
            if let Some((_, line)) = defaults.socket_domain {
                self.error(
                    line,
                    "socket_domain: applies to a listener; put it after a 'listener' line",
                );
            }
            let own = defaults.allow_anonymous.map(|(v, _)| v);
            return loopback_listeners(DEFAULT_PORT, anonymous(own));
        }

        let mut all: Vec<PendingListener> = Vec::new();
        if has_default {
            let line = [
                defaults.port.map(|p| p.1),
                defaults.bind.as_ref().map(|b| b.1),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(0);
            all.push(PendingListener {
                line,
                port: defaults.port.map_or(DEFAULT_PORT, |p| p.0),
                bind: defaults
                    .bind
                    .map_or(Bind::Any, |(host, _)| Bind::Host(host)),
                socket_domain: defaults.socket_domain,
                allow_anonymous: defaults.allow_anonymous.map(|a| a.0),
                tls: PendingTls::default(),
            });
        } else {
            if let Some((_, line)) = defaults.socket_domain {
                self.error(
                    line,
                    "socket_domain: appears before any 'listener' line and there is no \
                     default listener ('port'); move it after a 'listener' line",
                );
            }
            if let Some((_, line)) = defaults.allow_anonymous {
                self.error(
                    line,
                    "allow_anonymous: with per_listener_settings true, this line applies to \
                     the default listener ('port'), which this file does not define; move it \
                     after a 'listener' line",
                );
            }
        }
        all.append(&mut self.listeners);

        for (i, listener) in all.iter().enumerate() {
            if let Some(first) = all[..i].iter().find(|l| same_socket(l, listener)) {
                let message = format!(
                    "listener: the same socket is already defined at line {}",
                    first.line
                );
                self.error(listener.line, message);
            }
            if let (Bind::Host(host), Some((domain, line))) =
                (&listener.bind, listener.socket_domain)
            {
                if let Some(message) = family_mismatch(host, domain) {
                    self.error(line, message);
                }
            }
        }
        let mut out = Vec::with_capacity(all.len());
        for mut l in all {
            let tls = self.listener_tls(&mut l);
            out.push(ListenerConfig {
                port: l.port,
                bind: l.bind,
                socket_domain: l.socket_domain.map(|d| d.0),
                allow_anonymous: anonymous(l.allow_anonymous),
                tls,
            });
        }
        out
    }
}

/// The error of `socket_domain DOMAIN` for a listener on `host`, if `host` is an IP
/// address of the other family. Host names are resolved later, by `net`.
fn family_mismatch(host: &str, domain: SocketDomain) -> Option<String> {
    let family = match host.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => SocketDomain::Ipv4,
        IpAddr::V6(_) => SocketDomain::Ipv6,
    };
    let wanted = match domain {
        SocketDomain::Ipv4 => "IPv4",
        SocketDomain::Ipv6 => "IPv6",
    };
    (family != domain).then(|| format!("socket_domain: '{host}' is not an {wanted} address"))
}

/// Whether two listeners would bind the same socket. Two TCP listeners on port 0 do not:
/// each gets a port of its own (a plain and a TLS listener in a test, for instance).
fn same_socket(a: &PendingListener, b: &PendingListener) -> bool {
    match (&a.bind, &b.bind) {
        (Bind::Unix(x), Bind::Unix(y)) => x == y,
        (Bind::Unix(_), _) | (_, Bind::Unix(_)) => false,
        (x, y) => a.port == b.port && a.port != 0 && x == y,
    }
}

#[cfg(test)]
mod tests;
