//! Tests of the lake against real Delta tables in temp dirs, named after what the sink promises.

use super::*;
use crate::serve::sql::SqlSession;
use crate::sink::{LakeError, to_batch};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use deltalake::arrow::array::Int64Array;
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use std::time::Duration;

const APP: &str = "processor-test";

#[derive(Serialize)]
struct Order {
    order_id: String,
    customer_id: i64,
    amount: f64,
    event_time: DateTime<Utc>,
    event_date: NaiveDate,
}

fn schema(amount: DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("amount", amount, true),
        Field::new("event_time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("event_date", DataType::Date32, false),
    ]))
}

fn spec() -> TableSpec {
    TableSpec {
        layer: Layer::Silver,
        name: "orders",
        schema: schema(DataType::Float64),
        partition_by: vec!["event_date"],
    }
}

/// `n` orders starting at id `first`, spread over two days.
fn orders(first: usize, n: usize) -> RecordBatch {
    let rows: Vec<Order> = (first..first + n)
        .map(|i| {
            let event_time = Utc.with_ymd_and_hms(2025, 1, 1 + (i % 2) as u32, 10, 0, 0).unwrap();
            Order {
                order_id: format!("o-{i}"),
                customer_id: (i % 7) as i64,
                amount: i as f64 * 1.5,
                event_time,
                event_date: event_time.date_naive(),
            }
        })
        .collect();
    to_batch(&spec().schema, &rows).unwrap()
}

fn count(lake: &Lake) -> i64 {
    let session = SqlSession::open(lake).unwrap();
    let batches = session.query("select count(*) as n from silver_orders").unwrap();
    batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn lake_create_and_open_are_idempotent_even_when_racing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let root = root.clone();
            std::thread::spawn(move || Lake::open(&root).unwrap().table(&spec()).map(|t| t.version()))
        })
        .collect();
    for racer in racers {
        assert_eq!(racer.join().unwrap().unwrap(), Some(0));
    }
    let lake = Lake::open(&root).unwrap();
    assert_eq!(lake.table(&spec()).unwrap().version(), Some(0));
    let tables = lake.tables().unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!((tables[0].sql_name.as_str(), tables[0].version, tables[0].files), ("silver_orders", 0, 0));
    assert!(root.join("silver/orders/_delta_log").is_dir());
    assert_eq!(lake.open_table(Layer::Silver, "orders").unwrap().id(), "silver/orders");
    let error = lake.open_table(Layer::Gold, "nope").unwrap_err();
    assert!(matches!(error, LakeError::UnknownTable { ref known, .. } if known == &["silver_orders"]), "{error:?}");
    assert!(lake.open_table(Layer::Gold, "../escape").is_err());
}

#[test]
fn lake_schema_mismatch_names_the_table_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    lake.table(&spec()).unwrap();
    let changed = TableSpec { schema: schema(DataType::Int64), ..spec() };
    let error = lake.table(&changed).unwrap_err();
    assert!(matches!(error, LakeError::SchemaMismatch { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("silver/orders") && text.contains("`amount`"), "{text}");
    assert!(text.contains("double") && text.contains("long"), "{text}");
    assert!(!error.retryable());

    let mut fields: Vec<Field> = spec().schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("coupon", DataType::Utf8, true));
    let wider = TableSpec { schema: Arc::new(Schema::new(fields)), ..spec() };
    let text = lake.table(&wider).unwrap_err().to_string();
    assert!(text.contains("`coupon` is missing from the table"), "{text}");

    let unpartitioned = TableSpec { partition_by: vec![], ..spec() };
    let text = lake.table(&unpartitioned).unwrap_err().to_string();
    assert!(text.contains("partition"), "{text}");
}

#[test]
fn lake_stage_then_commit_makes_rows_visible_to_sql() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut table = lake.table(&spec()).unwrap();
    let staged = table.stage(&[orders(0, 10), orders(10, 5)]).unwrap();
    assert_eq!(staged.adds.len(), 2, "one file per event_date partition");
    assert_eq!(count(&lake), 0, "staged rows are invisible before the commit");
    assert_eq!(table.commit(APP, 1, &staged).unwrap(), CommitOutcome::Committed { version: 1 });
    assert_eq!(count(&lake), 15);
    assert_eq!(table.committed_epoch(APP).unwrap(), Some(1));
    assert_eq!(table.committed_epoch("someone-else").unwrap(), None);
    let session = SqlSession::open(&lake).unwrap();
    let per_day = session.query("select event_date, count(*) from silver_orders group by 1 order by 1").unwrap();
    assert_eq!(per_day.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
}

#[test]
fn lake_a_stager_streams_batches_into_files_and_an_unfinished_one_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut table = lake.table(&spec()).unwrap();
    let mut stager = table.stager().unwrap();
    for first in (0..40).step_by(4) {
        stager.write(orders(first, 4)).unwrap();
    }
    stager.write(orders(0, 0)).unwrap();
    assert_eq!(stager.rows(), 40);
    let staged = stager.finish().unwrap();
    assert_eq!(staged.adds.len(), 2, "one file per event_date partition, however many batches");
    table.commit(APP, 1, &staged).unwrap();
    assert_eq!(count(&lake), 40);

    let mut abandoned = table.stager().unwrap();
    abandoned.write(orders(100, 6)).unwrap();
    drop(abandoned);
    let nothing = table.stager().unwrap().finish().unwrap();
    assert!(nothing.is_empty());
    table.commit(APP, 2, &nothing).unwrap();
    assert_eq!(count(&lake), 40, "an abandoned stager's rows are never visible");
}

#[test]
fn lake_commit_twice_for_one_epoch_writes_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut table = lake.table(&spec()).unwrap();
    let staged = table.stage(&[orders(0, 8)]).unwrap();
    assert!(matches!(table.commit(APP, 7, &staged).unwrap(), CommitOutcome::Committed { .. }));
    assert_eq!(table.commit(APP, 7, &staged).unwrap(), CommitOutcome::AlreadyCommitted);
    // An older epoch replayed after a newer one is also already in.
    assert_eq!(table.commit(APP, 6, &staged).unwrap(), CommitOutcome::AlreadyCommitted);
    assert_eq!(count(&lake), 8);
    assert_eq!(table.version(), Some(1));
}

#[test]
fn lake_commit_from_a_deserialized_staged_after_a_crash_lands_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = {
        let lake = Lake::open(dir.path()).unwrap();
        let mut table = lake.table(&spec()).unwrap();
        let staged = table.stage(&[orders(0, 12)]).unwrap();
        serde_json::to_string(&staged).unwrap()
        // Crash: the lake, the table and the staged value are dropped without committing.
    };
    for _restart in 0..2 {
        let lake = Lake::open(dir.path()).unwrap();
        let mut table = lake.table(&spec()).unwrap();
        let staged: Staged = serde_json::from_str(&checkpoint).unwrap();
        let outcome = table.commit(APP, 1, &staged).unwrap();
        assert_eq!(count(&lake), 12, "{outcome:?}");
    }
    let lake = Lake::open(dir.path()).unwrap();
    assert_eq!(lake.table(&spec()).unwrap().committed_epoch(APP).unwrap(), Some(1));
}

#[test]
fn lake_empty_epochs_commit_their_transaction_only() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut table = lake.table(&spec()).unwrap();
    let staged = table.stage(&[]).unwrap();
    assert!(staged.is_empty());
    assert!(table.stage(&[orders(0, 0)]).unwrap().is_empty());
    assert!(matches!(table.commit(APP, 1, &staged).unwrap(), CommitOutcome::Committed { .. }));
    assert_eq!(table.committed_epoch(APP).unwrap(), Some(1));
    assert_eq!(count(&lake), 0);
}

#[test]
fn lake_staged_but_uncommitted_files_are_invisible_and_vacuumed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut table = lake.table(&spec()).unwrap();
    let kept = table.stage(&[orders(0, 4)]).unwrap();
    table.commit(APP, 1, &kept).unwrap();
    let orphan = table.stage(&[orders(100, 6)]).unwrap(); // crash before the checkpoint: never committed
    assert_eq!(count(&lake), 4);
    assert_eq!(data_files(dir.path()).len(), 4);

    std::thread::sleep(Duration::from_millis(20));
    let dry = lake.vacuum(Duration::ZERO, true).unwrap();
    assert_eq!(dry[0].files.len(), 2, "{dry:?}");
    assert_eq!(data_files(dir.path()).len(), 4, "a dry run deletes nothing");
    let done = lake.vacuum(Duration::ZERO, false).unwrap();
    let mut orphan_paths: Vec<String> = orphan.adds.iter().map(|a| a.path.clone()).collect();
    orphan_paths.sort();
    assert_eq!(done[0].files, orphan_paths);
    assert_eq!(data_files(dir.path()).len(), 2);
    assert_eq!(count(&lake), 4);

    // A checkpointed epoch whose files were vacuumed is refused instead of committed.
    let error = table.commit(APP, 2, &orphan).unwrap_err();
    assert!(matches!(error, LakeError::StagedFileMissing { epoch: 2, .. }), "{error:?}");
    assert!(lake.vacuum(Duration::from_secs(3600), false).unwrap()[0].files.is_empty());
}

#[test]
fn lake_optimize_compacts_small_files_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut table = lake.table(&spec()).unwrap();
    for epoch in 1..=5u64 {
        let staged = table.stage(&[orders(epoch as usize * 100, 10)]).unwrap();
        table.commit(APP, epoch, &staged).unwrap();
    }
    assert_eq!(lake.tables().unwrap()[0].files, 10);
    let reports = lake.optimize(Some("silver_orders"), TARGET_FILE_SIZE).unwrap();
    assert_eq!((reports[0].files_removed, reports[0].files_added), (10, 2), "{reports:?}");
    let info = &lake.tables().unwrap()[0];
    assert_eq!((info.files, info.rows), (2, Some(50)));
    assert_eq!(count(&lake), 50);
    assert_eq!(table.committed_epoch(APP).unwrap(), Some(5), "optimize keeps application transactions");
    let error = lake.optimize(Some("nope"), TARGET_FILE_SIZE).unwrap_err();
    assert!(error.to_string().contains("silver_orders"), "{error}");
}

#[test]
fn lake_rejects_batches_of_another_schema() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut table = lake.table(&spec()).unwrap();
    let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(other, vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
    let error = table.stage(&[batch]).unwrap_err();
    assert!(error.to_string().contains("silver/orders"), "{error}");
    assert!(!error.retryable());
}
