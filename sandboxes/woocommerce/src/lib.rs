//! A sandbox WooCommerce store on a random loopback port, for tests, benchmarks and `mlc demo`.
//!
//! It serves `/wp-json/wc/v3/` with the real field shapes (money as strings, `price` as a number,
//! `*_gmt` dates without a zone, refunds negative, line taxes keyed by rate id), checks OAuth 1.0a
//! signatures as WooCommerce does over plain HTTP (every query parameter, key = secret + "&", base
//! URL = the store's home URL), pages with `X-WP-Total` / `X-WP-TotalPages` / `Link`, refuses
//! `per_page` over 100, filters by `modified_after` / `modified_before` (exclusive) with
//! `dates_are_gmt`, and delivers signed webhooks: pings, duplicates, coalesced updates and
//! deliveries out of order are the caller's to arrange.

// The generated order is one large `json!` literal.
#![recursion_limit = "256"]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
mod auth;
use auth::{oauth_signature, webhook_signature as sign};

pub struct StoreOptions {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub webhook_secret: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        StoreOptions {
            consumer_key: format!("ck_{}", &id[..16]),
            consumer_secret: format!("cs_{}", &id[16..]),
            webhook_secret: format!("whsec-{}", &id[..10]),
        }
    }
}

#[derive(Default)]
struct Data {
    orders: BTreeMap<i64, Value>,
    refunds: BTreeMap<i64, Vec<Value>>,
    customers: BTreeMap<i64, Value>,
    products: BTreeMap<i64, Value>,
    categories: Vec<Value>,
    /// Requests still to answer with 429 and `Retry-After`.
    throttle: u32,
    throttle_after_secs: u64,
    requests: u64,
    /// Requests per path (`/wp-json/wc/v3/customers`, …).
    by_path: BTreeMap<String, u64>,
    /// From request number `outage_from` on, `outage` requests answer 503 (a host outage).
    outage_from: u64,
    outage: u32,
    /// After a 429, until when the client was told to wait, and how many requests came early.
    throttled_until: Option<std::time::Instant>,
    early: u64,
    throttled: u64,
    /// Registered webhooks by id (`secret` kept, as WooCommerce stores it).
    webhooks: BTreeMap<i64, Value>,
    next_webhook: i64,
}

struct Shared {
    options: StoreOptions,
    home: Mutex<String>,
    data: Mutex<Data>,
}

pub struct SandboxStore {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

impl Drop for SandboxStore {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

fn gmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The catalog every generated order draws from: (product id, sku, name, price, category id, tax rate id).
const CATALOG: &[(i64, &str, &str, &str, i64, i64)] = &[
    (11, "SHIRT-M", "Shirt (M)", "19.99", 2, 1),
    (12, "SHIRT-L", "Shirt (L)", "21.50", 2, 1),
    (13, "HAT-1", "Hat", "15.00", 3, 1),
    (14, "BOOK-1", "Rust in Action", "12.50", 4, 2),
    (15, "BOOK-2", "Zero to Production", "39.00", 4, 2),
];

/// In the store but never drawn by `add_order`: for orders a test or the demo composes itself.
const EXTRA: &[(i64, &str, &str, &str, i64, i64)] = &[(16, "GNOME-1", "Garden gnome", "24.00", 5, 1)];

fn product(id: i64) -> (i64, &'static str, &'static str, &'static str, i64, i64) {
    *CATALOG.iter().chain(EXTRA).find(|p| p.0 == id).expect("a product of the sandbox catalog")
}

impl SandboxStore {
    pub async fn start(options: StoreOptions) -> std::io::Result<SandboxStore> {
        let shared = Arc::new(Shared { options, home: Mutex::new(String::new()), data: Mutex::new(Data::default()) });
        {
            let mut d = shared.data.lock().expect("lock");
            d.categories = vec![
                json!({ "id": 1, "name": "Apparel", "slug": "apparel", "parent": 0 }),
                json!({ "id": 2, "name": "Shirts", "slug": "shirts", "parent": 1 }),
                json!({ "id": 3, "name": "Hats", "slug": "hats", "parent": 1 }),
                json!({ "id": 4, "name": "Books", "slug": "books", "parent": 0 }),
                json!({ "id": 5, "name": "Garden", "slug": "garden", "parent": 0 }),
            ];
            for (id, sku, name, price, category, _) in CATALOG.iter().chain(EXTRA) {
                d.products.insert(
                    *id,
                    json!({ "id": id, "sku": sku, "name": name, "price": price, "categories": [ { "id": category } ] }),
                );
            }
        }
        let app = axum::Router::new()
            .route("/wp-json/wc/v3/orders", get(list_orders))
            .route("/wp-json/wc/v3/orders/{id}", get(one_order))
            .route("/wp-json/wc/v3/orders/{id}/refunds", get(list_refunds))
            .route("/wp-json/wc/v3/customers", get(list_customers))
            .route("/wp-json/wc/v3/customers/{id}", get(one_customer))
            .route("/wp-json/wc/v3/products", get(list_products))
            .route("/wp-json/wc/v3/products/categories", get(list_categories))
            .route("/wp-json/wc/v3/taxes", get(list_taxes))
            .route("/wp-json/wc/v3/payment_gateways", get(list_payment_gateways))
            .route("/wp-json/wc/v3/shipping_methods", get(list_shipping_methods))
            .route("/wp-json/wc/v3/webhooks", get(list_webhooks).post(create_webhook))
            .route("/wp-json/wc/v3/webhooks/{id}", axum::routing::put(update_webhook).delete(delete_webhook))
            .fallback(|| async {
                error(404, "rest_no_route", "No route was found matching the URL and request method.")
            })
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        *shared.home.lock().expect("lock") = url.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(SandboxStore { url, shared, server, http: reqwest::Client::new() })
    }

    /// The store's home URL (what OAuth signs and `X-WC-Webhook-Source` names).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn options(&self) -> &StoreOptions {
        &self.shared.options
    }

    pub fn requests(&self) -> u64 {
        self.shared.data.lock().expect("lock").requests
    }

    /// API requests to exactly this path so far (`/wp-json/wc/v3/customers`).
    pub fn requests_to(&self, path: &str) -> u64 {
        self.shared.data.lock().expect("lock").by_path.get(path).copied().unwrap_or(0)
    }

    /// API requests so far by kind: the path with its ids as `{id}` (`/orders/{id}/refunds`).
    pub fn requests_by_kind(&self) -> BTreeMap<String, u64> {
        let mut kinds = BTreeMap::new();
        for (path, n) in &self.shared.data.lock().expect("lock").by_path {
            let kind: Vec<&str> = path
                .trim_start_matches("/wp-json/wc/v3")
                .split('/')
                .map(|s| if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) { "{id}" } else { s })
                .collect();
            *kinds.entry(kind.join("/")).or_default() += n;
        }
        kinds
    }

    /// Answers the next `n` API requests with 429 and `Retry-After: secs`.
    /// After `after` more requests, the next `count` answer 503, as a host going down would.
    pub fn outage(&self, after: u64, count: u32) {
        let mut d = self.shared.data.lock().expect("lock");
        d.outage_from = d.requests + after;
        d.outage = count;
    }

    /// 429s answered so far, and requests that came before their `Retry-After` had passed.
    pub fn throttling(&self) -> (u64, u64) {
        let d = self.shared.data.lock().expect("lock");
        (d.throttled, d.early)
    }

    pub fn throttle(&self, n: u32, secs: u64) {
        let mut d = self.shared.data.lock().expect("lock");
        d.throttle = n;
        d.throttle_after_secs = secs;
    }

    /// Deletes a product from the catalog (orders that sold it keep their lines).
    pub fn remove_product(&self, id: i64) {
        self.shared.data.lock().expect("lock").products.remove(&id);
    }

    /// Adds a customer and returns its id.
    pub fn add_customer(&self, id: i64, email: &str, first: &str, last: &str, modified: DateTime<Utc>) -> Value {
        let c = json!({
            "id": id, "email": email, "first_name": first, "last_name": last, "role": "customer", "username": email,
            "date_created": gmt(modified), "date_created_gmt": gmt(modified), "date_modified": gmt(modified), "date_modified_gmt": gmt(modified),
            "billing": address(first, last, Some(email)), "shipping": address(first, last, None), "is_paying_customer": true,
        });
        self.shared.data.lock().expect("lock").customers.insert(id, c.clone());
        c
    }

    /// Generates order `id` (deterministic from the id): one to three catalog lines, 20% or 5.5%
    /// tax per line, flat-rate shipping, a coupon on every fourth order; totals add up as
    /// WooCommerce's do. `customer` 0 is a guest.
    pub fn add_order(&self, id: i64, customer: i64, status: &str, modified: DateTime<Utc>) -> Value {
        let items: Vec<(i64, i64)> = (0..1 + (id % 3) as usize)
            .map(|i| (CATALOG[((id as usize) + i * 2) % CATALOG.len()].0, 1 + ((id + i as i64) % 2)))
            .collect();
        self.add_order_items(id, customer, status, modified, &items)
    }

    /// An order of exactly these `(product id, quantity)` items, totals computed as `add_order` does.
    pub fn add_order_items(
        &self,
        id: i64,
        customer: i64,
        status: &str,
        modified: DateTime<Utc>,
        items: &[(i64, i64)],
    ) -> Value {
        let rate = |r: i64| if r == 1 { Decimal::new(20, 0) } else { Decimal::new(55, 1) };
        let mut lines = Vec::new();
        let (mut total, mut total_tax, mut discount_total) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let mut per_rate: BTreeMap<i64, Decimal> = BTreeMap::new();
        for (i, &(product_id, qty)) in items.iter().enumerate() {
            let (pid, sku, name, price, _, tax_rate) = product(product_id);
            let price: Decimal = price.parse().expect("catalog price");
            let subtotal = price * Decimal::from(qty);
            let discount = if id % 4 == 0 && i == 0 { (subtotal / Decimal::TEN).round_dp(2) } else { Decimal::ZERO };
            let line_total = subtotal - discount;
            let tax = (line_total * rate(tax_rate) / Decimal::ONE_HUNDRED).round_dp(2);
            *per_rate.entry(tax_rate).or_default() += tax;
            total += line_total + tax;
            total_tax += tax;
            discount_total += discount;
            lines.push(json!({
                "id": id * 100 + i as i64, "name": name, "product_id": pid, "variation_id": 0, "quantity": qty, "tax_class": "",
                "subtotal": money(subtotal), "subtotal_tax": money((subtotal * rate(tax_rate) / Decimal::ONE_HUNDRED).round_dp(2)),
                "total": money(line_total), "total_tax": money(tax),
                "taxes": [ { "id": tax_rate, "total": tax.normalize().to_string(), "subtotal": tax.normalize().to_string() } ],
                "meta_data": [], "sku": sku,
                // WooCommerce writes `price` as a JSON number; the connector never reads it.
                "price": serde_json::from_str::<Value>(&price.normalize().to_string()).expect("a decimal is a JSON number"),
            }));
        }
        let shipping = Decimal::new(490, 2);
        let shipping_tax = Decimal::new(98, 2);
        *per_rate.entry(1).or_default() += Decimal::ZERO;
        total += shipping + shipping_tax;
        total_tax += shipping_tax;
        let billing = if customer > 0 {
            address("Ada", "Lovelace", Some(&format!("customer{customer}@example.com")))
        } else {
            address("Guest", "Buyer", Some(&format!("guest{}@example.com", id % 7)))
        };
        let order = json!({
            "id": id, "parent_id": 0, "number": id.to_string(), "order_key": format!("wc_order_{id}"), "created_via": "checkout",
            "status": status, "currency": "EUR",
            "date_created": gmt(modified), "date_created_gmt": gmt(modified), "date_modified": gmt(modified), "date_modified_gmt": gmt(modified),
            "discount_total": money(discount_total), "discount_tax": "0.00", "shipping_total": money(shipping), "shipping_tax": money(shipping_tax),
            "cart_tax": money(total_tax - shipping_tax), "total": money(total), "total_tax": money(total_tax), "prices_include_tax": false,
            "customer_id": customer, "customer_note": "", "billing": billing, "shipping": address("Ada", "Lovelace", None),
            "payment_method": "stripe", "payment_method_title": "Credit card", "transaction_id": format!("ch_{id}"),
            "meta_data": [], "line_items": lines,
            "tax_lines": per_rate.iter().map(|(r, amount)| {
                let shipping_part = if *r == 1 { shipping_tax } else { Decimal::ZERO };
                json!({ "id": id * 10 + r, "rate_code": format!("FR-TVA-{r}"), "rate_id": r, "label": if *r == 1 { "TVA 20%" } else { "TVA 5.5%" },
                        "compound": false, "tax_total": money(*amount), "shipping_tax_total": money(shipping_part), "meta_data": [] })
            }).collect::<Vec<_>>(),
            "shipping_lines": [ { "id": id * 100 + 99, "method_title": "Flat rate", "method_id": "flat_rate", "total": money(shipping), "total_tax": money(shipping_tax),
                                  "taxes": [ { "id": 1, "total": shipping_tax.normalize().to_string(), "subtotal": "" } ], "meta_data": [] } ],
            "fee_lines": [],
            "coupon_lines": if discount_total.is_zero() { json!([]) } else { json!([ { "id": id * 100 + 98, "code": "AUTUMN10", "discount": money(discount_total), "discount_tax": "0.00", "meta_data": [] } ]) },
            "refunds": [],
        });
        self.shared.data.lock().expect("lock").orders.insert(id, order.clone());
        order
    }

    /// Refunds one line of an order (whole quantity) plus its shipping; returns the refund.
    pub fn refund_line(&self, order_id: i64, line_index: usize, refund_id: i64, at: DateTime<Utc>) -> Value {
        let mut d = self.shared.data.lock().expect("lock");
        let order = d.orders.get_mut(&order_id).expect("order exists");
        let line = order["line_items"][line_index].clone();
        let shipping = order["shipping_lines"][0].clone();
        let dec = |v: &Value| v.as_str().unwrap_or("0").parse::<Decimal>().unwrap_or_default();
        let amount =
            dec(&line["total"]) + dec(&line["total_tax"]) + dec(&shipping["total"]) + dec(&shipping["total_tax"]);
        let refund = json!({
            "id": refund_id, "date_created": gmt(at), "date_created_gmt": gmt(at), "amount": money(amount), "reason": "returned",
            "refunded_by": 1, "refunded_payment": true, "meta_data": [],
            "line_items": [ {
                "id": refund_id * 10, "name": line["name"], "product_id": line["product_id"], "variation_id": 0,
                "quantity": -line["quantity"].as_i64().unwrap_or(1), "tax_class": "",
                "subtotal": format!("-{}", line["total"].as_str().unwrap_or("0")), "subtotal_tax": format!("-{}", line["total_tax"].as_str().unwrap_or("0")),
                "total": format!("-{}", line["total"].as_str().unwrap_or("0")), "total_tax": format!("-{}", line["total_tax"].as_str().unwrap_or("0")),
                "taxes": [ { "id": line["taxes"][0]["id"], "total": format!("-{}", line["taxes"][0]["total"].as_str().unwrap_or("0")), "subtotal": "" } ],
                "meta_data": [ { "id": refund_id * 10 + 1, "key": "_refunded_item_id", "value": line["id"].to_string() } ],
                "sku": line["sku"], "price": line["price"],
            } ],
            "shipping_lines": [ {
                "id": refund_id * 10 + 2, "method_title": "Flat rate", "method_id": "flat_rate",
                "total": format!("-{}", shipping["total"].as_str().unwrap_or("0")), "total_tax": format!("-{}", shipping["total_tax"].as_str().unwrap_or("0")),
                "taxes": [], "meta_data": [ { "key": "_refunded_item_id", "value": shipping["id"].to_string() } ],
            } ],
        });
        order["refunds"]
            .as_array_mut()
            .expect("refunds")
            .push(json!({ "id": refund_id, "reason": "returned", "total": format!("-{}", money(amount)) }));
        order["date_modified_gmt"] = Value::String(gmt(at));
        order["date_modified"] = Value::String(gmt(at));
        d.refunds.entry(order_id).or_default().push(refund.clone());
        refund
    }

    /// Replaces an order as the store holds it (any JSON, for tests of what the store may send).
    pub fn set_order(&self, order: Value) {
        let id = order["id"].as_i64().expect("an order with an id");
        self.shared.data.lock().expect("lock").orders.insert(id, order);
    }

    pub fn order(&self, id: i64) -> Value {
        self.shared.data.lock().expect("lock").orders[&id].clone()
    }

    /// Delivers a webhook as WooCommerce does: JSON body, `X-WC-Webhook-*` headers, signature of
    /// the exact bytes. Returns the HTTP status the receiver answered.
    pub async fn deliver(&self, url: &str, topic: &str, payload: &Value, delivery_id: &str) -> u16 {
        self.deliver_signed(url, &self.shared.options.webhook_secret, topic, payload, delivery_id).await
    }

    /// Delivers `topic` as the store would: to every active registered webhook of that topic,
    /// each signed with its own secret. Returns each receiver's status.
    pub async fn deliver_to_registered(&self, topic: &str, payload: &Value, delivery_id: &str) -> Vec<u16> {
        let hooks: Vec<(String, String)> = self
            .webhooks_with_secrets()
            .into_iter()
            .filter(|w| w["topic"] == topic && w["status"] == "active")
            .map(|w| {
                (w["delivery_url"].as_str().unwrap_or_default().into(), w["secret"].as_str().unwrap_or_default().into())
            })
            .collect();
        let mut statuses = Vec::new();
        for (url, secret) in hooks {
            statuses.push(self.deliver_signed(&url, &secret, topic, payload, delivery_id).await);
        }
        statuses
    }

    fn webhooks_with_secrets(&self) -> Vec<Value> {
        self.shared.data.lock().expect("lock").webhooks.values().cloned().collect()
    }

    async fn deliver_signed(&self, url: &str, secret: &str, topic: &str, payload: &Value, delivery_id: &str) -> u16 {
        let body = serde_json::to_string(payload).expect("json");
        let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "WooCommerce/9.9.0 Hookshot (WordPress/6.8)")
            .header("x-wc-webhook-source", format!("{}/", self.url))
            .header("x-wc-webhook-topic", topic)
            .header("x-wc-webhook-resource", resource)
            .header("x-wc-webhook-event", event)
            .header("x-wc-webhook-signature", sign(secret, body.as_bytes()))
            .header("x-wc-webhook-id", "7")
            .header("x-wc-webhook-delivery-id", delivery_id)
            .body(body)
            .send()
            .await;
        response.map(|r| r.status().as_u16()).unwrap_or(0)
    }

    /// The creation ping: unsigned, form-encoded, no `X-WC-Webhook-*` headers.
    pub async fn ping(&self, url: &str) -> u16 {
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", "WooCommerce/9.9.0 Hookshot (WordPress/6.8)")
            .body("webhook_id=7")
            .send()
            .await;
        response.map(|r| r.status().as_u16()).unwrap_or(0)
    }
}

fn address(first: &str, last: &str, email: Option<&str>) -> Value {
    let mut a = json!({ "first_name": first, "last_name": last, "company": "", "address_1": "12 Rue de Rivoli", "address_2": "",
                        "city": "Paris", "state": "", "postcode": "75001", "country": "FR", "phone": "" });
    if let Some(e) = email {
        a["email"] = Value::String(e.to_string());
    }
    a
}

fn error(status: u16, code: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        json!({ "code": code, "message": message, "data": { "status": status } }).to_string(),
    )
        .into_response()
}

fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()).into_owned().collect()
}

/// Checks OAuth 1.0a as WooCommerce does over plain HTTP; on success returns the non-OAuth params.
fn authorize(shared: &Shared, path: &str, raw: &Option<String>) -> Result<HashMap<String, String>, Box<Response>> {
    authorize_as(shared, "GET", path, raw)
}

/// As [`authorize`], for a request with `method` (the method is part of the signed base string).
fn authorize_as(
    shared: &Shared,
    http_method: &str,
    path: &str,
    raw: &Option<String>,
) -> Result<HashMap<String, String>, Box<Response>> {
    {
        let mut d = shared.data.lock().expect("lock");
        d.requests += 1;
        *d.by_path.entry(path.to_string()).or_default() += 1;
        if d.throttled_until.is_some_and(|until| std::time::Instant::now() < until) {
            d.early += 1;
        }
        if d.outage > 0 && d.requests > d.outage_from {
            d.outage -= 1;
            return Err(Box::new(error(503, "service_unavailable", "The store is down for maintenance.")));
        }
        if d.throttle > 0 {
            d.throttle -= 1;
            d.throttled += 1;
            d.throttled_until = Some(std::time::Instant::now() + std::time::Duration::from_secs(d.throttle_after_secs));
            let mut r = error(429, "woocommerce_rest_too_many_requests", "Too many requests.");
            r.headers_mut().insert("retry-after", d.throttle_after_secs.into());
            return Err(Box::new(r));
        }
    }
    let pairs = query_pairs(raw);
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let needed = ["oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method"];
    let present = needed.iter().filter(|k| get(k).is_some()).count();
    if present == 0 {
        return Err(Box::new(error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")));
    }
    if present < needed.len() {
        return Err(Box::new(error(
            401,
            "woocommerce_rest_authentication_missing_parameter",
            "Missing OAuth parameter",
        )));
    }
    if get("oauth_consumer_key").as_deref() != Some(shared.options.consumer_key.as_str()) {
        return Err(Box::new(error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")));
    }
    if !matches!(get("oauth_signature_method").as_deref(), Some("HMAC-SHA1" | "HMAC-SHA256")) {
        return Err(Box::new(error(401, "woocommerce_rest_authentication_error", "Invalid signature method.")));
    }
    let ts: i64 = get("oauth_timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    if (Utc::now().timestamp() - ts).abs() > 15 * 60 {
        return Err(Box::new(error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")));
    }
    let base = format!("{}{path}", shared.home.lock().expect("lock"));
    let method = get("oauth_signature_method").unwrap_or_default();
    let expected = oauth_signature(http_method, &base, &pairs, &shared.options.consumer_secret, &method);
    if expected.is_none() || get("oauth_signature") != expected {
        return Err(Box::new(error(
            401,
            "woocommerce_rest_authentication_error",
            "Invalid signature - provided signature does not match.",
        )));
    }
    Ok(pairs.into_iter().filter(|(k, _)| !k.starts_with("oauth_")).collect())
}

fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok().map(|n| n.and_utc())
}

/// A page of a list with WooCommerce's headers.
fn paged<V: std::borrow::Borrow<Value>>(
    shared: &Shared,
    path: &str,
    items: Vec<V>,
    params: &HashMap<String, String>,
) -> Response {
    let per_page: usize = params.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    if !(1..=100).contains(&per_page) {
        return error(400, "rest_invalid_param", "Invalid parameter(s): per_page");
    }
    let page: usize = params.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> =
        items.into_iter().skip((page - 1) * per_page).take(per_page).map(|v| v.borrow().clone()).collect();
    let home = shared.home.lock().expect("lock").clone();
    let mut links = Vec::new();
    if page < pages {
        links.push(format!("<{home}{path}?page={}&per_page={per_page}>; rel=\"next\"", page + 1));
    }
    if page > 1 {
        links.push(format!("<{home}{path}?page={}&per_page={per_page}>; rel=\"prev\"", page - 1));
    }
    let mut response =
        (StatusCode::OK, [("content-type", "application/json")], Value::Array(slice).to_string()).into_response();
    let h = response.headers_mut();
    h.insert("x-wp-total", total.into());
    h.insert("x-wp-totalpages", pages.into());
    if !links.is_empty() {
        h.insert("link", links.join(", ").parse().expect("header"));
    }
    response
}

fn modified_filter<'a>(items: impl Iterator<Item = &'a Value>, params: &HashMap<String, String>) -> Vec<&'a Value> {
    // Exclusive bounds, on the *_gmt column only when dates_are_gmt=true (else the site's zone, UTC+1 here).
    let gmt_dates = params.get("dates_are_gmt").map(String::as_str) == Some("true");
    let shift = if gmt_dates { Duration::zero() } else { Duration::hours(1) };
    let after = params.get("modified_after").and_then(|t| parse_date(t)).map(|t| t - shift);
    let before = params.get("modified_before").and_then(|t| parse_date(t)).map(|t| t - shift);
    items
        .filter(|o| {
            let m = o["date_modified_gmt"].as_str().and_then(parse_date);
            match m {
                Some(m) => after.is_none_or(|a| m > a) && before.is_none_or(|b| m < b),
                None => true,
            }
        })
        .collect()
}

fn ordered<'a>(mut items: Vec<&'a Value>, params: &HashMap<String, String>) -> Vec<&'a Value> {
    let desc = params.get("order").map(String::as_str) != Some("asc");
    match params.get("orderby").map(String::as_str) {
        Some("id") => items.sort_by_key(|o| o["id"].as_i64()),
        _ => items.sort_by(|a, b| {
            a["date_created_gmt"]
                .as_str()
                .cmp(&b["date_created_gmt"].as_str())
                .then(a["id"].as_i64().cmp(&b["id"].as_i64()))
        }),
    }
    if desc {
        items.reverse();
    }
    items
}

async fn list_orders(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let params = match authorize(&s, "/wp-json/wc/v3/orders", &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    // Only the page asked for is copied out (the store may hold 100,000 orders).
    let data = s.data.lock().expect("lock");
    let items = ordered(modified_filter(data.orders.values(), &params), &params);
    paged(&s, "/wp-json/wc/v3/orders", items, &params)
}

async fn one_order(State(s): State<Arc<Shared>>, Path(id): Path<i64>, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = authorize(&s, &format!("/wp-json/wc/v3/orders/{id}"), &q) {
        return *r;
    }
    match s.data.lock().expect("lock").orders.get(&id) {
        Some(o) => (StatusCode::OK, [("content-type", "application/json")], o.to_string()).into_response(),
        None => error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID."),
    }
}

async fn list_refunds(State(s): State<Arc<Shared>>, Path(id): Path<i64>, RawQuery(q): RawQuery) -> Response {
    let path = format!("/wp-json/wc/v3/orders/{id}/refunds");
    let params = match authorize(&s, &path, &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let items = s.data.lock().expect("lock").refunds.get(&id).cloned().unwrap_or_default();
    paged(&s, &path, items, &params)
}

async fn list_customers(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let params = match authorize(&s, "/wp-json/wc/v3/customers", &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let data = s.data.lock().expect("lock");
    // As WooCommerce: `/customers` has no modified filters (reference §1.3), whatever is sent.
    let items = ordered(data.customers.values().collect(), &params);
    paged(&s, "/wp-json/wc/v3/customers", items, &params)
}

async fn one_customer(State(s): State<Arc<Shared>>, Path(id): Path<i64>, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = authorize(&s, &format!("/wp-json/wc/v3/customers/{id}"), &q) {
        return *r;
    }
    match s.data.lock().expect("lock").customers.get(&id) {
        Some(c) => (StatusCode::OK, [("content-type", "application/json")], c.to_string()).into_response(),
        None => error(404, "woocommerce_rest_invalid_id", "Invalid resource ID."),
    }
}

async fn list_products(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let params = match authorize(&s, "/wp-json/wc/v3/products", &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let include: Vec<i64> =
        params.get("include").map(|i| i.split(',').filter_map(|x| x.trim().parse().ok()).collect()).unwrap_or_default();
    let items: Vec<Value> = s
        .data
        .lock()
        .expect("lock")
        .products
        .iter()
        .filter(|(id, _)| include.is_empty() || include.contains(id))
        .map(|(_, p)| p.clone())
        .collect();
    paged(&s, "/wp-json/wc/v3/products", items, &params)
}

/// The store's tax rates (`GET /taxes`): the rate ids orders' `taxes[].id` refer to.
async fn list_taxes(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let params = match authorize(&s, "/wp-json/wc/v3/taxes", &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let rate = |id: i64, rate: &str, name: &str, class: &str| {
        json!({ "id": id, "country": "FR", "state": "", "postcode": "", "city": "", "postcodes": [], "cities": [],
                "rate": rate, "name": name, "priority": 1, "compound": false, "shipping": true, "order": id, "class": class })
    };
    let items = vec![
        rate(1, "20.0000", "VAT 20%", "standard"),
        rate(2, "5.5000", "VAT 5.5%", "reduced-rate"),
        rate(3, "10.0000", "VAT 10%", "intermediate"),
    ];
    paged(&s, "/wp-json/wc/v3/taxes", items, &params)
}

/// The installed gateways, enabled or not (`WC_REST_Payment_Gateways_Controller`): not paged.
async fn list_payment_gateways(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = authorize(&s, "/wp-json/wc/v3/payment_gateways", &q) {
        return *r;
    }
    let gateway = |id: &str, title: &str, enabled: bool, order: i64| {
        json!({ "id": id, "title": title, "description": "", "order": order, "enabled": enabled,
                "method_title": title, "method_description": "", "method_supports": ["products"], "settings": {} })
    };
    axum::Json(json!([
        gateway("bacs", "Direct bank transfer", false, 0),
        gateway("cheque", "Check payments", true, 1),
        gateway("cod", "Cash on delivery", true, 2),
        gateway("stripe", "Credit card", true, 3),
    ]))
    .into_response()
}

/// The shipping methods WooCommerce knows (`WC_REST_Shipping_Methods_Controller`): not paged.
async fn list_shipping_methods(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = authorize(&s, "/wp-json/wc/v3/shipping_methods", &q) {
        return *r;
    }
    let method = |id: &str, title: &str| json!({ "id": id, "title": title, "description": "" });
    axum::Json(json!([
        method("flat_rate", "Flat rate"),
        method("free_shipping", "Free shipping"),
        method("local_pickup", "Local pickup")
    ]))
    .into_response()
}

async fn list_categories(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, _h: HeaderMap) -> Response {
    let params = match authorize(&s, "/wp-json/wc/v3/products/categories", &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let items = s.data.lock().expect("lock").categories.clone();
    paged(&s, "/wp-json/wc/v3/products/categories", items, &params)
}

/// The webhooks the store holds, as `GET /webhooks` lists them (the secret is not listed).
impl SandboxStore {
    pub fn webhooks(&self) -> Vec<Value> {
        self.webhooks_with_secrets().iter().map(listed).collect()
    }

    /// Sets a webhook's status as the store would after failed deliveries (`disabled`).
    pub fn set_webhook_status(&self, id: i64, status: &str) {
        if let Some(w) = self.shared.data.lock().expect("lock").webhooks.get_mut(&id) {
            w["status"] = status.into();
        }
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (status, [("content-type", "application/json")], v.to_string()).into_response()
}

fn listed(hook: &Value) -> Value {
    let mut shown = hook.clone();
    if let Some(o) = shown.as_object_mut() {
        o.remove("secret");
    }
    shown
}

async fn list_webhooks(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let params = match authorize(&s, "/wp-json/wc/v3/webhooks", &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let hooks: Vec<Value> = s.data.lock().expect("lock").webhooks.values().map(listed).collect();
    paged(&s, "/wp-json/wc/v3/webhooks", hooks, &params)
}

const TOPICS: [&str; 13] = [
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
    "coupon.created",
    "coupon.updated",
];

async fn create_webhook(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, body: String) -> Response {
    if let Err(r) = authorize_as(&s, "POST", "/wp-json/wc/v3/webhooks", &q) {
        return *r;
    }
    let Ok(given) = serde_json::from_str::<Value>(&body) else {
        return error(400, "rest_invalid_json", "Invalid JSON body passed.");
    };
    let topic = given["topic"].as_str().unwrap_or_default();
    let url = given["delivery_url"].as_str().unwrap_or_default();
    if !TOPICS.contains(&topic) {
        return error(400, "rest_invalid_param", "Invalid parameter(s): topic");
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return error(400, "rest_invalid_param", "Invalid parameter(s): delivery_url");
    }
    let mut d = s.data.lock().expect("lock");
    d.next_webhook += 1;
    let id = d.next_webhook;
    let (resource, event) = topic.split_once('.').unwrap_or_default();
    let hook = json!({
        "id": id,
        "name": given["name"].as_str().unwrap_or("Webhook"),
        "status": given["status"].as_str().unwrap_or("active"),
        "topic": topic,
        "resource": resource,
        "event": event,
        "delivery_url": url,
        "secret": given["secret"].as_str().unwrap_or_default(),
        "date_created_gmt": gmt(Utc::now()),
    });
    d.webhooks.insert(id, hook.clone());
    json_response(StatusCode::CREATED, &listed(&hook))
}

async fn update_webhook(
    State(s): State<Arc<Shared>>,
    Path(id): Path<i64>,
    RawQuery(q): RawQuery,
    body: String,
) -> Response {
    if let Err(r) = authorize_as(&s, "PUT", &format!("/wp-json/wc/v3/webhooks/{id}"), &q) {
        return *r;
    }
    let Ok(given) = serde_json::from_str::<Value>(&body) else {
        return error(400, "rest_invalid_json", "Invalid JSON body passed.");
    };
    let mut d = s.data.lock().expect("lock");
    let Some(hook) = d.webhooks.get_mut(&id) else {
        return error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.");
    };
    for field in ["status", "name", "delivery_url", "secret"] {
        if let Some(v) = given.get(field) {
            hook[field] = v.clone();
        }
    }
    json_response(StatusCode::OK, &listed(hook))
}

async fn delete_webhook(State(s): State<Arc<Shared>>, Path(id): Path<i64>, RawQuery(q): RawQuery) -> Response {
    let params = match authorize_as(&s, "DELETE", &format!("/wp-json/wc/v3/webhooks/{id}"), &q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if params.get("force").map(String::as_str) != Some("true") {
        return error(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.");
    }
    match s.data.lock().expect("lock").webhooks.remove(&id) {
        Some(hook) => json_response(StatusCode::OK, &listed(&hook)),
        None => error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID."),
    }
}
