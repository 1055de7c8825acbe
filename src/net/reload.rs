//! SIGHUP: re-reading the config file and applying what can change at run time.
//!
//! Caps, per-listener policies and logging apply at once (through
//! [`Broker::reconfigure`](crate::broker::Broker::reconfigure) and the log backend), and so
//! does the read-buffer budget. Listeners, the pool size and the buffer block size are
//! fixed at start: a change to them is logged as needing a restart and otherwise ignored.
//! A file with errors changes nothing; every error is logged as `file:line: message`.
//! TLS listeners take the server configurations built when the new file was parsed (their
//! certificate, key, CA and CRL files read then, once); a file that cannot be loaded is an
//! error of the configuration, so nothing is reloaded. Connected clients stay connected.

use super::listener::BindTarget;
use crate::config::Config;
use crate::log::LogConfig;

/// The settings fixed at start, kept to tell which reloaded ones need a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedSettings {
    /// Bind targets of each configured listener.
    pub listeners: Vec<Vec<BindTarget>>,
    /// `max_connections` as configured (not the computed pool size).
    pub max_connections: usize,
    /// `max_connections -1`.
    pub max_connections_auto: bool,
    /// Buffer block size.
    pub block_size: usize,
}

impl FixedSettings {
    /// The fixed settings of `config`.
    pub fn of(config: &Config) -> FixedSettings {
        FixedSettings {
            listeners: config.listeners.iter().map(BindTarget::of).collect(),
            max_connections: config.limits.max_connections,
            max_connections_auto: config.max_connections_auto,
            block_size: config.memory.block_size,
        }
    }

    /// Names of the settings that differ in `new` (they need a restart).
    pub fn changed(&self, new: &FixedSettings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.listeners != new.listeners {
            changed.push("listener");
        }
        if self.max_connections != new.max_connections
            || self.max_connections_auto != new.max_connections_auto
        {
            changed.push("max_connections");
        }
        if self.block_size != new.block_size {
            changed.push("buffer block size");
        }
        changed
    }
}

/// The TLS server configuration of each listener of `config` (`None`: plain), built when
/// `config` was parsed.
#[cfg(feature = "tls")]
pub fn tls_configs(config: &Config) -> Vec<Option<std::sync::Arc<rustls::ServerConfig>>> {
    config
        .listeners
        .iter()
        .map(|l| l.tls.as_ref().map(|t| std::sync::Arc::clone(&t.server)))
        .collect()
}

/// Applies reloaded log settings.
pub fn apply_log(config: &LogConfig, verbose: bool) {
    crate::log::reconfigure(config, verbose);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_settings_are_named() {
        let base = FixedSettings::of(&Config::loopback(1883));
        assert!(base.changed(&base.clone()).is_empty());
        let mut other = Config::loopback(1884);
        other.limits.max_connections += 1;
        other.memory.block_size *= 2;
        let changed = base.changed(&FixedSettings::of(&other));
        assert_eq!(
            changed,
            vec!["listener", "max_connections", "buffer block size"]
        );
    }
}
