//! The score: the points of the rules that fired, summed and capped at 100, the risk level it
//! falls in, and the alert decision and id.
//!
//! Levels (seed 003, configurable in `[fraud.levels]`): CRITICAL >= 75, HIGH >= 50, MEDIUM >= 25,
//! LOW >= 10, MINIMAL below. The level is taken from the capped score. [`Score::reasons`] lists
//! the rules that fired in the order of [`ReasonCode::ALL`], with their points; it lives inline
//! (no allocation per event).

use super::FraudConfig;
use super::rules::{self, Reason, ReasonCode};
use crate::model::Transaction;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

use super::Enrichment;

/// How risky a transaction is, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskLevel {
    Minimal,
    Low,
    Medium,
    High,
    Critical,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 5] =
        [RiskLevel::Minimal, RiskLevel::Low, RiskLevel::Medium, RiskLevel::High, RiskLevel::Critical];

    /// Lowercase name, as written in configuration and alerts.
    pub const fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Minimal => "minimal",
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }
}

/// Uppercase, as in the seed's table (`CRITICAL`).
impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RiskLevel::Minimal => "MINIMAL",
            RiskLevel::Low => "LOW",
            RiskLevel::Medium => "MEDIUM",
            RiskLevel::High => "HIGH",
            RiskLevel::Critical => "CRITICAL",
        })
    }
}

/// Any case: `high`, `HIGH`, `High`.
impl FromStr for RiskLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        RiskLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?} is not a risk level; use minimal, low, medium, high or critical"))
    }
}

/// Serialized lowercase; read in any case.
impl Serialize for RiskLevel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RiskLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Lowest score of each level (`[fraud.levels]`); strictly increasing, 1 to 100.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelThresholds {
    /// Default 10.
    pub low: u8,
    /// Default 25.
    pub medium: u8,
    /// Default 50.
    pub high: u8,
    /// Default 75.
    pub critical: u8,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        LevelThresholds { low: 10, medium: 25, high: 50, critical: 75 }
    }
}

impl LevelThresholds {
    pub fn level(&self, score: u8) -> RiskLevel {
        if score >= self.critical {
            RiskLevel::Critical
        } else if score >= self.high {
            RiskLevel::High
        } else if score >= self.medium {
            RiskLevel::Medium
        } else if score >= self.low {
            RiskLevel::Low
        } else {
            RiskLevel::Minimal
        }
    }

    pub fn check(&self, problems: &mut Vec<String>) {
        let (l, m, h, c) = (self.low, self.medium, self.high, self.critical);
        if !(1 <= l && l < m && m < h && h < c && c <= 100) {
            problems.push(format!(
                "fraud.levels = low {l}, medium {m}, high {h}, critical {c}: use strictly increasing scores from 1 to 100"
            ));
        }
    }
}

/// A model's opinion on one transaction, when a model is deployed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    pub model_version: String,
    /// Probability of fraud, 0 to 1 (clamped; NaN counts as 0).
    pub probability: f64,
}

/// The reasons of one score, inline: at most one per rule, in [`ReasonCode::ALL`] order.
/// Serializes as a list of `{"code": ..., "points": ...}`.
#[derive(Clone, Copy)]
pub struct Reasons {
    len: u8,
    items: [Reason; ReasonCode::ALL.len()],
}

impl Reasons {
    pub const fn new() -> Self {
        Reasons { len: 0, items: [Reason { code: ReasonCode::KnownFraud, points: 0 }; ReasonCode::ALL.len()] }
    }

    /// Appends a reason; one beyond the capacity (impossible from [`score`]) is dropped.
    pub fn push(&mut self, reason: Reason) {
        if let Some(slot) = self.items.get_mut(self.len as usize) {
            *slot = reason;
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[Reason] {
        &self.items[..self.len as usize]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Reason> {
        self.as_slice().iter()
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The codes alone, e.g. for an alert's `reasons` column.
    pub fn codes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.iter().map(|r| r.code.as_str())
    }
}

impl Default for Reasons {
    fn default() -> Self {
        Reasons::new()
    }
}

impl PartialEq for Reasons {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Reasons {}

impl std::ops::Deref for Reasons {
    type Target = [Reason];
    fn deref(&self) -> &[Reason] {
        self.as_slice()
    }
}

impl fmt::Debug for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Reasons {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Reasons {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<Reason>::deserialize(d)?;
        if list.len() > ReasonCode::ALL.len() {
            return Err(serde::de::Error::custom(format!("{} reasons; at most one per rule", list.len())));
        }
        let mut out = Reasons::new();
        list.into_iter().for_each(|r| out.push(r));
        Ok(out)
    }
}

/// The decision on one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// Sum of the reasons' points, capped at 100.
    pub score: u8,
    pub level: RiskLevel,
    /// Every rule that fired, in [`ReasonCode::ALL`] order. Their points may add up to more than
    /// `score` when the cap applied.
    pub reasons: Reasons,
}

/// Scores one transaction from its enrichment (see [`FraudState::observe`](super::FraudState::observe))
/// and, when a model is deployed, the model's probability.
pub fn score(tx: &Transaction, e: &Enrichment<'_>, model: Option<&ModelScore>, cfg: &FraudConfig) -> Score {
    let mut reasons = Reasons::new();
    let mut total: u32 = 0;
    rules::evaluate(tx, e, model, cfg, |r| {
        total = total.saturating_add(r.points);
        reasons.push(r);
    });
    let score = total.min(100) as u8;
    Score { score, level: cfg.levels.level(score), reasons }
}

/// Whether a level raises an alert under `cfg.alert_level`.
pub fn is_alert(level: RiskLevel, cfg: &FraudConfig) -> bool {
    level >= cfg.alert_level
}

/// The deterministic id of the alert on a transaction: `al-` and 32 hex digits of SHA-256 over
/// the transaction id, the rules version ([`FraudConfig::version`]) and the model version (none
/// and empty differ). Replays give the same id, so sinks can deduplicate.
pub fn alert_id(transaction_id: &str, rules_version: &str, model_version: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(b"streamify-alert-v1");
    for part in [Some(transaction_id), Some(rules_version), model_version] {
        match part {
            Some(p) => {
                h.update([1u8]);
                h.update((p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
            None => h.update([0u8]),
        }
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(35);
    out.push_str("al-");
    out.push_str(&hex::encode(&digest[..16]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_print_and_order() {
        for (text, level) in [("minimal", RiskLevel::Minimal), ("LOW", RiskLevel::Low), (" High ", RiskLevel::High)] {
            assert_eq!(text.parse::<RiskLevel>().unwrap(), level);
        }
        assert_eq!(RiskLevel::Critical.to_string(), "CRITICAL");
        assert_eq!(serde_json::to_string(&RiskLevel::Medium).unwrap(), "\"medium\"");
        assert_eq!(serde_json::from_str::<RiskLevel>("\"MEDIUM\"").unwrap(), RiskLevel::Medium);
        assert!("severe".parse::<RiskLevel>().unwrap_err().contains("\"severe\" is not a risk level"));
        assert!(RiskLevel::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn thresholds_map_scores_to_levels() {
        let t = LevelThresholds::default();
        let cases = [(0, "MINIMAL"), (9, "MINIMAL"), (10, "LOW"), (24, "LOW"), (25, "MEDIUM"), (49, "MEDIUM")];
        for (score, level) in cases.into_iter().chain([(50, "HIGH"), (74, "HIGH"), (75, "CRITICAL"), (100, "CRITICAL")])
        {
            assert_eq!(t.level(score).to_string(), level, "{score}");
        }
        let mut problems = Vec::new();
        LevelThresholds { low: 10, medium: 10, high: 50, critical: 75 }.check(&mut problems);
        LevelThresholds { low: 0, medium: 10, high: 50, critical: 75 }.check(&mut problems);
        LevelThresholds { low: 10, medium: 20, high: 50, critical: 101 }.check(&mut problems);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("fraud.levels"));
    }

    #[test]
    fn alerts_start_at_the_configured_level() {
        let cfg = FraudConfig::default();
        assert!(!is_alert(RiskLevel::Medium, &cfg));
        assert!(is_alert(RiskLevel::High, &cfg) && is_alert(RiskLevel::Critical, &cfg));
        let cfg = FraudConfig { alert_level: RiskLevel::Critical, ..cfg };
        assert!(!is_alert(RiskLevel::High, &cfg));
    }

    #[test]
    fn alert_ids_are_deterministic_and_separate_their_parts() {
        let a = alert_id("tx-1", "0123456789abcdef", Some("m7"));
        assert_eq!(a, alert_id("tx-1", "0123456789abcdef", Some("m7")));
        assert_eq!(a.len(), 35);
        assert!(a.starts_with("al-") && a[3..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let others = [
            alert_id("tx-2", "0123456789abcdef", Some("m7")),
            alert_id("tx-1", "0123456789abcdee", Some("m7")),
            alert_id("tx-1", "0123456789abcdef", Some("m8")),
            alert_id("tx-1", "0123456789abcdef", None),
            alert_id("tx-1", "0123456789abcdef", Some("")),
            alert_id("tx-10123456789abcdef", "", Some("m7")),
        ];
        let mut all: Vec<&String> = others.iter().chain([&a]).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 7);
        // Pinned: a change of the id scheme must be deliberate (it breaks sink deduplication).
        assert_eq!(alert_id("tx-1", "v", None), "al-f479181efa274a4f931eb1d6725f0051");
    }

    #[test]
    fn reasons_round_trip_as_a_list() {
        let mut r = Reasons::new();
        r.push(Reason { code: ReasonCode::Crypto, points: 20 });
        r.push(Reason { code: ReasonCode::Night, points: 10 });
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"[{"code":"crypto","points":20},{"code":"night","points":10}]"#);
        assert_eq!(serde_json::from_str::<Reasons>(&json).unwrap(), r);
        assert_eq!(r.codes().collect::<Vec<_>>(), ["crypto", "night"]);
        for _ in 0..20 {
            r.push(Reason { code: ReasonCode::Model, points: 1 });
        }
        assert_eq!(r.len(), ReasonCode::ALL.len());
    }
}
