//! The reader side of a file: lines (JSON) or rows (CSV) cut into chunks for the decoders.
//!
//! Runs on its own thread. JSON lines without `--schema` are held back until a line reveals the
//! schema (at most [`PROBE_LINES`] lines or [`PROBE_BYTES`] bytes), so nothing of a file whose
//! schema cannot be told is ever sent.

use super::csv::{parse_header, read_row};
use super::lines::{LineInfo, LineReader, is_blank};
use super::pipeline::{Chunk, Decode, LineRef};
use super::source::{kind_from_header, kind_from_json};
use super::{Format, IngestError};
use crate::model::{CsvLayout, EventKind};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

/// Lines looked at to detect a JSON file's schema.
pub(crate) const PROBE_LINES: usize = 1000;
/// Bytes looked at to detect a JSON file's schema.
pub(crate) const PROBE_BYTES: usize = 8 << 20;

const CHUNK_LINES: usize = 1024;
const CHUNK_BYTES: usize = 512 * 1024;

/// An empty chunk with room for a full one (plus a typical last line), so that filling it does
/// not reallocate and copy.
fn empty_chunk(seq: u64) -> Chunk {
    let mut chunk = Chunk::new(seq);
    chunk.data.reserve(CHUNK_BYTES + 16 * 1024);
    chunk.lines.reserve(CHUNK_LINES);
    chunk
}

/// What the reader found: the file's hash and size as read, and its schema.
pub(crate) struct ReadEnd {
    pub sha256: String,
    pub bytes: u64,
    pub kind: Option<EventKind>,
}

/// Why the reader stopped early.
pub(crate) enum ReadError {
    /// The file's problem; records sent before it stand.
    File(IngestError),
    /// The other side hung up (the bus failed): nothing more to do.
    Stopped,
}

struct Chunker<'a> {
    tx: &'a SyncSender<Chunk>,
    decode: Option<Arc<Decode>>,
    held: Vec<Chunk>,
    current: Chunk,
    next_seq: u64,
}

impl Chunker<'_> {
    fn full(&self) -> bool {
        self.current.lines.len() >= CHUNK_LINES || self.current.data.len() >= CHUNK_BYTES
    }

    /// Hands the current chunk on (or holds it while the schema is unknown).
    fn emit(&mut self, read_to: u64) -> Result<(), ReadError> {
        let seq = self.next_seq;
        let chunk = std::mem::replace(&mut self.current, empty_chunk(seq + 1));
        self.next_seq += 1;
        let mut chunk = chunk;
        chunk.read_to = read_to;
        self.held.push(chunk);
        if let Some(decode) = &self.decode {
            for mut chunk in self.held.drain(..) {
                chunk.decode = Some(decode.clone());
                self.tx.send(chunk).map_err(|_| ReadError::Stopped)?;
            }
        }
        Ok(())
    }

    /// Drops the bytes of a line that was being read when an error struck.
    fn drop_partial_line(&mut self) {
        let end = self.current.lines.last().map_or(0, |l| l.end);
        self.current.data.truncate(end);
    }
}

/// Reads `file` to its end, sending chunks of non-blank lines (rows) in order.
pub(crate) fn read_file(
    file: File,
    path: &Path,
    format: Format,
    schema: Option<EventKind>,
    max_line: usize,
    tx: &SyncSender<Chunk>,
) -> Result<ReadEnd, ReadError> {
    let mut lines = LineReader::new(file);
    let mut chunker = Chunker { tx, decode: None, held: Vec::new(), current: empty_chunk(0), next_seq: 0 };
    let interrupted = |lines: &LineReader<File>, source| {
        ReadError::File(IngestError::ReadInterrupted { path: path.to_path_buf(), position: lines.position(), source })
    };
    let mut kind = schema;
    let mut probed = 0usize;
    if format == Format::Json {
        chunker.decode = schema.map(|k| Arc::new(Decode::Json(k)));
    }
    loop {
        let before = chunker.current.data.len();
        let read = match format {
            Format::Json => lines.read_line(&mut chunker.current.data, max_line),
            Format::Csv => read_row(&mut lines, &mut chunker.current.data, max_line),
        };
        let info = match read {
            Ok(Some(info)) => info,
            Ok(None) => break,
            Err(e) => {
                chunker.drop_partial_line();
                let error = interrupted(&lines, e);
                // Lines read whole before the error are still ingested.
                if chunker.decode.is_some() {
                    chunker.emit(lines.position())?;
                }
                return Err(error);
            }
        };
        let line = &chunker.current.data[before..];
        if info.too_long.is_none() && is_blank(line) {
            chunker.current.data.truncate(before);
            continue;
        }
        if format == Format::Csv && chunker.decode.is_none() {
            let decode = header(path, schema, line, info)?;
            if let Decode::Csv { layout, .. } = &decode {
                kind = Some(layout.kind());
            }
            chunker.decode = Some(Arc::new(decode));
            chunker.current.data.truncate(before);
            continue;
        }
        if chunker.decode.is_none() {
            if let Some(found) = info.too_long.is_none().then(|| kind_from_json(line)).flatten() {
                kind = Some(found);
                chunker.decode = Some(Arc::new(Decode::Json(found)));
            } else {
                probed += 1;
                if probed >= PROBE_LINES || lines.position() >= PROBE_BYTES as u64 {
                    return Err(unknown_json_schema(path));
                }
            }
        }
        chunker.current.lines.push(LineRef {
            number: info.number,
            end: chunker.current.data.len(),
            too_long: info.too_long,
        });
        if chunker.full() {
            chunker.emit(lines.position())?;
        }
    }
    if chunker.decode.is_none() && (!chunker.current.lines.is_empty() || !chunker.held.is_empty()) {
        return Err(unknown_json_schema(path));
    }
    if chunker.decode.is_some() {
        chunker.emit(lines.position())?;
    }
    let position = lines.position();
    match lines.finish() {
        Ok((sha256, bytes)) => Ok(ReadEnd { sha256, bytes, kind }),
        Err(e) => Err(ReadError::File(IngestError::ReadInterrupted { path: path.to_path_buf(), position, source: e })),
    }
}

fn unknown_json_schema(path: &Path) -> ReadError {
    ReadError::File(IngestError::UnknownSchema {
        path: path.to_path_buf(),
        why: format!(
            "none of its first {PROBE_LINES} lines is a JSON object with a `transaction_id` (transaction) \
             or an `event_id` (click) field"
        ),
    })
}

fn header(path: &Path, schema: Option<EventKind>, row: &[u8], info: LineInfo) -> Result<Decode, ReadError> {
    let bad = |why: String| ReadError::File(IngestError::BadHeader { path: path.to_path_buf(), why });
    if let Some(length) = info.too_long {
        return Err(bad(format!("is {length} bytes long, more than the line cap")));
    }
    let header = parse_header(row).map_err(bad)?;
    let kind = match schema {
        Some(kind) => kind,
        None => kind_from_header(&header)
            .map_err(|why| ReadError::File(IngestError::UnknownSchema { path: path.to_path_buf(), why }))?,
    };
    Ok(Decode::Csv { layout: CsvLayout::new(kind, &header), cells: header.len() })
}
