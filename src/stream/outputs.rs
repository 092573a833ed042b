//! What the processor produces: one row type per lake table, plus messages for the bus.
//!
//! Rows are flat serde structs whose field names are the table's column names (see
//! [`crate::sink::tables`] for the Arrow schemas and the README for the table reference).
//! Timestamps serialise as RFC 3339 text, `event_date` as `YYYY-MM-DD` (the partition column).

use crate::model::{ClickEvent, Timestamp, Transaction, Vocabulary};
use chrono::NaiveDate;
use compact_str::CompactString;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use std::sync::Arc;

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
    /// Empty, with room for as many rows per table as `self` holds: the next batch's buffers
    /// grow once rather than doubling their way up.
    pub fn sized_like(&self) -> Outputs {
        Outputs {
            bronze_transactions: Vec::with_capacity(self.bronze_transactions.len()),
            bronze_clickstream: Vec::with_capacity(self.bronze_clickstream.len()),
            dead_letters: Vec::new(),
            silver_transactions: Vec::with_capacity(self.silver_transactions.len()),
            alerts: Vec::with_capacity(self.alerts.len()),
            windows: Vec::with_capacity(self.windows.len()),
            sessions: Vec::with_capacity(self.sessions.len()),
            funnels: Vec::new(),
            late_events: Vec::new(),
            messages: Vec::with_capacity(self.messages.len()),
        }
    }

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

/// The UTC date of a timestamp: the partition value of every table (serialised `YYYY-MM-DD`).
pub fn event_date(t: Timestamp) -> NaiveDate {
    let days = t.micros().div_euclid(86_400_000_000);
    // Unix day 0 is 1970-01-01, day 719163 of the common era; every i64 of microseconds fits.
    NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32).unwrap_or(NaiveDate::MIN)
}

/// `bronze/transactions`: every valid transaction as it was on the bus. The event is shared with
/// its silver row, not copied; its columns are written when the row is serialised.
#[derive(Clone, Debug, PartialEq)]
pub struct BronzeTransaction {
    pub source_partition: u32,
    pub source_offset: u64,
    pub ingest_time: Timestamp,
    pub tx: Arc<Transaction>,
}

impl Serialize for BronzeTransaction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = &*self.tx;
        let mut m = s.serialize_struct("BronzeTransaction", 22)?;
        m.serialize_field("source_partition", &self.source_partition)?;
        m.serialize_field("source_offset", &self.source_offset)?;
        m.serialize_field("ingest_time", &self.ingest_time)?;
        transaction_columns(&mut m, t)?;
        m.serialize_field("ip_address", &t.ip_address.as_ref().map(Text))?;
        m.serialize_field("session_id", &t.session_id)?;
        m.serialize_field("customer_email", &t.customer_email)?;
        m.end()
    }
}

/// `bronze/clickstream`: every valid click event as it was on the bus (shared, not copied).
#[derive(Clone, Debug, PartialEq)]
pub struct BronzeClick {
    pub source_partition: u32,
    pub source_offset: u64,
    pub ingest_time: Timestamp,
    /// The event itself, moved here once the operators have read it: a click's row is its one
    /// owner, so no allocation per click is shared between threads.
    pub click: ClickEvent,
}

impl Serialize for BronzeClick {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = &self.click;
        let mut m = s.serialize_struct("BronzeClick", 16)?;
        m.serialize_field("source_partition", &self.source_partition)?;
        m.serialize_field("source_offset", &self.source_offset)?;
        m.serialize_field("ingest_time", &self.ingest_time)?;
        m.serialize_field("event_id", &c.event_id)?;
        m.serialize_field("user_id", &Text(&c.user_id))?;
        m.serialize_field("session_id", &c.session_id)?;
        m.serialize_field("event_type", c.event_type.as_str())?;
        m.serialize_field("event_timestamp", &c.event_timestamp)?;
        m.serialize_field("product_id", &c.product_id)?;
        m.serialize_field("category", &c.category)?;
        m.serialize_field("price", &c.price)?;
        m.serialize_field("quantity", &c.quantity)?;
        m.serialize_field("page_url", &c.page_url)?;
        m.serialize_field("user_agent", &c.user_agent)?;
        m.serialize_field("ip_address", &c.ip_address.as_ref().map(Text))?;
        m.serialize_field("event_date", &event_date(c.event_timestamp))?;
        m.end()
    }
}

/// The columns bronze and silver both take from the transaction (tables match columns by name,
/// so their place in the row does not matter).
fn transaction_columns<M: SerializeStruct>(m: &mut M, t: &Transaction) -> Result<(), M::Error> {
    m.serialize_field("transaction_id", &t.transaction_id)?;
    m.serialize_field("user_id", &Text(&t.user_id))?;
    m.serialize_field("amount", &t.amount)?;
    m.serialize_field("merchant", &t.merchant)?;
    m.serialize_field("timestamp", &t.timestamp)?;
    m.serialize_field("is_fraud", &t.is_fraud)?;
    m.serialize_field("payment_method", t.payment_method.as_str())?;
    m.serialize_field("location", &t.location)?;
    m.serialize_field("device_id", &t.device_id)?;
    m.serialize_field("product_id", &t.product_id)?;
    m.serialize_field("category", &t.category)?;
    m.serialize_field("quantity", &t.quantity)?;
    m.serialize_field("currency", &t.currency)?;
    m.serialize_field("channel", &t.channel.map(|c| c.as_str()))?;
    m.serialize_field("injected_scenario", &t.injected_scenario.map(|x| x.as_str()))?;
    m.serialize_field("event_date", &event_date(t.timestamp))
}

/// Serialises a value as its `Display` text (customer ids, IP addresses).
struct Text<T>(T);

impl<T: std::fmt::Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
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
    pub event_date: NaiveDate,
}

/// `silver/transactions`: cleaned, enriched and scored. The transaction's own columns come from
/// the event shared with its bronze row; the rest are the enrichment and the score.
#[derive(Clone, Debug, PartialEq)]
pub struct SilverTransaction {
    pub source_partition: u32,
    pub source_offset: u64,
    pub tx: Arc<Transaction>,
    pub city: CompactString,
    pub country: CompactString,
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
    pub reasons: CompactString,
    pub is_alert: bool,
}

impl Serialize for SilverTransaction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = &*self.tx;
        let mut m = s.serialize_struct("SilverTransaction", 38)?;
        m.serialize_field("source_partition", &self.source_partition)?;
        m.serialize_field("source_offset", &self.source_offset)?;
        transaction_columns(&mut m, t)?;
        m.serialize_field("city", &self.city)?;
        m.serialize_field("country", &self.country)?;
        m.serialize_field("hour", &self.hour)?;
        m.serialize_field("day_of_week", &self.day_of_week)?;
        m.serialize_field("is_weekend", &self.is_weekend)?;
        m.serialize_field("amount_band", self.amount_band)?;
        m.serialize_field("is_high_value", &self.is_high_value)?;
        m.serialize_field("customer_tx_count", &self.customer_tx_count)?;
        m.serialize_field("customer_avg_amount", &self.customer_avg_amount)?;
        m.serialize_field("customer_std_amount", &self.customer_std_amount)?;
        m.serialize_field("amount_zscore", &self.amount_zscore)?;
        m.serialize_field("is_new_device", &self.is_new_device)?;
        m.serialize_field("device_customers", &self.device_customers)?;
        m.serialize_field("distance_km", &self.distance_km)?;
        m.serialize_field("speed_kmh", &self.speed_kmh)?;
        m.serialize_field("velocity_30m", &self.velocity_30m)?;
        m.serialize_field("risk_score", &self.risk_score)?;
        m.serialize_field("risk_level", self.risk_level)?;
        m.serialize_field("reasons", &self.reasons)?;
        m.serialize_field("is_alert", &self.is_alert)?;
        m.end()
    }
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
    pub event_date: NaiveDate,
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
    pub event_date: NaiveDate,
}

impl WindowRow {
    /// Its record on the `analytics` topic, written over `key` and `value`: the key is
    /// `<table>/<window start in microseconds>` (the same window gives the same key on a replay),
    /// the value `{"table":"<table>","window":<the row as JSON>}`.
    pub fn analytics_record(&self, table: &str, key: &mut Vec<u8>, value: &mut Vec<u8>) -> serde_json::Result<()> {
        key.clear();
        key.extend_from_slice(table.as_bytes());
        key.push(b'/');
        key.extend_from_slice(itoa::Buffer::new().format(self.window_start.micros()).as_bytes());
        value.clear();
        value.extend_from_slice(b"{\"table\":");
        serde_json::to_writer(&mut *value, table)?;
        value.extend_from_slice(b",\"window\":");
        serde_json::to_writer(&mut *value, self)?;
        value.push(b'}');
        Ok(())
    }
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
    pub event_date: NaiveDate,
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
    pub event_date: NaiveDate,
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
    pub event_date: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_s_analytics_record_is_keyed_by_table_and_start_and_carries_the_row() {
        let start = Timestamp::parse("2025-01-03T10:00:00Z").unwrap();
        let row = WindowRow {
            window_start: start,
            window_end: Timestamp::parse("2025-01-03T10:15:00Z").unwrap(),
            merchant: Some("Shop \"A\"".into()),
            user_id: None,
            country: None,
            payment_method: None,
            tx_count: 2,
            revenue: 30.5,
            avg_amount: 15.25,
            alert_count: 1,
            alert_rate: 0.5,
            known_fraud_count: 0,
            known_fraud_rate: 0.0,
            high_value_count: 0,
            high_value_rate: 0.0,
            distinct_customers: 2,
            distinct_devices: 2,
            distinct_merchants: 1,
            payment_mix: r#"{"crypto":2}"#.into(),
            event_date: event_date(start),
        };
        // The buffers are reused from record to record: what they held goes.
        let (mut key, mut value) = (b"stale".to_vec(), b"stale".to_vec());
        row.analytics_record("merchant_15m", &mut key, &mut value).unwrap();
        assert_eq!(key, format!("merchant_15m/{}", start.micros()).into_bytes());
        let json: serde_json::Value = serde_json::from_slice(&value).unwrap();
        let window = serde_json::to_value(&row).unwrap();
        assert_eq!(json, serde_json::json!({ "table": "merchant_15m", "window": window }));
        assert_eq!(json["window"]["merchant"], "Shop \"A\"");
    }
}
