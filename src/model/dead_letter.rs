//! `DeadLetter`: an event that could not be accepted, with where it came from and why.
//!
//! The raw bytes travel with it so nothing is lost: as text when they are UTF-8, else as hex.
//! E-mail addresses in them are replaced by pseudonyms first, so the dead-letter topic does not
//! leak what validation would have hidden.

use super::{DecodeError, EventKind, Pseudonymizer};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The stage that refused it: `ingest` or `process`.
    pub stage: String,
    /// The schema it was read as: `transaction` or `click`.
    pub kind: String,
    /// A file path, or `topic/partition` on the bus.
    pub source: String,
    /// 1-based line (or CSV row) number in a file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u64>,
    /// Offset in the source partition on the bus.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset: Option<u64>,
    /// Stable reason code (see [`DecodeError::reason`]).
    pub reason: String,
    /// What is wrong, naming the field.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw_hex: Option<String>,
}

impl DeadLetter {
    pub fn new(
        stage: &str,
        kind: EventKind,
        source: String,
        error: &DecodeError,
        raw: &[u8],
        pseudonymizer: &Pseudonymizer,
    ) -> Self {
        let scrubbed = pseudonymizer.scrub(raw);
        let (raw, raw_hex) = match String::from_utf8(scrubbed) {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(hex::encode(e.into_bytes()))),
        };
        DeadLetter {
            stage: stage.to_string(),
            kind: match kind {
                EventKind::Transaction => "transaction",
                EventKind::Click => "click",
            }
            .to_string(),
            source,
            line: None,
            offset: None,
            reason: error.reason().to_string(),
            message: error.to_string(),
            raw,
            raw_hex,
        }
    }

    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    pub fn at_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The bytes as received (after e-mail scrubbing).
    pub fn raw_bytes(&self) -> Vec<u8> {
        match (&self.raw, &self.raw_hex) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(h)) => hex::decode(h).unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    /// Key on the dead-letter topic: the source position.
    pub fn key(&self) -> Vec<u8> {
        match (self.line, self.offset) {
            (Some(line), _) => format!("{}:{line}", self.source).into_bytes(),
            (None, Some(offset)) => format!("{}@{offset}", self.source).into_bytes(),
            (None, None) => self.source.clone().into_bytes(),
        }
    }
}
