//! The bus: named topics of partitioned, append-only records.
//!
//! # What is promised
//!
//! - **Ordering** holds within one partition: records are read in the order they were appended,
//!   each with a dense offset (0, 1, 2, ...). Records with the same key always go to the same
//!   partition ([`partition_for`]), so one customer's (or one session's) events stay in order.
//! - **Durability**: a record is *acknowledged* when [`Producer::flush`] returns `Ok`. An
//!   acknowledged record survives a crash of the process (kill -9) and, with the default fsync
//!   policy, of the machine. Records sent but not yet flushed may be lost by a crash; they are
//!   never half-visible (a torn record is cut off on reopen).
//! - **Delivery** to consumers is at-least-once from the last committed offset: a consumer group's
//!   committed position ([`Consumer::commit`]) survives crashes, and a restarted consumer resumes
//!   from it. Exactly-once *effects* are built on top by the stream processor (checkpointed offsets
//!   and idempotent sinks).
//!
//! The traits are shaped after Kafka's (topics, partitions, offsets, consumer groups, commit) so a
//! Kafka implementation can sit behind them. The embedded implementation is [`log`]; [`memory`]
//! is an in-memory one for tests.

pub mod log;
pub mod memory;

use bytes::Bytes;
use std::fmt;
use std::path::PathBuf;

pub type Result<T, E = BusError> = std::result::Result<T, E>;

/// What can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("log corrupt in {path} at byte {position}: {why}; run `streamify validate` for a full report")]
    Corrupt { path: PathBuf, position: u64, why: String },
    #[error("data dir {0} is in use by another streamify process; stop it or use another --data-dir")]
    Locked(PathBuf),
    #[error("topic `{topic}` has no partition {partition} (it has {partitions})")]
    NoSuchPartition { topic: String, partition: u32, partitions: u32 },
    #[error("invalid topic name {0:?}: use lowercase letters, digits, `-` and `_`")]
    BadTopic(String),
    #[error("record of {size} bytes is larger than the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the log cannot accept records right now: {0}")]
    Unavailable(String),
}

impl BusError {
    /// Whether trying the same call again later can help.
    pub fn retryable(&self) -> bool {
        matches!(self, BusError::Unavailable(_) | BusError::Locked(_))
            || matches!(self, BusError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }

    #[allow(dead_code)] // used by the embedded log
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BusError {
        let path = path.into();
        move |source| BusError::Io { path, source }
    }
}

/// One partition of one topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: &str, partition: u32) -> Self {
        TopicPartition { topic: topic.to_string(), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A record read from the bus. Key and value are shared buffers: cloning a record, or handing
/// it on, copies no payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub partition: u32,
    pub offset: u64,
    pub key: Bytes,
    pub value: Bytes,
}

/// Records read in one poll, grouped by topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    pub topics: Vec<(String, Vec<Record>)>,
}

impl Polled {
    pub fn len(&self) -> usize {
        self.topics.iter().map(|(_, r)| r.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Writes records to topics.
pub trait Producer: Send {
    /// Buffers a record; the partition is chosen from the key with [`partition_for`] (an empty
    /// key goes round-robin). Not acknowledged until [`Producer::flush`] returns.
    fn send(&mut self, topic: &str, key: &[u8], value: &[u8]) -> Result<()>;

    /// Writes every buffered record and makes it durable (per the fsync policy); on `Ok` they
    /// are acknowledged. On `Err` they stay buffered, for a retried `flush` or [`Producer::discard`].
    fn flush(&mut self) -> Result<()>;

    /// Drops the buffered records: a sender that gave up on them after a failed flush.
    fn discard(&mut self);
}

/// Reads topics as a member of a consumer group.
pub trait Consumer: Send {
    /// Up to `max` records past the current positions; empty when caught up.
    fn poll(&mut self, max: usize) -> Result<Polled>;

    /// Moves the position of one partition (the next offset `poll` returns).
    fn seek(&mut self, tp: &TopicPartition, offset: u64) -> Result<()>;

    /// The next offset `poll` would return for a partition.
    fn position(&self, tp: &TopicPartition) -> Option<u64>;

    /// Durably stores the current positions as the group's committed offsets.
    fn commit(&mut self) -> Result<()>;

    /// Durably stores the given next-offsets as the group's committed offsets.
    fn commit_offsets(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()>;

    /// The group's committed next-offset of a partition, if any.
    fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>>;

    /// The partitions this consumer reads.
    fn assignment(&self) -> Vec<TopicPartition>;

    /// Stops `poll` from reading these partitions until [`Consumer::resume`]; their positions
    /// stay. As Kafka's `pause`: the reader uses it to let slower partitions catch up.
    fn pause(&mut self, partitions: &[TopicPartition]);

    /// Lets `poll` read these partitions again.
    fn resume(&mut self, partitions: &[TopicPartition]);
}

/// The partition of a keyed record: CRC32C of the key modulo the partition count. Stable across
/// runs and machines, so a replay puts every record where it was.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    debug_assert!(partitions > 0);
    crc32c::crc32c(key) % partitions.max(1)
}

/// Topic names are path components on disk: keep them simple.
pub fn check_topic_name(topic: &str) -> Result<()> {
    let ok = !topic.is_empty()
        && topic.len() <= 200
        && topic.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
        && !topic.starts_with('.');
    if ok { Ok(()) } else { Err(BusError::BadTopic(topic.to_string())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_is_stable_and_spreads() {
        assert_eq!(partition_for(b"customer-1", 8), partition_for(b"customer-1", 8));
        let used: std::collections::HashSet<u32> =
            (0..100).map(|i| partition_for(format!("c{i}").as_bytes(), 4)).collect();
        assert_eq!(used.len(), 4);
    }

    #[test]
    fn topic_names_are_checked() {
        assert!(check_topic_name("dead-letter").is_ok());
        assert!(check_topic_name("../etc").is_err());
        assert!(check_topic_name("").is_err());
    }
}
