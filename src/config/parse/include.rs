//! `include_dir DIR`: the `*.conf` files of a directory, parsed where the line stands, in
//! Mosquitto's order.
//!
//! As in Mosquitto (`man 5 mosquitto.conf`, `config__get_dir_files`): every entry whose
//! name is longer than five bytes and ends in `.conf` is read, sorted case-insensitively
//! with an upper-case letter before the same letter in lower case (`00.conf`, `01.conf`,
//! `A.conf`, `a.conf`, `B.conf`, `b.conf`); the files are parsed at once, so the main
//! file's lines after `include_dir` apply after them; each file starts with no listener
//! open (its listener-scoped lines before a `listener` line are the default listener's)
//! and no bridge open, and the main file goes on with its own listener and bridge after
//! the include; a directory that
//! cannot be opened is an error. Only the main file may include (Mosquitto 2.0 ignores `include_dir` in an
//! included file without a word, 2.1 refuses it: Sol refuses it, so that no line is
//! silently lost), and the directory must not hold the main file itself.
//!
//! This file reads directories and files; it must not know any other key's rule.

use super::{Parser, Scope};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

impl Parser<'_> {
    /// `include_dir DIR`.
    pub(super) fn include_dir(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let dir = self.one(line, "include_dir", args)?;
        if self.including {
            self.error(
                line,
                "include_dir: only the main configuration file may include a directory (as \
                 in Mosquitto); move this line there",
            );
            return None;
        }
        let files = match conf_files(Path::new(dir)) {
            Ok(files) => files,
            Err(e) => {
                self.error(line, format!("include_dir: cannot open {dir}: {e}"));
                return None;
            }
        };
        self.including = true;
        // As in Mosquitto, where the current listener is local to each file's reading: an
        // included file starts at the default listener, and the main file goes on with
        // its own listener after the include.
        let outer = (self.scope, self.bridge);
        for path in files {
            (self.scope, self.bridge) = (Scope::Default, None);
            if self.main.is_some() && std::fs::canonicalize(&path).ok() == self.main {
                let message = format!(
                    "include_dir: {dir} holds the main configuration file {}; it must not \
                     (its lines would apply twice): move the main file or the drop-ins",
                    path.display()
                );
                self.error(line, message);
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => {
                    self.read(&bytes, &path.display().to_string());
                    self.config.included.push(path);
                }
                Err(e) => self.error(
                    line,
                    format!("include_dir: cannot read {}: {e}", path.display()),
                ),
            }
        }
        self.including = false;
        (self.scope, self.bridge) = outer;
        Some("include_dir")
    }
}

/// The files `include_dir DIR` reads, in the order it reads them: entries of `dir` whose
/// name ends in `.conf` after at least one more byte, directories left out.
fn conf_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    // A directory holds a handful of drop-ins: an insertion sort is enough, and smaller
    // than a general one.
    let mut names: Vec<OsString> = Vec::new();
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = entry.file_name();
        if name.len() > 5 && name.as_bytes().ends_with(b".conf") {
            let at = names
                .iter()
                .position(|n| before(name.as_bytes(), n.as_bytes()))
                .unwrap_or(names.len());
            names.insert(at, name);
        }
    }
    Ok(names
        .into_iter()
        .map(|name| dir.join(name))
        .filter(|path| !path.is_dir())
        .collect())
}

/// Whether `a` sorts before `b` in Mosquitto's order (`scmp_p`): byte by byte, the
/// upper-cased byte first, then the byte itself (so `A` sorts before `a`, and both
/// before `B`); a prefix first.
fn before(a: &[u8], b: &[u8]) -> bool {
    let key = |c: &u8| (c.to_ascii_uppercase(), *c);
    a.iter().map(key).lt(b.iter().map(key))
}

#[cfg(test)]
mod tests {
    use super::super::super::{Config, SocketDomain};
    use super::*;

    /// A fresh directory for one test.
    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sol-include-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn files_load_in_mosquittos_documented_order() {
        // The example of mosquitto.conf(5), plus names that are not included.
        let dir = temp_dir("order");
        for name in [
            "b.conf",
            "A.conf",
            "01.conf",
            "a.conf",
            "B.conf",
            "00.conf",
            ".conf",
            "x.conf~",
            "notes.txt",
        ] {
            std::fs::write(dir.join(name), "").expect("write");
        }
        std::fs::create_dir(dir.join("sub.conf")).expect("dir");
        let names: Vec<String> = conf_files(&dir)
            .expect("list")
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["00.conf", "01.conf", "A.conf", "a.conf", "B.conf", "b.conf"]
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn included_lines_apply_where_include_dir_stands() {
        let dir = temp_dir("place");
        std::fs::write(
            dir.join("10-a.conf"),
            "max_queued_messages 5\nmax_keepalive 60\n",
        )
        .expect("write");
        std::fs::write(dir.join("20-b.conf"), "max_keepalive 70\n").expect("write");
        let text = format!(
            "max_queued_messages 1\ninclude_dir {}\nmax_queued_messages 9\n",
            dir.display()
        );
        let config = Config::parse(&text, "main.conf").expect("valid");
        // The later file wins over the earlier; the main file's later line over both.
        assert_eq!(config.limits.max_keepalive, 70);
        assert_eq!(config.limits.max_queued_messages, 9);
        assert_eq!(
            config.included,
            [dir.join("10-a.conf"), dir.join("20-b.conf")]
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn each_file_has_its_own_current_listener() {
        let dir = temp_dir("scope");
        std::fs::write(dir.join("ws.conf"), "listener 9001\nprotocol websockets\n").expect("w");
        let text = format!(
            "listener 1883\ninclude_dir {}\nsocket_domain ipv4\n",
            dir.display()
        );
        let config = Config::parse(&text, "main.conf").expect("valid");
        let l = &config.listeners;
        assert_eq!(
            (l[0].port, l[0].socket_domain),
            (1883, Some(SocketDomain::Ipv4))
        );
        assert_eq!((l[1].port, l[1].socket_domain), (9001, None));
        // A listener-scoped line before the drop-in's first listener is the default
        // listener's, not the main file's last listener's.
        std::fs::write(dir.join("ws.conf"), "protocol websockets\n").expect("w");
        let errors = Config::parse(&text, "main.conf").expect_err("no default listener");
        assert_eq!(
            errors.to_string(),
            format!(
                "{}:1: protocol: applies to a listener; put it after a 'listener' line",
                dir.join("ws.conf").display()
            )
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_bridge_block_ends_with_its_file() {
        let dir = temp_dir("bridge");
        let drop_in = dir.join("b.conf");
        std::fs::write(&drop_in, "connection inner\naddress h\ntopic in/#\n").expect("w");
        let text = format!(
            "connection outer\naddress h\ninclude_dir {}\ntopic out/#\n",
            dir.display()
        );
        let config = Config::parse(&text, "main.conf").expect("valid");
        let b = &config.bridges;
        // The main file goes on with its bridge; each topic has its own file's line.
        assert_eq!((b[0].name.as_str(), b[0].at.line), ("outer", 1));
        assert_eq!(
            (b[0].topics[0].pattern.as_str(), b[0].topics[0].line),
            ("out/#", 4)
        );
        assert_eq!(
            (b[1].at.file.as_str(), b[1].at.line),
            (drop_in.to_str().unwrap_or_default(), 1)
        );
        assert_eq!(
            (b[1].topics[0].pattern.as_str(), b[1].topics[0].line),
            ("in/#", 3)
        );
        // A drop-in starts with no bridge open, as in Mosquitto.
        std::fs::write(&drop_in, "topic x/#\n").expect("w");
        let errors = Config::parse(&text, "main.conf").expect_err("no bridge open");
        assert_eq!(
            errors.to_string(),
            format!(
                "{}:1: topic: applies to a bridge; put it after a 'connection' line",
                drop_in.display()
            )
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn errors_name_the_included_file_and_its_line() {
        let dir = temp_dir("errors");
        let drop_in = dir.join("a.conf");
        std::fs::write(&drop_in, "# comment\nlistener 1883\nmax_keepalive lots\n").expect("w");
        let text = format!("listener 1883\ninclude_dir {}\nbogus 1\n", dir.display());
        let errors = Config::parse(&text, "main.conf").expect_err("invalid");
        assert_eq!(
            errors.to_string(),
            format!(
                "main.conf:3: unknown option 'bogus'\n\
                 {0}:2: listener: the same socket is already defined at main.conf:1\n\
                 {0}:3: max_keepalive: expected an integer, found 'lots'",
                drop_in.display()
            )
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_an_empty_one_is_not() {
        let errors =
            Config::parse("include_dir /nonexistent/conf.d\n", "main.conf").expect_err("missing");
        assert!(
            errors
                .to_string()
                .starts_with("main.conf:1: include_dir: cannot open /nonexistent/conf.d: "),
            "{errors}"
        );
        let dir = temp_dir("empty");
        let config = Config::parse(&format!("include_dir {}\n", dir.display()), "m")
            .expect("an empty directory");
        assert!(config.included.is_empty());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn only_the_main_file_may_include() {
        let dir = temp_dir("nested");
        let inner = temp_dir("nested-inner");
        std::fs::write(inner.join("x.conf"), "max_keepalive 5\n").expect("write");
        let drop_in = dir.join("a.conf");
        std::fs::write(&drop_in, format!("include_dir {}\n", inner.display())).expect("w");
        let errors = Config::parse(&format!("include_dir {}\n", dir.display()), "main.conf")
            .expect_err("nested");
        assert_eq!(
            errors.to_string(),
            format!(
                "{}:1: include_dir: only the main configuration file may include a \
                 directory (as in Mosquitto); move this line there",
                drop_in.display()
            )
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
        std::fs::remove_dir_all(&inner).expect("cleanup");
    }

    #[test]
    fn the_directory_must_not_hold_the_main_file() {
        let dir = temp_dir("self");
        let main = dir.join("mosquitto.conf");
        std::fs::write(&main, format!("include_dir {}\n", dir.display())).expect("write");
        let errors = Config::load(&main).expect_err("includes itself");
        assert!(
            errors
                .to_string()
                .contains("holds the main configuration file"),
            "{errors}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
