//! The events and records that pass between stages.
//!
//! Two kinds of event come in: [`Transaction`]s (payments) and [`ClickEvent`]s (shopping
//! sessions). Both are validated strictly on the way in ([`decode_json`], [`decode_csv`]): an
//! event either becomes a fully typed value or is refused with a [`DecodeError`] naming the field
//! and the problem. Validation also replaces e-mail addresses by keyed pseudonyms
//! ([`Pseudonymizer`]), so raw addresses never travel further.
//!
//! On the bus an event is a JSON object whose first member is the encoding version, `"v":1`,
//! followed by the event's fields ([`encode`]). Decoding accepts objects without `v` (events
//! written by other producers), refuses versions newer than [`ENCODING_VERSION`], and ignores
//! fields it does not know, so older readers survive newer writers.

mod click;
pub mod dead_letter;
pub(crate) mod fields;
pub mod geo;
mod json;
mod pseudonym;
mod time;
mod transaction;
mod user_key;

pub use click::{ClickEvent, ClickType};
pub use dead_letter::DeadLetter;
use fields::RecordText;
pub use fields::{FieldError, JsonValue, Problem, RawField, Vocabulary};
pub use pseudonym::Pseudonymizer;
pub use time::{Clock, FixedClock, MICROS_PER_SECOND, SystemClock, Timestamp};
pub use transaction::{Channel, FraudScenario, PaymentMethod, Transaction};
pub use user_key::UserKey;

/// A hash map of per-key processing state (customers, devices, sessions). Its hasher is
/// foldhash, several times faster than the standard library's SipHash on the short keys events
/// carry, and seeded at random per process, so a crafted input cannot plan collisions in advance.
/// Iteration order is arbitrary: state serializes through [`sorted_map`].
pub type StateMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The set form of [`StateMap`].
pub type StateSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Serializes a hash map sorted by key, so that equal maps give equal bytes (checkpoint state).
pub fn sorted_map<K: Ord + serde::Serialize, V: serde::Serialize, H, S: serde::Serializer>(
    map: &std::collections::HashMap<K, V, H>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut entries: Vec<(&K, &V)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    s.collect_map(entries)
}

use bytes::Bytes;
use bytestring::ByteString;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// The bus encoding version written by [`encode`].
pub const ENCODING_VERSION: u64 = 1;

/// Topic names: the contract between producers and consumers.
pub mod topic {
    pub const TRANSACTIONS: &str = "transactions";
    pub const CLICKSTREAM: &str = "clickstream";
    pub const DEAD_LETTER: &str = "dead-letter";
    pub const FRAUD_ALERTS: &str = "fraud-alerts";
    pub const ANALYTICS: &str = "analytics";
    pub const QUALITY_ALERTS: &str = "quality-alerts";
    pub const ALL: &[&str] = &[TRANSACTIONS, CLICKSTREAM, DEAD_LETTER, FRAUD_ALERTS, ANALYTICS, QUALITY_ALERTS];
}

/// A customer id: the seed schema has integers, other shops use strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum UserId {
    Int(i64),
    Str(String),
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserId::Int(v) => write!(f, "{v}"),
            UserId::Str(s) => f.write_str(s),
        }
    }
}

/// Which schema an event follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Transaction,
    Click,
}

impl EventKind {
    pub fn topic(self) -> &'static str {
        match self {
            EventKind::Transaction => topic::TRANSACTIONS,
            EventKind::Click => topic::CLICKSTREAM,
        }
    }

    pub fn fields(self) -> &'static [&'static str] {
        match self {
            EventKind::Transaction => Transaction::FIELDS,
            EventKind::Click => ClickEvent::FIELDS,
        }
    }
}

/// A validated event of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Transaction(Transaction),
    Click(ClickEvent),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Transaction(_) => EventKind::Transaction,
            Event::Click(_) => EventKind::Click,
        }
    }

    pub fn key(&self) -> Vec<u8> {
        match self {
            Event::Transaction(t) => t.key(),
            Event::Click(c) => c.key(),
        }
    }

    /// Appends [`Event::key`] to `out`.
    pub fn write_key(&self, out: &mut Vec<u8>) {
        match self {
            Event::Transaction(t) => t.write_key(out),
            Event::Click(c) => c.write_key(out),
        }
    }

    pub fn time(&self) -> Timestamp {
        match self {
            Event::Transaction(t) => t.timestamp,
            Event::Click(c) => c.event_timestamp,
        }
    }

    /// Appends the bus encoding to `out`: the same bytes as [`encode`], written directly.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Event::Transaction(t) => t.encode_json(out),
            Event::Click(c) => c.encode_json(out),
        }
    }
}

/// Appends the bus encoding of an event, `{"v":1,...fields}`, to `out`, via serde. [`Event::encode`]
/// writes the same bytes faster.
pub fn encode<T: Serialize>(event: &T, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(b"{\"v\":1,");
    let body = out.len();
    serde_json::to_writer(&mut *out, event).expect("events always serialize");
    // The event serialized as `{...}`: drop its opening brace, ours already stands.
    debug_assert_eq!(out[body], b'{');
    out.remove(body);
    debug_assert!(out.len() > start + 7);
}

/// Why an incoming event was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid UTF-8 (first bad byte at column {column})")]
    Utf8 { column: usize },
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a JSON object; each line must be one event object")]
    NotObject,
    #[error("encoding version {0} is newer than this build understands ({ENCODING_VERSION}); upgrade streamify")]
    Version(String),
    #[error("not a valid CSV row: {0}")]
    Csv(String),
    #[error(transparent)]
    Field(#[from] FieldError),
}

impl DecodeError {
    /// A stable, low-cardinality reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Utf8 { .. } => "invalid_utf8",
            DecodeError::Json(_) => "invalid_json",
            DecodeError::NotObject => "not_an_object",
            DecodeError::Version(_) => "unsupported_version",
            DecodeError::Csv(_) => "invalid_csv",
            DecodeError::Field(f) => f.problem.reason(),
        }
    }
}

/// What validation needs besides the event: the time (to refuse future timestamps) and the
/// pseudonym key.
#[derive(Clone)]
pub struct Validator {
    clock: Arc<dyn Clock>,
    max_future_micros: i64,
    pseudonymizer: Pseudonymizer,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator").field("max_future_micros", &self.max_future_micros).finish_non_exhaustive()
    }
}

impl Validator {
    pub fn new(clock: Arc<dyn Clock>, max_future: std::time::Duration, pseudonymizer: Pseudonymizer) -> Self {
        Validator { clock, max_future_micros: max_future.as_micros() as i64, pseudonymizer }
    }

    pub fn pseudonymizer(&self) -> &Pseudonymizer {
        &self.pseudonymizer
    }

    /// The time future timestamps are measured from, by the validator's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Refuses `t` when it is more than the allowed skew after `now`.
    fn check_not_future(&self, field: &'static str, t: Timestamp, now: Timestamp) -> Result<(), FieldError> {
        let limit = now.plus_micros(self.max_future_micros);
        if t > limit {
            return Err(FieldError {
                field,
                problem: Problem::FutureTimestamp { value: t.to_string(), limit: limit.to_string() },
            });
        }
        Ok(())
    }

    fn email(&self, raw: RawField<'_>, field: &'static str, record: RecordText<'_>) -> Result<ByteString, FieldError> {
        let text = raw.long_text(field, record)?;
        if Pseudonymizer::is_pseudonym(&text) {
            return Ok(text);
        }
        let looks_like_email = match text.trim().split_once('@') {
            Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.contains('@'),
            None => false,
        };
        if !looks_like_email {
            return Err(FieldError { field, problem: Problem::Invalid("is not an e-mail address".into()) });
        }
        Ok(self.pseudonymizer.pseudonym(&text).into())
    }
}

/// Decodes and validates one JSON event (a line of a JSON-lines file, an HTTP item).
pub fn decode_json(kind: EventKind, bytes: &[u8], v: &Validator) -> Result<Event, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::Utf8 { column: e.valid_up_to() + 1 })?;
    decode_text(kind, text, None, v, v.now())
}

/// Decodes and validates one bus record, with future timestamps measured from `now`, a time the
/// caller read from the validator's clock (once for a batch of records, rather than once per
/// record). The event's long text fields are slices of `record`, which they keep alive, rather
/// than copies.
pub fn decode_record(kind: EventKind, record: &Bytes, v: &Validator, now: Timestamp) -> Result<Event, DecodeError> {
    let text = ByteString::try_from(record.clone()).map_err(|e| DecodeError::Utf8 { column: e.valid_up_to() + 1 })?;
    decode_text(kind, &text, Some(&text), v, now)
}

/// Decodes `text`; `record` is the string it is the whole of, when there is one to share.
fn decode_text(
    kind: EventKind,
    text: &str,
    record: RecordText<'_>,
    v: &Validator,
    now: Timestamp,
) -> Result<Event, DecodeError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => DecodeError::NotObject,
            Err(e) => DecodeError::Json(e.to_string()),
        });
    }
    match kind {
        EventKind::Transaction => {
            let raw: transaction::RawTransaction<'_> = split_members(text)?;
            check_version(raw.version())?;
            Ok(Event::Transaction(transaction::build(|name| raw.field(name), v, now, record)?))
        }
        EventKind::Click => {
            let raw: click::RawClick<'_> = split_members(text)?;
            check_version(raw.version())?;
            Ok(Event::Click(click::build(|name| raw.field(name), v, now, record)?))
        }
    }
}

/// The members of a JSON event that its schema knows, borrowed and not yet interpreted.
pub(crate) trait RawEvent<'a>: Default + serde::Deserialize<'a> {
    /// Where the value of member `key` goes; `None` for members the schema does not know.
    fn slot(&mut self, key: &str) -> Option<&mut Option<JsonValue<'a>>>;
    /// The encoding version, if the event has one.
    fn version(&self) -> Option<JsonValue<'a>>;
}

/// Splits an object into its members: with the one-pass scanner when the line is a flat object
/// without surprises (the common case), otherwise with serde_json, which then also words the
/// error. Both give the same members for every line the scanner accepts.
fn split_members<'a, R: RawEvent<'a>>(text: &'a str) -> Result<R, DecodeError> {
    let mut raw = R::default();
    let scanned = json::scan_object(text, |key, value| match raw.slot(key) {
        None => Some(()),
        // A repeated field is an error; serde_json says so.
        Some(Some(_)) => None,
        Some(slot) => {
            *slot = Some(value);
            Some(())
        }
    });
    match scanned {
        Some(()) => Ok(raw),
        None => serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string())),
    }
}

/// The serde_json path of [`split_members`] alone, for the equivalence tests.
#[cfg(test)]
fn split_members_serde<'a, R: RawEvent<'a>>(text: &'a str) -> Result<R, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))
}

fn check_version(raw: Option<JsonValue<'_>>) -> Result<(), DecodeError> {
    match raw {
        None => Ok(()),
        Some(raw) => match raw.get().parse::<u64>() {
            Ok(n) if (1..=ENCODING_VERSION).contains(&n) => Ok(()),
            _ => Err(DecodeError::Version(raw.get().to_string())),
        },
    }
}

/// Where each schema field sits in a CSV file's header row.
#[derive(Clone, Debug)]
pub struct CsvLayout {
    kind: EventKind,
    columns: Vec<Option<usize>>,
}

impl CsvLayout {
    /// Maps a header row; unknown columns are ignored, as unknown JSON fields are.
    pub fn new(kind: EventKind, header: &csv::StringRecord) -> Self {
        let columns =
            kind.fields().iter().map(|f| header.iter().position(|h| h.trim().eq_ignore_ascii_case(f))).collect();
        CsvLayout { kind, columns }
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// Schema fields the header lacks.
    pub fn missing_columns(&self) -> Vec<&'static str> {
        self.kind.fields().iter().zip(&self.columns).filter(|(_, c)| c.is_none()).map(|(f, _)| *f).collect()
    }

    fn cell<'r>(&self, record: &'r csv::StringRecord, name: &str) -> Option<RawField<'r>> {
        let i = self.kind.fields().iter().position(|f| *f == name)?;
        self.columns[i].and_then(|c| record.get(c)).map(RawField::Text)
    }
}

/// Decodes and validates one CSV row laid out as `layout` says.
pub fn decode_csv(layout: &CsvLayout, record: &csv::StringRecord, v: &Validator) -> Result<Event, DecodeError> {
    let get = |name: &'static str| layout.cell(record, name);
    Ok(match layout.kind {
        EventKind::Transaction => Event::Transaction(transaction::build(get, v, v.now(), None)?),
        EventKind::Click => Event::Click(click::build(get, v, v.now(), None)?),
    })
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod tests;
