//! `POST /api/v1/sql` (analyst and admin): one read-only SQL statement over the lake's tables,
//! with a row limit and a time limit. DDL, DML and other statements are refused, so a caller
//! can neither define a table over an arbitrary file nor write anything.

use super::rows_json;
use crate::serve::AppState;
use crate::serve::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SqlRequest {
    /// One statement, e.g. `select risk_level, count(*) from silver_transactions group by 1`.
    pub query: String,
    /// Rows returned at most (default and cap: `serve.sql_max_rows`).
    pub max_rows: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SqlResponse {
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    /// Whether the result had more rows than `max_rows`.
    pub truncated: bool,
    pub max_rows: usize,
    pub elapsed_ms: f64,
}

#[utoipa::path(post, path = "/api/v1/sql", tag = "sql", request_body = SqlRequest,
    responses((status = 200, body = SqlResponse), (status = 400, body = crate::serve::error::ErrorBody),
              (status = 403, body = crate::serve::error::ErrorBody), (status = 408, body = crate::serve::error::ErrorBody)))]
pub async fn sql(
    State(state): State<AppState>,
    body: Result<Json<SqlRequest>, JsonRejection>,
) -> Result<Json<SqlResponse>, ApiError> {
    let Json(request) = body?;
    let cap = state.config.sql_max_rows;
    let max_rows = request.max_rows.unwrap_or(cap);
    if max_rows == 0 || max_rows > cap {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("`max_rows` = {max_rows}: use 1 to {cap} (serve.sql_max_rows)"),
        ));
    }
    if request.query.trim().is_empty() {
        return Err(ApiError::bad_request("invalid_query", "`query` is empty: send one SQL statement"));
    }
    let timeout = state.config.sql_timeout;
    let started = Instant::now();
    let (rows, truncated) = state
        .reader
        .run(move |lake| {
            let session = lake.session()?;
            let (batches, more) = session.query_read_only(&request.query, Vec::new(), 0, max_rows, timeout)?;
            Ok((rows_json(&batches)?, more))
        })
        .await?;
    Ok(Json(SqlResponse { rows, truncated, max_rows, elapsed_ms: started.elapsed().as_secs_f64() * 1e3 }))
}
