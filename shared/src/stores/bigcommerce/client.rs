//! BigCommerce REST client (`https://api.bigcommerce.com/stores/{store_hash}/`, configurable for
//! tests): the `X-Auth-Token` header; Orders V2 lists paged with `page`/`limit` (at most 250),
//! where **204 with no body means empty**; V3 lists in `{data, meta.pagination}`; V2
//! (`[{status, message}]`) and V3 (`{status, title}`) errors mapped onto the shared classes.
//!
//! The request quota is the store's, shared with every other app, so the client reads it from
//! each answer (`X-Rate-Limit-Requests-Left`, `-Time-Reset-Ms`) and paces itself: when what is
//! left falls to a small reserve it waits for the window's reset instead of running into a 429.
//! A 429 with those headers waits for the reset; one without them (platform load) backs off with
//! growing waits ([`crate::http::RetryPolicy`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use url::Url;

use crate::error::{Error, Result};
use crate::http::retry::{Attempt, RetryPolicy, quota_left, server_wait, with_retries};
use crate::ports::Secret;

/// Added to the quota's reset time before the next window is used: a hundredth of the window
/// (`X-Rate-Limit-Time-Window-Ms`), 10 to 100 ms.
const RESET_MARGIN: Duration = Duration::from_millis(100);

fn reset_margin(headers: &HeaderMap) -> Duration {
    let window = headers
        .get("x-rate-limit-time-window-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    window.map_or(RESET_MARGIN, |w| Duration::from_millis(w / 100).clamp(Duration::from_millis(10), RESET_MARGIN))
}

/// Orders V2 and V3 lists give at most 250 per page.
pub const MAX_PAGE: u32 = 250;

pub struct BcConfig {
    /// `…/stores/{store_hash}`.
    pub api_base: Url,
    pub access_token: Secret,
    pub allow_private_network: bool,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// The connection's CA bundle (PEM): for tests and proxies; BigCommerce's own API is public.
    pub ca_pem: Option<String>,
}

/// What the last answers said of the quota.
#[derive(Debug, Clone, Copy)]
struct Meter {
    left: u64,
    /// This client's share of the window (`X-Rate-Limit-Requests-Quota`), when given.
    quota: Option<u64>,
    resets_at: Instant,
}

pub struct BcClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
    retry: RetryPolicy,
    meter: tokio::sync::Mutex<Option<Meter>>,
    /// Requests sent and not yet answered.
    in_flight: AtomicU64,
    requests: AtomicU64,
    throttled: AtomicU64,
}

/// Requests kept in hand, a twentieth of the share (1 to 10): other apps use the same quota, so
/// its last figure may already be spent when the next request arrives.
fn reserve(quota: Option<u64>) -> u64 {
    (quota.unwrap_or(20) / 20).clamp(1, 10)
}

/// A request counted as in flight until it is answered or dropped (a cancelled fetch too).
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl BcClient {
    pub async fn connect(config: BcConfig) -> Result<BcClient> {
        let http = crate::http::guarded_client(
            &config.api_base,
            config.allow_private_network,
            config.timeout,
            config.ca_pem.as_deref(),
        )
        .await
        .map_err(|e| {
            let message = anyhow::anyhow!("BigCommerce API {e}");
            if e.is_retryable() { Error::retryable(message) } else { Error::permanent(message) }
        })?;
        Ok(BcClient {
            http,
            base: config.api_base.as_str().trim_end_matches('/').to_string(),
            token: config.access_token,
            retry: config.retry,
            meter: tokio::sync::Mutex::new(None),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        })
    }

    pub fn requests_made(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// 429s this client met (the pacing's failures).
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Waits, before a request, while what is left of the quota (less the requests still in
    /// flight, which the last answer may not have counted yet) is down to its reserve.
    async fn pace(&self) -> InFlight<'_> {
        loop {
            let mut meter = self.meter.lock().await;
            let in_flight = self.in_flight.load(Ordering::SeqCst);
            let wait = match meter.as_ref() {
                None => None,
                Some(m) if Instant::now() >= m.resets_at => {
                    *meter = None;
                    None
                }
                Some(m) if m.left.saturating_sub(in_flight) > reserve(m.quota) => None,
                Some(m) => Some(m.resets_at - Instant::now()),
            };
            let Some(wait) = wait else {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                return InFlight(&self.in_flight);
            };
            drop(meter);
            tracing::debug!(wait_ms = wait.as_millis() as u64, "BigCommerce quota nearly spent; waiting for its reset");
            tokio::time::sleep(wait).await;
        }
    }

    async fn observe(&self, headers: &HeaderMap) {
        let mut meter = self.meter.lock().await;
        if let Some((left, reset)) = quota_left(headers) {
            let quota = headers
                .get("x-rate-limit-requests-quota")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            // The reset is given in whole milliseconds and read after the answer travelled: a
            // little margin keeps the next window's first request from arriving early.
            let margin = reset_margin(headers);
            let resets_at = Instant::now() + reset + margin;
            // Answers to concurrent requests come back in any order: within one window the
            // smallest figure is the true one (a later answer may carry an older count).
            let same_window = meter.is_some_and(|m| resets_at <= m.resets_at + margin * 2);
            let left = match *meter {
                Some(m) if same_window => left.min(m.left),
                _ => left,
            };
            *meter = Some(Meter { left, quota, resets_at });
        }
    }

    async fn attempt(
        &self,
        method: &reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Attempt<(HeaderMap, String)>> {
        let _in_flight = self.pace().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .query(query)
            .header("x-auth-token", self.token.expose())
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Retry {
                    error: crate::http::transport_error(&format!("BigCommerce {path}"), &e),
                    wait: None,
                    refused: false,
                });
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.observe(&headers).await;
        let text =
            response.text().await.map_err(|e| crate::http::transport_error(&format!("BigCommerce {path}"), &e))?;
        if (200..300).contains(&status) {
            return Ok(Attempt::Done((headers, text)));
        }
        let what = format!("BigCommerce {method} {path}: {} (HTTP {status})", error_message(&text, status));
        Ok(match status {
            429 => {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                // With quota headers: wait for the reset; without (platform load): back off.
                Attempt::Retry {
                    error: Error::retryable(anyhow::anyhow!(what)),
                    wait: server_wait(&headers),
                    refused: true,
                }
            }
            500..=599 => Attempt::Retry {
                error: Error::retryable(anyhow::anyhow!(what)),
                wait: server_wait(&headers),
                refused: false,
            },
            400 | 409 | 413 | 422 => return Err(Error::bad_input(what)),
            _ => return Err(Error::permanent(anyhow::anyhow!(what))),
        })
    }

    /// A request, retried on throttling and server errors (writes only on 429: a 5xx or a lost
    /// answer to a write may have been applied).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(HeaderMap, String)> {
        let read = method == reqwest::Method::GET;
        with_retries(&self.retry, read, "BigCommerce", || self.attempt(&method, path, query, body)).await
    }

    pub async fn get_json(&self, path: &str, query: &[(String, String)]) -> Result<Option<serde_json::Value>> {
        let (_, body) = self.send(reqwest::Method::GET, path, query, None).await?;
        if body.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| Error::bad_input(format!("BigCommerce {path}: not JSON: {e}")))
    }

    /// Every item of a V2 list, page by page until a page is short or empty (204).
    pub async fn v2_all(&self, path: &str, query: &[(String, String)]) -> Result<Vec<serde_json::Value>> {
        let mut items = Vec::new();
        for page in 1.. {
            let mut q = query.to_vec();
            q.push(("limit".into(), MAX_PAGE.to_string()));
            q.push(("page".into(), page.to_string()));
            let batch = match self.get_json(path, &q).await? {
                None => Vec::new(),
                Some(serde_json::Value::Array(a)) => a,
                Some(other) => {
                    return Err(Error::bad_input(format!(
                        "BigCommerce {path}: not a list: {}",
                        crate::refusals::bounded(&other.to_string(), 80)
                    )));
                }
            };
            let short = batch.len() < MAX_PAGE as usize;
            items.extend(batch);
            if short {
                break;
            }
        }
        Ok(items)
    }

    /// Every item of a V3 list, following `meta.pagination.total_pages`.
    pub async fn v3_all(&self, path: &str, query: &[(String, String)]) -> Result<Vec<serde_json::Value>> {
        let mut items = Vec::new();
        let mut page = 1u64;
        loop {
            let mut q = query.to_vec();
            q.push(("limit".into(), MAX_PAGE.to_string()));
            q.push(("page".into(), page.to_string()));
            let Some(body) = self.get_json(path, &q).await? else { return Ok(items) };
            let data = body["data"]
                .as_array()
                .cloned()
                .ok_or_else(|| Error::bad_input(format!("BigCommerce {path}: no data list")))?;
            items.extend(data);
            let pages = body["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1);
            if page >= pages {
                return Ok(items);
            }
            page += 1;
        }
    }
}

/// The message of a V2 (`[{status, message}]`) or V3 (`{status, title, detail}`) error body.
fn error_message(body: &str, status: u16) -> String {
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let text = parsed[0]["message"]
        .as_str()
        .or_else(|| parsed["title"].as_str())
        .or_else(|| parsed["detail"].as_str())
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"));
    crate::refusals::bounded(&text, 200)
}

#[cfg(test)]
mod tests {
    #[test]
    fn v2_and_v3_error_bodies_give_their_message() {
        assert_eq!(
            super::error_message(r#"[{"status":404,"message":"The requested resource was not found."}]"#, 404),
            "The requested resource was not found."
        );
        assert_eq!(
            super::error_message(r#"{"status":422,"title":"Invalid filter","type":"x"}"#, 422),
            "Invalid filter"
        );
        assert_eq!(super::error_message("", 502), "HTTP 502");
    }
}
