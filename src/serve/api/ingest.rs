//! `POST /api/v1/transactions` and `POST /api/v1/clickstream`: events onto the bus over HTTP.
//!
//! A body is one JSON event, a JSON array of events, or NDJSON (one event per line; used unless
//! the body starts with `[` or is `application/json`). Each item is validated like a file line;
//! valid items are sent to the topic, refused ones to `dead-letter` with their reason, and the
//! answer lists every refused item (index, reason, message). The answer comes after the bus has
//! acknowledged every record (durable per `bus.log.fsync`; concurrent requests share a flush):
//! 200 when all were accepted, 422 when
//! none was, 200 with `rejected` > 0 otherwise. When the log cannot take records (disk full) the
//! answer is 503 with `Retry-After` and nothing of the request is in the log (nor of the other
//! requests that shared its flush), so a retry sends each event once.
//!
//! `Idempotency-Key` (any string up to 200 bytes): the first request with a key is processed and
//! its answer remembered for `serve.idempotency_ttl`, across restarts; a repeat gets the same
//! answer with `duplicate: true` and sends nothing; a repeat while the first is still running
//! gets 409 ([`super::idempotency`] has the details and limits).

use super::blocking;
use super::idempotency::{Claim, Seen};
use crate::bus::Producer;
use crate::model::{DeadLetter, EventKind, Validator, decode_json, topic};
use crate::serve::AppState;
use crate::serve::error::ApiError;
use crate::telemetry::metrics as m;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_BYTES: usize = 200;
/// Raw bytes kept in a dead letter.
const MAX_RAW_BYTES: usize = 64 * 1024;

/// The bus side of the ingest endpoints.
pub struct Ingest {
    sending: Mutex<Sending>,
    /// Held while flushing.
    flushed: Mutex<Flushed>,
    pub validator: Validator,
    pub seen: Mutex<Seen>,
}

struct Sending {
    producer: Box<dyn Producer>,
    /// Requests whose records are buffered, counted.
    sent: u64,
}

impl Ingest {
    pub fn new(producer: Box<dyn Producer>, validator: Validator, seen: Seen) -> Self {
        Ingest {
            sending: Mutex::new(Sending { producer, sent: 0 }),
            flushed: Mutex::new(Flushed::default()),
            validator,
            seen: Mutex::new(seen),
        }
    }

    /// Whether the bus took the last flush; otherwise why not (for `/readyz`).
    pub fn health(&self) -> Result<(), String> {
        match &self.flushed.lock().unwrap_or_else(|p| p.into_inner()).refused {
            Some(why) => Err(format!("the log refused the last write: {why}")),
            None => Ok(()),
        }
    }

    /// Waits until the records of request generation `mine` are acknowledged by the bus. Flushes
    /// are grouped: one flush acknowledges every request that sent before it began, so
    /// concurrent requests share an fsync instead of queueing for one each. A failed flush
    /// fails every request it covered, and their records are dropped (the log took none of
    /// them), so each is refused whole and its retry is sent once.
    fn acknowledge(&self, mine: u64) -> Result<(), ApiError> {
        let mut flushed = self.flushed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = flushed.failed.iter().position(|f| f.covers(mine)) {
            let failed = &mut flushed.failed[i];
            failed.waiting -= 1;
            let error = failed.error.clone();
            if failed.waiting == 0 {
                flushed.failed.swap_remove(i);
            }
            return Err(error);
        }
        if flushed.through >= mine {
            return Ok(());
        }
        let mut sending = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        let (after, through) = (flushed.through, sending.sent);
        flushed.through = through;
        let result = sending.producer.flush();
        flushed.refused = result.as_ref().err().map(ToString::to_string);
        result.map_err(|error| {
            sending.producer.discard();
            let error = ApiError::from(error);
            // The other requests of this flush learn it when they get here.
            let waiting = (through - after).saturating_sub(1);
            if waiting > 0 {
                flushed.failed.push(Failed { after, through, waiting, error: error.clone() });
            }
            error
        })
    }
}

/// What the flushes did: every request generation up to `through` is flushed, and acknowledged
/// unless one of the `failed` ranges covers it.
#[derive(Default)]
struct Flushed {
    through: u64,
    failed: Vec<Failed>,
    /// Why the last flush failed, until one succeeds.
    refused: Option<String>,
}

/// A failed flush of request generations `after + 1 ..= through`, until each has been told.
struct Failed {
    after: u64,
    through: u64,
    waiting: u64,
    error: ApiError,
}

impl Failed {
    fn covers(&self, generation: u64) -> bool {
        self.after < generation && generation <= self.through
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestResponse {
    pub accepted: u64,
    pub rejected: u64,
    /// One per refused item, in order.
    pub errors: Vec<ItemError>,
    /// Whether this answer repeats an earlier request's with the same `Idempotency-Key`.
    pub duplicate: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemError {
    /// 0-based position of the item in the array or among the NDJSON lines.
    pub index: usize,
    /// A stable reason code, e.g. `missing_field`, `invalid_json`, `future_timestamp`.
    pub reason: String,
    pub message: String,
}

/// Splits a body into its items: a JSON array, one JSON object (as `application/json`) or NDJSON.
fn items(body: &[u8], json: bool) -> Result<Vec<&[u8]>, ApiError> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    if body.get(start) == Some(&b'[') {
        let raw: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("the body starts with `[` but is not a JSON array: {e}"))
        })?;
        return Ok(raw.into_iter().map(|r| r.get().as_bytes()).collect());
    }
    if json {
        return Ok(vec![&body[start..]]);
    }
    Ok(body.split(|b| *b == b'\n').filter(|line| line.iter().any(|b| !b.is_ascii_whitespace())).collect())
}

fn handle(ingest: &Ingest, kind: EventKind, body: &[u8], json: bool) -> Result<(StatusCode, IngestResponse), ApiError> {
    let items = items(body, json)?;
    if items.is_empty() {
        return Err(ApiError::bad_request("empty_body", "no events in the body: send a JSON object, array or NDJSON"));
    }
    let mut response = IngestResponse { accepted: 0, rejected: 0, errors: Vec::new(), duplicate: false };
    // Decoded and encoded before taking the producer, so that concurrent requests use every
    // core; records are laid end to end in one buffer: (topic, key end, value end).
    let mut buf = Vec::with_capacity(body.len() + body.len() / 4);
    let mut records: Vec<(&'static str, usize, usize)> = Vec::with_capacity(items.len());
    for (index, raw) in items.into_iter().enumerate() {
        match decode_json(kind, raw, &ingest.validator) {
            Ok(event) => {
                event.write_key(&mut buf);
                records.push((kind.topic(), buf.len(), 0));
                event.encode(&mut buf);
                response.accepted += 1;
            }
            Err(error) => {
                let cut = &raw[..raw.len().min(MAX_RAW_BYTES)];
                let source = format!("http:{}", kind.topic());
                let dl = DeadLetter::new("ingest", kind, source, &error, cut, ingest.validator.pseudonymizer())
                    .at_line(index as u64 + 1);
                buf.extend_from_slice(&dl.key());
                records.push((topic::DEAD_LETTER, buf.len(), 0));
                serde_json::to_writer(&mut buf, &dl).map_err(|e| ApiError::internal(e.to_string()))?;
                response.rejected += 1;
                response.errors.push(ItemError {
                    index,
                    reason: error.reason().to_string(),
                    message: error.to_string(),
                });
            }
        }
        if let Some(last) = records.last_mut() {
            last.2 = buf.len();
        }
    }
    let mine = {
        let mut sending = ingest.sending.lock().unwrap_or_else(|p| p.into_inner());
        let mut start = 0;
        for &(topic, key_end, end) in &records {
            sending.producer.send(topic, &buf[start..key_end], &buf[key_end..end])?;
            start = end;
        }
        sending.sent += 1;
        sending.sent
    };
    ingest.acknowledge(mine)?;
    metrics::counter!(m::HTTP_INGESTED, "topic" => kind.topic(), "outcome" => "accepted").increment(response.accepted);
    metrics::counter!(m::HTTP_INGESTED, "topic" => kind.topic(), "outcome" => "rejected").increment(response.rejected);
    let status = if response.accepted == 0 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, response))
}

async fn ingest(
    state: AppState,
    kind: EventKind,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    if state.ingest.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "ingest_disabled",
            "this server does not accept events; run it with a bus (streamify serve, run or quickstart)",
        ));
    }
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_BYTES => Some(format!("{}:{k}", kind.topic())),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_idempotency_key",
                    format!("Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"),
                ));
            }
        },
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if let Some(key) = &key {
        let earlier = state
            .ingest
            .as_ref()
            .map(|i| i.seen.lock().unwrap_or_else(|p| p.into_inner()).begin(key, state.clock.now().micros()));
        if let Some((status, mut response)) = earlier.transpose()?.flatten() {
            response.duplicate = true;
            metrics::counter!(m::HTTP_INGESTED, "topic" => kind.topic(), "outcome" => "duplicate")
                .increment(response.accepted);
            return Ok(super::json(status, response));
        }
    }
    let worker = state.clone();
    // The answer is recorded (and journalled: file I/O) on the blocking pool, not here.
    let (status, response) = blocking(move || {
        let ingest = worker.ingest.as_ref().ok_or_else(|| ApiError::internal("ingest went away"))?;
        let claim = key.map(|key| Claim::new(&ingest.seen, key));
        let outcome = handle(ingest, kind, &body, json);
        if let Some(claim) = claim {
            claim.finish(outcome.as_ref().ok().cloned());
        }
        outcome
    })
    .await?;
    Ok(super::json(status, response))
}

/// Sends transactions to the `transactions` topic.
#[utoipa::path(post, path = "/api/v1/transactions", tag = "ingest",
    request_body(content = String, description = "one JSON transaction, a JSON array of them, or NDJSON", content_type = "application/x-ndjson"),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retried request a no-op")),
    responses((status = 200, body = IngestResponse), (status = 422, body = IngestResponse),
              (status = 413, body = crate::serve::error::ErrorBody), (status = 503, body = crate::serve::error::ErrorBody)))]
pub async fn transactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    ingest(state, EventKind::Transaction, headers, body).await
}

/// Sends click events to the `clickstream` topic.
#[utoipa::path(post, path = "/api/v1/clickstream", tag = "ingest",
    request_body(content = String, description = "one JSON click event, a JSON array of them, or NDJSON", content_type = "application/x-ndjson"),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retried request a no-op")),
    responses((status = 200, body = IngestResponse), (status = 422, body = IngestResponse),
              (status = 413, body = crate::serve::error::ErrorBody), (status = 503, body = crate::serve::error::ErrorBody)))]
pub async fn clickstream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    ingest(state, EventKind::Click, headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    #[test]
    fn bodies_split_into_array_object_or_lines() {
        let a = items(br#" [{"a":1}, {"b":2}]"#, false).unwrap();
        assert_eq!(a, vec![&br#"{"a":1}"#[..], &br#"{"b":2}"#[..]]);
        let o = items(b"{\n\"a\": 1\n}", true).unwrap();
        assert_eq!(o.len(), 1);
        let l = items(b"{\"a\":1}\n\n{\"b\":2}\n", false).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(items(b"[1,", false).unwrap_err().code, "invalid_json");
    }

    /// Counts flushes and the records they wrote, and fails flushes while `fail` is set; the
    /// grouping logic is what is under test, not the bus.
    #[derive(Default)]
    struct Flaky {
        flushes: Arc<AtomicU64>,
        written: Arc<AtomicU64>,
        fail: Arc<AtomicBool>,
        buffered: u64,
    }

    impl Producer for Flaky {
        fn send(&mut self, _: &str, _: &[u8], _: &[u8]) -> crate::bus::Result<()> {
            self.buffered += 1;
            Ok(())
        }
        fn flush(&mut self) -> crate::bus::Result<()> {
            self.flushes.fetch_add(1, Relaxed);
            if self.fail.load(Relaxed) {
                return Err(crate::bus::BusError::Unavailable("the disk is full".into()));
            }
            self.written.fetch_add(std::mem::take(&mut self.buffered), Relaxed);
            Ok(())
        }
        fn discard(&mut self) {
            self.buffered = 0;
        }
    }

    /// An ingest over `producer`, and a function that sends one record as a new request and
    /// returns its generation.
    fn ingest_over(producer: Flaky) -> Ingest {
        let config = crate::config::Config::defaults();
        let validator = Validator::new(
            std::sync::Arc::new(crate::model::SystemClock),
            config.validation.max_future,
            config.pseudonymizer(),
        );
        Ingest::new(Box::new(producer), validator, Seen::new(std::time::Duration::from_secs(60)))
    }

    fn send(ingest: &Ingest) -> u64 {
        let mut s = ingest.sending.lock().unwrap();
        s.producer.send("transactions", b"", b"{}").unwrap();
        s.sent += 1;
        s.sent
    }

    #[test]
    fn one_flush_acknowledges_every_request_that_sent_before_it() {
        let producer = Flaky::default();
        let flushes = producer.flushes.clone();
        let ingest = ingest_over(producer);
        let (a, b) = (send(&ingest), send(&ingest));
        ingest.acknowledge(b).unwrap();
        ingest.acknowledge(a).unwrap();
        assert_eq!(flushes.load(Relaxed), 1, "the second request's flush covered the first");
        let c = send(&ingest);
        ingest.acknowledge(c).unwrap();
        assert_eq!(flushes.load(Relaxed), 2);
    }

    #[test]
    fn a_failed_flush_refuses_every_request_it_covered_and_keeps_none_of_their_records() {
        let producer = Flaky::default();
        let (fail, written) = (producer.fail.clone(), producer.written.clone());
        let ingest = ingest_over(producer);
        fail.store(true, Relaxed);
        let (a, b, c) = (send(&ingest), send(&ingest), send(&ingest));
        let refused = ingest.acknowledge(b).unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{refused:?}");
        fail.store(false, Relaxed);
        // a and c were in the failed flush: refused too, though the disk has room now.
        assert_eq!(ingest.acknowledge(c).unwrap_err(), refused);
        assert_eq!(ingest.acknowledge(a).unwrap_err(), refused);
        // Their retries are sent once: nothing of the refused requests was kept for later.
        let retry = send(&ingest);
        ingest.acknowledge(retry).unwrap();
        assert_eq!(written.load(Relaxed), 1, "only the retried record was written");
        assert!(ingest.flushed.lock().unwrap().failed.is_empty(), "every refused request was told");
    }
}
