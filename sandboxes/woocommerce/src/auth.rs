//! The sandbox's own WooCommerce authentication, written from the reference (`api-facts.md`
//! §1.1 and §1.5), never from the product's code: a second implementation, so a wrong
//! algorithm in the product's client or webhook check fails the tests instead of passing them.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};

/// PHP's `rawurlencode`: everything but RFC 3986's unreserved characters as `%XX`, upper case.
fn rawurlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What WooCommerce's `check_oauth_signature()` expects: the parameters (every query parameter
/// but `oauth_signature`) sorted by key in byte order, then each key and value encoded and
/// joined as `key=value` with `&`; the base string `METHOD&enc(url)&enc(params)`; HMAC with the
/// declared method keyed by `consumer_secret&`, base64. `None` for another signature method.
pub fn oauth_signature(
    method: &str,
    url: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    signature_method: &str,
) -> Option<String> {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "oauth_signature").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{}={}", rawurlencode(k), rawurlencode(v))).collect();
    let base = format!("{}&{}&{}", method.to_ascii_uppercase(), rawurlencode(url), rawurlencode(&joined.join("&")));
    let key = format!("{consumer_secret}&");
    let raw = match signature_method {
        "HMAC-SHA1" => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "HMAC-SHA256" => hmac_sha256(key.as_bytes(), base.as_bytes()),
        _ => return None,
    };
    Some(B64.encode(raw))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `X-WC-Webhook-Signature` as WooCommerce computes it: base64 of HMAC-SHA256 of the raw body,
/// keyed by the secret after `wp_specialchars_decode($secret, ENT_QUOTES)`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    let mut decoded = secret.to_string();
    for (entity, plain) in
        [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#039;", "'"), ("&#39;", "'"), ("&amp;", "&")]
    {
        decoded = decoded.replace(entity, plain);
    }
    B64.encode(hmac_sha256(decoded.as_bytes(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The independently computed cases in `tests/vectors` (a copy of `../shared/vectors`).
    #[test]
    fn webhook_signatures_match_the_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/vectors/woocommerce-webhooks.json")).unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 5);
        for case in cases {
            let (secret, body, given) = (
                case["secret"].as_str().unwrap(),
                case["body"].as_str().unwrap(),
                case["signature"].as_str().unwrap_or(""),
            );
            let ours = webhook_signature(secret, body.as_bytes());
            assert_eq!(ours == given, case["valid"].as_bool().unwrap(), "{}", case["name"]);
        }
    }

    #[test]
    fn the_signature_depends_on_method_key_order_encoding_and_the_trailing_ampersand() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let params = vec![p("per_page", "100"), p("oauth_nonce", "n 1"), p("modified_after", "2026-11-20T09:00:00")];
        let a =
            oauth_signature("GET", "http://shop.test/wp-json/wc/v3/orders", &params, "cs_x", "HMAC-SHA256").unwrap();
        let reordered = vec![params[2].clone(), params[0].clone(), params[1].clone()];
        assert_eq!(
            oauth_signature("GET", "http://shop.test/wp-json/wc/v3/orders", &reordered, "cs_x", "HMAC-SHA256").unwrap(),
            a,
            "order of arrival does not matter"
        );
        assert_ne!(
            oauth_signature("GET", "http://shop.test/wp-json/wc/v3/orders", &params, "cs_x", "HMAC-SHA1").unwrap(),
            a
        );
        assert_ne!(
            oauth_signature("GET", "http://shop.test/wp-json/wc/v3/Orders", &params, "cs_x", "HMAC-SHA256").unwrap(),
            a
        );
        assert_eq!(rawurlencode("n 1+~/"), "n%201%2B~%2F");
        assert!(oauth_signature("GET", "http://x", &params, "cs_x", "PLAINTEXT").is_none());
    }
}
