//! Serving Streamify's results to people and programs: the HTTP server (REST API with its
//! OpenAPI document, the live dashboard, `/metrics`, health checks) and SQL over the lake.
//!
//! What it promises: reads never change the lake, the bus or the processor; an ingest request is
//! answered 2xx only once every accepted event is durable on the bus (acknowledged by the log),
//! and an error says which items were refused and why, so nothing is dropped silently; a retried
//! request with the same `Idempotency-Key` is not ingested twice (within
//! `serve.idempotency_ttl`, across restarts; [`api::idempotency`] states the limits). Every
//! protected route checks the caller's role ([`auth`]); every error is JSON with a stable code ([`error`]).
//!
//! The router is built by one function, [`router`], from an [`AppState`]; `server` binds and runs
//! it with graceful shutdown, over TLS when configured.

pub mod api;
pub mod auth;
pub mod config;
mod dashboard;
pub mod error;
pub mod hot;
pub mod hot_customers;
pub mod hot_gold;
mod limits;
pub mod live;
pub mod metrics;
pub mod server;
pub mod sql;

pub use config::{Access, Role, ServeConfig};
pub use live::Live;

use crate::bus::Producer;
use crate::model::{Clock, Validator};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Everything a request may need; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: ServeConfig,
    pub auth: auth::Authenticator,
    pub live: Live,
    pub clock: Arc<dyn Clock>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Where the lake's tables are, for the read endpoints and SQL.
    pub lake_dir: PathBuf,
    pub reader: Arc<api::LakeReader>,
    /// The bus, when this server accepts events.
    pub ingest: Option<api::ingest::Ingest>,
    pub limiter: limits::Limiter,
    pub started: Instant,
    /// Whether a processor in this process reports to [`Inner::live`].
    pub with_processor: bool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What a server is built from.
pub struct Parts {
    pub config: ServeConfig,
    pub live: Live,
    pub clock: Arc<dyn Clock>,
    pub lake_dir: PathBuf,
    /// The bus and the validator of incoming events, for the ingest endpoints.
    pub ingest: Option<(Box<dyn Producer>, Validator)>,
    /// Where ingest keeps its idempotency keys across restarts; `None`: in memory only.
    pub idempotency_journal: Option<PathBuf>,
    pub with_processor: bool,
}

impl AppState {
    /// Checks the auth configuration (reading a JWT key file) and sets up the metrics recorder.
    pub fn new(parts: Parts) -> Result<AppState, String> {
        let auth = auth::Authenticator::new(&parts.config.auth)?;
        let limiter = limits::Limiter::new(parts.config.rate_limit_per_sec, parts.config.rate_limit_burst);
        let ingest = match parts.ingest {
            Some((producer, validator)) => {
                let ttl = parts.config.idempotency_ttl;
                let seen = match &parts.idempotency_journal {
                    Some(path) => {
                        api::idempotency::Seen::open(ttl, path, parts.clock.now().micros()).unwrap_or_else(|error| {
                            tracing::warn!(%error, "idempotency keys are kept in memory only: a restart forgets them");
                            api::idempotency::Seen::new(ttl)
                        })
                    }
                    None => api::idempotency::Seen::new(ttl),
                };
                Some(api::ingest::Ingest::new(producer, validator, seen))
            }
            None => None,
        };
        Ok(AppState(Arc::new(Inner {
            auth,
            limiter,
            live: parts.live,
            clock: parts.clock,
            metrics: crate::telemetry::metrics::install(),
            reader: Arc::new(api::LakeReader::new(parts.lake_dir.clone())),
            lake_dir: parts.lake_dir,
            ingest,
            started: Instant::now(),
            with_processor: parts.with_processor,
            config: parts.config,
        })))
    }
}

/// Checks the caller for `access` and passes the request on, or answers 401/403.
async fn guard(state: AppState, access: Access, request: Request, next: Next) -> Response {
    use axum::response::IntoResponse as _;
    match state.auth.authorize(request.headers(), access) {
        Ok(identity) => {
            let mut request = request;
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

fn guarded(state: &AppState, access: Access, routes: Router<AppState>) -> Router<AppState> {
    let state = state.clone();
    routes.route_layer(middleware::from_fn(move |request: Request, next: Next| {
        guard(state.clone(), access, request, next)
    }))
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    use tower_http::timeout::TimeoutLayer;
    let timeout = TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, state.config.request_timeout);
    let read = Router::new()
        .route("/api/v1/status", get(api::status::status))
        .route("/api/v1/live", get(api::live::snapshot))
        .route("/api/v1/kpis", get(api::read::kpis))
        .route("/api/v1/breakdown/{dimension}", get(api::read::breakdown))
        .route("/api/v1/alerts", get(api::read::alerts))
        .route("/api/v1/alerts/{alert_id}", get(api::read::alert))
        .route("/api/v1/customers/{user_id}", get(api::read::customer))
        .route("/api/v1/sessions", get(api::read::sessions))
        .route("/api/v1/funnel", get(api::read::funnel))
        .layer(timeout);
    // The live stream runs as long as the client listens: no timeout.
    let stream = Router::new().route("/api/v1/live/stream", get(api::live::stream)).merge(dashboard::routes());
    let sql = Router::new().route("/api/v1/sql", post(api::sql::sql)).layer(timeout);
    let ingest = Router::new()
        .route("/api/v1/transactions", post(api::ingest::transactions))
        .route("/api/v1/clickstream", post(api::ingest::clickstream))
        .layer(timeout);
    let scrape = Router::new().route("/metrics", get(metrics::scrape));
    let api = Router::new()
        .merge(guarded(&state, Access::Read, read))
        .merge(guarded(&state, Access::Read, stream))
        .merge(guarded(&state, Access::Sql, sql))
        .merge(guarded(&state, Access::Ingest, ingest))
        .merge(guarded(&state, Access::Metrics, scrape))
        .layer(axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), limits::rate_limit));
    Router::new()
        .route("/healthz", get(api::health::healthz))
        .route("/readyz", get(api::health::readyz))
        .route("/api/openapi.json", get(api::openapi_json))
        .merge(api)
        .layer(middleware::from_fn(metrics::track))
        .with_state(state)
}
