//! Every Prometheus metric Streamify exports: name, help text, unit and labels, in one place.
//!
//! Names follow Prometheus conventions: the `streamify_` prefix, `_total` on counters, base units
//! in the name (`_seconds`, `_bytes`). Labels are low-cardinality by construction: stages, topics,
//! tables, reasons, risk levels, HTTP routes as matched (`/api/v1/alerts/{id}`, never the id) and
//! status codes. Customer ids, e-mails and IP addresses are never labels.
//!
//! Code records through the `metrics` facade with these constants; [`install`] sets up the
//! process-wide Prometheus recorder once and returns the handle that renders `/metrics`. Without
//! it (batch commands, most tests) recording is a no-op.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Records read from the bus by the processor. Labels: `topic`.
pub const EVENTS_IN: &str = "streamify_events_in_total";
/// Records produced by a stage. Labels: `stage` (decode, score, aggregate, sessions, lake, bus),
/// `output` (what came out: silver, alerts, windows, sessions, funnels, bronze, messages).
pub const EVENTS_OUT: &str = "streamify_events_out_total";
/// Records refused and sent to the dead-letter topic. Labels: `stage`, `reason`.
pub const DEAD_LETTERS: &str = "streamify_dead_letters_total";
/// Events later than the allowed lateness of a window. Labels: `table`.
pub const LATE_EVENTS: &str = "streamify_late_events_total";
/// Fraud alerts raised. Labels: `risk_level`.
pub const ALERTS: &str = "streamify_alerts_total";
/// Time from reading a transaction off the log to its fraud decision.
pub const PROCESSING_LATENCY: &str = "streamify_processing_latency_seconds";
/// Processing time minus the watermark (event time): how far behind the windows are.
pub const WATERMARK_LAG: &str = "streamify_watermark_lag_seconds";
/// Records in the log not yet read by the processor.
pub const CONSUMER_LAG: &str = "streamify_consumer_lag_records";
/// The epoch of the last checkpoint written.
pub const CHECKPOINT_EPOCH: &str = "streamify_checkpoint_epoch";
/// Time to stage, write the checkpoint of and commit one epoch.
pub const CHECKPOINT_DURATION: &str = "streamify_checkpoint_duration_seconds";
/// Bytes of operator state in the last checkpoint. Labels: `kind` (full, delta).
pub const CHECKPOINT_SIZE: &str = "streamify_checkpoint_size_bytes";
/// Time to commit one epoch's staged files to the lake tables.
pub const LAKE_COMMIT_DURATION: &str = "streamify_lake_commit_duration_seconds";
/// Window results emitted.
pub const WINDOWS_CLOSED: &str = "streamify_windows_closed_total";
/// Open windows, open clickstream sessions and remembered customers in processor state.
pub const OPEN_WINDOWS: &str = "streamify_open_windows";
pub const OPEN_SESSIONS: &str = "streamify_open_sessions";
pub const CUSTOMERS: &str = "streamify_customers";
/// Events accepted through the HTTP ingest API. Labels: `topic`, `outcome` (accepted, rejected,
/// duplicate).
pub const HTTP_INGESTED: &str = "streamify_http_ingested_events_total";
/// HTTP requests served. Labels: `route` (as matched), `method`, `status`.
pub const HTTP_REQUESTS: &str = "streamify_http_requests_total";
/// HTTP request duration. Labels: `route`, `method`.
pub const HTTP_DURATION: &str = "streamify_http_request_duration_seconds";
/// Requests refused by the per-client rate limit.
pub const HTTP_RATE_LIMITED: &str = "streamify_http_rate_limited_total";

/// Alert-list and alert reads by where they were answered. Labels: `source` (memory: the
/// in-memory newest alerts, lake: a lake query).
pub const ALERT_READS: &str = "streamify_alert_reads_total";
/// KPI-list and breakdown reads by where they were answered. Labels: `source` (memory: the
/// in-memory closed gold windows, lake: a lake query).
pub const WINDOW_READS: &str = "streamify_window_reads_total";
/// Customer reads (their newest transactions) by where they were answered. Labels: `source`
/// (memory: the in-memory newest transactions per customer, lake: a silver scan).
pub const CUSTOMER_READS: &str = "streamify_customer_reads_total";
/// Rows (transactions and alerts) the in-memory customer tier holds (`serve.memory_customer_rows`
/// at most).
pub const CUSTOMER_ROWS: &str = "streamify_customer_rows";

/// Every metric name with its kind, for tests and the Grafana dashboard check.
pub const ALL: &[(&str, Kind)] = &[
    (EVENTS_IN, Kind::Counter),
    (EVENTS_OUT, Kind::Counter),
    (DEAD_LETTERS, Kind::Counter),
    (LATE_EVENTS, Kind::Counter),
    (ALERTS, Kind::Counter),
    (PROCESSING_LATENCY, Kind::Histogram),
    (WATERMARK_LAG, Kind::Gauge),
    (CONSUMER_LAG, Kind::Gauge),
    (CHECKPOINT_EPOCH, Kind::Gauge),
    (CHECKPOINT_DURATION, Kind::Histogram),
    (CHECKPOINT_SIZE, Kind::Gauge),
    (LAKE_COMMIT_DURATION, Kind::Histogram),
    (WINDOWS_CLOSED, Kind::Counter),
    (OPEN_WINDOWS, Kind::Gauge),
    (OPEN_SESSIONS, Kind::Gauge),
    (CUSTOMERS, Kind::Gauge),
    (HTTP_INGESTED, Kind::Counter),
    (HTTP_REQUESTS, Kind::Counter),
    (HTTP_DURATION, Kind::Histogram),
    (HTTP_RATE_LIMITED, Kind::Counter),
    (ALERT_READS, Kind::Counter),
    (WINDOW_READS, Kind::Counter),
    (CUSTOMER_READS, Kind::Counter),
    (CUSTOMER_ROWS, Kind::Gauge),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Bucket bounds of the latency histograms, in seconds: 10 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0, 10.0,
];

fn describe() {
    describe_counter!(EVENTS_IN, Unit::Count, "Records read from the bus by the processor, by topic.");
    describe_counter!(EVENTS_OUT, Unit::Count, "Records produced, by stage and output.");
    describe_counter!(DEAD_LETTERS, Unit::Count, "Records refused to the dead-letter topic, by stage and reason.");
    describe_counter!(LATE_EVENTS, Unit::Count, "Events later than a window's allowed lateness, by window table.");
    describe_counter!(ALERTS, Unit::Count, "Fraud alerts raised, by risk level.");
    describe_histogram!(
        PROCESSING_LATENCY,
        Unit::Seconds,
        "From reading a transaction off the log to its fraud decision."
    );
    describe_gauge!(WATERMARK_LAG, Unit::Seconds, "Processing time minus the event-time watermark.");
    describe_gauge!(CONSUMER_LAG, Unit::Count, "Records in the log not yet read by the processor.");
    describe_gauge!(CHECKPOINT_EPOCH, Unit::Count, "Epoch of the last checkpoint written.");
    describe_histogram!(CHECKPOINT_DURATION, Unit::Seconds, "Staging, checkpointing and committing one epoch.");
    describe_gauge!(CHECKPOINT_SIZE, Unit::Bytes, "Operator state in the last checkpoint, by kind (full or delta).");
    describe_histogram!(LAKE_COMMIT_DURATION, Unit::Seconds, "Committing one epoch's staged files to the lake.");
    describe_counter!(WINDOWS_CLOSED, Unit::Count, "Window, session and funnel results emitted.");
    describe_gauge!(OPEN_WINDOWS, Unit::Count, "Open event-time windows in processor state.");
    describe_gauge!(OPEN_SESSIONS, Unit::Count, "Open clickstream sessions in processor state.");
    describe_gauge!(CUSTOMERS, Unit::Count, "Customers remembered by fraud scoring.");
    describe_counter!(HTTP_INGESTED, Unit::Count, "Events received by the HTTP ingest API, by topic and outcome.");
    describe_counter!(HTTP_REQUESTS, Unit::Count, "HTTP requests, by matched route, method and status.");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request duration, by matched route and method.");
    describe_counter!(HTTP_RATE_LIMITED, Unit::Count, "HTTP requests refused by the per-client rate limit.");
    describe_counter!(ALERT_READS, Unit::Count, "Alert reads, by where they were answered (memory or lake).");
    describe_counter!(
        WINDOW_READS,
        Unit::Count,
        "KPI and breakdown reads, by where they were answered (memory or lake)."
    );
    describe_counter!(
        CUSTOMER_READS,
        Unit::Count,
        "Customer reads, by where their transactions were answered (memory or lake)."
    );
    describe_gauge!(CUSTOMER_ROWS, Unit::Count, "Rows held by the in-memory customer tier.");
}

/// Installs the process-wide Prometheus recorder (once) and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("latency buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder (a test's) may be installed already; ours then renders nothing
            // recorded, which the metrics tests would show.
            if metrics::set_global_recorder(recorder).is_ok() {
                describe();
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, kind) in ALL {
            assert!(name.starts_with("streamify_"), "{name}: prefix");
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{name}");
            assert_eq!(
                name.ends_with("_total"),
                *kind == Kind::Counter,
                "{name}: counters and only counters end in _total"
            );
            if *kind == Kind::Histogram {
                assert!(name.ends_with("_seconds"), "{name}: histograms here measure seconds");
            }
            assert!(seen.insert(*name), "{name} declared twice");
        }
    }

    #[test]
    fn the_grafana_dashboard_uses_only_metrics_that_exist() {
        let dashboard = include_str!("../../deploy/grafana/streamify.json");
        let _: serde_json::Value = serde_json::from_str(dashboard).expect("the dashboard is JSON");
        let mut used = std::collections::BTreeSet::new();
        let mut rest = dashboard;
        while let Some(at) = rest.find("streamify_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            rest = &rest[at + name.len()..];
            used.insert(name);
        }
        assert!(used.len() >= 15, "the dashboard charts most metrics: {used:?}");
        for name in &used {
            let known = ALL.iter().any(|(metric, kind)| {
                name == metric
                    || (*kind == Kind::Histogram
                        && ["_bucket", "_sum", "_count"].iter().any(|s| name.strip_suffix(s) == Some(metric)))
            });
            assert!(known, "deploy/grafana/streamify.json uses {name}, which Streamify does not export");
        }
    }
}
