//! Pre-flight checks a merchant runs before going live: does each side of a connection answer,
//! accept the credentials and let us read what posting needs (`mlc connection test`), and does
//! every product, category and tax rate of the store have a mapping (`mlc mappings check`).
//! Each finding is a plain sentence; nothing here writes to the store or to Odoo.

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::odoo::{OdooClient, OdooConfig, OdooError, Val};
use crate::ports::{Connection, SecretBundle};
use crate::poster::plan::Lookups;
use crate::poster::session::OdooSession;
use crate::rules::{Conditions, LineFacts, MappingRules};
use crate::stores::Stores;

pub const SECRET_ODOO_LOGIN: &str = "odoo_login";
pub const SECRET_ODOO_KEY: &str = "odoo_api_key";

/// The Odoo models posting reads (and writes): each must at least be readable.
pub const ODOO_MODELS: &[&str] = &[
    "account.move",
    "account.account",
    "account.tax",
    "account.journal",
    "account.analytic.account",
    "res.partner",
    "product.product",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `odoo`, `store`, `mapping`.
    pub side: &'static str,
    pub ok: bool,
    pub what: String,
}

impl Finding {
    pub fn ok(side: &'static str, what: impl Into<String>) -> Self {
        Finding { side, ok: true, what: what.into() }
    }

    pub fn problem(side: &'static str, what: impl Into<String>) -> Self {
        Finding { side, ok: false, what: what.into() }
    }
}

/// A check answers quickly: one attempt, a short timeout.
fn quick() -> RetryPolicy {
    RetryPolicy::once()
}

const TIMEOUT: Duration = Duration::from_secs(10);

pub fn secret<'a>(
    secrets: &'a SecretBundle,
    name: &str,
    side: &'static str,
) -> std::result::Result<&'a crate::ports::Secret, Finding> {
    secrets.get(name).ok_or_else(|| {
        Finding::problem(side, format!("the connection has no {name}; add it with `mlc connection add`"))
    })
}

/// An Odoo client for a connection, for checks (one attempt per call).
pub async fn odoo_client(
    connection: &Connection,
    secrets: &SecretBundle,
    retry: RetryPolicy,
) -> std::result::Result<OdooClient, Finding> {
    let login = secret(secrets, SECRET_ODOO_LOGIN, "odoo")?;
    let key = secret(secrets, SECRET_ODOO_KEY, "odoo")?;
    let mut config =
        OdooConfig::new(connection.odoo_url.as_str(), connection.odoo_database.clone(), login.expose(), key.clone());
    config.allow_private_network = connection.allow_private_network;
    config.ca_pem = connection.ca_pem.clone();
    config.retry = retry;
    config.timeout = TIMEOUT;
    OdooClient::connect(config).await.map_err(|e| Finding::problem("odoo", odoo_sentence(&e, connection)))
}

fn odoo_sentence(e: &OdooError, connection: &Connection) -> String {
    match e {
        OdooError::Auth { .. } => {
            "Odoo refused the login and API key: check both, and that the key belongs to that user and database".into()
        }
        OdooError::Access { message } => format!("Odoo says the user may not do this: {message}"),
        OdooError::Transient { message, .. } => format!("cannot reach Odoo at {}: {message}", connection.odoo_url),
        OdooError::Endpoint { message } => format!("the Odoo URL is refused: {message}"),
        other => format!("Odoo answered, but not as expected: {other}"),
    }
}

/// `mlc connection test`: every step of talking to both sides, each reported, none skipped
/// because an earlier one failed on the other side.
pub async fn test_connection(stores: &Stores, connection: &Connection, secrets: &SecretBundle) -> Vec<Finding> {
    let mut findings = Vec::new();
    match odoo_client(connection, secrets, quick()).await {
        Err(f) => findings.push(f),
        Ok(client) => {
            findings.push(Finding::ok(
                "odoo",
                format!(
                    "Odoo {} answers at {} (talking {:?})",
                    client.server_version(),
                    connection.odoo_url,
                    client.transport()
                ),
            ));
            let mut authenticated = false;
            for model in ODOO_MODELS {
                match client.search_read(model, Val::List(vec![]), &["id"], Some(1), None).await {
                    Ok(_) => {
                        if !authenticated {
                            findings.push(Finding::ok("odoo", "Odoo accepts the login and API key"));
                            authenticated = true;
                        }
                        findings.push(Finding::ok("odoo", format!("can read {model}")));
                    }
                    Err(e @ OdooError::Auth { .. }) => {
                        findings.push(Finding::problem("odoo", odoo_sentence(&e, connection)));
                        break;
                    }
                    Err(OdooError::Access { message }) => findings.push(Finding::problem(
                        "odoo",
                        format!("cannot read {model}: {message} (give the user the Invoicing/Accounting rights)"),
                    )),
                    Err(e) => {
                        findings.push(Finding::problem(
                            "odoo",
                            format!("reading {model}: {}", odoo_sentence(&e, connection)),
                        ));
                        break;
                    }
                }
            }
        }
    }
    match stores.for_connection(connection) {
        Ok(store) => findings.extend(store.checks().health(connection, secrets).await),
        Err(e) => findings.push(Finding::problem("store", e.to_string())),
    }
    findings
}

/// What `mlc mappings check` found.
#[derive(Debug, Default, Clone, Serialize)]
pub struct MappingReport {
    pub products_checked: usize,
    pub categories_checked: usize,
    pub tax_rates_checked: usize,
    pub findings: Vec<Finding>,
}

impl MappingReport {
    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| !f.ok).count()
    }
}

/// A rule's conditions on the product alone: order context (country, customer group, ...)
/// cannot be known before an order exists, so it is left out here and shown by `mlc preview`.
fn on_product(c: &Conditions) -> Conditions {
    Conditions { category: c.category.clone(), sku: c.sku.clone(), ..Conditions::default() }
}

fn covered(rules: &MappingRules, sku: Option<&str>, path: &[String]) -> Option<String> {
    let facts = LineFacts { sku, category_path: path, currency: "", ..LineFacts::default() };
    rules.lines.iter().find(|r| on_product(&r.when).check(&facts).is_some()).map(|r| r.name.clone())
}

/// Checks the store's catalogue and tax rates against the rules, and the rules against Odoo.
pub async fn check_mappings(
    stores: &Stores,
    connection: &Connection,
    secrets: &SecretBundle,
    rules: &MappingRules,
) -> Result<MappingReport> {
    let catalogue = stores.for_connection(connection)?.checks().catalogue(connection, secrets).await?;
    let client = odoo_client(connection, secrets, RetryPolicy::default())
        .await
        .map_err(|f| Error::retryable(anyhow::anyhow!(f.what)))?;
    let odoo = OdooSession::open(client).await?;
    let mut report = MappingReport::default();
    let mut find = |f: Finding| report.findings.push(f);

    // The rules against Odoo's chart.
    let mut accounts: Vec<(&str, String)> =
        rules.lines.iter().map(|r| (r.account.as_str(), format!("rule {:?}", r.name))).collect();
    accounts.push((rules.accounts.shipping.as_str(), "shipping".into()));
    accounts.push((rules.accounts.rounding.as_str(), "rounding".into()));
    for (code, what) in [
        (&rules.accounts.fees, "fees"),
        (&rules.accounts.discount, "discounts"),
        (&rules.accounts.receivable, "receivable"),
        (&rules.accounts.adjustment_refund, "adjustment refunds"),
        (&rules.accounts.adjustment_fee, "adjustment fees"),
    ] {
        if let Some(code) = code {
            accounts.push((code.as_str(), what.into()));
        }
    }
    for (code, what) in accounts {
        if odoo.account(code).is_none() {
            find(Finding::problem("mapping", format!("account {code} ({what}) does not exist in Odoo")));
        }
    }
    let shares = rules.lines.iter().flat_map(|r| r.analytic.iter()).chain(rules.accounts.analytic.iter());
    for share in shares {
        if odoo.analytic(&share.account).is_none() {
            find(Finding::problem("mapping", format!("cost center {} does not exist in Odoo", share.account)));
        }
    }
    for t in &rules.taxes {
        match odoo.tax(&t.odoo_tax) {
            None => find(Finding::problem(
                "mapping",
                format!("Odoo tax {:?} (for store rate {}) does not exist in Odoo", t.odoo_tax, t.store_rate),
            )),
            Some(info) if info.price_include => find(Finding::problem(
                "mapping",
                format!("Odoo tax {:?} includes tax in the price; store amounts exclude tax", t.odoo_tax),
            )),
            Some(_) => {}
        }
    }

    // The store's tax rates.
    report.tax_rates_checked = catalogue.tax_rates.len();
    for rate in &catalogue.tax_rates {
        if rules.tax_for(&rate.id).or_else(|| rules.tax_for(&rate.name)).is_none() {
            find(Finding::problem(
                "mapping",
                format!("store tax rate {} ({}, {}%) is not mapped to an Odoo tax", rate.id, rate.name, rate.rate),
            ));
        }
    }

    // The store's scopes and groups: each must be one some rule can take a line from (a rule
    // that names it, or one that does not ask).
    type Scope = fn(&Conditions) -> &Option<Vec<String>>;
    let scopes: [(&str, &[String], Scope); 3] = [
        ("store view", &catalogue.store_views, |c| &c.store),
        ("website", &catalogue.websites, |c| &c.website),
        ("customer group", &catalogue.customer_groups, |c| &c.customer_group),
    ];
    for (what, values, condition) in scopes {
        for value in values {
            let takes = |r: &&crate::rules::LineRule| {
                condition(&r.when).as_ref().is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(value)))
            };
            if !rules.lines.iter().any(|r| takes(&r)) {
                find(Finding::problem(
                    "mapping",
                    format!("{what} {value} is not mapped: every rule names other {what}s"),
                ));
            }
        }
    }

    // The catalogue: categories, then products.
    report.categories_checked = catalogue.categories.len();
    for path in &catalogue.categories {
        if covered(rules, None, path).is_none() {
            find(Finding::problem(
                "mapping",
                format!("category {} is not mapped (no rule for it or a parent, and no fallback)", path.join(" / ")),
            ));
        }
    }
    report.products_checked = catalogue.products.len();
    let skus: Vec<String> = catalogue.products.iter().filter_map(|p| p.sku.clone()).collect();
    odoo.load_products(&skus).await?;
    let mut without_product = Vec::new();
    for p in &catalogue.products {
        let (sku, path) = (p.sku.as_deref(), &p.category_path);
        if covered(rules, sku, path).is_none() {
            find(Finding::problem(
                "mapping",
                format!(
                    "SKU {} ({}, category {}) is not mapped by any rule",
                    sku.unwrap_or("none"),
                    p.name,
                    if path.is_empty() { "none".into() } else { path.join(" / ") }
                ),
            ));
        }
        if let Some(sku) = sku.filter(|s| odoo.product(s).is_none()) {
            without_product.push(sku.to_string());
        }
    }
    if !without_product.is_empty() {
        // Not fatal: such lines post on their rule's account, by name, without a product.
        find(Finding::ok(
            "mapping",
            format!(
                "note: {} SKU(s) have no product in Odoo and post by name: {}",
                without_product.len(),
                without_product.join(", ")
            ),
        ));
    }
    Ok(report)
}
