//! `aggregate`: the transaction KPI windows, in event time.
//!
//! | gold table | window | key |
//! | --- | --- | --- |
//! | `kpi_1m` | 1-minute tumbling | platform |
//! | `kpi_1m_sliding` | 1 minute, sliding every 10 seconds | platform |
//! | `platform_1h` | 1-hour tumbling (the hourly summary) | platform |
//! | `merchant_15m` | 15 minutes, sliding every 5 minutes | merchant |
//! | `customer_1h` | 1-hour tumbling | customer |
//! | `country_30m` | 30-minute tumbling | country |
//! | `merchant_payment_country_10m` | 10-minute tumbling | merchant x payment method x country |
//!
//! Each window's final result is emitted once, when the watermark passes its end plus the
//! allowed lateness (see [`crate::stream::window`]): to the gold table and, as JSON, to the
//! `analytics` topic (the committer writes the JSON, off the processing thread:
//! [`WindowRow::analytics_record`]). An event too late for a window it belongs to goes to the
//! `late_events` table, once per table it missed, and is counted; it is never dropped silently.
//! Open windows are readable for the live dashboard with [`Aggregate::live`].

use crate::analytics::kpi::{Kpi, KpiInput, KpiOutput};
use crate::model::{Timestamp, Transaction, UserKey, Vocabulary};
use crate::stream::operator::{Operator, OperatorError, Snapshot, load, snapshot};
use crate::stream::outputs::{LateEventRow, Outputs, WindowRow, event_date};
use crate::stream::window::{
    Added, Closed, Key, StoreChanges, StoreDelta, StoreImage, WindowError, WindowSpec, WindowStore,
};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::time::Duration;

/// One scored transaction, as the windows need it.
pub struct Scored<'a> {
    pub tx: &'a Transaction,
    pub country: &'a str,
    pub kpi: KpiInput,
    pub source_partition: u32,
    pub source_offset: u64,
}

// Keys are compact strings: a key of up to 24 bytes sits in the hash table itself, so a lookup
// compares it without following a pointer, and building the composite key allocates nothing.
type Merchant = CompactString;
type Country = CompactString;
/// (merchant, payment method, country).
type MerchantPaymentCountry = (CompactString, CompactString, CompactString);

/// Every window family's state: what the checkpoint stores.
#[derive(Clone, Serialize, Deserialize)]
struct Stores {
    kpi_1m: WindowStore<(), Kpi>,
    kpi_1m_sliding: WindowStore<(), Kpi>,
    platform_1h: WindowStore<(), Kpi>,
    merchant_15m: WindowStore<Merchant, Kpi>,
    customer_1h: WindowStore<UserKey, Kpi>,
    country_30m: WindowStore<Country, Kpi>,
    merchant_payment_country_10m: WindowStore<MerchantPaymentCountry, Kpi>,
}

/// What changed in every window family in one epoch.
#[derive(Serialize)]
struct StoresChanges {
    kpi_1m: StoreChanges<(), Kpi>,
    kpi_1m_sliding: StoreChanges<(), Kpi>,
    platform_1h: StoreChanges<(), Kpi>,
    merchant_15m: StoreChanges<Merchant, Kpi>,
    customer_1h: StoreChanges<UserKey, Kpi>,
    country_30m: StoreChanges<Country, Kpi>,
    merchant_payment_country_10m: StoreChanges<MerchantPaymentCountry, Kpi>,
}

/// Every window family whole, as of an epoch's end.
#[derive(Serialize)]
struct StoresImage {
    kpi_1m: StoreImage<(), Kpi>,
    kpi_1m_sliding: StoreImage<(), Kpi>,
    platform_1h: StoreImage<(), Kpi>,
    merchant_15m: StoreImage<Merchant, Kpi>,
    customer_1h: StoreImage<UserKey, Kpi>,
    country_30m: StoreImage<Country, Kpi>,
    merchant_payment_country_10m: StoreImage<MerchantPaymentCountry, Kpi>,
}

/// [`StoresChanges`] read back.
#[derive(Deserialize)]
struct StoresDelta {
    kpi_1m: StoreDelta<(), Kpi>,
    kpi_1m_sliding: StoreDelta<(), Kpi>,
    platform_1h: StoreDelta<(), Kpi>,
    merchant_15m: StoreDelta<Merchant, Kpi>,
    customer_1h: StoreDelta<UserKey, Kpi>,
    country_30m: StoreDelta<Country, Kpi>,
    merchant_payment_country_10m: StoreDelta<MerchantPaymentCountry, Kpi>,
}

impl Stores {
    fn delta(&mut self) -> StoresChanges {
        StoresChanges {
            kpi_1m: self.kpi_1m.delta(),
            kpi_1m_sliding: self.kpi_1m_sliding.delta(),
            platform_1h: self.platform_1h.delta(),
            merchant_15m: self.merchant_15m.delta(),
            customer_1h: self.customer_1h.delta(),
            country_30m: self.country_30m.delta(),
            merchant_payment_country_10m: self.merchant_payment_country_10m.delta(),
        }
    }

    fn whole(&mut self) -> StoresImage {
        StoresImage {
            kpi_1m: self.kpi_1m.whole(),
            kpi_1m_sliding: self.kpi_1m_sliding.whole(),
            platform_1h: self.platform_1h.whole(),
            merchant_15m: self.merchant_15m.whole(),
            customer_1h: self.customer_1h.whole(),
            country_30m: self.country_30m.whole(),
            merchant_payment_country_10m: self.merchant_payment_country_10m.whole(),
        }
    }

    fn settle(&mut self, budget: usize) {
        self.kpi_1m.settle(budget);
        self.kpi_1m_sliding.settle(budget);
        self.platform_1h.settle(budget);
        self.merchant_15m.settle(budget);
        self.customer_1h.settle(budget);
        self.country_30m.settle(budget);
        self.merchant_payment_country_10m.settle(budget);
    }

    fn apply(&mut self, d: StoresDelta) -> Result<(), WindowError> {
        self.kpi_1m.apply(d.kpi_1m)?;
        self.kpi_1m_sliding.apply(d.kpi_1m_sliding)?;
        self.platform_1h.apply(d.platform_1h)?;
        self.merchant_15m.apply(d.merchant_15m)?;
        self.customer_1h.apply(d.customer_1h)?;
        self.country_30m.apply(d.country_30m)?;
        self.merchant_payment_country_10m.apply(d.merchant_payment_country_10m)
    }
}

pub struct Aggregate {
    stores: Stores,
    late_events: u64,
}

const MINUTE: u64 = 60;

fn mins(n: u64) -> Duration {
    Duration::from_secs(n * MINUTE)
}

impl Aggregate {
    pub fn new(allowed_lateness: Duration) -> Result<Self, WindowError> {
        fn store<K: Key>(spec: WindowSpec, lateness: Duration) -> Result<WindowStore<K, Kpi>, WindowError> {
            WindowStore::new(spec, lateness)
        }
        let l = allowed_lateness;
        Ok(Aggregate {
            stores: Stores {
                kpi_1m: store(WindowSpec::tumbling(mins(1))?, l)?,
                kpi_1m_sliding: store(WindowSpec::sliding(mins(1), Duration::from_secs(10))?, l)?,
                platform_1h: store(WindowSpec::tumbling(mins(60))?, l)?,
                merchant_15m: store(WindowSpec::sliding(mins(15), mins(5))?, l)?,
                customer_1h: store(WindowSpec::tumbling(mins(60))?, l)?,
                country_30m: store(WindowSpec::tumbling(mins(30))?, l)?,
                merchant_payment_country_10m: store(WindowSpec::tumbling(mins(10))?, l)?,
            },
            late_events: 0,
        })
    }

    /// The gold tables this operator writes.
    pub const TABLES: [&'static str; 7] = [
        "kpi_1m",
        "kpi_1m_sliding",
        "platform_1h",
        "merchant_15m",
        "customer_1h",
        "country_30m",
        "merchant_payment_country_10m",
    ];

    /// Events (per table) that came too late for a window, since start.
    pub fn late_events(&self) -> u64 {
        self.late_events
    }

    /// Open windows across all tables.
    pub fn open_windows(&self) -> usize {
        let s = &self.stores;
        s.kpi_1m.len()
            + s.kpi_1m_sliding.len()
            + s.platform_1h.len()
            + s.merchant_15m.len()
            + s.customer_1h.len()
            + s.country_30m.len()
            + s.merchant_payment_country_10m.len()
    }

    /// Counts one scored transaction in every window family.
    pub fn add(&mut self, e: &Scored<'_>, watermark: Option<Timestamp>, out: &mut Outputs) {
        let ts = e.tx.timestamp;
        let s = &mut self.stores;
        let key: MerchantPaymentCountry = (
            e.tx.merchant.clone(),
            CompactString::const_new(e.tx.payment_method.as_str()),
            CompactString::new(e.country),
        );
        let user = UserKey::of(&e.tx.user_id);
        let added = [
            ("kpi_1m", s.kpi_1m.add(&(), ts, &e.kpi, watermark)),
            ("kpi_1m_sliding", s.kpi_1m_sliding.add(&(), ts, &e.kpi, watermark)),
            ("platform_1h", s.platform_1h.add(&(), ts, &e.kpi, watermark)),
            ("merchant_15m", s.merchant_15m.add(e.tx.merchant.as_str(), ts, &e.kpi, watermark)),
            ("customer_1h", s.customer_1h.add(&user, ts, &e.kpi, watermark)),
            ("country_30m", s.country_30m.add(e.country, ts, &e.kpi, watermark)),
            ("merchant_payment_country_10m", s.merchant_payment_country_10m.add(&key, ts, &e.kpi, watermark)),
        ];
        for (table, added) in added {
            if added.is_late_event() {
                self.late(table, e, &added, watermark, out);
            }
        }
    }

    fn late(&mut self, table: &str, e: &Scored<'_>, added: &Added, watermark: Option<Timestamp>, out: &mut Outputs) {
        self.late_events += 1;
        let ts = e.tx.timestamp;
        let (start, end) = match added.too_late.first() {
            Some(w) => (w.start, w.end),
            None => (ts, ts),
        };
        out.late_events.push(LateEventRow {
            window_table: table.to_string(),
            event_id: e.tx.transaction_id.to_string(),
            event_time: ts,
            window_start: start,
            window_end: end,
            watermark: watermark.unwrap_or(ts),
            source_partition: e.source_partition,
            source_offset: e.source_offset,
            event_date: event_date(ts),
        });
    }

    /// Open windows of one table with their live (partial) values, for the dashboard.
    pub fn live(&self, table: &str) -> Vec<WindowRow> {
        let s = &self.stores;
        match table {
            "kpi_1m" => partial(&s.kpi_1m, |()| Keys::default()),
            "kpi_1m_sliding" => partial(&s.kpi_1m_sliding, |()| Keys::default()),
            "platform_1h" => partial(&s.platform_1h, |()| Keys::default()),
            "merchant_15m" => partial(&s.merchant_15m, |m| Keys { merchant: Some(m.to_string()), ..Keys::default() }),
            "customer_1h" => partial(&s.customer_1h, |u| Keys { user_id: Some(u.to_string()), ..Keys::default() }),
            "country_30m" => partial(&s.country_30m, |c| Keys { country: Some(c.to_string()), ..Keys::default() }),
            "merchant_payment_country_10m" => partial(&s.merchant_payment_country_10m, |(m, p, c)| Keys {
                merchant: Some(m.to_string()),
                payment_method: Some(p.to_string()),
                country: Some(c.to_string()),
                user_id: None,
            }),
            _ => Vec::new(),
        }
    }
}

fn partial<K: Key>(store: &WindowStore<K, Kpi>, keys: impl Fn(&K) -> Keys) -> Vec<WindowRow> {
    use crate::stream::window::Accumulator as _;
    store.partial().map(|(k, window, acc)| row(keys(k), Closed { key: (), window, output: acc.finish() })).collect()
}

/// The key columns of a window row.
#[derive(Default)]
struct Keys {
    merchant: Option<String>,
    user_id: Option<String>,
    country: Option<String>,
    payment_method: Option<String>,
}

fn row(keys: Keys, closed: Closed<(), KpiOutput>) -> WindowRow {
    let o = closed.output;
    WindowRow {
        window_start: closed.window.start,
        window_end: closed.window.end,
        merchant: keys.merchant,
        user_id: keys.user_id,
        country: keys.country,
        payment_method: keys.payment_method,
        tx_count: o.transactions,
        revenue: o.revenue,
        avg_amount: o.avg_amount,
        alert_count: o.alerts,
        alert_rate: o.alert_rate,
        known_fraud_count: o.known_fraud,
        known_fraud_rate: o.known_fraud_rate,
        high_value_count: o.high_value,
        high_value_rate: o.high_value_rate,
        distinct_customers: o.distinct_customers,
        distinct_devices: o.distinct_devices,
        distinct_merchants: o.distinct_merchants,
        payment_mix: o.payment_mix.to_json(),
        event_date: event_date(closed.window.start),
    }
}

/// Moves closed windows of one store into `out` as rows of `table` (which the committer also
/// sends to `analytics`): up to `budget` windows of `store` final under `wm`; returns whether
/// more remain.
fn emit<K: Key>(
    table: &'static str,
    store: &mut WindowStore<K, Kpi>,
    (wm, budget): (Timestamp, usize),
    keys: impl Fn(K) -> Keys,
    out: &mut Outputs,
) -> bool {
    store.advance_some(wm, budget, |c| {
        out.windows.push((table, row(keys(c.key), Closed { key: (), window: c.window, output: c.output })));
    })
}

impl Operator for Aggregate {
    fn name(&self) -> &'static str {
        "aggregate"
    }

    fn restore(&mut self, image: &mut dyn Read, full: bool) -> Result<(), OperatorError> {
        if full {
            (self.stores, self.late_events) = load(self.name(), image)?;
        } else {
            let (delta, late_events) = load(self.name(), image)?;
            self.stores.apply(delta).map_err(|e| OperatorError::new(self.name(), e))?;
            self.late_events = late_events;
        }
        Ok(())
    }

    fn watermark(&mut self, wm: Timestamp, budget: usize, out: &mut Outputs) -> bool {
        let (s, at) = (&mut self.stores, (wm, budget));
        let mut more = emit("kpi_1m", &mut s.kpi_1m, at, |()| Keys::default(), out);
        more |= emit("kpi_1m_sliding", &mut s.kpi_1m_sliding, at, |()| Keys::default(), out);
        more |= emit("platform_1h", &mut s.platform_1h, at, |()| Keys::default(), out);
        more |= emit(
            "merchant_15m",
            &mut s.merchant_15m,
            at,
            |m| Keys { merchant: Some(m.into()), ..Keys::default() },
            out,
        );
        more |= emit(
            "customer_1h",
            &mut s.customer_1h,
            at,
            |u| Keys { user_id: Some(u.to_string()), ..Keys::default() },
            out,
        );
        more |=
            emit("country_30m", &mut s.country_30m, at, |c| Keys { country: Some(c.into()), ..Keys::default() }, out);
        more |= emit(
            "merchant_payment_country_10m",
            &mut s.merchant_payment_country_10m,
            at,
            |(m, p, c)| Keys {
                merchant: Some(m.into()),
                payment_method: Some(p.into()),
                country: Some(c.into()),
                user_id: None,
            },
            out,
        );
        more
    }

    fn checkpoint(&mut self, full: bool) -> Snapshot {
        match full {
            true => snapshot(self.name(), (self.stores.whole(), self.late_events)),
            false => snapshot(self.name(), (self.stores.delta(), self.late_events)),
        }
    }

    fn settle(&mut self, budget: usize) {
        self.stores.settle(budget);
    }
}
