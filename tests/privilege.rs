//! Started as root, the `sol` binary gives up root after binding its listeners, and
//! refuses to run as root for a user that does not exist. Started as another user, it stays that user. Run as root (as in CI)
//! the tests check the switch; otherwise they check that nothing changes.
//!
//! Every wait is bounded: the broker's stderr is read line by line by a thread and each
//! expected line must arrive within `common::TIMEOUT`.

mod common;

use common::SolProcess;
use nix::unistd::{Uid, User};
use std::path::PathBuf;

/// A running `sol` with a config of its own; killed on drop.
struct Sol {
    process: SolProcess,
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
        Sol {
            process: SolProcess::start(&config),
            config,
        }
    }

    fn expect_line(&mut self, text: &str) -> String {
        self.process.expect_line(text)
    }

    fn uid(&self) -> u32 {
        self.process.uid()
    }
}

impl Drop for Sol {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}

#[test]
fn root_switches_to_the_configured_user_after_binding() {
    let nobody = User::from_name("nobody")
        .expect("passwd lookup")
        .expect("a 'nobody' account");
    let mut sol = Sol::start("switch", "user nobody\n");
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
        let status = sol.process.child.wait().expect("wait");
        assert_eq!(status.code(), Some(sol::cli::EXIT_RUNTIME));
    } else {
        sol.expect_line("listening on 127.0.0.1:");
        assert_eq!(sol.uid(), Uid::current().as_raw());
    }
}

#[test]
fn user_root_keeps_root_with_a_warning() {
    let mut sol = Sol::start("root", "user root\n");
    sol.expect_line("listening on 127.0.0.1:");
    if Uid::effective().is_root() {
        sol.expect_line("running as root: `user root` is configured");
        assert_eq!(sol.uid(), 0);
    } else {
        assert_eq!(sol.uid(), Uid::current().as_raw());
    }
}
