//! Consumer-group offsets files: format, atomic replace, merge under a group lock. The format is
//! specified in the [module docs](super).

use super::segment::sync_dir;
use super::topic::GROUPS_DIR;
use crate::bus::{BusError, Result, TopicPartition, check_topic_name};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "streamify-offsets 1";
const SUFFIX: &str = ".offsets";

/// Committed next-offsets by partition.
pub(crate) type Offsets = BTreeMap<TopicPartition, u64>;

/// A group name as a file name: bytes outside `[a-z0-9_-]` become `%XX`.
pub(crate) fn encode_group(group: &str) -> String {
    let mut out = String::with_capacity(group.len());
    for b in group.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The group name a file stem stands for, if it is one [`encode_group`] writes.
pub(crate) fn decode_group(stem: &str) -> Option<String> {
    let bytes = stem.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = stem.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let group = String::from_utf8(out).ok()?;
    (encode_group(&group) == stem).then_some(group)
}

pub(crate) fn groups_dir(log_dir: &Path) -> PathBuf {
    log_dir.join(GROUPS_DIR)
}

pub(crate) fn path(log_dir: &Path, group: &str) -> PathBuf {
    groups_dir(log_dir).join(format!("{}{SUFFIX}", encode_group(group)))
}

/// The groups with an offsets file, by name, with the file.
pub(crate) fn list_groups(log_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir = groups_dir(log_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(BusError::Io { path: dir, source }),
    };
    let mut groups = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BusError::io(&dir))?;
        let name = entry.file_name();
        let Some(group) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)).and_then(decode_group) else {
            continue;
        };
        groups.push((group, entry.path()));
    }
    groups.sort();
    Ok(groups)
}

/// The group's committed offsets; empty when it never committed.
pub(crate) fn load(log_dir: &Path, group: &str) -> Result<Offsets> {
    read(&path(log_dir, group))
}

/// Reads and checks one offsets file; a missing file is no offsets.
pub(crate) fn read(path: &Path) -> Result<Offsets> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes).map_err(|(position, why)| BusError::Corrupt {
            path: path.to_path_buf(),
            position,
            why: format!("{why}; delete the file to restart the group from the earliest offsets, or seek it by hand"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Offsets::new()),
        Err(source) => Err(BusError::Io { path: path.to_path_buf(), source }),
    }
}

/// Parses the file's bytes; on error, the byte position and what is wrong.
fn parse(bytes: &[u8]) -> Result<Offsets, (u64, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| (e.valid_up_to() as u64, "not UTF-8 text".to_string()))?;
    let body_end = text.trim_end_matches('\n').rfind('\n').map(|i| i + 1).ok_or((0, "truncated file".to_string()))?;
    let (body, trailer) = text.split_at(body_end);
    let stored = trailer
        .trim_end()
        .strip_prefix("crc32c ")
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or((body_end as u64, "last line is not `crc32c <hex>`".to_string()))?;
    let actual = crc32c::crc32c(body.as_bytes());
    if stored != actual {
        return Err((body_end as u64, format!("CRC32C mismatch (stored {stored:08x}, computed {actual:08x})")));
    }
    let mut lines = body.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some(MAGIC) {
        return Err((0, format!("first line is not `{MAGIC}`")));
    }
    let mut offsets = Offsets::new();
    let mut position = MAGIC.len() as u64 + 1;
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = match fields[..] {
            [topic, partition, offset] if check_topic_name(topic).is_ok() => {
                partition.parse::<u32>().ok().zip(offset.parse::<u64>().ok()).map(|(p, o)| (topic, p, o))
            }
            _ => None,
        };
        let Some((topic, partition, offset)) = parsed else {
            return Err((position, format!("line {:?} is not `<topic> <partition> <offset>`", line.trim_end())));
        };
        offsets.insert(TopicPartition::new(topic, partition), offset);
        position += line.len() as u64;
    }
    Ok(offsets)
}

pub(crate) fn render(offsets: &Offsets) -> String {
    let mut text = format!("{MAGIC}\n");
    for (tp, offset) in offsets {
        text.push_str(&format!("{} {} {offset}\n", tp.topic, tp.partition));
    }
    let crc = crc32c::crc32c(text.as_bytes());
    text.push_str(&format!("crc32c {crc:08x}\n"));
    text
}

/// Merges `new` into the group's committed offsets, durably and atomically.
pub(crate) fn commit(log_dir: &Path, group: &str, new: &[(TopicPartition, u64)]) -> Result<()> {
    let dir = groups_dir(log_dir);
    std::fs::create_dir_all(&dir).map_err(BusError::io(&dir))?;
    let lock_path = dir.join(format!("{}.lock", encode_group(group)));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(BusError::io(&lock_path))?;
    lock.lock().map_err(BusError::io(&lock_path))?;
    let target = path(log_dir, group);
    let mut offsets = read(&target)?;
    for (tp, offset) in new {
        offsets.insert(tp.clone(), *offset);
    }
    let tmp = target.with_extension("offsets.tmp");
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(render(&offsets).as_bytes())?;
        file.sync_data()
    };
    write().map_err(BusError::io(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(BusError::io(&target))?;
    sync_dir(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_map_to_one_file_each() {
        for group in ["processor", "Fraud Team", "a/b", "%", "ünï", ".hidden"] {
            let encoded = encode_group(group);
            assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"%_-".contains(&b)), "{encoded}");
            assert_eq!(decode_group(&encoded).as_deref(), Some(group));
        }
        assert_eq!(decode_group("%61"), None, "`a` is never encoded, so this is not a name we wrote");
    }

    #[test]
    fn commits_replace_the_file_atomically_and_merge() {
        let dir = tempfile::tempdir().unwrap();
        let tp = |t: &str, p| TopicPartition::new(t, p);
        commit(dir.path(), "g", &[(tp("a", 0), 5), (tp("a", 1), 7)]).unwrap();
        commit(dir.path(), "g", &[(tp("a", 1), 9), (tp("b", 0), 1)]).unwrap();
        let offsets = load(dir.path(), "g").unwrap();
        assert_eq!(offsets.into_iter().collect::<Vec<_>>(), vec![(tp("a", 0), 5), (tp("a", 1), 9), (tp("b", 0), 1)]);
        let files: Vec<_> = std::fs::read_dir(groups_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(files.is_empty(), "no temp file left: {files:?}");
        // A leftover temp file from a crash is ignored and replaced.
        std::fs::write(path(dir.path(), "g").with_extension("offsets.tmp"), "junk").unwrap();
        assert_eq!(load(dir.path(), "g").unwrap().len(), 3);
        commit(dir.path(), "g", &[(tp("a", 0), 6)]).unwrap();
        assert_eq!(load(dir.path(), "g").unwrap()[&tp("a", 0)], 6);
        assert_eq!(list_groups(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn a_damaged_offsets_file_is_reported_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        commit(dir.path(), "g", &[(TopicPartition::new("a", 0), 5)]).unwrap();
        let file = path(dir.path(), "g");
        let text = std::fs::read_to_string(&file).unwrap().replace("a 0 5", "a 0 6");
        std::fs::write(&file, text).unwrap();
        let error = load(dir.path(), "g").unwrap_err().to_string();
        assert!(error.contains("CRC32C mismatch") && error.contains("delete the file"), "{error}");
    }
}
