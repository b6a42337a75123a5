//! `mlc demo`'s second store: a sandbox BigCommerce on the same sandbox Odoo, through the same
//! webhook route, fetch stage, poller and poster as WooCommerce (the store seam).

use anyhow::{Context as _, Result};
use bc_sandbox::{BcOptions, BigCommerceSandbox, OrderStyle};
use chrono::{Duration as Span, Utc};
use odoo_sandbox::Sandbox;
use rust_decimal::Decimal;
use serde_json::json;
use shared::ids::ConnectionId;
use shared::local::LocalStack;
use shared::odoo::Val;
use shared::ports::*;
use shared::poster::Poster;
use shared::records::SourceSystem;
use shared::stores::bigcommerce::BcSettings;
use shared::stores::poll::{PollSettings, Poller};

pub const CONNECTION: &str = "demo-bigcommerce";

fn rules() -> serde_json::Value {
    json!({
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
        "lines": [
            { "name": "books", "when": { "category": "Shop/Books" }, "account": "400200" },
            { "name": "everything else", "when": {}, "account": "400100" }
        ]
    })
}

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

/// Runs the BigCommerce part and prints its summary.
pub async fn run(stack: &LocalStack, odoo: &Sandbox, poster: &Poster) -> Result<()> {
    let store = BigCommerceSandbox::start(BcOptions::default()).await.context("starting the BigCommerce sandbox")?;
    println!("\nBigCommerce, on the same Odoo: a sandbox store at {}", store.api_base());
    let id = ConnectionId::parse(CONNECTION)?;
    let connection = Connection {
        id: id.clone(),
        source: SourceSystem::Bigcommerce,
        store_url: "https://sandbox.mybigcommerce.com".parse()?,
        odoo_url: odoo.url().parse()?,
        odoo_database: Some(odoo.options().database.clone()),
        audit_retention: Retention::Days30,
        allow_private_network: true,
        paused: false,
        settings: shared::stores::StoreSettings::Bigcommerce(BcSettings {
            store_hash: store.options().store_hash.clone(),
            api_base: Some(store.api_base().parse()?),
        }),
        poll_start: None,
        ca_pem: None,
        reconcile_list_only: false,
        alerts: None,
    };
    stack.store.put_connection(&connection).await?;
    let (o, b) = (odoo.options(), store.options());
    let secrets = SecretBundle::new()
        .with("odoo_login", &o.login)
        .with("odoo_api_key", &o.api_key)
        .with("bc_access_token", &b.access_token)
        .with("bc_client_secret", &b.client_secret);
    stack.secrets.put(&id, &secrets).await?;
    let version = stack.store.latest_rules(&id).await?.map(|r| r.version);
    stack.store.save_rules(&id, version, &rules()).await?;

    let stores = stack.stores();
    let (base, server) = shared::serve::on_loopback(shared::serve::webhook_router(stores.clone())).await?;
    let hook = format!("{base}/webhooks/bigcommerce/{CONNECTION}");
    let t0 = Utc::now() - Span::hours(2);
    store.add_order(2101, 0, 11, t0, 2);
    let inclusive = OrderStyle { tax_inclusive: true, ..OrderStyle::default() };
    store.add_order_with(2102, 0, 11, t0 + Span::minutes(1), 3, inclusive);
    let dollars = OrderStyle { display_currency: "GBP", currency: "USD", ..OrderStyle::default() };
    store.add_order_with(2103, 0, 11, t0 + Span::minutes(2), 1, dollars);
    store.add_order(2104, 0, 0, t0 + Span::minutes(3), 1); // incomplete: never posts
    store.add_order(2105, 0, 11, t0 + Span::minutes(4), 1); // only the poller sees it
    let mut answered = Vec::new();
    for (n, order) in [2101, 2102, 2103, 2104].into_iter().enumerate() {
        let data = json!({ "type": "order", "id": order });
        answered.push(store.deliver(&hook, "store/order/created", data, &format!("msg_{n}")).await.to_string());
    }
    println!(
        "5. 4 signed thin callbacks (Standard Webhooks) answered HTTP {} before any call to the store; 1 order left for the poller",
        answered.join(", ")
    );
    let settings = PollSettings { start: t0 - Span::hours(1), ..PollSettings::default() };
    let report = Poller::new(stores.pipeline.clone())
        .poll(stores.for_connection(&connection)?.poll(), &connection, &settings, Utc::now(), &|_| {})
        .await?;
    stack.drain_all(poster).await?;
    println!(
        "6. The poller read {} orders; the fetch stage read each order with its lines, taxes and categories",
        report.orders
    );

    store.add_shipment(2101, 81, &[(2101000, 1), (2101001, 1)], "UPS", "1Z999AA10123456784", t0 + Span::minutes(30));
    let shipped = json!({ "type": "shipment", "id": 81, "orderId": 2101 });
    store.deliver(&hook, "store/shipment/created", shipped, "msg_ship").await;
    let status = json!({ "type": "order", "id": 2101, "status": { "previous_status_id": 11, "new_status_id": 2 } });
    store.deliver(&hook, "store/order/statusUpdated", status, "msg_status").await;
    let item = json!([{ "item_type": "PRODUCT", "item_id": 2102000, "quantity": 1, "requested_amount": "12.00" }]);
    store.add_refund(2102, 1, item, "12.00", "2.00", Utc::now() - Span::minutes(5));
    let refund = json!({ "type": "order", "id": 2102, "refund": { "refund_id": 1 } });
    store.deliver(&hook, "store/order/refund/created", refund, "msg_refund").await;
    stack.drain_all(poster).await?;
    server.abort();
    println!("7. Order 2101 shipped (UPS, tracked) and its status changed; one line of 2102 refunded\n");

    let marker = format!("mlc:{CONNECTION}:");
    let moves = |move_type: &str| {
        odoo.search(
            "account.move",
            Val::list([
                leaf("invoice_origin", "ilike", Val::from(marker.as_str())),
                leaf("move_type", "=", Val::from(move_type)),
            ]),
        )
    };
    let (invoices, credits) = (moves("out_invoice"), moves("out_refund"));
    let totals = |ids: &[i64]| -> String {
        let mut by_currency: std::collections::BTreeMap<String, Decimal> = Default::default();
        for r in odoo.read("account.move", ids, &["amount_total", "currency_id"]) {
            let currency =
                r.get("currency_id").and_then(|c| c.as_list()?.get(1)?.as_str().map(String::from)).unwrap_or_default();
            *by_currency.entry(currency).or_default() +=
                r.get("amount_total").and_then(Val::as_decimal).unwrap_or_default();
        }
        by_currency.iter().map(|(c, t)| format!("{t} {c}")).collect::<Vec<_>>().join(" + ")
    };
    println!("Summary, BigCommerce ({CONNECTION})");
    println!("  customer invoices:     {} (total {})", invoices.len(), totals(&invoices));
    println!("  credit notes:          {} (total {})", credits.len(), totals(&credits));
    if let Some(first) = invoices.first() {
        let notes = odoo.search(
            "mail.message",
            Val::list([leaf("res_id", "=", Val::Int(*first)), leaf("model", "=", Val::from("account.move"))]),
        );
        for n in odoo.read("mail.message", &notes, &["body"]) {
            println!(
                "  on the invoice's chatter: {}",
                n.get("body").and_then(Val::as_str).unwrap_or_default().replace("&#x27;", "'")
            );
        }
    }
    for f in stack.store.failed(&id).await? {
        println!("  FAILED {} {}: {}", f.kind, f.source_id, f.reason);
    }
    println!("  order 2104 is Incomplete (status 0): not posted, as BigCommerce's unfinished checkouts never are");
    Ok(())
}
