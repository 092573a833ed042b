//! The newest closed gold windows in memory, so the KPI lists (`kpi_1m`, `platform_1h`) and the
//! breakdowns (sums of `merchant_payment_country_10m`) are answered without a lake read while the
//! processor runs in this process.
//!
//! What it promises, as [`super::hot`] does for alerts: an answer equals the lake query's
//! (`sql/api/kpis_*.sql`, `sql/api/breakdown_*.sql`) once the processor's current epoch is
//! committed, except that a breakdown's revenue is summed in another order (equal up to
//! floating-point rounding); when it cannot prove that, it answers `None` and the caller asks the
//! lake. The proof is a *horizon* per table: no window the lake holds is missing here unless it
//! starts at or before the horizon. The horizon starts as the newest window start the lake held
//! when the processor started (unknown until [`HotGold::set_lake_newest`] is told; until then
//! every query goes to the lake) and rises to each window evicted. A KPI page is exact when every
//! row it shows, and the one after it, starts after the horizon, or when `from` does; a breakdown
//! when `from` does, or when nothing is missing.
//!
//! A processor emits each (window, key) once (W-9 of [`crate::stream::window`]), possibly a few
//! keys at a time; one reopened in this process replays from its checkpoint and emits
//! some again, so [`HotGold::reset`] empties the tier before each start. Pure logic: no I/O.

use super::hot::{Horizon, page};
use crate::stream::outputs::WindowRow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// 1-minute KPI windows kept: a week.
pub const MINUTE_WINDOWS: usize = 7 * 24 * 60;
/// Hourly summaries kept: 30 days.
pub const HOUR_WINDOWS: usize = 30 * 24;
/// 10-minute merchant x payment method x country windows kept, summed per dimension: a week.
pub const BREAKDOWN_WINDOWS: usize = 7 * 24 * 6;

/// The KPI tables answered from memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KpiTable {
    /// `kpi_1m`
    Minute,
    /// `platform_1h`
    Hour,
}

impl KpiTable {
    pub fn table(self) -> &'static str {
        match self {
            KpiTable::Minute => "kpi_1m",
            KpiTable::Hour => "platform_1h",
        }
    }
}

/// What a breakdown groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Merchant,
    Country,
    PaymentMethod,
}

/// The gold table breakdowns sum.
pub const BREAKDOWN_TABLE: &str = "merchant_payment_country_10m";

/// Orders, revenue and alerts of one key, summed (breakdowns here and in [`super::live`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums {
    pub orders: u64,
    pub revenue: f64,
    pub alerts: u64,
}

impl Sums {
    /// Counts one order.
    pub fn add(&mut self, amount: f64, alert: bool) {
        self.orders += 1;
        self.revenue += amount;
        self.alerts += u64::from(alert);
    }

    pub fn merge(&mut self, other: &Sums) {
        self.orders += other.orders;
        self.revenue += other.revenue;
        self.alerts += other.alerts;
    }
}

/// One 10-minute window summed by each dimension ([`Dimension`] order).
type Summed = [HashMap<String, Sums>; 3];

/// Closed windows of one table by start, the newest `capacity` kept.
#[derive(Debug)]
struct Windows<T> {
    capacity: usize,
    by_start: BTreeMap<i64, T>,
    horizon: Horizon,
}

impl<T: Default> Windows<T> {
    fn new(capacity: usize) -> Self {
        Windows { capacity: capacity.max(1), by_start: BTreeMap::new(), horizon: Horizon::default() }
    }

    fn at(&mut self, start: i64) -> &mut T {
        if self.by_start.len() >= self.capacity
            && !self.by_start.contains_key(&start)
            && let Some((evicted, _)) = self.by_start.pop_first()
        {
            self.horizon.evicted(evicted);
        }
        self.by_start.entry(start).or_default()
    }
}

/// Counts a `merchant_payment_country_10m` row in each dimension's sums.
fn add(summed: &mut Summed, row: &WindowRow) {
    let keys = [&row.merchant, &row.country, &row.payment_method];
    for (sums, key) in summed.iter_mut().zip(keys) {
        let sums = match sums.get_mut(key.as_deref().unwrap_or_default()) {
            Some(sums) => sums,
            None => sums.entry(key.clone().unwrap_or_default()).or_default(),
        };
        sums.merge(&Sums { orders: row.tx_count, revenue: row.revenue, alerts: row.alert_count });
    }
}

/// Window starts in [`from`, `to`) as a map range (empty when `to` is not after `from`).
fn range(from: Option<i64>, to: Option<i64>) -> std::ops::Range<i64> {
    let from = from.unwrap_or(i64::MIN);
    from..to.unwrap_or(i64::MAX).max(from)
}

#[derive(Debug)]
pub struct HotGold {
    minutes: Windows<Option<Arc<WindowRow>>>,
    hours: Windows<Option<Arc<WindowRow>>>,
    breakdowns: Windows<Summed>,
    /// Every breakdown window inserted since the reset, summed.
    totals: Summed,
    /// Resets so far: a horizon read for an earlier processor start is not taken.
    generation: u64,
}

impl Default for HotGold {
    fn default() -> Self {
        HotGold::new(MINUTE_WINDOWS, HOUR_WINDOWS, BREAKDOWN_WINDOWS)
    }
}

impl HotGold {
    pub fn new(minutes: usize, hours: usize, breakdowns: usize) -> Self {
        HotGold {
            minutes: Windows::new(minutes),
            hours: Windows::new(hours),
            breakdowns: Windows::new(breakdowns),
            totals: Summed::default(),
            generation: 0,
        }
    }

    /// Empties the tier, horizons unknown again: a processor is about to start. Returns the
    /// generation to give [`set_lake_newest`](Self::set_lake_newest) for this start.
    pub fn reset(&mut self) -> u64 {
        let (m, h, b) = (self.minutes.capacity, self.hours.capacity, self.breakdowns.capacity);
        let generation = self.generation + 1;
        *self = HotGold { generation, ..HotGold::new(m, h, b) };
        generation
    }

    /// The newest window start the lake held in each table (UTC microseconds, `None`: empty)
    /// since the processor of `generation` started: `kpi_1m`, `platform_1h`,
    /// [`BREAKDOWN_TABLE`]. Ignored when a later start has reset the tier since: a horizon read
    /// before the last start may be older than windows that start will not emit again.
    pub fn set_lake_newest(&mut self, generation: u64, [minute, hour, breakdown]: [Option<i64>; 3]) {
        if generation != self.generation {
            return;
        }
        self.minutes.horizon.set_lake_newest(minute);
        self.hours.horizon.set_lake_newest(hour);
        self.breakdowns.horizon.set_lake_newest(breakdown);
    }

    /// Takes in closed windows as the processor hands them over (other tables are ignored).
    pub fn insert(&mut self, windows: &[(&'static str, WindowRow)]) {
        for (table, row) in windows {
            let start = row.window_start.micros();
            match *table {
                "kpi_1m" => *self.minutes.at(start) = Some(Arc::new(row.clone())),
                "platform_1h" => *self.hours.at(start) = Some(Arc::new(row.clone())),
                BREAKDOWN_TABLE => {
                    add(self.breakdowns.at(start), row);
                    add(&mut self.totals, row);
                }
                _ => {}
            }
        }
    }

    /// The page `offset..offset + limit` of `table`'s windows starting in [`from`, `to`), newest
    /// first, and whether more follow; `None` when this cannot prove it is the lake's page.
    pub fn kpi_page(
        &self,
        table: KpiTable,
        [from, to]: [Option<i64>; 2],
        offset: usize,
        limit: usize,
    ) -> Option<(Vec<Arc<WindowRow>>, bool)> {
        let windows = match table {
            KpiTable::Minute => &self.minutes,
            KpiTable::Hour => &self.hours,
        };
        let horizon = windows.horizon.get()?;
        let newer = |at: i64| horizon.is_none_or(|h| at > h);
        let complete = horizon.is_none() || from.is_some_and(newer);
        let matches =
            windows.by_start.range(range(from, to)).rev().filter_map(|(start, row)| row.clone().map(|r| (*start, r)));
        page(matches, complete, newer, offset, limit)
    }

    /// `dimension`'s keys summed over the windows starting in [`from`, `to`), biggest revenue
    /// first (ties by key), all of them; `None` when windows of the range may be missing.
    pub fn breakdown(&self, dimension: Dimension, [from, to]: [Option<i64>; 2]) -> Option<Vec<(String, Sums)>> {
        let horizon = self.breakdowns.horizon.get()?;
        if horizon.is_some_and(|h| from.is_none_or(|from| from <= h)) {
            return None;
        }
        let mut total: HashMap<&str, Sums> = HashMap::new();
        // All time (here only while nothing was missing or evicted): the running totals.
        let summed: Box<dyn Iterator<Item = &Summed>> = match (from, to) {
            (None, None) => Box::new(std::iter::once(&self.totals)),
            _ => Box::new(self.breakdowns.by_start.range(range(from, to)).map(|(_, s)| s)),
        };
        for summed in summed {
            for (key, sums) in &summed[dimension as usize] {
                total.entry(key).or_default().merge(sums);
            }
        }
        let mut rows: Vec<(String, Sums)> = total.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
        rows.sort_by(|(ka, a), (kb, b)| b.revenue.total_cmp(&a.revenue).then_with(|| ka.cmp(kb)));
        Some(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    const MIN: i64 = 60_000_000;

    fn row(start_min: i64, length_min: i64, keys: [&str; 3], tx: u64, revenue: f64, alerts: u64) -> WindowRow {
        let key = |k: &str| (!k.is_empty()).then(|| k.to_string());
        let start = Timestamp::from_micros(start_min * MIN);
        WindowRow {
            window_start: start,
            window_end: Timestamp::from_micros((start_min + length_min) * MIN),
            merchant: key(keys[0]),
            user_id: None,
            country: key(keys[1]),
            payment_method: key(keys[2]),
            tx_count: tx,
            revenue,
            avg_amount: revenue / tx as f64,
            alert_count: alerts,
            alert_rate: alerts as f64 / tx as f64,
            known_fraud_count: 0,
            known_fraud_rate: 0.0,
            high_value_count: 0,
            high_value_rate: 0.0,
            distinct_customers: 1,
            distinct_devices: 1,
            distinct_merchants: 1,
            payment_mix: "{}".into(),
            event_date: crate::stream::outputs::event_date(start),
        }
    }

    fn starts(page: Option<(Vec<Arc<WindowRow>>, bool)>) -> Option<(Vec<i64>, bool)> {
        page.map(|(rows, more)| (rows.iter().map(|r| r.window_start.micros() / MIN).collect(), more))
    }

    fn minutes(range: std::ops::Range<i64>) -> Vec<(&'static str, WindowRow)> {
        range.map(|m| ("kpi_1m", row(m, 1, ["", "", ""], 1, 1.0, 0))).collect()
    }

    #[test]
    fn nothing_is_answered_until_the_lake_horizon_is_known() {
        let mut hot = HotGold::default();
        hot.insert(&minutes(0..3));
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, None], 0, 2)), None);
        assert_eq!(hot.breakdown(Dimension::Country, [None, None]), None);
        hot.insert(&[
            (BREAKDOWN_TABLE, row(0, 10, ["m", "FR", "card"], 1, 2.0, 1)),
            (BREAKDOWN_TABLE, row(10, 10, ["m", "ES", "card"], 2, 3.0, 0)),
        ]);
        hot.set_lake_newest(0, [None, None, None]);
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, None], 0, 2)), Some((vec![2, 1], true)));
        let all_time = hot.breakdown(Dimension::Merchant, [None, None]);
        assert_eq!(all_time, Some(vec![("m".into(), Sums { orders: 3, revenue: 5.0, alerts: 1 })]));
        assert_eq!(all_time, hot.breakdown(Dimension::Merchant, [Some(0), None]), "the totals are the windows' sum");
        assert_eq!(starts(hot.kpi_page(KpiTable::Hour, [None, None], 0, 2)), Some((vec![], false)));
        let generation = hot.reset();
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, None], 0, 2)), None, "reset forgets the horizon");
        hot.set_lake_newest(generation - 1, [None, None, None]);
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, None], 0, 2)), None, "a horizon of an earlier start");
        hot.set_lake_newest(generation, [None, None, None]);
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, None], 0, 2)), Some((vec![], false)));
    }

    #[test]
    fn kpi_pages_reaching_at_or_before_the_horizon_go_to_the_lake() {
        let mut hot = HotGold::default();
        hot.set_lake_newest(0, [Some(10 * MIN), None, None]);
        hot.insert(&minutes(10..14));
        let all = [None, None];
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, all, 0, 2)), Some((vec![13, 12], true)));
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, all, 1, 3)), None, "the row after is at the horizon");
        assert_eq!(
            starts(hot.kpi_page(KpiTable::Minute, [Some(11 * MIN), None], 0, 9)),
            Some((vec![13, 12, 11], false))
        );
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [Some(10 * MIN), None], 0, 9)), None);
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, Some(13 * MIN)], 0, 1)), Some((vec![12], true)));
        let backwards = [Some(13 * MIN), Some(11 * MIN)];
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, backwards, 0, 1)), Some((vec![], false)));
        assert_eq!(hot.breakdown(Dimension::Merchant, backwards), Some(vec![]));
    }

    #[test]
    fn eviction_raises_the_horizon() {
        let mut hot = HotGold::new(3, 3, 2);
        hot.set_lake_newest(0, [None, None, None]);
        hot.insert(&minutes(0..5));
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, None], 0, 3)), None, "minute 1 was evicted");
        assert_eq!(starts(hot.kpi_page(KpiTable::Minute, [None, None], 0, 2)), Some((vec![4, 3], true)));
        let mpc = |start| (BREAKDOWN_TABLE, row(start, 10, ["m", "FR", "card"], 1, 2.0, 0));
        hot.insert(&[mpc(0), mpc(10), mpc(20)]);
        assert_eq!(hot.breakdown(Dimension::Country, [None, None]), None, "window 0 was evicted");
        assert_eq!(hot.breakdown(Dimension::Country, [Some(MIN), None]).map(|r| r[0].1.orders), Some(2));
    }

    #[test]
    fn breakdowns_sum_each_dimension_over_the_range_biggest_revenue_first() {
        let mut hot = HotGold::default();
        hot.set_lake_newest(0, [None, None, Some(0)]);
        let mpc = |start, keys, tx, revenue, alerts| (BREAKDOWN_TABLE, row(start, 10, keys, tx, revenue, alerts));
        hot.insert(&[
            mpc(0, ["old", "FR", "card"], 9, 900.0, 9),
            mpc(10, ["a", "FR", "card"], 2, 20.0, 1),
            mpc(10, ["b", "FR", "crypto"], 1, 50.0, 1),
            mpc(20, ["a", "ES", "card"], 3, 30.0, 0),
            ("kpi_1m", row(20, 1, ["", "", ""], 5, 5.0, 0)),
        ]);
        let sums = |d, from: i64, to: Option<i64>| {
            hot.breakdown(d, [Some(from * MIN), to.map(|t| t * MIN)])
                .map(|rows| rows.into_iter().map(|(k, s)| (k, s.orders, s.revenue, s.alerts)).collect::<Vec<_>>())
        };
        assert_eq!(sums(Dimension::Merchant, 0, None), None, "window 0 is at the horizon: in the lake");
        assert_eq!(
            sums(Dimension::Merchant, 10, None),
            Some(vec![("a".into(), 5, 50.0, 1), ("b".into(), 1, 50.0, 1)]),
            "ties by key"
        );
        assert_eq!(sums(Dimension::Country, 1, Some(20)), Some(vec![("FR".into(), 3, 70.0, 2)]));
        assert_eq!(
            sums(Dimension::PaymentMethod, 10, None),
            Some(vec![("card".into(), 5, 50.0, 1), ("crypto".into(), 1, 50.0, 1)])
        );
    }
}
