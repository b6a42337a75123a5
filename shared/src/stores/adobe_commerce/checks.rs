//! `mlc connection test` and `mlc mappings check` for Adobe Commerce: the deployment detected
//! and confirmed by a signed (or IMS-authenticated) read, the version where the store tells it,
//! whether Adobe Commerce Webhooks answer, one read of each stream; and the catalogue, store
//! views, websites and customer groups the rules can name.

use async_trait::async_trait;
use serde_json::Value;

use super::connector::AdobeConnector;
use super::normalize;
use super::search::SearchCriteria;
use super::*;
use crate::checks::Finding;
use crate::error::Result;
use crate::http::RetryPolicy;
use crate::ports::*;
use crate::stores::{Catalogue, CatalogueProduct, CatalogueTaxRate, Named, StoreChecks, StoreMasterData};

const READS: [(&str, &str); 4] = [
    ("orders", "/V1/orders"),
    ("invoices", "/V1/invoices"),
    ("credit memos", "/V1/creditmemos"),
    ("customers", "/V1/customers/search"),
];

#[async_trait]
impl StoreChecks for AdobeConnector {
    async fn health(&self, connection: &Connection, secrets: &SecretBundle) -> Vec<Finding> {
        let mut findings = Vec::new();
        let settings = match AdobeSettings::of(connection) {
            Ok(s) => s,
            Err(e) => return vec![Finding::problem("store", e.to_string())],
        };
        let detected = detect(&connection.store_url, &settings, secrets);
        findings
            .push(Finding::ok("store", format!("Adobe Commerce {} ({})", detected.deployment.title(), detected.why)));
        let client = match AdobeConnector::connect(connection, secrets, RetryPolicy::once()).await {
            Ok(c) => c,
            Err(e) => {
                findings.push(Finding::problem("store", format!("cannot use Adobe Commerce: {e}")));
                return findings;
            }
        };
        // The probe: a read only these credentials, in this model, can make.
        match client.get_json("/V1/store/storeConfigs", &[]).await {
            Ok(Some(configs)) => {
                let first = &configs[0];
                findings.push(Finding::ok(
                    "store",
                    format!(
                        "the store answers as {} (store view {:?}, base currency {}, time zone {})",
                        detected.deployment.title(),
                        first["code"].as_str().unwrap_or("?"),
                        first["base_currency_code"].as_str().unwrap_or("?"),
                        first["timezone"].as_str().unwrap_or("?")
                    ),
                ));
            }
            Ok(None) => findings.push(Finding::problem(
                "store",
                "the store has no /V1/store/storeConfigs: is this an Adobe Commerce REST URL?",
            )),
            Err(e) => {
                let other = match detected.deployment {
                    Deployment::Paas => "saas",
                    Deployment::Saas => "paas",
                };
                findings.push(Finding::problem(
                    "store",
                    format!("{e}; if this store is the other model, set it with --deployment {other}"),
                ));
                return findings;
            }
        }
        findings.push(Finding::ok(
            "store",
            match client.version().await {
                Some(version) => format!("version {version}"),
                None if detected.deployment == Deployment::Saas => {
                    "version: the Cloud Service is always current".into()
                }
                None => "the store does not tell its version (/magento_version is off)".into(),
            },
        ));
        findings.push(match client.send(reqwest::Method::GET, "/V1/webhooks/list", &[], None).await {
            Ok(Some(_)) if settings.webhooks => Finding::ok("store", "Adobe Commerce Webhooks are available (2.4.4+) and this connection receives them; the poller is the safety net"),
            Ok(Some(_)) => Finding::ok("store", "Adobe Commerce Webhooks are available (2.4.4+); this connection is not set to receive them, so the poller alone reads the store"),
            Ok(None) => Finding::ok("store", "Adobe Commerce Webhooks are not installed (before 2.4.4, or the module is off): the poller alone reads the store"),
            Err(e) => Finding::problem("store", format!("could not tell whether webhooks are available: {e}")),
        });
        for (what, path) in READS {
            match client.search(path, &SearchCriteria::default().page(1, 1)).await {
                Ok((_, total)) => findings.push(Finding::ok("store", format!("can read {what} ({total} in all)"))),
                Err(e) => findings.push(Finding::problem("store", format!("cannot read {what}: {e}"))),
            }
        }
        if secrets.get(SECRET_WEBHOOK_PUBLIC_KEY).is_none() && settings.webhooks {
            findings.push(Finding::problem(
                "store",
                "no webhook public key is stored: every webhook will be refused (the poller still reads the store)",
            ));
        }
        findings
    }

    async fn master_data(&self, connection: &Connection, _secrets: &SecretBundle) -> Result<StoreMasterData> {
        let client = self.client(connection).await?;
        let list = |v: Option<Value>| v.and_then(|v| v.as_array().cloned()).unwrap_or_default();
        let mut scopes = Vec::new();
        for (kind, path) in [
            ("website", "/V1/store/websites"),
            ("store", "/V1/store/storeGroups"),
            ("store view", "/V1/store/storeViews"),
        ] {
            for item in list(client.get_json(path, &[]).await?) {
                let code = item["code"].as_str().unwrap_or_default();
                if code == "admin" || item["id"] == 0 {
                    continue; // the admin scope is no storefront
                }
                scopes.push((kind.to_string(), Named::new(code, item["name"].as_str().unwrap_or_default())));
            }
        }
        let groups = client.search("/V1/customerGroups/search", &SearchCriteria::default()).await?.0;
        let customer_groups =
            groups.iter().filter_map(|g| Some(Named::new(g["code"].as_str()?, g["code"].as_str()?))).collect();
        let sets = client.search_all("/V1/products/attribute-sets/sets/list", &SearchCriteria::default(), 100).await?;
        let attribute_sets = sets
            .iter()
            .filter_map(|s| {
                Some(Named::new(s["attribute_set_id"].as_i64()?.to_string(), s["attribute_set_name"].as_str()?))
            })
            .collect();
        // Adobe Commerce lists payment and shipping methods only for a cart: the ones its latest
        // orders used stand in, as the orders name them.
        let latest =
            SearchCriteria { sort: vec![("created_at".into(), "DESC")], ..SearchCriteria::default() }.page(100, 1);
        let (orders, _) = client.search("/V1/orders", &latest).await?;
        let (mut payment_methods, mut shipping_methods): (Vec<Named>, Vec<Named>) = (vec![], vec![]);
        for o in &orders {
            let payment = &o["payment"];
            if let Some(code) = payment["method"].as_str() {
                let title = payment["additional_information"][0].as_str().unwrap_or(code);
                push_new(&mut payment_methods, Named::new(code, title));
            }
            let shipping = &o["extension_attributes"]["shipping_assignments"][0]["shipping"]["method"];
            if let Some(code) = shipping.as_str() {
                push_new(&mut shipping_methods, Named::new(code, o["shipping_description"].as_str().unwrap_or(code)));
            }
        }
        Ok(StoreMasterData {
            scopes,
            customer_groups,
            payment_methods,
            shipping_methods,
            attribute_sets,
            notes: vec![format!(
                "payment and shipping methods are those of the store's {} latest orders: Adobe Commerce lists them per cart only",
                orders.len()
            )],
        })
    }

    async fn catalogue(&self, connection: &Connection, _secrets: &SecretBundle) -> Result<Catalogue> {
        let client = self.client(connection).await?;
        let tree = normalize::categories(&client.get_json("/V1/categories", &[]).await?.unwrap_or_default());
        let mut categories: Vec<Vec<String>> =
            tree.keys().map(|id| normalize::category_path(*id, &tree)).filter(|p| !p.is_empty()).collect();
        categories.sort();
        categories.dedup();
        let products = client
            .search_all("/V1/products", &SearchCriteria::default(), 100)
            .await?
            .iter()
            .map(|p| CatalogueProduct {
                sku: p["sku"].as_str().filter(|s| !s.is_empty()).map(String::from),
                name: p["name"].as_str().unwrap_or_default().to_string(),
                category_path: normalize::product_path(p, &tree),
            })
            .collect();
        let tax_rates = client
            .search_all("/V1/taxRates/search", &SearchCriteria::default(), 100)
            .await?
            .iter()
            .map(|r| CatalogueTaxRate {
                id: r["code"].as_str().unwrap_or_default().to_string(),
                name: r["code"].as_str().unwrap_or_default().to_string(),
                rate: r["rate"].to_string(),
            })
            .collect();
        let codes = |list: Option<Value>| -> Vec<String> {
            list.and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v["code"].as_str().map(String::from))
                .filter(|c| c != "admin")
                .collect()
        };
        let groups = client.search("/V1/customerGroups/search", &SearchCriteria::default()).await?.0;
        Ok(Catalogue {
            tax_rates,
            categories,
            products,
            store_views: codes(client.get_json("/V1/store/storeViews", &[]).await?),
            websites: codes(client.get_json("/V1/store/websites", &[]).await?),
            customer_groups: groups.iter().filter_map(|g| g["code"].as_str().map(String::from)).collect(),
        })
    }
}

fn push_new(list: &mut Vec<Named>, item: Named) {
    if !list.iter().any(|n| n.code == item.code) {
        list.push(item);
    }
}
