//! BigCommerce's parts of the seam: [`WebhookSource`] (Standard Webhooks, thin payloads made into
//! fetch references), [`FetchSource`] (an order with its lines, addresses and taxes; a refund with
//! its order's figures; a customer with addresses), [`PollSource`] and [`StoreChecks`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::client::{BcClient, BcConfig};
use super::{BcSettings, normalize};
use crate::checks::Finding;
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::http::standard_webhooks::{self, SignedHeaders};
use crate::ids::{ConnectionId, IdempotencyKey};
use crate::ports::*;
use crate::records::{EntityKind, Envelope, Record, SourceSystem};
use crate::stores::fetch::{FetchRequest, FetchSource};
use crate::stores::poll::{Listed, PollSource};
use crate::stores::webhook::{Accepted, Check, Delivery, StoreDeps, WebhookPipeline, WebhookSource};
use crate::stores::{Catalogue, Store, StoreChecks, WebhookRegistrar};

/// Secrets a BigCommerce connection keeps.
pub const SECRET_TOKEN: &str = "bc_access_token";
/// The API account's client secret: what callbacks are signed with.
pub const SECRET_CLIENT_SECRET: &str = "bc_client_secret";

/// The callbacks a connection registers: orders, refunds and customers.
pub const SCOPES: [&str; 7] = [
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/archived",
    "store/order/refund/created",
    "store/customer/created",
    "store/customer/updated",
];

pub const ORDERS: &str = "bigcommerce:orders";
pub const REFUNDS: &str = "bigcommerce:refunds";
pub const CUSTOMERS: &str = "bigcommerce:customers";

pub struct BcConnector {
    pipeline: Arc<WebhookPipeline>,
    clients: tokio::sync::Mutex<HashMap<ConnectionId, Arc<BcClient>>>,
    pub retry: RetryPolicy,
}

fn scope_of(delivery: &Delivery) -> Option<String> {
    serde_json::from_slice::<Value>(delivery.body).ok()?["scope"].as_str().map(String::from)
}

impl BcConnector {
    pub fn new(deps: StoreDeps) -> Self {
        Self::on(Arc::new(WebhookPipeline::new(deps)))
    }

    /// On a pipeline shared with the other stores.
    pub fn on(pipeline: Arc<WebhookPipeline>) -> Self {
        BcConnector { pipeline, clients: tokio::sync::Mutex::new(HashMap::new()), retry: RetryPolicy::default() }
    }

    pub fn pipeline(&self) -> &Arc<WebhookPipeline> {
        &self.pipeline
    }

    pub async fn client(&self, connection: &Connection) -> Result<Arc<BcClient>> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&connection.id) {
            return Ok(c.clone());
        }
        let secrets = self
            .pipeline
            .deps
            .secrets
            .get(&connection.id)
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("connection {} has no secrets", connection.id)))?;
        let token = secrets.get(SECRET_TOKEN).cloned().ok_or_else(|| {
            Error::permanent(anyhow::anyhow!("connection {} lacks the secret {SECRET_TOKEN}", connection.id))
        })?;
        let client = Arc::new(
            BcClient::connect(BcConfig {
                api_base: BcSettings::of(connection)?.api_base()?,
                access_token: token,
                allow_private_network: connection.allow_private_network,
                retry: self.retry,
                timeout: Duration::from_secs(20),
            })
            .await?,
        );
        clients.insert(connection.id.clone(), client.clone());
        Ok(client)
    }

    /// An order with its product lines, shipping addresses and taxes, normalized.
    async fn order_record(&self, connection: &Connection, order: &Value) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let id = order["id"].as_i64().ok_or_else(|| Error::bad_input("an order without an id"))?;
        let products = client.v2_all(&format!("/v2/orders/{id}/products"), &[]).await?;
        let shipping = client.v2_all(&format!("/v2/orders/{id}/shipping_addresses"), &[]).await?;
        let taxes = client.v2_all(&format!("/v2/orders/{id}/taxes"), &[]).await?;
        let (source_id, modified, doc) = normalize::order(order, &products, &shipping, &taxes)?;
        Ok(Envelope::new(connection.id.clone(), SourceSystem::Bigcommerce, source_id, modified, Record::Order(doc)))
    }

    async fn order_by_id(&self, connection: &Connection, id: i64) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let order = client
            .get_json(&format!("/v2/orders/{id}"), &[])
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("BigCommerce has no order {id}")))?;
        self.order_record(connection, &order).await
    }

    /// A refund, normalized against its order's lines (V3 refunds carry no per-line tax).
    async fn refund_record(&self, connection: &Connection, refund: &Value) -> Result<Envelope> {
        let order_id = refund["order_id"].as_i64().ok_or_else(|| Error::bad_input("a refund without an order_id"))?;
        let order = self.order_by_id(connection, order_id).await?;
        let Record::Order(doc) = &order.record else { unreachable!("order_record makes orders") };
        let (id, at, r) = normalize::refund(refund, doc)?;
        Ok(Envelope::new(connection.id.clone(), SourceSystem::Bigcommerce, id, at, Record::Refund(r)))
    }

    fn customer_record(connection: &Connection, customer: &Value) -> Result<Envelope> {
        let (id, at, c) = normalize::customer(customer)?;
        Ok(Envelope::new(connection.id.clone(), SourceSystem::Bigcommerce, id, at, Record::Customer(c)))
    }

    /// The same event delivered again under another `webhook-id` carries the same `hash`.
    async fn first_time(&self, connection: &Connection, hash: &str) -> Result<bool> {
        let hash = crate::refusals::bounded_id(hash);
        let key = IdempotencyKey::parse(format!("bigcommerce-hash:{}:{hash}", connection.id))?;
        match self.pipeline.deps.state.claim(&key, Duration::from_secs(60)).await? {
            Claim::Acquired(token) => {
                self.pipeline.deps.state.complete(&token, "seen", Some(Duration::from_secs(7 * 86_400))).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn reference(connection: &Connection, kind: EntityKind, id: i64, hints: Value) -> FetchRequest {
    FetchRequest {
        connection_id: connection.id.clone(),
        source: SourceSystem::Bigcommerce,
        kind,
        id: id.to_string(),
        via: String::new(),
        received_at: Utc::now(),
        hints,
    }
}

#[async_trait]
impl WebhookSource for BcConnector {
    fn name(&self) -> &'static str {
        "bigcommerce"
    }

    fn title(&self) -> &'static str {
        "BigCommerce"
    }

    fn max_body_bytes(&self) -> usize {
        64 * 1024 // thin payloads: ids only
    }

    fn delivery_id(&self, delivery: &Delivery) -> Option<String> {
        delivery.header("webhook-id").map(String::from)
    }

    fn kind(&self, delivery: &Delivery) -> EntityKind {
        match scope_of(delivery).as_deref() {
            Some(s) if s.starts_with("store/order/refund") => EntityKind::Refund,
            Some(s) if s.starts_with("store/customer") => EntityKind::Customer,
            Some(s) if s.starts_with("store/shipment") => EntityKind::Shipment,
            _ => EntityKind::Order,
        }
    }

    fn claims_signature(&self, delivery: &Delivery) -> bool {
        delivery.header("webhook-signature").is_some()
    }

    fn check(&self, secrets: Option<&SecretBundle>, delivery: &Delivery) -> Check {
        let Some(secret) = secrets.and_then(|s| s.get(SECRET_CLIENT_SECRET)) else {
            return Check::Refused {
                reason: "no secret",
                message: "no client secret is stored for this connection".into(),
            };
        };
        let headers = SignedHeaders {
            id: delivery.header("webhook-id"),
            timestamp: delivery.header("webhook-timestamp"),
            signature: delivery.header("webhook-signature"),
        };
        match standard_webhooks::verify(secret.expose().as_bytes(), headers, delivery.body, Utc::now().timestamp()) {
            Ok(()) => Check::Verified,
            Err(why) => {
                Check::Refused { reason: "signature", message: format!("refused Standard Webhooks signature: {why}") }
            }
        }
    }

    fn topic(&self, delivery: &Delivery) -> std::result::Result<String, String> {
        scope_of(delivery).ok_or_else(|| "a signed callback without a scope".into())
    }

    async fn accept(
        &self,
        connection: &Connection,
        scope: &str,
        reference_id: &str,
        delivery: &Delivery,
    ) -> Result<Accepted> {
        let body: Value =
            serde_json::from_slice(delivery.body).map_err(|e| Error::bad_input(format!("malformed JSON: {e}")))?;
        if let Some(hash) = body["hash"].as_str()
            && !self.first_time(connection, hash).await?
        {
            return Ok(Accepted::Noted("duplicate event".into()));
        }
        let data = &body["data"];
        let id = |v: &Value| {
            v.as_i64().filter(|&i| i > 0).ok_or_else(|| Error::bad_input(format!("{scope}: no positive id")))
        };
        let request = match scope {
            "store/order/created" | "store/order/updated" | "store/order/statusUpdated" | "store/order/archived" => {
                reference(connection, EntityKind::Order, id(&data["id"])?, Value::Null)
            }
            "store/order/refund/created" => {
                let order = id(&data["id"])?;
                reference(
                    connection,
                    EntityKind::Refund,
                    id(&data["refund"]["refund_id"])?,
                    json!({ "order_id": order }),
                )
            }
            "store/customer/created" | "store/customer/updated" => {
                reference(connection, EntityKind::Customer, id(&data["id"])?, Value::Null)
            }
            s if s.starts_with("store/customer/address/") => {
                reference(connection, EntityKind::Customer, id(&data["address"]["customer_id"])?, Value::Null)
            }
            other => {
                let message = format!("scope {other} is not handled");
                self.pipeline
                    .audit(connection, self.kind(delivery), reference_id, AuditStage::Skipped, message, json!({}))
                    .await;
                return Ok(Accepted::Noted("ignored".into()));
            }
        };
        let message = format!("{} {} queued to read", request.kind, request.id);
        Ok(Accepted::Fetch { requests: vec![request], message })
    }
}

#[async_trait]
impl FetchSource for BcConnector {
    async fn fetch(&self, connection: &Connection, request: &FetchRequest) -> Result<Vec<Envelope>> {
        let id: i64 =
            request.id.parse().map_err(|_| Error::bad_input(format!("id {:?} is not a number", request.id)))?;
        let client = self.client(connection).await?;
        match request.kind {
            EntityKind::Order => Ok(vec![self.order_by_id(connection, id).await?]),
            EntityKind::Refund => {
                let found =
                    client.v3_all("/v3/orders/payment_actions/refunds", &[("id:in".into(), id.to_string())]).await?;
                let refund =
                    found.first().ok_or_else(|| Error::permanent(anyhow::anyhow!("BigCommerce has no refund {id}")))?;
                Ok(vec![self.refund_record(connection, refund).await?])
            }
            EntityKind::Customer => {
                let query = [("id:in".to_string(), id.to_string()), ("include".to_string(), "addresses".to_string())];
                let found = client.v3_all("/v3/customers", &query).await?;
                let customer = found
                    .first()
                    .ok_or_else(|| Error::permanent(anyhow::anyhow!("BigCommerce has no customer {id}")))?;
                Ok(vec![Self::customer_record(connection, customer)?])
            }
            other => Err(Error::bad_input(format!("BigCommerce {other} records are not read yet"))),
        }
    }
}

/// RFC-2822, as Orders V2 filters take dates.
fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[async_trait]
impl PollSource for BcConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::Bigcommerce
    }

    fn title(&self) -> &'static str {
        "BigCommerce"
    }

    fn windowed_streams(&self) -> &'static [&'static str] {
        &[ORDERS, REFUNDS, CUSTOMERS]
    }

    async fn list_window(
        &self,
        connection: &Connection,
        stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Listed> {
        let client = self.client(connection).await?;
        let mut listed = Listed::default();
        let keep = |result: Result<Envelope>, listed: &mut Listed| match result {
            Ok(e) => {
                listed.newest = listed.newest.max(Some(e.source_updated_at));
                listed.envelopes.push(e);
                Ok(())
            }
            // One bad record must not stop the others: it is explained in the log.
            Err(e) if e.class() == crate::ErrorClass::BadInput => {
                tracing::warn!(error = %e, stream, "a record skipped by the poller");
                Ok(())
            }
            Err(e) => Err(e),
        };
        match stream {
            ORDERS => {
                let query = [
                    ("min_date_modified".to_string(), rfc2822(from)),
                    // Both bounds are inclusive, at one-second resolution: the window ends a second
                    // before the next one starts, so no order is listed twice.
                    ("max_date_modified".to_string(), rfc2822(to - chrono::Duration::seconds(1))),
                    ("sort".to_string(), "date_modified:asc".to_string()),
                ];
                for order in client.v2_all("/v2/orders", &query).await? {
                    listed.orders += 1;
                    keep(self.order_record(connection, &order).await, &mut listed)?;
                }
            }
            REFUNDS => {
                let query =
                    [("created:min".to_string(), from.to_rfc3339()), ("created:max".to_string(), to.to_rfc3339())];
                for refund in client.v3_all("/v3/orders/payment_actions/refunds", &query).await? {
                    keep(self.refund_record(connection, &refund).await, &mut listed)?;
                }
            }
            _ => {
                let query = [
                    ("date_modified:min".to_string(), from.format("%Y-%m-%dT%H:%M:%S").to_string()),
                    ("date_modified:max".to_string(), to.format("%Y-%m-%dT%H:%M:%S").to_string()),
                    ("include".to_string(), "addresses".to_string()),
                ];
                for customer in client.v3_all("/v3/customers", &query).await? {
                    listed.customers += 1;
                    keep(Self::customer_record(connection, &customer), &mut listed)?;
                }
            }
        }
        Ok(listed)
    }

    fn whole_streams(&self) -> &'static [&'static str] {
        &[]
    }

    async fn list_whole(&self, _connection: &Connection, _stream: &str) -> Result<Listed> {
        Ok(Listed::default())
    }

    async fn requests_made(&self, connection: &Connection) -> u64 {
        self.client(connection).await.map(|c| c.requests_made()).unwrap_or(0)
    }

    /// BigCommerce deactivates a hook after about 48 hours of failed deliveries and says so only
    /// by e-mail: each poll re-enables the connection's deactivated hooks, re-creates missing
    /// ones (at the destination the others have), audits each, and has the gap backfilled from
    /// the earliest time a hook stopped.
    async fn watchdog(&self, connection: &Connection) -> Result<Option<DateTime<Utc>>> {
        let client = self.client(connection).await?;
        let hooks = self.ours(&client, connection).await?;
        let Some(destination) = hooks.first().and_then(|h| h["destination"].as_str()).map(String::from) else {
            return Ok(None); // none registered: webhooks are not in use for this connection
        };
        let mut since: Option<DateTime<Utc>> = None;
        for scope in SCOPES {
            let hook = hooks.iter().find(|h| h["scope"] == scope);
            let (what, stopped) = match hook {
                Some(h) if h["is_active"].as_bool() == Some(false) => {
                    let id = h["id"].as_i64().unwrap_or_default();
                    let body = json!({ "is_active": true });
                    client.send(reqwest::Method::PUT, &format!("/v3/hooks/{id}"), &[], Some(&body)).await?;
                    let stopped = h["updated_at"].as_i64().and_then(|t| DateTime::from_timestamp(t, 0));
                    ("re-enabled (BigCommerce had deactivated it after failed deliveries)", stopped)
                }
                Some(_) => continue,
                None => {
                    let body = json!({ "scope": scope, "destination": destination, "is_active": true });
                    client.send(reqwest::Method::POST, "/v3/hooks", &[], Some(&body)).await?;
                    ("re-created (it was missing)", None)
                }
            };
            let stopped = stopped.unwrap_or_else(|| Utc::now() - chrono::Duration::hours(48));
            since = Some(since.map_or(stopped, |s| s.min(stopped)));
            let message =
                format!("hook {scope} {what}; the poller reads again from {}", stopped.format("%Y-%m-%d %H:%M:%S UTC"));
            self.pipeline
                .audit(
                    connection,
                    EntityKind::Order,
                    &format!("hook-{}", scope.replace('/', "-")),
                    AuditStage::Received,
                    message,
                    json!({ "scope": scope }),
                )
                .await;
        }
        Ok(since)
    }
}

impl BcConnector {
    /// The connection's hooks: those whose destination is its path on the webhook endpoint.
    async fn ours(&self, client: &BcClient, connection: &Connection) -> Result<Vec<Value>> {
        let suffix = format!("/webhooks/bigcommerce/{}", connection.id);
        Ok(client
            .v3_all("/v3/hooks", &[])
            .await?
            .into_iter()
            .filter(|h| h["destination"].as_str().is_some_and(|d| d.trim_end_matches('/').ends_with(&suffix)))
            .collect())
    }
}

#[async_trait]
impl WebhookRegistrar for BcConnector {
    fn secret_name(&self) -> &'static str {
        SECRET_CLIENT_SECRET
    }

    /// One hook per scope at `delivery_url` (BigCommerce signs them with the API account's client
    /// secret; there is no secret to send). Deactivated ones are re-enabled.
    async fn register(
        &self,
        connection: &Connection,
        _secrets: &SecretBundle,
        delivery_url: &str,
        _fresh: bool,
    ) -> Result<crate::stores::Registration> {
        let client = self.client(connection).await?;
        let hooks = self.ours(&client, connection).await?;
        let mut done = crate::stores::Registration::default();
        for scope in SCOPES {
            let same: Vec<&Value> = hooks.iter().filter(|h| h["scope"] == scope).collect();
            let kept = same.iter().find(|h| h["destination"].as_str() == Some(delivery_url));
            for other in same.iter().filter(|h| h["destination"].as_str() != Some(delivery_url)) {
                let id = other["id"].as_i64().unwrap_or_default();
                client.send(reqwest::Method::DELETE, &format!("/v3/hooks/{id}"), &[], None).await?;
                done.replaced.push(scope.to_string());
            }
            match kept {
                Some(h) if h["is_active"].as_bool() != Some(false) => done.unchanged.push(scope.to_string()),
                Some(h) => {
                    let id = h["id"].as_i64().unwrap_or_default();
                    client
                        .send(
                            reqwest::Method::PUT,
                            &format!("/v3/hooks/{id}"),
                            &[],
                            Some(&json!({ "is_active": true })),
                        )
                        .await?;
                    done.reactivated.push(scope.to_string());
                }
                None => {
                    let body = json!({ "scope": scope, "destination": delivery_url, "is_active": true });
                    client.send(reqwest::Method::POST, "/v3/hooks", &[], Some(&body)).await?;
                    done.created.push(scope.to_string());
                }
            }
        }
        Ok(done)
    }

    async fn unregister(&self, connection: &Connection, _secrets: &SecretBundle) -> Result<usize> {
        let client = self.client(connection).await?;
        let hooks = self.ours(&client, connection).await?;
        for h in &hooks {
            let id = h["id"].as_i64().unwrap_or_default();
            client.send(reqwest::Method::DELETE, &format!("/v3/hooks/{id}"), &[], None).await?;
        }
        Ok(hooks.len())
    }
}

#[async_trait]
impl StoreChecks for BcConnector {
    async fn health(&self, connection: &Connection, secrets: &SecretBundle) -> Vec<Finding> {
        let mut findings = Vec::new();
        if secrets.get(SECRET_CLIENT_SECRET).is_none() {
            findings.push(Finding::problem(
                "store",
                "no client secret is stored: callbacks will be refused (the poller still works)",
            ));
        }
        let client = match self.client(connection).await {
            Ok(c) => c,
            Err(e) => {
                findings.push(Finding::problem("store", format!("cannot use BigCommerce: {e}")));
                return findings;
            }
        };
        match client.get_json("/v2/orders", &[("limit".into(), "1".into())]).await {
            Ok(_) => {
                findings.push(Finding::ok("store", "BigCommerce accepts the access token and lets us read orders"))
            }
            Err(e) => {
                findings.push(Finding::problem("store", format!("BigCommerce: {e}")));
                return findings;
            }
        }
        // The connection's hooks: each scope active, deactivated or missing (none at all is
        // fine: the poller alone then reads the store).
        let hooks = match self.ours(&client, connection).await {
            Ok(h) => h,
            Err(e) => {
                findings.push(Finding::problem("store", format!("cannot list the store's hooks: {e}")));
                return findings;
            }
        };
        if hooks.is_empty() {
            findings.push(Finding::ok("store", "no hooks of this connection in the store: the poller alone reads it"));
            return findings;
        }
        for scope in SCOPES {
            findings.push(match hooks.iter().find(|h| h["scope"] == scope).map(|h| h["is_active"].as_bool()) {
                Some(Some(false)) => Finding::problem(
                    "store",
                    format!(
                        "hook {scope} is deactivated (BigCommerce does so after failed deliveries); the next poll re-enables it"
                    ),
                ),
                Some(_) => Finding::ok("store", format!("hook {scope} is active")),
                None => Finding::problem("store", format!("hook {scope} is missing; the next poll re-creates it")),
            });
        }
        findings
    }

    async fn catalogue(&self, _connection: &Connection, _secrets: &SecretBundle) -> Result<Catalogue> {
        Err(Error::bad_input("`mappings check` does not read BigCommerce's catalogue yet"))
    }
}

impl Store for BcConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::Bigcommerce
    }

    fn secrets(&self) -> &'static [crate::stores::StoreSecret] {
        use crate::stores::StoreSecret as S;
        &[
            S { env: "MLC_BC_ACCESS_TOKEN", name: SECRET_TOKEN, made_when_registering: false },
            S { env: "MLC_BC_CLIENT_SECRET", name: SECRET_CLIENT_SECRET, made_when_registering: false },
        ]
    }

    fn webhook(&self) -> &dyn WebhookSource {
        self
    }

    fn fetch(&self) -> &dyn FetchSource {
        self
    }

    fn poll(&self) -> &dyn PollSource {
        self
    }

    fn checks(&self) -> &dyn StoreChecks {
        self
    }

    fn registrar(&self) -> Option<&dyn WebhookRegistrar> {
        Some(self)
    }
}
