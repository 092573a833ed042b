use super::*;
use crate::model::{ClickEvent, MICROS_PER_SECOND, Transaction, UserId};
use crate::stream::outputs::{BronzeClick, SilverTransaction};
use crate::stream::runtime::Counters;

const MINUTE: i64 = 60 * MICROS_PER_SECOND;
/// 2025-01-06T12:00:00Z.
const NOON: i64 = 1_736_164_800 * MICROS_PER_SECOND;

fn silver(at: i64, amount: f64, category: &str, country: &str, alert: bool) -> SilverTransaction {
    let mut t = Transaction::sample(1, Timestamp::from_micros(at), amount, &format!("City, {country}"), "d");
    t.category = Some(category.into());
    SilverTransaction {
        source_partition: 0,
        source_offset: 0,
        tx: Arc::new(t),
        city: "City".into(),
        country: country.into(),
        hour: 12,
        day_of_week: 0,
        is_weekend: false,
        amount_band: "small",
        is_high_value: false,
        customer_tx_count: 1,
        customer_avg_amount: amount,
        customer_std_amount: 0.0,
        amount_zscore: None,
        is_new_device: false,
        device_customers: 1,
        distance_km: None,
        speed_kmh: None,
        velocity_30m: 1,
        risk_score: if alert { 80 } else { 0 },
        risk_level: if alert { "CRITICAL" } else { "MINIMAL" },
        reasons: Default::default(),
        is_alert: alert,
    }
}

fn click(at: i64, kind: ClickType) -> BronzeClick {
    BronzeClick {
        source_partition: 0,
        source_offset: 0,
        ingest_time: Timestamp::from_micros(at),
        click: ClickEvent {
            event_id: compact_str::format_compact!("e{at}"),
            user_id: UserId::Int(1),
            session_id: "s".into(),
            event_type: kind,
            event_timestamp: Timestamp::from_micros(at),
            product_id: None,
            category: None,
            price: None,
            quantity: None,
            page_url: None,
            user_agent: None,
            ip_address: None,
        },
    }
}

fn alert(id: &str) -> AlertRow {
    AlertRow {
        alert_id: id.into(),
        transaction_id: format!("tx-{id}"),
        user_id: "1".into(),
        timestamp: Timestamp::from_micros(NOON),
        amount: 1.0,
        merchant: "m".into(),
        country: "France".into(),
        payment_method: "crypto",
        risk_score: 90,
        risk_level: "CRITICAL",
        reasons: "crypto:20".into(),
        rules_version: "v".into(),
        model_version: None,
        event_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 6).unwrap(),
    }
}

#[test]
fn transactions_and_clicks_are_counted_in_their_event_minute() {
    let mut view = LiveView::default();
    let mut out = Outputs::default();
    out.silver_transactions.push(silver(NOON, 10.0, "books", "France", false));
    out.silver_transactions.push(silver(NOON + 59 * MICROS_PER_SECOND, 30.0, "books", "Spain", true));
    // Out of order: the earlier minute is inserted before the newer one.
    out.silver_transactions.push(silver(NOON + MINUTE, 5.0, "toys", "France", false));
    out.silver_transactions.push(silver(NOON - MINUTE, 1.0, "toys", "France", false));
    out.bronze_clickstream.extend([
        click(NOON, ClickType::PageView),
        click(NOON, ClickType::PageView),
        click(NOON, ClickType::AddToCart),
        click(NOON, ClickType::Purchase),
        click(NOON, ClickType::WishlistAdd),
    ]);
    view.fold(&out);
    let s = view.snapshot(Timestamp::from_micros(NOON), true);
    let minutes: Vec<(i64, u64, f64, u64)> =
        s.minutes.iter().map(|m| ((m.minute.micros() - NOON) / MINUTE, m.orders, m.revenue, m.alerts)).collect();
    assert_eq!(minutes, vec![(-1, 1, 1.0, 0), (0, 2, 40.0, 1), (1, 1, 5.0, 0)]);
    let noon = &s.minutes[1];
    assert_eq!((noon.page_views, noon.cart_adds, noon.purchases), (2, 1, 1));
    assert_eq!(s.last_10m.orders, 4);
    assert_eq!(s.last_10m.revenue, 46.0);
    assert_eq!(s.last_10m.avg_order_value, 11.5);
    assert_eq!(s.last_10m.fraud_rate, 0.25);
    assert_eq!(s.last_10m.conversion_rate, Some(0.5));
    assert_eq!(s.by_category[0], Breakdown { key: "books".into(), orders: 2, revenue: 40.0, alerts: 1 });
    assert_eq!(s.by_category[1], Breakdown { key: "toys".into(), orders: 2, revenue: 6.0, alerts: 0 });
    assert_eq!(s.by_country.iter().map(|b| b.key.as_str()).collect::<Vec<_>>(), ["Spain", "France"]);
    assert_eq!(s.by_payment_method[0].orders, 4);
    assert_eq!(s.mode, "open");
}

#[test]
fn only_the_newest_sixty_minutes_are_kept_and_older_events_are_dropped() {
    let mut view = LiveView::default();
    let mut out = Outputs::default();
    for m in 0..70 {
        out.silver_transactions.push(silver(NOON + m * MINUTE, 1.0, "c", "F", false));
    }
    view.fold(&out);
    let s = view.snapshot(Timestamp::from_micros(NOON), false);
    assert_eq!(s.minutes.len(), MINUTES);
    assert_eq!(s.minutes[0].minute.micros(), NOON + 10 * MINUTE);
    assert_eq!(s.last_10m.orders, 10, "the headline sums the newest 10 minutes");
    assert_eq!(s.by_category[0].orders, 60);
    // An event older than every kept minute is not counted anywhere.
    let mut late = Outputs::default();
    late.silver_transactions.push(silver(NOON, 100.0, "c", "F", false));
    view.fold(&late);
    let again = view.snapshot(Timestamp::from_micros(NOON), false);
    assert_eq!(again.by_category[0].orders, 60);
    assert_eq!(again.minutes.len(), MINUTES);
    assert_eq!(again.last_10m.conversion_rate, None);
}

#[test]
fn alerts_are_kept_newest_first_up_to_the_cap() {
    let mut view = LiveView::default();
    for i in 0..(ALERTS + 5) {
        let mut out = Outputs::default();
        out.alerts.push(alert(&format!("a{i}")));
        view.fold(&out);
    }
    let s = view.snapshot(Timestamp::from_micros(NOON), false);
    assert_eq!(s.alerts.len(), ALERTS);
    assert_eq!(s.alerts[0].alert_id, format!("a{}", ALERTS + 4));
    assert_eq!(s.alerts[ALERTS - 1].alert_id, "a5");
}

#[test]
fn status_reports_give_the_rate_latency_and_last_checkpoint() {
    let mut view = LiveView::default();
    let t0 = Instant::now();
    let now = Timestamp::from_micros(NOON);
    let report = |n: u64, committed: u64, latency: Vec<u64>| Status {
        counters: Counters { transactions: n, clicks: n, ..Default::default() },
        epoch: committed + 1,
        committed_epoch: committed,
        watermark: Some(Timestamp::from_micros(NOON - 3 * MICROS_PER_SECOND)),
        latency_us: latency,
        ..Default::default()
    };
    // Resumed from epoch 0 (or any): no checkpoint written yet by this run.
    view.status(&report(0, 0, vec![]), Some(7), t0, now);
    assert_eq!(view.snapshot(now, false).status.last_checkpoint, None);
    view.status(&report(1000, 1, (1..=100).collect()), None, t0 + Duration::from_secs(2), now);
    let s = view.snapshot(now, false).status;
    assert!(s.running);
    assert_eq!(s.events_per_sec, 1000.0, "2000 events read in 2 s");
    assert_eq!(s.last_checkpoint, Some(now));
    assert_eq!(s.watermark_lag_secs, Some(3.0));
    assert_eq!((s.latency_p50_us, s.latency_p99_us, s.latency_p999_us), (Some(50), Some(99), Some(100)));
    // A report without transactions keeps the last latency figures.
    view.status(&report(1000, 1, vec![]), None, t0 + Duration::from_secs(8), now);
    let s = view.snapshot(now, false);
    assert_eq!(s.status.latency_p99_us, Some(99));
    assert_eq!(s.status.events_per_sec, 0.0, "nothing read in the last 6 s");
    assert_eq!(s.latency, vec![LatencyPoint { at: now, p50_us: 50, p99_us: 99, max_us: 100 }]);
    view.stopped();
    assert!(!view.snapshot(now, false).status.running);
}

#[test]
fn quantiles_use_the_nearest_rank() {
    assert_eq!(quantile(&[5], 0.99), 5);
    assert_eq!(quantile(&[1, 2, 3, 4], 0.5), 2);
    assert_eq!(quantile(&[1, 2, 3, 4], 0.75), 3);
    assert_eq!(quantile(&[1, 2, 3, 4], 1.0), 4);
}

#[test]
fn a_resumed_epoch_is_not_taken_for_a_checkpoint_written_now() {
    let mut view = LiveView::default();
    let now = Timestamp::from_micros(NOON);
    let resumed = Status { epoch: 9, committed_epoch: 8, ..Default::default() };
    view.status(&resumed, None, Instant::now(), now);
    let s = view.snapshot(now, false).status;
    assert_eq!((s.committed_epoch, s.last_checkpoint), (8, None));
    let committed = Status { epoch: 10, committed_epoch: 9, ..Default::default() };
    view.status(&committed, None, Instant::now(), now);
    assert_eq!(view.snapshot(now, false).status.last_checkpoint, Some(now));
}

#[test]
fn a_handover_folded_apart_and_absorbed_counts_as_one_folded_in_place() {
    let batches: Vec<Outputs> = (0..4)
        .map(|b| {
            let mut out = Outputs::default();
            for i in 0..7 {
                let at = NOON + (b * 7 + i) * 20 * MICROS_PER_SECOND;
                let (category, country) =
                    (["books", "toys"][i as usize % 2], ["France", "Spain", "Peru"][i as usize % 3]);
                out.silver_transactions.push(silver(at, 1.5 * i as f64, category, country, i % 3 == 0));
                out.bronze_clickstream.push(click(at, [ClickType::PageView, ClickType::Purchase][i as usize % 2]));
            }
            out.alerts.extend((0..ALERTS as i64 / 3).map(|i| alert(&format!("b{b}-{i}"))));
            out
        })
        .collect();
    let (mut in_place, mut absorbed) = (LiveView::default(), LiveView::default());
    for out in &batches {
        in_place.fold(out);
        let mut part = LiveView::default();
        part.fold(out);
        absorbed.absorb(part);
    }
    let at = Timestamp::from_micros(NOON);
    let (a, b) = (in_place.snapshot(at, false), absorbed.snapshot(at, false));
    assert_eq!(a.minutes, b.minutes);
    assert!(a.minutes.len() > 4 && a.last_10m.orders == 28, "{:?}", a.last_10m);
    assert_eq!(
        (&a.by_category, &a.by_country, &a.by_payment_method),
        (&b.by_category, &b.by_country, &b.by_payment_method)
    );
    let ids = |s: &Snapshot| s.alerts.iter().map(|a| a.alert_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(ids(&a)[0], format!("b3-{}", ALERTS / 3 - 1), "newest first");
}
