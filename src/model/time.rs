//! Event time: microseconds since the Unix epoch, UTC.
//!
//! Timestamps arrive as ISO-8601 text. We accept RFC 3339 (`2024-01-15T10:30:00Z`,
//! `2024-01-15T10:30:00.123+02:00`) and the offset-less form Python's `isoformat()` writes
//! (`2024-01-15T10:30:00`, also with a space for the `T`), which is read as UTC. On the bus a
//! timestamp is always written as RFC 3339 in UTC with microseconds, so it round-trips exactly.

use std::fmt;

/// A point in event time, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

pub const MICROS_PER_SECOND: i64 = 1_000_000;

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs * MICROS_PER_SECOND)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn plus_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Parses ISO-8601 text; `None` when it is not a timestamp we understand.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Some(t) = parse_fast(text.as_bytes()) {
            return Some(t);
        }
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(text) {
            return Some(Timestamp(dt.timestamp_micros()));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f%:z"] {
            if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
                return Some(Timestamp(naive.and_utc().timestamp_micros()));
            }
            if let Ok(dt) = chrono::DateTime::parse_from_str(text, format) {
                return Some(Timestamp(dt.timestamp_micros()));
            }
        }
        None
    }

    /// Hour of day in UTC, 0-23.
    pub fn hour(self) -> u32 {
        (self.0.div_euclid(3_600 * MICROS_PER_SECOND).rem_euclid(24)) as u32
    }

    /// Day of week in UTC, Monday = 0 ... Sunday = 6.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (self.days_since_epoch() + 3).rem_euclid(7) as u32
    }

    pub fn days_since_epoch(self) -> i64 {
        self.0.div_euclid(86_400 * MICROS_PER_SECOND)
    }

    /// Appends the RFC 3339 form (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) to `out`.
    pub fn write_rfc3339(self, out: &mut String) {
        match self.rfc3339_bytes() {
            Some(buf) => out.push_str(std::str::from_utf8(&buf).unwrap_or_default()),
            None => {
                // Outside four-digit years: let chrono spell it.
                let dt = chrono::DateTime::from_timestamp_micros(self.0).unwrap_or_default();
                out.push_str(&dt.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
            }
        }
    }

    /// Appends the bus form, a JSON string as `Serialize` writes it.
    pub(crate) fn write_json(self, out: &mut Vec<u8>) {
        match self.rfc3339_bytes() {
            Some(buf) => {
                out.push(b'"');
                out.extend_from_slice(&buf);
                out.push(b'"');
            }
            None => super::json::write_str(out, &self.to_string()),
        }
    }

    /// The RFC 3339 form in a fixed buffer, for years 0 to 9999.
    fn rfc3339_bytes(self) -> Option<[u8; 27]> {
        let days = self.days_since_epoch();
        let micros_of_day = self.0 - days * 86_400 * MICROS_PER_SECOND;
        let (year, month, day) = civil_from_days(days);
        let secs = micros_of_day / MICROS_PER_SECOND;
        let frac = micros_of_day % MICROS_PER_SECOND;
        let mut buf = [0u8; 27];
        write_digits(&mut buf[0..4], year as u64);
        buf[4] = b'-';
        write_digits(&mut buf[5..7], month as u64);
        buf[7] = b'-';
        write_digits(&mut buf[8..10], day as u64);
        buf[10] = b'T';
        write_digits(&mut buf[11..13], (secs / 3600) as u64);
        buf[13] = b':';
        write_digits(&mut buf[14..16], (secs / 60 % 60) as u64);
        buf[16] = b':';
        write_digits(&mut buf[17..19], (secs % 60) as u64);
        buf[19] = b'.';
        write_digits(&mut buf[20..26], frac as u64);
        buf[26] = b'Z';
        (0..=9999).contains(&year).then_some(buf)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(27);
        self.write_rfc3339(&mut s);
        f.write_str(&s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339_bytes() {
            Some(buf) => serializer.serialize_str(std::str::from_utf8(&buf).unwrap_or_default()),
            None => serializer.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unparseable timestamp {text:?}")))
    }
}

/// The common shapes without chrono: `YYYY-MM-DD(T| )HH:MM:SS[.fraction][Z|±HH:MM]`. Anything
/// else (or anything odd, like a leap second) returns `None` and goes the slow, general way.
fn parse_fast(b: &[u8]) -> Option<Timestamp> {
    fn num(b: &[u8]) -> Option<i64> {
        b.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let [b'.', tail @ ..] = rest {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let frac = num(&tail[..digits])?;
        micros = if digits <= 6 { frac * 10i64.pow(6 - digits as u32) } else { frac / 10i64.pow(digits as u32 - 6) };
        rest = &tail[digits..];
    }
    let offset_secs = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(Timestamp(secs * MICROS_PER_SECOND + micros))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: (year, month, day) to days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn write_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Where "now" comes from. Injected so that tests and the generator control time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(since.as_micros() as i64)
    }
}

/// A clock that always says the same time (tests, golden runs).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_offsets_and_naive_forms() {
        let z = Timestamp::parse("2024-01-15T10:30:00Z").unwrap();
        assert_eq!(z.micros(), 1_705_314_600 * MICROS_PER_SECOND);
        assert_eq!(Timestamp::parse("2024-01-15T12:30:00+02:00"), Some(z));
        assert_eq!(Timestamp::parse("2024-01-15T10:30:00"), Some(z));
        assert_eq!(Timestamp::parse("2024-01-15 10:30:00"), Some(z));
        assert_eq!(Timestamp::parse("2024-01-15T10:30:00.250000").unwrap().micros(), z.micros() + 250_000);
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Timestamp::parse("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn rfc3339_round_trips_at_microsecond_precision() {
        for micros in [0, 1, 1_705_314_600_123_456, -86_400_000_001, 253_402_300_799_999_999] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(Timestamp::parse(&t.to_string()), Some(t), "{t}");
        }
        assert_eq!(Timestamp::from_secs(0).to_string(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn the_fast_parser_agrees_with_chrono() {
        let cases = [
            "2024-02-29T23:59:59Z",
            "2024-01-15T10:30:00.5+05:30",
            "2024-01-15 10:30:00.123456789",
            "1969-12-31T23:59:59.999999-00:30",
            "2000-03-01t00:00:00z",
        ];
        for text in cases {
            let fast = parse_fast(text.as_bytes()).unwrap_or_else(|| panic!("fast path refused {text}"));
            let slow = chrono::DateTime::parse_from_rfc3339(&text.replace(' ', "T").to_uppercase())
                .map(|d| d.timestamp_micros())
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                        .map(|n| n.and_utc().timestamp_micros())
                })
                .unwrap();
            assert_eq!(fast.micros(), slow, "{text}");
        }
        for odd in ["2023-02-29T00:00:00Z", "2024-01-15T24:00:00Z", "2024-01-15T10:30:60Z", "2024-01-15T10:30:00+5:00"]
        {
            assert_eq!(parse_fast(odd.as_bytes()), None, "{odd}");
        }
    }

    #[test]
    fn weekday_and_hour_are_utc() {
        let t = Timestamp::parse("2024-01-13T23:05:00Z").unwrap(); // a Saturday
        assert_eq!(t.weekday(), 5);
        assert_eq!(t.hour(), 23);
    }
}
