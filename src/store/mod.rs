//! Durability: retained messages and persistent sessions kept in a file that survives
//! restarts, crashes and power cuts, written so as not to wear out flash.
//!
//! # Shape
//!
//! - [`format`]: the file format, a header then length-prefixed, CRC-checked records
//!   (see there); versioned.
//! - [`load`]: reading a file back, cutting a torn tail, skipping damaged records.
//! - [`model`]: on the reactor thread, the store's picture of the disk and the batches
//!   (net changes since the last save) that bring it up to date; compaction plans.
//! - [`writer`]: the thread that writes, syncs and compacts, so the reactor never waits
//!   for the disk.
//! - [`disk`]: file access behind an interface, with a simulated disk for power-cut tests.
//! - [`budget`]: the disk use the caps allow, for `sol check`.
//! - [`Store`], here: what the reactor calls: [`Store::open`] and [`Store::restore`] at
//!   start-up, [`Store::record`] for each [`Durable`] effect, [`Store::turn`] after each
//!   turn of the event loop (saves when due), [`Store::stop`] at the end.
//!
//! # When changes reach the disk
//!
//! - **Interval** (`autosave_interval N`, Mosquitto's key): a change waits at most `N`
//!   seconds; all changes of those seconds are written as one batch and synced once.
//!   With `autosave_on_changes true`, `N` counts changes instead. `0`: only at a clean
//!   stop.
//! - **Acknowledge after sync** (`persistence_sync true`, Sol's key): every turn's changes
//!   are written and synced (one sync for the turn; the writer groups turns that come
//!   while it syncs), and a QoS 1/2 PUBLISH is acknowledged only once what it changed is
//!   on disk.
//!
//! A failing disk postpones saves: the model keeps the net changes (bounded by the state
//! itself, however many events), and they are written when the disk works again.

pub mod budget;
pub mod crc;
pub mod disk;
pub mod format;
pub mod load;
pub mod model;
pub mod writer;

pub use budget::DiskBudget;

use crate::broker::{
    Broker, Durable, Message, RestoredSession, StoreStats, StoredEntry, StoredSubscription,
};
use crate::codec::ProtocolVersion;
use disk::Disk;
use load::Loaded;
use model::{Model, Save};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use writer::{Job, Status};

/// How the store is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    /// The store file (`persistence_location` joined with `persistence_file`).
    pub path: PathBuf,
    /// `autosave_interval`: seconds a change may wait (or, with `on_changes`, how many
    /// changes); 0: only at a clean stop.
    pub autosave_interval: u64,
    /// `autosave_on_changes`: `autosave_interval` counts changes, not seconds.
    pub on_changes: bool,
    /// `persistence_sync`: acknowledge QoS 1/2 only once on disk; save every turn.
    pub sync_acks: bool,
    /// A file shorter than this is never compacted.
    pub compact_min: u64,
}

impl StoreSettings {
    /// Defaults for a store at `path`: a change waits at most 5 minutes.
    pub fn at(path: PathBuf) -> StoreSettings {
        StoreSettings {
            path,
            autosave_interval: 300,
            on_changes: false,
            sync_acks: false,
            compact_min: budget::COMPACT_MIN,
        }
    }
}

/// Why the store could not be opened (Sol does not start: the configuration asks for
/// persistence, and silently running without it would lose data at the next stop).
#[derive(Debug)]
pub struct StoreError(String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// What opening found, for the log.
#[derive(Debug)]
pub struct Opened {
    /// The loaded state (empty for a new store).
    pub loaded: Loaded,
    /// The file the state was loaded from, if any (the store's own, or where a damaged
    /// one was moved).
    pub source: Option<PathBuf>,
}

/// The durable store. See the module documentation.
pub struct Store {
    /// Settings.
    settings: StoreSettings,
    /// The picture of the disk.
    model: Model,
    /// Jobs for the writer thread.
    jobs: Arc<writer::Jobs>,
    /// The writer thread's counters.
    status: Arc<Status>,
    /// Keeps a second broker off this store while this one runs.
    _lock: disk::StoreLock,
    /// Store clock at start-up (loaded), milliseconds.
    clock_base: u64,
    /// When this run started.
    started: Instant,
    /// Batch number of the last job handed over.
    gen: u64,
    /// When the turn that recorded the oldest unsaved change ended.
    pending_since: Option<Instant>,
    /// The store clock at the end of the last reactor turn: the time of the changes the
    /// next turn records.
    turn_clock_ms: u64,
    /// Records dropped while loading (damaged or refused by the caps).
    load_dropped: u64,
    /// Bridge outboxes' requests answered from memory, for [`Store::take_refills`].
    ready: Vec<Refill>,
    /// Requests waiting for the writer thread to read their messages, by number.
    reading: Vec<(u64, model::Request)>,
    /// Number of the last read handed to the writer.
    read_id: u64,
}

/// The answer to a bridge outbox's request for its messages on disk: its client id and
/// the messages in order (`None`: they could not be read back).
pub type Refill = (Box<str>, Option<Vec<StoredEntry>>);

/// Message bytes spilled by bridge outboxes that make a save due whatever the interval:
/// the messages beyond an outbox's window in RAM wait on disk, not in memory.
pub const SPILL_BATCH: usize = 64 * 1024;

impl Store {
    /// Opens the store at `settings.path`: creates its directory if needed, removes a
    /// compaction left unfinished, loads the file (a torn tail is cut; a damaged file, or
    /// one of a newer format, is moved aside and its intact records kept), and starts the
    /// writer thread. `wake` is called from that thread when a sync completes.
    pub fn open<D: Disk>(
        settings: StoreSettings,
        disk: D,
        wake: Option<writer::Wake>,
    ) -> Result<(Store, Opened), StoreError> {
        let path = settings.path.clone();
        let fail =
            |what: &str, e: std::io::Error| StoreError(format!("{}: {what}: {e}", path.display()));
        let dir = writer::directory(&path);
        if !disk.exists(dir) {
            std::fs::create_dir_all(dir).map_err(|e| fail("creating its directory", e))?;
        }
        let lock = disk.lock(&lock_path(&path)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                StoreError(format!(
                    "{}: in use by another process (another Sol on the same store file?)",
                    path.display()
                ))
            } else {
                fail("taking its lock file", e)
            }
        })?;
        let tmp = writer::compaction_path(&path);
        if disk.exists(&tmp) {
            log::info!(
                "store: removing {}, a compaction a stop interrupted",
                tmp.display()
            );
            disk.remove(&tmp)
                .map_err(|e| fail("removing an unfinished compaction", e))?;
        }
        let bytes = disk.read(&path).map_err(|e| fail("reading", e))?;
        let (loaded, source) = match bytes {
            None => (Loaded::default(), None),
            Some(bytes) => match load::load(bytes) {
                Ok(loaded) => {
                    let r = &loaded.report;
                    if r.damaged() {
                        let aside =
                            move_aside(&disk, &path).map_err(|e| fail("moving it aside", e))?;
                        log::error!(
                            "store: {} is damaged: {} byte(s) of damaged records skipped, {} \
                             intact record(s) kept; the file was moved to {} and a clean one \
                             is written",
                            path.display(),
                            r.damaged_bytes,
                            r.records,
                            aside.display()
                        );
                        (loaded, Some(aside))
                    } else {
                        if r.torn_bytes > 0 {
                            log::info!(
                                "store: {}: the last {} byte(s) were a write a stop or power \
                                 cut interrupted; cut off",
                                path.display(),
                                r.torn_bytes
                            );
                        }
                        (loaded, Some(path.clone()))
                    }
                }
                Err(e) => {
                    let aside = move_aside(&disk, &path).map_err(|e| fail("moving it aside", e))?;
                    log::error!(
                        "store: {}: {e}; moved to {} and not read; starting empty",
                        path.display(),
                        aside.display()
                    );
                    (Loaded::default(), None)
                }
            },
        };
        let load_dropped = loaded.report.dangling + u64::from(loaded.report.damaged());
        // On a small partition, dead records may not take much of the room left.
        let free = disk.free_space(dir);
        let mut settings = settings;
        settings.compact_min = settings.compact_min.min(budget::compact_floor(free));
        let (jobs, status) = writer::start(disk, path.clone(), None, wake)
            .map_err(|e| fail("starting the writer", e))?;
        let store = Store {
            clock_base: loaded.clock_ms,
            settings,
            model: Model::new(),
            jobs,
            status,
            _lock: lock,
            started: Instant::now(),
            gen: 0,
            pending_since: None,
            turn_clock_ms: loaded.clock_ms,
            load_dropped,
            ready: Vec::new(),
            reading: Vec::new(),
            read_id: 0,
        };
        Ok((store, Opened { loaded, source }))
    }

    /// The store's running clock: milliseconds Sol has run since the store was created.
    fn clock_ms(&self) -> u64 {
        self.clock_base + u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Puts what was loaded back into `broker` (retained messages, then sessions, within
    /// the caps in force) and writes a fresh store file from the result (in the
    /// background, copying message bodies from the old file). Call before the listeners
    /// accept clients.
    pub fn restore(&mut self, opened: Opened, broker: &mut Broker, now: Instant) {
        let Opened { loaded, source } = opened;
        let mut messages: HashMap<u64, Message> = HashMap::new();
        let mut message = |broker: &Broker, id: u64| -> Option<Message> {
            if let Some(m) = messages.get(&id) {
                return Some(m.clone());
            }
            let parts = loaded.body(id)?;
            // Expiry counts the store's running time, like a session's offline time.
            let expires_in = loaded
                .bodies
                .get(&id)
                .filter(|b| b.expires_ms != 0)
                .map(|b| Duration::from_millis(b.expires_ms.saturating_sub(loaded.clock_ms)));
            let m = broker.restored_message(parts, expires_in, now);
            messages.insert(id, m.clone());
            Some(m)
        };
        let (mut retained, mut sessions, mut dropped) = (0usize, 0usize, 0u64);
        for (body, qos, source) in loaded.retained.values() {
            let m = message(broker, *body);
            let source = source.clone().map(std::rc::Rc::new);
            let kept = m.is_some_and(|m| broker.restore_retained((m, *qos, source), now));
            if kept {
                retained += 1;
            } else {
                dropped += 1;
            }
        }
        let clock = loaded.clock_ms;
        let mut offline_at: HashMap<String, u64> = HashMap::new();
        let mut spilled = Vec::new();
        for s in loaded.sessions.values() {
            let offline = if s.offline_at == format::ONLINE {
                clock
            } else {
                s.offline_at.min(clock)
            };
            let entries = s
                .in_order()
                .into_iter()
                .map(|e| StoredEntry {
                    message: if e.body == 0 {
                        None
                    } else {
                        message(broker, e.body)
                    },
                    qos: e.qos,
                    retain: e.flags & format::ENTRY_RETAIN != 0,
                    packet_id: (e.packet_id != 0).then_some(e.packet_id),
                })
                .collect();
            let version = match s.version {
                3 => ProtocolVersion::V31,
                5 => ProtocolVersion::V5,
                _ => ProtocolVersion::V311,
            };
            let outcome = broker.restore_session(
                RestoredSession {
                    client_id: s.client_id.clone(),
                    username: s.username.clone(),
                    version,
                    offline_for: Duration::from_millis(clock - offline),
                    expiry: s.expiry,
                    subscriptions: s
                        .subscriptions
                        .iter()
                        .map(|(filter, options)| StoredSubscription {
                            filter: filter.clone(),
                            options: *options,
                            subscription_id: s
                                .subscription_ids
                                .iter()
                                .find(|(f, _)| f == filter)
                                .map_or(0, |(_, id)| *id),
                        })
                        .collect(),
                    entries,
                    pubrel_ids: s.pubrel_ids.clone(),
                },
                now,
            );
            if outcome.kept {
                sessions += 1;
                offline_at.insert(s.client_id.clone(), offline);
            }
            if !outcome.spilled.is_empty() {
                spilled.push((s.client_id.clone(), outcome.spilled));
            }
            dropped += (outcome.dropped_messages + outcome.dropped_subscriptions) as u64
                + u64::from(!outcome.kept);
        }
        self.load_dropped += dropped;
        if source.is_some() {
            log::info!(
                "store: restored {retained} retained message(s) and {sessions} persistent \
                 session(s) from {}{}",
                self.settings.path.display(),
                if dropped > 0 {
                    format!("; {dropped} item(s) dropped (expired, damaged or over the caps)")
                } else {
                    String::new()
                }
            );
        }
        self.model.adopt(broker, |id| {
            offline_at.get(id).copied().unwrap_or(format::ONLINE)
        });
        for (client_id, entries) in spilled {
            self.model.adopt_spilled(&client_id, entries);
        }
        let plan = self.model.compaction(broker, self.clock_ms(), false);
        self.model.chill();
        self.gen += 1;
        self.jobs.send(Job::Compact {
            source,
            plan,
            gen: self.gen,
        });
    }

    /// Takes in one change of the core (its time is that of the current reactor turn).
    pub fn record(&mut self, change: Durable) {
        let refill = matches!(change, Durable::RefillWanted { .. });
        self.model.record(change, self.turn_clock_ms);
        if refill {
            for request in self.model.take_requests() {
                self.ask(request);
            }
        }
    }

    /// Answers a bridge outbox's request from memory, or hands the reading of the
    /// bodies on disk to the writer thread (after every job before it, so it finds
    /// them where the model says).
    fn ask(&mut self, request: model::Request) {
        let ranges: Vec<(u64, u32)> = request
            .entries
            .iter()
            .filter_map(|(_, _, body)| body.as_ref().err().copied())
            .collect();
        if ranges.is_empty() {
            let entries = request
                .entries
                .into_iter()
                .map(|(qos, retain, body)| StoredEntry {
                    message: body.ok(),
                    qos,
                    retain,
                    packet_id: None,
                })
                .collect();
            self.ready.push((request.client_id, Some(entries)));
            return;
        }
        self.read_id += 1;
        self.jobs.send(Job::Read {
            id: self.read_id,
            ranges,
        });
        self.reading.push((self.read_id, request));
    }

    /// The answers to bridge outboxes' requests ready now (from memory, or read by the
    /// writer thread), for [`Broker::bridge_refill`]. Bodies read back get what is left
    /// of their expiry on the store's clock.
    pub fn take_refills(&mut self, broker: &Broker, now: Instant) -> Vec<Refill> {
        let mut answers = std::mem::take(&mut self.ready);
        if self.reading.is_empty() {
            return answers;
        }
        let clock = self.clock_ms();
        for (id, done) in self.status.take_reads() {
            let Some(i) = self.reading.iter().position(|(r, _)| *r == id) else {
                continue;
            };
            let (_, request) = self.reading.swap_remove(i);
            let entries = done.ok().and_then(|bytes| {
                let mut at = 0;
                let mut entries = Vec::with_capacity(request.entries.len());
                for (qos, retain, body) in request.entries {
                    let message = match body {
                        Ok(m) => m,
                        Err((_, len)) => {
                            let records = bytes.get(at..at + len as usize)?;
                            at += len as usize;
                            read_body(records, broker, clock, now)?
                        }
                    };
                    entries.push(StoredEntry {
                        message: Some(message),
                        qos,
                        retain,
                        packet_id: None,
                    });
                }
                Some(entries)
            });
            if entries.is_none() {
                log::error!(
                    "store: {}: the messages of bridge outbox {} on disk could not be read \
                     back",
                    self.settings.path.display(),
                    request.client_id
                );
            }
            answers.push((request.client_id, entries));
        }
        answers
    }

    /// When the next save is due, for the reactor's poll timeout (`None`: nothing
    /// pending, saves happen only at stop or on changes, or the disk is failing).
    pub fn next_deadline(&self) -> Option<Instant> {
        // While the disk fails, saves wait for the writer's wake-up when it works again
        // (a deadline in the past would spin the event loop).
        if self.settings.on_changes || self.settings.autosave_interval == 0 || self.failing() {
            return None;
        }
        let since = self.pending_since?;
        Some(since + Duration::from_secs(self.settings.autosave_interval))
    }

    /// After a turn of the event loop: saves if due (every turn in acknowledge-after-sync
    /// mode; when the interval or change count is reached otherwise), unless the disk is
    /// failing, and compacts when the file has grown enough past its live state. Returns
    /// the batch number the changes recorded so far will be durable at.
    pub fn turn(&mut self, broker: &Broker, now: Instant) -> u64 {
        self.turn_clock_ms = self.clock_ms();
        let pending = self.model.pending();
        if pending > 0 && self.pending_since.is_none() {
            self.pending_since = Some(now);
        }
        let s = &self.settings;
        let due = pending > 0
            && (s.sync_acks
                || self.model.spill_unsaved() >= SPILL_BATCH
                || (s.on_changes && s.autosave_interval > 0 && pending >= s.autosave_interval)
                || self.next_deadline().is_some_and(|at| at <= now));
        if due && !self.status.failing() {
            self.save(broker);
        }
        // Changes not handed over yet go in the next batch.
        self.gen + u64::from(self.model.pending() > 0)
    }

    /// Writes the changes since the last save as one batch.
    fn save(&mut self, broker: &Broker) {
        let clock = self.clock_ms();
        let save = self.model.save(broker, clock, self.settings.compact_min);
        self.pending_since = None;
        let Some(save) = save else { return };
        self.gen += 1;
        let gen = self.gen;
        self.jobs.send(match save {
            Save::Append { bytes, at } => Job::Append { bytes, at, gen },
            Save::Rewrite(plan) => Job::Compact {
                source: None,
                plan,
                gen,
            },
        });
    }

    /// Highest batch number durable on disk.
    pub fn synced(&self) -> u64 {
        self.status.synced()
    }

    /// Whether the disk is failing right now (saves wait; the writer retries).
    pub fn failing(&self) -> bool {
        self.status.failing()
    }

    /// Counters for `$SYS`.
    pub fn stats(&self) -> StoreStats {
        let c = self.status.counters();
        StoreStats {
            bytes_written: c.bytes_written,
            syncs: c.syncs,
            compactions: c.compactions,
            errors: c.errors,
            last_sync_age_s: (c.syncs > 0).then(|| {
                let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                now.saturating_sub(c.last_sync_ms) / 1000
            }),
            load_dropped: self.load_dropped,
            pending: self.model.pending(),
        }
    }

    /// A clean stop: saves everything, waits up to `wait` for the writer to sync it, and
    /// ends the writer. False if the disk did not take it in time (logged).
    pub fn stop(mut self, broker: &Broker, wait: Duration) -> bool {
        if self.model.pending() > 0 || self.gen == 0 {
            self.save(broker);
        }
        let target = self.gen;
        self.jobs.send(Job::Stop);
        let done = self.jobs.wait_ended(wait) && self.status.synced() >= target;
        if !done {
            log::error!(
                "store: {} did not take the last changes within {} s; they are lost",
                self.settings.path.display(),
                wait.as_secs()
            );
        }
        done
    }
}

/// A message body's records as [`Model`] wrote them (the body, then its expiry if it has
/// one), read back: the message, expiring what is left of its interval at store clock
/// `clock`; `None` if they are not such records (damage).
fn read_body(records: &[u8], broker: &Broker, clock: u64, now: Instant) -> Option<Message> {
    let (record, len) = format::read_record(records).ok()?;
    let format::Record::Body {
        topic,
        properties,
        payload,
        ..
    } = record
    else {
        return None;
    };
    let expires_in = match format::read_record(&records[len..]) {
        Ok((format::Record::BodyExpiry { expires_ms, .. }, _)) => {
            Some(Duration::from_millis(expires_ms.saturating_sub(clock)))
        }
        _ => None,
    };
    Some(broker.restored_message((topic, properties, payload), expires_in, now))
}

/// The lock file next to the store file: `<file>.lock`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Moves a damaged or unreadable store file aside, next to it, never over an earlier one:
/// `<file>.damaged-1`, `-2`, ...
fn move_aside<D: Disk>(disk: &D, path: &Path) -> std::io::Result<PathBuf> {
    let dir = writer::directory(path);
    for n in 1.. {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".damaged-{n}"));
        let aside = PathBuf::from(name);
        if !disk.exists(&aside) {
            disk.rename(path, &aside)?;
            disk.sync_dir(dir)?;
            return Ok(aside);
        }
    }
    unreachable!("some number is free")
}

#[cfg(test)]
mod spill_tests;
#[cfg(test)]
mod tests;
