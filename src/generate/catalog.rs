//! The product catalog and the merchants: categories with log-normal prices, products sold by
//! merchants whose popularity follows a Zipf law. Every string an event needs (ids, names, page
//! URLs) is built here once, so the per-event path only clones.

use compact_str::CompactString;
use rand::Rng;
use rand_distr::StandardNormal;

/// One product category and its price distribution.
#[derive(Clone, Copy, Debug)]
pub struct CategorySpec {
    pub name: &'static str,
    /// Median price in USD; prices are log-normal around it.
    pub median_price: f64,
    /// Spread of the log of the price.
    pub sigma: f64,
    /// Share of browsing that lands in this category.
    pub weight: f64,
}

const fn cat(name: &'static str, median_price: f64, sigma: f64, weight: f64) -> CategorySpec {
    CategorySpec { name, median_price, sigma, weight }
}

/// The categories, in a fixed order (part of the output).
pub const CATEGORIES: &[CategorySpec] = &[
    cat("electronics", 180.0, 0.9, 0.12),
    cat("computers", 650.0, 0.6, 0.04),
    cat("phones", 420.0, 0.5, 0.05),
    cat("fashion", 45.0, 0.6, 0.16),
    cat("shoes", 75.0, 0.5, 0.07),
    cat("home_garden", 55.0, 0.9, 0.10),
    cat("beauty", 22.0, 0.6, 0.09),
    cat("books", 16.0, 0.4, 0.08),
    cat("toys", 28.0, 0.7, 0.06),
    cat("sports", 60.0, 0.8, 0.06),
    cat("grocery", 12.0, 0.6, 0.07),
    cat("jewelry", 240.0, 1.0, 0.03),
    cat("digital_goods", 9.0, 0.8, 0.07),
];

/// Category indices of the goods fraudsters like (expensive, easy to resell).
pub(crate) const RESALE_CATEGORIES: &[usize] = &[0, 1, 2, 11];
/// The category of small digital purchases card testers use.
pub(crate) const DIGITAL_GOODS: usize = 12;

/// Exponent of the merchants' Zipf popularity.
pub(crate) const MERCHANT_ZIPF_EXPONENT: f64 = 1.1;

pub(crate) struct Product {
    pub id: CompactString,
    pub category: usize,
    pub merchant: usize,
    pub price: f64,
    pub page_url: CompactString,
}

pub(crate) struct Merchant {
    pub name: CompactString,
}

pub(crate) struct Catalog {
    pub category_names: Vec<CompactString>,
    pub category_urls: Vec<String>,
    pub category_pick: Weighted,
    pub products: Vec<Product>,
    /// Product indices per category, with their popularity.
    pub by_category: Vec<(Vec<usize>, Weighted)>,
    pub merchants: Vec<Merchant>,
}

impl Catalog {
    pub fn build(rng: &mut impl Rng, products: usize, merchants: usize) -> Catalog {
        use fake::Fake;
        use fake::faker::company::en::CompanyName;

        let mut names = std::collections::HashSet::new();
        let merchants: Vec<Merchant> = (0..merchants)
            .map(|i| {
                let base: String = CompanyName().fake_with_rng(rng);
                let name = if names.contains(&base) { format!("{base} #{i}") } else { base };
                names.insert(name.clone());
                Merchant { name: name.into() }
            })
            .collect();
        let merchant_pick =
            Weighted::new((0..merchants.len()).map(|rank| 1.0 / ((rank + 1) as f64).powf(MERCHANT_ZIPF_EXPONENT)));
        let category_pick = Weighted::new(CATEGORIES.iter().map(|c| c.weight));
        let mut by_category: Vec<(Vec<usize>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); CATEGORIES.len()];
        let mut list = Vec::with_capacity(products);
        for i in 0..products {
            // The first products cover every category once, so no category is ever empty.
            let category = if i < CATEGORIES.len() { i } else { category_pick.sample(rng) };
            let spec = &CATEGORIES[category];
            let z: f64 = rng.sample(StandardNormal);
            let price = round_cents((spec.median_price * (spec.sigma * z).exp()).clamp(0.5, 25_000.0));
            let merchant = merchant_pick.sample(rng);
            let popularity = (0.8 * rng.sample::<f64, _>(StandardNormal)).exp();
            let id = format!("P{i:06}");
            let page_url = format!("https://shop.example.com/{}/{id}", spec.name);
            by_category[category].0.push(i);
            by_category[category].1.push(popularity);
            list.push(Product { id: id.into(), category, merchant, price, page_url: page_url.into() });
        }
        Catalog {
            category_names: CATEGORIES.iter().map(|c| CompactString::const_new(c.name)).collect(),
            category_urls: CATEGORIES.iter().map(|c| format!("https://shop.example.com/{}", c.name)).collect(),
            category_pick,
            products: list,
            by_category: by_category.into_iter().map(|(ids, w)| (ids, Weighted::new(w))).collect(),
            merchants,
        }
    }

    /// A product of a category, by popularity; `None` if the category has none.
    pub fn product_in(&self, rng: &mut impl Rng, category: usize) -> Option<usize> {
        let (ids, pick) = &self.by_category[category];
        if ids.is_empty() { None } else { Some(ids[pick.sample(rng)]) }
    }

    /// A product of a category near a price (the best of three by log-distance).
    pub fn product_near(&self, rng: &mut impl Rng, category: usize, price: f64) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for _ in 0..3 {
            let p = self.product_in(rng, category)?;
            let d = (self.products[p].price.ln() - price.ln()).abs();
            if best.is_none_or(|(_, bd)| d < bd) {
                best = Some((p, d));
            }
        }
        best.map(|(p, _)| p)
    }
}

pub(crate) fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Sampling an index by weight in constant time: Vose's alias method. One uniform draw picks a
/// column and decides between the column and its alias.
pub(crate) struct Weighted {
    /// Per column: the probability of keeping it, and the index taken otherwise.
    columns: Vec<(f64, u32)>,
}

impl Weighted {
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Weighted {
        let weights: Vec<f64> = weights.into_iter().map(|w| if w.is_finite() { w.max(0.0) } else { 0.0 }).collect();
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        if n == 0 || total <= 0.0 {
            return Weighted { columns: (0..n as u32).map(|i| (1.0, i)).collect() };
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut columns = vec![(1.0, 0u32); n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            columns[s] = (scaled[s], l as u32);
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding.
        for i in small.into_iter().chain(large) {
            columns[i] = (1.0, i as u32);
        }
        Weighted { columns }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let n = self.columns.len();
        let x = rng.random::<f64>() * n as f64;
        let i = (x as usize).min(n.saturating_sub(1));
        let (keep, alias) = self.columns[i];
        if x - (i as f64) < keep { i } else { alias as usize }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn prices_follow_their_category() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        let c = Catalog::build(&mut rng, 3000, 50);
        for (i, spec) in CATEGORIES.iter().enumerate() {
            let mut prices: Vec<f64> = c.by_category[i].0.iter().map(|&p| c.products[p].price).collect();
            assert!(!prices.is_empty(), "{}", spec.name);
            prices.sort_by(f64::total_cmp);
            let median = prices[prices.len() / 2];
            if prices.len() > 50 {
                assert!((spec.median_price * 0.6..spec.median_price * 1.6).contains(&median), "{} {median}", spec.name);
            }
        }
        let names: std::collections::BTreeSet<_> = c.merchants.iter().map(|m| &m.name).collect();
        assert_eq!(names.len(), 50, "merchant names are unique");
    }

    #[test]
    fn weighted_respects_weights() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2);
        let pick = Weighted::new([1.0, 0.0, 3.0]);
        let mut counts = [0; 3];
        for _ in 0..40_000 {
            counts[pick.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((counts[2] as f64 / counts[0] as f64 - 3.0).abs() < 0.2, "{counts:?}");
    }
}
