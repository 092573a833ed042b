//! Tests of the log as a whole: scenarios for roll, retention, locking, verify and stats, and a
//! model-based property test of random append / flush / read / commit / crash sequences.

use super::segment;
use super::*;
use crate::bus::{Consumer, Polled, Producer, TopicPartition};
use crate::model::{FixedClock, Timestamp};
use std::io::Write as _;
use std::path::Path;

pub(super) fn small(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        fsync,
        fsync_interval: Duration::from_millis(50),
        retention_bytes: 0,
        retention_age: Duration::ZERO,
        max_record_bytes: 2048,
    }
}

fn value(i: usize, len: usize) -> Vec<u8> {
    format!("{i:08}").bytes().cycle().take(len.max(8)).collect()
}

fn read_all(log: &Log, topic: &str) -> Vec<(u32, u64, Vec<u8>)> {
    let mut consumer = log.consumer(&format!("read-all-{}", std::process::id()), &[topic]).unwrap();
    let mut out = Vec::new();
    loop {
        let polled = consumer.poll(1000).unwrap();
        if polled.is_empty() {
            break;
        }
        for (_, records) in polled.topics {
            out.extend(records.into_iter().map(|r| (r.partition, r.offset, r.value.to_vec())));
        }
    }
    out.sort();
    out
}

/// Appends `count` values of `len` bytes to topic `t` with empty keys (round-robin), flushed.
fn append(log: &Log, count: usize, len: usize) -> LogProducer {
    let mut producer = log.producer();
    for i in 0..count {
        producer.send("t", b"", &value(i, len)).unwrap();
    }
    producer.flush().unwrap();
    producer
}

fn segments(dir: &Path, topic: &str, partition: u32) -> Vec<segment::SegmentFile> {
    segment::list(&dir.join(topic).join(partition.to_string())).unwrap()
}

#[test]
fn records_round_trip_and_empty_keys_go_round_robin_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), 3, &small(FsyncPolicy::Batch)).unwrap();
    let mut producer = log.producer();
    for i in 0..7 {
        producer.send("t", b"", &value(i, 10)).unwrap();
    }
    assert!(read_all(&log, "t").is_empty(), "nothing is visible before flush");
    producer.flush().unwrap();
    let records = read_all(&log, "t");
    let partitions: Vec<u32> = records.iter().map(|r| r.0).collect();
    assert_eq!(partitions, vec![0, 0, 0, 1, 1, 2, 2]);
    assert_eq!(records[1], (0, 1, value(3, 10)), "round-robin: record 3 is the second of partition 0");
}

#[test]
fn a_paused_partition_is_skipped_until_resumed_from_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), 2, &small(FsyncPolicy::Batch)).unwrap();
    append(&log, 6, 10);
    let mut consumer = log.consumer("g", &["t"]).unwrap();
    let p1 = TopicPartition::new("t", 1);
    let partitions = |polled: Polled| -> Vec<(u32, u64)> {
        polled.topics.into_iter().flat_map(|(_, r)| r).map(|r| (r.partition, r.offset)).collect()
    };
    assert_eq!(partitions(consumer.poll(1).unwrap()), [(0, 0)]);
    consumer.pause(std::slice::from_ref(&p1));
    assert_eq!(partitions(consumer.poll(10).unwrap()), [(0, 1), (0, 2)], "only partition 0 is read");
    assert!(consumer.poll(10).unwrap().is_empty(), "a paused partition's records wait");
    assert_eq!(consumer.position(&p1), Some(0));
    consumer.resume(&[p1]);
    assert_eq!(partitions(consumer.poll(10).unwrap()), [(1, 0), (1, 1), (1, 2)]);
}

#[test]
fn a_segment_rolls_before_it_would_pass_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), 1, &small(FsyncPolicy::Batch)).unwrap();
    // 1000-byte values: 1020-byte frames, four fit in 4096 bytes.
    let producer = append(&log, 10, 1000);
    let files = segments(dir.path(), "t", 0);
    let layout: Vec<(u64, u64)> = files.iter().map(|s| (s.base, s.bytes)).collect();
    assert_eq!(layout, vec![(0, 4080), (4, 4080), (8, 2040)]);
    assert_eq!(read_all(&log, "t").len(), 10);
    // A reopened writer continues in the last segment.
    drop((producer, log));
    let log = Log::open(dir.path(), 1, &small(FsyncPolicy::Batch)).unwrap();
    let mut producer = log.producer();
    producer.send("t", b"", &value(10, 1000)).unwrap();
    producer.flush().unwrap();
    assert_eq!(segments(dir.path(), "t", 0).last().map(|s| (s.base, s.bytes)), Some((8, 3060)));
    assert_eq!(read_all(&log, "t").iter().map(|r| r.1).collect::<Vec<_>>(), (0..11).collect::<Vec<_>>());
}

#[test]
fn retention_by_size_deletes_the_oldest_closed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small(FsyncPolicy::Batch);
    let log = Log::open(dir.path(), 1, &config).unwrap();
    let producer = append(&log, 20, 1000);
    assert_eq!(segments(dir.path(), "t", 0).len(), 5);
    let mut consumer = log.consumer("slow", &["t"]).unwrap();
    drop((producer, log));
    config.retention_bytes = 9000;
    let log = Log::open(dir.path(), 1, &config).unwrap();
    let bases: Vec<u64> = segments(dir.path(), "t", 0).iter().map(|s| s.base).collect();
    assert_eq!(bases, vec![12, 16], "the oldest go until at most 9000 bytes remain");
    let stats = log.stats().unwrap();
    assert_eq!((stats.topics["t"].partitions[0].start_offset, stats.topics["t"].records), (12, 8));
    // A consumer whose position was deleted moves to the earliest retained offset.
    let first = consumer.poll(1).unwrap();
    assert_eq!(first.topics[0].1[0].offset, 12);
}

#[test]
fn retention_by_age_uses_the_injected_clock_and_keeps_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small(FsyncPolicy::Batch);
    config.retention_age = Duration::from_secs(3600);
    let log = Log::open(dir.path(), 1, &config).unwrap();
    let mut producer = log.producer();
    for i in 0..10 {
        producer.send("t", b"", &value(i, 1000)).unwrap();
    }
    producer.flush().unwrap();
    let files = segments(dir.path(), "t", 0);
    let day = std::time::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400);
    // The first segment was last written at `day`, the second two hours later.
    for (file, hours) in files.iter().zip([0u64, 2, 3]) {
        let when = day + Duration::from_secs(hours * 3600);
        std::fs::File::options().write(true).open(&file.path).unwrap().set_modified(when).unwrap();
    }
    let at = |hours: i64| FixedClock(Timestamp::from_secs(20_000 * 86_400 + hours * 3600));
    assert_eq!(log.enforce_retention(&at(1)).unwrap().segments_deleted, 0, "one hour old is kept");
    assert_eq!(log.enforce_retention(&at(2)).unwrap().segments_deleted, 1);
    assert_eq!(log.enforce_retention(&at(100)).unwrap().segments_deleted, 1, "the active segment stays");
    assert_eq!(segments(dir.path(), "t", 0).iter().map(|s| s.base).collect::<Vec<_>>(), vec![8]);
}

#[test]
fn a_second_writer_of_a_partition_gets_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = Log::open(dir.path(), 2, &small(FsyncPolicy::Batch)).unwrap();
    let second = Log::open(dir.path(), 2, &small(FsyncPolicy::Batch)).unwrap();
    let mut a = first.producer();
    a.send("t", b"", b"one").unwrap();
    a.flush().unwrap();
    let mut b = second.producer();
    b.send("t", b"", b"two").unwrap();
    let error = b.flush().unwrap_err();
    assert!(matches!(error, BusError::Locked(ref path) if path.ends_with("t/0")), "{error}");
    assert!(error.retryable());
    // Readers need no lock; the refused record stays buffered for a retry.
    assert_eq!(read_all(&second, "t").len(), 1);
    drop((a, first));
    b.flush().unwrap();
    assert_eq!(read_all(&second, "t").len(), 2);
}

#[test]
fn a_flush_that_one_partition_refuses_writes_nothing_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let first = Log::open(dir.path(), 2, &small(FsyncPolicy::Batch)).unwrap();
    let second = Log::open(dir.path(), 2, &small(FsyncPolicy::Batch)).unwrap();
    let key = |partition| {
        (0..).map(|i| format!("k{i}")).find(|k| crate::bus::partition_for(k.as_bytes(), 2) == partition).unwrap()
    };
    // The first log holds partition 1's writer.
    let mut a = first.producer();
    a.send("t", key(1).as_bytes(), b"held").unwrap();
    a.flush().unwrap();
    let mut b = second.producer();
    b.send("t", key(0).as_bytes(), b"zero").unwrap();
    b.send("t", key(1).as_bytes(), b"one").unwrap();
    assert!(matches!(b.flush().unwrap_err(), BusError::Locked(ref path) if path.ends_with("t/1")));
    assert_eq!(read_all(&second, "t").len(), 1, "partition 0 took nothing of the refused flush");
    drop((a, first));
    b.flush().unwrap();
    let values: Vec<Vec<u8>> = read_all(&second, "t").into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(values.len(), 3, "the retry wrote each record once");
    assert!(values.contains(&b"zero".to_vec()) && values.contains(&b"one".to_vec()));
}

#[test]
fn verify_reports_a_corrupt_closed_segment_and_notes_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), 1, &small(FsyncPolicy::Batch)).unwrap();
    let mut producer = log.producer();
    for i in 0..10 {
        producer.send("t", b"", &value(i, 1000)).unwrap();
    }
    producer.flush().unwrap();
    drop((producer, log));
    assert_eq!(verify(dir.path()).problems, Vec::<String>::new());
    let files = segments(dir.path(), "t", 0);
    // Flip a byte inside the second frame of the first (closed) segment.
    let mut bytes = std::fs::read(&files[0].path).unwrap();
    bytes[1020 + 500] ^= 0xff;
    std::fs::write(&files[0].path, bytes).unwrap();
    // Tear the active segment.
    std::fs::OpenOptions::new().append(true).open(&files[2].path).unwrap().write_all(&[7; 11]).unwrap();
    let report = verify(dir.path());
    assert_eq!(report.problems.len(), 1, "{report:?}");
    let problem = &report.problems[0];
    assert!(problem.contains("00000000000000000000.log") && problem.contains("at byte 1020"), "{problem}");
    assert!(problem.contains("CRC32C") && problem.contains("Restore the partition"), "{problem}");
    assert_eq!(report.notes.len(), 1, "{report:?}");
    assert!(report.notes[0].contains("torn tail of 11 bytes at byte 2040"), "{}", report.notes[0]);
    // Readers return the records before the damage, then stop with an error naming the file and
    // position.
    let log = Log::open(dir.path(), 1, &small(FsyncPolicy::Batch)).unwrap();
    let mut consumer = log.consumer("g", &["t"]).unwrap();
    assert_eq!(consumer.poll(100).unwrap().len(), 1);
    let error = consumer.poll(100).unwrap_err().to_string();
    assert!(error.contains("00000000000000000000.log at byte 1020"), "{error}");
}

#[test]
fn the_same_appends_give_byte_identical_segments() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &dirs {
        let log = Log::open(dir.path(), 2, &small(FsyncPolicy::Interval)).unwrap();
        let mut producer = log.producer();
        for i in 0..50 {
            producer.send("t", format!("k{}", i % 7).as_bytes(), &value(i, 300)).unwrap();
            if i % 9 == 0 {
                producer.flush().unwrap();
            }
        }
        producer.flush().unwrap();
    }
    for p in 0..2 {
        let [a, b] = [0, 1].map(|d| segments(dirs[d].path(), "t", p));
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(std::fs::read(&a.path).unwrap(), std::fs::read(&b.path).unwrap(), "{}", a.path.display());
        }
    }
}

#[test]
fn stats_count_records_bytes_and_group_lag() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), 2, &small(FsyncPolicy::Batch)).unwrap();
    let mut producer = log.producer();
    for i in 0..30 {
        producer.send("transactions", format!("c{i}").as_bytes(), &value(i, 250)).unwrap();
    }
    producer.flush().unwrap();
    let mut consumer = log.consumer("processor", &["transactions"]).unwrap();
    assert_eq!(consumer.poll(10).unwrap().len(), 10);
    consumer.commit().unwrap();
    let stats = stats(dir.path()).unwrap();
    let topic = &stats.topics["transactions"];
    assert_eq!(topic.records, 30);
    assert_eq!(topic.partitions.iter().map(|p| p.records).sum::<u64>(), 30);
    assert_eq!(topic.bytes, topic.partitions.iter().map(|p| p.bytes).sum::<u64>());
    assert!(topic.bytes > 30 * 250);
    assert_eq!(stats.groups["processor"].lag, 20);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["topics"]["transactions"]["records"], 30);
    assert_eq!(json["groups"]["processor"]["partitions"][0]["topic"], "transactions");
}

#[test]
fn records_larger_than_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), 1, &small(FsyncPolicy::Batch)).unwrap();
    let mut producer = log.producer();
    let error = producer.send("t", b"k", &[0; 2048]).unwrap_err();
    assert!(matches!(error, BusError::TooLarge { size: 2049, limit: 2048 }), "{error}");
    producer.send("t", b"", &[0; 2048]).unwrap();
    assert!(matches!(producer.send("Bad", b"", b""), Err(BusError::BadTopic(_))));
}

#[test]
fn a_reader_in_another_handle_sees_flushed_records_and_waits_at_a_partial_frame() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), 1, &small(FsyncPolicy::Batch)).unwrap();
    let reader = Log::open(dir.path(), 1, &small(FsyncPolicy::Batch)).unwrap();
    let mut consumer = reader.consumer("g", &["t"]).unwrap();
    let mut producer = writer.producer();
    producer.send("t", b"", b"first").unwrap();
    producer.flush().unwrap();
    assert_eq!(consumer.poll(10).unwrap().len(), 1);
    // A half-written frame at the tail is "not yet"...
    let path = &segments(dir.path(), "t", 0)[0].path;
    let mut frame = Vec::new();
    segment::encode_unsealed(&mut frame, b"", b"second");
    segment::seal(&mut frame, 1);
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(&frame[..10]).unwrap();
    assert!(consumer.poll(10).unwrap().is_empty());
    // ...and is read once complete.
    file.write_all(&frame[10..]).unwrap();
    let polled = consumer.poll(10).unwrap();
    assert_eq!(polled.topics[0].1[0].value, &b"second"[..]);
    assert_eq!(consumer.position(&TopicPartition::new("t", 0)), Some(2));
}
