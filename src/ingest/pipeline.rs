//! One file through the pipeline: reader thread → decoder threads → producer (this thread).
//!
//! The reader cuts the file into numbered chunks of lines; decoders turn each chunk into a batch
//! of encoded records (events and dead letters); the producer puts batches back in chunk order
//! and sends them, flushing every `batch_records` records. Channels are bounded, so at most a few
//! chunks per decoder (about a megabyte each) are in memory whatever the file size. If the bus fails, the producer hangs
//! up and the reader and decoders stop at their next send.

use super::csv::{RowParser, decode_row};
use super::reader::{ReadEnd, ReadError, read_file};
use super::{Format, IngestError};
use crate::bus::Producer;
use crate::model::{CsvLayout, DeadLetter, DecodeError, Event, EventKind, Validator, decode_json, topic};
use crate::telemetry::Progress;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

/// How a chunk's lines are decoded.
pub(crate) enum Decode {
    Json(EventKind),
    Csv { layout: CsvLayout, cells: usize },
}

impl Decode {
    fn kind(&self) -> EventKind {
        match self {
            Decode::Json(kind) => *kind,
            Decode::Csv { layout, .. } => layout.kind(),
        }
    }
}

/// A line's place in a chunk's data: it ends at `end` and starts where the previous one ended.
pub(crate) struct LineRef {
    pub number: u64,
    pub end: usize,
    pub too_long: Option<u64>,
}

/// Consecutive non-blank lines of one file.
pub(crate) struct Chunk {
    pub seq: u64,
    pub decode: Option<Arc<Decode>>,
    pub data: Vec<u8>,
    pub lines: Vec<LineRef>,
    /// File position after the last line.
    pub read_to: u64,
}

impl Chunk {
    pub fn new(seq: u64) -> Self {
        Chunk { seq, decode: None, data: Vec::new(), lines: Vec::new(), read_to: 0 }
    }
}

/// One record to send: `buf[start..key_end]` is the key, `buf[key_end..end]` the value.
struct Out {
    topic: &'static str,
    key_end: usize,
    end: usize,
    /// The reason code of a dead letter; `None` for an event.
    rejected: Option<&'static str>,
}

/// A decoded chunk.
struct Batch {
    seq: u64,
    buf: Vec<u8>,
    records: Vec<Out>,
    read_to: u64,
}

/// Accepted and rejected counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub accepted: u64,
    pub rejected: u64,
    pub by_reason: BTreeMap<&'static str, u64>,
}

impl Counts {
    fn add(&mut self, rejected: Option<&'static str>) {
        match rejected {
            None => self.accepted += 1,
            Some(reason) => {
                self.rejected += 1;
                *self.by_reason.entry(reason).or_default() += 1;
            }
        }
    }

    pub fn merge(&mut self, other: &Counts) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        for (reason, n) in &other.by_reason {
            *self.by_reason.entry(reason).or_default() += n;
        }
    }
}

/// What decoding needs, shared by the decoder threads.
pub(crate) struct DecodeContext {
    pub validator: Validator,
    /// The file as named in dead letters.
    pub source: String,
    pub max_record_bytes: usize,
    pub max_line_bytes: usize,
}

/// The outcome of one file.
pub(crate) struct FileResult {
    /// Acknowledged records only.
    pub counts: Counts,
    /// The reader's end: hash, bytes and schema; `None` when it stopped early.
    pub end: Option<ReadEnd>,
    pub error: Option<IngestError>,
}

/// Ingests one open file.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_file(
    file: File,
    path: &Path,
    format: Format,
    schema: Option<EventKind>,
    ctx: &DecodeContext,
    threads: usize,
    batch_records: usize,
    producer: &mut dyn Producer,
    progress: &Progress,
) -> FileResult {
    let threads = threads.max(1);
    std::thread::scope(|scope| {
        // Room for decoders to run ahead while the producer waits on a flush (fsync).
        let (work_tx, work_rx) = sync_channel::<Chunk>(threads * 2);
        let (done_tx, done_rx) = sync_channel::<Batch>(threads * 6);
        let reader = std::thread::Builder::new()
            .name("ingest-read".into())
            .spawn_scoped(scope, move || read_file(file, path, format, schema, ctx.max_line_bytes, &work_tx));
        let Ok(reader) = reader else {
            let error = std::io::Error::other("cannot start the reader thread");
            return FileResult {
                counts: Counts::default(),
                end: None,
                error: Some(IngestError::Io { path: path.to_path_buf(), source: error }),
            };
        };
        let work_rx = Arc::new(Mutex::new(work_rx));
        for _ in 0..threads {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            // Without this decoder the others carry on; without any, nothing is sent and the
            // reader's send fails, which ends the file as read so far.
            let _ = std::thread::Builder::new().name("ingest-decode".into()).spawn_scoped(scope, move || {
                let mut parser = RowParser::default();
                loop {
                    let next = work_rx.lock().map(|rx| rx.recv()).unwrap_or_else(|p| p.into_inner().recv());
                    let Ok(chunk) = next else { break };
                    if done_tx.send(decode_chunk(&chunk, ctx, &mut parser)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((work_rx, done_tx));
        let mut result = FileResult { counts: Counts::default(), end: None, error: None };
        if let Err(source) = send_in_order(done_rx, batch_records, producer, progress, &mut result.counts) {
            result.error = Some(IngestError::Bus { path: path.to_path_buf(), source });
        }
        let read = reader.join().unwrap_or(Err(ReadError::Stopped));
        match read {
            Ok(end) => result.end = Some(end),
            Err(ReadError::File(e)) if result.error.is_none() => result.error = Some(e),
            Err(ReadError::Stopped) if result.error.is_none() => {
                let error = std::io::Error::other("no decoder thread could be started");
                result.error = Some(IngestError::Io { path: path.to_path_buf(), source: error });
            }
            Err(_) => {}
        }
        result
    })
}

/// Sends batches in chunk order; `acked` grows at every successful flush.
fn send_in_order(
    done_rx: Receiver<Batch>,
    batch_records: usize,
    producer: &mut dyn Producer,
    progress: &Progress,
    acked: &mut Counts,
) -> crate::bus::Result<()> {
    let mut waiting: HashMap<u64, Batch> = HashMap::new();
    let mut next = 0u64;
    let mut unacked = Counts::default();
    let mut pending = 0usize;
    let mut read_to = 0u64;
    // Dropping `done_rx` on an error stops the decoders, which stops the reader.
    for batch in done_rx {
        waiting.insert(batch.seq, batch);
        while let Some(batch) = waiting.remove(&next) {
            next += 1;
            let mut start = 0;
            for out in &batch.records {
                producer.send(out.topic, &batch.buf[start..out.key_end], &batch.buf[out.key_end..out.end])?;
                start = out.end;
                unacked.add(out.rejected);
                pending += 1;
                if pending >= batch_records {
                    producer.flush()?;
                    acked.merge(&std::mem::take(&mut unacked));
                    pending = 0;
                }
            }
            progress.inc(batch.read_to.saturating_sub(read_to));
            read_to = read_to.max(batch.read_to);
        }
    }
    producer.flush()?;
    acked.merge(&unacked);
    Ok(())
}

/// Why a line was refused at ingest, beyond what the model's decoding says.
enum Refusal {
    Decode(DecodeError),
    LineTooLong { length: u64, limit: usize },
    RecordTooLarge { size: usize, limit: usize },
    Panicked,
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Refusal::Decode(e) => e.reason(),
            Refusal::LineTooLong { .. } => "line_too_long",
            Refusal::RecordTooLarge { .. } => "record_too_large",
            Refusal::Panicked => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::Decode(e) => e.to_string(),
            Refusal::LineTooLong { length, limit } => format!(
                "the line is {length} bytes long, more than the {limit}-byte cap (ingest.max_line_bytes, \
                 bus.log.max_record_bytes); only its start is kept"
            ),
            Refusal::RecordTooLarge { size, limit } => {
                format!("the encoded event is {size} bytes, more than bus.log.max_record_bytes ({limit})")
            }
            Refusal::Panicked => "validating this line panicked; please report it with the line".to_string(),
        }
    }
}

fn decode_chunk(chunk: &Chunk, ctx: &DecodeContext, parser: &mut RowParser) -> Batch {
    let mut batch = Batch {
        seq: chunk.seq,
        buf: Vec::with_capacity(chunk.data.len() + chunk.data.len() / 4),
        records: Vec::with_capacity(chunk.lines.len()),
        read_to: chunk.read_to,
    };
    let Some(decode) = chunk.decode.as_deref() else { return batch };
    let mut start = 0;
    for line in &chunk.lines {
        let raw = &chunk.data[start..line.end];
        start = line.end;
        let decoded = match line.too_long {
            Some(length) => Err(Refusal::LineTooLong { length, limit: ctx.max_line_bytes }),
            None => match catch_unwind(AssertUnwindSafe(|| match decode {
                Decode::Json(kind) => decode_json(*kind, raw, &ctx.validator),
                Decode::Csv { layout, cells } => decode_row(raw, layout, *cells, &ctx.validator, parser),
            })) {
                Ok(decoded) => decoded.map_err(Refusal::Decode),
                Err(_) => Err(Refusal::Panicked),
            },
        };
        let record_start = batch.buf.len();
        let refusal = match decoded {
            Ok(event) => match push_event(&mut batch, &event, ctx.max_record_bytes) {
                Ok(()) => continue,
                Err(size) => {
                    batch.buf.truncate(record_start);
                    Refusal::RecordTooLarge { size, limit: ctx.max_record_bytes }
                }
            },
            Err(refusal) => refusal,
        };
        push_dead_letter(&mut batch, decode.kind(), ctx, line.number, &refusal, raw);
    }
    batch
}

/// Appends an event; `Err(size)` when its encoding is larger than a record may be.
fn push_event(batch: &mut Batch, event: &Event, limit: usize) -> Result<(), usize> {
    event.write_key(&mut batch.buf);
    let key_end = batch.buf.len();
    event.encode(&mut batch.buf);
    let size = batch.buf.len() - key_end;
    if size > limit {
        return Err(size);
    }
    batch.records.push(Out { topic: event.kind().topic(), key_end, end: batch.buf.len(), rejected: None });
    Ok(())
}

/// Appends the dead letter of a refused line, cutting its raw bytes if the record would be too
/// large (the message then says so).
fn push_dead_letter(batch: &mut Batch, kind: EventKind, ctx: &DecodeContext, line: u64, refusal: &Refusal, raw: &[u8]) {
    let reason = refusal.reason();
    let placeholder = DecodeError::Json(String::new());
    let error = match refusal {
        Refusal::Decode(e) => e,
        _ => &placeholder,
    };
    let pseudonymizer = ctx.validator.pseudonymizer();
    let build = |raw: &[u8]| {
        let mut dl = DeadLetter::new("ingest", kind, ctx.source.clone(), error, raw, pseudonymizer).at_line(line);
        dl.reason = reason.to_string();
        dl.message = refusal.message();
        dl
    };
    let mut dl = build(raw);
    let mut value = serde_json::to_vec(&dl).unwrap_or_default();
    if value.len() > ctx.max_record_bytes {
        let keep = (ctx.max_record_bytes / 8).min(raw.len());
        dl = build(&raw[..keep]);
        dl.message = format!("{} (raw bytes cut to the first {keep} of {})", dl.message, raw.len());
        value = serde_json::to_vec(&dl).unwrap_or_default();
        if value.len() > ctx.max_record_bytes {
            dl.raw = None;
            dl.raw_hex = None;
            value = serde_json::to_vec(&dl).unwrap_or_default();
        }
    }
    batch.buf.extend_from_slice(&dl.key());
    let key_end = batch.buf.len();
    batch.buf.extend_from_slice(&value);
    batch.records.push(Out { topic: topic::DEAD_LETTER, key_end, end: batch.buf.len(), rejected: Some(reason) });
}
