//! The newest fraud alerts in memory, so the alert list and an alert's detail are answered
//! without a lake scan while the processor runs in this process.
//!
//! What it promises: a page it answers is exactly the page the lake query (`sql/api/alerts.sql`:
//! filtered, newest first, ties by alert id) would give once the processor's current epoch is
//! committed; when it cannot prove that, it answers `None` and the caller asks the lake. The proof
//! is the *horizon*: no alert the lake holds is missing here unless its timestamp is at or before
//! the horizon. The horizon starts as the newest alert the lake held when the processor started
//! (unknown until [`HotAlerts::set_lake_newest`] is told, and then every query goes to the lake),
//! and rises to each alert evicted to keep at most `capacity`. A page is exact when every row it
//! shows, and the one after it (which decides `next_offset`), is newer than the horizon, or when
//! the query's `from` is newer than the horizon (nothing missing can match).
//!
//! Alerts arrive as the processor hands an epoch to the committer, ahead of the lake by up to one
//! checkpoint; a replayed epoch brings the same alerts with the same ids (they are deterministic),
//! which replace themselves. Pure logic: no I/O; [`super::Live`] owns one and feeds it.

use crate::stream::outputs::AlertRow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Alerts kept (about 1 kB each with their strings and keys).
pub const CAPACITY: usize = 20_000;

/// The filters of the alert list (`None`: any); times in UTC microseconds, `from` inclusive and
/// `to` exclusive.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFilter {
    pub risk_level: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub merchant: Option<String>,
    pub user_id: Option<String>,
}

impl AlertFilter {
    fn matches(&self, alert: &AlertRow) -> bool {
        self.risk_level.as_deref().is_none_or(|l| l == alert.risk_level)
            && self.merchant.as_deref().is_none_or(|m| m == alert.merchant)
            && self.user_id.as_deref().is_none_or(|u| u == alert.user_id)
    }
}

/// Newest first, ties by alert id: the lake query's order.
type Key = (Reverse<i64>, String);

/// Where a tier's proof stops: no row the lake holds is missing from the tier unless its time is
/// at or before the horizon (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Horizon {
    /// The newest row the lake held at the start: `None` until told, `Some(None)` for none.
    lake_newest: Option<Option<i64>>,
    /// The newest row evicted.
    evicted_newest: Option<i64>,
}

impl Horizon {
    pub(super) fn set_lake_newest(&mut self, micros: Option<i64>) {
        self.lake_newest = Some(micros);
    }

    pub(super) fn evicted(&mut self, micros: i64) {
        self.evicted_newest = self.evicted_newest.max(Some(micros));
    }

    /// `None` while the horizon is unknown; `Some(None)` when nothing is missing.
    pub(super) fn get(&self) -> Option<Option<i64>> {
        self.lake_newest.map(|lake| lake.max(self.evicted_newest))
    }
}

/// The page `offset..offset + limit` of `rows` (time and row, in the lake query's order) and
/// whether more follow; `None` unless the tier is `complete` for the query or every row the page
/// needs (those skipped, the page and the row after it) is `newer` than the horizon.
pub(super) fn page<T>(
    mut rows: impl Iterator<Item = (i64, T)>,
    complete: bool,
    newer: impl Fn(i64) -> bool,
    offset: usize,
    limit: usize,
) -> Option<(Vec<T>, bool)> {
    let mut kept = Vec::with_capacity(limit + 1);
    for i in 0..=offset + limit {
        let row = rows.next();
        if !complete && row.as_ref().is_none_or(|(at, _)| !newer(*at)) {
            return None;
        }
        match row {
            Some((_, row)) if i >= offset => kept.push(row),
            Some(_) => {}
            None => break,
        }
    }
    let more = kept.len() > limit;
    kept.truncate(limit);
    Some((kept, more))
}

#[derive(Debug)]
pub struct HotAlerts {
    capacity: usize,
    alerts: BTreeMap<Key, Arc<AlertRow>>,
    /// alert id -> timestamp, to find an alert by id.
    ids: HashMap<String, i64>,
    horizon: Horizon,
}

impl Default for HotAlerts {
    fn default() -> Self {
        HotAlerts::new(CAPACITY)
    }
}

impl HotAlerts {
    pub fn new(capacity: usize) -> Self {
        HotAlerts {
            capacity: capacity.max(1),
            alerts: BTreeMap::new(),
            ids: HashMap::new(),
            horizon: Horizon::default(),
        }
    }

    /// The newest alert timestamp the lake held before this processor's first epoch (`None`: the
    /// lake held none); read from the lake at any time after the processor started.
    pub fn set_lake_newest(&mut self, micros: Option<i64>) {
        self.horizon.set_lake_newest(micros);
    }

    pub fn insert(&mut self, alerts: &[AlertRow]) {
        for alert in alerts {
            let at = alert.timestamp.micros();
            if let Some(old) = self.ids.insert(alert.alert_id.clone(), at) {
                self.alerts.remove(&(Reverse(old), alert.alert_id.clone()));
            }
            self.alerts.insert((Reverse(at), alert.alert_id.clone()), Arc::new(alert.clone()));
        }
        while self.alerts.len() > self.capacity {
            let Some(((Reverse(at), id), _)) = self.alerts.pop_last() else { break };
            self.ids.remove(&id);
            self.horizon.evicted(at);
        }
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// The page `offset..offset + limit` of the filtered list and whether more follow, or `None`
    /// when this cannot prove it is the lake's page (see the module docs).
    pub fn page(&self, filter: &AlertFilter, offset: usize, limit: usize) -> Option<(Vec<Arc<AlertRow>>, bool)> {
        let horizon = self.horizon.get()?;
        let newer = |at: i64| horizon.is_none_or(|h| at > h);
        // Nothing is missing, or nothing missing can match: every match is here.
        let complete = horizon.is_none() || filter.from.is_some_and(newer);
        let start = match filter.to {
            Some(to) => (Reverse(to.saturating_sub(1)), String::new()),
            None => (Reverse(i64::MAX), String::new()),
        };
        let matches = self
            .alerts
            .range(start..)
            .map(|(_, alert)| alert)
            .take_while(|a| filter.from.is_none_or(|from| a.timestamp.micros() >= from))
            .filter(|a| filter.matches(a))
            .map(|a| (a.timestamp.micros(), a));
        let (rows, more) = page(matches, complete, newer, offset, limit)?;
        Some((rows.into_iter().cloned().collect(), more))
    }

    /// One alert by id, when it is here.
    pub fn get(&self, alert_id: &str) -> Option<Arc<AlertRow>> {
        let at = *self.ids.get(alert_id)?;
        self.alerts.get(&(Reverse(at), alert_id.to_string())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    fn alert(id: &str, secs: i64, level: &'static str, merchant: &str, user: &str) -> AlertRow {
        let timestamp = Timestamp::from_micros(secs * 1_000_000);
        AlertRow {
            alert_id: id.into(),
            transaction_id: format!("tx-{id}"),
            user_id: user.into(),
            timestamp,
            amount: 100.0,
            merchant: merchant.into(),
            country: "US".into(),
            payment_method: "credit_card",
            risk_score: 80,
            risk_level: level,
            reasons: "known_fraud:50,amount_over_5000:30".into(),
            rules_version: "r1".into(),
            model_version: None,
            event_date: crate::stream::outputs::event_date(timestamp),
        }
    }

    fn ids(page: Option<(Vec<Arc<AlertRow>>, bool)>) -> Option<(Vec<String>, bool)> {
        page.map(|(rows, more)| (rows.iter().map(|a| a.alert_id.clone()).collect(), more))
    }

    /// The lake query's answer over `all`, written the obvious way.
    fn reference(all: &[AlertRow], f: &AlertFilter, offset: usize, limit: usize) -> (Vec<String>, bool) {
        let mut rows: Vec<&AlertRow> = all
            .iter()
            .filter(|a| f.matches(a))
            .filter(|a| f.from.is_none_or(|x| a.timestamp.micros() >= x))
            .filter(|a| f.to.is_none_or(|x| a.timestamp.micros() < x))
            .collect();
        rows.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| a.alert_id.cmp(&b.alert_id)));
        let more = rows.len() > offset + limit;
        (rows.iter().skip(offset).take(limit).map(|a| a.alert_id.clone()).collect(), more)
    }

    #[test]
    fn nothing_is_answered_until_the_lake_horizon_is_known() {
        let mut hot = HotAlerts::new(10);
        hot.insert(&[alert("a", 10, "HIGH", "m", "u")]);
        assert_eq!(ids(hot.page(&AlertFilter::default(), 0, 5)), None);
        hot.set_lake_newest(None);
        assert_eq!(ids(hot.page(&AlertFilter::default(), 0, 5)), Some((vec!["a".into()], false)));
    }

    #[test]
    fn pages_reaching_at_or_before_the_horizon_go_to_the_lake() {
        let mut hot = HotAlerts::new(10);
        hot.set_lake_newest(Some(100 * 1_000_000));
        hot.insert(&[
            alert("a", 100, "HIGH", "m", "u"),
            alert("b", 101, "HIGH", "m", "u"),
            alert("c", 102, "HIGH", "m", "u"),
        ]);
        let all = AlertFilter::default();
        // b and c are newer than the horizon, and so is the row after them? No: a is at it.
        assert_eq!(ids(hot.page(&all, 0, 1)), Some((vec!["c".into()], true)));
        assert_eq!(ids(hot.page(&all, 0, 2)), None, "the row deciding `more` is at the horizon");
        assert_eq!(ids(hot.page(&all, 1, 5)), None);
        // From after the horizon: nothing in the lake can match, so the short page is exact.
        let recent = AlertFilter { from: Some(101 * 1_000_000), ..Default::default() };
        assert_eq!(ids(hot.page(&recent, 0, 5)), Some((vec!["c".into(), "b".into()], false)));
        let at_horizon = AlertFilter { from: Some(100 * 1_000_000), ..Default::default() };
        assert_eq!(ids(hot.page(&at_horizon, 0, 5)), None);
    }

    #[test]
    fn eviction_raises_the_horizon_to_the_newest_evicted_alert() {
        let mut hot = HotAlerts::new(2);
        hot.set_lake_newest(None);
        hot.insert(&[
            alert("a", 1, "HIGH", "m", "u"),
            alert("b", 2, "HIGH", "m", "u"),
            alert("c", 3, "HIGH", "m", "u"),
        ]);
        assert_eq!(hot.len(), 2);
        assert!(hot.get("a").is_none() && hot.get("c").is_some());
        assert_eq!(ids(hot.page(&AlertFilter::default(), 0, 1)), Some((vec!["c".into()], true)));
        assert_eq!(ids(hot.page(&AlertFilter::default(), 0, 2)), None, "a, evicted, might follow b");
    }

    #[test]
    fn a_replayed_alert_replaces_itself() {
        let mut hot = HotAlerts::new(10);
        hot.set_lake_newest(None);
        hot.insert(&[alert("a", 1, "HIGH", "m", "u")]);
        hot.insert(&[alert("a", 1, "HIGH", "m", "u")]);
        assert_eq!(hot.len(), 1);
        assert_eq!(ids(hot.page(&AlertFilter::default(), 0, 5)), Some((vec!["a".into()], false)));
    }

    /// Every page the tier answers equals the reference over all alerts (those in the lake before
    /// the start and those that arrived since), over filters, offsets and evictions.
    #[test]
    fn every_answered_page_equals_the_lake_query() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let levels = ["CRITICAL", "HIGH"];
        // Times mostly rise, as they do in a stream, with some arriving out of order.
        let make = |i: usize, secs: std::ops::Range<i64>, rng: &mut rand_xoshiro::Xoshiro256PlusPlus| {
            let secs = rng.random_range(secs);
            alert(
                &format!("id{i:04}"),
                secs,
                levels[rng.random_range(0..2)],
                &format!("m{}", rng.random_range(0..3)),
                &format!("u{}", rng.random_range(0..5)),
            )
        };
        let before: Vec<AlertRow> = (0..50).map(|i| make(i, 0..100, &mut rng)).collect();
        let mut hot = HotAlerts::new(60);
        hot.set_lake_newest(before.iter().map(|a| a.timestamp.micros()).max());
        let mut all = before;
        let (mut answered, mut asked) = (0, 0);
        for round in 0..40 {
            let arrived: Vec<AlertRow> = (0..10)
                .map(|i| make(1000 + round * 10 + i, 80 + round as i64 * 8..120 + round as i64 * 8, &mut rng))
                .collect();
            hot.insert(&arrived);
            all.extend(arrived);
            for _ in 0..50 {
                let pick = |rng: &mut rand_xoshiro::Xoshiro256PlusPlus, v: String| rng.random_bool(0.3).then_some(v);
                let from = rng.random_bool(0.3).then(|| rng.random_range(0..450) * 1_000_000);
                let to = rng.random_bool(0.3).then(|| rng.random_range(0..450) * 1_000_000);
                let level = levels[rng.random_range(0..2)].to_string();
                let merchant = format!("m{}", rng.random_range(0..3));
                let user = format!("u{}", rng.random_range(0..5));
                let f = AlertFilter {
                    risk_level: pick(&mut rng, level),
                    from,
                    to,
                    merchant: pick(&mut rng, merchant),
                    user_id: pick(&mut rng, user),
                };
                let (offset, limit) = (rng.random_range(0..5), rng.random_range(1..8));
                asked += 1;
                if let Some(page) = ids(hot.page(&f, offset, limit)) {
                    answered += 1;
                    assert_eq!(page, reference(&all, &f, offset, limit), "{f:?} offset {offset} limit {limit}");
                }
            }
        }
        assert!(answered > asked / 4, "the tier answered {answered} of {asked}");
    }
}
