//! The configuration: Mosquitto's `key value` file grammar (a documented subset plus
//! Sol's own caps), the embedded defaults, and validation with `file:line` errors.
//!
//! [`Config::load`] reads a file, [`Config::parse`] parses text, and both report *every*
//! problem of the file at once ([`ConfigErrors`]), each as `file:line: message`.
//! [`Config::embedded_defaults`] is what Sol runs with when no file is given: loopback
//! listeners only, anonymous clients allowed, as Mosquitto 2.0 does.
//! [`Config::memory_ceiling`] turns the caps into the worst-case memory they allow.
//!
//! This module must not touch sockets: addresses are kept as written and resolved by
//! `net` when it binds. `docs/configuration.md` documents every key.
//!
//! Layout: `parse` (the line grammar and key dispatch, with one file per family of keys:
//! `caps`, `listeners`, `tls`, `bridge`, `log`, `security`, `persistence`), `bridge` (the
//! types of a bridge's configuration), `keys` (the data: the table of
//! numeric caps and the Mosquitto keys Sol does not support yet), `value` (booleans,
//! integers, sizes, durations) and `ceiling` (the memory ceiling).
//!
//! `config` sits above `codec`, `log`, `auth`, `tls`, `broker` and `store`, whose
//! settings it builds (`Limits`, `LogConfig`, `TlsSettings`, `StoreSettings` and the
//! listener's rustls configuration),
//! and below `net` and `cli`: it must not import them. What it needs from `net` (the
//! reactor's slot sizes for the ceiling) is passed in.

mod bridge;
mod ceiling;
mod keys;
mod parse;
mod value;

pub use bridge::{
    BridgeAddress, BridgeConfig, BridgeProtocol, Direction, OutboxLimits, OutboxPolicy,
    RestartTimeout, StartType, TopicMapping, DEFAULT_BRIDGE_PORT, MAX_BRIDGES,
};
pub use ceiling::{size, CeilingItem, MemoryCeiling, SlotSizes};

use crate::auth::{Auth, AuthFile, FileError};
use crate::broker::{Limits, ListenerClients, ListenerPolicy};
use crate::log::LogConfig;
use crate::store::StoreSettings;
use crate::tls::{ListenerTls, TlsVersion};
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest MQTT packet the protocol allows: 1 byte of fixed header, 4 bytes of remaining
/// length and a remaining length of at most 268,435,455 bytes. `max_packet_size 0`
/// (Mosquitto's "no limit") means this, bounded by `max_buffer_memory`.
pub const PROTOCOL_MAX_PACKET_SIZE: usize = 1 + 4 + 268_435_455;

/// Largest PUBLISH payload the protocol allows (the remaining length limit); the upper
/// bound of `message_size_limit`.
pub const PROTOCOL_MAX_PAYLOAD: usize = 268_435_455;

/// Longest Unix socket path: `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_UNIX_SOCKET_PATH: usize = 107;

/// File descriptors kept back from `RLIMIT_NOFILE` when `max_connections -1` sizes the
/// pool: standard streams, the poller, syslog, signal handling, listeners and slack.
pub const RESERVED_FDS: u64 = 32;

/// Upper bound of an automatically sized pool (`max_connections -1`), so that a generous
/// hard fd limit (often 524288 on desktops) does not preallocate hundreds of megabytes.
pub const AUTO_MAX_CONNECTIONS: usize = 65_536;

/// The port of the embedded default listeners, and of `port`/`bind_address` without one.
pub const DEFAULT_PORT: u16 = 1883;

/// A loaded configuration: what the broker core, the reactor and logging need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The sockets to listen on, in file order (the deprecated `port` default listener
    /// first). Never empty: a file that declares none gets the embedded loopback defaults.
    pub listeners: Vec<ListenerConfig>,
    /// The caps of the broker core; `limits.listeners[i]` is the policy of `listeners[i]`.
    pub limits: Limits,
    /// Log destinations and the enabled message types.
    pub log: LogConfig,
    /// `max_connections -1` was given: the reactor sizes the pool from `RLIMIT_NOFILE`
    /// (see [`Config::resolve_auto_connections`]); until then `limits.max_connections`
    /// holds the default.
    pub max_connections_auto: bool,
    /// The file this configuration came from, to reload it on SIGHUP; `None` for the
    /// embedded defaults and `-p`.
    pub source: Option<PathBuf>,
    /// The buffer pool that holds partial packets in and unsent frames out.
    pub memory: MemoryConfig,
    /// The user to switch to after binding, when started as root (`user`; see
    /// [`crate::privilege`]).
    pub user: Option<String>,
    /// The password and ACL files (`password_file`, `acl_file`).
    pub security: SecurityFiles,
    /// Durable state: `persistence` and the keys beside it.
    pub persistence: Persistence,
    /// `pid_file`: where the broker writes its process id at start-up (before dropping
    /// root, as Mosquitto) and removes it at a clean exit.
    pub pid_file: Option<PathBuf>,
    /// The files `include_dir` read, in the order they were parsed (a reload reads the
    /// directories again; `sol check` checks the broker's user can read them).
    pub included: Vec<PathBuf>,
    /// `websockets_headers_size`: the most bytes of HTTP headers a WebSocket upgrade
    /// request may have (global in Mosquitto).
    pub websockets_headers_size: usize,
    /// The `connection` blocks: bridges to upstream brokers, in file order.
    pub bridges: Vec<BridgeConfig>,
    /// Lines accepted without effect or with a caveat, as `file:line: message`: logged at
    /// start-up and on reload, printed by `sol check`.
    pub warnings: Vec<ConfigError>,
}

/// The default of `websockets_headers_size` (and what 0 means): 4096, what Mosquitto
/// 2.0 accepts in practice (libwebsockets' own buffer), not the 1024 its manual gives
/// (see `ws::DEFAULT_HEADERS_SIZE`): a browser's request with cookies passes.
pub const DEFAULT_WEBSOCKETS_HEADERS_SIZE: usize = crate::ws::DEFAULT_HEADERS_SIZE;

/// Durable state (`persistence`, `persistence_location`, `persistence_file`,
/// `autosave_interval`, `autosave_on_changes`, and Sol's `persistence_sync`). Fixed at
/// start: a reload that changes it is logged as needing a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persistence {
    /// `persistence`: keep retained messages and persistent sessions across restarts.
    pub enabled: bool,
    /// `persistence_location`: the directory of the store file; `None`: the working
    /// directory, as in Mosquitto.
    pub location: Option<PathBuf>,
    /// `persistence_file`: the store file's name (default `sol.db`, not Mosquitto's
    /// `mosquitto.db`, so that Sol never mistakes a Mosquitto database for its own).
    pub file: String,
    /// `autosave_interval`: the longest a change waits before it is written, in seconds
    /// (or, with `autosave_on_changes`, a count of changes); 0: only at a clean stop.
    pub autosave_interval: u64,
    /// `autosave_on_changes`: `autosave_interval` counts changes.
    pub autosave_on_changes: bool,
    /// `persistence_sync` (Sol's key): acknowledge a QoS 1/2 PUBLISH only once what it
    /// changed is on disk; every reactor turn's changes are written and synced together.
    pub sync: bool,
}

impl Default for Persistence {
    /// Mosquitto's defaults: off, a save every 30 minutes when on.
    fn default() -> Persistence {
        Persistence {
            enabled: false,
            location: None,
            file: "sol.db".to_string(),
            autosave_interval: 1800,
            autosave_on_changes: false,
            sync: false,
        }
    }
}

impl Persistence {
    /// The store file: `persistence_location` joined with `persistence_file`.
    pub fn path(&self) -> PathBuf {
        match &self.location {
            Some(dir) => dir.join(&self.file),
            None => PathBuf::from(&self.file),
        }
    }

    /// The store's settings, when persistence is on.
    pub fn store_settings(&self) -> Option<StoreSettings> {
        self.enabled.then(|| StoreSettings {
            autosave_interval: self.autosave_interval,
            on_changes: self.autosave_on_changes,
            sync_acks: self.sync,
            ..StoreSettings::at(self.path())
        })
    }
}

/// Files with users and access rules, read at start, by `sol check` and on every reload
/// ([`Config::load_auth`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityFiles {
    /// `password_file`: Mosquitto's `username:hash` file.
    pub password_file: Option<PathBuf>,
    /// `acl_file`: Mosquitto's ACL file.
    pub acl_file: Option<PathBuf>,
    /// Where the file set `password_file`, to report a problem with it at that line;
    /// `None` when a program set the path.
    pub password_file_at: Option<Origin>,
    /// Where the file set `acl_file`, as `password_file_at`.
    pub acl_file_at: Option<Origin>,
}

/// A place in a configuration file: where a key was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The configuration file, named as in [`ConfigError::file`].
    pub file: String,
    /// The 1-based line.
    pub line: usize,
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// TCP port; for a Unix socket, the port given on the `listener` line (unused).
    pub port: u16,
    /// What to bind: all interfaces, one address or host name, or a Unix socket path.
    pub bind: Bind,
    /// Restricts [`Bind::Any`] or a host name to one address family (`socket_domain`).
    pub socket_domain: Option<SocketDomain>,
    /// Whether clients without a user name may connect through this listener.
    pub allow_anonymous: bool,
    /// TLS: `Some` when the listener has both `certfile` and `keyfile`; the server
    /// configuration is built (its files read) when the configuration is parsed.
    pub tls: Option<ListenerTls>,
    /// `mount_point`, `use_username_as_clientid` and the listener's `max_qos`.
    pub clients: ListenerClients,
    /// What the listener speaks (`protocol`).
    pub protocol: ListenerProtocol,
    /// `bind_interface`: accept only connections that arrive on this network interface
    /// (`SO_BINDTODEVICE`); the listener then binds every address of its families, as
    /// Mosquitto lets the interface take priority over the address.
    pub bind_interface: Option<String>,
    /// `http_dir`: static files a WebSocket listener may serve to plain HTTP requests.
    pub http_dir: Option<PathBuf>,
}

/// What a listener speaks (`protocol mqtt|websockets`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListenerProtocol {
    /// MQTT straight over TCP, TLS or a Unix socket.
    #[default]
    Mqtt,
    /// MQTT inside WebSocket frames (RFC 6455), after an HTTP upgrade.
    WebSockets,
}

/// The address a listener binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bind {
    /// All interfaces: IPv4 and IPv6 unless `socket_domain` picks one.
    Any,
    /// One IP address or host name, as written in the file (resolved by `net`).
    Host(String),
    /// A Unix domain socket at this path.
    Unix(PathBuf),
}

/// An address family (`socket_domain ipv4|ipv6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketDomain {
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

/// The read-buffer pool (`net::buffer`): fixed-size blocks lent to a connection while it
/// has read bytes it cannot frame yet (a partial packet, or input held while paused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Size of one pool block in bytes (`buffer_block_size`).
    pub block_size: usize,
    /// Total bytes of all blocks and large-packet allocations (`max_buffer_memory`). When
    /// a connection's partial packet cannot get a buffer within it, that connection is
    /// closed (logged and counted) and the others keep being served; new connections are
    /// not refused for it (only a full client pool refuses them).
    pub max_buffer_memory: usize,
    /// `memory_limit`: the most the memory ceiling of the caps may be (`usize::MAX`: no
    /// limit, Mosquitto's 0). A configuration whose ceiling is higher is refused (see
    /// [`MemoryCeiling::limit_error`]).
    pub memory_limit: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            block_size: 4096,
            max_buffer_memory: 4 << 20,
            memory_limit: usize::MAX,
        }
    }
}

/// Every problem found in a configuration file, in line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// One problem at one line of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as given to [`Config::load`] or [`Config::parse`].
    pub file: String,
    /// The 1-based line; 0 when the problem concerns the whole file (it cannot be read).
    pub line: usize,
    /// What is wrong, naming the key.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl fmt::Display for ConfigErrors {
    /// One `file:line: message` per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl fmt::Display for ListenerConfig {
    /// `127.0.0.1:1883`, `[::1]:1883`, `*:1883 (ipv4)` or `unix:/run/sol.sock`, the
    /// interface, `WebSockets` for a WebSocket listener, then TLS and its client
    /// certificate checks if configured, then whether anonymous clients are allowed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bind {
            Bind::Any => write!(f, "*:{}", self.port)?,
            Bind::Host(host) if host.contains(':') => write!(f, "[{host}]:{}", self.port)?,
            Bind::Host(host) => write!(f, "{host}:{}", self.port)?,
            Bind::Unix(path) => write!(f, "unix:{}", path.display())?,
        }
        match self.socket_domain {
            Some(SocketDomain::Ipv4) => write!(f, " (ipv4)")?,
            Some(SocketDomain::Ipv6) => write!(f, " (ipv6)")?,
            None => {}
        }
        if let Some(interface) = &self.bind_interface {
            write!(f, " on interface {interface}")?;
        }
        if self.protocol == ListenerProtocol::WebSockets {
            write!(f, ", WebSockets")?;
        }
        if let Some(tls) = self.tls.as_ref().map(|t| &t.settings) {
            let version = match tls.min_version {
                TlsVersion::Tls12 => "1.2",
                TlsVersion::Tls13 => "1.3",
            };
            write!(f, ", TLS {version}+")?;
            if tls.require_certificate {
                write!(f, ", client certificates required")?;
            }
            if tls.disable_client_cert_date_checks {
                write!(f, " (dates not checked)")?;
            }
            if tls.use_identity_as_username {
                write!(f, ", user name from the certificate's CN")?;
            }
        }
        if self.allow_anonymous {
            write!(f, ", anonymous allowed")
        } else {
            write!(f, ", anonymous refused")
        }
    }
}

impl Config {
    /// What Sol runs with when no file is given: listeners on 127.0.0.1:1883 and
    /// [::1]:1883, anonymous clients allowed, default caps and logging.
    pub fn embedded_defaults() -> Config {
        Config::loopback(DEFAULT_PORT)
    }

    /// The embedded defaults on another port (`sol -p PORT`). Port 0 asks the kernel for
    /// a free port (tests).
    pub fn loopback(port: u16) -> Config {
        Config::with_listeners(loopback_listeners(port, true))
    }

    /// Reads and parses the file at `path`. Errors name the file as `path` displays.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.clone(),
                line: 0,
                message: format!("cannot read the configuration file: {e}"),
            }])
        })?;
        let mut config = parse::parse(&bytes, &file, Some(path))?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses configuration text; `file_name` is used in error messages only.
    pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
        parse::parse(text.as_bytes(), file_name, None)
    }

    /// The worst-case memory the caps allow, itemised, with the reactor's per-connection
    /// sizes `slots` (`net::SLOT_SIZES`); `Display` prints a table.
    pub fn memory_ceiling(&self, slots: SlotSizes) -> MemoryCeiling {
        MemoryCeiling::of(self, slots)
    }

    /// Reads the password and ACL files this configuration names (ACL filters checked
    /// against the topic caps). A problem is reported at the line that named the file
    /// (`file:line: acl_file: PATH: line N: reason`), or as `PATH: problem` when a program
    /// set the path.
    pub fn load_auth(&self) -> Result<Auth, ConfigErrors> {
        let files = &self.security;
        let l = &self.limits;
        Auth::load(
            files.password_file.as_deref(),
            files.acl_file.as_deref(),
            l.max_topic_length,
            l.max_topic_levels,
        )
        .map_err(|errors| {
            let error = |e: FileError| {
                let at = match e.file {
                    AuthFile::Passwords => &files.password_file_at,
                    AuthFile::Acl => &files.acl_file_at,
                };
                match at {
                    Some(at) => ConfigError {
                        file: at.file.clone(),
                        line: at.line,
                        message: format!("{}: {e}", e.file.key()),
                    },
                    None => ConfigError {
                        file: e.path.display().to_string(),
                        line: 0,
                        message: e.problem,
                    },
                }
            };
            ConfigErrors(errors.into_iter().map(error).collect())
        })
    }

    /// Sizes the pool for `max_connections -1` from the soft `RLIMIT_NOFILE` value
    /// `fd_limit`: the limit minus [`RESERVED_FDS`], at least 1 and at most
    /// [`AUTO_MAX_CONNECTIONS`]. Does nothing unless [`Config::max_connections_auto`].
    pub fn resolve_auto_connections(&mut self, fd_limit: u64) {
        if self.max_connections_auto {
            let slots = fd_limit.saturating_sub(RESERVED_FDS).max(1);
            self.limits.max_connections = usize::try_from(slots)
                .map_or(AUTO_MAX_CONNECTIONS, |s| s.min(AUTO_MAX_CONNECTIONS));
        }
    }

    /// A configuration with default caps and logging and these listeners, whose
    /// policies it copies into `limits.listeners`.
    fn with_listeners(listeners: Vec<ListenerConfig>) -> Config {
        Config {
            limits: Limits {
                listeners: policies(&listeners),
                ..Limits::default()
            },
            listeners,
            log: LogConfig::default(),
            max_connections_auto: false,
            source: None,
            memory: MemoryConfig::default(),
            user: None,
            security: SecurityFiles::default(),
            persistence: Persistence::default(),
            pid_file: None,
            included: Vec::new(),
            websockets_headers_size: DEFAULT_WEBSOCKETS_HEADERS_SIZE,
            bridges: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The error that refuses this configuration on this system, if its memory ceiling
    /// (with the reactor's sizes `slots`) is above `memory_limit`.
    pub fn memory_limit_error(&self, slots: SlotSizes) -> Option<String> {
        self.memory_ceiling(slots)
            .limit_error(self.memory.memory_limit as u64)
    }
}

/// The two loopback listeners of the embedded defaults on `port`.
fn loopback_listeners(port: u16, allow_anonymous: bool) -> Vec<ListenerConfig> {
    ["127.0.0.1", "::1"]
        .iter()
        .map(|host| ListenerConfig {
            port,
            bind: Bind::Host((*host).to_string()),
            socket_domain: None,
            allow_anonymous,
            tls: None,
            clients: ListenerClients::default(),
            protocol: ListenerProtocol::Mqtt,
            bind_interface: None,
            http_dir: None,
        })
        .collect()
}

/// The core's view of `listeners`, index for index.
fn policies(listeners: &[ListenerConfig]) -> Vec<ListenerPolicy> {
    listeners
        .iter()
        .map(|l| ListenerPolicy {
            allow_anonymous: l.allow_anonymous,
            use_identity_as_username: l
                .tls
                .as_ref()
                .is_some_and(|t| t.settings.use_identity_as_username),
            clients: l.clients.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::TlsSettings;

    #[test]
    fn identity_as_user_name_reaches_the_listener_policy() {
        let tls = |use_identity_as_username| {
            ListenerTls::without_files(TlsSettings {
                require_certificate: true,
                use_identity_as_username,
                ..TlsSettings::default()
            })
        };
        let mut listeners = loopback_listeners(0, false);
        listeners[0].tls = Some(tls(true));
        listeners[1].tls = Some(tls(false));
        let mut plain = loopback_listeners(0, false);
        listeners.append(&mut plain);
        let got: Vec<bool> = policies(&listeners)
            .iter()
            .map(|p| p.use_identity_as_username)
            .collect();
        assert_eq!(got, [true, false, false, false]);
    }

    #[test]
    fn embedded_defaults_are_loopback_and_anonymous() {
        let config = Config::embedded_defaults();
        assert_eq!(config.listeners.len(), 2);
        assert_eq!(config.listeners[0].bind, Bind::Host("127.0.0.1".into()));
        assert_eq!(config.listeners[1].bind, Bind::Host("::1".into()));
        assert!(config
            .listeners
            .iter()
            .all(|l| l.port == 1883 && l.allow_anonymous));
        assert_eq!(config.limits.listeners.len(), 2);
        assert!(config.limits.listeners.iter().all(|p| p.allow_anonymous));
        assert_eq!(config.source, None);
        assert!(!config.max_connections_auto);
        let defaults = Limits {
            listeners: config.limits.listeners.clone(),
            ..Limits::default()
        };
        assert_eq!(config.limits, defaults);
    }

    #[test]
    fn loopback_takes_any_port() {
        let config = Config::loopback(0);
        assert!(config.listeners.iter().all(|l| l.port == 0));
        assert_eq!(Config::loopback(1883), Config::embedded_defaults());
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors = ConfigErrors(vec![
            ConfigError {
                file: "sol.conf".into(),
                line: 3,
                message: "a".into(),
            },
            ConfigError {
                file: "sol.conf".into(),
                line: 0,
                message: "b".into(),
            },
        ]);
        assert_eq!(errors.to_string(), "sol.conf:3: a\nsol.conf: b");
    }

    #[test]
    fn listeners_display_their_address() {
        let l = |bind, socket_domain, allow_anonymous| ListenerConfig {
            port: 1883,
            bind,
            socket_domain,
            allow_anonymous,
            tls: None,
            clients: ListenerClients::default(),
            protocol: ListenerProtocol::Mqtt,
            bind_interface: None,
            http_dir: None,
        };
        assert_eq!(
            l(Bind::Host("::1".into()), None, true).to_string(),
            "[::1]:1883, anonymous allowed"
        );
        let mut tls = l(Bind::Any, None, false);
        tls.tls = Some(ListenerTls::without_files(TlsSettings {
            require_certificate: true,
            disable_client_cert_date_checks: true,
            use_identity_as_username: true,
            ..TlsSettings::default()
        }));
        assert_eq!(
            tls.to_string(),
            "*:1883, TLS 1.2+, client certificates required (dates not checked), user name \
             from the certificate's CN, anonymous refused"
        );
        assert_eq!(
            l(Bind::Any, Some(SocketDomain::Ipv4), false).to_string(),
            "*:1883 (ipv4), anonymous refused"
        );
        assert_eq!(
            l(Bind::Unix("/run/sol.sock".into()), None, false).to_string(),
            "unix:/run/sol.sock, anonymous refused"
        );
    }

    #[test]
    fn auto_connections_follow_the_fd_limit() {
        let mut config = Config::parse("max_connections -1\n", "t").expect("valid");
        assert!(config.max_connections_auto);
        config.resolve_auto_connections(1024);
        assert_eq!(config.limits.max_connections, 1024 - 32);
        config.resolve_auto_connections(10);
        assert_eq!(config.limits.max_connections, 1);
        config.resolve_auto_connections(1 << 40);
        assert_eq!(config.limits.max_connections, AUTO_MAX_CONNECTIONS);

        let mut fixed = Config::embedded_defaults();
        fixed.resolve_auto_connections(10);
        assert_eq!(fixed.limits.max_connections, 1024);
    }

    #[test]
    fn load_names_the_file_it_cannot_read() {
        let errors = Config::load(Path::new("/nonexistent/sol.conf")).expect_err("missing");
        assert_eq!(errors.0.len(), 1);
        assert!(errors
            .to_string()
            .starts_with("/nonexistent/sol.conf: cannot read the configuration file: "));
    }

    #[test]
    fn auth_file_problems_name_the_line_that_named_the_file() {
        let dir = std::env::temp_dir().join(format!("sol-config-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let acl = dir.join("acl");
        std::fs::write(&acl, "topic read #\ntopic sideways x\n").expect("write");
        let text = format!(
            "listener 1883\npassword_file /nonexistent/passwd\nacl_file {}\n",
            acl.display()
        );
        let config = Config::parse(&text, "sol.conf").expect("valid");
        let errors = config.load_auth().expect_err("missing and bad files");
        let text = errors.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("sol.conf:2: password_file: /nonexistent/passwd: "),
            "{text}"
        );
        assert!(
            lines[1].starts_with(&format!(
                "sol.conf:3: acl_file: {}: line 2: topic: access must be",
                acl.display()
            )),
            "{text}"
        );

        // A path set by a program (tests, embedders) has no line to name.
        let mut config = Config::embedded_defaults();
        config.security.password_file = Some("/nonexistent/passwd".into());
        let errors = config.load_auth().expect_err("missing");
        assert!(
            errors.to_string().starts_with("/nonexistent/passwd: "),
            "{errors}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn load_records_the_source() {
        let dir = std::env::temp_dir().join(format!("sol-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("sol.conf");
        std::fs::write(&path, b"listener 1883\nallow_anonymous true\n").expect("write");
        let config = Config::load(&path).expect("valid");
        assert_eq!(config.source.as_deref(), Some(path.as_path()));
        std::fs::write(&path, b"listener 1883\n\xff\n").expect("write");
        let errors = Config::load(&path).expect_err("invalid UTF-8");
        assert_eq!(
            errors.to_string(),
            format!("{}:2: the line is not valid UTF-8", path.display())
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
