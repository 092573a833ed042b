//! `GET /api/v1/status`: the pipeline's status (throughput, lag, watermark, last checkpoint,
//! dead-letter and late counts) as the processor last reported it.

use crate::serve::AppState;
use crate::serve::live::StatusView;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusResponse {
    pub version: &'static str,
    pub uptime_secs: u64,
    /// `open` (no credentials configured, loopback only) or `authenticated`.
    pub mode: &'static str,
    /// Whether this server accepts events (`POST /api/v1/transactions`).
    pub ingest: bool,
    pub processor: StatusView,
}

#[utoipa::path(get, path = "/api/v1/status", tag = "read", responses((status = 200, body = StatusResponse)))]
pub async fn status(State(state): State<AppState>) -> Json<StatusResponse> {
    Json(StatusResponse {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        mode: if state.auth.is_open() { "open" } else { "authenticated" },
        ingest: state.ingest.is_some(),
        processor: state.live.status_view(),
    })
}
