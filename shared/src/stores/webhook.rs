//! The webhook pipeline, written once for every store: size limit → connection → ping →
//! verify → dedupe → accept (within the store budget) → enqueue → audit → reply. A store fills
//! in only what is its own through [`WebhookSource`]: its signature scheme, its delivery id,
//! turning a delivery into records, and the reply it expects.
//!
//! Stores disable a webhook after a few failed deliveries (WooCommerce), or blocklist the
//! destination (BigCommerce), so the pipeline answers success to anything it accepted or
//! deliberately ignored, keeps what it could not use in the audit trail, and answers "try again"
//! only for its own outages (queue down).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;

use crate::error::{Error, ErrorClass, Result};
use crate::ids::{ConnectionId, IdempotencyKey, SourceId, TraceId};
use crate::ports::*;
use crate::records::{EntityKind, Envelope};
use crate::refusals::{KEPT_HEADER_BYTES, Refusal, RefusalBudget, bounded, bounded_id};

/// What the pipeline needs from the outside world.
#[derive(Clone)]
pub struct StoreDeps {
    pub connections: Arc<dyn ConnectionStore>,
    pub secrets: Arc<dyn SecretStore>,
    /// The poster's queue.
    pub queue: Arc<dyn RecordQueue>,
    /// The fetch stage's queue (`crate::stores::fetch`): what thin webhooks send.
    pub fetch_queue: Arc<dyn RecordQueue>,
    pub audit: Arc<dyn AuditLog>,
    pub state: Arc<dyn SyncState>,
}

/// Whether a request comes from the store, by the store's own scheme.
pub enum Check {
    Verified,
    /// Refused; `reason` keys the refusal budget, `message` goes into the audit trail.
    Refused {
        reason: &'static str,
        message: String,
    },
}

/// What a verified delivery became.
pub enum Accepted {
    Queue {
        envelopes: Vec<Envelope>,
        message: String,
    },
    /// References to records the fetch stage reads from the store before they are queued.
    Fetch {
        requests: Vec<crate::stores::fetch::FetchRequest>,
        message: String,
    },
    /// Nothing to queue (a topic only noted, or ignored), and why.
    Noted(String),
}

/// How the pipeline ended, for the store to phrase as the reply it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Queued(String),
    Noted(String),
    Ping,
    Duplicate,
    UnknownConnection,
    TooLarge,
    Unauthorized,
    BadRequest(String),
    /// Signed but unusable: kept in the audit trail, answered as success.
    KeptForReview,
    /// Our own outage: the store should deliver again.
    TryAgain,
}

/// An HTTP reply as the store expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply { status, content_type: "text/plain; charset=utf-8", body: body.into() }
    }
}

/// A request as a webhook sees it: header names lower-case, the raw body the signature covers.
pub struct Delivery<'a> {
    pub headers: &'a HashMap<String, String>,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    /// A header, trimmed; empty counts as missing.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// What a store's webhooks are made of.
#[async_trait]
pub trait WebhookSource: Send + Sync {
    /// The store's path segment in `/webhooks/{name}/{connection_id}`.
    fn name(&self) -> &'static str;
    /// The store's name in the audit trail.
    fn title(&self) -> &'static str;
    fn max_body_bytes(&self) -> usize {
        1024 * 1024
    }
    /// The delivery's id as the store sent it (the pipeline bounds it before use).
    fn delivery_id(&self, delivery: &Delivery) -> Option<String>;
    /// Which kind of record the delivery is about, for the audit trail before it is parsed.
    fn kind(&self, delivery: &Delivery) -> EntityKind;
    /// Whether the request claims a signature at all (unsigned requests get a small body limit).
    fn claims_signature(&self, delivery: &Delivery) -> bool;
    /// A creation or test ping the store needs answered with success, nothing to queue.
    fn is_ping(&self, _delivery: &Delivery) -> bool {
        false
    }
    /// The signature scheme: is this request from the store the connection names?
    fn check(&self, secrets: Option<&SecretBundle>, delivery: &Delivery) -> Check;
    /// The delivery's topic once verified, or what is missing (a bad request).
    fn topic(&self, delivery: &Delivery) -> std::result::Result<String, String>;
    /// Turns a verified delivery into records to queue, or references for the fetch stage. It
    /// never calls the store: the webhook answers before any REST call is made.
    async fn accept(
        &self,
        connection: &Connection,
        topic: &str,
        reference: &str,
        delivery: &Delivery,
    ) -> Result<Accepted>;
    /// The store waits for the answer inside its own operation (a checkout, an admin's save), so
    /// any failure answer could stop it: the store then always gets success, and what could not
    /// be queued is said in the audit trail and left to the poller.
    fn blocks_the_store(&self) -> bool {
        false
    }
    /// The reply the store expects for `outcome`; text with the usual statuses by default.
    fn reply(&self, outcome: &Outcome) -> Reply {
        match outcome {
            Outcome::Queued(m) | Outcome::Noted(m) => Reply::text(200, m.clone()),
            Outcome::Ping => Reply::text(200, "pong"),
            Outcome::Duplicate => Reply::text(200, "duplicate delivery"),
            Outcome::KeptForReview => Reply::text(200, "kept for review"),
            Outcome::UnknownConnection => Reply::text(404, "unknown connection"),
            Outcome::TooLarge => Reply::text(413, "body too large"),
            Outcome::Unauthorized => Reply::text(401, "unauthorized"),
            Outcome::BadRequest(m) => Reply::text(400, m.clone()),
            Outcome::TryAgain => Reply::text(503, "try again"),
        }
    }
}

/// The pipeline, shared by every store's webhook (in a Lambda, and in `mlc serve`).
pub struct WebhookPipeline {
    pub deps: StoreDeps,
    refusals: RefusalBudget,
}

impl WebhookPipeline {
    pub fn new(deps: StoreDeps) -> Self {
        WebhookPipeline { deps, refusals: RefusalBudget::default() }
    }

    async fn connection(&self, connection_id: &str) -> std::result::Result<Connection, Outcome> {
        let Ok(id) = ConnectionId::parse(connection_id) else { return Err(Outcome::UnknownConnection) };
        match self.deps.connections.connection(&id).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(Outcome::UnknownConnection),
            Err(_) => Err(Outcome::TryAgain),
        }
    }

    fn reference(store: &dyn WebhookSource, delivery: &Delivery) -> (String, String) {
        let id =
            store.delivery_id(delivery).map(|d| bounded_id(d.trim())).filter(|d| !d.is_empty()).unwrap_or_default();
        let reference =
            format!("webhook-{}", if id.is_empty() { uuid::Uuid::new_v4().simple().to_string() } else { id.clone() });
        (id, reference)
    }

    /// Answers a request whose body was not read: over the limit (413), or unsigned and larger
    /// than a ping can be (401). Audited within the refusal budget.
    pub async fn refuse_unread(
        &self,
        store: &dyn WebhookSource,
        connection_id: &str,
        delivery: &Delivery<'_>,
        length: Option<usize>,
    ) -> Reply {
        let connection = match self.connection(connection_id).await {
            Ok(c) => c,
            Err(outcome) => return store.reply(&outcome),
        };
        let (_, reference) = Self::reference(store, delivery);
        let size = length.map(|l| format!("{l} bytes")).unwrap_or_else(|| "a body".into());
        let kind = store.kind(delivery);
        if store.claims_signature(delivery) {
            let limit = store.max_body_bytes();
            let message = format!("body of {size} is over the {limit}-byte limit; not read");
            self.refuse(&connection, kind, &reference, "size", message).await;
            store.reply(&Outcome::TooLarge)
        } else {
            let message = format!("unsigned body of {size}, larger than a ping; not read");
            self.refuse(&connection, kind, &reference, "signature", message).await;
            store.reply(&Outcome::Unauthorized)
        }
    }

    /// A delivery a store must not be blocked by, answered success though it could not be
    /// queued: said in each named record's trail, where the finance team looks for it.
    async fn left_to_poller(&self, connection: &Connection, named: &[(EntityKind, String)], topic: &str, e: &Error) {
        let message = format!(
            "could not queue the delivery ({e}); answered success so the store's operation goes on, and the poller reads the record"
        );
        for (kind, id) in named {
            let details = json!({ "topic": topic });
            self.audit(connection, *kind, id, AuditStage::Rejected, message.clone(), details).await;
        }
    }

    pub async fn handle(&self, store: &dyn WebhookSource, connection_id: &str, delivery: &Delivery<'_>) -> Reply {
        let span = tracing::info_span!("webhook", store = store.name(), connection_id = %crate::refusals::bounded(connection_id, 64));
        let outcome = tracing::Instrument::instrument(self.run(store, connection_id, delivery), span).await;
        store.reply(&outcome)
    }

    async fn run(&self, store: &dyn WebhookSource, connection_id: &str, delivery: &Delivery<'_>) -> Outcome {
        let connection = match self.connection(connection_id).await {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
        let (delivery_id, reference) = Self::reference(store, delivery);
        let kind = store.kind(delivery);
        let limit = store.max_body_bytes();
        if delivery.body.len() > limit {
            let message = format!("body of {} bytes is over the {limit}-byte limit", delivery.body.len());
            self.refuse(&connection, kind, &reference, "size", message).await;
            return Outcome::TooLarge;
        }
        if store.is_ping(delivery) {
            return Outcome::Ping;
        }
        let secrets = match self.deps.secrets.get(&connection.id).await {
            Ok(s) => s,
            Err(_) => return Outcome::TryAgain,
        };
        if let Check::Refused { reason, message } = store.check(secrets.as_ref(), delivery) {
            self.refuse(&connection, kind, &reference, reason, message).await;
            return Outcome::Unauthorized;
        }
        let topic = match store.topic(delivery) {
            Ok(t) => bounded(&t, KEPT_HEADER_BYTES),
            Err(missing) => {
                self.audit(&connection, kind, &reference, AuditStage::Rejected, missing.clone(), json!({})).await;
                return Outcome::BadRequest(missing);
            }
        };
        // The same delivery twice (the store or a proxy retrying) is answered, not enqueued again.
        let claim = if delivery_id.is_empty() {
            None
        } else {
            let key = IdempotencyKey::parse(format!("{}-delivery:{}:{delivery_id}", store.name(), connection.id))
                .expect("a bounded id makes a key under 512 bytes");
            match self.deps.state.claim(&key, Duration::from_secs(60)).await {
                Ok(Claim::Acquired(token)) => Some(token),
                Ok(_) => return Outcome::Duplicate,
                Err(_) => return Outcome::TryAgain,
            }
        };
        let via = if delivery_id.is_empty() {
            format!("webhook {topic}")
        } else {
            format!("webhook {topic} (delivery {delivery_id})")
        };
        // What the delivery was about, to name in the trail if it cannot be queued.
        let mut named: Vec<(EntityKind, String)> = Vec::new();
        let queued = match store.accept(&connection, &topic, &reference, delivery).await {
            Ok(Accepted::Queue { envelopes, message }) => {
                named = envelopes.iter().map(|e| (e.kind(), e.source_id.to_string())).collect();
                self.send(&envelopes).await.map(|()| (envelopes, Vec::new(), Outcome::Queued(message)))
            }
            Ok(Accepted::Fetch { mut requests, message }) => {
                named = requests.iter().map(|r| (r.kind, r.id.clone())).collect();
                requests.iter_mut().for_each(|r| r.via = via.clone());
                let messages: Vec<OutgoingMessage> = requests.iter().map(|r| r.message(&reference)).collect();
                self.send_to(self.deps.fetch_queue.as_ref(), messages)
                    .await
                    .map(|()| (Vec::new(), requests, Outcome::Queued(message)))
            }
            Ok(Accepted::Noted(message)) => Ok((Vec::new(), Vec::new(), Outcome::Noted(message))),
            Err(e) => Err(e),
        };
        match queued {
            Ok((envelopes, requests, outcome)) => {
                // Queued: its audit entries and the delivery's claim are written together.
                let complete = async {
                    if let Some(token) = &claim {
                        let _ =
                            self.deps.state.complete(token, "enqueued", Some(Duration::from_secs(7 * 86_400))).await;
                    }
                };
                tokio::join!(
                    self.record_enqueued(store.title(), &connection, &envelopes, &via),
                    self.record_to_fetch(store.title(), &connection, &requests),
                    complete
                );
                outcome
            }
            Err(e) => {
                if let Some(token) = &claim {
                    let _ = self.deps.state.release(token).await;
                }
                if e.class() == ErrorClass::Retryable {
                    if store.blocks_the_store() {
                        if named.is_empty() {
                            named.push((kind, reference.clone()));
                        }
                        self.left_to_poller(&connection, &named, &topic, &e).await;
                    }
                    return Outcome::TryAgain;
                }
                // Signed but unusable: kept in the audit trail with its body; the poller will see
                // the record again, and the store must not disable the webhook over it.
                let body = String::from_utf8_lossy(delivery.body).into_owned();
                let message = format!("could not use the delivery: {e}");
                self.audit(
                    &connection,
                    kind,
                    &reference,
                    AuditStage::Rejected,
                    message,
                    json!({ "topic": topic, "body": body }),
                )
                .await;
                if e.class() == ErrorClass::BadInput
                    && serde_json::from_slice::<serde_json::Value>(delivery.body).is_err()
                {
                    return Outcome::BadRequest("malformed JSON".into());
                }
                Outcome::KeptForReview
            }
        }
    }

    /// Queues `envelopes`, then records each in the audit trail (`via`: how they came).
    pub async fn enqueue(&self, title: &str, connection: &Connection, envelopes: &[Envelope], via: &str) -> Result<()> {
        // The newest version of each document on its way, marked before it is sent: a refund
        // processed meanwhile waits until that version is settled, and so credits the invoice
        // that is live after it (the poster's `settled:` mark).
        for e in envelopes.iter().filter(|e| matches!(e.kind(), EntityKind::Order | EntityKind::Invoice)) {
            let mark = crate::ports::Watermark { at: e.source_updated_at, cursor: Some(e.content_hash.to_string()) };
            self.deps
                .state
                .advance_watermark(&e.connection_id, &format!("queued:{}:{}", e.kind(), e.source_id), &mark)
                .await?;
        }
        self.send(envelopes).await?;
        self.record_enqueued(title, connection, envelopes, via).await;
        Ok(())
    }

    async fn send(&self, envelopes: &[Envelope]) -> Result<()> {
        self.send_to(self.deps.queue.as_ref(), envelopes.iter().map(OutgoingMessage::for_envelope).collect()).await
    }

    async fn send_to(&self, queue: &dyn RecordQueue, messages: Vec<OutgoingMessage>) -> Result<()> {
        for chunk in messages.chunks(10) {
            queue.send_batch(chunk).await?;
        }
        Ok(())
    }

    /// One Received entry per reference sent to the fetch stage.
    async fn record_to_fetch(
        &self,
        title: &str,
        connection: &Connection,
        requests: &[crate::stores::fetch::FetchRequest],
    ) {
        let entries = requests.iter().map(|r| {
            let message = format!("received from {title} by {}; read from the store next", r.via);
            self.audit(connection, r.kind, &r.id, AuditStage::Received, message, json!({ "via": r.via }))
        });
        futures_util::future::join_all(entries).await;
    }

    /// One Enqueued entry per queued envelope, saying how it came, so a record seen twice can be
    /// told apart in its trace. Written at once (on the embedded default they share a commit).
    async fn record_enqueued(&self, title: &str, connection: &Connection, envelopes: &[Envelope], via: &str) {
        let appends = envelopes.iter().map(|e| {
            let entry = AuditEntry {
                connection_id: connection.id.clone(),
                kind: e.kind(),
                source_id: e.source_id.clone(),
                trace_id: e.trace_id,
                at: Utc::now(),
                stage: AuditStage::Enqueued,
                odoo: None,
                message: format!("received from {title} by {via} and queued (content {})", &e.content_hash.as_str()[..12]),
                details: json!({ "source_updated_at": e.source_updated_at, "via": via }),
            };
            async move {
                tracing::debug!(connection_id = %entry.connection_id, trace_id = %entry.trace_id, record = %entry.source_id, "queued");
                if let Err(err) = self.deps.audit.append(&entry, connection.audit_retention).await {
                    tracing::error!(error = %err, record = %entry.source_id, "queued, but could not write the audit trail");
                }
            }
        });
        futures_util::future::join_all(appends).await;
    }

    pub async fn audit(
        &self,
        connection: &Connection,
        kind: EntityKind,
        source: &str,
        stage: AuditStage,
        message: String,
        details: serde_json::Value,
    ) {
        let Ok(source_id) = SourceId::parse(source) else { return };
        let entry = AuditEntry {
            connection_id: connection.id.clone(),
            kind,
            source_id,
            trace_id: TraceId::new(),
            at: Utc::now(),
            stage,
            odoo: None,
            message,
            details,
        };
        if let Err(e) = self.deps.audit.append(&entry, connection.audit_retention).await {
            tracing::error!(error = %e, "could not write the audit trail");
        }
    }

    /// Audits a refusal of an unauthenticated request, within the per-minute budget.
    async fn refuse(
        &self,
        connection: &Connection,
        kind: EntityKind,
        reference: &str,
        reason: &'static str,
        message: String,
    ) {
        match self.refusals.admit(&connection.id, reason, Utc::now()) {
            Refusal::Counted => {}
            Refusal::Record { earlier } => {
                let message = if earlier > 0 {
                    format!(
                        "{message} (and {earlier} more refusals like it since the last entry, counted but not kept one by one)"
                    )
                } else {
                    message
                };
                self.audit(
                    connection,
                    kind,
                    reference,
                    AuditStage::Rejected,
                    message,
                    json!({ "refused_before": earlier }),
                )
                .await;
            }
        }
    }
}
