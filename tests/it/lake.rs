//! The lake as a user meets it: a small lake written with the library, then read and maintained
//! with `streamify sql` and `streamify lake`.

use crate::harness::Sandbox;
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use streamify::sink::{Lake, Layer, TableSpec, to_batch};

#[derive(serde::Serialize)]
struct Row {
    transaction_id: String,
    amount: f64,
    event_time: String,
    event_date: String,
}

/// `silver_transactions` with 25 rows committed over three epochs, plus one uncommitted stage.
fn small_lake(sb: &Sandbox) {
    let lake = Lake::open(&sb.data_dir().join("lake")).unwrap();
    let spec = TableSpec {
        layer: Layer::Silver,
        name: "transactions",
        schema: Arc::new(Schema::new(vec![
            Field::new("transaction_id", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, true),
            Field::new("event_time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new("event_date", DataType::Date32, false),
        ])),
        partition_by: vec!["event_date"],
    };
    let mut table = lake.table(&spec).unwrap();
    let mut next = 0;
    for (epoch, rows) in [(1u64, 10), (2, 10), (3, 5)] {
        let rows: Vec<Row> = (next..next + rows)
            .map(|i| Row {
                transaction_id: format!("t{i}"),
                amount: 10.0 + i as f64,
                event_time: format!("2025-01-0{}T12:00:00Z", 1 + i % 3),
                event_date: format!("2025-01-0{}", 1 + i % 3),
            })
            .collect();
        next += rows.len();
        let staged = table.stage(&[to_batch(&spec.schema, &rows).unwrap()]).unwrap();
        table.commit("it", epoch, &staged).unwrap();
    }
    let uncommitted = vec![Row {
        transaction_id: "ghost".into(),
        amount: 1.0,
        event_time: "2025-01-01T00:00:00Z".into(),
        event_date: "2025-01-01".into(),
    }];
    table.stage(&[to_batch(&spec.schema, &uncommitted).unwrap()]).unwrap();
}

#[test]
fn sql_counts_committed_rows_in_csv_and_json() {
    let sb = Sandbox::new();
    small_lake(&sb);
    let out = sb.run(&["sql", "select count(*) as n from silver_transactions", "--format", "csv"]).success();
    assert_eq!(out.stdout, "n\n25\n");
    let out = sb
        .run(&[
            "sql",
            "select transaction_id, amount from silver_transactions order by amount limit 2",
            "--format",
            "json",
        ])
        .success();
    assert_eq!(
        out.json(),
        serde_json::json!([{"transaction_id": "t0", "amount": 10.0}, {"transaction_id": "t1", "amount": 11.0}])
    );
    let out = sb.run(&["sql", "select count(*) as n from silver_transactions"]).success();
    assert!(out.stdout.contains("| 25 |"), "{}", out.stdout);
}

#[test]
fn sql_unknown_table_fails_naming_it_and_the_known_tables() {
    let sb = Sandbox::new();
    small_lake(&sb);
    let out = sb.run(&["sql", "select * from silver_nope"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("silver_nope") && out.stderr.contains("silver_transactions"), "{}", out.stderr);
}

#[test]
fn sql_without_a_lake_says_how_to_make_one() {
    let sb = Sandbox::new();
    let out = sb.run(&["sql", "select 1"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("no lake under") && out.stderr.contains("streamify quickstart"), "{}", out.stderr);
}

#[test]
fn sql_reads_statements_from_stdin() {
    let sb = Sandbox::new();
    small_lake(&sb);
    let mut child = sb
        .command(&["sql", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = "\\d\nselect count(*) as n\n  from silver_transactions;\nselect 2 as two;\n\\q\nselect 3;\n";
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "silver_transactions\nn\n25\ntwo\n2\n");
}

#[test]
fn lake_tables_optimize_and_vacuum_work_from_the_command_line() {
    let sb = Sandbox::new();
    small_lake(&sb);
    let tables = sb.run(&["lake", "tables", "--json"]).success().json();
    assert_eq!(tables[0]["sql_name"], "silver_transactions");
    assert_eq!(tables[0]["rows"], 25);
    assert_eq!(tables[0]["files"], 9);
    let text = sb.run(&["lake", "tables"]).success().stdout;
    assert!(text.contains("silver_transactions  silver"), "{text}");

    let dry = sb.run(&["lake", "vacuum", "--retention", "0s", "--dry-run"]).success();
    assert!(dry.stdout.contains("silver_transactions: would delete 1 files"), "{}", dry.stdout);

    let out = sb.run(&["lake", "optimize", "--table", "silver_transactions", "--target-size", "64MiB"]).success();
    assert!(out.stdout.contains("silver_transactions: 9 files compacted into 3"), "{}", out.stdout);
    let out = sb.run(&["sql", "select count(*) as n from silver_transactions", "--format", "csv"]).success();
    assert_eq!(out.stdout, "n\n25\n");

    let out = sb.run(&["lake", "vacuum", "--retention", "0s"]).success();
    assert!(out.stdout.contains("silver_transactions: deleted 10 files"), "{}", out.stdout);
    let out = sb.run(&["lake", "optimize", "--table", "gold_nope"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("gold_nope"), "{}", out.stderr);
}
