//! Which files to read, in which format, and with which schema.
//!
//! A directory contributes its regular files with a supported extension, sorted by name so runs
//! are deterministic; it is not walked recursively, and hidden files (`.name`, often partial
//! uploads) are left alone. With `--format`, a directory contributes only files of that format;
//! an explicitly named file is read in that format whatever its extension.

use super::{IngestError, Result};
use crate::model::EventKind;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A supported file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// A header row, then one event per row.
    Csv,
}

impl Format {
    /// The format an extension stands for: `.jsonl`, `.ndjson`, `.json` and `.csv`, any case.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

/// The name of a schema as the CLI and the summary spell it.
pub fn schema_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Transaction => "transaction",
        EventKind::Click => "click",
    }
}

/// The files behind the paths given, each with its format or the reason it cannot be read.
pub(crate) fn expand(paths: &[PathBuf], format: Option<Format>) -> Vec<Result<(PathBuf, Format)>> {
    let mut out = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Err(source) => out.push(Err(IngestError::Io { path: path.clone(), source })),
            Ok(meta) if meta.is_dir() => match list_dir(path, format) {
                Ok(files) => out.extend(files.into_iter().map(Ok)),
                Err(source) => out.push(Err(IngestError::Io { path: path.clone(), source })),
            },
            Ok(_) => match format.or_else(|| Format::from_path(path)) {
                Some(f) => out.push(Ok((path.clone(), f))),
                None => out.push(Err(IngestError::UnknownFormat { path: path.clone() })),
            },
        }
    }
    out
}

/// The total size of the files behind `paths`, for a progress bar.
pub fn planned_bytes(paths: &[PathBuf], format: Option<Format>) -> u64 {
    expand(paths, format)
        .into_iter()
        .flatten()
        .filter_map(|(path, _)| std::fs::metadata(path).ok())
        .map(|m| m.len())
        .sum()
}

fn list_dir(dir: &Path, only: Option<Format>) -> std::io::Result<Vec<(PathBuf, Format)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symlinks; an entry that vanished since the listing is simply not there.
        let is_file = std::fs::metadata(&path).map(|m| m.is_file()).unwrap_or(false);
        let Some(format) = Format::from_path(&path) else { continue };
        if is_file && only.is_none_or(|f| f == format) {
            files.push((path, format));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// The schema a CSV header stands for: a `transaction_id` column means transactions, an
/// `event_id` column clicks.
pub(crate) fn kind_from_header(header: &csv::StringRecord) -> Result<EventKind, String> {
    let has = |name: &str| header.iter().any(|h| h.trim().eq_ignore_ascii_case(name));
    match (has("transaction_id"), has("event_id")) {
        (true, false) => Ok(EventKind::Transaction),
        (false, true) => Ok(EventKind::Click),
        (true, true) => Err("its header has both `transaction_id` and `event_id` columns".into()),
        (false, false) => Err("its header has neither a `transaction_id` nor an `event_id` column".into()),
    }
}

#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default)]
    transaction_id: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    event_id: Option<serde::de::IgnoredAny>,
}

/// The schema a JSON line stands for, if it is an object with exactly one of `transaction_id`
/// or `event_id`.
pub(crate) fn kind_from_json(line: &[u8]) -> Option<EventKind> {
    // A struct also deserializes from an array; only objects count.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let probe: Probe = serde_json::from_slice(line).ok()?;
    match (probe.transaction_id.is_some(), probe.event_id.is_some()) {
        (true, false) => Some(EventKind::Transaction),
        (false, true) => Some(EventKind::Click),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(Format::from_path(Path::new("a/b.JSONL")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.ndjson")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.csv")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!(Format::from_path(Path::new("csv")), None);
    }

    #[test]
    fn json_schema_comes_from_the_id_field() {
        assert_eq!(kind_from_json(br#"{"transaction_id":"t","x":[1]}"#), Some(EventKind::Transaction));
        assert_eq!(kind_from_json(br#"{"event_id":1}"#), Some(EventKind::Click));
        assert_eq!(kind_from_json(br#"{"event_id":1,"transaction_id":2}"#), None);
        assert_eq!(kind_from_json(b"{broken"), None);
        assert_eq!(kind_from_json(b"[1]"), None);
    }

    #[test]
    fn directories_are_listed_sorted_without_hidden_or_unsupported_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.jsonl", ".hidden.jsonl", "notes.txt", "c.ndjson"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.jsonl")).unwrap();
        let names = |format| -> Vec<String> {
            expand(&[dir.path().to_path_buf()], format)
                .into_iter()
                .map(|r| r.unwrap().0.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(None), ["a.jsonl", "b.csv", "c.ndjson"]);
        assert_eq!(names(Some(Format::Csv)), ["b.csv"]);
        let missing = expand(&[dir.path().join("nope.csv")], None);
        assert!(matches!(&missing[0], Err(IngestError::Io { .. })));
        let unknown = expand(&[dir.path().join("notes.txt")], None);
        assert!(matches!(&unknown[0], Err(IngestError::UnknownFormat { .. })));
    }
}
