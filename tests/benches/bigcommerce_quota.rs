//! BigCommerce quota: a backfill of N orders (2,000 by default) through the poller against the
//! sandbox store, whose quota is 150 requests per window with another app taking 30 of every
//! window. The window is 1 s instead of BigCommerce's 30 s so the run takes a minute, not half an
//! hour; the pacing sees the same headers either way. Prints requests per order, the share of
//! our part of the quota used (goal: at least 90%) and the 429s met (goal: none).
//!
//!     cargo run --release -p blackbox --example bigcommerce_quota [-- 2000]

use std::time::{Duration, Instant};

use bc_sandbox::{BcOptions, BigCommerceSandbox};
use chrono::{Duration as Span, Utc};
use shared::ids::ConnectionId;
use shared::local::LocalStack;
use shared::ports::*;
use shared::records::SourceSystem;
use shared::stores::bigcommerce::BcSettings;
use shared::stores::poll::{PollSettings, Poller};

#[tokio::main]
async fn main() {
    let n: i64 = std::env::args().nth(1).map(|a| a.parse().expect("a number of orders")).unwrap_or(2_000);
    let (quota, other, window) = (150u32, 30u32, Duration::from_secs(1));
    let store = BigCommerceSandbox::start(BcOptions { quota, window, ..BcOptions::default() }).await.unwrap();
    store.other_client_uses(other);
    let from = Utc::now() - Span::days(30);
    for id in 1..=n {
        store.add_order(id, 0, 11, from + Span::seconds(id * 600), 1 + (id % 3) as usize);
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = LocalStack::open(dir.path(), true).unwrap();
    let id = ConnectionId::parse("bench-bc").unwrap();
    let connection = Connection {
        id: id.clone(),
        source: SourceSystem::Bigcommerce,
        store_url: "https://shop.example.com".parse().unwrap(),
        odoo_url: "https://acme.odoo.com".parse().unwrap(),
        odoo_database: None,
        audit_retention: Retention::Days30,
        allow_private_network: true,
        paused: false,
        settings: shared::stores::StoreSettings::Bigcommerce(BcSettings {
            store_hash: store.options().store_hash.clone(),
            api_base: Some(store.api_base().parse().unwrap()),
        }),
        poll_start: None,
        ca_pem: None,
        reconcile_list_only: false,
        alerts: None,
    };
    stack.store.put_connection(&connection).await.unwrap();
    let secrets = SecretBundle::new().with("bc_access_token", &store.options().access_token);
    stack.secrets.put(&id, &secrets).await.unwrap();
    let stores = stack.stores();
    let settings =
        PollSettings { start: from, window: Span::days(2), backfill: Some("bench".into()), ..PollSettings::default() };
    println!(
        "BigCommerce backfill of {n} orders: quota {quota} per {} ms, {other} of it used by another app\n",
        window.as_millis()
    );
    let started = Instant::now();
    let source = stores.for_connection(&connection).unwrap().poll();
    let report =
        Poller::new(stores.pipeline.clone()).poll(source, &connection, &settings, Utc::now(), &|_| {}).await.unwrap();
    let elapsed = started.elapsed();
    let requests = store.requests();
    let windows = elapsed.as_secs_f64() / window.as_secs_f64();
    let share = f64::from(quota - other);
    println!(
        "{:>8} {:>9} {:>12} {:>9} {:>14} {:>6}",
        "orders", "requests", "req/order", "wall s", "quota used %", "429s"
    );
    println!(
        "{:>8} {:>9} {:>12.2} {:>9.1} {:>14.1} {:>6}",
        report.orders,
        requests,
        requests as f64 / report.orders.max(1) as f64,
        elapsed.as_secs_f64(),
        100.0 * requests as f64 / (windows.ceil() * share),
        store.throttled()
    );
    println!("\ngoal: at least 90% of our share of the quota used, and no 429");
}
