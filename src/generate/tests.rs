//! The generator's promises: determinism, exact resume, event-time order, valid events, and a
//! shop that looks like a shop (conversion, daily and weekly rhythm, Zipf merchants, fraud mix).

use super::*;
use crate::bus::memory::MemoryBus;
use crate::model::geo::city_by_location;
use crate::model::{
    ClickType, Event, EventKind, FixedClock, FraudScenario, Pseudonymizer, Timestamp, Validator, Vocabulary,
    decode_json,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

fn pseudonymizer() -> Pseudonymizer {
    crate::config::Config::defaults().pseudonymizer()
}

/// A smaller shop than the default, so debug-build tests stay quick.
fn small() -> Params {
    Params { customers: 2_000, merchants: 200, products: 1_000, ..Params::defaults() }
}

fn generator(params: &Params) -> Generator {
    Generator::new(params.clone(), Arc::new(World::build(params, &pseudonymizer())))
}

/// Events up to and including the `n`-th transaction.
fn until_transactions(g: &mut Generator, n: u64) -> Vec<Event> {
    let mut out = Vec::new();
    while g.counts().transactions < n {
        out.push(g.next_event());
    }
    out
}

fn encode_all(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        e.encode(&mut out);
        out.push(b'\n');
    }
    out
}

fn transactions(events: &[Event]) -> Vec<&crate::model::Transaction> {
    events.iter().filter_map(|e| if let Event::Transaction(t) = e { Some(t) } else { None }).collect()
}

#[test]
fn same_seed_gives_identical_bytes() {
    let p = small();
    let a = encode_all(&until_transactions(&mut generator(&p), 200));
    let b = encode_all(&until_transactions(&mut generator(&p), 200));
    assert!(a.len() > 100_000);
    assert!(a == b, "two runs of the same seed differ");
}

#[test]
fn different_seeds_differ() {
    let a = encode_all(&until_transactions(&mut generator(&small()), 50));
    let b = encode_all(&until_transactions(&mut generator(&Params { seed: 43, ..small() }), 50));
    assert_ne!(a, b);
}

#[test]
fn resume_from_any_cursor_equals_one_long_run() {
    let p = small();
    let world = Arc::new(World::build(&p, &pseudonymizer()));
    let mut one = Generator::new(p.clone(), world.clone());
    let mut whole = until_transactions(&mut one, 300);
    whole.extend((0..20).map(|_| one.next_event()));
    for cut in [1, 37, 150, 299] {
        let mut first = Generator::new(p.clone(), world.clone());
        let mut events = until_transactions(&mut first, cut);
        // A few clicks past the cut too, so the cursor sits between transactions.
        events.extend((0..cut % 5).map(|_| first.next_event()));
        let stored: Cursor = serde_json::from_str(&serde_json::to_string(&first.cursor()).unwrap()).unwrap();
        let mut resumed = Generator::resume(p.clone(), world.clone(), &stored);
        assert_eq!(resumed.counts(), first.counts());
        events.extend((events.len()..whole.len()).map(|_| resumed.next_event()));
        assert!(encode_all(&events) == encode_all(&whole), "resume after {cut} transactions diverged");
    }
}

#[test]
fn resumed_bus_run_of_n_then_m_equals_one_run_of_n_plus_m() {
    let p = small();
    let dir = tempfile::tempdir().unwrap();
    let state_path = GeneratorState::path(dir.path());
    let world = Arc::new(World::build(&p, &pseudonymizer()));
    let options = |n| RunOptions::transactions(n, 1000);

    let one = MemoryBus::new(3);
    let mut sink = BusSink::new(one.producer());
    let summary =
        run(&mut Generator::new(p.clone(), world.clone()), &mut sink, &options(250), None, &mut |_| {}).unwrap();
    assert_eq!((summary.transactions, summary.counter, summary.seed), (250, 250, p.seed));

    let two = MemoryBus::new(3);
    let mut sink = BusSink::new(two.producer());
    let mut acked = 0;
    let first =
        run(&mut Generator::new(p.clone(), world.clone()), &mut sink, &options(100), Some(&state_path), &mut |c| {
            acked += c.transactions
        })
        .unwrap();
    assert_eq!(acked, 100);
    let state = GeneratorState::load(&state_path).unwrap().unwrap();
    assert_eq!(state.cursor.counts.transactions, 100);
    assert_eq!(state.sink, SinkState::Bus);
    let mut resumed = Generator::resume(state.params, world, &state.cursor);
    let second = run(&mut resumed, &mut sink, &options(150), Some(&state_path), &mut |_| {}).unwrap();
    assert_eq!(second.counter, 250);
    assert_eq!(first.clickstream + second.clickstream, summary.clickstream);
    for topic in [crate::model::topic::TRANSACTIONS, crate::model::topic::CLICKSTREAM] {
        assert!(one.records(topic) == two.records(topic), "topic {topic} differs");
    }
    assert_eq!(one.records(crate::model::topic::TRANSACTIONS).len(), 250);
}

#[test]
fn file_resume_cuts_a_torn_tail_and_continues_exactly() {
    let p = small();
    let dir = tempfile::tempdir().unwrap();
    let world = Arc::new(World::build(&p, &pseudonymizer()));
    let options = |n| RunOptions::transactions(n, 500);

    let whole = dir.path().join("whole.jsonl");
    let mut sink = FileSink::create(&whole).unwrap();
    run(&mut Generator::new(p.clone(), world.clone()), &mut sink, &options(120), None, &mut |_| {}).unwrap();

    let state_path = GeneratorState::path(dir.path());
    let parts = dir.path().join("parts.jsonl");
    let mut sink = FileSink::create(&parts).unwrap();
    run(&mut Generator::new(p.clone(), world.clone()), &mut sink, &options(70), Some(&state_path), &mut |_| {})
        .unwrap();
    drop(sink);
    // A crash in the middle of a later batch leaves unacknowledged bytes behind.
    let mut f = std::fs::OpenOptions::new().append(true).open(&parts).unwrap();
    std::io::Write::write_all(&mut f, b"{\"v\":1,\"transaction_id\":\"torn").unwrap();
    let state = GeneratorState::load(&state_path).unwrap().unwrap();
    let mut sink = FileSink::reopen(&state.sink).unwrap();
    let mut resumed = Generator::resume(state.params, world, &state.cursor);
    run(&mut resumed, &mut sink, &options(50), Some(&state_path), &mut |_| {}).unwrap();
    drop(sink);
    for (a, b) in [(&whole, &parts), (&FileSink::clickstream_path(&whole), &FileSink::clickstream_path(&parts))] {
        assert!(std::fs::read(a).unwrap() == std::fs::read(b).unwrap(), "{} differs", b.display());
    }
}

#[test]
fn no_clickstream_leaves_transactions_unchanged() {
    let with = until_transactions(&mut generator(&small()), 150);
    let without = until_transactions(&mut generator(&Params { clickstream: false, ..small() }), 150);
    assert!(without.iter().all(|e| matches!(e, Event::Transaction(_))));
    assert_eq!(transactions(&with), transactions(&without));
}

#[test]
fn events_are_in_event_time_order() {
    let mut g = generator(&small());
    let mut last = Timestamp::from_micros(i64::MIN);
    for _ in 0..60_000 {
        let t = g.next_event().time();
        assert!(t >= last, "{t} after {last}");
        last = t;
    }
}

#[test]
fn every_event_round_trips_through_validation() {
    let validator =
        Validator::new(Arc::new(FixedClock(Timestamp::from_secs(4_000_000_000))), Duration::ZERO, pseudonymizer());
    let p = Params { fraud_rate: 0.2, ..small() };
    let mut g = generator(&p);
    let mut seen = BTreeSet::new();
    let mut buf = Vec::new();
    for _ in 0..30_000 {
        let event = g.next_event();
        buf.clear();
        event.encode(&mut buf);
        let back = decode_json(event.kind(), &buf, &validator)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&buf)));
        assert_eq!(back, event);
        if let Event::Transaction(t) = &event {
            assert!(city_by_location(&t.location).is_some(), "{}", t.location);
            assert!(Pseudonymizer::is_pseudonym(t.customer_email.as_deref().unwrap_or_default()));
        }
        seen.insert(event.kind() == EventKind::Click);
    }
    assert_eq!(seen.len(), 2, "both kinds appear");
}

#[test]
fn fraud_share_is_near_the_rate_with_every_scenario_and_a_minority_known() {
    let p = Params { fraud_rate: 0.05, conversion_rate: 0.5, clickstream: false, ..small() };
    let events = until_transactions(&mut generator(&p), 20_000);
    let txs = transactions(&events);
    let fraud: Vec<_> = txs.iter().filter(|t| t.injected_scenario.is_some()).collect();
    let share = fraud.len() as f64 / txs.len() as f64;
    assert!((0.0375..0.0625).contains(&share), "fraud share {share}");
    let scenarios: BTreeSet<_> = fraud.iter().filter_map(|t| t.injected_scenario).collect();
    assert_eq!(scenarios.len(), FraudScenario::ALL.len(), "{scenarios:?}");
    let known = fraud.iter().filter(|t| t.is_fraud == Some(true)).count() as f64 / fraud.len() as f64;
    assert!((0.2..0.4).contains(&known), "known share {known}");
    assert!(txs.iter().all(|t| t.injected_scenario.is_some() || t.is_fraud == Some(false)));
    // Card testing is small amounts; high-risk patterns come from high-risk countries.
    for t in &fraud {
        match t.injected_scenario {
            Some(FraudScenario::CardTesting) => assert!(t.amount <= 5.0, "{}", t.amount),
            Some(FraudScenario::HighRiskPattern) => assert!(city_by_location(&t.location).unwrap().high_risk),
            _ => {}
        }
    }
}

#[test]
fn impossible_travel_follows_a_far_purchase_within_ninety_minutes() {
    let p = Params { fraud_rate: 0.2, conversion_rate: 0.5, clickstream: false, ..small() };
    let events = until_transactions(&mut generator(&p), 5_000);
    let txs = transactions(&events);
    let mut checked = 0;
    for (i, t) in txs.iter().enumerate() {
        if t.injected_scenario != Some(FraudScenario::ImpossibleTravel) {
            continue;
        }
        let here = city_by_location(&t.location).unwrap();
        let window = t.timestamp.micros() - 90 * 60 * 1_000_000;
        let far_before = txs[..i]
            .iter()
            .rev()
            .take_while(|o| o.timestamp.micros() >= window)
            .any(|o| o.user_id == t.user_id && city_by_location(&o.location).unwrap().distance_km(here) >= 2_500.0);
        assert!(far_before, "{} has no far purchase just before", t.transaction_id);
        checked += 1;
    }
    assert!(checked > 10, "{checked}");
}

#[test]
fn conversion_rate_is_plausible() {
    let events = until_transactions(&mut generator(&small()), 2_000);
    let mut sessions: BTreeMap<&str, bool> = BTreeMap::new();
    let mut types = BTreeMap::new();
    for e in &events {
        if let Event::Click(c) = e {
            let bought = sessions.entry(c.session_id.as_str()).or_default();
            *bought |= c.event_type == ClickType::Purchase;
            *types.entry(c.event_type).or_insert(0) += 1;
        }
    }
    let rate = sessions.values().filter(|b| **b).count() as f64 / sessions.len() as f64;
    let expected = small().conversion_rate;
    assert!((expected * 0.7..expected * 1.3).contains(&rate), "conversion {rate} over {} sessions", sessions.len());
    assert_eq!(types.len(), ClickType::ALL.len(), "every funnel step appears: {types:?}");
    assert!(types[&ClickType::PageView] > 5 * types[&ClickType::AddToCart]);
}

#[test]
fn daily_and_weekly_rhythm_is_visible() {
    let p = Params { transactions_per_hour: 60.0, conversion_rate: 0.5, clickstream: false, ..small() };
    let events = until_transactions(&mut generator(&p), 60 * 24 * 28);
    let (mut by_hour, mut by_day) = ([0u32; 24], [0u32; 7]);
    for t in transactions(&events) {
        by_hour[t.timestamp.hour() as usize] += 1;
        by_day[t.timestamp.weekday() as usize] += 1;
    }
    let evening = by_hour[18..22].iter().sum::<u32>() as f64;
    let small_hours = by_hour[2..6].iter().sum::<u32>() as f64;
    assert!(evening > 3.0 * small_hours, "{by_hour:?}");
    let weekday = by_day[..5].iter().sum::<u32>() as f64 / 5.0;
    let weekend = by_day[5..].iter().sum::<u32>() as f64 / 2.0;
    assert!(weekend > 1.08 * weekday, "{by_day:?}");
}

#[test]
fn merchant_popularity_is_zipf_skewed() {
    let p = Params { conversion_rate: 0.5, clickstream: false, ..small() };
    let events = until_transactions(&mut generator(&p), 20_000);
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for t in transactions(&events) {
        *counts.entry(t.merchant.as_str()).or_default() += 1;
    }
    let mut sorted: Vec<u32> = counts.values().copied().collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let total: u32 = sorted.iter().sum();
    let top_tenth: u32 = sorted[..p.merchants as usize / 10].iter().sum();
    assert!(top_tenth as f64 > 0.4 * total as f64, "top 10% of merchants have {top_tenth} of {total}");
    assert!(sorted[0] > 10 * sorted[sorted.len() / 2], "{:?}", &sorted[..5]);
}

#[test]
fn many_countries_including_high_risk_ones() {
    let events = until_transactions(&mut generator(&Params { clickstream: false, ..small() }), 3_000);
    let cities: Vec<_> = transactions(&events).iter().map(|t| city_by_location(&t.location).unwrap()).collect();
    let countries: BTreeSet<_> = cities.iter().map(|c| c.iso).collect();
    assert!(countries.len() >= 30, "{}", countries.len());
    assert!(cities.iter().any(|c| c.high_risk));
}

#[test]
fn config_checks_name_the_setting() {
    let mut c = crate::config::Config::defaults().generate;
    c.start = "tomorrow".into();
    c.conversion_rate = 0.0;
    c.batch_events = 0;
    let mut problems = Vec::new();
    c.check(&mut problems);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("generate.conversion_rate"));
    let now = GenerateConfig { start: "now".into(), ..crate::config::Config::defaults().generate };
    assert_eq!(now.params(&FixedClock(Timestamp::from_secs(7))).start, Timestamp::from_secs(7));
}
