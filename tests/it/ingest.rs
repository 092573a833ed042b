//! `streamify ingest` end to end: the real binary, a temp data dir, the embedded log.
//!
//! Every test here writes to the embedded log, so they pass once `bus::log` is in (until then
//! `Log::open` is a placeholder that refuses). Topics are read back with `streamify log stats
//! --json`; [`topic_records`] is the one place that knows that output's shape.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest").join(name)
}

fn streamify(data_dir: &Path, args: &[&str]) -> Output {
    crate::harness::streamify().arg("--data-dir").arg(data_dir).args(args).output().expect("running streamify")
}

fn ingest_json(data_dir: &Path, args: &[&str]) -> (Value, Output) {
    let mut all = vec!["ingest", "--json"];
    all.extend_from_slice(args);
    let out = streamify(data_dir, &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("summary is not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    (summary, out)
}

fn reasons(summary: &Value) -> Vec<(String, u64)> {
    summary["rejected_by_reason"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
}

/// Records on `topic` per `streamify log stats --json`: a topic entry (in a `topics` list or
/// map) with a `records` count, or partitions with one each.
fn topic_records(data_dir: &Path, topic: &str) -> u64 {
    let out = streamify(data_dir, &["log", "stats", "--json"]);
    assert!(out.status.success(), "log stats failed: {}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_slice(&out.stdout).expect("log stats --json prints JSON");
    stats["topics"][topic]["records"].as_u64().unwrap_or(0)
}

/// Every byte the log wrote, to look for what must never be there.
fn log_bytes(dir: &Path) -> Vec<u8> {
    crate::harness::files_under(dir).into_values().flatten().collect()
}

#[test]
fn ingest_reports_exact_counts_and_the_topics_hold_them() {
    let data = tempfile::tempdir().unwrap();
    let jsonl = fixture("transactions.jsonl");
    let clicks = fixture("clicks.ndjson");
    let (s, out) = ingest_json(data.path(), &[jsonl.to_str().unwrap(), clicks.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((s["files"].as_u64(), s["skipped"].as_u64()), (Some(2), Some(0)));
    assert_eq!((s["accepted"].as_u64(), s["rejected"].as_u64()), (Some(8), Some(18)));
    let expected: Vec<(String, u64)> = [
        ("bad_timestamp", 2),
        ("future_timestamp", 1),
        ("invalid_json", 2),
        ("invalid_utf8", 1),
        ("invalid_value", 1),
        ("missing_field", 3),
        ("negative_value", 3),
        ("not_an_object", 1),
        ("out_of_range", 1),
        ("unknown_enum_value", 2),
        ("wrong_type", 1),
    ]
    .iter()
    .map(|(r, n)| (r.to_string(), *n))
    .collect();
    assert_eq!(reasons(&s), expected);
    assert!(s["bytes"].as_u64().unwrap() > 0 && s["seconds"].as_f64().is_some());
    assert!(s["lines_per_second"].as_f64().is_some());

    let bytes = log_bytes(&data.path().join("log"));
    for raw in ["alice.smith@example.com", "bob@example.org"] {
        assert!(!bytes.windows(raw.len()).any(|w| w == raw.as_bytes()), "{raw} reached the log");
    }
    assert_eq!(topic_records(data.path(), "transactions"), 5);
    assert_eq!(topic_records(data.path(), "clickstream"), 3);
    assert_eq!(topic_records(data.path(), "dead-letter"), 18);
}

#[test]
fn csv_ingest_reports_exact_counts() {
    let data = tempfile::tempdir().unwrap();
    let (s, out) = ingest_json(data.path(), &[fixture("transactions.csv").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((s["accepted"].as_u64(), s["rejected"].as_u64()), (Some(4), Some(10)));
    assert_eq!(s["rejected_by_reason"]["invalid_csv"].as_u64(), Some(1));
    assert_eq!(s["rejected_by_reason"]["non_finite_number"].as_u64(), Some(1));
    assert_eq!(topic_records(data.path(), "transactions"), 4);
}

#[test]
fn a_second_run_over_a_directory_skips_what_was_ingested() {
    let data = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("transactions.jsonl"), input.path().join("a.jsonl")).unwrap();
    std::fs::copy(fixture("transactions.csv"), input.path().join("b.csv")).unwrap();
    let dir = input.path().to_str().unwrap();
    let (first, _) = ingest_json(data.path(), &[dir]);
    assert_eq!((first["files"].as_u64(), first["accepted"].as_u64()), (Some(2), Some(9)));
    let (second, out) = ingest_json(data.path(), &[dir]);
    assert!(out.status.success());
    assert_eq!((second["files"].as_u64(), second["skipped"].as_u64()), (Some(0), Some(2)));
    assert_eq!(second["accepted"].as_u64(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped, already ingested as"), "{stderr}");
    assert!(data.path().join("ingest/manifest.jsonl").exists());
    // --force ingests again.
    let (third, _) = ingest_json(data.path(), &["--force", dir]);
    assert_eq!(third["files"].as_u64(), Some(2));
    assert_eq!(topic_records(data.path(), "transactions"), 18);
}

#[test]
fn the_text_summary_is_one_line() {
    let data = tempfile::tempdir().unwrap();
    let out = streamify(data.path(), &["ingest", fixture("clicks.ndjson").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("ingested 1 file ("), "{stdout}");
    assert!(stdout.contains(": 3 accepted, 8 rejected (1 bad_timestamp, 1 invalid_json,"), "{stdout}");
    assert!(stdout.trim_end().ends_with("lines/s)"), "{stdout}");
}

#[test]
fn an_undetectable_schema_fails_naming_the_file_and_the_flag() {
    let data = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let odd = input.path().join("odd.csv");
    std::fs::write(&odd, "id,amount\n1,2\n").unwrap();
    let (s, out) = ingest_json(data.path(), &[odd.to_str().unwrap(), fixture("clicks.ndjson").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!((s["files"].as_u64(), s["failed"].as_u64(), s["accepted"].as_u64()), (Some(1), Some(1), Some(3)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot detect the schema of {}", odd.display())), "{stderr}");
    assert!(stderr.contains("pass --schema transaction or --schema click"), "{stderr}");
}
