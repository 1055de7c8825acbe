//! The store on a real file system that fills up, then turns read-only, under the real
//! binary: Sol logs the failure, keeps serving from memory, retries, and once the disk
//! takes writes again loses nothing.
//!
//! The file system is a 16 MiB tmpfs mounted in a mount namespace of the broker's own
//! (`unshare --mount`; with `--map-root-user` when the tests do not run as root), so the
//! test needs no spare partition and leaves nothing mounted. The test reaches that file
//! system through `/proc/PID/root` and mounts in it with `nsenter`. "Read-only" is a
//! read-only bind mount over the store's directory: a file system cannot be remounted
//! read-only while the store holds its file open for writing (the kernel does that only
//! after an error, for good), but the bind mount makes the kernel refuse, with `EROFS`,
//! the new file a compaction writes. After the broker's clean stop, the wrapper copies the
//! store file out, and a second broker restores it.

mod common;

use common::*;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, Uid};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Mounts the tmpfs at `$1`, runs the broker `$2` with the configuration `$3`, and once it
/// has stopped copies its store file to `$4`; exits with the broker's status.
const WRAPPER: &str = r#"mount -t tmpfs -o size=16m,mode=0777 sol-test "$1" || exit 90
"$2" -c "$3"
status=$?
cp "$1/data/sol.db" "$4/" || exit 91
exit $status"#;

/// Where the broker in its own mount namespace is, and its tmpfs.
struct Jailed {
    /// The broker's pid (the wrapper's child).
    pid: u32,
    /// The tmpfs mount point (as the broker sees it).
    mnt: PathBuf,
}

impl Jailed {
    /// A path on the broker's tmpfs, as this process can reach it.
    fn on_tmpfs(&self, name: &str) -> PathBuf {
        let inside = self.mnt.strip_prefix("/").expect("absolute");
        Path::new(&format!("/proc/{}/root", self.pid))
            .join(inside)
            .join(name)
    }

    /// Runs `mount ARGS` in the broker's mount namespace.
    fn mount(&self, args: &[&str]) {
        let mut c = Command::new("nsenter");
        c.arg("-t").arg(self.pid.to_string());
        if !Uid::effective().is_root() {
            c.args(["-U", "--preserve-credentials"]);
        }
        let status = c
            .arg("-m")
            .arg("mount")
            .args(args)
            .status()
            .expect("nsenter");
        assert!(status.success(), "mount {args:?} in the broker's namespace");
    }

    /// Fills the tmpfs with a file of its own; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.on_tmpfs("filler");
        let mut f = std::fs::File::create(&path).expect("create the filler");
        let chunk = [0u8; 4096];
        loop {
            if let Err(e) = f.write_all(&chunk) {
                assert_eq!(e.raw_os_error(), Some(28), "filled up: {e}");
                return path;
            }
        }
    }
}

/// Kills the broker under the wrapper if the test fails before stopping it (killing the
/// wrapper alone would leave it running); disarmed once the broker has stopped, as its pid
/// may then be reused.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// The broker's pid: the only child of the wrapper shell.
fn child_of(pid: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .expect("read the wrapper's children");
    children
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .expect("the broker runs under the wrapper")
}

/// A client publishes `topic` as a retained QoS 1 message of `size` bytes, and gets its
/// PUBACK.
fn publish_retained(addr: SocketAddr, topic: &str, size: usize) {
    let mut c = handshake(addr, "publisher");
    send(&mut c, &publish(topic, &vec![b'x'; size], 1, Some(1), true));
    assert_eq!(read_packet(&mut c), ack(0x40, 1));
}

/// The retained message of `topic`, as a new subscriber gets it.
fn retained_size(addr: SocketAddr, topic: &str) -> usize {
    let mut c = handshake(addr, "reader");
    send(&mut c, &subscribe(1, topic, 0));
    assert_eq!(read_packet(&mut c), suback(1, 0));
    parse_publish(&read_packet(&mut c)).payload.len()
}

#[test]
fn a_full_then_read_only_disk_loses_nothing_once_it_works_again() {
    let dir = std::env::temp_dir().join(format!("sol-diskfail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mnt = dir.join("mnt");
    let out = dir.join("out");
    for d in [&mnt, &out] {
        std::fs::create_dir_all(d).expect("dirs");
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let config = dir.join("sol.conf");
    // `user root`: in a user namespace the broker is root there and has no other user to
    // become.
    std::fs::write(
        &config,
        format!(
            "listener 0 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\n\
             persistence_location {}/data\nautosave_interval 1\nsys_interval 1\n\
             max_packet_size 1M\nmax_retained_bytes 8M\n",
            mnt.display()
        ),
    )
    .expect("config");
    let mut command = Command::new("unshare");
    if !Uid::effective().is_root() {
        command.arg("--map-root-user");
    }
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            WRAPPER,
            "sh",
        ])
        .arg(&mnt)
        .arg(env!("CARGO_BIN_EXE_sol"))
        .arg(&config)
        .arg(&out);
    let mut sol = SolProcess::spawn(command);
    let addr = sol.tcp_addr();
    sol.expect_line("store: ");
    let pid = child_of(sol.child.id());
    let mut guard = KillOnDrop(Some(pid));
    let jail = Jailed { pid, mnt };

    // Full: saves fail, are logged and retried; clients are served from memory.
    let filler = jail.fill();
    for i in 0..8 {
        publish_retained(addr, &format!("full/{i}"), 8192);
    }
    sol.expect_line("No space left on device");
    assert_eq!(retained_size(addr, "full/7"), 8192, "served from memory");
    std::fs::remove_file(&filler).expect("make room");
    sol.expect_line("works again");

    // Read-only: retained messages that take 4.8 MB are written (seen in
    // `$SYS/broker/store/bytes/written`), then cleared, so that the file is mostly dead
    // and past the compaction floor (4 MiB), and the store compacts it into a new file,
    // which the read-only directory refuses.
    let data = jail.mnt.join("data").display().to_string();
    let mut written = sys_watcher(addr, "watcher", "$SYS/broker/store/bytes/written");
    for i in 0..48 {
        publish_retained(addr, &format!("big/{i}"), 100_000);
    }
    loop {
        let value = parse_publish(&read_packet(&mut written)).payload;
        let bytes: u64 = std::str::from_utf8(&value)
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("a byte count");
        if bytes > 4_800_000 {
            break;
        }
    }
    jail.mount(&["--bind", &data, &data]);
    jail.mount(&["-o", "remount,bind,ro", &data]);
    for i in 0..48 {
        publish_retained(addr, &format!("big/{i}"), 0);
    }
    sol.expect_line("Read-only file system");
    publish_retained(addr, "ro/1", 100);
    assert_eq!(retained_size(addr, "ro/1"), 100, "served from memory");
    jail.mount(&["-o", "remount,bind,rw", &data]);
    sol.expect_line("works again");

    // A clean stop; the wrapper copies the store out; a second broker restores it.
    nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("SIGTERM");
    let stopped = sol.wait_end();
    guard.0 = None;
    assert!(stopped.success(), "{}", sol.seen.join("\n"));
    let second = dir.join("second.conf");
    std::fs::write(
        &second,
        format!(
            "listener 0 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\n\
             persistence_location {}\n",
            out.display()
        ),
    )
    .expect("config");
    let mut restored = SolProcess::start(&second);
    let addr = restored.tcp_addr();
    restored.expect_line("store: restored");
    for i in 0..8 {
        assert_eq!(retained_size(addr, &format!("full/{i}")), 8192);
    }
    assert_eq!(retained_size(addr, "ro/1"), 100);
    let mut c = handshake(addr, "reader");
    send(&mut c, &subscribe(1, "big/#", 0));
    assert_eq!(read_packet(&mut c), suback(1, 0));
    send(&mut c, &publish("big/0", b"live", 0, None, false));
    assert_eq!(
        parse_publish(&read_packet(&mut c)).payload,
        b"live",
        "the cleared messages stay cleared"
    );
    drop(restored);
    let _ = std::fs::remove_dir_all(&dir);
}
