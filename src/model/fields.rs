//! Reading one field of an incoming event, with an error that names the field.
//!
//! Events arrive as JSON objects (ingest files, HTTP, the bus) or as CSV rows. Both are first
//! split into borrowed per-field values ([`RawField`]) without interpreting them; each field is
//! then parsed on its own, so every error says which field is wrong and how. JSON is strict about
//! types (an amount written as a string is a wrong type); CSV cells are text by nature and are
//! parsed from their text.

use bytestring::ByteString;
use compact_str::CompactString;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The whole text an event was decoded from, when it is shared (a bus record): long text fields
/// become slices of it.
pub type RecordText<'r> = Option<&'r ByteString>;

/// Whether `part` lies inside `whole`'s memory (then `whole.slice_ref(part)` is its slice).
fn within(whole: &str, part: &str) -> bool {
    let (start, end) = (whole.as_ptr() as usize, whole.as_ptr() as usize + whole.len());
    let at = part.as_ptr() as usize;
    start <= at && at + part.len() <= end
}

/// One field's value as it arrived.
#[derive(Clone, Copy, Debug)]
pub enum RawField<'a> {
    Json(JsonValue<'a>),
    Text(&'a str),
}

/// The text of one JSON value exactly as it arrived, known to be valid JSON: made only by
/// serde_json (as a `RawValue`) or by the scanner in `model::json`, which accepts nothing
/// serde_json would refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonValue<'a> {
    text: &'a str,
    /// A string the scanner saw has no escapes, so its inside can be borrowed as it is.
    unescaped: bool,
}

impl<'a> JsonValue<'a> {
    /// `text` must be exactly one valid JSON value; `unescaped` says that it is a string known
    /// to hold no backslash (`false` when not known).
    pub(crate) fn new(text: &'a str, unescaped: bool) -> Self {
        debug_assert!(!unescaped || (text.starts_with('"') && !text.contains('\\')));
        JsonValue { text, unescaped }
    }

    pub fn get(self) -> &'a str {
        self.text
    }

    /// `None` for JSON `null`, which reads as an absent field.
    pub(crate) fn non_null(self) -> Option<Self> {
        (self.text != "null").then_some(self)
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonValue<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(|raw| JsonValue::new(raw.get(), false))
    }
}

/// Why a field was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    Missing,
    WrongType { expected: &'static str, found: &'static str },
    Negative(f64),
    NonFinite(String),
    OutOfRange(String),
    UnknownValue { value: String, allowed: &'static [&'static str] },
    BadTimestamp(String),
    FutureTimestamp { value: String, limit: String },
    Invalid(String),
}

impl Problem {
    /// A stable, low-cardinality reason code for counters and the dead-letter topic.
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::Missing => "missing_field",
            Problem::WrongType { .. } => "wrong_type",
            Problem::Negative(_) => "negative_value",
            Problem::NonFinite(_) => "non_finite_number",
            Problem::OutOfRange(_) => "out_of_range",
            Problem::UnknownValue { .. } => "unknown_enum_value",
            Problem::BadTimestamp(_) => "bad_timestamp",
            Problem::FutureTimestamp { .. } => "future_timestamp",
            Problem::Invalid(_) => "invalid_value",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "is required but missing"),
            Problem::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Problem::Negative(v) => write!(f, "must not be negative, got {v}"),
            Problem::NonFinite(v) => write!(f, "must be a finite number, got {v}"),
            Problem::OutOfRange(v) => write!(f, "is out of range: {v}"),
            Problem::UnknownValue { value, allowed } => {
                write!(f, "unknown value {value:?}; expected one of {}", allowed.join(", "))
            }
            Problem::BadTimestamp(v) => {
                write!(f, "unparseable timestamp {v:?}; use ISO-8601 like 2024-01-15T10:30:00Z")
            }
            Problem::FutureTimestamp { value, limit } => {
                write!(f, "timestamp {value} is too far in the future (latest accepted {limit})")
            }
            Problem::Invalid(why) => f.write_str(why),
        }
    }
}

/// A refused field: which one, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("field `{field}` {problem}")]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

pub type FieldResult<T> = Result<T, FieldError>;

/// `s.trim().is_empty()`, stopping at the first non-blank character.
pub(crate) fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

pub(crate) fn err<T>(field: &'static str, problem: Problem) -> FieldResult<T> {
    Err(FieldError { field, problem })
}

fn json_kind(raw: JsonValue<'_>) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn short(text: &str) -> String {
    if text.len() <= 60 {
        text.to_string()
    } else {
        let mut end = 60;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    }
}

impl<'a> RawField<'a> {
    /// `None` for an empty CSV cell: an absent value, like a missing JSON key or `null`.
    pub fn present(self) -> Option<Self> {
        match self {
            RawField::Text(t) if t.trim().is_empty() => None,
            other => Some(other),
        }
    }

    pub fn string(self, field: &'static str) -> FieldResult<Cow<'a, str>> {
        match self {
            RawField::Text(t) => Ok(Cow::Borrowed(t.trim())),
            RawField::Json(raw) => {
                let text = raw.get();
                if !text.starts_with('"') {
                    return err(field, Problem::WrongType { expected: "a string", found: json_kind(raw) });
                }
                // Fast path: no escapes, borrow the text between the quotes.
                let inner = &text[1..text.len() - 1];
                if raw.unescaped || !inner.contains('\\') {
                    return Ok(Cow::Borrowed(inner));
                }
                serde_json::from_str::<String>(text)
                    .map(Cow::Owned)
                    .map_err(|e| FieldError { field, problem: Problem::Invalid(e.to_string()) })
            }
        }
    }

    /// A non-empty string that is usually long (a URL, a user agent): a slice of `record` when
    /// the text is part of it and needed no unescaping, otherwise a copy.
    pub fn long_text(self, field: &'static str, record: RecordText<'_>) -> FieldResult<ByteString> {
        let s = self.string(field)?;
        if is_blank(&s) {
            return err(field, Problem::Invalid("must not be empty".into()));
        }
        Ok(match s {
            Cow::Borrowed(part) => match record {
                Some(record) if within(record, part) => record.slice_ref(part),
                _ => ByteString::from(part),
            },
            Cow::Owned(unescaped) => ByteString::from(unescaped),
        })
    }

    /// A non-empty string; one of up to 24 bytes is stored inline, without allocating.
    pub fn text(self, field: &'static str) -> FieldResult<CompactString> {
        let s = self.string(field)?;
        if is_blank(&s) {
            return err(field, Problem::Invalid("must not be empty".into()));
        }
        Ok(CompactString::from(s))
    }

    pub fn number(self, field: &'static str) -> FieldResult<f64> {
        let (text, parsed) = match self {
            RawField::Json(raw) => {
                let kind = json_kind(raw);
                if kind != "a number" {
                    return err(field, Problem::WrongType { expected: "a number", found: kind });
                }
                (raw.get(), raw.get().parse::<f64>())
            }
            RawField::Text(t) => (t.trim(), t.trim().parse::<f64>()),
        };
        match parsed {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => err(field, Problem::NonFinite(short(text))),
            Err(_) => err(field, Problem::WrongType { expected: "a number", found: "text" }),
        }
    }

    pub fn non_negative(self, field: &'static str) -> FieldResult<f64> {
        let v = self.number(field)?;
        if v < 0.0 {
            return err(field, Problem::Negative(v));
        }
        Ok(v)
    }

    pub fn integer(self, field: &'static str) -> FieldResult<i64> {
        let text = match self {
            RawField::Json(raw) => {
                let kind = json_kind(raw);
                if kind != "a number" {
                    return err(field, Problem::WrongType { expected: "an integer", found: kind });
                }
                raw.get()
            }
            RawField::Text(t) => t.trim(),
        };
        match text.parse::<i64>() {
            Ok(v) => Ok(v),
            Err(_) if text.parse::<f64>().is_ok() => {
                err(field, Problem::WrongType { expected: "an integer", found: "a fractional number" })
            }
            Err(_) => err(field, Problem::WrongType { expected: "an integer", found: "text" }),
        }
    }

    /// A positive count such as a quantity: 1 ..= 1,000,000.
    pub fn count(self, field: &'static str) -> FieldResult<u32> {
        let v = self.integer(field)?;
        if v < 0 {
            return err(field, Problem::Negative(v as f64));
        }
        if !(1..=1_000_000).contains(&v) {
            return err(field, Problem::OutOfRange(format!("{v}; expected 1 to 1000000")));
        }
        Ok(v as u32)
    }

    pub fn boolean(self, field: &'static str) -> FieldResult<bool> {
        match self {
            RawField::Json(raw) => match raw.get() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => err(field, Problem::WrongType { expected: "a boolean", found: json_kind(raw) }),
            },
            RawField::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "t" => Ok(true),
                "false" | "0" | "no" | "f" => Ok(false),
                other => err(
                    field,
                    Problem::WrongType {
                        expected: "a boolean",
                        found: if other.is_empty() { "empty text" } else { "text" },
                    },
                ),
            },
        }
    }

    pub fn timestamp(self, field: &'static str) -> FieldResult<super::Timestamp> {
        let text = self.string(field)?;
        super::Timestamp::parse(&text).ok_or_else(|| FieldError { field, problem: Problem::BadTimestamp(short(&text)) })
    }

    pub fn ip(self, field: &'static str) -> FieldResult<std::net::IpAddr> {
        let text = self.string(field)?;
        if let Some(v4) = dotted_quad(text.trim()) {
            return Ok(v4.into());
        }
        text.trim().parse().map_err(|_| FieldError {
            field,
            problem: Problem::Invalid(format!("{:?} is not an IP address", short(&text))),
        })
    }

    pub fn user_id(self, field: &'static str) -> FieldResult<super::UserId> {
        match self {
            RawField::Json(raw) if json_kind(raw) == "a number" => match raw.get().parse::<i64>() {
                Ok(v) => Ok(super::UserId::Int(v)),
                Err(_) => {
                    err(field, Problem::WrongType { expected: "an integer or a string", found: "a fractional number" })
                }
            },
            RawField::Json(raw) if json_kind(raw) != "a string" => {
                err(field, Problem::WrongType { expected: "an integer or a string", found: json_kind(raw) })
            }
            RawField::Text(t) if t.trim().parse::<i64>().is_ok() => {
                Ok(super::UserId::Int(t.trim().parse().unwrap_or_default()))
            }
            other => Ok(super::UserId::Str(other.text(field)?.into_string())),
        }
    }
}

/// A closed set of text values (payment methods, channels, event types).
pub trait Vocabulary: Sized + Copy + 'static {
    const ALL: &'static [Self];
    const NAMES: &'static [&'static str];
    fn as_str(self) -> &'static str;

    /// Case-insensitive; `-` and spaces read as `_`.
    fn parse(text: &str) -> Option<Self> {
        if let Some(exact) = Self::ALL.iter().copied().find(|v| v.as_str() == text) {
            return Some(exact);
        }
        let norm = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Self::ALL.iter().copied().find(|v| v.as_str() == norm)
    }

    fn from_field(raw: RawField<'_>, field: &'static str) -> FieldResult<Self> {
        let text = raw.string(field)?;
        Self::parse(&text).ok_or_else(|| FieldError {
            field,
            problem: Problem::UnknownValue { value: short(&text), allowed: Self::NAMES },
        })
    }
}

/// Declares a [`Vocabulary`] enum with its wire names, serialized as those names.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $crate::model::fields::Vocabulary for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            const NAMES: &'static [&'static str] = &[$($text),+];
            fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::model::fields::Vocabulary::as_str(*self))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::model::fields::Vocabulary::as_str(*self))
            }
        }
    };
}
pub(crate) use vocabulary;

/// The common spelling of an IPv4 address, four decimal octets without leading zeros, parsed in
/// one pass; `None` for anything else, which the standard parser then decides. Every address
/// this accepts, the standard parser accepts with the same value (a test checks), in a fraction
/// of its time (the standard parser was about 5% of decoding in the core benchmark).
fn dotted_quad(text: &str) -> Option<std::net::Ipv4Addr> {
    let b = text.as_bytes();
    let (mut octets, mut i) = ([0u8; 4], 0);
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut value = 0u32;
        while i - start < 3
            && let Some(d) = b.get(i).filter(|d| d.is_ascii_digit())
        {
            value = value * 10 + u32::from(d - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && b[start] == b'0') {
            return None;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == b.len()).then_some(std::net::Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast IPv4 path accepts only what the standard parser accepts, with the same value,
        /// and every usual address.
        #[test]
        fn dotted_quads_parse_as_the_standard_parser_does(
            text in prop_oneof!["[0-9.]{0,17}", "[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}", "[0-9a-f:. ]{0,20}"],
            octets in any::<[u8; 4]>(),
        ) {
            if let Some(v4) = dotted_quad(&text) {
                prop_assert_eq!(text.parse::<std::net::Ipv4Addr>().ok(), Some(v4));
            }
            let usual = std::net::Ipv4Addr::from(octets);
            prop_assert_eq!(dotted_quad(&usual.to_string()), Some(usual));
        }
    }

    #[test]
    fn ip_addresses_of_either_kind_parse_and_bad_ones_name_the_field() {
        let ip = |t: &str| RawField::Text(t).ip("ip_address");
        assert_eq!(ip(" 10.0.0.255 ").unwrap().to_string(), "10.0.0.255");
        assert_eq!(ip("2001:db8::1").unwrap().to_string(), "2001:db8::1");
        for bad in ["10.0.0.256", "10.0.0", "10.0.0.1.", "1..2.3", "010.0.0.1", "10.0.0.1x"] {
            let e = ip(bad).unwrap_err();
            assert_eq!((e.field, e.problem.reason()), ("ip_address", "invalid_value"), "{bad}");
        }
    }

    fn json(text: &str) -> JsonValue<'_> {
        serde_json::from_str::<JsonValue<'_>>(text).unwrap()
    }

    #[test]
    fn json_types_are_strict_and_named() {
        let s = json("\"12.5\"");
        let e = RawField::Json(s).number("amount").unwrap_err();
        assert_eq!(e.to_string(), "field `amount` expected a number, found a string");
        let n = json("-3");
        assert_eq!(RawField::Json(n).non_negative("amount").unwrap_err().problem.reason(), "negative_value");
        let f = json("2.5");
        assert_eq!(RawField::Json(f).count("quantity").unwrap_err().problem.reason(), "wrong_type");
    }

    #[test]
    fn csv_text_parses_and_flags_non_finite() {
        assert_eq!(RawField::Text(" 12.5 ").number("amount").unwrap(), 12.5);
        assert_eq!(RawField::Text("NaN").number("amount").unwrap_err().problem.reason(), "non_finite_number");
        assert_eq!(RawField::Text("inf").number("amount").unwrap_err().problem.reason(), "non_finite_number");
        assert!(RawField::Text("").present().is_none());
        assert!(RawField::Text("yes").boolean("is_fraud").unwrap());
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let s = json(r#""Caf\u00e9 \"Le Monde\"""#);
        assert_eq!(RawField::Json(s).string("merchant").unwrap(), "Café \"Le Monde\"");
    }
}
