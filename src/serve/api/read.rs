//! Read endpoints over the lake: KPIs, breakdowns, alerts, a customer, sessions and the funnel.
//! Every filter is validated, then bound as a parameter of a named query (`sql/api/*.sql`). Alert
//! pages and alerts are answered from memory ([`crate::serve::hot`]) when that is provably the
//! lake's answer.

use super::LakeReader;
use crate::model::Timestamp;
use crate::serve::AppState;
use crate::serve::error::ApiError;
use crate::serve::hot::AlertFilter;
use crate::serve::hot_customers::{CustomerAlert, CustomerTx, Shared, customer_alert};
use crate::serve::hot_gold::{BREAKDOWN_TABLE, Dimension, KpiTable};
use crate::stream::outputs::AlertRow;
use crate::telemetry::metrics::{ALERT_READS, CUSTOMER_READS, WINDOW_READS};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use deltalake::datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const ALERTS_SQL: &str = include_str!("../../../sql/api/alerts.sql");
const ALERT_SQL: &str = include_str!("../../../sql/api/alert.sql");
const CUSTOMER_SQL: &str = include_str!("../../../sql/api/customer_transactions.sql");
const KPIS_1M_SQL: &str = include_str!("../../../sql/api/kpis_1m.sql");
const KPIS_1H_SQL: &str = include_str!("../../../sql/api/kpis_1h.sql");
const BY_MERCHANT_SQL: &str = include_str!("../../../sql/api/breakdown_merchant.sql");
const BY_COUNTRY_SQL: &str = include_str!("../../../sql/api/breakdown_country.sql");
const BY_PAYMENT_SQL: &str = include_str!("../../../sql/api/breakdown_payment_method.sql");
const NEWEST_ALERT_SQL: &str = include_str!("../../../sql/api/newest_alert.sql");
const NEWEST_WINDOWS_SQL: &str = include_str!("../../../sql/api/newest_windows.sql");
const NEWEST_TRANSACTION_SQL: &str = include_str!("../../../sql/api/newest_transaction.sql");
const SESSIONS_SQL: &str = include_str!("../../../sql/api/sessions.sql");
const FUNNEL_SQL: &str = include_str!("../../../sql/api/funnel.sql");

/// The deepest `offset` a list accepts; page by time (`to`) beyond it.
const MAX_OFFSET: usize = 100_000;
const DEFAULT_LIMIT: usize = 100;
/// A customer's transactions shown unless `limit` says otherwise.
const CUSTOMER_LIMIT: usize = 20;
const RISK_LEVELS: &[&str] = &["CRITICAL", "HIGH", "MEDIUM", "LOW", "MINIMAL"];

/// One page of rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub limit: usize,
    pub offset: usize,
    /// The `offset` of the next page; absent on the last page.
    pub next_offset: Option<usize>,
}

/// Filters and paging of a list; `from` and `to` are ISO-8601 timestamps (from inclusive, to
/// exclusive).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Rows per page (default 100, at most `serve.max_page_size`).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    /// Alerts: CRITICAL, HIGH, MEDIUM, LOW or MINIMAL.
    pub risk_level: Option<String>,
    /// Alerts: one merchant.
    pub merchant: Option<String>,
    /// Alerts and sessions: one customer.
    pub user_id: Option<String>,
    /// KPIs: `1m` (default) or `1h`.
    pub window: Option<String>,
    /// Funnel: one category.
    pub category: Option<String>,
}

struct Checked {
    /// UTC microseconds.
    from: Option<i64>,
    to: Option<i64>,
    limit: usize,
    offset: usize,
}

impl Checked {
    /// `from` and `to` as query parameters.
    fn range(&self) -> [ScalarValue; 2] {
        [micros(self.from), micros(self.to)]
    }

    /// The page of `items`, `more` when another follows.
    fn page(&self, items: Vec<serde_json::Value>, more: bool) -> Json<Page> {
        let (limit, offset) = (self.limit, self.offset);
        Json(Page { items, limit, offset, next_offset: more.then_some(offset + limit) })
    }
}

fn micros(at: Option<i64>) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(at, Some("UTC".into()))
}

fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    Timestamp::parse(text).map(|t| Some(t.micros())).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("`{name}` = {text:?} is not a timestamp; use ISO-8601 like 2025-01-01T00:00:00Z"),
        )
    })
}

fn text(value: Option<&str>) -> ScalarValue {
    ScalarValue::Utf8(value.map(str::to_string))
}

fn check(state: &AppState, q: &ListQuery) -> Result<Checked, ApiError> {
    let cap = state.config.max_page_size;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT.min(cap));
    if limit == 0 || limit > cap {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("`limit` = {limit}: use 1 to {cap} (serve.max_page_size)"),
        ));
    }
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("`offset` = {offset}: use at most {MAX_OFFSET}; narrow the time range with `to` instead"),
        ));
    }
    Ok(Checked { from: time_param("from", q.from.as_deref())?, to: time_param("to", q.to.as_deref())?, limit, offset })
}

fn query(q: Result<Query<ListQuery>, QueryRejection>) -> Result<ListQuery, ApiError> {
    Ok(q?.0)
}

async fn page(
    state: &AppState,
    sql: &'static str,
    params: Vec<ScalarValue>,
    c: &Checked,
) -> Result<Json<Page>, ApiError> {
    let (limit, offset, timeout) = (c.limit, c.offset, state.config.request_timeout);
    let (items, more) = state.reader.run(move |lake| lake.query(sql, params, offset, limit, timeout)).await?;
    Ok(c.page(items, more))
}

/// Platform KPIs per closed window (`window` = `1m` or `1h`), newest first.
#[utoipa::path(get, path = "/api/v1/kpis", params(ListQuery), tag = "read",
    responses((status = 200, body = Page), (status = 400, body = crate::serve::error::ErrorBody)))]
pub async fn kpis(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let q = query(q)?;
    let c = check(&state, &q)?;
    let (table, sql) = match q.window.as_deref().unwrap_or("1m") {
        "1m" => (KpiTable::Minute, KPIS_1M_SQL),
        "1h" => (KpiTable::Hour, KPIS_1H_SQL),
        other => return Err(ApiError::bad_request("invalid_parameter", format!("`window` = {other:?}: use 1m or 1h"))),
    };
    if let Some((rows, more)) = state.live.kpi_page(table, [c.from, c.to], c.offset, c.limit) {
        read_from(WINDOW_READS, "memory");
        let items = columns_json(&format!("gold/{}", table.table()), KPI_COLUMNS, &rows)?;
        return Ok(c.page(items, more));
    }
    read_from(WINDOW_READS, "lake");
    page(&state, sql, c.range().into(), &c).await
}

/// The columns `sql/api/kpis_*.sql` select.
const KPI_COLUMNS: &[&str] = &[
    "window_start",
    "window_end",
    "tx_count",
    "revenue",
    "avg_amount",
    "alert_count",
    "alert_rate",
    "known_fraud_count",
    "known_fraud_rate",
    "high_value_count",
    "high_value_rate",
    "distinct_customers",
    "distinct_devices",
    "distinct_merchants",
    "payment_mix",
];

/// Orders, revenue and alerts by `merchant`, `country` or `payment_method`, summed over the closed
/// 10-minute windows that start in [`from`, `to`).
#[utoipa::path(get, path = "/api/v1/breakdown/{dimension}", params(("dimension" = String, Path, description = "merchant, country or payment_method"), ListQuery), tag = "read",
    responses((status = 200, body = Page), (status = 400, body = crate::serve::error::ErrorBody)))]
pub async fn breakdown(
    State(state): State<AppState>,
    Path(dimension): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let q = query(q)?;
    let c = check(&state, &q)?;
    let (by, sql) = match dimension.as_str() {
        "merchant" => (Dimension::Merchant, BY_MERCHANT_SQL),
        "country" => (Dimension::Country, BY_COUNTRY_SQL),
        "payment_method" => (Dimension::PaymentMethod, BY_PAYMENT_SQL),
        other => {
            return Err(ApiError::not_found(format!(
                "no breakdown by {other:?}: use merchant, country or payment_method"
            )));
        }
    };
    if let Some(rows) = state.live.breakdown(by, [c.from, c.to]) {
        read_from(WINDOW_READS, "memory");
        let more = rows.len() > c.offset + c.limit;
        // As the query renders them: the columns in its order, rates as it divides.
        let items = rows
            .into_iter()
            .skip(c.offset)
            .take(c.limit)
            .map(|(key, s)| {
                let orders = s.orders as f64;
                serde_json::json!({
                    "key": key, "orders": s.orders, "revenue": s.revenue, "avg_amount": s.revenue / orders,
                    "alerts": s.alerts, "fraud_rate": s.alerts as f64 / orders,
                })
            })
            .collect();
        return Ok(c.page(items, more));
    }
    read_from(WINDOW_READS, "lake");
    page(&state, sql, c.range().into(), &c).await
}

/// Fraud alerts, newest first, filtered by risk level, time, merchant and customer.
#[utoipa::path(get, path = "/api/v1/alerts", params(ListQuery), tag = "fraud",
    responses((status = 200, body = Page), (status = 400, body = crate::serve::error::ErrorBody)))]
pub async fn alerts(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let q = query(q)?;
    let c = check(&state, &q)?;
    let level = match q.risk_level.as_deref() {
        None => None,
        Some(l) => Some(RISK_LEVELS.iter().find(|r| r.eq_ignore_ascii_case(l)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("`risk_level` = {l:?}: use one of {}", RISK_LEVELS.join(", ")),
            )
        })?),
    };
    let filter = AlertFilter {
        risk_level: level.map(|l| l.to_string()),
        from: c.from,
        to: c.to,
        merchant: q.merchant.clone(),
        user_id: q.user_id.clone(),
    };
    if let Some((rows, more)) = state.live.alerts_page(&filter, c.offset, c.limit) {
        read_from(ALERT_READS, "memory");
        let items = alerts_json(&rows)?;
        return Ok(c.page(items, more));
    }
    read_from(ALERT_READS, "lake");
    page(&state, ALERTS_SQL, alert_params(&filter), &c).await
}

/// Counts a read answered from `source` (memory or lake) in `metric`.
fn read_from(metric: &'static str, source: &'static str) {
    metrics::counter!(metric, "source" => source).increment(1);
}

/// The newest alert's event time in the lake (UTC microseconds; `None` when it holds none), for
/// [`crate::serve::hot`]'s horizon. Blocking.
pub fn lake_newest_alert(lake: &LakeReader, timeout: std::time::Duration) -> Result<Option<i64>, ApiError> {
    let (rows, _) = lake.query(NEWEST_ALERT_SQL, Vec::new(), 0, 1, timeout)?;
    Ok(rows.first().and_then(|row| row["newest"].as_i64()))
}

/// The newest window start of each gold table [`HotGold`](crate::serve::hot_gold::HotGold) holds,
/// in the lake (UTC microseconds; `None` for an empty table). Blocking.
pub fn lake_newest_windows(lake: &LakeReader, timeout: std::time::Duration) -> Result<[Option<i64>; 3], ApiError> {
    let (rows, _) = lake.query(NEWEST_WINDOWS_SQL, Vec::new(), 0, 1, timeout)?;
    let newest = |table: &str| rows.first().and_then(|row| row[table].as_i64());
    Ok([newest("kpi_1m"), newest("platform_1h"), newest(BREAKDOWN_TABLE)])
}

/// The newest silver transaction's event time in the lake (UTC microseconds; `None` when it holds
/// none), for [`crate::serve::hot_customers`]' horizon. Blocking.
pub fn lake_newest_transaction(lake: &LakeReader, timeout: std::time::Duration) -> Result<Option<i64>, ApiError> {
    let (rows, _) = lake.query(NEWEST_TRANSACTION_SQL, Vec::new(), 0, 1, timeout)?;
    Ok(rows.first().and_then(|row| row["newest"].as_i64()))
}

/// The parameters of `sql/api/alerts.sql`.
fn alert_params(f: &AlertFilter) -> Vec<ScalarValue> {
    let text = |v: &Option<String>| ScalarValue::Utf8(v.clone());
    vec![text(&f.risk_level), micros(f.from), micros(f.to), text(&f.merchant), text(&f.user_id)]
}

/// Alerts from memory as the lake query renders them: the alert list's columns
/// ([`CustomerAlert`]'s), times as the lake prints them.
fn alerts_json(rows: &[Arc<AlertRow>]) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut shared = Shared::default();
    rows.iter()
        .map(|alert| serde_json::to_value(customer_alert(alert, &mut shared)))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(format!("rendering alerts from memory: {e}")))
}

/// Rows from memory holding `table`'s `columns` (and maybe others, left out), named as it names
/// them, as a lake query selecting those columns renders them.
fn columns_json<T: Serialize>(
    table: &str,
    columns: &[&str],
    rows: &[Arc<T>],
) -> Result<Vec<serde_json::Value>, ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(e.to_string());
    let spec = crate::sink::tables::spec(table).ok_or_else(|| ApiError::internal(format!("no schema for {table}")))?;
    let indices = columns.iter().map(|name| spec.schema.index_of(name)).collect::<Result<Vec<_>, _>>();
    let schema = spec.schema.project(&indices.map_err(|e| internal(&e))?).map_err(|e| internal(&e))?;
    let rows: Vec<&T> = rows.iter().map(|r| &**r).collect();
    let batch = crate::sink::to_batch(&Arc::new(schema), &rows).map_err(|e| internal(&e))?;
    super::rows_json(&[batch])
}

/// One reason code of a score.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Reason {
    pub code: String,
    pub points: i64,
}

/// `known_fraud:50,crypto:20` as a list.
pub fn reasons(text: &str) -> Vec<Reason> {
    text.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (code, points) = r.split_once(':').unwrap_or((r, "0"));
            Reason { code: code.to_string(), points: points.parse().unwrap_or(0) }
        })
        .collect()
}

/// One alert with its reason codes as a list.
#[utoipa::path(get, path = "/api/v1/alerts/{alert_id}", params(("alert_id" = String, Path)), tag = "fraud",
    responses((status = 200, body = Object), (status = 404, body = crate::serve::error::ErrorBody)))]
pub async fn alert(
    State(state): State<AppState>,
    Path(alert_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut rows = match state.live.alert(&alert_id) {
        Some(hot) => {
            read_from(ALERT_READS, "memory");
            alerts_json(&[hot])?
        }
        None => {
            read_from(ALERT_READS, "lake");
            let timeout = state.config.request_timeout;
            let id = alert_id.clone();
            state.reader.run(move |lake| lake.query(ALERT_SQL, vec![text(Some(&id))], 0, 1, timeout)).await?.0
        }
    };
    let Some(mut row) = rows.pop() else {
        return Err(ApiError::not_found(format!(
            "no alert {alert_id:?} in the lake (yet); alerts land with each checkpoint"
        )));
    };
    let list = reasons(row.get("reasons").and_then(|r| r.as_str()).unwrap_or(""));
    row["reason_codes"] = serde_json::to_value(list).unwrap_or_default();
    Ok(Json(row))
}

/// A customer's newest transactions (20 unless `limit` says otherwise) with their baseline, and
/// their alerts (risk history). Answered from memory when that is provably the lake's answer
/// ([`crate::serve::hot_customers`]).
#[utoipa::path(get, path = "/api/v1/customers/{user_id}", params(("user_id" = String, Path), ListQuery), tag = "fraud",
    responses((status = 200, body = Object), (status = 400, body = crate::serve::error::ErrorBody)))]
pub async fn customer(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<CustomerPage>, ApiError> {
    let mut q = query(q)?;
    q.limit = q.limit.or(Some(CUSTOMER_LIMIT.min(state.config.max_page_size)));
    let c = check(&state, &q)?;
    let limit = c.limit;
    // Each part from memory when it can be, the rest from the lake.
    let transactions = state.live.customer_transactions(&user_id, limit);
    read_from(CUSTOMER_READS, if transactions.is_some() { "memory" } else { "lake" });
    let alerts = state.live.customer_alerts(&user_id, limit);
    let (transactions, alerts) = match (transactions, alerts) {
        (Some(transactions), Some(alerts)) => (Rows::Memory(transactions), Rows::Memory(alerts)),
        (transactions, alerts) => {
            let timeout = state.config.request_timeout;
            let filter = AlertFilter { user_id: Some(user_id.clone()), ..Default::default() };
            let id = user_id.clone();
            let run = move |lake: &LakeReader| {
                let transactions = match transactions {
                    Some(rows) => Rows::Memory(rows),
                    None => Rows::Lake(lake.query(CUSTOMER_SQL, vec![text(Some(&id))], 0, limit, timeout)?.0),
                };
                let alerts = match alerts {
                    Some(rows) => Rows::Memory(rows),
                    None => Rows::Lake(lake.query(ALERTS_SQL, alert_params(&filter), 0, limit, timeout)?.0),
                };
                Ok((transactions, alerts))
            };
            state.reader.run(run).await?
        }
    };
    let newest = match &transactions {
        Rows::Memory(rows) => rows.first().and_then(|t| serde_json::to_value(&**t).ok()),
        Rows::Lake(rows) => rows.first().cloned(),
    };
    let baseline = newest.map(|t| {
        serde_json::json!({
            "tx_count": t["customer_tx_count"], "avg_amount": t["customer_avg_amount"], "std_amount": t["customer_std_amount"],
        })
    });
    Ok(Json(CustomerPage { user_id, baseline, transactions, alerts }))
}

/// A customer's page: the newest transactions, the baseline of the newest, the newest alerts.
#[derive(Serialize)]
pub struct CustomerPage {
    user_id: String,
    baseline: Option<serde_json::Value>,
    transactions: Rows<CustomerTx>,
    alerts: Rows<CustomerAlert>,
}

/// Rows from memory, which print as the lake query's rows do (the columns it selects, times as
/// its JSON writer prints them), or from the lake.
#[derive(Serialize)]
#[serde(untagged)]
enum Rows<T> {
    Memory(Vec<Arc<T>>),
    Lake(Vec<serde_json::Value>),
}

/// Closed clickstream sessions, newest first.
#[utoipa::path(get, path = "/api/v1/sessions", params(ListQuery), tag = "read",
    responses((status = 200, body = Page), (status = 400, body = crate::serve::error::ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let q = query(q)?;
    let c = check(&state, &q)?;
    let [from, to] = c.range();
    page(&state, SESSIONS_SQL, vec![text(q.user_id.as_deref()), from, to], &c).await
}

/// Views -> carts -> purchases per category with conversion rates, over a time range.
#[utoipa::path(get, path = "/api/v1/funnel", params(ListQuery), tag = "read",
    responses((status = 200, body = Page), (status = 400, body = crate::serve::error::ErrorBody)))]
pub async fn funnel(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let q = query(q)?;
    let c = check(&state, &q)?;
    let [from, to] = c.range();
    page(&state, FUNNEL_SQL, vec![text(q.category.as_deref()), from, to], &c).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_listed_with_their_points() {
        assert_eq!(
            reasons("known_fraud:50,crypto:20"),
            vec![Reason { code: "known_fraud".into(), points: 50 }, Reason { code: "crypto".into(), points: 20 }]
        );
        assert!(reasons("").is_empty());
    }

    /// Times from memory print as the lake's JSON writer prints them, whatever their fraction.
    #[test]
    fn times_from_memory_print_as_the_lake_prints_them() {
        use deltalake::arrow::array::TimestampMicrosecondArray;
        use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        use deltalake::arrow::record_batch::RecordBatch;
        let micros = [0, 1_000, 905_820, 123_456, 1_765_000_000_000_000, 1_765_000_000_500_000, 1_765_000_000_000_001];
        let field = Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false);
        let column = TimestampMicrosecondArray::from(micros.to_vec()).with_timezone("UTC");
        let batch = RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![Arc::new(column)]).unwrap();
        let lake = crate::serve::api::rows_json(&[batch]).unwrap();
        for (row, at) in lake.iter().zip(micros) {
            assert_eq!(row["timestamp"], crate::serve::hot_customers::lake_time(Timestamp::from_micros(at)), "{at}");
        }
    }
}
