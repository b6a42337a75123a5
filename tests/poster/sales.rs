//! Sales-order mode against the Odoo sandbox: online orders confirmed, invoiced and paid in
//! their journal; offline orders confirmed only; quotations; cancellations before and after
//! delivery; refunds through the order's invoice; unmapped products and methods kept as failed.

use blackbox::Family;
use blackbox::harness::{Harness, rules, sales_master_data, sales_rules};
use rust_decimal_macros::dec;
use shared::ids::{OdooRef, SourceId};
use shared::odoo::Val;
use shared::ports::AuditStage;
use shared::poster::RecordOutcome;
use shared::records::*;

use super::orders::{book_refund, envelope, order, posted, read_one};

async fn harness(family: Family) -> Harness {
    let h = Harness::start_with(family, sales_rules(rules())).await;
    sales_master_data(&h.odoo);
    h
}

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

fn ids(v: &Val, field: &str) -> Vec<i64> {
    v.get(field).and_then(Val::as_list).unwrap_or_default().iter().filter_map(Val::as_i64).collect()
}

fn text(v: &Val, field: &str) -> String {
    v.get(field).and_then(Val::as_str).unwrap_or_default().to_string()
}

fn sale_orders(h: &Harness, number: &str) -> Vec<i64> {
    h.odoo.search("sale.order", Val::list([leaf("client_order_ref", "=", Val::Str(format!("woocommerce #{number}")))]))
}

fn payments(h: &Harness) -> Vec<Val> {
    let all = h.odoo.search("account.payment", Val::List(vec![]));
    h.odoo.read("account.payment", &all, &["amount", "journal_id", "payment_type", "reconciled_invoice_ids"])
}

fn cancelled(number: &str, customer: &str) -> SalesDocument {
    let mut o = order(number, customer);
    o.source_status = "cancelled".into();
    o.status = DocumentStatus::Cancelled;
    o
}

fn paid_with(mut o: SalesDocument, method: &str) -> SalesDocument {
    o.payment_method = Some(PaymentMethod { code: method.into(), title: None });
    o
}

pub async fn an_online_order_becomes_a_confirmed_sale_order_invoiced_and_paid_in_its_journal(family: Family) {
    let h = harness(family).await;
    let poster = h.poster();
    let e = envelope("1042", Record::Order(order("1042", "77")));
    // The first poster dies right after Odoo's create; the next one carries on from there.
    poster.crash_after_next_create();
    let died = h.post(&poster, &[&e]).await;
    assert!(matches!(&died.outcomes[0].1, RecordOutcome::Retry(why) if why.contains("died")), "{:?}", died.outcomes);
    // The message comes back once the dead worker's claim lapses.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let poster = h.poster();
    let report = h.post(&poster, &[&e]).await;
    let done = posted(&report);
    assert_eq!(done.len(), 1, "{:?}", report.outcomes);
    assert_eq!(done[0].model, "sale.order");
    assert_eq!(sale_orders(&h, "1042"), vec![done[0].id], "one sale order");

    let so = read_one(
        &h,
        "sale.order",
        done[0].id,
        &[
            "name",
            "state",
            "origin",
            "amount_total",
            "pricelist_id",
            "fiscal_position_id",
            "carrier_id",
            "payment_term_id",
            "order_line",
            "picking_ids",
            "invoice_ids",
            "partner_id",
        ],
    );
    assert_eq!(text(&so, "state"), "sale", "confirmed");
    assert!(text(&so, "origin").starts_with("mlc:acme-woo:order:1042:"), "the marker: {so:?}");
    assert_eq!(so.get("amount_total").and_then(Val::as_decimal), Some(dec!(80.25)), "the store's total");
    for (field, name) in [
        ("pricelist_id", "Public Pricelist"),
        ("fiscal_position_id", "EU B2C"),
        ("carrier_id", "Flat rate"),
        ("payment_term_id", "Immediate Payment"),
    ] {
        assert_eq!(so.get(field).and_then(|v| v.as_list()).map(|l| l[1].clone()), Some(Val::from(name)), "{field}");
    }
    let lines = h.odoo.read(
        "sale.order.line",
        &ids(&so, "order_line"),
        &["product_id", "product_uom_qty", "price_unit", "price_subtotal", "is_delivery", "analytic_distribution"],
    );
    let summary: Vec<(String, String, String, bool)> = lines
        .iter()
        .map(|l| {
            let product = l.get("product_id").and_then(Val::as_list).map(|p| p[1].as_str().unwrap().to_string());
            (
                product.unwrap_or_default(),
                l.get("product_uom_qty").and_then(Val::as_decimal).unwrap().normalize().to_string(),
                l.get("price_subtotal").and_then(Val::as_decimal).unwrap().to_string(),
                !l.get("is_delivery").unwrap().is_falsy(),
            )
        })
        .collect();
    let row = |p: &str, q: &str, s: &str, d: bool| (p.to_string(), q.to_string(), s.to_string(), d);
    assert_eq!(
        summary,
        vec![
            row("[SHIRT-M] Shirt (M)", "2", "35.98", false),
            row("[BOOK-1] Rust in Action", "1", "12.50", false),
            row("[HAT-1] Hat", "1", "15.00", false),
            row("[SHIP-FLAT] Flat rate shipping", "1", "4.90", true),
        ]
    );
    // The books rule's cost centers ride on the order line.
    assert_eq!(lines[1].get("analytic_distribution").and_then(Val::as_map).map(|m| m.len()), Some(2));

    // The goods wait in a delivery; the order is invoiced (posted) and paid in the bank journal.
    let pickings = h.odoo.read("stock.picking", &ids(&so, "picking_ids"), &["state", "move_ids", "origin"]);
    assert_eq!(pickings.len(), 1);
    assert_eq!(text(&pickings[0], "state"), "assigned");
    assert_eq!(ids(&pickings[0], "move_ids").len(), 3, "one move per product, none for shipping");
    let invoices = ids(&so, "invoice_ids");
    assert_eq!(invoices.len(), 1);
    let inv = read_one(
        &h,
        "account.move",
        invoices[0],
        &["state", "move_type", "amount_total", "payment_state", "invoice_origin", "ref"],
    );
    assert_eq!(text(&inv, "state"), "posted");
    assert_eq!(text(&inv, "move_type"), "out_invoice");
    assert_eq!(inv.get("amount_total").and_then(Val::as_decimal), Some(dec!(80.25)));
    assert_eq!(text(&inv, "payment_state"), "paid");
    assert_eq!(text(&inv, "invoice_origin"), text(&so, "name"));
    assert_eq!(text(&inv, "ref"), "woocommerce #1042");
    let paid = payments(&h);
    assert_eq!(paid.len(), 1, "one payment: {paid:?}");
    assert_eq!(paid[0].get("amount").and_then(Val::as_decimal), Some(dec!(80.25)));
    assert_eq!(paid[0].get("journal_id").and_then(Val::as_list).map(|j| j[1].clone()), Some(Val::from("Bank")));

    // Delivered again: nothing more in Odoo.
    let again = h.post(&poster, &[&e]).await;
    assert_eq!(again.outcomes[0].1, RecordOutcome::Duplicate);
    assert_eq!(payments(&h).len(), 1);

    // The trail leads order → sale order → invoice (with its payment), and back.
    let c = h.connection.clone();
    let trail = h.family.audit().by_source(&c, EntityKind::Order, &SourceId::parse("1042").unwrap()).await.unwrap();
    let steps: Vec<(Option<String>, &str)> = trail
        .iter()
        .filter(|a| a.stage == AuditStage::Posted)
        .map(|a| (a.odoo.as_ref().map(|o| o.model.clone()), a.message.as_str()))
        .collect();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].0.as_deref(), Some("sale.order"));
    assert!(steps[0].1.contains("confirmed") && steps[0].1.contains("80.25"), "{}", steps[0].1);
    assert_eq!(steps[1].0.as_deref(), Some("account.move"));
    assert!(steps[1].1.contains("payment of 80.25 registered in journal BNK1"), "{}", steps[1].1);
    let back = h.family.audit().by_odoo(&c, &OdooRef::new("account.move", invoices[0])).await.unwrap();
    assert!(back.iter().any(|a| a.source_id.as_str() == "1042"));

    // A refund of the book credits that line of the order's invoice: 12.50 + 0.69.
    let refund = book_refund("1042", e.source_updated_at);
    let credit = posted(&h.post(&poster, &[&envelope("r-1042", Record::Refund(refund))]).await);
    assert_eq!(credit.len(), 1);
    let note = read_one(&h, "account.move", credit[0].id, &["move_type", "reversed_entry_id", "amount_total"]);
    assert_eq!(text(&note, "move_type"), "out_refund");
    assert_eq!(note.get("reversed_entry_id").and_then(Val::many2one_id), Some(invoices[0]));
    assert_eq!(note.get("amount_total").and_then(Val::as_decimal), Some(dec!(13.19)));
}

pub async fn an_offline_order_is_confirmed_without_an_invoice_and_a_quotation_stays_one(family: Family) {
    let h = harness(family).await;
    let poster = h.poster();
    // Shipped elsewhere than billed: the delivery goes to a delivery contact of the customer.
    let mut elsewhere = paid_with(order("2001", "78"), "cod");
    elsewhere.shipping_address.as_mut().unwrap().line1 = Some("2 Other Street".into());
    let cod = envelope("2001", Record::Order(elsewhere));
    let done = posted(&h.post(&poster, &[&cod]).await);
    assert_eq!(done.len(), 1);
    let so = read_one(&h, "sale.order", done[0].id, &["partner_id", "partner_invoice_id", "partner_shipping_id"]);
    let [customer, invoiced, shipped] = ["partner_id", "partner_invoice_id", "partner_shipping_id"]
        .map(|f| so.get(f).and_then(Val::many2one_id).unwrap());
    assert_eq!(customer, invoiced);
    let contact = read_one(&h, "res.partner", shipped, &["parent_id", "type", "street"]);
    assert_eq!(contact.get("parent_id").and_then(Val::many2one_id), Some(customer), "{contact:?}");
    assert_eq!((text(&contact, "type"), text(&contact, "street")), ("delivery".into(), "2 Other Street".into()));
    let so = read_one(&h, "sale.order", done[0].id, &["state", "invoice_ids", "picking_ids", "amount_total"]);
    assert_eq!(text(&so, "state"), "sale");
    assert!(ids(&so, "invoice_ids").is_empty(), "an offline order is invoiced later, in Odoo");
    assert_eq!(ids(&so, "picking_ids").len(), 1);
    assert_eq!(so.get("amount_total").and_then(Val::as_decimal), Some(dec!(80.25)));
    assert!(h.odoo.search("account.move", Val::List(vec![])).is_empty());
    assert!(payments(&h).is_empty());
    // Its refund has no invoice to credit until Odoo invoices it: kept with the reason.
    let mut refund = samples::refund();
    refund.order_id = SourceId::parse("2001").unwrap();
    let report = h.post(&poster, &[&envelope("r-2001", Record::Refund(refund))]).await;
    let RecordOutcome::Parked(why) = &report.outcomes[0].1 else { panic!("{:?}", report.outcomes) };
    assert!(why.contains("no invoice to credit") && why.contains("invoice it there, then replay"), "{why}");

    // With confirmation off, an order (even paid online) stays a quotation: no delivery, no invoice.
    let mut quotes = sales_rules(rules());
    quotes["sales"]["confirm"] = false.into();
    h.set_rules(quotes).await;
    let poster = h.poster();
    let quote = envelope("2002", Record::Order(order("2002", "78")));
    let done = posted(&h.post(&poster, &[&quote]).await);
    let so = read_one(&h, "sale.order", done[0].id, &["state", "invoice_ids", "picking_ids", "amount_total"]);
    assert_eq!(text(&so, "state"), "draft");
    assert!(ids(&so, "invoice_ids").is_empty() && ids(&so, "picking_ids").is_empty());
    assert_eq!(so.get("amount_total").and_then(Val::as_decimal), Some(dec!(80.25)));
    let trail =
        h.family.audit().by_source(&h.connection, EntityKind::Order, &SourceId::parse("2002").unwrap()).await.unwrap();
    let entry = trail.iter().find(|a| a.stage == AuditStage::Posted).unwrap();
    assert!(
        entry.message.contains("a quotation") && entry.message.contains("once it is confirmed"),
        "{}",
        entry.message
    );
}

pub async fn a_cancellation_before_delivery_cancels_once_and_after_delivery_is_refused(family: Family) {
    let h = harness(family).await;
    let poster = h.poster();
    let first = posted(&h.post(&poster, &[&envelope("3001", Record::Order(order("3001", "79")))]).await)[0].id;
    let so = read_one(&h, "sale.order", first, &["invoice_ids", "picking_ids"]);
    let (invoice, picking) = (ids(&so, "invoice_ids")[0], ids(&so, "picking_ids")[0]);

    let cancel = envelope("3001", Record::Order(cancelled("3001", "79")));
    let report = h.post(&poster, &[&cancel]).await;
    let done = posted(&report);
    assert_eq!(done, vec![OdooRef::new("sale.order", first)], "{:?}", report.outcomes);
    assert_eq!(text(&read_one(&h, "sale.order", first, &["state"]), "state"), "cancel");
    assert_eq!(text(&read_one(&h, "stock.picking", picking, &["state"]), "state"), "cancel");
    // Its posted invoice is credited in full, once.
    let credits = h.odoo.search("account.move", Val::list([leaf("reversed_entry_id", "=", Val::Int(invoice))]));
    assert_eq!(credits.len(), 1);
    let credit = read_one(&h, "account.move", credits[0], &["state", "amount_total"]);
    assert_eq!(
        (text(&credit, "state"), credit.get("amount_total").and_then(Val::as_decimal)),
        ("posted".into(), Some(dec!(80.25)))
    );
    // The same cancellation again, and a later version of it: nothing more.
    assert_eq!(h.post(&poster, &[&cancel]).await.outcomes[0].1, RecordOutcome::Duplicate);
    // The same content at a newer date: settled already.
    let mut later = envelope("3001", Record::Order(cancelled("3001", "79")));
    later.source_updated_at += chrono::Duration::minutes(5);
    let report = h.post(&poster, &[&later]).await;
    assert!(
        !matches!(report.outcomes[0].1, RecordOutcome::Posted { .. } | RecordOutcome::Parked(_)),
        "{:?}",
        report.outcomes
    );
    assert_eq!(h.odoo.search("account.move", Val::list([leaf("reversed_entry_id", "=", Val::Int(invoice))])).len(), 1);

    // Once the delivery is done in Odoo, a cancellation is refused, with its reason kept.
    let second = posted(&h.post(&poster, &[&envelope("3002", Record::Order(order("3002", "79")))]).await)[0].id;
    let picking = ids(&read_one(&h, "sale.order", second, &["picking_ids"]), "picking_ids")[0];
    h.odoo.press("stock.picking", "button_validate", &[picking]).unwrap();
    let report = h.post(&poster, &[&envelope("3002", Record::Order(cancelled("3002", "79")))]).await;
    let RecordOutcome::Parked(why) = &report.outcomes[0].1 else { panic!("{:?}", report.outcomes) };
    assert!(why.contains("its delivery WH/OUT/") && why.contains("is done in Odoo"), "{why}");
    assert_eq!(text(&read_one(&h, "sale.order", second, &["state"]), "state"), "sale", "not cancelled");
    let failed = h.family.failed().failed(&h.connection).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].source_id.as_str(), "3002");
    assert!(failed[0].reason.contains("is done in Odoo"));
}

pub async fn unmapped_products_and_methods_fail_with_their_reason_and_replay(family: Family) {
    let h = harness(family).await;
    let poster = h.poster();
    let mut gnome = order("4001", "80");
    gnome.lines[2] =
        super::orders::line("3", "HAT-9", "Winter hat", &["Apparel", "Hats"], "1", "15.00", "0", "1", "3.00");
    let mut express = order("4002", "80");
    express.shipping[0].title = "Express".into();
    let paypal = paid_with(order("4003", "80"), "paypal");
    let report = h
        .post(
            &poster,
            &[
                &envelope("4001", Record::Order(gnome)),
                &envelope("4002", Record::Order(express)),
                &envelope("4003", Record::Order(paypal)),
            ],
        )
        .await;
    let reasons: Vec<String> = report
        .outcomes
        .iter()
        .map(|(_, o)| match o {
            RecordOutcome::Parked(why) => why.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(reasons[0].contains("product HAT-9 is not in Odoo"), "{}", reasons[0]);
    assert!(reasons[1].contains("shipping method no id (Express) is not mapped to an Odoo carrier"), "{}", reasons[1]);
    assert!(reasons[2].contains("payment method paypal") && reasons[2].contains("not mapped"), "{}", reasons[2]);
    assert!(h.odoo.search("sale.order", Val::List(vec![])).is_empty(), "nothing half-made in Odoo");

    // The product is created in Odoo and the record replayed: the same poster finds it.
    h.odoo
        .create("product.product", Val::map([("name", Val::from("Winter hat")), ("default_code", Val::from("HAT-9"))]))
        .unwrap();
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    let hat = SourceId::parse("4001").unwrap();
    let only = Some((EntityKind::Order, &hat));
    let replayed = shared::poster::replay(&*h.family.failed(), &*h.queue, &*h.family.audit(), &connection, only).await;
    assert_eq!(replayed.unwrap(), 1);
    let reports = h.drain(&poster).await;
    let done: Vec<OdooRef> = reports.iter().flat_map(posted).collect();
    assert_eq!(done.len(), 1, "{reports:?}");
    let so = read_one(&h, "sale.order", done[0].id, &["amount_total", "state"]);
    assert_eq!(so.get("amount_total").and_then(Val::as_decimal), Some(dec!(80.25)));
}
