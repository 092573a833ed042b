//! The customers: a home city, one to three devices, a spending baseline, a preferred payment
//! method, a favourite category, an activity level and an e-mail pseudonym.

use super::catalog::{CATEGORIES, Weighted};
use crate::model::geo::CITIES;
use crate::model::{PaymentMethod, Pseudonymizer};
use compact_str::{CompactString, format_compact};
use rand::Rng;
use rand_distr::StandardNormal;
use std::net::{IpAddr, Ipv4Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceKind {
    Desktop,
    Phone,
    Tablet,
}

pub(crate) struct Device {
    pub id: CompactString,
    pub kind: DeviceKind,
    pub user_agent: CompactString,
}

pub(crate) struct Customer {
    pub user_id: i64,
    /// Pseudonym of the e-mail address; the address itself is never kept.
    pub email: bytestring::ByteString,
    /// Index into [`CITIES`].
    pub home: usize,
    pub devices: Vec<Device>,
    /// Median order value in USD.
    pub baseline: f64,
    pub payment: PaymentMethod,
    pub favourite: usize,
    pub host: u16,
}

impl Customer {
    /// The device of a session: mostly the primary one.
    pub fn device(&self, rng: &mut impl Rng) -> &Device {
        if self.devices.len() == 1 || rng.random_bool(0.7) {
            &self.devices[0]
        } else {
            &self.devices[rng.random_range(1..self.devices.len())]
        }
    }
}

pub(crate) struct Customers {
    pub list: Vec<Customer>,
    pick: Weighted,
    /// Cities by where shoppers live.
    pub city_pick: Weighted,
    /// Payment methods by how often customers prefer them.
    pub payment_pick: Weighted,
}

/// Payment methods and the share of customers who prefer each.
pub(crate) const PAYMENT_SHARES: &[(PaymentMethod, f64)] = &[
    (PaymentMethod::CreditCard, 0.38),
    (PaymentMethod::DebitCard, 0.20),
    (PaymentMethod::Paypal, 0.15),
    (PaymentMethod::ApplePay, 0.08),
    (PaymentMethod::GooglePay, 0.06),
    (PaymentMethod::BuyNowPayLater, 0.05),
    (PaymentMethod::BankTransfer, 0.04),
    (PaymentMethod::GiftCard, 0.02),
    (PaymentMethod::Crypto, 0.02),
];

const DESKTOP_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
];
const PHONE_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile Safari/537.36",
];
const TABLET_AGENTS: &[&str] =
    &["Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"];

/// A user agent for a device kind.
pub(crate) fn user_agent(rng: &mut impl Rng, kind: DeviceKind) -> &'static str {
    let list = match kind {
        DeviceKind::Desktop => DESKTOP_AGENTS,
        DeviceKind::Phone => PHONE_AGENTS,
        DeviceKind::Tablet => TABLET_AGENTS,
    };
    list[rng.random_range(0..list.len())]
}

/// An IPv4 address in a city: each city owns a synthetic /16, `host` picks the address in it.
pub(crate) fn city_ip(city: usize, host: u16) -> IpAddr {
    let mut first = 24 + (city * 37 % 170) as u8;
    if matches!(first, 100 | 127 | 169 | 172 | 192) {
        first += 1;
    }
    let second = (city * 13 % 256) as u8;
    let [third, fourth] = host.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(first, second, third, fourth.max(1)))
}

impl Customers {
    pub fn build(
        rng: &mut impl Rng,
        count: usize,
        catalog: &super::Catalog,
        pseudonymizer: &Pseudonymizer,
    ) -> Customers {
        use fake::Fake;
        use fake::faker::internet::en::FreeEmailProvider;
        use fake::faker::name::en::{FirstName, LastName};

        // High-risk countries have few genuine shoppers of this shop.
        let city_pick =
            Weighted::new(CITIES.iter().map(|c| if c.high_risk { c.population_m * 0.15 } else { c.population_m }));
        let payment_pick = Weighted::new(PAYMENT_SHARES.iter().map(|(_, w)| *w));
        let mut list = Vec::with_capacity(count);
        let mut activity = Vec::with_capacity(count);
        for i in 0..count {
            let first: String = FirstName().fake_with_rng(rng);
            let last: String = LastName().fake_with_rng(rng);
            let provider: String = FreeEmailProvider().fake_with_rng(rng);
            let email = format!("{first}.{last}{i}@{provider}").to_lowercase().replace([' ', '\''], "");
            let device_count = match rng.random::<f64>() {
                x if x < 0.5 => 1,
                x if x < 0.85 => 2,
                _ => 3,
            };
            let devices = (0..device_count)
                .map(|d| {
                    let kind = match rng.random::<f64>() {
                        x if x < 0.45 => DeviceKind::Phone,
                        x if x < 0.9 => DeviceKind::Desktop,
                        _ => DeviceKind::Tablet,
                    };
                    Device { id: format_compact!("D{i:07}{d}"), kind, user_agent: user_agent(rng, kind).into() }
                })
                .collect();
            let baseline = (65.0 * (0.7 * rng.sample::<f64, _>(StandardNormal)).exp()).clamp(5.0, 2_000.0);
            activity.push((1.0 * rng.sample::<f64, _>(StandardNormal)).exp());
            list.push(Customer {
                user_id: 100_000 + i as i64,
                email: pseudonymizer.pseudonym(&email).into(),
                home: city_pick.sample(rng),
                devices,
                baseline,
                payment: PAYMENT_SHARES[payment_pick.sample(rng)].0,
                favourite: catalog.category_pick.sample(rng).min(CATEGORIES.len() - 1),
                host: rng.random(),
            });
        }
        Customers { list, pick: Weighted::new(activity), city_pick, payment_pick }
    }

    /// A customer, weighted by activity (some shop far more often than others).
    pub fn pick(&self, rng: &mut impl Rng) -> &Customer {
        &self.list[self.pick.sample(rng)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn city_ips_are_public_looking_and_distinct_per_city() {
        let ips: std::collections::BTreeSet<_> = (0..CITIES.len()).map(|c| city_ip(c, 7)).collect();
        assert_eq!(ips.len(), CITIES.len());
        for ip in ips {
            let IpAddr::V4(v4) = ip else { panic!() };
            assert!(!v4.is_private() && !v4.is_loopback() && !v4.is_link_local(), "{v4}");
        }
    }
}
