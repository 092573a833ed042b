//! Analytics maths shared by the stream processor and the batch jobs.
//!
//! Everything here is pure: plain values in, plain values out, no I/O and no clock, and the
//! accumulators are serde so that the stream processor can checkpoint them inside its window
//! state. [`kpi`] aggregates transactions into the platform and merchant KPIs; [`sessions`] cuts
//! the clickstream into sessions and counts the shopping funnel.
//!
//! Two rules hold throughout. Money is summed in whole micro-units (`i64`, saturating), never as
//! a running `f64`: integer sums are exact, do not depend on the order events arrive or
//! accumulators merge in, and survive any checkpoint format bit for bit. And no output is ever
//! NaN or infinite: a rate over nothing is 0, and non-finite amounts count as 0.

pub mod id_set;
pub mod kpi;
pub mod sessions;

/// `part / whole`, and 0 when `whole` is 0 (never NaN).
pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Money in micro-units: the nearest whole millionth, 0 when not finite, saturating.
pub(crate) fn to_micros(amount: f64) -> i64 {
    if amount.is_finite() { (amount * 1e6).round() as i64 } else { 0 }
}

/// Micro-units back to money.
pub(crate) fn from_micros(micros: i64) -> f64 {
    micros as f64 / 1e6
}
