//! Adobe Commerce Webhooks' signature (`api-facts.md` §3.5): the header
//! `x-adobe-commerce-webhook-signature` holds base64 of an RSA PKCS#1 v1.5 SHA-256 signature
//! over the ASCII of **base64(raw body)**, checked against the PEM public key Commerce shows in
//! Admin. The raw bytes are what count: re-serializing the JSON loses PHP's `\/` and `\uXXXX`.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

pub const HEADER: &str = "x-adobe-commerce-webhook-signature";

/// A webhook public key, parsed once: the RSA key inside the PEM's SubjectPublicKeyInfo.
#[derive(Clone)]
pub struct WebhookKey {
    rsa_der: Vec<u8>,
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookKey({} bytes)", self.rsa_der.len())
    }
}

/// One DER element at the start of `input`: its tag, contents and what follows.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// rsaEncryption, 1.2.840.113549.1.1.1.
const RSA_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

impl WebhookKey {
    /// A `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) or `-----BEGIN RSA PUBLIC KEY-----`
    /// (PKCS#1) PEM.
    pub fn from_pem(pem: &str) -> Result<WebhookKey, String> {
        let pkcs1 = pem.contains("BEGIN RSA PUBLIC KEY");
        let body: String = pem.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
        let der = B64.decode(body.as_bytes()).map_err(|_| "the public key is not PEM (base64)".to_string())?;
        if pkcs1 {
            return Ok(WebhookKey { rsa_der: der });
        }
        let not_rsa = || "the public key is not an RSA SubjectPublicKeyInfo".to_string();
        let (0x30, spki, _) = element(&der).ok_or_else(not_rsa)? else { return Err(not_rsa()) };
        let (0x30, algorithm, rest) = element(spki).ok_or_else(not_rsa)? else { return Err(not_rsa()) };
        let (0x06, oid, _) = element(algorithm).ok_or_else(not_rsa)? else { return Err(not_rsa()) };
        if oid != RSA_OID {
            return Err("the public key is not an RSA key (Commerce signs with RSA)".into());
        }
        let (0x03, bits, _) = element(rest).ok_or_else(not_rsa)? else { return Err(not_rsa()) };
        match bits.split_first() {
            Some((0, key)) => Ok(WebhookKey { rsa_der: key.to_vec() }),
            _ => Err(not_rsa()),
        }
    }

    /// Does `signature` (the header's base64) sign this raw body?
    pub fn verify(&self, body: &[u8], signature: &str) -> Result<(), &'static str> {
        let signature = B64.decode(signature.trim().as_bytes()).map_err(|_| "the signature is not base64")?;
        let message = B64.encode(body);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.rsa_der)
            .verify(message.as_bytes(), &signature)
            .map_err(|_| "the signature does not match the body and the connection's public key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_rsa_public_keys_are_refused_with_a_reason() {
        assert!(WebhookKey::from_pem("not a key").is_err());
        // An EC key's SPKI (prime256v1), which Commerce never uses.
        let ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVa4yPJk9X5tL6Wk6Zs3u8B1bWq7h\nRkq2tF0m3Yq4f1x7Zc9p0QmE0kA3r9s5yJb1V0m2H7n6qf9XcQ2l8mK3pA==\n-----END PUBLIC KEY-----\n";
        let err = WebhookKey::from_pem(ec).unwrap_err();
        assert!(err.contains("not an RSA key"), "{err}");
    }
}
