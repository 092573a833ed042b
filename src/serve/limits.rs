//! Per-client rate limits: a GCRA limiter (governor) keyed by the client's IP address. A caller
//! over its rate gets 429 with `Retry-After`; callers do not slow each other down.

use super::AppState;
use super::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Limiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// Idle clients' state is dropped every this many checks.
const SWEEP_EVERY: u64 = 10_000;

impl Limiter {
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let nonzero = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
        let quota = Quota::per_second(nonzero(per_sec)).allow_burst(nonzero(burst));
        Limiter {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(seconds to wait)` when `client` is over its rate.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs_f64().ceil().max(1.0) as u64)
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // In-process tests call the router without a connection: they share one key.
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
    match state.limiter.check(client) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            metrics::counter!(crate::telemetry::metrics::HTTP_RATE_LIMITED).increment(1);
            ApiError {
                retry_after: Some(wait),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests from this address; wait for Retry-After seconds (serve.rate_limit_per_sec)",
                )
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_burst_is_told_to_wait_and_others_are_not() {
        let limiter = Limiter::new(1, 3);
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        assert_eq!(limiter.check(a), Err(1));
        assert_eq!(limiter.check(IpAddr::from([10, 0, 0, 2])), Ok(()));
    }
}
