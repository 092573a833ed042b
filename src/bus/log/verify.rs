//! `verify`: checks a log directory read-only and says what is wrong and how to fix it.

use super::offsets;
use super::partition::LOCK_FILE;
use super::segment::{self, Bad};
use super::topic::{partition_count, topics_on_disk};
use std::collections::BTreeMap;
use std::path::Path;

/// The result of checking a log directory without changing it.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Damage that needs a person: each names the file, the byte and what to do.
    pub problems: Vec<String>,
    /// Things worth knowing that fix themselves or are harmless (a torn tail, leftovers).
    pub notes: Vec<String>,
}

/// Checks every segment and offsets file under `dir`, read-only: the framing and CRC of every
/// frame, dense offsets within and across segments, and that offsets files parse.
pub fn verify(dir: &Path) -> VerifyReport {
    let mut report = VerifyReport::default();
    if !dir.is_dir() {
        report.notes.push(format!("log dir {} does not exist yet; it is created on first use", dir.display()));
        return report;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                report.notes.push(format!(
                    "{}: left over from an interrupted topic creation; safe to delete",
                    entry.path().display()
                ));
            }
        }
    }
    let topics = match topics_on_disk(dir) {
        Ok(topics) => topics,
        Err(e) => {
            report.problems.push(format!("{e}"));
            return report;
        }
    };
    let mut ends = BTreeMap::new();
    for (name, topic_dir) in topics {
        let count = match partition_count(&topic_dir) {
            Ok(count) => count,
            Err(e) => {
                report.problems.push(e.to_string());
                continue;
            }
        };
        for p in 0..count {
            let end = verify_partition(&topic_dir.join(p.to_string()), &mut report);
            ends.insert((name.clone(), p), end);
        }
    }
    verify_groups(dir, &ends, &mut report);
    report
}

/// Checks one partition; returns its end offset.
fn verify_partition(dir: &Path, report: &mut VerifyReport) -> u64 {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if segment::parse_name(&name).is_none() && name != LOCK_FILE {
                report.notes.push(format!("{}: not a log file; it is ignored", entry.path().display()));
            }
        }
    }
    let segments = match segment::list(dir) {
        Ok(segments) => segments,
        Err(e) => {
            report.problems.push(e.to_string());
            return 0;
        }
    };
    let mut expected = segments.first().map_or(0, |s| s.base);
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if seg.base != expected {
            report.problems.push(format!(
                "{}: starts at offset {} but the segment before it ends at offset {expected}; offsets must be \
                 dense: restore the missing segment from a backup",
                seg.path.display(),
                seg.base
            ));
        }
        let scan = match segment::scan(&seg.path, seg.base) {
            Ok(scan) => scan,
            Err(e) => {
                report.problems.push(e.to_string());
                expected = seg.base;
                continue;
            }
        };
        expected = scan.end_offset(seg.base);
        let Some(bad) = scan.stopped else { continue };
        let why = match bad {
            Bad::Incomplete => "an incomplete frame".to_string(),
            Bad::Invalid(why) => why,
        };
        if last {
            report.notes.push(format!(
                "{}: torn tail of {} bytes at byte {} ({why}), left by an interrupted write; the next writer \
                 cuts it off when it opens the partition",
                seg.path.display(),
                scan.file_bytes - scan.valid_bytes,
                scan.valid_bytes
            ));
        } else {
            report.problems.push(format!(
                "{}: corrupt frame at byte {} ({why}) in a closed segment; records from offset {expected} in it \
                 cannot be read. Restore the partition from a backup, or move this segment and every later one \
                 of the partition out of the log dir to keep the records before it",
                seg.path.display(),
                scan.valid_bytes
            ));
            // The rest of this segment is unknown: check the next one on its own.
            expected = segments[i + 1].base;
        }
    }
    expected
}

fn verify_groups(dir: &Path, ends: &BTreeMap<(String, u32), u64>, report: &mut VerifyReport) {
    let groups = match offsets::list_groups(dir) {
        Ok(groups) => groups,
        Err(e) => {
            report.problems.push(e.to_string());
            return;
        }
    };
    for (group, path) in groups {
        match offsets::read(&path) {
            Err(e) => report.problems.push(e.to_string()),
            Ok(committed) => {
                for (tp, offset) in committed {
                    match ends.get(&(tp.topic.clone(), tp.partition)) {
                        None => report.notes.push(format!(
                            "{}: group `{group}` has an offset for {tp}, which does not exist",
                            path.display()
                        )),
                        Some(&end) if offset > end => report.notes.push(format!(
                            "{}: group `{group}` committed offset {offset} for {tp}, past its end {end}; it \
                             will wait for records to reach it",
                            path.display()
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
    }
}
