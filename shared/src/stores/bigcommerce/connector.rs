//! BigCommerce's connector: the client per connection, and reading one record with all it
//! needs (an order with its lines, addresses, taxes, coupons, fees and category paths; a refund
//! with its order's figures; a customer with addresses; a shipment with its items' SKUs). The
//! seam's other parts are in `webhook.rs`, `poll.rs`, `hooks.rs` and `checks.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value;

use super::client::{BcClient, BcConfig};
use super::{BcSettings, normalize};
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::ids::{ConnectionId, IdempotencyKey};
use crate::ports::*;
use crate::records::{EntityKind, Envelope, Record, SourceSystem};
use crate::stores::fetch::{FetchRequest, FetchSource};
use crate::stores::poll::PollSource;
use crate::stores::webhook::{StoreDeps, WebhookPipeline, WebhookSource};
use crate::stores::{Store, StoreChecks, WebhookRegistrar};

/// Secrets a BigCommerce connection keeps.
pub const SECRET_TOKEN: &str = "bc_access_token";
/// The API account's client secret: what callbacks are signed with.
pub const SECRET_CLIENT_SECRET: &str = "bc_client_secret";
/// Optional: a value the hooks are created with in a custom header, and every callback must
/// carry (for API accounts whose callbacks BigCommerce does not sign).
pub const SECRET_HOOK_HEADER: &str = "bc_hook_header_secret";
/// The custom header that carries [`SECRET_HOOK_HEADER`].
pub const HOOK_HEADER: &str = "x-mlc-hook-secret";

/// The callbacks a connection registers: orders, refunds, customers and their addresses
/// (`store/customer/updated` does not track address changes), and shipments. Deletions are
/// only recorded in the audit trail: Odoo keeps its history.
pub const SCOPES: [&str; 13] = [
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/archived",
    "store/order/refund/created",
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
    "store/customer/address/created",
    "store/customer/address/updated",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
];

pub const ORDERS: &str = "bigcommerce:orders";
pub const REFUNDS: &str = "bigcommerce:refunds";
pub const CUSTOMERS: &str = "bigcommerce:customers";

/// How long the catalogue's category paths are reused before they are read again.
const CATALOGUE_FOR: Duration = Duration::from_secs(600);

/// Category paths by product id, read from the catalogue and kept a while: products change
/// category rarely, and a backfill would otherwise read the same products for every order.
#[derive(Default)]
struct CategoryCache {
    read_at: Option<Instant>,
    /// Category id → (parent id, name).
    categories: HashMap<i64, (i64, String)>,
    /// Product id → its category paths' first path (root first).
    products: HashMap<i64, Vec<String>>,
}

pub struct BcConnector {
    pub(super) pipeline: Arc<WebhookPipeline>,
    clients: tokio::sync::Mutex<HashMap<ConnectionId, Arc<BcClient>>>,
    categories: tokio::sync::Mutex<HashMap<ConnectionId, CategoryCache>>,
    pub retry: RetryPolicy,
}

impl BcConnector {
    pub fn new(deps: StoreDeps) -> Self {
        Self::on(Arc::new(WebhookPipeline::new(deps)))
    }

    /// On a pipeline shared with the other stores.
    pub fn on(pipeline: Arc<WebhookPipeline>) -> Self {
        BcConnector {
            pipeline,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            categories: tokio::sync::Mutex::new(HashMap::new()),
            retry: RetryPolicy::default(),
        }
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
                ca_pem: connection.ca_pem.clone(),
                retry: self.retry,
                timeout: Duration::from_secs(20),
            })
            .await?,
        );
        clients.insert(connection.id.clone(), client.clone());
        Ok(client)
    }

    /// An order with its product lines, shipping addresses and taxes, normalized; its coupons
    /// when it has a coupon discount, its fees when the rest does not reach its total, and each
    /// line's category path from the catalogue.
    pub(super) async fn order_record(&self, connection: &Connection, order: &Value) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let id = order["id"].as_i64().ok_or_else(|| Error::bad_input("an order without an id"))?;
        let products = client.v2_all(&format!("/v2/orders/{id}/products"), &[]).await?;
        let shipping = client.v2_all(&format!("/v2/orders/{id}/shipping_addresses"), &[]).await?;
        let taxes = client.v2_all(&format!("/v2/orders/{id}/taxes"), &[]).await?;
        let mut extra = normalize::Extras::default();
        if !normalize::amount(order, "coupon_discount")?.is_zero() {
            extra.coupons = client.v2_all(&format!("/v2/orders/{id}/coupons"), &[]).await?;
        }
        if normalize::fees_gap(order, &products, &shipping)? > Decimal::ZERO {
            extra.fees = client.v2_all(&format!("/v2/orders/{id}/fees"), &[]).await?;
        }
        let product_ids: Vec<i64> = products.iter().filter_map(|p| p["product_id"].as_i64()).collect();
        extra.category_paths = self.category_paths(connection, &client, &product_ids).await?;
        let (source_id, modified, doc) = normalize::order(order, &products, &shipping, &taxes, &extra)?;
        Ok(Envelope::new(connection.id.clone(), SourceSystem::Bigcommerce, source_id, modified, Record::Order(doc)))
    }

    /// Category paths for these products: the category tree read once per [`CATALOGUE_FOR`],
    /// products not seen yet read in one call per 50.
    async fn category_paths(
        &self,
        connection: &Connection,
        client: &BcClient,
        product_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<String>>> {
        let mut caches = self.categories.lock().await;
        let cache = caches.entry(connection.id.clone()).or_default();
        if cache.read_at.is_none_or(|at| at.elapsed() > CATALOGUE_FOR) {
            let tree = client.v3_all("/v3/catalog/categories", &[]).await?;
            *cache = CategoryCache {
                read_at: Some(Instant::now()),
                categories: normalize::categories(&tree),
                products: HashMap::new(),
            };
        }
        let mut unknown: Vec<i64> = product_ids.iter().copied().filter(|p| !cache.products.contains_key(p)).collect();
        unknown.sort_unstable();
        unknown.dedup();
        for chunk in unknown.chunks(50) {
            let ids = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let query = [("id:in".to_string(), ids), ("include_fields".to_string(), "categories".to_string())];
            for p in client.v3_all("/v3/catalog/products", &query).await? {
                if let Some(pid) = p["id"].as_i64() {
                    cache.products.insert(pid, normalize::product_path(&p, &cache.categories));
                }
            }
            // A product deleted from the catalogue has no path; it is not asked for again.
            for pid in chunk {
                cache.products.entry(*pid).or_default();
            }
        }
        Ok(product_ids.iter().filter_map(|p| Some((*p, cache.products.get(p)?.clone()))).collect())
    }

    pub(super) async fn order_by_id(&self, connection: &Connection, id: i64) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let order = client
            .get_json(&format!("/v2/orders/{id}"), &[])
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("BigCommerce has no order {id}")))?;
        self.order_record(connection, &order).await
    }

    /// A refund, normalized against its order's lines (V3 refunds carry no per-line tax).
    pub(super) async fn refund_record(&self, connection: &Connection, refund: &Value) -> Result<Envelope> {
        let order_id = refund["order_id"].as_i64().ok_or_else(|| Error::bad_input("a refund without an order_id"))?;
        let order = self.order_by_id(connection, order_id).await?;
        let Record::Order(doc) = &order.record else { unreachable!("order_record makes orders") };
        let (id, at, r) = normalize::refund(refund, doc)?;
        Ok(Envelope::new(connection.id.clone(), SourceSystem::Bigcommerce, id, at, Record::Refund(r)))
    }

    pub(super) fn customer_record(connection: &Connection, customer: &Value) -> Result<Envelope> {
        let (id, at, c) = normalize::customer(customer)?;
        Ok(Envelope::new(connection.id.clone(), SourceSystem::Bigcommerce, id, at, Record::Customer(c)))
    }

    /// A shipment, its items' SKUs from the order's lines.
    pub(super) fn shipment_record(connection: &Connection, shipment: &Value, lines: &[Value]) -> Result<Envelope> {
        let (id, at, s) = normalize::shipment(shipment, lines)?;
        Ok(Envelope::new(connection.id.clone(), SourceSystem::Bigcommerce, id, at, Record::Shipment(s)))
    }

    /// An order's shipments (none: 204), each a record.
    pub(super) async fn shipments_of(&self, connection: &Connection, order_id: i64) -> Result<Vec<Envelope>> {
        let client = self.client(connection).await?;
        let shipments = client.v2_all(&format!("/v2/orders/{order_id}/shipments"), &[]).await?;
        if shipments.is_empty() {
            return Ok(Vec::new());
        }
        let lines = client.v2_all(&format!("/v2/orders/{order_id}/products"), &[]).await?;
        shipments.iter().map(|s| Self::shipment_record(connection, s, &lines)).collect()
    }

    /// The same event delivered again under another `webhook-id` carries the same `hash`.
    pub(super) async fn first_time(&self, connection: &Connection, hash: &str) -> Result<bool> {
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
            EntityKind::Shipment => {
                let order = request.hints["order_id"]
                    .as_i64()
                    .ok_or_else(|| Error::bad_input(format!("shipment {id} without its order id")))?;
                let shipment =
                    client.get_json(&format!("/v2/orders/{order}/shipments/{id}"), &[]).await?.ok_or_else(|| {
                        Error::permanent(anyhow::anyhow!("BigCommerce has no shipment {id} of order {order}"))
                    })?;
                let lines = client.v2_all(&format!("/v2/orders/{order}/products"), &[]).await?;
                Ok(vec![Self::shipment_record(connection, &shipment, &lines)?])
            }
            other => Err(Error::bad_input(format!("BigCommerce {other} records are not read"))),
        }
    }
}

impl Store for BcConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::Bigcommerce
    }

    fn secrets(&self) -> &'static [crate::stores::StoreSecret] {
        use crate::stores::StoreSecret as S;
        &[
            S { env: "MLC_BC_ACCESS_TOKEN", name: SECRET_TOKEN, made_when_registering: false, optional: false },
            S {
                env: "MLC_BC_CLIENT_SECRET",
                name: SECRET_CLIENT_SECRET,
                made_when_registering: false,
                optional: false,
            },
            S {
                env: "MLC_BC_HOOK_HEADER_SECRET",
                name: SECRET_HOOK_HEADER,
                made_when_registering: false,
                optional: true,
            },
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

    /// The order's page in the store's control panel.
    fn admin_url(&self, connection: &Connection, kind: EntityKind, id: &str) -> Option<url::Url> {
        let order = match kind {
            EntityKind::Order => id,
            EntityKind::Refund => id.split_once("-r")?.0,
            _ => return None,
        };
        let hash = BcSettings::of(connection).ok()?.store_hash;
        url::Url::parse(&format!("https://store-{hash}.mybigcommerce.com/manage/orders/{order}")).ok()
    }
}
