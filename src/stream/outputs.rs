//! What the processor produces: one row type per lake table, plus messages for the bus.
//!
//! Rows are flat serde structs whose field names are the table's column names (see
//! [`crate::sink::tables`] for the Arrow schemas and the README for the table reference).
//! Timestamps serialise as RFC 3339 text, `event_date` as `YYYY-MM-DD` (the partition column).

use crate::model::Timestamp;
use serde::Serialize;

/// Everything the operators produced since the runtime last collected it.
#[derive(Debug, Default)]
pub struct Outputs {
    pub bronze_transactions: Vec<BronzeTransaction>,
    pub bronze_clickstream: Vec<BronzeClick>,
    pub dead_letters: Vec<DeadLetterRow>,
    pub silver_transactions: Vec<SilverTransaction>,
    pub alerts: Vec<AlertRow>,
    /// Closed windows, by gold table name.
    pub windows: Vec<(&'static str, WindowRow)>,
    pub sessions: Vec<SessionRow>,
    pub funnels: Vec<FunnelRow>,
    pub late_events: Vec<LateEventRow>,
    /// Records for bus topics: (topic, key, value).
    pub messages: Vec<(&'static str, Vec<u8>, Vec<u8>)>,
}

impl Outputs {
    pub fn rows(&self) -> usize {
        self.bronze_transactions.len()
            + self.bronze_clickstream.len()
            + self.dead_letters.len()
            + self.silver_transactions.len()
            + self.alerts.len()
            + self.windows.len()
            + self.sessions.len()
            + self.funnels.len()
            + self.late_events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0 && self.messages.is_empty()
    }
}

/// Receives an epoch's rows table by table (the lake sink, or a test double).
pub trait RowSink {
    type Error;
    /// `table` is `<layer>/<name>`, e.g. `silver/transactions`.
    fn rows<T: Serialize>(&mut self, table: &'static str, rows: &[T]) -> Result<(), Self::Error>;
}

/// Every table the processor writes, as `<layer>/<name>`.
pub const TABLES: [&str; 15] = [
    "bronze/transactions",
    "bronze/clickstream",
    "bronze/dead_letter",
    "silver/transactions",
    "gold/fraud_alerts",
    "gold/kpi_1m",
    "gold/kpi_1m_sliding",
    "gold/platform_1h",
    "gold/merchant_15m",
    "gold/customer_1h",
    "gold/country_30m",
    "gold/merchant_payment_country_10m",
    "gold/sessions",
    "gold/funnel_10m",
    "gold/late_events",
];

impl Outputs {
    /// Hands each non-empty table's rows to `sink`.
    pub fn each_table<S: RowSink>(&self, sink: &mut S) -> Result<(), S::Error> {
        fn put<S: RowSink, T: Serialize>(sink: &mut S, table: &'static str, rows: &[T]) -> Result<(), S::Error> {
            if rows.is_empty() { Ok(()) } else { sink.rows(table, rows) }
        }
        put(sink, "bronze/transactions", &self.bronze_transactions)?;
        put(sink, "bronze/clickstream", &self.bronze_clickstream)?;
        put(sink, "bronze/dead_letter", &self.dead_letters)?;
        put(sink, "silver/transactions", &self.silver_transactions)?;
        put(sink, "gold/fraud_alerts", &self.alerts)?;
        for table in &TABLES[5..12] {
            let name = &table[5..];
            let rows: Vec<&WindowRow> = self.windows.iter().filter(|(t, _)| *t == name).map(|(_, r)| r).collect();
            put(sink, table, &rows)?;
        }
        put(sink, "gold/sessions", &self.sessions)?;
        put(sink, "gold/funnel_10m", &self.funnels)?;
        put(sink, "gold/late_events", &self.late_events)
    }
}

/// `YYYY-MM-DD` of a timestamp (UTC): the partition value of every table.
pub fn event_date(t: Timestamp) -> String {
    let mut s = t.to_string();
    s.truncate(10);
    s
}

/// `bronze/transactions`: every valid transaction as it was on the bus.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BronzeTransaction {
    pub source_partition: u32,
    pub source_offset: u64,
    pub ingest_time: Timestamp,
    pub transaction_id: String,
    pub user_id: String,
    pub amount: f64,
    pub merchant: String,
    pub timestamp: Timestamp,
    pub is_fraud: Option<bool>,
    pub payment_method: &'static str,
    pub location: String,
    pub device_id: String,
    pub product_id: Option<String>,
    pub category: Option<String>,
    pub quantity: Option<u32>,
    pub currency: String,
    pub channel: Option<&'static str>,
    pub ip_address: Option<String>,
    pub session_id: Option<String>,
    pub customer_email: Option<String>,
    pub injected_scenario: Option<&'static str>,
    pub event_date: String,
}

/// `bronze/clickstream`: every valid click event as it was on the bus.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BronzeClick {
    pub source_partition: u32,
    pub source_offset: u64,
    pub ingest_time: Timestamp,
    pub event_id: String,
    pub user_id: String,
    pub session_id: String,
    pub event_type: &'static str,
    pub event_timestamp: Timestamp,
    pub product_id: Option<String>,
    pub category: Option<String>,
    pub price: Option<f64>,
    pub quantity: Option<u32>,
    pub page_url: Option<String>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub event_date: String,
}

/// `bronze/dead_letter`: records the processor could not accept, with the reason.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DeadLetterRow {
    pub source_topic: String,
    pub source_partition: u32,
    pub source_offset: u64,
    pub stage: String,
    pub kind: String,
    pub reason: String,
    pub message: String,
    pub raw: Option<String>,
    pub raw_hex: Option<String>,
    pub ingest_time: Timestamp,
    pub event_date: String,
}

/// `silver/transactions`: cleaned, enriched and scored.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SilverTransaction {
    pub source_partition: u32,
    pub source_offset: u64,
    pub transaction_id: String,
    pub user_id: String,
    pub amount: f64,
    pub merchant: String,
    pub timestamp: Timestamp,
    pub is_fraud: Option<bool>,
    pub payment_method: &'static str,
    pub location: String,
    pub city: String,
    pub country: String,
    pub device_id: String,
    pub product_id: Option<String>,
    pub category: Option<String>,
    pub quantity: Option<u32>,
    pub currency: String,
    pub channel: Option<&'static str>,
    pub hour: u8,
    pub day_of_week: u8,
    pub is_weekend: bool,
    pub amount_band: &'static str,
    pub is_high_value: bool,
    pub customer_tx_count: u64,
    pub customer_avg_amount: f64,
    pub customer_std_amount: f64,
    pub amount_zscore: Option<f64>,
    pub is_new_device: bool,
    pub device_customers: u32,
    pub distance_km: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub velocity_30m: u32,
    pub risk_score: u8,
    pub risk_level: &'static str,
    /// The rules that fired with their points, `code:points` comma-separated (e.g.
    /// `known_fraud:50,crypto:20`), in a fixed rule order.
    pub reasons: String,
    pub is_alert: bool,
    pub injected_scenario: Option<&'static str>,
    pub event_date: String,
}

/// `gold/fraud_alerts`: transactions scored at or above the alert level.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertRow {
    pub alert_id: String,
    pub transaction_id: String,
    pub user_id: String,
    pub timestamp: Timestamp,
    pub amount: f64,
    pub merchant: String,
    pub country: String,
    pub payment_method: &'static str,
    pub risk_score: u8,
    pub risk_level: &'static str,
    /// As in `silver/transactions`.
    pub reasons: String,
    pub rules_version: String,
    pub model_version: Option<String>,
    pub event_date: String,
}

/// A closed window of transaction KPIs; which key columns are set depends on the table.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WindowRow {
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub merchant: Option<String>,
    pub user_id: Option<String>,
    pub country: Option<String>,
    pub payment_method: Option<String>,
    pub tx_count: u64,
    pub revenue: f64,
    pub avg_amount: f64,
    pub alert_count: u64,
    pub alert_rate: f64,
    pub known_fraud_count: u64,
    pub known_fraud_rate: f64,
    pub high_value_count: u64,
    pub high_value_rate: f64,
    pub distinct_customers: u64,
    pub distinct_devices: u64,
    pub distinct_merchants: u64,
    /// Transactions per payment method, as JSON (`{"credit_card": 12, ...}`).
    pub payment_mix: String,
    pub event_date: String,
}

/// `gold/sessions`: a clickstream session closed after the inactivity gap.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SessionRow {
    pub session_id: String,
    pub user_id: String,
    pub session_start: Timestamp,
    pub session_end: Timestamp,
    pub duration_secs: f64,
    pub events: u32,
    pub page_views: u32,
    pub cart_adds: u32,
    pub cart_removes: u32,
    pub wishlist_adds: u32,
    pub purchases: u32,
    pub revenue: f64,
    pub converted: bool,
    pub event_date: String,
}

/// `gold/funnel_10m`: views -> carts -> purchases per category and 10 minutes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FunnelRow {
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub category: String,
    pub views: u64,
    pub cart_adds: u64,
    pub purchases: u64,
    pub view_to_cart_rate: f64,
    pub cart_to_purchase_rate: f64,
    pub conversion_rate: f64,
    pub event_date: String,
}

/// `gold/late_events`: events that arrived after their window was final.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LateEventRow {
    /// The gold table whose window it missed.
    pub window_table: String,
    pub event_id: String,
    pub event_time: Timestamp,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub watermark: Timestamp,
    pub source_partition: u32,
    pub source_offset: u64,
    pub event_date: String,
}
