//! Where a connection's Odoo lives, and whether we may go there.
//!
//! Odoo Online (`https://<db>.odoo.com`, database inferred), Odoo.sh (`*.odoo.sh`, `*.dev.odoo.com`,
//! database configurable, defaulting to the first label) and self-hosted servers (https; plain http
//! only to loopback, and only when the connection allows private networks). The SSRF guard
//! resolves the host and refuses private, loopback, link-local, metadata and other non-public
//! addresses unless the connection explicitly allows them; the addresses it checked are the ones
//! the HTTP client then connects to, so DNS cannot change its answer in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
                    "{host}: plain http is allowed only to loopback, and only when the connection allows private networks; use https"
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

    /// Resolves the host and applies the SSRF guard; returns the addresses to connect to.
    pub async fn resolve_guarded(&self) -> Result<Vec<SocketAddr>, OdooError> {
        let port = self.base.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match self.base.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
                .await
                .map_err(|e| OdooError::transient(format!("resolving {d}: {e}")))?
                .collect(),
            None => return Err(refuse("no host")),
        };
        if addrs.is_empty() {
            return Err(OdooError::transient(format!("{} resolved to no address", self.host())));
        }
        if let Some(bad) = addrs.iter().find(|a| is_metadata(a.ip())) {
            return Err(refuse(format!(
                "{} resolves to {}, a cloud metadata service, which is never reached, even on a private network",
                self.host(),
                bad.ip()
            )));
        }
        if !self.allow_private_network
            && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
        {
            return Err(refuse(format!(
                "{} resolves to {}, a private, loopback, link-local or metadata address; \
                     allow private networks on the connection if this Odoo really lives there",
                self.host(),
                bad.ip()
            )));
        }
        Ok(addrs)
    }
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Cloud metadata services (AWS, GCP, Azure: 169.254.169.254 and EC2's fd00:ec2::254; Alibaba:
/// 100.100.100.200): they hand out credentials, so no connection may reach them, whatever it
/// allows.
pub fn is_metadata(ip: IpAddr) -> bool {
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()),
    };
    if let Some(v4) = v4 {
        return v4 == Ipv4Addr::new(169, 254, 169, 254)
            || v4 == Ipv4Addr::new(100, 100, 100, 200)
            || v4 == Ipv4Addr::new(169, 254, 170, 2);
    }
    ip == IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254))
}

/// A URL that carries a user name or password: refused everywhere a URL is configured, since it
/// would be stored and printed in plain text. `secrets` names where credentials belong.
pub fn refuse_credentials_in_url(url: &url::Url, what: &str, secrets: &str) -> Result<(), crate::Error> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    Err(crate::Error::bad_input(format!(
        "the {what} URL must not carry a user name or password; give them in {secrets} instead"
    )))
}

/// True only for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, including the 169.254.169.254 metadata service
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, including fd00:ec2::254 (EC2 metadata)
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4))) // IPv4-compatible forms
}

#[cfg(test)]
mod tests {
    use super::*;

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
