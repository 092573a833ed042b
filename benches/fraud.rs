//! Criterion bench of fraud scoring on the hot path: `FraudState::observe` + `score` per
//! transaction, over the generator's realistic mix (50,000 customers, 2% injected fraud) with the
//! state already warm. `cargo bench --bench fraud`.
//!
//! The transactions are generated once and replayed in a loop; every lap shifts their timestamps
//! by the span of the whole set, so event time keeps moving forward as in a live stream. The
//! 200,000 replayed transactions and the state do not fit in the CPU caches, so the main figure
//! includes the memory stalls of a large state; `observe_score_hot_cache` replays 2,000 of them.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use streamify::fraud::{Enrichment, FraudConfig, FraudState, ModelScore, score};
use streamify::generate::{Generator, Params, World};
use streamify::model::{Event, Timestamp, Transaction};

const CUSTOMERS: u32 = 50_000;
const TRANSACTIONS: usize = 200_000;

struct Replay {
    txs: Vec<Transaction>,
    times: Vec<i64>,
    span: i64,
    next: usize,
    lap: i64,
}

impl Replay {
    fn generate() -> Vec<Transaction> {
        let params = Params { customers: CUSTOMERS, clickstream: false, ..Params::defaults() };
        let world = Arc::new(World::build(&params, &streamify::config::Config::defaults().pseudonymizer()));
        let mut generator = Generator::new(params, world);
        let mut txs = Vec::with_capacity(TRANSACTIONS);
        while txs.len() < TRANSACTIONS {
            if let Event::Transaction(tx) = generator.next_event() {
                txs.push(tx);
            }
        }
        txs
    }

    fn new(txs: Vec<Transaction>) -> Replay {
        let times: Vec<i64> = txs.iter().map(|t| t.timestamp.micros()).collect();
        let span = times.iter().max().unwrap() - times.iter().min().unwrap() + 1;
        Replay { txs, times, span, next: 0, lap: 0 }
    }

    fn next(&mut self) -> &Transaction {
        if self.next == self.txs.len() {
            self.next = 0;
            self.lap += 1;
        }
        let i = self.next;
        self.next += 1;
        let tx = &mut self.txs[i];
        tx.timestamp = Timestamp::from_micros(self.times[i] + self.lap * self.span);
        tx
    }
}

fn bench(c: &mut Criterion) {
    let cfg = FraudConfig::default();
    let all = Replay::generate();
    // A small set stays in cache: the cost without memory stalls, for comparison.
    let mut hot = Replay::new(all[..2_000].to_vec());
    let mut hot_state = FraudState::new();
    let mut replay = Replay::new(all);
    let mut state = FraudState::new();
    let mut alerts = 0u64;
    for _ in 0..TRANSACTIONS {
        let tx = replay.next();
        let e = state.observe(tx, &cfg);
        alerts += u64::from(streamify::fraud::is_alert(score(tx, &e, None, &cfg).level, &cfg));
    }
    eprintln!(
        "fraud bench: {} transactions, {} customers in state, {} devices, {alerts} alerts in the warm-up lap",
        TRANSACTIONS,
        state.len(),
        state.device_count()
    );

    let mut group = c.benchmark_group("fraud");
    group.throughput(Throughput::Elements(1));
    group.bench_function("observe_score", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let tx = replay.next();
                let e = state.observe(tx, &cfg);
                black_box(score(tx, &e, None, &cfg));
            }
            start.elapsed()
        })
    });
    group.bench_function("observe_score_hot_cache", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let tx = hot.next();
                let e = hot_state.observe(tx, &cfg);
                black_box(score(tx, &e, None, &cfg));
            }
            start.elapsed()
        })
    });
    let model = ModelScore { model_version: "bench".into(), probability: 0.3 };
    group.bench_function("observe_score_with_model", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let tx = replay.next();
                let e = state.observe(tx, &cfg);
                black_box(score(tx, &e, Some(&model), &cfg));
            }
            start.elapsed()
        })
    });
    group.bench_function("enrich_stateless", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(Enrichment::stateless(replay.next(), &cfg));
            }
            start.elapsed()
        })
    });
    group.bench_function("score_only", |b| {
        let tx = replay.next().clone();
        let e = FraudState::new().observe(&tx, &cfg);
        b.iter(|| score(black_box(&tx), black_box(&e), None, &cfg))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
