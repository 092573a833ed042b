//! Golden cases of seed 003's scoring table, computed by hand: every expected score, level and
//! reason list below is written literally, not derived from the code under test.
//!
//! Seed table: known fraud +50, amount > 5000 +30, crypto +20, high-risk country +15, night
//! (23:00-04:59:59 UTC) +10, weekend +5, more than 5 transactions in 30 minutes +25; CRITICAL
//! >= 75, HIGH >= 50, MEDIUM >= 25, LOW >= 10, MINIMAL below.
//!
//! Dates: 2025-01-03 is a Friday, 2025-01-04 a Saturday, 2025-01-05 a Sunday, 2025-01-06 a Monday.

use super::{FraudConfig, FraudState, ModelScore, score};
use crate::model::{PaymentMethod, Timestamp, Transaction};

type Expected = (u8, &'static str, &'static [(&'static str, u32)]);

struct Tx {
    at: &'static str,
    amount: f64,
    pay: PaymentMethod,
    location: &'static str,
    known_fraud: Option<bool>,
    user: i64,
    device: &'static str,
}

const BASE: Tx = Tx {
    at: "2025-01-06T12:00:00Z",
    amount: 100.0,
    pay: PaymentMethod::CreditCard,
    location: "Paris, France",
    known_fraud: None,
    user: 1,
    device: "d1",
};

impl Tx {
    fn build(&self) -> Transaction {
        let at = Timestamp::parse(self.at).unwrap();
        Transaction {
            transaction_id: compact_str::format_compact!("tx-{}-{}", self.user, self.at),
            merchant: "Golden Goods".into(),
            is_fraud: self.known_fraud,
            payment_method: self.pay,
            ..Transaction::sample(self.user, at, self.amount, self.location, self.device)
        }
    }
}

fn run(
    state: &mut FraudState,
    tx: &Tx,
    model: Option<f64>,
    cfg: &FraudConfig,
) -> (u8, String, Vec<(&'static str, u32)>) {
    let tx = tx.build();
    let e = state.observe(&tx, cfg);
    let m = model.map(|p| ModelScore { model_version: "golden-model".into(), probability: p });
    let s = score(&tx, &e, m.as_ref(), cfg);
    (s.score, s.level.to_string(), s.reasons.iter().map(|r| (r.code.as_str(), r.points)).collect())
}

fn check(name: &str, got: (u8, String, Vec<(&'static str, u32)>), want: Expected) {
    assert_eq!((got.0, got.1.as_str(), got.2.as_slice()), (want.0, want.1, want.2), "{name}");
}

/// One transaction each, fresh state, the seed-003 configuration.
#[test]
fn single_transactions_score_as_the_seed_table() {
    let cfg = FraudConfig::seed_003();
    let cases: &[(&str, Tx, Expected)] = &[
        ("plain weekday purchase", BASE, (0, "MINIMAL", &[])),
        ("amount exactly 5000", Tx { amount: 5000.0, ..BASE }, (0, "MINIMAL", &[])),
        ("amount 5000.01", Tx { amount: 5000.01, ..BASE }, (30, "MEDIUM", &[("high_amount", 30)])),
        ("22:59:59", Tx { at: "2025-01-06T22:59:59Z", ..BASE }, (0, "MINIMAL", &[])),
        ("23:00:00", Tx { at: "2025-01-06T23:00:00Z", ..BASE }, (10, "LOW", &[("night", 10)])),
        ("04:59:59", Tx { at: "2025-01-07T04:59:59Z", ..BASE }, (10, "LOW", &[("night", 10)])),
        ("05:00:00", Tx { at: "2025-01-07T05:00:00Z", ..BASE }, (0, "MINIMAL", &[])),
        ("23:00 in +02:00 is 21:00 UTC", Tx { at: "2025-01-06T23:00:00+02:00", ..BASE }, (0, "MINIMAL", &[])),
        ("Friday noon", Tx { at: "2025-01-03T12:00:00Z", ..BASE }, (0, "MINIMAL", &[])),
        ("Saturday noon", Tx { at: "2025-01-04T12:00:00Z", ..BASE }, (5, "MINIMAL", &[("weekend", 5)])),
        ("Sunday 23:59:59", Tx { at: "2025-01-05T23:59:59Z", ..BASE }, (15, "LOW", &[("night", 10), ("weekend", 5)])),
        ("Monday 00:00:00", Tx { at: "2025-01-06T00:00:00Z", ..BASE }, (10, "LOW", &[("night", 10)])),
        ("crypto", Tx { pay: PaymentMethod::Crypto, ..BASE }, (20, "LOW", &[("crypto", 20)])),
        ("high-risk country", Tx { location: "Lagos, Nigeria", ..BASE }, (15, "LOW", &[("high_risk_country", 15)])),
        ("not high-risk", Tx { location: "Nairobi, Kenya", ..BASE }, (0, "MINIMAL", &[])),
        ("known fraud", Tx { known_fraud: Some(true), ..BASE }, (50, "HIGH", &[("known_fraud", 50)])),
        ("known not fraud", Tx { known_fraud: Some(false), ..BASE }, (0, "MINIMAL", &[])),
        (
            "crypto on a Saturday: 25",
            Tx { pay: PaymentMethod::Crypto, at: "2025-01-04T12:00:00Z", ..BASE },
            (25, "MEDIUM", &[("crypto", 20), ("weekend", 5)]),
        ),
        (
            "known fraud + crypto: 70",
            Tx { known_fraud: Some(true), pay: PaymentMethod::Crypto, ..BASE },
            (70, "HIGH", &[("known_fraud", 50), ("crypto", 20)]),
        ),
        (
            "known fraud + crypto on a Saturday: 75",
            Tx { known_fraud: Some(true), pay: PaymentMethod::Crypto, at: "2025-01-04T12:00:00Z", ..BASE },
            (75, "CRITICAL", &[("known_fraud", 50), ("crypto", 20), ("weekend", 5)]),
        ),
        (
            "known fraud + crypto + high-risk: 85",
            Tx { known_fraud: Some(true), pay: PaymentMethod::Crypto, location: "Lagos, Nigeria", ..BASE },
            (85, "CRITICAL", &[("known_fraud", 50), ("crypto", 20), ("high_risk_country", 15)]),
        ),
        (
            "everything at once: 130 capped at 100",
            Tx {
                known_fraud: Some(true),
                amount: 6000.0,
                pay: PaymentMethod::Crypto,
                location: "Lagos, Nigeria",
                at: "2025-01-04T23:30:00Z",
                ..BASE
            },
            (
                100,
                "CRITICAL",
                &[
                    ("known_fraud", 50),
                    ("high_amount", 30),
                    ("crypto", 20),
                    ("high_risk_country", 15),
                    ("night", 10),
                    ("weekend", 5),
                ],
            ),
        ),
    ];
    for (name, tx, want) in cases {
        check(name, run(&mut FraudState::new(), tx, None, &cfg), *want);
    }
}

/// The level boundaries 9/10, 24/25, 49/50, 74/75. The seed's points cannot make 9, 24, 49 or
/// 74, so a model probability with weight 100 supplies exact scores.
#[test]
fn level_boundaries() {
    let cfg = FraudConfig { model_weight: 100.0, ..FraudConfig::seed_003() };
    let cases: &[(f64, Expected)] = &[
        (0.09, (9, "MINIMAL", &[("model", 9)])),
        (0.10, (10, "LOW", &[("model", 10)])),
        (0.24, (24, "LOW", &[("model", 24)])),
        (0.25, (25, "MEDIUM", &[("model", 25)])),
        (0.49, (49, "MEDIUM", &[("model", 49)])),
        (0.50, (50, "HIGH", &[("model", 50)])),
        (0.74, (74, "HIGH", &[("model", 74)])),
        (0.75, (75, "CRITICAL", &[("model", 75)])),
        (0.0, (0, "MINIMAL", &[])),
    ];
    for (p, want) in cases {
        check(&format!("model {p}"), run(&mut FraudState::new(), &BASE, Some(*p), &cfg), *want);
    }
    // Model points add to the rules' and come last.
    let tx = Tx { known_fraud: Some(true), ..BASE };
    check(
        "known fraud + model",
        run(&mut FraudState::new(), &tx, Some(0.24), &cfg),
        (74, "HIGH", &[("known_fraud", 50), ("model", 24)]),
    );
}

fn sequence(times: &[&'static str], cfg: &FraudConfig) -> Vec<u8> {
    let mut state = FraudState::new();
    times.iter().map(|at| run(&mut state, &Tx { at, ..BASE }, None, cfg).0).collect()
}

/// Velocity: "more than 5 transactions in 30 minutes" fires on the 6th; the window is
/// `[t - 30m, t]`, both ends included.
#[test]
fn velocity_fires_on_the_sixth_transaction_in_thirty_minutes() {
    let cfg = FraudConfig::seed_003();
    let five_minutes = [
        "2025-01-06T12:00:00Z",
        "2025-01-06T12:05:00Z",
        "2025-01-06T12:10:00Z",
        "2025-01-06T12:15:00Z",
        "2025-01-06T12:20:00Z",
        "2025-01-06T12:25:00Z",
        "2025-01-06T12:26:00Z",
    ];
    assert_eq!(sequence(&five_minutes, &cfg), [0, 0, 0, 0, 0, 25, 25]);
    let exactly_thirty = [
        "2025-01-06T12:00:00Z",
        "2025-01-06T12:06:00Z",
        "2025-01-06T12:12:00Z",
        "2025-01-06T12:18:00Z",
        "2025-01-06T12:24:00Z",
        "2025-01-06T12:30:00Z",
    ];
    assert_eq!(sequence(&exactly_thirty, &cfg), [0, 0, 0, 0, 0, 25]);
    let a_second_more = [
        "2025-01-06T12:00:00Z",
        "2025-01-06T12:06:00Z",
        "2025-01-06T12:12:00Z",
        "2025-01-06T12:18:00Z",
        "2025-01-06T12:24:00Z",
        "2025-01-06T12:30:01Z",
    ];
    assert_eq!(sequence(&a_second_more, &cfg), [0, 0, 0, 0, 0, 0]);
    let mut state = FraudState::new();
    for at in &five_minutes[..5] {
        run(&mut state, &Tx { at, ..BASE }, None, &cfg);
    }
    let sixth = Tx { at: "2025-01-06T12:25:00Z", pay: PaymentMethod::Crypto, ..BASE };
    check("6th, crypto", run(&mut state, &sixth, None, &cfg), (45, "MEDIUM", &[("crypto", 20), ("velocity", 25)]));
    // Another customer's transactions do not count.
    let other = Tx { user: 2, at: "2025-01-06T12:26:00Z", ..BASE };
    check("other customer", run(&mut state, &other, None, &cfg), (0, "MINIMAL", &[]));
}

/// The default configuration adds the history rules: impossible travel +20, new device +10,
/// shared device +10, amount deviation +15 and the model at weight 25.
#[test]
fn history_rules_of_the_default_configuration() {
    let cfg = FraudConfig::default();
    let mut state = FraudState::new();
    let days = ["2025-01-06T10:00:00Z", "2025-01-07T10:00:00Z", "2025-01-08T10:00:00Z", "2025-01-09T10:00:00Z"];
    for (at, amount) in days.iter().zip([100.0, 110.0, 90.0, 105.0]) {
        check(at, run(&mut state, &Tx { at, amount, ..BASE }, None, &cfg), (0, "MINIMAL", &[]));
    }
    // The fifth: baseline of four amounts, below zscore_min_count, so no deviation yet.
    let fifth = Tx { at: "2025-01-10T10:00:00Z", amount: 2000.0, ..BASE };
    check("fifth", run(&mut state, &fifth, None, &cfg), (0, "MINIMAL", &[]));
    // Paris to Tokyo (about 9,700 km) in an hour, on a new device, far above the baseline (mean
    // 481, std 849: z = 10), model 0.8 * 25 = 20: 30 + 20 + 10 + 15 + 20 = 95.
    let far = Tx { at: "2025-01-10T11:00:00Z", amount: 9000.0, location: "Tokyo, Japan", device: "d2", ..BASE };
    check(
        "travel",
        run(&mut state, &far, Some(0.8), &cfg),
        (
            95,
            "CRITICAL",
            &[
                ("high_amount", 30),
                ("impossible_travel", 20),
                ("new_device", 10),
                ("amount_deviation", 15),
                ("model", 20),
            ],
        ),
    );
    // Five customers on one device: the fifth scores shared_device (first purchases: no new device).
    let mut state = FraudState::new();
    let shared: Vec<u8> =
        (10..15).map(|user| run(&mut state, &Tx { user, device: "kiosk", ..BASE }, None, &cfg).0).collect();
    assert_eq!(shared, [0, 0, 0, 0, 10]);
}
