//! `ClickEvent`: one step of a shopping session (seed 002's clickstream schema).

use super::fields::{FieldResult, RawField, Vocabulary, vocabulary};
use super::{FieldError, Problem, Timestamp, UserId, Validator};
use serde::Serialize;
use serde_json::value::RawValue;
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
    pub event_id: String,
    pub user_id: UserId,
    pub session_id: String,
    pub event_type: ClickType,
    pub event_timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
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
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct RawClick<'a> {
    #[serde(borrow)]
    pub v: Option<&'a RawValue>,
    #[serde(borrow)]
    pub event_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub user_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub session_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub event_type: Option<&'a RawValue>,
    #[serde(borrow)]
    pub event_timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    pub product_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub category: Option<&'a RawValue>,
    #[serde(borrow)]
    pub price: Option<&'a RawValue>,
    #[serde(borrow)]
    pub quantity: Option<&'a RawValue>,
    #[serde(borrow)]
    pub page_url: Option<&'a RawValue>,
    #[serde(borrow)]
    pub user_agent: Option<&'a RawValue>,
    #[serde(borrow)]
    pub ip_address: Option<&'a RawValue>,
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
        raw.map(RawField::Json)
    }
}

pub(crate) fn build<'a>(get: impl Fn(&'static str) -> Option<RawField<'a>>, v: &Validator) -> FieldResult<ClickEvent> {
    let field = |name: &'static str| get(name).and_then(RawField::present);
    let required = |name: &'static str| field(name).ok_or(FieldError { field: name, problem: Problem::Missing });

    let event_type = ClickType::from_field(required("event_type")?, "event_type")?;
    let event_timestamp = required("event_timestamp")?.timestamp("event_timestamp")?;
    v.check_not_future("event_timestamp", event_timestamp)?;
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
        page_url: field("page_url").map(|r| r.text("page_url")).transpose()?,
        user_agent: field("user_agent").map(|r| r.text("user_agent")).transpose()?,
        ip_address: field("ip_address").map(|r| r.ip("ip_address")).transpose()?,
    })
}
