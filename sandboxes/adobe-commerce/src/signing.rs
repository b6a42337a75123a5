//! Webhook signatures made with the sandbox's own RSA key (the vectors' test key): RSA PKCS#1
//! v1.5 SHA-256 over base64 of the body, as the Commerce module signs, and the body serialized
//! the way PHP's `json_encode` writes it (`\/`, `\uXXXX`).

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    B64.decode(body).expect("a PEM key")
}

/// `x-adobe-commerce-webhook-signature` for `body`, with the PKCS#8 private key `pem`.
pub fn sign(private_pem: &str, body: &[u8]) -> String {
    let key = RsaKeyPair::from_pkcs8(&der_of(private_pem)).expect("an RSA PKCS#8 key");
    let message = B64.encode(body);
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), message.as_bytes(), &mut signature).expect("signing");
    B64.encode(signature)
}

/// JSON as PHP's `json_encode` writes it by default: `/` escaped, non-ASCII as `\uXXXX`.
pub fn php_json(value: &serde_json::Value) -> String {
    php_escape(&serde_json::to_string(value).expect("JSON"))
}

/// JSON text with `/` and non-ASCII written as PHP's `json_encode` does.
pub fn php_escape(plain: &str) -> String {
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox's signatures and bodies are the vectors' own, byte for byte.
    #[test]
    fn signatures_and_php_bodies_match_the_vectors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/adobe-webhooks.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let key = v["test_private_key_pem"].as_str().unwrap();
        let mut valid = 0;
        for case in v["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            if !name.starts_with("valid") {
                continue;
            }
            valid += 1;
            let body = case["body"].as_str().unwrap();
            let given = case["headers"]["x-adobe-commerce-webhook-signature"].as_str().unwrap();
            assert_eq!(sign(key, body.as_bytes()), given, "{name}: PKCS#1 v1.5 is deterministic");
        }
        assert!(valid >= 3);
        // The re-serialized (JSON.stringify) body, PHP-escaped, is the body Commerce sent.
        let cases = v["cases"].as_array().unwrap();
        let restyled = cases.iter().find(|c| c["name"].as_str().unwrap().contains("re-serialized")).unwrap();
        let sent = cases.iter().find(|c| c["name"].as_str().unwrap().starts_with("valid: product_save")).unwrap();
        assert_eq!(php_escape(restyled["body"].as_str().unwrap()), sent["body"].as_str().unwrap());
    }
}
