//! Library-level tests of file ingestion over the in-memory bus.

use super::*;
use crate::bus::memory::MemoryBus;
use crate::bus::{BusError, Producer, Record};
use crate::model::{DeadLetter, EventKind, FixedClock, Pseudonymizer, Timestamp, Validator, topic};
use crate::telemetry::Progress;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest").join(name)
}

fn options(data_dir: &Path) -> IngestOptions {
    let clock = Arc::new(FixedClock(Timestamp::parse("2024-06-01T00:00:00Z").unwrap()));
    IngestOptions {
        format: None,
        schema: None,
        force: false,
        // Small batches and several decoders, to exercise flushing and reordering.
        config: IngestConfig { batch_records: 3, max_line_bytes: 1 << 20, decode_threads: 3 },
        max_record_bytes: 1 << 20,
        validator: Validator::new(clock.clone(), std::time::Duration::from_secs(300), Pseudonymizer::new(b"k", 1)),
        clock,
        manifest_dir: data_dir.join("ingest"),
    }
}

fn quiet() -> Progress {
    Progress::new(None, "bytes", false)
}

fn run(paths: &[PathBuf], options: &IngestOptions, bus: &MemoryBus) -> Summary {
    ingest(paths, options, &mut bus.producer(), &quiet()).unwrap()
}

fn reasons(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
}

fn dead_letters(bus: &MemoryBus) -> Vec<DeadLetter> {
    let mut all: Vec<DeadLetter> =
        bus.records(topic::DEAD_LETTER).iter().map(|r| serde_json::from_slice(&r.value).unwrap()).collect();
    all.sort_by_key(|d| (d.source.clone(), d.line));
    all
}

#[test]
fn transaction_fixture_counts_every_reason_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new(4);
    let s = run(&[fixture("transactions.jsonl")], &options(dir.path()), &bus);
    assert_eq!((s.files, s.accepted, s.rejected), (1, 5, 10), "{s:#?}");
    let expected = reasons(&[
        ("bad_timestamp", 1),
        ("future_timestamp", 1),
        ("invalid_json", 1),
        ("invalid_utf8", 1),
        ("missing_field", 1),
        ("negative_value", 2),
        ("not_an_object", 1),
        ("unknown_enum_value", 1),
        ("wrong_type", 1),
    ]);
    assert_eq!(s.rejected_by_reason, expected);
    assert_eq!(s.per_file[0].schema, Some("transaction"));
    assert_eq!(bus.records(topic::TRANSACTIONS).len(), 5);
    assert_eq!(bus.records(topic::DEAD_LETTER).len(), 10);
    let lines: Vec<u64> = dead_letters(&bus).iter().map(|d| d.line.unwrap()).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8, 9, 10, 11, 14, 15]);
}

#[test]
fn csv_fixture_counts_every_reason_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new(4);
    let s = run(&[fixture("transactions.csv")], &options(dir.path()), &bus);
    assert_eq!((s.accepted, s.rejected), (4, 10), "{s:#?}");
    let expected = reasons(&[
        ("bad_timestamp", 1),
        ("future_timestamp", 1),
        ("invalid_csv", 1),
        ("invalid_utf8", 1),
        ("missing_field", 1),
        ("negative_value", 2),
        ("non_finite_number", 1),
        ("unknown_enum_value", 1),
        ("wrong_type", 1),
    ]);
    assert_eq!(s.rejected_by_reason, expected);
    let lines: Vec<u64> = dead_letters(&bus).iter().map(|d| d.line.unwrap()).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8, 9, 13, 14, 15, 17]);
    let multi_line = bus
        .records(topic::TRANSACTIONS)
        .into_iter()
        .map(|r| String::from_utf8(r.value.to_vec()).unwrap())
        .find(|v| v.contains("T109"))
        .unwrap();
    assert!(multi_line.contains(r#""merchant":"Multi\nLine Shop""#), "{multi_line}");
}

#[test]
fn click_fixture_counts_every_reason_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new(2);
    let s = run(&[fixture("clicks.ndjson")], &options(dir.path()), &bus);
    assert_eq!((s.accepted, s.rejected), (3, 8), "{s:#?}");
    let expected = reasons(&[
        ("bad_timestamp", 1),
        ("invalid_json", 1),
        ("invalid_value", 1),
        ("missing_field", 2),
        ("negative_value", 1),
        ("out_of_range", 1),
        ("unknown_enum_value", 1),
    ]);
    assert_eq!(s.rejected_by_reason, expected);
    assert_eq!(s.per_file[0].schema, Some("click"));
    let clicks = bus.records(topic::CLICKSTREAM);
    assert_eq!(clicks.len(), 3);
    assert!(clicks.iter().all(|r| r.key == b"s1"[..]), "keyed by session");
    assert!(dead_letters(&bus).iter().all(|d| d.kind == "click"));
}

#[test]
fn dead_letters_carry_file_line_reason_and_raw_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new(1);
    let path = fixture("transactions.jsonl");
    run(std::slice::from_ref(&path), &options(dir.path()), &bus);
    let original = std::fs::read(&path).unwrap();
    let original_lines: Vec<&[u8]> = original.split(|&b| b == b'\n').collect();
    for dl in dead_letters(&bus) {
        assert_eq!(dl.stage, "ingest");
        assert_eq!(dl.source, path.display().to_string());
        assert!(!dl.message.is_empty());
        let line = dl.line.unwrap();
        if !original_lines[line as usize - 1].contains(&b'@') {
            assert_eq!(dl.raw_bytes(), original_lines[line as usize - 1], "line {line}");
        }
    }
    let utf8 = dead_letters(&bus).into_iter().find(|d| d.reason == "invalid_utf8").unwrap();
    assert_eq!(utf8.line, Some(9));
    assert!(utf8.raw.is_none(), "non-UTF-8 raw bytes travel as hex");
    assert!(utf8.raw_hex.as_deref().unwrap().contains("e9ff"));
    let record =
        bus.records(topic::DEAD_LETTER).into_iter().find(|r| r.value.windows(4).any(|w| w == b"e9ff")).unwrap();
    assert_eq!(record.key, format!("{}:9", path.display()).into_bytes());
}

#[test]
fn emails_never_appear_raw_on_any_topic() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new(2);
    let paths = [fixture("transactions.jsonl"), fixture("transactions.csv")];
    run(&paths, &options(dir.path()), &bus);
    let mut seen_pseudonym = 0;
    for t in topic::ALL {
        for Record { key, value, .. } in bus.records(t) {
            let text = String::from_utf8_lossy(&value);
            for raw in ["alice.smith@", "bob@", "carol@", "dave@", "example.com", "example.org", "example.net"] {
                assert!(!text.contains(raw), "{raw} on {t}: {text}");
                assert!(!String::from_utf8_lossy(&key).contains(raw));
            }
            seen_pseudonym += text.matches("hmac:k1:").count();
        }
    }
    assert_eq!(seen_pseudonym, 4, "two accepted and two rejected lines carry addresses");
}

#[test]
fn records_keep_file_order_across_decoder_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.jsonl");
    let mut text = String::new();
    for i in 0..5000 {
        if i % 7 == 3 {
            text.push_str("{broken\n");
        } else {
            text.push_str(&format!(
                r#"{{"transaction_id":"T{i}","user_id":1,"amount":1,"merchant":"m","timestamp":"2024-01-15T10:00:00Z","payment_method":"paypal","location":"A, B","device_id":"d"}}"#
            ));
            text.push('\n');
        }
    }
    std::fs::write(&path, text).unwrap();
    let bus = MemoryBus::new(1);
    let mut opts = options(dir.path());
    opts.config.decode_threads = 4;
    opts.config.batch_records = 1000;
    let s = run(&[path], &opts, &bus);
    assert_eq!((s.accepted, s.rejected), (4286, 714));
    let ids: Vec<u64> = bus
        .records(topic::TRANSACTIONS)
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            v["transaction_id"].as_str().unwrap()[1..].parse().unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "events out of file order");
    let lines: Vec<u64> = bus
        .records(topic::DEAD_LETTER)
        .iter()
        .map(|r| serde_json::from_slice::<DeadLetter>(&r.value).unwrap().line.unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "dead letters out of file order");
}

#[test]
fn a_directory_second_run_skips_and_a_changed_file_is_ingested() {
    let data = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("transactions.jsonl"), input.path().join("b.jsonl")).unwrap();
    std::fs::copy(fixture("clicks.ndjson"), input.path().join("a.ndjson")).unwrap();
    std::fs::write(input.path().join("notes.txt"), "not ingested").unwrap();
    let bus = MemoryBus::new(2);
    let dirs = [input.path().to_path_buf()];
    let first = run(&dirs, &options(data.path()), &bus);
    assert_eq!((first.files, first.skipped, first.accepted, first.rejected), (2, 0, 8, 18));
    let order: Vec<&str> = first.per_file.iter().map(|f| f.path.rsplit('/').next().unwrap()).collect();
    assert_eq!(order, ["a.ndjson", "b.jsonl"]);

    let second = run(&dirs, &options(data.path()), &bus);
    assert_eq!((second.files, second.skipped, second.accepted, second.rejected), (0, 2, 0, 0));
    assert_eq!(second.per_file[1].duplicate_of.as_deref(), Some(first.per_file[1].path.as_str()));
    assert_eq!(bus.records(topic::TRANSACTIONS).len(), 5, "nothing sent twice");

    // Same size, other content: hashed, not a duplicate.
    let changed = std::fs::read(input.path().join("b.jsonl"))
        .unwrap()
        .iter()
        .map(|&b| if b == b'5' { b'6' } else { b })
        .collect::<Vec<u8>>();
    std::fs::write(input.path().join("b.jsonl"), changed).unwrap();
    let third = run(&dirs, &options(data.path()), &bus);
    assert_eq!((third.files, third.skipped), (1, 1));
    assert_eq!(Manifest::open(&data.path().join("ingest")).unwrap().entries().len(), 3);
}

#[test]
fn a_named_file_is_deduplicated_and_force_ingests_it_again() {
    let data = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let a = input.path().join("a.csv");
    let copy = input.path().join("copy-of-a.csv");
    std::fs::copy(fixture("transactions.csv"), &a).unwrap();
    std::fs::copy(&a, &copy).unwrap();
    let bus = MemoryBus::new(2);
    let s = run(&[a.clone(), copy.clone()], &options(data.path()), &bus);
    assert_eq!((s.files, s.skipped), (1, 1));
    let note = s.per_file[1].note().unwrap();
    assert_eq!(
        note,
        format!("{}: skipped, already ingested as {} (pass --force to ingest it again)", copy.display(), a.display())
    );
    let mut forced = options(data.path());
    forced.force = true;
    let s = run(&[copy], &forced, &bus);
    assert_eq!((s.files, s.skipped, s.accepted), (1, 0, 4));
    assert_eq!(bus.records(topic::TRANSACTIONS).len(), 8);
}

#[test]
fn an_overlong_line_is_dead_lettered_with_its_start_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let good = r#"{"transaction_id":"T1","user_id":1,"amount":1,"merchant":"m","timestamp":"2024-01-15T10:00:00Z","payment_method":"paypal","location":"A, B","device_id":"d"}"#;
    let long = format!("{{\"transaction_id\":\"{}\"}}", "x".repeat(3_000_000));
    std::fs::write(&path, format!("{good}\n{long}\n{good}\n")).unwrap();
    let bus = MemoryBus::new(1);
    let mut opts = options(dir.path());
    opts.config.max_line_bytes = 64 * 1024;
    opts.force = true;
    let s = run(&[path], &opts, &bus);
    assert_eq!((s.accepted, s.rejected), (2, 1));
    let dl = &dead_letters(&bus)[0];
    assert_eq!((dl.reason.as_str(), dl.line), ("line_too_long", Some(2)));
    assert_eq!(dl.raw.as_deref().unwrap().len(), 1024);
    assert!(dl.message.contains("3000021 bytes"), "{}", dl.message);
}

#[test]
fn an_event_too_large_for_a_record_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    // 20 bytes of timestamp become 27 when encoded, plus the version and the currency.
    let line = format!(
        r#"{{"transaction_id":"T1","user_id":1,"amount":1,"merchant":"{}","timestamp":"2024-01-15T10:00:00Z","payment_method":"paypal","location":"A, B","device_id":"d"}}"#,
        "m".repeat(200)
    );
    std::fs::write(&path, format!("{line}\n")).unwrap();
    let bus = MemoryBus::new(1);
    let mut opts = options(dir.path());
    opts.max_record_bytes = line.len() + 5;
    let s = run(&[path], &opts, &bus);
    assert_eq!(s.rejected_by_reason, reasons(&[("record_too_large", 1)]));
    let record = &bus.records(topic::DEAD_LETTER)[0];
    assert!(record.value.len() <= opts.max_record_bytes, "the dead letter itself fits");
}

#[test]
fn empty_and_blank_files_ingest_nothing_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    let blank = dir.path().join("blank.csv");
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&blank, "\n  \n\r\n").unwrap();
    let bus = MemoryBus::new(1);
    let s = run(&[empty, blank], &options(dir.path()), &bus);
    assert_eq!((s.files, s.failed, s.accepted, s.rejected), (2, 0, 0, 0), "{s:#?}");
    assert!(s.per_file.iter().all(|f| f.schema.is_none()));
}

#[test]
fn an_undetectable_schema_names_the_file_and_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("odd.jsonl");
    let csv = dir.path().join("odd.csv");
    std::fs::write(&json, "{\"id\":1}\n{broken\n").unwrap();
    std::fs::write(&csv, "id,amount\n1,2\n").unwrap();
    let bus = MemoryBus::new(1);
    let s = run(&[json.clone(), csv.clone()], &options(dir.path()), &bus);
    assert_eq!((s.files, s.failed), (0, 2));
    for (report, path) in s.per_file.iter().zip([&json, &csv]) {
        let error = report.error.as_deref().unwrap();
        assert!(error.starts_with(&format!("cannot detect the schema of {}", path.display())), "{error}");
        assert!(error.ends_with("pass --schema transaction or --schema click"), "{error}");
    }
    assert!(bus.records(topic::DEAD_LETTER).is_empty(), "nothing of an undetectable file is sent");
    // Told the schema, the same file is ingested (its lines fail validation).
    let mut opts = options(dir.path());
    opts.schema = Some(EventKind::Transaction);
    let s = run(&[json], &opts, &bus);
    assert_eq!((s.files, s.rejected), (1, 2));
}

#[test]
fn missing_and_unknown_files_fail_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "x").unwrap();
    let bus = MemoryBus::new(1);
    let paths = [dir.path().join("vanished.jsonl"), notes, fixture("clicks.ndjson")];
    let s = run(&paths, &options(dir.path()), &bus);
    assert_eq!((s.files, s.failed, s.accepted), (1, 2, 3));
    assert!(s.per_file[0].error.as_deref().unwrap().contains("vanished.jsonl"));
    assert!(s.per_file[1].error.as_deref().unwrap().contains("pass --format json or --format csv"));
}

/// A producer whose flushes fail after `ok_flushes`.
struct FailingProducer {
    inner: crate::bus::memory::MemoryProducer,
    ok_flushes: usize,
    flushes: usize,
}

impl Producer for FailingProducer {
    fn send(&mut self, topic: &str, key: &[u8], value: &[u8]) -> crate::bus::Result<()> {
        self.inner.send(topic, key, value)
    }

    fn flush(&mut self) -> crate::bus::Result<()> {
        self.flushes += 1;
        if self.flushes > self.ok_flushes {
            return Err(BusError::Unavailable("disk on fire".into()));
        }
        self.inner.flush()
    }

    fn discard(&mut self) {
        self.inner.discard();
    }
}

#[test]
fn a_bus_failure_stops_the_run_and_reports_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new(1);
    let mut producer = FailingProducer { inner: bus.producer(), ok_flushes: 2, flushes: 0 };
    let paths = [fixture("transactions.jsonl"), fixture("clicks.ndjson")];
    let aborted = ingest(&paths, &options(dir.path()), &mut producer, &quiet()).unwrap_err();
    assert!(aborted.error.stops_the_run());
    assert!(aborted.to_string().contains("disk on fire"));
    let s = aborted.summary;
    // Two flushes of three records went through.
    assert_eq!(s.accepted + s.rejected, 6);
    let on_bus = bus.records(topic::TRANSACTIONS).len() + bus.records(topic::DEAD_LETTER).len();
    assert_eq!(on_bus as u64, s.accepted + s.rejected);
    assert_eq!(s.per_file.len(), 1, "the second file was not started");
    assert_eq!(s.per_file[0].status, FileStatus::Failed);
    assert!(Manifest::open(&dir.path().join("ingest")).unwrap().entries().is_empty());
}

#[test]
fn schema_and_format_flags_override_detection() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("clicks.data");
    std::fs::copy(fixture("clicks.ndjson"), &odd).unwrap();
    let bus = MemoryBus::new(1);
    let mut opts = options(dir.path());
    opts.format = Some(Format::Json);
    opts.schema = Some(EventKind::Transaction);
    let s = run(&[odd], &opts, &bus);
    // Read as transactions, click lines miss transaction fields.
    assert_eq!((s.files, s.accepted, s.rejected), (1, 0, 11));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn line() -> impl Strategy<Value = Vec<u8>> {
        let good = r#"{"transaction_id":"T","user_id":1,"amount":1.5,"merchant":"m","timestamp":"2024-01-15T10:00:00Z","payment_method":"paypal","location":"A, B","device_id":"d"}"#;
        prop_oneof![
            Just(good.as_bytes().to_vec()),
            (0..good.len()).prop_map(move |cut| good.as_bytes()[..cut].to_vec()),
            proptest::collection::vec(any::<u8>(), 0..200),
            "[a-z\",{}:0-9 ]{0,80}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn every_non_blank_line_is_accounted_for(lines in proptest::collection::vec(line(), 0..40), csv in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(if csv { "x.csv" } else { "x.jsonl" });
            let mut data = Vec::new();
            for l in &lines {
                data.extend_from_slice(l);
                data.push(b'\n');
            }
            std::fs::write(&path, &data).unwrap();
            let bus = MemoryBus::new(2);
            let mut opts = options(dir.path());
            opts.schema = Some(EventKind::Transaction);
            opts.config.max_line_bytes = 100;
            let s = run(&[path], &opts, &bus);
            prop_assert_eq!(s.files + s.failed, 1);
            if !csv && s.failed == 0 {
                let mut reader = super::super::lines::LineReader::new(data.as_slice());
                let mut buf = Vec::new();
                let mut non_blank = 0u64;
                while let Some(info) = reader.read_line(&mut buf, 100).unwrap() {
                    if info.too_long.is_some() || !super::super::lines::is_blank(&buf) {
                        non_blank += 1;
                    }
                    buf.clear();
                }
                prop_assert_eq!(s.accepted + s.rejected, non_blank);
            }
            let on_bus = bus.records(topic::TRANSACTIONS).len() + bus.records(topic::DEAD_LETTER).len();
            prop_assert_eq!(on_bus as u64, s.accepted + s.rejected);
        }
    }
}
