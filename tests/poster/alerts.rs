//! Alerts: a revoked Odoo key fails every record for one reason; that raises exactly one alert
//! per threshold crossing (not one per record), and again only after it cleared and came back.

use std::sync::Arc;

use blackbox::Family;
use blackbox::harness::Harness;
use blackbox::webhooks::AlertReceiver;
use shared::alerts::{AlertSettings, Alerter, WebhookAlerts};
use shared::poster::RecordOutcome;
use shared::records::Record;

use super::orders::{envelope, order};

pub async fn a_revoked_odoo_key_raises_one_alert_per_threshold_crossing(family: Family) {
    let h = Harness::start(family).await;
    let receiver = AlertReceiver::start().await;
    let connections = h.family.connections();
    let mut c = connections.connection(&h.connection).await.unwrap().unwrap();
    c.alerts = Some(AlertSettings { failures_per_reason: 5, ..receiver.settings() });
    connections.put_connection(&c).await.unwrap();
    let alerter = Alerter {
        connections: connections.clone(),
        failed: h.family.failed(),
        state: h.family.state(),
        sink: Arc::new(WebhookAlerts { timeout: std::time::Duration::from_secs(5) }),
    };
    let poster = h.poster();
    let post_orders = |from: usize, n: usize| {
        let envelopes: Vec<_> =
            (from..from + n).map(|i| envelope(&i.to_string(), Record::Order(order(&i.to_string(), "77")))).collect();
        envelopes
    };
    let alerts = || receiver.alerts();
    let now = chrono::Utc::now();

    // Posting works; then the key is revoked in Odoo and every record fails the same way.
    let ok = h.post(&poster, &post_orders(100, 1).iter().collect::<Vec<_>>()).await;
    assert!(matches!(ok.outcomes[0].1, RecordOutcome::Posted { .. }), "{:?}", ok.outcomes);
    h.odoo.revoke_key(true);
    let four = post_orders(200, 4);
    h.post(&poster, &four.iter().collect::<Vec<_>>()).await;
    assert!(alerter.check(now, None).await.unwrap().is_empty(), "4 failures are under the threshold of 5");
    let more = post_orders(300, 12);
    for chunk in more.chunks(4) {
        h.post(&poster, &chunk.iter().collect::<Vec<_>>()).await;
        alerter.check(now, None).await.unwrap();
    }
    let failed = h.family.failed().failed(&h.connection).await.unwrap();
    assert_eq!(failed.len(), 16, "{:?}", failed.iter().map(|f| &f.reason).collect::<Vec<_>>());
    assert_eq!(alerts().len(), 1, "one alert for 16 failures of one reason: {:?}", alerts());
    let alert = &alerts()[0];
    assert_eq!(alert["kind"], "failures");
    assert_eq!(alert["connection"], "acme-woo");
    assert!(alert["summary"].as_str().unwrap().contains("failed for one reason"), "{alert}");
    assert!(!alert.to_string().contains(&h.odoo.options().api_key), "no secret in an alert");

    // A new key (the same value here), the failures replayed and posted: the alert re-arms.
    h.odoo.revoke_key(false);
    let conn = connections.connection(&h.connection).await.unwrap().unwrap();
    let replayed =
        shared::poster::replay(&*h.family.failed(), &*h.queue, &*h.family.audit(), &conn, None).await.unwrap();
    assert_eq!(replayed, 16);
    h.drain(&h.poster()).await;
    assert!(h.family.failed().failed(&h.connection).await.unwrap().is_empty());
    assert!(alerter.check(now, None).await.unwrap().is_empty());

    // Revoked again: a second crossing, a second alert, and still one for all its records.
    h.odoo.revoke_key(true);
    let poster = h.poster();
    let again = post_orders(400, 6);
    h.post(&poster, &again.iter().collect::<Vec<_>>()).await;
    alerter.check(now, None).await.unwrap();
    alerter.check(now, None).await.unwrap();
    assert_eq!(alerts().len(), 2, "{:?}", alerts());
}

/// Polls that stop succeeding raise one alert after the missed intervals, and again only once
/// a successful poll re-armed it.
pub async fn missed_polls_raise_one_alert_until_a_poll_succeeds_again(family: Family) {
    let h = Harness::start(family).await;
    let receiver = AlertReceiver::start().await;
    let connections = h.family.connections();
    let mut c = connections.connection(&h.connection).await.unwrap().unwrap();
    c.alerts = Some(receiver.settings());
    connections.put_connection(&c).await.unwrap();
    let state = h.family.state();
    let alerter = Alerter {
        connections: connections.clone(),
        failed: h.family.failed(),
        state: state.clone(),
        sink: Arc::new(WebhookAlerts { timeout: std::time::Duration::from_secs(5) }),
    };
    let every = Some(chrono::Duration::minutes(15));
    let t0 = chrono::Utc::now();
    let polled = |at: chrono::DateTime<chrono::Utc>| shared::ports::Watermark { at, cursor: None };
    state.advance_watermark(&h.connection, shared::stores::poll::LAST_POLL, &polled(t0)).await.unwrap();
    assert!(alerter.check(t0 + chrono::Duration::minutes(40), every).await.unwrap().is_empty(), "2 intervals missed");
    assert_eq!(alerter.check(t0 + chrono::Duration::minutes(46), every).await.unwrap().len(), 1, "3 missed");
    assert!(alerter.check(t0 + chrono::Duration::hours(5), every).await.unwrap().is_empty(), "raised already");
    let back = t0 + chrono::Duration::hours(6);
    state.advance_watermark(&h.connection, shared::stores::poll::LAST_POLL, &polled(back)).await.unwrap();
    assert!(alerter.check(back + chrono::Duration::minutes(1), every).await.unwrap().is_empty(), "re-armed");
    assert_eq!(alerter.check(back + chrono::Duration::hours(1), every).await.unwrap().len(), 1, "stopped again");
    let sent = receiver.alerts();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["kind"], "polls");
    assert!(
        sent[0]["summary"].as_str().unwrap().contains("no successful poll of acme-woo for 3 intervals"),
        "{}",
        sent[0]
    );
}

/// On AWS the reconciler function's alert schedule (`{"check": "alerts"}`) publishes to the
/// stack's SNS topic: here moto's, with an SQS queue subscribed to read what was published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_alerts_go_to_the_sns_topic_once_per_crossing() {
    let h = Harness::start(Family::aws().await).await;
    let config = blackbox::moto_config().await;
    let (sns, sqs) = (aws_sdk_sns::Client::new(&config), aws_sdk_sqs::Client::new(&config));
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let topic = sns.create_topic().name(format!("alerts-{suffix}")).send().await.unwrap().topic_arn.unwrap();
    let queue = sqs.create_queue().queue_name(format!("on-call-{suffix}")).send().await.unwrap().queue_url.unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    let connections = h.family.connections();
    let mut c = connections.connection(&h.connection).await.unwrap().unwrap();
    c.alerts = Some(AlertSettings { failures_per_reason: 3, ..AlertSettings::default() });
    connections.put_connection(&c).await.unwrap();
    h.odoo.revoke_key(true);
    let orders: Vec<_> =
        (500..504).map(|i| envelope(&i.to_string(), Record::Order(order(&i.to_string(), "77")))).collect();
    h.post(&h.poster(), &orders.iter().collect::<Vec<_>>()).await;

    let deps = h.store_deps();
    let stores = Arc::new(shared::stores::Stores::standard(deps.clone()));
    let sns_alerts = Arc::new(shared::aws::SnsAlerts::new(sns.clone(), topic.clone()));
    let reconciler = shared::reconcile::Reconciler::on(&deps, stores, sns_alerts);
    let check = serde_json::json!({ "check": "alerts" });
    let now = chrono::Utc::now();
    for _ in 0..3 {
        shared::lambda::scheduled_check(&reconciler, h.family.failed(), &check, now).await.unwrap();
    }
    let mut published = Vec::new();
    for _ in 0..5 {
        let got = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).send().await.unwrap();
        published.extend(got.messages.unwrap_or_default().into_iter().filter_map(|m| m.body));
    }
    assert_eq!(published.len(), 1, "one alert for 4 failures of one reason, checked 3 times: {published:?}");
    let alert: serde_json::Value = serde_json::from_str(&published[0]).unwrap();
    assert_eq!(alert["kind"], "failures");
    assert_eq!(alert["connection"], h.connection.as_str());
    assert!(!published[0].contains(&h.odoo.options().api_key), "no secret in an alert");
}
