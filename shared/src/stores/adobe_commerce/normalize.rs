//! Adobe Commerce JSON → normalized records. Orders, invoices and credit memos are named by
//! their increment ids (the numbers people see, and what `mlc trace` takes); an invoice names its
//! order's, a credit memo its order's and its invoice's. Amounts are the order currency's, the
//! base currency's figures kept beside them for the audit trail. Times are UTC, as Magento
//! gives them (`YYYY-MM-DD HH:MM:SS`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::items::{OrderItems, split_tax};
use crate::error::{Error, Result};
use crate::ids::{CurrencyCode, Sku, SourceId};
use crate::money;
use crate::poster::plan::currency_decimals;
use crate::records::*;

fn bad(what: impl Into<String>) -> Error {
    Error::bad_input(what.into())
}

fn amount(v: &Value, field: &str) -> Result<Decimal> {
    money::json_field(v, field)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Magento's `YYYY-MM-DD HH:MM:SS`, which is UTC whatever the store's time zone.
pub fn time(v: &Value) -> Option<DateTime<Utc>> {
    let t = v.as_str()?.trim();
    NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(t).ok().map(|d| d.with_timezone(&Utc)))
}

/// What the rules and records need beyond the document itself, read from the store and cached.
#[derive(Debug, Default, Clone)]
pub struct StoreFacts {
    /// Category path (root first, the root catalog left out) by product id.
    pub category_paths: HashMap<i64, Vec<String>>,
    /// Store view id → (code, website id).
    pub store_views: HashMap<i64, (String, i64)>,
    /// Website id → code.
    pub websites: HashMap<i64, String>,
    /// Customer group id → code.
    pub groups: HashMap<i64, String>,
}

impl StoreFacts {
    fn scope(&self, store_id: Option<i64>) -> (Option<String>, Option<String>) {
        let Some((code, website)) = store_id.and_then(|s| self.store_views.get(&s)) else { return (None, None) };
        (Some(code.clone()), self.websites.get(website).cloned())
    }

    fn group(&self, id: Option<i64>) -> Option<String> {
        let id = id?;
        Some(self.groups.get(&id).cloned().unwrap_or_else(|| id.to_string()))
    }
}

/// An order's `state` and `status` as the normalized status; custom statuses fall back on
/// their state.
pub fn order_status(state: &str, status: &str) -> DocumentStatus {
    let by = |s: &str| match s {
        "complete" => Some(DocumentStatus::Completed),
        "closed" => Some(DocumentStatus::Refunded),
        "canceled" => Some(DocumentStatus::Cancelled),
        "holded" | "fraud" | "payment_review" => Some(DocumentStatus::OnHold),
        "processing" => Some(DocumentStatus::Processing),
        "new" | "pending" | "pending_payment" => Some(DocumentStatus::Pending),
        _ => None,
    };
    by(status).or_else(|| by(state)).unwrap_or(DocumentStatus::Pending)
}

/// An invoice's `state`: 1 open (issued, not yet paid), 2 paid, 3 canceled.
pub fn invoice_status(state: i64) -> (DocumentStatus, &'static str) {
    match state {
        2 => (DocumentStatus::Completed, "paid"),
        3 => (DocumentStatus::Cancelled, "canceled"),
        _ => (DocumentStatus::Processing, "open"),
    }
}

fn address(a: &Value) -> Option<Address> {
    if !a.is_object() {
        return None;
    }
    let street: Vec<String> = a["street"].as_array().into_iter().flatten().filter_map(text).collect();
    let addr = Address {
        first_name: text(&a["firstname"]),
        last_name: text(&a["lastname"]),
        company: text(&a["company"]),
        line1: street.first().cloned(),
        line2: (street.len() > 1).then(|| street[1..].join(", ")),
        city: text(&a["city"]),
        region: text(&a["region_code"])
            .or_else(|| text(&a["region"]["region_code"]))
            .or_else(|| a["region"].as_str().and_then(|r| Some(r.trim().to_string()).filter(|r| !r.is_empty()))),
        postcode: text(&a["postcode"]),
        country: text(&a["country_id"]).and_then(|c| CountryCode::parse(c.to_uppercase()).ok()),
        email: text(&a["email"]),
        phone: text(&a["telephone"]),
    };
    (addr != Address::default()).then_some(addr)
}

fn shipping_address(order: &Value) -> Option<Address> {
    let assignments = order["extension_attributes"]["shipping_assignments"].as_array()?;
    assignments.iter().find_map(|a| address(&a["shipping"]["address"]))
}

fn customer_ref(order: &Value, facts: &StoreFacts) -> Result<CustomerRef> {
    let email = text(&order["customer_email"]);
    let guest = order["customer_is_guest"].as_i64() == Some(1) || order["customer_is_guest"] == Value::Bool(true);
    match order["customer_id"].as_i64().filter(|_| !guest) {
        Some(id) => Ok(CustomerRef::Registered {
            source_id: SourceId::parse(id.to_string())?,
            email,
            group: facts.group(order["customer_group_id"].as_i64()),
        }),
        None => Ok(CustomerRef::Guest { email }),
    }
}

fn currency(v: &Value, field: &str) -> Result<CurrencyCode> {
    let code = text(&v[field]).ok_or_else(|| bad(format!("no {field}")))?;
    CurrencyCode::parse(code)
}

/// The number a document is known by (`increment_id`), else its entity id.
pub fn number(v: &Value, what: &str) -> Result<String> {
    text(&v["increment_id"])
        .or_else(|| v["entity_id"].as_i64().map(|i| i.to_string()))
        .ok_or_else(|| bad(format!("{what} without an increment_id or entity_id")))
}

/// Which field of a row names its order item, and which its quantity.
struct RowShape {
    item_id: &'static str,
    quantity: &'static str,
}

const ORDER_ROWS: RowShape = RowShape { item_id: "item_id", quantity: "qty_ordered" };
const BILLED_ROWS: RowShape = RowShape { item_id: "order_item_id", quantity: "qty" };

/// A row's net: its row total less its discount, plus the tax hidden in that discount when
/// catalogue prices include tax (`discount_tax_compensation_amount`).
fn row_net(row: &Value) -> Result<(Decimal, Decimal, Decimal)> {
    let subtotal = amount(row, "row_total")?;
    let discount = amount(row, "discount_amount")?.abs();
    let hidden = amount(row, "discount_tax_compensation_amount")?;
    let net = money::add(money::sub(subtotal, discount, "a row's net")?, hidden, "a row's net")?;
    Ok((subtotal, discount, net))
}

/// The counted rows of an order, invoice or credit memo as lines.
fn lines(
    doc: &Value,
    shape: &RowShape,
    items: &OrderItems,
    facts: &StoreFacts,
    decimals: u32,
) -> Result<Vec<SalesLine>> {
    let mut out = Vec::new();
    for row in doc["items"].as_array().into_iter().flatten() {
        let item_id = row[shape.item_id].as_i64().ok_or_else(|| bad(format!("an item without {}", shape.item_id)))?;
        let quantity = amount(row, shape.quantity)?;
        if !items.counts(item_id) || quantity.is_zero() {
            continue;
        }
        let (subtotal, discount, total) = row_net(row)?;
        let product_id =
            row["product_id"].as_i64().or_else(|| items.item(item_id).and_then(|i| i["product_id"].as_i64()));
        out.push(SalesLine {
            line_id: item_id.to_string(),
            sku: text(&row["sku"]).map(Sku::parse).transpose()?,
            name: text(&row["name"]).unwrap_or_else(|| format!("item {item_id}")),
            product_id: product_id.map(|p| SourceId::parse(p.to_string())).transpose()?,
            variant_id: None,
            category_path: product_id.and_then(|p| facts.category_paths.get(&p).cloned()).unwrap_or_default(),
            quantity,
            unit_price: amount(row, "price")?,
            subtotal,
            discount,
            total,
            taxes: split_tax(amount(row, "tax_amount")?, &items.rates(item_id), decimals)?,
        });
    }
    Ok(out)
}

/// The shipping charge (net of any shipping discount) and its tax, as one line.
fn shipping(
    doc: &Value,
    order: &Value,
    items: &OrderItems,
    lines_discount: Decimal,
    decimals: u32,
) -> Result<(Vec<ShippingLine>, Decimal)> {
    let charged = amount(doc, "shipping_amount")?;
    let tax = amount(doc, "shipping_tax_amount")?;
    // What the document discounts beyond its lines is the shipping's discount.
    let shipping_discount =
        money::sub(amount(doc, "discount_amount")?.abs(), lines_discount, "the shipping discount")?.max(Decimal::ZERO);
    let hidden = amount(doc, "shipping_discount_tax_compensation_amount")?;
    let total = money::add(money::sub(charged, shipping_discount, "the shipping net")?, hidden, "the shipping net")?;
    if charged.is_zero() && tax.is_zero() {
        return Ok((Vec::new(), shipping_discount));
    }
    let line = ShippingLine {
        line_id: "shipping".into(),
        method_id: text(&order["shipping_method"])
            .or_else(|| text(&order["extension_attributes"]["shipping_assignments"][0]["shipping"]["method"])),
        title: text(&order["shipping_description"]).unwrap_or_else(|| "Shipping".into()),
        total,
        taxes: split_tax(tax, items.shipping_rates(), decimals)?,
    };
    Ok((vec![line], shipping_discount))
}

fn base_figures(doc: &Value) -> Result<Option<BaseFigures>> {
    let Some(code) = text(&doc["base_currency_code"]) else { return Ok(None) };
    Ok(Some(BaseFigures {
        currency: CurrencyCode::parse(code)?,
        subtotal: amount(doc, "base_subtotal")?,
        shipping: amount(doc, "base_shipping_amount")?,
        tax: amount(doc, "base_tax_amount")?,
        total: amount(doc, "base_grand_total")?,
    }))
}

/// What an order, or one of its invoices, books.
struct Billed<'a> {
    doc: &'a Value,
    order: &'a Value,
    shape: &'a RowShape,
    number: String,
    order_number: Option<SourceId>,
    status: (DocumentStatus, String),
}

fn sales_document(b: Billed, facts: &StoreFacts) -> Result<SalesDocument> {
    let Billed { doc, order, shape, number, order_number, status } = b;
    let currency = currency(doc, "order_currency_code").or_else(|_| currency(order, "order_currency_code"))?;
    let decimals = currency_decimals(currency.as_str());
    let items = OrderItems::of(order)?;
    let lines = lines(doc, shape, &items, facts, decimals)?;
    let lines_discount = money::sum(lines.iter().map(|l| l.discount), "the lines' discount")?;
    let (shipping, shipping_discount) = shipping(doc, order, &items, lines_discount, decimals)?;
    let (store_scope, website) = facts.scope(doc["store_id"].as_i64().or(order["store_id"].as_i64()));
    let totals = Totals {
        subtotal: money::sum(lines.iter().map(|l| l.subtotal), "the subtotal")?,
        discount: money::add(lines_discount, shipping_discount, "the discount")?,
        shipping: money::sum(shipping.iter().map(|s| s.total), "the shipping")?,
        fees: Decimal::ZERO,
        tax: amount(doc, "tax_amount")?,
        total: amount(doc, "grand_total")?,
    };
    let payment = &order["payment"];
    Ok(SalesDocument {
        number,
        order_id: order_number,
        status: status.0,
        source_status: status.1,
        created_at: time(&doc["created_at"]).or_else(|| time(&order["created_at"])).unwrap_or_else(Utc::now),
        currency,
        prices_include_tax: false,
        customer: customer_ref(order, facts)?,
        billing_address: address(&order["billing_address"]),
        shipping_address: shipping_address(order),
        lines,
        shipping,
        fees: Vec::new(),
        coupons: text(&order["coupon_code"])
            .map(|code| Coupon { code, discount: lines_discount, discount_tax: Decimal::ZERO })
            .into_iter()
            .collect(),
        taxes: Vec::new(),
        payment_method: text(&payment["method"]).map(|code| PaymentMethod {
            code,
            title: payment["additional_information"].as_array().and_then(|a| a.first()).and_then(text),
        }),
        totals,
        store_scope,
        website,
        base_figures: base_figures(doc)?,
    })
}

/// An invoice, read with its order (for relationships, rates, customer and addresses).
pub fn invoice(inv: &Value, order: &Value, facts: &StoreFacts) -> Result<(SourceId, DateTime<Utc>, SalesDocument)> {
    let number = number(inv, "an invoice")?;
    let (status, raw) = invoice_status(inv["state"].as_i64().unwrap_or(1));
    let modified = time(&inv["updated_at"]).or_else(|| time(&inv["created_at"])).unwrap_or_else(Utc::now);
    let billed = Billed {
        doc: inv,
        order,
        shape: &BILLED_ROWS,
        number: number.clone(),
        order_number: Some(SourceId::parse(self::number(order, "an order")?)?),
        status: (status, raw.to_string()),
    };
    Ok((SourceId::parse(number)?, modified, sales_document(billed, facts)?))
}

/// An order as placed: noted in the trail (its invoices are what is booked).
pub fn order(order: &Value, facts: &StoreFacts) -> Result<(SourceId, DateTime<Utc>, SalesDocument)> {
    let number = number(order, "an order")?;
    let (state, status) = (text(&order["state"]).unwrap_or_default(), text(&order["status"]).unwrap_or_default());
    let modified = time(&order["updated_at"]).or_else(|| time(&order["created_at"])).unwrap_or_else(Utc::now);
    let billed = Billed {
        doc: order,
        order,
        shape: &ORDER_ROWS,
        number: number.clone(),
        order_number: None,
        status: (order_status(&state, &status), if status.is_empty() { state } else { status }),
    };
    Ok((SourceId::parse(number)?, modified, sales_document(billed, facts)?))
}

/// A credit memo: exactly its counted rows, its shipping, and its adjustments.
pub fn credit_memo(
    memo: &Value,
    order: &Value,
    invoice_number: Option<String>,
) -> Result<(SourceId, DateTime<Utc>, Refund)> {
    let number = number(memo, "a credit memo")?;
    let currency = currency(memo, "order_currency_code").or_else(|_| currency(order, "order_currency_code"))?;
    let decimals = currency_decimals(currency.as_str());
    let items = OrderItems::of(order)?;
    let mut refund_lines = Vec::new();
    let mut lines_discount = Decimal::ZERO;
    for line in lines(memo, &BILLED_ROWS, &items, &StoreFacts::default(), decimals)? {
        lines_discount = money::add(lines_discount, line.discount, "the memo's discount")?;
        refund_lines.push(RefundLine {
            order_line_id: line.line_id,
            sku: line.sku,
            quantity: line.quantity,
            amount: line.total,
            taxes: line.taxes,
        });
    }
    let (shipping, _) = shipping(memo, order, &items, lines_discount, decimals)?;
    let created = time(&memo["created_at"]).unwrap_or_else(Utc::now);
    let refund = Refund {
        order_id: SourceId::parse(self::number(order, "an order")?)?,
        invoice_id: invoice_number.map(SourceId::parse).transpose()?,
        created_at: created,
        currency,
        reason: memo["comments"].as_array().and_then(|c| c.first()).and_then(|c| text(&c["comment"])),
        lines: refund_lines,
        shipping: shipping.first().map(|s| s.total).unwrap_or_default(),
        shipping_line_id: shipping.first().map(|s| s.line_id.clone()),
        shipping_tax: money::sum(shipping.iter().flat_map(|s| s.taxes.iter().map(|t| t.amount)), "the shipping tax")?,
        unallocated: Decimal::ZERO,
        amount: amount(memo, "grand_total")?,
        adjustments: Adjustments {
            refund: amount(memo, "adjustment_positive")?,
            fee: amount(memo, "adjustment_negative")?,
        },
    };
    let modified = time(&memo["updated_at"]).unwrap_or(created);
    Ok((SourceId::parse(number)?, modified, refund))
}

/// A customer with its address book; the default billing and shipping addresses first.
pub fn customer(c: &Value, facts: &StoreFacts) -> Result<(SourceId, DateTime<Utc>, Customer)> {
    let id = c["id"].as_i64().filter(|&i| i > 0).ok_or_else(|| bad("a customer without a positive id"))?;
    let rows: Vec<&Value> = c["addresses"].as_array().into_iter().flatten().collect();
    let default = |flag: &str, key: &str| {
        rows.iter()
            .find(|a| a[flag] == Value::Bool(true) || (text(&a["id"]).is_some() && text(&a["id"]) == text(&c[key])))
            .and_then(|a| address(a))
    };
    let created = time(&c["created_at"]);
    Ok((
        SourceId::parse(id.to_string())?,
        time(&c["updated_at"]).or(created).unwrap_or_else(Utc::now),
        Customer {
            email: text(&c["email"]),
            first_name: text(&c["firstname"]),
            last_name: text(&c["lastname"]),
            company: rows.first().and_then(|a| text(&a["company"])),
            phone: rows.first().and_then(|a| text(&a["telephone"])),
            group: facts.group(c["group_id"].as_i64()),
            billing_address: default("default_billing", "default_billing"),
            shipping_address: default("default_shipping", "default_shipping"),
            addresses: rows.iter().filter_map(|a| address(a)).collect(),
            created_at: created,
        },
    ))
}

/// The category tree (`GET /V1/categories`) as id → (parent id, name).
pub fn categories(tree: &Value) -> HashMap<i64, (i64, String)> {
    let mut out = HashMap::new();
    let mut stack = vec![tree];
    while let Some(node) = stack.pop() {
        if let Some(id) = node["id"].as_i64() {
            out.insert(
                id,
                (node["parent_id"].as_i64().unwrap_or(0), node["name"].as_str().unwrap_or_default().to_string()),
            );
        }
        stack.extend(node["children_data"].as_array().into_iter().flatten());
    }
    out
}

/// A category's path from the store's root category down (Magento's ids 1, the tree's root,
/// and 2, the default root catalog, are left out: no rule names them).
pub fn category_path(id: i64, tree: &HashMap<i64, (i64, String)>) -> Vec<String> {
    let mut path = Vec::new();
    let mut at = id;
    while let Some((parent, name)) = tree.get(&at) {
        if *parent == 0 || *parent == 1 || path.len() > 32 {
            break; // a root catalog, or a loop
        }
        path.push(name.clone());
        at = *parent;
    }
    path.reverse();
    path
}

/// A product's deepest category path (`extension_attributes.category_links`).
pub fn product_path(product: &Value, tree: &HashMap<i64, (i64, String)>) -> Vec<String> {
    product["extension_attributes"]["category_links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| text(&l["category_id"]).and_then(|c| c.parse::<i64>().ok()))
        .map(|c| category_path(c, tree))
        .max_by_key(|p| p.len())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
