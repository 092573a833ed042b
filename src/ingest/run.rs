//! A whole run: expand the paths, dedupe each file against the manifest, ingest it, record it.

use super::manifest::{Manifest, ManifestEntry, hash_file};
use super::pipeline::{DecodeContext, run_file};
use super::source::{Format, expand, schema_name};
use super::summary::{FileReport, FileStatus, Summary};
use super::{Aborted, IngestConfig, IngestError};
use crate::bus::Producer;
use crate::model::{Clock, EventKind, Validator};
use crate::telemetry::Progress;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Everything a run needs besides the paths, the producer and the progress bar.
#[derive(Clone)]
pub struct IngestOptions {
    /// The format of every file, instead of the one its extension says.
    pub format: Option<Format>,
    /// The schema of every file, instead of detecting it.
    pub schema: Option<EventKind>,
    /// Ingest files even when their content was ingested before.
    pub force: bool,
    pub config: IngestConfig,
    /// `bus.log.max_record_bytes`: no record sent is larger, and no line longer.
    pub max_record_bytes: usize,
    pub validator: Validator,
    /// Stamps manifest entries.
    pub clock: Arc<dyn Clock>,
    /// Where the manifest lives: `<data-dir>/ingest`.
    pub manifest_dir: PathBuf,
}

impl IngestOptions {
    fn max_line_bytes(&self) -> usize {
        self.config.max_line_bytes.min(self.max_record_bytes).max(1)
    }
}

/// Ingests `paths` (files and directories) onto the bus through `producer`.
///
/// Per-file problems (unreadable, unknown format or schema) fail that file and the run goes on;
/// a bus or manifest failure stops the run with [`Aborted`], which carries the summary of what
/// was acknowledged until then.
pub fn ingest(
    paths: &[PathBuf],
    options: &IngestOptions,
    producer: &mut dyn Producer,
    progress: &Progress,
) -> Result<Summary, Aborted> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut manifest = match Manifest::open(&options.manifest_dir) {
        Ok(m) => m,
        Err(error) => return Err(Aborted { error, summary: Box::new(summary) }),
    };
    for source in expand(paths, options.format) {
        let (report, fatal) = match source {
            Ok((path, format)) => ingest_file(&path, format, options, &mut manifest, producer, progress),
            Err(error) => (failed(error_path(&error), &error), None),
        };
        summary.add(report);
        if let Some(error) = fatal {
            summary.finish(started.elapsed().as_secs_f64());
            return Err(Aborted { error, summary: Box::new(summary) });
        }
    }
    summary.finish(started.elapsed().as_secs_f64());
    Ok(summary)
}

fn error_path(error: &IngestError) -> String {
    match error {
        IngestError::Io { path, .. }
        | IngestError::UnknownFormat { path }
        | IngestError::UnknownSchema { path, .. }
        | IngestError::BadHeader { path, .. }
        | IngestError::ReadInterrupted { path, .. }
        | IngestError::Bus { path, .. }
        | IngestError::Manifest { path, .. } => path.display().to_string(),
    }
}

fn failed(path: String, error: &IngestError) -> FileReport {
    let mut report = FileReport::new(path, FileStatus::Failed);
    report.error = Some(error.to_string());
    report
}

/// One file: its report, and the error that stops the run, if any.
fn ingest_file(
    path: &Path,
    format: Format,
    options: &IngestOptions,
    manifest: &mut Manifest,
    producer: &mut dyn Producer,
    progress: &Progress,
) -> (FileReport, Option<IngestError>) {
    let label = path.display().to_string();
    let io = |source| IngestError::Io { path: path.to_path_buf(), source };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return (failed(label, &io(e)), None),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Only a file of a size seen before can be a duplicate: hash it first then.
    if !options.force && manifest.has_size(size) {
        let hashed = hash_file(&mut file).and_then(|hashed| file.seek(SeekFrom::Start(0)).map(|_| hashed));
        match hashed {
            Ok((sha256, _)) => {
                if let Some(before) = manifest.find(&sha256) {
                    let mut report = FileReport::new(label, FileStatus::Skipped);
                    report.duplicate_of = Some(before.path.clone());
                    report.format = Some(format.as_str());
                    report.schema =
                        before.schema.as_deref().and_then(|s| ["transaction", "click"].into_iter().find(|k| *k == s));
                    report.sha256 = Some(sha256);
                    progress.inc(size);
                    return (report, None);
                }
            }
            Err(e) => return (failed(label, &io(e)), None),
        }
    }
    let ctx = DecodeContext {
        validator: options.validator.clone(),
        source: label.clone(),
        max_record_bytes: options.max_record_bytes,
        max_line_bytes: options.max_line_bytes(),
    };
    progress.set_message(label.clone());
    let result = run_file(
        file,
        path,
        format,
        options.schema,
        &ctx,
        options.config.threads(),
        options.config.batch_records,
        producer,
        progress,
    );
    let mut report = FileReport::new(label.clone(), FileStatus::Ingested);
    report.format = Some(format.as_str());
    report.set_counts(&result.counts);
    if let Some(end) = &result.end {
        report.schema = end.kind.map(schema_name);
        report.sha256 = Some(end.sha256.clone());
        report.bytes = end.bytes;
    }
    if let Some(error) = result.error {
        report.status = FileStatus::Failed;
        report.error = Some(error.to_string());
        return (report, error.stops_the_run().then_some(error));
    }
    let Some(end) = result.end else { return (report, None) };
    let entry = ManifestEntry {
        sha256: end.sha256,
        path: label,
        size: end.bytes,
        format: format.as_str().to_string(),
        schema: end.kind.map(|k| schema_name(k).to_string()),
        accepted: result.counts.accepted,
        rejected: result.counts.rejected,
        ingested_at: options.clock.now().to_string(),
    };
    if let Err(error) = manifest.record(entry) {
        report.status = FileStatus::Failed;
        report.error = Some(error.to_string());
        return (report, Some(error));
    }
    (report, None)
}
