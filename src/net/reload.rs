//! SIGHUP: re-reading the config file and applying what can change at run time.
//!
//! Caps, per-listener policies and logging apply at once (through
//! [`Broker::reconfigure`](crate::broker::Broker::reconfigure) and the log backend, which
//! also reopens the log file, for logrotate), and so does the read-buffer budget.
//! Listeners, the pool size, the buffer block size, the persistence settings and the pid
//! file are fixed at start: a change to them is logged as needing a restart and otherwise
//! ignored. A file with errors changes nothing; every error is logged as
//! `file:line: message`, and so does a file whose caps exceed its `memory_limit`. The
//! `include_dir` directories are read again with the file.
//! TLS listeners take the server configurations built when the new file was parsed (their
//! certificate, key, CA and CRL files read then, once); a file that cannot be loaded is an
//! error of the configuration, so nothing is reloaded. Connected clients stay connected.

use super::listener::BindTarget;
use super::*;
use crate::auth::Auth;
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
    /// Persistence: whether it is on, where, and how it saves.
    pub persistence: crate::config::Persistence,
    /// `pid_file`: written once, at start-up.
    pub pid_file: Option<std::path::PathBuf>,
    /// The bridges (`connection` blocks; as in Mosquitto, a reload does not change
    /// them), each without its built TLS configuration, and its TLS settings.
    pub bridges: Vec<(
        crate::config::BridgeConfig,
        Option<crate::tls::UpstreamTlsSettings>,
    )>,
}

impl FixedSettings {
    /// The fixed settings of `config`.
    pub fn of(config: &Config) -> FixedSettings {
        FixedSettings {
            listeners: config.listeners.iter().map(BindTarget::of).collect(),
            max_connections: config.limits.max_connections,
            max_connections_auto: config.max_connections_auto,
            block_size: config.memory.block_size,
            persistence: config.persistence.clone(),
            pid_file: config.pid_file.clone(),
            bridges: config
                .bridges
                .iter()
                .map(|b| {
                    let settings = b.tls.as_ref().map(|t| t.settings.clone());
                    let without = crate::config::BridgeConfig {
                        tls: None,
                        ..b.clone()
                    };
                    (without, settings)
                })
                .collect(),
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
        if self.persistence != new.persistence {
            changed.push("persistence");
        }
        if self.pid_file != new.pid_file {
            changed.push("pid_file");
        }
        if self.bridges != new.bridges {
            changed.push("bridge (connection)");
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

/// The password file and ACL a configuration names.
pub(super) fn load_auth(config: &Config) -> Result<Auth, Vec<String>> {
    config
        .load_auth()
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

impl Server {
    /// A reload, told to systemd: reloading, then ready again with the outcome.
    pub(super) fn reload(&mut self) {
        self.notifier.reloading();
        let status = if self.reload_config() {
            self.status()
        } else {
            format!(
                "{}; reload failed, running configuration kept",
                self.status()
            )
        };
        self.notifier.ready(&status);
    }

    /// Re-reads the config file and applies what can change at run time (see [`reload`]).
    /// False if the file has errors (nothing was changed).
    pub(super) fn reload_config(&mut self) -> bool {
        let Some(path) = self.source.clone() else {
            log::info!("no configuration file to reload (running on built-in defaults)");
            return true;
        };
        let new = match Config::load(&path) {
            Ok(new) => new,
            Err(errors) => {
                for line in errors.to_string().lines() {
                    log::error!("{line}");
                }
                log::error!(
                    "{}: not reloaded, the running configuration is kept",
                    path.display()
                );
                return false;
            }
        };
        // The password and ACL files are part of the configuration: with errors in them
        // nothing is reloaded, as for errors in the file itself.
        let auth = match load_auth(&new) {
            Ok(auth) => auth,
            Err(errors) => {
                for line in errors {
                    log::error!("{line}");
                }
                log::error!(
                    "{}: not reloaded, the running configuration is kept",
                    path.display()
                );
                return false;
            }
        };
        if let Some(error) = new.memory_limit_error(SLOT_SIZES) {
            log::error!("{}: {error}", path.display());
            log::error!(
                "{}: not reloaded, the running configuration is kept",
                path.display()
            );
            return false;
        }
        for warning in &new.warnings {
            log::warn!("{warning}");
        }
        let fixed = FixedSettings::of(&new);
        let changed = self.fixed.changed(&fixed);
        for setting in &changed {
            log::warn!("{}: {setting} changes need a restart", path.display());
        }
        #[cfg(feature = "tls")]
        if !changed.contains(&"listener") {
            self.reload_tls(&new);
        }
        self.buffers.set_budget(new.memory.max_buffer_memory);
        let mut limits = new.limits;
        limits.max_connections = self.conns.slots.capacity();
        if changed.contains(&"listener") {
            // The running listeners stay: keep the policies their numbers refer to.
            limits.listeners = self.core.get().limits().listeners.clone();
        }
        let now = Instant::now();
        self.core.call(&mut self.conns, |b| {
            b.reconfigure(limits, now);
            b.set_auth(auth);
        });
        reload::apply_log(&new.log, self.verbose);
        log::info!("{}: configuration reloaded", path.display());
        true
    }

    /// Takes every TLS listener's configuration built when the new file was parsed (a
    /// file that could not be loaded failed the parse, so nothing got here). Connected
    /// clients keep their sessions (and the configuration they were accepted with); new
    /// connections get the new certificates.
    #[cfg(feature = "tls")]
    pub(super) fn reload_tls(&mut self, new: &Config) {
        let configs = reload::tls_configs(new);
        for (i, (old, new)) in self.tls.iter().zip(&configs).enumerate() {
            if old.is_some() != new.is_some() {
                log::warn!("listener {i}: turning TLS on or off needs a restart");
            }
        }
        for (old, new) in self.tls.iter_mut().zip(configs) {
            if old.is_some() && new.is_some() {
                *old = new;
            }
        }
    }
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
        other.persistence.enabled = true;
        let changed = base.changed(&FixedSettings::of(&other));
        assert_eq!(
            changed,
            vec![
                "listener",
                "max_connections",
                "buffer block size",
                "persistence"
            ]
        );
    }
}
