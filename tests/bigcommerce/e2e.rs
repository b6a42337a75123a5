//! BigCommerce end to end on both families: the sandbox store, thin signed callbacks through the
//! webhook route, the fetch stage, the poller and the poster against the Odoo sandbox.

use std::sync::Arc;

use bc_sandbox::{BcOptions, BigCommerceSandbox};
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

fn rules() -> serde_json::Value {
    json!({
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
        "lines": [ { "name": "everything", "when": {}, "account": "400100" } ]
    })
}

struct Setup {
    h: Harness,
    store: BigCommerceSandbox,
    stores: Arc<Stores>,
    hooks: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Setup {
    async fn start(family: Family) -> Setup {
        let h = Harness::start_with(family, rules()).await;
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
        h.family.secrets().put(&h.connection, &secrets).await.unwrap();
        let stores = Arc::new(Stores::standard(h.store_deps()));
        let (url, server) = shared::serve::on_loopback(shared::serve::webhook_router(stores.clone())).await.unwrap();
        let hooks = format!("{url}/webhooks/bigcommerce/{}", h.connection);
        Setup { h, store, stores, hooks, _server: server }
    }

    fn moves(&self, marker: &str, move_type: &str) -> Vec<i64> {
        self.h.odoo.search(
            "account.move",
            Val::list([
                Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::Str(marker.into())]),
                Val::list([Val::from("move_type"), Val::from("="), Val::from(move_type)]),
            ]),
        )
    }

    fn total(&self, id: i64) -> Decimal {
        self.h
            .odoo
            .read("account.move", &[id], &["amount_total"])
            .remove(0)
            .get("amount_total")
            .and_then(Val::as_decimal)
            .unwrap()
    }

    async fn poll(&self, from: chrono::DateTime<Utc>) {
        let connection = self.h.family.connections().connection(&self.h.connection).await.unwrap().unwrap();
        let settings = PollSettings { start: from, window: Duration::hours(6), backfill: None, ..Default::default() };
        let source = self.stores.for_connection(&connection).unwrap().poll();
        Poller::new(self.stores.pipeline.clone())
            .poll(source, &connection, &settings, Utc::now(), &|_| {})
            .await
            .unwrap();
    }
}

fn order_total(order: &serde_json::Value) -> Decimal {
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
    let invoices = s.moves(":order:2001:", "out_invoice");
    assert_eq!(invoices.len(), 1);
    assert_eq!(s.total(invoices[0]), order_total(&first));

    // Only the poller sees this one; a 60-line order too.
    let quiet = s.store.add_order(2002, 0, 10, t0 + Duration::minutes(5), 1);
    let long = s.store.add_order(2003, 0, 11, t0 + Duration::minutes(6), 60);
    s.poll(t0 - Duration::hours(1)).await;
    s.h.drain(&poster).await;
    for (id, order) in [(2002, &quiet), (2003, &long)] {
        let found = s.moves(&format!(":order:{id}:"), "out_invoice");
        assert_eq!(found.len(), 1, "order {id}");
        assert_eq!(s.total(found[0]), order_total(order), "order {id} to the cent");
    }
    assert_eq!(s.moves(":order:2001:", "out_invoice").len(), 1, "the poll read 2001 again and posted nothing new");

    // A late webhook after the catch-up poll: nothing new.
    assert_eq!(
        s.store.deliver(&s.hooks, "store/order/updated", json!({ "type": "order", "id": 2002 }), "msg_2").await,
        200
    );
    s.h.drain(&poster).await;
    assert_eq!(s.moves(":order:2002:", "out_invoice").len(), 1);

    // An incomplete order (status 0) never posts.
    s.store.add_order(2004, 0, 0, t0 + Duration::minutes(7), 1);
    assert_eq!(
        s.store.deliver(&s.hooks, "store/order/created", json!({ "type": "order", "id": 2004 }), "msg_3").await,
        200
    );
    s.h.drain(&poster).await;
    assert!(s.moves(":order:2004:", "out_invoice").is_empty());

    // A refund of one line and of the shipping: 10.00 + 2.00 tax, and 6.00 of shipping with its
    // tax. One credit note with exactly those lines.
    let line = first["id"].as_i64().unwrap() * 1000;
    let items = json!([
        { "item_type": "PRODUCT", "item_id": line, "quantity": 1, "requested_amount": "12.00" },
        { "item_type": "SHIPPING", "item_id": 20010, "requested_amount": "6.00" }
    ]);
    s.store.add_refund(2001, 1, items, "18.00", "3.00", Utc::now());
    let refund = json!({ "type": "order", "id": 2001, "refund": { "refund_id": 1 } });
    assert_eq!(s.store.deliver(&s.hooks, "store/order/refund/created", refund, "msg_4").await, 200);
    s.h.drain(&poster).await;
    let credits = s.moves(":refund:", "out_refund");
    assert_eq!(credits.len(), 1);
    assert_eq!(s.total(credits[0]), Decimal::new(1800, 2));
    let names: Vec<String> =
        s.h.odoo
            .search(
                "account.move.line",
                Val::list([
                    Val::list([Val::from("move_id"), Val::from("="), Val::Int(credits[0])]),
                    Val::list([Val::from("display_type"), Val::from("in"), Val::list([Val::from("product")])]),
                ]),
            )
            .iter()
            .map(|id| {
                s.h.odoo
                    .read("account.move.line", &[*id], &["name"])
                    .remove(0)
                    .get("name")
                    .and_then(Val::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
    assert_eq!(names, vec!["Item 0".to_string(), "Flat Rate".to_string()], "exactly the refunded lines");

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
