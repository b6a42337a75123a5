//! `mlc demo`'s third store: a sandbox Adobe Commerce on the same sandbox Odoo, in both
//! deployment models (PaaS with OAuth 1.0a, the Cloud Service with Adobe IMS), its invoices
//! booked as journal entries on the GL accounts and cost centers the rules choose.

use adobe_sandbox::{AdobeOptions, AdobeSandbox, Item, MemoSpec, Mode, OrderSpec};
use anyhow::{Context as _, Result};
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
use shared::stores::adobe_commerce::AdobeSettings;
use shared::stores::poll::{PollSettings, Poller};

pub const PAAS: &str = "demo-adobe";
pub const SAAS: &str = "demo-adobe-cloud";

fn rules() -> serde_json::Value {
    json!({
        "posting": { "mode": "journal_entry" },
        "accounts": {
            "receivable": "121000", "shipping": "410000", "rounding": "400000",
            "adjustment_refund": "420000", "adjustment_fee": "420000",
            "analytic": [ { "account": "CC-EU", "percent": "100" } ]
        },
        "taxes": [ { "store_rate": "DE-19", "odoo_tax": "VAT 20%", "account": "445710" } ],
        "lines": [
            { "name": "wholesale", "when": { "customer_group": ["Wholesale"] }, "account": "400200",
              "analytic": [ { "account": "CC-WHS", "percent": "100" } ] },
            { "name": "men", "when": { "category": "Men" }, "account": "400100",
              "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
            { "name": "everything else", "when": {}, "account": "400000",
              "analytic": [ { "account": "CC-US", "percent": "100" } ] }
        ]
    })
}

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

fn spec(entity: i64, at: chrono::DateTime<Utc>, items: Vec<Item>) -> OrderSpec {
    OrderSpec { tax_percent: Decimal::new(20, 0), ..OrderSpec::new(entity, Some(7), at, items) }
}

/// A connection to `store`, its deployment left to detection.
async fn connect(stack: &LocalStack, odoo: &Sandbox, store: &AdobeSandbox, name: &str) -> Result<Connection> {
    let o = store.options();
    let mut settings = AdobeSettings { webhooks: o.mode == Mode::Paas, ..AdobeSettings::default() };
    if o.mode == Mode::Saas {
        settings.ims_url = Some(store.ims_url().parse()?);
        settings.ims_org_id = Some(o.ims_org_id.clone());
    }
    let connection = Connection {
        id: ConnectionId::parse(name)?,
        source: SourceSystem::AdobeCommerce,
        store_url: store.store_url().parse()?,
        odoo_url: odoo.url().parse()?,
        odoo_database: Some(odoo.options().database.clone()),
        audit_retention: Retention::Days30,
        allow_private_network: true,
        paused: false,
        settings: shared::stores::StoreSettings::AdobeCommerce(settings),
        poll_start: None,
        ca_pem: None,
        reconcile_list_only: false,
        alerts: None,
    };
    stack.store.put_connection(&connection).await?;
    let odoo_side = odoo.options();
    let secrets = SecretBundle::new().with("odoo_login", &odoo_side.login).with("odoo_api_key", &odoo_side.api_key);
    let secrets = store.connection_secrets().into_iter().fold(secrets, |b, (k, v)| b.with(k, v));
    stack.secrets.put(&connection.id, &secrets).await?;
    let version = stack.store.latest_rules(&connection.id).await?.map(|r| r.version);
    stack.store.save_rules(&connection.id, version, &rules()).await?;
    Ok(connection)
}

/// Runs the Adobe Commerce part and prints its summary.
pub async fn run(stack: &LocalStack, odoo: &Sandbox, poster: &Poster) -> Result<()> {
    let store =
        AdobeSandbox::start(AdobeOptions::new(Mode::Paas)).await.context("starting the Adobe Commerce sandbox")?;
    println!("\nAdobe Commerce, on the same Odoo: a sandbox store at {}", store.store_url());
    let connection = connect(stack, odoo, &store, PAAS).await?;
    let stores = stack.stores();
    let (base, server) = shared::serve::on_loopback(shared::serve::webhook_router(stores.clone())).await?;
    let hook = format!("{base}/webhooks/adobe-commerce/{PAAS}");

    let t0 = Utc::now() - Span::hours(2);
    let items = vec![
        Item::simple("HOODIE-S", Decimal::new(40, 0), 2, 4),
        Item::Configurable {
            sku: "HOODIE-CFG".into(),
            child_sku: "HOODIE-CFG-M".into(),
            price: Decimal::new(60, 0),
            category: 4,
        },
        Item::Bundle {
            sku: "GEAR-KIT".into(),
            children: vec![("GEAR-BOTTLE".into(), Decimal::new(15, 0)), ("GEAR-MAT".into(), Decimal::new(25, 0))],
            category: 5,
        },
    ];
    store.add_order(&spec(1, t0, items));
    store.invoice_order(1, 1, t0 + Span::minutes(1));
    let invoice_saved = "observer.sales_order_invoice_save_after";
    let answer = store.deliver(&hook, invoice_saved, "invoice", json!({ "entity_id": 1, "order_id": 1 }), None).await;
    println!(
        "8. Invoice 200000001 (a hoodie twice, a configurable hoodie, a bundle of two) saved: the signed webhook was answered {} {}",
        answer.status, answer.body
    );
    let forged = store.deliver(&hook, invoice_saved, "invoice", json!({ "entity_id": 1 }), Some("Zm9yZ2Vk")).await;
    println!("   a forged one was answered {} too (never blocking the store) and queued nothing", forged.body);
    store.add_order(&OrderSpec {
        group_id: 2,
        ..spec(2, t0 + Span::minutes(5), vec![Item::simple("GEAR-MAT", Decimal::new(25, 0), 4, 5)])
    });
    store.invoice_order(2, 2, t0 + Span::minutes(6));
    let settings = PollSettings { start: t0 - Span::hours(1), ..PollSettings::default() };
    let poll = stores.for_connection(&connection)?.poll();
    let report = Poller::new(stores.pipeline.clone()).poll(poll, &connection, &settings, Utc::now(), &|_| {}).await?;
    stack.drain_all(poster).await?;
    println!(
        "9. A wholesale invoice no webhook announced: the poller's searchCriteria windows queued {} records",
        report.records_queued
    );
    let memo = MemoSpec { rows: vec![(101, 1)], adjustment_negative: Decimal::new(5, 0), ..MemoSpec::default() };
    store.refund(1, 1, &memo, Utc::now() - Span::minutes(5));
    let memo_saved = "observer.sales_order_creditmemo_save_after";
    store.deliver(&hook, memo_saved, "creditmemo", json!({ "entity_id": 1, "order_id": 1 }), None).await;
    stack.drain_all(poster).await?;
    server.abort();
    println!("10. Credit memo 300000001: one hoodie back, a 5.00 restocking fee kept\n");

    // The same store as a Cloud Service: detected from the credentials, one IMS token.
    let cloud =
        AdobeSandbox::start(AdobeOptions::new(Mode::Saas)).await.context("starting the Cloud Service sandbox")?;
    let saas = connect(stack, odoo, &cloud, SAAS).await?;
    cloud.add_order(&spec(3, t0, vec![Item::simple("HOODIE-S", Decimal::new(40, 0), 1, 4)]));
    cloud.invoice_order(3, 3, t0 + Span::minutes(1));
    let poll = stores.for_connection(&saas)?.poll();
    Poller::new(stores.pipeline.clone()).poll(poll, &saas, &settings, Utc::now(), &|_| {}).await?;
    stack.drain_all(poster).await?;

    println!("Summary, Adobe Commerce ({PAAS}: PaaS, OAuth 1.0a; {SAAS}: Cloud Service, Adobe IMS)");
    for name in [PAAS, SAAS] {
        let entries = odoo.search(
            "account.move",
            Val::list([
                leaf("invoice_origin", "ilike", Val::Str(format!("mlc:{name}:"))),
                leaf("move_type", "=", Val::from("entry")),
            ]),
        );
        let reversals = odoo.search(
            "account.move",
            Val::list([
                leaf("invoice_origin", "ilike", Val::Str(format!("mlc:{name}:refund:"))),
                leaf("move_type", "=", Val::from("entry")),
            ]),
        );
        println!(
            "  {name}: {} journal entries from invoices, {} reversing entries from credit memos",
            entries.len() - reversals.len(),
            reversals.len()
        );
    }
    let first = odoo.search(
        "account.move",
        Val::list([leaf("invoice_origin", "ilike", Val::Str(format!("mlc:{PAAS}:invoice:200000001:")))]),
    );
    let lines = odoo.search("account.move.line", Val::list([leaf("move_id", "in", Val::ids(&first))]));
    for l in odoo.read("account.move.line", &lines, &["name", "debit", "credit", "account_id"]) {
        let account = l.get("account_id").and_then(|a| a.as_list()?.get(1)?.as_str().map(String::from));
        let (debit, credit) = (l.get("debit").and_then(Val::as_decimal), l.get("credit").and_then(Val::as_decimal));
        println!(
            "    invoice 200000001  {:<28} {:>8} {:>8}  {}",
            l.get("name").and_then(Val::as_str).unwrap_or_default(),
            debit.filter(|d| !d.is_zero()).map(|d| d.to_string()).unwrap_or_default(),
            credit.filter(|d| !d.is_zero()).map(|d| d.to_string()).unwrap_or_default(),
            account.unwrap_or_default()
        );
    }
    println!(
        "  IMS tokens minted for the Cloud Service: {}; writes to either store: {}",
        cloud.tokens_issued(),
        store.writes().len() + cloud.writes().len()
    );
    for f in [stack.store.failed(&connection.id).await?, stack.store.failed(&saas.id).await?].concat() {
        println!("  FAILED {} {}: {}", f.kind, f.source_id, f.reason);
    }
    Ok(())
}
