//! Hand-written JSON for the hot path: writing the bus encoding and scanning flat event objects.
//!
//! Every event passes through here once on the way in and once on the way out, so both halves
//! avoid serde's generic machinery, and both are held to serde_json's exact behaviour:
//!
//! - [`Object`] writes `{"v":1,...}` **byte for byte** as `serde_json::to_writer` writes the
//!   event's `Serialize` form (same escapes, same float spelling via `zmij`, which serde_json
//!   uses). The generator's determinism and the golden files depend on that; the property tests in
//!   `model::equivalence` compare both encoders on arbitrary events.
//! - [`scan_object`] reads a flat object of scalars in one pass. It only *accepts* input that
//!   serde_json accepts too, with the same value text for every member; anything else (nested
//!   values, escaped keys, duplicate fields, any syntax error) makes it give up, and the caller
//!   then takes the serde_json path, which decides and words the error. It never rejects.

use super::{JsonValue, Timestamp, UserId};
use std::io::Write as _;
use std::net::IpAddr;

/// True for the bytes a JSON string cannot hold raw: `"`, `\` and the controls below 0x20.
#[inline(always)]
fn is_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

const ONES: u64 = u64::MAX / 255;
const HIGH: u64 = ONES << 7;
const LOW7: u64 = ONES * 0x7f;

/// The special bytes of eight, as the high bit of each byte's lane. Exact per lane: the sums
/// stay below 0x100 in every lane, so nothing carries into a neighbour.
#[inline(always)]
fn special_lanes(word: u64) -> u64 {
    let low = word & LOW7;
    // High bit set when the byte is not below 0x20 ...
    let not_ctrl = (low + ONES * 0x60) | word;
    // ... and when it differs from `"` and from `\`.
    let quote = ONES * u64::from(b'"');
    let not_quote = ((low ^ quote) + LOW7) | (word ^ quote);
    let backslash = ONES * u64::from(b'\\');
    let not_backslash = ((low ^ backslash) + LOW7) | (word ^ backslash);
    !(not_ctrl & not_quote & not_backslash) & HIGH
}

#[inline(always)]
fn word_at(bytes: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(bytes[i..i + 8].try_into().expect("eight bytes"))
}

/// The position of the first special byte at or after `from`, eight bytes at a time.
#[inline]
pub(crate) fn find_special(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= bytes.len() {
        let lanes = special_lanes(word_at(bytes, i));
        if lanes != 0 {
            return Some(i + lanes.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    if i == bytes.len() {
        return None;
    }
    if bytes.len() >= 8 {
        // The last eight bytes, overlapping bytes before `i`, whose lanes are shifted out.
        let last = bytes.len() - 8;
        let seen = i - last;
        let lanes = special_lanes(word_at(bytes, last)) >> (seen * 8) << (seen * 8);
        return (lanes != 0).then(|| last + lanes.trailing_zeros() as usize / 8);
    }
    bytes[i..].iter().position(|&b| is_special(b)).map(|p| i + p)
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it (short forms for `\b \t \n \f
/// \r \" \\`, `\u00xx` with lower-case hex for the other controls, everything else raw).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    while let Some(at) = find_special(bytes, run) {
        out.extend_from_slice(&bytes[run..at]);
        let byte = bytes[at];
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            _ => 0,
        };
        if short != 0 {
            out.extend_from_slice(&[b'\\', short]);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
        }
        run = at + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// `,"name":`, what precedes a member's value in [`Object`]: one constant to copy.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}
pub(crate) use key;

/// Writes the members of an event object after the leading `"v":1`. Optional members are
/// skipped when `None`, as `#[serde(skip_serializing_if = "Option::is_none")]` does. Every `key`
/// is a member's `,"name":` made by [`key!`].
pub(crate) struct Object<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Object<'o> {
    /// Starts `{"v":1` with room for a typical event.
    pub fn begin(out: &'o mut Vec<u8>, version: u64) -> Self {
        out.reserve(384);
        out.extend_from_slice(b"{\"v\":");
        out.extend_from_slice(itoa::Buffer::new().format(version).as_bytes());
        Object { out }
    }

    #[inline]
    fn key(&mut self, key: &str) {
        debug_assert!(key.starts_with(",\"") && key.ends_with("\":"));
        self.out.extend_from_slice(key.as_bytes());
    }

    #[inline]
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    #[inline]
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    /// A value with no character that needs escaping (enum names).
    #[inline]
    pub fn plain(&mut self, key: &str, value: &str) {
        debug_assert!(find_special(value.as_bytes(), 0).is_none());
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
    }

    /// Non-finite numbers become `null`, as serde_json writes them.
    pub fn f64(&mut self, key: &str, value: f64) {
        self.key(key);
        if value.is_finite() {
            self.out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
    }

    pub fn opt_f64(&mut self, key: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.f64(key, value);
        }
    }

    pub fn opt_u32(&mut self, key: &str, value: Option<u32>) {
        if let Some(value) = value {
            self.key(key);
            self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        }
    }

    pub fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(value) = value {
            self.key(key);
            self.out.extend_from_slice(if value { b"true" } else { b"false" });
        }
    }

    /// Untagged: an integer or a string.
    pub fn user_id(&mut self, key: &str, value: &UserId) {
        match value {
            UserId::Int(v) => {
                self.key(key);
                self.out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
            }
            UserId::Str(s) => self.str(key, s),
        }
    }

    pub fn timestamp(&mut self, key: &str, value: Timestamp) {
        self.key(key);
        value.write_json(self.out);
    }

    /// The address as its `Display` form, which is what serde writes for human-readable formats.
    pub fn opt_ip(&mut self, key: &str, value: Option<IpAddr>) {
        if let Some(ip) = value {
            self.key(key);
            self.out.push(b'"');
            match ip {
                IpAddr::V4(v4) => {
                    for (n, octet) in v4.octets().into_iter().enumerate() {
                        if n > 0 {
                            self.out.push(b'.');
                        }
                        self.out.extend_from_slice(itoa::Buffer::new().format(octet).as_bytes());
                    }
                }
                // Writing to a Vec cannot fail.
                IpAddr::V6(v6) => drop(write!(self.out, "{v6}")),
            }
            self.out.push(b'"');
        }
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// JSON whitespace, as serde_json skips it.
#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The end of the string whose opening quote is at `start`, and whether it has no escapes.
#[inline]
fn scan_string(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start + 1;
    loop {
        let at = find_special(b, i)?;
        match b[at] {
            b'"' => return Some((at + 1, i == start + 1)),
            b'\\' => match b.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i = at + 2,
                // Any four hex digits: whether they make a valid code point is for whoever
                // unescapes the string, as with serde_json's own skipping.
                b'u' if b.get(at + 2..at + 6)?.iter().all(u8::is_ascii_hexdigit) => i = at + 6,
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// The end of the number starting at `start`, by JSON's grammar.
#[inline]
fn scan_number(b: &[u8], start: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = start + usize::from(b[start] == b'-');
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        i = end;
    }
    // A digit right after a leading zero ("01") is an error for serde_json.
    (!b.get(i).is_some_and(u8::is_ascii_digit)).then_some(i)
}

/// The end of the scalar value starting at `start`, and whether it is a string without escapes;
/// `None` for nested values and errors.
#[inline]
fn scan_scalar(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let literal = |word: &[u8]| b.get(start..start + word.len()).filter(|w| *w == word).map(|_| start + word.len());
    let end = match b.get(start)? {
        b'"' => return scan_string(b, start),
        b'-' | b'0'..=b'9' => scan_number(b, start),
        b't' => literal(b"true"),
        b'f' => literal(b"false"),
        b'n' => literal(b"null"),
        _ => None,
    };
    end.map(|end| (end, false))
}

/// Reads `text` as one flat JSON object, calling `member(key, value)` for each member in order
/// with the key's text (between its quotes) and the value (`null` included).
///
/// `None` when the object is not one this scanner handles, or when `member` returns `None`; the
/// caller then decodes with serde_json. `Some` only for text serde_json accepts as well.
pub(crate) fn scan_object<'a>(
    text: &'a str,
    mut member: impl FnMut(&'a str, JsonValue<'a>) -> Option<()>,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = find_special(b, i + 1)?;
            if b[key_end] != b'"' {
                // Escaped keys and broken ones: serde_json decides.
                return None;
            }
            let key = text.get(i + 1..key_end)?;
            i = skip_ws(b, key_end + 1);
            if b.get(i) != Some(&b':') {
                return None;
            }
            let start = skip_ws(b, i + 1);
            let (end, unescaped) = scan_scalar(b, start)?;
            member(key, JsonValue::new(text.get(start..end)?, unescaped))?;
            i = skip_ws(b, end);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(())
}
