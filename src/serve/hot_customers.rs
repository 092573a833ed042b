//! Each customer's newest transactions and alerts in memory, so a customer's page
//! (`GET /api/v1/customers/{id}`) is answered without scanning the silver and alert tables while
//! the processor runs in this process.
//!
//! What it promises, as [`super::hot`] does for the alert list: the transactions (alerts) it
//! answers are exactly the newest `limit` rows the lake query (`sql/api/customer_transactions.sql`:
//! newest first, ties by transaction id; `sql/api/alerts.sql` for one customer: ties by alert id)
//! would give once the processor's current epoch is committed; when it cannot prove that, it
//! answers `None` and the caller asks the lake. The proof is a *horizon* per customer and list: no
//! row of the customer's the lake holds is missing here unless its time is at or before the
//! horizon. It is the latest of
//! - the newest row of the table the lake held when the processor started (unknown until
//!   [`HotCustomers::set_lake_newest`] is told; until then every query goes to the lake),
//! - the newest of the customer's own rows dropped to keep at most `per_customer`, or forgotten
//!   with the whole customer (remembered as a *tombstone*: the customer's two horizons), and
//! - the newest row of any tombstone folded away.
//!
//! Memory is bounded: at most `per_customer` transactions and as many alerts per customer; when
//! more than `capacity` rows are held in all, the customer whose newest row is oldest is forgotten
//! (the least recently active customers go first), leaving a tombstone; and when there are more
//! than `capacity` tombstones they are all folded into the tier-wide horizons, which then rise to
//! the newest of them.
//!
//! Rows arrive as the processor hands an epoch to the committer, ahead of the lake by up to one
//! checkpoint. A replayed transaction (read from the same bus offset) or alert (same id) replaces
//! itself; [`HotCustomers::reset`] empties the tier before each processor start, as
//! [`super::hot_gold`] does. Pure logic: no I/O.

use super::hot::{Horizon, page};
use crate::model::{Timestamp, Vocabulary};
use crate::stream::outputs::{AlertRow, SilverTransaction};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Transactions, and alerts, kept per customer: the customer page shows the newest 20 by default
/// (and its proof needs the row after them).
pub const PER_CUSTOMER: usize = 24;
/// Rows (transactions and alerts) kept in all by default (`serve.memory_customer_rows`): 280 to 340
/// bytes of resident memory each with their strings and keys (`scripts/bench-http
/// customer-memory`, two runs), so about 300 MiB when full.
pub const CAPACITY: usize = 1_000_000;
/// Distinct strings shared between rows (merchants, cities, countries, reason lists) before the
/// table is started afresh, so that unusual input cannot grow it without bound.
const MAX_SHARED_STRINGS: usize = 100_000;

/// The columns of `silver/transactions` the customer page shows, named as the table names them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerTx {
    pub transaction_id: Box<str>,
    #[serde(serialize_with = "as_the_lake_prints")]
    pub timestamp: Timestamp,
    pub amount: f64,
    pub merchant: Arc<str>,
    pub payment_method: &'static str,
    pub city: Arc<str>,
    pub country: Arc<str>,
    pub device_id: Box<str>,
    pub customer_tx_count: u64,
    pub customer_avg_amount: f64,
    pub customer_std_amount: f64,
    pub amount_zscore: Option<f64>,
    pub is_new_device: bool,
    pub distance_km: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub velocity_30m: u32,
    pub risk_score: u8,
    pub risk_level: &'static str,
    pub reasons: Arc<str>,
    pub is_alert: bool,
    /// Where the transaction was read (bus partition, offset): what makes a row the same row
    /// when an epoch is replayed, as two events may share an id.
    #[serde(skip)]
    pub source: (u32, u64),
}

/// A time as the lake's JSON writer (Arrow's) prints a UTC microsecond timestamp: RFC 3339 with
/// as many fraction digits as needed (0, 3 or 6), so that rows from memory print as rows from the
/// lake do.
pub fn lake_time(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(at.micros())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| at.to_string())
}

fn as_the_lake_prints<S: serde::Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&lake_time(*at))
}

/// Strings many rows repeat, held once.
#[derive(Debug, Default)]
pub struct Shared(HashSet<Arc<str>>);

impl Shared {
    fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(held) = self.0.get(text) {
            return held.clone();
        }
        if self.0.len() >= MAX_SHARED_STRINGS {
            self.0.clear();
        }
        let held: Arc<str> = text.into();
        self.0.insert(held.clone());
        held
    }
}

/// One silver row as the tier keeps it, and its customer's id.
pub fn customer_tx(row: &SilverTransaction, shared: &mut Shared) -> (String, CustomerTx) {
    let t = &*row.tx;
    let tx = CustomerTx {
        transaction_id: t.transaction_id.as_str().into(),
        timestamp: t.timestamp,
        amount: t.amount,
        merchant: shared.get(&t.merchant),
        payment_method: t.payment_method.as_str(),
        city: shared.get(&row.city),
        country: shared.get(&row.country),
        device_id: t.device_id.as_str().into(),
        customer_tx_count: row.customer_tx_count,
        customer_avg_amount: row.customer_avg_amount,
        customer_std_amount: row.customer_std_amount,
        amount_zscore: row.amount_zscore,
        is_new_device: row.is_new_device,
        distance_km: row.distance_km,
        speed_kmh: row.speed_kmh,
        velocity_30m: row.velocity_30m,
        risk_score: row.risk_score,
        risk_level: row.risk_level,
        reasons: shared.get(&row.reasons),
        is_alert: row.is_alert,
        source: (row.source_partition, row.source_offset),
    };
    (t.user_id.to_string(), tx)
}

/// An alert as the tier keeps it: the columns of `gold/fraud_alerts` the alert list shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerAlert {
    pub alert_id: Box<str>,
    pub transaction_id: Box<str>,
    pub user_id: Arc<str>,
    #[serde(serialize_with = "as_the_lake_prints")]
    pub timestamp: Timestamp,
    pub amount: f64,
    pub merchant: Arc<str>,
    pub country: Arc<str>,
    pub payment_method: &'static str,
    pub risk_score: u8,
    pub risk_level: &'static str,
    pub reasons: Arc<str>,
    pub rules_version: Arc<str>,
    pub model_version: Option<Arc<str>>,
}

/// One alert as the tier keeps it.
pub fn customer_alert(alert: &AlertRow, shared: &mut Shared) -> CustomerAlert {
    CustomerAlert {
        alert_id: alert.alert_id.as_str().into(),
        transaction_id: alert.transaction_id.as_str().into(),
        user_id: shared.get(&alert.user_id),
        timestamp: alert.timestamp,
        amount: alert.amount,
        merchant: shared.get(&alert.merchant),
        country: shared.get(&alert.country),
        payment_method: alert.payment_method,
        risk_score: alert.risk_score,
        risk_level: alert.risk_level,
        reasons: shared.get(&alert.reasons),
        rules_version: shared.get(&alert.rules_version),
        model_version: alert.model_version.as_deref().map(|v| shared.get(v)),
    }
}

/// A row kept per customer: its time, and the lake query's order (newest first, then ties).
trait Kept {
    fn at(&self) -> i64;
    fn order(&self, other: &Self) -> std::cmp::Ordering;
}

impl Kept for CustomerTx {
    fn at(&self) -> i64 {
        self.timestamp.micros()
    }

    /// Ties by transaction id (the lake query's order), then by where it was read.
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        let by_id = || self.transaction_id.cmp(&other.transaction_id);
        other.timestamp.cmp(&self.timestamp).then_with(by_id).then(self.source.cmp(&other.source))
    }
}

impl Kept for CustomerAlert {
    fn at(&self) -> i64 {
        self.timestamp.micros()
    }

    /// Ties by alert id: an alert's id is what makes it the same alert (as in [`super::hot`]).
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        other.timestamp.cmp(&self.timestamp).then_with(|| self.alert_id.cmp(&other.alert_id))
    }
}

/// One customer's newest rows of one kind.
#[derive(Debug)]
struct Newest<T> {
    /// In the lake query's order.
    rows: Vec<Arc<T>>,
    /// The newest row dropped to keep at most `per_customer`.
    evicted_newest: Option<i64>,
}

impl<T> Default for Newest<T> {
    fn default() -> Self {
        Newest { rows: Vec::new(), evicted_newest: None }
    }
}

impl<T: Kept> Newest<T> {
    fn newest(&self) -> Option<i64> {
        self.rows.first().map(|r| r.at())
    }

    /// The horizon the list leaves when forgotten: its newest row, kept or dropped.
    fn forgotten(&self) -> Option<i64> {
        self.newest().max(self.evicted_newest)
    }

    /// Takes in `row`, replacing the same row; returns whether the count of rows grew.
    fn insert(&mut self, row: T, per_customer: usize) -> bool {
        let row = Arc::new(row);
        match self.rows.binary_search_by(|held| held.order(&row)) {
            Ok(same) => {
                self.rows[same] = row;
                false
            }
            Err(at) => {
                self.rows.insert(at, row);
                if self.rows.len() <= per_customer {
                    return true;
                }
                let dropped = self.rows.pop().map(|r| r.at());
                self.evicted_newest = self.evicted_newest.max(dropped);
                false
            }
        }
    }

    /// The newest `limit` rows when they are provably the lake's, given the table's `horizon`.
    fn page(&self, horizon: Option<Option<i64>>, limit: usize) -> Option<Vec<Arc<T>>> {
        let horizon = horizon?.max(self.evicted_newest);
        let newer = |at: i64| horizon.is_none_or(|h| at > h);
        let (rows, _) = page(self.rows.iter().map(|r| (r.at(), r)), horizon.is_none(), newer, 0, limit)?;
        Some(rows.into_iter().cloned().collect())
    }
}

#[derive(Debug, Default)]
struct Customer {
    transactions: Newest<CustomerTx>,
    alerts: Newest<CustomerAlert>,
}

impl Customer {
    fn newest(&self) -> Option<i64> {
        self.transactions.newest().max(self.alerts.newest())
    }
}

#[derive(Debug)]
pub struct HotCustomers {
    per_customer: usize,
    capacity: usize,
    customers: HashMap<Arc<str>, Customer>,
    /// (newest row's time, customer) of every customer held: who is forgotten first.
    by_newest: BTreeSet<(i64, Arc<str>)>,
    /// Rows held in all.
    rows: usize,
    /// Forgotten customers' horizons: transactions, alerts.
    tombstones: HashMap<Arc<str>, [Option<i64>; 2]>,
    transactions: Horizon,
    alerts: Horizon,
    generation: u64,
}

impl Default for HotCustomers {
    fn default() -> Self {
        HotCustomers::new(PER_CUSTOMER, CAPACITY)
    }
}

impl HotCustomers {
    pub fn new(per_customer: usize, capacity: usize) -> Self {
        HotCustomers {
            per_customer: per_customer.max(1),
            capacity,
            customers: HashMap::new(),
            by_newest: BTreeSet::new(),
            rows: 0,
            tombstones: HashMap::new(),
            transactions: Horizon::default(),
            alerts: Horizon::default(),
            generation: 0,
        }
    }

    /// Empties the tier, horizons unknown again: a processor is about to start. Returns the
    /// generation to give [`set_lake_newest`](Self::set_lake_newest) for this start.
    pub fn reset(&mut self) -> u64 {
        let generation = self.generation + 1;
        *self = HotCustomers { generation, ..HotCustomers::new(self.per_customer, self.capacity) };
        generation
    }

    /// The newest transaction and alert times the lake held (UTC microseconds, `None`: none)
    /// since the processor of `generation` started; ignored when a later start has reset the tier
    /// since.
    pub fn set_lake_newest(&mut self, generation: u64, transaction: Option<i64>, alert: Option<i64>) {
        if generation == self.generation && !self.is_off() {
            self.transactions.set_lake_newest(transaction);
            self.alerts.set_lake_newest(alert);
        }
    }

    /// Whether the tier was made with no room (`serve.memory_customer_rows = 0`): it takes
    /// nothing in and proves nothing.
    pub fn is_off(&self) -> bool {
        self.capacity == 0
    }

    /// Rows held in all.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Takes in one customer's transaction as the processor hands it over.
    pub fn insert(&mut self, user_id: &str, tx: CustomerTx) {
        self.insert_with(user_id, |customer, per_customer| customer.transactions.insert(tx, per_customer));
    }

    /// Takes in one customer's alert as the processor hands it over.
    pub fn insert_alert(&mut self, alert: CustomerAlert) {
        let user_id = alert.user_id.clone();
        self.insert_with(&user_id, |customer, per_customer| customer.alerts.insert(alert, per_customer));
    }

    fn insert_with(&mut self, user_id: &str, insert: impl FnOnce(&mut Customer, usize) -> bool) {
        if self.is_off() {
            return;
        }
        let key = match self.customers.get_key_value(user_id) {
            Some((key, _)) => key.clone(),
            None => Arc::from(user_id),
        };
        let tombstones = &mut self.tombstones;
        let customer = self.customers.entry(key.clone()).or_insert_with(|| {
            let [transactions, alerts] = tombstones.remove(user_id).unwrap_or_default();
            Customer {
                transactions: Newest { rows: Vec::new(), evicted_newest: transactions },
                alerts: Newest { rows: Vec::new(), evicted_newest: alerts },
            }
        });
        let before = customer.newest();
        if insert(customer, self.per_customer) {
            self.rows += 1;
        }
        let after = customer.newest();
        if before != after {
            if let Some(before) = before {
                self.by_newest.remove(&(before, key.clone()));
            }
            if let Some(after) = after {
                self.by_newest.insert((after, key));
            }
        }
        while self.rows > self.capacity {
            let Some((_, key)) = self.by_newest.pop_first() else { break };
            let Some(gone) = self.customers.remove(&key) else { continue };
            self.rows -= gone.transactions.rows.len() + gone.alerts.rows.len();
            self.tombstones.insert(key, [gone.transactions.forgotten(), gone.alerts.forgotten()]);
        }
        if self.tombstones.len() > self.capacity {
            for (_, [transactions, alerts]) in self.tombstones.drain() {
                transactions.into_iter().for_each(|at| self.transactions.evicted(at));
                alerts.into_iter().for_each(|at| self.alerts.evicted(at));
            }
        }
    }

    /// The customer's newest `limit` transactions, newest first, or `None` when this cannot prove
    /// they are the lake's (see the module docs).
    pub fn newest(&self, user_id: &str, limit: usize) -> Option<Vec<Arc<CustomerTx>>> {
        match self.customers.get(user_id) {
            Some(customer) => customer.transactions.page(self.transactions.get(), limit),
            None => self.forgotten(user_id, 0).page(self.transactions.get(), limit),
        }
    }

    /// No rows, and the horizon the customer's tombstone holds for `list` (0: transactions, 1:
    /// alerts), if any.
    fn forgotten<T>(&self, user_id: &str, list: usize) -> Newest<T> {
        let evicted_newest = self.tombstones.get(user_id).and_then(|t| t[list]);
        Newest { rows: Vec::new(), evicted_newest }
    }

    /// The customer's newest `limit` alerts, newest first, or `None` when this cannot prove they
    /// are the lake's.
    pub fn newest_alerts(&self, user_id: &str, limit: usize) -> Option<Vec<Arc<CustomerAlert>>> {
        match self.customers.get(user_id) {
            Some(customer) => customer.alerts.page(self.alerts.get(), limit),
            None => self.forgotten(user_id, 1).page(self.alerts.get(), limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(id: &str, secs: i64) -> CustomerTx {
        CustomerTx {
            transaction_id: id.into(),
            timestamp: Timestamp::from_micros(secs * 1_000_000),
            amount: 10.0,
            merchant: "m".into(),
            payment_method: "credit_card",
            city: "Paris".into(),
            country: "FR".into(),
            device_id: "d".into(),
            customer_tx_count: 1,
            customer_avg_amount: 10.0,
            customer_std_amount: 0.0,
            amount_zscore: None,
            is_new_device: false,
            distance_km: None,
            speed_kmh: None,
            velocity_30m: 1,
            risk_score: 0,
            risk_level: "MINIMAL",
            reasons: "".into(),
            is_alert: false,
            source: (0, secs as u64),
        }
    }

    fn alert(id: &str, user: &str, secs: i64) -> CustomerAlert {
        CustomerAlert {
            alert_id: id.into(),
            transaction_id: format!("tx-{id}").into(),
            user_id: user.into(),
            timestamp: Timestamp::from_micros(secs * 1_000_000),
            amount: 10.0,
            merchant: "m".into(),
            country: "FR".into(),
            payment_method: "crypto",
            risk_score: 80,
            risk_level: "CRITICAL",
            reasons: "known_fraud:50,crypto:30".into(),
            rules_version: "r1".into(),
            model_version: None,
        }
    }

    fn ids(rows: Option<Vec<Arc<CustomerTx>>>) -> Option<Vec<String>> {
        rows.map(|rows| rows.iter().map(|r| r.transaction_id.to_string()).collect())
    }

    fn strings(ids: &[&str]) -> Option<Vec<String>> {
        Some(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn nothing_is_answered_until_the_lake_horizon_is_known() {
        let mut hot = HotCustomers::new(4, 100);
        hot.insert("u", tx("a", 10));
        assert_eq!(ids(hot.newest("u", 5)), None);
        hot.set_lake_newest(0, None, None);
        assert_eq!(ids(hot.newest("u", 5)), strings(&["a"]));
        assert_eq!(ids(hot.newest("stranger", 5)), strings(&[]), "an empty lake holds nobody");
    }

    #[test]
    fn a_tier_with_no_room_takes_nothing_and_answers_nothing() {
        let mut hot = HotCustomers::new(4, 0);
        hot.set_lake_newest(0, None, None);
        hot.insert("u", tx("a", 10));
        hot.insert_alert(alert("x", "u", 10));
        assert!(hot.is_empty());
        assert_eq!(ids(hot.newest("u", 5)), None, "the lake answers");
        assert!(hot.newest_alerts("u", 5).is_none());
    }

    #[test]
    fn a_customer_is_answered_when_the_page_and_the_row_after_it_are_newer_than_the_horizon() {
        let mut hot = HotCustomers::new(10, 100);
        hot.set_lake_newest(0, Some(100 * 1_000_000), None);
        for (id, secs) in [("a", 100), ("b", 101), ("c", 102), ("d", 102)] {
            hot.insert("u", tx(id, secs));
        }
        assert_eq!(ids(hot.newest("u", 2)), strings(&["c", "d"]), "ties by transaction id");
        assert_eq!(ids(hot.newest("u", 3)), None, "the row after the page is at the horizon");
        assert_eq!(ids(hot.newest("stranger", 1)), None, "the lake may hold a customer memory does not");
    }

    #[test]
    fn a_replayed_transaction_replaces_itself() {
        let mut hot = HotCustomers::new(10, 100);
        hot.set_lake_newest(0, None, None);
        hot.insert("u", tx("a", 1));
        hot.insert("u", CustomerTx { risk_score: 40, ..tx("a", 1) });
        assert_eq!(hot.len(), 1);
        assert_eq!(hot.newest("u", 5).unwrap()[0].risk_score, 40);
    }

    #[test]
    fn dropping_a_customers_oldest_raises_only_that_customers_horizon() {
        let mut hot = HotCustomers::new(2, 100);
        hot.set_lake_newest(0, None, None);
        for (id, secs) in [("a", 1), ("b", 3), ("c", 2)] {
            hot.insert("u", tx(id, secs));
        }
        hot.insert("v", tx("x", 1));
        assert_eq!(hot.len(), 3);
        assert_eq!(ids(hot.newest("u", 1)), strings(&["b"]));
        assert_eq!(ids(hot.newest("u", 2)), None, "a, dropped, might follow c");
        assert_eq!(ids(hot.newest("v", 5)), strings(&["x"]));
    }

    #[test]
    fn alerts_are_kept_and_proved_apart_from_transactions() {
        let mut hot = HotCustomers::new(2, 100);
        hot.set_lake_newest(0, None, Some(5 * 1_000_000));
        for (id, secs) in [("x", 6), ("y", 7), ("z", 8)] {
            hot.insert_alert(alert(id, "u", secs));
        }
        hot.insert_alert(alert("z", "u", 8));
        assert_eq!(hot.len(), 2, "x dropped, z replaced itself");
        let alert_ids = |rows: Option<Vec<Arc<CustomerAlert>>>| {
            rows.map(|r| r.iter().map(|a| a.alert_id.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(alert_ids(hot.newest_alerts("u", 1)), strings(&["z"]));
        assert_eq!(alert_ids(hot.newest_alerts("u", 2)), None, "x, dropped, might follow y");
        assert_eq!(alert_ids(hot.newest_alerts("v", 1)), None, "the lake held alerts memory does not");
        assert_eq!(ids(hot.newest("u", 5)), strings(&[]), "the lake held no transactions");
    }

    #[test]
    fn past_capacity_the_least_recently_active_customer_is_forgotten() {
        let mut hot = HotCustomers::new(10, 3);
        hot.set_lake_newest(0, None, None);
        hot.insert("old", tx("a", 1));
        hot.insert("new", tx("b", 5));
        hot.insert("new", tx("c", 6));
        hot.insert("late", tx("d", 4));
        assert_eq!(hot.len(), 3);
        assert_eq!(ids(hot.newest("old", 1)), None, "forgotten: its horizon is its newest row");
        assert_eq!(ids(hot.newest("new", 5)), strings(&["c", "b"]), "others keep their horizons");
        hot.insert("old", tx("e", 7));
        assert_eq!(ids(hot.newest("old", 1)), None, "back, with the horizon of its tombstone");
        assert_eq!(ids(hot.newest("new", 1)), strings(&["c"]), "new has b and c, newer than old's horizon");
        // Past `capacity` tombstones, they fold into the tier-wide horizon.
        let mut hot = HotCustomers::new(10, 1);
        hot.set_lake_newest(0, None, None);
        for (user, secs) in [("a", 1), ("b", 2), ("c", 3)] {
            hot.insert(user, tx(user, secs));
        }
        assert_eq!(ids(hot.newest("c", 1)), None, "a and b folded: the lake may hold c's rows at 2 or before");
    }

    #[test]
    fn reset_forgets_rows_and_the_horizon_of_earlier_starts() {
        let mut hot = HotCustomers::new(10, 100);
        hot.set_lake_newest(0, None, None);
        hot.insert("u", tx("a", 1));
        let generation = hot.reset();
        assert!(hot.is_empty());
        hot.set_lake_newest(generation - 1, None, None);
        assert_eq!(ids(hot.newest("u", 1)), None);
        hot.set_lake_newest(generation, Some(1_000_000), None);
        hot.insert("u", tx("b", 2));
        assert_eq!(ids(hot.newest("u", 1)), None, "b and nothing newer than the horizon after it");
        hot.insert("u", tx("c", 3));
        assert_eq!(ids(hot.newest("u", 1)), strings(&["c"]));
    }

    /// Every answer equals the lake query over all rows (those in the lake before the start and
    /// those that arrived since), over customers, limits and both kinds of eviction.
    #[test]
    fn every_answer_equals_the_lake_query() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let users = 12;
        let mut all: Vec<(String, CustomerTx)> = (0..40)
            .map(|i| (format!("u{}", rng.random_range(0..users)), tx(&format!("t{i:04}"), rng.random_range(0..100))))
            .collect();
        let mut hot = HotCustomers::new(6, 60);
        hot.set_lake_newest(0, all.iter().map(|(_, t)| t.timestamp.micros()).max(), None);
        let (mut answered, mut asked) = (0, 0);
        for round in 0..60 {
            for i in 0..8 {
                let user = format!("u{}", rng.random_range(0..users));
                let secs = rng.random_range(90 + round * 5..120 + round * 5);
                let row = tx(&format!("t{:04}", 1000 + round * 8 + i), secs);
                hot.insert(&user, row.clone());
                all.push((user, row));
            }
            for _ in 0..20 {
                let user = format!("u{}", rng.random_range(0..users + 2));
                let limit = rng.random_range(1..6);
                asked += 1;
                if let Some(got) = ids(hot.newest(&user, limit)) {
                    answered += 1;
                    let mut rows: Vec<&CustomerTx> = all.iter().filter(|(u, _)| *u == user).map(|(_, t)| t).collect();
                    rows.sort_by(|a, b| a.order(b));
                    let want: Vec<String> = rows.iter().take(limit).map(|r| r.transaction_id.to_string()).collect();
                    assert_eq!(got, want, "{user} limit {limit}");
                }
            }
            assert!(hot.len() <= 60);
        }
        assert!(answered > asked / 4, "the tier answered {answered} of {asked}");
    }
}
