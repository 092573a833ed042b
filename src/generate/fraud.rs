//! Fraud episodes: one injected [`FraudScenario`] each. Every fraudulent transaction records its
//! scenario in `injected_scenario`; a share `known_fraud_share` of them also carry `is_fraud`.
//!
//! | scenario | what happens |
//! | --- | --- |
//! | amount spike | one purchase of resale goods at 8-30x the customer's baseline |
//! | card testing | 6-15 purchases of $0.50-$5 of digital goods within minutes, new device |
//! | account takeover | 1-3 purchases from a new device in another country, 2-6x the baseline |
//! | impossible travel | a genuine purchase at home, then within 5-90 minutes one 2,500+ km away |
//! | high-risk pattern | 1-2 purchases from a high-risk country, mostly crypto, new device |
//!
//! Fraud keeps its share of transactions in every hour; at night (23:00-04:59 UTC) the
//! high-risk pattern takes the largest share of the scenarios.

use super::catalog::{DIGITAL_GOODS, RESALE_CATEGORIES, round_cents};
use super::customers::{Customer, city_ip};
use super::customers::{DeviceKind, user_agent};
use super::generator::Ctx;
use super::schedule::is_night;
use super::session::{CHECKOUT_URL, Page, SECOND, Visit, base_transaction, click, quantity, set_city, set_product};
use crate::model::geo::CITIES;
use crate::model::{Channel, ClickType, FraudScenario, PaymentMethod, Transaction};
use rand::Rng;

/// Scenario weights (share of fraud episodes) by day and at night (see
/// [`is_night`](super::schedule::is_night)): at night the high-risk pattern dominates.
const SCENARIOS: [FraudScenario; 5] = [
    FraudScenario::AmountSpike,
    FraudScenario::CardTesting,
    FraudScenario::AccountTakeover,
    FraudScenario::ImpossibleTravel,
    FraudScenario::HighRiskPattern,
];
const DAY_WEIGHTS: [f64; 5] = [0.25, 0.15, 0.25, 0.15, 0.20];
const NIGHT_WEIGHTS: [f64; 5] = [0.15, 0.15, 0.15, 0.10, 0.45];

/// Labelled transactions per scenario, on average.
const LABELLED: [f64; 5] = [1.0, 10.5, 2.0, 1.0, 1.5];

fn weights(night: bool) -> &'static [f64; 5] {
    if night { &NIGHT_WEIGHTS } else { &DAY_WEIGHTS }
}

/// Labelled transactions per fraud episode, on average.
pub(crate) fn expected_labelled(night: bool) -> f64 {
    weights(night).iter().zip(LABELLED).map(|(w, n)| w * n).sum()
}

/// Genuine transactions a fraud episode brings along, on average (impossible travel's first).
pub(crate) fn expected_extra_legit(night: bool) -> f64 {
    weights(night)[3]
}

/// Minimum distance of the far purchase in impossible travel.
pub(crate) const IMPOSSIBLE_TRAVEL_KM: f64 = 2_500.0;

fn scenario(rng: &mut impl Rng, night: bool) -> FraudScenario {
    let mut x = rng.random::<f64>();
    for (s, w) in SCENARIOS.iter().zip(weights(night)) {
        if x < *w {
            return *s;
        }
        x -= w;
    }
    SCENARIOS[SCENARIOS.len() - 1]
}

fn label(ctx: &Ctx<'_>, rng: &mut impl Rng, tx: &mut Transaction, scenario: FraudScenario) {
    tx.injected_scenario = Some(scenario);
    tx.is_fraud = Some(rng.random_bool(ctx.params.known_fraud_share));
}

fn resale_product(ctx: &Ctx<'_>, rng: &mut impl Rng, price: f64) -> Option<usize> {
    let category = RESALE_CATEGORIES[rng.random_range(0..RESALE_CATEGORIES.len())];
    ctx.world.catalog.product_near(rng, category, price)
}

/// Sets product and quantity so that the amount comes near `target`.
fn buy_near(ctx: &Ctx<'_>, rng: &mut impl Rng, tx: &mut Transaction, target: f64) -> Option<usize> {
    let product = resale_product(ctx, rng, target)?;
    let price = ctx.world.catalog.products[product].price;
    let q = (target / price).round().clamp(1.0, 20.0) as u32;
    set_product(ctx, tx, product, q);
    Some(product)
}

fn city_where(rng: &mut impl Rng, keep: impl Fn(usize) -> bool) -> Option<usize> {
    let candidates: Vec<usize> = (0..CITIES.len()).filter(|&c| keep(c)).collect();
    if candidates.is_empty() { None } else { Some(candidates[rng.random_range(0..candidates.len())]) }
}

pub(crate) fn fraud(ctx: &mut Ctx<'_>, rng: &mut impl Rng) {
    let customer = ctx.world.customers.pick(rng);
    let night = is_night(crate::model::Timestamp::from_micros(ctx.start).hour());
    match scenario(rng, night) {
        FraudScenario::AmountSpike => amount_spike(ctx, rng, customer),
        FraudScenario::CardTesting => card_testing(ctx, rng, customer),
        FraudScenario::AccountTakeover => account_takeover(ctx, rng, customer),
        FraudScenario::ImpossibleTravel => impossible_travel(ctx, rng, customer),
        FraudScenario::HighRiskPattern => high_risk(ctx, rng, customer),
    }
}

fn amount_spike(ctx: &mut Ctx<'_>, rng: &mut impl Rng, customer: &Customer) {
    let mut tx = base_transaction(customer);
    let target = (customer.baseline * rng.random_range(8.0..30.0)).max(400.0);
    if buy_near(ctx, rng, &mut tx, target).is_none() {
        return;
    }
    tx.channel = Some(Channel::Web);
    tx.device_id = customer.device(rng).id.clone();
    label(ctx, rng, &mut tx, FraudScenario::AmountSpike);
    ctx.push_tx(ctx.start, tx);
}

fn card_testing(ctx: &mut Ctx<'_>, rng: &mut impl Rng, customer: &Customer) {
    let n = rng.random_range(6..=15);
    let city = if rng.random_bool(0.5) {
        city_where(rng, |c| CITIES[c].high_risk)
    } else {
        Some(ctx.world.customers.city_pick.sample(rng))
    }
    .unwrap_or(customer.home);
    let device = ctx.foreign_device();
    let host: u16 = rng.random();
    let mut t = ctx.start;
    for _ in 0..n {
        let Some(product) = ctx.world.catalog.product_in(rng, DIGITAL_GOODS) else { return };
        let mut tx = base_transaction(customer);
        set_product(ctx, &mut tx, product, 1);
        tx.amount = round_cents(rng.random_range(0.5..5.0));
        tx.payment_method = PaymentMethod::CreditCard;
        tx.channel = Some(Channel::Web);
        tx.device_id = device.clone();
        set_city(&mut tx, city, host);
        label(ctx, rng, &mut tx, FraudScenario::CardTesting);
        ctx.push_tx(t, tx);
        t += rng.random_range(5 * SECOND..60 * SECOND);
    }
}

fn account_takeover(ctx: &mut Ctx<'_>, rng: &mut impl Rng, customer: &Customer) {
    let home_country = CITIES[customer.home].iso;
    let Some(city) = city_where(rng, |c| CITIES[c].iso != home_country) else { return };
    let device = ctx.foreign_device();
    let session_id = ctx.session_id();
    let host: u16 = rng.random();
    let visit = Visit {
        customer,
        session_id: &session_id,
        user_agent: user_agent(rng, DeviceKind::Desktop),
        ip: city_ip(city, host),
    };
    let payment = [PaymentMethod::Paypal, PaymentMethod::GiftCard, PaymentMethod::CreditCard][rng.random_range(0..3)];
    let n = rng.random_range(1..=3);
    let mut t = ctx.start;
    for _ in 0..n {
        let mut tx = base_transaction(customer);
        let target = customer.baseline * rng.random_range(2.0..6.0);
        let Some(product) = buy_near(ctx, rng, &mut tx, target) else { return };
        let url = ctx.world.catalog.products[product].page_url.as_str();
        let page = |url| Page { product: Some(product), category: None, url };
        click(ctx, t, &visit, ClickType::PageView, page(url), None);
        click(ctx, t + 20 * SECOND, &visit, ClickType::AddToCart, page(url), tx.quantity);
        click(ctx, t + 60 * SECOND, &visit, ClickType::Purchase, page(CHECKOUT_URL), tx.quantity);
        tx.payment_method = payment;
        tx.channel = Some(Channel::Web);
        tx.device_id = device.clone();
        tx.session_id = Some(session_id.clone());
        set_city(&mut tx, city, host);
        label(ctx, rng, &mut tx, FraudScenario::AccountTakeover);
        ctx.push_tx(t + 61 * SECOND, tx);
        t += rng.random_range(120 * SECOND..1_200 * SECOND);
    }
}

fn impossible_travel(ctx: &mut Ctx<'_>, rng: &mut impl Rng, customer: &Customer) {
    let home = &CITIES[customer.home];
    let far = city_where(rng, |c| CITIES[c].distance_km(home) >= IMPOSSIBLE_TRAVEL_KM);
    let Some(far) = far else { return };
    // The genuine purchase at home.
    let mut first = base_transaction(customer);
    let category = customer.favourite;
    let Some(product) = ctx.world.catalog.product_near(rng, category, customer.baseline) else { return };
    set_product(ctx, &mut first, product, quantity(rng));
    first.channel = Some(Channel::Web);
    first.device_id = customer.device(rng).id.clone();
    let cloned_device = rng.random_bool(0.5);
    let device = if cloned_device { first.device_id.clone() } else { ctx.foreign_device() };
    ctx.push_tx(ctx.start, first);
    // The fraudster's purchase, too far away too soon.
    let mut second = base_transaction(customer);
    let target = customer.baseline * rng.random_range(1.0..3.0);
    if buy_near(ctx, rng, &mut second, target).is_none() {
        return;
    }
    second.channel = Some(Channel::Web);
    second.device_id = device;
    set_city(&mut second, far, rng.random());
    label(ctx, rng, &mut second, FraudScenario::ImpossibleTravel);
    let gap = rng.random_range(5 * 60 * SECOND..90 * 60 * SECOND);
    ctx.push_tx(ctx.start + gap, second);
}

fn high_risk(ctx: &mut Ctx<'_>, rng: &mut impl Rng, customer: &Customer) {
    let Some(city) = city_where(rng, |c| CITIES[c].high_risk) else { return };
    let device = ctx.foreign_device();
    let host: u16 = rng.random();
    let n = rng.random_range(1..=2);
    let mut t = ctx.start;
    for _ in 0..n {
        let mut tx = base_transaction(customer);
        let target = customer.baseline * rng.random_range(1.5..8.0);
        if buy_near(ctx, rng, &mut tx, target).is_none() {
            return;
        }
        tx.payment_method = if rng.random_bool(0.7) { PaymentMethod::Crypto } else { PaymentMethod::GiftCard };
        tx.channel = Some(Channel::Web);
        tx.device_id = device.clone();
        set_city(&mut tx, city, host);
        label(ctx, rng, &mut tx, FraudScenario::HighRiskPattern);
        ctx.push_tx(t, tx);
        t += rng.random_range(60 * SECOND..1_800 * SECOND);
    }
}
