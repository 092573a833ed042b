//! `streamify process` end to end on the real binary: the lake holds every transaction once,
//! gold reconciles with silver, and kill -9 at random points changes no output.

use crate::harness::{Outcome, Sandbox};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Tables and the columns compared between runs (everything but wall-clock ingest times).
const COMPARED: &[(&str, &str)] = &[
    (
        "silver_transactions",
        "select transaction_id, user_id, amount, merchant, timestamp, city, country, hour, is_weekend, amount_band, \
         customer_tx_count, customer_avg_amount, is_new_device, device_customers, distance_km, velocity_30m, \
         risk_score, risk_level, reasons, is_alert from silver_transactions order by transaction_id",
    ),
    ("fraud_alerts", "select * from fraud_alerts order by alert_id"),
    ("kpi_1m", "select * from kpi_1m order by window_start"),
    ("merchant_15m", "select * from merchant_15m order by window_start, merchant"),
    ("customer_1h", "select * from customer_1h order by window_start, user_id"),
    ("country_30m", "select * from country_30m order by window_start, country"),
    ("sessions", "select * from sessions order by session_id, session_start"),
    ("funnel_10m", "select * from funnel_10m order by window_start, category"),
];

fn generate(sandbox: &Sandbox, events: &str) -> u64 {
    let out = sandbox.run(&["generate", "--events", events, "--seed", "42", "--json"]).success();
    out.json()["transactions"].as_u64().expect("transactions in the summary")
}

fn sql(sandbox: &Sandbox, query: &str) -> String {
    sandbox.run(&["sql", query, "--format", "csv"]).success().stdout
}

fn scalar(sandbox: &Sandbox, query: &str) -> u64 {
    let csv = sql(sandbox, query);
    let value = csv.lines().nth(1).unwrap_or_else(|| panic!("no row from {query}: {csv}"));
    value.trim().parse().unwrap_or_else(|_| panic!("not a number from {query}: {csv}"))
}

fn process(sandbox: &Sandbox) -> Outcome {
    sandbox
        .command(&["process", "--until-caught-up", "--json"])
        .env("STREAMIFY__STREAM__CHECKPOINT_INTERVAL", "300ms")
        .output()
        .map(Outcome::from)
        .expect("streamify runs")
}

#[test]
fn process_lands_every_transaction_once_and_gold_reconciles_with_silver() {
    let sandbox = Sandbox::new();
    let transactions = generate(&sandbox, "3000");
    let summary = process(&sandbox).success().json();
    assert_eq!(summary["transactions"].as_u64(), Some(transactions));
    assert_eq!(scalar(&sandbox, "select count(*) from silver_transactions"), transactions);
    assert_eq!(scalar(&sandbox, "select count(distinct transaction_id) from silver_transactions"), transactions);
    assert_eq!(scalar(&sandbox, "select count(*) from bronze_transactions"), transactions);
    for table in ["kpi_1m", "platform_1h", "customer_1h", "country_30m", "merchant_payment_country_10m"] {
        let counted = scalar(&sandbox, &format!("select coalesce(sum(tx_count), 0) from {table}"));
        let late = scalar(&sandbox, &format!("select count(*) from late_events where window_table = '{table}'"));
        assert_eq!(counted + late, transactions, "{table}: windows {counted} + late {late}");
    }
    let alerts = scalar(&sandbox, "select count(*) from fraud_alerts");
    assert_eq!(summary["alerts"].as_u64(), Some(alerts));
    assert_eq!(scalar(&sandbox, "select count(*) from silver_transactions where is_alert"), alerts);
    assert!(alerts > 0, "the generator's fraud scenarios raise alerts");

    // Again: nothing new in the log, nothing changes.
    let before = sql(&sandbox, "select count(*) from silver_transactions");
    process(&sandbox).success();
    assert_eq!(sql(&sandbox, "select count(*) from silver_transactions"), before);
}

/// A pseudo-random sequence from the clock, printed so a failure can be replayed by hand.
fn kill_delays(n: usize) -> Vec<Duration> {
    let mut x = Instant::now().elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let delays: Vec<Duration> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(x % 600)
        })
        .collect();
    eprintln!("kill delays: {delays:?}");
    delays
}

#[test]
fn process_killed_at_random_points_gives_the_outputs_of_a_crash_free_run() {
    let reference = Sandbox::new();
    let crashed = Sandbox::new();
    let transactions = generate(&reference, "20000");
    assert_eq!(generate(&crashed, "20000"), transactions);
    process(&reference).success();

    let mut kills = 0;
    // Restarts whose newest checkpoint was a delta: they restored a full checkpoint and deltas.
    let mut chains = 0;
    let checkpoints = crashed.data_dir().join("checkpoints/processor");
    let newest = || {
        std::fs::read_dir(&checkpoints)
            .map(|d| {
                let names = d.flatten().map(|e| e.file_name().to_string_lossy().into_owned());
                names.filter(|n| n.ends_with(".ckpt")).max()
            })
            .unwrap_or_default()
    };
    for delay in kill_delays(8) {
        let before = newest();
        chains += usize::from(before.as_ref().is_some_and(|n| n.ends_with(".delta.ckpt")));
        let mut child = crashed
            .command(&["process", "--until-caught-up"])
            .env("STREAMIFY__STREAM__CHECKPOINT_INTERVAL", "200ms")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("streamify starts");
        // Each run gets to write a checkpoint (makes progress), then dies at a random point.
        let started = Instant::now();
        while newest() == before
            && child.try_wait().expect("wait").is_none()
            && started.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(delay);
        let running = child.try_wait().expect("wait").is_none();
        if running {
            child.kill().expect("kill -9");
            kills += 1;
        }
        let _ = child.wait();
        if !running {
            break; // caught up before the kill
        }
    }
    process(&crashed).success();
    eprintln!("killed {kills} times; {chains} restarts resumed from a delta checkpoint");
    assert!(kills >= 2, "the run ended before a second kill: give it more events");
    assert!(chains > 0, "no restart resumed from a delta checkpoint: incremental checkpoints went untested");
    for (table, query) in COMPARED {
        let (want, got) = (sql(&reference, query), sql(&crashed, query));
        assert!(want.lines().count() > 1, "{table} is empty in the reference run");
        assert!(
            want == got,
            "{table} differs after {kills} kills: {} vs {} lines",
            want.lines().count(),
            got.lines().count()
        );
    }
    assert_eq!(scalar(&crashed, "select count(*) from silver_transactions"), transactions);
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/process").join(name)
}

/// The seed design's rule table, case by case, with its boundaries (5000 vs 5000.01, 22:59:59,
/// 23:00, 04:59:59, 05:00, weekend, the 6th transaction within 30 minutes and exactly at 30:00),
/// each level's lower bound and the cap at 100. Expected scores are written by hand in
/// `seed003.expected.csv`.
#[test]
fn seed_003_file_is_scored_exactly_as_the_rule_table_says() {
    let sandbox = Sandbox::new();
    let config = fixture("seed003-rules.toml");
    let config = config.to_str().expect("utf-8 path");
    let ingest = sandbox.run(&["--config", config, "ingest", fixture("seed003.jsonl").to_str().unwrap(), "--json"]);
    assert_eq!(ingest.success().json()["rejected"].as_u64(), Some(0));
    sandbox.run(&["--config", config, "process", "--until-caught-up"]).success();
    let got = sql(
        &sandbox,
        "select transaction_id, risk_score, risk_level, reasons from silver_transactions order by transaction_id",
    );
    let want = std::fs::read_to_string(fixture("seed003.expected.csv")).expect("expected scores");
    assert_eq!(got.trim_end(), want.trim_end());
    let alerts = sql(&sandbox, "select transaction_id from fraud_alerts order by transaction_id");
    assert_eq!(alerts.trim_end(), "transaction_id\ng10\ng13\ng14\ng15", "alerts at HIGH and above");
}
