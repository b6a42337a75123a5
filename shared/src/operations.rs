//! Operations on what did not post: replaying failed records and redriving dead letters.

use chrono::Utc;
use serde_json::json;

use crate::error::Result;
use crate::ids::SourceId;
use crate::ports::AuditStage;
use crate::records::{EntityKind, Envelope};

/// Replays failed records: sends each back onto the queue (the poster's claim makes a record
/// already posted a no-op) and forgets it once queued.
pub async fn replay(
    failed: &dyn crate::ports::FailedRecords,
    queue: &dyn crate::ports::RecordQueue,
    audit: &dyn crate::ports::AuditLog,
    connection: &crate::ports::Connection,
    only: Option<(EntityKind, &SourceId)>,
) -> Result<usize> {
    let records = match only {
        // The kind given, else any failed record with that id (a refund `1083-r1084`, a customer).
        Some((kind, source)) => match failed.get_failed(&connection.id, kind, source).await? {
            Some(r) => vec![r],
            None => failed.failed(&connection.id).await?.into_iter().filter(|r| &r.source_id == source).collect(),
        },
        None => failed.failed(&connection.id).await?,
    };
    replay_records(failed, queue, audit, connection, records, "mlc replay").await
}

/// Replays `records` (failed records of `connection`), saying in each one's trail who asked.
pub async fn replay_records(
    failed: &dyn crate::ports::FailedRecords,
    queue: &dyn crate::ports::RecordQueue,
    audit: &dyn crate::ports::AuditLog,
    connection: &crate::ports::Connection,
    records: Vec<crate::ports::FailedRecord>,
    by: &str,
) -> Result<usize> {
    let retention = connection.audit_retention;
    let connection = &connection.id;
    let mut replayed = 0;
    for r in records.into_iter().filter(|r| &r.connection_id == connection) {
        let envelope = Envelope::from_json(&r.body)?;
        let mut message = crate::ports::OutgoingMessage::for_envelope(&envelope);
        // A fresh deduplication id: the original one may still be inside the queue's window.
        message.deduplication_id = format!("replay:{}", uuid::Uuid::new_v4().simple());
        queue.send_batch(&[message]).await?;
        failed.remove_failed(connection, r.kind, &r.source_id).await?;
        let entry = crate::ports::AuditEntry {
            connection_id: connection.clone(),
            kind: r.kind,
            source_id: r.source_id.clone(),
            trace_id: envelope.trace_id,
            at: Utc::now(),
            stage: AuditStage::Replayed,
            odoo: None,
            message: format!("replayed by {by} after: {}", r.reason),
            details: json!({ "by": by }),
        };
        audit.append(&entry, retention).await?;
        replayed += 1;
    }
    Ok(replayed)
}

/// Moves every message of a dead-letter queue back onto the main queue.
pub async fn redrive(dlq: &dyn crate::ports::QueueConsumer, queue: &dyn crate::ports::RecordQueue) -> Result<usize> {
    let mut moved = 0;
    loop {
        let batch = dlq.receive(10, std::time::Duration::ZERO, std::time::Duration::from_secs(30)).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for m in batch {
            let message = crate::ports::OutgoingMessage {
                group_id: m.group_id.clone(),
                deduplication_id: format!("redrive:{}", uuid::Uuid::new_v4().simple()),
                body: m.body.clone(),
            };
            queue.send_batch(&[message]).await?;
            dlq.delete(&m.receipt).await?;
            moved += 1;
        }
    }
}
