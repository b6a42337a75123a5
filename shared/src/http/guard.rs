//! The SSRF guard. A connection's URLs are typed by a merchant, so before any request the host is
//! resolved and refused when it is a cloud metadata service (always) or any non-public address
//! (unless the connection allows private networks). The addresses checked are the ones the HTTP
//! client then connects to, so DNS cannot change its answer in between, and redirects are never
//! followed, since one could lead past the guard.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

/// Why a URL may not be reached, or could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("the URL has no host")]
    NoHost,
    /// DNS failed or answered nothing: worth trying again later.
    #[error("resolving {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("{host} resolves to {ip}, a cloud metadata service, which is never reached, even on a private network")]
    Metadata { host: String, ip: IpAddr },
    #[error(
        "{host} resolves to {ip}, a private, loopback, link-local or other non-public address; if it really lives there, add the connection with --allow-private-network"
    )]
    NotPublic { host: String, ip: IpAddr },
    #[error("building the HTTP client: {0}")]
    Client(String),
}

impl GuardError {
    /// Only a failed lookup may succeed later; a refused address stays refused.
    pub fn is_retryable(&self) -> bool {
        matches!(self, GuardError::Resolve { .. })
    }
}

/// Resolves `url`'s host and applies the guard; returns the addresses to connect to.
pub async fn resolve(url: &Url, allow_private_network: bool) -> Result<Vec<SocketAddr>, GuardError> {
    let port = url.port_or_known_default().unwrap_or(443);
    let host = url.host_str().ok_or(GuardError::NoHost)?.to_string();
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| GuardError::Resolve { host: host.clone(), message: e.to_string() })?
            .collect(),
        None => return Err(GuardError::NoHost),
    };
    if addrs.is_empty() {
        return Err(GuardError::Resolve { host, message: "no address".into() });
    }
    if let Some(bad) = addrs.iter().find(|a| is_metadata(a.ip())) {
        return Err(GuardError::Metadata { host, ip: bad.ip() });
    }
    if !allow_private_network && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(GuardError::NotPublic { host, ip: bad.ip() });
    }
    Ok(addrs)
}

/// A client that reaches `url`'s host only at the addresses the guard checked, never follows a
/// redirect, and gives up on an answer after `timeout`. `ca_pem`: the connection's own CA
/// certificates (a self-hosted server with a private CA), trusted beside the public roots.
pub async fn guarded_client(
    url: &Url,
    allow_private_network: bool,
    timeout: Duration,
    ca_pem: Option<&str>,
) -> Result<reqwest::Client, GuardError> {
    let addrs = resolve(url, allow_private_network).await?;
    pinned_client(url.host_str().unwrap_or_default(), &addrs, timeout, ca_pem)
}

/// Certificates trusted beside the built-in public roots: the connection's CA bundle, and the
/// file `SSL_CERT_FILE` names (the conventional default). Host names are checked as ever.
pub fn extra_roots(ca_pem: Option<&str>) -> Result<Vec<reqwest::Certificate>, GuardError> {
    let mut roots = Vec::new();
    if let Some(pem) = ca_pem {
        roots.extend(parse_bundle(pem.as_bytes(), "the connection's CA bundle")?);
    }
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let bytes = std::fs::read(&path)
            .map_err(|e| GuardError::Client(format!("reading SSL_CERT_FILE {}: {e}", path.to_string_lossy())))?;
        roots.extend(parse_bundle(&bytes, "SSL_CERT_FILE")?);
    }
    Ok(roots)
}

/// PEM certificates, at least one.
pub fn parse_bundle(pem: &[u8], what: &str) -> Result<Vec<reqwest::Certificate>, GuardError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| GuardError::Client(format!("{what} is not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(GuardError::Client(format!("{what} holds no certificate")));
    }
    Ok(certs)
}

/// The client [`guarded_client`] builds, for addresses already checked.
pub fn pinned_client(
    host: &str,
    addrs: &[SocketAddr],
    timeout: Duration,
    ca_pem: Option<&str>,
) -> Result<reqwest::Client, GuardError> {
    let mut builder = reqwest::Client::builder();
    for root in extra_roots(ca_pem)? {
        builder = builder.add_root_certificate(root);
    }
    builder
        .resolve_to_addrs(host, addrs)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("ml-connector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| GuardError::Client(e.to_string()))
}

/// Cloud metadata services (AWS, GCP, Azure: 169.254.169.254 and EC2's fd00:ec2::254; ECS task
/// credentials: 169.254.170.2; Alibaba: 100.100.100.200): they hand out credentials, so no
/// connection may reach them, whatever it allows.
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
pub fn refuse_credentials_in_url(url: &Url, what: &str, secrets: &str) -> Result<(), crate::Error> {
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
    async fn the_guard_refuses_metadata_always_and_private_addresses_unless_allowed() {
        for url in ["https://169.254.169.254", "https://[fd00:ec2::254]", "https://[::ffff:169.254.169.254]"] {
            let url = Url::parse(url).unwrap();
            assert!(matches!(resolve(&url, true).await, Err(GuardError::Metadata { .. })), "{url}");
        }
        let local = Url::parse("http://127.0.0.1:8080").unwrap();
        let refused = resolve(&local, false).await.unwrap_err();
        assert!(matches!(refused, GuardError::NotPublic { .. }) && !refused.is_retryable());
        assert_eq!(resolve(&local, true).await.unwrap(), vec!["127.0.0.1:8080".parse().unwrap()]);
        let public = Url::parse("https://93.184.216.34").unwrap();
        assert!(resolve(&public, false).await.is_ok());
    }
}
