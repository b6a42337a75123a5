//! WooCommerce REST v3 client (`<store>/wp-json/wc/v3/`): HTTP Basic with the consumer key and
//! secret over HTTPS, OAuth 1.0a one-legged signing over plain HTTP (every query parameter signed,
//! key = secret + "&", base URL as the store knows it); pages of 100 with `X-WP-Total` /
//! `X-WP-TotalPages`; `{code, message, data.status}` errors mapped onto the shared classes; 429
//! and 5xx retried with backoff and `Retry-After`.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use url::Url;

use super::normalize::{CategoryPaths, WooCustomer, WooOrder, WooRefund};
use crate::error::{Error, Result};
use crate::http::oauth1;
use crate::http::retry::{Attempt, RetryPolicy, server_wait, with_retries};
use crate::ports::Secret;

/// WooCommerce refuses `per_page` over 100.
pub const MAX_PAGE_SIZE: u32 = 100;

pub struct WooConfig {
    /// The store's home URL exactly as WordPress knows it (OAuth signs it).
    pub store_url: Url,
    pub consumer_key: String,
    pub consumer_secret: Secret,
    pub allow_private_network: bool,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// Items per page (1 to [`MAX_PAGE_SIZE`]).
    pub page_size: u32,
    /// The connection's CA bundle (PEM), for a store behind a private CA.
    pub ca_pem: Option<String>,
}

pub struct WooClient {
    http: reqwest::Client,
    base: Url,
    key: String,
    secret: Secret,
    retry: RetryPolicy,
    page_size: u32,
    /// Category id → (name, parent id), loaded once.
    categories: tokio::sync::OnceCell<HashMap<i64, (String, i64)>>,
    /// Product id → category path, for a while: a webhook for an order of known products then
    /// needs no request to the store at all.
    product_paths: std::sync::Mutex<HashMap<i64, (Vec<String>, std::time::Instant)>>,
    /// Pages requested, for the poller's report and the benchmarks.
    pages: std::sync::atomic::AtomicU64,
}

/// How long a product's category path is trusted.
const PRODUCT_PATH_TTL: Duration = Duration::from_secs(600);

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<serde_json::Value>,
    pub total: u64,
    pub total_pages: u64,
}

fn header_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

impl WooClient {
    pub async fn connect(config: WooConfig) -> Result<WooClient> {
        let mut base = config.store_url.clone();
        let path = base.path().trim_end_matches('/').to_string();
        base.set_path(&path);
        let http =
            crate::http::guarded_client(&base, config.allow_private_network, config.timeout, config.ca_pem.as_deref())
                .await
                .map_err(|e| {
                    let message = anyhow::anyhow!("store {e}");
                    if e.is_retryable() { Error::retryable(message) } else { Error::permanent(message) }
                })?;
        Ok(WooClient {
            http,
            base,
            key: config.consumer_key,
            secret: config.consumer_secret,
            retry: config.retry,
            page_size: config.page_size.clamp(1, MAX_PAGE_SIZE),
            categories: tokio::sync::OnceCell::new(),
            product_paths: std::sync::Mutex::new(HashMap::new()),
            pages: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn pages_requested(&self) -> u64 {
        self.pages.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/wp-json/wc/v3{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// The GET request for `path` with `query`, authenticated as the store's scheme requires.
    pub fn request(&self, path: &str, query: &[(String, String)]) -> reqwest::RequestBuilder {
        self.request_with(reqwest::Method::GET, path, query)
    }

    /// A request with any method, authenticated as the store's scheme requires (OAuth signs the
    /// method and every query parameter; a JSON body is not signed).
    pub fn request_with(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
    ) -> reqwest::RequestBuilder {
        let url = self.url(path);
        let mut request = self.http.request(method.clone(), &url);
        if self.base.scheme() == "https" {
            request = request.query(query).basic_auth(&self.key, Some(self.secret.expose()));
        } else {
            let signer = oauth1::Signer { consumer_key: &self.key, consumer_secret: self.secret.expose(), token: None };
            let mut params: Vec<(String, String)> = query.to_vec();
            params.extend(signer.protocol_params(&oauth1::nonce(), chrono::Utc::now().timestamp()));
            let target = url::Url::parse(&url).expect("the store URL with a path is a URL");
            let signature = signer.signature(method.as_str(), &target, &params);
            params.push(("oauth_signature".into(), signature));
            request = request.query(&params);
        }
        request
    }

    async fn attempt(
        &self,
        method: &reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Attempt<(HeaderMap, String)>> {
        let mut request = self.request_with(method.clone(), path, query);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Retry {
                    error: crate::http::transport_error(&format!("WooCommerce {path}"), &e),
                    wait: None,
                    refused: false,
                });
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body =
            response.text().await.map_err(|e| crate::http::transport_error(&format!("WooCommerce {path}"), &e))?;
        if (200..300).contains(&status) {
            return Ok(Attempt::Done((headers, body)));
        }
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let code = parsed["code"].as_str().unwrap_or("").to_string();
        let message = parsed["message"].as_str().map(String::from).unwrap_or_else(|| format!("HTTP {status}"));
        let what = format!("WooCommerce {method} {path}: {message} ({code}, HTTP {status})");
        Ok(match status {
            429 | 500..=599 => Attempt::Retry {
                error: Error::retryable(anyhow::anyhow!(what)),
                wait: server_wait(&headers),
                refused: status == 429,
            },
            400 => return Err(Error::bad_input(what)),
            _ => return Err(Error::permanent(anyhow::anyhow!(what))),
        })
    }

    /// GET with retries of throttling and server errors.
    async fn get(&self, path: &str, query: &[(String, String)]) -> Result<(reqwest::header::HeaderMap, String)> {
        self.send(reqwest::Method::GET, path, query, None).await
    }

    /// Any request, retried on throttling and server errors. Writes are retried only when
    /// refused (429): a 5xx or a lost answer to a write may have been applied, so it is the
    /// caller's to look before trying again.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(reqwest::header::HeaderMap, String)> {
        let read = method == reqwest::Method::GET;
        with_retries(&self.retry, read, "WooCommerce", || self.attempt(&method, path, query, body)).await
    }

    pub async fn page(&self, path: &str, query: &[(String, String)], page: u64) -> Result<Page> {
        let mut q = query.to_vec();
        q.push(("per_page".into(), self.page_size.to_string()));
        q.push(("page".into(), page.to_string()));
        let (headers, body) = self.get(path, &q).await?;
        let items: Vec<serde_json::Value> = serde_json::from_str(&body)
            .map_err(|e| Error::bad_input(format!("WooCommerce {path}: not a JSON list: {e}")))?;
        Ok(Page {
            items,
            total: header_u64(&headers, "x-wp-total").unwrap_or(0),
            total_pages: header_u64(&headers, "x-wp-totalpages").unwrap_or(1),
        })
    }

    /// Every item of a list, page by page.
    pub async fn all(&self, path: &str, query: &[(String, String)]) -> Result<Vec<serde_json::Value>> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let p = self.page(path, query, page).await?;
            let done = page >= p.total_pages || p.items.is_empty();
            items.extend(p.items);
            if done {
                return Ok(items);
            }
            page += 1;
        }
    }

    /// An order as the store serves it, unparsed (so its `refunds` list can be read as given).
    pub async fn order_json(&self, id: i64) -> Result<serde_json::Value> {
        let (_, body) = self.get(&format!("/orders/{id}"), &[]).await?;
        serde_json::from_str(&body).map_err(|e| Error::bad_input(format!("WooCommerce order {id}: {e}")))
    }

    pub async fn order(&self, id: i64) -> Result<WooOrder> {
        let (_, body) = self.get(&format!("/orders/{id}"), &[]).await?;
        serde_json::from_str(&body).map_err(|e| Error::bad_input(format!("WooCommerce order {id}: {e}")))
    }

    pub async fn refunds(&self, order: i64) -> Result<Vec<WooRefund>> {
        self.all(&format!("/orders/{order}/refunds"), &[])
            .await?
            .into_iter()
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| Error::bad_input(format!("WooCommerce refund of order {order}: {e}")))
            })
            .collect()
    }

    pub async fn customer(&self, id: i64) -> Result<WooCustomer> {
        let (_, body) = self.get(&format!("/customers/{id}"), &[]).await?;
        serde_json::from_str(&body).map_err(|e| Error::bad_input(format!("WooCommerce customer {id}: {e}")))
    }

    /// Category paths of these products (orders carry product ids, not categories).
    pub async fn category_paths(&self, product_ids: &[i64]) -> Result<CategoryPaths> {
        let mut ids: Vec<i64> = product_ids.iter().copied().filter(|&i| i > 0).collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(CategoryPaths::new());
        }
        let tree = self
            .categories
            .get_or_try_init(|| async {
                let all = self.all("/products/categories", &[]).await?;
                Ok::<_, Error>(
                    all.iter()
                        .filter_map(|c| {
                            Some((
                                c["id"].as_i64()?,
                                (c["name"].as_str()?.to_string(), c["parent"].as_i64().unwrap_or(0)),
                            ))
                        })
                        .collect::<HashMap<_, _>>(),
                )
            })
            .await?;
        let mut paths = CategoryPaths::new();
        {
            let cached = self.product_paths.lock().expect("cache lock");
            ids.retain(|id| match cached.get(id) {
                Some((path, at)) if at.elapsed() < PRODUCT_PATH_TTL => {
                    paths.insert(*id, path.clone());
                    false
                }
                _ => true,
            });
        }
        if ids.is_empty() {
            return Ok(paths);
        }
        let include = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let products = self.all("/products", &[("include".into(), include)]).await?;
        for p in products {
            let (Some(id), Some(first)) =
                (p["id"].as_i64(), p["categories"].as_array().and_then(|c| c.first()).and_then(|c| c["id"].as_i64()))
            else {
                continue;
            };
            let mut path = Vec::new();
            let mut cursor = first;
            while let Some((name, parent)) = tree.get(&cursor).filter(|_| path.len() < 20) {
                path.push(name.clone());
                cursor = *parent;
            }
            path.reverse();
            paths.insert(id, path);
        }
        // Products the store no longer has, or that have no category, are remembered as having no
        // path: otherwise every order that sells one would ask the store again.
        let now = std::time::Instant::now();
        let mut cached = self.product_paths.lock().expect("cache lock");
        for id in ids {
            cached.insert(id, (paths.entry(id).or_default().clone(), now));
        }
        Ok(paths)
    }
}
