use blackbox::Family;
use chrono::{Duration, Utc};
use shared::ids::{ConnectionId, OdooRef, SourceId, TraceId};
use shared::ports::{AuditEntry, AuditStage, Retention};
use shared::records::EntityKind;

fn entry(
    conn: &str,
    kind: EntityKind,
    source: &str,
    ago: Duration,
    stage: AuditStage,
    odoo: Option<OdooRef>,
) -> AuditEntry {
    AuditEntry {
        connection_id: ConnectionId::parse(conn).unwrap(),
        kind,
        source_id: SourceId::parse(source).unwrap(),
        trace_id: TraceId::new(),
        at: Utc::now() - ago,
        stage,
        odoo,
        message: format!("{stage:?} {source}"),
        details: serde_json::json!({"note": "kept verbatim"}),
    }
}

pub async fn trails_by_source_and_by_odoo_record(family: Family) {
    let audit = family.audit();
    let mv = OdooRef::new("account.move", 17);
    let received = entry("acme", EntityKind::Order, "1042", Duration::minutes(3), AuditStage::Received, None);
    let failed = entry("acme", EntityKind::Order, "1042", Duration::minutes(2), AuditStage::Failed, None);
    let posted = entry("acme", EntityKind::Order, "1042", Duration::minutes(1), AuditStage::Posted, Some(mv.clone()));
    let refund = entry("acme", EntityKind::Refund, "r-1", Duration::seconds(30), AuditStage::Posted, Some(mv.clone()));
    let noise = [
        entry("acme", EntityKind::Customer, "1042", Duration::minutes(1), AuditStage::Posted, None),
        entry("other", EntityKind::Order, "1042", Duration::minutes(1), AuditStage::Posted, Some(mv.clone())),
    ];
    // Appended out of order: reads come back oldest first regardless.
    for e in [&posted, &received, &refund, &failed].into_iter().chain(&noise) {
        audit.append(e, Retention::Days60).await.unwrap();
    }
    let c = ConnectionId::parse("acme").unwrap();
    let trail = audit.by_source(&c, EntityKind::Order, &SourceId::parse("1042").unwrap()).await.unwrap();
    assert_eq!(trail, vec![received, failed, posted.clone()], "{}", family.name());
    let touching = audit.by_odoo(&c, &mv).await.unwrap();
    assert_eq!(touching, vec![posted, refund], "{}", family.name());
    assert!(audit.by_odoo(&c, &OdooRef::new("account.move", 18)).await.unwrap().is_empty());
}

pub async fn retention_hides_expired_entries(family: Family) {
    let audit = family.audit();
    let mv = OdooRef::new("account.move", 5);
    let old30 = entry("acme", EntityKind::Order, "7", Duration::days(31), AuditStage::Received, Some(mv.clone()));
    let old60 = entry("acme", EntityKind::Order, "7", Duration::days(31), AuditStage::Enqueued, Some(mv.clone()));
    let ancient = entry("acme", EntityKind::Order, "7", Duration::days(400), AuditStage::Posted, Some(mv.clone()));
    let fresh = entry("acme", EntityKind::Order, "7", Duration::days(29), AuditStage::Failed, Some(mv.clone()));
    audit.append(&old30, Retention::Days30).await.unwrap();
    audit.append(&old60, Retention::Days60).await.unwrap();
    audit.append(&ancient, Retention::Never).await.unwrap();
    audit.append(&fresh, Retention::Days30).await.unwrap();

    let c = ConnectionId::parse("acme").unwrap();
    let expected = vec![ancient, old60, fresh];
    assert_eq!(
        audit.by_source(&c, EntityKind::Order, &SourceId::parse("7").unwrap()).await.unwrap(),
        expected,
        "{}",
        family.name()
    );
    assert_eq!(audit.by_odoo(&c, &mv).await.unwrap(), expected);
}

pub async fn counts_activity_per_hour_and_stage(family: Family) {
    let audit = family.audit();
    let now = Utc::now();
    let this_hour = shared::ports::hour_of_key(&shared::ports::hour_key(now)).unwrap();
    let at = |hours_ago: i64, minute: i64, stage: AuditStage, conn: &str| {
        let mut e = entry(conn, EntityKind::Order, "5", Duration::zero(), stage, None);
        e.at = this_hour - Duration::hours(hours_ago) + Duration::minutes(minute);
        e
    };
    let entries = [
        at(2, 1, AuditStage::Posted, "acme"),
        at(2, 59, AuditStage::Posted, "acme"),
        at(2, 30, AuditStage::Failed, "acme"),
        at(0, 0, AuditStage::Posted, "acme"),
        // Another connection's, and one older than the window.
        at(0, 5, AuditStage::Posted, "other"),
        at(30, 0, AuditStage::Posted, "acme"),
    ];
    for e in &entries {
        // Counted whatever the entry's retention.
        audit.append(e, Retention::Days30).await.unwrap();
    }
    let c = ConnectionId::parse("acme").unwrap();
    let hours = audit.activity(&c, this_hour - Duration::hours(24), now).await.unwrap();
    let figures: Vec<(i64, u64, u64)> = hours
        .iter()
        .map(|h| ((this_hour - h.hour).num_hours(), h.count(AuditStage::Posted), h.count(AuditStage::Failed)))
        .collect();
    assert_eq!(figures, vec![(2, 2, 1), (0, 1, 0)], "{}", family.name());
    // The window's end is exclusive: the current hour is left out when the window ends at its start.
    let before = audit.activity(&c, this_hour - Duration::hours(3), this_hour).await.unwrap();
    assert_eq!(before.len(), 1, "{}: {before:?}", family.name());
}
