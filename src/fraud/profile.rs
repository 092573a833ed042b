//! The per-customer and per-device records of [`FraudState`](super::FraudState):
//! [`CustomerProfile`] and [`DeviceEntry`], and how one transaction reads and updates them.
//!
//! # Per customer
//! - running count, mean and M2 of amounts (Welford), for the baseline and z-score; amounts
//!   outside 0 to 10^12 are not folded in, so the baseline stays finite;
//! - the timestamps of recent transactions, sorted, for velocity: at most [`MAX_RECENT`], and none
//!   older than twice `velocity_window` before the customer's latest event time;
//! - the last known place (coordinates and event time), for travel speed;
//! - up to `max_devices_per_customer` devices (by [`stable_hash`] of their id) with their last
//!   use; the least recently used is forgotten first;
//! - the latest event time seen, for expiry.
//!
//! # Per device
//! The distinct customers seen on it (a stable 64-bit hash of their id, at most
//! [`MAX_DEVICE_CUSTOMERS`]; beyond that the count saturates) and its last use.
//!
//! # Out-of-order events
//! The processor calls `observe` in each customer's partition order, which is mostly but not
//! always event-time order. A late event is handled so:
//! - velocity counts the stored timestamps within `[t - window, t]` of the late event's own `t`,
//!   and inserts `t` in order, so later events count it correctly. Exact for events at most one
//!   window later than the customer's latest; later still, older timestamps may already be gone
//!   and the count is a lower bound;
//! - travel compares with the previously *processed* known place, over the absolute time
//!   difference;
//! - the baseline is order-independent; device and customer "last seen" times only move forward.

use super::FraudConfig;
use super::features::{Baseline, Enrichment, travel};
use crate::model::{Timestamp, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Most recent timestamps kept per customer: velocity counts saturate at `MAX_RECENT + 1`.
pub const MAX_RECENT: usize = 64;

/// Most customers remembered per device: device customer counts saturate there.
pub const MAX_DEVICE_CUSTOMERS: usize = 32;

/// Largest amount folded into a baseline.
const MAX_FOLDED_AMOUNT: f64 = 1e12;

/// One customer's history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerProfile {
    /// Transactions observed.
    seen: u64,
    /// Welford accumulator of the folded amounts.
    count: u64,
    mean: f64,
    m2: f64,
    /// Recent event times (µs), ascending.
    recent: VecDeque<i64>,
    last_place: Option<Place>,
    devices: Vec<KnownDevice>,
    /// Latest event time (µs).
    last_seen: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Place {
    lat: f64,
    lon: f64,
    at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct KnownDevice {
    /// [`stable_hash`] of the device id.
    id: u64,
    last_seen: i64,
}

impl CustomerProfile {
    /// Transactions observed (since the customer's state was created).
    pub fn transactions(&self) -> u64 {
        self.seen
    }

    /// The amounts observed so far.
    pub fn baseline(&self) -> Baseline {
        let std = if self.count >= 2 { (self.m2.max(0.0) / (self.count - 1) as f64).sqrt() } else { 0.0 };
        Baseline { count: self.count, mean: self.mean, std }
    }

    /// Latest event time observed.
    pub fn last_seen(&self) -> Timestamp {
        Timestamp::from_micros(self.last_seen)
    }

    /// Devices remembered.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Forgets devices unused since before `cutoff` (µs); whether the customer itself was seen
    /// since.
    pub(super) fn retain_since(&mut self, cutoff: i64) -> bool {
        self.devices.retain(|d| d.last_seen >= cutoff);
        self.last_seen >= cutoff
    }

    /// Recent timestamps remembered (at most [`MAX_RECENT`]).
    pub fn recent_count(&self) -> usize {
        self.recent.len()
    }

    /// Fills the history features of `e` from the state before `tx`, then folds `tx` in.
    pub(super) fn observe(&mut self, tx: &Transaction, device: u64, e: &mut Enrichment<'_>, cfg: &FraudConfig) {
        let t = tx.timestamp.micros();
        let window = micros(cfg.velocity_window);
        e.baseline = self.baseline();
        e.amount_zscore = e.baseline.zscore(tx.amount, cfg.zscore_min_count);
        e.is_new_device = self.seen > 0 && !self.devices.iter().any(|d| d.id == device);
        let (distance, speed) = travel(self.last_place.map(|p| (p.lat, p.lon, p.at)), e.geo, t);
        (e.distance_km, e.speed_kmh) = (distance, speed);
        let upto = self.recent.partition_point(|&s| s <= t);
        let from = self.recent.partition_point(|&s| s < t.saturating_sub(window));
        e.velocity_count = (upto - from.min(upto) + 1) as u32;

        // Fold in.
        let latest = if self.seen == 0 { t } else { self.last_seen.max(t) };
        self.seen += 1;
        if tx.amount.is_finite() && (0.0..=MAX_FOLDED_AMOUNT).contains(&tx.amount) {
            self.count += 1;
            let delta = tx.amount - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (tx.amount - self.mean);
        }
        self.recent.insert(upto, t);
        let horizon = latest.saturating_sub(window.saturating_mul(2));
        while self.recent.front().is_some_and(|&s| s < horizon) || self.recent.len() > MAX_RECENT {
            self.recent.pop_front();
        }
        if let Some(c) = e.geo {
            self.last_place = Some(Place { lat: c.lat, lon: c.lon, at: t });
        }
        match self.devices.iter_mut().find(|d| d.id == device) {
            Some(d) => d.last_seen = d.last_seen.max(t),
            None => {
                let max = (cfg.max_devices_per_customer as usize).max(1);
                while self.devices.len() >= max {
                    let lru = self.devices.iter().enumerate().min_by_key(|(_, d)| d.last_seen).map_or(0, |(i, _)| i);
                    self.devices.remove(lru);
                }
                // Most customers use one or two devices: room for four (a `Vec`'s first
                // allocation) would take 64 bytes per customer, a million times over.
                self.devices.reserve_exact(1);
                self.devices.push(KnownDevice { id: device, last_seen: t });
            }
        }
        self.last_seen = latest;
    }
}

/// The customers seen on one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// Stable hashes of the customers' ids, in first-seen order.
    customers: Vec<u64>,
    last_seen: i64,
}

impl DeviceEntry {
    /// Distinct customers seen (at most [`MAX_DEVICE_CUSTOMERS`]).
    pub fn customers(&self) -> usize {
        self.customers.len()
    }

    pub fn last_seen(&self) -> Timestamp {
        Timestamp::from_micros(self.last_seen)
    }

    /// Records `customer` at `t`; returns the distinct customers including it, saturating.
    pub(super) fn observe(&mut self, customer: u64, t: i64, first: bool) -> u32 {
        if !self.customers.contains(&customer) && self.customers.len() < MAX_DEVICE_CUSTOMERS {
            // Most devices have one customer: no room for four (as a `Vec` would) until needed.
            self.customers.reserve_exact(1);
            self.customers.push(customer);
        }
        self.last_seen = if first { t } else { self.last_seen.max(t) };
        self.customers.len() as u32
    }
}

/// A device as the state keys it: the [`stable_hash`] of its id (8 bytes, nothing on the heap),
/// as customer records already hold their devices. It serializes as that number; an image written
/// when devices were keyed by their id's text reads back by hashing the text, so older checkpoints
/// restore unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey(u64);

impl DeviceKey {
    pub fn of(id: &str) -> Self {
        DeviceKey(stable_hash(id.as_bytes()))
    }

    pub fn hash(self) -> u64 {
        self.0
    }
}

impl Serialize for DeviceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for DeviceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl serde::de::Visitor<'_> for Key {
            type Value = DeviceKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a device id's hash, or the id")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DeviceKey, E> {
                Ok(DeviceKey(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DeviceKey, E> {
                Ok(DeviceKey::of(v))
            }
        }
        // Text formats write map keys as strings, numbers included: there the key is the number.
        if d.is_human_readable() { d.deserialize_u64(Key) } else { d.deserialize_any(Key) }
    }
}

/// FNV-1a with a murmur3 finalizer: stable across builds and platforms (it is stored in
/// checkpoints), well mixed, not keyed. Ids come from the shop, so collisions (2^-64 per pair)
/// are left to chance.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

pub(super) fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::FraudState;
    use super::*;
    use crate::model::{MICROS_PER_SECOND, UserId};

    pub(crate) const MINUTE: i64 = 60 * MICROS_PER_SECOND;
    /// 2025-01-06T12:00:00Z, a Monday.
    pub(crate) const NOON: i64 = 1_736_164_800 * MICROS_PER_SECOND;

    pub(crate) fn tx(user: i64, at: i64, amount: f64, location: &str, device: &str) -> Transaction {
        Transaction::sample(user, Timestamp::from_micros(at), amount, location, device)
    }

    pub(crate) fn at(user: i64, at: i64) -> Transaction {
        tx(user, at, 50.0, "Paris, France", "d1")
    }

    #[test]
    fn velocity_window_includes_both_ends() {
        let cfg = FraudConfig::default();
        let mut s = FraudState::new();
        let counts: Vec<u32> = [0, 6, 12, 18, 24, 30, 31]
            .iter()
            .map(|m| s.observe(&at(1, NOON + m * MINUTE), &cfg).velocity_count)
            .collect();
        // At 30:00 the first (at 0:00) is still in [t - 30m, t]; at 31:00 it is not.
        assert_eq!(counts, [1, 2, 3, 4, 5, 6, 6]);
        let mut s = FraudState::new();
        s.observe(&at(1, NOON), &cfg);
        assert_eq!(s.observe(&at(1, NOON + 30 * MINUTE), &cfg).velocity_count, 2);
        assert_eq!(s.observe(&at(1, NOON + 30 * MINUTE + 1), &cfg).velocity_count, 2);
        assert_eq!(s.observe(&at(1, NOON + 30 * MINUTE + 1), &cfg).velocity_count, 3, "equal times both count");
    }

    #[test]
    fn late_events_count_within_their_own_window() {
        let cfg = FraudConfig::default();
        let mut s = FraudState::new();
        for m in [0, 10, 40] {
            s.observe(&at(1, NOON + m * MINUTE), &cfg);
        }
        // Late, at 0:20: the window [-0:10, 0:20] holds 0:00 and 0:10, not 0:40.
        assert_eq!(s.observe(&at(1, NOON + 20 * MINUTE), &cfg).velocity_count, 3);
        // And it is remembered in order: at 0:45 the window [0:15, 0:45] holds 0:20 and 0:40.
        assert_eq!(s.observe(&at(1, NOON + 45 * MINUTE), &cfg).velocity_count, 3);
        assert_eq!(s.customer(&UserId::Int(1)).unwrap().last_seen().micros(), NOON + 45 * MINUTE);
    }

    #[test]
    fn memory_per_customer_is_bounded() {
        let cfg = FraudConfig { max_devices_per_customer: 3, ..FraudConfig::default() };
        let mut s = FraudState::new();
        let mut last = 0;
        for i in 0..1000 {
            let t = tx(1, NOON + i * MICROS_PER_SECOND, 10.0, "Paris, France", &format!("d{i}"));
            last = s.observe(&t, &cfg).velocity_count;
        }
        assert_eq!(last, MAX_RECENT as u32 + 1);
        let p = s.customer(&UserId::Int(1)).unwrap();
        assert_eq!((p.recent_count(), p.device_count(), p.transactions()), (MAX_RECENT, 3, 1000));
        // Old timestamps go even when few: two windows past the latest.
        s.observe(&at(1, NOON + 1000 * MINUTE), &cfg);
        assert_eq!(s.customer(&UserId::Int(1)).unwrap().recent_count(), 1);
    }

    #[test]
    fn baseline_is_before_the_transaction() {
        let cfg = FraudConfig::default();
        let mut s = FraudState::new();
        let amounts = [10.0, 20.0, 30.0, 40.0, 50.0];
        for (i, a) in amounts.iter().enumerate() {
            let t = tx(1, NOON + i as i64 * MINUTE, *a, "Paris, France", "d1");
            let e = s.observe(&t, &cfg);
            assert_eq!(e.baseline.count, i as u64);
            assert_eq!(e.amount_zscore, None, "fewer than zscore_min_count earlier amounts");
        }
        let t = tx(1, NOON + 10 * MINUTE, 130.0, "Paris, France", "d1");
        let e = s.observe(&t, &cfg);
        // mean 30, sample std sqrt(250) = 15.811...
        assert_eq!(e.baseline.count, 5);
        assert!((e.baseline.mean - 30.0).abs() < 1e-9);
        assert!((e.baseline.std - 250f64.sqrt()).abs() < 1e-9);
        assert!((e.amount_zscore.unwrap() - 100.0 / 250f64.sqrt()).abs() < 1e-9);
        // Absurd amounts are not folded in, so the baseline stays finite.
        s.observe(&tx(1, NOON + 11 * MINUTE, 1e300, "Paris, France", "d1"), &cfg);
        let b = s.customer(&UserId::Int(1)).unwrap().baseline();
        assert!(b.count == 6 && b.mean.is_finite() && b.std.is_finite());
    }

    #[test]
    fn new_device_needs_history_and_forgets_the_least_recent() {
        let cfg = FraudConfig { max_devices_per_customer: 2, ..FraudConfig::default() };
        let mut s = FraudState::new();
        let mut new = |m: i64, device: &str| {
            s.observe(&tx(1, NOON + m * MINUTE, 5.0, "Paris, France", device), &cfg).is_new_device
        };
        assert!(!new(0, "a"), "first transaction: no history, not new");
        assert!(new(1, "b"));
        assert!(!new(2, "a") && !new(3, "b"));
        assert!(new(4, "c"), "third device: a (used at 2) is forgotten");
        assert!(!new(5, "b"));
        assert!(new(6, "a"));
    }

    #[test]
    fn devices_count_distinct_customers() {
        let cfg = FraudConfig::default();
        let mut s = FraudState::new();
        let counts: Vec<u32> = [1, 2, 1, 3, 3, 4]
            .iter()
            .map(|u| s.observe(&tx(*u, NOON, 5.0, "Paris, France", "shared"), &cfg).device_customer_count)
            .collect();
        assert_eq!(counts, [1, 2, 2, 3, 3, 4]);
        assert_eq!(s.observe(&tx(9, NOON, 5.0, "Paris, France", "other"), &cfg).device_customer_count, 1);
        for u in 0..100 {
            s.observe(&tx(100 + u, NOON, 5.0, "Paris, France", "kiosk"), &cfg);
        }
        assert_eq!(s.device("kiosk").unwrap().customers(), MAX_DEVICE_CUSTOMERS);
        assert_eq!(s.device_count(), 3);
    }

    #[test]
    fn stable_hash_is_pinned() {
        // Stored in checkpoints: it must never change.
        assert_eq!(stable_hash(b""), stable_hash(b""));
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
        assert_eq!(format!("{:016x}", stable_hash(b"dev-1")), "7794c83f9f078e0e");
    }
}
