//! Every store's webhook and poller Lambdas, and the fetcher's, on their sample events from
//! `events/`, configured from the environment as deployed (moto, the sandbox stores, the Odoo
//! sandbox). One test: it sets process environment variables.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{TimeZone, Utc};
use shared::aws::SqsQueue;
use shared::lambda::{apigw_response, fetch_batch, stores_from_env, webhook_parts, woo_connector_from_env};
use shared::ports::QueueConsumer;
use shared::records::{Envelope, Record};
use shared::stores::woocommerce::WebhookRequest;
use woo_sandbox::{SandboxStore, StoreOptions};

fn event(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"))).expect("sample event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_and_poller_handle_their_sample_events() {
    let h = Harness::start(Family::aws().await).await;
    let store = SandboxStore::start(StoreOptions {
        webhook_secret: "ml-connector-test-webhook-secret".into(),
        ..StoreOptions::default()
    })
    .await
    .unwrap();
    h.attach_store(&store).await;
    let config = blackbox::moto_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue_url, _) =
        blackbox::create_fifo_queues(&sqs, &format!("records-{}", uuid::Uuid::new_v4().simple()), 3).await;
    let (fetch_url, _) =
        blackbox::create_fifo_queues(&sqs, &format!("fetches-{}", uuid::Uuid::new_v4().simple()), 3).await;
    // SAFETY: this test binary runs this one test; nothing else reads the environment meanwhile.
    unsafe {
        h.set_lambda_env(&[
            ("MLC_QUEUE_URL", &queue_url),
            ("MLC_FETCH_QUEUE_URL", &fetch_url),
            ("MLC_POLL_START", "2026-11-19"),
        ])
    };
    let connector = woo_connector_from_env().await.expect("configured from the environment");
    let queue = SqsQueue::new(sqs.clone(), &queue_url);
    let fetches = SqsQueue::new(sqs, &fetch_url);

    // The webhook's sample: a signed order.created delivery.
    let request: ApiGatewayV2httpRequest =
        serde_json::from_str(&event("woocommerce-webhook/order-created.json")).unwrap();
    let (connection_id, headers, body) = webhook_parts(&request);
    let response = apigw_response(
        &connector
            .handle_webhook(WebhookRequest { connection_id: &connection_id, headers: &headers, body: &body })
            .await,
    );
    assert_eq!(response.status_code, 200, "{:?}", response.body);
    let wait = (std::time::Duration::from_secs(1), std::time::Duration::from_secs(30));
    assert!(queue.receive(10, wait.0, wait.1).await.unwrap().is_empty(), "the webhook queued no record itself");
    let referenced = fetches.receive(10, wait.0, wait.1).await.unwrap();
    assert_eq!(referenced.len(), 1);
    let reference: shared::stores::fetch::FetchRequest = serde_json::from_str(&referenced[0].body).unwrap();
    assert_eq!((reference.kind, reference.id.as_str()), (shared::records::EntityKind::Order, "4211"));

    // The fetcher's sample: that reference, read from the store (which holds the sample's order).
    store.set_order(serde_json::from_slice(&body).unwrap());
    let fetcher = shared::stores::fetch::Fetcher::new(std::sync::Arc::new(stores_from_env().await.unwrap()));
    let sample: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&event("fetcher/sqs-batch.json")).unwrap();
    let response = fetch_batch(&fetcher, &sample).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let got = queue.receive(10, wait.0, wait.1).await.unwrap();
    assert_eq!(got.len(), 1);
    let envelope = Envelope::from_json(&got[0].body).unwrap();
    let Record::Order(doc) = envelope.record else { panic!("not an order") };
    assert_eq!((doc.number.as_str(), doc.totals.total.to_string().as_str()), ("4211", "67.05"));
    assert_eq!(doc.lines[0].category_path, vec!["Apparel", "Shirts"], "categories came from the store");
    assert_eq!(doc.billing_address.unwrap().city.as_deref(), Some("Köln"));
    queue.delete(&got[0].receipt).await.unwrap();

    // The poller's sample: one connection's schedule input.
    store.add_order(5001, 0, "processing", Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap());
    let input: serde_json::Value = serde_json::from_str(&event("woocommerce-poller/schedule.json")).unwrap();
    let settings = shared::lambda::poll_settings_from_env().unwrap();
    assert_eq!(settings.start, Utc.with_ymd_and_hms(2026, 11, 19, 0, 0, 0).unwrap());
    let report = connector
        .poll_scheduled(&input, &settings, Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap())
        .await
        .unwrap();
    assert_eq!(report["acme-woo"]["orders"], 2, "the sample's order 4211 and 5001: {report}");
    let got = queue.receive(10, std::time::Duration::from_secs(1), std::time::Duration::from_secs(30)).await.unwrap();
    let ids: Vec<String> = got.iter().map(|m| Envelope::from_json(&m.body).unwrap().source_id.to_string()).collect();
    assert!(ids.contains(&"5001".to_string()), "{ids:?}");
    for m in &got {
        queue.delete(&m.receipt).await.unwrap();
    }

    // BigCommerce's webhook sample (re-signed now: a signature is valid for 5 minutes) becomes
    // a fetch reference, and its poller's sample polls the connection it names.
    let bc_store = bc_sandbox::BigCommerceSandbox::start(bc_sandbox::BcOptions {
        client_secret: "ml-connector-test-client-secret".into(),
        ..bc_sandbox::BcOptions::default()
    })
    .await
    .unwrap();
    let bc_id = shared::ids::ConnectionId::parse("acme-bc").unwrap();
    let mut bc = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    bc.id = bc_id.clone();
    bc.source = shared::records::SourceSystem::Bigcommerce;
    bc.settings = shared::stores::StoreSettings::Bigcommerce(shared::stores::bigcommerce::BcSettings {
        store_hash: bc_store.options().store_hash.clone(),
        api_base: Some(bc_store.api_base().parse().unwrap()),
    });
    h.family.connections().put_connection(&bc).await.unwrap();
    let secrets = shared::ports::SecretBundle::new()
        .with("bc_access_token", &bc_store.options().access_token)
        .with("bc_client_secret", "ml-connector-test-client-secret");
    h.family.secrets().put(&bc_id, &secrets).await.unwrap();
    let connector = shared::lambda::bc_connector_from_env().await.expect("configured from the environment");
    let mut request: ApiGatewayV2httpRequest =
        serde_json::from_str(&event("bigcommerce-webhook/order-created.json")).unwrap();
    let now = Utc::now().timestamp();
    let id = request.headers["webhook-id"].to_str().unwrap().to_string();
    let signed = bc_sandbox::signing::webhook_signature(
        "ml-connector-test-client-secret",
        &id,
        now,
        request.body.as_deref().unwrap(),
    );
    request.headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
    request.headers.insert("webhook-signature", signed.parse().unwrap());
    let response = shared::lambda::handle_webhook(connector.pipeline(), &connector, &request).await;
    assert_eq!(response.status_code, 200, "{:?}", response.body);
    let referenced = fetches.receive(10, wait.0, wait.1).await.unwrap();
    assert_eq!(referenced.len(), 1);
    let reference: shared::stores::fetch::FetchRequest = serde_json::from_str(&referenced[0].body).unwrap();
    assert_eq!((reference.connection_id.as_str(), reference.id.as_str()), ("acme-bc", "250"));

    bc_store.add_order(250, 0, 11, Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(), 2);
    let input: serde_json::Value = serde_json::from_str(&event("bigcommerce-poller/schedule.json")).unwrap();
    let poller = shared::stores::poll::Poller::new(connector.pipeline().clone());
    let report = poller
        .poll_scheduled(&connector, &input, &settings, Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap())
        .await
        .unwrap();
    assert_eq!(report["acme-bc"]["orders"], 1, "{report}");

    adobe_commerce_samples(&h, &queue, &fetches, &settings).await;
    reconciler_sample(&queue).await;
}

/// The reconciler's sample: one connection's day. Orders 4211 and 5001 were queued and never
/// posted (no poster ran here): both missing in Odoo, sent again as reposts of this run.
async fn reconciler_sample(queue: &SqsQueue) {
    let wait = (std::time::Duration::from_secs(1), std::time::Duration::from_secs(30));
    let reconciler = shared::lambda::reconciler_from_env().await.expect("configured from the environment");
    let input: serde_json::Value = serde_json::from_str(&event("reconciler/one-day.json")).unwrap();
    let report = reconciler.run_scheduled(&input, Utc::now()).await.unwrap();
    let woo = &report["acme-woo"];
    assert_eq!((woo["from"].as_str(), woo["to"].as_str()), (Some("2026-11-20"), Some("2026-11-20")), "{report}");
    assert_eq!(woo["missing_in_odoo"], 2, "{report}");
    assert_eq!(woo["sent_again"], 2, "{report}");
    let sent = queue.receive(10, wait.0, wait.1).await.unwrap();
    let mut ids: Vec<String> = sent
        .iter()
        .map(|m| Envelope::from_json(&m.body).unwrap())
        .filter(|e| e.repost.as_deref().is_some_and(|r| r.starts_with("reconcile-")))
        .map(|e| e.source_id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["4211", "5001"], "the reconciler's sends, each a repost of its run");
}

/// Adobe Commerce's webhook sample (signed with the vectors' test key: Commerce signs no
/// timestamp, so it stays valid) becomes a fetch reference, answered with the success Commerce
/// needs; its poller's sample polls the connection it names.
async fn adobe_commerce_samples(
    h: &Harness,
    queue: &SqsQueue,
    fetches: &SqsQueue,
    settings: &shared::stores::poll::PollSettings,
) {
    use adobe_sandbox::{AdobeOptions, AdobeSandbox, Item, Mode, OrderSpec};
    let wait = (std::time::Duration::from_secs(1), std::time::Duration::from_secs(30));
    let store = AdobeSandbox::start(AdobeOptions::new(Mode::Paas)).await.unwrap();
    let id = shared::ids::ConnectionId::parse("acme-adobe").unwrap();
    let mut c = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    c.id = id.clone();
    c.source = shared::records::SourceSystem::AdobeCommerce;
    c.store_url = store.store_url().parse().unwrap();
    c.settings = shared::stores::StoreSettings::AdobeCommerce(Default::default());
    h.family.connections().put_connection(&c).await.unwrap();
    let odoo = h.odoo.options();
    let secrets =
        shared::ports::SecretBundle::new().with("odoo_login", &odoo.login).with("odoo_api_key", &odoo.api_key);
    let secrets = store.connection_secrets().into_iter().fold(secrets, |b, (k, v)| b.with(k, v));
    h.family.secrets().put(&id, &secrets).await.unwrap();
    let connector = shared::lambda::adobe_connector_from_env().await.expect("configured from the environment");

    let request: ApiGatewayV2httpRequest =
        serde_json::from_str(&event("adobe-commerce-webhook/invoice-saved.json")).unwrap();
    let response = shared::lambda::handle_webhook(connector.pipeline(), &connector, &request).await;
    assert_eq!(response.status_code, 200);
    let body = match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(body, r#"{"op":"success"}"#);
    let referenced = fetches.receive(10, wait.0, wait.1).await.unwrap();
    assert_eq!(referenced.len(), 1);
    let reference: shared::stores::fetch::FetchRequest = serde_json::from_str(&referenced[0].body).unwrap();
    assert_eq!(
        (reference.connection_id.as_str(), reference.kind, reference.id.as_str()),
        ("acme-adobe", shared::records::EntityKind::Invoice, "200000001")
    );
    fetches.delete(&referenced[0].receipt).await.unwrap();
    // The same sample with its body changed: still success for the store, nothing queued.
    let mut forged = request.clone();
    forged.body = forged.body.map(|b| b.replace("\"entity_id\":1", "\"entity_id\":2"));
    let response = shared::lambda::handle_webhook(connector.pipeline(), &connector, &forged).await;
    assert_eq!(response.status_code, 200);
    assert!(fetches.receive(10, wait.0, wait.1).await.unwrap().is_empty(), "a forged body queues nothing");
    assert_eq!(store.requests(), 0, "the webhook read nothing from the store");

    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    store.add_order(&OrderSpec::new(
        1,
        None,
        at,
        vec![Item::simple("HOODIE-S", rust_decimal::Decimal::new(40, 0), 1, 4)],
    ));
    store.invoice_order(1, 1, at + chrono::Duration::minutes(5));
    let input: serde_json::Value = serde_json::from_str(&event("adobe-commerce-poller/schedule.json")).unwrap();
    let poller = shared::stores::poll::Poller::new(connector.pipeline().clone());
    let report = poller
        .poll_scheduled(&connector, &input, settings, Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap())
        .await
        .unwrap();
    assert!(report["acme-adobe"].is_object(), "{report}");
    let got = queue.receive(10, wait.0, wait.1).await.unwrap();
    let queued: Vec<(String, String)> = got
        .iter()
        .map(|m| Envelope::from_json(&m.body).unwrap())
        .map(|e| (e.kind().to_string(), e.source_id.to_string()))
        .collect();
    assert!(queued.contains(&("invoice".into(), "200000001".into())), "{queued:?} {report}");
    assert!(store.writes().is_empty());
}
