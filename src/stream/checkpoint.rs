//! Checkpoints: what the processor needs to resume exactly where an epoch ended.
//!
//! # What is promised
//!
//! - A checkpoint is written **atomically**: a reader finds either the whole of epoch N's
//!   checkpoint or none of it. It is written to `<epoch>.ckpt.tmp`, fsynced, renamed to
//!   `<epoch>.ckpt` and the directory fsynced; a leftover `.tmp` (a crash mid-write) is ignored
//!   and removed when the store is next opened.
//! - A checkpoint holds one epoch's **source offsets** (the next offset to read, per topic
//!   partition), the **operator state** and watermarks as of that point, and the **staged sink
//!   writes** of the epoch (see [`crate::sink`]): files already written but not yet committed.
//!   Offsets, state and staged writes describe the same cut of the input, which is what makes
//!   replay after a crash produce every output exactly once.
//! - The operator state is never held in memory as bytes: the processing thread encodes it
//!   straight into the checkpoint's temporary file (a [`Draft`], page cache only), and the
//!   committer adds the rest, fsyncs and renames it ([`CheckpointStore::write`]). A restart
//!   decodes each operator's image straight from the file.
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
//! byte        size        field
//!  0           8          magic      "SFCKPT02"
//!  8           8          len        meta length (little-endian)
//! 16           4          crc        CRC32C of meta
//! 20           8          state_len  state length (little-endian)
//! 28           4          state_crc  CRC32C of state
//! 32      state_len       state      the operators' images, one after another
//! 32+state_len  len       meta       MessagePack (named fields) of [`Checkpoint`]; its state
//!                                    says where in `state` each operator's image lies
//! ```
//!
//! Version 1 files (magic "SFCKPT01": magic, len, crc, then the meta, which holds the images
//! itself) are still read.

use crate::model::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SFCKPT02";
const MAGIC_V1: &[u8; 8] = b"SFCKPT01";
const HEADER: usize = 32;
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
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
}

/// A checkpoint being written: the processing thread encodes the operators' images into it
/// (into the page cache: nothing waits for the disk), then hands it to the committer, which
/// finishes it with [`CheckpointStore::write`]. Dropped unfinished, it leaves a `.tmp` file that
/// no reader uses.
pub struct Draft {
    at: Stored,
    tmp: PathBuf,
    out: BufWriter<Summing<File>>,
}

impl Draft {
    /// The epoch and kind of the checkpoint being written.
    pub fn at(&self) -> Stored {
        self.at
    }

    /// Bytes of state written so far: where the next image starts.
    pub fn position(&self) -> u64 {
        self.out.get_ref().len + self.out.buffer().len() as u64
    }

    /// An image that could not be encoded, with the file's name.
    pub fn encode_error(&self, why: String) -> CheckpointError {
        CheckpointError::Encode { path: self.tmp.clone(), why }
    }

    /// The I/O error behind a failed write, with the file's name (an encoder reports it only as
    /// text).
    pub fn failure(&mut self) -> Option<CheckpointError> {
        let source = self.out.get_mut().failed.take()?;
        Some(CheckpointError::Io { path: self.tmp.clone(), source })
    }
}

impl Write for Draft {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The state section of a checkpoint read back, from which operators decode their images.
pub struct StateSection {
    path: PathBuf,
    /// None for a version 1 file, whose images are in the meta.
    file: Option<File>,
    len: u64,
}

impl StateSection {
    /// The `len` bytes at `offset` of the section, buffered.
    pub fn image(&self, offset: u64, len: u64) -> Result<impl Read + '_> {
        let damaged = |why: String| CheckpointError::Damaged { path: self.path.clone(), why };
        let file = match &self.file {
            Some(file) if offset.checked_add(len).is_some_and(|end| end <= self.len) => file,
            _ => return Err(damaged(format!("an image at {offset}+{len} lies outside the state section"))),
        };
        let mut reader = file;
        reader.seek(SeekFrom::Start(HEADER as u64 + offset)).map_err(io(&self.path))?;
        Ok(BufReader::with_capacity(1 << 16, reader.take(len)))
    }
}

impl CheckpointStore {
    /// Opens (creating) the directory and removes what a crash mid-write left there.
    pub fn open(dir: &Path) -> Result<CheckpointStore> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for entry in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.ends_with(".ckpt.tmp")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
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

    /// Reads one checkpoint: its meta, checked, and its state section, checked whole (CRC) before
    /// any image is decoded from it.
    pub fn read<S: DeserializeOwned>(&self, at: Stored) -> Result<(Checkpoint<S>, StateSection)> {
        let path = self.path(at);
        let damaged = |why: String| CheckpointError::Damaged { path: path.clone(), why };
        let mut file = File::open(&path).map_err(io(&path))?;
        let size = file.metadata().map_err(io(&path))?.len();
        let mut header = Vec::with_capacity(HEADER);
        (&mut file).take(HEADER as u64).read_to_end(&mut header).map_err(io(&path))?;
        let got = header.len();
        let le64 = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let le32 = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let (meta_at, len, crc, section) = match &header[..8.min(got)] {
            m if m == MAGIC && got == HEADER => {
                let (state_len, state_crc) = (le64(20), le32(28));
                if HEADER as u64 + state_len > size {
                    return Err(damaged(format!("the file ends inside its state ({state_len} bytes)")));
                }
                if crc_of(&mut file, state_len).map_err(io(&path))? != state_crc {
                    return Err(damaged("state CRC mismatch".into()));
                }
                let section = StateSection { path: path.clone(), file: None, len: state_len };
                (HEADER as u64 + state_len, le64(8), le32(16), section)
            }
            m if m == MAGIC_V1 && got >= 20 => {
                (20, le64(8), le32(16), StateSection { path: path.clone(), file: None, len: 0 })
            }
            _ => return Err(damaged("not a streamify checkpoint (bad magic)".into())),
        };
        if meta_at + len != size {
            return Err(damaged(format!("the file is {size} bytes, its header says {}", meta_at + len)));
        }
        let mut meta = vec![0u8; len as usize];
        file.seek(SeekFrom::Start(meta_at)).and_then(|_| file.read_exact(&mut meta)).map_err(io(&path))?;
        if crc32c::crc32c(&meta) != crc {
            return Err(damaged("CRC mismatch".into()));
        }
        let checkpoint: Checkpoint<S> =
            rmp_serde::from_slice(&meta).map_err(|e| damaged(format!("cannot decode: {e}")))?;
        if (checkpoint.epoch, checkpoint.delta) != (at.epoch, at.delta) {
            return Err(damaged(format!(
                "holds epoch {} (delta: {}) under the name of epoch {} (delta: {})",
                checkpoint.epoch, checkpoint.delta, at.epoch, at.delta
            )));
        }
        let file = (section.len > 0).then_some(file);
        Ok((checkpoint, StateSection { file, ..section }))
    }

    /// Starts the checkpoint of epoch `at`, for the operators' images.
    pub fn draft(&self, at: Stored) -> Result<Draft> {
        let tmp = self.path(at).with_extension("ckpt.tmp");
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(io(&tmp))?;
        file.write_all(&[0u8; HEADER]).map_err(io(&tmp))?;
        let out = BufWriter::with_capacity(1 << 20, Summing { inner: file, len: 0, crc: 0, failed: None });
        Ok(Draft { at, tmp, out })
    }

    /// Finishes `draft` as `checkpoint` atomically and durably, then deletes all but the newest
    /// [`KEEP`] checkpoints and the chains they need.
    pub fn write<S: Serialize>(&self, checkpoint: &Checkpoint<S>, draft: Draft) -> Result<()> {
        let at = Stored { epoch: checkpoint.epoch, delta: checkpoint.delta };
        let (path, tmp) = (self.path(at), draft.tmp);
        if draft.at != at {
            return Err(CheckpointError::Encode { path, why: format!("its state was drafted as {:?}", draft.at) });
        }
        let state = draft.out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        let meta = rmp_serde::to_vec_named(checkpoint)
            .map_err(|e| CheckpointError::Encode { path: path.clone(), why: e.to_string() })?;
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&(meta.len() as u64).to_le_bytes());
        header[16..20].copy_from_slice(&crc32c::crc32c(&meta).to_le_bytes());
        header[20..28].copy_from_slice(&state.len.to_le_bytes());
        header[28..32].copy_from_slice(&state.crc.to_le_bytes());
        let mut file = state.inner;
        file.write_all(&meta)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&header))
            .and_then(|_| file.sync_data())
            .map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        // An epoch written again after a restart is one checkpoint, of one kind.
        let other = self.path(Stored { delta: !at.delta, ..at });
        std::fs::remove_file(&other).or_else(ignore_missing).map_err(io(&other))?;
        sync_dir(&self.dir)?;
        self.prune()
    }

    /// Deletes what is older than the chain of the [`KEEP`]th newest checkpoint. Temporary files
    /// stay: the processing thread may be drafting the next epoch's.
    fn prune(&self) -> Result<()> {
        let stored = self.stored()?;
        let oldest_kept = stored.len().saturating_sub(KEEP);
        // Its chain starts at the newest full checkpoint not after it.
        let base = stored.get(..=oldest_kept).and_then(|s| s.iter().rposition(|s| !s.delta)).unwrap_or(0);
        for &at in &stored[..base] {
            let path = self.path(at);
            std::fs::remove_file(&path).or_else(ignore_missing).map_err(io(&path))?;
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

/// The CRC32C of the next `len` bytes of `reader`.
fn crc_of(reader: &mut impl Read, len: u64) -> std::io::Result<u32> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut left, mut crc) = (len, 0);
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        reader.read_exact(&mut buf[..n])?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        left -= n as u64;
    }
    Ok(crc)
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
            self.stored()?.last().map(|&at| Ok(self.read(at)?.0)).transpose()
        }

        /// Writes `checkpoint` with `state` as its state section.
        fn put<S: Serialize>(&self, checkpoint: &Checkpoint<S>, state: &[u8]) -> Result<()> {
            let mut draft = self.draft(Stored { epoch: checkpoint.epoch, delta: checkpoint.delta })?;
            draft.write_all(state).unwrap();
            self.write(checkpoint, draft)
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
        store.put(&checkpoint(1), b"images").unwrap();
        for epoch in 2..=6 {
            store.put(&delta(epoch), b"images").unwrap();
        }
        let at = |epoch, delta| Stored { epoch, delta };
        let chain = store.chain().unwrap();
        assert_eq!(chain, [at(1, false), at(2, true), at(3, true), at(4, true), at(5, true), at(6, true)]);
        assert_eq!(store.read::<Vec<(String, f64)>>(at(6, true)).unwrap().0, delta(6));
        store.put(&checkpoint(7), b"images").unwrap();
        store.put(&delta(8), b"images").unwrap();
        assert_eq!(store.chain().unwrap(), [at(7, false), at(8, true)]);
        assert_eq!(store.epochs().unwrap(), (1..=8).collect::<Vec<_>>(), "epoch 6 is kept, so is its chain");
        store.put(&delta(9), b"images").unwrap();
        assert_eq!(store.epochs().unwrap(), [7, 8, 9], "the newest {KEEP} need only the chain from 7");
        // Epoch 9 written again, whole (a restart after a crash that left it): one file remains.
        store.put(&checkpoint(9), b"images").unwrap();
        assert_eq!(store.chain().unwrap(), [at(9, false)]);
        assert_eq!(store.stored().unwrap(), [at(7, false), at(8, true), at(9, false)]);
    }

    #[test]
    fn a_broken_chain_is_an_error_naming_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.put(&checkpoint(1), b"images").unwrap();
        store.put(&delta(2), b"images").unwrap();
        store.put(&delta(3), b"images").unwrap();
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
            store.put(&checkpoint(epoch), b"images").unwrap();
        }
        assert_eq!(store.latest().unwrap(), Some(checkpoint(5)));
        assert_eq!(store.epochs().unwrap(), vec![3, 4, 5], "only the newest {KEEP} stay");
    }

    #[test]
    fn a_leftover_tmp_file_is_ignored_and_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.put(&checkpoint(1), b"images").unwrap();
        std::fs::write(dir.path().join(format!("{:020}.ckpt.tmp", 2)), b"SFCKPT02 torn").unwrap();
        assert_eq!(store.latest().unwrap(), Some(checkpoint(1)));
        // The next epoch's draft, begun before this one is written, survives the write.
        let draft = store.draft(Stored { epoch: 3, delta: true }).unwrap();
        store.put(&checkpoint(2), b"images").unwrap();
        store.write(&delta(3), draft).unwrap();
        assert_eq!(store.latest().unwrap(), Some(delta(3)));
        std::fs::write(dir.path().join(format!("{:020}.delta.ckpt.tmp", 4)), b"torn").unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.epochs().unwrap(), [1, 2, 3]);
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().path().to_string_lossy().ends_with("tmp")));
    }

    #[test]
    fn images_are_read_back_from_the_state_section() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let mut draft = store.draft(Stored { epoch: 4, delta: false }).unwrap();
        assert_eq!(draft.position(), 0);
        draft.write_all(b"first image").unwrap();
        assert_eq!(draft.position(), 11);
        draft.write_all(&vec![7u8; 3 << 20]).unwrap();
        assert_eq!(draft.position(), 11 + (3 << 20));
        store.write(&checkpoint(4), draft).unwrap();
        let (read, section) = store.read::<Vec<(String, f64)>>(Stored { epoch: 4, delta: false }).unwrap();
        assert_eq!(read, checkpoint(4));
        let mut first = String::new();
        section.image(0, 11).unwrap().read_to_string(&mut first).unwrap();
        assert_eq!(first, "first image");
        let mut second = Vec::new();
        section.image(11, 3 << 20).unwrap().read_to_end(&mut second).unwrap();
        assert!(second.len() == 3 << 20 && second.iter().all(|&b| b == 7));
        let error = section.image(12, 3 << 20).err().unwrap().to_string();
        assert!(error.contains("outside the state section"), "{error}");
    }

    #[test]
    fn version_1_files_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let payload = rmp_serde::to_vec_named(&checkpoint(2)).unwrap();
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend((payload.len() as u64).to_le_bytes());
        bytes.extend(crc32c::crc32c(&payload).to_le_bytes());
        bytes.extend(&payload);
        std::fs::write(store.path(Stored { epoch: 2, delta: false }), bytes).unwrap();
        let (read, section) = store.read::<Vec<(String, f64)>>(Stored { epoch: 2, delta: false }).unwrap();
        assert_eq!(read, checkpoint(2));
        assert!(section.image(0, 1).is_err(), "a version 1 file has no state section");
    }

    #[test]
    fn damage_is_reported_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.put(&checkpoint(7), b"images").unwrap();
        let path = store.path(Stored { epoch: 7, delta: false });
        let good = std::fs::read(&path).unwrap();
        for (at, why) in [(good.len() - 1, "CRC mismatch"), (HEADER + 2, "state CRC mismatch")] {
            let mut bytes = good.clone();
            bytes[at] ^= 0xff;
            std::fs::write(&path, &bytes).unwrap();
            let error = store.latest::<Vec<(String, f64)>>().unwrap_err();
            assert!(matches!(error, CheckpointError::Damaged { .. }));
            assert!(error.to_string().contains("00000000000000000007.ckpt"), "{error}");
            assert!(error.to_string().contains(why), "{error}");
        }
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(store.latest::<Vec<(String, f64)>>().unwrap_err().to_string().contains("header says"));
        std::fs::write(&path, b"junk").unwrap();
        assert!(store.latest::<Vec<(String, f64)>>().unwrap_err().to_string().contains("bad magic"));
    }
}
