//! The writer side of one partition: the lock, torn-tail recovery, appends, rolls and fsyncs.

use super::segment::{self, seal, sync_dir};
use super::{FsyncPolicy, Inner, lock, retention};
use crate::bus::{BusError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) const LOCK_FILE: &str = "writer.lock";

/// One partition of an open topic. The writer is opened (and the lock taken) on first append.
pub(crate) struct Partition {
    dir: PathBuf,
    writer: Mutex<Option<Writer>>,
}

impl Partition {
    pub fn new(dir: PathBuf) -> Self {
        Partition { dir, writer: Mutex::new(None) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the partition's writer for appends. A producer flushing several partitions takes
    /// them all first (in one global order, so flushes never deadlock) so that it can cut every
    /// one back if a later one fails.
    pub fn take(&self) -> Taken<'_> {
        Taken { guard: lock(&self.writer), dir: &self.dir, appended: None }
    }

    /// fsyncs the active segment if it was written to and not fsynced for `interval`.
    pub fn sync_if_due(&self, interval: Duration) -> Result<()> {
        let file = {
            let mut guard = lock(&self.writer);
            let Some(writer) = guard.as_mut() else { return Ok(()) };
            if !writer.dirty || writer.last_sync.elapsed() < interval {
                return Ok(());
            }
            writer.pending_sync()?
        };
        // fsync outside the lock so that appends go on meanwhile.
        file.run()
    }
}

/// A partition's writer, held: appends go through it, and the last one can be cut back.
pub(crate) struct Taken<'a> {
    guard: MutexGuard<'a, Option<Writer>>,
    dir: &'a Path,
    /// Where the last append began and the segments it created, to cut it back.
    appended: Option<(Start, Vec<u64>)>,
}

impl Taken<'_> {
    /// Appends the frames of `buf` (encoded unsealed, frame `i` ending at `ends[i]`), sealing
    /// them with their offsets. On error nothing of the batch stays in the partition (as far as
    /// the disk lets us cut it back). When the policy wants the batch durable now, returns the
    /// fsync still to do: the caller runs it (outside the lock, in parallel with the other
    /// partitions' fsyncs) before acknowledging.
    pub fn append(&mut self, buf: &mut [u8], ends: &[usize], inner: &Inner) -> Result<Option<PendingSync>> {
        let writer = self.writer()?;
        let start = writer.start();
        let mut created = Vec::new();
        let result = writer.write_frames(buf, ends, inner, &mut created);
        match result {
            Ok(sync) => {
                self.appended = Some((start, created));
                Ok(sync)
            }
            Err(error) => {
                self.cut_back(start, &created);
                Err(error)
            }
        }
    }

    /// Reserves the disk space the frames of `ends` take in the active segment (up to a roll),
    /// without writing or growing the file (`fallocate`, keep size): a flush reserves in every
    /// partition before it writes to any, so a full disk refuses it before a reader could see
    /// any of its records. Space is reserved [`RESERVE_CHUNK`] at a time (exactly what is needed
    /// when a chunk does not fit), so most flushes find theirs already reserved and make no
    /// system call. File systems without `fallocate` are written to unreserved.
    pub fn reserve(&mut self, ends: &[usize], inner: &Inner) -> Result<()> {
        use rustix::fs::{FallocateFlags, fallocate};
        use rustix::io::Errno;
        let writer = self.writer()?;
        let segment_bytes = inner.config().segment_bytes;
        let mut needed = writer.size;
        let mut frame_start = 0;
        for &end in ends {
            let len = (end - frame_start) as u64;
            if rolls_before(needed, len, segment_bytes) {
                break;
            }
            needed += len;
            frame_start = end;
        }
        if needed <= writer.reserved {
            return Ok(());
        }
        let reserve = |to: u64| fallocate(&writer.file, FallocateFlags::KEEP_SIZE, writer.size, to - writer.size);
        let mut to = (writer.size + RESERVE_CHUNK).min(segment_bytes).max(needed);
        let mut reserved = reserve(to);
        if reserved == Err(Errno::NOSPC) && to > needed {
            to = needed;
            reserved = reserve(to);
        }
        match reserved {
            Ok(()) | Err(Errno::OPNOTSUPP | Errno::NOSYS) => {
                writer.reserved = to;
                Ok(())
            }
            Err(errno) => Err(BusError::Io { path: writer.path(), source: errno.into() }),
        }
    }

    /// The partition's writer, opened (lock taken, tail recovered) on first use.
    fn writer(&mut self) -> Result<&mut Writer> {
        if self.guard.is_none() {
            *self.guard = Some(Writer::open(self.dir)?);
        }
        Ok(self.guard.as_mut().expect("just opened"))
    }

    /// Cuts back the last append (which succeeded), best effort: another partition of the same
    /// flush failed.
    pub fn undo(&mut self) {
        if let Some((start, created)) = self.appended.take() {
            self.cut_back(start, &created);
        }
    }

    fn cut_back(&mut self, (base, size): Start, created: &[u64]) {
        for &b in created {
            let _ = std::fs::remove_file(segment::path(self.dir, b));
        }
        let path = segment::path(self.dir, base);
        let cut = OpenOptions::new().write(true).open(&path).and_then(|f| {
            f.set_len(size)?;
            f.sync_data()
        });
        if let Err(error) = cut {
            tracing::error!(%error, file = %path.display(), "could not cut a failed append back; the next writer re-scans it");
        }
        // Reopen (and re-scan the tail) on next use rather than trust in-memory positions.
        *self.guard = None;
    }
}

/// The roll rule: a frame of `len` bytes goes to a new segment when the active one, holding
/// `size` bytes, is not empty and would pass `segment_bytes` with it.
fn rolls_before(size: u64, len: u64, segment_bytes: u64) -> bool {
    size > 0 && size + len > segment_bytes
}

/// Disk space a writer reserves ahead in its active segment (see [`Taken::reserve`]).
const RESERVE_CHUNK: u64 = 4 * 1024 * 1024;

/// The active segment's base offset and size before an append.
type Start = (u64, u64);

/// An fsync of a segment that has been written to, run outside the partition lock.
pub(crate) struct PendingSync {
    file: File,
    path: PathBuf,
}

impl PendingSync {
    pub fn run(self) -> Result<()> {
        self.file.sync_data().map_err(BusError::io(self.path))
    }

    #[cfg(test)]
    pub fn open(path: &Path) -> std::io::Result<PendingSync> {
        Ok(PendingSync { file: File::open(path)?, path: path.to_path_buf() })
    }

    /// One whose fsync fails: a pipe cannot be synced (EINVAL).
    #[cfg(test)]
    pub fn failing() -> PendingSync {
        let (_, writer) = std::io::pipe().expect("a pipe");
        let file = File::from(std::os::fd::OwnedFd::from(writer));
        PendingSync { file, path: "fsync-test".into() }
    }
}

/// The partition's one writer: holds `writer.lock` and the active segment open.
struct Writer {
    dir: PathBuf,
    /// Held for the writer's life; dropping it releases the flock.
    _lock: File,
    file: File,
    base: u64,
    /// Bytes in the active segment.
    size: u64,
    /// The offset the next appended record gets.
    next: u64,
    /// The active segment's bytes reserved on disk (written or `fallocate`d).
    reserved: u64,
    dirty: bool,
    last_sync: Instant,
}

impl Writer {
    /// Takes the partition lock and recovers the active segment: cuts a torn tail.
    fn open(dir: &Path) -> Result<Writer> {
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(BusError::io(&lock_path))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(BusError::Locked(dir.to_path_buf())),
            Err(TryLockError::Error(source)) => return Err(BusError::Io { path: lock_path, source }),
        }
        let segments = segment::list(dir)?;
        let (base, path) = match segments.last() {
            Some(last) => (last.base, last.path.clone()),
            None => {
                let path = segment::path(dir, 0);
                File::create(&path).map_err(BusError::io(&path))?;
                sync_dir(dir)?;
                (0, path)
            }
        };
        let mut file = OpenOptions::new().read(true).write(true).open(&path).map_err(BusError::io(&path))?;
        let scan = segment::scan_file(&mut file, &path, base)?;
        if scan.file_bytes > scan.valid_bytes {
            tracing::warn!(
                file = %path.display(),
                at = scan.valid_bytes,
                cut = scan.file_bytes - scan.valid_bytes,
                why = ?scan.stopped,
                "cutting a torn tail off the log (an interrupted write)"
            );
            file.set_len(scan.valid_bytes).map_err(BusError::io(&path))?;
            file.sync_data().map_err(BusError::io(&path))?;
        }
        file.seek(SeekFrom::Start(scan.valid_bytes)).map_err(BusError::io(&path))?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            _lock: lock_file,
            file,
            base,
            size: scan.valid_bytes,
            reserved: scan.valid_bytes,
            next: scan.end_offset(base),
            dirty: false,
            last_sync: Instant::now(),
        })
    }

    fn path(&self) -> PathBuf {
        segment::path(&self.dir, self.base)
    }

    fn start(&self) -> Start {
        (self.base, self.size)
    }

    fn write_frames(
        &mut self,
        buf: &mut [u8],
        ends: &[usize],
        inner: &Inner,
        created: &mut Vec<u64>,
    ) -> Result<Option<PendingSync>> {
        let config = inner.config();
        let mut run_start = 0;
        let mut frame_start = 0;
        for &end in ends {
            let run = (frame_start - run_start) as u64;
            let len = (end - frame_start) as u64;
            if rolls_before(self.size + run, len, config.segment_bytes) {
                self.write(&buf[run_start..frame_start])?;
                self.roll(inner)?;
                created.push(self.base);
                run_start = frame_start;
            }
            seal(&mut buf[frame_start..end], self.next);
            self.next += 1;
            frame_start = end;
        }
        self.write(&buf[run_start..frame_start])?;
        let due = match config.fsync {
            FsyncPolicy::Batch => true,
            FsyncPolicy::Interval => self.last_sync.elapsed() >= config.fsync_interval,
        };
        if due && self.dirty { Ok(Some(self.pending_sync()?)) } else { Ok(None) }
    }

    /// Hands out the fsync of the active segment; the writer counts as synced from now on.
    fn pending_sync(&mut self) -> Result<PendingSync> {
        let path = self.path();
        let file = self.file.try_clone().map_err(BusError::io(&path))?;
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(PendingSync { file, path })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.dirty = true;
        self.file.write_all(bytes).map_err(BusError::io(self.path()))?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(BusError::io(self.path()))?;
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Closes the active segment (fsynced) and starts a new one at the next offset.
    fn roll(&mut self, inner: &Inner) -> Result<()> {
        if self.reserved > self.size {
            // Give back the closing segment's unused reservation (best effort).
            use rustix::fs::{FallocateFlags, fallocate};
            let unused = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
            let _ = fallocate(&self.file, unused, self.size, self.reserved - self.size);
        }
        self.sync()?;
        let path = segment::path(&self.dir, self.next);
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                BusError::Corrupt {
                    path: path.clone(),
                    position: 0,
                    why: "a segment past the end of the partition exists; move it away".into(),
                }
            } else {
                BusError::Io { path: path.clone(), source }
            }
        })?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.base = self.next;
        self.size = 0;
        self.reserved = 0;
        if let Err(error) = retention::enforce_partition(&self.dir, inner.config(), inner.clock()) {
            tracing::warn!(%error, dir = %self.dir.display(), "log retention failed; it runs again at the next roll");
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.dirty {
            let _ = self.file.sync_data();
        }
    }
}
