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
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One request over a plain socket on a thread of its own, so the load generator's runtime does
/// not add its own scheduling to what is measured. Returns the status line and the time taken.
fn timed_request(addr: String, request: Vec<u8>) -> std::thread::JoinHandle<(String, Duration)> {
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.write_all(&request).unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        (String::from_utf8_lossy(&head).into_owned(), started.elapsed())
    })
}

/// The sandbox store on a runtime of its own (the webhook asks it for product categories).
fn store_on_its_own_thread() -> SandboxStore {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            tx.send(SandboxStore::start(StoreOptions::default()).await.unwrap()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

#[tokio::main]
async fn main() {
    let binary = std::env::var("MLC_BIN").unwrap_or_else(|_| "target/release/mlc".into());
    assert!(std::path::Path::new(&binary).exists(), "{binary} is missing: cargo build --release -p mlc first");
    let store = store_on_its_own_thread();
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
        stream
            .write_all(b"POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nX-WC-Webhook-Topic: order.cre")
            .await
            .unwrap();
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
                "POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400000\r\n"
                    .to_string()
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
    let request = format!(
        "POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nX-WC-Webhook-Topic: order.created\r\nX-WC-Webhook-Resource: order\r\n\
         X-WC-Webhook-Signature: {signature}\r\nX-WC-Webhook-Delivery-ID: valid-1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let (status, took) = timed_request(addr.clone(), request.into_bytes()).join().unwrap();
    for task in burst {
        let _ = task.await;
    }
    let burst_took = burst_started.elapsed();
    println!(
        "valid delivery during the burst: {} in {:.1} ms (goal: within 1 s)",
        status.trim(),
        took.as_secs_f64() * 1000.0
    );
    println!("{BIG} unsigned 4 MiB bodies refused in {:.2} s", burst_took.as_secs_f64());
    let (rss, peak) = (memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM"));
    println!(
        "server memory: VmRSS {:.1} MiB, peak VmHWM {:.1} MiB (goal: under 100 MiB)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    drop(idle);
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
}

fn bytes_of(n: usize) -> std::sync::Arc<Vec<u8>> {
    std::sync::Arc::new(vec![b'x'; n])
}
