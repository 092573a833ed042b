//! Criterion benches of the embedded log, with the default settings (fsync per batch):
//!
//! - `append/<batch>`: ~250-byte records keyed by customer id over 4 partitions, one `flush`
//!   (write + fsync of every touched partition) per batch;
//! - `read`: a fresh consumer group reading 1,000,000 such records from the start.
//!
//! Run with `cargo bench --bench log`; the log lives in a temporary directory on the same disk
//! as the system temp dir (`TMPDIR` moves it).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use streamify::bus::log::{Log, LogConfig};
use streamify::bus::{Consumer, Producer};

const PARTITIONS: u32 = 4;
const READ_RECORDS: usize = 1_000_000;

/// A record value of about 250 bytes, shaped like an encoded transaction.
fn value(i: u64) -> Vec<u8> {
    let mut v = format!(
        r#"{{"v":1,"transaction_id":"tx-{i:012}","user_id":{},"amount":{}.95,"merchant":"Northwind Outfitters","timestamp":"2025-01-03T14:22:31.120000Z","payment_method":"credit_card","location":"Austin, United States"}}"#,
        i % 50_000,
        i % 900
    )
    .into_bytes();
    v.resize(236, b' ');
    v
}

fn key(i: u64) -> Vec<u8> {
    format!("{}", i % 50_000).into_bytes()
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), PARTITIONS, &LogConfig::default()).unwrap();
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..10_000).map(|i| (key(i), value(i))).collect();
    let mut group = c.benchmark_group("log");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    for batch in [1_000usize, 8_192] {
        group.throughput(Throughput::Elements(batch as u64));
        let mut producer = log.producer();
        let mut next = 0usize;
        group.bench_function(format!("append/{batch}"), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    let (k, v) = &records[next % records.len()];
                    next += 1;
                    producer.send("transactions", k, v).unwrap();
                }
                producer.flush().unwrap();
            })
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), PARTITIONS, &LogConfig::default()).unwrap();
    let mut producer = log.producer();
    for i in 0..READ_RECORDS as u64 {
        producer.send("transactions", &key(i), &value(i)).unwrap();
        if i % 10_000 == 9_999 {
            producer.flush().unwrap();
        }
    }
    producer.flush().unwrap();

    let mut group = c.benchmark_group("log");
    group.sample_size(10).throughput(Throughput::Elements(READ_RECORDS as u64));
    let mut round = 0u64;
    group.bench_function("read", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let mut consumer = log.consumer(&format!("bench-{round}"), &["transactions"]).unwrap();
                let start = Instant::now();
                let mut seen = 0usize;
                let mut bytes = 0usize;
                while seen < READ_RECORDS {
                    let polled = consumer.poll(10_000).unwrap();
                    assert!(!polled.is_empty(), "log ended after {seen} of {READ_RECORDS} records");
                    for (_, records) in &polled.topics {
                        bytes += records.iter().map(|r| r.value.len()).sum::<usize>();
                    }
                    seen += polled.len();
                }
                total += start.elapsed();
                std::hint::black_box(bytes);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
