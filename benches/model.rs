//! Criterion benches: decoding + validating one event and encoding it for the bus, the per-event
//! cost every source and the stream processor pay. `cargo bench --bench model`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use streamify::model::{EventKind, FixedClock, Pseudonymizer, Timestamp, Validator, decode_json};

const TRANSACTION: &str = r#"{"v":1,"transaction_id":"tx-000000000042","user_id":18231,"amount":129.95,"merchant":"Northwind Outfitters","timestamp":"2025-01-03T14:22:31.120000Z","is_fraud":false,"payment_method":"credit_card","location":"Austin, United States","device_id":"dev-18231-1","product_id":"P00412","category":"electronics","quantity":1,"currency":"USD","channel":"web","ip_address":"10.23.4.5","session_id":"s-00000000001f"}"#;
const CLICK: &str = r#"{"v":1,"event_id":"ev-0000000000001a","user_id":18231,"session_id":"s-00000000001f","event_type":"add_to_cart","event_timestamp":"2025-01-03T14:20:02.500000Z","product_id":"P00412","category":"electronics","price":129.95,"quantity":1,"page_url":"/p/P00412","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","ip_address":"10.23.4.5"}"#;

fn validator() -> Validator {
    Validator::new(
        Arc::new(FixedClock(Timestamp::parse("2025-06-01T00:00:00Z").unwrap())),
        std::time::Duration::from_secs(300),
        Pseudonymizer::new(b"bench-key-bench-key", 1),
    )
}

fn bench(c: &mut Criterion) {
    let v = validator();
    let mut group = c.benchmark_group("model");
    group.throughput(Throughput::Elements(1));
    for (name, kind, line) in [("transaction", EventKind::Transaction, TRANSACTION), ("click", EventKind::Click, CLICK)]
    {
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| decode_json(kind, black_box(line.as_bytes()), &v).unwrap())
        });
        let event = decode_json(kind, line.as_bytes(), &v).unwrap();
        let mut out = Vec::with_capacity(512);
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&event).encode(&mut out);
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
