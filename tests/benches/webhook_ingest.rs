//! Webhook ingest in `mlc serve` (the same `shared::local::serve`, in this process): signed
//! WooCommerce `order.created` deliveries per second — verified, normalized and durably queued in
//! SQLite (WAL, synchronous=FULL) before the 200 — and p50/p99 latency at 64 concurrent clients,
//! beside the same load against a trivial HTTP handler in the same run. Posting is off
//! (`--workers 0`) so only ingest is measured.
//!
//!     cargo run --release -p blackbox --example webhook_ingest [-- SECONDS]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{Duration as Span, Utc};
use hmac::{Hmac, Mac};
use shared::local::ServeSettings;
use shared::ports::*;
use woo_sandbox::{SandboxStore, StoreOptions};

const CLIENTS: usize = 64;

struct Delivery {
    body: String,
    signature: String,
    id: String,
}

/// Sends deliveries from `next` on (each a new one: a repeated delivery id is answered from the
/// handler's memory, which is cheaper and not what is measured).
async fn load(
    url: &str,
    deliveries: Arc<Vec<Delivery>>,
    next: Arc<AtomicUsize>,
    seconds: u64,
) -> (f64, Vec<Duration>, usize) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, next, deliveries, url) = (client.clone(), next.clone(), deliveries.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let d = &deliveries[next.fetch_add(1, Ordering::Relaxed) % deliveries.len()];
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-wc-webhook-topic", "order.created")
                    .header("x-wc-webhook-resource", "order")
                    .header("x-wc-webhook-event", "created")
                    .header("x-wc-webhook-signature", &d.signature)
                    .header("x-wc-webhook-delivery-id", &d.id)
                    .body(d.body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    (all.len() as f64 / secs, all, errors)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).map(|a| a.parse().expect("SECONDS is a number")).unwrap_or(10);
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    let (_dir, stack, _id) = blackbox::local_woo_connection(&store).await;
    let s = store.options();

    // Distinct orders, signed in advance (what the store does is not measured).
    let t0 = Utc::now() - Span::hours(1);
    store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t0);
    let deliveries: Vec<Delivery> = (0..150_000i64)
        .map(|i| {
            let mut order = store.add_order(1_000_000 + i % 500, 501, "processing", t0);
            order["id"] = serde_json::json!(1_000_000 + i);
            order["number"] = serde_json::json!((1_000_000 + i).to_string());
            let body = order.to_string();
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(s.webhook_secret.as_bytes()).unwrap();
            mac.update(body.as_bytes());
            Delivery {
                body,
                signature: base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
                id: format!("bench-{i}"),
            }
        })
        .collect();
    let deliveries = Arc::new(deliveries);

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let settings = ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        poll_every: None,
        poll: Default::default(),
        workers: 0,
        poster: Default::default(),
        limits: Default::default(),
        reconcile: None,
        console: false,
        tls: None,
        behind_tls_proxy: false,
    };
    let serve_stack = stack.clone();
    let server = tokio::spawn(async move {
        shared::local::serve(
            serve_stack,
            settings,
            async {
                let _ = stop_rx.await;
            },
            |addr| ready_tx.send(addr).unwrap(),
        )
        .await
        .unwrap()
    });
    let addr = ready_rx.await.unwrap();
    let url = format!("http://{addr}/webhooks/woocommerce/shop");
    let next = Arc::new(AtomicUsize::new(0));
    load(&url, deliveries.clone(), next.clone(), 1).await; // warm-up: connections, the category cache
    let queued_before = stack.queue.approximate_depth().await.unwrap();
    let (writes_before, groups_before) = stack.db.commit_counts();
    let (rate, latencies, errors) = load(&url, deliveries.clone(), next.clone(), seconds).await;
    assert!(next.load(Ordering::Relaxed) < deliveries.len(), "ran out of distinct deliveries");
    let queued = stack.queue.approximate_depth().await.unwrap() - queued_before;
    let (writes, groups) = stack.db.commit_counts();
    let (writes, groups) = (writes - writes_before, groups - groups_before);
    let _ = stop_tx.send(());
    server.await.unwrap();

    let trivial = axum::Router::new().route("/{*path}", axum::routing::post(|| async { "ok" }));
    let (trivial_url, _t) = shared::serve::on_loopback(trivial).await.unwrap();
    let (t_rate, t_latencies, t_errors) = load(
        &format!("{trivial_url}/webhooks/woocommerce/shop"),
        deliveries.clone(),
        Arc::new(AtomicUsize::new(0)),
        seconds,
    )
    .await;

    println!(
        "Webhook ingest, {CLIENTS} concurrent clients, {seconds} s each, {} cores\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("{:<46} {:>10} {:>9} {:>9} {:>7}", "handler", "per second", "p50 ms", "p99 ms", "errors");
    println!(
        "{:<46} {:>10.0} {:>9.2} {:>9.2} {:>7}",
        "mlc serve (verify + normalize + durable enqueue)",
        rate,
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        errors
    );
    println!(
        "{:<46} {:>10.0} {:>9.2} {:>9.2} {:>7}",
        "trivial handler (200 \"ok\")",
        t_rate,
        pct(&t_latencies, 0.5),
        pct(&t_latencies, 0.99),
        t_errors
    );
    println!(
        "\nrecords durably queued during the measured run: {queued} (deliveries answered 200: {})",
        latencies.len()
    );
    println!(
        "SQLite: {writes} writes in {groups} commits (fsyncs), {:.1} writes per commit",
        writes as f64 / groups.max(1) as f64
    );
    println!("goal: at least 5,000/s with p99 under 10 ms");
}
