//! WooCommerce's part of the webhook pipeline (`crate::stores::webhook`), at
//! `POST /webhooks/woocommerce/{connection_id}`: `X-WC-Webhook-Signature` (base64 HMAC-SHA256
//! of the raw body), `X-WC-Webhook-Delivery-ID`, the unsigned creation ping, and the topics
//! that become records. Everything around them is the shared pipeline's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::client::{WooClient, WooConfig};
use super::normalize::{self, WooCustomer, WooOrder};
use super::signature;
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::ids::ConnectionId;
use crate::ports::*;
use crate::records::{EntityKind, Envelope, Record, SourceSystem};
use crate::stores::fetch::{FetchRequest, FetchSource};
use crate::stores::webhook::{Accepted, Check, Delivery, StoreDeps, WebhookPipeline, WebhookSource};
use crate::stores::{Store, StoreChecks};

/// Larger bodies are refused with 413 before anything else is done with them.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Secrets a WooCommerce connection keeps.
pub const SECRET_WEBHOOK: &str = "woo_webhook_secret";
pub const SECRET_KEY: &str = "woo_consumer_key";
pub const SECRET_SECRET: &str = "woo_consumer_secret";

pub type WooDeps = StoreDeps;

/// The HTTP request as the webhook sees it; header names lower-case.
pub struct WebhookRequest<'a> {
    pub connection_id: &'a str,
    pub headers: &'a HashMap<String, String>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

pub struct WooConnector {
    pub deps: WooDeps,
    /// The shared webhook pipeline (also what the poller queues through).
    pub pipeline: Arc<WebhookPipeline>,
    clients: tokio::sync::Mutex<HashMap<ConnectionId, Arc<WooClient>>>,
    pub retry: RetryPolicy,
}

impl WooConnector {
    pub fn new(deps: WooDeps) -> Self {
        WooConnector {
            pipeline: Arc::new(WebhookPipeline::new(deps.clone())),
            deps,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            retry: RetryPolicy::default(),
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
                page_size: super::WooSettings::of(connection).page_size,
                consumer_key: get(SECRET_KEY)?.expose().to_string(),
                consumer_secret: get(SECRET_SECRET)?,
                allow_private_network: connection.allow_private_network,
                ca_pem: connection.ca_pem.clone(),
                retry: self.retry,
                timeout: Duration::from_secs(20),
            })
            .await?,
        );
        clients.insert(connection.id.clone(), client.clone());
        Ok(client)
    }

    /// An order as the store lists it, normalized with its refunds: the poller's and the fetch
    /// stage's one way to read an order. An order lists its refunds (`refunds: [{id, total}]`);
    /// only one with some (or one that does not say) costs a request for their lines.
    pub async fn listed_order_envelopes(
        &self,
        connection: &Connection,
        item: serde_json::Value,
    ) -> Result<Vec<Envelope>> {
        let with_refunds = item["refunds"].as_array().is_none_or(|r| !r.is_empty());
        let order: WooOrder =
            serde_json::from_value(item).map_err(|e| Error::bad_input(format!("not an order: {e}")))?;
        self.order_envelopes(connection, &order, with_refunds).await
    }

    /// Normalizes an order (and its refunds when asked) into envelopes.
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

    /// Queues `envelopes` through the pipeline and records each in the audit trail.
    pub async fn enqueue(&self, connection: &Connection, envelopes: &[Envelope], via: &str) -> Result<()> {
        self.pipeline.enqueue(self.title(), connection, envelopes, via).await
    }

    /// One delivery through the shared pipeline (the Lambda's and `mlc serve`'s entry).
    pub async fn handle_webhook(&self, req: WebhookRequest<'_>) -> WebhookResponse {
        let delivery = Delivery { headers: req.headers, body: req.body };
        let reply = self.pipeline.handle(self, req.connection_id, &delivery).await;
        WebhookResponse { status: reply.status, content_type: reply.content_type, body: reply.body }
    }
}

#[async_trait]
impl WebhookSource for WooConnector {
    fn name(&self) -> &'static str {
        "woocommerce"
    }

    fn title(&self) -> &'static str {
        "WooCommerce"
    }

    fn max_body_bytes(&self) -> usize {
        MAX_BODY_BYTES
    }

    fn delivery_id(&self, delivery: &Delivery) -> Option<String> {
        delivery.header("x-wc-webhook-delivery-id").map(String::from)
    }

    fn kind(&self, delivery: &Delivery) -> EntityKind {
        match delivery.header("x-wc-webhook-resource") {
            Some("customer") => EntityKind::Customer,
            _ => EntityKind::Order,
        }
    }

    fn claims_signature(&self, delivery: &Delivery) -> bool {
        delivery.header("x-wc-webhook-signature").is_some()
    }

    /// WooCommerce's creation ping: unsigned, form-encoded, must get exactly 200.
    fn is_ping(&self, delivery: &Delivery) -> bool {
        !self.claims_signature(delivery) && delivery.body.starts_with(b"webhook_id=")
    }

    fn check(&self, secrets: Option<&SecretBundle>, delivery: &Delivery) -> Check {
        let Some(secret) = secrets.and_then(|s| s.get(SECRET_WEBHOOK)) else {
            return Check::Refused {
                reason: "no secret",
                message: "no webhook secret is stored for this connection".into(),
            };
        };
        if signature::verify(secret.expose(), delivery.body, delivery.header("x-wc-webhook-signature")) {
            return Check::Verified;
        }
        let topic = delivery
            .header("x-wc-webhook-topic")
            .map(|t| crate::refusals::bounded(t, crate::refusals::KEPT_HEADER_BYTES));
        Check::Refused {
            reason: "signature",
            message: format!("bad or missing X-WC-Webhook-Signature (topic {:?})", topic.as_deref().unwrap_or("none")),
        }
    }

    fn topic(&self, delivery: &Delivery) -> std::result::Result<String, String> {
        delivery
            .header("x-wc-webhook-topic")
            .map(String::from)
            .ok_or_else(|| "signed delivery without X-WC-Webhook-Topic".into())
    }

    async fn accept(
        &self,
        connection: &Connection,
        topic: &str,
        reference: &str,
        delivery: &Delivery,
    ) -> Result<Accepted> {
        let value: serde_json::Value =
            serde_json::from_slice(delivery.body).map_err(|e| Error::bad_input(format!("malformed JSON: {e}")))?;
        match topic {
            "order.created" | "order.updated" | "order.restored" => {
                // Only the id is taken: the fetch stage reads the order, its categories and its
                // refunds from the store, after the webhook has answered.
                let id = value["id"]
                    .as_i64()
                    .filter(|&id| id > 0)
                    .ok_or_else(|| Error::bad_input("an order without a positive id"))?;
                let request = FetchRequest {
                    connection_id: connection.id.clone(),
                    source: SourceSystem::Woocommerce,
                    kind: EntityKind::Order,
                    id: id.to_string(),
                    via: String::new(),
                    received_at: chrono::Utc::now(),
                    hints: serde_json::Value::Null,
                };
                Ok(Accepted::Fetch { requests: vec![request], message: format!("order {id} queued to read") })
            }
            "customer.created" | "customer.updated" => {
                let customer: WooCustomer =
                    serde_json::from_value(value).map_err(|e| Error::bad_input(format!("not a customer: {e}")))?;
                let (id, at, c) = normalize::customer(&customer)?;
                let e = Envelope::new(connection.id.clone(), SourceSystem::Woocommerce, id, at, Record::Customer(c));
                Ok(Accepted::Queue { envelopes: vec![e], message: "queued 1 record".into() })
            }
            "order.deleted" | "customer.deleted" => {
                let id = value["id"].as_i64().map(|i| i.to_string()).unwrap_or_else(|| reference.to_string());
                let message = format!("{topic} in the store: nothing is deleted in Odoo; review by hand if needed");
                self.pipeline
                    .audit(connection, self.kind(delivery), &id, AuditStage::Skipped, message, json!({}))
                    .await;
                Ok(Accepted::Noted("noted".into()))
            }
            other => {
                let message = format!("topic {other} is not handled");
                self.pipeline
                    .audit(connection, self.kind(delivery), reference, AuditStage::Skipped, message, json!({}))
                    .await;
                Ok(Accepted::Noted("ignored".into()))
            }
        }
    }
}

#[async_trait]
impl FetchSource for WooConnector {
    async fn fetch(&self, connection: &Connection, request: &FetchRequest) -> Result<Vec<Envelope>> {
        let id: i64 =
            request.id.parse().map_err(|_| Error::bad_input(format!("order id {:?} is not a number", request.id)))?;
        match request.kind {
            EntityKind::Order => {
                let item = self.client(connection).await?.order_json(id).await?;
                self.listed_order_envelopes(connection, item).await
            }
            other => Err(Error::bad_input(format!("WooCommerce {other} records are not read by the fetch stage"))),
        }
    }
}

impl Store for WooConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::Woocommerce
    }

    fn secrets(&self) -> &'static [crate::stores::StoreSecret] {
        use crate::stores::StoreSecret as S;
        &[
            S { env: "MLC_WOO_CONSUMER_KEY", name: SECRET_KEY, made_when_registering: false, optional: false },
            S { env: "MLC_WOO_CONSUMER_SECRET", name: SECRET_SECRET, made_when_registering: false, optional: false },
            S { env: "MLC_WOO_WEBHOOK_SECRET", name: SECRET_WEBHOOK, made_when_registering: true, optional: false },
        ]
    }

    fn webhook(&self) -> &dyn WebhookSource {
        self
    }

    fn fetch(&self) -> &dyn FetchSource {
        self
    }

    fn poll(&self) -> &dyn crate::stores::poll::PollSource {
        self
    }

    fn checks(&self) -> &dyn StoreChecks {
        self
    }

    fn registrar(&self) -> Option<&dyn crate::stores::WebhookRegistrar> {
        Some(self)
    }

    /// An order's edit page (WooCommerce sends the legacy address on to its order tables).
    fn admin_url(&self, connection: &Connection, kind: EntityKind, id: &str) -> Option<url::Url> {
        let order = match kind {
            EntityKind::Order => id,
            EntityKind::Refund => id.split_once("-r")?.0,
            _ => return None,
        };
        let mut url = connection.store_url.join("wp-admin/post.php").ok()?;
        url.query_pairs_mut().append_pair("post", order).append_pair("action", "edit");
        Some(url)
    }
}
