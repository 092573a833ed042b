//! The rule table: which rules exist, in which order they are reported, how many points each
//! scores and when each fires.
//!
//! | order | code | fires when | default points |
//! | --- | --- | --- | --- |
//! | 1 | `known_fraud` | `is_fraud == Some(true)` (the upstream flag, e.g. a confirmed chargeback) | 50 |
//! | 2 | `high_amount` | amount > `high_amount` (5000; exactly 5000 does not fire) | 30 |
//! | 3 | `crypto` | payment method `crypto` | 20 |
//! | 4 | `high_risk_country` | the location's country is in `high_risk_countries` | 15 |
//! | 5 | `night` | UTC hour >= `night_start_hour` or < `night_end_hour` (23:00:00-04:59:59) | 10 |
//! | 6 | `weekend` | Saturday or Sunday, UTC | 5 |
//! | 7 | `velocity` | more than `velocity_count` (5) transactions in the trailing `velocity_window` (30m) | 25 |
//! | 8 | `impossible_travel` | speed from the previous transaction's city > `impossible_travel_kmh` | 20 |
//! | 9 | `new_device` | the customer has history and never used this device | 10 |
//! | 10 | `shared_device` | the device served >= `shared_device_customers` customers | 10 |
//! | 11 | `amount_deviation` | amount z-score vs the customer's baseline >= `zscore_threshold` | 15 |
//! | 12 | `model` | a model probability p is given: `round(p * model_weight)` points | weight 25 |
//!
//! Rules 1-7 are seed 003's table, with its points; rules 8-12 use the customer's history (see
//! [`Enrichment`]) and a model. A rule with 0 points is switched off and never reported, so
//! [`RulePoints::seed_003`] (8-11 at 0) with `model_weight = 0` reproduces the seed exactly.

use super::{Enrichment, FraudConfig, ModelScore};
use crate::model::{PaymentMethod, Transaction};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One rule of the table; the declaration order is the reporting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    KnownFraud,
    HighAmount,
    Crypto,
    HighRiskCountry,
    Night,
    Weekend,
    Velocity,
    ImpossibleTravel,
    NewDevice,
    SharedDevice,
    AmountDeviation,
    Model,
}

impl ReasonCode {
    /// Every rule, in reporting order.
    pub const ALL: [ReasonCode; 12] = [
        ReasonCode::KnownFraud,
        ReasonCode::HighAmount,
        ReasonCode::Crypto,
        ReasonCode::HighRiskCountry,
        ReasonCode::Night,
        ReasonCode::Weekend,
        ReasonCode::Velocity,
        ReasonCode::ImpossibleTravel,
        ReasonCode::NewDevice,
        ReasonCode::SharedDevice,
        ReasonCode::AmountDeviation,
        ReasonCode::Model,
    ];

    /// The stable code written into alerts.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasonCode::KnownFraud => "known_fraud",
            ReasonCode::HighAmount => "high_amount",
            ReasonCode::Crypto => "crypto",
            ReasonCode::HighRiskCountry => "high_risk_country",
            ReasonCode::Night => "night",
            ReasonCode::Weekend => "weekend",
            ReasonCode::Velocity => "velocity",
            ReasonCode::ImpossibleTravel => "impossible_travel",
            ReasonCode::NewDevice => "new_device",
            ReasonCode::SharedDevice => "shared_device",
            ReasonCode::AmountDeviation => "amount_deviation",
            ReasonCode::Model => "model",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule that fired and the points it added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub points: u32,
}

/// Points per rule (`[fraud.points]`); 0 switches a rule off. Each is at most 100.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulePoints {
    /// `is_fraud` is true. Default 50.
    pub known_fraud: u32,
    /// Amount above `high_amount`. Default 30.
    pub high_amount: u32,
    /// Paid in crypto. Default 20.
    pub crypto: u32,
    /// Country on the high-risk list. Default 15.
    pub high_risk_country: u32,
    /// Between `night_start_hour` and `night_end_hour`, UTC. Default 10.
    pub night: u32,
    /// Saturday or Sunday, UTC. Default 5.
    pub weekend: u32,
    /// More than `velocity_count` transactions in `velocity_window`. Default 25.
    pub velocity: u32,
    /// Faster than `impossible_travel_kmh` since the previous city. Default 20.
    pub impossible_travel: u32,
    /// A device this customer never used (not on the customer's first transaction). Default 10.
    pub new_device: u32,
    /// A device used by `shared_device_customers` or more customers. Default 10.
    pub shared_device: u32,
    /// Amount z-score at or above `zscore_threshold`. Default 15.
    pub amount_deviation: u32,
}

impl Default for RulePoints {
    fn default() -> Self {
        RulePoints {
            known_fraud: 50,
            high_amount: 30,
            crypto: 20,
            high_risk_country: 15,
            night: 10,
            weekend: 5,
            velocity: 25,
            impossible_travel: 20,
            new_device: 10,
            shared_device: 10,
            amount_deviation: 15,
        }
    }
}

impl RulePoints {
    /// Seed 003's table: the history rules off.
    pub fn seed_003() -> Self {
        RulePoints { impossible_travel: 0, new_device: 0, shared_device: 0, amount_deviation: 0, ..Self::default() }
    }

    /// The points of a rule (the model's come from `model_weight`, so 0 here).
    pub fn get(&self, code: ReasonCode) -> u32 {
        match code {
            ReasonCode::KnownFraud => self.known_fraud,
            ReasonCode::HighAmount => self.high_amount,
            ReasonCode::Crypto => self.crypto,
            ReasonCode::HighRiskCountry => self.high_risk_country,
            ReasonCode::Night => self.night,
            ReasonCode::Weekend => self.weekend,
            ReasonCode::Velocity => self.velocity,
            ReasonCode::ImpossibleTravel => self.impossible_travel,
            ReasonCode::NewDevice => self.new_device,
            ReasonCode::SharedDevice => self.shared_device,
            ReasonCode::AmountDeviation => self.amount_deviation,
            ReasonCode::Model => 0,
        }
    }

    pub fn check(&self, problems: &mut Vec<String>) {
        for code in ReasonCode::ALL {
            let points = self.get(code);
            if points > 100 {
                problems.push(format!("fraud.points.{code} = {points}: use 0 (rule off) to 100"));
            }
        }
    }
}

/// Whether a rule fires for this transaction (the model "fires" when it adds points).
pub fn fires(code: ReasonCode, tx: &Transaction, e: &Enrichment<'_>, cfg: &FraudConfig) -> bool {
    match code {
        ReasonCode::KnownFraud => tx.is_fraud == Some(true),
        ReasonCode::HighAmount => tx.amount > cfg.high_amount,
        ReasonCode::Crypto => tx.payment_method == PaymentMethod::Crypto,
        ReasonCode::HighRiskCountry => e.is_high_risk_country,
        ReasonCode::Night => e.is_night,
        ReasonCode::Weekend => e.is_weekend,
        ReasonCode::Velocity => e.velocity_count > cfg.velocity_count,
        ReasonCode::ImpossibleTravel => e.speed_kmh.is_some_and(|s| s > cfg.impossible_travel_kmh),
        ReasonCode::NewDevice => e.is_new_device,
        ReasonCode::SharedDevice => e.device_customer_count >= cfg.shared_device_customers,
        ReasonCode::AmountDeviation => e.amount_zscore.is_some_and(|z| z >= cfg.zscore_threshold),
        ReasonCode::Model => false,
    }
}

/// The model's points: `round(probability * model_weight)`, the probability clamped to 0-1 and
/// a NaN read as 0.
pub fn model_points(model: Option<&ModelScore>, weight: f64) -> u32 {
    let Some(model) = model else { return 0 };
    let p = if model.probability.is_nan() { 0.0 } else { model.probability.clamp(0.0, 1.0) };
    let weight = if weight.is_finite() { weight.clamp(0.0, 100.0) } else { 0.0 };
    (p * weight).round() as u32
}

/// Calls `hit` for every rule that fires with points, in table order.
pub fn evaluate(
    tx: &Transaction,
    e: &Enrichment<'_>,
    model: Option<&ModelScore>,
    cfg: &FraudConfig,
    mut hit: impl FnMut(Reason),
) {
    for code in ReasonCode::ALL {
        let points = match code {
            ReasonCode::Model => model_points(model, cfg.model_weight),
            _ if fires(code, tx, e, cfg) => cfg.points.get(code),
            _ => 0,
        };
        if points > 0 {
            hit(Reason { code, points });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_ordered() {
        let names: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "known_fraud",
                "high_amount",
                "crypto",
                "high_risk_country",
                "night",
                "weekend",
                "velocity",
                "impossible_travel",
                "new_device",
                "shared_device",
                "amount_deviation",
                "model"
            ]
        );
        assert!(ReasonCode::ALL.windows(2).all(|w| w[0] < w[1]));
        for code in ReasonCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn seed_points_are_the_seed_table() {
        let p = RulePoints::seed_003();
        let table: Vec<u32> = ReasonCode::ALL.iter().map(|c| p.get(*c)).collect();
        assert_eq!(table, [50, 30, 20, 15, 10, 5, 25, 0, 0, 0, 0, 0]);
        let d = RulePoints::default();
        assert_eq!(ReasonCode::ALL.map(|c| d.get(c)), [50, 30, 20, 15, 10, 5, 25, 20, 10, 10, 15, 0]);
    }

    #[test]
    fn model_points_are_clamped_and_nan_safe() {
        let m = |p: f64| ModelScore { model_version: "m1".into(), probability: p };
        assert_eq!(model_points(None, 25.0), 0);
        assert_eq!(model_points(Some(&m(0.5)), 25.0), 13);
        assert_eq!(model_points(Some(&m(1.0)), 25.0), 25);
        assert_eq!(model_points(Some(&m(7.0)), 25.0), 25);
        assert_eq!(model_points(Some(&m(-1.0)), 25.0), 0);
        assert_eq!(model_points(Some(&m(f64::NAN)), 25.0), 0);
        assert_eq!(model_points(Some(&m(1.0)), f64::INFINITY), 0);
        assert_eq!(model_points(Some(&m(0.9)), 0.0), 0);
    }

    #[test]
    fn points_above_100_are_refused() {
        let mut problems = Vec::new();
        RulePoints { velocity: 101, ..RulePoints::default() }.check(&mut problems);
        assert_eq!(problems, ["fraud.points.velocity = 101: use 0 (rule off) to 100"]);
    }
}
