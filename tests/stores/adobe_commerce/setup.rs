//! An Adobe Commerce connection on one adapter family: the sandbox store in one deployment
//! model, its secrets, the webhook route on loopback, the poller and the poster.

use std::sync::Arc;

use adobe_sandbox::{AdobeOptions, AdobeSandbox, Delivered, Mode};
use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use shared::ports::SecretBundle;
use shared::records::SourceSystem;
use shared::stores::Stores;
use shared::stores::adobe_commerce::AdobeSettings;
use shared::stores::poll::{PollSettings, Poller};

/// Journal entries on the GL and cost centers the rules choose by category, website, store
/// view and customer group; tax, shipping and credit memo adjustments on their own accounts.
pub(crate) fn journal_rules() -> Value {
    json!({
        "posting": { "mode": "journal_entry" },
        "accounts": {
            "receivable": "121000", "shipping": "410000", "rounding": "400000",
            "adjustment_refund": "420000", "adjustment_fee": "420000",
            "analytic": [ { "account": "CC-EU", "percent": "100" } ]
        },
        "taxes": [ { "store_rate": "DE-19", "odoo_tax": "VAT 20%", "account": "445710" } ],
        "lines": [
            { "name": "wholesale-de", "when": { "customer_group": ["Wholesale"], "store": ["de"] }, "account": "400200",
              "analytic": [ { "account": "CC-WHS", "percent": "100" } ] },
            { "name": "men", "when": { "category": "Men", "website": ["base"] }, "account": "400100",
              "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
            { "name": "gear", "when": { "category": "Gear" }, "account": "400000",
              "analytic": [ { "account": "CC-US", "percent": "100" } ] }
        ]
    })
}

pub(crate) struct Setup {
    pub h: Harness,
    pub store: AdobeSandbox,
    pub stores: Arc<Stores>,
    pub hooks: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Setup {
    pub async fn start(family: Family, mode: Mode, rules: Value) -> Setup {
        Self::start_on(family, AdobeOptions::new(mode), rules).await
    }

    pub async fn start_on(family: Family, options: AdobeOptions, rules: Value) -> Setup {
        let h = Harness::start_with(family, rules).await;
        let store = AdobeSandbox::start(options).await.unwrap();
        let o = store.options();
        let connections = h.family.connections();
        let mut c = connections.connection(&h.connection).await.unwrap().unwrap();
        c.source = SourceSystem::AdobeCommerce;
        c.store_url = store.store_url().parse().unwrap();
        // The deployment is left to detection: `/rest/default` for PaaS, IMS credentials on a
        // bare tenant URL for SaaS.
        let mut settings = AdobeSettings { webhooks: true, ..AdobeSettings::default() };
        if o.mode == Mode::Saas {
            settings.ims_url = Some(store.ims_url().parse().unwrap());
            settings.ims_org_id = Some(o.ims_org_id.clone());
        }
        c.settings = shared::stores::StoreSettings::AdobeCommerce(settings);
        connections.put_connection(&c).await.unwrap();
        let odoo = h.odoo.options();
        let secrets = SecretBundle::new().with("odoo_login", &odoo.login).with("odoo_api_key", &odoo.api_key);
        let secrets = store.connection_secrets().into_iter().fold(secrets, |b, (k, v)| b.with(k, v));
        h.family.secrets().put(&h.connection, &secrets).await.unwrap();
        let stores = Arc::new(Stores::standard(h.store_deps()));
        let (url, server) = shared::serve::on_loopback(shared::serve::webhook_router(stores.clone())).await.unwrap();
        let hooks = format!("{url}/webhooks/adobe-commerce/{}", h.connection);
        Setup { h, store, stores, hooks, _server: server }
    }

    /// A signed after-save event about `object`, as Commerce sends it.
    pub async fn deliver(&self, event: &str, object: &str, data: Value) -> Delivered {
        self.store.deliver(&self.hooks, &format!("observer.{event}"), object, data, None).await
    }

    /// One poll of every stream from `from`, by this setup's long-lived connector (its IMS
    /// token cached between polls, as in a warm container).
    pub async fn poll(&self, from: DateTime<Utc>) -> shared::stores::poll::PollReport {
        let connection = self.h.family.connections().connection(&self.h.connection).await.unwrap().unwrap();
        let settings = PollSettings { start: from, window: Duration::hours(6), backfill: None, ..Default::default() };
        let source = self.stores.for_connection(&connection).unwrap().poll();
        Poller::new(self.stores.pipeline.clone())
            .poll(source, &connection, &settings, Utc::now(), &|_| {})
            .await
            .unwrap()
    }

    /// Nothing these flows do may write to the store.
    pub fn assert_no_store_writes(&self) {
        let writes = self.store.writes();
        assert!(writes.is_empty(), "the store was written to: {writes:?}");
    }
}
