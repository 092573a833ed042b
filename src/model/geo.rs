//! Reference geography: the cities the shop sells in, with their country, ISO-3166 code,
//! coordinates, rough metro population and a high-risk-country flag.
//!
//! The generator places customers and fraudsters in these cities; fraud scoring uses the same
//! table to turn a transaction's `location` ("City, Country") back into coordinates (impossible
//! travel) and into the high-risk flag. The flag is synthetic reference data for the fraud rules
//! (the countries a card issuer's risk team would typically list), not a judgement of a country.

/// One city of the reference table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct City {
    pub name: &'static str,
    pub country: &'static str,
    /// ISO-3166 alpha-2 code of the country.
    pub iso: &'static str,
    pub lat: f64,
    pub lon: f64,
    /// Metro population in millions, rounded: a weight for where shoppers live.
    pub population_m: f64,
    /// The country is on the synthetic high-risk list.
    pub high_risk: bool,
    /// "City, Country", as written in `Transaction::location`.
    pub location: &'static str,
}

impl City {
    /// Great-circle distance to another city, in kilometres.
    pub fn distance_km(&self, other: &City) -> f64 {
        haversine_km((self.lat, self.lon), (other.lat, other.lon))
    }
}

/// Mean Earth radius used for distances, in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance between two (latitude, longitude) points in degrees, in kilometres.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

macro_rules! cities {
    ($(($name:literal, $country:literal, $iso:literal, $lat:expr, $lon:expr, $pop:expr, $risk:expr)),+ $(,)?) => {
        &[$(City {
            name: $name,
            country: $country,
            iso: $iso,
            lat: $lat,
            lon: $lon,
            population_m: $pop,
            high_risk: $risk,
            location: concat!($name, ", ", $country),
        }),+]
    };
}

/// The reference cities, grouped by country. Order is part of the generator's output (it picks
/// cities by index), so append rather than reorder.
pub const CITIES: &[City] = cities![
    ("New York", "United States", "US", 40.7128, -74.0060, 19.5, false),
    ("Los Angeles", "United States", "US", 34.0522, -118.2437, 12.5, false),
    ("Chicago", "United States", "US", 41.8781, -87.6298, 9.3, false),
    ("Houston", "United States", "US", 29.7604, -95.3698, 7.1, false),
    ("Miami", "United States", "US", 25.7617, -80.1918, 6.1, false),
    ("Seattle", "United States", "US", 47.6062, -122.3321, 4.0, false),
    ("San Francisco", "United States", "US", 37.7749, -122.4194, 4.7, false),
    ("Toronto", "Canada", "CA", 43.6532, -79.3832, 6.2, false),
    ("Vancouver", "Canada", "CA", 49.2827, -123.1207, 2.6, false),
    ("Montreal", "Canada", "CA", 45.5019, -73.5674, 4.3, false),
    ("Mexico City", "Mexico", "MX", 19.4326, -99.1332, 21.8, false),
    ("London", "United Kingdom", "GB", 51.5074, -0.1278, 9.6, false),
    ("Manchester", "United Kingdom", "GB", 53.4808, -2.2426, 2.8, false),
    ("Dublin", "Ireland", "IE", 53.3498, -6.2603, 1.4, false),
    ("Paris", "France", "FR", 48.8566, 2.3522, 11.1, false),
    ("Lyon", "France", "FR", 45.7640, 4.8357, 2.3, false),
    ("Berlin", "Germany", "DE", 52.5200, 13.4050, 3.7, false),
    ("Munich", "Germany", "DE", 48.1351, 11.5820, 2.6, false),
    ("Hamburg", "Germany", "DE", 53.5511, 9.9937, 1.9, false),
    ("Amsterdam", "Netherlands", "NL", 52.3676, 4.9041, 2.5, false),
    ("Brussels", "Belgium", "BE", 50.8503, 4.3517, 2.1, false),
    ("Zurich", "Switzerland", "CH", 47.3769, 8.5417, 1.4, false),
    ("Vienna", "Austria", "AT", 48.2082, 16.3738, 2.0, false),
    ("Madrid", "Spain", "ES", 40.4168, -3.7038, 6.7, false),
    ("Barcelona", "Spain", "ES", 41.3874, 2.1686, 5.6, false),
    ("Lisbon", "Portugal", "PT", 38.7223, -9.1393, 2.9, false),
    ("Rome", "Italy", "IT", 41.9028, 12.4964, 4.3, false),
    ("Milan", "Italy", "IT", 45.4642, 9.1900, 3.2, false),
    ("Stockholm", "Sweden", "SE", 59.3293, 18.0686, 2.4, false),
    ("Oslo", "Norway", "NO", 59.9139, 10.7522, 1.1, false),
    ("Copenhagen", "Denmark", "DK", 55.6761, 12.5683, 1.4, false),
    ("Helsinki", "Finland", "FI", 60.1699, 24.9384, 1.3, false),
    ("Warsaw", "Poland", "PL", 52.2297, 21.0122, 3.1, false),
    ("Prague", "Czechia", "CZ", 50.0755, 14.4378, 1.3, false),
    ("Bucharest", "Romania", "RO", 44.4268, 26.1025, 2.1, false),
    ("Athens", "Greece", "GR", 37.9838, 23.7275, 3.2, false),
    ("Istanbul", "Turkey", "TR", 41.0082, 28.9784, 15.6, false),
    ("Moscow", "Russia", "RU", 55.7558, 37.6173, 12.6, true),
    ("Saint Petersburg", "Russia", "RU", 59.9311, 30.3609, 5.4, true),
    ("Minsk", "Belarus", "BY", 53.9006, 27.5590, 2.0, true),
    ("Kyiv", "Ukraine", "UA", 50.4501, 30.5234, 3.0, false),
    ("Dubai", "United Arab Emirates", "AE", 25.2048, 55.2708, 3.6, false),
    ("Tel Aviv", "Israel", "IL", 32.0853, 34.7818, 4.2, false),
    ("Cairo", "Egypt", "EG", 30.0444, 31.2357, 21.3, false),
    ("Lagos", "Nigeria", "NG", 6.5244, 3.3792, 15.4, true),
    ("Abuja", "Nigeria", "NG", 9.0765, 7.3986, 3.8, true),
    ("Accra", "Ghana", "GH", 5.6037, -0.1870, 2.6, true),
    ("Nairobi", "Kenya", "KE", -1.2921, 36.8219, 5.1, false),
    ("Johannesburg", "South Africa", "ZA", -26.2041, 28.0473, 6.1, false),
    ("Cape Town", "South Africa", "ZA", -33.9249, 18.4241, 4.8, false),
    ("Mumbai", "India", "IN", 19.0760, 72.8777, 21.0, false),
    ("Delhi", "India", "IN", 28.7041, 77.1025, 32.0, false),
    ("Bangalore", "India", "IN", 12.9716, 77.5946, 13.2, false),
    ("Karachi", "Pakistan", "PK", 24.8607, 67.0011, 17.2, true),
    ("Singapore", "Singapore", "SG", 1.3521, 103.8198, 5.9, false),
    ("Kuala Lumpur", "Malaysia", "MY", 3.1390, 101.6869, 8.6, false),
    ("Jakarta", "Indonesia", "ID", -6.2088, 106.8456, 11.2, false),
    ("Bangkok", "Thailand", "TH", 13.7563, 100.5018, 11.1, false),
    ("Phnom Penh", "Cambodia", "KH", 11.5564, 104.9282, 2.3, true),
    ("Ho Chi Minh City", "Vietnam", "VN", 10.8231, 106.6297, 9.3, false),
    ("Manila", "Philippines", "PH", 14.5995, 120.9842, 14.4, false),
    ("Hong Kong", "Hong Kong", "HK", 22.3193, 114.1694, 7.5, false),
    ("Shanghai", "China", "CN", 31.2304, 121.4737, 29.2, false),
    ("Beijing", "China", "CN", 39.9042, 116.4074, 21.8, false),
    ("Seoul", "South Korea", "KR", 37.5665, 126.9780, 9.9, false),
    ("Tokyo", "Japan", "JP", 35.6762, 139.6503, 37.2, false),
    ("Osaka", "Japan", "JP", 34.6937, 135.5023, 19.0, false),
    ("Sydney", "Australia", "AU", -33.8688, 151.2093, 5.3, false),
    ("Melbourne", "Australia", "AU", -37.8136, 144.9631, 5.1, false),
    ("Auckland", "New Zealand", "NZ", -36.8485, 174.7633, 1.7, false),
    ("Sao Paulo", "Brazil", "BR", -23.5505, -46.6333, 22.6, false),
    ("Rio de Janeiro", "Brazil", "BR", -22.9068, -43.1729, 13.7, false),
    ("Buenos Aires", "Argentina", "AR", -34.6037, -58.3816, 15.5, false),
    ("Santiago", "Chile", "CL", -33.4489, -70.6693, 6.9, false),
    ("Bogota", "Colombia", "CO", 4.7110, -74.0721, 11.5, false),
    ("Lima", "Peru", "PE", -12.0464, -77.0428, 11.2, false),
    ("Caracas", "Venezuela", "VE", 10.4806, -66.9036, 2.9, true),
];

/// The city a `location` string ("City, Country", any case and spacing) names, if it is in the
/// table.
pub fn city_by_location(location: &str) -> Option<&'static City> {
    let (city, country) = location.rsplit_once(',')?;
    let (city, country) = (city.trim(), country.trim());
    CITIES.iter().find(|c| c.name.eq_ignore_ascii_case(city) && c.country.eq_ignore_ascii_case(country))
}

/// Whether a country (by name or ISO code, any case) is on the high-risk list.
pub fn country_is_high_risk(country: &str) -> bool {
    let country = country.trim();
    CITIES
        .iter()
        .any(|c| c.high_risk && (c.country.eq_ignore_ascii_case(country) || c.iso.eq_ignore_ascii_case(country)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_known_distances() {
        let london = city_by_location("London, United Kingdom").unwrap();
        let paris = city_by_location(" paris ,  france").unwrap();
        let d = london.distance_km(paris);
        assert!((340.0..350.0).contains(&d), "{d}");
        let ny = city_by_location("New York, United States").unwrap();
        let sydney = city_by_location("Sydney, Australia").unwrap();
        let d = ny.distance_km(sydney);
        assert!((15_950.0..16_050.0).contains(&d), "{d}");
        assert_eq!(haversine_km((1.0, 2.0), (1.0, 2.0)), 0.0);
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CITIES {
            assert!(seen.insert(c.location), "duplicate {}", c.location);
            assert!((-90.0..=90.0).contains(&c.lat) && (-180.0..=180.0).contains(&c.lon), "{}", c.name);
            assert_eq!(c.iso.len(), 2);
            assert_eq!(city_by_location(c.location), Some(c));
            assert_eq!(country_is_high_risk(c.country), c.high_risk, "{}", c.country);
        }
        let countries: std::collections::BTreeSet<_> = CITIES.iter().map(|c| c.iso).collect();
        assert!(countries.len() >= 40, "{}", countries.len());
        assert!(country_is_high_risk("NG") && country_is_high_risk("nigeria"));
        assert!(!country_is_high_risk("France"));
        assert_eq!(city_by_location("Atlantis"), None);
    }
}
