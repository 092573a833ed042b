//! Criterion benches of the window store on the processor's hot path, with KPI accumulators:
//!
//! - `platform_1m`: one platform-wide key, 1-minute tumbling windows;
//! - `merchant_15m_5m`: ~200 merchants, 15-minute windows sliding by 5 minutes (3 per event);
//! - `both`: each event into both stores, the processor's real shape;
//! - `merchant_15m_5m_count`: the merchant store with a bare counter, the store's own overhead.
//!
//! Events come in near event-time order (500 events per second of event time, up to 2 s of
//! disorder), from 50,000 customers on 60,000 devices; the watermark trails the newest event by
//! 5 s and both stores `advance` every 1,000 events, with 60 s allowed lateness. One iteration
//! runs 400,000 events (13 minutes of event time) through fresh stores and flushes them at the
//! end, so window opening, accumulating and closing are all in the figure. Throughput is per
//! event. Run with `cargo bench --bench window`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use streamify::analytics::kpi::{Kpi, KpiInput};
use streamify::model::{PaymentMethod, Timestamp, Vocabulary};
use streamify::stream::time::END_OF_TIME;
use streamify::stream::window::{Accumulator, Closed, WindowSpec, WindowStore};

const EVENTS: usize = 400_000;
const START: i64 = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z
const ADVANCE_EVERY: usize = 1_000;

struct Event {
    ts: Timestamp,
    input: KpiInput,
}

/// SplitMix64: a deterministic stream of well-mixed numbers.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn events() -> Vec<Event> {
    (0..EVENTS as u64)
        .map(|i| {
            let r = mix(i);
            let customer = mix(r % 50_000);
            KpiInput {
                amount: (r >> 20) as f64 % 50_000.0 / 100.0,
                customer,
                device: mix(customer ^ ((r >> 40) % 6 / 5)), // a few customers use two devices
                merchant: mix(1 + (r >> 24) % 200),
                payment_method: PaymentMethod::ALL[(r >> 32) as usize % PaymentMethod::ALL.len()],
                known_fraud: r.is_multiple_of(997),
                alert: r.is_multiple_of(101),
                high_value: r.is_multiple_of(50),
            }
        })
        .enumerate()
        .map(|(i, input)| {
            let disorder = (mix(!(i as u64)) % 2_000_000) as i64; // up to 2 s late
            let ts = START + i as i64 * 2_000 - disorder;
            Event { ts: Timestamp::from_micros(ts), input }
        })
        .collect()
}

struct Stores {
    platform: Option<WindowStore<(), Kpi>>,
    merchants: Option<WindowStore<u64, Kpi>>,
}

fn stores(platform: bool, merchants: bool) -> Stores {
    let lateness = Duration::from_secs(60);
    let tumbling = WindowSpec::tumbling(Duration::from_secs(60)).unwrap();
    let sliding = WindowSpec::sliding(Duration::from_secs(900), Duration::from_secs(300)).unwrap();
    Stores {
        platform: platform.then(|| WindowStore::new(tumbling, lateness).unwrap()),
        merchants: merchants.then(|| WindowStore::new(sliding, lateness).unwrap()),
    }
}

/// Runs every event through the stores; returns the number of closed windows and of counts.
fn run(events: &[Event], mut s: Stores) -> (usize, usize) {
    let mut max_ts = i64::MIN;
    let mut watermark = None;
    let mut platform_out: Vec<Closed<(), _>> = Vec::new();
    let mut merchant_out: Vec<Closed<u64, _>> = Vec::new();
    let mut closed = 0;
    let mut counted = 0;
    for (i, e) in events.iter().enumerate() {
        if let Some(p) = &mut s.platform {
            counted += p.add(&(), e.ts, &e.input, watermark).updated as usize;
        }
        if let Some(m) = &mut s.merchants {
            counted += m.add(&e.input.merchant, e.ts, &e.input, watermark).updated as usize;
        }
        max_ts = max_ts.max(e.ts.micros());
        if (i + 1) % ADVANCE_EVERY == 0 {
            let w = Timestamp::from_micros(max_ts - 5_000_000);
            watermark = Some(w);
            if let Some(p) = &mut s.platform {
                p.advance_some(w, usize::MAX, |c| platform_out.push(c));
            }
            if let Some(m) = &mut s.merchants {
                m.advance_some(w, usize::MAX, |c| merchant_out.push(c));
            }
            closed += platform_out.len() + merchant_out.len();
            platform_out.clear();
            merchant_out.clear();
        }
    }
    if let Some(p) = &mut s.platform {
        closed += p.advance(END_OF_TIME).len();
    }
    if let Some(m) = &mut s.merchants {
        closed += m.advance(END_OF_TIME).len();
    }
    (closed, counted)
}

/// Counts events: what the store costs without an accumulator's own work.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Count(u64);

impl Accumulator for Count {
    type Input = KpiInput;
    type Output = u64;
    fn add(&mut self, _: &KpiInput) {
        self.0 += 1;
    }
    fn merge(&mut self, other: &Count) {
        self.0 += other.0;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn count_only(events: &[Event]) -> usize {
    let sliding = WindowSpec::sliding(Duration::from_secs(900), Duration::from_secs(300)).unwrap();
    let mut store = WindowStore::<u64, Count>::new(sliding, Duration::from_secs(60)).unwrap();
    let (mut max_ts, mut watermark, mut closed) = (i64::MIN, None, 0);
    for (i, e) in events.iter().enumerate() {
        closed += store.add(&e.input.merchant, e.ts, &e.input, watermark).updated as usize;
        max_ts = max_ts.max(e.ts.micros());
        if (i + 1) % ADVANCE_EVERY == 0 {
            let w = Timestamp::from_micros(max_ts - 5_000_000);
            watermark = Some(w);
            closed += store.advance(w).len();
        }
    }
    closed + store.advance(END_OF_TIME).len()
}

fn bench(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("window");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10).measurement_time(Duration::from_secs(15));
    for (name, platform, merchants) in
        [("platform_1m", true, false), ("merchant_15m_5m", false, true), ("both", true, true)]
    {
        group.bench_function(name, |b| b.iter(|| black_box(run(&events, stores(platform, merchants)))));
    }
    group.bench_function("merchant_15m_5m_count", |b| b.iter(|| black_box(count_only(&events))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
