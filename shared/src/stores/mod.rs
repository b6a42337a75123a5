//! Store connectors, one module each, on the shared seam. The webhook pipeline ([`webhook`]), the
//! fetch stage ([`fetch`]) and the poll loop ([`poll`]) are written once; each store implements
//! [`Store`]: its webhook scheme, its fetches, its listings and its checks. [`Stores`] is the one
//! registry, keyed on the connection's source system; adding a store adds one entry there.

use std::sync::Arc;

use async_trait::async_trait;

use crate::checks::Finding;
use crate::error::Result;
use crate::ports::{Connection, SecretBundle};
use crate::records::SourceSystem;

pub mod adobe_commerce;
pub mod bigcommerce;
pub mod fetch;
pub mod poll;
pub mod webhook;
pub mod woocommerce;

use fetch::FetchSource;
use poll::PollSource;
use webhook::{StoreDeps, WebhookPipeline, WebhookSource};

/// The settings only one store has, typed per store, on the connection (`settings`), so a new
/// store adds its own variant instead of shared fields. Absent in older connections: the store's
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "store", rename_all = "snake_case")]
pub enum StoreSettings {
    #[default]
    Defaults,
    Woocommerce(woocommerce::WooSettings),
    Bigcommerce(bigcommerce::BcSettings),
    AdobeCommerce(adobe_commerce::AdobeSettings),
}

/// One tax rate the store charges, for `mlc mappings check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueTaxRate {
    pub id: String,
    pub name: String,
    pub rate: String,
}

/// One product as mapping rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueProduct {
    pub sku: Option<String>,
    pub name: String,
    pub category_path: Vec<String>,
}

/// What the store sells and charges, for `mlc mappings check`: every category path, product
/// and tax rate, so each can be checked against the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub tax_rates: Vec<CatalogueTaxRate>,
    pub categories: Vec<Vec<String>>,
    pub products: Vec<CatalogueProduct>,
    /// Store views, websites and customer groups by code, where the store has them: the
    /// rules' `store`, `website` and `customer_group` facts.
    pub store_views: Vec<String>,
    pub websites: Vec<String>,
    pub customer_groups: Vec<String>,
}

/// One item of master data: its code (what records and rules carry) and its name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Named {
    pub code: String,
    pub name: String,
}

impl Named {
    pub fn new(code: impl Into<String>, name: impl Into<String>) -> Self {
        Named { code: code.into(), name: name.into() }
    }
}

/// What mapping rules can name on the store's side (`mlc mappings catalogue`): its scopes,
/// customer groups, payment and shipping methods and attribute sets, read live.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreMasterData {
    /// Websites, stores and store views (Adobe Commerce), channels (BigCommerce).
    pub scopes: Vec<(String, Named)>,
    pub customer_groups: Vec<Named>,
    pub payment_methods: Vec<Named>,
    pub shipping_methods: Vec<Named>,
    pub attribute_sets: Vec<Named>,
    /// Where a list is not the store's configuration but what was seen (and why).
    pub notes: Vec<String>,
}

/// A store's part of `mlc connection test` and `mlc mappings check`.
#[async_trait]
pub trait StoreChecks: Send + Sync {
    /// Does the store answer, accept the credentials and let us read what we need? One
    /// sentence per step, each `side = "store"`.
    async fn health(&self, connection: &Connection, secrets: &SecretBundle) -> Vec<Finding>;
    /// The whole catalogue and the tax rates.
    async fn catalogue(&self, connection: &Connection, secrets: &SecretBundle) -> Result<Catalogue>;
    /// The master data sales-order rules map (`mlc mappings catalogue`).
    async fn master_data(&self, connection: &Connection, secrets: &SecretBundle) -> Result<StoreMasterData>;
}

/// What registering a connection's webhooks did, topic by topic.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Registration {
    pub created: Vec<String>,
    pub reactivated: Vec<String>,
    pub unchanged: Vec<String>,
    /// Deleted because they were made with a secret we no longer hold, or doubled.
    pub replaced: Vec<String>,
}

/// A store whose webhooks the product can register itself (`--register-webhooks`).
#[async_trait]
pub trait WebhookRegistrar: Send + Sync {
    /// The name of the webhook secret in the connection's secrets.
    fn secret_name(&self) -> &'static str;
    /// Makes the store deliver the connection's topics to `delivery_url`, signed with the secret
    /// in `secrets`. `fresh_secret`: the secret was just made, so webhooks already there are
    /// replaced. A second run with the same secret changes nothing.
    async fn register(
        &self,
        connection: &Connection,
        secrets: &SecretBundle,
        delivery_url: &str,
        fresh_secret: bool,
    ) -> Result<Registration>;
    /// Deletes the connection's webhooks in the store; returns how many.
    async fn unregister(&self, connection: &Connection, secrets: &SecretBundle) -> Result<usize>;
}

/// A secret a store's connections keep, and where `mlc connection add` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSecret {
    /// The environment variable (secrets are never taken from the command line).
    pub env: &'static str,
    /// Its name in the connection's secrets.
    pub name: &'static str,
    /// Made here, once, when the product registers the webhooks itself (a webhook secret).
    pub made_when_registering: bool,
    /// Needed only for something a merchant may not use (a custom-header secret on hooks).
    pub optional: bool,
}

/// Everything a store is to the product.
pub trait Store: Send + Sync {
    fn source(&self) -> SourceSystem;
    /// The secrets a connection of this store needs.
    fn secrets(&self) -> &'static [StoreSecret];
    fn webhook(&self) -> &dyn WebhookSource;
    fn fetch(&self) -> &dyn FetchSource;
    fn poll(&self) -> &dyn PollSource;
    fn checks(&self) -> &dyn StoreChecks;
    /// `None` where webhooks are set up by hand (or by an app install).
    fn registrar(&self) -> Option<&dyn WebhookRegistrar>;
    /// The store admin's page of a record, for the console's links; `None` where the store
    /// cannot say (an admin path set per installation).
    fn admin_url(&self, _connection: &Connection, _kind: crate::records::EntityKind, _id: &str) -> Option<url::Url> {
        None
    }
}

/// The registry: every store this build knows, behind one webhook pipeline.
pub struct Stores {
    pub pipeline: Arc<WebhookPipeline>,
    stores: Vec<Arc<dyn Store>>,
}

impl Stores {
    /// Every store, on `deps`: the one list a new store joins.
    pub fn standard(deps: StoreDeps) -> Stores {
        let woocommerce = woocommerce::WooConnector::new(deps);
        let pipeline = woocommerce.pipeline.clone();
        let bigcommerce = bigcommerce::BcConnector::on(pipeline.clone());
        let adobe_commerce = adobe_commerce::AdobeConnector::on(pipeline.clone());
        Stores::new(pipeline, vec![Arc::new(woocommerce), Arc::new(bigcommerce), Arc::new(adobe_commerce)])
    }

    pub fn new(pipeline: Arc<WebhookPipeline>, stores: Vec<Arc<dyn Store>>) -> Stores {
        Stores { pipeline, stores }
    }

    pub fn by_source(&self, source: SourceSystem) -> Option<&dyn Store> {
        self.stores.iter().find(|s| s.source() == source).map(|s| s.as_ref())
    }

    /// The store for a connection, or why there is none.
    pub fn for_connection(&self, connection: &Connection) -> Result<&dyn Store> {
        self.by_source(connection.source).ok_or_else(|| {
            crate::Error::bad_input(format!(
                "connection {} is a {} connection, which this build does not support",
                connection.id, connection.source
            ))
        })
    }

    /// The store whose webhooks live at `/webhooks/{name}/…`.
    pub fn by_webhook_name(&self, name: &str) -> Option<&dyn Store> {
        self.stores.iter().find(|s| s.webhook().name() == name).map(|s| s.as_ref())
    }

    pub fn all(&self) -> impl Iterator<Item = &dyn Store> {
        self.stores.iter().map(|s| s.as_ref())
    }
}
