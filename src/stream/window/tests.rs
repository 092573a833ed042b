use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const S: i64 = 1_000_000;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn win(start: i64, end: i64) -> Window {
    Window { start: t(start), end: t(end) }
}

/// Counts events and sums their inputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Sum {
    n: u64,
    total: u64,
}

impl Accumulator for Sum {
    type Input = u64;
    type Output = (u64, u64);
    fn add(&mut self, input: &u64) {
        self.n += 1;
        self.total += input;
    }
    fn merge(&mut self, other: &Sum) {
        self.n += other.n;
        self.total += other.total;
    }
    fn finish(&self) -> (u64, u64) {
        (self.n, self.total)
    }
}

fn tumbling(size: u64) -> WindowSpec {
    WindowSpec::tumbling(secs(size)).unwrap()
}

fn sliding(size: u64, slide: u64) -> WindowSpec {
    WindowSpec::sliding(secs(size), secs(slide)).unwrap()
}

#[test]
fn w6_boundaries_start_belongs_end_does_not() {
    let spec = tumbling(60);
    assert_eq!(assign(&spec, t(60)).collect::<Vec<_>>(), [win(60, 120)]);
    assert_eq!(assign(&spec, t(119)).collect::<Vec<_>>(), [win(60, 120)]);
    assert_eq!(assign(&spec, Timestamp::from_micros(120 * S - 1)).collect::<Vec<_>>(), [win(60, 120)]);
    assert_eq!(assign(&spec, t(120)).collect::<Vec<_>>(), [win(120, 180)]);
    assert!(!win(60, 120).contains(t(120)) && win(60, 120).contains(t(60)));
}

#[test]
fn w6_negative_timestamps_align_to_the_epoch() {
    let spec = tumbling(60);
    assert_eq!(assign(&spec, t(-1)).collect::<Vec<_>>(), [win(-60, 0)]);
    assert_eq!(assign(&spec, t(-60)).collect::<Vec<_>>(), [win(-60, 0)]);
    assert_eq!(assign(&spec, t(-61)).collect::<Vec<_>>(), [win(-120, -60)]);
    let spec = sliding(15, 5);
    assert_eq!(assign(&spec, t(-1)).collect::<Vec<_>>(), [win(-15, 0), win(-10, 5), win(-5, 10)]);
}

#[test]
fn w7_sliding_assigns_size_over_slide_windows_in_start_order() {
    let spec = sliding(900, 300);
    assert_eq!(assign(&spec, t(600)).collect::<Vec<_>>(), [win(0, 900), win(300, 1200), win(600, 1500)]);
    assert_eq!(assign(&spec, t(899)).collect::<Vec<_>>(), [win(0, 900), win(300, 1200), win(600, 1500)]);
}

#[test]
fn w7_the_ends_of_time_skip_unrepresentable_windows_without_panicking() {
    let spec = sliding(15, 5);
    for ts in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
        let ts = Timestamp::from_micros(ts);
        let windows: Vec<_> = assign(&spec, ts).collect();
        assert!(windows.len() <= 3);
        assert!(windows.iter().all(|w| w.contains(ts)), "W-6");
    }
    // No window of i64::MIN is representable: the store says so instead of dropping it quietly.
    let mut store = WindowStore::<u64, Sum>::new(spec, Duration::ZERO).unwrap();
    let added = store.add(&1, Timestamp::from_micros(i64::MIN), &1, None);
    assert!(added.updated == 0 && added.is_late_event());
    assert!(!store.add(&1, t(0), &1, None).is_late_event());
}

#[test]
fn specs_are_validated_with_the_setting_named() {
    let err = |r: Result<WindowSpec, WindowError>| r.unwrap_err().to_string();
    assert_eq!(err(WindowSpec::tumbling(Duration::ZERO)), "window setting `size` must be greater than 0");
    assert_eq!(err(WindowSpec::sliding(secs(60), Duration::ZERO)), "window setting `slide` must be greater than 0");
    assert_eq!(
        err(WindowSpec::sliding(secs(600), secs(240))),
        "window setting `slide` (4m) must divide the window `size` (10m) evenly"
    );
    assert!(err(WindowSpec::sliding(secs(60), secs(120))).contains("must divide"));
    assert!(err(WindowSpec::sliding(secs(86_400), secs(1))).contains("86400 windows (at most 1000)"));
    assert!(err(WindowSpec::tumbling(Duration::from_nanos(1_500))).contains("whole number of microseconds"));
    assert_eq!(assign(&WindowSpec::Tumbling { size: Duration::ZERO }, t(1)).count(), 0);
    let spec: WindowSpec = serde_json::from_str(r#"{"kind":"sliding","size":"15m","slide":"5m"}"#).unwrap();
    assert_eq!(spec, sliding(900, 300));
    assert!(serde_json::from_str::<WindowSpec>(r#"{"kind":"tumbling","size":"1m","slid":"1m"}"#).is_err());
}

#[test]
fn w8_classification_on_time_late_too_late() {
    let w = win(0, 60);
    let l = secs(30);
    assert_eq!(classify(w, None, l), Lateness::OnTime);
    assert_eq!(classify(w, Some(Timestamp::from_micros(60 * S - 1)), l), Lateness::OnTime);
    assert_eq!(classify(w, Some(t(60)), l), Lateness::Late);
    assert_eq!(classify(w, Some(Timestamp::from_micros(90 * S - 1)), l), Lateness::Late);
    assert_eq!(classify(w, Some(t(90)), l), Lateness::TooLate);
    assert_eq!(classify(w, Some(t(60)), Duration::ZERO), Lateness::TooLate);
    assert_eq!(classify(win(0, 60), Some(super::super::time::END_OF_TIME), secs(u64::MAX / 2)), Lateness::TooLate);
}

#[test]
fn w8_a_sliding_event_can_be_too_late_for_some_windows_and_counted_in_others() {
    let mut store = WindowStore::<u64, Sum>::new(sliding(15, 5), secs(2)).unwrap();
    // Windows of ts=12: [0,15) [5,20) [10,25). Watermark 20: [0,15) is final, [5,20) is late.
    let added = store.add(&1, t(12), &7, Some(t(20)));
    assert_eq!(added, Added { updated: 2, late: 1, too_late: vec![win(0, 15)] });
    let added = store.add(&1, t(30), &1, None);
    assert_eq!(added, Added { updated: 3, late: 0, too_late: vec![] }, "the store remembers the watermark");
    let all = store.add(&1, t(1), &1, Some(t(100)));
    assert_eq!((all.updated, all.too_late.len()), (0, 3));
    assert!(all.is_late_event());
}

#[test]
fn w9_a_window_is_emitted_once_and_a_stale_watermark_cannot_reopen_it() {
    let mut store = WindowStore::<String, Sum>::new(tumbling(60), secs(10)).unwrap();
    assert!(store.add("a", t(5), &2, None).too_late.is_empty());
    assert!(store.add("a", t(50), &3, Some(t(40))).too_late.is_empty());
    assert_eq!(store.advance(t(60)), [], "late events are still accepted until end + lateness");
    assert_eq!(store.add("a", t(59), &4, Some(t(60))).late, 1);
    let closed = store.advance(t(70));
    assert_eq!(closed, [Closed { key: "a".to_string(), window: win(0, 60), output: (3, 9) }]);
    assert!(store.is_empty());
    assert_eq!(store.add("a", t(1), &1, Some(t(0))).too_late, [win(0, 60)]);
    assert_eq!(store.advance(t(65)), []);
    assert!(store.is_empty(), "W-11 nothing reopened");
}

#[test]
fn w10_advance_emits_in_end_then_key_order() {
    let mut store = WindowStore::<u64, Sum>::new(sliding(20, 10), Duration::ZERO).unwrap();
    for (key, ts) in [(3, 15), (1, 25), (2, 5), (1, 5)] {
        let _ = store.add(&key, t(ts), &1, None);
    }
    let order: Vec<_> = store.advance(t(30)).into_iter().map(|c| (c.window.end.micros() / S, c.key)).collect();
    assert_eq!(order, [(10, 1), (10, 2), (20, 1), (20, 2), (20, 3), (30, 1), (30, 3)]);
    assert_eq!(store.len(), 1);
    let partial: Vec<_> = store.partial().map(|(k, w, a)| (*k, w, a.n)).collect();
    assert_eq!(partial, [(1, win(20, 40), 1)]);
}

#[test]
fn restoring_refuses_inconsistent_state() {
    let mut store = WindowStore::<u64, Sum>::new(sliding(20, 10), Duration::ZERO).unwrap();
    let _ = store.add(&1, t(5), &1, None);
    let json = serde_json::to_string(&store).unwrap();
    let misaligned = json.replace("\"next\":-10000000", "\"next\":-9000000");
    assert_ne!(json, misaligned);
    let e = serde_json::from_str::<WindowStore<u64, Sum>>(&misaligned).unwrap_err();
    assert!(e.to_string().starts_with("checkpointed window state is inconsistent"), "{e}");
    let bad_spec = json.replace("\"10s\"", "\"7s\"");
    let e = serde_json::from_str::<WindowStore<u64, Sum>>(&bad_spec).unwrap_err();
    assert!(e.to_string().contains("window setting `slide`"), "{e}");
}

// --- the model-based property test -----------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Add { key: u8, ts: i64, input: u8, watermark: Option<i64> },
    Advance(i64),
    RoundTrip,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        8 => (0u8..4, -60i64..600, any::<u8>(), proptest::option::of(-60i64..600)).prop_map(
            |(key, ts, input, watermark)| Op::Add { key, ts, input, watermark }
        ),
        2 => (-60i64..650).prop_map(Op::Advance),
        1 => Just(Op::RoundTrip),
    ];
    proptest::collection::vec(op, 0..150)
}

fn spec_strategy() -> impl Strategy<Value = (WindowSpec, u64)> {
    (prop_oneof![Just(tumbling(60)), Just(sliding(60, 20)), Just(sliding(30, 30))], 0u64..40)
}

type Outputs = Vec<Closed<u8, (u64, u64)>>;

/// Runs `ops`, restoring the store from its checkpoint images when asked (or never, if
/// `round_trips` is false), and checks W-8, W-9 and W-11 along the way against a model that
/// remembers everything. The first image is full, later ones are deltas, and each restore
/// replays all of them into a new store (C-1 of `changelog`).
fn run(spec: &WindowSpec, lateness: u64, ops: &[Op], round_trips: bool) -> Result<Outputs, TestCaseError> {
    let lateness_d = secs(lateness);
    let mut store = WindowStore::<u8, Sum>::new(spec.clone(), lateness_d).unwrap();
    let mut model: BTreeMap<(Window, u8), (u64, u64)> = BTreeMap::new();
    let mut watermark: Option<i64> = None;
    let mut outputs = Vec::new();
    let mut images: Vec<Vec<u8>> = Vec::new();
    for op in ops {
        match *op {
            Op::Add { key, ts, input, watermark: w } => {
                watermark = watermark.max(w.map(|w| w * S));
                let wm = watermark.map(Timestamp::from_micros);
                let added = store.add(&key, t(ts), &u64::from(input), w.map(t));
                let mut expect = Added::default();
                for window in assign(spec, t(ts)) {
                    match classify(window, wm, lateness_d) {
                        Lateness::TooLate => expect.too_late.push(window),
                        class => {
                            expect.updated += 1;
                            expect.late += u32::from(class == Lateness::Late);
                            let e = model.entry((window, key)).or_default();
                            e.0 += 1;
                            e.1 += u64::from(input);
                        }
                    }
                }
                prop_assert_eq!(added, expect, "W-8");
            }
            Op::Advance(w) => {
                watermark = watermark.max(Some(w * S));
                // The restored run also emits in chunks of two (`advance_some`): the same
                // windows, in the same order.
                let closed = if round_trips {
                    let mut closed = Vec::new();
                    while store.advance_some(t(w), 2, |c| closed.push(c)) {}
                    closed
                } else {
                    store.advance(t(w))
                };
                let keys: Vec<_> = closed.iter().map(|c| (c.window.end, c.window.start, c.key)).collect();
                prop_assert!(keys.windows(2).all(|p| p[0] < p[1]), "W-10 order {:?}", keys);
                for c in closed {
                    let expected = model.remove(&(c.window, c.key));
                    prop_assert_eq!(Some(c.output), expected, "W-9 emitted once with the model's total");
                    outputs.push(c);
                }
                let wm = watermark.unwrap_or(i64::MIN);
                prop_assert!(store.partial().all(|(_, w, _)| w.end.micros() + (lateness as i64) * S > wm), "W-11");
                prop_assert!(model.keys().all(|(w, _)| w.end.micros() + (lateness as i64) * S > wm), "W-9 complete");
            }
            Op::RoundTrip if round_trips => {
                let image = match images.is_empty() {
                    true => rmp_serde::to_vec(&store.whole()).unwrap(),
                    false => rmp_serde::to_vec(&store.delta()).unwrap(),
                };
                images.push(image);
                store.settle(2); // merges some of what the image let go of
                let mut restored: WindowStore<u8, Sum> = rmp_serde::from_slice(&images[0]).unwrap();
                for bytes in &images[1..] {
                    restored.apply(rmp_serde::from_slice(bytes).unwrap()).unwrap();
                }
                prop_assert_eq!(serde_json::to_string(&restored).unwrap(), serde_json::to_string(&store).unwrap());
                store = restored;
            }
            Op::RoundTrip => {}
        }
        let live: BTreeMap<(Window, u8), (u64, u64)> = store.partial().map(|(k, w, a)| ((w, *k), a.finish())).collect();
        prop_assert_eq!(&live, &model, "the live view is the model's open windows");
        prop_assert_eq!(store.len(), store.recount(), "the running count of accumulators");
    }
    let end = store.advance(super::super::time::END_OF_TIME);
    prop_assert_eq!(end.len(), model.len(), "W-9 everything is emitted at the end");
    outputs.extend(end);
    prop_assert!(store.is_empty());
    Ok(outputs)
}

proptest! {
    #[test]
    fn w9_w10_each_window_is_emitted_exactly_once_and_restores_are_invisible(
        (spec, lateness) in spec_strategy(),
        ops in ops(),
    ) {
        let restored = run(&spec, lateness, &ops, true)?;
        let uninterrupted = run(&spec, lateness, &ops, false)?;
        prop_assert_eq!(&restored, &uninterrupted, "W-10");
        let mut seen = BTreeSet::new();
        prop_assert!(restored.iter().all(|c| seen.insert((c.window, c.key))), "W-9");
    }

    #[test]
    fn w6_w7_assigned_windows_contain_ts(ts in any::<i64>(), (spec, _) in spec_strategy()) {
        let ts = Timestamp::from_micros(ts);
        let windows: Vec<_> = assign(&spec, ts).collect();
        let g = spec.geometry().unwrap();
        for w in &windows {
            prop_assert!(w.contains(ts), "W-6");
            prop_assert_eq!(w.end.micros() - w.start.micros(), g.size);
            prop_assert_eq!(w.start.micros().rem_euclid(g.slide), 0);
        }
        prop_assert!(windows.windows(2).all(|p| p[0].start < p[1].start), "W-7 order");
        let near_edge = ts.micros().checked_sub(g.size).is_none() || ts.micros().checked_add(g.size).is_none();
        prop_assert!(near_edge || windows.len() as i64 == g.size / g.slide, "W-7 count");
    }
}
