//! A sandbox Adobe Commerce store on a random loopback port, for tests, benchmarks and `mlc
//! demo`, following `../shared/reference/api-facts.md` §3, in either deployment model:
//! - **PaaS** at `/rest/<store_code>/V1/…`, OAuth 1.0a checked by its own code ([`auth`]), or
//!   the access token as a Bearer token when that is allowed;
//! - **SaaS** at `/<tenant>/V1/…`, with IMS tokens it issues at `/ims/token/v3` and expires on
//!   demand, and `x-api-key`, `x-gw-ims-org-id` and `Store` checked on every call.
//!
//! It answers `searchCriteria` as Magento does ([`search`]), holds orders with parent and child
//! items, invoices and credit memos ([`fixtures`]), errs in Magento's JSON or as an HTML page
//! from the web server in front when told to, logs every write, and delivers webhooks signed
//! with its own RSA key ([`signing`]).

// The generated order is one large `json!` literal.
#![recursion_limit = "256"]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub mod auth;
pub mod fixtures;
pub mod search;
pub mod signing;

pub use fixtures::{Item, MemoSpec, OrderSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Paas,
    Saas,
}

#[derive(Debug, Clone)]
pub struct AdobeOptions {
    pub mode: Mode,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub access_token: String,
    pub access_token_secret: String,
    /// PaaS: whether the access token may be used as a plain Bearer token (off by default).
    pub allow_bearer: bool,
    pub ims_client_id: String,
    pub ims_client_secret: String,
    pub ims_org_id: String,
    pub tenant: String,
    /// IMS tokens' `expires_in`, in seconds.
    pub token_life: u64,
    /// Whether the Adobe Commerce Webhooks module answers (`/V1/webhooks/list`).
    pub webhooks_module: bool,
    /// The PKCS#8 PEM the sandbox signs webhooks with (the vectors' test key by default).
    pub webhook_private_key: String,
    pub webhook_public_key: String,
}

impl AdobeOptions {
    /// The credentials of `../shared/vectors` (fake, shaped like Magento's).
    pub fn new(mode: Mode) -> AdobeOptions {
        let vectors: Value =
            serde_json::from_str(include_str!("../../../tests/vectors/adobe-webhooks.json")).expect("vectors");
        AdobeOptions {
            mode,
            consumer_key: "bxuwx241neiq4gcmlf9g5vyjr81oalzh".into(),
            consumer_secret: "x5btodkn4ee9afa16ts8kl164a1vodic".into(),
            access_token: "78f15o5vl8i7e017rfh445ngitvu8agw".into(),
            access_token_secret: "pn6a7bkii0cyd0cablp9r8lri4mktuqb".into(),
            allow_bearer: false,
            ims_client_id: "0a1b2c3d4e5f60718293a4b5c6d7e8f9".into(),
            ims_client_secret: "p8e-FAKEsecretVALUE0123456789abcd".into(),
            ims_org_id: "ABCDEF0123456789ABCDEF01@AdobeOrg".into(),
            tenant: "AbCdEfGhIjKlMnOpQrStUv".into(),
            token_life: 86_399,
            webhooks_module: true,
            webhook_private_key: vectors["test_private_key_pem"].as_str().expect("key").into(),
            webhook_public_key: vectors["public_key_pem"].as_str().expect("key").into(),
        }
    }
}

/// A failure to answer the next requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Magento's own `{"message": …}` with HTTP 500.
    Json500,
    /// The web server in front's HTML page with HTTP 503.
    Html503,
}

/// A request that would have changed the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub method: String,
    pub path: String,
    pub body: String,
}

#[derive(Default)]
struct Data {
    orders: BTreeMap<i64, Value>,
    invoices: BTreeMap<i64, Value>,
    memos: BTreeMap<i64, Value>,
    customers: BTreeMap<i64, Value>,
    products: BTreeMap<i64, Value>,
    writes: Vec<Write>,
    requests: u64,
    by_path: BTreeMap<String, u64>,
    nonces: HashSet<String>,
    /// IMS token → when it expires.
    tokens: HashMap<String, Instant>,
    tokens_issued: u64,
    refused: u64,
    failures: Vec<Failure>,
}

struct Shared {
    options: AdobeOptions,
    data: Mutex<Data>,
}

pub struct AdobeSandbox {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

impl Drop for AdobeSandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What a webhook delivery came to, as Commerce sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
    pub body: String,
    /// A failure or `exception` answer, which would stop the store's operation (a required hook).
    pub blocked: bool,
}

fn error(status: StatusCode, message: &str, parameters: Value) -> Response {
    (status, axum::Json(json!({ "message": message, "parameters": parameters }))).into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "The entity that was requested doesn't exist. Verify the entity and try again.",
        json!([]),
    )
}

impl AdobeSandbox {
    pub async fn start(options: AdobeOptions) -> std::io::Result<AdobeSandbox> {
        let shared = Arc::new(Shared { options: options.clone(), data: Mutex::new(Data::default()) });
        let app = match options.mode {
            Mode::Paas => axum::Router::new()
                .route("/rest/{store}/V1/{*path}", any(rest))
                .route("/magento_version", get(|| async { "Magento/2.4 (Commerce)" })),
            Mode::Saas => axum::Router::new()
                .route(&format!("/{}/V1/{{*path}}", options.tenant), any(rest))
                .route("/ims/token/v3", post(ims_token)),
        };
        let app = app
            .fallback(|| async { error(StatusCode::NOT_FOUND, "Request does not match any route.", json!([])) })
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(AdobeSandbox { url, shared, server, http: reqwest::Client::new() })
    }

    /// The connection's store URL: `…/rest/default` (PaaS) or `…/<tenant>` (SaaS).
    pub fn store_url(&self) -> String {
        match self.shared.options.mode {
            Mode::Paas => format!("{}/rest/default", self.url),
            Mode::Saas => format!("{}/{}", self.url, self.shared.options.tenant),
        }
    }

    pub fn ims_url(&self) -> String {
        format!("{}/ims/token/v3", self.url)
    }

    pub fn options(&self) -> &AdobeOptions {
        &self.shared.options
    }

    /// The secrets a connection to this store holds, by the names ml-connector stores them
    /// under: the integration's four (PaaS) or the IMS credential's two (SaaS), and the public
    /// key its webhooks verify with.
    pub fn connection_secrets(&self) -> Vec<(&'static str, String)> {
        let o = &self.shared.options;
        let mut secrets = match o.mode {
            Mode::Paas => vec![
                ("adobe_consumer_key", o.consumer_key.clone()),
                ("adobe_consumer_secret", o.consumer_secret.clone()),
                ("adobe_access_token", o.access_token.clone()),
                ("adobe_access_token_secret", o.access_token_secret.clone()),
            ],
            Mode::Saas => vec![
                ("adobe_ims_client_id", o.ims_client_id.clone()),
                ("adobe_ims_client_secret", o.ims_client_secret.clone()),
            ],
        };
        secrets.push(("adobe_webhook_public_key", o.webhook_public_key.clone()));
        secrets
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().expect("lock")
    }

    pub fn requests(&self) -> u64 {
        self.data().requests
    }

    /// Requests to `/V1/{path}` (query left out).
    pub fn requests_to(&self, path: &str) -> u64 {
        self.data().by_path.get(path).copied().unwrap_or(0)
    }

    /// Requests refused for their authentication.
    pub fn refused(&self) -> u64 {
        self.data().refused
    }

    /// Every request that would have written to the store.
    pub fn writes(&self) -> Vec<Write> {
        self.data().writes.clone()
    }

    pub fn tokens_issued(&self) -> u64 {
        self.data().tokens_issued
    }

    /// Every IMS token issued so far stops working now, as if it had expired early.
    pub fn expire_tokens(&self) {
        self.data().tokens.clear();
    }

    /// The next requests fail, one per entry.
    pub fn fail_next(&self, failures: &[Failure]) {
        self.data().failures.extend_from_slice(failures);
    }

    fn product_id(data: &mut Data, sku: &str, category: i64) -> i64 {
        if let Some((id, _)) = data.products.iter().find(|(_, p)| p["sku"] == sku) {
            return *id;
        }
        let id = 1000 + data.products.len() as i64;
        let links = json!([{ "position": 0, "category_id": category.to_string() }]);
        data.products.insert(id, json!({ "id": id, "sku": sku, "name": format!("Item {sku}"), "type_id": "simple", "extension_attributes": { "category_links": links } }));
        id
    }

    /// Places an order; returns it.
    pub fn add_order(&self, spec: &OrderSpec) -> Value {
        let mut data = self.data();
        let order = fixtures::order(spec, &mut |sku, category| Self::product_id(&mut data, sku, category));
        data.orders.insert(spec.entity_id, order.clone());
        order
    }

    pub fn order(&self, entity: i64) -> Value {
        self.data().orders.get(&entity).cloned().unwrap_or_default()
    }

    /// Changes an order (its status, say) and its `updated_at`.
    pub fn edit_order(&self, entity: i64, at: DateTime<Utc>, edit: impl FnOnce(&mut Value)) {
        if let Some(o) = self.data().orders.get_mut(&entity) {
            edit(o);
            o["updated_at"] = json!(fixtures::time(at));
        }
    }

    /// Invoices the whole order (paid); the order is then processing.
    pub fn invoice_order(&self, order: i64, entity: i64, at: DateTime<Utc>) -> Value {
        let mut data = self.data();
        let Some(o) = data.orders.get_mut(&order) else { return Value::Null };
        o["state"] = json!("processing");
        o["status"] = json!("processing");
        o["updated_at"] = json!(fixtures::time(at));
        let inv = fixtures::invoice(o, entity, at, true);
        data.invoices.insert(entity, inv.clone());
        inv
    }

    /// A credit memo of the invoice's rows; the order is `closed` when all was refunded.
    pub fn refund(&self, invoice: i64, entity: i64, spec: &MemoSpec, at: DateTime<Utc>) -> Value {
        let mut data = self.data();
        let Some(inv) = data.invoices.get(&invoice).cloned() else { return Value::Null };
        let order_id = inv["order_id"].as_i64().unwrap_or_default();
        let Some(order) = data.orders.get_mut(&order_id) else { return Value::Null };
        let memo = fixtures::credit_memo(order, &inv, entity, spec, at);
        order["updated_at"] = json!(fixtures::time(at));
        data.memos.insert(entity, memo.clone());
        memo
    }

    pub fn add_customer(&self, id: i64, email: &str, group_id: i64, at: DateTime<Utc>) -> Value {
        let address = |n: i64, street: &str, city: &str, billing: bool, shipping: bool| {
            json!({ "id": id * 10 + n, "customer_id": id, "firstname": "Jane", "lastname": "Doe", "street": [street], "city": city,
                    "postcode": "50667", "country_id": "DE", "region": { "region_code": "NRW", "region": "Nordrhein-Westfalen", "region_id": 88 },
                    "telephone": "0221 123", "default_billing": billing, "default_shipping": shipping })
        };
        let c = json!({
            "id": id, "group_id": group_id, "email": email, "firstname": "Jane", "lastname": "Doe", "website_id": 1, "store_id": 1,
            "created_at": fixtures::time(at), "updated_at": fixtures::time(at),
            "addresses": [address(1, "Domkloster 4", "Köln", true, false), address(2, "Main St 1", "Bonn", false, true)]
        });
        self.data().customers.insert(id, c.clone());
        c
    }

    /// Delivers a webhook for `event` about `object` (`{"eventName", "data": {object: data}}`),
    /// its body as PHP writes it, signed with the sandbox's key unless `signature` is given.
    pub async fn deliver(
        &self,
        url: &str,
        event: &str,
        object: &str,
        data: Value,
        signature: Option<&str>,
    ) -> Delivered {
        let body = signing::php_json(&json!({ "eventName": event, "data": { object: data } }));
        let signature = signature
            .map(String::from)
            .unwrap_or_else(|| signing::sign(&self.shared.options.webhook_private_key, body.as_bytes()));
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-adobe-commerce-webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                let op = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["op"].as_str().map(String::from));
                let blocked = !(200..300).contains(&status) || op.as_deref() != Some("success");
                Delivered { status, body, blocked }
            }
            Err(e) => Delivered { status: 0, body: e.to_string(), blocked: true },
        }
    }
}

async fn ims_token(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let o = &shared.options;
    if let Err((code, why)) = auth::check_token_request(&body, &o.ims_client_id, &o.ims_client_secret) {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": code, "error_description": why })))
            .into_response();
    }
    let mut data = shared.data.lock().expect("lock");
    data.tokens_issued += 1;
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.sandbox-{}.{}",
        data.tokens_issued,
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    data.tokens.insert(token.clone(), Instant::now() + Duration::from_secs(o.token_life));
    axum::Json(json!({ "access_token": token, "token_type": "bearer", "expires_in": o.token_life })).into_response()
}

/// Is the request authenticated as the mode requires? `Err`: the refusal to answer.
fn authenticate(
    shared: &Shared,
    data: &mut Data,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<(), Box<Response>> {
    let o = &shared.options;
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let authorization = header("authorization");
    let unauthorized = |message: &str| {
        Box::new(error(StatusCode::UNAUTHORIZED, message, json!({ "resources": "Magento_Sales::sales" })))
    };
    match o.mode {
        Mode::Paas => {
            if let Some(token) = authorization.strip_prefix("Bearer ") {
                return if o.allow_bearer && token == o.access_token {
                    Ok(())
                } else {
                    Err(unauthorized("The consumer isn't authorized to access %resources."))
                };
            }
            let who = auth::Integration {
                consumer_key: &o.consumer_key,
                consumer_secret: &o.consumer_secret,
                token: &o.access_token,
                token_secret: &o.access_token_secret,
            };
            let base = format!("http://{}{}", header("host"), uri.path());
            auth::verify_oauth(
                &who,
                method.as_str(),
                &base,
                uri.query().unwrap_or_default(),
                &authorization,
                &mut data.nonces,
                Utc::now().timestamp(),
            )
            .map_err(|r| {
                Box::new(error(
                    StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNAUTHORIZED),
                    &r.message,
                    json!([]),
                ))
            })
        }
        Mode::Saas => {
            let live = authorization
                .strip_prefix("Bearer ")
                .and_then(|t| data.tokens.get(t))
                .is_some_and(|until| Instant::now() < *until);
            if !live {
                return Err(unauthorized("The consumer isn't authorized to access %resources."));
            }
            if header("x-api-key") != o.ims_client_id || header("x-gw-ims-org-id") != o.ims_org_id {
                return Err(Box::new(error(
                    StatusCode::FORBIDDEN,
                    "Forbidden: the organization or API key does not match the credential",
                    json!([]),
                )));
            }
            if header("store").is_empty() {
                return Err(Box::new(error(StatusCode::BAD_REQUEST, "The Store header is required", json!([]))));
            }
            Ok(())
        }
    }
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut data = shared.data.lock().expect("lock");
    data.requests += 1;
    let path = uri.path().split_once("/V1/").map(|(_, p)| p.to_string()).unwrap_or_default();
    *data.by_path.entry(path.clone()).or_default() += 1;
    if let Err(refused) = authenticate(&shared, &mut data, &method, &uri, &headers) {
        data.refused += 1;
        return *refused;
    }
    if !data.failures.is_empty() {
        return match data.failures.remove(0) {
            Failure::Json500 => error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Error. Details are available in Magento log file. Report ID: %1", json!(["webapi-0a1b2c"])),
            Failure::Html503 => (StatusCode::SERVICE_UNAVAILABLE, [("content-type", "text/html")], "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>").into_response(),
        };
    }
    if method != Method::GET {
        // Nothing in these flows writes; the log shows any write that is tried.
        data.writes.push(Write {
            method: method.to_string(),
            path: path.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        return error(StatusCode::NOT_FOUND, "Request does not match any route.", json!([]));
    }
    let query = auth::query_params(uri.query().unwrap_or_default());
    let criteria = search::Criteria::parse(&query);
    let segments: Vec<&str> = path.split('/').collect();
    let one = |map: &BTreeMap<i64, Value>, id: &str| {
        id.parse::<i64>()
            .ok()
            .and_then(|i| map.get(&i).cloned())
            .map(|v| axum::Json(v).into_response())
            .unwrap_or_else(not_found)
    };
    let all = |map: &BTreeMap<i64, Value>| map.values().cloned().collect::<Vec<_>>();
    let found = match segments.as_slice() {
        ["orders"] => criteria.run(&all(&data.orders)),
        ["orders", id] => return one(&data.orders, id),
        ["invoices"] => criteria.run(&all(&data.invoices)),
        ["invoices", id] => return one(&data.invoices, id),
        ["creditmemos"] => criteria.run(&all(&data.memos)),
        ["creditmemo", id] => return one(&data.memos, id),
        ["customers", "search"] => criteria.run(&all(&data.customers)),
        ["customers", id] => return one(&data.customers, id),
        ["products"] => {
            // Products are searched by `entity_id`, which their JSON calls `id`.
            let products: Vec<Value> = all(&data.products)
                .into_iter()
                .map(|mut p| {
                    p["entity_id"] = p["id"].clone();
                    p
                })
                .collect();
            criteria.run(&products)
        }
        ["categories"] => catalogue_tree(),
        ["store", "storeViews"] => json!([
            { "id": 0, "code": "admin", "website_id": 0, "name": "Admin" },
            { "id": 1, "code": "default", "website_id": 1, "name": "Default Store View" },
            { "id": 2, "code": "de", "website_id": 1, "name": "Deutsch" }
        ]),
        ["store", "websites"] => {
            json!([{ "id": 0, "code": "admin", "name": "Admin" }, { "id": 1, "code": "base", "name": "Main Website" }])
        }
        ["store", "storeGroups"] => json!([
            { "id": 0, "website_id": 0, "root_category_id": 0, "default_store_id": 0, "name": "Default", "code": "default" },
            { "id": 1, "website_id": 1, "root_category_id": 2, "default_store_id": 1, "name": "Main Website Store", "code": "main_website_store" }
        ]),
        ["products", "attribute-sets", "sets", "list"] => criteria.run(&[
            json!({ "attribute_set_id": 4, "attribute_set_name": "Default", "sort_order": 1, "entity_type_id": 4 }),
            json!({ "attribute_set_id": 9, "attribute_set_name": "Top", "sort_order": 0, "entity_type_id": 4 }),
            json!({ "attribute_set_id": 10, "attribute_set_name": "Gear", "sort_order": 0, "entity_type_id": 4 }),
        ]),
        ["store", "storeConfigs"] => {
            json!([{ "id": 1, "code": "default", "website_id": 1, "locale": "de_DE", "base_currency_code": "EUR", "default_display_currency_code": "EUR", "timezone": "Europe/Berlin" }])
        }
        ["customerGroups", "search"] => criteria.run(&[
            json!({ "id": 0, "code": "NOT LOGGED IN" }),
            json!({ "id": 1, "code": "General" }),
            json!({ "id": 2, "code": "Wholesale" }),
            json!({ "id": 3, "code": "Retailer" }),
        ]),
        ["taxRates", "search"] => {
            criteria.run(&[json!({ "id": 1, "code": "DE-19", "rate": 19, "tax_country_id": "DE" })])
        }
        ["webhooks", "list"] if shared.options.webhooks_module => json!([]),
        _ => return error(StatusCode::NOT_FOUND, "Request does not match any route.", json!([])),
    };
    axum::Json(found).into_response()
}

/// Root catalog 1 → Default Category 2 → Men 3 (→ Hoodies 4), Gear 5.
fn catalogue_tree() -> Value {
    json!({ "id": 1, "parent_id": 0, "name": "Root Catalog", "children_data": [
        { "id": 2, "parent_id": 1, "name": "Default Category", "children_data": [
            { "id": 3, "parent_id": 2, "name": "Men", "children_data": [ { "id": 4, "parent_id": 3, "name": "Hoodies", "children_data": [] } ] },
            { "id": 5, "parent_id": 2, "name": "Gear", "children_data": [] }
        ] } ] })
}
