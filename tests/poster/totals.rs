//! No path posts a total that differs from the store's: a new move, a move an earlier attempt
//! left behind (adopted by its marker), a replay. A draft that must not post is removed, or
//! reported as left in Odoo with its id; the audit trail says which.

use blackbox::Family;
use blackbox::harness::Harness;
use rust_decimal_macros::dec;
use shared::odoo::Val;
use shared::ports::AuditStage;
use shared::poster::RecordOutcome;
use shared::records::*;

use super::orders::{d, envelope, line, moves_for, order, posted, read_one, tax};

/// Three small lines at 20%: per line the tax is 0.02 + 0.02 + 0.01 = 0.05 and the order 0.24,
/// as the store says; a company that rounds tax globally computes 0.038 → 0.04, so 0.23.
fn small_order(number: &str) -> SalesDocument {
    let mut o = order(number, "501");
    o.lines = vec![
        line("1", "SHIRT-S", "Sock", &["Apparel"], "1", "0.08", "0", "1", "0.02"),
        line("2", "SHIRT-T", "Sock", &["Apparel"], "1", "0.08", "0", "1", "0.02"),
        line("3", "SHIRT-U", "Lace", &["Apparel"], "1", "0.03", "0", "1", "0.01"),
    ];
    o.shipping = vec![];
    o.totals = Totals {
        subtotal: d("0.19"),
        discount: d("0"),
        shipping: d("0"),
        fees: d("0"),
        tax: d("0.05"),
        total: d("0.24"),
    };
    let _ = tax;
    o
}

fn parked_reason(report: &shared::poster::BatchReport) -> String {
    match &report.outcomes[0].1 {
        RecordOutcome::Parked(why) => why.clone(),
        other => panic!("expected the record to be kept as failed, got {other:?}"),
    }
}

async fn trail(h: &Harness, id: &str) -> Vec<shared::ports::AuditEntry> {
    h.family
        .audit()
        .by_source(&h.connection, EntityKind::Order, &shared::ids::SourceId::parse(id).unwrap())
        .await
        .unwrap()
}

fn posted_states(h: &Harness, marker: &str) -> Vec<String> {
    let ids = moves_for(h, marker);
    h.odoo
        .read("account.move", &ids, &["state"])
        .iter()
        .filter_map(|m| m.get("state").and_then(Val::as_str).map(String::from))
        .filter(|s| s == "posted")
        .collect()
}

pub async fn an_adopted_draft_whose_odoo_total_differs_is_never_posted(family: Family) {
    let h = Harness::start(family).await;
    // The order is right: a company that rounds per line posts it at the store's 0.24.
    let control = posted(&h.post(&h.poster(), &[&envelope("9100", Record::Order(small_order("9100")))]).await);
    assert_eq!(
        read_one(&h, "account.move", control[0].id, &["amount_total"]).get("amount_total").and_then(Val::as_decimal),
        Some(dec!(0.24))
    );

    h.odoo.round_taxes_globally(true);
    let e = envelope("9101", Record::Order(small_order("9101")));
    let doomed = h.poster();
    doomed.crash_after_next_create(); // the draft exists; the worker "dies" before checking it
    let first = h.post(&doomed, &[&e]).await;
    assert!(matches!(first.outcomes[0].1, RecordOutcome::Retry(_)), "{:?}", first.outcomes);
    assert_eq!(moves_for(&h, ":order:9101:").len(), 1, "the dead worker left its draft");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await; // its claim expires

    let report = h.post(&h.poster(), &[&e]).await;
    let why = parked_reason(&report);
    assert!(why.contains("0.23") && why.contains("0.24") && why.contains("the draft was removed"), "{why}");
    assert!(moves_for(&h, ":order:9101:").is_empty(), "the wrong draft is gone");
    let failed = h.family.failed().failed(&h.connection).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].reason.contains("0.23"));
    let entries = trail(&h, "9101").await;
    assert!(entries.iter().all(|e| e.stage != AuditStage::Posted), "nothing says posted: {entries:#?}");
    assert!(entries.iter().any(|e| e.stage == AuditStage::Failed && e.message.contains("removed")));
}

pub async fn a_draft_odoo_will_not_remove_is_reported_left_in_odoo_and_a_replay_never_posts_it(family: Family) {
    let h = Harness::start(family).await;
    h.odoo.round_taxes_globally(true);
    h.odoo.inject(
        "account.move",
        "unlink",
        odoo_sandbox::Fault::UserError("You cannot delete this entry".into()),
        usize::MAX,
    );
    let e = envelope("9102", Record::Order(small_order("9102")));
    let why = parked_reason(&h.post(&h.poster(), &[&e]).await);
    let draft = moves_for(&h, ":order:9102:");
    assert_eq!(draft.len(), 1);
    assert!(why.contains(&format!("account.move {} is left in Odoo as a draft", draft[0])), "{why}");
    assert!(!why.contains("the draft was removed"), "{why}");

    // Replayed (say after someone "fixed" something): the left draft is found, checked, refused.
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    let n = shared::poster::replay(
        h.family.failed().as_ref(),
        h.queue.as_ref(),
        h.family.audit().as_ref(),
        &connection,
        None,
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    let reports = h.drain(&h.poster()).await;
    let why = parked_reason(&reports[0]);
    assert!(why.contains("0.23") && why.contains("left in Odoo"), "{why}");
    assert!(posted_states(&h, ":order:9102:").is_empty(), "never posted");
    assert_eq!(read_one(&h, "account.move", draft[0], &["state"]).get("state"), Some(&Val::from("draft")));
    assert!(trail(&h, "9102").await.iter().all(|e| e.stage != AuditStage::Posted));
}

pub async fn a_draft_odoo_refuses_to_post_is_removed_and_kept_as_failed(family: Family) {
    let h = Harness::start(family).await;
    h.odoo.inject(
        "account.move",
        "action_post",
        odoo_sandbox::Fault::UserError("The invoice date is in a locked period".into()),
        1,
    );
    let e = envelope("9103", Record::Order(small_order("9103")));
    let why = parked_reason(&h.post(&h.poster(), &[&e]).await);
    assert!(
        why.contains("refused to post") && why.contains("locked period") && why.contains("the draft was removed"),
        "{why}"
    );
    assert!(moves_for(&h, ":order:9103:").is_empty(), "no draft is left behind");
    // Fixed in Odoo, replayed: it posts once.
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    shared::poster::replay(h.family.failed().as_ref(), h.queue.as_ref(), h.family.audit().as_ref(), &connection, None)
        .await
        .unwrap();
    let reports = h.drain(&h.poster()).await;
    assert_eq!(reports.iter().flat_map(posted).count(), 1, "{reports:?}");
    assert_eq!(posted_states(&h, ":order:9103:").len(), 1);
}

pub async fn an_amount_beyond_a_store_s_range_is_kept_as_failed_not_a_panic(family: Family) {
    let h = Harness::start(family).await;
    // Straight onto the queue (a replayed or hand-made message), past any store's normalization.
    let mut o = small_order("9104");
    o.lines[0].total = rust_decimal::Decimal::MAX;
    o.lines[0].subtotal = rust_decimal::Decimal::MAX;
    o.lines[0].taxes[0].amount = rust_decimal::Decimal::MAX;
    o.totals.total = rust_decimal::Decimal::MAX;
    let report = h.post(&h.poster(), &[&envelope("9104", Record::Order(o))]).await;
    let why = parked_reason(&report);
    assert!(why.contains("more than a store can charge"), "{why}");
    assert!(moves_for(&h, ":order:9104:").is_empty());
}

pub async fn an_order_with_no_lines_and_a_minus_zero_total_is_skipped_not_left_as_an_empty_draft(family: Family) {
    let h = Harness::start(family).await;
    let mut o = small_order("9105");
    o.lines.clear();
    o.totals =
        Totals { subtotal: d("-0"), discount: d("0"), shipping: d("0"), fees: d("0"), tax: d("-0"), total: d("-0.00") };
    let report = h.post(&h.poster(), &[&envelope("9105", Record::Order(o))]).await;
    assert!(
        matches!(&report.outcomes[0].1, RecordOutcome::Skipped(why) if why.contains("nothing to post")),
        "{:?}",
        report.outcomes
    );
    assert!(moves_for(&h, ":order:9105:").is_empty(), "no empty draft in Odoo");
}

pub async fn a_record_still_failing_on_its_last_delivery_is_kept_as_failed_and_traced(family: Family) {
    let h = Harness::start(family).await;
    h.odoo.inject("*", "*", odoo_sandbox::Fault::Http { status: 503, retry_after_secs: None }, usize::MAX);
    let e = envelope("9106", Record::Order(small_order("9106")));
    let mut message = Harness::message(&e);
    message.receive_count = blackbox::harness::MAX_RECEIVES - 1;
    let report = h.poster().handle_batch(std::slice::from_ref(&message)).await;
    assert!(
        matches!(report.outcomes[0].1, RecordOutcome::Retry(_)),
        "not yet the last delivery: {:?}",
        report.outcomes
    );
    message.receive_count = blackbox::harness::MAX_RECEIVES;
    let report = h.poster().handle_batch(std::slice::from_ref(&message)).await;
    assert!(report.failed_message_ids().is_empty(), "acknowledged, so it does not hide in the dead-letter queue");
    let why = parked_reason(&report);
    assert!(why.contains("gave up after 3 deliveries") && why.contains("503"), "{why}");
    let failed = h.family.failed().failed(&h.connection).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(trail(&h, "9106").await.iter().any(|a| a.stage == AuditStage::Failed && a.message.contains("gave up")));
    // Odoo back, replayed: posted once.
    h.odoo.clear_faults();
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    shared::poster::replay(h.family.failed().as_ref(), h.queue.as_ref(), h.family.audit().as_ref(), &connection, None)
        .await
        .unwrap();
    let reports = h.drain(&h.poster()).await;
    assert_eq!(reports.iter().flat_map(posted).count(), 1, "{reports:?}");
}

pub async fn a_batch_that_panics_is_reported_and_queued_again_at_once_never_lost(family: Family) {
    let h = Harness::start(family).await;
    let e = envelope("9107", Record::Order(small_order("9107")));
    h.queue.send_batch(&[shared::ports::OutgoingMessage::for_envelope(&e)]).await.unwrap();
    let poster = h.poster();
    poster.panic_on_next_batches(1);
    let wait = std::time::Duration::from_millis(500);
    let err = shared::local::post_one_batch(h.queue.as_ref(), &poster, wait).await.unwrap_err();
    assert!(err.to_string().contains("panicked") && err.to_string().contains("queued again"), "{err}");
    // Visible again at once, not after the visibility timeout: the next batch posts it.
    let outcomes = shared::local::post_one_batch(h.queue.as_ref(), &poster, wait).await.unwrap();
    assert!(matches!(outcomes.as_slice(), [RecordOutcome::Posted { .. }]), "{outcomes:?}");
    assert_eq!(moves_for(&h, ":order:9107:").len(), 1);
    assert_eq!(h.queue.approximate_depth().await.unwrap(), 0);
}
