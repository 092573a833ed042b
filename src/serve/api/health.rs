//! `GET /healthz` (the process answers) and `GET /readyz` (what this process runs is working:
//! the bus it ingests into, the lake it reads, the processor it hosts).

use crate::serve::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;

/// A processor that has not reported for this long is not ready.
const REPORT_WITHIN: Duration = Duration::from_secs(15);

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when a check failed.
    pub status: &'static str,
    /// Per component: `ok`, `absent` (not run by this process) or what is wrong.
    pub checks: std::collections::BTreeMap<&'static str, String>,
}

/// Liveness: the server answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", checks: Default::default() })
}

/// Readiness: the bus, the lake and the processor this process runs are working.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut checks = std::collections::BTreeMap::new();
    let mut ok = true;
    let mut set = |name, result: Result<&str, String>| {
        ok &= result.is_ok();
        checks.insert(name, result.map_or_else(|e| e, str::to_string));
    };
    set("bus", if state.ingest.is_some() { Ok("ok") } else { Ok("absent") });
    let lake = &state.lake_dir;
    set(
        "lake",
        match lake.parent().map(std::fs::metadata) {
            Some(Ok(m)) if m.is_dir() => Ok("ok"),
            _ => Err(format!("the lake's directory {} is missing", lake.display())),
        },
    );
    let processor = if state.with_processor {
        match state.live.health() {
            (true, Some(age)) if age <= REPORT_WITHIN => Ok("ok"),
            (true, Some(age)) => Err(format!("no report for {} s", age.as_secs())),
            (_, None) => Err("starting".to_string()),
            (false, Some(_)) => Err("stopped".to_string()),
        }
    } else {
        Ok("absent")
    };
    set("processor", processor);
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Health { status: if ok { "ok" } else { "unavailable" }, checks })).into_response()
}
