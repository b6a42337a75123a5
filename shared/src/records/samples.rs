//! Builders for tests across the workspace: one realistic record of each kind (behind
//! `cfg(test)` or the `test-support` feature; no Lambda carries them).

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::ids::{ConnectionId, CurrencyCode, Sku, SourceId};

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
    vec![LineTax { rate_id: "1".into(), label: Some("TVA 20%".into()), rate_percent: Some(d("20")), amount: d(amount) }]
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
        customer: CustomerRef::Registered { source_id: sid("77"), email: Some("ada@example.com".into()), group: None },
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
        website: None,
        base_figures: None,
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
        adjustments: Default::default(),
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
