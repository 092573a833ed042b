//! `decode`: bus records to validated events, and the bronze rows that keep them as received.
//!
//! A transaction's bronze row is written here and shares the event with its silver row. A click
//! is handed back by value, and [`Decode::land_click`] moves it into its bronze row once the
//! sessions have read it. With one owner a click needs no allocation of its own: allocating
//! each one, and collecting it back after the committer thread freed it, took about 6% of the
//! processing thread's time in the core bench.
//!
//! A record that does not decode (bad JSON, a missing or invalid field, a future timestamp) is
//! not an error of the pipeline: it becomes a dead letter, to the `dead-letter` topic and the
//! `bronze/dead_letter` table, with the reason code, the source partition and offset, and the raw
//! bytes (e-mail addresses scrubbed). Processing goes on with the next record.

use crate::model::{ClickEvent, DeadLetter, Event, EventKind, Timestamp, Transaction, Validator, decode_record, topic};
use crate::stream::operator::Operator;
use crate::stream::outputs::{BronzeClick, BronzeTransaction, DeadLetterRow, Outputs, event_date};
use crate::stream::source::Input;
use std::sync::Arc;

/// A decoded event: a transaction shared with its bronze row, a click for
/// [`Decode::land_click`].
#[expect(
    clippy::large_enum_variant,
    reason = "returned and taken apart at once; boxing the click is the allocation this avoids"
)]
pub enum Decoded {
    Transaction(Arc<Transaction>),
    Click(ClickEvent),
}

impl Decoded {
    /// Its event time.
    pub fn time(&self) -> Timestamp {
        match self {
            Decoded::Transaction(t) => t.timestamp,
            Decoded::Click(c) => c.event_timestamp,
        }
    }
}

pub struct Decode {
    validator: Validator,
}

impl Decode {
    pub fn new(validator: Validator) -> Self {
        Decode { validator }
    }

    /// Decodes one record read from `kind`'s topic; a refused record is written to `out` as a
    /// dead letter and `None` returned.
    pub fn decode(&self, kind: EventKind, input: &Input, ingest_time: Timestamp, out: &mut Outputs) -> Option<Decoded> {
        let (source_partition, source_offset) = (input.partition, input.offset);
        // Future timestamps are measured from the time the batch was read.
        match decode_record(kind, &input.value, &self.validator, ingest_time) {
            Ok(Event::Transaction(tx)) => {
                let tx = Arc::new(tx);
                let row = BronzeTransaction { source_partition, source_offset, ingest_time, tx: tx.clone() };
                out.bronze_transactions.push(row);
                Some(Decoded::Transaction(tx))
            }
            Ok(Event::Click(click)) => Some(Decoded::Click(click)),
            Err(error) => {
                let source = format!("{}/{}", kind.topic(), input.partition);
                let letter =
                    DeadLetter::new("process", kind, source, &error, &input.value, self.validator.pseudonymizer())
                        .at_offset(input.offset);
                let mut value = Vec::with_capacity(input.value.len() + 256);
                if serde_json::to_writer(&mut value, &letter).is_ok() {
                    let key = format!("{}/{}/{}", kind.topic(), input.partition, input.offset).into_bytes();
                    out.messages.push((topic::DEAD_LETTER, key, value));
                }
                out.dead_letters.push(DeadLetterRow {
                    source_topic: kind.topic().to_string(),
                    source_partition: input.partition,
                    source_offset: input.offset,
                    stage: letter.stage,
                    kind: letter.kind,
                    reason: letter.reason,
                    message: letter.message,
                    raw: letter.raw,
                    raw_hex: letter.raw_hex,
                    ingest_time,
                    event_date: event_date(ingest_time),
                });
                None
            }
        }
    }

    /// Writes the bronze row of `click`, decoded from `input` read at `ingest_time`.
    pub fn land_click(input: &Input, ingest_time: Timestamp, click: ClickEvent, out: &mut Outputs) {
        let (source_partition, source_offset) = (input.partition, input.offset);
        out.bronze_clickstream.push(BronzeClick { source_partition, source_offset, ingest_time, click });
    }
}

impl Operator for Decode {
    fn name(&self) -> &'static str {
        "decode"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FixedClock, Pseudonymizer};
    use std::sync::Arc;
    use std::time::Instant;

    fn decoder() -> Decode {
        let clock = Arc::new(FixedClock(Timestamp::parse("2025-06-01T00:00:00Z").unwrap()));
        Decode::new(Validator::new(clock, std::time::Duration::from_secs(300), Pseudonymizer::new(b"k", 1)))
    }

    fn input(value: &[u8], offset: u64) -> Input {
        Input {
            input: 0,
            topic: 0,
            partition: 2,
            offset,
            value: bytes::Bytes::copy_from_slice(value),
            read_at: Instant::now(),
        }
    }

    #[test]
    fn a_valid_transaction_gives_an_event_and_a_bronze_row() {
        let line = br#"{"transaction_id":"t1","user_id":7,"amount":12.5,"merchant":"M","timestamp":"2025-01-03T10:00:00Z","payment_method":"crypto","location":"Paris, France","device_id":"d1"}"#;
        let mut out = Outputs::default();
        let now = Timestamp::parse("2025-01-03T10:00:01Z").unwrap();
        let Some(Decoded::Transaction(tx)) = decoder().decode(EventKind::Transaction, &input(line, 41), now, &mut out)
        else {
            panic!("a transaction")
        };
        let row = &out.bronze_transactions[0];
        assert!(Arc::ptr_eq(&row.tx, &tx), "the bronze row shares the event");
        let json = serde_json::to_value(row).unwrap();
        assert_eq!((json["source_partition"].as_u64(), json["source_offset"].as_u64()), (Some(2), Some(41)));
        assert_eq!(json["user_id"], "7", "customer ids are text in the lake");
        assert_eq!(
            (json["payment_method"].as_str(), json["event_date"].as_str(), json["currency"].as_str()),
            (Some("crypto"), Some("2025-01-03"), Some("USD"))
        );
        assert_eq!(json["ingest_time"], serde_json::to_value(now).unwrap());
        assert!(out.dead_letters.is_empty() && out.messages.is_empty());
    }

    #[test]
    fn a_click_is_handed_back_and_lands_in_bronze_with_its_offset() {
        let line = br#"{"event_id":"c1","user_id":7,"session_id":"s1","event_type":"page_view","event_timestamp":"2025-01-03T10:00:00Z"}"#;
        let mut out = Outputs::default();
        let now = Timestamp::parse("2025-01-03T10:00:01Z").unwrap();
        let record = input(line, 12);
        let Some(Decoded::Click(click)) = decoder().decode(EventKind::Click, &record, now, &mut out) else {
            panic!("a click")
        };
        assert!(out.bronze_clickstream.is_empty(), "the click is the caller's until it lands");
        assert_eq!(click.session_id, "s1");
        Decode::land_click(&record, now, click, &mut out);
        let json = serde_json::to_value(&out.bronze_clickstream[0]).unwrap();
        assert_eq!((json["source_partition"].as_u64(), json["source_offset"].as_u64()), (Some(2), Some(12)));
        assert_eq!((json["event_id"].as_str(), json["event_date"].as_str()), (Some("c1"), Some("2025-01-03")));
        assert_eq!(json["ingest_time"], serde_json::to_value(now).unwrap());
    }

    #[test]
    fn a_bad_record_becomes_a_dead_letter_with_reason_and_offset() {
        let line = br#"{"transaction_id":"t1","user_id":7,"amount":-3,"merchant":"M","timestamp":"2025-01-03T10:00:00Z","payment_method":"card","location":"Paris, France","device_id":"d1","customer_email":"a@b.com"}"#;
        let mut out = Outputs::default();
        let now = Timestamp::parse("2025-01-03T10:00:01Z").unwrap();
        assert!(decoder().decode(EventKind::Transaction, &input(line, 9), now, &mut out).is_none());
        let row = &out.dead_letters[0];
        assert_eq!((row.source_topic.as_str(), row.source_partition, row.source_offset), ("transactions", 2, 9));
        assert_eq!(row.stage, "process");
        assert!(!row.reason.is_empty() && row.message.contains("amount"), "{row:?}");
        assert!(!row.raw.as_deref().unwrap().contains("a@b.com"), "e-mail addresses are scrubbed");
        let (topic, key, value) = &out.messages[0];
        assert_eq!((*topic, key.as_slice()), (topic::DEAD_LETTER, b"transactions/2/9".as_slice()));
        let letter: DeadLetter = serde_json::from_slice(value).unwrap();
        assert_eq!(letter.offset, Some(9));
    }
}
