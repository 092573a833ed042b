//! The log against a trivial in-memory model: random send / flush / poll / commit / crash
//! sequences. A crash drops every handle without a flush, and may first tear a flush (cut the
//! last segment at a random byte past the acknowledged end), append garbage to a segment, or
//! leave a junk temporary offsets file. After every reopen: each acknowledged record is present
//! exactly once and in order, nothing else is, and committed offsets survive.

use super::tests::small;
use super::*;
use crate::bus::{Consumer, Producer, TopicPartition, partition_for};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::io::Write as _;

const TOPICS: [&str; 2] = ["a", "b"];
const PARTITIONS: u32 = 2;

#[derive(Clone, Debug)]
enum Op {
    Send { topic: usize, key: u8, len: usize },
    Flush,
    Poll { max: usize },
    Commit,
    Crash(Crash),
}

#[derive(Clone, Debug)]
enum Crash {
    Clean,
    TornFlush { pick: usize, cut: f64 },
    Garbage { pick: usize, bytes: Vec<u8> },
    StaleOffsetsTmp,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..2usize, 0..6u8, 0..700usize).prop_map(|(topic, key, len)| Op::Send { topic, key, len }),
        3 => Just(Op::Flush),
        3 => (1..40usize).prop_map(|max| Op::Poll { max }),
        1 => Just(Op::Commit),
        1 => prop_oneof![
            Just(Crash::Clean),
            (0..4usize, 0.0..1.0f64).prop_map(|(pick, cut)| Crash::TornFlush { pick, cut }),
            (0..4usize, proptest::collection::vec(any::<u8>(), 1..64))
                .prop_map(|(pick, bytes)| Crash::Garbage { pick, bytes }),
            Just(Crash::StaleOffsetsTmp),
        ]
        .prop_map(Op::Crash),
    ]
}

type Tp = (usize, u32);
/// A record as the model keeps it: (key, value).
type Kv = (Vec<u8>, Vec<u8>);
/// Every record per topic-partition.
type Contents = BTreeMap<Tp, Vec<Kv>>;
/// Per topic-partition: (key, value length) of each record.
type Summary = Vec<(Tp, Vec<(Vec<u8>, usize)>)>;

/// What the log should hold.
#[derive(Default)]
struct Model {
    acked: Contents,
    pending: Vec<(Tp, Vec<u8>, Vec<u8>)>,
    round_robin: [u32; 2],
    positions: BTreeMap<Tp, u64>,
    committed: BTreeMap<Tp, u64>,
}

struct Live {
    log: Log,
    producer: LogProducer,
    consumer: LogConsumer,
}

fn open(dir: &std::path::Path, config: &LogConfig) -> Live {
    let log = Log::open(dir, PARTITIONS, config).expect("reopen");
    let producer = log.producer();
    let consumer = log.consumer("g", &TOPICS).expect("consumer");
    Live { log, producer, consumer }
}

fn tp((topic, partition): Tp) -> TopicPartition {
    TopicPartition::new(TOPICS[topic], partition)
}

fn last_segment(dir: &std::path::Path, (topic, partition): Tp) -> Option<segment::SegmentFile> {
    segment::list(&dir.join(TOPICS[topic]).join(partition.to_string())).ok()?.pop()
}

/// Every record on disk, by partition, read by a fresh consumer.
fn contents(log: &Log, round: usize) -> Contents {
    let mut consumer = log.consumer(&format!("check-{round}"), &TOPICS).unwrap();
    let mut out: Contents = BTreeMap::new();
    loop {
        let polled = consumer.poll(500).unwrap();
        if polled.is_empty() {
            return out;
        }
        for (topic, records) in polled.topics {
            let t = TOPICS.iter().position(|n| *n == topic).unwrap();
            for r in records {
                let list = out.entry((t, r.partition)).or_default();
                assert_eq!(r.offset, list.len() as u64, "offsets are dense from 0");
                list.push((r.key.to_vec(), r.value.to_vec()));
            }
        }
    }
}

/// Keys and value lengths, for readable failures.
fn summary(records: &Contents) -> Summary {
    records.iter().map(|(tp, list)| (*tp, list.iter().map(|(k, v)| (k.clone(), v.len())).collect())).collect()
}

fn run(ops: Vec<Op>, fsync: FsyncPolicy) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let config = small(fsync);
    let mut model = Model::default();
    let mut live = open(dir.path(), &config);
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Send { topic, key, len } => {
                let key: Vec<u8> = if key == 0 { Vec::new() } else { vec![b'k', key] };
                let value: Vec<u8> = (0..len).map(|i| (i + step) as u8).collect();
                let partition = if key.is_empty() {
                    let p = model.round_robin[topic];
                    model.round_robin[topic] = (p + 1) % PARTITIONS;
                    p
                } else {
                    partition_for(&key, PARTITIONS)
                };
                live.producer.send(TOPICS[topic], &key, &value).unwrap();
                model.pending.push(((topic, partition), key, value));
            }
            Op::Flush => {
                live.producer.flush().unwrap();
                for (tp, key, value) in model.pending.drain(..) {
                    model.acked.entry(tp).or_default().push((key, value));
                }
            }
            Op::Poll { max } => {
                let polled = live.consumer.poll(max).unwrap();
                prop_assert!(polled.len() <= max);
                for (topic, records) in polled.topics {
                    let t = TOPICS.iter().position(|n| *n == topic).unwrap();
                    for r in records {
                        let position = model.positions.entry((t, r.partition)).or_insert(0);
                        prop_assert_eq!(r.offset, *position, "records come in order, none skipped");
                        let expected = &model.acked[&(t, r.partition)][r.offset as usize];
                        prop_assert_eq!((&r.key[..], &r.value[..]), (&expected.0[..], &expected.1[..]));
                        *position += 1;
                    }
                }
            }
            Op::Commit => {
                live.consumer.commit().unwrap();
                for t in 0..TOPICS.len() {
                    for p in 0..PARTITIONS {
                        model.committed.insert((t, p), model.positions.get(&(t, p)).copied().unwrap_or(0));
                    }
                }
            }
            Op::Crash(crash) => {
                let mut torn: Option<(Tp, Vec<Kv>)> = None;
                match crash {
                    Crash::Clean => {}
                    Crash::TornFlush { pick, cut } => {
                        let touched: Vec<Tp> = {
                            let mut t: Vec<Tp> = model.pending.iter().map(|p| p.0).collect();
                            t.sort();
                            t.dedup();
                            t
                        };
                        if !touched.is_empty() {
                            let victim = touched[pick % touched.len()];
                            let before = last_segment(dir.path(), victim);
                            live.producer.flush().unwrap();
                            let after = last_segment(dir.path(), victim).unwrap();
                            // Past the acknowledged end: the old size (which may include garbage
                            // the writer has cut since) or the start of a new segment.
                            let floor = match &before {
                                Some(b) if b.path == after.path => b.bytes.min(after.bytes),
                                _ => 0,
                            };
                            let at = floor + ((after.bytes - floor) as f64 * cut) as u64;
                            std::fs::OpenOptions::new().write(true).open(&after.path).unwrap().set_len(at).unwrap();
                            let mut batch = Vec::new();
                            for (tp, key, value) in model.pending.drain(..) {
                                if tp == victim {
                                    batch.push((key, value));
                                } else {
                                    model.acked.entry(tp).or_default().push((key, value));
                                }
                            }
                            torn = Some((victim, batch));
                        }
                    }
                    Crash::Garbage { pick, bytes } => {
                        let victim = (pick % 2, (pick / 2) as u32);
                        if let Some(last) = last_segment(dir.path(), victim) {
                            let mut file = std::fs::OpenOptions::new().append(true).open(&last.path).unwrap();
                            file.write_all(&bytes).unwrap();
                        }
                    }
                    Crash::StaleOffsetsTmp => {
                        let tmp = offsets::path(dir.path(), "g").with_extension("offsets.tmp");
                        std::fs::create_dir_all(tmp.parent().unwrap()).unwrap();
                        std::fs::write(tmp, b"streamify-offsets 1\na 0 99999\n").unwrap();
                    }
                }
                model.pending.clear();
                drop(live);
                live = open(dir.path(), &config);
                if let Some((victim, batch)) = torn {
                    // The torn flush left some prefix of the victim's batch; it is now part of
                    // the log like any other record.
                    let on_disk = contents(&live.log, step).remove(&victim).unwrap_or_default();
                    let acked = model.acked.entry(victim).or_default();
                    prop_assert!(on_disk.len() >= acked.len(), "acknowledged records were lost");
                    let survivors = on_disk.len() - acked.len();
                    prop_assert!(survivors <= batch.len(), "more records than were ever sent");
                    acked.extend(batch.into_iter().take(survivors));
                }
                model.round_robin = [0; 2];
                model.positions = model.committed.clone();
                for t in 0..TOPICS.len() {
                    for p in 0..PARTITIONS {
                        let expected = model.committed.get(&(t, p)).copied().unwrap_or(0);
                        prop_assert_eq!(
                            live.consumer.position(&tp((t, p))),
                            Some(expected),
                            "committed offsets survive"
                        );
                    }
                }
                let on_disk = contents(&live.log, step);
                let expected: Contents =
                    model.acked.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.clone())).collect();
                prop_assert!(
                    on_disk == expected,
                    "after reopen the log must hold exactly the acknowledged records:\n on disk {:?}\n expected {:?}",
                    summary(&on_disk),
                    summary(&expected)
                );
            }
        }
    }
    // Appends after all that still work, and verify finds nothing wrong.
    live.producer.send("a", b"", b"last").unwrap();
    live.producer.flush().unwrap();
    drop(live);
    let report = verify(dir.path());
    prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_records_survive_random_crashes(
        ops in proptest::collection::vec(op(), 1..80),
        batch in any::<bool>(),
    ) {
        run(ops, if batch { FsyncPolicy::Batch } else { FsyncPolicy::Interval })?;
    }
}
