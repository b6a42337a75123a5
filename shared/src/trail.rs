//! A record's journey through the audit trail, in both directions: from a store record to the
//! Odoo moves its entries name, and from those moves to every other store record that touched
//! them (a refund and its credit note, a correction), until nothing new turns up.

use std::collections::HashSet;

use crate::error::Result;
use crate::ids::{ConnectionId, OdooRef, SourceId};
use crate::ports::{AuditEntry, AuditLog};
use crate::records::EntityKind;

/// Lookups one trail may make: a trail is a handful of records, never a whole ledger.
const MAX_LOOKUPS: usize = 64;

/// Where a trail starts: store records, Odoo records, or both.
#[derive(Debug, Default, Clone)]
pub struct TrailStart {
    pub sources: Vec<(EntityKind, SourceId)>,
    pub odoo: Vec<OdooRef>,
}

/// Every audit entry reachable from `start`, oldest first.
pub async fn trail(audit: &dyn AuditLog, connection: &ConnectionId, start: TrailStart) -> Result<Vec<AuditEntry>> {
    let (mut sources, mut moves) = (start.sources, start.odoo);
    let mut seen_sources: HashSet<(EntityKind, SourceId)> = HashSet::new();
    let mut seen_moves: HashSet<OdooRef> = HashSet::new();
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut lookups = 0;
    while lookups < MAX_LOOKUPS && !(sources.is_empty() && moves.is_empty()) {
        let found = if let Some(source) = sources.pop() {
            if !seen_sources.insert(source.clone()) {
                continue;
            }
            audit.by_source(connection, source.0, &source.1).await?
        } else {
            let odoo = moves.pop().expect("one of the two is not empty");
            if !seen_moves.insert(odoo.clone()) {
                continue;
            }
            audit.by_odoo(connection, &odoo).await?
        };
        lookups += 1;
        for e in found {
            moves.extend(e.odoo.clone().filter(|o| !seen_moves.contains(o)));
            let source = (e.kind, e.source_id.clone());
            if !seen_sources.contains(&source) {
                sources.push(source);
            }
            if !entries.contains(&e) {
                entries.push(e);
            }
        }
    }
    entries.sort_by_key(|e| e.at);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::{Db, EmbeddedStore};
    use crate::ids::TraceId;
    use crate::ports::{AuditStage, Retention};
    use chrono::{Duration, Utc};

    fn entry(kind: EntityKind, source: &str, minute: i64, stage: AuditStage, odoo: Option<i64>) -> AuditEntry {
        AuditEntry {
            connection_id: ConnectionId::parse("shop").unwrap(),
            kind,
            source_id: SourceId::parse(source).unwrap(),
            trace_id: TraceId::new(),
            at: Utc::now() - Duration::hours(1) + Duration::minutes(minute),
            stage,
            odoo: odoo.map(|id| OdooRef::new("account.move", id)),
            message: format!("{source} at {minute}"),
            details: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn an_order_leads_to_its_refund_through_the_credit_note_and_back_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::new(Db::open(dir.path().join("db.sqlite")).unwrap());
        let shop = ConnectionId::parse("shop").unwrap();
        let written = [
            entry(EntityKind::Order, "1001", 0, AuditStage::Enqueued, None),
            entry(EntityKind::Order, "1001", 1, AuditStage::Posted, Some(1)),
            // The refund is queued before the order's line about it, and posts its credit note 8.
            entry(EntityKind::Refund, "1001-r1", 2, AuditStage::Enqueued, None),
            entry(EntityKind::Order, "1001", 4, AuditStage::Posted, Some(8)),
            entry(EntityKind::Refund, "1001-r1", 3, AuditStage::Posted, Some(8)),
            // Another order's trail is not this one's.
            entry(EntityKind::Order, "1002", 5, AuditStage::Posted, Some(2)),
        ];
        for e in &written {
            store.append(e, Retention::Days30).await.unwrap();
        }
        let minutes = |entries: Vec<AuditEntry>| entries.iter().map(|e| e.message.clone()).collect::<Vec<_>>();
        let expected = ["1001 at 0", "1001 at 1", "1001-r1 at 2", "1001-r1 at 3", "1001 at 4"];

        let from_order = trail(
            &store,
            &shop,
            TrailStart { sources: vec![(EntityKind::Order, SourceId::parse("1001").unwrap())], odoo: vec![] },
        )
        .await
        .unwrap();
        assert_eq!(minutes(from_order), expected);
        let from_credit_note =
            trail(&store, &shop, TrailStart { sources: vec![], odoo: vec![OdooRef::new("account.move", 8)] })
                .await
                .unwrap();
        assert_eq!(minutes(from_credit_note), expected);
        let unknown = trail(
            &store,
            &shop,
            TrailStart { sources: vec![(EntityKind::Order, SourceId::parse("9").unwrap())], odoo: vec![] },
        )
        .await
        .unwrap();
        assert!(unknown.is_empty());
    }
}
