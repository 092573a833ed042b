//! `ClickEvent`: one step of a shopping session (seed 002's clickstream schema).

use super::fields::{FieldResult, JsonValue, RawField, RecordText, Vocabulary, vocabulary};
use super::json::{Object, key};
use super::{FieldError, Problem, Timestamp, UserId, Validator};
use bytestring::ByteString;
use compact_str::CompactString;
use serde::Serialize;
use std::net::IpAddr;

vocabulary! {
    /// What the shopper did.
    ClickType {
        PageView = "page_view",
        AddToCart = "add_to_cart",
        RemoveFromCart = "remove_from_cart",
        WishlistAdd = "wishlist_add",
        Purchase = "purchase",
    }
}

/// One clickstream event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClickEvent {
    pub event_id: CompactString,
    pub user_id: UserId,
    pub session_id: CompactString,
    pub event_type: ClickType,
    pub event_timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_url: Option<ByteString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<ByteString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<IpAddr>,
}

impl ClickEvent {
    /// Field names in schema order (the CSV header).
    pub const FIELDS: &'static [&'static str] = &[
        "event_id",
        "user_id",
        "session_id",
        "event_type",
        "event_timestamp",
        "product_id",
        "category",
        "price",
        "quantity",
        "page_url",
        "user_agent",
        "ip_address",
    ];

    /// The bus key: the session, so that a session's events stay in order in one partition.
    pub fn key(&self) -> Vec<u8> {
        self.session_id.as_bytes().to_vec()
    }

    /// Appends [`ClickEvent::key`] to `out`.
    pub fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.session_id.as_bytes());
    }

    /// Appends the bus encoding: byte for byte `model::encode` (serde_json) of this value.
    pub(crate) fn encode_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::begin(out, super::ENCODING_VERSION);
        o.str(key!("event_id"), &self.event_id);
        o.user_id(key!("user_id"), &self.user_id);
        o.str(key!("session_id"), &self.session_id);
        o.plain(key!("event_type"), self.event_type.as_str());
        o.timestamp(key!("event_timestamp"), self.event_timestamp);
        o.opt_str(key!("product_id"), self.product_id.as_deref());
        o.opt_str(key!("category"), self.category.as_deref());
        o.opt_f64(key!("price"), self.price);
        o.opt_u32(key!("quantity"), self.quantity);
        o.opt_str(key!("page_url"), self.page_url.as_deref());
        o.opt_str(key!("user_agent"), self.user_agent.as_deref());
        o.opt_ip(key!("ip_address"), self.ip_address);
        o.end();
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct RawClick<'a> {
    #[serde(borrow)]
    pub v: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub event_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub user_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub session_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub event_type: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub event_timestamp: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub product_id: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub category: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub price: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub quantity: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub page_url: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub user_agent: Option<JsonValue<'a>>,
    #[serde(borrow)]
    pub ip_address: Option<JsonValue<'a>>,
}

impl<'a> RawClick<'a> {
    pub fn field(&self, name: &str) -> Option<RawField<'a>> {
        let raw = match name {
            "event_id" => self.event_id,
            "user_id" => self.user_id,
            "session_id" => self.session_id,
            "event_type" => self.event_type,
            "event_timestamp" => self.event_timestamp,
            "product_id" => self.product_id,
            "category" => self.category,
            "price" => self.price,
            "quantity" => self.quantity,
            "page_url" => self.page_url,
            "user_agent" => self.user_agent,
            "ip_address" => self.ip_address,
            _ => None,
        };
        raw.and_then(JsonValue::non_null).map(RawField::Json)
    }
}

impl<'a> super::RawEvent<'a> for RawClick<'a> {
    fn slot(&mut self, key: &str) -> Option<&mut Option<JsonValue<'a>>> {
        Some(match key {
            "v" => &mut self.v,
            "event_id" => &mut self.event_id,
            "user_id" => &mut self.user_id,
            "session_id" => &mut self.session_id,
            "event_type" => &mut self.event_type,
            "event_timestamp" => &mut self.event_timestamp,
            "product_id" => &mut self.product_id,
            "category" => &mut self.category,
            "price" => &mut self.price,
            "quantity" => &mut self.quantity,
            "page_url" => &mut self.page_url,
            "user_agent" => &mut self.user_agent,
            "ip_address" => &mut self.ip_address,
            _ => return None,
        })
    }

    fn version(&self) -> Option<JsonValue<'a>> {
        self.v.and_then(JsonValue::non_null)
    }
}

/// Builds a validated click from its fields, looked up by name; long text fields are slices of
/// `record` where they can be.
pub(crate) fn build<'a>(
    get: impl Fn(&'static str) -> Option<RawField<'a>>,
    v: &Validator,
    now: Timestamp,
    record: RecordText<'_>,
) -> FieldResult<ClickEvent> {
    let field = |name: &'static str| get(name).and_then(RawField::present);
    let required = |name: &'static str| field(name).ok_or(FieldError { field: name, problem: Problem::Missing });

    let event_type = ClickType::from_field(required("event_type")?, "event_type")?;
    let event_timestamp = required("event_timestamp")?.timestamp("event_timestamp")?;
    v.check_not_future("event_timestamp", event_timestamp, now)?;
    let product_id = field("product_id").map(|r| r.text("product_id")).transpose()?;
    if product_id.is_none() && event_type != ClickType::PageView {
        // Every event but a page view is about a product.
        return Err(FieldError { field: "product_id", problem: Problem::Missing });
    }
    let price = field("price").map(|r| r.non_negative("price")).transpose()?;
    let quantity = field("quantity").map(|r| r.count("quantity")).transpose()?;
    if event_type == ClickType::Purchase {
        if price.is_none() {
            return Err(FieldError { field: "price", problem: Problem::Missing });
        }
        if quantity.is_none() {
            return Err(FieldError { field: "quantity", problem: Problem::Missing });
        }
    }
    Ok(ClickEvent {
        event_id: required("event_id")?.text("event_id")?,
        user_id: required("user_id")?.user_id("user_id")?,
        session_id: required("session_id")?.text("session_id")?,
        event_type,
        event_timestamp,
        product_id,
        category: field("category").map(|r| r.text("category")).transpose()?,
        price,
        quantity,
        page_url: field("page_url").map(|r| r.long_text("page_url", record)).transpose()?,
        user_agent: field("user_agent").map(|r| r.long_text("user_agent", record)).transpose()?,
        ip_address: field("ip_address").map(|r| r.ip("ip_address")).transpose()?,
    })
}
