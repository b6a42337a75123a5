//! Documents as Commerce shapes them: an order with parent and child items (a configurable's
//! parent carries the price and its child is zero; a dynamic bundle's children carry theirs and
//! the parent repeats their sum), its invoice repeating every item, and credit memos of some of
//! its rows with adjustments. Amounts are JSON numbers; times `YYYY-MM-DD HH:MM:SS` UTC.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

/// One line as the shopper bought it.
#[derive(Debug, Clone)]
pub enum Item {
    Simple {
        sku: String,
        price: Decimal,
        qty: u32,
        category: i64,
    },
    /// A configurable product: its parent, and the chosen simple child.
    Configurable {
        sku: String,
        child_sku: String,
        price: Decimal,
        category: i64,
    },
    /// A dynamic bundle of simple children, each with its price.
    Bundle {
        sku: String,
        children: Vec<(String, Decimal)>,
        category: i64,
    },
}

impl Item {
    pub fn simple(sku: &str, price: Decimal, qty: u32, category: i64) -> Item {
        Item::Simple { sku: sku.into(), price, qty, category }
    }
}

/// An order to place.
#[derive(Debug, Clone)]
pub struct OrderSpec {
    pub entity_id: i64,
    /// `None`: a guest.
    pub customer_id: Option<i64>,
    pub group_id: i64,
    pub store_id: i64,
    pub at: DateTime<Utc>,
    pub items: Vec<Item>,
    pub shipping: Decimal,
    pub tax_percent: Decimal,
    pub currency: String,
    pub base_currency: String,
    /// Base currency units per order currency unit.
    pub base_rate: Decimal,
}

impl OrderSpec {
    pub fn new(entity_id: i64, customer_id: Option<i64>, at: DateTime<Utc>, items: Vec<Item>) -> OrderSpec {
        OrderSpec {
            entity_id,
            customer_id,
            group_id: if customer_id.is_some() { 1 } else { 0 },
            store_id: 1,
            at,
            items,
            shipping: Decimal::new(10, 0),
            tax_percent: Decimal::new(19, 0),
            currency: "EUR".into(),
            base_currency: "EUR".into(),
            base_rate: Decimal::ONE,
        }
    }
}

pub fn num(d: Decimal) -> Value {
    json!(d.round_dp(4).to_f64().unwrap_or_default())
}

pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn order_number(entity: i64) -> String {
    format!("{:09}", 100_000_000 + entity)
}

pub fn invoice_number(entity: i64) -> String {
    format!("{:09}", 200_000_000 + entity)
}

pub fn memo_number(entity: i64) -> String {
    format!("{:09}", 300_000_000 + entity)
}

fn d(v: &Value) -> Decimal {
    v.as_f64().and_then(Decimal::from_f64_retain).map(|x| x.round_dp(4)).unwrap_or_default()
}

/// One item row; `priced`: whether its money counts (a configurable child or a bundle parent
/// only repeats).
struct Row {
    id: i64,
    parent: Option<i64>,
    kind: &'static str,
    sku: String,
    price: Decimal,
    qty: Decimal,
    tax: Decimal,
    priced: bool,
    category: i64,
}

fn rows(spec: &OrderSpec) -> Vec<Row> {
    let tax = |amount: Decimal| (amount * spec.tax_percent / Decimal::ONE_HUNDRED).round_dp(2);
    let mut out = Vec::new();
    let mut next = spec.entity_id * 100;
    let mut id = || {
        next += 1;
        next
    };
    for item in &spec.items {
        match item {
            Item::Simple { sku, price, qty, category } => {
                let q = Decimal::from(*qty);
                out.push(Row {
                    id: id(),
                    parent: None,
                    kind: "simple",
                    sku: sku.clone(),
                    price: *price,
                    qty: q,
                    tax: tax(price * q),
                    priced: true,
                    category: *category,
                });
            }
            Item::Configurable { sku, child_sku, price, category } => {
                let parent = id();
                out.push(Row {
                    id: parent,
                    parent: None,
                    kind: "configurable",
                    sku: child_sku.clone(),
                    price: *price,
                    qty: Decimal::ONE,
                    tax: tax(*price),
                    priced: true,
                    category: *category,
                });
                let _ = sku;
                out.push(Row {
                    id: id(),
                    parent: Some(parent),
                    kind: "simple",
                    sku: child_sku.clone(),
                    price: Decimal::ZERO,
                    qty: Decimal::ONE,
                    tax: Decimal::ZERO,
                    priced: false,
                    category: *category,
                });
            }
            Item::Bundle { sku, children, category } => {
                let parent = id();
                let sum: Decimal = children.iter().map(|(_, p)| *p).sum();
                let taxes: Decimal = children.iter().map(|(_, p)| tax(*p)).sum();
                out.push(Row {
                    id: parent,
                    parent: None,
                    kind: "bundle",
                    sku: sku.clone(),
                    price: sum,
                    qty: Decimal::ONE,
                    tax: taxes,
                    priced: false,
                    category: *category,
                });
                for (child, price) in children {
                    out.push(Row {
                        id: id(),
                        parent: Some(parent),
                        kind: "simple",
                        sku: child.clone(),
                        price: *price,
                        qty: Decimal::ONE,
                        tax: tax(*price),
                        priced: true,
                        category: *category,
                    });
                }
            }
        }
    }
    out
}

/// The order JSON, and the products its items need (sku, category) for the catalogue.
pub fn order(spec: &OrderSpec, product_id: &mut dyn FnMut(&str, i64) -> i64) -> Value {
    let rows = rows(spec);
    let shipping_tax = (spec.shipping * spec.tax_percent / Decimal::ONE_HUNDRED).round_dp(2);
    let subtotal: Decimal = rows.iter().filter(|r| r.priced).map(|r| r.price * r.qty).sum();
    let tax: Decimal = rows.iter().filter(|r| r.priced).map(|r| r.tax).sum::<Decimal>() + shipping_tax;
    let grand = subtotal + spec.shipping + tax;
    let base = |x: Decimal| num((x * spec.base_rate).round_dp(2));
    let rate = json!({ "code": "DE-19", "title": "MwSt 19%", "percent": num(spec.tax_percent) });
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let row_total = r.price * r.qty;
            let mut item = json!({
                "item_id": r.id, "order_id": spec.entity_id, "product_id": product_id(&r.sku, r.category), "product_type": r.kind,
                "sku": r.sku, "name": format!("Item {}", r.sku), "qty_ordered": num(r.qty), "price": num(r.price),
                "base_price": base(r.price), "tax_percent": num(if r.tax.is_zero() { Decimal::ZERO } else { spec.tax_percent }),
                "tax_amount": num(r.tax), "discount_amount": 0, "price_incl_tax": num(r.price + r.tax),
            });
            // A bundle parent shows its price but no row total; a configurable child is zero.
            if r.kind != "bundle" {
                item["row_total"] = num(row_total);
                item["row_total_incl_tax"] = num(row_total + r.tax);
            }
            if let Some(p) = r.parent {
                item["parent_item_id"] = json!(p);
            }
            item
        })
        .collect();
    let mut applied: Vec<Value> = rows
        .iter()
        .filter(|r| r.priced && !r.tax.is_zero())
        .map(|r| {
            let mut t = rate.clone();
            t["amount"] = num(r.tax);
            json!({ "type": "product", "item_id": r.id, "applied_taxes": [t] })
        })
        .collect();
    let mut shipping_rate = rate.clone();
    shipping_rate["amount"] = num(shipping_tax);
    applied.push(json!({ "type": "shipping", "item_id": null, "applied_taxes": [shipping_rate] }));
    let address = json!({ "firstname": "Jane", "lastname": "Doe", "street": ["Domkloster 4"], "city": "Köln", "postcode": "50667", "country_id": "DE", "region_code": "NRW", "telephone": "0221 123", "email": "jane@example.com" });
    json!({
        "entity_id": spec.entity_id, "increment_id": order_number(spec.entity_id), "state": "new", "status": "pending",
        "created_at": time(spec.at), "updated_at": time(spec.at), "store_id": spec.store_id,
        "customer_id": spec.customer_id, "customer_is_guest": if spec.customer_id.is_some() { 0 } else { 1 },
        "customer_group_id": spec.group_id, "customer_email": "jane@example.com", "customer_firstname": "Jane", "customer_lastname": "Doe",
        "order_currency_code": spec.currency, "base_currency_code": spec.base_currency, "global_currency_code": spec.base_currency, "store_currency_code": spec.base_currency,
        "subtotal": num(subtotal), "base_subtotal": base(subtotal), "shipping_amount": num(spec.shipping), "base_shipping_amount": base(spec.shipping),
        "shipping_tax_amount": num(shipping_tax), "shipping_incl_tax": num(spec.shipping + shipping_tax), "tax_amount": num(tax), "base_tax_amount": base(tax),
        "discount_amount": 0, "grand_total": num(grand), "base_grand_total": base(grand),
        "shipping_description": "Flat Rate - Fixed", "shipping_method": "flatrate_flatrate",
        "billing_address": address,
        "payment": { "method": "checkmo", "additional_information": ["Check / Money order"] },
        "items": items,
        "extension_attributes": {
            "shipping_assignments": [ { "shipping": { "address": address, "method": "flatrate_flatrate" } } ],
            "applied_taxes": [ { "code": "DE-19", "title": "MwSt 19%", "percent": num(spec.tax_percent), "amount": num(tax) } ],
            "item_applied_taxes": applied
        }
    })
}

/// A full invoice of `order`: every item repeated, the order's totals.
pub fn invoice(order: &Value, entity: i64, at: DateTime<Utc>, paid: bool) -> Value {
    let items: Vec<Value> = order["items"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(n, i)| {
            let mut row = json!({
                "entity_id": entity * 100 + n as i64, "parent_id": entity, "order_item_id": i["item_id"], "product_id": i["product_id"],
                "sku": i["sku"], "name": i["name"], "qty": i["qty_ordered"], "price": i["price"], "base_price": i["base_price"],
                "tax_amount": i["tax_amount"], "discount_amount": 0,
            });
            if !i["row_total"].is_null() {
                row["row_total"] = i["row_total"].clone();
            }
            row
        })
        .collect();
    let mut inv = json!({
        "entity_id": entity, "increment_id": invoice_number(entity), "order_id": order["entity_id"], "state": if paid { 2 } else { 1 },
        "store_id": order["store_id"], "created_at": time(at), "updated_at": time(at), "items": items,
    });
    for key in [
        "order_currency_code",
        "base_currency_code",
        "subtotal",
        "base_subtotal",
        "shipping_amount",
        "base_shipping_amount",
        "shipping_tax_amount",
        "shipping_incl_tax",
        "tax_amount",
        "base_tax_amount",
        "discount_amount",
        "grand_total",
        "base_grand_total",
    ] {
        inv[key] = order[key].clone();
    }
    inv
}

/// What a credit memo refunds: rows by order item id and quantity, the shipping or not, and
/// its adjustments.
#[derive(Debug, Clone, Default)]
pub struct MemoSpec {
    pub rows: Vec<(i64, u32)>,
    pub shipping: bool,
    pub adjustment_positive: Decimal,
    pub adjustment_negative: Decimal,
}

/// A credit memo of `invoice`'s order; a bundle child's parent row comes along, as in Commerce.
pub fn credit_memo(order: &Value, invoice: &Value, entity: i64, spec: &MemoSpec, at: DateTime<Utc>) -> Value {
    let find =
        |id: i64| order["items"].as_array().into_iter().flatten().find(|i| i["item_id"].as_i64() == Some(id)).cloned();
    let mut items = Vec::new();
    let (mut subtotal, mut tax) = (Decimal::ZERO, Decimal::ZERO);
    for (id, qty) in &spec.rows {
        let Some(item) = find(*id) else { continue };
        if let Some(parent) = item["parent_item_id"].as_i64().and_then(find) {
            items.push(json!({ "order_item_id": parent["item_id"], "sku": parent["sku"], "qty": *qty, "price": parent["price"] }));
        }
        let q = Decimal::from(*qty);
        let ordered = d(&item["qty_ordered"]);
        let row = d(&item["price"]) * q;
        let row_tax =
            if ordered.is_zero() { Decimal::ZERO } else { (d(&item["tax_amount"]) * q / ordered).round_dp(2) };
        subtotal += row;
        tax += row_tax;
        items.push(json!({ "order_item_id": id, "product_id": item["product_id"], "sku": item["sku"], "name": item["name"], "qty": *qty, "price": item["price"], "row_total": num(row), "tax_amount": num(row_tax), "discount_amount": 0 }));
    }
    let (shipping, shipping_tax) = if spec.shipping {
        (d(&order["shipping_amount"]), d(&order["shipping_tax_amount"]))
    } else {
        (Decimal::ZERO, Decimal::ZERO)
    };
    tax += shipping_tax;
    let grand = subtotal + shipping + tax + spec.adjustment_positive - spec.adjustment_negative;
    json!({
        "entity_id": entity, "increment_id": memo_number(entity), "order_id": order["entity_id"], "invoice_id": invoice["entity_id"],
        "store_id": order["store_id"], "created_at": time(at), "updated_at": time(at), "order_currency_code": order["order_currency_code"],
        "base_currency_code": order["base_currency_code"], "subtotal": num(subtotal), "shipping_amount": num(shipping),
        "shipping_tax_amount": num(shipping_tax), "tax_amount": num(tax), "discount_amount": 0,
        "adjustment_positive": num(spec.adjustment_positive), "adjustment_negative": num(spec.adjustment_negative),
        "adjustment": num(spec.adjustment_positive - spec.adjustment_negative), "grand_total": num(grand), "state": 2, "items": items,
    })
}
