//! Adobe Commerce (Magento 2) on the store seam, in both deployment models (`api-facts.md` §3):
//! PaaS / on-prem (`https://<host>/rest/<store_code>/V1/…`, OAuth 1.0a from an integration, or
//! its access token as a Bearer token where the store allows it) and Adobe Commerce as a Cloud
//! Service (`https://<server>.api.commerce.adobe.com/<tenant>/V1/…`, an IMS client-credentials
//! token). Which one a connection is, is detected from its URL and credentials
//! ([`detect`]), confirmed by `mlc connection test`, and can be set by hand.
//!
//! Orders, invoices, credit memos and customers arrive by signed Adobe Commerce Webhooks (thin:
//! an id for the fetch stage) and by the poller's `searchCriteria` windows on `updated_at`. The
//! books are kept from invoices and credit memos; an order itself is only noted. Nothing is
//! ever written to the store.

mod auth;
mod checks;
pub mod client;
pub mod connector;
mod items;
pub mod normalize;
mod poll;
pub mod search;
pub mod signature;
mod webhook;

pub use auth::{IMS_SCOPES, ims_token_form};
pub use connector::AdobeConnector;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::ports::{Connection, SecretBundle};

/// The two ways Adobe Commerce is run, and so authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deployment {
    /// PaaS or on-prem: `/rest/<store_code>/V1`, OAuth 1.0a.
    Paas,
    /// Adobe Commerce as a Cloud Service: `/<tenant>/V1`, Adobe IMS.
    Saas,
}

impl Deployment {
    pub fn title(self) -> &'static str {
        match self {
            Deployment::Paas => "PaaS / on-prem (OAuth 1.0a)",
            Deployment::Saas => "Cloud Service (Adobe IMS)",
        }
    }
}

fn default_store_code() -> String {
    "default".into()
}

fn default_page_size() -> u32 {
    100
}

/// An Adobe Commerce connection's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdobeSettings {
    /// Set by hand, this wins over detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// The store view the API is read in: the `/rest/<code>` path on PaaS (unless the URL
    /// names one), the `Store` header on SaaS.
    #[serde(default = "default_store_code")]
    pub store_code: String,
    /// PaaS: send the integration's access token as a Bearer token instead of signing each
    /// request. Commerce 2.4.4+ refuses it unless *Allow OAuth Access Tokens to be used as
    /// standalone Bearer tokens* is on.
    #[serde(default)]
    pub bearer: bool,
    /// SaaS: the IMS organization (`…@AdobeOrg`), sent as `x-gw-ims-org-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ims_org_id: Option<String>,
    /// SaaS: the IMS token endpoint, when not Adobe's (tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ims_url: Option<Url>,
    /// The store delivers Adobe Commerce Webhooks to this connection (2.4.4+, configured):
    /// the poller then runs as the safety net, on the connection's schedule.
    #[serde(default)]
    pub webhooks: bool,
    /// `searchCriteria[pageSize]` for the poller (Commerce caps it at 300 with input limits on).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

impl Default for AdobeSettings {
    fn default() -> Self {
        AdobeSettings {
            deployment: None,
            store_code: default_store_code(),
            bearer: false,
            ims_org_id: None,
            ims_url: None,
            webhooks: false,
            page_size: default_page_size(),
        }
    }
}

impl AdobeSettings {
    pub fn of(connection: &Connection) -> crate::Result<AdobeSettings> {
        match &connection.settings {
            crate::stores::StoreSettings::AdobeCommerce(s) => Ok(s.clone()),
            crate::stores::StoreSettings::Defaults => Ok(AdobeSettings::default()),
            _ => Err(crate::Error::bad_input(format!("connection {} has no Adobe Commerce settings", connection.id))),
        }
    }
}

/// Secrets an Adobe Commerce connection keeps: the integration's four for PaaS, the OAuth
/// server-to-server credential's two for SaaS, and the webhook signature's public key.
pub const SECRET_CONSUMER_KEY: &str = "adobe_consumer_key";
pub const SECRET_CONSUMER_SECRET: &str = "adobe_consumer_secret";
pub const SECRET_ACCESS_TOKEN: &str = "adobe_access_token";
pub const SECRET_ACCESS_TOKEN_SECRET: &str = "adobe_access_token_secret";
pub const SECRET_IMS_CLIENT_ID: &str = "adobe_ims_client_id";
pub const SECRET_IMS_CLIENT_SECRET: &str = "adobe_ims_client_secret";
/// The PEM public key Commerce shows under *Stores > Configuration > Adobe Services > Webhooks*.
pub const SECRET_WEBHOOK_PUBLIC_KEY: &str = "adobe_webhook_public_key";

/// Which deployment a connection is, and why we think so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub deployment: Deployment,
    pub why: &'static str,
}

/// The deployment, from (in order) the connection's own setting, the URL's shape, and the
/// credentials it holds.
pub fn detect(url: &Url, settings: &AdobeSettings, secrets: &SecretBundle) -> Detected {
    if let Some(deployment) = settings.deployment {
        return Detected { deployment, why: "set on the connection" };
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host.ends_with(".api.commerce.adobe.com") {
        return Detected { deployment: Deployment::Saas, why: "the URL is a Cloud Service API host" };
    }
    if url.path_segments().into_iter().flatten().any(|s| s == "rest") {
        return Detected { deployment: Deployment::Paas, why: "the URL has a /rest/<store_code> path" };
    }
    let has = |name: &str| secrets.get(name).is_some();
    if has(SECRET_IMS_CLIENT_ID) && !has(SECRET_CONSUMER_KEY) {
        return Detected { deployment: Deployment::Saas, why: "the connection holds IMS credentials" };
    }
    Detected { deployment: Deployment::Paas, why: "the connection holds integration credentials" }
}

/// Whether `secrets` hold what the detected deployment authenticates with: the deployment and
/// why, or which secrets are missing (by the variables `mlc connection add` reads them from).
pub fn credentials_fit(url: &Url, settings: &AdobeSettings, secrets: &SecretBundle) -> crate::Result<Detected> {
    let detected = detect(url, settings, secrets);
    auth::Credentials::of(detected.deployment, settings, secrets)
        .map_err(|e| crate::Error::bad_input(format!("{} ({}): {e}", detected.deployment.title(), detected.why)))?;
    Ok(detected)
}

/// The REST base every `/V1/…` path is appended to: PaaS `…/rest/<store_code>` (kept when the
/// URL names one), SaaS the tenant URL itself.
pub fn api_base(url: &Url, deployment: Deployment, store_code: &str) -> String {
    let base = url.as_str().trim_end_matches('/').to_string();
    match deployment {
        Deployment::Saas => base,
        Deployment::Paas if url.path_segments().into_iter().flatten().any(|s| s == "rest") => base,
        Deployment::Paas => format!("{base}/rest/{}", crate::http::oauth1::encode(store_code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(names: &[&str]) -> SecretBundle {
        names.iter().fold(SecretBundle::new(), |b, n| b.with(n, "x"))
    }

    #[test]
    fn the_deployment_is_read_from_the_setting_the_url_then_the_credentials() {
        let s = AdobeSettings::default();
        let saas = Url::parse("https://na1-sandbox.api.commerce.adobe.com/AbCdEf").unwrap();
        let paas = Url::parse("https://shop.example/rest/de").unwrap();
        let bare = Url::parse("http://127.0.0.1:8080/tenant").unwrap();
        assert_eq!(detect(&saas, &s, &bundle(&[])).deployment, Deployment::Saas);
        assert_eq!(detect(&paas, &s, &bundle(&[SECRET_IMS_CLIENT_ID])).deployment, Deployment::Paas);
        assert_eq!(detect(&bare, &s, &bundle(&[SECRET_IMS_CLIENT_ID])).deployment, Deployment::Saas);
        assert_eq!(detect(&bare, &s, &bundle(&[SECRET_CONSUMER_KEY])).deployment, Deployment::Paas);
        let forced = AdobeSettings { deployment: Some(Deployment::Paas), ..AdobeSettings::default() };
        let d = detect(&saas, &forced, &bundle(&[]));
        assert_eq!((d.deployment, d.why), (Deployment::Paas, "set on the connection"));
    }

    #[test]
    fn the_rest_base_keeps_a_store_code_the_url_names() {
        let paas = Url::parse("https://shop.example/rest/de/").unwrap();
        assert_eq!(api_base(&paas, Deployment::Paas, "default"), "https://shop.example/rest/de");
        let host = Url::parse("https://shop.example").unwrap();
        assert_eq!(api_base(&host, Deployment::Paas, "default"), "https://shop.example/rest/default");
        let saas = Url::parse("https://x.api.commerce.adobe.com/T1").unwrap();
        assert_eq!(api_base(&saas, Deployment::Saas, "default"), "https://x.api.commerce.adobe.com/T1");
    }
}
