//! `mlc connection test` and `mlc mappings check` for BigCommerce.

use async_trait::async_trait;

use super::client::BcClient;
use super::connector::*;
use super::normalize;
use crate::checks::Finding;
use crate::error::Result;
use crate::ports::*;
use crate::stores::{Catalogue, CatalogueProduct, Named, StoreChecks, StoreMasterData};

/// What the connector reads, the request that proves the token may, and the scope it needs
/// (`api-facts.md` §2.2; each has a `_read_only` variant, which is enough).
const READS: [(&str, &str, &str); 4] = [
    ("orders", "/v2/orders", "store_v2_orders_read_only"),
    ("refunds", "/v3/orders/payment_actions/refunds", "store_v2_orders_read_only or store_v2_transactions_read_only"),
    ("customers", "/v3/customers", "store_v2_customers_read_only"),
    ("the catalogue (category paths for the rules)", "/v3/catalog/categories", "store_v2_products_read_only"),
];

/// The client's errors name the HTTP status; a 403 is a scope the token lacks.
fn forbidden(e: &crate::Error) -> bool {
    e.to_string().contains("(HTTP 403)")
}

/// The store's profile, as one sentence (`store_v2_information_read_only`).
async fn store_info(client: &BcClient) -> Finding {
    match client.get_json("/v2/store", &[]).await {
        Ok(Some(info)) => Finding::ok(
            "store",
            format!(
                "BigCommerce store {:?} ({}), currency {}, time zone {}",
                info["name"].as_str().unwrap_or("?"),
                info["domain"].as_str().unwrap_or("?"),
                info["currency"].as_str().unwrap_or("?"),
                info["timezone"]["name"].as_str().unwrap_or("?"),
            ),
        ),
        Ok(None) => Finding::problem("store", "BigCommerce answered /v2/store with nothing"),
        Err(e) if forbidden(&e) => Finding::problem(
            "store",
            "the token cannot read the store's profile (scope store_v2_information_read_only); the connector does not need it",
        ),
        Err(e) => Finding::problem("store", format!("BigCommerce: {e}")),
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
        // The token's scopes, read by using each: BigCommerce has no call that lists them.
        for (what, path, scope) in READS {
            match client.get_json(path, &[("limit".into(), "1".into())]).await {
                Ok(_) => findings.push(Finding::ok("store", format!("the token can read {what} ({scope})"))),
                Err(e) if forbidden(&e) => findings.push(Finding::problem(
                    "store",
                    format!("the token cannot read {what}: give the API account the scope {scope}"),
                )),
                Err(e) => {
                    findings.push(Finding::problem("store", format!("BigCommerce: {e}")));
                    return findings;
                }
            }
        }
        findings.push(store_info(&client).await);
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

    /// Every category path and product of the catalogue. Tax rates are not listed: the rules
    /// name BigCommerce's `tax_rate_id`s, which orders carry in `/taxes`.
    async fn master_data(&self, connection: &Connection, _secrets: &SecretBundle) -> Result<StoreMasterData> {
        let client = self.client(connection).await?;
        let named = |items: &[serde_json::Value], code: &str, name: &str| -> Vec<Named> {
            items
                .iter()
                .filter_map(|i| {
                    let c = i[code].as_str().map(String::from).or_else(|| i[code].as_i64().map(|n| n.to_string()))?;
                    Some(Named::new(c, i[name].as_str().unwrap_or_default()))
                })
                .collect()
        };
        let channels = client.v3_all("/v3/channels", &[]).await?;
        let scopes = named(&channels, "id", "name").into_iter().map(|n| ("channel".to_string(), n)).collect();
        let customer_groups = named(&client.v2_all("/v2/customer_groups", &[]).await?, "id", "name");
        // Orders carry a payment method's name and a shipping method's name, not their ids.
        let payment_methods = named(&client.v2_all("/v2/payments/methods", &[]).await?, "name", "name");
        let mut shipping_methods: Vec<Named> = Vec::new();
        for zone in client.v2_all("/v2/shipping/zones", &[]).await? {
            let Some(id) = zone["id"].as_i64() else { continue };
            let zone_name = zone["name"].as_str().unwrap_or_default();
            for m in client.v2_all(&format!("/v2/shipping/zones/{id}/methods"), &[]).await? {
                let Some(name) = m["name"].as_str() else { continue };
                if m["enabled"] != false && !shipping_methods.iter().any(|s| s.code == name) {
                    shipping_methods.push(Named::new(name, format!("{name} ({zone_name})")));
                }
            }
        }
        Ok(StoreMasterData { scopes, customer_groups, payment_methods, shipping_methods, ..StoreMasterData::default() })
    }

    async fn catalogue(&self, connection: &Connection, _secrets: &SecretBundle) -> Result<Catalogue> {
        let client = self.client(connection).await?;
        let tree = normalize::categories(&client.v3_all("/v3/catalog/categories", &[]).await?);
        let mut categories: Vec<Vec<String>> =
            tree.keys().map(|id| normalize::product_path(&serde_json::json!({ "categories": [id] }), &tree)).collect();
        categories.sort();
        let query = [("include_fields".to_string(), "sku,name,categories".to_string())];
        let products = client
            .v3_all("/v3/catalog/products", &query)
            .await?
            .iter()
            .map(|p| CatalogueProduct {
                sku: p["sku"].as_str().filter(|s| !s.is_empty()).map(String::from),
                name: p["name"].as_str().unwrap_or_default().to_string(),
                category_path: normalize::product_path(p, &tree),
            })
            .collect();
        Ok(Catalogue { categories, products, ..Catalogue::default() })
    }
}
