//! `X-WC-Webhook-Signature`: base64 of HMAC-SHA256 over the raw body bytes, keyed by the webhook
//! secret after WordPress's `wp_specialchars_decode` (so a stored `&amp;` signs as `&`).

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What `wp_specialchars_decode($secret, ENT_QUOTES)` leaves of a stored secret.
fn decode_secret(secret: &str) -> String {
    secret
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The signature WooCommerce sends for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(decode_secret(secret).as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of exactly these body bytes. Constant-time; a missing,
/// empty, hex, SHA-1 or otherwise malformed header is simply not valid.
pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.map(str::trim).filter(|h| !h.is_empty()) else { return false };
    let Ok(given) = B64.decode(given) else { return false };
    let mut mac = HmacSha256::new_from_slice(decode_secret(secret).as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_raw_bytes_and_decodes_the_stored_secret() {
        let body = br#"{"id":1}"#;
        assert!(verify("s3cret", body, Some(&sign("s3cret", body))));
        assert!(!verify("s3cret", br#"{"id": 1}"#, Some(&sign("s3cret", body))));
        assert_eq!(sign("a&amp;b", body), sign("a&b", body));
        assert!(!verify("s3cret", body, None));
        assert!(!verify("s3cret", body, Some("")));
        assert!(!verify("s3cret", body, Some("not base64 !!")));
    }
}
