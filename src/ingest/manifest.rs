//! The ingest manifest: which file contents were ingested, by SHA-256.
//!
//! `<data-dir>/ingest/manifest.jsonl` holds one JSON object per ingested file ([`ManifestEntry`]),
//! appended and fsynced only after every record of the file was acknowledged by the bus. A torn
//! last line (a crash mid-append) is cut off when the manifest is opened: that file was not
//! recorded and will be ingested again. Lines that cannot be read are skipped with a warning
//! rather than stopping ingestion.

use super::{IngestError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "manifest.jsonl";

/// One ingested file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// The path as it was given (or found in a directory).
    pub path: String,
    pub size: u64,
    /// `json` or `csv`.
    pub format: String,
    /// `transaction` or `click`; absent for a file without records.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub schema: Option<String>,
    pub accepted: u64,
    pub rejected: u64,
    /// RFC 3339, from the injected clock.
    pub ingested_at: String,
}

/// The manifest, loaded in memory and appended to on disk.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    entries: Vec<ManifestEntry>,
    by_hash: HashMap<String, usize>,
    sizes: HashSet<u64>,
}

impl Manifest {
    /// Opens (creating the directory if needed) the manifest in `dir`.
    pub fn open(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let error = |source| IngestError::Manifest { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(error)?;
        let mut manifest =
            Manifest { path: path.clone(), entries: Vec::new(), by_hash: HashMap::new(), sizes: HashSet::new() };
        let mut text = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut text).map_err(error)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(manifest),
            Err(e) => return Err(error(e)),
        }
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(manifest = %path.display(), "cutting off a torn last manifest line (an interrupted run)");
            let file = OpenOptions::new().write(true).open(&path).map_err(error)?;
            file.set_len(complete as u64).map_err(error)?;
            file.sync_all().map_err(error)?;
        }
        for (i, line) in text[..complete].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<ManifestEntry>(line) {
                Ok(entry) => manifest.insert(entry),
                Err(e) => {
                    tracing::warn!(manifest = %path.display(), line = i + 1, "skipping an unreadable manifest line: {e}")
                }
            }
        }
        Ok(manifest)
    }

    fn insert(&mut self, entry: ManifestEntry) {
        self.sizes.insert(entry.size);
        self.by_hash.insert(entry.sha256.clone(), self.entries.len());
        self.entries.push(entry);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// The latest entry with this content hash.
    pub fn find(&self, sha256: &str) -> Option<&ManifestEntry> {
        self.by_hash.get(sha256).map(|&i| &self.entries[i])
    }

    /// Whether some ingested file had this size: only then can a file of this size be a
    /// duplicate, and only then is it hashed before being read.
    pub fn has_size(&self, size: u64) -> bool {
        self.sizes.contains(&size)
    }

    /// Appends an entry durably (write, fsync; fsync the directory when the file is new).
    pub fn record(&mut self, entry: ManifestEntry) -> Result<()> {
        let error = |source| IngestError::Manifest { path: self.path.clone(), source };
        let is_new = !self.path.exists();
        let mut line = serde_json::to_vec(&entry).map_err(|e| error(e.into()))?;
        line.push(b'\n');
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(error)?;
        file.write_all(&line).map_err(error)?;
        file.sync_data().map_err(error)?;
        if is_new && let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(error)?;
        }
        self.insert(entry);
        Ok(())
    }
}

/// SHA-256 (hex) and length of everything `file` yields from its current position.
pub(crate) fn hash_file(file: &mut File) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sha: &str, size: u64) -> ManifestEntry {
        ManifestEntry {
            sha256: sha.into(),
            path: format!("{sha}.jsonl"),
            size,
            format: "json".into(),
            schema: Some("transaction".into()),
            accepted: 1,
            rejected: 0,
            ingested_at: "2024-06-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::open(dir.path()).unwrap();
        m.record(entry("aa", 10)).unwrap();
        m.record(entry("bb", 20)).unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"sha256\":\"cc\",\"pa").unwrap();
        let mut m = Manifest::open(dir.path()).unwrap();
        assert_eq!(m.entries().len(), 2);
        assert_eq!(m.find("bb").unwrap().path, "bb.jsonl");
        assert!(m.has_size(10) && !m.has_size(30));
        m.record(entry("dd", 30)).unwrap();
        let again = Manifest::open(dir.path()).unwrap();
        assert_eq!(again.entries().iter().map(|e| e.sha256.as_str()).collect::<Vec<_>>(), ["aa", "bb", "dd"]);
    }

    #[test]
    fn unreadable_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), "not json\n\n").unwrap();
        assert!(Manifest::open(dir.path()).unwrap().entries().is_empty());
    }
}
