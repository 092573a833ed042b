//! The processor's lake tables: their Arrow schemas, and [`LakeTables`], the processor's
//! [`Tables`] on the Delta lake.
//!
//! Every table is partitioned by `event_date` (the UTC date of the event, of the window start, or
//! of the arrival for dead letters). Timestamps are UTC microseconds. The column reference is in
//! the README ("Lake tables").

use super::lake::{Lake, LakeTable, Layer, Staged, Stager, TableSpec};
use super::{LakeError, to_batch};
use crate::stream::committer::{Staged as EpochStaged, TableError, Tables};
use crate::stream::outputs::{Outputs, RowSink, TABLES};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use DataType::{Boolean, Date32, Float64, Int32, Int64, Utf8};

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// (name, type, nullable)
type Col = (&'static str, DataType, bool);

fn schema(cols: Vec<Col>) -> SchemaRef {
    Arc::new(Schema::new(cols.into_iter().map(|(n, t, null)| Field::new(n, t, null)).collect::<Vec<_>>()))
}

fn transaction_columns() -> Vec<Col> {
    vec![
        ("transaction_id", Utf8, false),
        ("user_id", Utf8, false),
        ("amount", Float64, false),
        ("merchant", Utf8, false),
        ("timestamp", ts(), false),
        ("is_fraud", Boolean, true),
        ("payment_method", Utf8, false),
        ("location", Utf8, false),
        ("device_id", Utf8, false),
        ("product_id", Utf8, true),
        ("category", Utf8, true),
        ("quantity", Int64, true),
        ("currency", Utf8, false),
        ("channel", Utf8, true),
    ]
}

fn kpi_columns(keys: &[&'static str]) -> Vec<Col> {
    let mut cols: Vec<Col> = vec![("window_start", ts(), false), ("window_end", ts(), false)];
    cols.extend(keys.iter().map(|k| (*k, Utf8, false)));
    cols.extend([
        ("tx_count", Int64, false),
        ("revenue", Float64, false),
        ("avg_amount", Float64, false),
        ("alert_count", Int64, false),
        ("alert_rate", Float64, false),
        ("known_fraud_count", Int64, false),
        ("known_fraud_rate", Float64, false),
        ("high_value_count", Int64, false),
        ("high_value_rate", Float64, false),
        ("distinct_customers", Int64, false),
        ("distinct_devices", Int64, false),
        ("distinct_merchants", Int64, false),
        ("payment_mix", Utf8, false),
    ]);
    cols
}

/// The spec of one of the processor's tables (`<layer>/<name>`, as in [`TABLES`]).
pub fn spec(table: &str) -> Option<TableSpec> {
    let (layer, _) = table.split_once('/')?;
    let name: &'static str = TABLES.iter().find(|t| **t == table)?.split_once('/')?.1;
    let layer = match layer {
        "bronze" => Layer::Bronze,
        "silver" => Layer::Silver,
        _ => Layer::Gold,
    };
    let mut cols: Vec<Col> = match table {
        "bronze/transactions" => {
            let mut c =
                vec![("source_partition", Int32, false), ("source_offset", Int64, false), ("ingest_time", ts(), false)];
            c.extend(transaction_columns());
            c.extend([
                ("ip_address", Utf8, true),
                ("session_id", Utf8, true),
                ("customer_email", Utf8, true),
                ("injected_scenario", Utf8, true),
            ]);
            c
        }
        "bronze/clickstream" => vec![
            ("source_partition", Int32, false),
            ("source_offset", Int64, false),
            ("ingest_time", ts(), false),
            ("event_id", Utf8, false),
            ("user_id", Utf8, false),
            ("session_id", Utf8, false),
            ("event_type", Utf8, false),
            ("event_timestamp", ts(), false),
            ("product_id", Utf8, true),
            ("category", Utf8, true),
            ("price", Float64, true),
            ("quantity", Int64, true),
            ("page_url", Utf8, true),
            ("user_agent", Utf8, true),
            ("ip_address", Utf8, true),
        ],
        "bronze/dead_letter" => vec![
            ("source_topic", Utf8, false),
            ("source_partition", Int32, false),
            ("source_offset", Int64, false),
            ("stage", Utf8, false),
            ("kind", Utf8, false),
            ("reason", Utf8, false),
            ("message", Utf8, false),
            ("raw", Utf8, true),
            ("raw_hex", Utf8, true),
            ("ingest_time", ts(), false),
        ],
        "silver/transactions" => {
            let mut c = vec![("source_partition", Int32, false), ("source_offset", Int64, false)];
            c.extend(transaction_columns());
            c.extend([
                ("city", Utf8, false),
                ("country", Utf8, false),
                ("hour", Int32, false),
                ("day_of_week", Int32, false),
                ("is_weekend", Boolean, false),
                ("amount_band", Utf8, false),
                ("is_high_value", Boolean, false),
                ("customer_tx_count", Int64, false),
                ("customer_avg_amount", Float64, false),
                ("customer_std_amount", Float64, false),
                ("amount_zscore", Float64, true),
                ("is_new_device", Boolean, false),
                ("device_customers", Int32, false),
                ("distance_km", Float64, true),
                ("speed_kmh", Float64, true),
                ("velocity_30m", Int32, false),
                ("risk_score", Int32, false),
                ("risk_level", Utf8, false),
                ("reasons", Utf8, false),
                ("is_alert", Boolean, false),
                ("injected_scenario", Utf8, true),
            ]);
            c
        }
        "gold/fraud_alerts" => vec![
            ("alert_id", Utf8, false),
            ("transaction_id", Utf8, false),
            ("user_id", Utf8, false),
            ("timestamp", ts(), false),
            ("amount", Float64, false),
            ("merchant", Utf8, false),
            ("country", Utf8, false),
            ("payment_method", Utf8, false),
            ("risk_score", Int32, false),
            ("risk_level", Utf8, false),
            ("reasons", Utf8, false),
            ("rules_version", Utf8, false),
            ("model_version", Utf8, true),
        ],
        "gold/kpi_1m" | "gold/kpi_1m_sliding" | "gold/platform_1h" => kpi_columns(&[]),
        "gold/merchant_15m" => kpi_columns(&["merchant"]),
        "gold/customer_1h" => kpi_columns(&["user_id"]),
        "gold/country_30m" => kpi_columns(&["country"]),
        "gold/merchant_payment_country_10m" => kpi_columns(&["merchant", "payment_method", "country"]),
        "gold/sessions" => vec![
            ("session_id", Utf8, false),
            ("user_id", Utf8, false),
            ("session_start", ts(), false),
            ("session_end", ts(), false),
            ("duration_secs", Float64, false),
            ("events", Int64, false),
            ("page_views", Int64, false),
            ("cart_adds", Int64, false),
            ("cart_removes", Int64, false),
            ("wishlist_adds", Int64, false),
            ("purchases", Int64, false),
            ("revenue", Float64, false),
            ("converted", Boolean, false),
        ],
        "gold/funnel_10m" => vec![
            ("window_start", ts(), false),
            ("window_end", ts(), false),
            ("category", Utf8, false),
            ("views", Int64, false),
            ("cart_adds", Int64, false),
            ("purchases", Int64, false),
            ("view_to_cart_rate", Float64, false),
            ("cart_to_purchase_rate", Float64, false),
            ("conversion_rate", Float64, false),
        ],
        "gold/late_events" => vec![
            ("window_table", Utf8, false),
            ("event_id", Utf8, false),
            ("event_time", ts(), false),
            ("window_start", ts(), false),
            ("window_end", ts(), false),
            ("watermark", ts(), false),
            ("source_partition", Int32, false),
            ("source_offset", Int64, false),
        ],
        _ => return None,
    };
    cols.push(("event_date", Date32, false));
    Some(TableSpec { layer, name, schema: schema(cols), partition_by: vec!["event_date"] })
}

/// The processor's tables in a Delta lake: rows encoded into Parquet files as they arrive (an
/// epoch's rows are never all in memory), the files staged at the epoch's end and committed with
/// the epoch as application transaction.
pub struct LakeTables {
    lake: Lake,
    open: BTreeMap<&'static str, (TableSpec, LakeTable)>,
    staging: BTreeMap<&'static str, Stager>,
}

fn table_error(table: &str, e: impl std::fmt::Display, retryable: bool) -> TableError {
    TableError { table: table.to_string(), message: e.to_string(), retryable }
}

/// A lake error of `table`, retryable when the lake says so.
fn lake_error(table: &str, e: LakeError) -> TableError {
    let retryable = e.retryable();
    table_error(table, e, retryable)
}

impl LakeTables {
    /// Opens every table of the processor, creating the missing ones (empty tables are
    /// queryable too, e.g. `late_events` before anything was late).
    pub fn open(lake: Lake) -> Result<Self, TableError> {
        let mut tables = LakeTables { lake, open: BTreeMap::new(), staging: BTreeMap::new() };
        for table in TABLES {
            tables.table(table)?;
        }
        Ok(tables)
    }

    fn table(&mut self, table: &'static str) -> Result<&mut (TableSpec, LakeTable), TableError> {
        if !self.open.contains_key(table) {
            let spec = spec(table).ok_or_else(|| table_error(table, "not a table of the processor", false))?;
            let handle = self.lake.table(&spec).map_err(|e| lake_error(table, e))?;
            self.open.insert(table, (spec, handle));
        }
        Ok(self.open.get_mut(table).expect("just opened"))
    }
}

impl RowSink for LakeTables {
    type Error = TableError;

    fn rows<T: Serialize>(&mut self, table: &'static str, rows: &[T]) -> Result<(), TableError> {
        self.table(table)?;
        let (spec, handle) = &self.open[table];
        let batch = to_batch(&spec.schema, rows).map_err(|e| table_error(table, e, false))?;
        let stager = match self.staging.entry(table) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(handle.stager().map_err(|e| lake_error(table, e))?),
        };
        stager.write(batch).map_err(|e| lake_error(table, e))
    }
}

impl Tables for LakeTables {
    fn write(&mut self, outputs: &Outputs) -> Result<(), TableError> {
        outputs.each_table(self)
    }

    fn stage(&mut self) -> Result<EpochStaged, TableError> {
        let mut staged = EpochStaged::new();
        for (table, stager) in std::mem::take(&mut self.staging) {
            let files = stager.finish().map_err(|e| lake_error(table, e))?;
            let json = serde_json::to_string(&files).map_err(|e| table_error(table, e, false))?;
            staged.insert(table.to_string(), json);
        }
        Ok(staged)
    }

    fn commit(&mut self, app_id: &str, epoch: u64, staged: &EpochStaged) -> Result<(), TableError> {
        for (table, json) in staged {
            let Some(name) = TABLES.iter().copied().find(|t| t == table) else {
                return Err(table_error(table, "the checkpoint names a table this version does not write", false));
            };
            let files: Staged = serde_json::from_str(json).map_err(|e| table_error(table, e, false))?;
            let (_, handle) = self.table(name)?;
            handle.commit(app_id, epoch, &files).map_err(|e| lake_error(table, e))?;
        }
        Ok(())
    }
}
