//! File ingestion: JSON-lines and CSV files (or directories of them) onto the bus.
//!
//! `streamify ingest FILE|DIR ...` reads each file line by line, validates every line as a
//! transaction or a clickstream event ([`crate::model::decode_json`], [`crate::model::decode_csv`])
//! and sends valid events to their topic (`transactions`, `clickstream`, keyed by
//! [`crate::model::Event::key`]) and every invalid line to `dead-letter`, as a JSON
//! [`crate::model::DeadLetter`] that names the file, the line, the reason and carries the raw bytes
//! (e-mail addresses scrubbed, non-UTF-8 bytes as hex).
//!
//! # Formats and schemas
//!
//! The format comes from the extension (`.jsonl`, `.ndjson`, `.json`: JSON lines, one object per
//! line; `.csv`: CSV with a header row) unless `--format` says otherwise. The schema comes from
//! the CSV header (a `transaction_id` column means transactions, `event_id` clicks) or from the
//! first JSON object that has one of those fields, unless `--schema` says otherwise. Blank lines
//! (empty or only whitespace) are skipped and not counted; a UTF-8 byte-order mark is ignored;
//! `\r\n` line ends are accepted. A CSV row may span lines inside a quoted cell; its line number
//! is the line where it starts. Lines are numbered from 1 in the file, CSV header included.
//!
//! # What is promised
//!
//! - **Every line is accounted for.** A non-blank line is either accepted (an event on its
//!   topic) or rejected (a dead letter with a reason code); `accepted + rejected` is the number
//!   of non-blank lines (minus the CSV header). Nothing panics on any input.
//! - **Bounded memory.** Files are read in a streaming fashion with a line cap
//!   (`ingest.max_line_bytes`, at most `bus.log.max_record_bytes`); a longer line is dead-lettered
//!   as `line_too_long` with its first bytes, and the rest of it is skipped, never buffered.
//! - **Order.** Records of one file are sent in line order, whatever the number of decoder
//!   threads; partitions then keep that order per key.
//! - **Acknowledged counts.** Records are flushed every `ingest.batch_records` records and at the
//!   end of every file; the summary counts only records acknowledged by
//!   [`crate::bus::Producer::flush`]. If the bus fails, the run stops and reports what was
//!   acknowledged; if a file cannot be read to its end, what was read before is flushed and
//!   reported, and the file is marked failed.
//! - **Dedupe at file granularity.** A file is recorded in the manifest
//!   (`<data-dir>/ingest/manifest.jsonl`: SHA-256, path, size, counts) only after all of its
//!   records were acknowledged. A file whose content hash is in the manifest is skipped unless
//!   `--force` is given. This is at-least-once per file: a crash between the last flush and the
//!   manifest write, or a failed file, means the next run ingests the whole file again, so
//!   downstream consumers see some events twice (the stream processor dedupes by event id).

mod csv;
mod lines;
mod manifest;
mod pipeline;
mod reader;
mod run;
mod source;
mod summary;

#[cfg(test)]
mod tests;

pub use manifest::{Manifest, ManifestEntry};
pub use run::{IngestOptions, ingest};
pub use source::{Format, planned_bytes, schema_name};
pub use summary::{FileReport, FileStatus, Summary};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// `[ingest]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IngestConfig {
    /// Records per producer flush (one durable acknowledgement).
    pub batch_records: usize,
    /// Longest accepted line in bytes; longer lines are dead-lettered as `line_too_long`. The
    /// effective cap is also at most `bus.log.max_record_bytes`.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Threads decoding and validating lines; 0 picks one per CPU.
    #[serde(default)]
    pub decode_threads: usize,
}

fn default_max_line_bytes() -> usize {
    1 << 20
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { batch_records: 8192, max_line_bytes: default_max_line_bytes(), decode_threads: 0 }
    }
}

impl IngestConfig {
    pub fn check(&self, problems: &mut Vec<String>) {
        if self.batch_records == 0 {
            problems.push("ingest.batch_records = 0: use at least 1".to_string());
        }
        if self.max_line_bytes < 64 {
            problems.push(format!("ingest.max_line_bytes = {}: use at least 64", self.max_line_bytes));
        }
        if self.decode_threads > 64 {
            problems.push(format!("ingest.decode_threads = {}: use 0 (one per CPU) to 64", self.decode_threads));
        }
    }

    /// The number of decoder threads to start.
    pub fn threads(&self) -> usize {
        match self.decode_threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8),
            n => n,
        }
    }
}

/// What can go wrong while ingesting. Per-file problems (the first five) fail that file and the
/// run goes on; [`IngestError::Bus`] and [`IngestError::Manifest`] stop the run.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot tell the format of {} from its extension; pass --format json or --format csv", path.display())]
    UnknownFormat { path: PathBuf },
    #[error(
        "cannot detect the schema of {}: {why}; pass --schema transaction or --schema click",
        path.display()
    )]
    UnknownSchema { path: PathBuf, why: String },
    #[error("{}: the CSV header {why}", path.display())]
    BadHeader { path: PathBuf, why: String },
    #[error("{}: the file was read only up to byte {position}: {source}", path.display())]
    ReadInterrupted { path: PathBuf, position: u64, source: std::io::Error },
    #[error("{}: writing to the bus failed: {source}", path.display())]
    Bus { path: PathBuf, source: crate::bus::BusError },
    #[error("ingest manifest {}: {source}; check the data dir's permissions and free space", path.display())]
    Manifest { path: PathBuf, source: std::io::Error },
}

impl IngestError {
    /// Whether the whole run must stop (the bus or the manifest failed), rather than this file.
    pub fn stops_the_run(&self) -> bool {
        matches!(self, IngestError::Bus { .. } | IngestError::Manifest { .. })
    }

    /// Whether trying again later can help.
    pub fn retryable(&self) -> bool {
        match self {
            IngestError::Bus { source, .. } => source.retryable(),
            IngestError::Io { .. } | IngestError::ReadInterrupted { .. } | IngestError::Manifest { .. } => true,
            _ => false,
        }
    }
}

/// A run that stopped early: why, and what had been acknowledged by then.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Aborted {
    pub error: IngestError,
    pub summary: Box<Summary>,
}
