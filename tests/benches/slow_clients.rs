//! `mlc serve` (the release binary) under slow and oversized clients: 2,000 connections that
//! send half a request head and hold it, then a burst of 300 unsigned 4 MiB bodies (half with a
//! Content-Length, half chunked), and meanwhile one valid signed delivery. Prints how long the
//! valid delivery took and the server's resident memory (VmRSS now, VmHWM peak). Goals: the
//! valid delivery answered within a second, under 100 MiB.
//!
//!     cargo build --release -p mlc && cargo run --release -p blackbox --example slow_clients

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{Duration as Span, Utc};
use hmac::{Hmac, Mac};
use tokio::io::AsyncWriteExt;
use woo_sandbox::{SandboxStore, StoreOptions};

const IDLE: usize = 2_000;
const BIG: usize = 300;
const BIG_BYTES: usize = 4 * 1024 * 1024;

fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let binary = std::env::var("MLC_BIN").unwrap_or_else(|_| "target/release/mlc".into());
    assert!(std::path::Path::new(&binary).exists(), "{binary} is missing: cargo build --release -p mlc first");
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    let (dir, stack, _id) = blackbox::local_woo_connection(&store).await;
    let s = store.options();
    drop(stack);

    let mut child = Command::new(&binary)
        .arg("--dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--poll-every", "0", "--workers", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    let url = first.split_whitespace().nth(2).expect("the address line").to_string();
    let addr = url.trim_start_matches("http://").to_string();
    let pid = child.id();
    println!("mlc serve (pid {pid}) at {url}; at rest: VmRSS {} KiB", memory_kib(pid, "VmRSS"));

    // 2,000 half-open requests, held.
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nX-WC-Webhook-Topic: order.cre").await.unwrap();
        idle.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("{IDLE} idle half-open connections held: VmRSS {} KiB", memory_kib(pid, "VmRSS"));

    // 300 unsigned 4 MiB bodies at once.
    let body = bytes_of(BIG_BYTES);
    let burst_started = Instant::now();
    let mut burst = Vec::new();
    for n in 0..BIG {
        let (addr, body) = (addr.clone(), body.clone());
        burst.push(tokio::spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else { return };
            let head = if n % 2 == 0 {
                format!("POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nContent-Length: {BIG_BYTES}\r\n\r\n")
            } else {
                "POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400000\r\n".to_string()
            };
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let _ = stream.write_all(&body).await; // the server refuses it unread and closes
        }));
    }

    // Meanwhile, one valid delivery.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let order = store.add_order(7001, 0, "processing", Utc::now() - Span::minutes(1));
    let text = order.to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(s.webhook_secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .post(format!("{url}/webhooks/woocommerce/shop"))
        .header("x-wc-webhook-topic", "order.created")
        .header("x-wc-webhook-resource", "order")
        .header("x-wc-webhook-signature", signature)
        .header("x-wc-webhook-delivery-id", "valid-1")
        .body(text)
        .send()
        .await;
    let took = started.elapsed();
    let status = response.map(|r| r.status().as_u16()).unwrap_or(0);
    for task in burst {
        let _ = task.await;
    }
    let burst_took = burst_started.elapsed();
    println!("valid delivery during the burst: HTTP {status} in {:.1} ms (goal: within 1 s)", took.as_secs_f64() * 1000.0);
    println!("{BIG} unsigned 4 MiB bodies refused in {:.2} s", burst_took.as_secs_f64());
    let (rss, peak) = (memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM"));
    println!("server memory: VmRSS {:.1} MiB, peak VmHWM {:.1} MiB (goal: under 100 MiB)", rss as f64 / 1024.0, peak as f64 / 1024.0);
    drop(idle);
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
}

fn bytes_of(n: usize) -> std::sync::Arc<Vec<u8>> {
    std::sync::Arc::new(vec![b'x'; n])
}
