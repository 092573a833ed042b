//! kill -9 of a process appending to the embedded log: every acknowledged record survives,
//! intact and exactly once, and a reader in another process never sees a torn record.
//!
//! The appending child is this test binary itself, run with the exact name of
//! [`log_crash_child_appends_until_killed`] and [`CHILD_DIR`] set (without it, that test does
//! nothing), so it works under both `cargo test` and `cargo nextest`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use streamify::bus::log::{Log, LogConfig, verify};
use streamify::bus::{Consumer, Producer, Record, TopicPartition, partition_for};

const CHILD_DIR: &str = "STREAMIFY_LOG_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "log_crash::log_crash_child_appends_until_killed";
const TOPIC: &str = "crash";
const PARTITIONS: u32 = 2;

fn config() -> LogConfig {
    // Small segments so that kills also land around rolls; fsync per batch (the default).
    LogConfig { segment_bytes: 64 << 10, max_record_bytes: 4096, ..LogConfig::default() }
}

fn key(i: u64) -> Vec<u8> {
    format!("customer-{}", i % 11).into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    let mut v = format!("record {i:012} ").into_bytes();
    v.extend((0..i % 300).map(|j| (i + j) as u8));
    v
}

fn index_of(record: &Record) -> u64 {
    let text = std::str::from_utf8(&record.value[7..19]).expect("record index is text");
    text.parse().expect("record index is a number")
}

/// A record is intact when it is exactly what the child wrote for its index, in its partition.
fn check_intact(record: &Record) -> u64 {
    let i = index_of(record);
    assert_eq!(record.key, key(i), "key of record {i}");
    assert_eq!(record.value, value(i), "value of record {i}");
    assert_eq!(record.partition, partition_for(&key(i), PARTITIONS), "partition of record {i}");
    i
}

/// The child: appends batches of growing size and prints each acknowledged count.
#[test]
fn log_crash_child_appends_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let log = Log::open(Path::new(&dir), PARTITIONS, &config()).unwrap();
    // Resume after the highest record on disk (records of a torn batch past it were never
    // acknowledged).
    let mut consumer = log.consumer("child", &[TOPIC]).unwrap();
    let stats = log.stats().unwrap();
    let mut next = 0;
    for p in stats.topics.get(TOPIC).map(|t| t.partitions.clone()).unwrap_or_default() {
        if p.end_offset > p.start_offset {
            consumer.seek(&TopicPartition::new(TOPIC, p.partition), p.end_offset - 1).unwrap();
        }
    }
    for (_, records) in consumer.poll(usize::MAX).unwrap().topics {
        for r in &records {
            next = next.max(check_intact(r) + 1);
        }
    }
    println!("start {next}");
    let mut producer = log.producer();
    let mut batch = 1;
    loop {
        for _ in 0..batch {
            producer.send(TOPIC, &key(next), &value(next)).unwrap();
            next += 1;
        }
        producer.flush().unwrap();
        println!("acked {next}");
        batch = batch % 200 + 7;
    }
}

/// A small xorshift, seeded per run and printed, for the kill moments.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill moments seed: {seed}");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let reader_log = Log::open(dir.path(), PARTITIONS, &config()).unwrap();
    let mut reader = reader_log.consumer("concurrent-reader", &[TOPIC]).unwrap();
    let mut acked: Vec<Range<u64>> = Vec::new();
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        let pump = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let mut start = None;
        let mut last = None;
        // The test harness prints `test <name> ... ` before the child's first line.
        let number_after = |line: &str, tag: &str| line.split(tag).nth(1).and_then(|n| n.trim().parse().ok());
        let note = |line: String, start: &mut Option<u64>, last: &mut Option<u64>| {
            if let Some(n) = number_after(&line, "start ") {
                *start = Some(n);
            } else if let Some(n) = number_after(&line, "acked ") {
                *last = Some(n);
            }
        };
        while start.is_none() {
            let line = received.recv_timeout(Duration::from_secs(20)).expect("the child starts");
            note(line, &mut start, &mut last);
        }
        // Kill at a random moment, reading concurrently meanwhile: a reader in another process
        // only ever sees intact records.
        let kill_at = Instant::now() + Duration::from_millis(10 + rng.below(350));
        while Instant::now() < kill_at {
            for (_, records) in reader.poll(10_000).unwrap().topics {
                records.iter().for_each(|r| {
                    check_intact(r);
                });
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        pump.join().unwrap();
        for line in received.try_iter() {
            note(line, &mut start, &mut last);
        }
        let (start, last) = (start.unwrap(), last.unwrap_or(start.unwrap()));
        eprintln!("round {round}: child started at {start}, acknowledged up to {last}");
        acked.push(start..last);
    }

    // Reopen as a writer would (cutting any torn tail), then read everything.
    drop((reader, reader_log));
    let log = Log::open(dir.path(), PARTITIONS, &config()).unwrap();
    let mut consumer = log.consumer("check", &[TOPIC]).unwrap();
    let mut seen = HashSet::new();
    let mut last_in_partition = [None::<u64>; PARTITIONS as usize];
    loop {
        let polled = consumer.poll(50_000).unwrap();
        if polled.is_empty() {
            break;
        }
        for (_, records) in polled.topics {
            for r in &records {
                let i = check_intact(r);
                assert!(seen.insert(i), "record {i} appears twice");
                let last = &mut last_in_partition[r.partition as usize];
                assert!(last.is_none_or(|l| l < i), "record {i} out of order in partition {}", r.partition);
                *last = Some(i);
            }
        }
    }
    let total: u64 = acked.iter().map(|r| r.end - r.start).sum();
    assert!(total > 0, "the child acknowledged nothing: {acked:?}");
    for range in &acked {
        for i in range.clone() {
            assert!(seen.contains(&i), "acknowledged record {i} is missing (acknowledged ranges {acked:?})");
        }
    }
    let report = verify(dir.path());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
