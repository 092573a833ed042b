use super::*;
use crate::stream::time::END_OF_TIME;
use crate::stream::window::{WindowSpec, WindowStore};
use proptest::prelude::*;

const MIN: i64 = 60;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn click(session_id: &str, secs: i64, kind: ClickType) -> Click<'_> {
    Click { session_id, user: 7, kind, ts: t(secs), price: None, quantity: None }
}

fn sessionizer() -> Sessionizer {
    Sessionizer::new(&SessionConfig::default()).unwrap()
}

fn observe_all(s: &mut Sessionizer, clicks: &[Click<'_>]) {
    for c in clicks {
        assert_ne!(s.observe(c, None), Observed::TooLate);
    }
}

#[test]
fn s1_a_pause_of_gap_or_more_splits_a_session_id() {
    let mut s = sessionizer();
    let pv = ClickType::PageView;
    observe_all(&mut s, &[click("a", 0, pv), click("a", 30 * MIN - 1, pv), click("a", 60 * MIN - 2, pv)]);
    observe_all(&mut s, &[click("b", 0, pv), click("b", 30 * MIN, pv)]);
    assert_eq!(s.len(), 3);
    let out = s.close_idle(END_OF_TIME);
    let got: Vec<_> = out.iter().map(|x| (x.session_id.as_str(), x.start, x.events)).collect();
    assert_eq!(got, [("b", t(0), 1), ("b", t(30 * MIN), 1), ("a", t(0), 3)]);
    assert_eq!(out[2].duration_secs, (60 * MIN - 2) as f64);
    assert!(s.is_empty());
}

#[test]
fn s1_an_out_of_order_event_joins_two_sessions_into_one() {
    let mut s = sessionizer();
    let pv = ClickType::PageView;
    observe_all(&mut s, &[click("a", 50 * MIN, pv), click("a", 0, pv)]);
    assert_eq!(s.len(), 2);
    let mut middle = click("a", 25 * MIN, ClickType::Purchase);
    middle.user = 9;
    observe_all(&mut s, &[middle]);
    assert_eq!(s.len(), 1);
    let out = s.close_idle(END_OF_TIME);
    assert_eq!((out[0].start, out[0].end, out[0].events, out[0].user), (t(0), t(50 * MIN), 3, 7));
}

#[test]
fn s2_a_session_closes_once_when_the_watermark_reaches_last_event_plus_gap() {
    let mut s = sessionizer();
    observe_all(&mut s, &[click("a", 0, ClickType::PageView), click("a", 10 * MIN, ClickType::AddToCart)]);
    assert_eq!(s.close_idle(Timestamp::from_micros(40 * MIN * 1_000_000 - 1)), []);
    assert_eq!(s.close_idle(t(40 * MIN)).len(), 1);
    assert_eq!(s.close_idle(t(41 * MIN)), []);
    assert!(s.is_empty());
}

#[test]
fn counts_and_revenue_of_a_converted_session() {
    let mut s = sessionizer();
    let buy = |secs, price, quantity| Click { price, quantity, ..click("a", secs, ClickType::Purchase) };
    let viewed = Click { price: Some(99.0), ..click("a", 0, ClickType::PageView) };
    observe_all(
        &mut s,
        &[
            viewed,
            click("a", 1, ClickType::AddToCart),
            click("a", 2, ClickType::RemoveFromCart),
            click("a", 3, ClickType::WishlistAdd),
            buy(4, Some(10.1), Some(3)),
            buy(5, Some(5.0), None),
            buy(6, None, Some(2)),
            buy(7, Some(f64::NAN), Some(1)),
        ],
    );
    let out = s.close_idle(END_OF_TIME);
    let x = &out[0];
    assert_eq!((x.events, x.page_views, x.cart_adds, x.cart_removes, x.wishlist_adds, x.purchases), (8, 1, 1, 1, 1, 4));
    assert_eq!(x.revenue, 35.3);
    assert!(x.converted);
}

#[test]
fn s2_events_behind_the_watermark_join_open_sessions_or_come_back_too_late() {
    let mut s = sessionizer();
    let pv = ClickType::PageView;
    assert_eq!(s.observe(&click("a", 100 * MIN, pv), None), Observed::Opened);
    let wm = Some(t(110 * MIN));
    assert_eq!(s.observe(&click("a", 105 * MIN, pv), wm), Observed::Joined, "inside the open session");
    assert_eq!(s.observe(&click("a", 90 * MIN, pv), wm), Observed::TooLate, "would move its start back");
    assert_eq!(s.observe(&click("b", 109 * MIN, pv), wm), Observed::TooLate, "would open a session");
    assert_eq!(s.observe(&click("b", 110 * MIN, pv), None), Observed::Opened, "on time, the watermark is kept");
    assert_eq!(s.close_idle(t(200 * MIN)).iter().map(|x| x.events).sum::<u64>(), 3);
}

#[test]
fn s2_a_session_the_watermark_ended_takes_no_click_before_it_is_returned() {
    let mut s = sessionizer();
    let pv = ClickType::PageView;
    assert_eq!(s.observe(&click("a", 0, pv), None), Observed::Opened);
    // The watermark at 30 minutes ends the session (last click + gap); it is not returned yet.
    let wm = Some(t(30 * MIN));
    assert_eq!(s.observe(&click("a", 29 * MIN, pv), wm), Observed::TooLate, "would join an ended session");
    assert_eq!(s.observe(&click("a", 30 * MIN, pv), wm), Observed::Opened, "on time: a new session");
    let out = s.close_idle(t(100 * MIN));
    assert_eq!(out.iter().map(|x| (x.start, x.events)).collect::<Vec<_>>(), [(t(0), 1), (t(30 * MIN), 1)]);
}

#[test]
fn an_image_holds_each_session_id_once_and_an_older_image_listing_the_expiry_index_restores() {
    let mut s = sessionizer();
    let pv = ClickType::PageView;
    observe_all(&mut s, &[click("a", 0, pv), click("b", 5 * MIN, pv), click("a", 45 * MIN, pv)]);
    let image = rmp_serde::to_vec(&s).unwrap();
    let times = |id: &[u8]| image.windows(id.len()).filter(|w| *w == id).count();
    assert_eq!((times(b"\xa1a"), times(b"\xa1b")), (1, 1), "ids once, in the map of open sessions");
    // Checkpoints before the index was rebuilt on restore held it as (due, session id, number).
    let sessions: Vec<(String, Vec<Session>)> =
        ["a", "b"].iter().map(|id| (id.to_string(), s.open.get(*id).unwrap().clone())).collect();
    let expiry: Vec<(i64, String, u64)> =
        sessions.iter().flat_map(|(id, v)| v.iter().map(|x| (x.last + s.gap, id.clone(), x.id))).collect();
    let open: std::collections::BTreeMap<_, _> = sessions.into_iter().collect();
    let older = rmp_serde::to_vec(&(s.gap, s.watermark, s.next_id, open, expiry)).unwrap();
    let mut restored: Sessionizer = rmp_serde::from_slice(&older).unwrap();
    assert_eq!(restored, s);
    assert_eq!(restored.len(), 3);
    let closed = |s: &mut Sessionizer| s.close_idle(END_OF_TIME).into_iter().map(|x| (x.session_id, x.start)).collect();
    let (got, want): (Vec<_>, Vec<_>) = (closed(&mut restored), closed(&mut s));
    assert_eq!(got, want);
    assert_eq!(got.len(), 3);
}

#[test]
fn a_zero_gap_is_refused_with_the_setting_named() {
    let e = Sessionizer::new(&SessionConfig { gap: Duration::ZERO }).unwrap_err();
    assert_eq!(e.to_string(), "session setting `gap` must be greater than 0");
    let c: SessionConfig = serde_json::from_str(r#"{"gap":"45m"}"#).unwrap();
    assert_eq!(c.gap, Duration::from_secs(45 * 60));
}

#[test]
fn funnel_rates_are_never_nan_and_work_in_a_window_store_by_category() {
    let empty = Funnel::default().finish();
    assert_eq!((empty.view_to_cart, empty.cart_to_purchase, empty.conversion), (0.0, 0.0, 0.0));
    let spec = WindowSpec::tumbling(Duration::from_secs(10 * 60)).unwrap();
    let mut store = WindowStore::<String, Funnel>::new(spec, Duration::ZERO).unwrap();
    let events =
        [("shoes", 0, ClickType::PageView), ("shoes", 1, ClickType::PageView), ("shoes", 2, ClickType::PageView)];
    let more =
        [("shoes", 3, ClickType::PageView), ("shoes", 4, ClickType::AddToCart), ("shoes", 5, ClickType::AddToCart)];
    let last = [("shoes", 6, ClickType::Purchase), ("toys", 7, ClickType::RemoveFromCart)];
    for (category, secs, kind) in events.into_iter().chain(more).chain(last) {
        assert_eq!(store.add(category, t(secs), &kind, None).updated, 1);
    }
    let closed = store.advance(t(10 * MIN));
    let shoes = &closed[0].output;
    assert_eq!((shoes.views, shoes.cart_adds, shoes.purchases), (4, 2, 1));
    assert_eq!((shoes.view_to_cart, shoes.cart_to_purchase, shoes.conversion), (0.5, 0.5, 0.25));
    assert_eq!((closed[1].key.as_str(), closed[1].output.conversion), ("toys", 0.0));
}

// --- properties --------------------------------------------------------------------------------

const KINDS: [ClickType; 5] =
    [ClickType::PageView, ClickType::AddToCart, ClickType::RemoveFromCart, ClickType::WishlistAdd, ClickType::Purchase];
const IDS: [&str; 3] = ["s0", "s1", "s2"];

fn own(c: &Click<'_>) -> (usize, i64, usize) {
    (IDS.iter().position(|id| *id == c.session_id).unwrap(), c.ts.micros() / 1_000_000, c.kind as usize)
}

fn clicks() -> impl Strategy<Value = Vec<(usize, i64, usize)>> {
    proptest::collection::vec((0..IDS.len(), 0i64..300 * MIN, 0..KINDS.len()), 0..60)
}

fn as_click((id, secs, kind): (usize, i64, usize)) -> Click<'static> {
    Click { session_id: IDS[id], user: secs as u64, kind: KINDS[kind], ts: t(secs), price: Some(1.5), quantity: None }
}

/// Sessions the offline way: sort each id's events, split at pauses of the gap or more.
fn offline(events: &[(usize, i64, usize)]) -> Vec<(String, Timestamp, Timestamp, u64)> {
    let mut out = Vec::new();
    for (i, id) in IDS.iter().enumerate() {
        let mut times: Vec<i64> = events.iter().filter(|e| e.0 == i).map(|e| e.1).collect();
        times.sort_unstable();
        let mut run: Vec<i64> = Vec::new();
        for ts in times {
            if run.last().is_some_and(|last| ts - last >= 30 * MIN) {
                out.push((id.to_string(), t(run[0]), t(*run.last().unwrap()), run.len() as u64));
                run.clear();
            }
            run.push(ts);
        }
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            out.push((id.to_string(), t(*first), t(*last), run.len() as u64));
        }
    }
    out.sort_by(|a, b| (a.2, &a.0, a.1).cmp(&(b.2, &b.0, b.1)));
    out
}

#[derive(Clone, Debug)]
enum Op {
    Observe((usize, i64, usize), Option<i64>),
    Close(i64),
    RoundTrip,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        8 => ((0..IDS.len(), 0i64..300 * MIN, 0..KINDS.len()), proptest::option::of(0i64..300 * MIN))
            .prop_map(|(c, w)| Op::Observe(c, w)),
        2 => (0i64..330 * MIN).prop_map(Op::Close),
        1 => Just(Op::RoundTrip),
    ];
    proptest::collection::vec(op, 0..120)
}

fn run(ops: &[Op], round_trips: bool) -> Result<(Vec<SessionSummary>, u64), TestCaseError> {
    let mut s = sessionizer();
    let (mut out, mut accepted) = (Vec::new(), 0u64);
    // Checkpoint images: the first full, then deltas; a restore replays them all (C-1).
    let mut images: Vec<Vec<u8>> = Vec::new();
    for op in ops {
        match op {
            Op::Observe(c, w) => {
                let click = as_click(*c);
                prop_assert_eq!(own(&click), *c);
                accepted += u64::from(s.observe(&click, w.map(t)) != Observed::TooLate);
            }
            Op::Close(w) if round_trips => {
                // In chunks of one: the same sessions as at once (which sorts them).
                let mut closed = Vec::new();
                while s.close_some(t(*w), 1, &mut closed) {}
                closed.sort_by(|a, b| (a.end, &a.session_id, a.start).cmp(&(b.end, &b.session_id, b.start)));
                out.extend(closed);
            }
            Op::Close(w) => out.extend(s.close_idle(t(*w))),
            Op::RoundTrip if round_trips => {
                let image = match images.is_empty() {
                    true => rmp_serde::to_vec(&s.whole()).unwrap(),
                    false => rmp_serde::to_vec(&s.delta()).unwrap(),
                };
                images.push(image);
                s.settle(2); // merges some of what the image let go of
                let mut restored: Sessionizer = rmp_serde::from_slice(&images[0]).unwrap();
                for bytes in &images[1..] {
                    restored.apply(rmp_serde::from_slice(bytes).unwrap());
                }
                prop_assert_eq!(&restored.open, &s.open);
                prop_assert_eq!((restored.watermark, restored.next_id), (s.watermark, s.next_id));
                s = restored;
            }
            Op::RoundTrip => {}
        }
    }
    out.extend(s.close_idle(END_OF_TIME));
    prop_assert!(s.is_empty());
    Ok((out, accepted))
}

/// [`run`] with every session returned as soon as a watermark ends it, sorted.
fn eager(ops: &[Op]) -> (Vec<SessionSummary>, u64) {
    let (mut s, mut out, mut accepted) = (sessionizer(), Vec::new(), 0u64);
    for op in ops {
        match op {
            Op::Observe(c, w) => {
                accepted += u64::from(s.observe(&as_click(*c), w.map(t)) != Observed::TooLate);
                if let Some(w) = w {
                    out.extend(s.close_idle(t(*w))); // (or the higher watermark seen before)
                }
            }
            Op::Close(w) => out.extend(s.close_idle(t(*w))),
            Op::RoundTrip => {}
        }
    }
    out.extend(s.close_idle(END_OF_TIME));
    out.sort_by(|a, b| (a.end, &a.session_id, a.start).cmp(&(b.end, &b.session_id, b.start)));
    (out, accepted)
}

proptest! {
    #[test]
    fn s2_returning_ended_sessions_late_returns_what_returning_them_at_once_does(ops in ops()) {
        let (mut late, accepted) = run(&ops, false)?;
        late.sort_by(|a, b| (a.end, &a.session_id, a.start).cmp(&(b.end, &b.session_id, b.start)));
        let (at_once, accepted_at_once) = eager(&ops);
        prop_assert_eq!(accepted, accepted_at_once);
        prop_assert_eq!(late, at_once);
    }

    #[test]
    fn s1_on_time_sessions_match_the_offline_split_in_any_arrival_order(events in clicks()) {
        let mut s = sessionizer();
        for e in &events {
            prop_assert_ne!(s.observe(&as_click(*e), None), Observed::TooLate);
        }
        let got: Vec<_> =
            s.close_idle(END_OF_TIME).into_iter().map(|x| (x.session_id, x.start, x.end, x.events)).collect();
        prop_assert_eq!(got, offline(&events));
    }

    #[test]
    fn s1_s2_s3_every_accepted_event_lands_once_and_restores_are_invisible(ops in ops()) {
        let (out, accepted) = run(&ops, true)?;
        let (plain, _) = run(&ops, false)?;
        prop_assert_eq!(&out, &plain, "S-3");
        prop_assert_eq!(out.iter().map(|x| x.events).sum::<u64>(), accepted, "S-2");
        for id in IDS {
            let mut mine: Vec<_> = out.iter().filter(|x| x.session_id == id).collect();
            mine.sort_by_key(|x| x.start);
            for pair in mine.windows(2) {
                let apart = pair[1].start.micros() - pair[0].end.micros();
                prop_assert!(apart >= 30 * MIN * 1_000_000, "S-1 {:?}", pair);
            }
        }
        for x in &out {
            prop_assert!(x.revenue.is_finite() && x.duration_secs >= 0.0, "S-4");
        }
    }
}
