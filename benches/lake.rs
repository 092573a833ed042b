//! Criterion benches of the lake sink with a silver-like transactions schema (22 columns,
//! partitioned by `event_date`, rows spread over two days):
//!
//! - `lake/to_batch/100000`: 100k row structs to one Arrow batch through serde;
//! - `lake/stage_commit/100000`: one epoch: stage a 100k-row batch as Parquet (snappy) and commit
//!   it with its application transaction.
//!
//! Run with `cargo bench --bench lake`; the lake lives in a temporary directory (`TMPDIR` moves it).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use streamify::sink::{Lake, Layer, TableSpec, to_batch};

const ROWS: usize = 100_000;

#[derive(Serialize)]
struct SilverTransaction {
    transaction_id: String,
    user_id: String,
    customer_id: i64,
    amount: f64,
    currency: &'static str,
    merchant: String,
    category: &'static str,
    product_id: String,
    quantity: i32,
    payment_method: &'static str,
    channel: &'static str,
    city: &'static str,
    country: &'static str,
    device_id: String,
    ip_address: String,
    session_id: Option<String>,
    is_fraud: bool,
    amount_band: &'static str,
    hour_of_day: i32,
    event_time: DateTime<Utc>,
    event_date: NaiveDate,
    source_offset: i64,
}

fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        text("transaction_id"),
        text("user_id"),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        text("currency"),
        text("merchant"),
        text("category"),
        text("product_id"),
        Field::new("quantity", DataType::Int32, false),
        text("payment_method"),
        text("channel"),
        text("city"),
        text("country"),
        text("device_id"),
        text("ip_address"),
        Field::new("session_id", DataType::Utf8, true),
        Field::new("is_fraud", DataType::Boolean, false),
        text("amount_band"),
        Field::new("hour_of_day", DataType::Int32, false),
        Field::new("event_time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("event_date", DataType::Date32, false),
        Field::new("source_offset", DataType::Int64, false),
    ]))
}

fn rows() -> Vec<SilverTransaction> {
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
    (0..ROWS)
        .map(|i| {
            let event_time = start + chrono::Duration::seconds(i as i64 * 2);
            SilverTransaction {
                transaction_id: format!("tx-{i:012}"),
                user_id: format!("u{}", i % 20_000),
                customer_id: (i % 20_000) as i64,
                amount: (i % 900) as f64 + 0.95,
                currency: "USD",
                merchant: format!("merchant-{}", i % 400),
                category: ["electronics", "fashion", "home", "grocery"][i % 4],
                product_id: format!("p{}", i % 3_000),
                quantity: (i % 3) as i32 + 1,
                payment_method: ["credit_card", "debit_card", "paypal"][i % 3],
                channel: ["web", "app", "pos"][i % 3],
                city: "Austin",
                country: "United States",
                device_id: format!("d{:08x}", i % 30_000),
                ip_address: format!("10.{}.{}.{}", i % 256, (i / 256) % 256, i % 7),
                session_id: (i % 5 == 0).then(|| format!("s{}", i / 5)),
                is_fraud: i % 50 == 0,
                amount_band: ["low", "medium", "high"][i % 3],
                hour_of_day: 12,
                event_time,
                event_date: event_time.date_naive(),
                source_offset: i as i64,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let schema = schema();
    let rows = rows();
    let mut group = c.benchmark_group("lake");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("to_batch/100000", |b| b.iter(|| to_batch(&schema, &rows).unwrap()));

    let batch = to_batch(&schema, &rows).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let spec = TableSpec { layer: Layer::Silver, name: "transactions", schema, partition_by: vec!["event_date"] };
    let mut table = lake.table(&spec).unwrap();
    let mut epoch = 0;
    group.bench_function("stage_commit/100000", |b| {
        b.iter(|| {
            epoch += 1;
            let staged = table.stage(std::slice::from_ref(&batch)).unwrap();
            table.commit("bench", epoch, &staged).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
