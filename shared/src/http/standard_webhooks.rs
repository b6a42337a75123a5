//! Standard Webhooks signatures (the spec at standard-webhooks/standard-webhooks), as BigCommerce
//! signs its callbacks: headers `webhook-id`, `webhook-timestamp` (unix seconds) and
//! `webhook-signature`, a space-separated list of `<version>,<base64>` entries of which only `v1`
//! (HMAC-SHA256) counts. Signed content = `{id}.{timestamp}.{raw body}`. A timestamp more than
//! [`TOLERANCE_SECONDS`] from now is refused, so a captured delivery cannot be replayed later.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The reference libraries accept `|now - timestamp| <= 300`.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The three headers, as the request carried them (empty counts as missing).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("header {0} is missing")]
    Missing(&'static str),
    #[error("webhook-timestamp is not a unix time")]
    BadTimestamp,
    #[error("webhook-timestamp is {0} s from now, more than {TOLERANCE_SECONDS} s")]
    OutsideTolerance(i64),
    #[error("no v1 signature matches")]
    NoMatch,
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a delivery (what a sender writes).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", B64.encode(mac(key, id, &timestamp.to_string(), body).finalize().into_bytes()))
}

/// Whether the delivery was signed with `key` within the tolerance of `now` (unix seconds).
/// Entries that are not `v1`, or not `<version>,<signature>` at all, are skipped.
pub fn verify(key: &[u8], headers: SignedHeaders, body: &[u8], now: i64) -> Result<(), Refused> {
    fn present<'h>(v: Option<&'h str>, name: &'static str) -> Result<&'h str, Refused> {
        v.map(str::trim).filter(|v| !v.is_empty()).ok_or(Refused::Missing(name))
    }
    let id = present(headers.id, "webhook-id")?;
    let timestamp = present(headers.timestamp, "webhook-timestamp")?;
    let signatures = present(headers.signature, "webhook-signature")?;
    let at: i64 = timestamp.parse().map_err(|_| Refused::BadTimestamp)?;
    let drift = now.saturating_sub(at);
    if drift.abs() > TOLERANCE_SECONDS {
        return Err(Refused::OutsideTolerance(drift));
    }
    let matches = signatures.split(' ').filter_map(|entry| entry.split_once(',')).any(|(version, signature)| {
        version == "v1"
            && B64.decode(signature).is_ok_and(|raw| mac(key, id, timestamp, body).verify_slice(&raw).is_ok())
    });
    if matches { Ok(()) } else { Err(Refused::NoMatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_signed_verifies_and_anything_changed_does_not() {
        let key = b"client-secret";
        let sig = sign(key, "msg_1", 1_000, b"{}");
        let headers = SignedHeaders { id: Some("msg_1"), timestamp: Some("1000"), signature: Some(&sig) };
        assert_eq!(verify(key, headers, b"{}", 1_000), Ok(()));
        assert_eq!(verify(key, headers, b"{ }", 1_000), Err(Refused::NoMatch));
        assert_eq!(verify(b"other", headers, b"{}", 1_000), Err(Refused::NoMatch));
        assert_eq!(verify(key, headers, b"{}", 1_301), Err(Refused::OutsideTolerance(301)));
        let two = format!("v1a,xyz v1,{}", &sig[3..]);
        assert_eq!(verify(key, SignedHeaders { signature: Some(&two), ..headers }, b"{}", 1_000), Ok(()));
        assert_eq!(
            verify(key, SignedHeaders { id: None, ..headers }, b"{}", 1_000),
            Err(Refused::Missing("webhook-id"))
        );
    }
}
