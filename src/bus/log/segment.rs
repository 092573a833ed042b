//! Segment files: frame encoding and decoding, file names, listing and scanning. The layout is
//! specified in the [module docs](super).

use crate::bus::{BusError, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes before the key: crc, len, offset, key_len.
pub(crate) const HEADER: usize = 20;
/// `len` counts the bytes after the len field: offset + key_len + key + value.
const LEN_FIXED: usize = 12;
pub(crate) const SUFFIX: &str = ".log";
/// How much a scan reads at a time.
const SCAN_CHUNK: usize = 1 << 20;

/// The file name of the segment whose first record has offset `base`.
pub(crate) fn file_name(base: u64) -> String {
    format!("{base:020}{SUFFIX}")
}

pub(crate) fn path(dir: &Path, base: u64) -> PathBuf {
    dir.join(file_name(base))
}

/// The base offset a segment file name stands for, if it is one.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    pub base: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// The segments of a partition directory, by base offset. A segment deleted while listing is
/// left out.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentFile>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(BusError::io(dir))? {
        let entry = entry.map_err(BusError::io(dir))?;
        let Some(base) = entry.file_name().to_str().and_then(parse_name) else { continue };
        let path = entry.path();
        match entry.metadata() {
            Ok(meta) => segments.push(SegmentFile { base, path, bytes: meta.len() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BusError::Io { path, source: e }),
        }
    }
    segments.sort_by_key(|s| s.base);
    Ok(segments)
}

/// The size of the frame holding a record with this key and value.
pub(crate) fn frame_len(key: usize, value: usize) -> usize {
    HEADER + key + value
}

/// Appends a frame with offset and CRC left zero; [`seal`] fills them in at append time.
pub(crate) fn encode_unsealed(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let len = (LEN_FIXED + key.len() + value.len()) as u32;
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Writes `offset` into an encoded frame and computes its CRC.
pub(crate) fn seal(frame: &mut [u8], offset: u64) {
    frame[8..16].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32c::crc32c(&frame[4..]);
    frame[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// One decoded frame, borrowing its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub offset: u64,
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Bytes the frame takes in the file.
    pub size: usize,
}

/// Why the bytes at some position are not a valid frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Fewer bytes than the frame needs: a write in progress or torn.
    Incomplete,
    /// Complete but wrong; the text says how.
    Invalid(String),
}

/// Decodes the frame at the start of `bytes`, expected to hold record `expected`.
pub(crate) fn decode(bytes: &[u8], expected: u64) -> Result<Frame<'_>, Bad> {
    if bytes.len() < 8 {
        return Err(Bad::Incomplete);
    }
    let crc = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    if len < LEN_FIXED {
        return Err(Bad::Invalid(format!("frame length {len} is below the minimum {LEN_FIXED}")));
    }
    let size = 8 + len;
    if bytes.len() < size {
        return Err(Bad::Incomplete);
    }
    let frame = &bytes[..size];
    let actual = crc32c::crc32c(&frame[4..]);
    if actual != crc {
        return Err(Bad::Invalid(format!("CRC32C mismatch (stored {crc:08x}, computed {actual:08x})")));
    }
    let offset = u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes"));
    if offset != expected {
        return Err(Bad::Invalid(format!("record offset {offset} where {expected} was expected")));
    }
    let key_len = u32::from_le_bytes(frame[16..20].try_into().expect("4 bytes")) as usize;
    if key_len > len - LEN_FIXED {
        return Err(Bad::Invalid(format!("key length {key_len} is longer than the frame")));
    }
    Ok(Frame { offset, key: &frame[HEADER..HEADER + key_len], value: &frame[HEADER + key_len..], size })
}

/// The outcome of reading a segment from its start.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Valid frames from the start.
    pub records: u64,
    /// Bytes those frames take: where the first invalid or incomplete frame begins.
    pub valid_bytes: u64,
    /// Bytes in the file when scanned.
    pub file_bytes: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub stopped: Option<Bad>,
}

impl Scan {
    pub fn end_offset(&self, base: u64) -> u64 {
        base + self.records
    }
}

/// Reads a segment from its start, checking every frame, until the end or the first bad frame.
pub(crate) fn scan(path: &Path, base: u64) -> Result<Scan> {
    let mut file = File::open(path).map_err(BusError::io(path))?;
    scan_file(&mut file, path, base)
}

pub(crate) fn scan_file(file: &mut File, path: &Path, base: u64) -> Result<Scan> {
    scan_on(file, path, base, 0, 0)
}

/// [`scan_file`] resumed where an earlier scan of the same segment ended: `records` valid frames
/// in its first `valid_bytes` bytes. Only the bytes after them are read.
pub(crate) fn scan_on(file: &mut File, path: &Path, base: u64, records: u64, valid_bytes: u64) -> Result<Scan> {
    let file_bytes = file.metadata().map_err(BusError::io(path))?.len();
    file.seek(SeekFrom::Start(valid_bytes)).map_err(BusError::io(path))?;
    let mut buf = vec![0u8; SCAN_CHUNK.min(file_bytes.saturating_sub(valid_bytes) as usize).max(64)];
    let (mut filled, mut consumed, mut read) = (0usize, 0usize, valid_bytes);
    let (mut records, mut valid_bytes) = (records, valid_bytes);
    let done = |records, valid_bytes, stopped| Ok(Scan { records, valid_bytes, file_bytes, stopped });
    loop {
        match decode(&buf[consumed..filled], base + records) {
            Ok(frame) => {
                consumed += frame.size;
                valid_bytes += frame.size as u64;
                records += 1;
                continue;
            }
            Err(Bad::Incomplete) => {
                if valid_bytes == file_bytes {
                    return done(records, valid_bytes, None);
                }
                let available = filled - consumed;
                let needed = if available >= 8 {
                    8 + u32::from_le_bytes(buf[consumed + 4..consumed + 8].try_into().expect("4 bytes")) as u64
                } else {
                    8
                };
                if read >= file_bytes || valid_bytes + needed > file_bytes {
                    return done(records, valid_bytes, Some(Bad::Incomplete));
                }
                if needed as usize > buf.len() {
                    buf.resize((needed as usize).next_power_of_two(), 0);
                }
            }
            Err(bad) => return done(records, valid_bytes, Some(bad)),
        }
        // Keep the partial frame at the front and read more behind it.
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        consumed = 0;
        let want = ((buf.len() - filled) as u64).min(file_bytes - read) as usize;
        let n = read_some(file, &mut buf[filled..filled + want], path)?;
        if n == 0 {
            // The file shrank under us: what is left is incomplete.
            return done(records, valid_bytes, Some(Bad::Incomplete));
        }
        filled += n;
        read += n as u64;
    }
}

/// One `read`, retried on interruption.
pub(crate) fn read_some(file: &mut File, buf: &mut [u8], path: &Path) -> Result<usize> {
    loop {
        match file.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BusError::Io { path: path.to_path_buf(), source: e }),
        }
    }
}

/// fsyncs a directory so that a file created, renamed or deleted in it stays so.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(BusError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(key: &[u8], value: &[u8], offset: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_unsealed(&mut out, key, value);
        seal(&mut out, offset);
        out
    }

    #[test]
    fn frames_round_trip_byte_for_byte() {
        let bytes = frame(b"k", b"value", 7);
        assert_eq!(bytes.len(), frame_len(1, 5));
        assert_eq!(&bytes[4..8], &18u32.to_le_bytes());
        let decoded = decode(&bytes, 7).unwrap();
        assert_eq!((decoded.offset, decoded.key, decoded.value, decoded.size), (7, &b"k"[..], &b"value"[..], 26));
        // Deterministic: same input, same bytes.
        assert_eq!(bytes, frame(b"k", b"value", 7));
    }

    #[test]
    fn torn_and_damaged_frames_are_told_apart() {
        let bytes = frame(b"", b"abc", 0);
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 0), Err(Bad::Incomplete), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[21] ^= 1;
        assert!(matches!(decode(&flipped, 0), Err(Bad::Invalid(why)) if why.contains("CRC32C")));
        assert!(matches!(decode(&bytes, 1), Err(Bad::Invalid(why)) if why.contains("offset 0")));
        assert!(matches!(decode(&[0u8; 32], 0), Err(Bad::Invalid(_))));
    }

    #[test]
    fn names_sort_by_base_offset() {
        assert_eq!(file_name(81920), "00000000000000081920.log");
        assert_eq!(parse_name("00000000000000081920.log"), Some(81920));
        assert_eq!(parse_name("81920.log"), None);
        assert_eq!(parse_name("00000000000000081920.log.tmp"), None);
    }

    #[test]
    fn scan_stops_at_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for i in 0..3 {
            bytes.extend(frame(b"k", &vec![b'x'; 100 * i], 10 + i as u64));
        }
        let good = bytes.len() as u64;
        bytes.extend(&frame(b"k", b"torn", 13)[..9]);
        let path = dir.path().join(file_name(10));
        std::fs::write(&path, &bytes).unwrap();
        let scan = scan(&path, 10).unwrap();
        assert_eq!(scan.records, 3);
        assert_eq!(scan.valid_bytes, good);
        assert_eq!(scan.file_bytes, good + 9);
        assert_eq!(scan.stopped, Some(Bad::Incomplete));
    }
}
