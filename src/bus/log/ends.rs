//! The end offsets of partitions, read from disk again and again at the cost of what was
//! appended since the last reading: consumer lag for a running processor, whichever process
//! writes the log.
//!
//! A reading lists each partition's segments and scans its last one on from where the previous
//! reading stopped (every frame is checked, as [`super::stats`] does; an incomplete tail is not
//! counted yet). A segment that rolled, or a tail a recovering writer cut back, is scanned from
//! its start. Readers take no lock, so this never waits for a writer.

use super::segment;
use crate::bus::Result;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// End offsets per topic, indexed by partition; the same shape as the processor's positions.
pub type Ends = std::collections::BTreeMap<String, Vec<u64>>;

/// Reads the end offsets of some topics, remembering how far it has scanned.
pub struct EndOffsets {
    dir: PathBuf,
    topics: Vec<String>,
    tails: HashMap<PathBuf, Tail>,
}

/// How far the last segment of a partition was scanned.
struct Tail {
    base: u64,
    records: u64,
    valid_bytes: u64,
}

impl EndOffsets {
    /// For `topics` of the log in `dir` (topics not on disk yet read as having no partitions).
    pub fn new(dir: &Path, topics: &[&str]) -> Self {
        EndOffsets {
            dir: dir.to_path_buf(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            tails: HashMap::new(),
        }
    }

    /// The offset each partition's next record will get.
    pub fn read(&mut self) -> Result<Ends> {
        let mut ends = Ends::new();
        for topic in &self.topics {
            let topic_dir = self.dir.join(topic);
            let mut partitions = Vec::new();
            if topic_dir.is_dir() {
                for p in 0..super::topic::partition_count(&topic_dir)? {
                    let dir = topic_dir.join(p.to_string());
                    partitions.push(end_of(&dir, &mut self.tails)?);
                }
            }
            ends.insert(topic.clone(), partitions);
        }
        Ok(ends)
    }
}

fn end_of(dir: &Path, tails: &mut HashMap<PathBuf, Tail>) -> Result<u64> {
    let Some(last) = segment::list(dir)?.pop() else { return Ok(0) };
    let tail = tails.entry(dir.to_path_buf()).or_insert(Tail { base: last.base, records: 0, valid_bytes: 0 });
    if tail.base != last.base || last.bytes < tail.valid_bytes {
        *tail = Tail { base: last.base, records: 0, valid_bytes: 0 };
    }
    let mut file = match File::open(&last.path) {
        Ok(file) => file,
        // Rolled or deleted by retention since the listing: the next reading sees the new one.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(tail.base + tail.records),
        Err(e) => return Err(crate::bus::BusError::Io { path: last.path, source: e }),
    };
    let mut scan = segment::scan_on(&mut file, &last.path, last.base, tail.records, tail.valid_bytes)?;
    if matches!(scan.stopped, Some(segment::Bad::Invalid(_))) && tail.valid_bytes > 0 {
        // Cut back and written again between readings: the frames no longer line up.
        scan = segment::scan_on(&mut file, &last.path, last.base, 0, 0)?;
    }
    tail.records = scan.records;
    tail.valid_bytes = scan.valid_bytes;
    Ok(scan.end_offset(last.base))
}

/// Records in `ends` not yet at `positions` (both per topic and partition); partitions missing
/// from `positions` count from 0.
pub fn lag(ends: &Ends, positions: &Ends) -> u64 {
    ends.iter()
        .flat_map(|(topic, parts)| {
            let read = positions.get(topic);
            parts.iter().enumerate().map(move |(p, end)| {
                let at = read.and_then(|r| r.get(p)).copied().unwrap_or(0);
                end.saturating_sub(at)
            })
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::log::{Log, LogConfig};
    use crate::bus::{Consumer, Producer};

    fn config(segment_bytes: u64) -> LogConfig {
        LogConfig { segment_bytes, max_record_bytes: 1024, ..LogConfig::default() }
    }

    #[test]
    fn end_offsets_follow_appends_across_rolls_and_lag_counts_what_is_unread() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), 2, &config(4096)).unwrap();
        let mut ends = EndOffsets::new(dir.path(), &["t", "absent"]);
        assert_eq!(ends.read().unwrap()["absent"], Vec::<u64>::new());
        let mut producer = log.producer();
        let mut sent = [0u64; 2];
        for round in 0..5u64 {
            for i in 0..(40 + round * 13) {
                let key = format!("k{i}");
                producer.send("t", key.as_bytes(), &[7u8; 100]).unwrap();
                sent[crate::bus::partition_for(key.as_bytes(), 2) as usize] += 1;
            }
            producer.flush().unwrap();
            // Each reading scans only what was appended since, yet agrees with a full scan.
            let read = ends.read().unwrap();
            assert_eq!(read["t"], sent.to_vec(), "round {round}");
            let stats = log.stats().unwrap();
            let full: Vec<u64> = stats.topics["t"].partitions.iter().map(|p| p.end_offset).collect();
            assert_eq!(read["t"], full);
        }
        let segments = segment::list(&dir.path().join("t").join("0")).unwrap().len();
        assert!(segments > 1, "the test should roll segments, found {segments}");

        let mut consumer = log.consumer("g", &["t"]).unwrap();
        let polled = consumer.poll(50).unwrap().len() as u64;
        let positions: Ends = [(
            "t".to_string(),
            (0..2).map(|p| consumer.position(&crate::bus::TopicPartition::new("t", p)).unwrap_or(0)).collect(),
        )]
        .into();
        let read = ends.read().unwrap();
        assert_eq!(lag(&read, &positions), sent.iter().sum::<u64>() - polled);
        assert_eq!(lag(&read, &Ends::new()), sent.iter().sum::<u64>());
        assert_eq!(lag(&read, &read), 0);
    }

    #[test]
    fn a_tail_cut_back_is_scanned_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), 1, &config(1 << 20)).unwrap();
        let mut producer = log.producer();
        for _ in 0..10 {
            producer.send("t", b"k", &[1u8; 50]).unwrap();
        }
        producer.flush().unwrap();
        let mut ends = EndOffsets::new(dir.path(), &["t"]);
        assert_eq!(ends.read().unwrap()["t"], vec![10]);
        drop(producer);
        drop(log);
        // Cut the segment inside its sixth frame, as a crash mid-write leaves it.
        let seg = segment::list(&dir.path().join("t").join("0")).unwrap().pop().unwrap();
        let frame = seg.bytes / 10;
        std::fs::OpenOptions::new().write(true).open(&seg.path).unwrap().set_len(frame * 5 + 3).unwrap();
        assert_eq!(ends.read().unwrap()["t"], vec![5]);
    }
}
