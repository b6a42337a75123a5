//! Poller backfill memory: `mlc backfill --from DATE --queue-only` (the release binary, its own
//! process) against the sandbox store holding N orders, for several N. Prints wall time, pages
//! requested and the process's peak RSS (VmHWM), which should not grow with N.
//!
//!     cargo build --release -p mlc && cargo run --release -p blackbox --example backfill_memory [-- 10000 100000]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Duration as Span, TimeZone, Utc};
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
        if args.is_empty() { vec![10_000, 100_000] } else { args }
    };
    let mlc = std::env::var("MLC_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/mlc").to_string());
    assert!(
        std::path::Path::new(&mlc).exists(),
        "{mlc} is missing: cargo build --release -p mlc first (or set MLC_BIN)"
    );
    println!("Poller backfill: `mlc backfill --queue-only` against the sandbox store (6-hour windows, pages of 100)\n");
    println!("{:>9} {:>10} {:>8} {:>10} {:>14}", "orders", "wall s", "pages", "orders/s", "peak RSS MiB");
    for n in counts {
        let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        // Spread over the days since `from`, as a shop's history is.
        let span = (Utc::now() - from).num_seconds() - 3600;
        store.add_customer(501, "ada@example.com", "Ada", "Lovelace", from);
        for i in 0..n as i64 {
            store.add_order(1 + i, 501, "processing", from + Span::seconds(i * span / n as i64));
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
            .args(["backfill", "--from", "2026-01-01", "--queue-only", "--json"])
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
        println!(
            "{:>9} {:>10.1} {:>8} {:>10.0} {:>14.1}",
            n,
            wall,
            report["poll"]["pages"],
            n as f64 / wall,
            peak as f64 / 1024.0
        );
    }
    println!("\ngoal: peak RSS flat (under 64 MB) whatever the count");
}
