//! One connection's Odoo session in a container: the client, and master data cached for the
//! container's life (accounts, taxes, cost centers, journals, countries, states, products by SKU,
//! partners by store id), so a warm batch spends its Odoo calls on the records themselves.

use std::collections::HashMap;
use std::sync::Mutex;

use rust_decimal::Decimal;

use super::plan::{Carrier, Lookups, TaxInfo};
use crate::odoo::{OdooClient, OdooError, Val};

#[derive(Default)]
struct Cache {
    accounts: HashMap<String, i64>,
    account_codes: HashMap<i64, String>,
    taxes: HashMap<String, TaxInfo>,
    taxes_by_id: HashMap<i64, TaxInfo>,
    analytic: HashMap<String, i64>,
    journals: HashMap<String, i64>,
    payment_terms: HashMap<String, i64>,
    currencies: HashMap<String, i64>,
    countries: HashMap<String, i64>,
    states: HashMap<(i64, String), i64>,
    /// `None`: looked up and not in Odoo.
    products: HashMap<String, Option<i64>>,
    /// Store customer id (or normalized guest email) → partner id.
    partners: HashMap<String, i64>,
    /// Loaded once, in sales-order mode only.
    sales: Option<SalesData>,
}

#[derive(Default)]
struct SalesData {
    carriers: HashMap<String, Carrier>,
    pricelists: HashMap<String, i64>,
    fiscal_positions: HashMap<String, i64>,
}

pub struct OdooSession {
    pub client: OdooClient,
    cache: Mutex<Cache>,
}

fn rows_by(rows: &[Val], key: &str) -> Vec<(String, i64)> {
    rows.iter().filter_map(|r| Some((r.get(key)?.as_str()?.to_string(), r.get("id")?.as_i64()?))).collect()
}

impl OdooSession {
    /// Connects and loads the static master data (a handful of calls, once per container).
    pub async fn open(client: OdooClient) -> Result<OdooSession, OdooError> {
        let session = OdooSession { client, cache: Mutex::new(Cache::default()) };
        session.load_master_data().await?;
        Ok(session)
    }

    pub async fn load_master_data(&self) -> Result<(), OdooError> {
        let all = Val::List(vec![]);
        let c = &self.client;
        let accounts = c.search_read("account.account", all.clone(), &["code"], None, None).await?;
        let taxes = c.search_read("account.tax", all.clone(), &["name", "amount", "price_include"], None, None).await?;
        let analytic = c.search_read("account.analytic.account", all.clone(), &["code"], None, None).await?;
        let journals = c.search_read("account.journal", all.clone(), &["code"], None, None).await?;
        let countries = c.search_read("res.country", all.clone(), &["code"], None, None).await?;
        let states = c.search_read("res.country.state", all.clone(), &["code", "country_id"], None, None).await?;
        let terms = c.search_read("account.payment.term", all.clone(), &["name"], None, None).await?;
        let currencies = c.search_read("res.currency", all, &["name"], None, None).await?;
        let mut cache = self.cache.lock().expect("cache lock");
        cache.accounts = rows_by(&accounts, "code").into_iter().collect();
        cache.account_codes = cache.accounts.iter().map(|(k, v)| (*v, k.clone())).collect();
        cache.currencies = rows_by(&currencies, "name").into_iter().collect();
        for t in &taxes {
            let (Some(id), Some(name)) = (t.get("id").and_then(Val::as_i64), t.get("name").and_then(Val::as_str))
            else {
                continue;
            };
            let info = TaxInfo {
                id,
                percent: t.get("amount").and_then(Val::as_decimal).unwrap_or(Decimal::ZERO),
                price_include: t.get("price_include").and_then(Val::as_bool).unwrap_or(false),
            };
            cache.taxes.insert(name.to_string(), info.clone());
            cache.taxes_by_id.insert(id, info);
        }
        cache.analytic = rows_by(&analytic, "code").into_iter().collect();
        cache.journals = rows_by(&journals, "code").into_iter().collect();
        cache.countries = rows_by(&countries, "code").into_iter().collect();
        cache.payment_terms = rows_by(&terms, "name").into_iter().collect();
        cache.states = states
            .iter()
            .filter_map(|s| {
                Some((
                    (s.get("country_id")?.many2one_id()?, s.get("code")?.as_str()?.to_string()),
                    s.get("id")?.as_i64()?,
                ))
            })
            .collect();
        Ok(())
    }

    /// Looks up the SKUs not seen before in one call.
    pub async fn load_products(&self, skus: &[String]) -> Result<(), OdooError> {
        self.look_up_products(skus, false).await
    }

    /// The same, asking again for SKUs Odoo did not have: where a product is required (a sale
    /// order line), one created in Odoo since is found on the replay.
    pub async fn load_required_products(&self, skus: &[String]) -> Result<(), OdooError> {
        self.look_up_products(skus, true).await
    }

    async fn look_up_products(&self, skus: &[String], recheck_missing: bool) -> Result<(), OdooError> {
        let missing: Vec<String> = {
            let cache = self.cache.lock().expect("cache lock");
            let known = |s: &String| match cache.products.get(s) {
                Some(Some(_)) => true,
                Some(None) => !recheck_missing,
                None => false,
            };
            let mut m: Vec<String> = skus.iter().filter(|s| !known(s)).cloned().collect();
            m.sort();
            m.dedup();
            m
        };
        if missing.is_empty() {
            return Ok(());
        }
        let domain = Val::list([Val::list([
            Val::from("default_code"),
            Val::from("in"),
            Val::list(missing.iter().map(String::as_str)),
        ])]);
        let rows = self.client.search_read("product.product", domain, &["default_code"], None, None).await?;
        let found: HashMap<String, i64> = rows_by(&rows, "default_code").into_iter().collect();
        let mut cache = self.cache.lock().expect("cache lock");
        for sku in missing {
            let id = found.get(&sku).copied();
            cache.products.insert(sku, id);
        }
        Ok(())
    }

    /// Carriers, pricelists and fiscal positions, for sales-order mode: once per container.
    pub async fn load_sales_data(&self) -> Result<(), OdooError> {
        if self.cache.lock().expect("cache lock").sales.is_some() {
            return Ok(());
        }
        let (all, c) = (Val::List(vec![]), &self.client);
        let carriers = c.search_read("delivery.carrier", all.clone(), &["name", "product_id"], None, None).await?;
        let pricelists = c.search_read("product.pricelist", all.clone(), &["name"], None, None).await?;
        let positions = c.search_read("account.fiscal.position", all, &["name"], None, None).await?;
        let data = SalesData {
            carriers: carriers
                .iter()
                .filter_map(|r| {
                    let carrier =
                        Carrier { id: r.get("id")?.as_i64()?, product_id: r.get("product_id")?.many2one_id()? };
                    Some((r.get("name")?.as_str()?.to_lowercase(), carrier))
                })
                .collect(),
            pricelists: rows_by(&pricelists, "name").into_iter().collect(),
            fiscal_positions: rows_by(&positions, "name").into_iter().collect(),
        };
        self.cache.lock().expect("cache lock").sales = Some(data);
        Ok(())
    }

    pub fn journal(&self, code: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").journals.get(code).copied()
    }

    pub fn payment_term(&self, name: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").payment_terms.get(name).copied()
    }

    pub fn country(&self, code: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").countries.get(&code.to_uppercase()).copied()
    }

    pub fn state(&self, country: i64, code: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").states.get(&(country, code.to_uppercase())).copied()
    }

    pub fn tax_by_id(&self, id: i64) -> Option<TaxInfo> {
        self.cache.lock().expect("cache lock").taxes_by_id.get(&id).cloned()
    }

    pub fn account_code(&self, id: i64) -> Option<String> {
        self.cache.lock().expect("cache lock").account_codes.get(&id).cloned()
    }

    pub fn cached_partner(&self, key: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").partners.get(key).copied()
    }

    pub fn remember_partner(&self, key: &str, id: i64) {
        self.cache.lock().expect("cache lock").partners.insert(key.to_string(), id);
    }
}

impl Lookups for OdooSession {
    fn currency(&self, code: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").currencies.get(code).copied()
    }

    fn account(&self, code: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").accounts.get(code).copied()
    }

    fn tax(&self, name: &str) -> Option<TaxInfo> {
        self.cache.lock().expect("cache lock").taxes.get(name).cloned()
    }

    fn analytic(&self, code: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").analytic.get(code).copied()
    }

    fn product(&self, sku: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").products.get(sku).copied().flatten()
    }

    fn carrier(&self, name: &str) -> Option<Carrier> {
        self.cache.lock().expect("cache lock").sales.as_ref()?.carriers.get(&name.to_lowercase()).copied()
    }

    fn pricelist(&self, name: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").sales.as_ref()?.pricelists.get(name).copied()
    }

    fn fiscal_position(&self, name: &str) -> Option<i64> {
        self.cache.lock().expect("cache lock").sales.as_ref()?.fiscal_positions.get(name).copied()
    }

    fn journal_id(&self, code: &str) -> Option<i64> {
        self.journal(code)
    }
}
