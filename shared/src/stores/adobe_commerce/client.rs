//! The Adobe Commerce REST client, for both deployments: `{base}/V1/…` with every query key and
//! value percent-encoded (spaces `%20`, brackets `%5B`/`%5D`, never `+`), authenticated as the
//! connection's [`Credentials`] say; SaaS calls also carry `x-api-key`, `x-gw-ims-org-id` and
//! `Store`. Magento's errors (`{"message": "… %1", "parameters": […]}`, or an HTML error page
//! from the web server in front) become one sentence; 404 is "not there"; 429 and 5xx are
//! retried as [`RetryPolicy`] says; a 401 on SaaS drops the token and tries once more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::Deployment;
use super::auth::{CachedToken, Credentials, ims_token_form, refresh_at};
use super::search::SearchCriteria;
use crate::error::{Error, Result};
use crate::http::oauth1;
use crate::http::retry::{Attempt, RetryPolicy, server_wait, with_retries};
use crate::ports::Secret;

/// What one attempt came to, beyond the shared retry classes.
enum Answer {
    Body(Option<String>),
    /// 401, with the IMS token that was refused (none for PaaS credentials).
    Unauthorized {
        what: String,
        token: Option<Secret>,
    },
}

pub struct AdobeConfig {
    /// The store URL as the connection holds it (the guard resolves its host).
    pub store_url: Url,
    pub deployment: Deployment,
    pub store_code: String,
    pub credentials: Credentials,
    pub allow_private_network: bool,
    pub ca_pem: Option<String>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

pub struct AdobeClient {
    http: reqwest::Client,
    /// For the IMS token endpoint (another host).
    ims_http: Option<reqwest::Client>,
    base: String,
    pub deployment: Deployment,
    store_code: String,
    credentials: Credentials,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    retry: RetryPolicy,
    requests: AtomicU64,
    tokens: AtomicU64,
}

/// Magento's error body as one sentence: `%1`-style placeholders filled from `parameters`, an
/// HTML page named by its title.
pub fn error_message(body: &str, status: u16) -> String {
    let text = match serde_json::from_str::<Value>(body) {
        Ok(v) if v["message"].is_string() => {
            let mut message = v["message"].as_str().unwrap_or_default().to_string();
            let text = |p: &Value| p.as_str().map(String::from).unwrap_or_else(|| p.to_string());
            // Positional (`%1`) or named (`%fieldName`) placeholders; the last first, so `%1`
            // does not eat the start of `%10`.
            let params: Vec<(String, String)> = match &v["parameters"] {
                Value::Array(a) => a.iter().enumerate().map(|(i, p)| (format!("%{}", i + 1), text(p))).rev().collect(),
                Value::Object(o) => o.iter().map(|(k, p)| (format!("%{k}"), text(p))).collect(),
                _ => Vec::new(),
            };
            for (placeholder, value) in params {
                message = message.replace(&placeholder, &value);
            }
            message
        }
        _ if body.trim_start().starts_with('<') => {
            let lower = body.to_lowercase();
            let title = lower
                .find("<title>")
                .and_then(|s| lower[s + 7..].find("</title>").map(|e| body[s + 7..s + 7 + e].trim().to_string()));
            format!("an HTML error page ({})", title.unwrap_or_else(|| "no title".into()))
        }
        _ => format!("HTTP {status}"),
    };
    crate::refusals::bounded(&text, 200)
}

fn guard_error(what: &str, e: crate::http::GuardError) -> Error {
    let message = anyhow::anyhow!("{what} {e}");
    if e.is_retryable() { Error::retryable(message) } else { Error::permanent(message) }
}

impl AdobeClient {
    pub async fn connect(config: AdobeConfig) -> Result<AdobeClient> {
        let ca = config.ca_pem.as_deref();
        let http = crate::http::guarded_client(&config.store_url, config.allow_private_network, config.timeout, ca)
            .await
            .map_err(|e| guard_error("Adobe Commerce API", e))?;
        let ims_http = match &config.credentials {
            Credentials::Ims { token_url, .. } => Some(
                crate::http::guarded_client(token_url, config.allow_private_network, config.timeout, ca)
                    .await
                    .map_err(|e| guard_error("Adobe IMS", e))?,
            ),
            _ => None,
        };
        Ok(AdobeClient {
            http,
            ims_http,
            base: super::api_base(&config.store_url, config.deployment, &config.store_code),
            deployment: config.deployment,
            store_code: config.store_code,
            credentials: config.credentials,
            token: tokio::sync::Mutex::new(None),
            retry: config.retry,
            requests: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
        })
    }

    /// The version PaaS stores tell at `/magento_version` (`Magento/2.4 (Commerce)`), where it
    /// is not turned off; the Cloud Service does not tell one (it is always current).
    pub async fn version(&self) -> Option<String> {
        if self.deployment != Deployment::Paas {
            return None;
        }
        let root = self.base.split("/rest/").next()?;
        let url = Url::parse(&format!("{root}/magento_version")).ok()?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let answer = self.http.get(url).send().await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        let text = answer.text().await.ok()?;
        let text = text.trim();
        (text.starts_with("Magento/") && text.len() <= 64).then(|| text.to_string())
    }

    pub fn requests_made(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// IMS tokens minted so far (one per day, and one per 401).
    pub fn tokens_minted(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }

    /// The cached IMS token, or a new one when there is none or it is near its end.
    async fn ims_token(&self) -> Result<Secret> {
        let Credentials::Ims { client_id, client_secret, token_url, .. } = &self.credentials else {
            return Err(Error::permanent(anyhow::anyhow!("not an IMS connection")));
        };
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let http = self.ims_http.as_ref().expect("an IMS connection has its IMS client");
        let obtained = Instant::now();
        self.tokens.fetch_add(1, Ordering::Relaxed);
        let response = http
            .post(token_url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(ims_token_form(client_id.expose(), client_secret.expose()))
            .send()
            .await
            .map_err(|e| crate::http::transport_error("Adobe IMS", &e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| crate::http::transport_error("Adobe IMS", &e))?;
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        if !(200..300).contains(&status) {
            let why = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no reason given");
            let what =
                format!("Adobe IMS refused the token request: {} (HTTP {status})", crate::refusals::bounded(why, 200));
            return Err(if status == 429 || status >= 500 {
                Error::retryable(anyhow::anyhow!(what))
            } else {
                Error::permanent(anyhow::anyhow!(what))
            });
        }
        let token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("Adobe IMS answered without an access_token")))?;
        let expires_in = body["expires_in"].as_u64().unwrap_or(3600);
        let token = Secret::new(token);
        *cached = Some(CachedToken { token: token.clone(), refresh_at: refresh_at(obtained, expires_in) });
        Ok(token)
    }

    /// The wire URL: every query key and value encoded the way the signature reads them back.
    fn url(&self, path: &str, query: &[(String, String)]) -> Result<Url> {
        let mut text = format!("{}{path}", self.base);
        if !query.is_empty() {
            text.push('?');
            text.push_str(&oauth1::query_string(query));
        }
        Url::parse(&text).map_err(|_| Error::bad_input(format!("Adobe Commerce {path}: not a URL")))
    }

    /// Drops the cached IMS token if it is still the one the store refused.
    async fn forget_token(&self, refused: &Secret) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|c| c.token.expose() == refused.expose()) {
            *cached = None;
        }
    }

    async fn attempt(&self, method: &Method, path: &str, url: &Url, body: Option<&Value>) -> Result<Attempt<Answer>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.http.request(method.clone(), url.clone()).header("accept", "application/json");
        let mut used_token = None;
        match &self.credentials {
            Credentials::OAuth1 { .. } => {
                let header = self.credentials.oauth_header(method.as_str(), url).expect("OAuth credentials");
                request = request.header("authorization", header);
            }
            Credentials::Bearer { token } => request = request.bearer_auth(token.expose()),
            Credentials::Ims { client_id, org_id, .. } => {
                let token = self.ims_token().await?;
                request = request
                    .bearer_auth(token.expose())
                    .header("x-api-key", client_id.expose())
                    .header("x-gw-ims-org-id", org_id)
                    .header("store", &self.store_code);
                used_token = Some(token);
            }
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let what = format!("Adobe Commerce {method} {path}");
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Retry {
                    error: crate::http::transport_error(&what, &e),
                    wait: None,
                    refused: false,
                });
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|e| crate::http::transport_error(&what, &e))?;
        if (200..300).contains(&status) {
            return Ok(Attempt::Done(Answer::Body(Some(text))));
        }
        let what = format!("{what}: {} (HTTP {status})", error_message(&text, status));
        let retry = |refused| Attempt::Retry {
            error: Error::retryable(anyhow::anyhow!(what.clone())),
            wait: server_wait(&headers),
            refused,
        };
        Ok(match status {
            404 => Attempt::Done(Answer::Body(None)),
            401 => Attempt::Done(Answer::Unauthorized { what, token: used_token }),
            429 => retry(true),
            500..=599 => retry(false),
            400 | 422 if method != Method::GET => return Err(Error::bad_input(what)),
            403 => {
                return Err(Error::permanent(anyhow::anyhow!(
                    "{what}; the credentials may not read this (check the integration's resources, or the IMS organization)"
                )));
            }
            _ => return Err(Error::permanent(anyhow::anyhow!(what))),
        })
    }

    /// A request; `None` when the store answers 404. Throttling and server errors are retried
    /// as the policy says; a refused IMS token is replaced once.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Option<String>> {
        let url = self.url(path, query)?;
        let read = method == Method::GET;
        let mut refreshed = false;
        loop {
            let answer =
                with_retries(&self.retry, read, "Adobe Commerce", || self.attempt(&method, path, &url, body)).await?;
            match answer {
                Answer::Body(text) => return Ok(text),
                Answer::Unauthorized { token: Some(token), .. } if !refreshed => {
                    refreshed = true;
                    tracing::info!("Adobe Commerce refused the IMS token; fetching a new one");
                    self.forget_token(&token).await;
                }
                Answer::Unauthorized { what, token } => {
                    let hint = if token.is_some() {
                        "a new IMS token was refused too: check the credential's scopes (commerce.accs) and organization"
                    } else {
                        "the store refused the integration's credentials"
                    };
                    return Err(Error::permanent(anyhow::anyhow!("{what}; {hint}")));
                }
            }
        }
    }

    pub async fn get_json(&self, path: &str, query: &[(String, String)]) -> Result<Option<Value>> {
        match self.send(Method::GET, path, query, None).await? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::bad_input(format!("Adobe Commerce {path}: not JSON: {e}"))),
        }
    }

    /// One page of a search: its items and `total_count`.
    pub async fn search(&self, path: &str, criteria: &SearchCriteria) -> Result<(Vec<Value>, u64)> {
        let body = self
            .get_json(path, &criteria.query()?)
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("Adobe Commerce has no {path}")))?;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let total = body["total_count"].as_u64().unwrap_or(items.len() as u64);
        Ok((items, total))
    }

    /// Every match, page by page, stopping on `total_count`: an out-of-range page answers the
    /// last page again rather than an empty one.
    pub async fn search_all(&self, path: &str, criteria: &SearchCriteria, page_size: u32) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        for page in 1u32.. {
            let (items, total) = self.search(path, &criteria.clone().page(page_size, page)).await?;
            all.extend(items);
            if u64::from(page) * u64::from(page_size) >= total {
                break;
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn magento_errors_fill_their_placeholders_and_html_pages_give_their_title() {
        let json = r#"{"message":"Signature method %1 is not supported","parameters":["HMAC-SHA1"]}"#;
        assert_eq!(super::error_message(json, 400), "Signature method HMAC-SHA1 is not supported");
        let named = r#"{"message":"No such entity with %fieldName = %fieldValue","parameters":{"fieldName":"id","fieldValue":"9"}}"#;
        assert_eq!(super::error_message(named, 404), "No such entity with id = 9");
        let html = "<!doctype html><html><head><title>503 Service Unavailable</title></head></html>";
        assert_eq!(super::error_message(html, 503), "an HTML error page (503 Service Unavailable)");
        assert_eq!(super::error_message("", 502), "HTTP 502");
    }
}
