//! The embedded log: the default bus, a directory of append-only segment files.
//!
//! This documentation is the file-format specification; the code implements exactly this.
//! Integers are little-endian. "fsync" means `File::sync_data` on a file, `File::sync_all` on a
//! directory.
//!
//! # Directory layout
//!
//! ```text
//! <log-dir>/                          <data-dir>/log
//!   <topic>/                          one per topic; names as [`check_topic_name`] allows
//!     <partition>/                    0 .. N-1 in decimal, all created together
//!       00000000000000000000.log      segments, named by base offset (20 digits, zero-padded)
//!       00000000000000081920.log
//!       writer.lock                   held (flock, exclusive) by the partition's one writer
//!   .groups/                          consumer groups (a name no topic can have)
//!     <group>.offsets                 committed offsets of one group
//!     <group>.lock                    serialises commits of one group across processes
//! ```
//!
//! A topic is created by building `<log-dir>/.tmp-<topic>-<pid>-<n>/{0..N-1}` and renaming it to
//! `<topic>` (then fsync of `<log-dir>`), so a topic always has all its partitions or none. If the
//! rename finds the topic already there (another process won the race) the temporary directory is
//! removed and the existing topic is used. The partition count of an existing topic is the number
//! of partition directories, whatever `partitions` the opener asked for.
//!
//! Group names become file names with every byte outside `[a-z0-9_-]` written as `%XX` (hex), so
//! any group name is accepted and maps to exactly one file.
//!
//! # Segments and records
//!
//! A segment file is a plain sequence of frames, no file header. Its name is the offset of its
//! first record (its *base offset*); offsets are dense, so a segment's records are base, base+1,
//! ... and the next segment's base is the end of this one. One frame:
//!
//! ```text
//! byte  size  field
//!  0     4    crc      CRC32C (Castagnoli) of bytes 4 .. 8+len of this frame
//!  4     4    len      bytes after this field: 12 + key_len + value_len (so len >= 12)
//!  8     8    offset   this record's offset in the partition
//! 16     4    key_len
//! 20     k    key
//! 20+k   v    value    (v = len - 12 - k)
//! ```
//!
//! A frame is *valid* when all `8 + len` bytes are present, `12 <= len`, `key_len <= len - 12`,
//! the CRC matches and `offset` is the one expected at that place (base + index in the file).
//! Records carry no timestamp or other wall-clock data: the same appends produce byte-identical
//! segment files, whichever machine or day they ran on. A record's size for
//! `max_record_bytes` is `key_len + value_len`; a larger one is refused with
//! [`BusError::TooLarge`] at `send`.
//!
//! **Roll rule**: before a frame is appended, if the active (last) segment is not empty and the
//! frame would take it past `segment_bytes`, the active segment is fsynced and closed and a new
//! empty segment named by the next offset is created (then the partition directory is fsynced).
//! So segments hold at most `segment_bytes` bytes, except a segment holding one record larger
//! than that. Segments other than the last are *closed*: never written again, only deleted.
//!
//! **Index**: none on disk. The writer keeps the end of its partition in memory; a reader
//! positions itself by picking the segment from the file names and scanning frames from the
//! segment start (a scan reads headers and checks CRCs at memory speed, about 30 ms for a full
//! 128 MiB segment). Consumers read sequentially, so this happens only on open and `seek`.
//!
//! # Appending and the fsync window
//!
//! The producer's [`send`](crate::bus::Producer::send) encodes the frame into a per-partition
//! buffer; its [`flush`](crate::bus::Producer::flush) takes every touched partition,
//! assigns offsets, computes CRCs, and writes the batch with one `write_all` per segment touched.
//! Then, per [`FsyncPolicy`]:
//!
//! - `batch`: every segment written is fsynced before `flush` returns (the partitions' fsyncs
//!   run in parallel, after all the writes). Acknowledged records survive a process crash and a
//!   power loss.
//! - `interval`: `flush` fsyncs only when the partition's last fsync is older than
//!   `fsync_interval`; a background thread fsyncs every partition written since, every
//!   `fsync_interval`. Acknowledged records survive a process crash (they are in the kernel's
//!   page cache); a power loss may lose the last `fsync_interval` of them.
//!
//! A segment roll always fsyncs the closing segment and the directory, under both policies.
//! A flush takes the writers of every partition it touches before writing (in one global order,
//! topic name then partition, so concurrent flushes cannot deadlock) and holds them until all
//! are written. Before writing it reserves the space its frames take in each partition's active
//! segment (`fallocate` keeping the file size, so readers see nothing; 4 MiB ahead at a time, so
//! most flushes find it reserved already), so a full disk refuses the flush before any of it is
//! readable. If a write still fails (on a new segment after a roll, or a file system without
//! `fallocate`), every partition of that flush is cut back to where its batch began. Either way
//! `flush` returns the error with every record still buffered: a failed flush leaves nothing in
//! the log, and a retried `flush` writes each record once. (Only in the second case could a
//! reader have read a frame in the instant between its write and the cut.) If an fsync fails,
//! `flush` returns the error and those records are not acknowledged, though they may persist (as
//! after a crash).
//!
//! # Recovery after a torn write
//!
//! A crash can leave the tail of the last segment of a partition torn: a partial frame, a frame
//! with a bad CRC, zeroes, garbage. When a writer takes a partition (its first append, under the
//! partition lock) it scans the last segment from its start and cuts the file (`set_len`, fsync)
//! at the end of the last valid frame; everything from the first invalid frame on is dropped.
//! Nothing acknowledged is ever cut: acknowledged frames are complete and valid, and a writer only
//! appends after them. Closed segments are never scanned or cut on open (they were fsynced
//! before the next segment was created); damage inside one is corruption, reported by [`verify`]
//! and by readers as [`BusError::Corrupt`].
//!
//! # Retention
//!
//! Whole closed segments are deleted, oldest first; the last segment of a partition is never
//! deleted. With `retention_bytes > 0`, the oldest segments go while a partition's segments
//! together exceed it. With `retention_age > 0`, a closed segment goes once `clock.now()` is more
//! than `retention_age` past the segment file's modification time (its last append). Retention
//! runs on open, after each segment roll and on [`Log::enforce_retention`], with the clock given
//! to [`Log::open_with_clock`] (the system clock for [`Log::open`]). It works from a directory
//! listing and treats a segment already gone as deleted, so any process may run it at any time.
//! A consumer positioned before the earliest retained offset moves to it.
//!
//! # Consumer offsets
//!
//! `<group>.offsets` is text:
//!
//! ```text
//! streamify-offsets 1
//! <topic> <partition> <next-offset>      one line per partition, sorted
//! crc32c <8 hex digits>                  CRC32C of every byte before this line
//! ```
//!
//! A commit takes `<group>.lock`, reads the file, merges the new offsets, writes
//! `<group>.offsets.tmp`, fsyncs it, renames it over `<group>.offsets` and fsyncs `.groups/`. A
//! crash leaves either the old or the new file; a leftover `.tmp` is ignored and overwritten.
//!
//! # Several processes
//!
//! - One writer per partition: a process takes `writer.lock` (non-blocking `flock`) on its first
//!   append to a partition and keeps it until its last [`Log`] handle is dropped. A second writer
//!   gets [`BusError::Locked`]. Within a process, producers share the partition through a mutex.
//! - Readers take no lock, in any number of processes. They return only complete, valid frames;
//!   an incomplete or invalid frame at the end of the last segment is "not yet" and is read again
//!   on the next poll (so a tail cut and rewritten by a recovering writer is read correctly). An
//!   invalid frame in a closed segment is [`BusError::Corrupt`].
//! - Records are visible to readers once `flush` has written them, which is just before it
//!   returns (under `batch`, just before the fsync).
//! - Only a writer holding the partition lock cuts a torn tail. [`stats`] and [`verify`] never
//!   change anything.

mod consumer;
mod ends;
#[cfg(test)]
mod model_test;
mod offsets;
mod partition;
mod producer;
mod retention;
mod segment;
mod stats;
mod syncs;
#[cfg(test)]
mod tests;
mod topic;
mod verify;

pub use consumer::LogConsumer;
pub use ends::{EndOffsets, Ends, lag};
pub use producer::LogProducer;
pub use retention::RetentionReport;
pub use stats::{GroupPartitionStats, GroupStats, LogStats, PartitionStats, TopicStats, stats};
pub use verify::{VerifyReport, verify};

use super::{BusError, Result, check_topic_name};
use crate::model::{Clock, SystemClock};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use topic::Topic;

/// When appended records are forced to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// fsync before every flush returns.
    Batch,
    /// fsync at most every `fsync_interval`.
    Interval,
}

/// `[bus.log]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogConfig {
    /// A partition's active segment rolls over to a new file past this size.
    pub segment_bytes: u64,
    /// When appended records are forced to disk.
    pub fsync: FsyncPolicy,
    /// The fsync window under [`FsyncPolicy::Interval`].
    #[serde(with = "crate::config::duration")]
    pub fsync_interval: Duration,
    /// Per-partition size cap; 0 keeps everything.
    pub retention_bytes: u64,
    /// Closed segments older than this are deleted; zero keeps everything.
    #[serde(with = "crate::config::duration")]
    pub retention_age: Duration,
    /// Largest accepted record (key + value bytes).
    pub max_record_bytes: usize,
}

impl LogConfig {
    pub fn check(&self, problems: &mut Vec<String>) {
        if self.segment_bytes < 4096 {
            problems.push(format!("bus.log.segment_bytes = {}: use at least 4096", self.segment_bytes));
        }
        if self.segment_bytes > u32::MAX as u64 {
            problems.push(format!("bus.log.segment_bytes = {}: use at most {}", self.segment_bytes, u32::MAX));
        }
        if self.max_record_bytes == 0 || self.max_record_bytes as u64 > self.segment_bytes {
            problems.push(format!(
                "bus.log.max_record_bytes = {}: use 1 to segment_bytes ({})",
                self.max_record_bytes, self.segment_bytes
            ));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval.is_zero() {
            problems.push("bus.log.fsync_interval = \"0s\": use a positive duration, or fsync = \"batch\"".into());
        }
    }
}

impl Default for LogConfig {
    /// The values of `config/default.toml`.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 128 << 20,
            fsync: FsyncPolicy::Batch,
            fsync_interval: Duration::from_secs(1),
            retention_bytes: 0,
            retention_age: Duration::from_secs(7 * 86_400),
            max_record_bytes: 1 << 20,
        }
    }
}

/// A handle on an embedded log directory; clones share it.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    dir: PathBuf,
    partitions: u32,
    config: LogConfig,
    clock: Arc<dyn Clock>,
    topics: Mutex<HashMap<String, Arc<Topic>>>,
}

impl Log {
    /// Opens or creates the log in `dir`; new topics get `partitions` partitions. Runs retention
    /// with the system clock.
    pub fn open(dir: &Path, partitions: u32, config: &LogConfig) -> Result<Log> {
        Log::open_with_clock(dir, partitions, config, Arc::new(SystemClock))
    }

    /// [`Log::open`] with the clock that retention ages segments by.
    pub fn open_with_clock(dir: &Path, partitions: u32, config: &LogConfig, clock: Arc<dyn Clock>) -> Result<Log> {
        let mut problems = Vec::new();
        config.check(&mut problems);
        if partitions == 0 {
            problems.push("bus.partitions = 0: use at least 1".into());
        }
        if !problems.is_empty() {
            return Err(BusError::Unavailable(format!("invalid log settings: {}", problems.join("; "))));
        }
        std::fs::create_dir_all(dir).map_err(BusError::io(dir))?;
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            partitions,
            config: config.clone(),
            clock,
            topics: Mutex::new(HashMap::new()),
        });
        if config.fsync == FsyncPolicy::Interval {
            spawn_syncer(Arc::downgrade(&inner), config.fsync_interval);
        }
        let log = Log { inner };
        log.enforce_retention(&*log.inner.clock)?;
        Ok(log)
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }

    pub fn producer(&self) -> LogProducer {
        LogProducer::new(self.clone())
    }

    /// A consumer of `topics` in `group`, starting at the group's committed offsets (or the
    /// earliest retained offset). Topics that do not exist yet are created.
    pub fn consumer(&self, group: &str, topics: &[&str]) -> Result<LogConsumer> {
        LogConsumer::new(self.clone(), group, topics)
    }

    /// Deletes closed segments past the retention limits, in every topic on disk.
    pub fn enforce_retention(&self, clock: &dyn Clock) -> Result<RetentionReport> {
        retention::enforce_all(&self.inner.dir, &self.inner.config, clock)
    }

    /// Figures for every topic and group (see [`stats`]).
    pub fn stats(&self) -> Result<LogStats> {
        stats(&self.inner.dir)
    }

    /// The topic, created with the default partition count if it is not on disk yet.
    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        check_topic_name(name)?;
        if let Some(topic) = self.topics().get(name) {
            return Ok(topic.clone());
        }
        let topic = Arc::new(Topic::open_or_create(&self.inner.dir, name, self.inner.partitions)?);
        Ok(self.topics().entry(name.to_string()).or_insert(topic).clone())
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, Arc<Topic>>> {
        lock(&self.inner.topics)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl Inner {
    pub(crate) fn config(&self) -> &LogConfig {
        &self.config
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }
}

/// A poisoned mutex only means another thread panicked while holding it; the state it guards is
/// kept consistent by each critical section, so carry on.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `interval` policy's background fsync: every `interval`, fsyncs each partition written
/// since its last fsync. Stops when the log is dropped.
fn spawn_syncer(inner: Weak<Inner>, interval: Duration) {
    let spawned = std::thread::Builder::new().name("streamify-log-fsync".into()).spawn(move || {
        loop {
            std::thread::sleep(interval.min(Duration::from_millis(200)));
            let Some(inner) = inner.upgrade() else { return };
            let topics: Vec<Arc<Topic>> = lock(&inner.topics).values().cloned().collect();
            for topic in topics {
                for partition in topic.partitions() {
                    if let Err(error) = partition.sync_if_due(interval) {
                        tracing::warn!(%error, "background fsync of the log failed; retrying next interval");
                    }
                }
            }
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not start the log's background fsync; flushes fsync on their own");
    }
}
