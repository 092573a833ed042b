//! What a run did: per file and in total, as one text line or as JSON.

use super::pipeline::Counts;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Read to the end, every record acknowledged, recorded in the manifest.
    Ingested,
    /// Its content was ingested before (see `duplicate_of`).
    Skipped,
    /// Not read to the end (see `error`); what was acknowledged before is counted.
    Failed,
}

/// One file's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileReport {
    pub path: String,
    pub status: FileStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Bytes read for ingestion (0 when skipped).
    pub bytes: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// The path it was ingested as before, when skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FileReport {
    pub(crate) fn new(path: String, status: FileStatus) -> Self {
        FileReport {
            path,
            status,
            format: None,
            schema: None,
            sha256: None,
            bytes: 0,
            accepted: 0,
            rejected: 0,
            rejected_by_reason: BTreeMap::new(),
            duplicate_of: None,
            error: None,
        }
    }

    pub(crate) fn set_counts(&mut self, counts: &Counts) {
        self.accepted = counts.accepted;
        self.rejected = counts.rejected;
        self.rejected_by_reason = counts.by_reason.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    }

    /// A line for stderr about a skipped or failed file.
    pub fn note(&self) -> Option<String> {
        match self.status {
            FileStatus::Ingested => None,
            FileStatus::Skipped => Some(format!(
                "{}: skipped, already ingested as {} (pass --force to ingest it again)",
                self.path,
                self.duplicate_of.as_deref().unwrap_or("?")
            )),
            FileStatus::Failed => {
                let mut note = format!("error: {}", self.error.as_deref().unwrap_or("failed"));
                if self.accepted + self.rejected > 0 {
                    let _ = write!(
                        note,
                        " ({} accepted and {} rejected records from it were acknowledged)",
                        group(self.accepted),
                        group(self.rejected)
                    );
                }
                Some(note)
            }
        }
    }
}

/// The outcome of a run. `accepted`, `rejected` and `rejected_by_reason` count acknowledged
/// records of every file, failed ones included.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub accepted: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Files ingested to their end.
    pub files: u64,
    /// Files skipped as already ingested.
    pub skipped: u64,
    /// Files that could not be ingested (or only partly).
    pub failed: u64,
    /// Bytes read for ingestion.
    pub bytes: u64,
    pub seconds: f64,
    /// `(accepted + rejected) / seconds`.
    pub lines_per_second: f64,
    pub per_file: Vec<FileReport>,
}

impl Summary {
    pub(crate) fn add(&mut self, report: FileReport) {
        match report.status {
            FileStatus::Ingested => self.files += 1,
            FileStatus::Skipped => self.skipped += 1,
            FileStatus::Failed => self.failed += 1,
        }
        self.accepted += report.accepted;
        self.rejected += report.rejected;
        for (reason, n) in &report.rejected_by_reason {
            *self.rejected_by_reason.entry(reason.clone()).or_default() += n;
        }
        self.bytes += report.bytes;
        self.per_file.push(report);
    }

    pub(crate) fn finish(&mut self, seconds: f64) {
        self.seconds = seconds;
        let lines = (self.accepted + self.rejected) as f64;
        self.lines_per_second = if seconds > 0.0 { (lines / seconds).round() } else { 0.0 };
    }

    /// One line, e.g. `ingested 2 files (251.2 MB): 999,990 accepted, 10 rejected
    /// (4 missing_field, 6 invalid_json) in 1.9s (520,000 lines/s)`.
    pub fn text(&self) -> String {
        let mut s = format!(
            "ingested {} file{} ({})",
            group(self.files),
            if self.files == 1 { "" } else { "s" },
            human_bytes(self.bytes)
        );
        if self.skipped > 0 {
            let _ = write!(s, ", skipped {}", group(self.skipped));
        }
        if self.failed > 0 {
            let _ = write!(s, ", failed {}", group(self.failed));
        }
        let _ = write!(s, ": {} accepted, {} rejected", group(self.accepted), group(self.rejected));
        if !self.rejected_by_reason.is_empty() {
            let reasons: Vec<String> =
                self.rejected_by_reason.iter().map(|(reason, n)| format!("{} {reason}", group(*n))).collect();
            let _ = write!(s, " ({})", reasons.join(", "));
        }
        let seconds =
            if self.seconds >= 1.0 { format!("{:.1}s", self.seconds) } else { format!("{:.2}s", self.seconds) };
        let _ = write!(s, " in {seconds} ({} lines/s)", group(self.lines_per_second as u64));
        s
    }
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(999_990), "999,990");
        assert_eq!(group(1_234_567), "1,234,567");
    }

    #[test]
    fn the_text_line_names_every_reason() {
        let mut s = Summary::default();
        let mut r = FileReport::new("a.jsonl".into(), FileStatus::Ingested);
        r.accepted = 999_990;
        r.rejected = 10;
        r.bytes = 251_200_000;
        r.rejected_by_reason = [("missing_field".to_string(), 4), ("invalid_json".to_string(), 6)].into();
        s.add(r);
        s.add(FileReport::new("b.jsonl".into(), FileStatus::Skipped));
        s.finish(2.0);
        assert_eq!(
            s.text(),
            "ingested 1 file (251.2 MB), skipped 1: 999,990 accepted, 10 rejected (6 invalid_json, 4 missing_field) \
             in 2.0s (500,000 lines/s)"
        );
    }
}
