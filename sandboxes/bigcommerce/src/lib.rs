//! A sandbox BigCommerce store on a random loopback port, for tests, benchmarks and `mlc demo`,
//! following `../shared/reference/api-facts.md` §2: `X-Auth-Token`; Orders V2 with RFC-2822
//! dates, 4-decimal money strings, resource links, `page`/`limit` (413 over 250) and **204 with no
//! body** for an empty list; V3 refunds and customers in `{data, meta.pagination}`; `/v3/hooks`;
//! a request quota per window shared with "another client", reported in the `X-Rate-Limit-*`
//! headers, 429 with them when spent and 429 without them for platform load; webhook deliveries
//! signed with its own Standard Webhooks code ([`signing`]).

// The generated order is one large `json!` literal.
#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

pub mod signing;

pub struct BcOptions {
    pub store_hash: String,
    pub access_token: String,
    /// The app's client secret: what webhook signatures are keyed with.
    pub client_secret: String,
    /// Requests per window for the whole store (Standard plan: 150 per 30 s).
    pub quota: u32,
    pub window: Duration,
}

impl Default for BcOptions {
    fn default() -> Self {
        BcOptions {
            store_hash: "abc123xyz".into(),
            access_token: "bc-sandbox-token-5d7e1f".into(),
            client_secret: "bc-sandbox-client-secret-k3v9q2".into(),
            quota: 150,
            window: Duration::from_secs(30),
        }
    }
}

#[derive(Default)]
struct Order {
    order: Value,
    products: Vec<Value>,
    shipping_addresses: Vec<Value>,
    taxes: Vec<Value>,
    shipments: Vec<Value>,
}

struct Quota {
    started: Instant,
    used: u32,
    /// Taken by another app each window: the quota is the store's, shared.
    other_client: u32,
    /// 429s to answer without quota headers (platform load).
    platform_load: u32,
    throttled: u64,
}

struct Data {
    orders: BTreeMap<i64, Order>,
    /// Catalog: product id → (sku, name, category ids); categories: id → (parent id, name).
    products: BTreeMap<i64, (String, String, Vec<i64>)>,
    categories: BTreeMap<i64, (i64, String)>,
    /// Path prefixes the access token lacks the scope for (answered 403).
    denied: Vec<String>,
    refunds: Vec<Value>,
    customers: BTreeMap<i64, Value>,
    hooks: BTreeMap<i64, Value>,
    next_hook: i64,
    requests: u64,
    by_path: BTreeMap<String, u64>,
    quota: Quota,
}

struct Shared {
    options: BcOptions,
    data: Mutex<Data>,
}

pub struct BigCommerceSandbox {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

impl Drop for BigCommerceSandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn money(d: Decimal) -> String {
    format!("{:.4}", d.round_dp(4))
}

fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text)
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok().map(|n| n.and_utc()))
}

impl BigCommerceSandbox {
    pub async fn start(options: BcOptions) -> std::io::Result<BigCommerceSandbox> {
        let quota = Quota { started: Instant::now(), used: 0, other_client: 0, platform_load: 0, throttled: 0 };
        // The catalogue the generated orders sell: BC-0…BC-4 in two category branches.
        let categories = BTreeMap::from([
            (18, (0, "Shop".to_string())),
            (19, (18, "Books".to_string())),
            (20, (18, "Garden".to_string())),
        ]);
        let products = (0..5)
            .map(|n| (100 + n, (format!("BC-{n}"), format!("Item {n}"), vec![if n % 2 == 0 { 19 } else { 20 }])))
            .collect();
        let data = Data {
            orders: BTreeMap::new(),
            products,
            categories,
            denied: Vec::new(),
            refunds: Vec::new(),
            customers: BTreeMap::new(),
            hooks: BTreeMap::new(),
            next_hook: 0,
            requests: 0,
            by_path: BTreeMap::new(),
            quota,
        };
        let hash = options.store_hash.clone();
        let shared = Arc::new(Shared { options, data: Mutex::new(data) });
        let api = axum::Router::new()
            .route("/v2/orders", get(list_orders))
            .route("/v2/orders/{id}", get(one_order))
            .route("/v2/orders/{id}/{sub}", get(order_sub))
            .route("/v2/orders/{id}/shipments/{shipment}", get(one_shipment))
            .route("/v2/store", get(store_info))
            .route("/v3/catalog/products", get(list_products))
            .route("/v3/catalog/categories", get(list_categories))
            .route("/v3/orders/payment_actions/refunds", get(list_refunds))
            .route("/v3/customers", get(list_customers))
            .route("/v3/channels", get(master_data))
            .route("/v2/customer_groups", get(master_data))
            .route("/v2/payments/methods", get(master_data))
            .route("/v2/shipping/zones", get(master_data))
            .route("/v2/shipping/zones/{id}/methods", get(master_data))
            .route("/v3/hooks", get(list_hooks).post(create_hook))
            .route("/v3/hooks/{id}", axum::routing::put(update_hook).delete(delete_hook))
            .with_state(shared.clone());
        let app = axum::Router::new().nest(&format!("/stores/{hash}"), api).fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!([{ "status": 404, "message": "The requested resource was not found." }])),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(BigCommerceSandbox { url, shared, server, http: reqwest::Client::new() })
    }

    /// `…/stores/{store_hash}`: what the client's base URL is.
    pub fn api_base(&self) -> String {
        format!("{}/stores/{}", self.url, self.shared.options.store_hash)
    }

    pub fn options(&self) -> &BcOptions {
        &self.shared.options
    }

    pub fn requests(&self) -> u64 {
        self.shared.data.lock().expect("lock").requests
    }

    pub fn requests_to(&self, path: &str) -> u64 {
        self.shared.data.lock().expect("lock").by_path.get(path).copied().unwrap_or(0)
    }

    /// 429s answered so far (with or without quota headers).
    pub fn throttled(&self) -> u64 {
        self.shared.data.lock().expect("lock").quota.throttled
    }

    /// Another app uses `n` requests of every window.
    pub fn other_client_uses(&self, n: u32) {
        self.shared.data.lock().expect("lock").quota.other_client = n;
    }

    /// The next `n` requests get 429 without quota headers, as under platform-wide load.
    pub fn platform_load(&self, n: u32) {
        self.shared.data.lock().expect("lock").quota.platform_load = n;
    }

    /// An order of `lines` product lines at 10.0000 each (20% tax, exclusive), shipping 5.0000,
    /// with one shipping address. Status id 11 is Awaiting Fulfillment.
    pub fn add_order(&self, id: i64, customer_id: i64, status_id: i64, modified: DateTime<Utc>, lines: usize) -> Value {
        self.add_order_with(id, customer_id, status_id, modified, lines, OrderStyle::default())
    }

    /// As [`add_order`](Self::add_order), in another style: tax-inclusive pricing (the ex-tax
    /// figures are then BigCommerce's estimates, a few cents off, as they can be), or another
    /// display and transactional currency.
    pub fn add_order_with(
        &self,
        id: i64,
        customer_id: i64,
        status_id: i64,
        modified: DateTime<Utc>,
        lines: usize,
        style: OrderStyle,
    ) -> Value {
        let estimate = if style.tax_inclusive { Decimal::new(3, 2) } else { Decimal::ZERO };
        let unit = Decimal::new(10, 0);
        let rate = Decimal::new(20, 2);
        let products: Vec<Value> = (0..lines)
            .map(|n| {
                let line_id = id * 1000 + n as i64;
                json!({
                    "id": line_id, "order_id": id, "product_id": 100 + (n % 5) as i64, "variant_id": 200 + (n % 5) as i64,
                    "name": format!("Item {}", n % 5), "sku": format!("BC-{}", n % 5), "quantity": 1,
                    "base_price": money(unit), "price_ex_tax": money(unit + estimate), "price_inc_tax": money(unit * (Decimal::ONE + rate)),
                    "price_tax": money(unit * rate), "total_ex_tax": money(unit + estimate), "total_inc_tax": money(unit * (Decimal::ONE + rate)),
                    "total_tax": money(unit * rate), "applied_discounts": [], "parent_order_product_id": null,
                    "quantity_shipped": 0, "quantity_refunded": 0, "refund_amount": "0.0000", "is_refunded": false
                })
            })
            .collect();
        let subtotal = unit * Decimal::from(lines);
        let shipping = Decimal::new(5, 0);
        let tax = subtotal * rate + shipping * rate;
        let address = json!({
            "first_name": "Ada", "last_name": "Lovelace", "company": "", "street_1": "12 Rue de Rivoli", "street_2": "",
            "city": "Paris", "state": "", "zip": "75001", "country": "France", "country_iso2": "FR",
            "phone": "", "email": format!("customer{customer_id}@example.com")
        });
        let base = format!("{}/v2/orders/{id}", self.api_base());
        let order = json!({
            "id": id, "customer_id": customer_id, "status_id": status_id, "status": status_name(status_id),
            "date_created": rfc2822(modified), "date_modified": rfc2822(modified),
            "subtotal_ex_tax": money(subtotal), "subtotal_inc_tax": money(subtotal * (Decimal::ONE + rate)), "subtotal_tax": money(subtotal * rate),
            "base_shipping_cost": money(shipping), "shipping_cost_ex_tax": money(shipping), "shipping_cost_inc_tax": money(shipping * (Decimal::ONE + rate)),
            "shipping_cost_tax": money(shipping * rate), "handling_cost_ex_tax": "0.0000", "handling_cost_inc_tax": "0.0000", "handling_cost_tax": "0.0000",
            "wrapping_cost_ex_tax": "0.0000", "wrapping_cost_inc_tax": "0.0000", "wrapping_cost_tax": "0.0000",
            "total_ex_tax": money(subtotal + shipping), "total_inc_tax": money(subtotal + shipping + tax), "total_tax": money(tax),
            "items_total": lines, "items_shipped": 0, "discount_amount": "0.0000", "coupon_discount": "0.0000", "refunded_amount": "0.0000",
            "is_tax_inclusive_pricing": style.tax_inclusive, "payment_method": "Credit Card", "payment_status": "captured",
            "currency_code": style.display_currency, "default_currency_code": style.currency, "store_default_currency_code": "EUR",
            "currency_exchange_rate": if style.display_currency == style.currency { "1.0000000000" } else { "1.1700000000" }, "is_deleted": false, "channel_id": 1, "external_id": null,
            "billing_address": address,
            "products": { "url": format!("{base}/products"), "resource": format!("/orders/{id}/products") },
            "shipping_addresses": { "url": format!("{base}/shipping_addresses"), "resource": format!("/orders/{id}/shipping_addresses") },
            "coupons": { "url": format!("{base}/coupons"), "resource": format!("/orders/{id}/coupons") }
        });
        let mut shipping_address = address.clone();
        shipping_address["id"] = (id * 10).into();
        shipping_address["order_id"] = id.into();
        shipping_address["shipping_method"] = "Flat Rate".into();
        shipping_address["base_cost"] = money(shipping).into();
        shipping_address["cost_ex_tax"] = money(shipping).into();
        shipping_address["cost_inc_tax"] = money(shipping * (Decimal::ONE + rate)).into();
        shipping_address["cost_tax"] = money(shipping * rate).into();
        // `/taxes`: one entry per taxed line, as BigCommerce allocates tax.
        let tax_entry = |n: usize, kind: &str, product: Option<i64>, amount: Decimal| {
            json!({ "id": id * 100 + n as i64, "order_id": id, "order_address_id": id * 10, "tax_rate_id": 1,
                    "tax_class_id": 0, "name": "VAT", "class": "Default Tax Class", "rate": "20.0000", "priority": 0,
                    "priority_amount": money(amount), "line_amount": money(amount), "order_product_id": product,
                    "line_item_type": kind })
        };
        let mut taxes: Vec<Value> =
            products.iter().enumerate().map(|(n, p)| tax_entry(n, "item", p["id"].as_i64(), unit * rate)).collect();
        taxes.push(tax_entry(lines, "shipping", None, shipping * rate));
        let mut d = self.shared.data.lock().expect("lock");
        d.orders.insert(
            id,
            Order {
                order: order.clone(),
                products,
                shipping_addresses: vec![shipping_address],
                taxes,
                shipments: Vec::new(),
            },
        );
        order
    }

    pub fn order(&self, id: i64) -> Value {
        self.shared.data.lock().expect("lock").orders[&id].order.clone()
    }

    /// Edits an order's JSON in place (its billing e-mail, say).
    pub fn edit_order(&self, id: i64, edit: impl FnOnce(&mut Value)) {
        edit(&mut self.shared.data.lock().expect("lock").orders.get_mut(&id).expect("order").order);
    }

    /// Changes an order's status (and its modified date), as the store's admin would.
    pub fn set_status(&self, id: i64, status_id: i64, modified: DateTime<Utc>) {
        let mut d = self.shared.data.lock().expect("lock");
        let o = &mut d.orders.get_mut(&id).expect("order").order;
        o["status_id"] = status_id.into();
        o["status"] = status_name(status_id).into();
        o["date_modified"] = rfc2822(modified).into();
    }

    /// Ships `items` (order product id, quantity) of an order with one tracking number, as the
    /// admin does: the products' `quantity_shipped`, the order's `items_shipped` and status
    /// (Shipped or Partially Shipped) and its modified date follow. A shipment has no status.
    pub fn add_shipment(
        &self,
        order_id: i64,
        shipment_id: i64,
        items: &[(i64, i64)],
        carrier: &str,
        tracking: &str,
        at: DateTime<Utc>,
    ) -> Value {
        let mut d = self.shared.data.lock().expect("lock");
        let o = d.orders.get_mut(&order_id).expect("order");
        let mut lines = Vec::new();
        for (line, quantity) in items {
            let p = o.products.iter_mut().find(|p| p["id"].as_i64() == Some(*line)).expect("order product");
            p["quantity_shipped"] = (p["quantity_shipped"].as_i64().unwrap_or(0) + quantity).into();
            lines.push(json!({ "order_product_id": line, "product_id": p["product_id"], "quantity": quantity }));
        }
        let shipped: i64 = o.products.iter().map(|p| p["quantity_shipped"].as_i64().unwrap_or(0)).sum();
        let total: i64 = o.products.iter().map(|p| p["quantity"].as_i64().unwrap_or(0)).sum();
        let address = o.shipping_addresses.first().cloned().unwrap_or(Value::Null);
        let shipment = json!({
            "id": shipment_id, "order_id": order_id, "customer_id": o.order["customer_id"], "order_address_id": address["id"],
            "date_created": rfc2822(at), "tracking_number": tracking, "shipping_method": "Flat Rate",
            "shipping_provider": carrier.to_lowercase(), "tracking_carrier": carrier.to_lowercase(),
            "shipping_provider_display_name": carrier, "tracking_link": "",
            "generated_tracking_link": format!("https://track.example/{tracking}"), "merchant_shipping_cost": "0.0000",
            "comments": "", "billing_address": o.order["billing_address"], "shipping_address": address, "items": lines
        });
        o.shipments.push(shipment.clone());
        let status = if shipped >= total { 2 } else { 3 };
        o.order["items_shipped"] = shipped.into();
        o.order["status_id"] = status.into();
        o.order["status"] = status_name(status).into();
        o.order["date_modified"] = rfc2822(at).into();
        o.order["date_shipped"] = rfc2822(at).into();
        shipment
    }

    /// Takes a scope away from the access token: requests under `path_prefix` answer 403.
    pub fn deny(&self, path_prefix: &str) {
        self.shared.data.lock().expect("lock").denied.push(path_prefix.to_string());
    }

    /// A catalogue product, in `categories`.
    pub fn add_product(&self, id: i64, sku: &str, name: &str, categories: &[i64]) {
        let mut d = self.shared.data.lock().expect("lock");
        d.products.insert(id, (sku.to_string(), name.to_string(), categories.to_vec()));
    }

    pub fn add_customer(&self, id: i64, email: &str, first: &str, last: &str, modified: DateTime<Utc>) -> Value {
        let c = json!({
            "id": id, "email": email, "first_name": first, "last_name": last, "company": "", "phone": "",
            "customer_group_id": 0, "date_created": modified.to_rfc3339(), "date_modified": modified.to_rfc3339(),
            "addresses": [ { "id": id * 10, "customer_id": id, "first_name": first, "last_name": last, "address1": "1 High St",
                             "address2": "", "city": "London", "state_or_province": "", "postal_code": "N1 1AA",
                             "country_code": "GB", "phone": "", "address_type": "residential" } ]
        });
        self.shared.data.lock().expect("lock").customers.insert(id, c.clone());
        c
    }

    /// Another address in a customer's address book (and a newer modified date).
    pub fn add_customer_address(&self, id: i64, street: &str, city: &str, postcode: &str, modified: DateTime<Utc>) {
        let mut d = self.shared.data.lock().expect("lock");
        let c = d.customers.get_mut(&id).expect("customer");
        let n = c["addresses"].as_array().map_or(0, Vec::len) as i64;
        let address = json!({ "id": id * 10 + n, "customer_id": id, "first_name": c["first_name"], "last_name": c["last_name"],
                              "address1": street, "address2": "", "city": city, "state_or_province": "", "postal_code": postcode,
                              "country_code": "GB", "phone": "", "address_type": "residential" });
        c["addresses"].as_array_mut().expect("addresses").push(address);
        c["date_modified"] = modified.to_rfc3339().into();
    }

    /// A V3 refund of `items` (`item_type`, `item_id`, `quantity`, `requested_amount`).
    pub fn add_refund(
        &self,
        order_id: i64,
        refund_id: i64,
        items: Value,
        total: &str,
        tax: &str,
        at: DateTime<Utc>,
    ) -> Value {
        let r = json!({
            "id": refund_id, "order_id": order_id, "user_id": 0, "created": at.to_rfc3339(), "reason": "returned",
            "total_amount": total, "total_tax": tax, "uses_merchant_override_values": false, "items": items,
            "payments": [ { "id": refund_id * 10, "provider_id": "braintree", "amount": total, "offline": false,
                            "is_declined": false, "declined_message": "" } ]
        });
        self.shared.data.lock().expect("lock").refunds.push(r.clone());
        r
    }

    pub fn hooks(&self) -> Vec<Value> {
        self.shared.data.lock().expect("lock").hooks.values().cloned().collect()
    }

    /// Deactivates a hook, as BigCommerce does after about 48 hours of failed deliveries, at
    /// `at` (its `updated_at`).
    pub fn deactivate_hook(&self, id: i64, at: DateTime<Utc>) {
        if let Some(h) = self.shared.data.lock().expect("lock").hooks.get_mut(&id) {
            h["is_active"] = false.into();
            h["updated_at"] = at.timestamp().into();
        }
    }

    /// Delivers a thin callback to `url` as BigCommerce does: JSON `{scope, store_id, data, hash,
    /// created_at, producer}` with Standard Webhooks headers signed by the client secret.
    pub async fn deliver(&self, url: &str, scope: &str, data: Value, webhook_id: &str) -> u16 {
        let hash_source = format!("{scope}{data}");
        let body = json!({
            "scope": scope, "store_id": "1025646", "data": data,
            "hash": hex_sha1(&hash_source), "created_at": 1561479335,
            "producer": format!("stores/{}", self.shared.options.store_hash)
        })
        .to_string();
        let ts = Utc::now().timestamp();
        let signature = signing::webhook_signature(&self.shared.options.client_secret, webhook_id, ts, &body);
        // The `headers` a hook was created with go with each of its callbacks.
        let custom: Vec<(String, String)> = {
            let d = self.shared.data.lock().expect("lock");
            d.hooks
                .values()
                .find(|h| h["scope"] == scope && h["destination"] == url)
                .and_then(|h| h["headers"].as_object().cloned())
                .map(|m| m.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_string()))).collect())
                .unwrap_or_default()
        };
        let mut request = self.http.post(url);
        for (k, v) in custom {
            request = request.header(k, v);
        }
        let response = request
            .header("content-type", "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        response.map(|r| r.status().as_u16()).unwrap_or(0)
    }
}

/// How an order is priced and in which currencies.
pub struct OrderStyle {
    pub tax_inclusive: bool,
    /// `currency_code`: what the storefront showed.
    pub display_currency: &'static str,
    /// `default_currency_code`: what the shopper paid in.
    pub currency: &'static str,
}

impl Default for OrderStyle {
    fn default() -> Self {
        OrderStyle { tax_inclusive: false, display_currency: "EUR", currency: "EUR" }
    }
}

fn hex_sha1(text: &str) -> String {
    use sha2::Digest;
    // BigCommerce's `hash` is a SHA-1; for the sandbox any stable digest of the data does.
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

fn status_name(id: i64) -> &'static str {
    match id {
        0 => "Incomplete",
        1 => "Pending",
        2 => "Shipped",
        3 => "Partially Shipped",
        4 => "Refunded",
        5 => "Cancelled",
        6 => "Declined",
        7 => "Awaiting Payment",
        9 => "Awaiting Shipment",
        10 => "Completed",
        11 => "Awaiting Fulfillment",
        14 => "Partially Refunded",
        _ => "Pending",
    }
}

fn query(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn v2_error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(json!([{ "status": status, "message": message }]))).into_response()
}

fn v3_error(status: u16, title: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(json!({ "status": status, "title": title, "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes", "errors": {} })))
        .into_response()
}

/// Authenticates, counts and meters a request; the quota headers to send, or the refusal.
fn admit(s: &Shared, headers: &HeaderMap, path: &str) -> Result<Vec<(&'static str, String)>, Box<Response>> {
    let mut d = s.data.lock().expect("lock");
    d.requests += 1;
    *d.by_path.entry(path.to_string()).or_default() += 1;
    if headers.get("x-auth-token").and_then(|v| v.to_str().ok()) != Some(s.options.access_token.as_str()) {
        return Err(Box::new(v2_error(401, "You have not been authorized to make this request.")));
    }
    if d.denied.iter().any(|p| path.starts_with(p.as_str())) {
        return Err(Box::new(v3_error(403, "You don't have a required scope to access the endpoint")));
    }
    let q = &mut d.quota;
    if q.started.elapsed() >= s.options.window {
        q.started = Instant::now();
        q.used = 0;
    }
    if q.platform_load > 0 {
        q.platform_load -= 1;
        q.throttled += 1;
        return Err(Box::new(v2_error(429, "Too many requests")));
    }
    let share = s.options.quota.saturating_sub(q.other_client);
    let reset = s.options.window.saturating_sub(q.started.elapsed()).as_millis().to_string();
    let mut meter = vec![
        ("x-rate-limit-time-window-ms", s.options.window.as_millis().to_string()),
        ("x-rate-limit-time-reset-ms", reset),
        ("x-rate-limit-requests-quota", share.to_string()),
    ];
    if q.used >= share {
        q.throttled += 1;
        meter.push(("x-rate-limit-requests-left", "0".into()));
        let mut r = v2_error(429, "Too many requests");
        for (k, v) in meter {
            r.headers_mut().insert(k, v.parse().expect("header"));
        }
        return Err(Box::new(r));
    }
    q.used += 1;
    meter.push(("x-rate-limit-requests-left", (share - q.used).to_string()));
    Ok(meter)
}

fn with_meter(mut r: Response, meter: Vec<(&'static str, String)>) -> Response {
    for (k, v) in meter {
        r.headers_mut().insert(k, v.parse().expect("header"));
    }
    r
}

/// A V2 list page, or 204 with no body when it is empty (also past the end).
fn v2_page(items: Vec<Value>, q: &BTreeMap<String, String>, default_limit: usize) -> Response {
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(default_limit);
    if limit > 250 {
        return v2_error(413, "The limit is too large.");
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * limit).take(limit).collect();
    if slice.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    axum::Json(Value::Array(slice)).into_response()
}

fn v3_page(items: Vec<Value>, q: &BTreeMap<String, String>) -> Response {
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(50).clamp(1, 250);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * limit).take(limit).collect();
    let pages = total.div_ceil(limit).max(1);
    axum::Json(json!({ "data": slice, "meta": { "pagination": {
        "total": total, "count": 0, "per_page": limit, "current_page": page, "total_pages": pages, "links": {} } } }))
    .into_response()
}

async fn list_orders(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let meter = match admit(&s, &headers, "/v2/orders") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    let min = q.get("min_date_modified").and_then(|t| parse_date(t));
    let max = q.get("max_date_modified").and_then(|t| parse_date(t));
    let mut items: Vec<Value> = d
        .orders
        .values()
        .map(|o| o.order.clone())
        .filter(|o| {
            let m = o["date_modified"].as_str().and_then(parse_date);
            min.is_none_or(|min| m.is_some_and(|m| m >= min)) && max.is_none_or(|max| m.is_some_and(|m| m <= max))
        })
        .collect();
    if q.get("sort").map(String::as_str) == Some("date_modified:asc") {
        items.sort_by_key(|o| (o["date_modified"].as_str().and_then(parse_date), o["id"].as_i64()));
    }
    with_meter(v2_page(items, &q, 50), meter)
}

async fn one_order(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let meter = match admit(&s, &headers, &format!("/v2/orders/{id}")) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    match d.orders.get(&id) {
        Some(o) => with_meter(axum::Json(o.order.clone()).into_response(), meter),
        None => with_meter(v2_error(404, "The requested resource was not found."), meter),
    }
}

async fn order_sub(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, sub)): Path<(i64, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    let meter = match admit(&s, &headers, &format!("/v2/orders/{id}/{sub}")) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    let Some(o) = d.orders.get(&id) else {
        return with_meter(v2_error(404, "The requested resource was not found."), meter);
    };
    let items = match sub.as_str() {
        "products" => o.products.clone(),
        "shipping_addresses" => o.shipping_addresses.clone(),
        "shipments" => o.shipments.clone(),
        "taxes" => o.taxes.clone(),
        "coupons" | "fees" => Vec::new(),
        _ => return with_meter(v2_error(404, "The requested resource was not found."), meter),
    };
    with_meter(v2_page(items, &q, 50), meter)
}

async fn list_refunds(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let meter = match admit(&s, &headers, "/v3/orders/payment_actions/refunds") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    let list =
        |k: &str| q.get(k).map(|l| l.split(',').filter_map(|i| i.trim().parse::<i64>().ok()).collect::<Vec<_>>());
    let (orders, ids) = (list("order_id:in"), list("id:in"));
    let min = q.get("created:min").and_then(|t| parse_date(t));
    let items: Vec<Value> = d
        .refunds
        .iter()
        .filter(|r| orders.as_ref().is_none_or(|o| r["order_id"].as_i64().is_some_and(|id| o.contains(&id))))
        .filter(|r| ids.as_ref().is_none_or(|i| r["id"].as_i64().is_some_and(|id| i.contains(&id))))
        .filter(|r| min.is_none_or(|min| r["created"].as_str().and_then(parse_date).is_some_and(|c| c >= min)))
        .cloned()
        .collect();
    with_meter(v3_page(items, &q), meter)
}

async fn list_customers(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let meter = match admit(&s, &headers, "/v3/customers") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    let ids: Option<Vec<i64>> = q.get("id:in").map(|l| l.split(',').filter_map(|i| i.trim().parse().ok()).collect());
    let min = q.get("date_modified:min").and_then(|t| parse_date(t));
    let with_addresses = q.get("include").is_some_and(|i| i.split(',').any(|p| p == "addresses"));
    let items: Vec<Value> = d
        .customers
        .values()
        .filter(|c| ids.as_ref().is_none_or(|ids| c["id"].as_i64().is_some_and(|id| ids.contains(&id))))
        .filter(|c| min.is_none_or(|min| c["date_modified"].as_str().and_then(parse_date).is_some_and(|m| m >= min)))
        .map(|c| {
            let mut c = c.clone();
            if !with_addresses && let Some(o) = c.as_object_mut() {
                o.remove("addresses");
            }
            c
        })
        .collect();
    with_meter(v3_page(items, &q), meter)
}

/// The store's settings that mapping rules name: channels, customer groups, payment methods,
/// shipping zones and their methods, in the V2 and V3 shapes.
async fn master_data(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    // Inside the `/stores/{hash}` nest the path is the API's own (`/v3/channels`).
    let path = uri.path().to_string();
    let meter = match admit(&s, &headers, &path) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let items: Vec<Value> = match path.as_str() {
        "/v3/channels" => vec![
            json!({ "id": 1, "name": "Sandbox Store", "platform": "bigcommerce", "type": "storefront", "status": "active" }),
            json!({ "id": 664177, "name": "Amazon EU", "platform": "amazon", "type": "marketplace", "status": "active" }),
        ],
        "/v2/customer_groups" => vec![
            json!({ "id": 1, "name": "Retail", "is_default": true, "category_access": { "type": "all" } }),
            json!({ "id": 2, "name": "Wholesale", "is_default": false, "category_access": { "type": "all" } }),
        ],
        "/v2/payments/methods" => vec![
            json!({ "code": "braintree", "name": "Credit Card", "test_mode": true }),
            json!({ "code": "cod", "name": "Cash on Delivery", "test_mode": false }),
        ],
        "/v2/shipping/zones" => vec![json!({ "id": 1, "name": "Europe", "type": "global", "enabled": true })],
        "/v2/shipping/zones/1/methods" => vec![
            json!({ "id": 1, "name": "Flat Rate", "type": "perorder", "enabled": true, "settings": { "rate": 4.9 } }),
            json!({ "id": 2, "name": "Free Shipping", "type": "freeshipping", "enabled": false, "settings": {} }),
        ],
        _ => return with_meter(StatusCode::NOT_FOUND.into_response(), meter),
    };
    let page = if path.starts_with("/v3/") { v3_page(items, &q) } else { v2_page(items, &q, 50) };
    with_meter(page, meter)
}

async fn list_hooks(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let meter = match admit(&s, &headers, "/v3/hooks") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let hooks: Vec<Value> = s.data.lock().expect("lock").hooks.values().cloned().collect();
    with_meter(v3_page(hooks, &q), meter)
}

async fn create_hook(State(s): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let meter = match admit(&s, &headers, "/v3/hooks") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let Ok(given) = serde_json::from_str::<Value>(&body) else {
        return with_meter(v3_error(400, "Bad Request"), meter);
    };
    let (Some(scope), Some(destination)) = (given["scope"].as_str(), given["destination"].as_str()) else {
        return with_meter(v3_error(422, "scope and destination are required"), meter);
    };
    let mut d = s.data.lock().expect("lock");
    if d.hooks.values().any(|h| h["scope"] == scope && h["destination"] == destination) {
        return with_meter(v3_error(422, "A hook with this scope and destination exists"), meter);
    }
    d.next_hook += 1;
    let id = d.next_hook;
    let hook = json!({ "id": id, "scope": scope, "destination": destination,
                       "is_active": given["is_active"].as_bool().unwrap_or(true), "headers": given["headers"].clone(),
                       "created_at": Utc::now().timestamp(), "updated_at": Utc::now().timestamp() });
    d.hooks.insert(id, hook.clone());
    with_meter((StatusCode::OK, axum::Json(json!({ "data": hook, "meta": {} }))).into_response(), meter)
}

async fn update_hook(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<i64>, body: String) -> Response {
    let meter = match admit(&s, &headers, &format!("/v3/hooks/{id}")) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let Ok(given) = serde_json::from_str::<Value>(&body) else {
        return with_meter(v3_error(400, "Bad Request"), meter);
    };
    let mut d = s.data.lock().expect("lock");
    let Some(hook) = d.hooks.get_mut(&id) else { return with_meter(v3_error(404, "Not Found"), meter) };
    for field in ["is_active", "destination", "headers"] {
        if let Some(v) = given.get(field) {
            hook[field] = v.clone();
        }
    }
    hook["updated_at"] = Utc::now().timestamp().into();
    let hook = hook.clone();
    with_meter(axum::Json(json!({ "data": hook, "meta": {} })).into_response(), meter)
}

async fn delete_hook(State(s): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let meter = match admit(&s, &headers, &format!("/v3/hooks/{id}")) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    match s.data.lock().expect("lock").hooks.remove(&id) {
        Some(hook) => with_meter(axum::Json(json!({ "data": hook, "meta": {} })).into_response(), meter),
        None => with_meter(v3_error(404, "Not Found"), meter),
    }
}

async fn one_shipment(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, shipment)): Path<(i64, i64)>,
) -> Response {
    let meter = match admit(&s, &headers, &format!("/v2/orders/{id}/shipments/{shipment}")) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    match d.orders.get(&id).and_then(|o| o.shipments.iter().find(|x| x["id"].as_i64() == Some(shipment))) {
        Some(x) => with_meter(axum::Json(x.clone()).into_response(), meter),
        None => with_meter(v2_error(404, "The requested resource was not found."), meter),
    }
}

/// `GET /v2/store`: the store's profile (name, domain, currency, timezone).
async fn store_info(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let meter = match admit(&s, &headers, "/v2/store") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let body = json!({
        "id": s.options.store_hash, "domain": "sandbox.mybigcommerce.com", "secure_url": "https://sandbox.mybigcommerce.com",
        "name": "Sandbox Store", "currency": "EUR", "currency_symbol": "€", "decimal_places": 2,
        "timezone": { "name": "Etc/UTC", "raw_offset": 0, "dst_offset": 0 }, "plan_name": "Standard"
    });
    with_meter(axum::Json(body).into_response(), meter)
}

async fn list_products(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let meter = match admit(&s, &headers, "/v3/catalog/products") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    let ids: Option<Vec<i64>> = q.get("id:in").map(|l| l.split(',').filter_map(|i| i.trim().parse().ok()).collect());
    let items: Vec<Value> = d
        .products
        .iter()
        .filter(|(id, _)| ids.as_ref().is_none_or(|ids| ids.contains(id)))
        .map(|(id, (sku, name, categories))| json!({ "id": id, "sku": sku, "name": name, "categories": categories, "type": "physical" }))
        .collect();
    with_meter(v3_page(items, &q), meter)
}

async fn list_categories(State(s): State<Arc<Shared>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let meter = match admit(&s, &headers, "/v3/catalog/categories") {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let d = s.data.lock().expect("lock");
    let items: Vec<Value> = d
        .categories
        .iter()
        .map(|(id, (parent, name))| json!({ "id": id, "parent_id": parent, "name": name, "is_visible": true }))
        .collect();
    with_meter(v3_page(items, &q), meter)
}
