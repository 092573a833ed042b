//! `Transaction`: one payment, in the schema of seed 003 plus the optional e-commerce fields.

use super::fields::{FieldResult, JsonValue, RawField, RecordText, Vocabulary, err, is_blank, vocabulary};
use super::json::{Object, key};
use super::{Problem, Timestamp, UserId, Validator};
use bytestring::ByteString;
use compact_str::CompactString;
use serde::Serialize;
use std::net::IpAddr;

vocabulary! {
    /// How the customer paid.
    PaymentMethod {
        CreditCard = "credit_card",
        DebitCard = "debit_card",
        Paypal = "paypal",
        ApplePay = "apple_pay",
        GooglePay = "google_pay",
        BankTransfer = "bank_transfer",
        Crypto = "crypto",
        GiftCard = "gift_card",
        BuyNowPayLater = "buy_now_pay_later",
    }
}

vocabulary! {
    /// Where the order was placed.
    Channel {
        Web = "web",
        MobileApp = "mobile_app",
        Pos = "pos",
        Marketplace = "marketplace",
        CallCenter = "call_center",
    }
}

vocabulary! {
    /// The fraud pattern the generator injected: ground truth for measuring detection.
    /// Fraud scoring never reads it.
    FraudScenario {
        AmountSpike = "amount_spike",
        CardTesting = "card_testing",
        AccountTakeover = "account_takeover",
        ImpossibleTravel = "impossible_travel",
        HighRiskPattern = "high_risk_pattern",
    }
}

/// One payment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transaction {
    pub transaction_id: CompactString,
    pub user_id: UserId,
    pub amount: f64,
    pub merchant: CompactString,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_fraud: Option<bool>,
    pub payment_method: PaymentMethod,
    /// "City, Country".
    pub location: CompactString,
    pub device_id: CompactString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// ISO-4217 code, `USD` when absent.
    pub currency: CompactString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<CompactString>,
    /// Always a pseudonym (`hmac:k<version>:<hex>`), never a raw address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<ByteString>,
    /// Ground truth from the generator; see [`FraudScenario`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injected_scenario: Option<FraudScenario>,
}

impl Transaction {
    /// A card transaction with only the required fields set, for tests: `tx-<user>-<micros>`
    /// by customer `user` at `at`, merchant `m`.
    #[cfg(test)]
    pub(crate) fn sample(user: i64, at: Timestamp, amount: f64, location: &str, device: &str) -> Transaction {
        Transaction {
            transaction_id: compact_str::format_compact!("tx-{user}-{}", at.micros()),
            user_id: UserId::Int(user),
            amount,
            merchant: "m".into(),
            timestamp: at,
            is_fraud: None,
            payment_method: PaymentMethod::CreditCard,
            location: location.into(),
            device_id: device.into(),
            product_id: None,
            category: None,
            quantity: None,
            currency: "USD".into(),
            channel: None,
            ip_address: None,
            session_id: None,
            customer_email: None,
            injected_scenario: None,
        }
    }

    /// Field names in schema order (the CSV header).
    pub const FIELDS: &'static [&'static str] = &[
        "transaction_id",
        "user_id",
        "amount",
        "merchant",
        "timestamp",
        "is_fraud",
        "payment_method",
        "location",
        "device_id",
        "product_id",
        "category",
        "quantity",
        "currency",
        "channel",
        "ip_address",
        "session_id",
        "customer_email",
        "injected_scenario",
    ];

    /// The bus key: the customer, so that one customer's events stay in one partition.
    pub fn key(&self) -> Vec<u8> {
        let mut key = Vec::new();
        self.write_key(&mut key);
        key
    }

    /// Appends [`Transaction::key`] to `out`.
    pub fn write_key(&self, out: &mut Vec<u8>) {
        match &self.user_id {
            UserId::Int(id) => out.extend_from_slice(itoa::Buffer::new().format(*id).as_bytes()),
            UserId::Str(id) => out.extend_from_slice(id.as_bytes()),
        }
    }

    /// Appends the bus encoding: byte for byte `model::encode` (serde_json) of this value.
    pub(crate) fn encode_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::begin(out, super::ENCODING_VERSION);
        o.str(key!("transaction_id"), &self.transaction_id);
        o.user_id(key!("user_id"), &self.user_id);
        o.f64(key!("amount"), self.amount);
        o.str(key!("merchant"), &self.merchant);
        o.timestamp(key!("timestamp"), self.timestamp);
        o.opt_bool(key!("is_fraud"), self.is_fraud);
        o.plain(key!("payment_method"), self.payment_method.as_str());
        o.str(key!("location"), &self.location);
        o.str(key!("device_id"), &self.device_id);
        o.opt_str(key!("product_id"), self.product_id.as_deref());
        o.opt_str(key!("category"), self.category.as_deref());
        o.opt_u32(key!("quantity"), self.quantity);
        o.str(key!("currency"), &self.currency);
        if let Some(channel) = self.channel {
            o.plain(key!("channel"), channel.as_str());
        }
        o.opt_ip(key!("ip_address"), self.ip_address);
        o.opt_str(key!("session_id"), self.session_id.as_deref());
        o.opt_str(key!("customer_email"), self.customer_email.as_deref());
        if let Some(scenario) = self.injected_scenario {
            o.plain(key!("injected_scenario"), scenario.as_str());
        }
        o.end();
    }
}

/// The fields of a JSON transaction, borrowed and not yet interpreted.
#[derive(serde::Deserialize, Default)]
pub(crate) struct RawTransaction<'a> {
    #[serde(borrow)]
    pub v: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub transaction_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub user_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub amount: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub merchant: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub timestamp: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub is_fraud: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub payment_method: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub location: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub device_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub product_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub category: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub quantity: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub currency: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub channel: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub ip_address: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub session_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub customer_email: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub injected_scenario: Option<JsonValue<'a>>,
}

impl<'a> RawTransaction<'a> {
    pub fn field(&self, name: &str) -> Option<RawField<'a>> {
        let raw = match name {
            "transaction_id" => self.transaction_id,
            "user_id" => self.user_id,
            "amount" => self.amount,
            "merchant" => self.merchant,
            "timestamp" => self.timestamp,
            "is_fraud" => self.is_fraud,
            "payment_method" => self.payment_method,
            "location" => self.location,
            "device_id" => self.device_id,
            "product_id" => self.product_id,
            "category" => self.category,
            "quantity" => self.quantity,
            "currency" => self.currency,
            "channel" => self.channel,
            "ip_address" => self.ip_address,
            "session_id" => self.session_id,
            "customer_email" => self.customer_email,
            "injected_scenario" => self.injected_scenario,
            _ => None,
        };
        raw.and_then(JsonValue::non_null).map(RawField::Json)
    }
}

impl<'a> super::RawEvent<'a> for RawTransaction<'a> {
    fn slot(&mut self, key: &str) -> Option<&mut Option<JsonValue<'a>>> {
        Some(match key {
            "v" => &mut self.v,
            "transaction_id" => &mut self.transaction_id,
            "user_id" => &mut self.user_id,
            "amount" => &mut self.amount,
            "merchant" => &mut self.merchant,
            "timestamp" => &mut self.timestamp,
            "is_fraud" => &mut self.is_fraud,
            "payment_method" => &mut self.payment_method,
            "location" => &mut self.location,
            "device_id" => &mut self.device_id,
            "product_id" => &mut self.product_id,
            "category" => &mut self.category,
            "quantity" => &mut self.quantity,
            "currency" => &mut self.currency,
            "channel" => &mut self.channel,
            "ip_address" => &mut self.ip_address,
            "session_id" => &mut self.session_id,
            "customer_email" => &mut self.customer_email,
            "injected_scenario" => &mut self.injected_scenario,
            _ => return None,
        })
    }

    fn version(&self) -> Option<JsonValue<'a>> {
        self.v.and_then(JsonValue::non_null)
    }
}

/// Builds a validated transaction from its fields, looked up by name; the e-mail pseudonym is a
/// slice of `record` where it can be.
pub(crate) fn build<'a>(
    get: impl Fn(&'static str) -> Option<RawField<'a>>,
    v: &Validator,
    now: Timestamp,
    record: RecordText<'_>,
) -> FieldResult<Transaction> {
    let field = |name: &'static str| get(name).and_then(RawField::present);
    let required = |name: &'static str| field(name).ok_or(super::FieldError { field: name, problem: Problem::Missing });

    let amount = required("amount")?.non_negative("amount")?;
    let location = required("location")?.text("location")?;
    check_location(&location)?;
    let currency = match field("currency") {
        Some(raw) => {
            let mut c = CompactString::from(raw.string("currency")?.trim());
            c.make_ascii_uppercase();
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return err(
                    "currency",
                    Problem::Invalid(format!("{c:?} is not a three-letter ISO-4217 code such as USD")),
                );
            }
            c
        }
        None => CompactString::const_new("USD"),
    };
    let timestamp = required("timestamp")?.timestamp("timestamp")?;
    v.check_not_future("timestamp", timestamp, now)?;
    Ok(Transaction {
        transaction_id: required("transaction_id")?.text("transaction_id")?,
        user_id: required("user_id")?.user_id("user_id")?,
        amount,
        merchant: required("merchant")?.text("merchant")?,
        timestamp,
        is_fraud: field("is_fraud").map(|r| r.boolean("is_fraud")).transpose()?,
        payment_method: PaymentMethod::from_field(required("payment_method")?, "payment_method")?,
        location,
        device_id: required("device_id")?.text("device_id")?,
        product_id: field("product_id").map(|r| r.text("product_id")).transpose()?,
        category: field("category").map(|r| r.text("category")).transpose()?,
        quantity: field("quantity").map(|r| r.count("quantity")).transpose()?,
        currency,
        channel: field("channel").map(|r| Channel::from_field(r, "channel")).transpose()?,
        ip_address: field("ip_address").map(|r| r.ip("ip_address")).transpose()?,
        session_id: field("session_id").map(|r| r.text("session_id")).transpose()?,
        customer_email: field("customer_email").map(|r| v.email(r, "customer_email", record)).transpose()?,
        injected_scenario: field("injected_scenario")
            .map(|r| FraudScenario::from_field(r, "injected_scenario"))
            .transpose()?,
    })
}

fn check_location(location: &str) -> FieldResult<()> {
    // The last comma, found from the end: the country is short.
    let comma = location.bytes().rposition(|b| b == b',');
    match comma.map(|at| location.split_at(at)) {
        Some((city, country)) if !is_blank(city) && !is_blank(&country[1..]) => Ok(()),
        _ => err("location", Problem::Invalid(format!("{location:?} is not \"City, Country\""))),
    }
}
