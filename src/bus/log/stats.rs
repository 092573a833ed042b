//! Figures about a log directory, read from its files without taking any lock, so they can be
//! taken while other processes write.

use super::offsets;
use super::segment;
use super::topic::{partition_count, topics_on_disk};
use crate::bus::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Every topic and consumer group of a log directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogStats {
    pub topics: BTreeMap<String, TopicStats>,
    pub groups: BTreeMap<String, GroupStats>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TopicStats {
    /// Records retained, over all partitions.
    pub records: u64,
    /// Bytes of valid frames, over all partitions.
    pub bytes: u64,
    pub partitions: Vec<PartitionStats>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PartitionStats {
    pub partition: u32,
    /// The earliest retained offset.
    pub start_offset: u64,
    /// The offset the next record will get.
    pub end_offset: u64,
    pub records: u64,
    pub bytes: u64,
    pub segments: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupStats {
    /// Records not yet consumed, over the group's committed partitions.
    pub lag: u64,
    pub partitions: Vec<GroupPartitionStats>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupPartitionStats {
    pub topic: String,
    pub partition: u32,
    /// The committed next offset.
    pub committed: u64,
    /// Records from the committed offset (or the earliest retained one) to the end.
    pub lag: u64,
}

/// Reads figures from the files in `dir` without taking any lock.
pub fn stats(dir: &Path) -> Result<LogStats> {
    let mut stats = LogStats::default();
    for (name, topic_dir) in topics_on_disk(dir)? {
        let mut topic = TopicStats::default();
        for p in 0..partition_count(&topic_dir)? {
            let part = partition_stats(&topic_dir.join(p.to_string()), p)?;
            topic.records += part.records;
            topic.bytes += part.bytes;
            topic.partitions.push(part);
        }
        stats.topics.insert(name, topic);
    }
    for (group, path) in offsets::list_groups(dir)? {
        let mut figures = GroupStats::default();
        for (tp, committed) in offsets::read(&path)? {
            let part = stats.topics.get(&tp.topic).and_then(|t| t.partitions.get(tp.partition as usize));
            let lag = part.map_or(0, |p| p.end_offset.saturating_sub(committed.max(p.start_offset)));
            figures.lag += lag;
            figures.partitions.push(GroupPartitionStats { topic: tp.topic, partition: tp.partition, committed, lag });
        }
        stats.groups.insert(group, figures);
    }
    Ok(stats)
}

fn partition_stats(dir: &Path, partition: u32) -> Result<PartitionStats> {
    let segments = segment::list(dir)?;
    let mut part = PartitionStats { partition, segments: segments.len() as u32, ..Default::default() };
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else { return Ok(part) };
    let scan = segment::scan(&last.path, last.base)?;
    part.start_offset = first.base;
    part.end_offset = scan.end_offset(last.base);
    part.records = part.end_offset - part.start_offset;
    part.bytes = segments[..segments.len() - 1].iter().map(|s| s.bytes).sum::<u64>() + scan.valid_bytes;
    Ok(part)
}
