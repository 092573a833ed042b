//! Synthetic shop traffic: transactions and clickstream, deterministic from a seed, resumable.
//!
//! # The shop
//!
//! A world is built once from the seed ([`World`]): a product catalog in categories with
//! log-normal prices per category, merchants whose popularity follows a Zipf law, and customers
//! with a home city (weighted by population, many countries including high-risk ones), one to
//! three devices, a spending baseline, a preferred payment method and an e-mail address that
//! leaves the generator only as a pseudonym. Traffic is a sequence of *episodes* arriving in event
//! time at `transactions_per_hour`, shaped by hour of day (UTC) and weekday:
//!
//! - a shopping session on the web or the app walks the funnel (page views, add to cart, remove
//!   from cart, wishlist, purchase); a share `conversion_rate` of sessions buys, and every bought
//!   cart line becomes one [`Transaction`](crate::model::Transaction) with the session's id;
//! - an offline purchase (point of sale, call centre, marketplace) is one transaction;
//! - a fraud episode injects one of the [`FraudScenario`](crate::model::FraudScenario)s (the
//!   high-risk pattern mostly at night), so that in every hour on average `fraud_rate` of all
//!   transactions carry `injected_scenario` (ground truth). A share `known_fraud_share` of those (default 30%) also
//!   carry the upstream "known fraud" flag `is_fraud = true`; every other transaction has
//!   `is_fraud = false`.
//!
//! # Determinism
//!
//! Every random choice comes from a named algorithm (Xoshiro256++), seeded from the seed and a
//! stream number through SplitMix64: one stream builds the world, and episode `i` draws from its
//! own stream `i`. Nothing depends on hash-map iteration order, threads or the wall clock (except
//! `start = "now"`, which is resolved once and stored). The same [`Params`] and pseudonym key
//! therefore give byte-identical events, and `--no-clickstream` gives the very same transactions
//! (sessions are still walked, their clicks dropped).
//!
//! # Order
//!
//! Episodes start in non-decreasing event time, each event of episode `i` is at or after its
//! start, and events leave through a priority queue ordered by the key (event time, episode,
//! position in episode). An episode is generated before any queued event later than its start
//! is released, so the output is the sorted sequence of all events by that key: event time never
//! goes backwards, which keeps downstream watermarks honest.
//!
//! # Resuming
//!
//! Because the output is a fixed sorted sequence, a position in it is described by the key of the
//! last event emitted plus the counters ([`Cursor`]). To resume, the generator regenerates only
//! the episodes that still had events pending (from the oldest open episode, whose index and
//! start the cursor records), drops their events up to the last key, and carries on; the cost is
//! proportional to the events in flight, not to the length of the run. A run of N transactions
//! followed by a resumed run of M emits exactly the events of one run of N+M. The cursor is
//! persisted by [`emit`] in `<data-dir>/generator/state.json` only after the sink acknowledged
//! every event it describes ([`state`]).

mod catalog;
mod customers;
pub mod emit;
mod fraud;
mod generator;
mod schedule;
mod session;
pub mod state;

pub use catalog::{CATEGORIES, CategorySpec};
pub use emit::{BusSink, FileSink, RunOptions, Sink, Summary, run};
pub use generator::{Counts, Cursor, EventKey, Generator};
pub use schedule::{hour_weight, weekday_weight};
pub use state::{GeneratorState, SinkState};

use crate::model::{Clock, Timestamp};
use rand::SeedableRng;
use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub(crate) use catalog::Catalog;
pub(crate) use customers::Customers;

/// What can stop a generator run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("writing to the bus: {0}")]
    Bus(#[from] crate::bus::BusError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("generator state {path}: {why}")]
    State { path: PathBuf, why: String },
}

impl GenerateError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> GenerateError {
        let path = path.into();
        move |source| GenerateError::Io { path, source }
    }
}

pub type Result<T, E = GenerateError> = std::result::Result<T, E>;

/// `[generate]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GenerateConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of transactions that belong to an injected fraud scenario, 0 to 1.
    pub fraud_rate: f64,
    pub customers: u32,
    pub merchants: u32,
    pub products: u32,
    /// Event time of the first episode: RFC 3339, or "now" for the clock.
    pub start: String,
    /// Average transactions per hour of event time.
    pub transactions_per_hour: f64,
    /// Whether sessions also emit clickstream events.
    pub clickstream: bool,
    /// Share of web/app sessions that end in a purchase.
    pub conversion_rate: f64,
    /// Share of legitimate transactions placed in a tracked web/app session (with clickstream);
    /// the rest are offline (point of sale, call centre, marketplace) or untracked.
    pub online_share: f64,
    /// Share of injected fraud transactions that carry the upstream `is_fraud = true` flag.
    pub known_fraud_share: f64,
    /// Events per producer flush (one durable acknowledgement and one state write).
    pub batch_events: usize,
}

impl GenerateConfig {
    pub fn check(&self, problems: &mut Vec<String>) {
        if !(0.0..=1.0).contains(&self.fraud_rate) {
            problems.push(format!("generate.fraud_rate = {}: use 0 to 1 (0.02 is 2%)", self.fraud_rate));
        }
        if !(0.001..=1.0).contains(&self.conversion_rate) {
            problems.push(format!("generate.conversion_rate = {}: use 0.001 to 1 (0.04 is 4%)", self.conversion_rate));
        }
        if !(0.0..=1.0).contains(&self.known_fraud_share) {
            problems.push(format!("generate.known_fraud_share = {}: use 0 to 1", self.known_fraud_share));
        }
        if !(0.0..=1.0).contains(&self.online_share) {
            problems.push(format!("generate.online_share = {}: use 0 to 1 (0.2 is 20%)", self.online_share));
        }
        for (name, value, min) in
            [("customers", self.customers, 1), ("merchants", self.merchants, 1), ("products", self.products, 1)]
        {
            if value < min || value > 10_000_000 {
                problems.push(format!("generate.{name} = {value}: use {min} to 10000000"));
            }
        }
        if !(self.transactions_per_hour.is_finite() && self.transactions_per_hour > 0.0) {
            problems.push(format!(
                "generate.transactions_per_hour = {}: use a positive number",
                self.transactions_per_hour
            ));
        }
        if self.start != "now" && Timestamp::parse(&self.start).is_none() {
            problems.push(format!(
                "generate.start = {:?}: use an RFC 3339 time like \"2025-01-01T00:00:00Z\" or \"now\"",
                self.start
            ));
        }
        if self.batch_events == 0 {
            problems.push("generate.batch_events = 0: use at least 1".to_string());
        }
    }

    /// The output-shaping parameters, with `start` resolved against the clock.
    pub fn params(&self, clock: &dyn Clock) -> Params {
        let start = if self.start == "now" { clock.now() } else { Timestamp::parse(&self.start).unwrap_or_default() };
        Params {
            seed: self.seed,
            fraud_rate: self.fraud_rate,
            customers: self.customers,
            merchants: self.merchants,
            products: self.products,
            start,
            transactions_per_hour: self.transactions_per_hour,
            clickstream: self.clickstream,
            conversion_rate: self.conversion_rate,
            online_share: self.online_share,
            known_fraud_share: self.known_fraud_share,
        }
    }
}

/// Everything that shapes the generated events. Equal params (and pseudonym key) give
/// byte-identical output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub seed: u64,
    #[serde(with = "exact_f64")]
    pub fraud_rate: f64,
    pub customers: u32,
    pub merchants: u32,
    pub products: u32,
    /// Event time of the first episode.
    pub start: Timestamp,
    #[serde(with = "exact_f64")]
    pub transactions_per_hour: f64,
    pub clickstream: bool,
    #[serde(with = "exact_f64")]
    pub conversion_rate: f64,
    #[serde(with = "exact_f64")]
    pub online_share: f64,
    #[serde(with = "exact_f64")]
    pub known_fraud_share: f64,
}

/// Floats stored as their shortest exact decimal text, so a stored state resumes with
/// bit-identical parameters (JSON number parsing is not guaranteed to round-trip).
mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number")))
    }
}

impl Params {
    /// Small defaults for tests and benches: the embedded configuration's shape.
    pub fn defaults() -> Params {
        crate::config::Config::defaults().generate.params(&crate::model::FixedClock(Timestamp::default()))
    }

    /// The names of the parameters that differ from `other` (for refusing a mismatched resume).
    pub fn differences(&self, other: &Params) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name, same: bool| {
            if !same {
                out.push(name);
            }
        };
        check("seed", self.seed == other.seed);
        check("fraud_rate", self.fraud_rate == other.fraud_rate);
        check("customers", self.customers == other.customers);
        check("merchants", self.merchants == other.merchants);
        check("products", self.products == other.products);
        check("start", self.start == other.start);
        check("transactions_per_hour", self.transactions_per_hour == other.transactions_per_hour);
        check("clickstream", self.clickstream == other.clickstream);
        check("conversion_rate", self.conversion_rate == other.conversion_rate);
        check("online_share", self.online_share == other.online_share);
        check("known_fraud_share", self.known_fraud_share == other.known_fraud_share);
        out
    }
}

/// The static shop every episode draws from, built once from the seed.
pub struct World {
    pub(crate) catalog: Catalog,
    pub(crate) customers: Customers,
}

impl World {
    /// Builds the catalog, merchants and customers; e-mails are pseudonymized here and the raw
    /// addresses dropped.
    pub fn build(params: &Params, pseudonymizer: &crate::model::Pseudonymizer) -> World {
        let mut rng = stream_rng(params.seed, STREAM_WORLD, 0);
        let catalog = Catalog::build(&mut rng, params.products as usize, params.merchants as usize);
        let customers = Customers::build(&mut rng, params.customers as usize, &catalog, pseudonymizer);
        World { catalog, customers }
    }

    /// The merchant names, by index (Zipf rank order: index 0 is the most popular).
    pub fn merchant_names(&self) -> impl Iterator<Item = &str> {
        self.catalog.merchants.iter().map(|m| m.name.as_str())
    }
}

#[cfg(test)]
mod tests;

pub(crate) const STREAM_WORLD: u64 = 1;
pub(crate) const STREAM_EPISODE: u64 = 2;

/// A Xoshiro256++ generator for one named stream of one seed: (seed, stream, index) are mixed
/// through SplitMix64, so neighbouring indices give unrelated sequences.
pub(crate) fn stream_rng(seed: u64, stream: u64, index: u64) -> Xoshiro256PlusPlus {
    use rand::RngCore;
    let mut mix = SplitMix64::seed_from_u64(seed);
    let a = mix.next_u64();
    let mut mix = SplitMix64::seed_from_u64(a ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let b = mix.next_u64();
    let mut mix = SplitMix64::seed_from_u64(b ^ index);
    Xoshiro256PlusPlus::seed_from_u64(mix.next_u64())
}
