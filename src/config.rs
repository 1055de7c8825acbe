//! Configuration (MINIMAL STUB in the `net` branch so the reactor compiles; the real module
//! is written in the `config` branch and replaces this file at merge).

use std::path::{Path, PathBuf};

/// The whole configuration.
pub struct Config {
    /// Listeners; never empty.
    pub listeners: Vec<ListenerConfig>,
    /// Broker caps; `limits.listeners[i]` is the policy of `listeners[i]`.
    pub limits: crate::broker::Limits,
    /// Logging settings.
    pub log: LogConfig,
    /// `max_connections -1`: size the pool from `RLIMIT_NOFILE`.
    pub max_connections_auto: bool,
    /// The config file, re-read on SIGHUP.
    pub source: Option<PathBuf>,
    /// Buffer pool settings.
    pub memory: MemoryConfig,
}

/// One listener.
pub struct ListenerConfig {
    /// TCP port (ignored for Unix sockets).
    pub port: u16,
    /// Where to bind.
    pub bind: Bind,
    /// Restrict to one address family.
    pub socket_domain: Option<SocketDomain>,
    /// Whether anonymous clients may connect.
    pub allow_anonymous: bool,
}

/// Where a listener binds.
pub enum Bind {
    /// All interfaces, IPv4 and IPv6.
    Any,
    /// A host name or address.
    Host(String),
    /// A Unix domain socket path.
    Unix(PathBuf),
}

/// An address family.
pub enum SocketDomain {
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

/// Logging settings (opaque to `net`).
pub struct LogConfig {}

/// Buffer pool settings.
pub struct MemoryConfig {
    /// Size of one pooled buffer block.
    pub block_size: usize,
    /// Budget of all read buffers.
    pub max_buffer_memory: usize,
}

/// Errors of [`Config::load`].
#[derive(Debug)]
pub struct ConfigErrors {}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stub")
    }
}

impl Config {
    /// Built-in defaults.
    pub fn embedded_defaults() -> Config {
        Config {
            listeners: vec![ListenerConfig {
                port: 1883,
                bind: Bind::Any,
                socket_domain: None,
                allow_anonymous: true,
            }],
            limits: crate::broker::Limits::default(),
            log: LogConfig {},
            max_connections_auto: false,
            source: None,
            memory: MemoryConfig {
                block_size: 4096,
                max_buffer_memory: 8 << 20,
            },
        }
    }

    /// Defaults with one listener on 127.0.0.1:`port`.
    pub fn loopback(port: u16) -> Config {
        let mut c = Config::embedded_defaults();
        c.listeners[0].port = port;
        c.listeners[0].bind = Bind::Host("127.0.0.1".to_string());
        c
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let _ = path;
        Err(ConfigErrors {})
    }
}
