//! The live view behind the dashboard: what the processor just produced, folded as it is handed
//! to the committer, plus the processor's status.
//!
//! What it promises: every transaction, click and alert the processor emits is counted once in
//! the per-minute buckets of its event time, as long as that minute is among the newest
//! [`MINUTES`] minutes seen (older ones are dropped, not counted elsewhere); the view is what the
//! processor computed, ahead of the lake commit by up to one checkpoint interval, and after a
//! crash it restarts empty (the lake and the gold tables are the record, this is a window on it).
//! `status` is the processor's last report. A snapshot is consistent with itself: it is taken
//! under one lock.
//!
//! Pure logic: no I/O and no async; the server reads [`Live::snapshot`], the processor's
//! committer thread calls [`Live::fold`] and the processing thread's status hook [`Live::status`].

use super::hot::{AlertFilter, HotAlerts};
use super::hot_customers::{CustomerAlert, CustomerTx, HotCustomers, Shared, customer_alert, customer_tx};
use super::hot_gold::{Dimension, HotGold, KpiTable, Sums};
use crate::model::{ClickType, Timestamp};
use crate::stream::outputs::{AlertRow, Outputs};
use crate::stream::runtime::Status;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Event-time minutes kept.
pub const MINUTES: usize = 60;
/// Minutes summed in the headline cards.
pub const RECENT_MINUTES: i64 = 10;
/// Alerts kept, newest first.
pub const ALERTS: usize = 50;
/// Latency points kept (one per [`LATENCY_STEP`] of wall-clock time).
pub const LATENCY_POINTS: usize = 120;
pub const LATENCY_STEP: Duration = Duration::from_secs(5);
/// Events per second are measured over this much wall-clock time.
const RATE_SPAN: Duration = Duration::from_secs(5);
const MICROS_PER_MINUTE: i64 = 60_000_000;

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// Wall-clock time the snapshot was taken (RFC 3339).
    #[schema(value_type = String)]
    pub as_of: Timestamp,
    /// `open` when the server runs without credentials (loopback only), else `authenticated`.
    pub mode: &'static str,
    pub status: StatusView,
    pub last_10m: Recent,
    /// Oldest first, one per event-time minute with data.
    pub minutes: Vec<MinuteView>,
    /// Oldest first, one per 5 s of wall-clock time.
    pub latency: Vec<LatencyPoint>,
    /// Over the kept minutes, biggest revenue first.
    pub by_category: Vec<Breakdown>,
    pub by_payment_method: Vec<Breakdown>,
    pub by_country: Vec<Breakdown>,
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<AlertRow>,
}

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    /// Whether a processor reports to this server.
    pub running: bool,
    pub epoch: u64,
    pub committed_epoch: u64,
    #[schema(value_type = Option<String>)]
    pub last_checkpoint: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub watermark: Option<Timestamp>,
    pub watermark_lag_secs: Option<f64>,
    pub consumer_lag_records: Option<u64>,
    pub events_per_sec: f64,
    pub transactions: u64,
    pub clicks: u64,
    pub dead_letters: u64,
    pub late_events: u64,
    pub alerts: u64,
    pub windows_closed: u64,
    pub open_windows: u64,
    pub open_sessions: u64,
    pub customers: u64,
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    pub latency_p999_us: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Recent {
    pub orders: u64,
    pub revenue: f64,
    pub avg_order_value: f64,
    pub alerts: u64,
    /// Alerts per order, 0 to 1.
    pub fraud_rate: f64,
    /// Purchases per page view, 0 to 1; absent without page views.
    pub conversion_rate: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MinuteView {
    #[schema(value_type = String)]
    pub minute: Timestamp,
    pub orders: u64,
    pub revenue: f64,
    pub alerts: u64,
    pub page_views: u64,
    pub cart_adds: u64,
    pub purchases: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LatencyPoint {
    #[schema(value_type = String)]
    pub at: Timestamp,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Breakdown {
    pub key: String,
    pub orders: u64,
    pub revenue: f64,
    pub alerts: u64,
}

#[derive(Debug, Default)]
struct Minute {
    index: i64,
    view: MinuteView,
    by_category: HashMap<String, Sums>,
    by_payment_method: HashMap<&'static str, Sums>,
    by_country: HashMap<String, Sums>,
}

/// The fold of the processor's outputs and status; see the module docs.
#[derive(Debug, Default)]
pub struct LiveView {
    /// Ascending by minute index, at most [`MINUTES`], the newest minute seen last.
    minutes: VecDeque<Minute>,
    alerts: VecDeque<AlertRow>,
    latency: VecDeque<LatencyPoint>,
    /// Samples of the current latency step and when it began.
    pending_latency: Vec<u64>,
    step_started: Option<Instant>,
    status: StatusView,
    /// (when, events read so far) of recent status reports, for the rate.
    reads: VecDeque<(Instant, u64)>,
    /// When the processor last reported.
    reported: Option<Instant>,
}

impl Minute {
    fn new(index: i64) -> Self {
        let minute = Timestamp::from_micros(index * MICROS_PER_MINUTE);
        Minute { index, view: MinuteView { minute, ..Default::default() }, ..Default::default() }
    }
}

fn merge<K: std::hash::Hash + Eq>(into: &mut HashMap<K, Sums>, from: HashMap<K, Sums>) {
    for (key, sums) in from {
        into.entry(key).or_default().merge(&sums);
    }
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Sums>, key: K, amount: f64, alert: bool) {
    map.entry(key).or_default().add(amount, alert);
}

impl LiveView {
    /// The bucket of `time`'s minute, made if it is new; `None` when older than every kept one.
    fn minute(&mut self, time: Timestamp) -> Option<&mut Minute> {
        let index = time.micros().div_euclid(MICROS_PER_MINUTE);
        let newest = self.minutes.back().map(|m| m.index);
        if newest.is_none_or(|n| index > n) {
            self.minutes.push_back(Minute::new(index));
            while let Some(front) = self.minutes.front()
                && front.index <= index - MINUTES as i64
            {
                self.minutes.pop_front();
            }
            return self.minutes.back_mut();
        }
        if index <= newest.unwrap_or(i64::MIN) - MINUTES as i64 {
            return None;
        }
        let at = self.minutes.partition_point(|m| m.index < index);
        if self.minutes.get(at).is_none_or(|m| m.index != index) {
            self.minutes.insert(at, Minute::new(index));
        }
        self.minutes.get_mut(at)
    }

    /// Counts what one handover of the processor's outputs holds.
    pub fn fold(&mut self, outputs: &Outputs) {
        for row in &outputs.silver_transactions {
            let tx = &*row.tx;
            let Some(m) = self.minute(tx.timestamp) else { continue };
            m.view.orders += 1;
            m.view.revenue += tx.amount;
            m.view.alerts += u64::from(row.is_alert);
            let category = tx.category.as_deref().unwrap_or("unknown");
            match m.by_category.get_mut(category) {
                Some(sums) => sums.add(tx.amount, row.is_alert),
                None => bump(&mut m.by_category, category.to_string(), tx.amount, row.is_alert),
            }
            bump(
                &mut m.by_payment_method,
                crate::model::Vocabulary::as_str(tx.payment_method),
                tx.amount,
                row.is_alert,
            );
            match m.by_country.get_mut(row.country.as_str()) {
                Some(sums) => sums.add(tx.amount, row.is_alert),
                None => bump(&mut m.by_country, row.country.to_string(), tx.amount, row.is_alert),
            }
        }
        for row in &outputs.bronze_clickstream {
            let click = &row.click;
            let Some(m) = self.minute(click.event_timestamp) else { continue };
            match click.event_type {
                ClickType::PageView => m.view.page_views += 1,
                ClickType::AddToCart => m.view.cart_adds += 1,
                ClickType::Purchase => m.view.purchases += 1,
                _ => {}
            }
        }
        for alert in &outputs.alerts {
            self.alerts.push_front(alert.clone());
        }
        self.alerts.truncate(ALERTS);
    }

    /// Takes in the minutes and alerts of `part`, a view that only folded outputs; the same as
    /// folding those outputs here, except that a batch spanning more than [`MINUTES`] minutes
    /// keeps only its newest ones. Costs a few map merges per minute, not one per row.
    fn absorb(&mut self, part: LiveView) {
        for m in part.minutes {
            let Some(into) = self.minute(m.view.minute) else { continue };
            let (v, w) = (&mut into.view, &m.view);
            v.orders += w.orders;
            v.revenue += w.revenue;
            v.alerts += w.alerts;
            v.page_views += w.page_views;
            v.cart_adds += w.cart_adds;
            v.purchases += w.purchases;
            merge(&mut into.by_category, m.by_category);
            merge(&mut into.by_payment_method, m.by_payment_method);
            merge(&mut into.by_country, m.by_country);
        }
        for alert in part.alerts.into_iter().rev() {
            self.alerts.push_front(alert);
        }
        self.alerts.truncate(ALERTS);
    }

    /// Takes the processor's status report made at `at` (wall clock `now`), with the consumer
    /// lag when the caller knows it.
    pub fn status(&mut self, status: &Status, lag: Option<u64>, at: Instant, now: Timestamp) {
        let c = &status.counters;
        let read = c.transactions + c.clicks + c.dead_letters;
        // The first report's committed epoch is the one resumed from, not one written now.
        let first = self.reported.replace(at).is_none();
        self.reads.push_back((at, read));
        while self.reads.len() > 2 && self.reads.get(1).is_some_and(|(t, _)| at.duration_since(*t) >= RATE_SPAN) {
            self.reads.pop_front();
        }
        let events_per_sec = match (self.reads.front(), self.reads.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => n1.saturating_sub(*n0) as f64 / (*t1 - *t0).as_secs_f64(),
            _ => 0.0,
        };
        let last_checkpoint = if !first && status.committed_epoch > self.status.committed_epoch {
            Some(now)
        } else {
            self.status.last_checkpoint
        };
        self.pending_latency.extend_from_slice(&status.latency_us);
        let step_started = *self.step_started.get_or_insert(at);
        if at.duration_since(step_started) >= LATENCY_STEP {
            if !self.pending_latency.is_empty() {
                self.pending_latency.sort_unstable();
                let p = &self.pending_latency;
                self.latency.push_back(LatencyPoint {
                    at: now,
                    p50_us: quantile(p, 0.5),
                    p99_us: quantile(p, 0.99),
                    max_us: *p.last().unwrap_or(&0),
                });
                while self.latency.len() > LATENCY_POINTS {
                    self.latency.pop_front();
                }
            }
            self.pending_latency.clear();
            self.step_started = Some(at);
        }
        let mut recent: Vec<u64> = status.latency_us.clone();
        recent.sort_unstable();
        let pick = |q| (!recent.is_empty()).then(|| quantile(&recent, q));
        let (p50, p99, p999) = match pick(0.5) {
            Some(p50) => (Some(p50), pick(0.99), pick(0.999)),
            // No transaction since the last report: keep the last figures.
            None => (self.status.latency_p50_us, self.status.latency_p99_us, self.status.latency_p999_us),
        };
        self.status = StatusView {
            running: true,
            epoch: status.epoch,
            committed_epoch: status.committed_epoch,
            last_checkpoint,
            watermark: status.watermark,
            watermark_lag_secs: status.watermark.map(|w| (now.micros() - w.micros()) as f64 / 1e6),
            consumer_lag_records: lag,
            events_per_sec,
            transactions: c.transactions,
            clicks: c.clicks,
            dead_letters: c.dead_letters,
            late_events: c.late_events,
            alerts: c.alerts,
            windows_closed: c.windows_closed,
            open_windows: status.open_windows as u64,
            open_sessions: status.open_sessions as u64,
            customers: status.customers as u64,
            latency_p50_us: p50,
            latency_p99_us: p99,
            latency_p999_us: p999,
        };
    }

    /// The processor stopped: the status stays as last reported, marked not running.
    pub fn stopped(&mut self) {
        self.status.running = false;
        self.status.events_per_sec = 0.0;
        self.reads.clear();
    }

    pub fn snapshot(&self, now: Timestamp, open: bool) -> Snapshot {
        let newest = self.minutes.back().map_or(i64::MIN, |m| m.index);
        let mut recent = Sums::default();
        let (mut views, mut purchases) = (0u64, 0u64);
        let mut category: HashMap<&str, Sums> = HashMap::new();
        let mut payment: HashMap<&str, Sums> = HashMap::new();
        let mut country: HashMap<&str, Sums> = HashMap::new();
        for m in &self.minutes {
            if m.index > newest - RECENT_MINUTES {
                recent.merge(&Sums { orders: m.view.orders, revenue: m.view.revenue, alerts: m.view.alerts });
                views += m.view.page_views;
                purchases += m.view.purchases;
            }
            m.by_category.iter().for_each(|(k, s)| category.entry(k.as_str()).or_default().merge(s));
            m.by_payment_method.iter().for_each(|(k, s)| payment.entry(*k).or_default().merge(s));
            m.by_country.iter().for_each(|(k, s)| country.entry(k.as_str()).or_default().merge(s));
        }
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Snapshot {
            as_of: now,
            mode: if open { "open" } else { "authenticated" },
            status: self.status.clone(),
            last_10m: Recent {
                orders: recent.orders,
                revenue: recent.revenue,
                avg_order_value: ratio(recent.revenue, recent.orders as f64),
                alerts: recent.alerts,
                fraud_rate: ratio(recent.alerts as f64, recent.orders as f64),
                conversion_rate: (views > 0).then(|| purchases as f64 / views as f64),
            },
            minutes: self.minutes.iter().map(|m| m.view.clone()).collect(),
            latency: self.latency.iter().cloned().collect(),
            by_category: ranked(category),
            by_payment_method: ranked(payment),
            by_country: ranked(country),
            alerts: self.alerts.iter().cloned().collect(),
        }
    }
}

/// The `q` quantile of sorted, non-empty samples (nearest rank).
fn quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ranked(map: HashMap<&str, Sums>) -> Vec<Breakdown> {
    let mut rows: Vec<Breakdown> = map
        .into_iter()
        .map(|(key, s)| Breakdown { key: key.to_string(), orders: s.orders, revenue: s.revenue, alerts: s.alerts })
        .collect();
    rows.sort_by(|a, b| b.revenue.total_cmp(&a.revenue).then_with(|| a.key.cmp(&b.key)));
    rows
}

/// Rows taken into [`HotCustomers`] per write lock, so that a customer read waits for a short
/// slice of a handover, not all of it.
const CUSTOMER_ROWS_PER_LOCK: usize = 512;

/// A [`LiveView`] and the tiers answering reads from memory ([`HotAlerts`], [`HotGold`],
/// [`HotCustomers`]), shared by the processor's threads and the server.
#[derive(Clone, Debug, Default)]
pub struct Live {
    view: Arc<Mutex<LiveView>>,
    hot: Arc<RwLock<HotAlerts>>,
    gold: Arc<RwLock<HotGold>>,
    customers: Arc<RwLock<HotCustomers>>,
    /// The strings customer rows share; used on the committer thread only.
    shared: Arc<Mutex<Shared>>,
}

impl Live {
    /// With room for `customer_rows` rows in the customer tier (0: off).
    pub fn new(customer_rows: usize) -> Live {
        let customers = HotCustomers::new(super::hot_customers::PER_CUSTOMER, customer_rows);
        Live { customers: Arc::new(RwLock::new(customers)), ..Live::default() }
    }

    fn lock(&self) -> MutexGuard<'_, LiveView> {
        self.view.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn hot(&self) -> RwLockReadGuard<'_, HotAlerts> {
        self.hot.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Folds one handover (on the committer thread): the rows are folded outside the lock and
    /// only the result merged under it, so that the server's reads wait for a few map merges at
    /// most, not for a batch of rows.
    pub fn fold(&self, outputs: &Outputs) {
        let mut part = LiveView::default();
        part.fold(outputs);
        self.lock().absorb(part);
        if !outputs.alerts.is_empty() {
            self.hot.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(&outputs.alerts);
        }
        if !outputs.windows.is_empty() {
            self.gold_mut().insert(&outputs.windows);
        }
        if (!outputs.silver_transactions.is_empty() || !outputs.alerts.is_empty()) && !self.customers().is_off() {
            self.fold_customers(outputs);
        }
    }

    /// Takes the transactions and alerts into [`HotCustomers`]: made outside the lock, taken in
    /// a slice at a time.
    fn fold_customers(&self, outputs: &Outputs) {
        let (transactions, alerts): (Vec<(String, CustomerTx)>, Vec<CustomerAlert>) = {
            let mut shared = self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let transactions = outputs.silver_transactions.iter().map(|row| customer_tx(row, &mut shared)).collect();
            (transactions, outputs.alerts.iter().map(|alert| customer_alert(alert, &mut shared)).collect())
        };
        self.in_slices(transactions, |customers, (user_id, tx)| customers.insert(&user_id, tx));
        self.in_slices(alerts, HotCustomers::insert_alert);
        metrics::gauge!(crate::telemetry::metrics::CUSTOMER_ROWS).set(self.customers().len() as f64);
    }

    /// Takes `rows` into [`HotCustomers`], [`CUSTOMER_ROWS_PER_LOCK`] per write lock.
    fn in_slices<T>(&self, rows: Vec<T>, mut take: impl FnMut(&mut HotCustomers, T)) {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut customers = self.customers_mut();
            rows.by_ref().take(CUSTOMER_ROWS_PER_LOCK).for_each(|row| take(&mut customers, row));
        }
    }

    fn gold(&self) -> RwLockReadGuard<'_, HotGold> {
        self.gold.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn gold_mut(&self) -> RwLockWriteGuard<'_, HotGold> {
        self.gold.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn customers_mut(&self) -> RwLockWriteGuard<'_, HotCustomers> {
        self.customers.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Empties the in-memory gold windows and customers' transactions: a processor is about to
    /// start ([`HotGold::reset`], [`HotCustomers::reset`]). Returns the generation to give the
    /// horizons read for this start.
    pub fn reset(&self) -> u64 {
        let generation = self.gold_mut().reset();
        let customers = self.customers_mut().reset();
        metrics::gauge!(crate::telemetry::metrics::CUSTOMER_ROWS).set(0.0);
        debug_assert_eq!(generation, customers, "both tiers are reset together");
        generation
    }

    /// See [`HotCustomers::set_lake_newest`].
    pub fn set_lake_newest_customers(&self, generation: u64, transaction: Option<i64>, alert: Option<i64>) {
        self.customers_mut().set_lake_newest(generation, transaction, alert);
    }

    /// A customer's newest transactions from memory, when they are exactly the lake's
    /// ([`HotCustomers::newest`]).
    pub fn customer_transactions(&self, user_id: &str, limit: usize) -> Option<Vec<Arc<CustomerTx>>> {
        self.customers().newest(user_id, limit)
    }

    /// A customer's newest alerts from memory, when they are exactly the lake's
    /// ([`HotCustomers::newest_alerts`]).
    pub fn customer_alerts(&self, user_id: &str, limit: usize) -> Option<Vec<Arc<CustomerAlert>>> {
        self.customers().newest_alerts(user_id, limit)
    }

    fn customers(&self) -> RwLockReadGuard<'_, HotCustomers> {
        self.customers.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// See [`HotGold::set_lake_newest`].
    pub fn set_lake_newest_windows(&self, generation: u64, newest: [Option<i64>; 3]) {
        self.gold_mut().set_lake_newest(generation, newest);
    }

    /// A page of KPI windows from memory, when it is exactly the lake's ([`HotGold::kpi_page`]).
    pub fn kpi_page(
        &self,
        table: KpiTable,
        range: [Option<i64>; 2],
        offset: usize,
        limit: usize,
    ) -> Option<(Vec<Arc<crate::stream::outputs::WindowRow>>, bool)> {
        self.gold().kpi_page(table, range, offset, limit)
    }

    /// A breakdown from memory, when no window of the range is missing ([`HotGold::breakdown`]).
    pub fn breakdown(&self, dimension: Dimension, range: [Option<i64>; 2]) -> Option<Vec<(String, Sums)>> {
        self.gold().breakdown(dimension, range)
    }

    /// See [`HotAlerts::set_lake_newest`].
    pub fn set_lake_newest_alert(&self, micros: Option<i64>) {
        self.hot.write().unwrap_or_else(|poisoned| poisoned.into_inner()).set_lake_newest(micros);
    }

    /// A page of the alert list from memory, when it is exactly the lake's ([`HotAlerts::page`]).
    pub fn alerts_page(&self, filter: &AlertFilter, offset: usize, limit: usize) -> Option<(Vec<Arc<AlertRow>>, bool)> {
        self.hot().page(filter, offset, limit)
    }

    /// One alert from memory, when it is there.
    pub fn alert(&self, alert_id: &str) -> Option<Arc<AlertRow>> {
        self.hot().get(alert_id)
    }

    pub fn status(&self, status: &Status, lag: Option<u64>, now: Timestamp) {
        self.lock().status(status, lag, Instant::now(), now);
    }

    pub fn stopped(&self) {
        self.lock().stopped();
    }

    pub fn snapshot(&self, now: Timestamp, open: bool) -> Snapshot {
        self.lock().snapshot(now, open)
    }

    /// Whether a processor reports and is running, and how long ago it last reported.
    pub fn health(&self) -> (bool, Option<Duration>) {
        let view = self.lock();
        (view.status.running, view.reported.map(|at| at.elapsed()))
    }

    pub fn status_view(&self) -> StatusView {
        self.lock().status.clone()
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
