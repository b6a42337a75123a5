//! Sales-order mode from the store sandboxes, end to end: WooCommerce by webhook and poll,
//! BigCommerce by its thin callbacks and fetch stage, into sale orders in the Odoo sandbox.

use blackbox::Family;
use blackbox::harness::{Harness, sales_master_data, sales_rules};
use blackbox::webhooks::WebhookServer;
use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use shared::odoo::Val;
use shared::stores::woocommerce::PollSettings;
use woo_sandbox::{SandboxStore, StoreOptions};

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

/// The sale orders of a store order (by its marker): `(state, total, invoices, pickings)`.
fn sale_orders(h: &Harness, order: i64) -> Vec<(String, Decimal, Vec<i64>, Vec<i64>)> {
    let ids = h.odoo.search("sale.order", Val::list([leaf("origin", "ilike", Val::Str(format!(":order:{order}:")))]));
    h.odoo
        .read("sale.order", &ids, &["state", "amount_total", "invoice_ids", "picking_ids"])
        .iter()
        .map(|r| {
            let list = |f: &str| -> Vec<i64> {
                r.get(f).and_then(Val::as_list).unwrap_or_default().iter().filter_map(Val::as_i64).collect()
            };
            let state = r.get("state").and_then(Val::as_str).unwrap_or_default().to_string();
            (state, r.get("amount_total").and_then(Val::as_decimal).unwrap(), list("invoice_ids"), list("picking_ids"))
        })
        .collect()
}

fn field(h: &Harness, model: &str, id: i64, name: &str) -> Val {
    h.odoo.read(model, &[id], &[name]).remove(0).get(name).cloned().unwrap_or(Val::Bool(false))
}

fn paid_in(h: &Harness, invoice: i64) -> Vec<(Decimal, String)> {
    let ids = h.odoo.search("account.payment", Val::list([leaf("reconciled_invoice_ids", "=", Val::Int(invoice))]));
    h.odoo
        .read("account.payment", &ids, &["amount", "journal_id"])
        .iter()
        .map(|p| {
            let journal = p.get("journal_id").and_then(Val::as_list).map(|j| j[1].as_str().unwrap().to_string());
            (p.get("amount").and_then(Val::as_decimal).unwrap(), journal.unwrap_or_default())
        })
        .collect()
}

pub async fn woocommerce_orders_become_sale_orders_by_webhook_and_poll(family: Family) {
    let h = Harness::start_with(family, sales_rules(blackbox::harness::store_rules())).await;
    sales_master_data(&h.odoo);
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    h.attach_store(&store).await;
    let connector = std::sync::Arc::new(h.connector());
    let hooks = WebhookServer::start(connector.clone()).await;
    let url = format!("{}/webhooks/woocommerce/{}", hooks.url, h.connection);
    let poster = h.poster();
    let t0 = Utc::now() - Duration::hours(2);

    // Paid by card, by webhook (twice): one confirmed sale order, its invoice posted and paid.
    let online = store.add_order(6001, 0, "processing", t0);
    for _ in 0..2 {
        assert_eq!(store.deliver(&url, "order.created", &online, "d-6001").await, 200);
    }
    // Cash on delivery, seen only by the poller: confirmed, not invoiced.
    let mut cod = store.add_order(6002, 0, "processing", t0 + Duration::minutes(1));
    cod["payment_method"] = "cod".into();
    cod["payment_method_title"] = "Cash on delivery".into();
    store.set_order(cod.clone());
    h.drain(&poster).await;
    let settings = PollSettings { start: t0 - Duration::hours(1), backfill: None, ..Default::default() };
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    connector.poll(&connection, &settings, Utc::now()).await.unwrap();
    h.drain(&poster).await;

    let total = |o: &serde_json::Value| -> Decimal { o["total"].as_str().unwrap().parse().unwrap() };
    let first = sale_orders(&h, 6001);
    assert_eq!(first.len(), 1, "one sale order however often it came: {first:?}");
    let (state, amount, invoices, pickings) = &first[0];
    assert_eq!((state.as_str(), *amount), ("sale", total(&online)));
    assert_eq!(invoices.len(), 1);
    assert_eq!(pickings.len(), 1);
    assert_eq!(field(&h, "account.move", invoices[0], "state"), Val::from("posted"));
    assert_eq!(field(&h, "account.move", invoices[0], "amount_total").as_decimal(), Some(total(&online)));
    assert_eq!(paid_in(&h, invoices[0]), vec![(total(&online), "Bank".to_string())]);
    let second = sale_orders(&h, 6002);
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].0.as_str(), second[0].1), ("sale", total(&cod)));
    assert!(second[0].2.is_empty(), "an offline order is invoiced later in Odoo");

    // With confirmation off, the next order stays a quotation: no delivery, no invoice.
    let mut quotes = sales_rules(blackbox::harness::store_rules());
    quotes["sales"]["confirm"] = false.into();
    h.set_rules(quotes).await;
    let quote = store.add_order(6003, 0, "processing", t0 + Duration::minutes(2));
    assert_eq!(store.deliver(&url, "order.created", &quote, "d-6003").await, 200);
    h.drain(&h.poster()).await;
    let third = sale_orders(&h, 6003);
    assert_eq!((third[0].0.as_str(), third[0].1), ("draft", total(&quote)));
    assert!(third[0].2.is_empty() && third[0].3.is_empty(), "a quotation: {third:?}");

    // Cancelled in the store before it left the warehouse: cancelled in Odoo, its invoice credited.
    let mut gone = online.clone();
    gone["status"] = "cancelled".into();
    gone["date_modified_gmt"] = (t0 + Duration::minutes(30)).format("%Y-%m-%dT%H:%M:%S").to_string().into();
    store.set_order(gone.clone());
    assert_eq!(store.deliver(&url, "order.updated", &gone, "d-6001-c").await, 200);
    h.drain(&poster).await;
    let after = sale_orders(&h, 6001);
    assert_eq!(after[0].0, "cancel");
    assert_eq!(field(&h, "stock.picking", after[0].3[0], "state"), Val::from("cancel"));
    let credits = h.odoo.search("account.move", Val::list([leaf("reversed_entry_id", "=", Val::Int(invoices[0]))]));
    assert_eq!(credits.len(), 1);
    assert_eq!(field(&h, "account.move", credits[0], "amount_total").as_decimal(), Some(total(&online)));
}

pub async fn bigcommerce_orders_become_sale_orders_and_shipments_validate_their_delivery(family: Family) {
    let mut rules = sales_rules(crate::bigcommerce::e2e_rules());
    let methods = rules["sales"]["payment_methods"].as_array_mut().unwrap();
    methods.push(json!({ "store_method": "Credit Card", "online": true, "journal": "BNK1" }));
    methods.push(json!({ "store_method": "Cash on Delivery", "online": false }));
    rules["sales"]["store_ships"] = true.into();
    let s = crate::bigcommerce::Setup::start_with(family, rules, &[]).await;
    sales_master_data(&s.h.odoo);
    for i in 0..5 {
        let vals = Val::map([("name", Val::Str(format!("Item {i}"))), ("default_code", Val::Str(format!("BC-{i}")))]);
        s.h.odoo.create("product.product", vals).unwrap();
    }
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(1);
    let online = s.store.add_order(7001, 0, 11, t0, 2);
    s.store.add_order(7002, 0, 11, t0, 1);
    s.store.edit_order(7002, |o| o["payment_method"] = "Cash on Delivery".into());
    for (id, delivery) in [(7001, "m1"), (7002, "m2")] {
        let data = json!({ "type": "order", "id": id });
        assert_eq!(s.store.deliver(&s.hooks, "store/order/created", data, delivery).await, 200);
    }
    let reports = s.h.drain(&poster).await;

    let first = sale_orders(&s.h, 7001);
    assert_eq!(first.len(), 1, "{reports:?}");
    let total = crate::bigcommerce::order_total(&online);
    assert_eq!((first[0].0.as_str(), first[0].1), ("sale", total));
    assert_eq!(paid_in(&s.h, first[0].2[0]), vec![(total, "Bank".to_string())]);
    let second = sale_orders(&s.h, 7002);
    assert_eq!(second[0].0, "sale");
    assert!(second[0].2.is_empty(), "cash on delivery: confirmed, not invoiced");

    // The store ships: its shipment validates the Odoo delivery, with the tracking number.
    s.store.add_shipment(7001, 81, &[(7001000, 1), (7001001, 1)], "UPS", "1Z7001", t0 + Duration::minutes(10));
    let data = json!({ "type": "shipment", "id": 81, "orderId": 7001 });
    assert_eq!(s.store.deliver(&s.hooks, "store/shipment/created", data, "m3").await, 200);
    s.h.drain(&poster).await;
    let picking = first[0].3[0];
    assert_eq!(field(&s.h, "stock.picking", picking, "state"), Val::from("done"));
    assert_eq!(field(&s.h, "stock.picking", picking, "carrier_tracking_ref"), Val::from("1Z7001"));

    // A status change on an order waiting for its delivery: noted on the sale order's chatter.
    s.store.set_status(7002, 9, t0 + Duration::minutes(15));
    let status = json!({ "type": "order", "id": 7002, "status": { "previous_status_id": 11, "new_status_id": 9 } });
    assert_eq!(s.store.deliver(&s.hooks, "store/order/statusUpdated", status, "m3b").await, 200);
    s.h.drain(&poster).await;
    let so = s.h.odoo.search("sale.order", Val::list([leaf("origin", "ilike", Val::from(":order:7002:"))]))[0];
    let domain = Val::list([leaf("model", "=", Val::from("sale.order")), leaf("res_id", "=", Val::Int(so))]);
    let notes: Vec<String> =
        s.h.odoo
            .read("mail.message", &s.h.odoo.search("mail.message", domain), &["body"])
            .iter()
            .map(|m| m.get("body").and_then(Val::as_str).unwrap_or_default().to_string())
            .collect();
    assert!(notes.iter().any(|n| n.contains("status Awaiting Shipment (was Awaiting Fulfillment)")), "{notes:?}");

    // Cancelled in the store after it shipped: refused, the reason kept, the order left confirmed.
    s.store.set_status(7001, 5, t0 + Duration::minutes(20));
    let status = json!({ "type": "order", "id": 7001, "status": { "previous_status_id": 2, "new_status_id": 5 } });
    assert_eq!(s.store.deliver(&s.hooks, "store/order/statusUpdated", status, "m4").await, 200);
    s.h.drain(&poster).await;
    assert_eq!(sale_orders(&s.h, 7001)[0].0, "sale");
    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].reason.contains("is done in Odoo"), "{}", failed[0].reason);
    // Cancelled before it shipped: cancelled once.
    s.store.set_status(7002, 5, t0 + Duration::minutes(20));
    let status = json!({ "type": "order", "id": 7002, "status": { "previous_status_id": 11, "new_status_id": 5 } });
    assert_eq!(s.store.deliver(&s.hooks, "store/order/statusUpdated", status, "m5").await, 200);
    s.h.drain(&poster).await;
    assert_eq!(sale_orders(&s.h, 7002)[0].0, "cancel");

    // With confirmation off, a new order stays a quotation.
    let mut quotes = s.h.family.connections().latest_rules(&s.h.connection).await.unwrap().unwrap().rules;
    quotes["sales"]["confirm"] = false.into();
    s.h.set_rules(quotes).await;
    let quote = s.store.add_order(7003, 0, 11, t0 + Duration::minutes(30), 1);
    let data = json!({ "type": "order", "id": 7003 });
    assert_eq!(s.store.deliver(&s.hooks, "store/order/created", data, "m6").await, 200);
    s.h.drain(&s.h.poster()).await;
    let third = sale_orders(&s.h, 7003);
    assert_eq!((third[0].0.as_str(), third[0].1), ("draft", crate::bigcommerce::order_total(&quote)));
    assert!(third[0].2.is_empty() && third[0].3.is_empty(), "a quotation: {third:?}");
}
