//! `POST /webhooks/woocommerce/{connection_id}`: verify, normalize, enqueue, answer fast.
//! WooCommerce disables a webhook after a few failed deliveries and never retries one, so the
//! handler answers 200 to anything it accepted or deliberately ignored, and keeps what it could
//! not use in the audit trail; only its own outages (queue down) answer 503.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::client::{WooClient, WooConfig};
use super::normalize::{self, WooCustomer, WooOrder};
use super::signature;
use crate::error::{Error, ErrorClass, Result};
use crate::ids::{ConnectionId, IdempotencyKey, SourceId, TraceId};
use crate::odoo::RetryPolicy;
use crate::ports::*;
use crate::records::{EntityKind, Envelope, Record, SourceSystem};
use crate::refusals::{KEPT_HEADER_BYTES, Refusal, RefusalBudget, bounded, bounded_id};

/// Larger bodies are refused with 413 before anything else is done with them.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Secrets a WooCommerce connection keeps.
pub const SECRET_WEBHOOK: &str = "woo_webhook_secret";
pub const SECRET_KEY: &str = "woo_consumer_key";
pub const SECRET_SECRET: &str = "woo_consumer_secret";

pub struct WooDeps {
    pub connections: Arc<dyn ConnectionStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub queue: Arc<dyn RecordQueue>,
    pub audit: Arc<dyn AuditLog>,
    pub state: Arc<dyn SyncState>,
}

/// The HTTP request as the webhook sees it; header names lower-case.
pub struct WebhookRequest<'a> {
    pub connection_id: &'a str,
    pub headers: &'a HashMap<String, String>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: String,
}

fn respond(status: u16, body: impl Into<String>) -> WebhookResponse {
    WebhookResponse { status, body: body.into() }
}

/// How long a webhook may spend on the store's REST API (categories, refunds) before it answers
/// anyway: WooCommerce gives up on a delivery after 60 s. What is not queued then is left to
/// the poller, which reads the order on its next run.
pub const STORE_BUDGET: Duration = Duration::from_secs(8);

pub struct WooConnector {
    pub deps: WooDeps,
    clients: tokio::sync::Mutex<HashMap<ConnectionId, Arc<WooClient>>>,
    pub retry: RetryPolicy,
    /// See [`STORE_BUDGET`].
    pub store_budget: Duration,
    refusals: RefusalBudget,
}

impl WooConnector {
    pub fn new(deps: WooDeps) -> Self {
        WooConnector {
            deps,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            retry: RetryPolicy::default(),
            store_budget: STORE_BUDGET,
            refusals: RefusalBudget::default(),
        }
    }

    /// Audits a refusal of an unauthenticated request, within the per-minute budget.
    pub async fn refuse(
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

    pub async fn client(&self, connection: &Connection) -> Result<Arc<WooClient>> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&connection.id) {
            return Ok(c.clone());
        }
        let secrets = self
            .deps
            .secrets
            .get(&connection.id)
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("connection {} has no secrets", connection.id)))?;
        let get = |n: &str| {
            secrets
                .get(n)
                .cloned()
                .ok_or_else(|| Error::permanent(anyhow::anyhow!("connection {} lacks the secret {n}", connection.id)))
        };
        let client = Arc::new(
            WooClient::connect(WooConfig {
                store_url: connection.store_url.clone(),
                consumer_key: get(SECRET_KEY)?.expose().to_string(),
                consumer_secret: get(SECRET_SECRET)?,
                allow_private_network: connection.allow_private_network,
                retry: self.retry,
                timeout: Duration::from_secs(20),
            })
            .await?,
        );
        clients.insert(connection.id.clone(), client.clone());
        Ok(client)
    }

    async fn audit(
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

    /// Normalizes an order (and its refunds when it has any) into envelopes.
    pub async fn order_envelopes(
        &self,
        connection: &Connection,
        order: &WooOrder,
        with_refunds: bool,
    ) -> Result<Vec<Envelope>> {
        let client = self.client(connection).await?;
        let products: Vec<i64> = order.line_items.iter().map(|l| l.product_id).collect();
        let categories = client.category_paths(&products).await?;
        let (source_id, modified, doc) = normalize::order(order, &categories)?;
        let mut out = vec![Envelope::new(
            connection.id.clone(),
            SourceSystem::Woocommerce,
            source_id,
            modified,
            Record::Order(doc),
        )];
        if with_refunds {
            for r in client.refunds(order.id).await? {
                let (id, at, refund) = normalize::refund(order.id, &order.currency, &r)?;
                out.push(Envelope::new(
                    connection.id.clone(),
                    SourceSystem::Woocommerce,
                    id,
                    at,
                    Record::Refund(refund),
                ));
            }
        }
        Ok(out)
    }

    /// Queues `envelopes`, then records each in the audit trail.
    pub async fn enqueue(&self, connection: &Connection, envelopes: &[Envelope], via: &str) -> Result<()> {
        self.send(envelopes).await?;
        self.record_enqueued(connection, envelopes, via).await;
        Ok(())
    }

    async fn send(&self, envelopes: &[Envelope]) -> Result<()> {
        for chunk in envelopes.chunks(10) {
            let messages: Vec<OutgoingMessage> = chunk.iter().map(OutgoingMessage::for_envelope).collect();
            self.deps.queue.send_batch(&messages).await?;
        }
        Ok(())
    }

    /// One Enqueued entry per queued envelope, saying how it came (`via`: which webhook delivery,
    /// or the poller), so a record seen twice can be told apart in its trace. The entries are
    /// written at once rather than one after another (on the embedded default they share a commit).
    async fn record_enqueued(&self, connection: &Connection, envelopes: &[Envelope], via: &str) {
        let appends = envelopes.iter().map(|e| {
            let entry = AuditEntry {
                connection_id: connection.id.clone(),
                kind: e.kind(),
                source_id: e.source_id.clone(),
                trace_id: e.trace_id,
                at: Utc::now(),
                stage: AuditStage::Enqueued,
                odoo: None,
                message: format!("received from WooCommerce by {via} and queued (content {})", &e.content_hash.as_str()[..12]),
                details: json!({ "source_updated_at": e.source_updated_at, "via": via }),
            };
            async move {
                if let Err(err) = self.deps.audit.append(&entry, connection.audit_retention).await {
                    tracing::error!(error = %err, record = %entry.source_id, "queued, but could not write the audit trail");
                }
            }
        });
        futures_util::future::join_all(appends).await;
    }

    /// Answers a request whose body was not read: over the limit (413), or unsigned and larger
    /// than WooCommerce's creation ping can be (401). Audited within the refusal budget.
    pub async fn refuse_unread(
        &self,
        connection_id: &str,
        headers: &HashMap<String, String>,
        signed: bool,
        length: Option<usize>,
    ) -> WebhookResponse {
        let Ok(id) = ConnectionId::parse(connection_id) else { return respond(404, "unknown connection") };
        let connection = match self.deps.connections.connection(&id).await {
            Ok(Some(c)) => c,
            Ok(None) => return respond(404, "unknown connection"),
            Err(_) => return respond(503, "try again"),
        };
        let delivery = headers.get("x-wc-webhook-delivery-id").map(|d| bounded_id(d.trim())).filter(|d| !d.is_empty());
        let reference = format!("webhook-{}", delivery.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()));
        let size = length.map(|l| format!("{l} bytes")).unwrap_or_else(|| "a body".into());
        if signed {
            self.refuse(
                &connection,
                EntityKind::Order,
                &reference,
                "size",
                format!("body of {size} is over the {MAX_BODY_BYTES}-byte limit; not read"),
            )
            .await;
            respond(413, "body too large")
        } else {
            self.refuse(
                &connection,
                EntityKind::Order,
                &reference,
                "signature",
                format!("unsigned body of {size}, larger than a creation ping; not read"),
            )
            .await;
            respond(401, "unauthorized")
        }
    }

    pub async fn handle_webhook(&self, req: WebhookRequest<'_>) -> WebhookResponse {
        let Ok(id) = ConnectionId::parse(req.connection_id) else { return respond(404, "unknown connection") };
        let connection = match self.deps.connections.connection(&id).await {
            Ok(Some(c)) => c,
            Ok(None) => return respond(404, "unknown connection"),
            Err(_) => return respond(503, "try again"),
        };
        // Empty headers count as missing; what the sender chose is bounded before it is kept.
        let header = |n: &str| req.headers.get(n).map(|v| v.trim()).filter(|v| !v.is_empty());
        let delivery = header("x-wc-webhook-delivery-id").map(bounded_id).unwrap_or_default();
        let reference = format!(
            "webhook-{}",
            if delivery.is_empty() { uuid::Uuid::new_v4().simple().to_string() } else { delivery.clone() }
        );
        let kind = match header("x-wc-webhook-resource") {
            Some("customer") => EntityKind::Customer,
            _ => EntityKind::Order,
        };
        if req.body.len() > MAX_BODY_BYTES {
            self.refuse(
                &connection,
                kind,
                &reference,
                "size",
                format!("body of {} bytes is over the {MAX_BODY_BYTES}-byte limit", req.body.len()),
            )
            .await;
            return respond(413, "body too large");
        }
        // WooCommerce's creation ping: unsigned, form-encoded, must get exactly 200.
        if header("x-wc-webhook-signature").is_none() && req.body.starts_with(b"webhook_id=") {
            return respond(200, "pong");
        }
        let secret = match self.deps.secrets.get(&connection.id).await {
            Ok(Some(s)) => s.get(SECRET_WEBHOOK).cloned(),
            Ok(None) => None,
            Err(_) => return respond(503, "try again"),
        };
        let Some(secret) = secret else {
            self.refuse(
                &connection,
                kind,
                &reference,
                "no secret",
                "no webhook secret is stored for this connection".into(),
            )
            .await;
            return respond(401, "unauthorized");
        };
        if !signature::verify(secret.expose(), req.body, header("x-wc-webhook-signature")) {
            let topic =
                header("x-wc-webhook-topic").map(|t| bounded(t, KEPT_HEADER_BYTES)).unwrap_or_else(|| "none".into());
            self.refuse(
                &connection,
                kind,
                &reference,
                "signature",
                format!("bad or missing X-WC-Webhook-Signature (topic {topic:?})"),
            )
            .await;
            return respond(401, "unauthorized");
        }
        let Some(topic) = header("x-wc-webhook-topic").map(|t| bounded(t, KEPT_HEADER_BYTES)) else {
            self.audit(
                &connection,
                kind,
                &reference,
                AuditStage::Rejected,
                "signed delivery without X-WC-Webhook-Topic".into(),
                json!({}),
            )
            .await;
            return respond(400, "missing X-WC-Webhook-Topic");
        };
        // The same delivery twice (WooCommerce or a proxy retrying) is answered, not enqueued again.
        let claim = if delivery.is_empty() {
            None
        } else {
            let key = IdempotencyKey::parse(format!("woo-delivery:{}:{delivery}", connection.id))
                .expect("a bounded id makes a key under 512 bytes");
            match self.deps.state.claim(&key, Duration::from_secs(60)).await {
                Ok(Claim::Acquired(token)) => Some(token),
                Ok(_) => return respond(200, "duplicate delivery"),
                Err(_) => return respond(503, "try again"),
            }
        };
        let via = if delivery.is_empty() {
            format!("webhook {topic}")
        } else {
            format!("webhook {topic} (delivery {delivery})")
        };
        let accepted = match tokio::time::timeout(
            self.store_budget,
            self.accept(&connection, &topic, req.body, &reference, kind),
        )
        .await
        {
            Ok(accepted) => accepted,
            Err(_) => Err(Error::permanent(anyhow::anyhow!(
                "the store's REST API did not answer within {} s; nothing was queued from this delivery, and the poller reads the record on its next run",
                self.store_budget.as_secs()
            ))),
        };
        let outcome = match accepted {
            Ok((envelopes, message)) => self.send(&envelopes).await.map(|()| (envelopes, message)),
            Err(e) => Err(e),
        };
        let outcome = match (outcome, &claim) {
            (Ok((envelopes, message)), claim) => {
                // Queued: its audit entries and the delivery's claim are written together.
                let complete = async {
                    if let Some(token) = claim {
                        let _ =
                            self.deps.state.complete(token, "enqueued", Some(Duration::from_secs(7 * 86_400))).await;
                    }
                };
                tokio::join!(self.record_enqueued(&connection, &envelopes, &via), complete);
                Ok(message)
            }
            (Err(e), Some(token)) => {
                let _ = self.deps.state.release(token).await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        };
        match outcome {
            Ok(message) => respond(200, message),
            Err(e) if e.class() == ErrorClass::Retryable => respond(503, "try again"),
            Err(e) => {
                // Signed but unusable: kept in the audit trail with its body; the poller will see the
                // record again, and WooCommerce must not disable the webhook over it.
                let body = String::from_utf8_lossy(req.body).into_owned();
                self.audit(
                    &connection,
                    kind,
                    &reference,
                    AuditStage::Rejected,
                    format!("could not use the delivery: {e}"),
                    json!({ "topic": topic, "body": body }),
                )
                .await;
                if e.class() == ErrorClass::BadInput && serde_json::from_slice::<serde_json::Value>(req.body).is_err() {
                    return respond(400, "malformed JSON");
                }
                respond(200, "kept for review")
            }
        }
    }

    /// Parses and normalizes a signed delivery: the envelopes to queue (none for a topic that is
    /// only noted) and the answer's text.
    async fn accept(
        &self,
        connection: &Connection,
        topic: &str,
        body: &[u8],
        reference: &str,
        kind: EntityKind,
    ) -> Result<(Vec<Envelope>, String)> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| Error::bad_input(format!("malformed JSON: {e}")))?;
        match topic {
            "order.created" | "order.updated" | "order.restored" => {
                // Refunds are fetched only for an order that lists some (most list none).
                let has_refunds = value["refunds"].as_array().is_some_and(|r| !r.is_empty());
                let order: WooOrder =
                    serde_json::from_value(value).map_err(|e| Error::bad_input(format!("not an order: {e}")))?;
                let envelopes = self.order_envelopes(connection, &order, has_refunds).await?;
                let message = format!("queued {} record(s)", envelopes.len());
                Ok((envelopes, message))
            }
            "customer.created" | "customer.updated" => {
                let customer: WooCustomer =
                    serde_json::from_value(value).map_err(|e| Error::bad_input(format!("not a customer: {e}")))?;
                let (id, at, c) = normalize::customer(&customer)?;
                let e = Envelope::new(connection.id.clone(), SourceSystem::Woocommerce, id, at, Record::Customer(c));
                Ok((vec![e], "queued 1 record".into()))
            }
            "order.deleted" | "customer.deleted" => {
                let id = value["id"].as_i64().map(|i| i.to_string()).unwrap_or_else(|| reference.to_string());
                self.audit(
                    connection,
                    kind,
                    &id,
                    AuditStage::Skipped,
                    format!("{topic} in the store: nothing is deleted in Odoo; review by hand if needed"),
                    json!({}),
                )
                .await;
                Ok((vec![], "noted".into()))
            }
            other => {
                self.audit(
                    connection,
                    kind,
                    reference,
                    AuditStage::Skipped,
                    format!("topic {other} is not handled"),
                    json!({}),
                )
                .await;
                Ok((vec![], "ignored".into()))
            }
        }
    }
}
