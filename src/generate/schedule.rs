//! When episodes arrive: a Poisson process in event time whose rate follows the hour of day and
//! the weekday (UTC), and the mix of episode kinds that turns `transactions_per_hour`,
//! `conversion_rate`, `online_share` and `fraud_rate` into episode rates.

use super::Params;
use super::fraud::{expected_extra_legit, expected_labelled};
use super::session::EXPECTED_LINES;
use crate::model::{MICROS_PER_SECOND, Timestamp};
use rand::Rng;
use rand_distr::Exp1;

/// Relative traffic by UTC hour: quiet before dawn, a lunch bump, an evening peak.
const HOUR_SHAPE: [f64; 24] = [
    0.55, 0.40, 0.30, 0.25, 0.25, 0.30, 0.45, 0.65, 0.85, 1.00, 1.10, 1.15, 1.20, 1.15, 1.10, 1.10, 1.15, 1.25, 1.40,
    1.55, 1.60, 1.50, 1.20, 0.85,
];

/// Relative traffic by weekday, Monday first: shoppers buy more at the weekend.
const WEEKDAY_SHAPE: [f64; 7] = [0.92, 0.90, 0.93, 0.96, 1.04, 1.15, 1.10];

/// Night hours (UTC), when fraud takes other forms.
const NIGHT: std::ops::RangeInclusive<u32> = 0..=4;
const LATE: u32 = 23;

/// The traffic weight of an hour of day (UTC), 1.0 on average over the day.
pub fn hour_weight(hour: u32) -> f64 {
    HOUR_SHAPE[hour as usize % 24] * 24.0 / HOUR_SHAPE.iter().sum::<f64>()
}

/// The traffic weight of a weekday (Monday = 0), 1.0 on average over the week.
pub fn weekday_weight(weekday: u32) -> f64 {
    WEEKDAY_SHAPE[weekday as usize % 7] * 7.0 / WEEKDAY_SHAPE.iter().sum::<f64>()
}

pub(crate) fn is_night(hour: u32) -> bool {
    NIGHT.contains(&hour) || hour == LATE
}

/// What an episode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EpisodeKind {
    Session,
    Offline,
    Fraud,
}

/// Average episode rates per hour of event time, before shaping by hour and weekday. Fraud
/// episodes are rated so that fraud transactions keep their share in every hour, by day and by
/// night, whatever the scenario mix.
#[derive(Clone, Debug)]
pub(crate) struct Mix {
    /// Hour-of-week traffic shape (Monday 00:00 UTC first).
    shape: [f64; 168],
    sessions: f64,
    /// Offline purchases and fraud episodes, by day and at night.
    offline: [f64; 2],
    fraud: [f64; 2],
}

impl Mix {
    pub fn new(p: &Params) -> Mix {
        let legit = p.transactions_per_hour * (1.0 - p.fraud_rate);
        let sessions = legit * p.online_share / (p.conversion_rate * EXPECTED_LINES);
        let fraud = |night| p.transactions_per_hour * p.fraud_rate / expected_labelled(night);
        // Impossible travel brings a genuine transaction along; take it from the offline ones.
        let offline = |night| (legit * (1.0 - p.online_share) - fraud(night) * expected_extra_legit(night)).max(0.0);
        let shape = std::array::from_fn(|i| weekday_weight(i as u32 / 24) * hour_weight(i as u32 % 24));
        Mix { shape, sessions, offline: [offline(false), offline(true)], fraud: [fraud(false), fraud(true)] }
    }

    /// Draws the kind of an episode starting at `t` and the gap (in microseconds) to the next one.
    pub fn draw(&self, rng: &mut impl Rng, t: Timestamp) -> (EpisodeKind, i64) {
        let shape = self.shape[(t.weekday() * 24 + t.hour()) as usize];
        let night = is_night(t.hour()) as usize;
        let (s, o, f) = (self.sessions * shape, self.offline[night] * shape, self.fraud[night] * shape);
        let total = s + o + f;
        let x = rng.random::<f64>() * total;
        let kind = if x < f {
            EpisodeKind::Fraud
        } else if x < f + o {
            EpisodeKind::Offline
        } else {
            EpisodeKind::Session
        };
        let hours: f64 = rng.sample::<f64, _>(Exp1) / total.max(1e-9);
        let gap = (hours * 3_600.0 * MICROS_PER_SECOND as f64).min(86_400.0 * 365.0 * MICROS_PER_SECOND as f64);
        (kind, gap as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_average_to_one() {
        let h: f64 = (0..24).map(hour_weight).sum::<f64>() / 24.0;
        let d: f64 = (0..7).map(weekday_weight).sum::<f64>() / 7.0;
        assert!((h - 1.0).abs() < 1e-9 && (d - 1.0).abs() < 1e-9);
        assert!(hour_weight(20) > 2.0 * hour_weight(3));
        assert!(weekday_weight(5) > weekday_weight(1));
    }
}
