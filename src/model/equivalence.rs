//! The hand-written JSON paths against serde_json: same bytes out, same members in.
//!
//! `Event::encode` must write exactly what `model::encode` (serde_json over the `Serialize`
//! derives) writes, for every event, and the one-pass scanner must split every line into the same
//! members as serde_json, or leave the line to serde_json.

use super::click::RawClick;
use super::transaction::RawTransaction;
use super::*;
use compact_str::CompactString;
use proptest::prelude::*;
use std::net::IpAddr;

fn text() -> impl Strategy<Value = CompactString> {
    let tricky = prop_oneof![
        Just('"'),
        Just('\\'),
        Just('/'),
        (0u8..0x20).prop_map(char::from),
        Just('\u{7f}'),
        Just('é'),
        Just('€'),
        Just('😀'),
        Just('\u{2028}'),
        Just('a'),
        Just(' '),
    ];
    prop_oneof![
        "[a-zA-Z0-9 ,.@:/_-]{0,40}",
        any::<String>(),
        prop::collection::vec(tricky, 0..40).prop_map(|chars| chars.into_iter().collect::<String>()),
    ]
    .prop_map(CompactString::from)
}

/// Long text fields are strings over shared bytes.
fn long_text() -> impl Strategy<Value = bytestring::ByteString> {
    text().prop_map(|s| bytestring::ByteString::from(s.as_str()))
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (0u64..100_000_000).prop_map(|cents| cents as f64 / 100.0),
        (-1e6f64..1e6),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            5000.0,
            1e15,
            1e16,
            1e21,
            1e22,
            1e-5,
            1e-7,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]),
    ]
}

fn user_id() -> impl Strategy<Value = UserId> {
    prop_oneof![
        any::<i64>().prop_map(UserId::Int),
        prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1]).prop_map(UserId::Int),
        text().prop_map(|s| UserId::Str(s.into_string())),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // Far outside four-digit years too; the very ends of i64 overflow the day arithmetic.
    prop_oneof![0i64..4_102_444_800_000_000, (i64::MIN / 2)..(i64::MAX / 2)].prop_map(Timestamp::from_micros)
}

fn vocab<V: Vocabulary + std::fmt::Debug>() -> impl Strategy<Value = V> {
    prop::sample::select(V::ALL)
}

prop_compose! {
    fn transaction()(
        (transaction_id, user_id, amount, merchant, timestamp, is_fraud) in
            (text(), user_id(), float(), text(), timestamp(), any::<Option<bool>>()),
        (payment_method, location, device_id, product_id, category, quantity) in
            (vocab(), text(), text(), proptest::option::of(text()), proptest::option::of(text()), any::<Option<u32>>()),
        (currency, channel, ip_address, session_id, customer_email, injected_scenario) in
            (text(), proptest::option::of(vocab()), any::<Option<IpAddr>>(), proptest::option::of(text()),
             proptest::option::of(long_text()), proptest::option::of(vocab())),
    ) -> Transaction {
        Transaction {
            transaction_id, user_id, amount, merchant, timestamp, is_fraud, payment_method, location, device_id,
            product_id, category, quantity, currency, channel, ip_address, session_id, customer_email,
            injected_scenario,
        }
    }
}

prop_compose! {
    fn click()(
        (event_id, user_id, session_id, event_type, event_timestamp, product_id) in
            (text(), user_id(), text(), vocab(), timestamp(), proptest::option::of(text())),
        (category, price, quantity, page_url, user_agent, ip_address) in
            (proptest::option::of(text()), proptest::option::of(float()), any::<Option<u32>>(),
             proptest::option::of(long_text()), proptest::option::of(long_text()), any::<Option<IpAddr>>()),
    ) -> ClickEvent {
        ClickEvent {
            event_id, user_id, session_id, event_type, event_timestamp, product_id, category, price, quantity,
            page_url, user_agent, ip_address,
        }
    }
}

fn encodings_agree(event: &Event) -> Result<(), TestCaseError> {
    let mut fast = b"prefix".to_vec();
    event.encode(&mut fast);
    let mut serde = b"prefix".to_vec();
    match event {
        Event::Transaction(t) => encode(t, &mut serde),
        Event::Click(c) => encode(c, &mut serde),
    }
    prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&serde));
    prop_assert_eq!(fast, serde);
    Ok(())
}

/// The members a line splits into, as `build` sees them, or the error.
fn members<'a, R: RawEvent<'a>>(
    raw: Result<R, DecodeError>,
    field: impl Fn(&R, &str) -> Option<RawField<'a>>,
    names: &[&str],
) -> Result<Vec<Option<&'a str>>, DecodeError> {
    let raw = raw?;
    let mut out = vec![raw.version().map(JsonValue::get)];
    for name in names {
        out.push(field(&raw, name).map(|f| match f {
            RawField::Json(j) => j.get(),
            RawField::Text(_) => unreachable!("JSON members are JSON"),
        }));
    }
    Ok(out)
}

fn splits_agree(line: &str) -> Result<(), TestCaseError> {
    let names = Transaction::FIELDS;
    let fast = members(split_members::<RawTransaction<'_>>(line), RawTransaction::field, names);
    let serde = members(split_members_serde::<RawTransaction<'_>>(line), RawTransaction::field, names);
    prop_assert_eq!(fast, serde, "{}", line);
    let names = ClickEvent::FIELDS;
    let fast = members(split_members::<RawClick<'_>>(line), RawClick::field, names);
    let serde = members(split_members_serde::<RawClick<'_>>(line), RawClick::field, names);
    prop_assert_eq!(fast, serde, "{}", line);
    Ok(())
}

/// Keys: the schemas' own, the version, unknown ones, and some that need unescaping.
fn key() -> impl Strategy<Value = String> {
    let known: Vec<&str> = Transaction::FIELDS.iter().chain(ClickEvent::FIELDS).copied().chain(["v"]).collect();
    prop_oneof![
        4 => prop::sample::select(known).prop_map(|k| format!("\"{k}\"")),
        1 => "\"[a-z_]{1,8}\"",
        1 => Just(r#""amo\u0075nt""#.to_string()),
        1 => Just(r#""v\n""#.to_string()),
    ]
}

/// JSON values and near misses.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => text().prop_map(|s| serde_json::to_string(&s).unwrap()),
        6 => float().prop_map(|f| serde_json::to_string(&f).unwrap()),
        6 => any::<i64>().prop_map(|i| i.to_string()),
        1 => "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{0,3})?([eE][+-]?[0-9]{0,3})?",
        1 => "[0-9.eE+-]{1,6}",
        1 => prop::sample::select(vec![
            "true", "false", "null", "nul", "tru", "True", "{}", "[]", r#"{"a":[1,{"b":null}]}"#, "[1,2", "\"\\u00e9\"",
            "\"\\ud800\"", "\"\\u12G4\"", "\"\\x\"", "\"a\tb\"", "\"\\/\"", "\"unterminated", "\"2024-01-15T10:30:00Z\"",
            "1", "-0", "01", "-", "1.", ".5", "1e", "1e+", "1E-7", "\"\u{1}\"", "",
        ])
        .prop_map(str::to_string),
    ]
}

fn whitespace() -> impl Strategy<Value = String> {
    prop_oneof![16 => Just(String::new()), 4 => "[ \t\r\n]{1,3}", 1 => Just("\u{a0}".to_string())]
}

prop_compose! {
    /// A line shaped like an event object, with occasional syntax slips.
    fn object_line()(
        members in prop::collection::vec((whitespace(), key(), whitespace(), value(), whitespace()), 0..10),
        open in prop_oneof![16 => Just("{"), 1 => Just("["), 1 => Just(" {")],
        close in prop_oneof![16 => Just("}"), 1 => Just(",}"), 1 => Just("} x"), 1 => Just(""), 1 => Just("}\n")],
        sep in prop_oneof![40 => Just(","), 1 => Just(",,"), 1 => Just(";")],
    ) -> String {
        let body: Vec<String> = members.iter().map(|(a, k, b, v, c)| format!("{a}{k}{b}:{v}{c}")).collect();
        format!("{open}{}{close}", body.join(sep))
    }
}

/// A valid encoded event with one byte-level slip: dropped, inserted or replaced.
fn mutated(encoded: &[u8], at: usize, op: u8, byte: u8) -> Option<String> {
    let mut bytes = encoded.to_vec();
    let at = at % (bytes.len() + 1);
    match op % 3 {
        0 if at < bytes.len() => {
            bytes.remove(at);
        }
        1 => bytes.insert(at, byte),
        _ if at < bytes.len() => bytes[at] = byte,
        _ => {}
    }
    String::from_utf8(bytes).ok()
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![prop::sample::select(b"{}[]\",:\\ \t\n0123456789.eE+-tfnul/x".to_vec()), 0u8..0x20, any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn transactions_encode_like_serde(t in transaction()) {
        prop_assert_eq!(t.key(), t.user_id.to_string().into_bytes());
        encodings_agree(&Event::Transaction(t))?;
    }

    #[test]
    fn clicks_encode_like_serde(c in click()) {
        encodings_agree(&Event::Click(c))?;
    }

    #[test]
    fn find_special_agrees_with_a_byte_loop(
        bytes in prop::collection::vec(prop_oneof![interesting_byte(), Just(b'a'), Just(b'"'), Just(b'\\')], 0..40),
        from in 0usize..41,
    ) {
        let from = from.min(bytes.len());
        let naive = bytes[from..].iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').map(|p| from + p);
        prop_assert_eq!(json::find_special(&bytes, from), naive);
    }

    #[test]
    fn object_lines_split_like_serde(line in object_line()) {
        splits_agree(&line)?;
    }

    #[test]
    fn mutated_events_split_like_serde(
        t in transaction(), c in click(), at in any::<usize>(), op in any::<u8>(), byte in interesting_byte()
    ) {
        for event in [Event::Transaction(t), Event::Click(c)] {
            let mut encoded = Vec::new();
            event.encode(&mut encoded);
            splits_agree(std::str::from_utf8(&encoded).unwrap())?;
            if let Some(line) = mutated(&encoded, at, op, byte) {
                splits_agree(&line)?;
            }
        }
    }
}

#[test]
fn fixture_lines_split_like_serde() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ingest");
    for file in ["transactions.jsonl", "clicks.ndjson"] {
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        // Lines that are not UTF-8 never reach the splitting.
        for line in bytes.split(|&b| b == b'\n').filter_map(|l| std::str::from_utf8(l).ok()) {
            splits_agree(line).unwrap();
        }
    }
}

#[test]
fn the_scanner_takes_plain_events_and_leaves_the_rest_to_serde() {
    let plain = r#" {"v":1, "transaction_id" : "T\"1\u00e9", "amount":-1.5e3,"x":null,"y":true} "#;
    assert!(json::scan_object(plain, |_, _| Some(())).is_some());
    for odd in [r#"{"a":{}}"#, r#"{"a":[1]}"#, r#"{"a\n":1}"#, r#"{"a":1,}"#, r#"{"a":01}"#, r#"{"a":1}x"#, "{"] {
        assert!(json::scan_object(odd, |_, _| Some(())).is_none(), "{odd}");
    }
    let dup = r#"{"amount":null,"amount":1}"#;
    assert!(matches!(split_members::<RawTransaction<'_>>(dup), Err(DecodeError::Json(m)) if m.contains("duplicate")));
}
