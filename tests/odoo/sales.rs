//! The sandbox's `sale`, `sale_stock` and `delivery` as Odoo behaves, through the client on
//! both transports: a quotation confirmed into an order with its delivery, the invoice made by
//! the order's wizard, a cancellation that asks first, locked and delivered orders.

use rust_decimal_macros::dec;
use shared::odoo::{Call, OdooClient, OdooError, TransportChoice, Val};

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

async fn read(odoo: &OdooClient, model: &str, id: i64, field: &str) -> Val {
    odoo.read(model, &[id], &[field]).await.unwrap()[0].get(field).cloned().unwrap()
}

fn ids(v: &Val) -> Vec<i64> {
    v.as_list().unwrap_or_default().iter().filter_map(Val::as_i64).collect()
}

async fn quotation(odoo: &OdooClient) -> i64 {
    let partner = odoo.create("res.partner", Val::map([("name", Val::from("Ada"))])).await.unwrap();
    let vat =
        odoo.search_read("account.tax", Val::list([leaf("name", "=", Val::from("VAT 20%"))]), &["id"], None, None);
    let vat = vat.await.unwrap()[0].get("id").and_then(Val::as_i64).unwrap();
    let goods =
        Val::map([("name", Val::from("Shirt")), ("default_code", Val::from("S-1")), ("type", Val::from("consu"))]);
    let shirt = odoo.create("product.product", goods).await.unwrap();
    let service = Val::map([("name", Val::from("Shipping")), ("type", Val::from("service"))]);
    let shipping = odoo.create("product.product", service).await.unwrap();
    let line = |product: i64, qty: &str, price: &str, delivery: bool| {
        Val::list([
            Val::Int(0),
            Val::Int(0),
            Val::map([
                ("product_id", Val::Int(product)),
                ("product_uom_qty", Val::Num(qty.parse().unwrap())),
                ("price_unit", Val::Num(price.parse().unwrap())),
                ("tax_ids", Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&[vat])])])),
                ("is_delivery", Val::Bool(delivery)),
            ]),
        ])
    };
    let vals = Val::map([
        ("partner_id", Val::Int(partner)),
        ("client_order_ref", Val::from("shop #1")),
        ("order_line", Val::list([line(shirt, "3", "19.99", false), line(shipping, "1", "4.90", true)])),
    ]);
    odoo.create("sale.order", vals).await.unwrap()
}

async fn confirm_invoice_and_cancel(transport: TransportChoice, version: u32) {
    let sandbox = crate::sandbox(version).await;
    let odoo = crate::client(&sandbox, transport).await;
    let so = quotation(&odoo).await;
    assert_eq!(read(&odoo, "sale.order", so, "state").await, Val::from("draft"));
    // 59.97 + 4.90 = 64.87 net; VAT per line 11.99 + 0.98 = 12.97.
    assert_eq!(read(&odoo, "sale.order", so, "amount_total").await.as_decimal(), Some(dec!(77.84)));
    assert!(ids(&read(&odoo, "sale.order", so, "picking_ids").await).is_empty(), "a quotation ships nothing");

    // A quotation cannot be invoiced.
    let wizard = Val::map([("advance_payment_method", Val::from("delivered"))]);
    let err = odoo.run_wizard("sale.advance.payment.inv", "sale.order", &[so], wizard.clone(), "create_invoices").await;
    assert!(matches!(err, Err(OdooError::Validation { .. })), "{err:?}");

    odoo.call_method("sale.order", "action_confirm", &[so]).await.unwrap();
    assert_eq!(read(&odoo, "sale.order", so, "state").await, Val::from("sale"));
    let err = odoo.call_method("sale.order", "action_confirm", &[so]).await.unwrap_err();
    assert!(matches!(err, OdooError::Validation { .. }), "confirmed twice: {err:?}");
    // The goods (not the shipping service) wait in one outgoing delivery.
    let pickings = ids(&read(&odoo, "sale.order", so, "picking_ids").await);
    assert_eq!(pickings.len(), 1);
    assert_eq!(ids(&read(&odoo, "stock.picking", pickings[0], "move_ids").await).len(), 1);
    assert_eq!(read(&odoo, "stock.picking", pickings[0], "state").await, Val::from("assigned"));

    // The wizard invoices what was ordered, once: a second run finds nothing left to invoice.
    odoo.run_wizard("sale.advance.payment.inv", "sale.order", &[so], wizard.clone(), "create_invoices").await.unwrap();
    let invoices = ids(&read(&odoo, "sale.order", so, "invoice_ids").await);
    assert_eq!(invoices.len(), 1);
    let inv = odoo.read("account.move", &invoices, &["move_type", "state", "amount_total", "invoice_origin", "ref"]);
    let inv = inv.await.unwrap().remove(0);
    assert_eq!(inv.get("move_type"), Some(&Val::from("out_invoice")));
    assert_eq!(inv.get("state"), Some(&Val::from("draft")));
    assert_eq!(inv.get("amount_total").and_then(Val::as_decimal), Some(dec!(77.84)), "the order's total");
    assert_eq!(inv.get("invoice_origin"), Some(&read(&odoo, "sale.order", so, "name").await));
    assert_eq!(inv.get("ref"), Some(&Val::from("shop #1")));
    let again = odoo.run_wizard("sale.advance.payment.inv", "sale.order", &[so], wizard, "create_invoices").await;
    assert!(
        matches!(&again, Err(OdooError::Validation { message }) if message.contains("There is no invoiceable line")),
        "{again:?}"
    );

    // A confirmed order cannot be deleted; cancelling asks first (the wizard), and nothing changes.
    let err = odoo.execute(Call::new("sale.order", "unlink").ids(&[so])).await.unwrap_err();
    assert!(matches!(err, OdooError::Validation { .. }), "{err:?}");
    let action = odoo.call_method("sale.order", "action_cancel", &[so]).await.unwrap();
    assert_eq!(action.get("res_model"), Some(&Val::from("sale.order.cancel")), "{action:?}");
    assert_eq!(read(&odoo, "sale.order", so, "state").await, Val::from("sale"));
    // Locked, it cannot be cancelled at all.
    odoo.call_method("sale.order", "action_lock", &[so]).await.unwrap();
    let quiet = Val::map([("disable_cancel_warning", Val::Bool(true))]);
    let call = Call::new("sale.order", "action_cancel").ids(&[so]).context(quiet.clone());
    let err = odoo.execute(call).await.unwrap_err();
    assert!(matches!(&err, OdooError::Validation { message } if message.contains("locked")), "{err:?}");
    odoo.call_method("sale.order", "action_unlock", &[so]).await.unwrap();
    // Told not to warn: cancelled, with its open delivery and its draft invoice.
    odoo.execute(Call::new("sale.order", "action_cancel").ids(&[so]).context(quiet)).await.unwrap();
    assert_eq!(read(&odoo, "sale.order", so, "state").await, Val::from("cancel"));
    assert_eq!(read(&odoo, "stock.picking", pickings[0], "state").await, Val::from("cancel"));
    assert_eq!(read(&odoo, "account.move", invoices[0], "state").await, Val::from("cancel"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sale_orders_confirm_invoice_and_cancel_over_json2() {
    confirm_invoice_and_cancel(TransportChoice::Auto, 19).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sale_orders_confirm_invoice_and_cancel_over_xmlrpc() {
    confirm_invoice_and_cancel(TransportChoice::XmlRpc, 19).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validated_delivery_cannot_be_cancelled_and_counts_as_delivered() {
    let sandbox = crate::sandbox(19).await;
    let odoo = crate::client(&sandbox, TransportChoice::Auto).await;
    let so = quotation(&odoo).await;
    odoo.call_method("sale.order", "action_confirm", &[so]).await.unwrap();
    let picking = ids(&read(&odoo, "sale.order", so, "picking_ids").await)[0];
    odoo.call_method("stock.picking", "button_validate", &[picking]).await.unwrap();
    assert_eq!(read(&odoo, "stock.picking", picking, "state").await, Val::from("done"));
    let lines = ids(&read(&odoo, "sale.order", so, "order_line").await);
    assert_eq!(read(&odoo, "sale.order.line", lines[0], "qty_delivered").await.as_decimal(), Some(dec!(3)));
    let err = odoo.call_method("stock.picking", "action_cancel", &[picking]).await.unwrap_err();
    assert!(matches!(err, OdooError::Validation { .. }), "{err:?}");
    let err = odoo.call_method("stock.picking", "button_validate", &[picking]).await.unwrap_err();
    assert!(matches!(err, OdooError::Validation { .. }), "validated twice: {err:?}");
}
