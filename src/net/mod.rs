//! Placeholder of the reactor for the `config` branch, so that `cli` compiles; the real
//! `net` module replaces this file at merge.

use crate::config::Config;
use std::io;

/// The reactor (placeholder).
pub struct Server;

impl Server {
    /// Binds the listeners of `config` (placeholder: always fails).
    pub fn new(config: Config) -> io::Result<Server> {
        let _ = config;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the reactor is not part of this branch",
        ))
    }

    /// Installs the SIGHUP/SIGTERM/SIGINT handling (placeholder).
    pub fn enable_signals(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Runs until a shutdown signal (placeholder).
    pub fn run(&mut self) -> io::Result<()> {
        Ok(())
    }
}
