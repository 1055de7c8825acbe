//! A clustered upstream broker for the bridge tests: one `redis-server` and N aedes nodes
//! sharing it (`tests/bridge/cluster/`, whose README says what the cluster guarantees),
//! each a child process killed on drop. Redis is reached through a Unix socket in a
//! temporary directory and writes nothing to disk; the nodes listen on ephemeral loopback
//! ports, read from their log lines. Every wait is bounded ([`super::TIMEOUT`]), never a
//! sleep.
//!
//! Needs `node` with `npm ci --prefix tests/bridge/cluster` done, and `redis-server`
//! (Debian: `apt-get install nodejs npm redis-server`); panics saying so otherwise.

use super::{shared_temp_dir, SolProcess};
use nix::sys::signal::Signal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Redis and the aedes nodes; all killed, and the directory removed, on drop.
pub struct AedesCluster {
    /// The nodes, in start order; a killed node's entry stays (see [`AedesCluster::kill`]).
    pub nodes: Vec<AedesNode>,
    /// `redis-server`: its stderr (errors before its log is set up) read by the harness.
    redis: SolProcess,
    /// Redis's socket and working directory.
    dir: PathBuf,
}

/// One aedes node.
pub struct AedesNode {
    /// The `node node.mjs` process; its stderr logs connects, disconnects, subscriptions.
    pub process: SolProcess,
    /// Where it accepts MQTT connections.
    pub addr: SocketAddr,
}

/// `tests/bridge/cluster/`.
fn cluster_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bridge/cluster")
}

/// Panics, saying what to install, without `redis-server` or the npm packages.
fn check_installed(cluster: &Path) {
    let redis = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(redis, "no redis-server: `apt-get install redis-server`");
    assert!(
        cluster.join("node_modules/aedes").is_dir(),
        "no aedes in {}: `apt-get install nodejs npm`, then \
         `npm ci --prefix tests/bridge/cluster`",
        cluster.display()
    );
}

impl AedesCluster {
    /// Starts Redis and `nodes` aedes nodes sharing it; returns once every node accepts
    /// connections and has loaded the cluster's sessions. `tag` names the temporary
    /// directory (unique per test).
    pub fn start(tag: &str, nodes: usize) -> AedesCluster {
        AedesCluster::start_with(tag, nodes, &[])
    }

    /// As [`AedesCluster::start`], each node started with `node_args` too (`node.mjs`'s
    /// options, e.g. `--ack-after-routing`).
    pub fn start_with(tag: &str, nodes: usize, node_args: &[&str]) -> AedesCluster {
        let cluster = cluster_dir();
        check_installed(&cluster);
        let dir = shared_temp_dir(&format!("aedes-{tag}"));
        let socket = dir.join("redis.sock");
        let mut redis = Command::new("redis-server");
        redis
            .arg(cluster.join("redis.conf"))
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(&dir);
        let redis = SolProcess::spawn_with_stdout(redis, Stdio::null());
        // Each node connects to Redis (retrying until it is up), subscribes to the
        // cluster's subscription changes and loads the stored sessions before it listens.
        let mut started: Vec<SolProcess> = (0..nodes)
            .map(|i| {
                let mut node = Command::new("node");
                node.arg(cluster.join("node.mjs"))
                    .arg("--redis")
                    .arg(&socket)
                    .arg("--name")
                    .arg(format!("node{}", i + 1))
                    .args(node_args);
                SolProcess::spawn(node)
            })
            .collect();
        let nodes = started
            .drain(..)
            .map(|mut process| {
                // Its log line "aedes NAME: id ID listening on 127.0.0.1:PORT".
                let addr = process.tcp_addr();
                AedesNode { process, addr }
            })
            .collect();
        AedesCluster { nodes, redis, dir }
    }

    /// Node `i`'s address (0-based).
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// Every node's address, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// Kills node `i` with SIGKILL and reaps it: no goodbye to its clients or to the
    /// cluster. The other nodes carry on; the sessions it served stay in Redis.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].process.signal_and_wait(Signal::SIGKILL);
    }

    /// Waits until node `i` knows of `client_id`'s subscription to `filter` (any QoS).
    /// A node queues a QoS 1 or 2 publish for an offline session only for subscriptions it
    /// knows, and it learns them asynchronously from the node the client subscribed on:
    /// wait for this on the node messages will be published through before relying on a
    /// session's queue there.
    pub fn wait_subscription(&mut self, i: usize, client_id: &str, filter: &str) {
        self.nodes[i]
            .process
            .expect_line(&format!("cluster subscription {client_id} {filter}@"));
    }
}

impl Drop for AedesCluster {
    fn drop(&mut self) {
        // The nodes first (SolProcess kills and reaps on drop), then Redis.
        self.nodes.clear();
        let _ = self.redis.child.kill();
        let _ = self.redis.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
