//! Adobe Commerce's connector: a client per connection (its deployment detected once), the
//! store facts the rules need (category paths, store views, websites, customer groups) read
//! and kept a while, and reading one record with what it needs: an invoice with its order, a
//! credit memo with its order and its invoice's number. The seam's other parts are in
//! `webhook.rs`, `poll.rs` and `checks.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;

use super::auth::Credentials;
use super::client::{AdobeClient, AdobeConfig};
use super::normalize::{self, StoreFacts};
use super::search::SearchCriteria;
use super::*;
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::ids::ConnectionId;
use crate::ports::*;
use crate::records::{EntityKind, Envelope, Record, SourceSystem};
use crate::stores::fetch::{FetchRequest, FetchSource};
use crate::stores::poll::PollSource;
use crate::stores::webhook::{StoreDeps, WebhookPipeline, WebhookSource};
use crate::stores::{Store, StoreChecks, WebhookRegistrar};

pub const ORDERS: &str = "adobe_commerce:orders";
pub const INVOICES: &str = "adobe_commerce:invoices";
pub const CREDIT_MEMOS: &str = "adobe_commerce:creditmemos";
pub const CUSTOMERS: &str = "adobe_commerce:customers";

/// How long store facts are reused before they are read again.
const FACTS_FOR: Duration = Duration::from_secs(600);

#[derive(Default)]
struct FactsCache {
    read_at: Option<Instant>,
    tree: HashMap<i64, (i64, String)>,
    facts: StoreFacts,
    /// Products already looked up (a deleted product has no path and is not asked for again).
    known: std::collections::HashSet<i64>,
}

pub struct AdobeConnector {
    pub(super) pipeline: Arc<WebhookPipeline>,
    clients: tokio::sync::Mutex<HashMap<ConnectionId, Arc<AdobeClient>>>,
    facts: tokio::sync::Mutex<HashMap<ConnectionId, FactsCache>>,
    pub retry: RetryPolicy,
}

fn id_list(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl AdobeConnector {
    pub fn new(deps: StoreDeps) -> Self {
        Self::on(Arc::new(WebhookPipeline::new(deps)))
    }

    /// On a pipeline shared with the other stores.
    pub fn on(pipeline: Arc<WebhookPipeline>) -> Self {
        AdobeConnector {
            pipeline,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            facts: tokio::sync::Mutex::new(HashMap::new()),
            retry: RetryPolicy::default(),
        }
    }

    pub fn pipeline(&self) -> &Arc<WebhookPipeline> {
        &self.pipeline
    }

    pub async fn secrets(&self, connection: &Connection) -> Result<SecretBundle> {
        self.pipeline
            .deps
            .secrets
            .get(&connection.id)
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("connection {} has no secrets", connection.id)))
    }

    /// A client for `connection` on `secrets`, with `retry` (one attempt for health checks).
    pub async fn connect(connection: &Connection, secrets: &SecretBundle, retry: RetryPolicy) -> Result<AdobeClient> {
        let settings = AdobeSettings::of(connection)?;
        let detected = detect(&connection.store_url, &settings, secrets);
        AdobeClient::connect(AdobeConfig {
            store_url: connection.store_url.clone(),
            deployment: detected.deployment,
            store_code: settings.store_code.clone(),
            credentials: Credentials::of(detected.deployment, &settings, secrets)?,
            allow_private_network: connection.allow_private_network,
            ca_pem: connection.ca_pem.clone(),
            retry,
            timeout: Duration::from_secs(20),
        })
        .await
    }

    pub async fn client(&self, connection: &Connection) -> Result<Arc<AdobeClient>> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&connection.id) {
            return Ok(c.clone());
        }
        let client = Arc::new(Self::connect(connection, &self.secrets(connection).await?, self.retry).await?);
        clients.insert(connection.id.clone(), client.clone());
        Ok(client)
    }

    /// The store facts, with the category paths of `products` (read in one call per 50 not yet
    /// known).
    pub(super) async fn facts(
        &self,
        connection: &Connection,
        client: &AdobeClient,
        products: &[i64],
    ) -> Result<StoreFacts> {
        let mut caches = self.facts.lock().await;
        let cache = caches.entry(connection.id.clone()).or_default();
        if cache.read_at.is_none_or(|at| at.elapsed() > FACTS_FOR) {
            let tree = normalize::categories(&client.get_json("/V1/categories", &[]).await?.unwrap_or_default());
            let list = |v: Option<Value>| v.and_then(|v| v.as_array().cloned()).unwrap_or_default();
            let views = list(client.get_json("/V1/store/storeViews", &[]).await?);
            let websites = list(client.get_json("/V1/store/websites", &[]).await?);
            let groups = client.search("/V1/customerGroups/search", &SearchCriteria::default()).await?.0;
            let code = |v: &Value| v["code"].as_str().unwrap_or_default().to_string();
            *cache = FactsCache {
                read_at: Some(Instant::now()),
                tree,
                facts: StoreFacts {
                    category_paths: HashMap::new(),
                    store_views: views
                        .iter()
                        .filter_map(|v| Some((v["id"].as_i64()?, (code(v), v["website_id"].as_i64()?))))
                        .collect(),
                    websites: websites.iter().filter_map(|w| Some((w["id"].as_i64()?, code(w)))).collect(),
                    groups: groups.iter().filter_map(|g| Some((g["id"].as_i64()?, code(g)))).collect(),
                },
                known: Default::default(),
            };
        }
        let unknown: Vec<i64> = id_list(products.iter().copied().filter(|p| !cache.known.contains(p)));
        for chunk in unknown.chunks(50) {
            let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let found = client.search_all("/V1/products", &SearchCriteria::field_in("entity_id", &ids), 50).await?;
            for p in found {
                if let Some(id) = p["id"].as_i64() {
                    cache.facts.category_paths.insert(id, normalize::product_path(&p, &cache.tree));
                }
            }
            cache.known.extend(chunk);
        }
        Ok(cache.facts.clone())
    }

    async fn read(&self, client: &AdobeClient, path: &str, what: &str) -> Result<Value> {
        client
            .get_json(path, &[])
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("Adobe Commerce has no {what}")))
    }

    /// The entity id of a document named by the number people see (its increment id, as
    /// `mlc preview` and `mlc trace` take it), or by its entity id when no number matches.
    async fn entity_of(client: &AdobeClient, kind: EntityKind, number: &str) -> Result<i64> {
        let path = match kind {
            EntityKind::Order => "/V1/orders",
            EntityKind::Invoice => "/V1/invoices",
            EntityKind::Refund => "/V1/creditmemos",
            _ => "",
        };
        if !path.is_empty() && !number.contains(',') {
            let criteria = SearchCriteria::field_in("increment_id", &[number.to_string()]).page(1, 1);
            if let Some(id) = client.search(path, &criteria).await?.0.first().and_then(|d| d["entity_id"].as_i64()) {
                return Ok(id);
            }
        }
        number.parse().map_err(|_| Error::bad_input(format!("Adobe Commerce has no {kind} numbered {number:?}")))
    }

    fn products_of(order: &Value) -> Vec<i64> {
        order["items"].as_array().into_iter().flatten().filter_map(|i| i["product_id"].as_i64()).collect()
    }

    fn envelope(
        connection: &Connection,
        id: crate::ids::SourceId,
        at: chrono::DateTime<chrono::Utc>,
        record: Record,
    ) -> Envelope {
        Envelope::new(connection.id.clone(), SourceSystem::AdobeCommerce, id, at, record)
    }

    pub(super) async fn order_record(&self, connection: &Connection, order: &Value) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let facts = self.facts(connection, &client, &Self::products_of(order)).await?;
        let (id, at, doc) = normalize::order(order, &facts)?;
        Ok(Self::envelope(connection, id, at, Record::Order(doc)))
    }

    pub(super) async fn invoice_record(&self, connection: &Connection, invoice: &Value) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let order_id =
            invoice["order_id"].as_i64().ok_or_else(|| Error::bad_input("an invoice without its order_id"))?;
        let order = self.read(&client, &format!("/V1/orders/{order_id}"), &format!("order {order_id}")).await?;
        let facts = self.facts(connection, &client, &Self::products_of(&order)).await?;
        let (id, at, doc) = normalize::invoice(invoice, &order, &facts)?;
        Ok(Self::envelope(connection, id, at, Record::Invoice(doc)))
    }

    pub(super) async fn credit_memo_record(&self, connection: &Connection, memo: &Value) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let order_id =
            memo["order_id"].as_i64().ok_or_else(|| Error::bad_input("a credit memo without its order_id"))?;
        let order = self.read(&client, &format!("/V1/orders/{order_id}"), &format!("order {order_id}")).await?;
        let invoice = match memo["invoice_id"].as_i64() {
            Some(i) => Some(normalize::number(
                &self.read(&client, &format!("/V1/invoices/{i}"), &format!("invoice {i}")).await?,
                "an invoice",
            )?),
            None => None,
        };
        let (id, at, refund) = normalize::credit_memo(memo, &order, invoice)?;
        Ok(Self::envelope(connection, id, at, Record::Refund(refund)))
    }

    pub(super) async fn customer_record(&self, connection: &Connection, customer: &Value) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let facts = self.facts(connection, &client, &[]).await?;
        let (id, at, c) = normalize::customer(customer, &facts)?;
        Ok(Self::envelope(connection, id, at, Record::Customer(c)))
    }
}

#[async_trait]
impl FetchSource for AdobeConnector {
    async fn fetch(&self, connection: &Connection, request: &FetchRequest) -> Result<Vec<Envelope>> {
        let client = self.client(connection).await?;
        let id = match request.hints["entity_id"].as_i64() {
            Some(id) => id,
            None => Self::entity_of(&client, request.kind, &request.id).await?,
        };
        let (path, what) = match request.kind {
            EntityKind::Order => (format!("/V1/orders/{id}"), "order"),
            EntityKind::Invoice => (format!("/V1/invoices/{id}"), "invoice"),
            EntityKind::Refund => (format!("/V1/creditmemo/{id}"), "credit memo"),
            EntityKind::Customer => (format!("/V1/customers/{id}"), "customer"),
            other => return Err(Error::bad_input(format!("Adobe Commerce {other} records are not read"))),
        };
        let record = self.read(&client, &path, &format!("{what} {id}")).await?;
        Ok(vec![match request.kind {
            EntityKind::Order => self.order_record(connection, &record).await?,
            EntityKind::Invoice => self.invoice_record(connection, &record).await?,
            EntityKind::Refund => self.credit_memo_record(connection, &record).await?,
            _ => self.customer_record(connection, &record).await?,
        }])
    }
}

impl Store for AdobeConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::AdobeCommerce
    }

    /// Either deployment's credentials, so each is optional here; the client says which of its
    /// model's are missing.
    fn secrets(&self) -> &'static [crate::stores::StoreSecret] {
        use crate::stores::StoreSecret as S;
        const fn s(env: &'static str, name: &'static str) -> S {
            S { env, name, made_when_registering: false, optional: true }
        }
        const SECRETS: [S; 7] = [
            s("MLC_ADOBE_CONSUMER_KEY", SECRET_CONSUMER_KEY),
            s("MLC_ADOBE_CONSUMER_SECRET", SECRET_CONSUMER_SECRET),
            s("MLC_ADOBE_ACCESS_TOKEN", SECRET_ACCESS_TOKEN),
            s("MLC_ADOBE_ACCESS_TOKEN_SECRET", SECRET_ACCESS_TOKEN_SECRET),
            s("MLC_ADOBE_IMS_CLIENT_ID", SECRET_IMS_CLIENT_ID),
            s("MLC_ADOBE_IMS_CLIENT_SECRET", SECRET_IMS_CLIENT_SECRET),
            s("MLC_ADOBE_WEBHOOK_PUBLIC_KEY", SECRET_WEBHOOK_PUBLIC_KEY),
        ];
        &SECRETS
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

    /// Webhooks are declared in Commerce (`webhooks.xml`, or Admin > System > Webhooks).
    fn registrar(&self) -> Option<&dyn WebhookRegistrar> {
        None
    }
}
