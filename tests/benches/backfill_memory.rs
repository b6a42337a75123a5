//! Poller backfill memory: `mlc backfill --from DATE --queue-only` (the release binary, its own
//! process) against the sandbox store holding N orders from N/4 customers over the last 30 days
//! (hundreds of orders a window, so several pages each), for several N. Prints wall time, the
//! store requests by kind and the process's peak RSS (VmHWM), which should not grow with N.
//!
//!     cargo build --release -p mlc && cargo run --release -p blackbox --example backfill_memory [-- 10000 50000]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use shared::ids::ConnectionId;
use shared::local::LocalStack;
use shared::ports::*;
use shared::records::SourceSystem;
use woo_sandbox::{SandboxStore, StoreOptions};

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let counts: Vec<usize> = {
        let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("counts are numbers")).collect();
        if args.is_empty() { vec![10_000, 50_000] } else { args }
    };
    let mlc = std::env::var("MLC_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/mlc").to_string());
    assert!(
        std::path::Path::new(&mlc).exists(),
        "{mlc} is missing: cargo build --release -p mlc first (or set MLC_BIN)"
    );
    println!("Poller backfill: `mlc backfill --queue-only` against the sandbox store (6-hour windows, pages of 100)\n");
    println!(
        "{:>9} {:>10} {:>10} {:>8} {:>10} {:>14}  requests by kind",
        "orders", "customers", "wall s", "pages", "orders/s", "peak RSS MiB"
    );
    for n in counts {
        let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
        let from = (Utc::now() - Span::days(30)).date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let span = (Utc::now() - from).num_seconds() - 3600;
        let customers = (n / 4).max(1) as i64;
        for c in 0..customers {
            store.add_customer(1 + c, &format!("c{c}@example.com"), "Ada", &format!("Lovelace {c}"), from);
        }
        for i in 0..n as i64 {
            store.add_order(1 + i, 1 + i % customers, "processing", from + Span::seconds(i * span / n as i64));
        }
        let dir = tempfile::tempdir().unwrap();
        let stack = LocalStack::open(dir.path(), true).unwrap();
        let id = ConnectionId::parse("shop").unwrap();
        stack
            .store
            .put_connection(&Connection {
                id: id.clone(),
                source: SourceSystem::Woocommerce,
                store_url: store.url().parse().unwrap(),
                odoo_url: "http://127.0.0.1:9".parse().unwrap(),
                odoo_database: None,
                audit_retention: Retention::Days30,
                allow_private_network: true,
                paused: false,
                settings: Default::default(),
                poll_start: None,
                ca_pem: None,
                reconcile_list_only: false,
                alerts: None,
            })
            .await
            .unwrap();
        let s = store.options();
        stack
            .secrets
            .put(
                &id,
                &SecretBundle::new()
                    .with("woo_consumer_key", &s.consumer_key)
                    .with("woo_consumer_secret", &s.consumer_secret)
                    .with("woo_webhook_secret", &s.webhook_secret),
            )
            .await
            .unwrap();
        drop(stack);

        let started = Instant::now();
        let mut child = Command::new(&mlc)
            .arg("--dir")
            .arg(dir.path())
            .args(["backfill", "--from", &from.format("%Y-%m-%d").to_string(), "--queue-only", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut peak = 0;
        let output = loop {
            if let Some(kib) = peak_rss_kib(pid) {
                peak = peak.max(kib);
            }
            if child.try_wait().unwrap().is_some() {
                break child.wait_with_output().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let wall = started.elapsed().as_secs_f64();
        assert!(output.status.success(), "backfill failed");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["poll"]["orders"].as_u64().unwrap() as usize, n, "{report}");
        let kinds: Vec<String> = store.requests_by_kind().iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "{:>9} {:>10} {:>10.1} {:>8} {:>10.0} {:>14.1}  {}",
            n,
            customers,
            wall,
            report["poll"]["pages"],
            n as f64 / wall,
            peak as f64 / 1024.0,
            kinds.join(", ")
        );
    }
    println!("\ngoal: peak RSS under 32 MiB and flat whatever the count; customer requests no more than the customers");
}
