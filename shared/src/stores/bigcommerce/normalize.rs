//! BigCommerce JSON → normalized records (`api-facts.md` §2.5–2.7). Money arrives as 4-decimal
//! strings; V2 dates are RFC-2822, V3 dates RFC 3339. An order is booked in its transactional
//! currency (`default_currency_code`), never the display one. With `is_tax_inclusive_pricing`
//! the `*_inc_tax` figures are the actual ones, and the net is what is left after the tax.
//! Per-line tax comes from `/v2/orders/{id}/taxes` (`order_product_id`, `line_item_type`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::{CurrencyCode, Sku, SourceId};
use crate::money;
use crate::records::*;

fn bad(what: impl Into<String>) -> Error {
    Error::bad_input(what.into())
}

/// A money field: a string or number, bounded; missing or empty is zero.
pub fn amount(v: &Value, field: &str) -> Result<Decimal> {
    money::json_field(v, field)
}

pub fn date(v: &Value) -> Option<DateTime<Utc>> {
    let t = v.as_str()?.trim();
    DateTime::parse_from_rfc2822(t).or_else(|_| DateTime::parse_from_rfc3339(t)).ok().map(|d| d.with_timezone(&Utc))
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

fn id_of(v: &Value, what: &str) -> Result<i64> {
    v["id"].as_i64().filter(|&i| i > 0).ok_or_else(|| bad(format!("{what} without a positive id")))
}

/// Status ids (§2.5) as the normalized status. Incomplete (0) and Declined (6) never post.
pub fn status(id: i64) -> DocumentStatus {
    match id {
        0 | 1 | 7 => DocumentStatus::Pending,
        12 | 13 => DocumentStatus::OnHold,
        2 | 3 | 8 | 9 | 11 | 14 => DocumentStatus::Processing,
        10 => DocumentStatus::Completed,
        4 => DocumentStatus::Refunded,
        5 => DocumentStatus::Cancelled,
        _ => DocumentStatus::Failed,
    }
}

fn address(a: &Value) -> Option<Address> {
    let get = |k: &str| text(&a[k]);
    let addr = Address {
        first_name: get("first_name"),
        last_name: get("last_name"),
        company: get("company"),
        line1: get("street_1").or_else(|| get("address1")),
        line2: get("street_2").or_else(|| get("address2")),
        city: get("city"),
        region: get("state").or_else(|| get("state_or_province")),
        postcode: get("zip").or_else(|| get("postal_code")),
        country: get("country_iso2")
            .or_else(|| get("country_code"))
            .and_then(|c| CountryCode::parse(c.to_uppercase()).ok()),
        email: get("email"),
        phone: get("phone"),
    };
    (addr != Address::default()).then_some(addr)
}

/// One `/taxes` entry as a line's tax.
fn line_tax(t: &Value) -> Result<LineTax> {
    Ok(LineTax {
        rate_id: t["tax_rate_id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
        label: text(&t["name"]),
        rate_percent: Some(amount(t, "rate")?),
        amount: amount(t, "line_amount")?,
    })
}

/// The taxes `/taxes` lists for one line (`line_item_type`, and the product or address id).
fn taxes_for(taxes: &[Value], kind: &str, line_key: &str, line: i64) -> Result<Vec<LineTax>> {
    taxes
        .iter()
        .filter(|t| t["line_item_type"].as_str() == Some(kind) && t[line_key].as_i64() == Some(line))
        .map(line_tax)
        .collect()
}

/// What an amount pair means: the net, given ex-tax, inc-tax and tax figures.
fn net(v: &Value, ex: &str, inc: &str, tax: &str, inclusive: bool) -> Result<Decimal> {
    if inclusive { money::sub(amount(v, inc)?, amount(v, tax)?, "a tax-inclusive net") } else { amount(v, ex) }
}

/// What an order needs beyond its lines, addresses and taxes, read only when it has them.
#[derive(Debug, Default)]
pub struct Extras {
    /// `/coupons`, when the order has a coupon discount.
    pub coupons: Vec<Value>,
    /// `/fees`, when lines, shipping, handling, wrapping and tax fall short of the total.
    pub fees: Vec<Value>,
    /// Category path (root first) by product id, from the catalogue.
    pub category_paths: std::collections::HashMap<i64, Vec<String>>,
}

/// What the order's total holds beyond its lines, shipping, handling and wrapping with their
/// tax, less its discounts: fees, when it is more than a cent.
pub fn fees_gap(o: &Value, products: &[Value], shipping: &[Value]) -> Result<Decimal> {
    let inclusive = o["is_tax_inclusive_pricing"].as_bool().unwrap_or(false);
    let what = "the order's fees";
    let mut nets = Vec::new();
    for p in products {
        nets.push(net(p, "total_ex_tax", "total_inc_tax", "total_tax", inclusive)?);
    }
    for a in shipping {
        nets.push(net(a, "cost_ex_tax", "cost_inc_tax", "cost_tax", inclusive)?);
    }
    for kind in ["handling", "wrapping"] {
        let (ex, inc, tax) =
            (format!("{kind}_cost_ex_tax"), format!("{kind}_cost_inc_tax"), format!("{kind}_cost_tax"));
        nets.push(net(o, &ex, &inc, &tax, inclusive)?);
    }
    let known = money::add(money::sum(nets, what)?, amount(o, "total_tax")?, what)?;
    let discounts = money::add(amount(o, "discount_amount")?, amount(o, "coupon_discount")?, what)?;
    let gap = money::sub(amount(o, "total_inc_tax")?, money::sub(known, discounts, what)?, what)?;
    Ok(if gap > Decimal::new(1, 2) { gap } else { Decimal::ZERO })
}

/// `/v3/catalog/categories` as id → (parent id, name).
pub fn categories(tree: &[Value]) -> std::collections::HashMap<i64, (i64, String)> {
    tree.iter()
        .filter_map(|c| Some((c["id"].as_i64()?, (c["parent_id"].as_i64().unwrap_or(0), text(&c["name"])?))))
        .collect()
}

/// A catalogue product's first category as a path, root first (a loop in the tree stops it).
pub fn product_path(product: &Value, categories: &std::collections::HashMap<i64, (i64, String)>) -> Vec<String> {
    let Some(mut at) = product["categories"].as_array().and_then(|c| c.first()).and_then(Value::as_i64) else {
        return Vec::new();
    };
    let mut path = Vec::new();
    while let Some((parent, name)) = categories.get(&at) {
        if path.len() > 32 {
            break;
        }
        path.push(name.clone());
        at = *parent;
    }
    path.reverse();
    path
}

/// A shipment (`/v2/orders/{id}/shipments/{id}`): its items, with SKUs from the order's lines,
/// and its tracking. Shipments have no modified date: the creation date orders versions.
pub fn shipment(v: &Value, lines: &[Value]) -> Result<(SourceId, DateTime<Utc>, Shipment)> {
    let id = id_of(v, "a shipment")?;
    let order_id = v["order_id"].as_i64().ok_or_else(|| bad(format!("shipment {id} has no order_id")))?;
    let at = date(&v["date_created"]).ok_or_else(|| bad(format!("shipment {id}: date_created is not a date")))?;
    let mut items = Vec::new();
    for item in v["items"].as_array().into_iter().flatten() {
        let line = item["order_product_id"].as_i64();
        let sku = lines
            .iter()
            .find(|l| l["id"].as_i64() == line)
            .and_then(|l| text(&l["sku"]))
            .or_else(|| line.map(|l| format!("line {l}")))
            .ok_or_else(|| bad(format!("shipment {id}: an item without its order product")))?;
        items.push(ShipmentLine {
            order_line_id: line.map(|l| l.to_string()),
            sku: Sku::parse(sku)?,
            quantity: Decimal::from(item["quantity"].as_i64().unwrap_or(0)),
        });
    }
    let number = text(&v["tracking_number"]);
    let carrier = text(&v["shipping_provider_display_name"])
        .or_else(|| text(&v["tracking_carrier"]))
        .or_else(|| text(&v["shipping_provider"]))
        .unwrap_or_else(|| "carrier".into());
    let url = text(&v["tracking_link"])
        .or_else(|| text(&v["generated_tracking_link"]))
        .and_then(|u| url::Url::parse(&u).ok());
    let tracking = number.map(|number| Tracking { carrier, number, url }).into_iter().collect();
    let source_id = SourceId::parse(format!("{order_id}-s{id}"))?;
    Ok((
        source_id,
        at,
        Shipment { order_id: SourceId::parse(order_id.to_string())?, shipped_at: at, lines: items, tracking },
    ))
}

/// An order with its product lines, shipping addresses and taxes (each fetched on its own).
pub fn order(
    o: &Value,
    products: &[Value],
    shipping: &[Value],
    taxes: &[Value],
    extra: &Extras,
) -> Result<(SourceId, DateTime<Utc>, SalesDocument)> {
    let id = id_of(o, "an order")?;
    let source_id = SourceId::parse(id.to_string())?;
    let code = text(&o["default_currency_code"]).or_else(|| text(&o["currency_code"])).unwrap_or_default();
    let currency = CurrencyCode::parse(code.to_uppercase()).map_err(|e| e.context(format!("order {id}")))?;
    let created = date(&o["date_created"]).ok_or_else(|| bad(format!("order {id}: date_created is not a date")))?;
    let modified = date(&o["date_modified"]).unwrap_or(created);
    let inclusive = o["is_tax_inclusive_pricing"].as_bool().unwrap_or(false);
    let mut lines = Vec::new();
    for p in products {
        let line = id_of(p, "an order product")?;
        let total = net(p, "total_ex_tax", "total_inc_tax", "total_tax", inclusive)?;
        // A bundle's children priced at zero are in the parent's price: not counted twice.
        if !p["parent_order_product_id"].is_null() && total.is_zero() {
            continue;
        }
        let quantity = Decimal::from(p["quantity"].as_i64().unwrap_or(0));
        let discount = money::sum(
            p["applied_discounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| amount(d, "amount"))
                .collect::<Result<Vec<_>>>()?,
            "a line's discounts",
        )?;
        let subtotal = money::add(total, discount, "a line's subtotal")?;
        lines.push(SalesLine {
            line_id: line.to_string(),
            sku: text(&p["sku"]).map(Sku::parse).transpose()?,
            name: text(&p["name"]).unwrap_or_else(|| format!("line {line}")),
            product_id: p["product_id"]
                .as_i64()
                .filter(|&i| i > 0)
                .map(|i| SourceId::parse(i.to_string()))
                .transpose()?,
            variant_id: p["variant_id"]
                .as_i64()
                .filter(|&i| i > 0)
                .map(|i| SourceId::parse(i.to_string()))
                .transpose()?,
            category_path: p["product_id"]
                .as_i64()
                .and_then(|id| extra.category_paths.get(&id))
                .cloned()
                .unwrap_or_default(),
            quantity,
            unit_price: if quantity.is_zero() {
                Decimal::ZERO
            } else {
                money::div(subtotal, quantity, "a line's unit price")?
            },
            subtotal,
            discount,
            total,
            taxes: taxes_for(taxes, "item", "order_product_id", line)?,
        });
    }
    let mut shipping_lines = Vec::new();
    for a in shipping {
        let line = id_of(a, "a shipping address")?;
        let total = net(a, "cost_ex_tax", "cost_inc_tax", "cost_tax", inclusive)?;
        if total.is_zero() && amount(a, "cost_tax")?.is_zero() {
            continue;
        }
        shipping_lines.push(ShippingLine {
            line_id: line.to_string(),
            method_id: text(&a["shipping_method"]),
            title: text(&a["shipping_method"]).unwrap_or_else(|| "Shipping".into()),
            total,
            taxes: taxes_for(taxes, "shipping", "order_address_id", line)?,
        });
    }
    let mut fees = Vec::new();
    for (kind, label) in [("handling", "Handling"), ("wrapping", "Gift wrapping")] {
        let total = net(
            o,
            &format!("{kind}_cost_ex_tax"),
            &format!("{kind}_cost_inc_tax"),
            &format!("{kind}_cost_tax"),
            inclusive,
        )?;
        if !total.is_zero() {
            let item = if kind == "wrapping" { "gift_wrapping" } else { kind };
            let taxes = taxes
                .iter()
                .filter(|t| t["line_item_type"].as_str() == Some(item))
                .map(line_tax)
                .collect::<Result<Vec<_>>>()?;
            fees.push(FeeLine { line_id: kind.to_string(), name: label.into(), total, taxes });
        }
    }
    for f in &extra.fees {
        let fee = id_of(f, "a fee")?;
        let total = net(f, "cost_ex_tax", "cost_inc_tax", "cost_tax", inclusive)?;
        let taxes = taxes_for(taxes, "fee", "order_fee_id", fee)?;
        let allocated = money::sum(taxes.iter().map(|t| t.amount), "a fee's tax")?;
        if (allocated - amount(f, "cost_tax")?).abs() > Decimal::new(1, 2) {
            return Err(bad(format!("order {id}: fee {fee}'s tax is not allocated in /taxes")));
        }
        let name =
            text(&f["display_name_merchant"]).or_else(|| text(&f["display_name"])).unwrap_or_else(|| "Fee".into());
        fees.push(FeeLine { line_id: format!("fee-{fee}"), name, total, taxes });
    }
    let coupons = extra
        .coupons
        .iter()
        .map(|c| {
            Ok(Coupon {
                code: text(&c["code"]).unwrap_or_default(),
                discount: amount(c, "discount")?,
                discount_tax: Decimal::ZERO,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let total = amount(o, "total_inc_tax")?;
    let tax = amount(o, "total_tax")?;
    // Reconcile: lines, shipping and fees with their tax must come to the order's total.
    let what = "the order's gross";
    let nets =
        lines.iter().map(|l| l.total).chain(shipping_lines.iter().map(|s| s.total)).chain(fees.iter().map(|f| f.total));
    let gross = money::add(money::sum(nets, what)?, tax, what)?;
    let discounts = money::add(amount(o, "discount_amount")?, amount(o, "coupon_discount")?, what)?;
    if money::sub(money::sub(gross, discounts, what)?, total, what)?.abs()
        > Decimal::new(1, 2) * Decimal::from(1 + lines.len() as i64)
    {
        return Err(bad(format!(
            "order {id}: lines, shipping and fees come to {gross} with tax, but the order total is {total}"
        )));
    }
    let fee_total = money::sum(fees.iter().map(|f| f.total), "the order's fees")?;
    let billing = address(&o["billing_address"]);
    let email = billing.as_ref().and_then(|b| b.email.clone());
    let customer = match o["customer_id"].as_i64().unwrap_or(0) {
        c if c > 0 => CustomerRef::Registered { source_id: SourceId::parse(c.to_string())?, email, group: None },
        _ => CustomerRef::Guest { email },
    };
    let status_id = o["status_id"].as_i64().unwrap_or(0);
    // Archived (deleted) orders never post.
    let archived = o["is_deleted"].as_bool() == Some(true);
    let doc_status = if archived { DocumentStatus::Failed } else { status(status_id) };
    let doc = SalesDocument {
        number: id.to_string(),
        order_id: None,
        status: doc_status,
        // An archived order says so (a connection may map "Archived" to credit in its rules).
        source_status: if archived {
            "Archived".to_string()
        } else {
            text(&o["status"]).unwrap_or_else(|| format!("status {status_id}"))
        },
        created_at: created,
        currency,
        prices_include_tax: inclusive,
        customer,
        billing_address: billing,
        shipping_address: shipping.first().and_then(address),
        lines,
        shipping: shipping_lines,
        fees,
        coupons,
        taxes: Vec::new(),
        payment_method: text(&o["payment_method"]).map(|code| PaymentMethod { code, title: None }),
        totals: Totals {
            subtotal: net(o, "subtotal_ex_tax", "subtotal_inc_tax", "subtotal_tax", inclusive)?,
            discount: discounts,
            shipping: net(o, "shipping_cost_ex_tax", "shipping_cost_inc_tax", "shipping_cost_tax", inclusive)?,
            fees: fee_total,
            tax,
            total,
        },
        store_scope: o["channel_id"].as_i64().map(|c| format!("channel {c}")),
        website: None,
        base_figures: None,
    };
    Ok((source_id, modified, doc))
}

/// A V3 refund, its items made into lines with the order's own figures: a product line refunds
/// its share of the line's net and tax; shipping its amount split as the shipping was taxed.
pub fn refund(r: &Value, order: &SalesDocument) -> Result<(SourceId, DateTime<Utc>, Refund)> {
    let id = id_of(r, "a refund")?;
    let order_id = r["order_id"].as_i64().ok_or_else(|| bad(format!("refund {id} has no order_id")))?;
    let created = date(&r["created"]).ok_or_else(|| bad(format!("refund {id}: created is not a date")))?;
    let mut lines = Vec::new();
    let (mut shipping, mut shipping_tax, mut unallocated) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut shipping_line_id = None;
    for item in r["items"].as_array().into_iter().flatten() {
        let item_id = item["item_id"].as_i64().map(|i| i.to_string()).unwrap_or_default();
        match item["item_type"].as_str().unwrap_or_default() {
            "PRODUCT" => {
                let line = order
                    .lines
                    .iter()
                    .find(|l| l.line_id == item_id)
                    .ok_or_else(|| bad(format!("refund {id}: order {order_id} has no product line {item_id}")))?;
                let quantity = Decimal::from(item["quantity"].as_i64().unwrap_or(0));
                if line.quantity.is_zero() || quantity.is_zero() {
                    continue;
                }
                let share = |v: Decimal| {
                    money::div(money::mul(v, quantity, "a refunded share")?, line.quantity, "a refunded share")
                };
                let taxes = line
                    .taxes
                    .iter()
                    .map(|t| Ok(LineTax { amount: -share(t.amount)?.round_dp(2), ..t.clone() }))
                    .collect::<Result<Vec<_>>>()?;
                lines.push(RefundLine {
                    order_line_id: item_id,
                    sku: line.sku.clone(),
                    quantity: -quantity,
                    amount: -share(line.total)?.round_dp(2),
                    taxes,
                });
            }
            "SHIPPING" => {
                let line = order.shipping.iter().find(|s| s.line_id == item_id);
                let requested = amount(item, "requested_amount")?;
                let (net, tax) = match line {
                    Some(s) => {
                        let line_tax = money::sum(s.taxes.iter().map(|t| t.amount), "shipping tax")?;
                        let gross = money::add(s.total, line_tax, "shipping gross")?;
                        let tax = if gross.is_zero() {
                            Decimal::ZERO
                        } else {
                            money::div(money::mul(requested, line_tax, "shipping tax")?, gross, "shipping tax")?
                                .round_dp(2)
                        };
                        (money::sub(requested, tax, "shipping net")?, tax)
                    }
                    None => (requested, Decimal::ZERO),
                };
                shipping = money::sub(shipping, net, "refunded shipping")?;
                shipping_tax = money::sub(shipping_tax, tax, "refunded shipping tax")?;
                shipping_line_id = Some(item_id);
            }
            _ => unallocated = money::sub(unallocated, amount(item, "requested_amount")?, "an unallocated refund")?,
        }
    }
    let refund = Refund {
        order_id: SourceId::parse(order_id.to_string())?,
        invoice_id: None,
        created_at: created,
        currency: order.currency.clone(),
        reason: text(&r["reason"]),
        lines,
        shipping,
        shipping_line_id,
        shipping_tax,
        unallocated,
        amount: amount(r, "total_amount")?,
        adjustments: Default::default(),
    };
    Ok((SourceId::parse(format!("{order_id}-r{id}"))?, created, refund))
}

/// A V3 customer (`include=addresses`).
pub fn customer(c: &Value) -> Result<(SourceId, DateTime<Utc>, Customer)> {
    let id = id_of(c, "a customer")?;
    let created = date(&c["date_created"]);
    let modified = date(&c["date_modified"]).or(created).unwrap_or_else(Utc::now);
    let addresses: Vec<Address> = c["addresses"].as_array().into_iter().flatten().filter_map(address).collect();
    Ok((
        SourceId::parse(id.to_string())?,
        modified,
        Customer {
            email: text(&c["email"]),
            first_name: text(&c["first_name"]),
            last_name: text(&c["last_name"]),
            company: text(&c["company"]),
            phone: text(&c["phone"]),
            group: c["customer_group_id"].as_i64().filter(|&g| g > 0).map(|g| g.to_string()),
            billing_address: addresses.first().cloned(),
            shipping_address: addresses.get(1).cloned(),
            addresses,
            created_at: created,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_product_path_walks_up_to_the_root_and_survives_a_loop() {
        let tree = categories(&[
            json!({ "id": 1, "parent_id": 0, "name": "Shop" }),
            json!({ "id": 2, "parent_id": 1, "name": "Books" }),
            json!({ "id": 3, "parent_id": 4, "name": "A" }),
            json!({ "id": 4, "parent_id": 3, "name": "B" }),
        ]);
        assert_eq!(product_path(&json!({ "categories": [2, 1] }), &tree), ["Shop", "Books"]);
        assert!(product_path(&json!({ "categories": [] }), &tree).is_empty());
        assert!(product_path(&json!({ "categories": [3] }), &tree).len() <= 34, "a loop ends");
    }

    #[test]
    fn a_shipment_names_its_items_by_sku_and_its_tracking() {
        let lines = [json!({ "id": 11, "sku": "MUG-1" })];
        let shipped = json!({
            "id": 5, "order_id": 900, "date_created": "Tue, 05 Mar 2019 21:40:11 +0000", "tracking_number": "1Z9",
            "shipping_provider_display_name": "UPS", "generated_tracking_link": "https://track.example/1Z9",
            "items": [ { "order_product_id": 11, "product_id": 3, "quantity": 2 } ]
        });
        let (id, _, s) = shipment_fn(&shipped, &lines);
        assert_eq!(id.as_str(), "900-s5");
        assert_eq!((s.lines[0].sku.as_str(), s.lines[0].quantity), ("MUG-1", Decimal::from(2)));
        assert_eq!((s.tracking[0].carrier.as_str(), s.tracking[0].number.as_str()), ("UPS", "1Z9"));
        let untracked =
            json!({ "id": 6, "order_id": 900, "date_created": "Tue, 05 Mar 2019 21:40:11 +0000", "items": [] });
        assert!(shipment_fn(&untracked, &lines).2.tracking.is_empty());
        assert!(shipment(&json!({ "id": 7, "order_id": 900, "date_created": "yesterday" }), &lines).is_err());
    }

    fn shipment_fn(v: &Value, lines: &[Value]) -> (SourceId, DateTime<Utc>, Shipment) {
        shipment(v, lines).unwrap()
    }

    #[test]
    fn a_bundles_zero_priced_children_are_not_counted_twice() {
        let order = json!({
            "id": 9, "default_currency_code": "EUR", "date_created": "Tue, 05 Mar 2019 21:40:11 +0000",
            "is_tax_inclusive_pricing": false, "total_inc_tax": "24.0000", "total_tax": "4.0000", "status_id": 11
        });
        let line = |id: i64, parent: Value, total: &str| {
            json!({ "id": id, "sku": format!("S{id}"), "quantity": 1, "total_ex_tax": total, "total_inc_tax": total,
                    "total_tax": "0", "parent_order_product_id": parent, "applied_discounts": [] })
        };
        let products = [line(1, Value::Null, "20.0000"), line(2, json!(1), "0.0000"), line(3, json!(1), "0.0000")];
        let (_, _, doc) = order_fn(&order, &products);
        assert_eq!(doc.lines.len(), 1, "the bundle, not its parts");
        assert_eq!(doc.totals.total, Decimal::new(24, 0));
        // A child priced on its own is a line of its own.
        let products = [line(1, Value::Null, "10.0000"), line(2, json!(1), "10.0000")];
        assert_eq!(order_fn(&order, &products).2.lines.len(), 2);
    }

    fn order_fn(o: &Value, products: &[Value]) -> (SourceId, DateTime<Utc>, SalesDocument) {
        order(o, products, &[], &[], &Extras::default()).unwrap()
    }

    #[test]
    fn a_fee_gap_is_what_the_total_holds_beyond_the_known_parts() {
        let order = json!({
            "is_tax_inclusive_pricing": false, "total_inc_tax": "37.5000", "total_tax": "5.0000",
            "handling_cost_ex_tax": "0.0000", "wrapping_cost_ex_tax": "0.0000", "discount_amount": "0", "coupon_discount": "0"
        });
        let products = [json!({ "total_ex_tax": "20.0000" })];
        let shipping = [json!({ "cost_ex_tax": "5.0000" })];
        assert_eq!(fees_gap(&order, &products, &shipping).unwrap(), Decimal::new(75, 1));
        let mut exact = order.clone();
        exact["total_inc_tax"] = "30.0000".into();
        assert_eq!(fees_gap(&exact, &products, &shipping).unwrap(), Decimal::ZERO);
    }
}
