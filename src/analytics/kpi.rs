//! Transaction KPIs: the platform and merchant dashboards' numbers for one window.
//!
//! [`Kpi`] is an [`Accumulator`] of [`KpiInput`]s (one per scored transaction; identities come in
//! as 64-bit hashes so the state holds no personal data) and finishes into a [`KpiOutput`]:
//! counts, revenue, average amount, alert / known-fraud / high-value rates, distinct customers,
//! devices and merchants, and the payment-method mix.
//!
//! Distinct counts are [`IdSet`]s of the 64-bit identity hashes: exact up to
//! [`EXACT_MAX`](super::id_set::EXACT_MAX) in a window, inline (no allocation) for the one or two
//! of a customer's window, and beyond that a 16 KiB HyperLogLog estimate within about 1% (a
//! platform hour of a million customers would otherwise hold, and checkpoint, megabytes per set).
//! Two accumulators [`merge`](Kpi::merge) into the one for the union of their events, so a sliding
//! view can be assembled from tumbling panes.
//!
//! # Invariants
//!
//! - **K-1 no NaN**: every rate is in `[0, 1]` and every number finite, also for an empty window.
//! - **K-2 merge is union**: `a.merge(&b)` finishes to the same output as adding `a`'s and `b`'s
//!   events to one accumulator, in any order (sums are integers, sets are sets, sketches take
//!   register maxima).
//! - **K-3 exact restore**: the serialized state restores to an equal accumulator.

use super::id_set::IdSet;
use super::{from_micros, ratio, to_micros};
use crate::model::{PaymentMethod, Vocabulary};
use crate::stream::window::Accumulator;
use serde::{Deserialize, Serialize};

/// How many payment methods there are ([`PaymentMethod::ALL`]).
pub const PAYMENT_METHODS: usize = 9;

/// A payment method's index in [`PaymentMethod::ALL`] (and in [`PaymentMethod::NAMES`]).
pub fn payment_index(method: PaymentMethod) -> usize {
    let i = method as usize;
    debug_assert_eq!(PaymentMethod::ALL.get(i), Some(&method));
    i
}

/// One transaction as the KPIs see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KpiInput {
    pub amount: f64,
    /// Hash of the customer id.
    pub customer: u64,
    /// Hash of the device id.
    pub device: u64,
    /// Hash of the merchant.
    pub merchant: u64,
    pub payment_method: PaymentMethod,
    /// Labelled fraud in the source data (ground truth, when the shop provides it).
    pub known_fraud: bool,
    /// Fraud scoring raised an alert.
    pub alert: bool,
    /// Above the high-value threshold.
    pub high_value: bool,
}

/// Running KPIs of one window (and key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kpi {
    transactions: u64,
    /// Sum of amounts in micro-units.
    revenue_micros: i64,
    alerts: u64,
    known_fraud: u64,
    high_value: u64,
    customers: IdSet,
    devices: IdSet,
    merchants: IdSet,
    payment_methods: [u64; PAYMENT_METHODS],
}

/// The finished KPIs of one window.
#[derive(Clone, Debug, PartialEq)]
pub struct KpiOutput {
    pub transactions: u64,
    pub revenue: f64,
    /// `revenue / transactions`, 0 without transactions.
    pub avg_amount: f64,
    pub alerts: u64,
    /// Share of transactions that raised a fraud alert.
    pub alert_rate: f64,
    pub known_fraud: u64,
    pub known_fraud_rate: f64,
    pub high_value: u64,
    pub high_value_rate: f64,
    pub distinct_customers: u64,
    pub distinct_devices: u64,
    pub distinct_merchants: u64,
    /// Transactions per payment method, every method listed (by its wire name).
    pub payment_mix: PaymentMix,
}

/// Transactions per payment method, by [`payment_index`]. Written as JSON ([`Self::to_json`]) as
/// a map from wire name to count in name order, as a `BTreeMap` of the names would be; millions
/// of windows close in an hour, and this builds no map and copies no name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaymentMix(pub [u64; PAYMENT_METHODS]);

/// [`PaymentMethod::NAMES`] indices in name order (checked by
/// `the_payment_mix_serializes_as_a_map_of_every_method_in_name_order`).
const BY_NAME: [usize; PAYMENT_METHODS] = [3, 5, 8, 0, 6, 1, 7, 4, 2];

impl PaymentMix {
    /// The JSON of the `payment_mix` column: what serde_json writes for the map of names to
    /// counts (the test compares), written directly, since every closed window writes one.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(192);
        out.push('{');
        for (n, i) in BY_NAME.into_iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(PaymentMethod::NAMES[i]);
            out.push_str("\":");
            out.push_str(itoa::Buffer::new().format(self.0[i]));
        }
        out.push('}');
        out
    }
}

impl Kpi {
    pub fn transactions(&self) -> u64 {
        self.transactions
    }
}

impl Accumulator for Kpi {
    type Input = KpiInput;
    type Output = KpiOutput;

    fn add(&mut self, t: &KpiInput) {
        self.transactions += 1;
        self.revenue_micros = self.revenue_micros.saturating_add(to_micros(t.amount));
        self.alerts += u64::from(t.alert);
        self.known_fraud += u64::from(t.known_fraud);
        self.high_value += u64::from(t.high_value);
        self.customers.insert(t.customer);
        self.devices.insert(t.device);
        self.merchants.insert(t.merchant);
        if let Some(n) = self.payment_methods.get_mut(payment_index(t.payment_method)) {
            *n += 1;
        }
    }

    /// Adds `other`'s events to these (K-2).
    fn merge(&mut self, other: &Kpi) {
        self.transactions += other.transactions;
        self.revenue_micros = self.revenue_micros.saturating_add(other.revenue_micros);
        self.alerts += other.alerts;
        self.known_fraud += other.known_fraud;
        self.high_value += other.high_value;
        self.customers.extend(&other.customers);
        self.devices.extend(&other.devices);
        self.merchants.extend(&other.merchants);
        for (mine, theirs) in self.payment_methods.iter_mut().zip(other.payment_methods) {
            *mine += theirs;
        }
    }

    fn finish(&self) -> KpiOutput {
        let n = self.transactions;
        let revenue = from_micros(self.revenue_micros);
        KpiOutput {
            transactions: n,
            revenue,
            avg_amount: if n == 0 { 0.0 } else { revenue / n as f64 },
            alerts: self.alerts,
            alert_rate: ratio(self.alerts, n),
            known_fraud: self.known_fraud,
            known_fraud_rate: ratio(self.known_fraud, n),
            high_value: self.high_value,
            high_value_rate: ratio(self.high_value, n),
            distinct_customers: self.customers.len() as u64,
            distinct_devices: self.devices.len() as u64,
            distinct_merchants: self.merchants.len() as u64,
            payment_mix: PaymentMix(self.payment_methods),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(amount: f64, customer: u64, method: PaymentMethod) -> KpiInput {
        KpiInput {
            amount,
            customer,
            device: customer * 10,
            merchant: customer % 3,
            payment_method: method,
            known_fraud: customer == 1,
            alert: customer <= 2,
            high_value: amount > 500.0,
        }
    }

    #[test]
    fn payment_index_follows_the_vocabulary() {
        assert_eq!(PaymentMethod::ALL.len(), PAYMENT_METHODS);
        for (i, m) in PaymentMethod::ALL.iter().enumerate() {
            assert_eq!(payment_index(*m), i);
        }
    }

    #[test]
    fn kpis_of_a_window() {
        let mut k = Kpi::default();
        for t in [
            input(100.0, 1, PaymentMethod::CreditCard),
            input(900.5, 2, PaymentMethod::Paypal),
            input(0.1, 3, PaymentMethod::CreditCard),
            input(0.2, 3, PaymentMethod::Crypto),
        ] {
            k.add(&t);
        }
        let o = k.finish();
        assert_eq!((o.transactions, o.alerts, o.known_fraud, o.high_value), (4, 2, 1, 1));
        assert_eq!(o.revenue, 1000.8, "summed exactly, not 1000.8000000000001");
        assert_eq!(o.avg_amount, 250.2);
        assert_eq!((o.alert_rate, o.known_fraud_rate, o.high_value_rate), (0.5, 0.25, 0.25));
        assert_eq!((o.distinct_customers, o.distinct_devices, o.distinct_merchants), (3, 3, 3));
        let count = |m| o.payment_mix.0[payment_index(m)];
        let (card, paypal, gift) = (PaymentMethod::CreditCard, PaymentMethod::Paypal, PaymentMethod::GiftCard);
        assert_eq!((count(card), count(paypal), count(gift)), (2, 1, 0));
    }

    #[test]
    fn the_payment_mix_serializes_as_a_map_of_every_method_in_name_order() {
        let counting = PaymentMix(std::array::from_fn(|i| i as u64 + 1));
        for mix in [counting, PaymentMix::default(), PaymentMix([u64::MAX; PAYMENT_METHODS])] {
            let as_map: std::collections::BTreeMap<&str, u64> =
                PaymentMethod::NAMES.iter().zip(mix.0).map(|(&name, n)| (name, n)).collect();
            assert_eq!(mix.to_json(), serde_json::to_string(&as_map).unwrap(), "what serde_json writes for the map");
        }
    }

    #[test]
    fn k1_an_empty_window_and_non_finite_amounts_give_no_nan() {
        let o = Kpi::default().finish();
        assert_eq!((o.avg_amount, o.alert_rate, o.known_fraud_rate, o.high_value_rate), (0.0, 0.0, 0.0, 0.0));
        let mut k = Kpi::default();
        k.add(&input(f64::NAN, 1, PaymentMethod::Crypto));
        k.add(&input(f64::INFINITY, 1, PaymentMethod::Crypto));
        k.add(&input(f64::MAX, 1, PaymentMethod::Crypto));
        let o = k.finish();
        assert!(o.revenue.is_finite() && o.avg_amount.is_finite());
    }

    fn inputs() -> impl Strategy<Value = Vec<KpiInput>> {
        let one = (-1e6f64..1e6, 0u64..20, 0usize..PAYMENT_METHODS, any::<[bool; 3]>()).prop_map(
            |(amount, c, m, [f, a, h])| KpiInput {
                amount,
                customer: c,
                device: c / 2,
                merchant: c % 5,
                payment_method: PaymentMethod::ALL[m],
                known_fraud: f,
                alert: a,
                high_value: h,
            },
        );
        proptest::collection::vec(one, 0..60)
    }

    proptest! {
        #[test]
        fn k1_k2_k3_merge_is_union_rates_are_bounded_and_restores_are_exact(a in inputs(), b in inputs()) {
            let (mut left, mut right, mut all) = (Kpi::default(), Kpi::default(), Kpi::default());
            a.iter().for_each(|t| left.add(t));
            b.iter().for_each(|t| right.add(t));
            b.iter().chain(&a).for_each(|t| all.add(t));
            left.merge(&right);
            prop_assert_eq!(&left, &all, "K-2");
            let o = all.finish();
            for rate in [o.avg_amount, o.alert_rate, o.known_fraud_rate, o.high_value_rate, o.revenue] {
                prop_assert!(rate.is_finite(), "K-1");
            }
            for rate in [o.alert_rate, o.known_fraud_rate, o.high_value_rate] {
                prop_assert!((0.0..=1.0).contains(&rate), "K-1");
            }
            let json = serde_json::to_string(&all).unwrap();
            prop_assert_eq!(serde_json::from_str::<Kpi>(&json).unwrap(), all, "K-3");
        }
    }
}
