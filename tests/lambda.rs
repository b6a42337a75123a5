//! Each Lambda's handler on its sample event from `events/`, with the AWS adapters configured
//! from the environment exactly as in a deployed function (pointed at moto and the Odoo sandbox).
//! One test per binary: it sets process environment variables.

use aws_lambda_events::event::sqs::SqsEvent;
use blackbox::Family;
use blackbox::harness::Harness;
use shared::lambda::{batch_response, poster_from_env, sqs_messages};
use shared::odoo::Val;

fn event(path: &str) -> SqsEvent {
    let text =
        std::fs::read_to_string(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"))).expect("sample event");
    serde_json::from_str(&text).expect("the sample event is an SQS event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poster_handles_its_sample_event() {
    let h = Harness::start(Family::aws().await).await;
    // SAFETY: this test binary runs this one test; nothing else reads the environment meanwhile.
    unsafe { h.set_lambda_env(&[]) };
    let poster = poster_from_env().await.expect("configured from the environment");

    let sample = event("poster/sqs-batch.json");
    let response = batch_response(&poster.handle_batch(&sqs_messages(&sample)).await);
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let moves = h.odoo.search(
        "account.move",
        Val::list([Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::from(":order:1042:")])]),
    );
    assert_eq!(moves.len(), 1);
    let total = h.odoo.read("account.move", &moves, &["amount_total"]).remove(0);
    assert_eq!(total.get("amount_total").and_then(Val::as_decimal).map(|d| d.to_string()), Some("49.06".into()));

    // The same event again is a no-op; a record that cannot even be read is reported for retry.
    let mut broken = sample.clone();
    broken.records[0].message_id = Some("broken-1".into());
    broken.records[0].body = Some("{\"schema_version\":1".into());
    let mut both = sample.clone();
    both.records.extend(broken.records);
    let response = batch_response(&poster.handle_batch(&sqs_messages(&both)).await);
    let failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["broken-1".to_string()]);
    assert_eq!(
        h.odoo
            .search(
                "account.move",
                Val::list([Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::from(":order:1042:")])])
            )
            .len(),
        1
    );
}
