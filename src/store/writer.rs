//! The writer thread: every write, sync and compaction happens here, so the reactor never
//! waits for the disk (an `fsync` on an SD card can take 100 ms).
//!
//! The reactor hands over jobs in order: batches to append at a given offset, and
//! compactions (a new file built from encoded bytes and copies of old records, then
//! renamed over the store). The thread takes every job waiting, carries them out, and
//! syncs once for all of them (group commit), then publishes the highest batch number now
//! durable ([`Status::synced`]) and wakes the reactor.
//!
//! A failing disk (full, read-only, I/O errors) is retried, not given up on: the thread
//! cuts a half-written batch back, waits (100 ms, doubling up to 30 s), and tries again,
//! while the reactor keeps serving from memory. Its [`Status`] says it is failing and
//! counts the errors; the reactor bounds what waits meanwhile.

use super::disk::{Disk, StoreFile};
use super::model::{Piece, Plan};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Work for the writer thread.
#[derive(Debug)]
pub enum Job {
    /// Append `bytes` at offset `at` of the store file, as batch number `gen`.
    Append {
        /// Encoded records.
        bytes: Vec<u8>,
        /// Where they go (the file is cut back there first if it is longer).
        at: u64,
        /// The batch number.
        gen: u64,
    },
    /// Replace the store file with one built from `plan`, copying old records from
    /// `source` (`None`: the current store file), as batch number `gen`.
    Compact {
        /// The file the plan's copies read from.
        source: Option<PathBuf>,
        /// The new file.
        plan: Plan,
        /// The batch number.
        gen: u64,
    },
    /// Read records back for a bridge outbox (its messages on disk only): `ranges`
    /// (offset, length) of the store file as it is after the jobs before this one; the
    /// answer goes to [`Status::take_reads`] under `id`, and the reactor is woken.
    Read {
        /// The request's number.
        id: u64,
        /// What to read, in order.
        ranges: Vec<(u64, u32)>,
    },
    /// Sync what is written and end the thread.
    Stop,
}

/// A read's answer: its number and the bytes of its ranges one after another.
pub type ReadDone = (u64, io::Result<Vec<u8>>);

/// What the writer thread tells the reactor: whether the disk is failing (an atomic,
/// read every turn) and the counters behind a mutex (32-bit MIPS has no 64-bit atomics;
/// the lock is taken once per write or sync by the writer and once per turn by the
/// reactor, never held across I/O).
#[derive(Debug, Default)]
pub struct Status {
    /// The last operation failed and is being retried.
    failing: AtomicBool,
    /// The counters.
    counters: Mutex<Counters>,
    /// Reads done and not taken by the reactor yet.
    reads: Mutex<Vec<ReadDone>>,
}

/// The writer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Highest batch number on disk and synced.
    pub synced: u64,
    /// Bytes written (appends and compactions).
    pub bytes_written: u64,
    /// Syncs done.
    pub syncs: u64,
    /// Compactions done.
    pub compactions: u64,
    /// Failed writes, syncs and renames.
    pub errors: u64,
    /// Milliseconds since the thread started at the last successful sync.
    pub last_sync_ms: u64,
}

impl Status {
    /// Highest batch number durable on disk.
    pub fn synced(&self) -> u64 {
        self.counters().synced
    }

    /// Whether the disk is failing right now.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// The reads done since the last call.
    pub fn take_reads(&self) -> Vec<ReadDone> {
        std::mem::take(&mut *self.reads.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A copy of the counters.
    pub fn counters(&self) -> Counters {
        *self.lock()
    }

    /// The counters, to update (a poisoned lock still holds valid numbers).
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Wakes the reactor when the writer's [`Status`] changes (a sync completed, a failure
/// began).
pub type Wake = Box<dyn Fn() + Send>;

/// The thread's state (tests drive it without a thread, see [`Writer::handle`]).
pub(super) struct Writer<D: Disk> {
    /// The file system.
    disk: D,
    /// The store file.
    path: PathBuf,
    /// Its directory (synced after a rename).
    dir: PathBuf,
    /// The store file, open for appending (none until the first compaction creates it,
    /// or after a failed one).
    file: Option<D::File>,
    /// Written since the last sync.
    unsynced: bool,
    /// Shared with the reactor.
    status: Arc<Status>,
    /// Wakes the reactor.
    wake: Option<Wake>,
    /// When the thread started.
    started: Instant,
    /// Tries of a failing operation before giving up; `None`: never give up (the thread
    /// retries until the disk works; tests give up at once).
    max_tries: Option<u32>,
    /// An operation was given up on (tests only): the state on disk is what it is.
    gave_up: bool,
}

/// Starts the writer thread for the store file at `path`, open at `len` bytes (`None`:
/// the first job is a compaction that creates it). Returns the job queue (which also
/// tells when the thread has ended) and the shared status.
pub fn start<D: Disk>(
    disk: D,
    path: PathBuf,
    len: Option<u64>,
    wake: Option<Wake>,
) -> io::Result<(Arc<Jobs>, Arc<Status>)> {
    let file = match len {
        Some(len) => Some(disk.open_append(&path, len)?),
        None => None,
    };
    let dir = directory(&path).to_path_buf();
    let status = Arc::new(Status::default());
    let jobs = Arc::new(Jobs::default());
    let mut writer = Writer {
        disk,
        path,
        dir,
        file,
        unsynced: false,
        status: Arc::clone(&status),
        wake,
        started: Instant::now(),
        max_tries: None,
        gave_up: false,
    };
    let queue = Arc::clone(&jobs);
    spawn(Box::new(move || {
        writer.run(&queue);
        queue.end();
    }))?;
    Ok((jobs, status))
}

/// The body of a thread [`spawn`] starts.
type ThreadBody = Box<dyn FnOnce() + Send>;

/// Runs `body` on a new detached thread named `sol-store`, with a 256 KiB stack: a bare
/// `pthread_create`, not `std::thread`, whose machinery (join handles, the per-thread
/// stack-overflow handler, thread records) costs about 6 KB of binary on aarch64 and
/// 9 KB on MIPS for the one thread Sol has. The thread inherits the reactor's signal
/// mask (SIGINT, SIGTERM and SIGHUP blocked for the signalfd), so signals never land on
/// it. With `panic = "abort"` a panic in it ends the process, as on any thread.
fn spawn(body: ThreadBody) -> io::Result<()> {
    use nix::libc;
    extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the box `spawn` handed to this thread and nobody else; it is
        // taken back exactly once, here.
        let body = unsafe { Box::from_raw(arg.cast::<ThreadBody>()) };
        // SAFETY: a NUL-terminated name of 15 bytes at most, for the calling thread.
        unsafe { libc::pthread_setname_np(libc::pthread_self(), c"sol-store".as_ptr()) };
        body();
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(body)).cast::<libc::c_void>();
    // SAFETY: the attribute object is initialised before use and destroyed after; the
    // thread id is written by pthread_create; `arg` goes to the thread on success and is
    // taken back here on failure, so it is freed exactly once either way.
    let rc = unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        libc::pthread_attr_init(attr.as_mut_ptr());
        libc::pthread_attr_setstacksize(attr.as_mut_ptr(), 256 * 1024);
        libc::pthread_attr_setdetachstate(attr.as_mut_ptr(), libc::PTHREAD_CREATE_DETACHED);
        let mut thread = std::mem::MaybeUninit::<libc::pthread_t>::uninit();
        let rc = libc::pthread_create(thread.as_mut_ptr(), attr.as_ptr(), start, arg);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if rc != 0 {
            drop(Box::from_raw(arg.cast::<ThreadBody>()));
        }
        rc
    };
    match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// The queue between the reactor and the writer thread: jobs in order, and whether the
/// thread has ended. A mutex and a condition variable (futexes): much smaller code than
/// std's channels, and this queue needs nothing more.
#[derive(Debug, Default)]
pub struct Jobs {
    /// The jobs waiting and the thread's end.
    state: Mutex<JobsState>,
    /// Signalled when a job arrives or the thread ends.
    changed: Condvar,
}

/// See [`Jobs`].
#[derive(Debug, Default)]
struct JobsState {
    /// Jobs not taken yet, in order.
    jobs: Vec<Job>,
    /// The thread has ended.
    ended: bool,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, JobsState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `job` to the writer thread.
    pub fn send(&self, job: Job) {
        self.lock().jobs.push(job);
        self.changed.notify_all();
    }

    /// Every job waiting, once there is one (the writer thread).
    fn take(&self) -> Vec<Job> {
        let mut state = self.lock();
        while state.jobs.is_empty() {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::take(&mut state.jobs)
    }

    /// The writer thread has ended.
    fn end(&self) {
        self.lock().ended = true;
        self.changed.notify_all();
    }

    /// Waits up to `wait` for the writer thread to end; whether it has.
    pub fn wait_ended(&self, wait: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, wait, |s| !s.ended)
            .unwrap_or_else(PoisonError::into_inner);
        state.ended
    }
}

impl<D: Disk> Writer<D> {
    /// A writer for tests: no thread, gives up on the first failure.
    #[cfg(test)]
    pub(super) fn for_test(disk: D, path: PathBuf) -> Writer<D> {
        Writer {
            dir: directory(&path).to_path_buf(),
            disk,
            path,
            file: None,
            unsynced: false,
            status: Arc::new(Status::default()),
            wake: None,
            started: Instant::now(),
            max_tries: Some(1),
            gave_up: false,
        }
    }

    /// Takes jobs until [`Job::Stop`].
    fn run(&mut self, jobs: &Jobs) {
        while !self.handle(jobs.take()) {}
    }

    /// Carries out a group of jobs and syncs once for them; then publishes the highest
    /// batch number among them as durable and wakes the reactor. True if one was
    /// [`Job::Stop`].
    pub(super) fn handle(&mut self, jobs: Vec<Job>) -> bool {
        let mut stop = false;
        let mut gen = 0;
        let mut read = false;
        for job in jobs {
            match job {
                Job::Append { bytes, at, gen: g } => {
                    self.retry("append", |w| w.append(&bytes, at));
                    gen = gen.max(g);
                }
                Job::Compact {
                    source,
                    plan,
                    gen: g,
                } => {
                    self.retry("sync", Self::sync);
                    self.retry("compaction", |w| w.compact(source.as_deref(), &plan));
                    gen = gen.max(g);
                }
                Job::Read { id, ranges } => {
                    let done = self.read(&ranges);
                    if let Err(e) = &done {
                        log::error!("store: reading a bridge outbox's messages back: {e}");
                    }
                    let reads = self.status.reads.lock();
                    reads
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((id, done));
                    read = true;
                }
                Job::Stop => stop = true,
            }
        }
        self.retry("sync", Self::sync);
        if gen > 0 && !self.gave_up {
            let mut c = self.status.lock();
            c.synced = c.synced.max(gen);
            drop(c);
            self.wake();
        } else if read {
            self.wake();
        }
        stop
    }

    /// The bytes of `ranges` of the store file, one after another (one try: a failed
    /// read is answered as such, and the messages are counted as lost).
    fn read(&mut self, ranges: &[(u64, u32)]) -> io::Result<Vec<u8>> {
        let mut opened = None;
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => opened.insert(self.disk.open_read(&self.path)?),
        };
        let total = ranges.iter().map(|&(_, len)| len as usize).sum();
        let mut out = vec![0u8; total];
        let mut at = 0;
        for &(offset, len) in ranges {
            file.read_at(offset, &mut out[at..at + len as usize])?;
            at += len as usize;
        }
        Ok(out)
    }

    /// Tells the reactor the status changed.
    fn wake(&self) {
        if let Some(wake) = &self.wake {
            wake();
        }
    }

    /// The writer's counters.
    #[cfg(test)]
    pub(super) fn status(&self) -> &Status {
        &self.status
    }

    /// Runs `op` until it succeeds, backing off between tries; errors are logged (the
    /// first of a run, then every tenth) and counted. Once an operation was given up on
    /// (tests), nothing more is tried.
    fn retry(&mut self, what: &str, mut op: impl FnMut(&mut Self) -> io::Result<()>) {
        let mut delay = Duration::from_millis(100);
        let mut failures = 0u32;
        while !self.gave_up {
            match op(self) {
                Ok(()) => {
                    if failures > 0 {
                        log::warn!("store: {what} works again after {failures} failure(s)");
                        self.status.failing.store(false, Ordering::Release);
                    }
                    return;
                }
                Err(e) => {
                    failures += 1;
                    self.status.lock().errors += 1;
                    self.status.failing.store(true, Ordering::Release);
                    if failures == 1 {
                        // The reactor shows the failure (and stops handing over saves).
                        self.wake();
                    }
                    if self.max_tries.is_some_and(|max| failures >= max) {
                        self.gave_up = true;
                        return;
                    }
                    if failures == 1 || failures.is_multiple_of(10) {
                        log::error!(
                            "store: {what} of {} failed ({failures} time(s)): {e}; serving from \
                             memory, retrying",
                            self.path.display()
                        );
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Appends a batch at `at`.
    fn append(&mut self, bytes: &[u8], at: u64) -> io::Result<()> {
        let file = match self.file.as_mut() {
            Some(file) => file,
            None => {
                // A compaction that created the file failed: write a fresh file instead.
                let mut file = self.disk.create(&self.path)?;
                file.append(&super::format::header())?;
                self.disk.sync_dir(&self.dir)?;
                self.file.insert(file)
            }
        };
        if file.len() != at {
            // A batch cut short by an earlier failure, or the file is behind: the model's
            // offsets are the truth.
            file.truncate(at.min(file.len()))?;
            if file.len() != at {
                return Err(io::Error::other(format!(
                    "the store file is {} bytes, the batch goes at {at}",
                    file.len()
                )));
            }
        }
        if let Err(e) = file.append(bytes) {
            let _ = file.truncate(at);
            return Err(e);
        }
        self.unsynced = true;
        self.status.lock().bytes_written += bytes.len() as u64;
        Ok(())
    }

    /// Syncs the store file if anything was written since the last sync.
    fn sync(&mut self) -> io::Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        if let Some(file) = self.file.as_mut() {
            file.sync()?;
        }
        self.unsynced = false;
        let at = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut c = self.status.lock();
        c.syncs += 1;
        c.last_sync_ms = at;
        Ok(())
    }

    /// Builds the new file next to the store, syncs it, renames it over the store and
    /// syncs the directory: a power cut at any point leaves either the old file or the
    /// new one whole.
    fn compact(&mut self, source: Option<&Path>, plan: &Plan) -> io::Result<()> {
        let tmp = compaction_path(&self.path);
        let mut source_file = match source {
            Some(path) => Some(self.disk.open_read(path)?),
            None => None,
        };
        let mut new = self.disk.create(&tmp)?;
        let mut buf = Vec::new();
        for piece in &plan.pieces {
            match piece {
                Piece::Bytes(bytes) => new.append(bytes)?,
                Piece::Copy { offset, len } => {
                    let from = match source_file.as_mut() {
                        Some(f) => f,
                        None => self
                            .file
                            .as_mut()
                            .ok_or_else(|| io::Error::other("no file to copy records from"))?,
                    };
                    let mut done = 0;
                    while done < *len {
                        let n = (*len - done).min(64 * 1024) as usize;
                        buf.resize(n, 0);
                        from.read_at(offset + done, &mut buf)?;
                        new.append(&buf)?;
                        done += n as u64;
                    }
                }
            }
        }
        if new.len() != plan.len {
            return Err(io::Error::other(format!(
                "compaction wrote {} bytes, planned {}",
                new.len(),
                plan.len
            )));
        }
        new.sync()?;
        self.disk.rename(&tmp, &self.path)?;
        self.disk.sync_dir(&self.dir)?;
        match self.file.as_ref().map(StoreFile::len) {
            Some(before) => log::info!(
                "store: {} compacted to its live state: {} bytes, from {before}",
                self.path.display(),
                plan.len
            ),
            None => log::debug!(
                "store: {} written afresh: {} bytes",
                self.path.display(),
                plan.len
            ),
        }
        self.file = Some(new);
        self.unsynced = false;
        let mut c = self.status.lock();
        c.bytes_written += plan.len;
        c.compactions += 1;
        c.syncs += 1;
        Ok(())
    }
}

/// The directory holding the store file `path` (`.` for a bare file name).
pub fn directory(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Where a compaction builds the new file: next to the store.
pub fn compaction_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".compact");
    PathBuf::from(name)
}
