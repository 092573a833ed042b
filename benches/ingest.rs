//! Criterion benches: file ingestion end to end (read, decode, validate, encode, send) over the
//! in-memory bus, for JSON lines and CSV.
//!
//! `cargo bench --bench ingest`. The input is generated here, deterministically: realistic
//! transactions with 1% malformed lines and some e-mail addresses. Set
//! `STREAMIFY_BENCH_WRITE=<file.jsonl>` (and optionally `STREAMIFY_BENCH_LINES`) to only write
//! such a file, e.g. to time `streamify ingest` on it.

use criterion::{Criterion, Throughput, criterion_group};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use streamify::bus::memory::MemoryBus;
use streamify::ingest::{IngestConfig, IngestOptions, ingest};
use streamify::model::{FixedClock, Pseudonymizer, Timestamp, Validator};
use streamify::telemetry::Progress;

const LINES: usize = 200_000;
const METHODS: &[&str] = &["credit_card", "debit_card", "paypal", "apple_pay", "crypto", "gift_card"];
const PLACES: &[&str] = &["Austin, USA", "Paris, France", "Lagos, Nigeria", "Berlin, Germany", "Tokyo, Japan"];

/// A simple deterministic generator (xorshift), so the bench needs nothing else.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `lines` JSON lines of transactions; one in a hundred is malformed.
pub fn jsonl(lines: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(lines * 300);
    for i in 0..lines {
        let user = rng.below(20_000);
        let amount = rng.below(500_000) as f64 / 100.0;
        let secs = rng.below(86_400 * 30);
        let (day, h, m, s) = (1 + secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
        let method = METHODS[rng.below(METHODS.len() as u64) as usize];
        let place = PLACES[rng.below(PLACES.len() as u64) as usize];
        let _ = write!(
            out,
            r#"{{"transaction_id":"TX{i:09}","user_id":{user},"amount":{amount},"merchant":"Merchant {merchant}","timestamp":"2024-01-{day:02}T{h:02}:{m:02}:{s:02}Z","is_fraud":false,"payment_method":"{method}","location":"{place}","device_id":"dev-{user}","product_id":"P{p}","category":"books","quantity":{q},"currency":"USD","channel":"web""#,
            merchant = rng.below(400),
            p = rng.below(3000),
            q = 1 + rng.below(3),
        );
        match rng.below(100) {
            0 => out.push_str(r#","amount_typo":"#),
            1..=10 => {
                let _ = write!(out, r#","customer_email":"user{user}@example.com"}}"#);
            }
            _ => out.push('}'),
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// The same transactions as CSV.
pub fn csv(lines: usize) -> Vec<u8> {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut out =
        String::from("transaction_id,user_id,amount,merchant,timestamp,is_fraud,payment_method,location,device_id\n");
    for i in 0..lines {
        let user = rng.below(20_000);
        let amount = if rng.below(100) == 0 { -1.0 } else { rng.below(500_000) as f64 / 100.0 };
        let method = METHODS[rng.below(METHODS.len() as u64) as usize];
        let place = PLACES[rng.below(PLACES.len() as u64) as usize];
        let _ = writeln!(
            out,
            r#"TX{i:09},{user},{amount},Merchant {},2024-01-15 10:{:02}:00,false,{method},"{place}",dev-{user}"#,
            rng.below(400),
            rng.below(60)
        );
    }
    out.into_bytes()
}

fn options(data_dir: &Path) -> IngestOptions {
    let clock = Arc::new(FixedClock(Timestamp::parse("2024-06-01T00:00:00Z").unwrap()));
    IngestOptions {
        format: None,
        schema: None,
        force: true,
        config: IngestConfig::default(),
        max_record_bytes: 1 << 20,
        validator: Validator::new(
            clock.clone(),
            std::time::Duration::from_secs(300),
            Pseudonymizer::new(b"bench-key-0123456789", 1),
        ),
        clock,
        manifest_dir: data_dir.join("ingest"),
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(LINES as u64));
    for (name, data) in [("jsonl", jsonl(LINES)), ("csv", csv(LINES))] {
        let path = dir.path().join(format!("input.{name}"));
        std::fs::write(&path, &data).unwrap();
        let opts = options(dir.path());
        group.bench_function(format!("{name}_{LINES}_lines_memory_bus"), |b| {
            b.iter(|| {
                let bus = MemoryBus::new(4);
                let summary =
                    ingest(std::slice::from_ref(&path), &opts, &mut bus.producer(), &Progress::new(None, "", false))
                        .unwrap();
                assert_eq!(summary.accepted + summary.rejected, LINES as u64);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(path) = std::env::var("STREAMIFY_BENCH_WRITE") {
        let lines = std::env::var("STREAMIFY_BENCH_LINES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
        std::fs::write(&path, jsonl(lines)).expect("writing the bench input");
        eprintln!("wrote {lines} lines to {path}");
        return;
    }
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
