//! WooCommerce's part of `mlc connection test` and `mlc mappings check`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;

use super::client::{WooClient, WooConfig};
use super::webhook::{SECRET_KEY, SECRET_SECRET, SECRET_WEBHOOK, WooConnector};
use crate::checks::Finding;
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::ports::{Connection, SecretBundle};
use crate::stores::{Catalogue, CatalogueProduct, CatalogueTaxRate, Named, StoreChecks, StoreMasterData};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A client on the connection's stored key and secret, or the finding that says what is missing.
pub async fn woo_client(
    connection: &Connection,
    secrets: &SecretBundle,
    retry: RetryPolicy,
) -> std::result::Result<WooClient, Finding> {
    let key = crate::checks::secret(secrets, SECRET_KEY, "store")?;
    let secret = crate::checks::secret(secrets, SECRET_SECRET, "store")?;
    WooClient::connect(WooConfig {
        store_url: connection.store_url.clone(),
        page_size: super::WooSettings::of(connection).page_size,
        consumer_key: key.expose().to_string(),
        consumer_secret: secret.clone(),
        allow_private_network: connection.allow_private_network,
        ca_pem: connection.ca_pem.clone(),
        retry,
        timeout: TIMEOUT,
    })
    .await
    .map_err(|e| Finding::problem("store", format!("cannot use the store at {}: {e}", connection.store_url)))
}

fn store_sentence(e: &Error, connection: &Connection) -> String {
    let text = e.to_string();
    if text.contains("401") || text.contains("woocommerce_rest_cannot_view") || text.contains("authentication") {
        format!(
            "WooCommerce at {} refused the consumer key and secret ({text}): check them, and that the key has Read access",
            connection.store_url
        )
    } else if e.class() == crate::ErrorClass::Retryable {
        format!("cannot reach the store at {}: {text}", connection.store_url)
    } else {
        format!("the store at {} answered, but not as expected: {text}", connection.store_url)
    }
}

#[async_trait]
impl StoreChecks for WooConnector {
    async fn health(&self, connection: &Connection, secrets: &SecretBundle) -> Vec<Finding> {
        let mut findings = Vec::new();
        if secrets.get(SECRET_WEBHOOK).is_none() {
            findings.push(Finding::problem(
                "store",
                "no webhook secret is stored: webhooks will be refused (the poller still works)",
            ));
        }
        let client = match woo_client(connection, secrets, RetryPolicy::once()).await {
            Ok(c) => c,
            Err(f) => {
                findings.push(f);
                return findings;
            }
        };
        match client.page("/orders", &[], 1).await {
            Ok(page) => {
                findings.push(Finding::ok(
                    "store",
                    format!("WooCommerce at {} accepts the consumer key and secret", connection.store_url),
                ));
                findings.push(Finding::ok("store", format!("can read orders ({} in the store)", page.total)));
            }
            Err(e) => findings.push(Finding::problem("store", store_sentence(&e, connection))),
        }
        findings.extend(super::registration::report(&client, connection, secrets).await);
        findings
    }

    async fn master_data(&self, connection: &Connection, secrets: &SecretBundle) -> Result<StoreMasterData> {
        let store = woo_client(connection, secrets, RetryPolicy::default())
            .await
            .map_err(|f| Error::retryable(anyhow::anyhow!(f.what)))?;
        let named = |items: Vec<serde_json::Value>, keep: &dyn Fn(&serde_json::Value) -> bool| -> Vec<Named> {
            items
                .iter()
                .filter(|i| keep(i))
                .filter_map(|i| Some(Named::new(i["id"].as_str()?, i["title"].as_str().unwrap_or_default())))
                .collect()
        };
        // Orders carry the gateway's id (`payment_method`) and the method's id (`method_id`).
        let payment_methods = named(store.all("/payment_gateways", &[]).await?, &|g| g["enabled"] == true);
        let shipping_methods = named(store.all("/shipping_methods", &[]).await?, &|_| true);
        Ok(StoreMasterData {
            payment_methods,
            shipping_methods,
            notes: vec!["WooCommerce has no store views or customer groups: rules match on the store's host".into()],
            ..StoreMasterData::default()
        })
    }

    async fn catalogue(&self, connection: &Connection, secrets: &SecretBundle) -> Result<Catalogue> {
        let store = woo_client(connection, secrets, RetryPolicy::default())
            .await
            .map_err(|f| Error::retryable(anyhow::anyhow!(f.what)))?;
        let tax_rates = store
            .all("/taxes", &[])
            .await?
            .iter()
            .map(|rate| CatalogueTaxRate {
                id: rate["id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
                name: rate["name"].as_str().unwrap_or_default().to_string(),
                rate: rate["rate"].as_str().unwrap_or("?").to_string(),
            })
            .collect();
        let tree: HashMap<i64, (String, i64)> = store
            .all("/products/categories", &[])
            .await?
            .iter()
            .filter_map(|c| {
                Some((c["id"].as_i64()?, (c["name"].as_str()?.to_string(), c["parent"].as_i64().unwrap_or(0))))
            })
            .collect();
        let path_of = |mut id: i64| {
            let mut path = Vec::new();
            while let Some((name, parent)) = tree.get(&id).filter(|_| path.len() < 20) {
                path.push(name.clone());
                id = *parent;
            }
            path.reverse();
            path
        };
        let mut ids: Vec<&i64> = tree.keys().collect();
        ids.sort();
        let categories = ids.into_iter().map(|id| path_of(*id)).collect();
        let products = store
            .all("/products", &[])
            .await?
            .iter()
            .map(|p| CatalogueProduct {
                sku: p["sku"].as_str().filter(|s| !s.is_empty()).map(String::from),
                name: p["name"].as_str().unwrap_or_default().to_string(),
                category_path: p["categories"]
                    .as_array()
                    .and_then(|c| c.first())
                    .and_then(|c| c["id"].as_i64())
                    .map(path_of)
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Catalogue { tax_rates, categories, products, ..Catalogue::default() })
    }
}
