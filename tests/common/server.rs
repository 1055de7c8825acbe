//! The broker side of the test harness: a [`sol::net::Server`] on its own thread, stopped
//! and joined on drop. Shared with `tools/sol-load/tests`, which includes this file alone:
//! it must not use crates that only the `sol` package depends on (`log`).

#![allow(dead_code)] // each test file uses a different part of the harness

use sol::config::Config;
use sol::net::{LocalAddr, Server, ServerHandle};
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest any single wait in a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running server; stopped (gracefully) and joined on drop.
pub struct Running {
    /// The first TCP address it listens on (IPv4 loopback with `Config::loopback`).
    pub addr: Option<SocketAddr>,
    /// Every address it listens on.
    pub addrs: Vec<LocalAddr>,
    /// Stops or reloads it.
    pub handle: ServerHandle,
    /// The reactor thread.
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// The TCP address (panics for a server with Unix listeners only).
    pub fn tcp(&self) -> SocketAddr {
        self.addr.expect("the server has a TCP listener")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !std::thread::panicking() {
                result
                    .expect("reactor thread panicked")
                    .expect("Server::run failed");
            }
        }
    }
}

/// Starts a server on `Config::loopback(0)` after `configure` adjusted it.
pub fn start(configure: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::loopback(0);
    configure(&mut config);
    start_with(config)
}

/// Starts a server with `config` (and its store, when `config` turns persistence on). The
/// server is built on its own thread (the broker core is single-threaded and not `Send`);
/// its addresses and handle come back over a channel.
pub fn start_with(config: Config) -> Running {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || -> io::Result<()> {
        let store = config.persistence.store_settings();
        let mut server = match Server::new(config) {
            Ok(server) => server,
            Err(e) => {
                let _ = tx.send(Err(e));
                return Ok(());
            }
        };
        if let Some(settings) = store {
            if let Err(e) = server.start_store(settings) {
                let _ = tx.send(Err(io::Error::other(e.to_string())));
                return Ok(());
            }
        }
        let _ = tx.send(Ok((server.local_addrs(), server.handle())));
        server.run()
    });
    let (addrs, handle) = rx
        .recv_timeout(TIMEOUT)
        .expect("server thread answers")
        .expect("server starts");
    let addr = addrs.iter().find_map(|a| match a {
        LocalAddr::Tcp(addr) => Some(*addr),
        LocalAddr::Unix(_) => None,
    });
    Running {
        addr,
        addrs,
        handle,
        thread: Some(thread),
    }
}
