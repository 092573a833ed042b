//! [`UserKey`]: a customer id as per-customer state keys it.
//!
//! State keyed by customer (the `customer_1h` windows, the sessions operator's user ids) holds
//! one entry per active customer, a million of them at once, so the key is kept small: an id
//! written as a plain integer is held as the integer (16 bytes, nothing on the heap), any other
//! id as its text.
//!
//! # Invariants
//!
//! - **U-1 same text, same key**: the key of an id is decided by its text alone. `UserId::Int(42)`
//!   and `UserId::Str("42")` are the same customer; `"042"` and `" 42"` are other customers, as
//!   their text differs. [`UserKey::to_string`] gives back exactly that text.
//! - **U-2 serialized as text**: a key serializes as the id's text, which is what checkpoints
//!   held when these keys were strings, so images written either way restore alike.

use super::UserId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A customer id held as state's key: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserKey {
    /// An id whose text is an `i64` as Rust writes it (no sign `+`, no leading zeros).
    Int(i64),
    Text(Box<str>),
}

impl UserKey {
    pub fn of(id: &UserId) -> UserKey {
        match id {
            UserId::Int(v) => UserKey::Int(*v),
            UserId::Str(s) => UserKey::from_text(s),
        }
    }

    /// The key of the id written `text` (U-1).
    pub fn from_text(text: &str) -> UserKey {
        match text.parse::<i64>() {
            Ok(v) if itoa::Buffer::new().format(v) == text => UserKey::Int(v),
            _ => UserKey::Text(text.into()),
        }
    }

    /// Calls `f` with the id's text, formatted on the stack for an integer.
    fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            UserKey::Int(v) => f(itoa::Buffer::new().format(*v)),
            UserKey::Text(t) => f(t),
        }
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| f.write_str(text))
    }
}

impl Serialize for UserKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_text(|text| s.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for UserKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<UserKey, D::Error> {
        let text = String::deserialize(d)?;
        Ok(UserKey::from_text(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_written_as_a_plain_integer_is_held_as_one_whatever_its_type() {
        assert_eq!(UserKey::of(&UserId::Int(42)), UserKey::Int(42));
        assert_eq!(UserKey::of(&UserId::Str("42".into())), UserKey::Int(42));
        assert_eq!(UserKey::of(&UserId::Int(-7)), UserKey::from_text("-7"));
        assert_eq!(UserKey::from_text("-9223372036854775808"), UserKey::Int(i64::MIN));
    }

    #[test]
    fn other_texts_stay_text_so_that_no_two_ids_share_a_key() {
        for text in ["042", "+42", " 42", "42 ", "4.2", "", "-0", "9223372036854775808", "u-42", "Zoë"] {
            let key = UserKey::from_text(text);
            assert_eq!(key, UserKey::Text(text.into()), "{text:?}");
            assert_eq!(key.to_string(), text);
        }
        assert_ne!(UserKey::from_text("042"), UserKey::from_text("42"));
    }

    #[test]
    fn keys_serialize_as_the_ids_text_and_read_back_from_it() {
        for key in [UserKey::Int(7), UserKey::Int(-3), UserKey::Text("u-1".into()), UserKey::Text("007".into())] {
            let bytes = rmp_serde::to_vec(&key).unwrap();
            assert_eq!(bytes, rmp_serde::to_vec(&key.to_string()).unwrap(), "{key:?}: the id's text");
            assert_eq!(rmp_serde::from_slice::<UserKey>(&bytes).unwrap(), key);
            let json = serde_json::to_string(&key).unwrap();
            assert_eq!(serde_json::from_str::<UserKey>(&json).unwrap(), key);
        }
    }
}
