//! Rows to Arrow: the processor's row structs become record batches for [`super::LakeTable::stage`].
//!
//! Rows go through serde straight into Arrow builders (`serde_arrow`), one per column: no JSON
//! text and no intermediate tape. Through arrow-json's tape this was most of the committer's time,
//! and the committer bounded the pipeline: `streamify bench --only pipeline` ran at 246-256k
//! events/s with it, 286-304k without.
//!
//! Field names match column names; timestamps may be `chrono::DateTime<Utc>` (serialised as
//! RFC 3339) or integer microseconds, dates `chrono::NaiveDate` or `"2025-01-31"`. Fields absent
//! from the schema are ignored; a missing or null value for a non-nullable column is an error.

use super::error::{LakeError, Result};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::error::ArrowError;
use serde::Serialize;

/// Converts `rows` to one record batch of `schema` (an empty batch for no rows).
pub fn to_batch<T: Serialize>(schema: &SchemaRef, rows: &[T]) -> Result<RecordBatch> {
    let error = LakeError::Convert;
    if rows.is_empty() {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    let batch = serde_arrow::to_record_batch(schema.fields(), &rows)
        .map_err(|e| error(ArrowError::InvalidArgumentError(e.to_string())))?;
    // The same columns, with the table's schema (and its metadata) as the batch's.
    batch.with_schema(schema.clone()).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, Date32Array, Int64Array, TimestampMicrosecondArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    #[derive(Serialize)]
    struct Row {
        id: i64,
        at: chrono::DateTime<chrono::Utc>,
        event_date: chrono::NaiveDate,
        note: Option<String>,
        ignored: bool,
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new("event_date", DataType::Date32, false),
            Field::new("note", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn rows_become_typed_columns() {
        let at = chrono::DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z").unwrap().to_utc();
        let rows = vec![
            Row { id: 1, at, event_date: at.date_naive(), note: None, ignored: true },
            Row { id: 2, at, event_date: at.date_naive(), note: Some("x".into()), ignored: false },
        ];
        let batch = to_batch(&schema(), &rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let ids = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(ids.values(), &[1, 2]);
        let ts = batch.column(1).as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!(ts.value(0), at.timestamp_micros());
        let days = batch.column(2).as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(days.value(0), 20090);
        assert!(batch.column(3).is_null(0));
    }

    #[test]
    fn no_rows_is_an_empty_batch_and_missing_required_values_are_errors() {
        assert_eq!(to_batch::<Row>(&schema(), &[]).unwrap().num_rows(), 0);
        #[derive(Serialize)]
        struct Partial {
            id: i64,
        }
        let error = to_batch(&schema(), &[Partial { id: 1 }]).unwrap_err();
        assert!(!error.retryable());
        assert!(error.to_string().contains("at"), "{error}");
    }
}
