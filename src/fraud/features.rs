//! [`Enrichment`]: the silver features of one transaction, and the pure functions that compute
//! them. The stateless ones come from the transaction alone ([`Enrichment::stateless`]); the
//! history ones are filled in by [`FraudState::observe`](super::FraudState::observe) from the
//! customer's state *before* the transaction.
//!
//! Definitions (the tests pin each boundary):
//! - **hour, day of week, weekend, night**: of the event timestamp in UTC. `day_of_week` is ISO
//!   (Monday = 1 ... Sunday = 7); weekend is Saturday or Sunday. Night is `hour >= night_start_hour
//!   || hour < night_end_hour` when start > end (23 and 5: 23:00:00 and 04:59:59 are night, 22:59:59
//!   and 05:00:00 are not), `start <= hour < end` otherwise.
//! - **city, country**: `location` is "City, Country" (split at the last comma, trimmed). A city
//!   of the reference geography is returned with the table's spelling (`" paris ,  france"` gives
//!   "Paris", "France") and its coordinates. Anything without a comma (validation refuses it, but
//!   we are defensive) gives city = the whole trimmed string, country = "" and
//!   `location_parsed = false`.
//! - **amount band**: micro < 10 <= small < 100 <= medium < 500 <= large < 5000 <= very large,
//!   bounds from `amount_bands`. **High value**: amount > `high_value`.
//! - **baseline**: count, mean and sample standard deviation of the customer's earlier amounts;
//!   **z-score** `(amount - mean) / max(std, 0.01)` once count >= `zscore_min_count`, else `None`
//!   (the floor keeps it finite for a customer who always paid the same amount).
//! - **velocity count**: the customer's transactions with timestamp in `[t - window, t]`, both
//!   ends included, this one included. With a 30-minute window a transaction exactly 30:00 after
//!   another still counts it; 30:00.000001 after does not.
//! - **new device**: the customer has earlier transactions and none on this device. The first
//!   transaction of a customer (or the first after the customer's state expired) is *not* a new
//!   device: without history nothing is unusual about it, and flagging it would score every new
//!   customer.
//! - **device customer count**: distinct customers seen on this device, this one included
//!   (saturating at [`MAX_DEVICE_CUSTOMERS`](super::MAX_DEVICE_CUSTOMERS)).
//! - **distance, speed**: great-circle distance from the city of the customer's previous
//!   transaction (the last one processed with a known city) and that distance over the absolute
//!   time between them. `None` when there is no previous known city or this city is unknown;
//!   speed is also `None` for the same place at the same instant. Different places at the same
//!   instant (or any faster travel) report [`MAX_SPEED_KMH`] instead of infinity.

use super::FraudConfig;
use crate::model::geo::{CITIES, City, city_by_location, haversine_km};
use crate::model::{MICROS_PER_SECOND, Transaction};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// The highest speed reported, in km/h: what a jump between two places at the same instant gives.
pub const MAX_SPEED_KMH: f64 = 1_000_000.0;

/// Floor of the standard deviation in a z-score, in currency units (one cent).
const MIN_STD: f64 = 0.01;

/// Named amount bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountBand {
    Micro,
    Small,
    Medium,
    Large,
    VeryLarge,
}

impl AmountBand {
    pub const ALL: [AmountBand; 5] =
        [AmountBand::Micro, AmountBand::Small, AmountBand::Medium, AmountBand::Large, AmountBand::VeryLarge];

    pub const fn as_str(self) -> &'static str {
        match self {
            AmountBand::Micro => "micro",
            AmountBand::Small => "small",
            AmountBand::Medium => "medium",
            AmountBand::Large => "large",
            AmountBand::VeryLarge => "very_large",
        }
    }

    /// The band of `amount` under the four upper bounds `bounds` (a NaN counts as micro).
    pub fn of(amount: f64, bounds: &[f64; 4]) -> AmountBand {
        let above = bounds.iter().take_while(|b| amount >= **b).count();
        AmountBand::ALL[above]
    }
}

/// A customer's amounts before the current transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Baseline {
    pub count: u64,
    pub mean: f64,
    /// Sample standard deviation; 0 below two amounts.
    pub std: f64,
}

impl Baseline {
    /// How many standard deviations `amount` lies above (positive) or below the mean; `None`
    /// below `min_count` earlier amounts.
    pub fn zscore(&self, amount: f64, min_count: u64) -> Option<f64> {
        if self.count < min_count.max(1) || !amount.is_finite() {
            return None;
        }
        let z = (amount - self.mean) / self.std.max(MIN_STD);
        z.is_finite().then_some(z)
    }
}

/// A parsed `location`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Location<'a> {
    pub city: &'a str,
    pub country: &'a str,
    /// False when `location` is not "City, Country".
    pub parsed: bool,
    /// The reference city, when the geography knows it.
    pub geo: Option<&'static City>,
}

impl<'a> Location<'a> {
    /// Parses "City, Country"; no allocation.
    pub fn parse(location: &'a str) -> Location<'a> {
        // Fast path: the exact spelling of the table (what the generator writes), by hash.
        let known = exact_city(location).or_else(|| city_by_location(location));
        if let Some(c) = known {
            return Location { city: c.name, country: c.country, parsed: true, geo: Some(c) };
        }
        match location.rsplit_once(',') {
            Some((city, country)) if !city.trim().is_empty() && !country.trim().is_empty() => {
                Location { city: city.trim(), country: country.trim(), parsed: true, geo: None }
            }
            _ => Location { city: location.trim(), country: "", parsed: false, geo: None },
        }
    }
}

/// The reference city spelled exactly `location`.
fn exact_city(location: &str) -> Option<&'static City> {
    // A fixed table: a fast unkeyed hash is safe here (lookups cannot change its shape).
    type Table = HashMap<&'static str, &'static City, BuildHasherDefault<Fnv>>;
    static BY_LOCATION: OnceLock<Table> = OnceLock::new();
    BY_LOCATION.get_or_init(|| CITIES.iter().map(|c| (c.location, c)).collect()).get(location).copied()
}

/// FNV-1a, for the fixed city table.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Whether `hour` (0-23) is in the night `[start, end)`, wrapping past midnight when start > end.
pub fn is_night(hour: u32, start: u32, end: u32) -> bool {
    if start > end { hour >= start || hour < end } else { start <= hour && hour < end }
}

/// Distance (km) and speed (km/h) from `previous` (latitude, longitude, time in µs) to `here` at
/// `t` (µs); see the module docs for the `None` cases.
pub fn travel(previous: Option<(f64, f64, i64)>, here: Option<&City>, t: i64) -> (Option<f64>, Option<f64>) {
    let (Some((lat, lon, then)), Some(here)) = (previous, here) else { return (None, None) };
    // Most purchases are made where the previous one was: skip the trigonometry.
    let same_place = lat == here.lat && lon == here.lon;
    let distance = if same_place { 0.0 } else { haversine_km((lat, lon), (here.lat, here.lon)) };
    if !distance.is_finite() {
        return (None, None);
    }
    let dt_hours = t.abs_diff(then) as f64 / (3600.0 * MICROS_PER_SECOND as f64);
    let speed = if dt_hours > 0.0 {
        Some((distance / dt_hours).min(MAX_SPEED_KMH))
    } else if distance > 0.0 {
        Some(MAX_SPEED_KMH)
    } else {
        None
    };
    (Some(distance), speed)
}

/// The silver features of one transaction. Borrows city and country from the transaction (or
/// the geography), so computing it allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Enrichment<'a> {
    /// Hour of day, UTC, 0-23.
    pub hour: u8,
    /// ISO day of week, UTC: Monday = 1 ... Sunday = 7.
    pub day_of_week: u8,
    pub is_weekend: bool,
    pub is_night: bool,
    pub city: &'a str,
    pub country: &'a str,
    /// False when `location` was not "City, Country" (then `city` is all of it, `country` "").
    pub location_parsed: bool,
    /// The reference city, when known.
    #[serde(skip)]
    pub geo: Option<&'static City>,
    pub is_high_risk_country: bool,
    pub amount_band: AmountBand,
    pub is_high_value: bool,
    /// The customer's amounts before this transaction.
    pub baseline: Baseline,
    pub amount_zscore: Option<f64>,
    pub is_new_device: bool,
    pub device_customer_count: u32,
    pub distance_km: Option<f64>,
    pub speed_kmh: Option<f64>,
    /// This customer's transactions in `[t - velocity_window, t]`, this one included.
    pub velocity_count: u32,
}

impl<'a> Enrichment<'a> {
    /// The features of the transaction alone; the history ones as for a customer without history
    /// (`velocity_count` 1, `device_customer_count` 1, the rest empty).
    pub fn stateless(tx: &'a Transaction, cfg: &FraudConfig) -> Enrichment<'a> {
        let hour = tx.timestamp.hour();
        let weekday = tx.timestamp.weekday();
        let place = Location::parse(&tx.location);
        let is_high_risk_country = match place.geo {
            Some(c) => cfg.lists_country(c.country, Some((c.country, c.iso))),
            None if place.parsed => cfg.is_high_risk_country(place.country),
            None => false,
        };
        Enrichment {
            hour: hour as u8,
            day_of_week: weekday as u8 + 1,
            is_weekend: weekday >= 5,
            is_night: is_night(hour, cfg.night_start_hour, cfg.night_end_hour),
            city: place.city,
            country: place.country,
            location_parsed: place.parsed,
            geo: place.geo,
            is_high_risk_country,
            amount_band: AmountBand::of(tx.amount, &cfg.amount_bands),
            is_high_value: tx.amount > cfg.high_value,
            baseline: Baseline::default(),
            amount_zscore: None,
            is_new_device: false,
            device_customer_count: 1,
            distance_km: None,
            speed_kmh: None,
            velocity_count: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    pub(crate) fn tx(at: &str, amount: f64, location: &str) -> Transaction {
        let t = Transaction::sample(1, Timestamp::parse(at).unwrap(), amount, location, "d");
        Transaction { transaction_id: "tx-1".into(), ..t }
    }

    #[test]
    fn time_features_are_utc_and_iso() {
        let cfg = FraudConfig::default();
        // 2025-01-04 is a Saturday, 2025-01-06 a Monday.
        let cases = [
            ("2025-01-03T22:59:59Z", 22, 5, false, false),
            ("2025-01-03T23:00:00Z", 23, 5, false, true),
            ("2025-01-04T00:00:00Z", 0, 6, true, true),
            ("2025-01-05T04:59:59.999999Z", 4, 7, true, true),
            ("2025-01-06T05:00:00Z", 5, 1, false, false),
            ("2025-01-06T01:30:00+02:00", 23, 7, true, true),
        ];
        for (at, hour, dow, weekend, night) in cases {
            let t = tx(at, 1.0, "Paris, France");
            let e = Enrichment::stateless(&t, &cfg);
            assert_eq!((e.hour, e.day_of_week, e.is_weekend, e.is_night), (hour, dow, weekend, night), "{at}");
        }
    }

    #[test]
    fn night_wraps_midnight_or_not() {
        let wrap: Vec<u32> = (0..24).filter(|h| is_night(*h, 23, 5)).collect();
        assert_eq!(wrap, [0, 1, 2, 3, 4, 23]);
        let plain: Vec<u32> = (0..24).filter(|h| is_night(*h, 1, 4)).collect();
        assert_eq!(plain, [1, 2, 3]);
    }

    #[test]
    fn locations_parse_with_and_without_the_geography() {
        let paris = Location::parse(" paris ,  france");
        assert_eq!((paris.city, paris.country, paris.parsed), ("Paris", "France", true));
        assert_eq!(paris.geo.map(|c| c.iso), Some("FR"));
        let odd = Location::parse(" Springfield , Freedonia ");
        assert_eq!((odd.city, odd.country, odd.parsed, odd.geo), ("Springfield", "Freedonia", true, None));
        let comma = Location::parse("Washington, D.C., United States");
        assert_eq!((comma.city, comma.country), ("Washington, D.C.", "United States"));
        for bad in ["  Nowhere  ", "Nowhere, ", ", France", ""] {
            let l = Location::parse(bad);
            assert_eq!((l.city, l.country, l.parsed), (bad.trim(), "", false), "{bad:?}");
        }
    }

    #[test]
    fn high_risk_country_by_city_name_or_code() {
        let cfg = FraudConfig::default();
        for (location, risky) in [
            ("Lagos, Nigeria", true),
            ("Kano, Nigeria", true),
            ("Kano, NG", true),
            ("Paris, France", false),
            ("Somewhere, Atlantis", false),
            ("Nigeria", false),
        ] {
            let t = tx("2025-01-06T12:00:00Z", 1.0, location);
            assert_eq!(Enrichment::stateless(&t, &cfg).is_high_risk_country, risky, "{location}");
        }
    }

    #[test]
    fn amount_bands_and_high_value() {
        let cfg = FraudConfig::default();
        let cases = [
            (0.0, "micro"),
            (9.99, "micro"),
            (10.0, "small"),
            (99.99, "small"),
            (100.0, "medium"),
            (500.0, "large"),
            (4999.99, "large"),
            (5000.0, "very_large"),
            (f64::NAN, "micro"),
        ];
        for (amount, band) in cases {
            assert_eq!(AmountBand::of(amount, &cfg.amount_bands).as_str(), band, "{amount}");
        }
        let e = |a| Enrichment::stateless(&tx("2025-01-06T12:00:00Z", a, "Paris, France"), &cfg).is_high_value;
        assert!(!e(1000.0) && e(1000.01));
    }

    #[test]
    fn zscore_needs_a_baseline_and_stays_finite() {
        let b = Baseline { count: 5, mean: 100.0, std: 10.0 };
        assert_eq!(b.zscore(130.0, 5), Some(3.0));
        assert_eq!(b.zscore(70.0, 5), Some(-3.0));
        assert_eq!(b.zscore(130.0, 6), None);
        let flat = Baseline { count: 5, mean: 20.0, std: 0.0 };
        assert_eq!(flat.zscore(20.0, 5), Some(0.0));
        assert!((flat.zscore(21.0, 5).unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(flat.zscore(f64::INFINITY, 5), None);
        assert_eq!(Baseline::default().zscore(1.0, 0), None);
    }

    #[test]
    fn travel_speed_cases() {
        let paris = city_by_location("Paris, France").unwrap();
        let london = city_by_location("London, United Kingdom").unwrap();
        let hour = 3600 * MICROS_PER_SECOND;
        let from_london = Some((london.lat, london.lon, 0));
        let (d, s) = travel(from_london, Some(paris), hour);
        assert!((340.0..350.0).contains(&d.unwrap()) && (340.0..350.0).contains(&s.unwrap()));
        // Out of order: the absolute time counts.
        assert_eq!(travel(Some((london.lat, london.lon, hour)), Some(paris), 0), (d, s));
        assert_eq!(travel(from_london, Some(paris), 0), (d, Some(MAX_SPEED_KMH)));
        assert_eq!(travel(Some((paris.lat, paris.lon, 5)), Some(paris), 5), (Some(0.0), None));
        assert_eq!(travel(Some((paris.lat, paris.lon, 5)), Some(paris), 6), (Some(0.0), Some(0.0)));
        assert_eq!(travel(None, Some(paris), 0), (None, None));
        assert_eq!(travel(from_london, None, 0), (None, None));
        let (_, s) = travel(from_london, Some(paris), 1);
        assert_eq!(s, Some(MAX_SPEED_KMH));
    }

    #[test]
    fn enrichment_serializes_without_nan() {
        let cfg = FraudConfig::default();
        let t = tx("2025-01-06T12:00:00Z", 42.0, "Lagos, Nigeria");
        let json = serde_json::to_value(Enrichment::stateless(&t, &cfg)).unwrap();
        assert_eq!(json["city"], "Lagos");
        assert_eq!(json["country"], "Nigeria");
        assert_eq!(json["amount_band"], "small");
        assert_eq!(json["day_of_week"], 1);
        assert_eq!(json["is_high_risk_country"], true);
        assert!(json["amount_zscore"].is_null());
    }
}
