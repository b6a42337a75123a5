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
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ConnectionId, ContentHash, SourceId, TraceId};

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

    /// Stores whose books are kept from the invoices they issue (and their credit memos): an
    /// order of theirs is only noted, or it would be booked twice.
    pub fn books_invoices(self) -> bool {
        matches!(self, SourceSystem::AdobeCommerce)
    }

    /// The name people know it by.
    pub fn title(self) -> &'static str {
        match self {
            SourceSystem::Woocommerce => "WooCommerce",
            SourceSystem::Bigcommerce => "BigCommerce",
            SourceSystem::AdobeCommerce => "Adobe Commerce",
            SourceSystem::Odoo => "Odoo",
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
    /// Set when the same version is sent again on purpose (reconciliation found its move gone
    /// from Odoo): names that run, so the send is exactly once of its own. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repost: Option<String>,
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
            repost: None,
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

mod catalogue;
mod fulfilment;
mod party;
mod refund;
mod sales;
#[cfg(any(test, feature = "test-support"))]
pub mod samples;

pub use catalogue::*;
pub use fulfilment::*;
pub use party::*;
pub use refund::*;
pub use sales::*;

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
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
