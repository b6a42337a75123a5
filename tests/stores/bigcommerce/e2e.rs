//! BigCommerce end to end on both families: the sandbox store, thin signed callbacks through the
//! webhook route, the fetch stage, the poller and the poster against the Odoo sandbox.

use std::sync::Arc;

use bc_sandbox::{BcOptions, BigCommerceSandbox, OrderStyle as BcStyle};
use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use shared::odoo::Val;
use shared::ports::SecretBundle;
use shared::records::SourceSystem;
use shared::stores::Stores;
use shared::stores::bigcommerce::BcSettings;
use shared::stores::poll::{PollSettings, Poller};

pub(crate) fn rules() -> serde_json::Value {
    json!({
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
        "lines": [ { "name": "everything", "when": {}, "account": "400100" } ]
    })
}

pub(crate) struct Setup {
    pub h: Harness,
    pub store: BigCommerceSandbox,
    pub stores: Arc<Stores>,
    pub hooks: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Setup {
    pub async fn start(family: Family) -> Setup {
        Self::start_with(family, rules(), &[]).await
    }

    /// With these rules and extra secrets beside the token and the client secret.
    pub async fn start_with(family: Family, rules: serde_json::Value, extra: &[(&str, &str)]) -> Setup {
        let h = Harness::start_with(family, rules).await;
        let store = BigCommerceSandbox::start(BcOptions::default()).await.unwrap();
        let connections = h.family.connections();
        let mut c = connections.connection(&h.connection).await.unwrap().unwrap();
        c.source = SourceSystem::Bigcommerce;
        c.settings = shared::stores::StoreSettings::Bigcommerce(BcSettings {
            store_hash: store.options().store_hash.clone(),
            api_base: Some(store.api_base().parse().unwrap()),
        });
        connections.put_connection(&c).await.unwrap();
        let o = h.odoo.options();
        let secrets = SecretBundle::new()
            .with("odoo_login", &o.login)
            .with("odoo_api_key", &o.api_key)
            .with("bc_access_token", &store.options().access_token)
            .with("bc_client_secret", &store.options().client_secret);
        let secrets = extra.iter().fold(secrets, |b, (k, v)| b.with(k, *v));
        h.family.secrets().put(&h.connection, &secrets).await.unwrap();
        let stores = Arc::new(Stores::standard(h.store_deps()));
        let (url, server) = shared::serve::on_loopback(shared::serve::webhook_router(stores.clone())).await.unwrap();
        let hooks = format!("{url}/webhooks/bigcommerce/{}", h.connection);
        Setup { h, store, stores, hooks, _server: server }
    }

    /// The names of a move's product-kind lines (products, shipping), in order.
    pub fn product_lines(&self, move_id: i64) -> Vec<String> {
        let domain = Val::list([
            Val::list([Val::from("move_id"), Val::from("="), Val::Int(move_id)]),
            Val::list([Val::from("display_type"), Val::from("="), Val::from("product")]),
        ]);
        let ids = self.h.odoo.search("account.move.line", domain);
        self.h
            .odoo
            .read("account.move.line", &ids, &["name"])
            .iter()
            .map(|l| l.get("name").and_then(Val::as_str).unwrap_or_default().to_string())
            .collect()
    }

    pub async fn poll(&self, from: chrono::DateTime<Utc>) {
        let connection = self.h.family.connections().connection(&self.h.connection).await.unwrap().unwrap();
        let settings = PollSettings { start: from, window: Duration::hours(6), backfill: None, ..Default::default() };
        let source = self.stores.for_connection(&connection).unwrap().poll();
        Poller::new(self.stores.pipeline.clone())
            .poll(source, &connection, &settings, Utc::now(), &|_| {})
            .await
            .unwrap();
    }
}

pub(crate) fn order_total(order: &serde_json::Value) -> Decimal {
    order["total_inc_tax"].as_str().unwrap().parse().unwrap()
}

pub async fn orders_by_webhook_and_by_poll_each_post_once_and_refunds_credit_their_lines(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(2);

    // By webhook: a thin callback, verified; the order is read by the fetch stage.
    let first = s.store.add_order(2001, 0, 11, t0, 2);
    let before = s.store.requests();
    assert_eq!(
        s.store.deliver(&s.hooks, "store/order/created", json!({ "type": "order", "id": 2001 }), "msg_1").await,
        200
    );
    assert_eq!(s.store.requests(), before, "the callback was answered before any call to the store");
    s.h.drain(&poster).await;
    let invoices = s.h.moves(":order:2001:", "out_invoice");
    assert_eq!(invoices.len(), 1);
    assert_eq!(s.h.move_total(invoices[0]), order_total(&first));

    // Only the poller sees this one; a 60-line order too.
    let quiet = s.store.add_order(2002, 0, 10, t0 + Duration::minutes(5), 1);
    let long = s.store.add_order(2003, 0, 11, t0 + Duration::minutes(6), 60);
    s.poll(t0 - Duration::hours(1)).await;
    s.h.drain(&poster).await;
    for (id, order) in [(2002, &quiet), (2003, &long)] {
        let found = s.h.moves(&format!(":order:{id}:"), "out_invoice");
        assert_eq!(found.len(), 1, "order {id}");
        assert_eq!(s.h.move_total(found[0]), order_total(order), "order {id} to the cent");
    }
    assert_eq!(s.h.moves(":order:2001:", "out_invoice").len(), 1, "the poll read 2001 again and posted nothing new");

    // A late webhook after the catch-up poll: nothing new.
    assert_eq!(
        s.store.deliver(&s.hooks, "store/order/updated", json!({ "type": "order", "id": 2002 }), "msg_2").await,
        200
    );
    s.h.drain(&poster).await;
    assert_eq!(s.h.moves(":order:2002:", "out_invoice").len(), 1);

    // An incomplete order (status 0) never posts.
    s.store.add_order(2004, 0, 0, t0 + Duration::minutes(7), 1);
    assert_eq!(
        s.store.deliver(&s.hooks, "store/order/created", json!({ "type": "order", "id": 2004 }), "msg_3").await,
        200
    );
    s.h.drain(&poster).await;
    assert!(s.h.moves(":order:2004:", "out_invoice").is_empty());

    // A refund of one line: 10.00 + 2.00 tax; then one of the shipping only: 6.00 with its tax.
    // Each is one credit note with exactly its lines.
    let line = first["id"].as_i64().unwrap() * 1000;
    let item = json!([{ "item_type": "PRODUCT", "item_id": line, "quantity": 1, "requested_amount": "12.00" }]);
    s.store.add_refund(2001, 1, item, "12.00", "2.00", Utc::now());
    let shipping = json!([{ "item_type": "SHIPPING", "item_id": 20010, "requested_amount": "6.00" }]);
    s.store.add_refund(2001, 2, shipping, "6.00", "1.00", Utc::now());
    for (n, refund_id) in [(4, 1), (5, 2)] {
        let refund = json!({ "type": "order", "id": 2001, "refund": { "refund_id": refund_id } });
        assert_eq!(s.store.deliver(&s.hooks, "store/order/refund/created", refund, &format!("msg_{n}")).await, 200);
    }
    let reports = s.h.drain(&poster).await;
    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert!(failed.is_empty(), "{failed:?} {reports:?}");
    for (refund, total, lines) in [("2001-r1", "12.00", vec!["Item 0"]), ("2001-r2", "6.00", vec!["Flat Rate"])] {
        let credits = s.h.moves(&format!(":refund:{refund}:"), "out_refund");
        assert_eq!(credits.len(), 1, "refund {refund}: {reports:?}");
        assert_eq!(s.h.move_total(credits[0]), total.parse::<Decimal>().unwrap(), "refund {refund}");
        assert_eq!(s.product_lines(credits[0]), lines, "refund {refund}: exactly its lines");
    }

    // Tax-inclusive pricing: the inc-tax figures are the actual ones (the ex-tax ones are
    // estimates, 3 cents off here). Another display currency: booked in what the shopper paid.
    let inclusive = BcStyle { tax_inclusive: true, ..BcStyle::default() };
    let gross = s.store.add_order_with(2005, 0, 11, t0 + Duration::minutes(8), 2, inclusive);
    let foreign = BcStyle { display_currency: "GBP", currency: "USD", ..BcStyle::default() };
    let usd = s.store.add_order_with(2006, 0, 11, t0 + Duration::minutes(9), 1, foreign);
    for id in [2005, 2006] {
        let data = json!({ "type": "order", "id": id });
        assert_eq!(s.store.deliver(&s.hooks, "store/order/created", data, &format!("msg_o{id}")).await, 200);
    }
    s.h.drain(&poster).await;
    let found = s.h.moves(":order:2005:", "out_invoice");
    assert_eq!(found.len(), 1);
    assert_eq!(s.h.move_total(found[0]), order_total(&gross));
    let net = s.h.odoo.read("account.move", &found[0..1], &["amount_untaxed"]).remove(0);
    assert_eq!(
        net.get("amount_untaxed").and_then(Val::as_decimal),
        Some(Decimal::new(2500, 2)),
        "20.00 + 5.00 net, not the estimates"
    );
    let found = s.h.moves(":order:2006:", "out_invoice");
    assert_eq!(found.len(), 1);
    assert_eq!(s.h.move_total(found[0]), order_total(&usd));
    let currency = s.h.odoo.read("account.move", &found[0..1], &["currency_id"]).remove(0);
    let name = currency.get("currency_id").and_then(|c| c.as_list().and_then(|l| l.get(1).cloned()));
    assert_eq!(name.as_ref().and_then(Val::as_str), Some("USD"));

    // A callback signed with another secret is refused and queues nothing.
    let forged =
        BigCommerceSandbox::start(BcOptions { client_secret: "not-the-secret".into(), ..BcOptions::default() })
            .await
            .unwrap();
    assert_eq!(
        forged.deliver(&s.hooks, "store/order/created", json!({ "type": "order", "id": 2001 }), "msg_5").await,
        401
    );
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 0);
}

/// BigCommerce deactivates a hook after failed deliveries: the poller's watchdog re-enables it,
/// audits it, and reads again from when it stopped, so an order only the hook would have
/// brought (older than the poller's overlap) is posted once.
pub async fn a_deactivated_hook_is_re_enabled_and_the_gap_backfilled(family: Family) {
    let s = Setup::start(family).await;
    let poster = s.h.poster();
    let connection = s.h.family.connections().connection(&s.h.connection).await.unwrap().unwrap();
    let store = s.stores.for_connection(&connection).unwrap();
    let secrets = s.h.family.secrets().get(&s.h.connection).await.unwrap().unwrap();
    let registrar = store.registrar().expect("BigCommerce hooks are registered by the product");
    let made = registrar.register(&connection, &secrets, &s.hooks, false).await.unwrap();
    let scopes = shared::stores::bigcommerce::connector::SCOPES.len();
    assert_eq!(made.created.len(), scopes);
    let again = registrar.register(&connection, &secrets, &s.hooks, false).await.unwrap();
    assert_eq!((again.created.len(), again.unchanged.len()), (0, scopes), "a second run changes nothing");

    // The poller is current up to now; then the order hook went down two hours ago and an
    // order from then was never delivered.
    let now = Utc::now();
    s.store.add_order(3001, 0, 11, now - Duration::minutes(1), 1);
    s.poll(now - Duration::hours(6)).await;
    s.h.drain(&poster).await;
    let stopped = now - Duration::hours(2);
    let hook = s.store.hooks().into_iter().find(|h| h["scope"] == "store/order/created").unwrap();
    s.store.deactivate_hook(hook["id"].as_i64().unwrap(), stopped);
    let missed = s.store.add_order(3002, 0, 11, stopped + Duration::minutes(10), 1);

    s.poll(now - Duration::hours(6)).await;
    s.h.drain(&poster).await;
    let hook = s.store.hooks().into_iter().find(|h| h["scope"] == "store/order/created").unwrap();
    assert_eq!(hook["is_active"], true, "re-enabled");
    let found = s.h.moves(":order:3002:", "out_invoice");
    assert_eq!(found.len(), 1, "the gap was backfilled");
    assert_eq!(s.h.move_total(found[0]), order_total(&missed));
    let trail =
        s.h.family
            .audit()
            .by_source(
                &s.h.connection,
                shared::records::EntityKind::Order,
                &shared::ids::SourceId::parse("hook-store-order-created").unwrap(),
            )
            .await
            .unwrap();
    assert!(trail.iter().any(|a| a.message.contains("re-enabled")), "{trail:?}");
    // Removing the connection's hooks leaves none.
    assert_eq!(registrar.unregister(&connection, &secrets).await.unwrap(), scopes);
    assert!(s.store.hooks().is_empty());
}
