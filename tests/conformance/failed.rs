use blackbox::Family;
use chrono::{Duration, Utc};
use shared::ids::{ConnectionId, SourceId, TraceId};
use shared::ports::FailedRecord;
use shared::records::EntityKind;

fn record(conn: &str, kind: EntityKind, source: &str, ago_minutes: i64, reason: &str) -> FailedRecord {
    FailedRecord {
        connection_id: ConnectionId::parse(conn).unwrap(),
        kind,
        source_id: SourceId::parse(source).unwrap(),
        trace_id: TraceId::new(),
        failed_at: Utc::now() - Duration::minutes(ago_minutes),
        class: "permanent".into(),
        reason: reason.into(),
        body: format!("{{\"source_id\":\"{source}\"}}"),
    }
}

pub async fn parks_lists_replaces_and_removes(family: Family) {
    let failed = family.failed();
    let c = ConnectionId::parse("acme").unwrap();
    assert!(failed.failed(&c).await.unwrap().is_empty());
    let newer = record("acme", EntityKind::Order, "1043", 1, "no mapping rule matches SKU X");
    let older = record("acme", EntityKind::Refund, "r-9", 5, "order not posted");
    let other = record("other", EntityKind::Order, "1043", 3, "elsewhere");
    for r in [&newer, &older, &other] {
        failed.park(r).await.unwrap();
    }
    assert_eq!(failed.failed(&c).await.unwrap(), vec![older.clone(), newer.clone()], "{}", family.name());

    // Failing again replaces the record rather than adding a second one.
    let again = record("acme", EntityKind::Order, "1043", 0, "still no rule");
    failed.park(&again).await.unwrap();
    assert_eq!(failed.failed(&c).await.unwrap(), vec![older.clone(), again.clone()]);
    assert_eq!(failed.get_failed(&c, EntityKind::Order, &again.source_id).await.unwrap(), Some(again.clone()));
    assert_eq!(failed.get_failed(&c, EntityKind::Customer, &again.source_id).await.unwrap(), None);

    failed.remove_failed(&c, EntityKind::Order, &again.source_id).await.unwrap();
    assert_eq!(failed.failed(&c).await.unwrap(), vec![older]);
    assert_eq!(failed.failed(&ConnectionId::parse("other").unwrap()).await.unwrap(), vec![other]);
}
