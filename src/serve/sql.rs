//! SQL over the lake: an embedded DataFusion session with every Delta table registered by its SQL
//! name, and rendering of results as a table, CSV or JSON.
//!
//! Tables are registered through delta-rs's table provider, pinned to the version that was latest
//! when [`SqlSession::open`] ran, so one session answers every query from the same snapshot; open
//! a new session to see newer commits. Identifiers follow DataFusion's defaults (unquoted names
//! are lower-cased); `show tables` works. Errors in the SQL itself (syntax, unknown table or
//! column, type errors) are [`SqlError::Query`] or [`SqlError::UnknownTable`]: the user's to fix,
//! carrying DataFusion's message and, for an unknown table, the names that do exist.

use crate::sink::{Lake, LakeError};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The statement is wrong: syntax, unknown column, types, unsupported feature.
    #[error("query rejected: {message}")]
    Query { message: String },

    /// The statement names a table the lake does not have.
    #[error("unknown table `{table}` (known tables: {}): {message}", known_list(.known))]
    UnknownTable { table: String, known: Vec<String>, message: String },

    /// The statement is fine but running it failed (reading files, resources).
    #[error("query failed: {message}")]
    Execution { message: String },

    /// The statement ran longer than allowed.
    #[error("query stopped after {secs} s (the limit); narrow it with a WHERE clause or a LIMIT")]
    Timeout { secs: f64 },

    #[error(transparent)]
    Lake(#[from] LakeError),

    #[error("rendering the result as {format}: {source}")]
    Render {
        format: &'static str,
        #[source]
        source: ArrowError,
    },
}

impl SqlError {
    /// Whether the person who wrote the query can fix it by changing the query.
    pub fn is_user_error(&self) -> bool {
        matches!(self, SqlError::Query { .. } | SqlError::UnknownTable { .. } | SqlError::Timeout { .. })
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() { "none; the lake has no tables yet".to_string() } else { known.join(", ") }
}

/// A DataFusion session over a lake's tables.
pub struct SqlSession {
    lake: Lake,
    context: SessionContext,
    tables: Vec<String>,
}

impl std::fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSession").field("lake", &self.lake).field("tables", &self.tables).finish()
    }
}

impl SqlSession {
    /// Registers every table of `lake` at its latest version.
    pub fn open(lake: &Lake) -> Result<SqlSession> {
        let context = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
        let tables = lake.block_on(async {
            let mut names = Vec::new();
            for (name, table) in lake.load_all().await? {
                let failed =
                    |source: deltalake::DeltaTableError| LakeError::delta(name.as_str(), "registering", source);
                table.update_datafusion_session(&context.state()).map_err(failed)?;
                let provider = table.table_provider().await.map_err(|e| failed(e.into()))?;
                context.register_table(name.as_str(), provider).map_err(|e| failed(e.into()))?;
                names.push(name);
            }
            Ok::<_, LakeError>(names)
        })?;
        Ok(SqlSession { lake: lake.clone(), context, tables })
    }

    /// The SQL names of the registered tables.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Runs one statement and collects its result. The result always has at least one batch,
    /// so that an empty result still carries its columns.
    pub fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.lake.block_on(async {
            let frame = self.context.sql(sql).await.map_err(|e| self.classify(e))?;
            let schema = frame.schema().inner().clone();
            let mut batches = frame.collect().await.map_err(|e| self.classify(e))?;
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            Ok(batches)
        })
    }

    /// Runs one read-only statement with `params` bound to `$1`, `$2`..., from row `skip` on: DDL, DML and other
    /// statements are refused (so a caller can neither define tables over arbitrary files nor
    /// write any). At most `max_rows` rows come back, with whether there were more; a run longer
    /// than `timeout` is stopped.
    pub fn query_read_only(
        &self,
        sql: &str,
        params: Vec<ScalarValue>,
        skip: usize,
        max_rows: usize,
        timeout: std::time::Duration,
    ) -> Result<(Vec<RecordBatch>, bool)> {
        self.lake.block_on(async {
            let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
            let mut frame = self.context.sql_with_options(sql, options).await.map_err(|e| self.classify(e))?;
            if !params.is_empty() {
                frame = frame.with_param_values(params).map_err(|e| self.classify(e))?;
            }
            let frame = frame.limit(skip, Some(max_rows + 1)).map_err(|e| self.classify(e))?;
            let schema = frame.schema().inner().clone();
            let collected = tokio::time::timeout(timeout, frame.collect())
                .await
                .map_err(|_| SqlError::Timeout { secs: timeout.as_secs_f64() })?;
            let batches = collected.map_err(|e| self.classify(e))?;
            let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let mut kept = Vec::with_capacity(batches.len() + 1);
            let mut left = max_rows;
            for batch in batches {
                if left == 0 {
                    break;
                }
                let take = batch.num_rows().min(left);
                left -= take;
                kept.push(if take == batch.num_rows() { batch } else { batch.slice(0, take) });
            }
            if kept.is_empty() {
                kept.push(RecordBatch::new_empty(schema));
            }
            Ok((kept, total > max_rows))
        })
    }

    fn classify(&self, error: DataFusionError) -> SqlError {
        let message = error.to_string();
        if let Some(table) = unknown_table(&message) {
            return SqlError::UnknownTable { table, known: self.tables.clone(), message };
        }
        match error.find_root() {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_) => SqlError::Query { message },
            _ => SqlError::Execution { message },
        }
    }
}

/// The table name in DataFusion's "table 'datafusion.public.x' not found", without its catalog
/// and schema.
fn unknown_table(message: &str) -> Option<String> {
    let start = message.find("table '")? + "table '".len();
    let rest = &message[start..];
    let end = rest.find("' not found")?;
    let full = &rest[..end];
    Some(full.rsplit('.').next().unwrap_or(full).to_string())
}

/// How query results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table with a header.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of row objects (nulls written as `null`).
    Json,
}

/// Renders `batches` in `format`, ending with a newline.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String> {
    use deltalake::arrow::{csv, json, util::pretty};
    let error = |format| move |source| SqlError::Render { format, source };
    let text = match format {
        Format::Table => pretty::pretty_format_batches(batches).map_err(error("a table"))?.to_string() + "\n",
        Format::Csv => {
            let mut writer = csv::WriterBuilder::new().with_header(true).build(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(error("csv"))?;
            }
            String::from_utf8_lossy(&writer.into_inner()).into_owned()
        }
        Format::Json => {
            let mut writer =
                json::WriterBuilder::new().with_explicit_nulls(true).build::<_, json::writer::JsonArray>(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(error("json"))?;
            }
            writer.finish().map_err(error("json"))?;
            let text = String::from_utf8_lossy(&writer.into_inner()).into_owned();
            if text.is_empty() { "[]\n".to_string() } else { text + "\n" }
        }
    };
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false), Field::new("s", DataType::Utf8, true)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec![Some("a,b"), None]))],
        )
        .unwrap()
    }

    #[test]
    fn sql_results_render_in_every_format() {
        let b = batch();
        let table = render(std::slice::from_ref(&b), Format::Table).unwrap();
        assert!(table.contains("| n | s   |"), "{table}");
        let csv = render(std::slice::from_ref(&b), Format::Csv).unwrap();
        assert_eq!(csv, "n,s\n1,\"a,b\"\n2,\n");
        let json = render(std::slice::from_ref(&b), Format::Json).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value, serde_json::json!([{"n": 1, "s": "a,b"}, {"n": 2, "s": null}]));
        let empty = RecordBatch::new_empty(b.schema());
        assert_eq!(render(std::slice::from_ref(&empty), Format::Json).unwrap(), "[]\n");
        assert_eq!(render(&[empty], Format::Csv).unwrap(), "n,s\n");
    }

    #[test]
    fn sql_unknown_table_names_are_extracted() {
        let message = "Error during planning: table 'datafusion.public.nope' not found";
        assert_eq!(unknown_table(message).as_deref(), Some("nope"));
        assert_eq!(unknown_table("column 'x' not found"), None);
    }
}
