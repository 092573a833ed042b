//! Legitimate episodes: a shopping session that walks the funnel on the web or the app, and an
//! offline purchase. Also the helpers that fill in a transaction or a click, shared with
//! [`fraud`](super::fraud).

use super::catalog::round_cents;
use super::customers::{Customer, Device, DeviceKind, city_ip};
use super::generator::Ctx;
use crate::model::geo::CITIES;
use crate::model::{Channel, ClickEvent, ClickType, PaymentMethod, Timestamp, Transaction, UserId};
use compact_str::CompactString;
use rand::Rng;
use rand_distr::{Exp1, StandardNormal};
use std::net::IpAddr;

const HOME_URL: &str = "https://shop.example.com/";
pub(crate) const CHECKOUT_URL: &str = "https://shop.example.com/checkout";

/// Expected cart lines bought per converting session (one transaction each); see [`lines`].
pub(crate) const EXPECTED_LINES: f64 = 0.75 + 0.20 * 2.0 + 0.05 * 3.0;

fn lines(rng: &mut impl Rng) -> usize {
    match rng.random::<f64>() {
        x if x < 0.75 => 1,
        x if x < 0.95 => 2,
        _ => 3,
    }
}

pub(crate) fn quantity(rng: &mut impl Rng) -> u32 {
    match rng.random::<f64>() {
        x if x < 0.80 => 1,
        x if x < 0.95 => 2,
        _ => rng.random_range(3..=5),
    }
}

pub(crate) const SECOND: i64 = 1_000_000;

/// Seconds spent on a page: log-normal around 25 s, 2 s to 10 min.
fn dwell(rng: &mut impl Rng) -> i64 {
    let z: f64 = rng.sample(StandardNormal);
    ((25.0 * (0.8 * z).exp()).clamp(2.0, 600.0) * SECOND as f64) as i64
}

/// A transaction of `customer` with their usual habits (home city, primary device, preferred
/// method); the caller sets product, amount and anything unusual.
pub(crate) fn base_transaction(customer: &Customer) -> Transaction {
    Transaction {
        transaction_id: CompactString::default(),
        user_id: UserId::Int(customer.user_id),
        amount: 0.0,
        merchant: CompactString::default(),
        timestamp: Timestamp::default(),
        is_fraud: Some(false),
        payment_method: customer.payment,
        location: CITIES[customer.home].location.into(),
        device_id: customer.devices[0].id.clone(),
        product_id: None,
        category: None,
        quantity: None,
        currency: CompactString::const_new("USD"),
        channel: None,
        ip_address: Some(city_ip(customer.home, customer.host)),
        session_id: None,
        customer_email: Some(customer.email.clone()),
        injected_scenario: None,
    }
}

/// Sets the product bought: id, category, merchant and amount (price times quantity).
pub(crate) fn set_product(ctx: &Ctx<'_>, tx: &mut Transaction, product: usize, quantity: u32) {
    let catalog = &ctx.world.catalog;
    let p = &catalog.products[product];
    tx.product_id = Some(p.id.clone());
    tx.category = Some(catalog.category_names[p.category].clone());
    tx.merchant = catalog.merchants[p.merchant].name.clone();
    tx.quantity = Some(quantity);
    tx.amount = round_cents(p.price * quantity as f64);
}

/// Sets where the transaction happened: location and an address of that city.
pub(crate) fn set_city(tx: &mut Transaction, city: usize, host: u16) {
    tx.location = CITIES[city].location.into();
    tx.ip_address = Some(city_ip(city, host));
}

/// A city for a genuine purchase: mostly home, sometimes travelling.
fn where_now(ctx: &Ctx<'_>, rng: &mut impl Rng, customer: &Customer) -> usize {
    let x = rng.random::<f64>();
    if x < 0.95 {
        return customer.home;
    }
    let country = CITIES[customer.home].iso;
    let domestic: Vec<usize> = (0..CITIES.len()).filter(|&c| CITIES[c].iso == country && c != customer.home).collect();
    if x < 0.99 && !domestic.is_empty() {
        domestic[rng.random_range(0..domestic.len())]
    } else {
        ctx.world.customers.city_pick.sample(rng)
    }
}

/// What a click is about.
pub(crate) struct Page<'a> {
    pub product: Option<usize>,
    pub category: Option<usize>,
    pub url: &'a str,
}

/// The parts of a click every event of one session shares.
pub(crate) struct Visit<'a> {
    pub customer: &'a Customer,
    pub session_id: &'a str,
    pub user_agent: &'a str,
    pub ip: IpAddr,
}

pub(crate) fn click(
    ctx: &mut Ctx<'_>,
    at: i64,
    visit: &Visit<'_>,
    event_type: ClickType,
    page: Page<'_>,
    quantity: Option<u32>,
) {
    let catalog = &ctx.world.catalog;
    let product = page.product.map(|p| &catalog.products[p]);
    let category = page.category.or(product.map(|p| p.category));
    let event = |event_id| ClickEvent {
        event_id,
        user_id: UserId::Int(visit.customer.user_id),
        session_id: visit.session_id.into(),
        event_type,
        event_timestamp: Timestamp::default(),
        product_id: product.map(|p| p.id.clone()),
        category: category.map(|c| catalog.category_names[c].clone()),
        price: product.map(|p| p.price),
        quantity,
        page_url: Some(page.url.into()),
        user_agent: Some(visit.user_agent.into()),
        ip_address: Some(visit.ip),
    };
    ctx.push_click(at, event);
}

/// A web or app session: page views, cart and wishlist actions, and for a share
/// `conversion_rate` of sessions a purchase of one to three cart lines.
pub(crate) fn session(ctx: &mut Ctx<'_>, rng: &mut impl Rng) {
    let world = ctx.world;
    let catalog = &world.catalog;
    let customer = world.customers.pick(rng);
    let device: &Device = customer.device(rng);
    let channel = match device.kind {
        DeviceKind::Desktop => Channel::Web,
        _ if rng.random_bool(0.6) => Channel::MobileApp,
        _ => Channel::Web,
    };
    let city = where_now(ctx, rng, customer);
    let host = if city == customer.home { customer.host } else { rng.random() };
    let session_id = ctx.session_id();
    let visit = Visit { customer, session_id: &session_id, user_agent: &device.user_agent, ip: city_ip(city, host) };
    let converts = rng.random_bool(ctx.params.conversion_rate);
    let mut views = 1 + (rng.sample::<f64, _>(Exp1) * 3.0) as usize;
    views = views.min(30);
    let mut category = if rng.random_bool(0.5) { customer.favourite } else { catalog.category_pick.sample(rng) };
    let mut t = ctx.start;
    let mut cart: Vec<(usize, u32)> = Vec::new();
    let mut last_product = None;

    // Landing page: the home page or a category listing.
    if rng.random_bool(0.5) {
        click(ctx, t, &visit, ClickType::PageView, Page { product: None, category: None, url: HOME_URL }, None);
    } else {
        let url = &catalog.category_urls[category];
        click(ctx, t, &visit, ClickType::PageView, Page { product: None, category: Some(category), url }, None);
    }
    for _ in 1..views {
        t += dwell(rng);
        if rng.random_bool(0.2) {
            category = catalog.category_pick.sample(rng);
        }
        let product = if rng.random_bool(0.5) {
            let target = customer.baseline * rng.random_range(0.5..2.0);
            catalog.product_near(rng, category, target)
        } else {
            catalog.product_in(rng, category)
        };
        let Some(product) = product else { continue };
        let url = &catalog.products[product].page_url;
        last_product = Some(product);
        click(ctx, t, &visit, ClickType::PageView, Page { product: Some(product), category: None, url }, None);
        let add = if converts { 0.45 } else { 0.08 };
        if rng.random_bool(add) && cart.len() < 6 {
            t += dwell(rng) / 4;
            let q = quantity(rng);
            cart.push((product, q));
            click(ctx, t, &visit, ClickType::AddToCart, Page { product: Some(product), category: None, url }, Some(q));
        } else if rng.random_bool(0.05) {
            t += dwell(rng) / 4;
            click(ctx, t, &visit, ClickType::WishlistAdd, Page { product: Some(product), category: None, url }, None);
        }
        if !cart.is_empty() && rng.random_bool(0.08) {
            t += dwell(rng) / 4;
            let (gone, q) = cart.remove(rng.random_range(0..cart.len()));
            let url = &catalog.products[gone].page_url;
            let page = Page { product: Some(gone), category: None, url };
            click(ctx, t, &visit, ClickType::RemoveFromCart, page, Some(q));
        }
    }
    if !converts {
        return;
    }
    // Checkout: make sure the cart holds the lines bought, then buy them.
    let wanted = lines(rng);
    while cart.len() < wanted {
        let product = match last_product.take() {
            Some(p) if !cart.iter().any(|(c, _)| *c == p) => p,
            _ => match catalog.product_in(rng, category) {
                Some(p) => p,
                None => break,
            },
        };
        t += dwell(rng) / 2;
        let q = quantity(rng);
        cart.push((product, q));
        let url = &catalog.products[product].page_url;
        click(ctx, t, &visit, ClickType::AddToCart, Page { product: Some(product), category: None, url }, Some(q));
    }
    t += dwell(rng) * 2;
    let known_method = rng.random_bool(0.9);
    let payment = if known_method {
        customer.payment
    } else {
        super::customers::PAYMENT_SHARES[world.customers.payment_pick.sample(rng)].0
    };
    for (i, &(product, q)) in cart.iter().take(wanted).enumerate() {
        let at = t + i as i64 * 1_000;
        let page = Page { product: Some(product), category: None, url: CHECKOUT_URL };
        click(ctx, at, &visit, ClickType::Purchase, page, Some(q));
        let mut tx = base_transaction(customer);
        set_product(ctx, &mut tx, product, q);
        tx.payment_method = payment;
        tx.device_id = device.id.clone();
        tx.channel = Some(channel);
        tx.location = CITIES[city].location.into();
        tx.ip_address = Some(visit.ip);
        tx.session_id = Some(session_id.clone());
        ctx.push_tx(at + 500, tx);
    }
}

/// A purchase outside a tracked session: in a shop, by phone or through a marketplace.
pub(crate) fn offline(ctx: &mut Ctx<'_>, rng: &mut impl Rng) {
    let world = ctx.world;
    let catalog = &world.catalog;
    let customer = world.customers.pick(rng);
    let category = if rng.random_bool(0.5) { customer.favourite } else { catalog.category_pick.sample(rng) };
    let target = customer.baseline * rng.random_range(0.4..2.5);
    let Some(product) = catalog.product_near(rng, category, target) else {
        return;
    };
    let mut tx = base_transaction(customer);
    set_product(ctx, &mut tx, product, quantity(rng));
    let city = where_now(ctx, rng, customer);
    match rng.random::<f64>() {
        x if x < 0.5 => {
            tx.channel = Some(Channel::Pos);
            tx.device_id = compact_str::format_compact!("POS-{:05}", catalog.products[product].merchant);
            set_city(&mut tx, city, rng.random());
            if tx.payment_method == PaymentMethod::Paypal || tx.payment_method == PaymentMethod::BankTransfer {
                tx.payment_method = PaymentMethod::DebitCard;
            }
        }
        x if x < 0.8 => {
            tx.channel = Some(Channel::Marketplace);
            tx.device_id = customer.device(rng).id.clone();
            set_city(&mut tx, city, customer.host);
        }
        _ => {
            tx.channel = Some(Channel::CallCenter);
            tx.device_id = CompactString::const_new("CALL-CENTER");
            tx.ip_address = None;
        }
    }
    ctx.push_tx(ctx.start, tx);
}
