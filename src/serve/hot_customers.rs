//! Each customer's newest transactions in memory, so a customer's page
//! (`GET /api/v1/customers/{id}`) is answered without scanning the silver table while the
//! processor runs in this process.
//!
//! What it promises, as [`super::hot`] does for alerts: the transactions it answers are exactly
//! the newest `limit` rows the lake query (`sql/api/customer_transactions.sql`: one customer,
//! newest first, ties by transaction id) would give once the processor's current epoch is
//! committed; when it cannot prove that, it answers `None` and the caller asks the lake. The proof
//! is a *horizon* per customer: no transaction of the customer the lake holds is missing here
//! unless its time is at or before the horizon. It is the latest of
//! - the newest transaction the lake held when the processor started (unknown until
//!   [`HotCustomers::set_lake_newest`] is told; until then every query goes to the lake),
//! - the newest transaction dropped from any customer forgotten whole, and
//! - the newest of the customer's own transactions dropped to keep at most `per_customer`.
//!
//! Memory is bounded: at most `per_customer` transactions per customer, and when more than
//! `capacity` are held in all, the customer whose newest transaction is oldest is forgotten whole
//! (the least recently active customers go first, and the horizon they raise is old).
//!
//! Rows arrive as the processor hands an epoch to the committer, ahead of the lake by up to one
//! checkpoint. A replayed transaction (read from the same bus offset) replaces itself; [`HotCustomers::reset`]
//! empties the tier before each processor start, as [`super::hot_gold`] does. Pure logic: no I/O.

use super::hot::{Horizon, page};
use crate::model::{Timestamp, Vocabulary};
use crate::stream::outputs::SilverTransaction;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Transactions kept per customer: the customer page shows the newest 20 by default.
pub const PER_CUSTOMER: usize = 32;
/// Transactions kept in all (about 300 bytes each with their strings and keys).
pub const CAPACITY: usize = 1_000_000;
/// Distinct strings shared between rows (merchants, cities, countries, reason lists) before the
/// table is started afresh, so that unusual input cannot grow it without bound.
const MAX_SHARED_STRINGS: usize = 100_000;

/// The columns of `silver/transactions` the customer page shows, named as the table names them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerTx {
    pub transaction_id: Box<str>,
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

/// The column names of [`CustomerTx`], in its order.
pub const COLUMNS: [&str; 20] = [
    "transaction_id",
    "timestamp",
    "amount",
    "merchant",
    "payment_method",
    "city",
    "country",
    "device_id",
    "customer_tx_count",
    "customer_avg_amount",
    "customer_std_amount",
    "amount_zscore",
    "is_new_device",
    "distance_km",
    "speed_kmh",
    "velocity_30m",
    "risk_score",
    "risk_level",
    "reasons",
    "is_alert",
];

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

#[derive(Debug, Default)]
struct Customer {
    /// Newest first, ties by transaction id: the lake query's order.
    rows: Vec<Arc<CustomerTx>>,
    /// The newest of this customer's rows dropped to keep at most `per_customer`.
    evicted_newest: Option<i64>,
}

impl Customer {
    fn newest(&self) -> Option<i64> {
        self.rows.first().map(|r| r.timestamp.micros())
    }
}

/// Newest first, ties by transaction id (the lake query's order), then by where it was read.
fn order(a: &CustomerTx, b: &CustomerTx) -> std::cmp::Ordering {
    b.timestamp.cmp(&a.timestamp).then_with(|| a.transaction_id.cmp(&b.transaction_id)).then(a.source.cmp(&b.source))
}

#[derive(Debug)]
pub struct HotCustomers {
    per_customer: usize,
    capacity: usize,
    customers: HashMap<Arc<str>, Customer>,
    /// (newest transaction time, customer) of every customer held: who is forgotten first.
    by_newest: BTreeSet<(i64, Arc<str>)>,
    /// Rows held in all.
    rows: usize,
    horizon: Horizon,
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
            capacity: capacity.max(1),
            customers: HashMap::new(),
            by_newest: BTreeSet::new(),
            rows: 0,
            horizon: Horizon::default(),
            generation: 0,
        }
    }

    /// Empties the tier, horizon unknown again: a processor is about to start. Returns the
    /// generation to give [`set_lake_newest`](Self::set_lake_newest) for this start.
    pub fn reset(&mut self) -> u64 {
        let generation = self.generation + 1;
        *self = HotCustomers { generation, ..HotCustomers::new(self.per_customer, self.capacity) };
        generation
    }

    /// The newest transaction time the lake held (UTC microseconds, `None`: none) since the
    /// processor of `generation` started; ignored when a later start has reset the tier since.
    pub fn set_lake_newest(&mut self, generation: u64, micros: Option<i64>) {
        if generation == self.generation {
            self.horizon.set_lake_newest(micros);
        }
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
        let tx = Arc::new(tx);
        let key = match self.customers.get_key_value(user_id) {
            Some((key, _)) => key.clone(),
            None => Arc::from(user_id),
        };
        let customer = self.customers.entry(key.clone()).or_default();
        let before = customer.newest();
        match customer.rows.binary_search_by(|held| order(held, &tx)) {
            Ok(same) => customer.rows[same] = tx,
            Err(at) => {
                customer.rows.insert(at, tx);
                self.rows += 1;
            }
        }
        if customer.rows.len() > self.per_customer {
            let dropped = customer.rows.pop().map(|r| r.timestamp.micros());
            customer.evicted_newest = customer.evicted_newest.max(dropped);
            self.rows -= 1;
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
            let Some((newest, key)) = self.by_newest.pop_first() else { break };
            if let Some(gone) = self.customers.remove(&key) {
                self.rows -= gone.rows.len();
                self.horizon.evicted(newest.max(gone.evicted_newest.unwrap_or(newest)));
            }
        }
    }

    /// The customer's newest `limit` transactions, newest first, or `None` when this cannot prove
    /// they are the lake's (see the module docs).
    pub fn newest(&self, user_id: &str, limit: usize) -> Option<Vec<Arc<CustomerTx>>> {
        let horizon = self.horizon.get()?;
        let customer = self.customers.get(user_id);
        let horizon = horizon.max(customer.and_then(|c| c.evicted_newest));
        let rows = customer.map(|c| c.rows.as_slice()).unwrap_or_default();
        let newer = |at: i64| horizon.is_none_or(|h| at > h);
        let rows = rows.iter().map(|r| (r.timestamp.micros(), r));
        let (rows, _) = page(rows, horizon.is_none(), newer, 0, limit)?;
        Some(rows.into_iter().cloned().collect())
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
        hot.set_lake_newest(0, None);
        assert_eq!(ids(hot.newest("u", 5)), strings(&["a"]));
        assert_eq!(ids(hot.newest("stranger", 5)), strings(&[]), "an empty lake holds nobody");
    }

    #[test]
    fn a_customer_is_answered_when_the_page_and_the_row_after_it_are_newer_than_the_horizon() {
        let mut hot = HotCustomers::new(10, 100);
        hot.set_lake_newest(0, Some(100 * 1_000_000));
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
        hot.set_lake_newest(0, None);
        hot.insert("u", tx("a", 1));
        hot.insert("u", CustomerTx { risk_score: 40, ..tx("a", 1) });
        assert_eq!(hot.len(), 1);
        assert_eq!(hot.newest("u", 5).unwrap()[0].risk_score, 40);
    }

    #[test]
    fn dropping_a_customers_oldest_raises_only_that_customers_horizon() {
        let mut hot = HotCustomers::new(2, 100);
        hot.set_lake_newest(0, None);
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
    fn past_capacity_the_least_recently_active_customer_is_forgotten() {
        let mut hot = HotCustomers::new(10, 3);
        hot.set_lake_newest(0, None);
        hot.insert("old", tx("a", 1));
        hot.insert("new", tx("b", 5));
        hot.insert("new", tx("c", 6));
        hot.insert("late", tx("d", 4));
        assert_eq!(hot.len(), 3);
        assert_eq!(ids(hot.newest("old", 1)), None, "forgotten: the horizon is its newest row");
        assert_eq!(ids(hot.newest("new", 1)), strings(&["c"]));
        assert_eq!(ids(hot.newest("new", 2)), None, "the lake may hold older rows, at or before the horizon");
    }

    #[test]
    fn reset_forgets_rows_and_the_horizon_of_earlier_starts() {
        let mut hot = HotCustomers::new(10, 100);
        hot.set_lake_newest(0, None);
        hot.insert("u", tx("a", 1));
        let generation = hot.reset();
        assert!(hot.is_empty());
        hot.set_lake_newest(generation - 1, None);
        assert_eq!(ids(hot.newest("u", 1)), None);
        hot.set_lake_newest(generation, Some(1_000_000));
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
        hot.set_lake_newest(0, all.iter().map(|(_, t)| t.timestamp.micros()).max());
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
                    rows.sort_by(|a, b| order(a, b));
                    let want: Vec<String> = rows.iter().take(limit).map(|r| r.transaction_id.to_string()).collect();
                    assert_eq!(got, want, "{user} limit {limit}");
                }
            }
            assert!(hot.len() <= 60);
        }
        assert!(answered > asked / 4, "the tier answered {answered} of {asked}");
    }
}
