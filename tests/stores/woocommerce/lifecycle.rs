//! The books through an order's whole life (issue 21): a status change that changes no amount
//! adds nothing, a refund merged with a repost credits the live invoice, a refund of an order
//! never posted is skipped (never retried), and no delivery contact repeats the customer.

use blackbox::Family;
use blackbox::harness::Harness;
use blackbox::webhooks::WebhookServer;
use chrono::{Duration, Utc};
use shared::odoo::Val;
use shared::ports::AuditStage;
use shared::records::EntityKind;
use woo_sandbox::{SandboxStore, StoreOptions};

struct Setup {
    h: Harness,
    store: SandboxStore,
    hooks: WebhookServer,
}

impl Setup {
    async fn start(family: Family) -> Setup {
        let h = Harness::start_with(family, blackbox::harness::store_rules()).await;
        let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
        h.attach_store(&store).await;
        let hooks = WebhookServer::start(std::sync::Arc::new(h.connector())).await;
        Setup { h, store, hooks }
    }

    async fn deliver(&self, topic: &str, order: i64, delivery: &str) {
        let url = format!("{}/webhooks/woocommerce/{}", self.hooks.url, self.h.connection);
        assert_eq!(self.store.deliver(&url, topic, &self.store.order(order), delivery).await, 200);
    }

    /// Changes an order as the store's admin would, with a newer modified date.
    fn edit(&self, id: i64, at: chrono::DateTime<Utc>, change: impl FnOnce(&mut serde_json::Value)) {
        let mut order = self.store.order(id);
        change(&mut order);
        let gmt = at.format("%Y-%m-%dT%H:%M:%S").to_string();
        order["date_modified_gmt"] = gmt.clone().into();
        order["date_modified"] = gmt.into();
        self.store.set_order(order);
    }

    fn many2one(&self, model: &str, id: i64, field: &str) -> Option<i64> {
        self.h.odoo.read(model, &[id], &[field]).remove(0).get(field).and_then(Val::many2one_id)
    }
}

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

pub async fn a_status_change_with_the_same_amounts_adds_no_document(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(2);
    s.store.add_order(1201, 0, "processing", t0);
    s.deliver("order.created", 1201, "s1").await;
    s.h.drain(&poster).await;
    let invoices = s.h.moves(":order:1201:", "out_invoice");
    assert_eq!(invoices.len(), 1);
    let name = s.h.odoo.read("account.move", &invoices, &["name"]).remove(0);

    // Shipped: processing → completed, the same lines and totals.
    s.edit(1201, t0 + Duration::minutes(30), |o| o["status"] = "completed".into());
    s.deliver("order.updated", 1201, "s2").await;
    s.h.drain(&poster).await;
    assert_eq!(s.h.moves(":order:1201:", "out_invoice"), invoices, "the same invoice");
    assert!(s.h.moves(":order:1201:", "out_refund").is_empty(), "nothing credited");
    assert_eq!(s.h.odoo.read("account.move", &invoices, &["name"]).remove(0), name, "its number kept");
    let domain = Val::list([leaf("model", "=", Val::from("account.move")), leaf("res_id", "=", Val::Int(invoices[0]))]);
    let notes = s.h.odoo.read("mail.message", &s.h.odoo.search("mail.message", domain), &["body"]);
    assert!(
        notes.iter().any(|n| n
            .get("body")
            .and_then(Val::as_str)
            .is_some_and(|b| b.contains("status completed (was processing)"))),
        "{notes:?}"
    );
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Order, &shared::ids::SourceId::parse("1201").unwrap())
            .await
            .unwrap();
    assert!(trail.iter().any(|a| a.stage == AuditStage::Noted), "{trail:?}");

    // A change the books must follow (another customer) is still credited and posted again.
    s.edit(1201, t0 + Duration::minutes(40), |o| o["billing"]["email"] = "someone.else@example.com".into());
    s.deliver("order.updated", 1201, "s3").await;
    let reports = s.h.drain(&poster).await;
    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert_eq!(s.h.moves(":order:1201:", "out_invoice").len(), 2, "{reports:?} {failed:?}");
    assert_eq!(s.h.moves(":order:1201:", "out_refund").len(), 1);
}

/// A partial refund that arrives in the same delivery as a change that reposts the order
/// credits the new, live invoice, with exactly the refunded lines.
pub async fn a_refund_merged_with_a_repost_credits_the_live_invoice(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(2);
    s.store.add_order(1301, 501, "processing", t0);
    s.deliver("order.created", 1301, "r1").await;
    s.h.drain(&poster).await;
    let old = s.h.moves(":order:1301:", "out_invoice");
    assert_eq!(old.len(), 1);

    s.store.refund_line(1301, 0, 9301, t0 + Duration::minutes(20));
    s.edit(1301, t0 + Duration::minutes(20), |o| o["billing"]["email"] = "ada.new@example.com".into());
    s.deliver("order.updated", 1301, "r2").await;
    let reports = s.h.drain(&poster).await;
    let invoices = s.h.moves(":order:1301:", "out_invoice");
    assert_eq!(invoices.len(), 2, "{reports:?}");
    let live = *invoices.iter().max().unwrap();
    let refund = s.h.moves(":refund:1301-r9301:", "out_refund");
    assert_eq!(refund.len(), 1, "{reports:?}");
    assert_eq!(s.many2one("account.move", refund[0], "reversed_entry_id"), Some(live), "the live invoice");
    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}

/// An order already refunded when first seen never posted: its refund has nothing to credit.
/// It is skipped with the reason at once, not retried into the dead-letter queue.
pub async fn a_refund_of_an_order_never_posted_is_skipped_not_retried(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(2);
    s.store.add_order(1401, 0, "refunded", t0);
    s.store.refund_line(1401, 0, 9401, t0);
    s.deliver("order.created", 1401, "n1").await;
    s.h.drain(&poster).await;
    assert!(s.h.moves(":1401", "out_invoice").is_empty());
    assert!(s.h.moves(":1401", "out_refund").is_empty());
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 0, "nothing left to retry");
    assert_eq!(s.h.dlq.approximate_depth().await.unwrap(), 0);
    assert!(s.h.family.failed().failed(&s.h.connection).await.unwrap().is_empty());
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Refund, &shared::ids::SourceId::parse("1401-r9401").unwrap())
            .await
            .unwrap();
    assert!(
        trail
            .iter()
            .any(|a| a.stage == AuditStage::Skipped && a.message.contains("was never posted (status refunded)")),
        "{trail:?}"
    );
}

/// The store's shipping address repeats the billing one without e-mail and phone: no delivery
/// contact. A different place gets one.
pub async fn no_delivery_contact_repeats_the_customer(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(2);
    s.store.add_order(1501, 501, "processing", t0);
    s.store.add_order(1502, 502, "processing", t0 + Duration::minutes(1));
    s.edit(1502, t0 + Duration::minutes(1), |o| {
        o["shipping"]["address_1"] = "1 Elsewhere Road".into();
        o["shipping"]["city"] = "Lyon".into();
    });
    for (n, id) in [(1, 1501), (2, 1502)] {
        s.deliver("order.created", id, &format!("c{n}")).await;
    }
    s.h.drain(&poster).await;
    let children = |order: &str| {
        let found = s.h.moves(order, "out_invoice");
        assert_eq!(found.len(), 1, "{order}");
        let partner = s.many2one("account.move", found[0], "partner_id").unwrap();
        s.h.odoo.search("res.partner", Val::list([leaf("parent_id", "=", Val::Int(partner))])).len()
    };
    assert_eq!(children(":order:1501:"), 0, "the same place as the billing address");
    assert_eq!(children(":order:1502:"), 1, "another place");

    // Later orders: the same other place is reused; a known customer's new place is added once.
    s.store.add_order(1503, 502, "processing", t0 + Duration::minutes(2));
    s.edit(1503, t0 + Duration::minutes(2), |o| {
        o["shipping"]["address_1"] = "1 Elsewhere Road".into();
        o["shipping"]["city"] = "Lyon".into();
    });
    for (n, id) in [(3, 1503), (4, 1504), (5, 1505)] {
        if id != 1503 {
            s.store.add_order(id, 501, "processing", t0 + Duration::minutes(n));
            s.edit(id, t0 + Duration::minutes(n), |o| o["shipping"]["address_1"] = "7 Quai Saint-Michel".into());
        }
        s.deliver("order.created", id, &format!("c{n}")).await;
    }
    s.h.drain(&poster).await;
    assert_eq!(children(":order:1503:"), 1, "reused, not repeated");
    assert_eq!(children(":order:1504:"), 1, "a new place of a known customer, once for two orders");
}
