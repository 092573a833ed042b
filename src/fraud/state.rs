//! [`FraudState`]: what scoring remembers between transactions, one per partition, and
//! [`FraudState::observe`], which reads it to enrich a transaction and then folds the transaction
//! in. The records themselves ([`CustomerProfile`], [`DeviceEntry`]) and the handling of late
//! events are described in `profile`.
//!
//! Customers are keyed by their id: integer ids as integers, string ids as strings, except that a
//! string reading as an integer (`"42"`) is the customer `42`, as the CSV reader would read it.
//! Devices are keyed by the stable hash of their id ([`DeviceKey`]).
//!
//! # Expiry
//! [`expire`](FraudState::expire) runs on the event-time watermark: customers and devices whose
//! latest event is more than `customer_idle_expiry` before it are dropped (exactly that old is
//! kept), as are a kept customer's devices unused for that long.
//!
//! # Checkpoints
//! The state is `serde`; maps serialize sorted by key, so equal states give equal bytes. Keys are
//! written as map keys (JSON turns integer customer ids into strings and reads them back).
//! Between full checkpoints, [`delta`](FraudState::delta) saves only the customers and devices
//! an epoch touched (C-1 of [`crate::stream::changelog`]). The maps are layered
//! ([`crate::stream::layered`]): an epoch's image is cut in constant time and written off the
//! processing thread.

use super::FraudConfig;
use super::features::Enrichment;
use super::profile::{CustomerProfile, DeviceEntry, DeviceKey, micros, stable_hash};
use crate::model::{Timestamp, Transaction, UserId};
use crate::stream::changelog::{Image, MapDelta};
use crate::stream::layered::{Delta, Layered, Whole};
use serde::{Deserialize, Serialize};

/// How many entries [`FraudState::expire`] dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub customers: usize,
    pub devices: usize,
}

/// Everything scoring remembers: one per partition, checkpointed by the processor. Serializes
/// with each map sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FraudState {
    int_customers: Profiles<i64>,
    str_customers: Profiles<Box<str>>,
    devices: Layered<DeviceKey, DeviceEntry>,
}

/// Profiles are boxed: a table of a quarter million customers has room for half a million
/// entries (it doubles as it fills), and empty room costs 16 bytes a slot boxed, 136 inline.
type Profiles<K> = Layered<K, Box<CustomerProfile>>;

/// What [`FraudState::delta`] saves between full checkpoints: the entries an epoch touched.
#[derive(Serialize)]
pub struct FraudChanges {
    int_customers: Delta<i64, Box<CustomerProfile>>,
    str_customers: Delta<Box<str>, Box<CustomerProfile>>,
    devices: Delta<DeviceKey, DeviceEntry>,
}

/// A whole [`FraudState`] as of an epoch's end; serializes as the state does.
#[derive(Serialize)]
pub struct FraudImage {
    int_customers: Whole<i64, Box<CustomerProfile>>,
    str_customers: Whole<Box<str>, Box<CustomerProfile>>,
    devices: Whole<DeviceKey, DeviceEntry>,
}

/// [`FraudChanges`] read back.
#[derive(Deserialize)]
pub struct FraudDelta {
    int_customers: MapDelta<i64, Box<CustomerProfile>>,
    str_customers: MapDelta<Box<str>, Box<CustomerProfile>>,
    devices: MapDelta<DeviceKey, DeviceEntry>,
}

impl FraudState {
    pub fn new() -> Self {
        FraudState::default()
    }

    /// Enriches `tx` from the state before it, then records it. Call in each customer's event
    /// order (see the module docs for late events).
    pub fn observe<'t>(&mut self, tx: &'t Transaction, cfg: &FraudConfig) -> Enrichment<'t> {
        let mut e = Enrichment::stateless(tx, cfg);
        let t = tx.timestamp.micros();
        let key = CustomerKey::of(&tx.user_id);
        let customer = key.hash();
        let device = DeviceKey::of(&tx.device_id);
        e.device_customer_count = match self.devices.get_mut(&device) {
            Some(d) => d.observe(customer, t, false),
            None => {
                let mut d = DeviceEntry::default();
                let count = d.observe(customer, t, true);
                self.devices.insert(device, d);
                count
            }
        };
        let device = device.hash();
        match key {
            CustomerKey::Int(id) => {
                self.int_customers.get_or_insert_with(&id, Default::default).observe(tx, device, &mut e, cfg)
            }
            CustomerKey::Str(id) => match self.str_customers.get_mut(id) {
                Some(p) => p.observe(tx, device, &mut e, cfg),
                None => {
                    let mut p = Box::<CustomerProfile>::default();
                    p.observe(tx, device, &mut e, cfg);
                    self.str_customers.insert(id.into(), p);
                }
            },
        }
        e
    }

    /// Drops customers and devices idle for longer than `customer_idle_expiry` before the
    /// event-time `watermark`.
    pub fn expire(&mut self, watermark: Timestamp, cfg: &FraudConfig) -> Expired {
        let cutoff = watermark.micros().saturating_sub(micros(cfg.customer_idle_expiry));
        let before = (self.len(), self.devices.len());
        // Any customer may lose devices here: the next image is whole (`retain` says so).
        self.int_customers.retain(|_, p| p.retain_since(cutoff));
        self.str_customers.retain(|_, p| p.retain_since(cutoff));
        self.devices.retain(|_, d| d.last_seen().micros() >= cutoff);
        Expired { customers: before.0 - self.len(), devices: before.1 - self.devices.len() }
    }

    /// Ends the epoch: what changed since the last checkpoint, the customers and devices
    /// touched, or the whole state after an expiry pass (which can rewrite any customer). Cut in
    /// constant time.
    pub fn delta(&mut self) -> Image<FraudImage, FraudChanges> {
        if self.int_customers.must_save_whole()
            || self.str_customers.must_save_whole()
            || self.devices.must_save_whole()
        {
            return Image::Full(self.whole());
        }
        Image::Delta(FraudChanges {
            int_customers: self.int_customers.delta(),
            str_customers: self.str_customers.delta(),
            devices: self.devices.delta(),
        })
    }

    /// Ends the epoch: the whole state, cut in constant time.
    pub fn whole(&mut self) -> FraudImage {
        FraudImage {
            int_customers: self.int_customers.whole(),
            str_customers: self.str_customers.whole(),
            devices: self.devices.whole(),
        }
    }

    /// Merges state no checkpoint holds any more, at most `budget` entries per map.
    pub fn settle(&mut self, budget: usize) {
        self.int_customers.settle(budget);
        self.str_customers.settle(budget);
        self.devices.settle(budget);
    }

    /// Applies a [`delta`](Self::delta) to the state saved the epoch before (C-1).
    pub fn apply(&mut self, delta: Image<FraudState, FraudDelta>) {
        match delta {
            Image::Full(state) => *self = state,
            Image::Delta(d) => {
                self.int_customers.apply(d.int_customers);
                self.str_customers.apply(d.str_customers);
                self.devices.apply(d.devices);
            }
        }
    }

    /// Customers remembered.
    pub fn len(&self) -> usize {
        self.int_customers.len() + self.str_customers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.devices.is_empty()
    }

    /// Devices remembered.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    pub fn customer(&self, id: &UserId) -> Option<&CustomerProfile> {
        match CustomerKey::of(id) {
            CustomerKey::Int(i) => self.int_customers.get(&i).map(|p| &**p),
            CustomerKey::Str(s) => self.str_customers.get(s).map(|p| &**p),
        }
    }

    pub fn device(&self, id: &str) -> Option<&DeviceEntry> {
        self.devices.get(&DeviceKey::of(id))
    }
}

/// A customer id as the state keys it.
enum CustomerKey<'a> {
    Int(i64),
    Str(&'a str),
}

impl<'a> CustomerKey<'a> {
    fn of(id: &'a UserId) -> Self {
        match id {
            UserId::Int(i) => CustomerKey::Int(*i),
            UserId::Str(s) => match s.trim().parse::<i64>() {
                Ok(i) => CustomerKey::Int(i),
                Err(_) => CustomerKey::Str(s),
            },
        }
    }

    fn hash(&self) -> u64 {
        match self {
            CustomerKey::Int(i) => stable_hash(&i.to_le_bytes()) ^ 0x9e37_79b9_7f4a_7c15,
            CustomerKey::Str(s) => stable_hash(s.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::MAX_RECENT;
    use super::super::profile::tests::{MINUTE, NOON, at, tx};
    use super::*;
    use crate::model::{FraudScenario, MICROS_PER_SECOND};
    use std::collections::BTreeMap;

    #[test]
    fn string_ids_that_read_as_integers_are_the_same_customer() {
        let cfg = FraudConfig::default();
        let mut s = FraudState::new();
        let mut t = at(42, NOON);
        s.observe(&t, &cfg);
        t.user_id = UserId::Str(" 42".into());
        assert_eq!(s.observe(&t, &cfg).velocity_count, 2);
        t.user_id = UserId::Str("alice".into());
        assert_eq!(s.observe(&t, &cfg).velocity_count, 1);
        assert_eq!(s.observe(&t, &cfg).velocity_count, 2);
        assert_eq!(s.len(), 2);
        assert_eq!(s.observe(&t, &cfg).device_customer_count, 2);
    }

    #[test]
    fn travel_uses_the_last_known_city() {
        let cfg = FraudConfig::default();
        let mut s = FraudState::new();
        let t = tx(1, NOON, 5.0, "London, United Kingdom", "d");
        let e = s.observe(&t, &cfg);
        assert_eq!((e.distance_km, e.speed_kmh), (None, None));
        let t = tx(1, NOON + 10 * MINUTE, 5.0, "Atlantis, Ocean", "d");
        let e = s.observe(&t, &cfg);
        assert_eq!((e.distance_km, e.speed_kmh), (None, None));
        // Still measured from London, 60 minutes after it.
        let t = tx(1, NOON + 60 * MINUTE, 5.0, "Paris, France", "d");
        let e = s.observe(&t, &cfg);
        let (d, v) = (e.distance_km.unwrap(), e.speed_kmh.unwrap());
        assert!((340.0..350.0).contains(&d) && (v - d).abs() < 1e-9, "{d} {v}");
        let t = tx(1, NOON + 70 * MINUTE, 5.0, "Tokyo, Japan", "d");
        let e = s.observe(&t, &cfg);
        assert!(e.speed_kmh.unwrap() > 9000.0);
    }

    #[test]
    fn expiry_runs_on_event_time() {
        let cfg = FraudConfig::default();
        let day = 86_400 * MICROS_PER_SECOND;
        let mut s = FraudState::new();
        s.observe(&tx(1, NOON, 5.0, "Paris, France", "a"), &cfg);
        s.observe(&tx(2, NOON + day, 5.0, "Paris, France", "b"), &cfg);
        s.observe(&tx(2, NOON - day, 5.0, "Paris, France", "c"), &cfg);
        assert_eq!((s.len(), s.device_count()), (2, 3));
        // Device c (a day before noon) is 31 days idle; customer 1 exactly 30: kept.
        let gone = s.expire(Timestamp::from_micros(NOON + 30 * day), &cfg);
        assert_eq!(gone, Expired { customers: 0, devices: 1 });
        assert_eq!(s.customer(&UserId::Int(2)).unwrap().device_count(), 1, "device c forgotten by customer 2");
        assert!(s.customer(&UserId::Int(1)).is_some());
        let gone = s.expire(Timestamp::from_micros(NOON + 30 * day + 1), &cfg);
        assert_eq!(gone, Expired { customers: 1, devices: 1 });
        assert!(s.customer(&UserId::Int(1)).is_none());
        // An expired customer starts afresh: the first transaction again has no new device.
        assert!(!s.observe(&tx(1, NOON + 31 * day, 5.0, "Paris, France", "z"), &cfg).is_new_device);
        assert_eq!(s.expire(Timestamp::from_micros(i64::MAX), &cfg), Expired { customers: 2, devices: 2 });
        assert!(s.is_empty());
    }

    #[test]
    fn a_restored_checkpoint_continues_identically() {
        let cfg = FraudConfig::default();
        let stream: Vec<Transaction> = (0..60)
            .map(|i| {
                let city = ["Paris, France", "Lagos, Nigeria", "Tokyo, Japan"][i as usize % 3];
                tx(i % 7, NOON + i * 3 * MINUTE, 10.0 + i as f64, city, &format!("d{}", i % 5))
            })
            .collect();
        let mut whole = FraudState::new();
        let all: Vec<String> = stream.iter().map(|t| serde_json::to_string(&whole.observe(t, &cfg)).unwrap()).collect();
        let mut first = FraudState::new();
        for t in &stream[..30] {
            first.observe(t, &cfg);
        }
        let bytes = serde_json::to_vec(&first).unwrap();
        let mut restored: FraudState = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(restored, first);
        let rest: Vec<String> =
            stream[30..].iter().map(|t| serde_json::to_string(&restored.observe(t, &cfg)).unwrap()).collect();
        assert_eq!(rest, all[30..]);
        assert_eq!(restored, whole);
        // Equal states serialize to equal bytes, whatever the hash maps' internal order.
        let mut again = FraudState::new();
        for t in stream.iter().rev() {
            again.observe(t, &cfg);
        }
        let mut again2 = FraudState::new();
        for t in stream.iter().rev() {
            again2.observe(t, &cfg);
        }
        assert_eq!(serde_json::to_vec(&again).unwrap(), serde_json::to_vec(&again2).unwrap());
        assert_eq!(serde_json::to_vec(&whole).unwrap(), serde_json::to_vec(&restored).unwrap());
    }

    #[test]
    fn an_image_with_devices_keyed_by_their_id_restores() {
        // Images written before devices were keyed by hash held the id's text.
        let cfg = FraudConfig::default();
        let mut live = FraudState::new();
        for (i, device) in ["d1", "kiosk", "d1"].into_iter().enumerate() {
            live.observe(&tx(i as i64, NOON + i as i64 * MINUTE, 5.0, "Paris, France", device), &cfg);
        }
        let ints: BTreeMap<i64, &CustomerProfile> = live.int_customers.iter().map(|(k, v)| (*k, &**v)).collect();
        let strs: BTreeMap<&str, &CustomerProfile> = BTreeMap::new();
        let by_id: BTreeMap<&str, &DeviceEntry> = ["d1", "kiosk"].map(|id| (id, live.device(id).unwrap())).into();
        let old = rmp_serde::to_vec(&(ints, strs, by_id)).unwrap();
        let restored: FraudState = rmp_serde::from_slice(&old).unwrap();
        assert_eq!(restored, live);
        assert_eq!(restored.device("d1").map(DeviceEntry::customers), Some(2));
        assert_eq!(rmp_serde::to_vec(&restored).unwrap(), rmp_serde::to_vec(&live).unwrap());
    }

    #[test]
    fn a_full_image_then_deltas_restore_the_live_state() {
        let cfg = FraudConfig::default();
        let day = 86_400 * MICROS_PER_SECOND;
        let mut live = FraudState::new();
        let mut images = Vec::new();
        let save = |image: Image<FraudImage, FraudChanges>| rmp_serde::to_vec(&image).unwrap();
        for epoch in 0..6i64 {
            for i in 0..25 {
                let user = if i % 4 == 0 { UserId::Str(format!("u{}", i % 9)) } else { UserId::Int(i % 11) };
                let mut t = tx(0, NOON + epoch * day / 2 + i * MINUTE, 5.0 + i as f64, "Paris, France", "d");
                t.user_id = user;
                t.device_id = compact_str::format_compact!("d{}", (i + epoch) % 13);
                live.observe(&t, &cfg);
            }
            if epoch == 3 {
                live.expire(Timestamp::from_micros(NOON + 2 * day + 30 * day), &cfg);
            }
            images.push(if epoch == 0 { save(Image::Full(live.whole())) } else { save(live.delta()) });
        }
        let kinds: Vec<bool> = images
            .iter()
            .map(|b| matches!(rmp_serde::from_slice(b).unwrap(), Image::<FraudState, FraudDelta>::Full(_)))
            .collect();
        assert_eq!(kinds, [true, false, false, true, false, false], "full when asked and after an expiry pass");
        let mut restored = FraudState::new();
        for bytes in &images {
            restored.apply(rmp_serde::from_slice(bytes).unwrap());
        }
        assert_eq!(restored, live);
    }

    #[test]
    fn the_injected_scenario_is_never_read() {
        let cfg = FraudConfig::default();
        let (mut a, mut b) = (FraudState::new(), FraudState::new());
        for i in 0..20 {
            let plain = tx(1, NOON + i * MINUTE, 100.0 * i as f64, "Lagos, Nigeria", "d");
            let mut labelled = plain.clone();
            labelled.injected_scenario = Some(FraudScenario::CardTesting);
            let (ea, eb) = (a.observe(&plain, &cfg), b.observe(&labelled, &cfg));
            assert_eq!(ea, eb);
            assert_eq!(super::super::score(&plain, &ea, None, &cfg), super::super::score(&labelled, &eb, None, &cfg));
        }
    }

    mod properties {
        use super::super::super::{ModelScore, ReasonCode, score};
        use super::*;
        use crate::model::PaymentMethod;
        use proptest::prelude::*;

        const PLACES: [&str; 6] =
            ["Paris, France", "Lagos, Nigeria", "Tokyo, Japan", "Atlantis, Ocean", "no comma", " sydney ,australia "];
        const AMOUNTS: [f64; 7] = [0.0, 0.01, 9.99, 5000.0, 5000.01, 1e9, 1e300];

        /// (customer, seconds since the previous event (may be negative: late), amount, place,
        /// device, crypto, model probability)
        type Step = (i64, i64, usize, usize, u8, bool, Option<f64>);

        fn step() -> impl Strategy<Value = Step> {
            (
                0..4i64,
                -900..900i64,
                0..AMOUNTS.len(),
                0..PLACES.len(),
                0..6u8,
                any::<bool>(),
                proptest::option::of(prop_oneof![Just(f64::NAN), -1.0..2.0f64]),
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            #[test]
            fn outputs_stay_finite_bounded_and_ordered(steps in proptest::collection::vec(step(), 1..60)) {
                let cfg = FraudConfig::default();
                let mut state = FraudState::new();
                let mut now = NOON;
                for (user, dt, amount, place, device, crypto, p) in steps {
                    now += dt * MICROS_PER_SECOND;
                    let mut t = tx(user, now, AMOUNTS[amount], PLACES[place], &format!("d{device}"));
                    if crypto {
                        t.payment_method = PaymentMethod::Crypto;
                    }
                    let e = state.observe(&t, &cfg);
                    let floats = [e.baseline.mean, e.baseline.std];
                    let options = [e.amount_zscore, e.distance_km, e.speed_kmh];
                    prop_assert!(floats.iter().chain(options.iter().flatten()).all(|f| f.is_finite()), "{e:?}");
                    prop_assert!(e.velocity_count >= 1 && e.device_customer_count >= 1);
                    let model = p.map(|probability| ModelScore { model_version: "m".into(), probability });
                    let s = score(&t, &e, model.as_ref(), &cfg);
                    prop_assert!(s.score <= 100);
                    prop_assert_eq!(s.level, cfg.levels.level(s.score));
                    let codes: Vec<ReasonCode> = s.reasons.iter().map(|r| r.code).collect();
                    prop_assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
                    prop_assert!(s.reasons.iter().all(|r| r.points > 0));
                    let json = serde_json::to_string(&e).unwrap();
                    prop_assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
                }
            }

            #[test]
            fn velocity_matches_a_brute_force_count_in_order(gaps in proptest::collection::vec(0..20i64, 1..80)) {
                let cfg = FraudConfig::default();
                let mut state = FraudState::new();
                let mut times = Vec::new();
                let mut now = NOON;
                for gap in gaps {
                    now += gap * MINUTE / 4;
                    times.push(now);
                    let window = 30 * MINUTE;
                    let expected = times.iter().filter(|s| now - window <= **s && **s <= now).count().min(MAX_RECENT + 1);
                    prop_assert_eq!(state.observe(&at(1, now), &cfg).velocity_count as usize, expected);
                }
            }
        }
    }
}
