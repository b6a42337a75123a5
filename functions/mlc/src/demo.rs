//! `mlc demo`: the whole pipeline on one machine against sandboxes — a WooCommerce store and an
//! Odoo, both on loopback — on the embedded adapters (SQLite, the encrypted secrets file).

use std::path::Path;

use anyhow::{Context as _, Result};
use chrono::{Duration as Span, Utc};
use odoo_sandbox::{Sandbox, SandboxOptions};
use rust_decimal::Decimal;
use shared::ids::{ConnectionId, SourceId};
use shared::local::LocalStack;
use shared::odoo::Val;
use shared::ports::*;
use shared::poster::{PosterSettings, RecordOutcome};
use shared::records::{EntityKind, SourceSystem};
use shared::stores::poll::{PollSettings, Poller};
use shared::trail::{TrailStart, trail};
use woo_sandbox::{SandboxStore, StoreOptions};

const CONNECTION: &str = "demo-woo";

fn rules() -> serde_json::Value {
    serde_json::json!({
        "posting": { "mode": "invoice", "post": true, "rounding_tolerance": "0.05" },
        "accounts": { "shipping": "410000", "rounding": "400000", "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" }, { "store_rate": "2", "odoo_tax": "VAT 5.5%" } ],
        "lines": [
            { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100", "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
            { "name": "books", "when": { "category": "Books" }, "account": "400200",
              "analytic": [ { "account": "CC-EU", "percent": "60" }, { "account": "CC-WHS", "percent": "40" } ] }
        ]
    })
}

pub async fn run(dir: &Path) -> Result<()> {
    println!("ml-connector demo — everything below runs on this machine, against SANDBOXES:");
    println!("a sandbox WooCommerce store, a sandbox BigCommerce store and a sandbox Odoo on loopback;");
    println!("no real store or Odoo is touched.\n");

    let odoo = Sandbox::start(SandboxOptions::default()).await.context("starting the Odoo sandbox")?;
    let store = SandboxStore::start(StoreOptions::default()).await.context("starting the WooCommerce sandbox")?;
    let stack = LocalStack::open(dir, true)?;
    let (state, secrets) = (stack.store.clone(), stack.secrets.clone());
    println!("  embedded state in {}", dir.display());
    println!("  Odoo sandbox (v19, JSON-2) at {}", odoo.url());
    println!("  WooCommerce sandbox at {}\n", store.url());

    // The connection, its encrypted secrets and its mapping rules.
    let id = ConnectionId::parse(CONNECTION)?;
    let connection = Connection {
        id: id.clone(),
        source: SourceSystem::Woocommerce,
        store_url: store.url().parse()?,
        odoo_url: odoo.url().parse()?,
        odoo_database: Some(odoo.options().database.clone()),
        audit_retention: Retention::Days30,
        allow_private_network: true,
        paused: false,
        settings: Default::default(),
        poll_start: None,
        ca_pem: None,
        reconcile_list_only: false,
        alerts: None,
    };
    state.put_connection(&connection).await?;
    let (o, s) = (odoo.options(), store.options());
    secrets
        .put(
            &id,
            &SecretBundle::new()
                .with("odoo_login", &o.login)
                .with("odoo_api_key", &o.api_key)
                .with("woo_consumer_key", &s.consumer_key)
                .with("woo_consumer_secret", &s.consumer_secret)
                .with("woo_webhook_secret", &s.webhook_secret),
        )
        .await?;
    let version = state.latest_rules(&id).await?.map(|r| r.version);
    state.save_rules(&id, version, &rules()).await?;

    let stores = stack.stores();
    let (hooks, server) = shared::serve::on_loopback(shared::serve::webhook_router(stores.clone())).await?;
    let hook = format!("{hooks}/webhooks/woocommerce/{CONNECTION}");
    let poster = stack.poster(PosterSettings::default());

    // The store's day: customers, orders (one with an item no rule maps), a guest, duplicates.
    let t0 = Utc::now() - Span::hours(2);
    store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t0);
    store.add_customer(502, "grace@example.com", "Grace", "Hopper", t0);
    println!("1. WooCommerce pings the webhook endpoint: HTTP {}", store.ping(&hook).await);
    let mut delivered = 0;
    for n in 0..8i64 {
        let customer = [501, 502, 0][(n % 3) as usize];
        let order =
            store.add_order(1001 + n, customer, if n == 5 { "pending" } else { "processing" }, t0 + Span::minutes(n));
        if n < 6 {
            store.deliver(&hook, "order.created", &order, &format!("delivery-{n}")).await;
            delivered += 1;
        }
        if n == 2 {
            // WooCommerce (or a proxy) delivers the same event twice.
            store.deliver(&hook, "order.created", &order, &format!("delivery-{n}")).await;
        }
    }
    let gnome = store.add_order_items(1100, 501, "processing", t0 + Span::minutes(30), &[(16, 1), (11, 1)]);
    store.deliver(&hook, "order.created", &gnome, "delivery-gnome").await;
    println!(
        "2. {} orders delivered by webhook (one twice), 2 left for the poller, 1 with a garden gnome no rule maps",
        delivered + 1
    );

    let settings = PollSettings { start: t0 - Span::hours(1), ..PollSettings::default() };
    let store_poll = stores.for_connection(&connection)?.poll();
    let report =
        Poller::new(stores.pipeline.clone()).poll(store_poll, &connection, &settings, Utc::now(), &|_| {}).await?;
    println!(
        "3. The poller read {} orders and {} customers in {} window(s), {} page(s)",
        report.orders, report.customers, report.windows, report.pages
    );

    let outcomes = stack.drain_all(&poster).await?;
    store.refund_line(1001, 0, 9001, Utc::now() - Span::minutes(5));
    store.deliver(&hook, "order.updated", &store.order(1001), "delivery-refund").await;
    let more = stack.drain_all(&poster).await?;
    println!("4. Order 1001 was partly refunded in the store; the update was delivered and posted\n");
    server.abort();

    let all: Vec<&RecordOutcome> = outcomes.iter().chain(&more).collect();
    let posted = all.iter().filter(|o| matches!(o, RecordOutcome::Posted { .. })).count();
    let duplicates = all.iter().filter(|o| matches!(o, RecordOutcome::Duplicate)).count();
    let skipped: Vec<&String> =
        all.iter().filter_map(|o| if let RecordOutcome::Skipped(w) = o { Some(w) } else { None }).collect();
    let of_woo = |move_type: &str| {
        odoo.search(
            "account.move",
            Val::list([
                Val::list([Val::from("move_type"), Val::from("="), Val::from(move_type)]),
                Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::from(format!("mlc:{CONNECTION}:"))]),
            ]),
        )
    };
    let (invoices, credits) = (of_woo("out_invoice"), of_woo("out_refund"));
    let total = |ids: &[i64]| -> Decimal {
        odoo.read("account.move", ids, &["amount_total"])
            .iter()
            .filter_map(|r| r.get("amount_total").and_then(Val::as_decimal))
            .sum()
    };
    let partners =
        odoo.search("res.partner", Val::list([Val::list([Val::from("customer_rank"), Val::from(">"), Val::Int(0)])]));

    println!("Summary, WooCommerce ({CONNECTION})");
    println!("  posted to Odoo:        {posted} records");
    println!("  customer invoices:     {} (total {} EUR)", invoices.len(), total(&invoices));
    println!("  credit notes:          {} (total {} EUR)", credits.len(), total(&credits));
    println!("  customers in Odoo:     {}", partners.len());
    if duplicates > 0 {
        println!("  duplicates ignored:    {duplicates}");
    }
    for why in &skipped {
        println!("  skipped:               {why}");
    }
    for f in state.failed(&id).await? {
        println!("  FAILED {} {}: {}", f.kind, f.source_id, f.reason);
        println!("         (fix the rule, then replay it; it is kept, not lost)");
    }

    let order = SourceId::parse("1001")?;
    println!("\nTrace of order 1001 (`mlc trace 1001` prints the same from a kept state)");
    for entry in
        trail(state.as_ref(), &id, TrailStart { sources: vec![(EntityKind::Order, order.clone())], odoo: vec![] })
            .await?
    {
        let odoo_ref = entry.odoo.map(|o| format!(" → {o}")).unwrap_or_default();
        println!(
            "  {}  {:<18} {:<9} {}{odoo_ref}",
            entry.at.format("%H:%M:%S"),
            format!("{} {}", entry.kind, entry.source_id),
            format!("{:?}", entry.stage),
            entry.message
        );
    }
    if let Some(link) = state.link_by_source(&id, EntityKind::Order, &order).await? {
        let back = state.by_odoo(&id, &link.odoo).await?;
        let from = back.iter().map(|e| format!("{} {}", e.kind, e.source_id)).collect::<Vec<_>>().join(", ");
        println!("  and back: {} leads to {from}", link.odoo);
    }
    crate::demo_bigcommerce::run(&stack, &odoo, &poster).await?;
    crate::demo_adobe_commerce::run(&stack, &odoo, &poster).await?;
    println!("\nThis demo ran against sandboxes. Point a connection at your own store and Odoo to go further.");
    Ok(())
}
