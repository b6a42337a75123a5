//! The daily reconciliation on both families: yesterday's books once per connection and day,
//! what a deleted invoice left missing posted again, exactly once.

use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{Duration, Utc};
use shared::odoo::Val;
use shared::reconcile::Reconciler;
use woo_sandbox::{SandboxStore, StoreOptions};

fn invoices(h: &Harness, order: i64) -> Vec<i64> {
    let domain = Val::list([
        Val::list([Val::from("invoice_origin"), Val::from("=like"), Val::Str(format!("mlc:acme-woo:order:{order}:%"))]),
        Val::list([Val::from("move_type"), Val::from("="), Val::from("out_invoice")]),
    ]);
    h.odoo.search("account.move", domain)
}

pub async fn yesterday_is_reconciled_once_and_a_deleted_invoice_posted_again(family: Family) {
    let h = Harness::start_with(family, blackbox::harness::store_rules()).await;
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    h.attach_store(&store).await;
    let now = Utc::now();
    let yesterday = (now - Duration::days(1)).date_naive().and_hms_opt(8, 0, 0).unwrap().and_utc();
    for i in 0..5 {
        store.add_order(9100 + i, 0, "processing", yesterday + Duration::minutes(i));
    }
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    let connector = h.connector();
    let settings = shared::stores::woocommerce::PollSettings {
        start: yesterday - Duration::hours(1),
        backfill: None,
        ..Default::default()
    };
    connector.poll(&connection, &settings, now).await.unwrap();
    let polled = h.family.state().watermark(&h.connection, shared::stores::poll::LAST_POLL).await.unwrap();
    // Watermarks keep microseconds.
    let micros = |t: chrono::DateTime<Utc>| t.timestamp_micros();
    assert_eq!(
        polled.map(|w| micros(w.at)),
        Some(micros(now)),
        "a successful poll is remembered, for the missed-polls alert"
    );
    let poster = h.poster();
    h.drain(&poster).await;
    let gone = invoices(&h, 9102)[0];
    h.odoo.press("account.move", "button_draft", &[gone]).unwrap();
    h.odoo.press("account.move", "unlink", &[gone]).unwrap();

    // Gaps are announced where the connection has alerts.
    let receiver = blackbox::webhooks::AlertReceiver::start().await;
    let mut connection = connection;
    connection.alerts = Some(receiver.settings());
    h.family.connections().put_connection(&connection).await.unwrap();
    let f = &h.family;
    let deps = h.store_deps();
    let stores = std::sync::Arc::new(shared::stores::Stores::standard(deps.clone()));
    let alerts = std::sync::Arc::new(shared::alerts::WebhookAlerts { timeout: std::time::Duration::from_secs(5) });
    let reconciler = Reconciler::on(&deps, stores, alerts);
    assert_eq!(reconciler.reconcile_due(now).await.unwrap(), ["acme-woo"]);
    h.drain(&poster).await;
    assert_eq!(invoices(&h, 9102).len(), 1, "posted again");
    let sent = receiver.alerts();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["kind"], "reconciliation");
    assert!(sent[0]["summary"].as_str().unwrap().contains("found 1 missing in Odoo; 1 sent again"), "{}", sent[0]);
    // Asked again the same day (the next hour's check): nothing to do, nothing read.
    let before = store.requests();
    assert!(reconciler.reconcile_due(now + Duration::hours(1)).await.unwrap().is_empty());
    assert_eq!(store.requests(), before);
    // The next day is the next day's.
    assert_eq!(reconciler.reconcile_due(now + Duration::days(1)).await.unwrap(), ["acme-woo"]);
    h.drain(&poster).await;
    for i in 0..5 {
        assert_eq!(invoices(&h, 9100 + i).len(), 1, "order {}", 9100 + i);
    }
    assert_eq!(receiver.alerts().len(), 1, "a day without gaps raises nothing");
    // A connection that says so gets the missing listed, not sent again.
    let mut listing = connection.clone();
    listing.reconcile_list_only = true;
    f.connections().put_connection(&listing).await.unwrap();
    let gone = invoices(&h, 9104)[0];
    h.odoo.press("account.move", "button_draft", &[gone]).unwrap();
    h.odoo.press("account.move", "unlink", &[gone]).unwrap();
    let day = (now - Duration::days(1)).date_naive().to_string();
    let input = serde_json::json!({ "connection_id": "acme-woo", "from": day, "to": day });
    let report = reconciler.run_scheduled(&input, now).await.unwrap();
    assert_eq!(
        (report["acme-woo"]["missing_in_odoo"].as_u64(), report["acme-woo"]["sent_again"].as_u64()),
        (Some(1), Some(0))
    );
    h.drain(&poster).await;
    assert!(invoices(&h, 9104).is_empty(), "listed only");
    let trail = f
        .audit()
        .by_source(&h.connection, shared::records::EntityKind::Order, &shared::ids::SourceId::parse("9102").unwrap())
        .await
        .unwrap();
    assert!(trail.iter().any(|a| a.message.starts_with("reconciliation: missing in Odoo")), "{trail:?}");
}
