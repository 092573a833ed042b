//! Criterion benches of the generator: events into memory, and events encoded in the bus
//! encoding. Run with `cargo bench --bench generate`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use streamify::generate::{Generator, Params, World};

const BATCH: u64 = 100_000;

fn bench(c: &mut Criterion) {
    let params = Params::defaults();
    let world = Arc::new(World::build(&params, &streamify::config::Config::defaults().pseudonymizer()));
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);

    // One long-running generator: steady state, with the queue of sessions in flight.
    let mut generator = Generator::new(params.clone(), world.clone());
    group.bench_function("events", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                std::hint::black_box(generator.next_event());
            }
        })
    });

    let mut generator = Generator::new(params.clone(), world.clone());
    let mut buf = Vec::with_capacity(BATCH as usize * 400);
    group.bench_function("events_encoded", |b| {
        b.iter(|| {
            buf.clear();
            for _ in 0..BATCH {
                generator.next_event().encode(&mut buf);
                buf.push(b'\n');
            }
            std::hint::black_box(buf.len())
        })
    });

    let no_clicks = Params { clickstream: false, ..params.clone() };
    group.throughput(Throughput::Elements(BATCH / 10));
    let mut generator = Generator::new(no_clicks, world.clone());
    group.bench_function("transactions_only", |b| {
        b.iter(|| {
            for _ in 0..BATCH / 10 {
                std::hint::black_box(generator.next_event());
            }
        })
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("world_build", |b| {
        b.iter_batched(
            || params.clone(),
            |p| World::build(&p, &streamify::config::Config::defaults().pseudonymizer()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
