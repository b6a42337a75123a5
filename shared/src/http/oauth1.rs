//! OAuth 1.0a request signing (RFC 5849 §3.4–3.6), HMAC-SHA256: what Adobe Commerce PaaS
//! integrations (consumer key and secret plus access token and secret) and WooCommerce over plain
//! HTTP (one-legged: no token, so the key is `consumer_secret&`) both check.
//!
//! Base string = `METHOD&enc(base URI)&enc(normalized parameters)`; the base URI has no query and
//! no default port; the parameters are every query pair plus the `oauth_*` ones, each key and value
//! RFC 3986-encoded, sorted by encoded key, then value. JSON bodies are not signed.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;
use zeroize::Zeroizing;

/// RFC 3986 unreserved characters stay; every other byte is percent-encoded (§3.6). A space is
/// `%20`, never `+`: Magento reads `+` literally.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decoding as a server reads a query: `%XY` becomes its byte, `+` stays `+`.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query written the way signatures expect to read it back: every key and value encoded.
pub fn query_string(params: &[(String, String)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The URL's query pairs, decoded.
pub fn query_pairs(url: &Url) -> Vec<(String, String)> {
    url.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// `scheme://host[:port]/path`: no query or fragment; the url crate has already lower-cased the
/// scheme and host and dropped a default port.
pub fn base_string_uri(url: &Url) -> String {
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    base.to_string()
}

/// Every parameter encoded, sorted by encoded key then encoded value, joined with `&`.
pub fn normalized_parameters(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().filter(|(k, _)| k != "oauth_signature").map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

pub fn signature_base_string(method: &str, url: &Url, params: &[(String, String)]) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_string_uri(url)),
        encode(&normalized_parameters(params))
    )
}

/// Who signs: the consumer, and the access token when there is one (none in one-legged OAuth).
pub struct Signer<'a> {
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    pub token: Option<(&'a str, &'a str)>,
}

impl Signer<'_> {
    /// `enc(consumer_secret)&enc(token_secret)`; the token secret is empty when there is no token.
    fn key(&self) -> Zeroizing<String> {
        let token_secret = self.token.map(|(_, secret)| secret).unwrap_or_default();
        Zeroizing::new(format!("{}&{}", encode(self.consumer_secret), encode(token_secret)))
    }

    /// The `oauth_*` parameters of one request, before its signature.
    pub fn protocol_params(&self, nonce: &str, timestamp: i64) -> Vec<(String, String)> {
        let mut params = vec![
            ("oauth_consumer_key".to_string(), self.consumer_key.to_string()),
            ("oauth_nonce".to_string(), nonce.to_string()),
            ("oauth_signature_method".to_string(), "HMAC-SHA256".to_string()),
            ("oauth_timestamp".to_string(), timestamp.to_string()),
            ("oauth_version".to_string(), "1.0".to_string()),
        ];
        if let Some((token, _)) = self.token {
            params.push(("oauth_token".to_string(), token.to_string()));
        }
        params
    }

    /// The base64 HMAC-SHA256 of the request's base string; `params` holds the query pairs and the
    /// `oauth_*` ones.
    pub fn signature(&self, method: &str, url: &Url, params: &[(String, String)]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key().as_bytes()).expect("HMAC takes any key length");
        mac.update(signature_base_string(method, url, params).as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// `Authorization: OAuth …` for a request to `url` (its query is signed too).
    pub fn authorization(&self, method: &str, url: &Url, nonce: &str, timestamp: i64) -> String {
        let protocol = self.protocol_params(nonce, timestamp);
        let mut all = query_pairs(url);
        all.extend(protocol.iter().cloned());
        let signature = self.signature(method, url, &all);
        authorization_header(&protocol, &signature)
    }
}

/// `OAuth k="v", …, oauth_signature="…"`, every value encoded (Magento URL-decodes each).
pub fn authorization_header(protocol: &[(String, String)], signature: &str) -> String {
    let mut parts: Vec<String> = protocol.iter().map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v))).collect();
    parts.push(format!("oauth_signature=\"{}\"", encode(signature)));
    format!("OAuth {}", parts.join(", "))
}

/// A nonce of 32 characters, the most Magento stores.
pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_legged_signing_keys_with_the_consumer_secret_and_an_ampersand() {
        // Worked by hand: two params, one needing encoding; key "cs_x&".
        let url = Url::parse("http://shop.test/wp-json/wc/v3/orders").unwrap();
        let params = vec![
            ("page".to_string(), "2".to_string()),
            ("modified_after".to_string(), "2026-11-20T09:00:00".to_string()),
        ];
        let signer = Signer { consumer_key: "ck", consumer_secret: "cs_x", token: None };
        let base = "GET&http%3A%2F%2Fshop.test%2Fwp-json%2Fwc%2Fv3%2Forders&modified_after%3D2026-11-20T09%253A00%253A00%26page%3D2";
        assert_eq!(signature_base_string("get", &url, &params), base);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"cs_x&").unwrap();
        mac.update(base.as_bytes());
        assert_eq!(signer.signature("GET", &url, &params), B64.encode(mac.finalize().into_bytes()));
        assert_eq!(encode("a b+c/~"), "a%20b%2Bc%2F~");
        let with_query = Url::parse("https://s.test/p?a%5B0%5D=x%20y&b=1+2").unwrap();
        assert_eq!(query_pairs(&with_query), vec![("a[0]".into(), "x y".into()), ("b".into(), "1+2".into())]);
        assert_eq!(base_string_uri(&with_query), "https://s.test/p");
    }
}
