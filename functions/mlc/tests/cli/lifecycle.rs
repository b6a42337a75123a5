//! What issue 21 found in the CLI: refunds and dead-lettered records are first-class in `trace`
//! and `replay`, a connection's own poll start and CA are honoured, backfills read closed ranges
//! page by page, and `connection add` refuses what `test` would.

use super::*;
use shared::ports::{QueueConsumer, RecordQueue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_and_replay_take_a_refund_id() {
    let w = World::start().await;
    w.connected().await;
    let t = Utc::now() - Span::hours(2);
    w.store.add_order(6301, 0, "processing", t);
    assert_eq!(w.mlc(&["sync"]).await.code, 0);
    // Odoo refuses the credit note once: the refund is kept as failed, by its own id.
    w.store.refund_line(6301, 0, 6302, t + Span::minutes(30));
    w.odoo.inject("account.move", "create", odoo_sandbox::Fault::UserError("The period is locked.".into()), 1);
    let sync = w.mlc(&["sync"]).await;
    assert_eq!(sync.code, 1, "{}", sync.all());
    let failed = w.mlc(&["failed", "list"]).await;
    assert!(failed.stdout.contains("refund 6301-r6302"), "{}", failed.all());

    let trace = w.mlc(&["trace", "6301-r6302"]).await;
    assert_eq!(trace.code, 0, "{}", trace.all());
    assert!(
        trace.stdout.contains("refund 6301-r6302") && trace.stdout.contains("The period is locked"),
        "{}",
        trace.stdout
    );
    let replay = w.mlc(&["replay", "6301-r6302"]).await;
    assert_eq!(replay.code, 0, "{}", replay.all());
    assert_eq!(w.mlc(&["sync"]).await.code, 0);
    let trace = w.mlc(&["trace", "6301-r6302"]).await;
    assert!(trace.stdout.contains("Replayed") && trace.stdout.contains("RINV/"), "{}", trace.stdout);
    let none = w.mlc(&["replay", "6301-r6302"]).await;
    assert_eq!(none.code, 4, "{}", none.all());
    assert!(none.stderr.contains("6301-r6302 is not a failed record"), "{}", none.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connections_poll_start_is_honoured_and_add_refuses_what_test_would() {
    let w = World::start().await;
    // An order from 45 days ago: older than the default 30 days.
    let old = Utc::now() - Span::days(45);
    w.store.add_order(6401, 0, "processing", old);
    let (odoo_url, db, login) =
        (w.odoo.url().to_string(), w.odoo.options().database.clone(), w.odoo.options().login.clone());
    let key = w.odoo.options().api_key.clone();
    let start = (Utc::now() - Span::days(60)).format("%Y-%m-%d").to_string();
    let add = |extra: Vec<&'static str>| {
        let mut args: Vec<String> =
            ["connection", "add", "shop", "--store-url", w.store.url(), "--odoo-url", &odoo_url]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(["--odoo-database".to_string(), db.clone(), "--odoo-login".to_string(), login.clone()]);
        args.extend(extra.into_iter().map(String::from));
        args
    };

    // Without --allow-private-network the loopback Odoo is refused now, not at `test` time.
    let refused = add(vec![]);
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let r = w.mlc_with(&refused, &[("MLC_ODOO_API_KEY", &key)]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("--allow-private-network"), "the error names the flag: {}", r.stderr);
    let listed = w.mlc(&["connection", "list"]).await;
    assert!(!listed.stdout.contains("shop"), "nothing was stored: {}", listed.all());

    let mut args = add(vec!["--allow-private-network", "--poll-start"]);
    args.push(start.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = w.mlc_with(&args, &[("MLC_ODOO_API_KEY", &key)]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let file = w.dir.path().join("rules.json");
    std::fs::write(&file, rules().to_string()).unwrap();
    assert_eq!(w.mlc(&["mappings", "set", file.to_str().unwrap()]).await.code, 0);
    let sync = w.mlc(&["sync"]).await;
    assert_eq!(sync.code, 0, "{}", sync.all());
    assert_eq!(w.invoices_by_order().get("6401"), Some(&1), "read from the connection's own start: {}", sync.all());

    let bad = w
        .mlc_with(
            &[
                "connection",
                "add",
                "x",
                "--store-url",
                "https://s.example",
                "--odoo-url",
                &odoo_url,
                "--odoo-login",
                "a",
                "--poll-start",
                "last june",
            ],
            &[("MLC_ODOO_API_KEY", &key)],
        )
        .await;
    assert_eq!(bad.code, 4, "{}", bad.all());
    assert!(bad.stderr.contains("--poll-start \"last june\" is not a YYYY-MM-DD date"), "{}", bad.stderr);
}

/// A self-hosted Odoo behind a private CA: trusted with `--ca-file` (stored with the
/// connection), refused without it. The address guard and host name checks stay as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_given_by_ca_file_is_trusted_and_without_it_refused() {
    let w = World::start().await;
    let backend: std::net::SocketAddr =
        w.odoo.url().trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let front = blackbox::tls::TlsFront::start(backend).await;
    let (db, login, key) =
        (w.odoo.options().database.clone(), w.odoo.options().login.clone(), w.odoo.options().api_key.clone());
    let ca = blackbox::tls::fixture("ca.pem");
    for (name, extra) in [("trusted", vec!["--ca-file", ca.to_str().unwrap()]), ("bare", vec![])] {
        let mut args = vec![
            "connection",
            "add",
            name,
            "--store-url",
            w.store.url(),
            "--odoo-url",
            &front.url,
            "--odoo-database",
            &db,
            "--odoo-login",
            &login,
            "--allow-private-network",
        ];
        args.extend(extra);
        let r = w.mlc_with(&args, &[("MLC_ODOO_API_KEY", &key)]).await;
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let trusted = w.mlc(&["connection", "test", "trusted"]).await;
    assert!(trusted.stdout.contains("Odoo") && !trusted.all().contains("certificate"), "{}", trusted.all());
    assert_eq!(trusted.code, 0, "Odoo behind the private CA is reached: {}", trusted.all());
    let bare = w.mlc(&["connection", "test", "bare"]).await;
    assert_eq!(bare.code, 3, "{}", bare.all());
    assert!(bare.all().to_lowercase().contains("certificate"), "the refusal names the certificate: {}", bare.all());
    assert!(bare.all().contains("--ca-file"), "and what to do: {}", bare.all());
    // SSL_CERT_FILE, the conventional default, is trusted too.
    let by_env = w.mlc_with(&["connection", "test", "bare"], &[("SSL_CERT_FILE", ca.to_str().unwrap())]).await;
    assert_eq!(by_env.code, 0, "{}", by_env.all());

    // A file that is not PEM certificates is refused before anything is stored.
    let junk = w.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let r = w
        .mlc_with(
            &[
                "connection",
                "add",
                "junk",
                "--store-url",
                w.store.url(),
                "--odoo-url",
                &front.url,
                "--odoo-login",
                &login,
                "--allow-private-network",
                "--ca-file",
                junk.to_str().unwrap(),
            ],
            &[("MLC_ODOO_API_KEY", &key)],
        )
        .await;
    assert_eq!(r.code, 4, "{}", r.all());
}

/// `backfill --to` reads a closed range, in windows of `--window-hours`, and a busy window is
/// read page by page (here 230 orders in one window: three pages of 100).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_reads_a_closed_range_page_by_page() {
    let w = World::start().await;
    w.connected().await;
    let now = Utc::now();
    let early = now - Span::days(20);
    for n in 0..230 {
        w.store.add_order(7000 + n, 0, "processing", early + Span::seconds(n));
    }
    w.store.add_order(7500, 0, "processing", now - Span::days(5));
    let from = (now - Span::days(25)).format("%Y-%m-%d").to_string();
    let to = (now - Span::days(10)).format("%Y-%m-%d").to_string();
    let r = w.mlc(&["backfill", "--from", &from, "--to", &to, "--window-hours", "48", "--queue-only", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["poll"]["orders"], 230, "only the range: {report}");
    assert!(report["poll"]["records_queued"].as_u64().unwrap() >= 230, "{report}");
    let order_pages = w.store.requests_to("/wp-json/wc/v3/orders");
    assert_eq!(order_pages, 8 + 2, "one page per empty 48-hour window, three for the busy one: {report}");
    let bad = w.mlc(&["backfill", "--from", &to, "--to", &from]).await;
    assert_eq!(bad.code, 4, "{}", bad.all());
    assert!(bad.stderr.contains("is before --from"), "{}", bad.stderr);
}

/// A record in the dead-letter queue is listed with the failed ones and replayed by its id,
/// like any failed record: sent back to the queue, taken out of the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_record_is_replayed_by_its_id() {
    let w = World::start().await;
    w.connected().await;
    {
        let stack = shared::local::LocalStack::open(w.dir.path(), false).unwrap();
        let lost = shared::records::samples::envelope(
            "shop",
            "6601",
            shared::records::Record::Order(shared::records::samples::order()),
        );
        stack.dead_letters.send_batch(&[shared::ports::OutgoingMessage::for_envelope(&lost)]).await.unwrap();
    }
    let listed = w.mlc(&["failed", "list"]).await;
    assert!(listed.stdout.contains("order 6601") && listed.stdout.contains("dead-lettered"), "{}", listed.all());
    let replay = w.mlc(&["replay", "6601"]).await;
    assert_eq!(replay.code, 0, "{}", replay.all());
    assert!(replay.stdout.contains("queued 1 failed record(s) again"), "{}", replay.all());
    let listed = w.mlc(&["failed", "list"]).await;
    assert!(!listed.stdout.contains("dead-lettered"), "{}", listed.all());
    let stack = shared::local::LocalStack::open(w.dir.path(), false).unwrap();
    assert!(stack.dead_letters.peek(10).await.unwrap().is_empty());
    assert_eq!(stack.queue.approximate_depth().await.unwrap(), 1, "back on the queue, once");
}
