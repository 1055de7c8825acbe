//! The store's access to files, behind a small interface, so that a test double can
//! simulate power cuts, full disks and failing media ([`sim`], in tests).
//!
//! The store needs few operations: read a whole file at start-up, append and sync one
//! file, read ranges of it back (compaction copies message bodies), create a second file
//! and rename it over the first (compaction), sync the directory so the rename survives a
//! power cut, and move a damaged file aside. [`RealDisk`] does them with `std::fs` and
//! `fdatasync`.

use nix::libc::c_void;
use nix::sys::mman;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::num::NonZeroUsize;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::ptr::NonNull;

/// One open store file, appended to and synced by the writer thread.
pub trait StoreFile: Send {
    /// Appends `bytes` at the end (all of them, or an error; a failure may leave part of
    /// them written: the caller truncates back).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes (after a failed append).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Reads `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The file's length.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The file system, as the store uses it.
pub trait Disk: Send + 'static {
    /// An open file of this disk.
    type File: StoreFile;
    /// The whole file at `path`; `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<FileBytes>>;
    /// Creates (or empties) the file at `path`, open for appending.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens the existing file at `path` for appending, cut to `len` bytes first.
    fn open_append(&self, path: &Path, len: u64) -> io::Result<Self::File>;
    /// Opens the existing file at `path` to read ranges of it (compaction copies).
    fn open_read(&self, path: &Path) -> io::Result<Self::File>;
    /// Renames `from` to `to`, replacing `to` atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (a rename, a new file) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Removes the file at `path` (a left-over compaction file; never the store itself).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Whether a file exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Takes the exclusive lock file at `path` (created if missing), held until the
    /// returned [`StoreLock`] is dropped; `WouldBlock` if another process holds it.
    fn lock(&self, path: &Path) -> io::Result<StoreLock>;
    /// Bytes available to the broker on the file system holding `dir`, if known.
    fn free_space(&self, _dir: &Path) -> Option<u64> {
        None
    }
}

/// A held lock on a store (see [`Disk::lock`]): two brokers writing one store would
/// corrupt it, so the second refuses to start.
#[derive(Debug)]
pub struct StoreLock(
    /// The locked file (none on the simulated disk).
    #[allow(dead_code)] // held for its Drop, which releases the lock
    Option<nix::fcntl::Flock<File>>,
);

/// A whole file's bytes, read once at start-up: mapped from the page cache for a real
/// file (the kernel can drop and re-read its pages under memory pressure, so a large store
/// does not need as much heap while it is restored), owned for the simulated disk.
pub enum FileBytes {
    /// Bytes on the heap.
    Owned(Vec<u8>),
    /// A private read-only mapping of a file.
    Mapped {
        /// Start of the mapping.
        ptr: NonNull<c_void>,
        /// Its length (never 0).
        len: usize,
    },
}

impl FileBytes {
    /// Maps the file `f` (an empty file is owned, as there is nothing to map).
    ///
    /// The mapping is sound because no one writes the file while it is mapped: Sol's
    /// writer thread only writes a new file and renames it over this one (the mapping keeps
    /// the old inode), and the store's lock file keeps a second Sol off the same store.
    /// Another program truncating the file meanwhile would make reading it fault.
    fn map(f: &File) -> io::Result<FileBytes> {
        let len = usize::try_from(f.metadata()?.len())
            .map_err(|_| io::Error::other("the store file is larger than the address space"))?;
        let Some(length) = NonZeroUsize::new(len) else {
            return Ok(FileBytes::Owned(Vec::new()));
        };
        // SAFETY: a new private read-only mapping, of the file's length, at an address the
        // kernel picks; see above for why the file does not change under it.
        let ptr = unsafe {
            mman::mmap(
                None,
                length,
                mman::ProtFlags::PROT_READ,
                mman::MapFlags::MAP_PRIVATE,
                f,
                0,
            )
        }
        .map_err(io::Error::from)?;
        Ok(FileBytes::Mapped { ptr, len })
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Owned(v) => v,
            // SAFETY: the mapping is `len` readable bytes and lives as long as `self`.
            FileBytes::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts(ptr.as_ptr().cast::<u8>(), *len)
            },
        }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        if let FileBytes::Mapped { ptr, len } = *self {
            // SAFETY: the mapping made in `map`, unmapped once; no borrow of it outlives
            // `self`.
            let _ = unsafe { mman::munmap(ptr, len) };
        }
    }
}

impl Default for FileBytes {
    fn default() -> FileBytes {
        FileBytes::Owned(Vec::new())
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(v: Vec<u8>) -> FileBytes {
        FileBytes::Owned(v)
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self {
            FileBytes::Owned(_) => "owned",
            FileBytes::Mapped { .. } => "mapped",
        };
        write!(f, "FileBytes({} bytes, {how})", self.len())
    }
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealDisk;

/// A real store file: its descriptor and length.
#[derive(Debug)]
pub struct RealFile {
    /// The file, opened for reading and appending.
    file: File,
    /// Its length (appends go here).
    len: u64,
}

impl StoreFile for RealFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.len)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn len(&self) -> u64 {
        self.len
    }
}

impl Disk for RealDisk {
    type File = RealFile;

    fn read(&self, path: &Path) -> io::Result<Option<FileBytes>> {
        match File::open(path) {
            Ok(f) => FileBytes::map(&f).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create(&self, path: &Path) -> io::Result<RealFile> {
        // Only the broker's user may read it: it holds message payloads.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        Ok(RealFile { file, len: 0 })
    }

    fn open_append(&self, path: &Path, len: u64) -> io::Result<RealFile> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        if file.seek(SeekFrom::End(0))? != len {
            file.set_len(len)?;
        }
        Ok(RealFile { file, len })
    }

    fn open_read(&self, path: &Path) -> io::Result<RealFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(RealFile { file, len })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn free_space(&self, dir: &Path) -> Option<u64> {
        let s = nix::sys::statvfs::statvfs(dir).ok()?;
        #[allow(clippy::useless_conversion)] // the field types differ by target
        let (blocks, size) = (
            u64::from(s.blocks_available()),
            u64::from(s.fragment_size()),
        );
        Some(blocks.saturating_mul(size))
    }

    fn lock(&self, path: &Path) -> io::Result<StoreLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(StoreLock(Some(lock))),
            Err((_, errno)) => Err(io::Error::from(errno)),
        }
    }
}

/// A simulated disk for crash tests, in the manner of SQLite's: every file has what has
/// been synced and what has only been written; a power cut ([`sim::SimDisk::power_cut`])
/// throws away everything not synced, except that the last unsynced write may survive
/// torn at a sector boundary (and then perhaps followed by a sector of zeros), and renames not made durable by a directory sync are
/// undone. Faults can be injected: a full disk after so many bytes, a failing sync.
#[cfg(test)]
pub mod sim {
    use super::{Disk, FileBytes, StoreFile, StoreLock};
    use std::collections::HashMap;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, MutexGuard};

    /// Bytes of a simulated sector: a torn write keeps whole sectors only.
    pub const SECTOR: usize = 512;

    /// One file's contents.
    #[derive(Clone, Debug, Default)]
    struct Inode {
        /// What a power cut keeps.
        synced: Vec<u8>,
        /// What the file holds now.
        current: Vec<u8>,
    }

    /// The simulated file system.
    #[derive(Debug, Default)]
    struct State {
        /// File contents by inode number.
        inodes: HashMap<u64, Inode>,
        /// Directory entries now.
        names: HashMap<PathBuf, u64>,
        /// Directory entries a power cut keeps.
        synced_names: HashMap<PathBuf, u64>,
        /// Next inode number.
        next: u64,
        /// Bytes that may still be written before the disk is full; `None`: no limit.
        space: Option<usize>,
        /// Syncs fail with EIO while set.
        failing_sync: bool,
        /// Reads of open files (`read_at`) fail with EIO while set.
        failing_reads: bool,
        /// Bytes written, for write-volume checks.
        written: u64,
        /// Operations done (appends, syncs, truncations, creations, renames, removals).
        ops: u64,
        /// Cut the power before operation number `.0`, tearing with `.1`.
        cut_at: Option<(u64, usize)>,
        /// The power is off: every operation fails and changes nothing.
        dead: bool,
    }

    impl State {
        /// Counts an operation; false if it must fail (the power is, or goes, off).
        fn op(&mut self) -> bool {
            if self.dead {
                return false;
            }
            self.ops += 1;
            if let Some((at, tear)) = self.cut_at {
                if self.ops >= at {
                    cut(self, tear);
                    self.dead = true;
                    return false;
                }
            }
            true
        }
    }

    /// The error of an operation while the power is off.
    fn power_off() -> io::Error {
        io::Error::from_raw_os_error(5) // EIO
    }

    /// A handle to the simulated disk; clones share it.
    #[derive(Clone, Debug, Default)]
    pub struct SimDisk(Arc<Mutex<State>>);

    impl SimDisk {
        fn state(&self) -> MutexGuard<'_, State> {
            self.0
                .lock()
                .expect("no test thread panics holding the sim")
        }

        /// Cuts the power: every file reverts to what was synced, plus a prefix of its
        /// unsynced bytes torn at `tear` (a number used to pick how many whole sectors
        /// survive); renames not synced are undone. The disk works again afterwards (a
        /// restart).
        pub fn power_cut(&self, tear: usize) {
            let mut s = self.state();
            cut(&mut s, tear);
            s.dead = false;
            s.cut_at = None;
        }

        /// Cuts the power just before operation number `ops` from now, tearing with
        /// `tear` (see [`SimDisk::power_cut`]); from then on every operation fails until
        /// [`SimDisk::restart`].
        pub fn cut_after(&self, ops: u64, tear: usize) {
            let mut s = self.state();
            s.cut_at = Some((s.ops + ops, tear));
        }

        /// Whether the power went off.
        pub fn is_dead(&self) -> bool {
            self.state().dead
        }

        /// Powers the disk back on after a cut.
        pub fn restart(&self) {
            let mut s = self.state();
            s.dead = false;
            s.cut_at = None;
        }
    }

    /// What a power cut leaves (see [`SimDisk::power_cut`]).
    fn cut(s: &mut State, tear: usize) {
        {
            let mut inodes: Vec<u64> = s.inodes.keys().copied().collect();
            inodes.sort_unstable();
            for ino in inodes {
                let inode = s.inodes.get_mut(&ino).expect("listed");
                let mut kept = inode.synced.clone();
                if inode.current.len() > kept.len() && inode.current.starts_with(&kept) {
                    // The unsynced tail may have reached the disk in part, in whole
                    // sectors counted from the file's start.
                    let tail = &inode.current[kept.len()..];
                    let end = kept.len() + tear % (tail.len() + 1);
                    let end = end - end % SECTOR;
                    if end > kept.len() {
                        kept.extend_from_slice(&inode.current[kept.len()..end]);
                    }
                    if tear & 1 == 1 && end < inode.current.len() {
                        // The file's new size reached the disk, its data did not: the
                        // next sector reads as zeros (delayed allocation on ext4).
                        let zeros = (inode.current.len() - end).min(SECTOR);
                        kept.resize(end + zeros, 0);
                    }
                }
                inode.current = kept.clone();
                inode.synced = kept;
            }
            s.names = s.synced_names.clone();
        }
    }

    impl SimDisk {
        /// The bytes of the file at `path` as they are now.
        pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
            let s = self.state();
            let ino = s.names.get(path)?;
            Some(s.inodes[ino].current.clone())
        }

        /// Replaces the contents of the file at `path` (corruption tests); durable at once.
        pub fn set_contents(&self, path: &Path, bytes: Vec<u8>) {
            let mut s = self.state();
            let ino = match s.names.get(path) {
                Some(&ino) => ino,
                None => {
                    s.next += 1;
                    let ino = s.next;
                    s.names.insert(path.into(), ino);
                    s.synced_names.insert(path.into(), ino);
                    ino
                }
            };
            s.inodes.insert(
                ino,
                Inode {
                    synced: bytes.clone(),
                    current: bytes,
                },
            );
        }

        /// The names of the files that exist now.
        pub fn files(&self) -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = self.state().names.keys().cloned().collect();
            v.sort();
            v
        }

        /// Lets `bytes` more be written before writes fail with ENOSPC (`None`: no limit).
        pub fn set_space(&self, bytes: Option<usize>) {
            self.state().space = bytes;
        }

        /// Makes syncs fail with EIO (or work again).
        pub fn set_failing_sync(&self, failing: bool) {
            self.state().failing_sync = failing;
        }

        /// Makes reads of open files fail with EIO (or work again).
        pub fn set_failing_reads(&self, failing: bool) {
            self.state().failing_reads = failing;
        }

        /// Bytes written so far.
        pub fn written(&self) -> u64 {
            self.state().written
        }
    }

    /// An open simulated file.
    #[derive(Debug)]
    pub struct SimFile {
        /// The disk.
        disk: SimDisk,
        /// Which file.
        ino: u64,
    }

    impl StoreFile for SimFile {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            let mut s = self.disk.state();
            if !s.op() {
                return Err(power_off());
            }
            let room = s.space.map_or(bytes.len(), |space| space.min(bytes.len()));
            s.written += room as u64;
            if let Some(space) = s.space.as_mut() {
                *space -= room;
            }
            let inode = s.inodes.get_mut(&self.ino).expect("open files exist");
            inode.current.extend_from_slice(&bytes[..room]);
            if room < bytes.len() {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            Ok(())
        }

        fn sync(&mut self) -> io::Result<()> {
            let mut s = self.disk.state();
            if !s.op() {
                return Err(power_off());
            }
            if s.failing_sync {
                return Err(io::Error::from_raw_os_error(5)); // EIO
            }
            let inode = s.inodes.get_mut(&self.ino).expect("open files exist");
            inode.synced = inode.current.clone();
            Ok(())
        }

        fn truncate(&mut self, len: u64) -> io::Result<()> {
            let mut s = self.disk.state();
            if !s.op() {
                return Err(power_off());
            }
            let inode = s.inodes.get_mut(&self.ino).expect("open files exist");
            inode.current.truncate(len as usize);
            Ok(())
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            let s = self.disk.state();
            if s.failing_reads {
                return Err(io::Error::from_raw_os_error(5));
            }
            let data = &s.inodes[&self.ino].current;
            let start = offset as usize;
            let src = data
                .get(start..start + buf.len())
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            buf.copy_from_slice(src);
            Ok(())
        }

        fn len(&self) -> u64 {
            self.disk.state().inodes[&self.ino].current.len() as u64
        }
    }

    impl Disk for SimDisk {
        type File = SimFile;

        fn read(&self, path: &Path) -> io::Result<Option<FileBytes>> {
            Ok(self.contents(path).map(FileBytes::Owned))
        }

        fn create(&self, path: &Path) -> io::Result<SimFile> {
            let mut s = self.state();
            if !s.op() {
                return Err(power_off());
            }
            s.next += 1;
            let ino = s.next;
            s.inodes.insert(ino, Inode::default());
            s.names.insert(path.into(), ino);
            drop(s);
            Ok(SimFile {
                disk: self.clone(),
                ino,
            })
        }

        fn open_append(&self, path: &Path, len: u64) -> io::Result<SimFile> {
            let mut s = self.state();
            let ino = *s
                .names
                .get(path)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            s.inodes
                .get_mut(&ino)
                .expect("named inodes exist")
                .current
                .truncate(len as usize);
            drop(s);
            Ok(SimFile {
                disk: self.clone(),
                ino,
            })
        }

        fn open_read(&self, path: &Path) -> io::Result<SimFile> {
            let ino = *self
                .state()
                .names
                .get(path)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            Ok(SimFile {
                disk: self.clone(),
                ino,
            })
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            let mut s = self.state();
            if !s.op() {
                return Err(power_off());
            }
            let ino = s
                .names
                .remove(from)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            s.names.insert(to.into(), ino);
            Ok(())
        }

        fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
            let mut s = self.state();
            if !s.op() {
                return Err(power_off());
            }
            s.synced_names = s.names.clone();
            Ok(())
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            let mut s = self.state();
            if !s.op() {
                return Err(power_off());
            }
            s.names
                .remove(path)
                .map(drop)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }

        fn exists(&self, path: &Path) -> bool {
            self.state().names.contains_key(path)
        }

        fn lock(&self, _path: &Path) -> io::Result<StoreLock> {
            Ok(StoreLock(None))
        }
    }
}
