//! An order's life after it is posted, and the connection's own choices: shipments and status
//! changes on the invoice's chatter (nothing booked), refund payments, guests and customers,
//! hooks with a custom-header secret, the token's scopes and the catalogue's category paths.

use blackbox::Family;
use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use shared::odoo::Val;
use shared::ports::AuditStage;
use shared::records::EntityKind;

use super::e2e::{Setup, order_total, rules};

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

/// The chatter notes on a move, oldest first.
fn notes(s: &Setup, move_id: i64) -> Vec<String> {
    let domain = Val::list([leaf("model", "=", Val::from("account.move")), leaf("res_id", "=", Val::Int(move_id))]);
    let ids = s.h.odoo.search("mail.message", domain);
    s.h.odoo
        .read("mail.message", &ids, &["body", "is_internal"])
        .iter()
        .inspect(|m| assert_eq!(m.get("is_internal").and_then(Val::as_bool), Some(true), "an internal note"))
        .map(|m| m.get("body").and_then(Val::as_str).unwrap_or_default().to_string())
        .collect()
}

async fn deliver(s: &Setup, scope: &str, data: serde_json::Value, id: &str) {
    assert_eq!(s.store.deliver(&s.hooks, scope, data, id).await, 200, "{scope}");
}

pub async fn shipments_and_status_changes_are_noted_in_odoo_and_book_nothing(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(1);
    let order = s.store.add_order(4001, 0, 11, t0, 2);
    deliver(&s, "store/order/created", json!({ "type": "order", "id": 4001 }), "m1").await;
    s.h.drain(&poster).await;
    let invoices = s.h.moves(":order:4001:", "out_invoice");
    assert_eq!(invoices.len(), 1);

    // Shipped in two parcels: the order's status and modified date move with each.
    s.store.add_shipment(4001, 71, &[(4001000, 1)], "UPS", "1Z999AA1", t0 + Duration::minutes(10));
    deliver(&s, "store/shipment/created", json!({ "type": "shipment", "id": 71, "orderId": 4001 }), "m2").await;
    let status = json!({ "type": "order", "id": 4001, "status": { "previous_status_id": 11, "new_status_id": 3 } });
    deliver(&s, "store/order/statusUpdated", status, "m3").await;
    s.h.drain(&poster).await;
    s.store.add_shipment(4001, 72, &[(4001001, 1)], "DHL", "JD0140", t0 + Duration::minutes(20));
    deliver(&s, "store/shipment/created", json!({ "type": "shipment", "id": 72, "orderId": 4001 }), "m4").await;
    let status = json!({ "type": "order", "id": 4001, "status": { "previous_status_id": 3, "new_status_id": 2 } });
    deliver(&s, "store/order/statusUpdated", status, "m5").await;
    let reports = s.h.drain(&poster).await;

    // Nothing booked: the same invoice, no credit note, the store's total.
    assert_eq!(s.h.moves(":order:4001:", "out_invoice"), invoices, "{reports:?}");
    assert!(s.h.moves("", "out_refund").is_empty(), "a status change credits nothing");
    assert_eq!(s.h.move_total(invoices[0]), order_total(&order));
    let chatter = notes(&s, invoices[0]);
    assert_eq!(chatter.len(), 4, "{chatter:?}");
    assert!(
        chatter.iter().any(|n| n.contains("shipment 4001-s71") && n.contains("1 × BC-0") && n.contains("UPS 1Z999AA1"))
    );
    assert!(chatter.iter().any(|n| n.contains("1 × BC-1") && n.contains("DHL JD0140")));
    assert!(chatter.iter().any(|n| n.contains("status Partially Shipped (was Awaiting Fulfillment)")), "{chatter:?}");
    assert!(chatter.iter().any(|n| n.contains("status Shipped (was Partially Shipped)")), "{chatter:?}");

    // A catch-up poll reads the order and both shipments again: nothing more on the chatter.
    s.poll(t0 - Duration::hours(1)).await;
    s.h.drain(&poster).await;
    assert_eq!(notes(&s, invoices[0]).len(), 4, "read again, noted once");
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Shipment, &shared::ids::SourceId::parse("4001-s71").unwrap())
            .await
            .unwrap();
    assert!(trail.iter().any(|a| a.stage == AuditStage::Noted && a.odoo.as_ref().map(|o| o.id) == Some(invoices[0])));

    // A shipment of an order that never posted (incomplete) is skipped with the reason.
    s.store.add_order(4002, 0, 0, t0, 1);
    deliver(&s, "store/order/created", json!({ "type": "order", "id": 4002 }), "m6").await;
    s.h.drain(&poster).await;
    s.store.add_shipment(4002, 73, &[(4002000, 1)], "UPS", "1Z000", t0 + Duration::minutes(30));
    deliver(&s, "store/shipment/created", json!({ "type": "shipment", "id": 73, "orderId": 4002 }), "m7").await;
    s.h.drain(&poster).await;
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Shipment, &shared::ids::SourceId::parse("4002-s73").unwrap())
            .await
            .unwrap();
    assert!(trail.iter().any(|a| a.stage == AuditStage::Skipped && a.message.contains("was not posted")), "{trail:?}");

    // A real change after posting (another customer's e-mail) is still credited and posted again.
    s.store.edit_order(4001, |o| {
        o["billing_address"]["email"] = "someone.else@example.com".into();
        o["date_modified"] = rfc2822(t0 + Duration::minutes(40)).into();
    });
    deliver(&s, "store/order/updated", json!({ "type": "order", "id": 4001 }), "m8").await;
    s.h.drain(&poster).await;
    assert_eq!(s.h.moves(":order:4001:", "out_refund").len(), 1, "the first version credited");
    assert_eq!(s.h.moves(":order:4001:", "out_invoice").len(), 2, "and the new one posted");

    // Archived in the store: never credited by itself, noted on the live invoice.
    s.store.edit_order(4001, |o| {
        o["is_deleted"] = true.into();
        o["date_modified"] = rfc2822(t0 + Duration::minutes(50)).into();
    });
    deliver(&s, "store/order/archived", json!({ "type": "order", "id": 4001 }), "m9").await;
    s.h.drain(&poster).await;
    assert_eq!(s.h.moves(":order:4001:", "out_refund").len(), 1);
    let live = *s.h.moves(":order:4001:", "out_invoice").iter().max().unwrap();
    assert!(notes(&s, live).iter().any(|n| n.contains("status Archived (was Shipped)")), "{:?}", notes(&s, live));
}

fn rfc2822(t: chrono::DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

pub async fn a_refund_can_also_register_the_payment_going_out(family: Family) {
    let mut with_payment = rules();
    with_payment["posting"] = json!({ "refund_payment_journal": "BNK1" });
    let s = Setup::start_with(family, with_payment, &[]).await;
    let poster = s.h.poster();
    s.store.add_order(4101, 0, 11, Utc::now() - Duration::hours(1), 2);
    deliver(&s, "store/order/created", json!({ "type": "order", "id": 4101 }), "p1").await;
    let item = json!([{ "item_type": "PRODUCT", "item_id": 4101000, "quantity": 1, "requested_amount": "12.00" }]);
    s.store.add_refund(4101, 9, item, "12.00", "2.00", Utc::now());
    let refund = json!({ "type": "order", "id": 4101, "refund": { "refund_id": 9 } });
    deliver(&s, "store/order/refund/created", refund.clone(), "p2").await;
    s.h.drain(&poster).await;
    let credits = s.h.moves(":refund:4101-r9:", "out_refund");
    assert_eq!(credits.len(), 1);
    let credit = s.h.odoo.read("account.move", &credits, &["payment_state", "amount_residual"]).remove(0);
    assert_eq!(credit.get("payment_state").and_then(Val::as_str), Some("paid"));
    assert_eq!(credit.get("amount_residual").and_then(Val::as_decimal), Some(Decimal::ZERO));
    let payments = s.h.odoo.search("account.payment", Val::list(Vec::<Val>::new()));
    let rows = s.h.odoo.read("account.payment", &payments, &["amount", "payment_type"]);
    assert_eq!(rows.len(), 1, "one payment out");
    assert_eq!(rows[0].get("amount").and_then(Val::as_decimal), Some(Decimal::new(1200, 2)));
    assert_eq!(rows[0].get("payment_type").and_then(Val::as_str), Some("outbound"));

    // The same refund read again (a poll) pays nothing twice.
    s.poll(Utc::now() - Duration::hours(3)).await;
    s.h.drain(&poster).await;
    assert_eq!(s.h.odoo.search("account.payment", Val::list(Vec::<Val>::new())).len(), 1);
}

/// Customer 17's e-mail used at a guest checkout: a partner of its own unless the rules allow
/// guests to take a customer's partner.
pub async fn a_guest_takes_a_customers_partner_only_when_allowed(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(1);
    s.store.add_order(4201, 17, 11, t0, 1);
    s.store.add_order(4202, 0, 11, t0 + Duration::minutes(1), 1);
    s.store.edit_order(4202, |o| o["billing_address"]["email"] = "Customer17@Example.com".into());
    for (n, id) in [(1, 4201), (2, 4202)] {
        deliver(&s, "store/order/created", json!({ "type": "order", "id": id }), &format!("g{n}")).await;
    }
    s.h.drain(&poster).await;
    let partner = |order: &str| {
        let found = s.h.moves(order, "out_invoice");
        assert_eq!(found.len(), 1, "{order}");
        s.h.odoo.read("account.move", &found, &["partner_id"])[0].get("partner_id").and_then(Val::many2one_id)
    };
    let customer = partner(":order:4201:");
    assert_ne!(partner(":order:4202:"), customer, "by default a guest never books on a customer");

    let mut allowing = rules();
    allowing["partners"] = json!({ "guests_match_customers_by_email": true });
    s.h.set_rules(allowing).await;
    s.store.add_order(4203, 0, 11, t0 + Duration::minutes(2), 1);
    s.store.edit_order(4203, |o| o["billing_address"]["email"] = "customer17@example.com".into());
    deliver(&s, "store/order/created", json!({ "type": "order", "id": 4203 }), "g3").await;
    s.h.drain(&poster).await;
    assert_eq!(partner(":order:4203:"), customer, "allowed: matched by e-mail");
}

/// Hooks made while the connection keeps a custom-header secret carry it; a callback without it
/// is refused even when its signature is good.
pub async fn hooks_made_with_a_custom_header_secret_need_it(family: Family) {
    let header = ("bc_hook_header_secret", "hdr-5b1e0c9a7d");
    let s = Setup::start_with(family, rules(), &[header]).await;
    let connection = s.h.family.connections().connection(&s.h.connection).await.unwrap().unwrap();
    let secrets = s.h.family.secrets().get(&s.h.connection).await.unwrap().unwrap();
    let store = s.stores.for_connection(&connection).unwrap();
    store.registrar().unwrap().register(&connection, &secrets, &s.hooks, false).await.unwrap();
    assert!(s.store.hooks().iter().all(|h| h["headers"]["x-mlc-hook-secret"] == header.1));
    s.store.add_order(4301, 0, 11, Utc::now() - Duration::minutes(5), 1);
    deliver(&s, "store/order/created", json!({ "type": "order", "id": 4301 }), "h1").await;
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 1);

    // The same client secret, but not through a hook of ours: no header, refused.
    let other = bc_sandbox::BigCommerceSandbox::start(bc_sandbox::BcOptions::default()).await.unwrap();
    let status = other.deliver(&s.hooks, "store/order/created", json!({ "type": "order", "id": 4301 }), "h2").await;
    assert_eq!(status, 401);
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 1, "nothing more queued");
}

/// `connection test` reads what the token may read, scope by scope, and the store's profile;
/// `mappings check` reads the catalogue; lines take their category paths from it.
pub async fn the_tokens_scopes_and_the_catalogue_are_read(family: Family) {
    let mut by_category = rules();
    by_category["lines"] = json!([
        { "name": "books", "when": { "category": "Shop/Books" }, "account": "400200" },
        { "name": "everything", "when": {}, "account": "400100" }
    ]);
    let s = Setup::start_with(family, by_category, &[]).await;
    let poster = s.h.poster();
    let connection = s.h.family.connections().connection(&s.h.connection).await.unwrap().unwrap();
    let secrets = s.h.family.secrets().get(&s.h.connection).await.unwrap().unwrap();
    let store = s.stores.for_connection(&connection).unwrap();

    let catalogue = store.checks().catalogue(&connection, &secrets).await.unwrap();
    assert!(catalogue.categories.contains(&vec!["Shop".to_string(), "Books".to_string()]));
    let bc0 = catalogue.products.iter().find(|p| p.sku.as_deref() == Some("BC-0")).expect("BC-0");
    assert_eq!(bc0.category_path, ["Shop", "Books"]);
    // What sales-order rules name: channels, groups, payment methods and each zone's methods,
    // by the names orders carry (a disabled method is left out).
    let master = store.checks().master_data(&connection, &secrets).await.unwrap();
    let codes = |items: &[shared::stores::Named]| items.iter().map(|n| n.code.clone()).collect::<Vec<_>>();
    assert_eq!(
        master.scopes.iter().map(|(k, n)| format!("{k} {}", n.name)).collect::<Vec<_>>(),
        ["channel Sandbox Store", "channel Amazon EU"]
    );
    assert_eq!(codes(&master.customer_groups), ["1", "2"]);
    assert_eq!(codes(&master.payment_methods), ["Credit Card", "Cash on Delivery"]);
    assert_eq!(codes(&master.shipping_methods), ["Flat Rate"]);
    assert_eq!(master.shipping_methods[0].name, "Flat Rate (Europe)");

    // Item 0 is a book, item 1 in the garden: each line on its rule's account.
    s.store.add_order(4401, 0, 11, Utc::now() - Duration::minutes(5), 2);
    deliver(&s, "store/order/created", json!({ "type": "order", "id": 4401 }), "c1").await;
    s.h.drain(&poster).await;
    let found = s.h.moves(":order:4401:", "out_invoice");
    assert_eq!(found.len(), 1);
    let domain = Val::list([leaf("move_id", "=", Val::Int(found[0])), leaf("display_type", "=", Val::from("product"))]);
    let lines = s.h.odoo.search("account.move.line", domain);
    let accounts: Vec<Option<String>> =
        s.h.odoo
            .read("account.move.line", &lines, &["name", "account_id"])
            .iter()
            .filter(|l| l.get("name").and_then(Val::as_str).is_some_and(|n| n.starts_with("Item")))
            .map(|l| s.h.account_code(l.get("account_id").and_then(Val::many2one_id).unwrap()))
            .collect();
    assert_eq!(accounts, [Some("400200".to_string()), Some("400100".to_string())]);

    let findings = store.checks().health(&connection, &secrets).await;
    let said = |text: &str| findings.iter().find(|f| f.what.contains(text)).map(|f| f.ok);
    assert_eq!(said("the token can read orders"), Some(true), "{findings:?}");
    assert_eq!(said("Sandbox Store"), Some(true), "{findings:?}");
    s.store.deny("/v3/customers");
    let findings = store.checks().health(&connection, &secrets).await;
    let lacking = findings.iter().find(|f| f.what.contains("cannot read customers")).expect("the missing scope");
    assert!(!lacking.ok && lacking.what.contains("store_v2_customers_read_only"), "{lacking:?}");
}

/// A registered customer is one partner, bound by external id; the other addresses in their
/// address book are child delivery contacts, one per place, never made twice.
pub async fn a_customers_addresses_become_child_contacts_once(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(1);
    s.store.add_customer(17, "ada@example.com", "Ada", "Lovelace", t0);
    s.store.add_customer_address(17, "9 Quay St", "Bristol", "BS1 4DJ", t0 + Duration::minutes(1));
    deliver(&s, "store/customer/created", json!({ "type": "customer", "id": 17 }), "a1").await;
    s.h.drain(&poster).await;
    let partners = s.h.odoo.search("res.partner", Val::list([leaf("ref", "=", Val::from("17"))]));
    assert_eq!(partners.len(), 1);
    let children = || s.h.odoo.search("res.partner", Val::list([leaf("parent_id", "=", Val::Int(partners[0]))]));
    let kids = children();
    assert_eq!(kids.len(), 1, "the second address; the first is the partner's own");
    let kid = s.h.odoo.read("res.partner", &kids, &["type", "city"]).remove(0);
    assert_eq!(kid.get("type").and_then(Val::as_str), Some("delivery"));
    assert_eq!(kid.get("city").and_then(Val::as_str), Some("Bristol"));

    // An address added: its callback names the customer; one more contact, the rest kept.
    s.store.add_customer_address(17, "3 Mill Lane", "Leeds", "LS1 1AA", t0 + Duration::minutes(2));
    let data = json!({ "type": "address", "id": 172, "address": { "customer_id": 17 } });
    deliver(&s, "store/customer/address/created", data, "a2").await;
    s.h.drain(&poster).await;
    assert_eq!(children().len(), 2);
    // Read again by a poll: nothing more.
    s.poll(t0 - Duration::hours(1)).await;
    s.h.drain(&poster).await;
    assert_eq!(children().len(), 2);
    assert_eq!(s.h.odoo.search("res.partner", Val::list([leaf("ref", "=", Val::from("17"))])).len(), 1);

    // Deleted in the store: the partner stays, the trail says why.
    deliver(&s, "store/customer/deleted", json!({ "type": "customer", "id": 17 }), "a3").await;
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Customer, &shared::ids::SourceId::parse("17").unwrap())
            .await
            .unwrap();
    assert!(trail.iter().any(|a| a.message.contains("deleted in BigCommerce; its partner stays")), "{trail:?}");
    assert_eq!(s.h.odoo.search("res.partner", Val::list([leaf("ref", "=", Val::from("17"))])).len(), 1);
}
