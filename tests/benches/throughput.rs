//! Poster throughput against a naive per-order poster, both on the same Odoo sandbox with 20 ms
//! of latency on every call, in the same run. The naive poster is the common "one call per
//! step" pattern: search the partner, create it if missing, search each product, create the
//! move, post it — one order at a time. Both create the same moves (the same plan); the orders
//! are the sandbox store's (1–3 lines, shipping, taxes), normalized as the webhook does.
//!
//!     cargo run --release -p blackbox --example throughput [-- ORDERS]

use std::time::{Duration, Instant};

use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{Duration as Span, Utc};
use odoo_sandbox::Fault;
use shared::odoo::{OdooClient, OdooConfig, Val};
use shared::ports::{OutgoingMessage, Secret};
use shared::poster::IncomingMessage;
use shared::poster::plan::{Lookups, plan_sales_document};
use shared::poster::session::OdooSession;
use shared::records::{CustomerRef, Envelope, Record};
use woo_sandbox::{SandboxStore, StoreOptions};

const LATENCY: Duration = Duration::from_millis(20);

fn leaf(f: &str, op: &str, v: Val) -> Val {
    Val::list([Val::from(f), Val::from(op), v])
}

/// One order, one step at a time.
async fn naive_post(client: &OdooClient, lookups: &OdooSession, rules: &shared::rules::MappingRules, e: &Envelope) {
    let Record::Order(doc) = &e.record else { unreachable!() };
    let reference = match &doc.customer {
        CustomerRef::Registered { source_id, .. } => format!("naive-{source_id}"),
        CustomerRef::Guest { email } => format!("naive-{}", email.clone().unwrap_or_default()),
    };
    let found = client
        .search_read("res.partner", Val::list([leaf("ref", "=", Val::Str(reference.clone()))]), &["id"], Some(1), None)
        .await
        .unwrap();
    let partner = match found.first().and_then(|r| r.get("id")).and_then(Val::as_i64) {
        Some(id) => id,
        None => client
            .create("res.partner", Val::map([("name", Val::Str(reference.clone())), ("ref", Val::Str(reference))]))
            .await
            .unwrap(),
    };
    let mut products = Vec::new();
    for line in &doc.lines {
        let sku = line.sku.as_ref().map(|s| s.to_string()).unwrap_or_default();
        let rows = client
            .search_read(
                "product.product",
                Val::list([leaf("default_code", "=", Val::Str(sku))]),
                &["id"],
                Some(1),
                None,
            )
            .await
            .unwrap();
        products.push(rows.first().and_then(|r| r.get("id")).and_then(Val::as_i64));
    }
    let plan = plan_sales_document(doc, None, rules, lookups).unwrap();
    let lines: Vec<Val> = plan
        .lines
        .iter()
        .map(|l| {
            Val::list([
                Val::Int(0),
                Val::Int(0),
                Val::map([
                    ("name", Val::Str(l.name.clone())),
                    ("account_id", Val::Int(l.account_id)),
                    ("quantity", Val::Num(l.quantity)),
                    ("price_unit", Val::Num(l.price_unit)),
                    ("tax_ids", Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&l.tax_ids)])])),
                ]),
            ])
        })
        .collect();
    let id = client
        .create(
            "account.move",
            Val::map([
                ("move_type", Val::from("out_invoice")),
                ("partner_id", Val::Int(partner)),
                ("invoice_origin", Val::Str(format!("naive:{}", e.source_id))),
                ("invoice_line_ids", Val::List(lines)),
            ]),
        )
        .await
        .unwrap();
    client.call_method("account.move", "action_post", &[id]).await.unwrap();
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).map(|a| a.parse().expect("ORDERS is a number")).unwrap_or(200);
    let h = Harness::start(Family::embedded().await).await;
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    h.attach_store(&store).await;
    let connector = h.connector();
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();

    // Orders from 20 returning customers (a shop's steady state), normalized as the webhook does.
    let t0 = Utc::now() - Span::days(1);
    for c in 0..20 {
        store.add_customer(500 + c, &format!("c{c}@example.com"), "Cust", &format!("{c}"), t0);
    }
    let mut envelopes = Vec::new();
    for i in 0..(2 * n + 20) as i64 {
        let order = store.add_order(50_000 + i, 500 + i % 20, "processing", t0 + Span::seconds(i));
        let order: shared::stores::woocommerce::normalize::WooOrder = serde_json::from_value(order).unwrap();
        envelopes.extend(connector.order_envelopes(&connection, &order, false).await.unwrap());
    }
    let (warmup, rest) = envelopes.split_at(20);
    let (ours, naive) = rest.split_at(n);

    h.odoo.inject("*", "*", Fault::Latency(LATENCY), usize::MAX);

    // ml-connector's poster: batches of 10 as SQS hands them over, warm container.
    let poster = h.poster();
    let warm: Vec<&Envelope> = warmup.iter().collect();
    for chunk in warm.chunks(10) {
        h.post(&poster, chunk).await;
    }
    let calls_before = h.odoo.calls().len();
    let started = Instant::now();
    for chunk in ours.chunks(10) {
        let messages: Vec<IncomingMessage> = chunk
            .iter()
            .map(|e| {
                let m = OutgoingMessage::for_envelope(e);
                IncomingMessage {
                    message_id: uuid::Uuid::new_v4().to_string(),
                    group_id: m.group_id,
                    body: m.body,
                    receive_count: 1,
                }
            })
            .collect();
        let report = poster.handle_batch(&messages).await;
        assert!(
            report.outcomes.iter().all(|(_, o)| matches!(o, shared::poster::RecordOutcome::Posted { .. })),
            "{:?}",
            report.outcomes
        );
    }
    let ours_secs = started.elapsed().as_secs_f64();
    let ours_calls = h.odoo.calls().len() - calls_before;

    // The naive poster, on the same sandbox, one order after the other.
    let o = h.odoo.options();
    let config = || {
        let mut c =
            OdooConfig::new(h.odoo.url(), Some(o.database.clone()), o.login.clone(), Secret::new(o.api_key.clone()));
        c.allow_private_network = true;
        c
    };
    let client = OdooClient::connect(config()).await.unwrap();
    let lookups = OdooSession::open(OdooClient::connect(config()).await.unwrap()).await.unwrap();
    let rules = shared::rules::MappingRules::from_json(&blackbox::harness::rules()).unwrap();
    let skus: Vec<String> = naive
        .iter()
        .flat_map(|e| match &e.record {
            Record::Order(d) => d.lines.iter().filter_map(|l| l.sku.as_ref().map(|s| s.to_string())).collect(),
            _ => vec![],
        })
        .collect();
    lookups.load_products(&skus).await.unwrap();
    let _ = lookups.product("SHIRT-M");
    let calls_before = h.odoo.calls().len();
    let started = Instant::now();
    for e in naive {
        naive_post(&client, &lookups, &rules, e).await;
    }
    let naive_secs = started.elapsed().as_secs_f64();
    let naive_calls = h.odoo.calls().len() - calls_before;

    let lines: usize = ours
        .iter()
        .map(|e| match &e.record {
            Record::Order(d) => d.lines.len(),
            _ => 0,
        })
        .sum();
    println!(
        "Poster throughput, {n} orders each ({:.1} lines per order), Odoo sandbox with {} ms per call\n",
        lines as f64 / n as f64,
        LATENCY.as_millis()
    );
    println!("{:<44} {:>10} {:>12} {:>12}", "poster", "orders/s", "Odoo calls", "calls/order");
    println!(
        "{:<44} {:>10.1} {:>12} {:>12.2}",
        "ml-connector (batches of 10, warm)",
        n as f64 / ours_secs,
        ours_calls,
        ours_calls as f64 / n as f64
    );
    println!(
        "{:<44} {:>10.1} {:>12} {:>12.2}",
        "naive (one call per step, one order at a time)",
        n as f64 / naive_secs,
        naive_calls,
        naive_calls as f64 / n as f64
    );
    println!("\nspeed-up: {:.1}x (goal: at least 8x)", naive_secs / ours_secs);
}
