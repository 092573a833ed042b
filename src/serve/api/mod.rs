//! The REST API under `/api/v1`, one file per resource, and its OpenAPI document.
//!
//! Reads of the lake run the named queries of `sql/api/*.sql` with their filters bound as
//! parameters (`$1`, `$2`...), never spliced into the text, on a shared DataFusion session that a
//! background thread reopens every [`LakeReader::REFRESH`] to see new commits. A table the lake does not
//! have yet reads as empty.

pub mod health;
pub mod idempotency;
pub mod ingest;
pub mod live;
pub mod read;
pub mod sql;
pub mod status;

use super::error::ApiError;
use super::sql::{SqlError, SqlSession};
use crate::sink::Lake;
use crate::stream::priority::{LOWEST, lower_priority};
use axum::Json;
use axum::response::IntoResponse;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::common::ScalarValue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The OpenAPI document of the API, as served at `/api/openapi.json` and committed in
/// `docs/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Streamify API", description = "Real-time e-commerce analytics and fraud detection."),
    paths(
        health::healthz,
        health::readyz,
        status::status,
        live::snapshot,
        live::stream,
        read::kpis,
        read::breakdown,
        read::alerts,
        read::alert,
        read::customer,
        read::sessions,
        read::funnel,
        sql::sql,
        ingest::transactions,
        ingest::clickstream,
    ),
    components(schemas(super::error::ErrorBody, super::live::Snapshot, read::Page)),
    modifiers(&Security),
    security(("bearer" = []), ("basic" = [])),
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// The OpenAPI document as pretty JSON (what `docs/openapi.json` holds).
pub fn openapi_document() -> String {
    use utoipa::OpenApi as _;
    ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes") + "\n"
}

pub async fn openapi_json() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_document())
}

/// A shared SQL session over the lake, reopened in the background to see new commits.
///
/// Lake reads run through [`LakeReader::run`] on the reader's own [`LAKE_READERS`] threads at the
/// lowest priority ([`LOWEST`]; so do the reader lake's runtime and the session refresh): at most
/// that many queries run at once (the rest wait their turn), and a scan that takes seconds takes
/// the CPU neither from the processing thread, nor from the committer it waits for, nor from the
/// requests answered from memory.
#[derive(Clone)]
pub struct LakeReader(Arc<ReaderInner>);

/// Lake queries run at once; more wait.
pub const LAKE_READERS: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

struct ReaderInner {
    dir: std::path::PathBuf,
    /// The lake (and its runtime), opened once.
    lake: Mutex<Option<Lake>>,
    session: Mutex<Option<(Instant, Arc<SqlSession>)>>,
    refreshing: AtomicBool,
    /// The reader threads' queue, started by the first [`LakeReader::run`]; they end when it is
    /// dropped.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl ReaderInner {
    fn submit(&self, job: Job) -> Result<(), ApiError> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if jobs.is_none() {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..LAKE_READERS {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("lake-read-{i}"))
                    .spawn(move || {
                        lower_priority(LOWEST);
                        loop {
                            let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                            let Ok(job) = job else { return };
                            // A panicking query fails its request (its answer channel drops),
                            // not the thread.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                    })
                    .map_err(|e| ApiError::internal(format!("starting a lake reader thread: {e}")))?;
            }
            *jobs = Some(tx);
        }
        let sent = jobs.as_ref().map(|tx| tx.send(job));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(ApiError::internal("the lake reader threads are gone")),
        }
    }

    fn open(&self) -> Result<Arc<SqlSession>, ApiError> {
        let lake = {
            let mut slot = self.lake.lock().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some(lake) => lake.clone(),
                None => {
                    let lake = Lake::open_background(&self.dir, LOWEST)
                        .map_err(|e| ApiError::unavailable("lake_unavailable", e.to_string(), 5))?;
                    slot.insert(lake).clone()
                }
            }
        };
        let session = Arc::new(SqlSession::open(&lake)?);
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), session.clone()));
        Ok(session)
    }
}

impl LakeReader {
    /// How often the session is reopened: reads lag the lake's commits by about this much (plus
    /// the time to reopen).
    pub const REFRESH: Duration = Duration::from_secs(2);

    pub fn new(dir: std::path::PathBuf) -> Self {
        LakeReader(Arc::new(ReaderInner {
            dir,
            lake: Mutex::new(None),
            session: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            jobs: Mutex::new(None),
        }))
    }

    /// Runs lake work on the reader's threads (see the type's docs) and waits for it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&LakeReader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let reader = self.clone();
        self.0.submit(Box::new(move || {
            let _ = tx.send(work(&reader));
        }))?;
        rx.await.map_err(|_| ApiError::internal("the lake read failed"))?
    }

    /// The current session; blocking (call from [`LakeReader::run`]). Only the first call opens
    /// one while the caller waits; later, a session older than [`Self::REFRESH`] is served while
    /// a background thread opens its successor, so no request waits for a reopen.
    pub fn session(&self) -> Result<Arc<SqlSession>, ApiError> {
        let current = self.0.session.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some((opened, session)) = current else {
            return self.0.open();
        };
        if opened.elapsed() >= Self::REFRESH && !self.0.refreshing.swap(true, Ordering::AcqRel) {
            let inner = self.0.clone();
            let spawned = std::thread::Builder::new().name("lake-reader".into()).spawn(move || {
                lower_priority(LOWEST);
                if let Err(error) = inner.open() {
                    tracing::warn!(%error, "reopening the lake for reads; the previous snapshot stays in use");
                }
                inner.refreshing.store(false, Ordering::Release);
            });
            if spawned.is_err() {
                self.0.refreshing.store(false, Ordering::Release);
            }
        }
        Ok(session)
    }

    /// Runs a read-only statement with parameters; a missing table reads as no rows.
    pub fn query(
        &self,
        sql: &str,
        params: Vec<ScalarValue>,
        skip: usize,
        max_rows: usize,
        timeout: Duration,
    ) -> Result<(Vec<serde_json::Value>, bool), ApiError> {
        let session = self.session()?;
        match session.query_read_only(sql, params, skip, max_rows, timeout) {
            Ok((batches, more)) => Ok((rows_json(&batches)?, more)),
            Err(SqlError::UnknownTable { .. }) => Ok((Vec::new(), false)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Rows as JSON objects (nulls kept).
pub fn rows_json(batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>, ApiError> {
    let text = super::sql::render(batches, super::sql::Format::Json)?;
    serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("reading query results: {e}")))
}

/// Runs blocking work (the bus) off the async workers; lake reads go through [`LakeReader::run`].
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::internal(format!("request task failed: {e}")))?
}

/// JSON with the given status.
pub fn json<T: serde::Serialize>(status: axum::http::StatusCode, body: T) -> axum::response::Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_openapi_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let current = super::openapi_document();
        if std::env::var_os("BLESS").is_some() {
            std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).unwrap();
            std::fs::write(path, &current).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == current,
            "docs/openapi.json is not the API's document: run `BLESS=1 cargo nextest run openapi` and commit it"
        );
    }
}
