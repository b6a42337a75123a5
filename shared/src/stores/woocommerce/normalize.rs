//! WooCommerce REST v3 JSON → normalized records. Field names as in the API: money arrives as
//! strings ("29.35"), `line_items[].price` as a number, `*_gmt` dates in UTC without a zone,
//! line `taxes[].id` is the tax *rate* id, refund lines are negative.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ids::{CurrencyCode, Sku, SourceId};
use crate::money;
use crate::records::*;

fn bad(what: impl Into<String>) -> Error {
    Error::bad_input(what.into())
}

/// A money string (or number) as a decimal; empty means zero, as WooCommerce writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Money(pub Decimal);

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let text = match &v {
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            other => return Err(serde::de::Error::custom(format!("expected an amount, found {other}"))),
        };
        if text.is_empty() {
            return Ok(Money(Decimal::ZERO));
        }
        let value = Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an amount")))?;
        // Bounded here, so that what follows cannot overflow on any amount a store can send.
        crate::money::store_amount(value).map(Money).map_err(serde::de::Error::custom)
    }
}

fn gmt(text: &Option<String>) -> Option<DateTime<Utc>> {
    let t = text.as_deref()?.trim();
    NaiveDateTime::parse_from_str(t.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S").ok().map(|n| n.and_utc())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WooAddress {
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub address_1: String,
    pub address_2: String,
    pub city: String,
    pub state: String,
    pub postcode: String,
    pub country: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl WooAddress {
    fn normalize(&self) -> Option<Address> {
        let a = Address {
            first_name: opt(&self.first_name),
            last_name: opt(&self.last_name),
            company: opt(&self.company),
            line1: opt(&self.address_1),
            line2: opt(&self.address_2),
            city: opt(&self.city),
            region: opt(&self.state),
            postcode: opt(&self.postcode),
            country: CountryCode::parse(self.country.trim().to_uppercase()).ok(),
            email: self.email.as_deref().and_then(opt),
            phone: self.phone.as_deref().and_then(opt),
        };
        (a != Address::default()).then_some(a)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooTax {
    pub id: serde_json::Value,
    #[serde(default)]
    pub total: Money,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooMeta {
    pub key: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooLineItem {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub product_id: i64,
    #[serde(default)]
    pub variation_id: i64,
    #[serde(default)]
    pub quantity: Money,
    #[serde(default)]
    pub subtotal: Money,
    #[serde(default)]
    pub total: Money,
    #[serde(default)]
    pub total_tax: Money,
    #[serde(default)]
    pub taxes: Vec<WooTax>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub meta_data: Vec<WooMeta>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooShippingLine {
    pub id: i64,
    #[serde(default)]
    pub method_title: String,
    #[serde(default)]
    pub method_id: Option<String>,
    #[serde(default)]
    pub total: Money,
    #[serde(default)]
    pub total_tax: Money,
    #[serde(default)]
    pub taxes: Vec<WooTax>,
    #[serde(default)]
    pub meta_data: Vec<WooMeta>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooFeeLine {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub total: Money,
    #[serde(default)]
    pub total_tax: Money,
    #[serde(default)]
    pub taxes: Vec<WooTax>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooCouponLine {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub discount: Money,
    #[serde(default)]
    pub discount_tax: Money,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooTaxLine {
    pub rate_id: serde_json::Value,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub compound: bool,
    #[serde(default)]
    pub tax_total: Money,
    #[serde(default)]
    pub shipping_tax_total: Money,
    #[serde(default)]
    pub rate_percent: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooOrder {
    pub id: i64,
    #[serde(default)]
    pub number: Option<String>,
    pub status: String,
    pub currency: String,
    #[serde(default)]
    pub date_created_gmt: Option<String>,
    #[serde(default)]
    pub date_modified_gmt: Option<String>,
    #[serde(default)]
    pub discount_total: Money,
    #[serde(default)]
    pub shipping_total: Money,
    #[serde(default)]
    pub total: Money,
    #[serde(default)]
    pub total_tax: Money,
    #[serde(default)]
    pub prices_include_tax: bool,
    #[serde(default)]
    pub customer_id: i64,
    #[serde(default)]
    pub billing: WooAddress,
    #[serde(default)]
    pub shipping: WooAddress,
    #[serde(default)]
    pub payment_method: String,
    #[serde(default)]
    pub payment_method_title: String,
    #[serde(default)]
    pub line_items: Vec<WooLineItem>,
    #[serde(default)]
    pub tax_lines: Vec<WooTaxLine>,
    #[serde(default)]
    pub shipping_lines: Vec<WooShippingLine>,
    #[serde(default)]
    pub fee_lines: Vec<WooFeeLine>,
    #[serde(default)]
    pub coupon_lines: Vec<WooCouponLine>,
}

fn id_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

fn line_taxes(taxes: &[WooTax], labels: &HashMap<String, (Option<String>, Option<Decimal>)>, dp: u32) -> Vec<LineTax> {
    taxes
        .iter()
        .map(|t| {
            let rate = id_text(&t.id);
            let (label, percent) = labels.get(&rate).cloned().unwrap_or_default();
            // Line taxes arrive unrounded ("0.9", "1.8333"); the order's totals are rounded.
            LineTax { rate_id: rate, label, rate_percent: percent, amount: round(t.total.0, dp) }
        })
        .filter(|t| !t.amount.is_zero())
        .collect()
}

fn status(text: &str) -> DocumentStatus {
    match text {
        "processing" => DocumentStatus::Processing,
        "completed" => DocumentStatus::Completed,
        "on-hold" => DocumentStatus::OnHold,
        "cancelled" => DocumentStatus::Cancelled,
        "refunded" => DocumentStatus::Refunded,
        "failed" => DocumentStatus::Failed,
        _ => DocumentStatus::Pending,
    }
}

/// The categories of a product, as paths from the root (`["Apparel", "Shirts"]`).
pub type CategoryPaths = HashMap<i64, Vec<String>>;

/// A WooCommerce order as a sales document. `categories` gives each product's category path
/// (orders do not carry categories; the client looks them up).
/// WooCommerce ids are positive; anything else did not come from a store.
fn positive(id: i64, what: &str) -> Result<i64> {
    if id > 0 { Ok(id) } else { Err(bad(format!("{what} id {id} is not a WooCommerce id (ids are positive)"))) }
}

pub fn order(o: &WooOrder, categories: &CategoryPaths) -> Result<(SourceId, DateTime<Utc>, SalesDocument)> {
    let source_id = SourceId::parse(positive(o.id, "order")?.to_string())?;
    let currency =
        CurrencyCode::parse(o.currency.trim().to_uppercase()).map_err(|e| e.context(format!("order {}", o.id)))?;
    let dp = crate::poster::plan::currency_decimals(currency.as_str());
    let created = gmt(&o.date_created_gmt)
        .ok_or_else(|| bad(format!("order {}: date_created_gmt is missing or not a date", o.id)))?;
    let modified = gmt(&o.date_modified_gmt).unwrap_or(created);
    let labels: HashMap<String, (Option<String>, Option<Decimal>)> =
        o.tax_lines.iter().map(|t| (id_text(&t.rate_id), (t.label.clone(), t.rate_percent.map(|m| m.0)))).collect();
    let lines = o
        .line_items
        .iter()
        .map(|l| {
            let sku = l.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(Sku::parse).transpose()?;
            let quantity = l.quantity.0;
            Ok(SalesLine {
                line_id: l.id.to_string(),
                sku,
                name: l.name.clone(),
                product_id: (l.product_id > 0).then(|| SourceId::parse(l.product_id.to_string())).transpose()?,
                variant_id: (l.variation_id > 0).then(|| SourceId::parse(l.variation_id.to_string())).transpose()?,
                category_path: categories.get(&l.product_id).cloned().unwrap_or_default(),
                quantity,
                unit_price: if quantity.is_zero() {
                    Decimal::ZERO
                } else {
                    money::div(l.subtotal.0, quantity, "a line's unit price")?
                },
                subtotal: l.subtotal.0,
                discount: money::sub(l.subtotal.0, l.total.0, "a line's discount")?,
                total: l.total.0,
                taxes: line_taxes(&l.taxes, &labels, dp),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let shipping: Vec<ShippingLine> = o
        .shipping_lines
        .iter()
        .map(|s| ShippingLine {
            line_id: s.id.to_string(),
            method_id: s.method_id.clone(),
            title: s.method_title.clone(),
            total: s.total.0,
            taxes: line_taxes(&s.taxes, &labels, dp),
        })
        .collect();
    let fees: Vec<FeeLine> = o
        .fee_lines
        .iter()
        .map(|f| FeeLine {
            line_id: f.id.to_string(),
            name: f.name.clone(),
            total: f.total.0,
            taxes: line_taxes(&f.taxes, &labels, dp),
        })
        .collect();

    // Reconcile the gross: every line's total plus its tax must come to the order total.
    let what = "the order's gross";
    let parts = o.line_items.iter().flat_map(|l| [l.total.0, l.total_tax.0]);
    let parts = parts.chain(o.shipping_lines.iter().flat_map(|s| [s.total.0, s.total_tax.0]));
    let gross = money::sum(parts.chain(o.fee_lines.iter().flat_map(|f| [f.total.0, f.total_tax.0])), what)?;
    let allowed = money::mul(Decimal::new(1, dp), Decimal::from(1 + o.line_items.len() as i64), what)?;
    if money::sub(round(gross, dp), o.total.0, what)?.abs() > allowed {
        return Err(bad(format!(
            "order {}: lines, shipping and fees come to {gross} with tax, but the order total is {}",
            o.id, o.total.0
        )));
    }
    let customer = if o.customer_id > 0 {
        CustomerRef::Registered {
            source_id: SourceId::parse(o.customer_id.to_string())?,
            email: o.billing.email.clone().and_then(|e| opt(&e)),
            group: None,
        }
    } else {
        CustomerRef::Guest { email: o.billing.email.clone().and_then(|e| opt(&e)) }
    };
    let subtotal = money::sum(o.line_items.iter().map(|l| l.subtotal.0), "the order's subtotal")?;
    let doc = SalesDocument {
        number: o.number.clone().unwrap_or_else(|| o.id.to_string()),
        order_id: None,
        status: status(&o.status),
        source_status: o.status.clone(),
        created_at: created,
        currency,
        prices_include_tax: o.prices_include_tax,
        customer,
        billing_address: o.billing.normalize(),
        shipping_address: o.shipping.normalize(),
        lines,
        shipping,
        fees,
        coupons: o
            .coupon_lines
            .iter()
            .map(|c| Coupon { code: c.code.clone(), discount: c.discount.0, discount_tax: c.discount_tax.0 })
            .collect(),
        taxes: o
            .tax_lines
            .iter()
            .map(|t| TaxSummary {
                rate_id: id_text(&t.rate_id),
                label: t.label.clone(),
                rate_percent: t.rate_percent.map(|m| m.0),
                compound: t.compound,
                tax_total: t.tax_total.0,
                shipping_tax_total: t.shipping_tax_total.0,
            })
            .collect(),
        payment_method: opt(&o.payment_method).map(|code| PaymentMethod { code, title: opt(&o.payment_method_title) }),
        totals: Totals {
            subtotal,
            discount: o.discount_total.0,
            shipping: o.shipping_total.0,
            fees: money::sum(o.fee_lines.iter().map(|f| f.total.0), "the order's fees")?,
            tax: o.total_tax.0,
            total: o.total.0,
        },
        // WooCommerce has no store scope of its own: the rules' `store` fact is the host.
        store_scope: None,
        website: None,
        base_figures: None,
    };
    Ok((source_id, modified, doc))
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooRefund {
    pub id: i64,
    #[serde(default)]
    pub date_created_gmt: Option<String>,
    #[serde(default)]
    pub amount: Money,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub line_items: Vec<WooLineItem>,
    /// Present on refunds from stores that report refunded shipping items.
    #[serde(default)]
    pub shipping_lines: Vec<WooShippingLine>,
}

fn refunded_item(meta: &[WooMeta]) -> Option<String> {
    meta.iter().find(|m| m.key == "_refunded_item_id").map(|m| id_text(&m.value))
}

/// A refund of `order`. Amounts keep WooCommerce's negative signs on lines; `amount` is positive.
pub fn refund(order_id: i64, currency: &str, r: &WooRefund) -> Result<(SourceId, DateTime<Utc>, Refund)> {
    positive(order_id, "order")?;
    positive(r.id, "refund")?;
    let currency = CurrencyCode::parse(currency.trim().to_uppercase())?;
    let dp = crate::poster::plan::currency_decimals(currency.as_str());
    let created =
        gmt(&r.date_created_gmt).ok_or_else(|| bad(format!("refund {}: date_created_gmt is missing", r.id)))?;
    let lines: Vec<RefundLine> = r
        .line_items
        .iter()
        .map(|l| {
            Ok(RefundLine {
                order_line_id: refunded_item(&l.meta_data).ok_or_else(|| {
                    bad(format!("refund {}: line {} does not say which order line it refunds", r.id, l.id))
                })?,
                sku: l.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(Sku::parse).transpose()?,
                quantity: l.quantity.0,
                amount: l.total.0,
                taxes: line_taxes(&l.taxes, &HashMap::new(), dp),
            })
        })
        .collect::<Result<_>>()?;
    let what = "the refund's total";
    let shipping = money::sum(r.shipping_lines.iter().map(|s| s.total.0), what)?;
    let shipping_tax = money::sum(r.shipping_lines.iter().map(|s| s.total_tax.0), what)?;
    let lines_gross =
        money::sum(lines.iter().flat_map(|l| std::iter::once(l.amount).chain(l.taxes.iter().map(|t| t.amount))), what)?;
    // What the lines do not explain (a goodwill amount) is refunded without a line.
    let explained = money::sum([r.amount.0.abs(), lines_gross, shipping, shipping_tax], what)?;
    let unallocated = round(-explained, dp);
    let unallocated = if unallocated.is_zero() { Decimal::ZERO } else { unallocated };
    let refund = Refund {
        order_id: SourceId::parse(order_id.to_string())?,
        invoice_id: None,
        created_at: created,
        currency,
        reason: opt(&r.reason),
        lines,
        shipping,
        shipping_line_id: r.shipping_lines.first().and_then(|s| refunded_item(&s.meta_data)),
        shipping_tax,
        unallocated,
        amount: r.amount.0.abs(),
        adjustments: Default::default(),
    };
    Ok((SourceId::parse(format!("{order_id}-r{}", r.id))?, created, refund))
}

#[derive(Debug, Clone, Deserialize)]
pub struct WooCustomer {
    pub id: i64,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub date_created_gmt: Option<String>,
    #[serde(default)]
    pub date_modified_gmt: Option<String>,
    #[serde(default)]
    pub billing: WooAddress,
    #[serde(default)]
    pub shipping: WooAddress,
}

pub fn customer(c: &WooCustomer) -> Result<(SourceId, DateTime<Utc>, Customer)> {
    let created = gmt(&c.date_created_gmt);
    let modified = gmt(&c.date_modified_gmt).or(created).unwrap_or_else(Utc::now);
    let billing = c.billing.normalize();
    let shipping = c.shipping.normalize();
    Ok((
        SourceId::parse(c.id.to_string())?,
        modified,
        Customer {
            email: opt(&c.email),
            first_name: opt(&c.first_name),
            last_name: opt(&c.last_name),
            company: opt(&c.billing.company),
            phone: c.billing.phone.as_deref().and_then(opt),
            group: opt(&c.role),
            addresses: billing.iter().chain(shipping.iter()).cloned().collect(),
            billing_address: billing,
            shipping_address: shipping,
            created_at: created,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// Shaped as `GET /orders/727` in the WooCommerce REST docs, trimmed.
    pub const ORDER: &str = r#"{
      "id": 727, "parent_id": 0, "number": "727", "status": "processing", "currency": "USD",
      "date_created": "2017-03-22T16:28:02", "date_created_gmt": "2017-03-22T19:28:02",
      "date_modified_gmt": "2017-03-22T19:28:08", "discount_total": "0.00", "discount_tax": "0.00",
      "shipping_total": "10.00", "shipping_tax": "0.00", "cart_tax": "1.35", "total": "29.35",
      "total_tax": "1.35", "prices_include_tax": false, "customer_id": 0,
      "billing": { "first_name": "John", "last_name": "Doe", "company": "", "address_1": "969 Market",
        "address_2": "", "city": "San Francisco", "state": "CA", "postcode": "94103", "country": "US",
        "email": "john.doe@example.com", "phone": "(555) 555-5555" },
      "shipping": { "first_name": "John", "last_name": "Doe", "company": "", "address_1": "969 Market",
        "address_2": "", "city": "San Francisco", "state": "CA", "postcode": "94103", "country": "US" },
      "payment_method": "bacs", "payment_method_title": "Direct Bank Transfer",
      "line_items": [
        { "id": 315, "name": "Woo Single #1", "product_id": 93, "variation_id": 0, "quantity": 2,
          "tax_class": "", "subtotal": "6.00", "subtotal_tax": "0.45", "total": "6.00", "total_tax": "0.45",
          "taxes": [ { "id": 75, "total": "0.45", "subtotal": "0.45" } ], "meta_data": [], "sku": "", "price": 3 },
        { "id": 316, "name": "Ship Your Idea &ndash; Color: Black, Size: M Test", "product_id": 22,
          "variation_id": 23, "quantity": 1, "tax_class": "", "subtotal": "12.00", "subtotal_tax": "0.9",
          "total": "12.00", "total_tax": "0.9", "taxes": [ { "id": 75, "total": "0.9", "subtotal": "0.9" } ],
          "meta_data": [], "sku": "", "price": 12 }
      ],
      "tax_lines": [ { "id": 318, "rate_code": "US-CA-STATE TAX", "rate_id": 75, "label": "State Tax",
        "compound": false, "tax_total": "1.35", "shipping_tax_total": "0.00", "meta_data": [] } ],
      "shipping_lines": [ { "id": 317, "method_title": "Flat Rate", "method_id": "flat_rate", "total": "10.00",
        "total_tax": "0.00", "taxes": [], "meta_data": [] } ],
      "fee_lines": [], "coupon_lines": [], "refunds": []
    }"#;

    #[test]
    fn the_documented_order_normalizes_and_reconciles() {
        let mut negative: serde_json::Value = serde_json::from_str(ORDER).unwrap();
        negative["id"] = (-727).into();
        let err = order(&serde_json::from_value(negative).unwrap(), &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("ids are positive"), "{err}");
        let o: WooOrder = serde_json::from_str(ORDER).unwrap();
        let categories = CategoryPaths::from([(93, vec!["Clothing".to_string(), "Shirts".to_string()])]);
        let (id, modified, doc) = order(&o, &categories).unwrap();
        assert_eq!(id.as_str(), "727");
        assert_eq!(modified.to_rfc3339(), "2017-03-22T19:28:08+00:00");
        assert_eq!(doc.totals.total, dec!(29.35));
        assert_eq!(doc.lines[0].unit_price, dec!(3));
        assert_eq!(doc.lines[0].category_path, vec!["Clothing", "Shirts"]);
        assert_eq!(doc.lines[1].taxes[0].amount, dec!(0.90));
        assert_eq!(doc.lines[1].taxes[0].label.as_deref(), Some("State Tax"));
        assert_eq!(doc.lines[1].variant_id.as_ref().map(|v| v.as_str()), Some("23"));
        assert_eq!(doc.shipping[0].total, dec!(10.00));
        assert!(matches!(&doc.customer, CustomerRef::Guest { email: Some(e) } if e == "john.doe@example.com"));
        assert_eq!(doc.shipping_address.as_ref().unwrap().region.as_deref(), Some("CA"));
    }

    #[test]
    fn a_total_that_does_not_add_up_is_refused() {
        let mut v: serde_json::Value = serde_json::from_str(ORDER).unwrap();
        v["total"] = "39.35".into();
        let o: WooOrder = serde_json::from_value(v).unwrap();
        let err = order(&o, &CategoryPaths::new()).unwrap_err();
        assert!(err.to_string().contains("29.35") && err.to_string().contains("39.35"), "{err}");
    }

    #[test]
    fn refunds_keep_their_lines_and_shipping() {
        let r: WooRefund = serde_json::from_str(
            r#"{
            "id": 726, "date_created_gmt": "2017-03-21T19:54:36", "amount": "19.90", "reason": "damaged",
            "line_items": [ { "id": 314, "name": "Woo Album #2", "product_id": 87, "quantity": -1,
                "subtotal": "-9.00", "total": "-9.00", "total_tax": "-0.90",
                "taxes": [ { "id": 75, "total": "-0.9", "subtotal": "-0.9" } ],
                "meta_data": [ { "id": 1, "key": "_refunded_item_id", "value": "311" } ], "sku": "ALB-2" } ],
            "shipping_lines": [ { "id": 9, "method_title": "Flat Rate", "total": "-10.00", "total_tax": "0.00",
                "meta_data": [ { "key": "_refunded_item_id", "value": "317" } ] } ]
        }"#,
        )
        .unwrap();
        let (id, _, refund) = refund(723, "usd", &r).unwrap();
        assert_eq!(id.as_str(), "723-r726");
        assert_eq!(refund.amount, dec!(19.90));
        assert_eq!(refund.lines[0].order_line_id, "311");
        assert_eq!((refund.lines[0].quantity, refund.lines[0].amount), (dec!(-1), dec!(-9.00)));
        assert_eq!(refund.shipping, dec!(-10.00));
        assert_eq!(refund.shipping_line_id.as_deref(), Some("317"));
        assert_eq!(refund.unallocated, dec!(0));
    }
}
