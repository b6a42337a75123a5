//! A FIFO queue in SQLite that behaves like an SQS FIFO queue as far as a consumer can tell:
//! order within a message group, one group's messages in flight one at a time, a visibility
//! timeout after which an unacknowledged message is delivered again, deduplication for five
//! minutes, and a redrive policy that moves a message received `max_receive_count` times to a
//! dead-letter queue.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::db::{Db, now_ms, sqlite};
use crate::error::Result;
use crate::ports::{OutgoingMessage, QueueConsumer, ReceivedMessage, RecordQueue};

/// As SQS: a deduplication id suppresses repeats for five minutes.
const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;
/// As SQS: at most ten messages per receive.
const MAX_RECEIVE: usize = 10;
/// How often a waiting `receive` looks again.
const POLL_EVERY: Duration = Duration::from_millis(25);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Db,
    name: String,
    redrive: Option<Redrive>,
}

impl EmbeddedQueue {
    pub fn new(db: Db, name: impl Into<String>, redrive: Option<Redrive>) -> Self {
        EmbeddedQueue { db, name: name.into(), redrive }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bodies of up to `limit` messages, oldest first, without receiving them (for listing
    /// what sits in a dead-letter queue).
    pub async fn peek(&self, limit: usize) -> Result<Vec<String>> {
        let queue = self.name.clone();
        self.db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT body FROM queue_messages WHERE queue = ?1 ORDER BY seq LIMIT ?2")
                    .map_err(sqlite)?;
                let rows = stmt.query_map(params![queue, limit as i64], |r| r.get::<_, String>(0)).map_err(sqlite)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sqlite)
            })
            .await
    }

    /// Removes and returns the bodies for which `wanted` holds (`mlc replay <id>` taking one
    /// record out of the dead-letter queue). In one transaction: what it returns is gone.
    pub async fn take_matching(&self, wanted: impl Fn(&str) -> bool + Send + 'static) -> Result<Vec<String>> {
        let queue = self.name.clone();
        self.db
            .write(move |conn| {
                let rows: Vec<(i64, String)> = {
                    let mut stmt = conn
                        .prepare_cached("SELECT seq, body FROM queue_messages WHERE queue = ?1 ORDER BY seq")
                        .map_err(sqlite)?;
                    let rows = stmt
                        .query_map(params![queue], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                        .map_err(sqlite)?;
                    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sqlite)?
                };
                let mut taken = Vec::new();
                for (seq, body) in rows.into_iter().filter(|(_, b)| wanted(b)) {
                    conn.execute("DELETE FROM queue_messages WHERE seq = ?1", params![seq]).map_err(sqlite)?;
                    taken.push(body);
                }
                Ok(taken)
            })
            .await
    }

    /// Makes every message in flight visible again at once. Only for a worker that holds the
    /// machine's worker lock after a crash: no one else can be holding those messages.
    pub async fn release_in_flight(&self) -> Result<u64> {
        let queue = self.name.clone();
        self.db
            .write(move |conn| {
                let now = now_ms();
                conn.execute(
                    "UPDATE queue_messages SET visible_at_ms = ?2, receipt = NULL WHERE queue = ?1 AND receipt IS NOT NULL AND visible_at_ms > ?2",
                    params![queue, now],
                )
                .map(|n| n as u64)
                .map_err(sqlite)
            })
            .await
    }

    fn receive_once(
        &self,
        max: usize,
        visibility_ms: i64,
    ) -> impl FnOnce(&rusqlite::Connection) -> Result<Vec<ReceivedMessage>> + Send + 'static {
        let queue = self.name.clone();
        let redrive = self.redrive.clone();
        move |conn| {
            let now = now_ms();
            let mut delivered = Vec::new();
            loop {
                // The visible head of each group: later messages wait until it is deleted.
                let heads: Vec<(i64, String, String, String, u32)> = {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT m.seq, m.message_id, m.group_id, m.body, m.receive_count
                               FROM queue_messages m
                              WHERE m.queue = ?1 AND m.visible_at_ms <= ?2
                                AND NOT EXISTS (SELECT 1 FROM queue_messages o
                                                 WHERE o.queue = m.queue AND o.group_id = m.group_id AND o.seq < m.seq)
                              ORDER BY m.seq LIMIT ?3",
                        )
                        .map_err(sqlite)?;
                    let rows = stmt
                        .query_map(params![queue, now, (max - delivered.len()) as i64], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .map_err(sqlite)?;
                    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)?
                };
                if heads.is_empty() {
                    break;
                }
                let mut redrove = false;
                for (seq, message_id, group_id, body, receive_count) in heads {
                    if let Some(r) = redrive.as_ref().filter(|r| receive_count >= r.max_receive_count) {
                        // Received too often without being deleted: off to the dead-letter queue,
                        // behind whatever is already there (as SQS, it keeps its message id).
                        conn.execute(
                            "INSERT INTO queue_messages (queue, message_id, group_id, body, sent_at_ms, visible_at_ms)
                             SELECT ?2, message_id, group_id, body, sent_at_ms, ?3 FROM queue_messages WHERE seq = ?1",
                            params![seq, r.dead_letter_queue, now],
                        )
                        .map_err(sqlite)?;
                        conn.execute("DELETE FROM queue_messages WHERE seq = ?1", params![seq]).map_err(sqlite)?;
                        redrove = true;
                        continue;
                    }
                    let receipt = uuid::Uuid::new_v4().to_string();
                    conn.execute(
                        "UPDATE queue_messages SET receive_count = receive_count + 1, receipt = ?2, visible_at_ms = ?3 WHERE seq = ?1",
                        params![seq, receipt, now + visibility_ms],
                    )
                    .map_err(sqlite)?;
                    delivered.push(ReceivedMessage {
                        message_id,
                        group_id,
                        body,
                        receipt,
                        receive_count: receive_count + 1,
                    });
                }
                // A dead-lettered head may have uncovered the next message of its group.
                if !redrove || delivered.len() >= max {
                    break;
                }
            }
            Ok(delivered)
        }
    }
}

#[async_trait]
impl RecordQueue for EmbeddedQueue {
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<()> {
        let queue = self.name.clone();
        let messages = messages.to_vec();
        self.db
            .write(move |conn| {
                let now = now_ms();
                conn.execute("DELETE FROM queue_dedup WHERE queue = ?1 AND expires_at_ms <= ?2", params![queue, now])
                    .map_err(sqlite)?;
                for m in &messages {
                    let fresh = conn
                        .execute(
                            "INSERT OR IGNORE INTO queue_dedup (queue, dedup_id, expires_at_ms) VALUES (?1, ?2, ?3)",
                            params![queue, m.deduplication_id, now + DEDUP_WINDOW_MS],
                        )
                        .map_err(sqlite)?;
                    if fresh == 0 {
                        continue; // a duplicate within the window: accepted, not delivered twice
                    }
                    conn.execute(
                        "INSERT INTO queue_messages (queue, message_id, group_id, body, sent_at_ms, visible_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                        params![queue, uuid::Uuid::new_v4().to_string(), m.group_id, m.body, now],
                    )
                    .map_err(sqlite)?;
                }
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl QueueConsumer for EmbeddedQueue {
    async fn receive(&self, max: usize, wait: Duration, visibility_timeout: Duration) -> Result<Vec<ReceivedMessage>> {
        let max = max.clamp(1, MAX_RECEIVE);
        // SQS counts visibility in whole seconds.
        let visibility_ms = visibility_timeout.as_secs() as i64 * 1000;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.db.write(self.receive_once(max, visibility_ms)).await?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        let queue = self.name.clone();
        let receipt = receipt.to_string();
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2", params![queue, receipt])
                    .map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn extend_visibility(&self, receipt: &str, visibility_timeout: Duration) -> Result<()> {
        let (queue, receipt) = (self.name.clone(), receipt.to_string());
        let visible_at = now_ms() + visibility_timeout.as_secs() as i64 * 1000;
        self.db
            .write(move |conn| {
                conn.execute(
                    "UPDATE queue_messages SET visible_at_ms = ?3 WHERE queue = ?1 AND receipt = ?2",
                    params![queue, receipt, visible_at],
                )
                .map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn approximate_depth(&self) -> Result<u64> {
        let queue = self.name.clone();
        self.db
            .call(move |conn| {
                conn.query_row("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1", params![queue], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(sqlite)
            })
            .await
    }
}
