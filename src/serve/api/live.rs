//! The dashboard's live feed: `GET /api/v1/live` (one snapshot) and `GET /api/v1/live/stream`
//! (server-sent events, one `snapshot` event a second, for as long as the client listens).

use crate::serve::AppState;
use crate::serve::live::Snapshot;
use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::IntervalStream;

/// How often the stream sends a snapshot.
pub const EVERY: Duration = Duration::from_secs(1);

fn take(state: &AppState) -> Snapshot {
    state.live.snapshot(state.clock.now(), state.auth.is_open())
}

/// The live view now.
#[utoipa::path(get, path = "/api/v1/live", tag = "live", responses((status = 200, body = Snapshot)))]
pub async fn snapshot(State(state): State<AppState>) -> Json<Snapshot> {
    Json(take(&state))
}

/// The live view every second, as server-sent events named `snapshot`.
#[utoipa::path(get, path = "/api/v1/live/stream", tag = "live",
    responses((status = 200, description = "text/event-stream of `snapshot` events", content_type = "text/event-stream")))]
pub async fn stream(State(state): State<AppState>) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let mut interval = tokio::time::interval(EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let events = IntervalStream::new(interval).map(move |_| {
        let event = Event::default().event("snapshot");
        Ok(event.json_data(take(&state)).unwrap_or_else(|e| Event::default().event("error").data(e.to_string())))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
