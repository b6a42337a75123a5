//! Where a connection's Odoo lives, and whether we may go there.
//!
//! Odoo Online (`https://<db>.odoo.com`, database inferred), Odoo.sh (`*.odoo.sh`, `*.dev.odoo.com`,
//! database configurable, defaulting to the first label) and self-hosted servers (https; plain http
//! only to loopback, and only when the connection allows private networks). The SSRF guard
//! resolves the host and refuses private, loopback, link-local, metadata and other non-public
//! addresses unless the connection explicitly allows them; the addresses it checked are the ones
//! the HTTP client then connects to, so DNS cannot change its answer in between.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::error::OdooError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    Online,
    OdooSh,
    SelfHosted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooEndpoint {
    pub base: Url,
    pub database: Option<String>,
    pub deployment: Deployment,
    pub allow_private_network: bool,
}

fn refuse(message: impl Into<String>) -> OdooError {
    OdooError::Endpoint { message: message.into() }
}

impl OdooEndpoint {
    pub fn parse(url: &str, database: Option<&str>, allow_private_network: bool) -> Result<Self, OdooError> {
        // The text is not echoed: a malformed URL may still carry a password.
        let mut base = Url::parse(url.trim()).map_err(|e| refuse(format!("the Odoo URL is not a URL ({e})")))?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(refuse("credentials belong in the secret store, not in the URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(refuse("the Odoo URL takes no query or fragment"));
        }
        let host = base.host_str().ok_or_else(|| refuse(format!("{url:?} has no host")))?.to_ascii_lowercase();
        match base.scheme() {
            "https" => {}
            "http" if allow_private_network && is_loopback_host(&host) => {}
            "http" => {
                return Err(refuse(format!(
                    "{host}: plain http is allowed only to loopback, and only on a connection added with --allow-private-network; use https"
                )));
            }
            other => return Err(refuse(format!("scheme {other:?} is not http(s)"))),
        }
        let path = base.path().trim_end_matches('/').to_string();
        base.set_path(&path);

        let first_label = host.split('.').next().unwrap_or_default().to_string();
        let configured = database.map(str::trim).filter(|d| !d.is_empty()).map(String::from);
        let (deployment, database) = if host.ends_with(".dev.odoo.com") || host.ends_with(".odoo.sh") {
            (Deployment::OdooSh, configured.or(Some(first_label)))
        } else if host.ends_with(".odoo.com") && host.matches('.').count() == 2 {
            (Deployment::Online, configured.or(Some(first_label)))
        } else {
            (Deployment::SelfHosted, configured)
        };
        Ok(OdooEndpoint { base, database, deployment, allow_private_network })
    }

    pub fn host(&self) -> &str {
        self.base.host_str().unwrap_or_default()
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    /// Resolves the host and applies the SSRF guard ([`crate::http::guard`]); returns the
    /// addresses to connect to.
    pub async fn resolve_guarded(&self) -> Result<Vec<SocketAddr>, OdooError> {
        crate::http::guard::resolve(&self.base, self.allow_private_network)
            .await
            .map_err(|e| if e.is_retryable() { OdooError::transient(e.to_string()) } else { refuse(e.to_string()) })
    }
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::guard::refuse_credentials_in_url;

    #[tokio::test]
    async fn metadata_addresses_are_refused_even_on_a_private_network() {
        for url in [
            "https://169.254.169.254",
            "https://[fd00:ec2::254]",
            "https://[::ffff:169.254.169.254]",
            "https://100.100.100.200",
        ] {
            let allowed = OdooEndpoint::parse(url, Some("db"), true).unwrap();
            let err = allowed.resolve_guarded().await.unwrap_err();
            assert!(err.to_string().contains("metadata"), "{url}: {err}");
        }
        let lan = OdooEndpoint::parse("https://10.0.0.5", Some("db"), true).unwrap();
        assert!(lan.resolve_guarded().await.is_ok(), "a private address is still allowed when asked");
    }

    #[test]
    fn credentials_in_a_url_are_refused_with_where_they_belong() {
        let url: url::Url = "https://user:pw@shop.example".parse().unwrap();
        let err = refuse_credentials_in_url(&url, "store", "MLC_WOO_CONSUMER_KEY").unwrap_err();
        assert!(err.to_string().contains("MLC_WOO_CONSUMER_KEY") && !err.to_string().contains("pw"), "{err}");
        assert!(refuse_credentials_in_url(&"https://shop.example".parse().unwrap(), "store", "x").is_ok());
    }

    #[test]
    fn deployments_and_databases() {
        let online = OdooEndpoint::parse("https://acme.odoo.com/", None, false).unwrap();
        assert_eq!((online.deployment, online.database.as_deref()), (Deployment::Online, Some("acme")));
        assert_eq!(
            online.join("/json/2/res.partner/search_read"),
            "https://acme.odoo.com/json/2/res.partner/search_read"
        );

        let sh = OdooEndpoint::parse("https://acme-staging-123456.dev.odoo.com", None, false).unwrap();
        assert_eq!((sh.deployment, sh.database.as_deref()), (Deployment::OdooSh, Some("acme-staging-123456")));
        let sh = OdooEndpoint::parse("https://acme.odoo.sh", Some("acme-prod-42"), false).unwrap();
        assert_eq!((sh.deployment, sh.database.as_deref()), (Deployment::OdooSh, Some("acme-prod-42")));

        let own = OdooEndpoint::parse("https://erp.acme.example/odoo", Some("prod"), false).unwrap();
        assert_eq!((own.deployment, own.database.as_deref()), (Deployment::SelfHosted, Some("prod")));
        assert_eq!(own.join("/web/version"), "https://erp.acme.example/odoo/web/version");
    }

    #[test]
    fn schemes_and_urls_that_are_refused() {
        for (url, allow) in [
            ("http://erp.acme.example", true),
            ("http://169.254.169.254", true),
            ("http://127.0.0.1:8069", false),
            ("ftp://acme.odoo.com", true),
            ("https://admin:pw@acme.odoo.com", false),
            ("https://acme.odoo.com/?db=x", false),
        ] {
            assert!(matches!(OdooEndpoint::parse(url, None, allow), Err(OdooError::Endpoint { .. })), "{url} allowed");
        }
        let err = OdooEndpoint::parse("https://admin:hunter2@acme.odoo.com", None, false).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(OdooEndpoint::parse("http://127.0.0.1:8069", None, true).is_ok());
        assert!(OdooEndpoint::parse("http://[::1]:8069", None, true).is_ok());
        assert!(OdooEndpoint::parse("http://localhost:8069", None, true).is_ok());
    }

    #[tokio::test]
    async fn the_ssrf_guard_refuses_non_public_addresses_unless_allowed() {
        for url in [
            "https://169.254.169.254",
            "https://10.0.0.5",
            "https://[::1]",
            "https://localhost",
            "https://192.168.1.10:8069",
            "https://172.16.0.1",
            "https://100.64.0.1",
            "https://[fd00:ec2::254]",
            "https://[::ffff:10.0.0.5]",
            "https://[fe80::1]",
            "https://0.0.0.0",
        ] {
            let guarded = OdooEndpoint::parse(url, Some("db"), false).unwrap();
            let err = guarded.resolve_guarded().await.unwrap_err();
            assert!(matches!(err, OdooError::Endpoint { .. }), "{url}: {err}");
            // Allowing private networks never reaches a metadata service (the test above).
            let allowed = OdooEndpoint::parse(url, Some("db"), true).unwrap();
            let metadata = url.contains("169.254.169.254") || url.contains("fd00:ec2::254");
            assert_eq!(allowed.resolve_guarded().await.is_ok(), !metadata, "{url}");
        }
        let public = OdooEndpoint::parse("https://93.184.215.14", Some("db"), false).unwrap();
        assert_eq!(public.resolve_guarded().await.unwrap()[0].ip().to_string(), "93.184.215.14");
    }
}
