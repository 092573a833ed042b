//! Topics on disk: creation (all partitions at once, by rename) and discovery.

use super::partition::Partition;
use super::segment::sync_dir;
use crate::bus::{BusError, Result, check_topic_name};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The directory of consumer-group files; a name no topic can have.
pub(crate) const GROUPS_DIR: &str = ".groups";

/// A topic this process has opened.
pub(crate) struct Topic {
    partitions: Vec<Partition>,
}

impl Topic {
    /// Opens the topic `name` under `log_dir`, creating it with `partitions` partitions when it
    /// is not there.
    pub fn open_or_create(log_dir: &Path, name: &str, partitions: u32) -> Result<Topic> {
        let dir = log_dir.join(name);
        if !dir.exists() {
            create(log_dir, name, partitions)?;
        }
        let count = partition_count(&dir)?;
        let partitions = (0..count).map(|p| Partition::new(dir.join(p.to_string()))).collect();
        Ok(Topic { partitions })
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    pub fn len(&self) -> u32 {
        self.partitions.len() as u32
    }
}

/// Builds the topic in a temporary directory and renames it into place, so that other
/// processes see all of its partitions or none.
fn create(log_dir: &Path, name: &str, partitions: u32) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = log_dir.join(format!(".tmp-{name}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&tmp);
    for p in 0..partitions {
        let part = tmp.join(p.to_string());
        std::fs::create_dir_all(&part).map_err(BusError::io(&part))?;
        sync_dir(&part)?;
    }
    sync_dir(&tmp)?;
    let target = log_dir.join(name);
    match std::fs::rename(&tmp, &target) {
        Ok(()) => sync_dir(log_dir),
        Err(_) if target.is_dir() => {
            // Another process created it first; theirs stands.
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(source) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(BusError::Io { path: target, source })
        }
    }
}

/// The number of partitions of a topic directory: its subdirectories must be `0 .. N-1`.
pub(crate) fn partition_count(topic_dir: &Path) -> Result<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(topic_dir).map_err(BusError::io(topic_dir))? {
        let entry = entry.map_err(BusError::io(topic_dir))?;
        let name = entry.file_name();
        let Some(p) = name.to_str().and_then(|n| n.parse::<u32>().ok().filter(|p| p.to_string() == n)) else {
            continue;
        };
        if entry.path().is_dir() {
            found.push(p);
        }
    }
    found.sort_unstable();
    if found.is_empty() || found.iter().enumerate().any(|(i, &p)| p != i as u32) {
        return Err(BusError::Corrupt {
            path: topic_dir.to_path_buf(),
            position: 0,
            why: format!(
                "partition directories are {found:?}, not 0..N-1; restore the missing ones or move the topic away"
            ),
        });
    }
    Ok(found.len() as u32)
}

/// The topics present under `log_dir`, by name.
pub(crate) fn topics_on_disk(log_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut topics = Vec::new();
    for entry in std::fs::read_dir(log_dir).map_err(BusError::io(log_dir))? {
        let entry = entry.map_err(BusError::io(log_dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        if check_topic_name(&name).is_ok() && entry.path().is_dir() {
            topics.push((name, entry.path()));
        }
    }
    topics.sort();
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_topic_keeps_its_partition_count() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Topic::open_or_create(dir.path(), "t", 3).unwrap().len(), 3);
        assert_eq!(Topic::open_or_create(dir.path(), "t", 8).unwrap().len(), 3);
        assert_eq!(topics_on_disk(dir.path()).unwrap().len(), 1);
        std::fs::remove_dir(dir.path().join("t/1")).unwrap();
        assert!(matches!(Topic::open_or_create(dir.path(), "t", 3), Err(BusError::Corrupt { .. })));
    }
}
