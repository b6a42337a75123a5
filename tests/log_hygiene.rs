//! Log hygiene: the end-to-end path — signed and forged webhooks, the poller, the poster with
//! Odoo failing, wrong credentials on both sides — with known secrets, every log line captured at
//! TRACE (ours and the libraries': reqwest, hyper, the AWS SDK), every error, audit entry, failed
//! record and HTTP answer collected; not one may contain a secret.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blackbox::Family;
use blackbox::harness::Harness;
use blackbox::webhooks::WebhookServer;
use chrono::{Duration as Span, Utc};
use odoo_sandbox::Fault;
use shared::http::RetryPolicy;
use shared::ids::SourceId;
use shared::ports::*;
use shared::records::EntityKind;
use shared::stores::woocommerce::PollSettings;
use woo_sandbox::{SandboxStore, StoreOptions};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

const ODOO_KEY: &str = "odoo-key-Q7x9LmP2vR4tZ8wK";
const WRONG_ODOO_KEY: &str = "odoo-wrong-N3bV6cX1zA5sD7fG";
const CONSUMER_KEY: &str = "ck_3f9a2b7c1d8e4f6a";
const CONSUMER_SECRET: &str = "cs_8e1d4c7b2a9f3e5d";
const WEBHOOK_SECRET: &str = "whsec-J5kL8mN2pQ4r";

fn rules() -> serde_json::Value {
    serde_json::json!({
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" }, { "store_rate": "2", "odoo_tax": "VAT 5.5%" } ],
        "lines": [ { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100" } ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_an_error_or_the_audit_trail() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .init();

    let odoo =
        odoo_sandbox::Sandbox::start(odoo_sandbox::SandboxOptions { api_key: ODOO_KEY.into(), ..Default::default() })
            .await
            .unwrap();
    let h = Harness::start_on(Family::aws().await, rules(), odoo).await;
    let store = SandboxStore::start(StoreOptions {
        consumer_key: CONSUMER_KEY.into(),
        consumer_secret: CONSUMER_SECRET.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
    })
    .await
    .unwrap();
    h.attach_store(&store).await;
    let mut connector = h.connector();
    connector.retry =
        RetryPolicy { attempts: 2, base_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20) };
    let connector = Arc::new(connector);
    let hooks = WebhookServer::start(connector.clone()).await;
    let hook = format!("{}/webhooks/woocommerce/{}", hooks.url, h.connection);
    let mut seen: Vec<String> = Vec::new();

    // Webhooks: good, forged (signed with another secret), and for an order with no rule.
    let t0 = Utc::now() - Span::hours(2);
    store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t0);
    let order = store.add_order(1001, 501, "processing", t0);
    assert_eq!(store.deliver(&hook, "order.created", &order, "d-1").await, 200);
    let forged = reqwest::Client::new()
        .post(&hook)
        .header("x-wc-webhook-topic", "order.created")
        .header("x-wc-webhook-signature", "bm90LXRoZS1zaWduYXR1cmU=")
        .header("x-wc-webhook-delivery-id", "forged")
        .body(order.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    seen.push(forged.text().await.unwrap());
    let gnome = store.add_order_items(1100, 501, "processing", t0, &[(16, 1)]);
    assert_eq!(store.deliver(&hook, "order.created", &gnome, "d-2").await, 200);

    // The poller, throttled once; the poster with Odoo failing now and then.
    store.throttle(1, 0);
    store.add_order(1002, 0, "processing", t0 + Span::minutes(1));
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    let settings = PollSettings {
        start: t0 - Span::hours(1),
        window: Span::hours(6),
        overlap: Span::minutes(5),
        backfill: None,
        ..Default::default()
    };
    connector.poll(&connection, &settings, Utc::now()).await.unwrap();
    h.odoo.inject("account.move", "create", Fault::Http { status: 503, retry_after_secs: None }, 1);
    h.odoo.inject("res.partner", "create", Fault::SerializationFailure, 1);
    let poster = h.poster();
    for report in h.drain(&poster).await {
        seen.extend(report.outcomes.iter().map(|(_, o)| format!("{o:?}")));
    }

    // Wrong credentials on both sides: errors that talk about credentials, without them.
    h.family
        .secrets()
        .put(
            &h.connection,
            &SecretBundle::new()
                .with("odoo_login", "bot@example.com")
                .with("odoo_api_key", WRONG_ODOO_KEY)
                .with("woo_consumer_key", CONSUMER_KEY)
                .with("woo_consumer_secret", "cs_wrong")
                .with("woo_webhook_secret", WEBHOOK_SECRET),
        )
        .await
        .unwrap();
    let fresh = h.poster();
    let again = shared::records::Envelope::new(
        h.connection.clone(),
        shared::records::SourceSystem::Woocommerce,
        SourceId::parse("1003").unwrap(),
        Utc::now(),
        shared::records::Record::Order(shared::records::samples::order()),
    );
    let report = h.post(&fresh, &[&again]).await;
    seen.extend(report.outcomes.iter().map(|(_, o)| format!("{o:?}")));
    assert!(seen.last().unwrap().contains("credentials"), "{seen:?}");
    let secrets = h.family.secrets().get(&h.connection).await.unwrap().unwrap();
    let stores = blackbox::webhooks::stores_of(std::sync::Arc::new(h.connector()));
    let findings = shared::checks::test_connection(&stores, &connection, &secrets).await;
    seen.extend(findings.iter().map(|f| f.what.clone()));
    let fresh_connector = h.connector();
    let err = fresh_connector.poll(&connection, &settings, Utc::now()).await.unwrap_err();
    seen.push(format!("{err} {err:?}"));

    // Everything written down about it.
    let audit = h.family.audit();
    for (kind, id) in [
        (EntityKind::Order, "1001"),
        (EntityKind::Order, "1100"),
        (EntityKind::Order, "1002"),
        (EntityKind::Order, "1003"),
        (EntityKind::Order, "webhook-forged"),
    ] {
        for e in audit.by_source(&h.connection, kind, &SourceId::parse(id).unwrap()).await.unwrap() {
            seen.push(serde_json::to_string(&e).unwrap());
        }
    }
    for f in h.family.failed().failed(&h.connection).await.unwrap() {
        seen.push(format!("{f:?}"));
    }
    seen.push(format!("{secrets:?} {:?}", secrets.get("odoo_api_key")));

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.lines().count() > 100, "the capture works and is at TRACE: {} lines", logs.lines().count());
    assert!(logs.contains("reqwest") || logs.contains("hyper"), "library logs are captured too");
    // Each record's log lines carry its connection and trace id, on the poster's and the
    // webhook's paths alike.
    let traced =
        |span: &str| logs.lines().any(|l| l.contains(&format!("{span}{{")) && l.contains("connection_id=acme-woo"));
    assert!(
        traced("record") && logs.lines().any(|l| l.contains("record{") && l.contains("trace_id=")),
        "poster lines without their record's span"
    );
    assert!(traced("webhook"), "webhook lines without their connection's span");
    let everything = format!("{logs}\n{}", seen.join("\n"));
    for secret in [ODOO_KEY, WRONG_ODOO_KEY, CONSUMER_SECRET, WEBHOOK_SECRET, "cs_wrong"] {
        let at = everything.find(secret);
        assert!(
            at.is_none(),
            "the secret {secret:?} appears: …{}…",
            &everything[at.unwrap().saturating_sub(200)..(at.unwrap() + 50).min(everything.len())]
        );
    }
    println!("log hygiene: {} log lines and {} errors/audit entries checked", logs.lines().count(), seen.len());
}
