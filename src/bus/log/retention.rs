//! Retention: deletes whole closed segments, oldest first, by size and by age (see the
//! [module docs](super)). Works from a directory listing, so any process may run it.

use super::LogConfig;
use super::segment::{self, SegmentFile, sync_dir};
use super::topic::{partition_count, topics_on_disk};
use crate::bus::{BusError, Result};
use crate::model::{Clock, Timestamp};
use serde::Serialize;
use std::path::Path;

/// What a retention pass deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub segments_deleted: u64,
    pub bytes_deleted: u64,
}

impl RetentionReport {
    fn add(&mut self, other: RetentionReport) {
        self.segments_deleted += other.segments_deleted;
        self.bytes_deleted += other.bytes_deleted;
    }
}

/// Runs retention on every partition of every topic under `log_dir`.
pub(crate) fn enforce_all(log_dir: &Path, config: &LogConfig, clock: &dyn Clock) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    if config.retention_bytes == 0 && config.retention_age.is_zero() {
        return Ok(report);
    }
    for (_, topic_dir) in topics_on_disk(log_dir)? {
        for p in 0..partition_count(&topic_dir)? {
            report.add(enforce_partition(&topic_dir.join(p.to_string()), config, clock)?);
        }
    }
    Ok(report)
}

/// Runs retention on one partition directory.
pub(crate) fn enforce_partition(dir: &Path, config: &LogConfig, clock: &dyn Clock) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    if config.retention_bytes == 0 && config.retention_age.is_zero() {
        return Ok(report);
    }
    let segments = segment::list(dir)?;
    let doomed = expired(&segments, config, clock.now())?;
    for segment in &segments[..doomed] {
        match std::fs::remove_file(&segment.path) {
            Ok(()) => {
                report.segments_deleted += 1;
                report.bytes_deleted += segment.bytes;
            }
            // Another process's retention got there first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(BusError::Io { path: segment.path.clone(), source }),
        }
    }
    if report.segments_deleted > 0 {
        sync_dir(dir)?;
        tracing::info!(dir = %dir.display(), segments = report.segments_deleted, bytes = report.bytes_deleted, "log retention deleted old segments");
    }
    Ok(report)
}

/// How many segments, from the oldest, retention deletes. Never the last (active) one, and
/// only a prefix, so the partition's offsets stay dense.
fn expired(segments: &[SegmentFile], config: &LogConfig, now: Timestamp) -> Result<usize> {
    let closed = segments.len().saturating_sub(1);
    let mut doomed = 0;
    if config.retention_bytes > 0 {
        let mut total: u64 = segments.iter().map(|s| s.bytes).sum();
        while doomed < closed && total > config.retention_bytes {
            total -= segments[doomed].bytes;
            doomed += 1;
        }
    }
    if !config.retention_age.is_zero() {
        let max_age = config.retention_age.as_micros() as i64;
        while doomed < closed {
            let segment = &segments[doomed];
            let modified = match std::fs::metadata(&segment.path).and_then(|m| m.modified()) {
                Ok(modified) => modified,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    doomed += 1;
                    continue;
                }
                Err(source) => return Err(BusError::Io { path: segment.path.clone(), source }),
            };
            let modified = match modified.duration_since(std::time::UNIX_EPOCH) {
                Ok(since) => since.as_micros() as i64,
                Err(_) => 0,
            };
            if now.micros().saturating_sub(modified) <= max_age {
                break;
            }
            doomed += 1;
        }
    }
    Ok(doomed)
}
