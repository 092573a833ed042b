//! Checkpoints: what the processor needs to resume exactly where an epoch ended.
//!
//! # What is promised
//!
//! - A checkpoint is written **atomically**: a reader finds either the whole of epoch N's
//!   checkpoint or none of it. It is written to `<epoch>.ckpt.tmp`, fsynced, renamed to
//!   `<epoch>.ckpt` and the directory fsynced; a leftover `.tmp` (a crash mid-write) is ignored
//!   and removed by the next write.
//! - A checkpoint holds one epoch's **source offsets** (the next offset to read, per topic
//!   partition), the **operator state** and watermarks as of that point, and the **staged sink
//!   writes** of the epoch (see [`crate::sink`]): files already written but not yet committed.
//!   Offsets, state and staged writes describe the same cut of the input, which is what makes
//!   replay after a crash produce every output exactly once.
//! - A checkpoint is **full** (`<epoch>.ckpt`: the whole operator state) or a **delta**
//!   (`<epoch>.delta.ckpt`: what the state changed since the epoch before, see
//!   [`super::changelog`]). [`CheckpointStore::chain`] names what a restart reads: the newest full
//!   checkpoint and every delta after it, which must all be there, epoch by epoch.
//! - A damaged file (bad magic, length or CRC) or a broken chain is never used silently: it is
//!   an error naming the file, since it means the disk lost fsynced data.
//! - The newest [`KEEP`] checkpoints are kept with the chains they need; older ones are deleted
//!   after each write.
//!
//! # File format
//!
//! ```text
//! byte  size  field
//!  0     8    magic    "SFCKPT01"
//!  8     8    len      payload length (little-endian)
//! 16     4    crc      CRC32C of the payload
//! 20   len    payload  MessagePack (named fields) of [`Checkpoint`]
//! ```

use crate::model::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SFCKPT01";
const SUFFIX: &str = ".ckpt";
const DELTA: &str = ".delta";
/// How many checkpoints stay on disk.
pub const KEEP: usize = 3;

/// What can go wrong reading or writing checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "checkpoint {path} is damaged ({why}); the disk lost fsynced data. Move the file away to resume from \
         the previous checkpoint (outputs stay exactly-once), or remove the checkpoints directory to start over"
    )]
    Damaged { path: PathBuf, why: String },
    #[error("checkpoint {path} cannot be encoded: {why}")]
    Encode { path: PathBuf, why: String },
}

impl CheckpointError {
    /// Whether trying again can help (a full or busy disk), as opposed to damage.
    pub fn retryable(&self) -> bool {
        matches!(self, CheckpointError::Io { .. })
    }
}

pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// One epoch's cut of the input, with the state and staged sink writes that go with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<S> {
    /// Epochs count from 1; epoch N covers the input between checkpoints N-1 and N.
    pub epoch: u64,
    /// Next offset to read, per topic, by partition.
    pub offsets: BTreeMap<String, Vec<u64>>,
    /// Operator state and watermarks.
    pub state: S,
    /// Staged writes per sink table (opaque to the checkpoint; see [`crate::sink`]).
    pub staged: BTreeMap<String, String>,
    /// Wall-clock time of writing, for people reading `status` output; never used for logic.
    pub written_at: Timestamp,
    /// Whether `state` holds the changes since the epoch before rather than the whole state.
    #[serde(default)]
    pub delta: bool,
}

/// A checkpoint on disk: its epoch and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stored {
    pub epoch: u64,
    pub delta: bool,
}

/// The checkpoints directory of one processor application.
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// Opens (creating) the directory.
    pub fn open(dir: &Path) -> Result<CheckpointStore> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(CheckpointStore { dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, at: Stored) -> PathBuf {
        let kind = if at.delta { DELTA } else { "" };
        self.dir.join(format!("{:020}{kind}{SUFFIX}", at.epoch))
    }

    /// Checkpoints on disk, oldest first.
    pub fn stored(&self) -> Result<Vec<Stored>> {
        let mut stored = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else { continue };
            let (stem, delta) = match stem.strip_suffix(DELTA) {
                Some(stem) => (stem, true),
                None => (stem, false),
            };
            if stem.len() == 20
                && let Ok(epoch) = stem.parse::<u64>()
            {
                stored.push(Stored { epoch, delta });
            }
        }
        stored.sort_unstable();
        Ok(stored)
    }

    /// What a restart reads, in order: the newest full checkpoint and every delta after it, up to
    /// the newest checkpoint (empty when there is none).
    pub fn chain(&self) -> Result<Vec<Stored>> {
        let stored = self.stored()?;
        let Some(last) = stored.last().copied() else { return Ok(Vec::new()) };
        let Some(base) = stored.iter().rposition(|s| !s.delta) else {
            return Err(CheckpointError::Damaged {
                path: self.path(last),
                why: "no full checkpoint precedes this delta".into(),
            });
        };
        let chain = stored[base..].to_vec();
        for (i, pair) in chain.windows(2).enumerate() {
            if pair[1].epoch != pair[0].epoch + 1 || !pair[1].delta {
                return Err(CheckpointError::Damaged {
                    path: self.path(chain[i + 1]),
                    why: format!(
                        "the chain from full checkpoint {} misses epoch {}",
                        chain[0].epoch,
                        pair[0].epoch + 1
                    ),
                });
            }
        }
        Ok(chain)
    }

    /// Reads one checkpoint.
    pub fn read<S: DeserializeOwned>(&self, at: Stored) -> Result<Checkpoint<S>> {
        let path = self.path(at);
        let mut bytes = Vec::new();
        File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io(&path))?;
        let damaged = |why: String| CheckpointError::Damaged { path: path.clone(), why };
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(damaged("not a streamify checkpoint (bad magic)".into()));
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
        let payload = &bytes[20..];
        if payload.len() as u64 != len {
            return Err(damaged(format!("payload is {} bytes, header says {len}", payload.len())));
        }
        if crc32c::crc32c(payload) != crc {
            return Err(damaged("CRC mismatch".into()));
        }
        let checkpoint: Checkpoint<S> =
            rmp_serde::from_slice(payload).map_err(|e| damaged(format!("cannot decode: {e}")))?;
        if (checkpoint.epoch, checkpoint.delta) != (at.epoch, at.delta) {
            return Err(damaged(format!(
                "holds epoch {} (delta: {}) under the name of epoch {} (delta: {})",
                checkpoint.epoch, checkpoint.delta, at.epoch, at.delta
            )));
        }
        Ok(checkpoint)
    }

    /// Writes a checkpoint atomically and durably, then deletes all but the newest [`KEEP`].
    pub fn write<S: Serialize>(&self, checkpoint: &Checkpoint<S>) -> Result<()> {
        let at = Stored { epoch: checkpoint.epoch, delta: checkpoint.delta };
        let path = self.path(at);
        let tmp = path.with_extension("ckpt.tmp");
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(io(&tmp))?;
        // The payload is encoded straight into the file (a state of hundreds of megabytes is not
        // copied into a buffer first); the header's length and CRC are filled in after it.
        let mut payload =
            Summing { inner: std::io::BufWriter::with_capacity(1 << 20, file), len: 0, crc: 0, failed: None };
        payload.write_all(&[0u8; 20]).map_err(io(&tmp))?;
        (payload.len, payload.crc) = (0, 0);
        if let Err(e) = rmp_serde::encode::write_named(&mut payload, checkpoint) {
            return Err(match payload.failed.take() {
                Some(source) => CheckpointError::Io { path: tmp, source },
                None => CheckpointError::Encode { path, why: e.to_string() },
            });
        }
        let mut header = [0u8; 20];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&payload.len.to_le_bytes());
        header[16..20].copy_from_slice(&payload.crc.to_le_bytes());
        let mut file = payload.inner.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).and_then(|_| file.write_all(&header)).map_err(io(&tmp))?;
        file.sync_data().map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        // An epoch written again after a restart is one checkpoint, of one kind.
        let other = self.path(Stored { delta: !at.delta, ..at });
        std::fs::remove_file(&other).or_else(ignore_missing).map_err(io(&other))?;
        sync_dir(&self.dir)?;
        self.prune()
    }

    /// Deletes what is older than the chain of the [`KEEP`]th newest checkpoint.
    fn prune(&self) -> Result<()> {
        let stored = self.stored()?;
        let oldest_kept = stored.len().saturating_sub(KEEP);
        // Its chain starts at the newest full checkpoint not after it.
        let base = stored.get(..=oldest_kept).and_then(|s| s.iter().rposition(|s| !s.delta)).unwrap_or(0);
        for &at in &stored[..base] {
            let path = self.path(at);
            std::fs::remove_file(&path).or_else(ignore_missing).map_err(io(&path))?;
        }
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))?.flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.ends_with(".ckpt.tmp")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

/// A writer that sums the length and CRC32C of what passes through it, and keeps the I/O error
/// the encoder would otherwise only describe.
struct Summing<W> {
    inner: W,
    len: u64,
    crc: u32,
    failed: Option<std::io::Error>,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n =
            self.inner.write(buf).inspect_err(|e| self.failed = Some(std::io::Error::new(e.kind(), e.to_string())))?;
        self.len += n as u64;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl CheckpointStore {
        fn epochs(&self) -> Result<Vec<u64>> {
            Ok(self.stored()?.into_iter().map(|s| s.epoch).collect())
        }

        /// The newest checkpoint, if any.
        fn latest<S: DeserializeOwned>(&self) -> Result<Option<Checkpoint<S>>> {
            self.stored()?.last().map(|&at| self.read(at)).transpose()
        }
    }

    fn checkpoint(epoch: u64) -> Checkpoint<Vec<(String, f64)>> {
        Checkpoint {
            epoch,
            offsets: BTreeMap::from([("transactions".to_string(), vec![epoch * 10, epoch * 20])]),
            state: vec![("customer-1".to_string(), 12.5)],
            staged: BTreeMap::from([("silver/transactions".to_string(), "{\"files\":[]}".to_string())]),
            written_at: Timestamp::from_micros(1_700_000_000_000_000),
            delta: false,
        }
    }

    fn delta(epoch: u64) -> Checkpoint<Vec<(String, f64)>> {
        Checkpoint { delta: true, ..checkpoint(epoch) }
    }

    #[test]
    fn the_chain_is_the_newest_full_checkpoint_and_its_deltas_and_pruning_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.chain().unwrap(), []);
        store.write(&checkpoint(1)).unwrap();
        for epoch in 2..=6 {
            store.write(&delta(epoch)).unwrap();
        }
        let at = |epoch, delta| Stored { epoch, delta };
        let chain = store.chain().unwrap();
        assert_eq!(chain, [at(1, false), at(2, true), at(3, true), at(4, true), at(5, true), at(6, true)]);
        assert_eq!(store.read::<Vec<(String, f64)>>(at(6, true)).unwrap(), delta(6));
        store.write(&checkpoint(7)).unwrap();
        store.write(&delta(8)).unwrap();
        assert_eq!(store.chain().unwrap(), [at(7, false), at(8, true)]);
        assert_eq!(store.epochs().unwrap(), (1..=8).collect::<Vec<_>>(), "epoch 6 is kept, so is its chain");
        store.write(&delta(9)).unwrap();
        assert_eq!(store.epochs().unwrap(), [7, 8, 9], "the newest {KEEP} need only the chain from 7");
        // Epoch 9 written again, whole (a restart after a crash that left it): one file remains.
        store.write(&checkpoint(9)).unwrap();
        assert_eq!(store.chain().unwrap(), [at(9, false)]);
        assert_eq!(store.stored().unwrap(), [at(7, false), at(8, true), at(9, false)]);
    }

    #[test]
    fn a_broken_chain_is_an_error_naming_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.write(&checkpoint(1)).unwrap();
        store.write(&delta(2)).unwrap();
        store.write(&delta(3)).unwrap();
        std::fs::remove_file(store.path(Stored { epoch: 2, delta: true })).unwrap();
        let error = store.chain().unwrap_err();
        assert!(error.to_string().contains("misses epoch 2"), "{error}");
        std::fs::remove_file(store.path(Stored { epoch: 1, delta: false })).unwrap();
        let error = store.chain().unwrap_err();
        assert!(error.to_string().contains("no full checkpoint precedes"), "{error}");
        assert!(error.to_string().contains("00000000000000000003.delta.ckpt"), "{error}");
    }

    #[test]
    fn write_then_read_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.latest::<Vec<(String, f64)>>().unwrap(), None);
        for epoch in 1..=5 {
            store.write(&checkpoint(epoch)).unwrap();
        }
        assert_eq!(store.latest().unwrap(), Some(checkpoint(5)));
        assert_eq!(store.epochs().unwrap(), vec![3, 4, 5], "only the newest {KEEP} stay");
    }

    #[test]
    fn a_leftover_tmp_file_is_ignored_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.write(&checkpoint(1)).unwrap();
        std::fs::write(dir.path().join(format!("{:020}.ckpt.tmp", 2)), b"SFCKPT01 torn").unwrap();
        assert_eq!(store.latest().unwrap(), Some(checkpoint(1)));
        store.write(&checkpoint(2)).unwrap();
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().path().to_string_lossy().ends_with("tmp")));
    }

    #[test]
    fn damage_is_reported_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.write(&checkpoint(7)).unwrap();
        let path = store.path(Stored { epoch: 7, delta: false });
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let error = store.latest::<Vec<(String, f64)>>().unwrap_err();
        assert!(matches!(error, CheckpointError::Damaged { .. }));
        assert!(error.to_string().contains("00000000000000000007.ckpt"), "{error}");
        std::fs::write(&path, b"junk").unwrap();
        assert!(store.latest::<Vec<(String, f64)>>().unwrap_err().to_string().contains("bad magic"));
    }
}
