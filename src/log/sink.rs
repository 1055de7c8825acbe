//! The sinks that can block (stdout, stderr, the log file, syslog), each written by a
//! thread of its own from its bounded [`Queue`], so that a pipe nobody reads, a slow SD
//! card or a stalled syslog daemon stops only its own sink, never the reactor or the
//! other sinks.
//!
//! [`Sinks::apply`] starts, keeps or ends the writers as the configuration asks; the log
//! file is (re)opened there, by the caller's thread (at start-up while still root, and
//! on every SIGHUP for logrotate), and handed to the writer, which writes the lines
//! logged before the reopen to the old file and the later ones to the new. After a batch
//! that had lines dropped, the writer writes a notice, `N log lines dropped: stdout was
//! not being read`, on its own sink.
//!
//! A writer must not log through the `log` facade (its lines would come back to it);
//! what it cannot write is counted as dropped.

use super::format::LineFormat;
use super::queue::{count_dropped, Queue, SINK_BUFFER_BYTES};
use super::syslog::Syslog;
use super::LogConfig;
use ::log::Level;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Stack of a writer thread: it formats one notice and calls `write`.
const WRITER_STACK: usize = 64 * 1024;

/// Permissions of a log file Sol creates: owner read-write, group read (the `adm`
/// convention of `/var/log`).
const LOG_FILE_MODE: u32 = 0o640;

/// Which sink a writer serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// `log_dest file PATH`.
    File,
    /// The syslog daemon.
    Syslog,
}

impl Kind {
    /// The sink's name in thread names and notices.
    fn name(self) -> &'static str {
        match self {
            Kind::Stdout => "stdout",
            Kind::Stderr => "stderr",
            Kind::File => "file",
            Kind::Syslog => "syslog",
        }
    }

    /// Why lines are dropped on this sink, for the notice.
    fn reason(self) -> &'static str {
        match self {
            Kind::Stdout => "stdout was not being read",
            Kind::Stderr => "stderr was not being read",
            Kind::File => "the log file was not being written fast enough",
            Kind::Syslog => "the syslog daemon was not accepting them",
        }
    }
}

/// Where a writer writes.
#[derive(Debug)]
pub(super) enum Output {
    /// Standard output or error (in unit tests, the test harness's captured output).
    Terminal(Kind),
    /// A file, or any descriptor opened as one.
    File(File),
    /// The syslog daemon; the batch is framed records (see [`Sink::push_record`]).
    Syslog(Syslog),
}

impl Output {
    /// Writes a batch; the number of lines that could not be written.
    fn write_batch(&mut self, batch: &[u8]) -> u32 {
        let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count() as u32;
        match self {
            Output::Terminal(kind) => {
                to_terminal(*kind, batch).map_or_else(|_| lines(batch), |()| 0)
            }
            Output::File(file) => file.write_all(batch).map_or_else(|_| lines(batch), |()| 0),
            Output::Syslog(syslog) => {
                let mut failed = 0;
                let mut rest = batch;
                while let [lo, hi, tail @ ..] = rest {
                    let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
                    let (message, next) = tail.split_at(len);
                    if syslog.send_or_reconnect(message).is_err() {
                        failed += 1;
                    }
                    rest = next;
                }
                failed
            }
        }
    }

    /// Writes the notice that `dropped` lines were lost on sink `kind`.
    fn write_notice(&mut self, kind: Kind, dropped: u32, format: &LineFormat) {
        let message = format!("{dropped} log lines dropped: {}", kind.reason());
        let failed = match self {
            Output::Syslog(syslog) => {
                // A warning (severity 4), like the other sinks' notices.
                u32::from(
                    syslog
                        .send_or_reconnect(format.datagram(4, &message).as_bytes())
                        .is_err(),
                )
            }
            _ => self.write_batch(format!("{}\n", format.line(&message)).as_bytes()),
        };
        count_dropped(failed);
    }
}

/// Writes `bytes` to the process's stdout or stderr. In unit tests the lines go through
/// `print!`/`eprint!`, which the test runner captures, so a passing run stays quiet.
fn to_terminal(kind: Kind, bytes: &[u8]) -> io::Result<()> {
    #[cfg(not(test))]
    {
        if kind == Kind::Stdout {
            let mut out = io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        } else {
            io::stderr().lock().write_all(bytes)
        }
    }
    #[cfg(test)]
    {
        let text = String::from_utf8_lossy(bytes);
        if kind == Kind::Stdout {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
        Ok(())
    }
}

/// One sink: its queue and, on another thread, its writer.
#[derive(Debug)]
pub(super) struct Sink {
    /// The lines waiting for the writer.
    queue: Arc<Queue>,
}

impl Sink {
    /// Starts the writer of sink `kind` on `output`.
    pub fn spawn(kind: Kind, output: Output, format: &LineFormat) -> io::Result<Sink> {
        let queue = Arc::new(Queue::new(SINK_BUFFER_BYTES, format.clone()));
        let theirs = Arc::clone(&queue);
        // The writer starts with every signal blocked (a thread inherits the mask): the
        // logger starts before the reactor blocks SIGHUP/SIGTERM for its signalfd, and a
        // SIGHUP the kernel handed to a writer would end the process.
        let mut mask = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut mask))?;
        let spawned = std::thread::Builder::new()
            .name(format!("sol-log-{}", kind.name()))
            .stack_size(WRITER_STACK)
            .spawn(move || write_until_closed(&theirs, kind, output));
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None)?;
        spawned?;
        Ok(Sink { queue })
    }

    /// Queues `line` and a newline (stdout, stderr, file).
    pub fn push_line(&self, line: &str) {
        self.queue.push(&[line.as_bytes(), b"\n"]);
    }

    /// Queues one syslog message, framed by its length (two bytes, little-endian).
    pub fn push_record(&self, message: &str) {
        match u16::try_from(message.len()) {
            Ok(len) => {
                self.queue.push(&[&len.to_le_bytes(), message.as_bytes()]);
            }
            Err(_) => self.queue.drop_line(),
        }
    }
}

impl Drop for Sink {
    /// The writer writes what is queued and ends; nobody waits for it.
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// The writer's loop: takes a batch, writes it, writes the notice of lines dropped, until
/// the queue is closed and written.
fn write_until_closed(queue: &Queue, kind: Kind, mut output: Output) {
    let mut batch = Vec::new();
    while let Some(taken) = queue.take(&mut batch) {
        let mut rest = &batch[..];
        if let Some((file, at)) = taken.reopen {
            let (old, new) = rest.split_at(at.min(rest.len()));
            count_dropped(output.write_batch(old));
            output = Output::File(file);
            rest = new;
        }
        count_dropped(output.write_batch(rest));
        batch.clear();
        if let Some((dropped, format)) = taken.dropped {
            output.write_notice(kind, dropped, &format);
        }
    }
}

/// Opens the log file for appending, creating it if needed.
fn open_log_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_FILE_MODE)
        .open(path)
}

/// The running sinks.
#[derive(Debug, Default)]
pub(super) struct Sinks {
    /// `log_dest stdout`.
    pub stdout: Option<Sink>,
    /// `log_dest stderr`, or the fallback of a sink that could not be opened.
    pub stderr: Option<Sink>,
    /// `log_dest file PATH`.
    pub file: Option<Sink>,
    /// `log_dest syslog`.
    pub syslog: Option<Sink>,
}

impl Sinks {
    /// Starts, keeps or ends each sink as `config` asks, and sets the format of their
    /// notices. The log file is opened again if it was open (SIGHUP after logrotate); if
    /// that fails the old one is kept. A sink that cannot be opened at all is replaced by
    /// stderr. Returns what should be logged about it once the sinks are in place.
    pub fn apply(&mut self, config: &LogConfig, format: &LineFormat) -> Vec<(Level, String)> {
        let mut notes = Vec::new();
        let mut stderr = config.dest.stderr;
        if !config.dest.syslog {
            self.syslog = None;
        } else if self.syslog.is_none() {
            let sink = Syslog::connect()
                .and_then(|s| Sink::spawn(Kind::Syslog, Output::Syslog(s), format));
            match sink {
                Ok(sink) => self.syslog = Some(sink),
                Err(e) => {
                    notes.push((
                        Level::Warn,
                        format!("syslog is not available ({e}); logging to stderr instead"),
                    ));
                    stderr = true;
                }
            }
        }
        match &config.dest.file {
            None => self.file = None,
            Some(path) => stderr |= self.open_file(path, format, &mut notes),
        }
        keep(&mut self.stdout, config.dest.stdout, Kind::Stdout, format);
        keep(&mut self.stderr, stderr, Kind::Stderr, format);
        for sink in [&self.stdout, &self.stderr, &self.file, &self.syslog]
            .into_iter()
            .flatten()
        {
            sink.queue.set_format(format.clone());
        }
        notes
    }

    /// Opens (or reopens) the log file at `path`; whether stderr must stand in for it.
    fn open_file(
        &mut self,
        path: &Path,
        format: &LineFormat,
        notes: &mut Vec<(Level, String)>,
    ) -> bool {
        let opened = open_log_file(path);
        match (opened, &self.file) {
            (Ok(file), Some(sink)) => {
                sink.queue.reopen(file);
                false
            }
            (Ok(file), None) => match Sink::spawn(Kind::File, Output::File(file), format) {
                Ok(sink) => {
                    self.file = Some(sink);
                    false
                }
                Err(e) => {
                    notes.push((
                        Level::Error,
                        format!("cannot start the log file writer: {e}; logging to stderr instead"),
                    ));
                    true
                }
            },
            (Err(e), Some(_)) => {
                notes.push((
                    Level::Error,
                    format!(
                        "cannot reopen the log file {}: {e}; still writing to the file opened before",
                        path.display()
                    ),
                ));
                false
            }
            (Err(e), None) => {
                notes.push((
                    Level::Error,
                    format!(
                        "cannot open the log file {}: {e}; logging to stderr instead",
                        path.display()
                    ),
                ));
                true
            }
        }
    }

    /// The sinks that take stamped lines (stdout, stderr, file).
    pub fn lines(&self) -> impl Iterator<Item = &Sink> {
        [&self.stdout, &self.stderr, &self.file]
            .into_iter()
            .flatten()
    }

    /// Every sink's queue, for a flush that must not hold the caller's lock.
    pub fn queues(&self) -> Vec<Arc<Queue>> {
        [&self.stdout, &self.stderr, &self.file, &self.syslog]
            .into_iter()
            .flatten()
            .map(|s| Arc::clone(&s.queue))
            .collect()
    }
}

/// Starts or ends the terminal sink `kind` in `slot` as `wanted` says. A writer that
/// cannot be started leaves the sink off (there is nowhere to say so).
fn keep(slot: &mut Option<Sink>, wanted: bool, kind: Kind, format: &LineFormat) {
    if !wanted {
        *slot = None;
    } else if slot.is_none() {
        *slot = Sink::spawn(kind, Output::Terminal(kind), format).ok();
    }
}

/// Waits until every queue in `queues` was written, or `deadline`.
pub(super) fn flush(queues: &[Arc<Queue>], deadline: Instant) -> bool {
    queues.iter().all(|q| q.wait_written(deadline))
}

#[cfg(test)]
mod tests {
    use super::super::queue::dropped_lines;
    use super::super::queue::tests::format;
    use super::*;
    use std::io::Read;
    use std::path::PathBuf;
    use std::time::Duration;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sol-sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_stalled_pipe_drops_lines_and_says_so_once_drained() {
        const NOTICE: &str = "log lines dropped: stdout was not being read";
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let sink = Sink::spawn(Kind::Stdout, Output::File(File::from(write_end)), &format())
            .expect("spawn");
        // Numbered 100-byte lines, so that the output says which were dropped.
        let line = |i: usize| format!("{i:05} {}", "x".repeat(93));
        let before = dropped_lines();
        // Far more than the pipe (64 KiB), the batch being written and the buffer (16 KiB
        // each) take while nobody reads: every push returns at once; the ones that do not
        // fit are counted.
        let started = Instant::now();
        for i in 0..3000 {
            sink.push_line(&line(i));
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(dropped_lines() > before);
        drop(sink);
        // Drained (the writer closes the pipe at the end).
        let mut text = String::new();
        File::from(read_end)
            .read_to_string(&mut text)
            .expect("read the pipe");
        let lines: Vec<&str> = text.lines().collect();
        let notices: Vec<(usize, usize)> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.ends_with(NOTICE))
            .map(|(at, l)| {
                let n = l.split(' ').next().and_then(|n| n.parse().ok());
                (at, n.expect("a count"))
            })
            .collect();
        let written: Vec<(usize, usize)> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.ends_with(NOTICE))
            .map(|(at, l)| (at, l[..5].parse().expect("a numbered line")))
            .collect();
        // In order, each at most once, and every line either written or counted: however
        // the writer thread was scheduled (it may have run between the first drops and
        // the last pushes, which then fitted again).
        assert!(written.windows(2).all(|w| w[0].1 < w[1].1), "in order");
        for &(at, i) in &written {
            assert_eq!(lines[at], line(i));
        }
        let dropped: usize = notices.iter().map(|&(_, n)| n).sum();
        assert!(dropped > 0);
        assert_eq!(written.len() + dropped, 3000);
        // Said once drained: a notice follows every line pushed before the last one
        // dropped.
        let last_dropped = (0..3000)
            .rev()
            .find(|i| written.binary_search_by_key(i, |&(_, n)| n).is_err())
            .expect("a line was dropped");
        let told_at = notices.last().expect("a notice").0;
        assert!(
            written
                .iter()
                .all(|&(at, i)| i > last_dropped || at < told_at),
            "a line pushed before the last drop comes after the last notice"
        );
    }

    #[test]
    fn a_reopened_file_takes_the_next_lines() {
        let dir = temp_dir("reopen");
        let path = dir.join("sol.log");
        let config = LogConfig {
            dest: super::super::LogDestinations {
                stderr: false,
                file: Some(path.clone()),
                ..Default::default()
            },
            ..LogConfig::default()
        };
        let mut sinks = Sinks::default();
        assert!(sinks.apply(&config, &format()).is_empty());
        sinks.file.as_ref().expect("file sink").push_line("before");
        flush(&sinks.queues(), Instant::now() + Duration::from_secs(5));
        std::fs::rename(&path, dir.join("sol.log.1")).expect("rotate");
        assert!(sinks.apply(&config, &format()).is_empty());
        sinks.file.as_ref().expect("file sink").push_line("after");
        assert!(flush(
            &sinks.queues(),
            Instant::now() + Duration::from_secs(5)
        ));
        let read = |p: &Path| std::fs::read_to_string(p).expect("read");
        assert_eq!(read(&dir.join("sol.log.1")), "before\n");
        assert_eq!(read(&path), "after\n");

        // The directory is gone: the old file stays in use, and that is said.
        std::fs::remove_dir_all(&dir).expect("remove");
        let notes = sinks.apply(&config, &format());
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0]
                .1
                .contains("still writing to the file opened before"),
            "{notes:?}"
        );
        assert!(sinks.file.is_some());
        assert!(sinks.stderr.is_none());
    }

    #[test]
    fn an_unopenable_file_falls_back_to_stderr() {
        let config = LogConfig {
            dest: super::super::LogDestinations {
                stderr: false,
                file: Some(PathBuf::from("/nonexistent-sol-dir/sol.log")),
                ..Default::default()
            },
            ..LogConfig::default()
        };
        let mut sinks = Sinks::default();
        let notes = sinks.apply(&config, &format());
        assert!(
            notes[0].1.contains("logging to stderr instead"),
            "{notes:?}"
        );
        assert!(sinks.file.is_none());
        assert!(sinks.stderr.is_some());
    }
}
