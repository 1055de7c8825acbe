//! Started as root, the `sol` binary gives up root after binding its listeners, and
//! refuses to run as root for a user that does not exist. Started as another user, it stays that user. Run as root (as in CI)
//! the tests check the switch; otherwise they check that nothing changes.
//!
//! Every wait is bounded: the broker's stderr is read line by line by a thread and each
//! expected line must arrive within [`TIMEOUT`].

use nix::unistd::{Uid, User};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest any single wait may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `sol` with its stderr lines arriving on a channel; killed on drop.
struct Sol {
    child: Child,
    lines: mpsc::Receiver<String>,
    config: PathBuf,
}

impl Sol {
    fn start(tag: &str, extra_config: &str) -> Sol {
        let config =
            std::env::temp_dir().join(format!("sol-priv-{tag}-{}.conf", std::process::id()));
        std::fs::write(
            &config,
            format!("listener 0 127.0.0.1\nallow_anonymous true\n{extra_config}"),
        )
        .expect("write the config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sol"))
            .arg("-c")
            .arg(&config)
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sol");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Sol {
            child,
            lines,
            config,
        }
    }

    /// Waits for a stderr line containing `text`; returns it.
    fn expect_line(&self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line containing {text:?} from sol: {e}"),
            }
        }
    }

    /// The real user id of the process, from /proc.
    fn uid(&self) -> u32 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .expect("Uid line");
        line.split_whitespace()
            .nth(1)
            .and_then(|u| u.parse().ok())
            .expect("uid")
    }
}

impl Drop for Sol {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

#[test]
fn root_switches_to_the_configured_user_after_binding() {
    let nobody = User::from_name("nobody")
        .expect("passwd lookup")
        .expect("a 'nobody' account");
    let sol = Sol::start("switch", "user nobody\n");
    sol.expect_line("listening on 127.0.0.1:");
    if Uid::effective().is_root() {
        sol.expect_line("now running as user nobody");
        assert_eq!(sol.uid(), nobody.uid.as_raw());
    } else {
        // Not root: nothing to give up, the broker keeps our uid.
        let ready = sol.expect_line("listening on");
        assert!(!ready.contains("refusing"));
        assert_eq!(sol.uid(), Uid::current().as_raw());
    }
}

#[test]
fn a_missing_user_is_an_error_for_root_only() {
    let mut sol = Sol::start("missing", "user sol-no-such-user-4242\n");
    if Uid::effective().is_root() {
        let line = sol.expect_line("refusing to run as root");
        assert!(line.contains("sol-no-such-user-4242"), "{line}");
        let status = sol.child.wait().expect("wait");
        assert_eq!(status.code(), Some(sol::cli::EXIT_RUNTIME));
    } else {
        sol.expect_line("listening on 127.0.0.1:");
        assert_eq!(sol.uid(), Uid::current().as_raw());
    }
}

#[test]
fn user_root_keeps_root_with_a_warning() {
    let sol = Sol::start("root", "user root\n");
    sol.expect_line("listening on 127.0.0.1:");
    if Uid::effective().is_root() {
        sol.expect_line("running as root: `user root` is configured");
        assert_eq!(sol.uid(), 0);
    } else {
        assert_eq!(sol.uid(), Uid::current().as_raw());
    }
}
