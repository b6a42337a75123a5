//! `mlc connection add --register-webhooks` against the WooCommerce sandbox: the four topics
//! once, signed with a secret made here and stored encrypted; a second run changes nothing; a
//! webhook the store disabled is reported by `connection test` and re-activated; the store's
//! deliveries with that secret are accepted; `remove` deletes them.

use super::*;

const TOPICS: [&str; 4] = ["customer.created", "customer.updated", "order.created", "order.updated"];

impl World {
    async fn add_registering(&self, base: &str) -> Run {
        let (odoo_url, db, login) =
            (self.odoo.url().to_string(), self.odoo.options().database.clone(), self.odoo.options().login.clone());
        self.mlc_with(
            &[
                "connection",
                "add",
                "shop",
                "--store-url",
                self.store.url(),
                "--odoo-url",
                &odoo_url,
                "--odoo-database",
                &db,
                "--odoo-login",
                &login,
                "--allow-private-network",
                "--register-webhooks",
                "--webhook-base-url",
                base,
                "--json",
            ],
            // No webhook secret given: one is made once and kept.
            &[("MLC_WOO_WEBHOOK_SECRET", "")],
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_webhooks_creates_the_four_topics_once_and_remove_deletes_them() {
    let w = World::start().await;
    let first = w.add_connection(w.store.url(), &w.odoo.options().api_key.clone()).await;
    assert_eq!(first.code, 0, "{}", first.all());
    let run = serve(&w, "0");

    let added = w.add_registering(&run.url).await;
    assert_eq!(added.code, 0, "{}", added.all());
    let hooks = w.store.webhooks();
    let mut topics: Vec<&str> = hooks.iter().map(|h| h["topic"].as_str().unwrap()).collect();
    topics.sort();
    assert_eq!(topics, TOPICS);
    let url = format!("{}/webhooks/woocommerce/shop", run.url);
    assert!(hooks.iter().all(|h| h["delivery_url"] == url.as_str() && h["status"] == "active"), "{hooks:?}");
    let ids: Vec<i64> = hooks.iter().map(|h| h["id"].as_i64().unwrap()).collect();

    // A second run changes nothing: the same four, kept.
    let again = w.add_registering(&run.url).await;
    assert_eq!(again.code, 0, "{}", again.all());
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["webhooks"]["unchanged"].as_array().unwrap().len(), 4, "{report}");
    assert!(report["webhooks"]["created"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(w.store.webhooks().iter().map(|h| h["id"].as_i64().unwrap()).collect::<Vec<_>>(), ids);

    // The store's deliveries, signed with the secret made and stored here, are accepted.
    let order = w.store.add_order(8101, 0, "processing", Utc::now());
    assert_eq!(w.store.deliver_to_registered("order.created", &order, "reg-1").await, vec![200]);

    // The store disables one after failed deliveries: `test` says so, a new run re-activates it.
    w.store.set_webhook_status(ids[0], "disabled");
    let test = w.mlc(&["connection", "test", "shop"]).await;
    assert_eq!(test.code, 3, "{}", test.all());
    assert!(test.stdout.contains("is disabled"), "{}", test.stdout);
    let fixed = w.add_registering(&run.url).await;
    let report: serde_json::Value = serde_json::from_str(&fixed.stdout).unwrap();
    assert_eq!(report["webhooks"]["reactivated"].as_array().unwrap().len(), 1, "{report}");
    let test = w.mlc(&["connection", "test", "shop"]).await;
    assert_eq!(test.code, 0, "{}", test.all());
    assert_eq!(test.stdout.matches("is active").count(), 4, "{}", test.stdout);

    signal(&run.child, "TERM");
    let mut child = run.child;
    assert!(child.wait().unwrap().success());
    let trace = w.mlc(&["trace", "8101"]).await;
    assert!(trace.stdout.contains("delivery reg-1"), "{}", trace.all());

    let removed = w.mlc(&["connection", "remove", "shop"]).await;
    assert_eq!(removed.code, 0, "{}", removed.all());
    assert!(w.store.webhooks().is_empty(), "{:?}", w.store.webhooks());
}

/// A BigCommerce connection from the command line: its secrets from `MLC_BC_*`, its store hash
/// in its typed settings; `connection test` reads the store; `sync` polls and posts its orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bigcommerce_connection_is_added_tested_and_synced_from_the_cli() {
    let w = World::start().await;
    // A plan with a large quota: a first sync reads 30 days in 6-hour windows.
    let options = bc_sandbox::BcOptions { quota: 10_000, ..bc_sandbox::BcOptions::default() };
    let bc = bc_sandbox::BigCommerceSandbox::start(options).await.unwrap();
    bc.add_order(7001, 0, 11, Utc::now() - Span::hours(1), 3);
    let (odoo_url, db, login) =
        (w.odoo.url().to_string(), w.odoo.options().database.clone(), w.odoo.options().login.clone());
    let api = bc.api_base();
    let add: Vec<&str> = vec![
        "connection",
        "add",
        "bc",
        "--store",
        "bigcommerce",
        "--store-hash",
        "abc123xyz",
        "--api-base",
        &api,
        "--store-url",
        "https://shop.example.com",
        "--odoo-url",
        &odoo_url,
        "--odoo-database",
        &db,
        "--odoo-login",
        &login,
        "--allow-private-network",
    ];
    let missing = w.mlc(&add).await;
    assert_eq!(missing.code, 4, "{}", missing.all());
    assert!(missing.stderr.contains("MLC_BC_ACCESS_TOKEN"), "{}", missing.all());
    let env = [
        ("MLC_BC_ACCESS_TOKEN", bc.options().access_token.as_str()),
        ("MLC_BC_CLIENT_SECRET", bc.options().client_secret.as_str()),
    ];
    let added = w.mlc_with(&add, &env).await;
    assert_eq!(added.code, 0, "{}", added.all());
    let test = w.mlc(&["connection", "test", "bc"]).await;
    assert_eq!(test.code, 0, "{}", test.all());
    for said in [
        "the token can read orders (store_v2_orders_read_only)",
        "the token can read customers",
        "BigCommerce store \"Sandbox Store\"",
        "no hooks of this connection",
    ] {
        assert!(test.stdout.contains(said), "missing {said:?} in:\n{}", test.stdout);
    }
    // Registered here, one deactivated by the store: `test` names it and fails.
    let args = [add.as_slice(), &["--register-webhooks", "--webhook-base-url", "https://hooks.example.com"]].concat();
    let registered = w.mlc_with(&args, &env).await;
    assert_eq!(registered.code, 0, "{}", registered.all());
    let scopes = shared::stores::bigcommerce::connector::SCOPES.len();
    assert_eq!(bc.hooks().len(), scopes);
    let created = bc.hooks().into_iter().find(|h| h["scope"] == "store/order/created").unwrap();
    bc.deactivate_hook(created["id"].as_i64().unwrap(), Utc::now());
    let test = w.mlc(&["connection", "test", "bc"]).await;
    assert_eq!(test.code, 3, "{}", test.all());
    assert!(test.stdout.contains("hook store/order/created is deactivated"), "{}", test.stdout);
    assert_eq!(test.stdout.matches("is active").count(), scopes - 1, "{}", test.stdout);
    let file = w.dir.path().join("bc-rules.json");
    let rules = serde_json::json!({
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
        "lines": [ { "name": "everything", "when": {}, "account": "400100" } ]
    });
    std::fs::write(&file, rules.to_string()).unwrap();
    let set = w.mlc(&["--connection", "bc", "mappings", "set", file.to_str().unwrap()]).await;
    assert_eq!(set.code, 0, "{}", set.all());
    // The catalogue is the store's: its SKUs and category paths are checked against the rules.
    let check = w.mlc(&["--connection", "bc", "mappings", "check"]).await;
    assert_eq!(check.code, 0, "{}", check.all());
    let preview = w.mlc(&["--connection", "bc", "preview", "7001"]).await;
    assert_eq!(preview.code, 0, "{}", preview.all());
    assert!(
        preview.stdout.contains("Preview of order 7001") && preview.stdout.contains("400100"),
        "{}",
        preview.stdout
    );
    assert!(w.odoo.search("account.move", Val::list(Vec::<Val>::new())).is_empty(), "a preview writes nothing");
    let sync = w.mlc(&["--connection", "bc", "sync"]).await;
    assert_eq!(sync.code, 0, "{}", sync.all());
    let invoices = w.odoo.search(
        "account.move",
        Val::list([Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::from(":order:7001:")])]),
    );
    assert_eq!(invoices.len(), 1, "{}", sync.all());
    let total = w.odoo.read("account.move", &invoices, &["amount_total"]).remove(0);
    let store_total: rust_decimal::Decimal = bc.order(7001)["total_inc_tax"].as_str().unwrap().parse().unwrap();
    assert_eq!(total.get("amount_total").and_then(Val::as_decimal), Some(store_total));
    let trace = w.mlc(&["--connection", "bc", "trace", "7001"]).await;
    assert_eq!(trace.code, 0, "{}", trace.all());
    assert!(trace.stdout.contains("posted INV/"), "{}", trace.stdout);
    // A backfill from before the order reads it again and posts nothing new.
    bc.add_order(7002, 0, 11, Utc::now() - Span::days(40), 1);
    let from = (Utc::now() - Span::days(41)).format("%Y-%m-%d").to_string();
    let backfill = w.mlc(&["--connection", "bc", "backfill", "--from", &from]).await;
    assert_eq!(backfill.code, 0, "{}", backfill.all());
    let posted = |id: &str| {
        w.odoo
            .search(
                "account.move",
                Val::list([Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::from(id)])]),
            )
            .len()
    };
    assert_eq!((posted(":order:7001:"), posted(":order:7002:")), (1, 1), "{}", backfill.all());
}
