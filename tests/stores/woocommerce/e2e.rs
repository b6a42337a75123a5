//! End to end: the sandbox store, the webhook handler on a loopback port, the poller, the queue and
//! the poster on one adapter family, and the Odoo sandbox.

use std::sync::Arc;

use blackbox::Family;
use blackbox::harness::Harness;
use blackbox::webhooks::WebhookServer;
use chrono::{Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use shared::odoo::Val;
use shared::ports::AuditStage;
use shared::records::EntityKind;
use shared::stores::woocommerce::{PollSettings, WooConnector};
use woo_sandbox::{SandboxStore, StoreOptions};

struct Setup {
    h: Harness,
    store: SandboxStore,
    connector: Arc<WooConnector>,
    hooks: WebhookServer,
}

impl Setup {
    async fn start(family: Family) -> Setup {
        let h = Harness::start_with(family, blackbox::harness::store_rules()).await;
        let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
        h.attach_store(&store).await;
        let mut connector = h.connector();
        connector.retry = Harness::settings().odoo_retry;
        let connector = Arc::new(connector);
        let hooks = WebhookServer::start(connector.clone()).await;
        Setup { h, store, connector, hooks }
    }

    fn hook_url(&self) -> String {
        format!("{}/webhooks/woocommerce/{}", self.hooks.url, self.h.connection)
    }

    fn invoices_for(&self, order: i64) -> Vec<i64> {
        self.h.moves(&format!(":order:{order}:"), "out_invoice")
    }

    fn amount(&self, id: i64) -> Decimal {
        self.h.move_total(id)
    }
}

fn store_total(order: &serde_json::Value) -> Decimal {
    order["total"].as_str().unwrap().parse().unwrap()
}

pub async fn webhooks_and_the_poller_post_each_order_once(family: Family) {
    let s = Setup::start(family).await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let poster = s.h.poster();

    // WooCommerce pings the endpoint when the webhook is created.
    assert_eq!(s.store.ping(&s.hook_url()).await, 200);

    // Order 1001 by webhook (delivered twice with the same delivery id), 1002 only visible to the poller.
    s.store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t0);
    let first = s.store.add_order(1001, 501, "processing", t0 + Duration::minutes(5));
    assert_eq!(s.store.deliver(&s.hook_url(), "order.created", &first, "d-1").await, 200);
    assert_eq!(s.store.deliver(&s.hook_url(), "order.created", &first, "d-1").await, 200);
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Order, &shared::ids::SourceId::parse("webhook-d-1").unwrap())
            .await
            .unwrap();
    assert_eq!(
        s.h.fetches.approximate_depth().await.unwrap(),
        1,
        "the repeated delivery was not enqueued again: {trail:?}"
    );
    let second = s.store.add_order(1002, 0, "completed", t0 + Duration::minutes(7));

    // The store throttles the poller twice; it waits as told and finishes.
    s.store.throttle(2, 1);
    let connection = s.h.family.connections().connection(&s.h.connection).await.unwrap().unwrap();
    let settings = PollSettings {
        start: t0 - Duration::hours(1),
        window: Duration::hours(2),
        overlap: Duration::minutes(5),
        backfill: None,
        ..Default::default()
    };
    let report = s.connector.poll(&connection, &settings, t0 + Duration::hours(3)).await.unwrap();
    assert_eq!((report.orders, report.customers), (2, 1), "{report:?}");
    let mark = s.h.family.state().watermark(&s.h.connection, "woocommerce:orders").await.unwrap().unwrap();
    assert_eq!(mark.at, t0 + Duration::minutes(7), "the watermark is the newest date seen, not now");

    s.h.drain(&poster).await;
    for order in [&first, &second] {
        let id = order["id"].as_i64().unwrap();
        let invoices = s.invoices_for(id);
        assert_eq!(invoices.len(), 1, "order {id}");
        assert_eq!(s.amount(invoices[0]), store_total(order), "order {id}: Odoo's total is the store's");
    }
    // The customer became one partner, shared with their order.
    let partners =
        s.h.odoo.search("res.partner", Val::list([Val::list([Val::from("ref"), Val::from("="), Val::from("501")])]));
    assert_eq!(partners.len(), 1);

    // A second poll overlaps the first and posts nothing new.
    s.connector.poll(&connection, &settings, t0 + Duration::hours(4)).await.unwrap();
    s.h.drain(&poster).await;
    assert_eq!(s.invoices_for(1001).len() + s.invoices_for(1002).len(), 2);

    // A refund in the store: the order's update carries it; it ends as one credit note.
    s.store.refund_line(1001, 0, 9001, t0 + Duration::hours(5));
    let updated = s.store.order(1001);
    assert_eq!(s.store.deliver(&s.hook_url(), "order.updated", &updated, "d-2").await, 200);
    let reports = s.h.drain(&poster).await;
    let invoice = s.invoices_for(1001)[0];
    let credits = s.h.odoo.search(
        "account.move",
        Val::list([Val::list([Val::from("reversed_entry_id"), Val::from("="), Val::Int(invoice)])]),
    );
    assert_eq!(credits.len(), 1, "{reports:?}");
    let refunded: Decimal = updated["refunds"][0]["total"].as_str().unwrap().trim_start_matches('-').parse().unwrap();
    assert_eq!(s.amount(credits[0]), refunded);

    // A new customer by webhook, twice (two deliveries of the same data): one partner.
    let customer = s.store.add_customer(502, "grace@example.com", "Grace", "Hopper", t0 + Duration::hours(6));
    assert_eq!(s.store.deliver(&s.hook_url(), "customer.created", &customer, "d-3").await, 200);
    assert_eq!(s.store.deliver(&s.hook_url(), "customer.updated", &customer, "d-4").await, 200);
    s.h.drain(&poster).await;
    assert_eq!(
        s.h.odoo
            .search("res.partner", Val::list([Val::list([Val::from("ref"), Val::from("="), Val::from("502")])]))
            .len(),
        1
    );

    // Deliveries out of order: the newer version arrives first; the older one corrects nothing.
    let older = s.store.add_order(1003, 501, "processing", t0 + Duration::hours(7));
    let newer = s.store.add_order(1003, 501, "completed", t0 + Duration::hours(8));
    assert_eq!(s.store.deliver(&s.hook_url(), "order.updated", &newer, "d-5").await, 200);
    s.h.drain(&poster).await;
    assert_eq!(s.store.deliver(&s.hook_url(), "order.created", &older, "d-6").await, 200);
    s.h.drain(&poster).await;
    let invoices = s.invoices_for(1003);
    assert_eq!(invoices.len(), 1);
    assert!(
        s.h.odoo
            .search(
                "account.move",
                Val::list([Val::list([Val::from("reversed_entry_id"), Val::from("="), Val::Int(invoices[0])])])
            )
            .is_empty(),
        "the stale version corrected nothing"
    );
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Order, &shared::ids::SourceId::parse("1003").unwrap())
            .await
            .unwrap();
    // Each delivery is read from the store when it is fetched, so the older one brought the
    // current version again, and it posted nothing.
    assert_eq!(trail.iter().filter(|a| a.stage == AuditStage::Posted).count(), 1, "{trail:?}");
    assert_eq!(trail.iter().filter(|a| a.stage == AuditStage::Received).count(), 2, "{trail:?}");
}

pub async fn bad_deliveries_get_their_status_and_enqueue_nothing(family: Family) {
    let s = Setup::start(family).await;
    let http = reqwest::Client::new();
    let url = s.hook_url();
    let body = serde_json::to_string(&s.store.add_order(2001, 0, "processing", Utc::now())).unwrap();
    let secret = s.store.options().webhook_secret.clone();
    let signed = shared::stores::woocommerce::signature::sign(&secret, body.as_bytes());
    let post = |url: String, body: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let http = http.clone();
        async move {
            let mut r = http.post(url).header("content-type", "application/json").body(body);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    let topic =
        || vec![("x-wc-webhook-topic", "order.created".to_string()), ("x-wc-webhook-resource", "order".to_string())];
    let with = |mut h: Vec<(&'static str, String)>, extra: Vec<(&'static str, String)>| {
        h.extend(extra);
        h
    };

    let tampered = body.replace("\"processing\"", "\"completed\"");
    assert_eq!(
        post(
            url.clone(),
            tampered.into_bytes(),
            with(
                topic(),
                vec![("x-wc-webhook-signature", signed.clone()), ("x-wc-webhook-delivery-id", "bad-sig".into())]
            )
        )
        .await,
        401
    );
    let id = |d: &str| ("x-wc-webhook-delivery-id", d.to_string());
    assert_eq!(
        post(url.clone(), body.clone().into_bytes(), with(topic(), vec![id("no-sig")])).await,
        401,
        "no signature"
    );
    let hex = "0".repeat(64);
    assert_eq!(
        post(url.clone(), body.clone().into_bytes(), with(topic(), vec![("x-wc-webhook-signature", hex), id("hex")]))
            .await,
        401,
        "hex digest"
    );
    assert_eq!(
        post(url.clone(), body.clone().into_bytes(), vec![("x-wc-webhook-signature", signed.clone()), id("no-topic")])
            .await,
        400,
        "no topic"
    );
    let malformed = b"{\"id\": 2001, \"status\": ".to_vec();
    let malformed_sig = shared::stores::woocommerce::signature::sign(&secret, &malformed);
    assert_eq!(
        post(url.clone(), malformed, with(topic(), vec![("x-wc-webhook-signature", malformed_sig), id("malformed")]))
            .await,
        400,
        "malformed JSON"
    );
    let huge = vec![b' '; 2 * 1024 * 1024];
    let huge_sig = shared::stores::woocommerce::signature::sign(&secret, &huge);
    assert_eq!(
        post(url.clone(), huge, with(topic(), vec![("x-wc-webhook-signature", huge_sig), id("huge")])).await,
        413,
        "oversize"
    );
    let unknown = format!("{}/webhooks/woocommerce/no-such-shop", s.hooks.url);
    assert_eq!(
        post(unknown, body.clone().into_bytes(), with(topic(), vec![("x-wc-webhook-signature", signed.clone())])).await,
        404
    );

    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 0, "nothing was enqueued");
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 0, "nothing was sent to the fetch stage");
    // Each kind of refusal is in the audit trail; unauthenticated ones once a minute per reason,
    // so the first bad signature has an entry and the two after it are only counted.
    let trail_of = |delivery: &str| {
        let source = shared::ids::SourceId::parse(format!("webhook-{delivery}")).unwrap();
        let audit = s.h.family.audit();
        let connection = s.h.connection.clone();
        async move { audit.by_source(&connection, EntityKind::Order, &source).await.unwrap() }
    };
    for (delivery, why) in
        [("bad-sig", "Signature"), ("no-topic", "Topic"), ("malformed", "malformed JSON"), ("huge", "limit")]
    {
        let trail = trail_of(delivery).await;
        assert!(
            trail.iter().any(|a| a.stage == AuditStage::Rejected && a.message.contains(why)),
            "{delivery}: {trail:?}"
        );
    }
    for counted in ["no-sig", "hex"] {
        assert!(trail_of(counted).await.is_empty(), "{counted} is counted, not stored");
    }

    // The good delivery still goes through.
    assert_eq!(
        post(
            url,
            body.into_bytes(),
            with(topic(), vec![("x-wc-webhook-signature", signed), ("x-wc-webhook-delivery-id", "good".into())])
        )
        .await,
        200
    );
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 1);
}

pub async fn unauthenticated_requests_cannot_fill_the_audit_trail(family: Family) {
    let s = Setup::start(family).await;
    let http = reqwest::Client::new();
    let body = serde_json::to_string(&s.store.add_order(2101, 0, "processing", Utc::now())).unwrap();
    let big_topic = "order.created".repeat(2_000); // 26 KB of header the sender chose
    for n in 0..200 {
        let status = http
            .post(s.hook_url())
            .header("x-wc-webhook-topic", &big_topic)
            .header("x-wc-webhook-signature", "bm90IGEgc2lnbmF0dXJl")
            .header("x-wc-webhook-delivery-id", format!("flood-{n}"))
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 401);
    }
    let mut kept = Vec::new();
    for n in 0..200 {
        let source = shared::ids::SourceId::parse(format!("webhook-flood-{n}")).unwrap();
        kept.extend(s.h.family.audit().by_source(&s.h.connection, EntityKind::Order, &source).await.unwrap());
    }
    // One entry for the minute (two if the run crossed a minute), each small.
    assert!((1..=2).contains(&kept.len()), "{} entries for 200 refusals", kept.len());
    for entry in &kept {
        let size = serde_json::to_string(entry).unwrap().len();
        assert!(size < 1_000, "an entry of {size} bytes keeps what the sender chose");
    }
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 0);
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 0);
}

pub async fn a_long_delivery_id_is_deduplicated_by_its_hash_and_never_panics(family: Family) {
    let s = Setup::start(family).await;
    let http = reqwest::Client::new();
    let body = serde_json::to_string(&s.store.add_order(2102, 0, "processing", Utc::now())).unwrap();
    let signed = shared::stores::woocommerce::signature::sign(&s.store.options().webhook_secret, body.as_bytes());
    let long_id = "9".repeat(5_000);
    let send = || {
        http.post(s.hook_url())
            .header("x-wc-webhook-topic", "order.created")
            .header("x-wc-webhook-resource", "order")
            .header("x-wc-webhook-signature", &signed)
            .header("x-wc-webhook-delivery-id", &long_id)
            .body(body.clone())
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let again = send().await.unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.text().await.unwrap(), "duplicate delivery");
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 1, "queued once");
}

pub async fn amounts_near_decimal_limits_are_refused_with_a_reason_not_a_panic(family: Family) {
    let s = Setup::start(family).await;
    // The store itself holds the extreme amounts: the fetch stage reads them.
    let mut order = s.store.add_order(2103, 0, "processing", Utc::now());
    order["total"] = "79228162514264337593543950335".into(); // Decimal::MAX
    order["line_items"][0]["total"] = "79228162514264337593543950335".into();
    order["line_items"][0]["total_tax"] = "79228162514264337593543950335".into();
    s.store.set_order(order.clone());
    assert_eq!(s.store.deliver(&s.hook_url(), "order.created", &order, "extreme").await, 200);
    assert_eq!(s.h.fetch_all().await, 1, "read once and given up, not retried");
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 0);
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 0);
    let source = shared::ids::SourceId::parse("2103").unwrap();
    let trail = s.h.family.audit().by_source(&s.h.connection, EntityKind::Order, &source).await.unwrap();
    assert!(
        trail.iter().any(|a| a.stage == AuditStage::Rejected && a.message.contains("more than a store can charge")),
        "{trail:?}"
    );
    // The stage is alive and still reads good orders.
    let good = s.store.add_order(2104, 0, "processing", Utc::now());
    assert_eq!(s.store.deliver(&s.hook_url(), "order.created", &good, "good").await, 200);
    assert_eq!(s.h.fetch_all().await, 1);
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 1);
}

/// The webhook answers before any call to the store; the fetch stage then reads the order, its
/// categories and its refunds, once each, and the poster books an invoice and a credit note.
pub async fn a_webhook_makes_no_store_call_and_the_fetch_stage_reads_once(family: Family) {
    let s = Setup::start(family).await;
    let t0 = Utc::now() - Duration::hours(1);
    s.store.add_order(3001, 0, "processing", t0);
    s.store.refund_line(3001, 0, 9301, t0 + Duration::minutes(1));
    let order = s.store.order(3001);
    let before = s.store.requests();
    assert_eq!(s.store.deliver(&s.hook_url(), "order.updated", &order, "thin-1").await, 200);
    assert_eq!(s.store.requests(), before, "the webhook called the store before it answered");
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 0, "no record before the fetch stage");
    assert_eq!(s.h.fetch_all().await, 1);
    assert_eq!(s.store.requests_to("/wp-json/wc/v3/orders/3001"), 1);
    assert_eq!(s.store.requests_to("/wp-json/wc/v3/orders/3001/refunds"), 1);
    assert_eq!(s.store.requests_to("/wp-json/wc/v3/products/categories"), 1);
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 2, "the order and its refund");
    s.h.drain(&s.h.poster()).await;
    let invoices = s.invoices_for(3001);
    assert_eq!(invoices.len(), 1);
    let credits = s.h.odoo.search(
        "account.move",
        Val::list([Val::list([Val::from("reversed_entry_id"), Val::from("="), Val::Int(invoices[0])])]),
    );
    assert_eq!(credits.len(), 1, "the refund came through the fetch stage, exactly once");
    let source = shared::ids::SourceId::parse("3001").unwrap();
    let trail = s.h.family.audit().by_source(&s.h.connection, EntityKind::Order, &source).await.unwrap();
    assert!(trail.iter().any(|a| a.stage == AuditStage::Received && a.message.contains("read from the store next")));
}

pub async fn a_poll_of_unchanged_customers_costs_one_page_and_queues_nothing(family: Family) {
    let s = Setup::start(family).await;
    let connection = s.h.family.connections().connection(&s.h.connection).await.unwrap().unwrap();
    let t = Utc::now() - chrono::Duration::days(20);
    for n in 0..75 {
        s.store.add_customer(
            800 + n,
            &format!("c{n}@example.com"),
            "Ada",
            &format!("L{n}"),
            t + chrono::Duration::hours(n),
        );
    }
    let settings = shared::stores::woocommerce::PollSettings {
        start: t - chrono::Duration::days(1),
        customers_every: chrono::Duration::zero(),
        ..Default::default()
    };
    let first = s.connector.poll(&connection, &settings, Utc::now()).await.unwrap();
    assert_eq!((first.customers, first.records_queued), (75, 75));
    let path = "/wp-json/wc/v3/customers";
    let before = s.store.requests_to(path);
    let depth = s.h.queue.approximate_depth().await.unwrap();
    let customer_800 = shared::ids::SourceId::parse("800").unwrap();
    let audit = s.h.family.audit();
    let trail_800 = || audit.by_source(&s.h.connection, shared::records::EntityKind::Customer, &customer_800);
    let audit_before = trail_800().await.unwrap().len();
    let again = s.connector.poll(&connection, &settings, Utc::now()).await.unwrap();
    assert!(s.store.requests_to(path) - before <= 2, "{} customer requests", s.store.requests_to(path) - before);
    assert_eq!(again.records_queued, 0, "nothing changed, nothing queued");
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), depth);
    let audit_after = trail_800().await.unwrap().len();
    assert_eq!(audit_after, audit_before, "no audit entry for an unchanged customer");
    // One customer changes: only that one is queued.
    s.store.add_customer(801, "new-address@example.com", "Ada", "L1", Utc::now() - chrono::Duration::minutes(1));
    let changed = s.connector.poll(&connection, &settings, Utc::now()).await.unwrap();
    assert_eq!(changed.records_queued, 1);
    // Within the pass interval, no customer request at all.
    let hourly = shared::stores::woocommerce::PollSettings { customers_every: chrono::Duration::hours(1), ..settings };
    let before = s.store.requests_to(path);
    s.connector.poll(&connection, &hourly, Utc::now()).await.unwrap();
    assert_eq!(s.store.requests_to(path), before);
}

pub async fn a_revoked_key_on_one_connection_does_not_stop_the_next_connections_poll(family: Family) {
    let s = Setup::start(family).await;
    let connections = s.h.family.connections();
    let good = connections.connection(&s.h.connection).await.unwrap().unwrap();
    // Polled first (connections are listed by id): the store no longer accepts its key.
    let mut revoked = good.clone();
    revoked.id = shared::ids::ConnectionId::parse("a-revoked").unwrap();
    connections.put_connection(&revoked).await.unwrap();
    let secrets = shared::ports::SecretBundle::new()
        .with("woo_consumer_key", "ck_revoked")
        .with("woo_consumer_secret", "cs_revoked")
        .with("woo_webhook_secret", "whatever");
    s.h.family.secrets().put(&revoked.id, &secrets).await.unwrap();
    let t = Utc::now() - Duration::minutes(30);
    s.store.add_order(2201, 0, "processing", t);
    let settings = PollSettings { start: t - Duration::hours(1), ..Default::default() };

    let err = s.connector.poll_scheduled(&serde_json::json!({}), &settings, Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("a-revoked") && err.to_string().contains("the others were polled"), "{err}");
    // The good connection was polled all the same: its order is queued.
    let queued =
        s.h.queue.receive(10, std::time::Duration::from_millis(500), std::time::Duration::from_secs(30)).await.unwrap();
    let envelopes: Vec<shared::records::Envelope> =
        queued.iter().map(|m| shared::records::Envelope::from_json(&m.body).unwrap()).collect();
    assert!(envelopes.iter().any(|e| e.connection_id == good.id && e.source_id.as_str() == "2201"), "{envelopes:?}");
    assert!(envelopes.iter().all(|e| e.connection_id == good.id));
}
