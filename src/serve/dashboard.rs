//! The live dashboard: static assets compiled into the binary (no Node build), served under
//! `/dashboard/`. The page reads `/api/v1/live/stream` (server-sent events) and falls back to
//! polling `/api/v1/live`. Charts are uPlot, vendored with its licence in `dashboard/vendor/uplot`.

use crate::serve::AppState;
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

const INDEX: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");
const UPLOT_JS: &str = include_str!("dashboard/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("dashboard/vendor/uplot/uPlot.min.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/dashboard/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/dashboard/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route(
            "/dashboard/vendor/uplot/uPlot.iife.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", UPLOT_JS) }),
        )
        .route("/dashboard/vendor/uplot/uPlot.min.css", get(|| async { asset("text/css; charset=utf-8", UPLOT_CSS) }))
}
