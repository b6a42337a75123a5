//! Normalized records: what every store connector produces and the poster consumes.
//!
//! A store's order, refund, customer, ... is turned into one of the [`Record`] variants and wrapped
//! in an [`Envelope`] that says where it came from and when. The envelope's JSON is the message body
//! on the queue, so it is versioned ([`SCHEMA_VERSION`]) and documented here field by field:
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "connection_id": "acme-woo",                  // ConnectionId: a-z 0-9 - _
//!   "source": "woocommerce",                     // woocommerce | bigcommerce | adobe_commerce | odoo
//!   "source_id": "1042",                         // the record's id in its source system
//!   "source_updated_at": "2026-11-20T09:15:00Z", // UTC, as the source reports it
//!   "content_hash": "9f2c…",                     // SHA-256 (hex) of the record's canonical JSON
//!   "trace_id": "5b0e…",                         // UUID stamped on every audit entry for this record
//!   "received_at": "2026-11-20T09:15:02Z",       // UTC, when ml-connector first saw it
//!   "kind": "order",                             // order | invoice | refund | customer | product | stock_level | shipment
//!   "record": { … }                              // the variant's fields, below
//! }
//! ```
//!
//! Money: every amount is a `rust_decimal::Decimal` serialized as a JSON *string* (`"19.99"`), so no
//! JSON parser on the way can turn it into a binary float. A record holds amounts in exactly one
//! currency, named once by its `currency` field (ISO 4217). Amounts are as the store reports them;
//! rounding to the currency's minor unit happens where Odoo needs it, never here.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ConnectionId, ContentHash, CurrencyCode, Sku, SourceId, TraceId};

/// The envelope version this build writes and reads. A reader refuses any other version rather
/// than guess; a change that old readers cannot ignore bumps it.
pub const SCHEMA_VERSION: u16 = 1;

/// The system a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceSystem {
    Woocommerce,
    Bigcommerce,
    AdobeCommerce,
    Odoo,
}

impl SourceSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceSystem::Woocommerce => "woocommerce",
            SourceSystem::Bigcommerce => "bigcommerce",
            SourceSystem::AdobeCommerce => "adobe_commerce",
            SourceSystem::Odoo => "odoo",
        }
    }
}

impl fmt::Display for SourceSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of record an envelope carries; also part of storage keys, so it has a stable spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Order,
    Invoice,
    Refund,
    Customer,
    Product,
    StockLevel,
    Shipment,
}

impl EntityKind {
    pub const ALL: [EntityKind; 7] = [
        EntityKind::Order,
        EntityKind::Invoice,
        EntityKind::Refund,
        EntityKind::Customer,
        EntityKind::Product,
        EntityKind::StockLevel,
        EntityKind::Shipment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Order => "order",
            EntityKind::Invoice => "invoice",
            EntityKind::Refund => "refund",
            EntityKind::Customer => "customer",
            EntityKind::Product => "product",
            EntityKind::StockLevel => "stock_level",
            EntityKind::Shipment => "shipment",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::bad_input(format!("unknown entity kind {s:?}")))
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalized record. Orders and invoices share one shape: an invoice is a sales document the
/// store issued as such (Adobe Commerce invoices, for example), linked to its order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Record {
    Order(SalesDocument),
    Invoice(SalesDocument),
    Refund(Refund),
    Customer(Customer),
    Product(Product),
    StockLevel(StockLevel),
    Shipment(Shipment),
}

impl Record {
    pub fn kind(&self) -> EntityKind {
        match self {
            Record::Order(_) => EntityKind::Order,
            Record::Invoice(_) => EntityKind::Invoice,
            Record::Refund(_) => EntityKind::Refund,
            Record::Customer(_) => EntityKind::Customer,
            Record::Product(_) => EntityKind::Product,
            Record::StockLevel(_) => EntityKind::StockLevel,
            Record::Shipment(_) => EntityKind::Shipment,
        }
    }

    /// SHA-256 of the record's canonical JSON. Struct fields serialize in declaration order and
    /// maps are `BTreeMap`s, so equal records always hash equal.
    pub fn content_hash(&self) -> ContentHash {
        let json = serde_json::to_vec(self).expect("a record always serializes");
        ContentHash::of_bytes(&json)
    }
}

/// A normalized record with its provenance: the queue's message body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub schema_version: u16,
    pub connection_id: ConnectionId,
    pub source: SourceSystem,
    pub source_id: SourceId,
    pub source_updated_at: DateTime<Utc>,
    pub content_hash: ContentHash,
    pub trace_id: TraceId,
    pub received_at: DateTime<Utc>,
    #[serde(flatten)]
    pub record: Record,
}

impl Envelope {
    /// Wraps a record, stamping the hash, a new trace id and the time it was received.
    pub fn new(
        connection_id: ConnectionId,
        source: SourceSystem,
        source_id: SourceId,
        source_updated_at: DateTime<Utc>,
        record: Record,
    ) -> Self {
        // Hash what a reader will see: a decimal such as -0.00 reads back as 0.00, so the record is
        // taken through its JSON form once before it is hashed.
        let record: Record = serde_json::from_str(&serde_json::to_string(&record).expect("a record always serializes"))
            .expect("a record reads back what it wrote");
        Envelope {
            schema_version: SCHEMA_VERSION,
            connection_id,
            source,
            source_id,
            source_updated_at,
            content_hash: record.content_hash(),
            trace_id: TraceId::new(),
            received_at: Utc::now(),
            record,
        }
    }

    pub fn kind(&self) -> EntityKind {
        self.record.kind()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serializes")
    }

    /// Parses a message body, refusing unknown versions and envelopes whose hash does not match
    /// their record (a body altered or truncated on the way).
    pub fn from_json(body: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct VersionOnly {
            schema_version: u16,
        }
        let version: VersionOnly =
            serde_json::from_str(body).map_err(|e| Error::bad_input(format!("envelope: {e}")))?;
        if version.schema_version != SCHEMA_VERSION {
            return Err(Error::bad_input(format!(
                "envelope schema version {} is not supported (this build reads {SCHEMA_VERSION})",
                version.schema_version
            )));
        }
        let envelope: Envelope = serde_json::from_str(body).map_err(|e| Error::bad_input(format!("envelope: {e}")))?;
        let actual = envelope.record.content_hash();
        if actual != envelope.content_hash {
            return Err(Error::bad_input(format!(
                "envelope for {} {}: content hash {} does not match its record ({actual})",
                envelope.kind(),
                envelope.source_id,
                envelope.content_hash
            )));
        }
        Ok(envelope)
    }
}

/// ISO 3166-1 alpha-2 country code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CountryCode(value))
        } else {
            Err(Error::bad_input(format!("country {value:?}: must be two upper-case letters (ISO 3166-1)")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CountryCode {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(value)
    }
}

impl From<CountryCode> for String {
    fn from(value: CountryCode) -> String {
        value.0
    }
}

/// A postal address as stores hold it. `region` is the store's state/province code (`"CA"`, `"NSW"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<CountryCode>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Who bought: a registered customer (linked to a `res.partner` by their store id) or a guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerRef {
    Registered { source_id: SourceId, email: Option<String>, group: Option<String> },
    Guest { email: Option<String> },
}

/// The document's state, mapped from each store's own vocabulary (kept verbatim in `source_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Pending,
    #[serde(alias = "on-hold")]
    OnHold,
    Processing,
    Completed,
    Cancelled,
    Refunded,
    Failed,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Pending => "pending",
            DocumentStatus::OnHold => "on_hold",
            DocumentStatus::Processing => "processing",
            DocumentStatus::Completed => "completed",
            DocumentStatus::Cancelled => "cancelled",
            DocumentStatus::Refunded => "refunded",
            DocumentStatus::Failed => "failed",
        }
    }
}

/// A tax charged on one line, by the store's tax rate id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineTax {
    pub rate_id: String,
    pub label: Option<String>,
    /// Percentage, for example `"20.0000"`; absent when the store only gives the amount.
    pub rate_percent: Option<Decimal>,
    pub amount: Decimal,
}

/// One product line. Amounts exclude tax; `total = subtotal - discount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesLine {
    pub line_id: String,
    pub sku: Option<Sku>,
    pub name: String,
    pub product_id: Option<SourceId>,
    pub variant_id: Option<SourceId>,
    /// Category path from the root, for example `["Apparel", "Shirts"]`; used by mapping rules.
    pub category_path: Vec<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub total: Decimal,
    pub taxes: Vec<LineTax>,
}

/// One shipping charge (excluding tax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippingLine {
    pub line_id: String,
    pub method_id: Option<String>,
    pub title: String,
    pub total: Decimal,
    pub taxes: Vec<LineTax>,
}

/// A fee (gift wrap, payment surcharge, ...), excluding tax; may be negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeLine {
    pub line_id: String,
    pub name: String,
    pub total: Decimal,
    pub taxes: Vec<LineTax>,
}

/// A coupon applied to the document. Its effect is already in the lines' `discount`; kept for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    pub code: String,
    pub discount: Decimal,
    pub discount_tax: Decimal,
}

/// The document's tax per rate, as the store summed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxSummary {
    pub rate_id: String,
    pub label: Option<String>,
    pub rate_percent: Option<Decimal>,
    pub compound: bool,
    pub tax_total: Decimal,
    pub shipping_tax_total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub code: String,
    pub title: Option<String>,
}

/// The store's own totals, kept so the poster can prove Odoo's total equals the store's to the cent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub shipping: Decimal,
    pub fees: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

/// An order or an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesDocument {
    /// The number people see (`"#1042"`, `"000000123"`).
    pub number: String,
    /// For an invoice: the order it bills.
    pub order_id: Option<SourceId>,
    pub status: DocumentStatus,
    pub source_status: String,
    pub created_at: DateTime<Utc>,
    pub currency: CurrencyCode,
    pub prices_include_tax: bool,
    pub customer: CustomerRef,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub lines: Vec<SalesLine>,
    pub shipping: Vec<ShippingLine>,
    pub fees: Vec<FeeLine>,
    pub coupons: Vec<Coupon>,
    pub taxes: Vec<TaxSummary>,
    pub payment_method: Option<PaymentMethod>,
    pub totals: Totals,
    /// The store's own scope the document belongs to (a website, store view or channel), for the
    /// mapping rules' `store` fact; `None` where the store has none (WooCommerce), and then the
    /// store's host stands in. Left out of the JSON when absent, so existing hashes stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_scope: Option<String>,
}

/// One refunded product line: which order line, how many, how much (excluding tax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundLine {
    pub order_line_id: String,
    pub sku: Option<Sku>,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub taxes: Vec<LineTax>,
}

/// A refund of all or part of an order: becomes a credit note against the order's invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub order_id: SourceId,
    /// The invoice it credits, where the store says (an Adobe Commerce credit memo); absent, it
    /// credits whatever was posted for the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<SourceId>,
    pub created_at: DateTime<Utc>,
    pub currency: CurrencyCode,
    pub reason: Option<String>,
    pub lines: Vec<RefundLine>,
    /// Shipping refunded, excluding tax, and its tax; `shipping_line_id` is the order's shipping
    /// line it refunds.
    pub shipping: Decimal,
    #[serde(default)]
    pub shipping_line_id: Option<String>,
    pub shipping_tax: Decimal,
    /// Any amount refunded without a line (a goodwill refund), excluding tax.
    pub unallocated: Decimal,
    /// The total refunded, tax included, as the store reports it.
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub phone: Option<String>,
    /// The store's customer group or segment (`"wholesale"`); mapping rules may key on it.
    pub group: Option<String>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub addresses: Vec<Address>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductVariant {
    pub source_id: SourceId,
    pub sku: Option<Sku>,
    /// Attribute name to value, for example `{"Size": "M"}`.
    pub attributes: BTreeMap<String, String>,
    pub price: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    pub sku: Option<Sku>,
    pub active: bool,
    /// Category paths from the root; a product may sit in several categories.
    pub category_paths: Vec<Vec<String>>,
    pub currency: CurrencyCode,
    pub price: Decimal,
    pub sale_price: Option<Decimal>,
    pub variants: Vec<ProductVariant>,
}

/// Quantity on hand for one SKU, optionally per stock location/source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockLevel {
    pub sku: Sku,
    pub quantity: Decimal,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentLine {
    pub order_line_id: Option<String>,
    pub sku: Sku,
    pub quantity: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracking {
    pub carrier: String,
    pub number: String,
    pub url: Option<url::Url>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub order_id: SourceId,
    pub shipped_at: DateTime<Utc>,
    pub lines: Vec<ShipmentLine>,
    pub tracking: Vec<Tracking>,
}

/// Builders for tests across the workspace: one realistic record of each kind.
pub mod samples {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("sample decimal")
    }

    fn at(y: i32, mo: u32, day: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, day, h, 0, 0).single().expect("sample time")
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).expect("sample sku")
    }

    fn sid(s: &str) -> SourceId {
        SourceId::parse(s).expect("sample id")
    }

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").expect("EUR")
    }

    pub fn address() -> Address {
        Address {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            company: None,
            line1: Some("12 Rue de Rivoli".into()),
            line2: None,
            city: Some("Paris".into()),
            region: Some("75".into()),
            postcode: Some("75001".into()),
            country: Some(CountryCode::parse("FR").expect("FR")),
            email: Some("ada@example.com".into()),
            phone: None,
        }
    }

    fn vat(amount: &str) -> Vec<LineTax> {
        vec![LineTax {
            rate_id: "1".into(),
            label: Some("TVA 20%".into()),
            rate_percent: Some(d("20")),
            amount: d(amount),
        }]
    }

    /// Two shirts at 19.99 less a 10% coupon, shipping 4.90, 20% VAT: 2*19.99 = 39.98, less 4.00,
    /// = 35.98 + 4.90 shipping = 40.88 net; VAT 7.20 + 0.98 = 8.18; total 49.06.
    pub fn order() -> SalesDocument {
        SalesDocument {
            number: "1042".into(),
            order_id: None,
            status: DocumentStatus::Processing,
            source_status: "processing".into(),
            created_at: at(2026, 11, 20, 9),
            currency: eur(),
            prices_include_tax: false,
            customer: CustomerRef::Registered {
                source_id: sid("77"),
                email: Some("ada@example.com".into()),
                group: None,
            },
            billing_address: Some(address()),
            shipping_address: Some(address()),
            lines: vec![SalesLine {
                line_id: "301".into(),
                sku: Some(sku("SHIRT-M")),
                name: "Shirt (M)".into(),
                product_id: Some(sid("15")),
                variant_id: Some(sid("16")),
                category_path: vec!["Apparel".into(), "Shirts".into()],
                quantity: d("2"),
                unit_price: d("19.99"),
                subtotal: d("39.98"),
                discount: d("4.00"),
                total: d("35.98"),
                taxes: vat("7.20"),
            }],
            shipping: vec![ShippingLine {
                line_id: "302".into(),
                method_id: Some("flat_rate".into()),
                title: "Flat rate".into(),
                total: d("4.90"),
                taxes: vat("0.98"),
            }],
            fees: vec![],
            coupons: vec![Coupon { code: "AUTUMN10".into(), discount: d("4.00"), discount_tax: d("0.80") }],
            taxes: vec![TaxSummary {
                rate_id: "1".into(),
                label: Some("TVA 20%".into()),
                rate_percent: Some(d("20")),
                compound: false,
                tax_total: d("7.20"),
                shipping_tax_total: d("0.98"),
            }],
            payment_method: Some(PaymentMethod { code: "stripe".into(), title: Some("Card".into()) }),
            totals: Totals {
                subtotal: d("39.98"),
                discount: d("4.00"),
                shipping: d("4.90"),
                fees: d("0"),
                tax: d("8.18"),
                total: d("49.06"),
            },
            store_scope: None,
        }
    }

    pub fn refund() -> Refund {
        Refund {
            order_id: sid("1042"),
            invoice_id: None,
            created_at: at(2026, 11, 21, 10),
            currency: eur(),
            reason: Some("one shirt returned".into()),
            lines: vec![RefundLine {
                order_line_id: "301".into(),
                sku: Some(sku("SHIRT-M")),
                quantity: d("1"),
                amount: d("17.99"),
                taxes: vat("3.60"),
            }],
            shipping: d("0"),
            shipping_line_id: None,
            shipping_tax: d("0"),
            unallocated: d("0"),
            amount: d("21.59"),
        }
    }

    pub fn customer() -> Customer {
        Customer {
            email: Some("ada@example.com".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            company: None,
            phone: Some("+33 1 23 45 67 89".into()),
            group: Some("retail".into()),
            billing_address: Some(address()),
            shipping_address: None,
            addresses: vec![address()],
            created_at: Some(at(2025, 1, 2, 3)),
        }
    }

    pub fn product() -> Product {
        Product {
            name: "Shirt".into(),
            sku: Some(sku("SHIRT")),
            active: true,
            category_paths: vec![vec!["Apparel".into(), "Shirts".into()]],
            currency: eur(),
            price: d("19.99"),
            sale_price: None,
            variants: vec![ProductVariant {
                source_id: sid("16"),
                sku: Some(sku("SHIRT-M")),
                attributes: BTreeMap::from([("Size".to_string(), "M".to_string())]),
                price: Some(d("19.99")),
            }],
        }
    }

    pub fn stock_level() -> StockLevel {
        StockLevel { sku: sku("SHIRT-M"), quantity: d("12"), location: Some("default".into()) }
    }

    pub fn shipment() -> Shipment {
        Shipment {
            order_id: sid("1042"),
            shipped_at: at(2026, 11, 21, 15),
            lines: vec![ShipmentLine { order_line_id: Some("301".into()), sku: sku("SHIRT-M"), quantity: d("2") }],
            tracking: vec![Tracking {
                carrier: "colissimo".into(),
                number: "6A123456789".into(),
                url: Some(
                    url::Url::parse("https://www.laposte.fr/outils/suivre-vos-envois?code=6A123456789").expect("url"),
                ),
            }],
        }
    }

    /// One record of every kind.
    pub fn all_records() -> Vec<(SourceId, Record)> {
        vec![
            (sid("1042"), Record::Order(order())),
            (sid("inv-1042"), Record::Invoice(SalesDocument { order_id: Some(sid("1042")), ..order() })),
            (sid("r-1"), Record::Refund(refund())),
            (sid("77"), Record::Customer(customer())),
            (sid("15"), Record::Product(product())),
            (sid("SHIRT-M"), Record::StockLevel(stock_level())),
            (sid("s-1"), Record::Shipment(shipment())),
        ]
    }

    pub fn envelope(connection: &str, source_id: &str, record: Record) -> Envelope {
        Envelope::new(
            ConnectionId::parse(connection).expect("sample connection"),
            SourceSystem::Woocommerce,
            sid(source_id),
            at(2026, 11, 20, 9),
            record,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn every_kind_round_trips_through_json() {
        for (source_id, record) in samples::all_records() {
            let envelope = samples::envelope("acme", source_id.as_str(), record);
            let json = envelope.to_json();
            let back = Envelope::from_json(&json).unwrap();
            assert_eq!(back, envelope, "{json}");
            assert_eq!(back.kind().as_str(), serde_json::from_str::<serde_json::Value>(&json).unwrap()["kind"]);
        }
    }

    #[test]
    fn envelope_json_has_the_documented_shape() {
        let envelope = samples::envelope("acme", "1042", Record::Order(samples::order()));
        let json: serde_json::Value = serde_json::from_str(&envelope.to_json()).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        for key in [
            "schema_version",
            "connection_id",
            "source",
            "source_id",
            "source_updated_at",
            "content_hash",
            "trace_id",
            "received_at",
            "kind",
            "record",
        ] {
            assert!(keys.contains(&key), "missing {key} in {keys:?}");
        }
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["source"], "woocommerce");
        assert_eq!(json["source_updated_at"], "2026-11-20T09:00:00Z");
        // Money travels as strings, never as JSON numbers.
        assert_eq!(json["record"]["totals"]["total"], "49.06");
        assert_eq!(json["record"]["lines"][0]["unit_price"], "19.99");
        assert_eq!(json["record"]["customer"]["type"], "registered");
    }

    #[test]
    fn money_keeps_every_digit() {
        let mut order = samples::order();
        order.lines[0].unit_price = dec!(0.1) + dec!(0.2);
        order.totals.total = dec!(12345678901234567.89);
        let envelope = samples::envelope("acme", "1", Record::Order(order));
        let back = Envelope::from_json(&envelope.to_json()).unwrap();
        let Record::Order(order) = back.record else { panic!("not an order") };
        assert_eq!(order.lines[0].unit_price.to_string(), "0.3");
        assert_eq!(order.totals.total, dec!(12345678901234567.89));
    }

    #[test]
    fn sample_order_totals_add_up() {
        let o = samples::order();
        let lines: Decimal = o.lines.iter().map(|l| l.total).sum();
        let shipping: Decimal = o.shipping.iter().map(|l| l.total).sum();
        let tax: Decimal = o.lines.iter().chain([]).flat_map(|l| &l.taxes).map(|t| t.amount).sum::<Decimal>()
            + o.shipping.iter().flat_map(|l| &l.taxes).map(|t| t.amount).sum::<Decimal>();
        assert_eq!(lines, o.totals.subtotal - o.totals.discount);
        assert_eq!(lines + shipping + tax, o.totals.total);
        assert_eq!(tax, o.totals.tax);
    }

    #[test]
    fn equal_records_hash_equal_and_changes_change_the_hash() {
        let a = Record::Order(samples::order());
        assert_eq!(a.content_hash(), Record::Order(samples::order()).content_hash());
        let mut changed = samples::order();
        changed.lines[0].quantity = dec!(3);
        assert_ne!(a.content_hash(), Record::Order(changed).content_hash());
    }

    #[test]
    fn refuses_other_versions_bad_money_and_tampered_bodies() {
        let envelope = samples::envelope("acme", "1042", Record::Order(samples::order()));
        let mut json: serde_json::Value = serde_json::from_str(&envelope.to_json()).unwrap();

        let mut v2 = json.clone();
        v2["schema_version"] = 2.into();
        let err = Envelope::from_json(&v2.to_string()).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");

        let mut float = json.clone();
        float["record"]["totals"]["total"] = "forty".into();
        assert!(Envelope::from_json(&float.to_string()).is_err());

        json["record"]["totals"]["total"] = "0.01".into();
        let err = Envelope::from_json(&json.to_string()).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn negative_zero_does_not_break_the_hash() {
        let mut refund = samples::refund();
        refund.unallocated = -dec!(0.00);
        let envelope = samples::envelope("acme", "r-1", Record::Refund(refund));
        assert!(Envelope::from_json(&envelope.to_json()).is_ok());
    }

    #[test]
    fn entity_kinds_have_stable_spellings() {
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::parse(kind.as_str()).unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert!(EntityKind::parse("orders").is_err());
    }
}
