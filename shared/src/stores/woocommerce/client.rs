//! WooCommerce REST v3 client (`<store>/wp-json/wc/v3/`): HTTP Basic with the consumer key and
//! secret over HTTPS, OAuth 1.0a one-legged signing over plain HTTP (every query parameter signed,
//! key = secret + "&", base URL as the store knows it); pages of 100 with `X-WP-Total` /
//! `X-WP-TotalPages`; `{code, message, data.status}` errors mapped onto the shared classes; 429
//! and 5xx retried with backoff and `Retry-After`.

use std::collections::HashMap;
use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

use super::normalize::{CategoryPaths, WooCustomer, WooOrder, WooRefund};
use crate::error::{Error, Result};
use crate::odoo::RetryPolicy;
use crate::ports::Secret;

pub const PER_PAGE: u32 = 100;

pub struct WooConfig {
    /// The store's home URL exactly as WordPress knows it (OAuth signs it).
    pub store_url: Url,
    pub consumer_key: String,
    pub consumer_secret: Secret,
    pub allow_private_network: bool,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

pub struct WooClient {
    http: reqwest::Client,
    base: Url,
    key: String,
    secret: Secret,
    retry: RetryPolicy,
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

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (OAuth's encoding).
pub fn rfc3986(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The OAuth 1.0a signature WooCommerce checks: params sorted by key (byte order), encoded,
/// joined; base string `METHOD&enc(url)&enc(params)`; HMAC-SHA256 keyed by `secret&`.
pub fn oauth_signature(method: &str, base_url: &str, params: &[(String, String)], consumer_secret: &str) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "oauth_signature").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.as_bytes().cmp(b.1.as_bytes())));
    let joined = sorted.iter().map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v))).collect::<Vec<_>>().join("&");
    let base = format!("{}&{}&{}", method.to_uppercase(), rfc3986(base_url), rfc3986(&joined));
    let mut mac = Hmac::<Sha256>::new_from_slice(format!("{consumer_secret}&").as_bytes()).expect("any key length");
    mac.update(base.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
}

fn header_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

enum Attempt {
    Done(reqwest::header::HeaderMap, String),
    Retry(Error, Option<Duration>),
}

impl WooClient {
    pub async fn connect(config: WooConfig) -> Result<WooClient> {
        let mut base = config.store_url.clone();
        let path = base.path().trim_end_matches('/').to_string();
        base.set_path(&path);
        let host = base.host_str().ok_or_else(|| Error::bad_input("the store URL has no host"))?.to_string();
        let port = base.port_or_known_default().unwrap_or(443);
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Error::retryable(anyhow::anyhow!("resolving {host}: {e}")))?
            .collect();
        if let Some(bad) = addrs.iter().find(|a| crate::odoo::endpoint::is_metadata(a.ip())) {
            return Err(Error::permanent(anyhow::anyhow!(
                "store {host} resolves to {}, a cloud metadata service, which is never reached",
                bad.ip()
            )));
        }
        if !config.allow_private_network
            && let Some(bad) = addrs.iter().find(|a| !crate::odoo::endpoint::is_public(a.ip()))
        {
            return Err(Error::permanent(anyhow::anyhow!(
                "store {host} resolves to {}, a non-public address; allow private networks on the connection if intended",
                bad.ip()
            )));
        }
        let http = reqwest::Client::builder()
            .resolve_to_addrs(&host, &addrs)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .user_agent(concat!("ml-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::permanent(anyhow::anyhow!("building the HTTP client: {e}")))?;
        Ok(WooClient {
            http,
            base,
            key: config.consumer_key,
            secret: config.consumer_secret,
            retry: config.retry,
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
        let url = self.url(path);
        let mut request = self.http.get(&url);
        if self.base.scheme() == "https" {
            request = request.query(query).basic_auth(&self.key, Some(self.secret.expose()));
        } else {
            let mut params: Vec<(String, String)> = query.to_vec();
            params.push(("oauth_consumer_key".into(), self.key.clone()));
            params.push(("oauth_nonce".into(), uuid::Uuid::new_v4().simple().to_string()));
            params.push(("oauth_signature_method".into(), "HMAC-SHA256".into()));
            params.push(("oauth_timestamp".into(), chrono::Utc::now().timestamp().to_string()));
            let signature = oauth_signature("GET", &url, &params, self.secret.expose());
            params.push(("oauth_signature".into(), signature));
            request = request.query(&params);
        }
        request
    }

    async fn attempt(&self, path: &str, query: &[(String, String)]) -> Result<Attempt> {
        let request = self.request(path, query);
        self.pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Retry(
                    Error::retryable(anyhow::anyhow!("WooCommerce {path}: {}", e.without_url())),
                    None,
                ));
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .map_err(|e| Error::retryable(anyhow::anyhow!("WooCommerce {path}: {}", e.without_url())))?;
        if status == 200 {
            return Ok(Attempt::Done(headers, body));
        }
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let code = parsed["code"].as_str().unwrap_or("").to_string();
        let message = parsed["message"].as_str().map(String::from).unwrap_or_else(|| format!("HTTP {status}"));
        let what = format!("WooCommerce {path}: {message} ({code}, HTTP {status})");
        Ok(match status {
            429 | 500..=599 => Attempt::Retry(Error::retryable(anyhow::anyhow!(what)), retry_after(&headers)),
            400 => return Err(Error::bad_input(what)),
            _ => return Err(Error::permanent(anyhow::anyhow!(what))),
        })
    }

    /// GET with retries of throttling and server errors.
    async fn get(&self, path: &str, query: &[(String, String)]) -> Result<(reqwest::header::HeaderMap, String)> {
        let mut retry = 0;
        loop {
            match self.attempt(path, query).await? {
                Attempt::Done(h, b) => return Ok((h, b)),
                Attempt::Retry(err, after) if retry + 1 < self.retry.attempts => {
                    let wait = self.retry.delay(retry, after);
                    tracing::warn!(error = %err, wait_ms = wait.as_millis() as u64, "WooCommerce asked us to slow down or failed; retrying");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                Attempt::Retry(err, _) => return Err(err),
            }
        }
    }

    pub async fn page(&self, path: &str, query: &[(String, String)], page: u64) -> Result<Page> {
        let mut q = query.to_vec();
        q.push(("per_page".into(), PER_PAGE.to_string()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_base_strings_sort_encode_and_key_with_the_secret() {
        // Worked by hand: two params, one needing encoding; key "cs_x&".
        let params = vec![
            ("page".to_string(), "2".to_string()),
            ("modified_after".to_string(), "2026-11-20T09:00:00".to_string()),
        ];
        let sig = oauth_signature("GET", "http://shop.test/wp-json/wc/v3/orders", &params, "cs_x");
        let base = "GET&http%3A%2F%2Fshop.test%2Fwp-json%2Fwc%2Fv3%2Forders&modified_after%3D2026-11-20T09%253A00%253A00%26page%3D2";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"cs_x&").unwrap();
        mac.update(base.as_bytes());
        assert_eq!(sig, B64.encode(mac.finalize().into_bytes()));
        // Order of the input does not matter; a changed value does.
        let swapped = vec![params[1].clone(), params[0].clone()];
        assert_eq!(sig, oauth_signature("GET", "http://shop.test/wp-json/wc/v3/orders", &swapped, "cs_x"));
        let other = vec![params[0].clone(), ("modified_after".to_string(), "2026-11-20T09:00:01".to_string())];
        assert_ne!(sig, oauth_signature("GET", "http://shop.test/wp-json/wc/v3/orders", &other, "cs_x"));
        assert_eq!(rfc3986("a b+c/~"), "a%20b%2Bc%2F~");
    }
}
