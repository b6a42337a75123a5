//! What a hostile sender and an unlucky operator found: each test names what it protects.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;

use super::*;

/// An Odoo that accepts connections and never answers.
fn hung_odoo() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let keeper = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            held.push(stream);
        }
    });
    (addr, keeper)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_against_a_hung_odoo_ends_with_exit_5_and_its_records_stay_queued() {
    let w = World::start().await;
    w.connected().await;
    let t = Utc::now() - Span::hours(1);
    for n in 0..3 {
        w.store.add_order(6000 + n, 0, "processing", t + Span::seconds(n));
    }
    let (hung, _keeper) = hung_odoo();
    let r = w
        .mlc(&[
            "connection",
            "add",
            "shop",
            "--store-url",
            w.store.url(),
            "--odoo-url",
            &format!("http://{hung}"),
            "--odoo-database",
            "x",
            "--odoo-login",
            "bot@example.com",
            "--allow-private-network",
        ])
        .await;
    // Re-adding replaces the connection's Odoo side (the rules stay).
    assert_eq!(r.code, 0, "{}", r.all());
    let started = std::time::Instant::now();
    let sync = w.mlc(&["--odoo-timeout", "1", "sync"]).await;
    assert_eq!(sync.code, 5, "{}", sync.all());
    assert!(sync.stderr.contains("stay queued") && sync.stderr.contains("run `mlc sync` again"), "{}", sync.stderr);
    assert!(started.elapsed() < Duration::from_secs(60), "it ends, and says so: {:?}", started.elapsed());
    let failed = w.mlc(&["failed", "list"]).await;
    assert!(failed.stdout.contains("queued") || failed.stdout.contains("no failed records"), "{}", failed.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_a_revoked_odoo_key_does_not_exit_0() {
    let w = World::start().await;
    let added = w.add_connection(w.store.url(), "revoked-key-0123456789").await;
    assert_eq!(added.code, 0, "{}", added.all());
    let file = w.dir.path().join("rules.json");
    std::fs::write(&file, rules().to_string()).unwrap();
    assert_eq!(w.mlc(&["mappings", "set", file.to_str().unwrap()]).await.code, 0);
    w.store.add_order(6100, 0, "processing", Utc::now() - Span::hours(1));
    let sync = w.mlc(&["sync"]).await;
    assert_eq!(sync.code, 1, "{}", sync.all());
    assert!(sync.stderr.contains("failed") && sync.stderr.contains("mlc failed list"), "{}", sync.stderr);
    let failed = w.mlc(&["failed", "list"]).await;
    assert!(failed.stdout.contains("order 6100"), "{}", failed.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_when_its_secrets_cannot_be_read_and_a_lost_key_is_never_replaced() {
    let w = World::start().await;
    w.connected().await;
    let key = w.dir.path().join("secrets.key");
    let original = std::fs::read(&key).unwrap();
    // Another valid key: the secrets file cannot be decrypted with it.
    std::fs::write(&key, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=").unwrap();
    let serve = w.mlc(&["serve", "--listen", "127.0.0.1:0", "--poll-every", "0"]).await;
    assert_eq!(serve.code, 4, "{}", serve.all());
    assert!(serve.stderr.contains("cannot be read") && serve.stderr.contains("secrets.key"), "{}", serve.stderr);
    // The key file deleted: said so, with how to restore it; no new key is made.
    std::fs::remove_file(&key).unwrap();
    let list = w.mlc(&["connection", "list"]).await;
    assert_eq!(list.code, 4, "{}", list.all());
    assert!(list.stderr.contains("is missing") && list.stderr.contains("backup"), "{}", list.stderr);
    assert!(!key.exists(), "a lost key is not silently replaced");
    std::fs::write(&key, &original).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(w.mlc(&["connection", "list"]).await.code, 0, "restored, it works again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_is_private_and_urls_with_credentials_are_refused() {
    let w = World::start().await;
    w.connected().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(w.dir.path()), 0o700);
    assert_eq!(mode(&w.dir.path().join("mlc.sqlite3")), 0o600);
    for (flag, url) in
        [("--store-url", "https://admin:hunter2pw@shop.example"), ("--odoo-url", "https://bot:hunter2pw@acme.odoo.com")]
    {
        let mut args = vec![
            "connection",
            "add",
            "other",
            "--store-url",
            "https://shop.example",
            "--odoo-url",
            "https://acme.odoo.com",
            "--odoo-login",
            "bot@example.com",
        ];
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = url;
        let r = w.mlc(&args).await;
        assert_eq!(r.code, 4, "{}", r.all());
        assert!(r.stderr.contains("must not carry a user name or password"), "{}", r.stderr);
        assert!(!r.all().contains("hunter2pw"), "the password is never printed:\n{}", r.all());
    }
}

/// A request head that never ends, and a body that is too large: neither holds the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_closes_idle_half_requests_and_refuses_oversize_bodies_unread() {
    let w = World::start().await;
    w.connected().await;
    let run = serve(&w, "0");
    let addr = run.url.trim_start_matches("http://").to_string();
    // Half a request head: closed by the server after its header timeout (10 s).
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = idle.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(15), "held for {:?}", started.elapsed());
    // 4 MiB declared, unsigned: refused before a byte of it is read.
    let mut big = TcpStream::connect(&addr).unwrap();
    big.write_all(b"POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n").unwrap();
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 12];
    big.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 401");
    // Signed (or claiming to be) and over 1 MiB: 413, unread.
    let mut signed = TcpStream::connect(&addr).unwrap();
    signed.write_all(b"POST /webhooks/woocommerce/shop HTTP/1.1\r\nHost: x\r\nX-WC-Webhook-Signature: abc\r\nContent-Length: 4194304\r\n\r\n").unwrap();
    signed.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    signed.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    signal(&run.child, "TERM");
    let mut child = run.child;
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answers_at_once_when_the_store_hangs_and_the_reference_stays_queued() {
    let w = World::start().await;
    let (hung, _keeper) = hung_odoo(); // the same never-answering listener, as the store this time
    let added = w.add_connection(&format!("http://{hung}"), &w.odoo.options().api_key.clone()).await;
    assert_eq!(added.code, 0, "{}", added.all());
    let run = serve(&w, "0");
    let hook = format!("{}/webhooks/woocommerce/shop", run.url);
    let order = w.store.add_order(6200, 0, "processing", Utc::now());
    let started = std::time::Instant::now();
    let status = w.store.deliver(&hook, "order.created", &order, "d-hang").await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(2), "the webhook waited on the store: {took:?}");
    // The fetch stage is stuck on the hung store; shutdown does not wait for it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = std::time::Instant::now();
    signal(&run.child, "TERM");
    let mut child = run.child;
    assert!(child.wait().unwrap().success());
    assert!(stopping.elapsed() < Duration::from_secs(10), "shutdown waited {:?}", stopping.elapsed());
    let trace = w.mlc(&["trace", "6200"]).await;
    assert!(trace.stdout.contains("read from the store next"), "{}", trace.all());
}
