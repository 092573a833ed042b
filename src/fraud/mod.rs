//! Fraud scoring: features, per-customer state, the rule table and the score. Pure logic: no I/O,
//! no clock, no randomness.
//!
//! For every transaction the stream processor calls, in each customer's event order:
//!
//! 1. [`FraudState::observe`]: computes the transaction's [`Enrichment`] (the silver features:
//!    time of day, weekday, city and country, amount band, the customer's baseline *before* this
//!    transaction, velocity, travel speed, device history) from the state as it was before the
//!    transaction, then folds the transaction into the state;
//! 2. [`score()`]: adds up the points of the rules that fire (the seed-003 table plus impossible
//!    travel, new and shared devices, amount deviation and an optional model probability), caps
//!    the sum at 100 and maps it to a [`RiskLevel`]; [`Score::reasons`] lists every rule that
//!    fired, in the fixed order of [`ReasonCode::ALL`];
//! 3. [`is_alert`] and [`alert_id`]: whether the level raises an alert and its deterministic id.
//!
//! # Guarantees
//!
//! - **Deterministic.** Enrichment and score are functions of (config, state, transaction, model
//!   probability) alone. Nothing reads the wall clock (expiry runs on the event-time watermark the
//!   caller passes in) or a random source; hash maps are only looked up, never iterated into an
//!   output, and the state serializes with its maps sorted by key, so the same state always gives
//!   the same checkpoint bytes.
//! - **Replayable.** [`FraudState`] is `serde` (Serialize + Deserialize): a processor that restores
//!   a checkpoint and replays the transactions after it gets the same enrichments and scores as a
//!   run that never stopped.
//! - **Ground truth is never read.** `Transaction::injected_scenario` is the generator's label for
//!   measuring detection; nothing in this module looks at it (a test checks that changing it
//!   changes nothing). The upstream `is_fraud` flag, on the other hand, is an input: seed 003 scores
//!   a "known fraud" flag (a confirmed chargeback, say) with 50 points.
//! - **Bounded.** Per customer the state keeps at most [`MAX_RECENT`] recent timestamps and
//!   `max_devices_per_customer` devices; per device at most [`MAX_DEVICE_CUSTOMERS`] customers;
//!   idle customers and devices go with [`FraudState::expire`].
//! - **No NaN out.** Every float in an [`Enrichment`] or [`Score`] is finite (or `None`), whatever
//!   the input.
//!
//! State is per partition: the bus keys transactions by customer, so one customer's history is
//! complete in one worker, but a device's customer count only sees the customers of that partition.
//!
//! The settings are the `[fraud]` section of the configuration ([`FraudConfig`]); a rules file with
//! the same keys can be reloaded at run time with [`FraudConfig::from_toml_str`]. Alert ids carry
//! [`FraudConfig::version`], so they change when the rules do.

mod features;
#[cfg(test)]
mod golden_test;
mod profile;
mod rules;
mod score;
mod state;

pub use features::{AmountBand, Baseline, Enrichment, Location, MAX_SPEED_KMH};
pub use profile::{CustomerProfile, DeviceEntry, MAX_DEVICE_CUSTOMERS, MAX_RECENT};
pub use rules::{Reason, ReasonCode, RulePoints};
pub use score::{LevelThresholds, ModelScore, Reasons, RiskLevel, Score, alert_id, is_alert, score};
pub use state::{Expired, FraudDelta, FraudState};

use crate::config::ConfigErrors;
use crate::model::geo::CITIES;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// `[fraud]` settings: the rule table and the feature parameters. Defaults are those of
/// `config/default.toml` (and [`FraudConfig::default`]); [`FraudConfig::seed_003`] switches off
/// everything the seed's table does not have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    /// Lowest risk level that raises an alert. Default `"high"` (score >= 50).
    pub alert_level: RiskLevel,
    /// Points per rule; 0 switches a rule off. Defaults: the seed-003 table plus modest points for
    /// the history rules (see [`RulePoints`]).
    pub points: RulePoints,
    /// Lowest score of each risk level. Default 10 / 25 / 50 / 75 (seed 003).
    pub levels: LevelThresholds,
    /// An amount strictly greater than this scores `points.high_amount`. Default 5000.
    pub high_amount: f64,
    /// An amount strictly greater than this is flagged `is_high_value` (a feature, no points).
    /// Default 1000.
    pub high_value: f64,
    /// Upper bounds (exclusive) of the bands micro, small, medium and large; anything at or above
    /// the last is very large. Default `[10, 100, 500, 5000]`.
    pub amount_bands: [f64; 4],
    /// Countries (names or ISO-3166 alpha-2 codes, any case) that score
    /// `points.high_risk_country`. Default: the countries of the high-risk cities of the reference
    /// geography (`model::geo`); list more to add them.
    /// Entries are trimmed when read.
    #[serde(deserialize_with = "trimmed")]
    pub high_risk_countries: Vec<String>,
    /// First hour (UTC, 0-23) of the night rule. Default 23: 23:00:00 is night.
    pub night_start_hour: u32,
    /// First hour (UTC, 0-23) after the night. Default 5: 04:59:59 is night, 05:00:00 is not.
    pub night_end_hour: u32,
    /// Length of the trailing velocity window `[t - window, t]`, both ends included. Default "30m".
    #[serde(with = "crate::config::duration")]
    pub velocity_window: Duration,
    /// The velocity rule fires when the customer's transactions in the window, this one included,
    /// are more than this. Default 5 (the 6th transaction within 30 minutes fires).
    pub velocity_count: u32,
    /// Travel from the previous transaction's city faster than this (km/h) scores
    /// `points.impossible_travel`. Default 900 (a jet airliner).
    pub impossible_travel_kmh: f64,
    /// A device used by at least this many distinct customers (this one included) scores
    /// `points.shared_device`. Default 5.
    pub shared_device_customers: u32,
    /// An amount at least this many standard deviations above the customer's mean scores
    /// `points.amount_deviation`. Default 3.0.
    pub zscore_threshold: f64,
    /// The z-score needs at least this many earlier transactions of the customer. Default 5.
    pub zscore_min_count: u64,
    /// Points for a model probability of 1; the model adds `round(probability * model_weight)`.
    /// 0 ignores the model. Default 25.
    pub model_weight: f64,
    /// Customers and devices idle longer than this (event time) are forgotten by
    /// [`FraudState::expire`]. Default "30d".
    #[serde(with = "crate::config::duration")]
    pub customer_idle_expiry: Duration,
    /// Devices remembered per customer (least recently used ones are forgotten first). Default 8.
    pub max_devices_per_customer: u32,
}

impl Default for FraudConfig {
    /// The values of `config/default.toml`.
    fn default() -> Self {
        FraudConfig {
            alert_level: RiskLevel::High,
            points: RulePoints::default(),
            levels: LevelThresholds::default(),
            high_amount: 5000.0,
            high_value: 1000.0,
            amount_bands: [10.0, 100.0, 500.0, 5000.0],
            high_risk_countries: geo_high_risk_countries(),
            night_start_hour: 23,
            night_end_hour: 5,
            velocity_window: Duration::from_secs(30 * 60),
            velocity_count: 5,
            impossible_travel_kmh: 900.0,
            shared_device_customers: 5,
            zscore_threshold: 3.0,
            zscore_min_count: 5,
            model_weight: 25.0,
            customer_idle_expiry: Duration::from_secs(30 * 86_400),
            max_devices_per_customer: 8,
        }
    }
}

/// The countries of the reference geography's high-risk cities, in table order.
fn geo_high_risk_countries() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in CITIES.iter().filter(|c| c.high_risk) {
        if !out.iter().any(|o| o == c.country) {
            out.push(c.country.to_string());
        }
    }
    out
}

impl FraudConfig {
    /// Exactly the seed-003 table: the defaults with the history rules and the model switched off.
    pub fn seed_003() -> Self {
        FraudConfig { points: RulePoints::seed_003(), model_weight: 0.0, ..FraudConfig::default() }
    }

    /// Range and consistency checks; each problem names the setting and how to fix it.
    pub fn check(&self, problems: &mut Vec<String>) {
        self.points.check(problems);
        self.levels.check(problems);
        let mut non_negative = |name: &str, value: f64| {
            if !(value.is_finite() && value >= 0.0) {
                problems.push(format!("fraud.{name} = {value}: use a finite amount of at least 0"));
            }
        };
        non_negative("high_amount", self.high_amount);
        non_negative("high_value", self.high_value);
        let bands = &self.amount_bands;
        if !(bands.iter().all(|b| b.is_finite() && *b > 0.0) && bands.windows(2).all(|w| w[0] < w[1])) {
            problems.push(format!(
                "fraud.amount_bands = {bands:?}: use four positive, strictly increasing bounds such as [10, 100, 500, 5000]"
            ));
        }
        if let Some(bad) = self.high_risk_countries.iter().find(|c| c.trim().is_empty() || c.trim() != c.as_str()) {
            problems.push(format!(
                "fraud.high_risk_countries contains {bad:?}: use country names or ISO codes without surrounding spaces"
            ));
        }
        for (name, hour) in [("night_start_hour", self.night_start_hour), ("night_end_hour", self.night_end_hour)] {
            if hour > 23 {
                problems.push(format!("fraud.{name} = {hour}: use an hour from 0 to 23"));
            }
        }
        if self.night_start_hour == self.night_end_hour {
            problems.push(format!(
                "fraud.night_end_hour = {}: use an hour other than night_start_hour; set points.night = 0 to switch the rule off",
                self.night_end_hour
            ));
        }
        if self.velocity_window.is_zero() || self.velocity_window > Duration::from_secs(86_400) {
            problems.push(format!(
                "fraud.velocity_window = {:?}: use a duration from 1s to 1d",
                humantime::format_duration(self.velocity_window).to_string()
            ));
        }
        if !(1..MAX_RECENT as u32).contains(&self.velocity_count) {
            problems.push(format!("fraud.velocity_count = {}: use 1 to {}", self.velocity_count, MAX_RECENT - 1));
        }
        if !(self.impossible_travel_kmh > 0.0 && self.impossible_travel_kmh < MAX_SPEED_KMH) {
            problems.push(format!(
                "fraud.impossible_travel_kmh = {}: use a positive speed below {MAX_SPEED_KMH} such as 900",
                self.impossible_travel_kmh
            ));
        }
        if !(2..=MAX_DEVICE_CUSTOMERS as u32).contains(&self.shared_device_customers) {
            problems.push(format!(
                "fraud.shared_device_customers = {}: use 2 to {MAX_DEVICE_CUSTOMERS}",
                self.shared_device_customers
            ));
        }
        if !(self.zscore_threshold.is_finite() && self.zscore_threshold > 0.0) {
            problems
                .push(format!("fraud.zscore_threshold = {}: use a positive number such as 3", self.zscore_threshold));
        }
        if self.zscore_min_count < 2 {
            problems.push(format!(
                "fraud.zscore_min_count = {}: use at least 2 (a standard deviation needs two amounts)",
                self.zscore_min_count
            ));
        }
        if !(self.model_weight.is_finite() && (0.0..=100.0).contains(&self.model_weight)) {
            problems.push(format!("fraud.model_weight = {}: use 0 (model off) to 100", self.model_weight));
        }
        if self.customer_idle_expiry < self.velocity_window || self.customer_idle_expiry.is_zero() {
            problems.push(format!(
                "fraud.customer_idle_expiry = {:?}: use a positive duration at least as long as velocity_window",
                humantime::format_duration(self.customer_idle_expiry).to_string()
            ));
        }
        if !(1..=64).contains(&self.max_devices_per_customer) {
            problems.push(format!("fraud.max_devices_per_customer = {}: use 1 to 64", self.max_devices_per_customer));
        }
    }

    /// Parses a rules file and validates it, reporting every problem at once. The file holds the
    /// keys of the `[fraud]` section, at top level or under a `[fraud]` table; keys it leaves out
    /// take their defaults.
    pub fn from_toml_str(text: &str) -> Result<FraudConfig, ConfigErrors> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigErrors(vec![format!("fraud rules: {}", e.to_string().trim())]))?;
        if table.len() == 1
            && let Some(toml::Value::Table(inner)) = table.get("fraud")
        {
            table = inner.clone();
        }
        let mut problems = Vec::new();
        let config = FraudConfig::from_toml_value(toml::Value::Table(table), &mut problems);
        if let Some(config) = &config {
            config.check(&mut problems);
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// Deserializes the `[fraud]` section: every unknown key is reported (not only the first, as
    /// `deny_unknown_fields` alone would), then the rest is parsed. Range checks are [`check`]'s.
    ///
    /// [`check`]: FraudConfig::check
    pub(crate) fn from_toml_value(mut value: toml::Value, problems: &mut Vec<String>) -> Option<FraudConfig> {
        let reference = toml::Value::try_from(FraudConfig::default()).expect("the defaults serialize");
        remove_unknown(&mut value, &reference, "fraud", problems);
        match FraudConfig::deserialize(value) {
            Ok(config) => Some(config),
            Err(e) => {
                problems.push(format!("[fraud]: {}", e.to_string().trim()));
                None
            }
        }
    }

    /// A stable short hash (16 hex digits) of the whole configuration: part of every alert id, so
    /// that ids change when the rules do. Compute it once per configuration, not per event.
    pub fn version(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        hex::encode(&digest[..8])
    }

    /// Whether a country (name or ISO code, any case) is on the high-risk list. A country of the
    /// reference geography matches when the list names it either way ("NG" lists "Nigeria").
    pub fn is_high_risk_country(&self, country: &str) -> bool {
        let country = country.trim();
        let known =
            CITIES.iter().find(|c| c.country.eq_ignore_ascii_case(country) || c.iso.eq_ignore_ascii_case(country));
        self.lists_country(country, known.map(|c| (c.country, c.iso)))
    }

    /// Whether the list holds `text`, or the reference country's `(name, iso)`.
    pub(crate) fn lists_country(&self, text: &str, known: Option<(&str, &str)>) -> bool {
        // Entries are trimmed when read (and `check` refuses untrimmed ones): no trimming per event.
        self.high_risk_countries.iter().any(|listed| {
            listed.eq_ignore_ascii_case(text)
                || known
                    .is_some_and(|(name, iso)| listed.eq_ignore_ascii_case(name) || listed.eq_ignore_ascii_case(iso))
        })
    }
}

fn trimmed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    Ok(list.into_iter().map(|c| c.trim().to_string()).collect())
}

/// Removes, and reports, the keys of `value` that `reference` (the serialized defaults) lacks.
fn remove_unknown(value: &mut toml::Value, reference: &toml::Value, path: &str, problems: &mut Vec<String>) {
    let (toml::Value::Table(table), toml::Value::Table(known)) = (value, reference) else { return };
    table.retain(|key, _| {
        let keep = known.contains_key(key);
        if !keep {
            problems
                .push(format!("unknown setting `{path}.{key}`; see config/default.toml for the settings that exist"));
        }
        keep
    });
    for (key, inner) in table.iter_mut() {
        if let Some(reference) = known.get(key) {
            remove_unknown(inner, reference, &format!("{path}.{key}"), problems);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn defaults_equal_the_embedded_config_section() {
        assert_eq!(Config::defaults().fraud, FraudConfig::default());
        let mut problems = Vec::new();
        FraudConfig::default().check(&mut problems);
        FraudConfig::seed_003().check(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn default_high_risk_countries_come_from_the_geography() {
        let c = FraudConfig::default();
        assert_eq!(
            c.high_risk_countries,
            ["Russia", "Belarus", "Nigeria", "Ghana", "Pakistan", "Cambodia", "Venezuela"]
        );
        for city in CITIES {
            assert_eq!(c.is_high_risk_country(city.country), city.high_risk, "{}", city.name);
            assert_eq!(c.is_high_risk_country(city.iso), city.high_risk, "{}", city.name);
        }
        assert!(c.is_high_risk_country(" nigeria ") && !c.is_high_risk_country("Atlantis"));
        let extra = FraudConfig { high_risk_countries: vec!["NG".into(), "Atlantis".into()], ..c };
        assert!(extra.is_high_risk_country("Nigeria") && extra.is_high_risk_country("atlantis"));
        assert!(!extra.is_high_risk_country("Russia"));
    }

    #[test]
    fn env_overrides_reach_the_section() {
        let env = [
            ("STREAMIFY__FRAUD__ALERT_LEVEL", "critical"),
            ("STREAMIFY__FRAUD__POINTS__CRYPTO", "0"),
            ("STREAMIFY__FRAUD__VELOCITY_WINDOW", "10m"),
        ];
        let c = Config::load(None, env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        assert_eq!(c.fraud.alert_level, RiskLevel::Critical);
        assert_eq!(c.fraud.points.crypto, 0);
        assert_eq!(c.fraud.velocity_window, Duration::from_secs(600));
        let e = Config::load(None, [("STREAMIFY__FRAUD__ALERT_LEVEL".to_string(), "severe".to_string())]).unwrap_err();
        assert!(e.to_string().contains("[fraud]") && e.to_string().contains("severe"), "{e}");
    }

    #[test]
    fn a_rules_file_reports_every_problem_at_once() {
        let text = "colour = 1\nvelocity_count = 0\nnight_end_hour = 23\n[points]\ncrypto = 101\nshade = 2\n";
        let errors = FraudConfig::from_toml_str(text).unwrap_err().0;
        let all = errors.join("\n");
        for needle in [
            "unknown setting `fraud.colour`",
            "unknown setting `fraud.points.shade`",
            "fraud.velocity_count = 0",
            "fraud.night_end_hour = 23",
            "fraud.points.crypto = 101",
        ] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
        assert_eq!(errors.len(), 5, "{all}");
        let type_error = FraudConfig::from_toml_str("high_amount = \"lots\"").unwrap_err();
        assert!(type_error.to_string().contains("[fraud]"), "{type_error}");
        assert!(FraudConfig::from_toml_str("not toml [").unwrap_err().to_string().contains("fraud rules"));
    }

    #[test]
    fn a_rules_file_may_be_partial_or_wrapped() {
        let c = FraudConfig::from_toml_str("[points]\nnew_device = 0\n").unwrap();
        assert_eq!(
            c,
            FraudConfig { points: RulePoints { new_device: 0, ..RulePoints::default() }, ..Default::default() }
        );
        let wrapped =
            FraudConfig::from_toml_str("[fraud]\nalert_level = \"MEDIUM\"\nhigh_risk_countries = [\" NG \"]").unwrap();
        assert_eq!(wrapped.alert_level, RiskLevel::Medium);
        assert_eq!(wrapped.high_risk_countries, ["NG"]);
        assert_eq!(FraudConfig::from_toml_str("").unwrap(), FraudConfig::default());
    }

    #[test]
    fn range_checks_name_the_setting() {
        let bad = FraudConfig {
            high_amount: f64::NAN,
            amount_bands: [10.0, 5.0, 500.0, 5000.0],
            high_risk_countries: vec![" ".into()],
            velocity_window: Duration::ZERO,
            impossible_travel_kmh: 0.0,
            shared_device_customers: 1,
            zscore_threshold: -1.0,
            zscore_min_count: 1,
            model_weight: 1000.0,
            max_devices_per_customer: 0,
            ..FraudConfig::default()
        };
        let mut problems = Vec::new();
        bad.check(&mut problems);
        let all = problems.join("\n");
        for key in [
            "fraud.high_amount",
            "fraud.amount_bands",
            "fraud.high_risk_countries",
            "fraud.velocity_window",
            "fraud.impossible_travel_kmh",
            "fraud.shared_device_customers",
            "fraud.zscore_threshold",
            "fraud.zscore_min_count",
            "fraud.model_weight",
            "fraud.max_devices_per_customer",
        ] {
            assert!(all.contains(key), "{key} missing from {all}");
        }
        assert!(problems.iter().all(|p| p.starts_with("fraud.") && !p.ends_with('.')), "{all}");
    }

    #[test]
    fn version_is_stable_and_follows_the_rules() {
        let a = FraudConfig::default();
        assert_eq!(a.version(), FraudConfig::default().version());
        assert_eq!(a.version().len(), 16);
        assert_ne!(a.version(), FraudConfig::seed_003().version());
        let b = FraudConfig { high_amount: 5000.5, ..FraudConfig::default() };
        assert_ne!(a.version(), b.version());
    }
}
