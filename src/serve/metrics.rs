//! `/metrics` in the Prometheus text format, the HTTP request metrics, and the recording of the
//! processor's reports into the metrics declared in [`crate::telemetry::metrics`].

use super::AppState;
use crate::model::Timestamp;
use crate::stream::outputs::Outputs;
use crate::stream::runtime::{Counters, Status};
use crate::telemetry::metrics as m;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

pub async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// Counts and times every request by its matched route (never the raw path: ids stay out of
/// labels), method and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(m::HTTP_DURATION, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(m::HTTP_REQUESTS, "route" => route, "method" => method, "status" => status).increment(1);
    response
}

/// Records a processor status report: counters as increments since the previous report.
#[derive(Debug, Default)]
pub struct StatusRecorder {
    last: Counters,
}

impl StatusRecorder {
    pub fn record(&mut self, status: &Status, lag: Option<u64>, now: Timestamp) {
        let c = &status.counters;
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        metrics::counter!(m::EVENTS_IN, "topic" => "transactions")
            .increment(delta(c.transactions, self.last.transactions));
        metrics::counter!(m::EVENTS_IN, "topic" => "clickstream").increment(delta(c.clicks, self.last.clicks));
        metrics::counter!(m::WINDOWS_CLOSED).increment(delta(c.windows_closed, self.last.windows_closed));
        self.last = c.clone();
        let latency = metrics::histogram!(m::PROCESSING_LATENCY);
        for us in &status.latency_us {
            latency.record(*us as f64 / 1e6);
        }
        if let Some(w) = status.watermark {
            metrics::gauge!(m::WATERMARK_LAG).set((now.micros() - w.micros()) as f64 / 1e6);
        }
        if let Some(lag) = lag {
            metrics::gauge!(m::CONSUMER_LAG).set(lag as f64);
        }
        metrics::gauge!(m::CHECKPOINT_EPOCH).set(status.committed_epoch as f64);
        metrics::gauge!(m::OPEN_WINDOWS).set(status.open_windows as f64);
        metrics::gauge!(m::OPEN_SESSIONS).set(status.open_sessions as f64);
        metrics::gauge!(m::CUSTOMERS).set(status.customers as f64);
    }
}

/// Records what one handover of outputs holds: rows out per stage, dead letters by reason, late
/// events by table, alerts by risk level.
pub fn record_outputs(outputs: &Outputs) {
    let out = |stage: &'static str, output: &'static str, n: usize| {
        if n > 0 {
            metrics::counter!(m::EVENTS_OUT, "stage" => stage, "output" => output).increment(n as u64);
        }
    };
    out("decode", "bronze_transactions", outputs.bronze_transactions.len());
    out("decode", "bronze_clickstream", outputs.bronze_clickstream.len());
    out("score", "silver_transactions", outputs.silver_transactions.len());
    out("score", "alerts", outputs.alerts.len());
    out("aggregate", "windows", outputs.windows.len());
    out("sessions", "sessions", outputs.sessions.len());
    out("sessions", "funnels", outputs.funnels.len());
    out("bus", "messages", outputs.messages.len());
    for d in &outputs.dead_letters {
        metrics::counter!(m::DEAD_LETTERS, "stage" => d.stage.clone(), "reason" => d.reason.clone()).increment(1);
    }
    for l in &outputs.late_events {
        metrics::counter!(m::LATE_EVENTS, "table" => l.window_table.clone()).increment(1);
    }
    for a in &outputs.alerts {
        metrics::counter!(m::ALERTS, "risk_level" => a.risk_level).increment(1);
    }
}
