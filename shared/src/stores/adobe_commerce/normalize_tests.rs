use super::*;
use rust_decimal_macros::dec;
use serde_json::json;

/// An order in EUR on a USD base with a configurable, a dynamic bundle and a simple item taxed
/// at two rates, shipped with tax.
fn order_json() -> Value {
    json!({
        "entity_id": 7, "increment_id": "000000123", "state": "processing", "status": "processing",
        "created_at": "2026-11-30 09:00:00", "updated_at": "2026-11-30 09:05:00",
        "order_currency_code": "EUR", "base_currency_code": "USD", "store_id": 2,
        "customer_id": 42, "customer_group_id": 3, "customer_email": "jane@example.com", "customer_is_guest": 0,
        "grand_total": 176.25, "subtotal": 150, "tax_amount": 26.25, "shipping_amount": 10, "shipping_tax_amount": 1.9,
        "discount_amount": -10, "shipping_description": "Flat Rate - Fixed", "shipping_method": "flatrate_flatrate",
        "billing_address": { "firstname": "Jane", "lastname": "Doe", "street": ["Domkloster 4", "Hinterhaus"], "city": "Köln", "postcode": "50667", "country_id": "DE", "region_code": "NRW", "telephone": "0221" },
        "payment": { "method": "checkmo", "additional_information": ["Check / Money order"] },
        "items": [
            { "item_id": 10, "product_id": 67, "product_type": "configurable", "sku": "MH01-S-Gray", "row_total": 52, "qty_ordered": 1, "price": 52, "tax_amount": 9.88 },
            { "item_id": 11, "product_id": 56, "product_type": "simple", "parent_item_id": 10, "sku": "MH01-S-Gray", "row_total": 0, "qty_ordered": 1, "price": 0 },
            { "item_id": 5, "product_id": 51, "product_type": "bundle", "sku": "KIT", "row_total": 68, "qty_ordered": 1, "price": 68 },
            { "item_id": 6, "product_id": 29, "product_type": "simple", "parent_item_id": 5, "sku": "BALL", "row_total": 27, "qty_ordered": 1, "price": 27, "tax_amount": 5.13 },
            { "item_id": 8, "product_id": 34, "product_type": "simple", "parent_item_id": 5, "sku": "STRAP", "row_total": 41, "qty_ordered": 1, "price": 41, "tax_amount": 7.79 },
            { "item_id": 3, "product_id": 21, "product_type": "simple", "sku": "BRICK", "row_total": 30, "qty_ordered": 2, "price": 15, "tax_amount": 1.55, "discount_amount": 10 }
        ],
        "extension_attributes": {
            "shipping_assignments": [ { "shipping": { "address": { "firstname": "Jane", "lastname": "Doe", "street": ["Main St 1"], "city": "Bonn", "postcode": "53111", "country_id": "DE", "region_code": "NRW" } } } ],
            "item_applied_taxes": [
                { "type": "product", "item_id": 10, "applied_taxes": [ { "code": "DE-19", "title": "MwSt 19%", "percent": 19, "amount": 9.88 } ] },
                { "type": "product", "item_id": 6, "applied_taxes": [ { "code": "DE-19", "percent": 19, "amount": 5.13 } ] },
                { "type": "product", "item_id": 8, "applied_taxes": [ { "code": "DE-19", "percent": 19, "amount": 7.79 } ] },
                { "type": "product", "item_id": 3, "applied_taxes": [ { "code": "DE-7", "percent": 7, "amount": 1.4 }, { "code": "CITY-1", "percent": 1, "amount": 0.2 } ] },
                { "type": "shipping", "applied_taxes": [ { "code": "DE-19", "percent": 19, "amount": 1.9 } ] }
            ]
        }
    })
}

/// The order's invoice, as Commerce repeats its items: both sides of each parent.
fn invoice_json() -> Value {
    json!({
        "entity_id": 31, "increment_id": "000000045", "order_id": 7, "state": 2, "store_id": 2,
        "created_at": "2026-11-30 09:10:00", "updated_at": "2026-11-30 09:10:01",
        "order_currency_code": "EUR", "base_currency_code": "USD", "base_grand_total": 190.35, "base_subtotal": 162, "base_tax_amount": 28.35, "base_shipping_amount": 10.8,
        "grand_total": 176.25, "subtotal": 150, "tax_amount": 26.25, "shipping_amount": 10, "shipping_tax_amount": 1.9, "discount_amount": -10,
        "items": [
            { "order_item_id": 10, "product_id": 67, "sku": "MH01-S-Gray", "name": "Hoodie", "qty": 1, "price": 52, "row_total": 52, "tax_amount": 9.88 },
            { "order_item_id": 11, "product_id": 56, "sku": "MH01-S-Gray", "name": "Hoodie-S-Gray", "qty": 1, "price": 0 },
            { "order_item_id": 5, "product_id": 51, "sku": "KIT", "name": "Kit", "qty": 1, "price": 68 },
            { "order_item_id": 6, "product_id": 29, "sku": "BALL", "name": "Ball", "qty": 1, "price": 27, "row_total": 27, "tax_amount": 5.13 },
            { "order_item_id": 8, "product_id": 34, "sku": "STRAP", "name": "Strap", "qty": 1, "price": 41, "row_total": 41, "tax_amount": 7.79 },
            { "order_item_id": 3, "product_id": 21, "sku": "BRICK", "name": "Brick", "qty": 2, "price": 15, "row_total": 30, "tax_amount": 1.55, "discount_amount": 10 }
        ]
    })
}

fn facts() -> StoreFacts {
    StoreFacts {
        category_paths: HashMap::from([(67, vec!["Men".into(), "Hoodies".into()]), (21, vec!["Gear".into()])]),
        store_views: HashMap::from([(2, ("de".into(), 1))]),
        websites: HashMap::from([(1, "base".into())]),
        groups: HashMap::from([(3, "Retailer".into())]),
    }
}

#[test]
fn an_invoice_counts_each_parent_or_its_children_once_and_adds_up_to_its_total() {
    let (id, at, doc) = invoice(&invoice_json(), &order_json(), &facts()).unwrap();
    assert_eq!((id.as_str(), doc.order_id.as_ref().unwrap().as_str()), ("000000045", "000000123"));
    assert_eq!(at, time(&json!("2026-11-30 09:10:01")).unwrap());
    let ids: Vec<&str> = doc.lines.iter().map(|l| l.line_id.as_str()).collect();
    assert_eq!(ids, ["10", "6", "8", "3"], "the hoodie's parent, the kit's children, the brick");
    assert_eq!(doc.lines[0].category_path, ["Men", "Hoodies"]);
    let brick = &doc.lines[3];
    assert_eq!((brick.subtotal, brick.discount, brick.total), (dec!(30), dec!(10), dec!(20)));
    assert_eq!(
        brick.taxes.iter().map(|t| (t.rate_id.as_str(), t.amount)).collect::<Vec<_>>(),
        [("DE-7", dec!(1.36)), ("CITY-1", dec!(0.19))]
    );
    let ship = &doc.shipping[0];
    assert_eq!(
        (ship.total, ship.taxes[0].amount, ship.method_id.as_deref()),
        (dec!(10), dec!(1.9), Some("flatrate_flatrate"))
    );
    let lines: Decimal = doc.lines.iter().map(|l| l.total).sum();
    let tax: Decimal = doc.lines.iter().chain([]).flat_map(|l| &l.taxes).map(|t| t.amount).sum::<Decimal>() + dec!(1.9);
    assert_eq!(lines + ship.total + tax, doc.totals.total, "lines, shipping and tax are the grand total");
    assert_eq!((doc.status, doc.source_status.as_str()), (DocumentStatus::Completed, "paid"));
    assert_eq!((doc.store_scope.as_deref(), doc.website.as_deref()), (Some("de"), Some("base")));
    let CustomerRef::Registered { group, .. } = &doc.customer else { panic!("registered") };
    assert_eq!(group.as_deref(), Some("Retailer"));
    assert_eq!(doc.shipping_address.as_ref().unwrap().city.as_deref(), Some("Bonn"));
    assert_eq!(doc.billing_address.as_ref().unwrap().line2.as_deref(), Some("Hinterhaus"));
    let base = doc.base_figures.unwrap();
    assert_eq!((base.currency.as_str(), base.total), ("USD", dec!(190.35)));
    assert_eq!(doc.currency.as_str(), "EUR");
}

#[test]
fn a_partial_credit_memo_has_exactly_its_rows_and_its_adjustments() {
    let memo = json!({
        "entity_id": 4, "increment_id": "000000009", "order_id": 7, "invoice_id": 31,
        "created_at": "2026-12-01 10:00:00", "updated_at": "2026-12-01 10:00:00", "order_currency_code": "EUR",
        "grand_total": 26.13, "subtotal": 27, "tax_amount": 5.13, "shipping_amount": 0, "adjustment_positive": 2, "adjustment_negative": 8,
        "items": [
            { "order_item_id": 5, "sku": "KIT", "qty": 1, "price": 68 },
            { "order_item_id": 6, "sku": "BALL", "qty": 1, "price": 27, "row_total": 27, "tax_amount": 5.13 },
            { "order_item_id": 8, "sku": "STRAP", "qty": 0, "price": 41, "row_total": 0 }
        ]
    });
    let (id, _, r) = credit_memo(&memo, &order_json(), Some("000000045".into())).unwrap();
    assert_eq!(
        (id.as_str(), r.order_id.as_str(), r.invoice_id.as_ref().unwrap().as_str()),
        ("000000009", "000000123", "000000045")
    );
    assert_eq!(r.lines.len(), 1, "the ball only: the kit's parent repeats it, the strap was not refunded");
    assert_eq!(
        (r.lines[0].order_line_id.as_str(), r.lines[0].amount, r.lines[0].taxes[0].amount),
        ("6", dec!(27), dec!(5.13))
    );
    assert_eq!((r.adjustments.refund, r.adjustments.fee), (dec!(2), dec!(8)));
    assert!(r.shipping.is_zero() && r.shipping_line_id.is_none());
    assert_eq!(r.lines[0].amount + r.lines[0].taxes[0].amount + r.adjustments.refund - r.adjustments.fee, r.amount);
}

#[test]
fn statuses_map_by_status_then_state() {
    assert_eq!(order_status("processing", "processing"), DocumentStatus::Processing);
    assert_eq!(order_status("complete", "complete"), DocumentStatus::Completed);
    assert_eq!(order_status("closed", "closed"), DocumentStatus::Refunded);
    assert_eq!(order_status("canceled", "canceled"), DocumentStatus::Cancelled);
    assert_eq!(order_status("holded", "holded"), DocumentStatus::OnHold);
    assert_eq!(
        order_status("processing", "packed_custom"),
        DocumentStatus::Processing,
        "a custom status keeps its state's meaning"
    );
    assert_eq!(order_status("new", "pending"), DocumentStatus::Pending);
    assert_eq!(invoice_status(3).0, DocumentStatus::Cancelled);
}

#[test]
fn a_guest_order_is_a_guest_and_the_order_itself_reads_the_same_lines() {
    let mut o = order_json();
    o["customer_is_guest"] = json!(1);
    o["customer_id"] = Value::Null;
    let (id, _, doc) = super::order(&o, &facts()).unwrap();
    assert_eq!(id.as_str(), "000000123");
    assert!(matches!(doc.customer, CustomerRef::Guest { email: Some(_) }));
    assert_eq!(doc.lines.iter().map(|l| l.line_id.as_str()).collect::<Vec<_>>(), ["10", "6", "8", "3"]);
    assert_eq!(doc.lines[3].quantity, dec!(2));
}

#[test]
fn a_customer_keeps_its_defaults_and_its_address_book() {
    let c = json!({ "id": 42, "group_id": 3, "email": "jane@example.com", "firstname": "Jane", "lastname": "Doe",
        "created_at": "2026-01-01 00:00:00", "updated_at": "2026-11-30 08:00:00", "default_billing": "2",
        "addresses": [
            { "id": 1, "firstname": "Jane", "lastname": "Doe", "street": ["Main St 1"], "city": "Bonn", "country_id": "DE", "region": { "region_code": "NRW" }, "default_shipping": true },
            { "id": 2, "firstname": "Jane", "lastname": "Doe", "street": ["Domkloster 4"], "city": "Köln", "country_id": "DE" }
        ] });
    let (id, _, cust) = customer(&c, &facts()).unwrap();
    assert_eq!((id.as_str(), cust.group.as_deref()), ("42", Some("Retailer")));
    assert_eq!(cust.billing_address.unwrap().city.as_deref(), Some("Köln"));
    let shipping = cust.shipping_address.unwrap();
    assert_eq!((shipping.city.as_deref(), shipping.region.as_deref()), (Some("Bonn"), Some("NRW")));
    assert_eq!(cust.addresses.len(), 2);
    assert!(customer(&json!({ "id": 0 }), &facts()).is_err());
}

#[test]
fn category_paths_leave_out_the_roots_and_take_the_deepest() {
    let tree = categories(&json!({ "id": 1, "parent_id": 0, "name": "Root", "children_data": [
        { "id": 2, "parent_id": 1, "name": "Default Category", "children_data": [
            { "id": 3, "parent_id": 2, "name": "Men", "children_data": [ { "id": 4, "parent_id": 3, "name": "Hoodies", "children_data": [] } ] } ] } ] }));
    let product =
        json!({ "extension_attributes": { "category_links": [ { "category_id": "3" }, { "category_id": "4" } ] } });
    assert_eq!(product_path(&product, &tree), ["Men", "Hoodies"]);
}
