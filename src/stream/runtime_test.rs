//! The runtime end to end on the in-memory bus and tables: counts reconcile, restarts resume,
//! and an epoch whose commit failed after its checkpoint lands exactly once on restart.

use super::memory_tables::{MemoryLake, MemoryTables};
use super::runtime::{Parts, Processor, RunOptions, Status, StreamConfig};
use crate::bus::Producer;
use crate::bus::memory::MemoryBus;
use crate::config::Config;
use crate::generate::{Generator, Params, World};
use crate::model::{FixedClock, Timestamp, Validator, topic};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PARTITIONS: u32 = 4;

fn bus_with(events: usize, seed: u64) -> MemoryBus {
    bus_of(events, Params { seed, ..Params::defaults() })
}

fn bus_of(events: usize, params: Params) -> MemoryBus {
    let bus = MemoryBus::new(PARTITIONS);
    let config = Config::defaults();
    let world = Arc::new(World::build(&params, &config.pseudonymizer()));
    let mut generator = Generator::new(params, world);
    let mut producer = bus.producer();
    let mut buf = Vec::new();
    for _ in 0..events {
        let event = generator.next_event();
        buf.clear();
        event.encode(&mut buf);
        producer.send(event.kind().topic(), &event.key(), &buf).unwrap();
    }
    // A record that is not an event: it must become a dead letter, not stop anything.
    producer.send(topic::TRANSACTIONS, b"junk", b"{\"transaction_id\": 12").unwrap();
    producer.flush().unwrap();
    bus
}

fn processor(bus: &MemoryBus, lake: &Arc<Mutex<MemoryLake>>, checkpoints: &std::path::Path) -> Processor {
    let stream = StreamConfig {
        checkpoint_interval: Duration::from_millis(100),
        poll_records: 500,
        ..Config::defaults().stream
    };
    processor_with(stream, bus, lake, checkpoints)
}

fn processor_with(
    stream: StreamConfig,
    bus: &MemoryBus,
    lake: &Arc<Mutex<MemoryLake>>,
    checkpoints: &std::path::Path,
) -> Processor {
    let config = Config::defaults();
    let clock = Arc::new(FixedClock(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()));
    let validator = Validator::new(clock.clone(), Duration::from_secs(300), config.pseudonymizer());
    Processor::open(Parts {
        config: stream,
        fraud: config.fraud,
        validator,
        clock,
        consumer: Box::new(bus.consumer("processor", &[topic::TRANSACTIONS, topic::CLICKSTREAM])),
        producer: Box::new(bus.producer()),
        tables: Box::new(MemoryTables::new(lake.clone())),
        checkpoints: checkpoints.to_path_buf(),
        transaction_partitions: PARTITIONS,
    })
    .unwrap()
}

fn run(p: Processor) -> Result<Status, super::runtime::ProcessError> {
    p.run(RunOptions {
        until_caught_up: true,
        stop: Arc::new(AtomicBool::new(false)),
        on_status: Box::new(|_| {}),
        reload: None,
        tap: None,
    })
}

fn count(lake: &Arc<Mutex<MemoryLake>>, table: &str) -> usize {
    lake.lock().unwrap().committed.get(table).map_or(0, Vec::len)
}

fn sum(lake: &Arc<Mutex<MemoryLake>>, table: &str, column: &str) -> u64 {
    let lake = lake.lock().unwrap();
    lake.committed.get(table).map_or(0, |rows| rows.iter().map(|r| r[column].as_u64().unwrap()).sum())
}

#[test]
fn every_transaction_lands_once_and_windows_reconcile() {
    let bus = bus_with(3000, 7);
    let transactions = bus.records(topic::TRANSACTIONS).len() - 1;
    let clicks = bus.records(topic::CLICKSTREAM).len();
    let lake = Arc::new(Mutex::new(MemoryLake::default()));
    let dir = tempfile::tempdir().unwrap();
    let status = run(processor(&bus, &lake, dir.path())).unwrap();
    assert_eq!(status.counters.transactions as usize, transactions);
    assert_eq!(count(&lake, "silver/transactions"), transactions);
    assert_eq!(count(&lake, "bronze/transactions"), transactions);
    assert_eq!(count(&lake, "bronze/clickstream"), clicks);
    assert_eq!(count(&lake, "bronze/dead_letter"), 1);
    let late = status.counters.late_events as usize;
    for table in ["gold/kpi_1m", "gold/platform_1h", "gold/customer_1h", "gold/country_30m"] {
        let lates =
            lake.lock().unwrap().committed.get("gold/late_events").map_or(0, |rows| {
                rows.iter().filter(|r| r["window_table"] == table.trim_start_matches("gold/")).count()
            });
        assert_eq!(sum(&lake, table, "tx_count") as usize + lates, transactions, "{table} (late overall: {late})");
    }
    // Sliding windows count each transaction once per window that holds it.
    assert_eq!(sum(&lake, "gold/merchant_15m", "tx_count") as usize, 3 * transactions);
    assert_eq!(count(&lake, "gold/fraud_alerts") as u64, status.counters.alerts);
    assert!(status.counters.alerts > 0, "the generator injects fraud the rules catch");
    assert!(count(&lake, "gold/sessions") > 0 && count(&lake, "gold/funnel_10m") > 0);
    let alerts = bus.records(topic::FRAUD_ALERTS).len() as u64;
    assert_eq!(alerts, status.counters.alerts);
    assert_eq!(bus.records(topic::DEAD_LETTER).len(), 1);
    // Every closed window is also on `analytics`, once, keyed by table and start, as its row.
    let mut analytics = std::collections::BTreeMap::<String, Vec<serde_json::Value>>::new();
    for record in bus.records(topic::ANALYTICS) {
        let json: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let table = json["table"].as_str().unwrap().to_string();
        let start = crate::model::Timestamp::parse(json["window"]["window_start"].as_str().unwrap()).unwrap();
        assert_eq!(record.key, format!("{table}/{}", start.micros()).as_bytes());
        analytics.entry(format!("gold/{table}")).or_default().push(json["window"].clone());
    }
    // As text, sorted; the lake's rows read back from their text as the records were (a float
    // read from text can differ from the one written in the last bit).
    let by_text = |rows: &[serde_json::Value], reread: bool| {
        let text = |r: &serde_json::Value| match reread {
            true => serde_json::from_str::<serde_json::Value>(&r.to_string()).unwrap().to_string(),
            false => r.to_string(),
        };
        let mut rows: Vec<String> = rows.iter().map(text).collect();
        rows.sort();
        rows
    };
    let tables = &super::outputs::TABLES[5..12];
    assert_eq!(analytics.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut t = tables.to_vec();
        t.sort();
        t
    });
    for table in tables {
        let committed = lake.lock().unwrap().committed[*table].clone();
        assert_eq!(by_text(&analytics[*table], false), by_text(&committed, true), "{table}");
    }

    // A restart finds nothing new to do: it changes nothing and writes no checkpoint.
    let before = lake.lock().unwrap().committed.clone();
    let files = |dir: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    };
    let checkpoints = files(dir.path());
    let again = run(processor(&bus, &lake, dir.path())).unwrap();
    assert_eq!(lake.lock().unwrap().committed, before);
    assert_eq!((again.epoch, files(dir.path())), (status.epoch, checkpoints));
}

#[test]
fn an_epoch_checkpointed_but_not_committed_lands_once_after_restart() {
    let bus = bus_with(2000, 11);
    let transactions = bus.records(topic::TRANSACTIONS).len() - 1;
    let dir = tempfile::tempdir().unwrap();
    // The reference: a run without failure.
    let reference = Arc::new(Mutex::new(MemoryLake::default()));
    run(processor(&bus, &reference, tempfile::tempdir().unwrap().path())).unwrap();

    let lake = Arc::new(Mutex::new(MemoryLake::default()));
    lake.lock().unwrap().fail_commit_of = Some(1);
    assert!(run(processor(&bus, &lake, dir.path())).is_err(), "the injected commit failure stops the run");
    assert_eq!(count(&lake, "silver/transactions"), 0, "nothing of epoch 1 is visible yet");
    run(processor(&bus, &lake, dir.path())).unwrap();
    assert_eq!(count(&lake, "silver/transactions"), transactions);
    for table in ["silver/transactions", "gold/fraud_alerts", "gold/kpi_1m", "gold/merchant_15m", "gold/sessions"] {
        assert_eq!(sorted(&lake, table), sorted(&reference, table), "{table}");
    }
}

/// Rows of a table as sorted text, to compare runs.
fn sorted(lake: &Arc<Mutex<MemoryLake>>, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = lake.lock().unwrap().committed[table].iter().map(|r| r.to_string()).collect();
    rows.sort();
    rows
}

#[test]
fn alignment_keeps_a_backlog_in_step_and_changes_no_result() {
    // 30,000 events over hours of event time, about six clicks per transaction. The consumer
    // hands out equal numbers of records per partition, so unaligned the transactions run hours
    // ahead of the clicks, which hold the watermark back.
    let params = Params { seed: 5, transactions_per_hour: 2000.0, ..Params::defaults() };
    let bus = bus_of(30_000, params);
    // Returns the results and the most windows ever open (sampled at every epoch).
    let run_with = |max_drift: Duration| {
        let mut stream = Config::defaults().stream;
        stream.watermark.max_drift = max_drift;
        stream.checkpoint_interval = Duration::from_millis(100);
        stream.poll_records = 64;
        let lake = Arc::new(Mutex::new(MemoryLake::default()));
        let dir = tempfile::tempdir().unwrap();
        let most = Arc::new(Mutex::new(0usize));
        let seen = most.clone();
        let status = processor_with(stream, &bus, &lake, dir.path())
            .run(RunOptions {
                until_caught_up: true,
                stop: Arc::new(AtomicBool::new(false)),
                // Called after each commit. Taking half a checkpoint interval here makes epochs
                // end every few polls, so the state is sampled often.
                on_status: Box::new(move |s| {
                    let mut most = seen.lock().unwrap();
                    *most = (*most).max(s.open_windows);
                    std::thread::sleep(Duration::from_millis(50));
                }),
                reload: None,
                tap: None,
            })
            .unwrap();
        let most = *most.lock().unwrap();
        (lake, status, most)
    };
    let (unaligned, u_status, u_most) = run_with(Duration::ZERO);
    let (aligned, a_status, a_most) = run_with(Duration::from_secs(30));
    assert!(u_status.counters.transactions > 700, "{:?}", u_status.counters);
    assert!(a_most * 4 < u_most, "aligned at most {a_most} windows open, unaligned {u_most}");
    assert_eq!(a_status.counters, u_status.counters);
    for table in ["silver/transactions", "gold/fraud_alerts", "gold/kpi_1m", "gold/customer_1h", "gold/sessions"] {
        assert_eq!(sorted(&aligned, table), sorted(&unaligned, table), "{table}");
    }
}
