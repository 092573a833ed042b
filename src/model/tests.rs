use super::*;

fn validator() -> Validator {
    Validator::new(
        Arc::new(FixedClock(Timestamp::parse("2024-06-01T00:00:00Z").unwrap())),
        std::time::Duration::from_secs(300),
        Pseudonymizer::new(b"test-key", 1),
    )
}

const SEED_003: &str = r#"{"transaction_id":"TX001","user_id":42,"amount":5000.0,"merchant":"Amazon","timestamp":"2024-01-15T23:00:00","is_fraud":false,"payment_method":"crypto","location":"Lagos, Nigeria","device_id":"dev-1"}"#;

fn reason(kind: EventKind, line: &str) -> String {
    decode_json(kind, line.as_bytes(), &validator()).unwrap_err().reason().to_string()
}

fn message(kind: EventKind, line: &str) -> String {
    decode_json(kind, line.as_bytes(), &validator()).unwrap_err().to_string()
}

#[test]
fn accepts_the_seed_003_schema_exactly() {
    let Event::Transaction(t) = decode_json(EventKind::Transaction, SEED_003.as_bytes(), &validator()).unwrap() else {
        panic!("not a transaction")
    };
    assert_eq!(t.user_id, UserId::Int(42));
    assert_eq!(t.amount, 5000.0);
    assert_eq!(t.payment_method, PaymentMethod::Crypto);
    assert_eq!(t.currency, "USD");
    assert_eq!(t.is_fraud, Some(false));
    assert_eq!(t.timestamp.hour(), 23);
}

#[test]
fn encoding_round_trips_and_starts_with_version() {
    let line = r#"{"transaction_id":"T9","user_id":"cust-7","amount":12.5,"merchant":"Shop \"A\"","timestamp":"2024-01-15T10:30:00.123456+01:00","payment_method":"paypal","location":"Paris, France","device_id":"d","product_id":"P1","category":"books","quantity":2,"currency":"eur","channel":"web","ip_address":"10.0.0.1","session_id":"s1","customer_email":"Eve@Example.org","injected_scenario":"card_testing"}"#;
    let event = decode_json(EventKind::Transaction, line.as_bytes(), &validator()).unwrap();
    let mut bytes = Vec::new();
    event.encode(&mut bytes);
    assert!(bytes.starts_with(b"{\"v\":1,\"transaction_id\""), "{}", String::from_utf8_lossy(&bytes));
    let again = decode_json(EventKind::Transaction, &bytes, &validator()).unwrap();
    assert_eq!(again, event);
    let Event::Transaction(t) = again else { unreachable!() };
    assert_eq!(t.currency, "EUR");
    assert!(t.customer_email.as_deref().unwrap().starts_with("hmac:k1:"));
    assert!(!String::from_utf8_lossy(&bytes).contains("Eve@"));
}

#[test]
fn decoding_tolerates_unknown_fields_and_refuses_newer_versions() {
    let extra = SEED_003.replacen('{', r#"{"shiny_new_field":{"a":[1,2]},"#, 1);
    assert!(decode_json(EventKind::Transaction, extra.as_bytes(), &validator()).is_ok());
    let v2 = SEED_003.replacen('{', r#"{"v":2,"#, 1);
    assert_eq!(reason(EventKind::Transaction, &v2), "unsupported_version");
}

#[test]
fn errors_name_the_field_and_the_problem() {
    let missing = SEED_003.replace(r#""merchant":"Amazon","#, "");
    assert_eq!(message(EventKind::Transaction, &missing), "field `merchant` is required but missing");
    let wrong = SEED_003.replace("5000.0", "\"5000\"");
    assert_eq!(message(EventKind::Transaction, &wrong), "field `amount` expected a number, found a string");
    assert_eq!(reason(EventKind::Transaction, &SEED_003.replace("5000.0", "-1")), "negative_value");
    assert_eq!(reason(EventKind::Transaction, &SEED_003.replace("5000.0", "1e999")), "non_finite_number");
    assert_eq!(reason(EventKind::Transaction, &SEED_003.replace("crypto", "barter")), "unknown_enum_value");
    assert!(message(EventKind::Transaction, &SEED_003.replace("crypto", "barter")).contains("credit_card"));
    assert_eq!(
        reason(EventKind::Transaction, &SEED_003.replace("2024-01-15T23:00:00", "last tuesday")),
        "bad_timestamp"
    );
    assert_eq!(reason(EventKind::Transaction, &SEED_003.replace("2024-01-15", "2031-01-15")), "future_timestamp");
    assert_eq!(reason(EventKind::Transaction, &SEED_003.replace("Lagos, Nigeria", "Lagos")), "invalid_value");
    assert_eq!(reason(EventKind::Transaction, &SEED_003.replace("42", "4.2")), "wrong_type");
    assert_eq!(reason(EventKind::Transaction, "{\"transaction_id\": "), "invalid_json");
    assert_eq!(reason(EventKind::Transaction, "[1,2]"), "not_an_object");
    let bad_utf8 = [b"{\"transaction_id\":\"".as_slice(), &[0xff, 0xfe], b"\"}"].concat();
    let err = decode_json(EventKind::Transaction, &bad_utf8, &validator()).unwrap_err();
    assert_eq!(err, DecodeError::Utf8 { column: 20 });
}

#[test]
fn click_events_need_a_product_except_page_views() {
    let view = r#"{"event_id":"e1","user_id":"u1","session_id":"s1","event_type":"page_view","event_timestamp":"2024-01-15T10:00:00Z","page_url":"/"}"#;
    assert!(decode_json(EventKind::Click, view.as_bytes(), &validator()).is_ok());
    let cart = view.replace("page_view", "add_to_cart");
    assert_eq!(message(EventKind::Click, &cart), "field `product_id` is required but missing");
    let purchase =
        view.replace("page_view", "purchase").replace("\"page_url\":\"/\"", "\"product_id\":\"p\",\"price\":3.5");
    assert_eq!(message(EventKind::Click, &purchase), "field `quantity` is required but missing");
    assert_eq!(reason(EventKind::Click, &view.replace("page_view", "checkout")), "unknown_enum_value");
}

#[test]
fn csv_rows_validate_like_json() {
    let header = csv::StringRecord::from(vec![
        "transaction_id",
        "user_id",
        "amount",
        "merchant",
        "timestamp",
        "is_fraud",
        "payment_method",
        "location",
        "device_id",
        "extra",
    ]);
    let layout = CsvLayout::new(EventKind::Transaction, &header);
    assert!(layout.missing_columns().contains(&"currency"));
    let row = csv::StringRecord::from(vec![
        "T1",
        "7",
        "19.99",
        "Acme",
        "2024-01-15 10:00:00",
        "",
        "debit_card",
        "Austin, USA",
        "d1",
        "x",
    ]);
    let Event::Transaction(t) = decode_csv(&layout, &row, &validator()).unwrap() else { unreachable!() };
    assert_eq!((t.user_id, t.amount, t.is_fraud), (UserId::Int(7), 19.99, None));
    let bad = csv::StringRecord::from(vec![
        "T1",
        "7",
        "NaN",
        "Acme",
        "2024-01-15 10:00:00",
        "",
        "debit_card",
        "Austin, USA",
        "d1",
        "x",
    ]);
    assert_eq!(decode_csv(&layout, &bad, &validator()).unwrap_err().reason(), "non_finite_number");
}

#[test]
fn dead_letters_keep_raw_bytes_without_addresses() {
    let p = Pseudonymizer::new(b"k", 1);
    let raw = br#"{"customer_email":"x.y@mail.com","amount":-1}"#;
    let err = decode_json(EventKind::Transaction, raw, &validator()).unwrap_err();
    let dl = DeadLetter::new("ingest", EventKind::Transaction, "f.jsonl".into(), &err, raw, &p).at_line(3);
    assert!(!dl.raw.as_deref().unwrap().contains("x.y@mail.com"));
    assert_eq!(dl.key(), b"f.jsonl:3");
    let binary = [0xffu8, 0x00, 0x41];
    let dl = DeadLetter::new("ingest", EventKind::Click, "f".into(), &DecodeError::Utf8 { column: 1 }, &binary, &p);
    assert_eq!(dl.raw_bytes(), binary);
}

#[test]
fn short_text_fields_are_stored_inline() {
    let line = r#"{"v":1,"event_id":"C2a-1f3-4","user_id":7,"session_id":"S2a-1f3","event_type":"add_to_cart","event_timestamp":"2024-01-15T10:30:00Z","product_id":"P000042","category":"electronics","price":19.99,"quantity":1,"page_url":"https://shop.example.com/electronics/P000042","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0","ip_address":"10.0.0.1"}"#;
    let Event::Click(c) = decode_json(EventKind::Click, line.as_bytes(), &validator()).unwrap() else {
        panic!("not a click")
    };
    for short in [&c.event_id, &c.session_id, c.product_id.as_ref().unwrap(), c.category.as_ref().unwrap()] {
        assert!(!short.is_heap_allocated(), "{short} is on the heap");
    }
    assert_eq!(c.page_url.as_deref(), Some("https://shop.example.com/electronics/P000042"));
    assert!(c.user_agent.as_deref().unwrap().starts_with("Mozilla/5.0"));
    // An escaped string is unescaped, and short enough to sit inline too.
    let escaped = SEED_003.replace(r#""merchant":"Amazon""#, r#""merchant":"Caf\u00e9 \"A\"""#);
    let Event::Transaction(t) = decode_json(EventKind::Transaction, escaped.as_bytes(), &validator()).unwrap() else {
        panic!("not a transaction")
    };
    assert_eq!(t.merchant, "Café \"A\"");
    assert!(!t.merchant.is_heap_allocated());
}

/// A bus record's long text fields are slices of the record: its memory, not copies. An escaped
/// one is unescaped into memory of its own, and a refused e-mail address is never kept.
#[test]
fn long_text_fields_of_a_record_share_its_bytes() {
    let line = r#"{"v":1,"event_id":"C1","user_id":7,"session_id":"S1","event_type":"page_view","event_timestamp":"2024-01-15T10:30:00Z","page_url":"https://shop.example.com/electronics/P000042","user_agent":"Mozilla\/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"}"#;
    let record = bytes::Bytes::from(line.as_bytes().to_vec());
    let now = validator().now();
    let Event::Click(c) = decode_record(EventKind::Click, &record, &validator(), now).unwrap() else {
        panic!("not a click")
    };
    let inside = |s: &str| record.as_ptr_range().contains(&s.as_ptr());
    let url = c.page_url.as_deref().unwrap();
    assert_eq!(url, "https://shop.example.com/electronics/P000042");
    assert!(inside(url), "the URL is a slice of the record");
    let agent = c.user_agent.as_deref().unwrap();
    assert_eq!(agent, "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0");
    assert!(!inside(agent), "an escaped value is unescaped into its own memory");
    // The same line decoded from a borrowed slice gives the same event.
    assert_eq!(decode_json(EventKind::Click, line.as_bytes(), &validator()).unwrap(), Event::Click(c));

    let pseudonym = format!("hmac:k1:{}", "ab".repeat(32));
    let tx = SEED_003.replace(r#""location""#, &format!(r#""customer_email":"{pseudonym}","location""#));
    let record = bytes::Bytes::from(tx.into_bytes());
    let Event::Transaction(t) = decode_record(EventKind::Transaction, &record, &validator(), now).unwrap() else {
        panic!("not a transaction")
    };
    let email = t.customer_email.as_deref().unwrap();
    assert_eq!(email, pseudonym);
    assert!(record.as_ptr_range().contains(&email.as_ptr()), "a pseudonym is a slice of the record");
    let raw = SEED_003.replace(r#""location""#, r#""customer_email":"Eve@Example.org","location""#);
    let Event::Transaction(t) =
        decode_record(EventKind::Transaction, &bytes::Bytes::from(raw), &validator(), now).unwrap()
    else {
        panic!("not a transaction")
    };
    assert!(Pseudonymizer::is_pseudonym(t.customer_email.as_deref().unwrap()), "an address becomes its pseudonym");
    // Invalid UTF-8 in a record is refused with the column, as in a line.
    let bad = bytes::Bytes::from_static(b"{\"v\":1,\xff}");
    let err = decode_record(EventKind::Click, &bad, &validator(), now).unwrap_err();
    assert_eq!(err, DecodeError::Utf8 { column: 8 });
}
