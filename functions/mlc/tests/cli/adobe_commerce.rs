//! Adobe Commerce from the command line, in both deployment models: credentials from
//! `MLC_ADOBE_*`, the model detected and confirmed by `connection test`, then the invoice
//! previewed, synced as one journal entry, traced by its order's number, and backfilled.

use adobe_sandbox::fixtures::{invoice_number, order_number};
use adobe_sandbox::{AdobeOptions, AdobeSandbox, Item, Mode, OrderSpec};
use chrono::{Duration as Span, Utc};
use rust_decimal::Decimal;
use shared::odoo::Val;

use super::World;

fn journal_rules() -> serde_json::Value {
    serde_json::json!({
        "posting": { "mode": "journal_entry" },
        "accounts": { "receivable": "121000", "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "DE-19", "odoo_tax": "VAT 20%", "account": "445710" } ],
        "lines": [
            { "name": "men", "when": { "category": "Men" }, "account": "400100",
              "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
            { "name": "everything else", "when": {}, "account": "400000" }
        ]
    })
}

fn entries(w: &World, marker: &str) -> Vec<i64> {
    w.odoo.search(
        "account.move",
        Val::list([
            Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::Str(marker.into())]),
            Val::list([Val::from("move_type"), Val::from("="), Val::from("entry")]),
        ]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adobe_commerce_connection_is_detected_tested_previewed_synced_and_traced_from_the_cli() {
    let w = World::start().await;
    let store = AdobeSandbox::start(AdobeOptions::new(Mode::Paas)).await.unwrap();
    let at = Utc::now() - Span::hours(1);
    let spec = OrderSpec {
        tax_percent: Decimal::new(20, 0),
        ..OrderSpec::new(1, Some(7), at, vec![Item::simple("HOODIE-S", Decimal::new(40, 0), 2, 4)])
    };
    store.add_order(&spec);
    let invoice = store.invoice_order(1, 1, at + Span::minutes(1));
    let (odoo_url, db, login) =
        (w.odoo.url().to_string(), w.odoo.options().database.clone(), w.odoo.options().login.clone());
    let url = store.store_url();
    let add: Vec<&str> = vec![
        "connection",
        "add",
        "m2",
        "--store",
        "adobe-commerce",
        "--store-url",
        &url,
        "--webhooks",
        "--odoo-url",
        &odoo_url,
        "--odoo-database",
        &db,
        "--odoo-login",
        &login,
        "--allow-private-network",
    ];
    // The URL says PaaS: without the integration's four secrets nothing is stored.
    let missing = w.mlc(&add).await;
    assert_eq!(missing.code, 4, "{}", missing.all());
    assert!(missing.stderr.contains("MLC_ADOBE_CONSUMER_KEY"), "{}", missing.all());
    assert!(missing.stderr.contains("PaaS / on-prem (OAuth 1.0a)"), "{}", missing.all());
    let o = store.options();
    let env = [
        ("MLC_ADOBE_CONSUMER_KEY", o.consumer_key.as_str()),
        ("MLC_ADOBE_CONSUMER_SECRET", o.consumer_secret.as_str()),
        ("MLC_ADOBE_ACCESS_TOKEN", o.access_token.as_str()),
        ("MLC_ADOBE_ACCESS_TOKEN_SECRET", o.access_token_secret.as_str()),
        ("MLC_ADOBE_WEBHOOK_PUBLIC_KEY", o.webhook_public_key.as_str()),
    ];
    let added = w.mlc_with(&add, &env).await;
    assert_eq!(added.code, 0, "{}", added.all());
    assert!(added.stderr.contains("the URL has a /rest/<store_code> path"), "{}", added.all());

    let test = w.mlc(&["connection", "test", "m2"]).await;
    assert_eq!(test.code, 0, "{}", test.all());
    for said in [
        "the store answers as PaaS / on-prem (OAuth 1.0a)",
        "version Magento/2.4 (Commerce)",
        "Adobe Commerce Webhooks are available (2.4.4+) and this connection receives them",
        "can read invoices (1 in all)",
    ] {
        assert!(test.stdout.contains(said), "missing {said:?} in:\n{}", test.stdout);
    }

    // Rules for hoodies only: the check names what no rule maps, in the store's own terms.
    let file = w.dir.path().join("m2-rules.json");
    let mut narrow = journal_rules();
    narrow["lines"].as_array_mut().unwrap().pop();
    narrow["lines"][0]["when"]["store"] = serde_json::json!(["default"]);
    narrow["lines"][0]["when"]["customer_group"] = serde_json::json!(["General", "Wholesale"]);
    std::fs::write(&file, narrow.to_string()).unwrap();
    let set = w.mlc(&["--connection", "m2", "mappings", "set", file.to_str().unwrap()]).await;
    assert_eq!(set.code, 0, "{}", set.all());
    let check = w.mlc(&["--connection", "m2", "mappings", "check"]).await;
    assert_eq!(check.code, 3, "{}", check.all());
    for unmapped in [
        "category Gear is not mapped",
        "store view de is not mapped",
        "customer group Retailer is not mapped",
        "customer group NOT LOGGED IN is not mapped",
    ] {
        assert!(check.stdout.contains(unmapped), "missing {unmapped:?} in:\n{}", check.stdout);
    }
    for mapped in ["category Men", "store view default ", "customer group General", "customer group Wholesale"] {
        assert!(!check.stdout.contains(mapped), "{mapped:?} is mapped:\n{}", check.stdout);
    }
    std::fs::write(&file, journal_rules().to_string()).unwrap();
    let set = w.mlc(&["--connection", "m2", "mappings", "set", file.to_str().unwrap()]).await;
    assert_eq!(set.code, 0, "{}", set.all());
    let invoice_no = invoice_number(1);
    let preview = w.mlc(&["--connection", "m2", "preview", &invoice_no]).await;
    assert_eq!(preview.code, 0, "{}", preview.all());
    assert!(preview.stdout.contains(&format!("Preview of invoice {invoice_no}")), "{}", preview.stdout);
    assert!(preview.stdout.contains("400100") && preview.stdout.contains("rule \"men\""), "{}", preview.stdout);
    assert!(w.odoo.search("account.move", Val::list(Vec::<Val>::new())).is_empty(), "a preview writes nothing");

    let sync = w.mlc(&["--connection", "m2", "sync"]).await;
    assert_eq!(sync.code, 0, "{}", sync.all());
    let marker = format!(":invoice:{invoice_no}:");
    let found = entries(&w, &marker);
    assert_eq!(found.len(), 1, "{}", sync.all());
    let total = w.odoo.read("account.move", &found, &["amount_total"]).remove(0);
    // The JSON number's own digits, never through a float.
    let grand: Decimal = invoice["grand_total"].to_string().parse().unwrap();
    assert_eq!(total.get("amount_total").and_then(Val::as_decimal), Some(grand));
    let trace = w.mlc(&["--connection", "m2", "trace", &order_number(1)]).await;
    assert_eq!(trace.code, 0, "{}", trace.all());
    assert!(trace.stdout.contains("Posted") && trace.stdout.contains(&invoice_no), "{}", trace.stdout);
    let from = (Utc::now() - Span::days(2)).format("%Y-%m-%d").to_string();
    let backfill = w.mlc(&["--connection", "m2", "backfill", "--from", &from]).await;
    assert_eq!(backfill.code, 0, "{}", backfill.all());
    assert_eq!(entries(&w, &marker).len(), 1, "read again, booked once");

    // The Cloud Service: a bare tenant URL with IMS credentials is detected as SaaS.
    let cloud = AdobeSandbox::start(AdobeOptions::new(Mode::Saas)).await.unwrap();
    let (cloud_url, ims_url) = (cloud.store_url(), cloud.ims_url());
    let c = cloud.options();
    let add: Vec<&str> = vec![
        "connection",
        "add",
        "cloud",
        "--store",
        "adobe-commerce",
        "--store-url",
        &cloud_url,
        "--ims-org-id",
        &c.ims_org_id,
        "--ims-url",
        &ims_url,
        "--odoo-url",
        &odoo_url,
        "--odoo-database",
        &db,
        "--odoo-login",
        &login,
        "--allow-private-network",
    ];
    let env = [
        ("MLC_ADOBE_IMS_CLIENT_ID", c.ims_client_id.as_str()),
        ("MLC_ADOBE_IMS_CLIENT_SECRET", c.ims_client_secret.as_str()),
    ];
    let added = w.mlc_with(&add, &env).await;
    assert_eq!(added.code, 0, "{}", added.all());
    assert!(
        added.stderr.contains("Cloud Service (Adobe IMS) (the connection holds IMS credentials)"),
        "{}",
        added.all()
    );
    let test = w.mlc(&["connection", "test", "cloud"]).await;
    assert_eq!(test.code, 0, "{}", test.all());
    assert!(test.stdout.contains("the store answers as Cloud Service (Adobe IMS)"), "{}", test.stdout);
    assert!(
        test.stdout
            .contains("Adobe Commerce Webhooks are available (2.4.4+); this connection is not set to receive them"),
        "{}",
        test.stdout
    );
    // Forced to the other model, the probe fails and says how to put it right.
    let forced = [add.as_slice(), &["--deployment", "paas"]].concat();
    let refused = w.mlc_with(&forced, &env).await;
    assert_eq!(refused.code, 4, "{}", refused.all());
    assert!(refused.stderr.contains("MLC_ADOBE_CONSUMER_KEY"), "{}", refused.all());
    assert!(store.writes().is_empty() && cloud.writes().is_empty(), "nothing was written to a store");
}
