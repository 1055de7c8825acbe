//! `sol passwd`: manage a password file, like `mosquitto_passwd`.
//!
//! ```text
//! sol passwd [-c] FILE USER        ask for USER's password (twice on a terminal) and
//!                                  set it; -c creates or overwrites FILE
//! sol passwd -b [-c] FILE USER PW  set it from the command line (batch)
//! sol passwd -D FILE USER          delete USER
//! ```
//!
//! Entries are written as `$7$` (PBKDF2-HMAC-SHA512), which Mosquitto 2.0 also reads; the
//! other users' lines are kept as they were. The file is replaced atomically (a temporary
//! file in the same directory, then `rename`) with the old file's permissions and owner;
//! a new file is created readable by its owner only (`0600`).

use crate::auth::password::{hash_password, PasswordFile, DEFAULT_ITERATIONS};
use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::num::NonZeroU32;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What `sol passwd` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Set a user's password (from the argument, or asked for when `None`).
    Set {
        /// Start from an empty file instead of the existing one.
        create: bool,
        /// The password given with `-b`.
        password: Option<String>,
    },
    /// Delete a user.
    Delete,
}

/// Applies `edit` for `user` to the file at `path`. Errors are ready to print.
pub fn run(path: &Path, user: &str, edit: Edit) -> Result<(), String> {
    if user.is_empty() || user.contains(':') {
        return Err(format!(
            "invalid username {user:?}: it must be non-empty without ':'"
        ));
    }
    let create = matches!(edit, Edit::Set { create: true, .. });
    let mut file = if create {
        PasswordFile::default()
    } else {
        read(path)?
    };
    match edit {
        Edit::Delete => {
            if !file.remove(user) {
                return Err(format!("{}: no user {user:?}", path.display()));
            }
        }
        Edit::Set { password, .. } => {
            let password = match password {
                Some(p) => p,
                None => ask_password()?,
            };
            let iterations = NonZeroU32::new(DEFAULT_ITERATIONS).expect("non-zero");
            file.set(user, hash_password(password.as_bytes(), iterations)?);
        }
    }
    write(path, &file.to_string(), create)
}

/// Reads and parses the password file at `path`.
fn read(path: &Path) -> Result<PasswordFile, String> {
    let text = fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            " (use -c to create it)"
        } else {
            ""
        };
        format!("{}: {e}{hint}", path.display())
    })?;
    PasswordFile::parse(&text).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect();
        lines.join("\n")
    })
}

/// Replaces the file at `path` with `text` atomically, keeping its mode and owner.
fn write(path: &Path, text: &str, create: bool) -> Result<(), String> {
    let shown = path.display();
    let old = fs::metadata(path).ok();
    if old.is_none() && !create {
        return Err(format!("{shown}: does not exist (use -c to create it)"));
    }
    let tmp = path.with_file_name(format!(
        ".{}.sol-passwd.tmp",
        path.file_name()
            .map_or("passwd".into(), |n| n.to_string_lossy())
    ));
    let result = (|| -> io::Result<()> {
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        if let Some(old) = &old {
            out.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))?;
            // Only root can give a file away; a user rewriting their own file keeps it.
            let _ = nix::unistd::fchown(&out, Some(old.uid().into()), Some(old.gid().into()));
        }
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("{shown}: {e}")
    })
}

/// Asks for a password: twice without echo on a terminal, one line from a pipe.
fn ask_password() -> Result<String, String> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password: {e}"))?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        return non_empty(password);
    }
    let first = prompt("Password: ")?;
    let second = prompt("Reenter password: ")?;
    if first != second {
        return Err("the passwords do not match".into());
    }
    non_empty(first)
}

fn non_empty(password: String) -> Result<String, String> {
    if password.is_empty() {
        Err("empty password".into())
    } else {
        Ok(password)
    }
}

/// Reads one line from the terminal with echo off.
fn prompt(text: &str) -> Result<String, String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = io::stdin();
    eprint!("{text}");
    let saved = tcgetattr(&stdin).map_err(|e| format!("terminal: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(|e| format!("terminal: {e}"))?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::Login;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sol-passwd-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir.join("passwd")
    }

    fn set(path: &Path, user: &str, password: &str, create: bool) -> Result<(), String> {
        let edit = Edit::Set {
            create,
            password: Some(password.into()),
        };
        run(path, user, edit)
    }

    #[test]
    fn create_add_replace_delete() {
        let path = temp("cycle");
        assert!(set(&path, "alice", "a", false).unwrap_err().contains("-c"));
        set(&path, "alice", "a", true).expect("create");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        set(&path, "bob", "b", false).expect("add");
        set(&path, "alice", "a2", false).expect("replace");
        let file = read(&path).expect("read back");
        assert_eq!(file.check("alice", b"a2"), Login::Accepted);
        assert_eq!(file.check("bob", b"b"), Login::Accepted);
        run(&path, "bob", Edit::Delete).expect("delete");
        assert!(run(&path, "bob", Edit::Delete)
            .unwrap_err()
            .contains("no user"));
        assert_eq!(read(&path).unwrap().len(), 1);
    }

    #[test]
    fn rewriting_keeps_the_mode_of_the_file() {
        let path = temp("mode");
        set(&path, "alice", "a", true).expect("create");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        set(&path, "bob", "b", false).expect("add");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_broken_file_is_left_alone() {
        let path = temp("broken");
        fs::write(&path, "alice:plaintext\n").unwrap();
        let err = set(&path, "bob", "b", false).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "alice:plaintext\n");
    }

    #[test]
    fn usernames_with_colons_are_refused() {
        let path = temp("colon");
        assert!(set(&path, "a:b", "x", true).is_err());
        assert!(!path.exists());
    }
}
