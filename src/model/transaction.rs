//! `Transaction`: one payment, in the schema of seed 003 plus the optional e-commerce fields.

use super::fields::{FieldResult, RawField, Vocabulary, err, vocabulary};
use super::{Problem, Timestamp, UserId, Validator};
use serde::Serialize;
use serde_json::value::RawValue;
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
    pub transaction_id: String,
    pub user_id: UserId,
    pub amount: f64,
    pub merchant: String,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_fraud: Option<bool>,
    pub payment_method: PaymentMethod,
    /// "City, Country".
    pub location: String,
    pub device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// ISO-4217 code, `USD` when absent.
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Always a pseudonym (`hmac:k<version>:<hex>`), never a raw address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    /// Ground truth from the generator; see [`FraudScenario`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injected_scenario: Option<FraudScenario>,
}

impl Transaction {
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
        self.user_id.to_string().into_bytes()
    }
}

/// The fields of a JSON transaction, borrowed and not yet interpreted.
#[derive(serde::Deserialize, Default)]
pub(crate) struct RawTransaction<'a> {
    #[serde(borrow)]
    pub v: Option<&'a RawValue>,
    #[serde(borrow)]
    pub transaction_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub user_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub amount: Option<&'a RawValue>,
    #[serde(borrow)]
    pub merchant: Option<&'a RawValue>,
    #[serde(borrow)]
    pub timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    pub is_fraud: Option<&'a RawValue>,
    #[serde(borrow)]
    pub payment_method: Option<&'a RawValue>,
    #[serde(borrow)]
    pub location: Option<&'a RawValue>,
    #[serde(borrow)]
    pub device_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub product_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub category: Option<&'a RawValue>,
    #[serde(borrow)]
    pub quantity: Option<&'a RawValue>,
    #[serde(borrow)]
    pub currency: Option<&'a RawValue>,
    #[serde(borrow)]
    pub channel: Option<&'a RawValue>,
    #[serde(borrow)]
    pub ip_address: Option<&'a RawValue>,
    #[serde(borrow)]
    pub session_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub customer_email: Option<&'a RawValue>,
    #[serde(borrow)]
    pub injected_scenario: Option<&'a RawValue>,
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
        raw.map(RawField::Json)
    }
}

/// Builds a validated transaction from its fields, looked up by name.
pub(crate) fn build<'a>(get: impl Fn(&'static str) -> Option<RawField<'a>>, v: &Validator) -> FieldResult<Transaction> {
    let field = |name: &'static str| get(name).and_then(RawField::present);
    let required = |name: &'static str| field(name).ok_or(super::FieldError { field: name, problem: Problem::Missing });

    let amount = required("amount")?.non_negative("amount")?;
    let location = required("location")?.text("location")?;
    check_location(&location)?;
    let currency = match field("currency") {
        Some(raw) => {
            let c = raw.string("currency")?.trim().to_ascii_uppercase();
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return err(
                    "currency",
                    Problem::Invalid(format!("{c:?} is not a three-letter ISO-4217 code such as USD")),
                );
            }
            c
        }
        None => "USD".to_string(),
    };
    let timestamp = required("timestamp")?.timestamp("timestamp")?;
    v.check_not_future("timestamp", timestamp)?;
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
        customer_email: field("customer_email").map(|r| v.email(r, "customer_email")).transpose()?,
        injected_scenario: field("injected_scenario")
            .map(|r| FraudScenario::from_field(r, "injected_scenario"))
            .transpose()?,
    })
}

fn check_location(location: &str) -> FieldResult<()> {
    match location.rsplit_once(',') {
        Some((city, country)) if !city.trim().is_empty() && !country.trim().is_empty() => Ok(()),
        _ => err("location", Problem::Invalid(format!("{location:?} is not \"City, Country\""))),
    }
}
