//! The fetch stage, written once for every store. A thin webhook answers the store after only
//! verifying, deduplicating and queueing a [`FetchRequest`]: a reference to a record. This stage
//! (its own queue and Lambda on AWS, a worker in `mlc serve`) then makes the REST calls the record
//! needs (WooCommerce's categories and refunds, BigCommerce's id-only payloads) and queues the
//! records for the poster. A store fills in [`FetchSource::fetch`]; retries, the give-up point and
//! the audit trail are the stage's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ErrorClass, Result};
use crate::ids::ConnectionId;
use crate::ports::{AuditStage, Connection, OutgoingMessage, QueueConsumer};
use crate::poster::IncomingMessage;
use crate::records::{EntityKind, Envelope, SourceSystem};
use crate::stores::Stores;

/// A record to read from the store: what a thin webhook queues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub connection_id: ConnectionId,
    pub source: SourceSystem,
    pub kind: EntityKind,
    /// The record's id in the store.
    pub id: String,
    /// How the reference came (`webhook order.updated (delivery 42)`), for the audit trail.
    pub via: String,
    pub received_at: DateTime<Utc>,
    /// Whatever else the store's fetch needs from the delivery.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub hints: serde_json::Value,
}

impl FetchRequest {
    /// One FIFO group per record, so two deliveries about one order are read in turn; one
    /// deduplication id per delivery (`reference`), so a second delivery is read again (the
    /// record may have changed in between) while a retried send of the same one is not.
    pub fn message(&self, reference: &str) -> OutgoingMessage {
        let group = format!("fetch:{}:{}:{}", self.connection_id, self.kind, self.id);
        OutgoingMessage::new(
            group.clone(),
            format!("{group}:{reference}"),
            serde_json::to_string(self).expect("serializable"),
        )
    }
}

/// What a store does in the fetch stage.
#[async_trait]
pub trait FetchSource: Send + Sync {
    /// Reads the record the request names, and what it needs, as envelopes for the poster.
    async fn fetch(&self, connection: &Connection, request: &FetchRequest) -> Result<Vec<Envelope>>;
}

/// What became of one fetch message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    Queued(usize),
    /// Could not be read and will not be tried again: in the audit trail, left to the poller.
    Given(String),
    /// To be delivered again (the store or the queue is down).
    Retry(String),
}

/// The fetch stage's worker: each message read, its records queued for the poster.
pub struct Fetcher {
    stores: Arc<Stores>,
    /// As the fetch queue's `maxReceiveCount`: the last delivery is given up in the trail rather
    /// than left to the dead-letter queue unexplained.
    pub max_receives: u32,
    /// How long one record's reads may take before the fetch is retried later.
    pub fetch_timeout: Duration,
}

/// How long a received fetch message stays invisible: longer than [`Fetcher::fetch_timeout`].
pub const FETCH_VISIBILITY: Duration = Duration::from_secs(300);

impl Fetcher {
    pub fn new(stores: Arc<Stores>) -> Self {
        Fetcher { stores, max_receives: 5, fetch_timeout: Duration::from_secs(120) }
    }

    /// Handles a batch; returns each message's outcome (the ones to retry stay on the queue).
    pub async fn handle_batch(&self, messages: &[IncomingMessage]) -> Vec<(String, FetchOutcome)> {
        let handled = messages.iter().map(|m| async move { (m.message_id.clone(), self.handle(m).await) });
        futures_util::future::join_all(handled).await
    }

    async fn handle(&self, message: &IncomingMessage) -> FetchOutcome {
        let request: FetchRequest = match serde_json::from_str(&message.body) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "a fetch message that is not a fetch request was dropped");
                return FetchOutcome::Given(format!("not a fetch request: {e}"));
            }
        };
        let span = tracing::info_span!("fetch", connection_id = %request.connection_id, kind = %request.kind, source_id = %request.id);
        tracing::Instrument::instrument(self.fetch(&request, message.receive_count), span).await
    }

    async fn fetch(&self, request: &FetchRequest, receive_count: u32) -> FetchOutcome {
        let pipeline = &self.stores.pipeline;
        let connection = match pipeline.deps.connections.connection(&request.connection_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return FetchOutcome::Given(format!("connection {} no longer exists", request.connection_id)),
            Err(e) => return FetchOutcome::Retry(e.to_string()),
        };
        let Some(store) = self.stores.by_source(request.source) else {
            return FetchOutcome::Given(format!("no store {} in this build", request.source));
        };
        let title = store.webhook().title();
        let what = format!("{} {}", request.kind, request.id);
        let fetched = tokio::time::timeout(self.fetch_timeout, store.fetch().fetch(&connection, request)).await;
        let fetched = fetched.unwrap_or_else(|_| {
            Err(crate::Error::retryable(anyhow::anyhow!(
                "{title} did not answer within {} s",
                self.fetch_timeout.as_secs()
            )))
        });
        let error = match fetched {
            Ok(envelopes) => {
                let via = format!("{}, then read from the store", request.via);
                return match pipeline.enqueue(title, &connection, &envelopes, &via).await {
                    Ok(()) => FetchOutcome::Queued(envelopes.len()),
                    Err(e) => FetchOutcome::Retry(format!("queueing {what}: {e}")),
                };
            }
            Err(e) => e,
        };
        let last = receive_count >= self.max_receives;
        if error.class() == ErrorClass::Retryable && !last {
            tracing::warn!(error = %error, "reading from the store failed; the fetch is retried");
            return FetchOutcome::Retry(error.to_string());
        }
        let message = if error.class() == ErrorClass::Retryable {
            format!(
                "could not read {what} from {title} after {receive_count} tries ({error}); the poller reads it on its next run"
            )
        } else {
            format!(
                "could not read {what} from {title}: {error}; the poller reads it on its next run if it still exists"
            )
        };
        pipeline
            .audit(
                &connection,
                request.kind,
                &request.id,
                AuditStage::Rejected,
                message.clone(),
                json!({ "via": request.via }),
            )
            .await;
        FetchOutcome::Given(message)
    }
}

/// Receives one batch from the fetch queue, reads it and deletes what is done. Returns how many
/// messages came (0 when nothing was visible within `wait`) and how many of them are done.
pub async fn fetch_one_batch(queue: &dyn QueueConsumer, fetcher: &Fetcher, wait: Duration) -> Result<(usize, usize)> {
    let got = queue.receive(10, wait, FETCH_VISIBILITY).await?;
    let messages: Vec<IncomingMessage> = got.iter().map(IncomingMessage::from).collect();
    let outcomes = fetcher.handle_batch(&messages).await;
    let mut done = 0;
    for (m, (_, outcome)) in got.iter().zip(&outcomes) {
        if !matches!(outcome, FetchOutcome::Retry(_)) {
            queue.delete(&m.receipt).await?;
            done += 1;
        }
    }
    Ok((got.len(), done))
}

/// Reads until the fetch queue shows nothing, or until a batch in which everything must retry;
/// returns how many messages are done.
pub async fn drain_fetches(queue: &dyn QueueConsumer, fetcher: &Fetcher) -> Result<usize> {
    let mut total = 0;
    loop {
        let (got, done) = fetch_one_batch(queue, fetcher, Duration::from_millis(100)).await?;
        total += done;
        if got == 0 || done == 0 {
            return Ok(total);
        }
    }
}
