//! The independent vectors in `tests/vectors/` (a copy of `../shared/vectors/`, checked equal when
//! the original is beside the repository), run against the shared signing code.

use std::path::Path;

/// The copy's text; when the original exists it must be identical.
pub fn load(name: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let copy = std::fs::read_to_string(root.join("tests/vectors").join(name)).expect("the vectors copy");
    if let Ok(original) = std::fs::read_to_string(root.join("../shared/vectors").join(name)) {
        assert_eq!(copy, original, "tests/vectors/{name} is out of date with ../shared/vectors");
    }
    serde_json::from_str(&copy).expect("vectors are JSON")
}

mod oauth1 {
    use url::Url;

    use crate::http::oauth1::{Signer, query_pairs, signature_base_string};

    /// Every valid case is signed exactly as the vector's, base string and header included; every
    /// case whose client side is wrong gets a different signature from ours. The two remaining
    /// rejects are the server's doing (TLS offload, Magento's own ordering past index 9), and our
    /// signature there equals the RFC's.
    #[test]
    fn adobe_commerce_oauth_vectors() {
        let v = super::load("adobe-oauth1.json");
        let creds = &v["credentials"];
        let s = |k: &str| creds[k].as_str().unwrap();
        let signer = Signer {
            consumer_key: s("consumer_key"),
            consumer_secret: s("consumer_secret"),
            token: Some((s("access_token"), s("access_token_secret"))),
        };
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() >= 18);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let method = case["method"].as_str().unwrap();
            let url = Url::parse(case["url"].as_str().unwrap()).unwrap();
            let oauth: Vec<(String, String)> = case["oauth_params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let mut params = query_pairs(&url);
            params.extend(oauth.iter().cloned());
            let ours = signer.signature(method, &url, &params);
            let theirs = case["signature"].as_str().unwrap();
            let server_side = name.contains("TLS offload") || name.starts_with("caution");
            if case["valid"].as_bool().unwrap() {
                assert_eq!(signature_base_string(method, &url, &params), case["signature_base_string"], "{name}");
                assert_eq!(ours, theirs, "{name}");
                let header = crate::http::oauth1::authorization_header(&oauth, &ours);
                let mut ours: Vec<&str> = header.trim_start_matches("OAuth ").split(", ").collect();
                let expected = case["authorization_header"].as_str().unwrap();
                let mut theirs: Vec<&str> = expected.trim_start_matches("OAuth ").split(", ").collect();
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "{name}");
            } else if server_side {
                assert_eq!(ours, theirs, "{name}: the client side is right; the server is not");
            } else {
                assert_ne!(ours, theirs, "{name}: a wrong client algorithm must not match ours");
            }
        }
    }

    #[test]
    fn the_signer_builds_the_header_from_the_url_it_sends() {
        let url = Url::parse("https://shop.example.com/rest/default/V1/orders?searchCriteria%5BpageSize%5D=1").unwrap();
        let signer = Signer { consumer_key: "ck", consumer_secret: "cs", token: Some(("t", "ts")) };
        let header = signer.authorization("GET", &url, "n", 1);
        let mut params = query_pairs(&url);
        params.extend(signer.protocol_params("n", 1));
        let expected = crate::http::oauth1::encode(&signer.signature("GET", &url, &params));
        assert!(
            header.starts_with("OAuth ") && header.ends_with(&format!("oauth_signature=\"{expected}\"")),
            "{header}"
        );
        assert!(header.contains("oauth_token=\"t\""));
    }
}

mod standard_webhooks {
    use crate::http::standard_webhooks::{SignedHeaders, verify};

    /// BigCommerce's cases: the key is the client secret's UTF-8 bytes; `now` is the vectors'.
    #[test]
    fn bigcommerce_webhook_vectors() {
        let v = super::load("bigcommerce-webhooks.json");
        let now = v["now"].as_i64().unwrap();
        let key = v["client_secret"].as_str().unwrap().as_bytes();
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() >= 27);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let headers: std::collections::HashMap<String, String> = case["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_string()))
                .collect();
            let signed = SignedHeaders {
                id: headers.get("webhook-id").map(String::as_str),
                timestamp: headers.get("webhook-timestamp").map(String::as_str),
                signature: headers.get("webhook-signature").map(String::as_str),
            };
            let verdict = verify(key, signed, case["body"].as_str().unwrap().as_bytes(), now);
            assert_eq!(verdict.is_ok(), case["valid"].as_bool().unwrap(), "{name}: {verdict:?}");
        }
    }
}

mod adobe {
    use crate::stores::adobe_commerce::signature::{HEADER, WebhookKey};

    /// Adobe Commerce Webhooks: each case verified over its raw body against the key it names;
    /// a missing or empty header is a refusal, as the webhook's check treats it.
    #[test]
    fn adobe_commerce_webhook_vectors() {
        let v = super::load("adobe-webhooks.json");
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() >= 11);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let key = WebhookKey::from_pem(v[case["verify_with"].as_str().unwrap()].as_str().unwrap()).unwrap();
            let header = case["headers"][HEADER].as_str().map(str::trim).filter(|h| !h.is_empty());
            let verdict = header.map(|h| key.verify(case["body"].as_str().unwrap().as_bytes(), h));
            assert_eq!(verdict.is_some_and(|r| r.is_ok()), case["valid"].as_bool().unwrap(), "{name}: {verdict:?}");
        }
    }

    /// The IMS token request's wire body is the vectors' own, byte for byte.
    #[test]
    fn adobe_ims_vectors() {
        let v = super::load("adobe-ims.json");
        let example = &v["token_request"]["example"];
        let form = crate::stores::adobe_commerce::ims_token_form(
            example["client_id"].as_str().unwrap(),
            example["client_secret"].as_str().unwrap(),
        );
        assert_eq!(form, example["wire_body"].as_str().unwrap());
        let scopes: Vec<&str> =
            v["token_request"]["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert_eq!(scopes, crate::stores::adobe_commerce::IMS_SCOPES);
        let valid = v["cases"].as_array().unwrap().iter().find(|c| c["valid"] == true).unwrap();
        assert_eq!(form, valid["request"]["body"].as_str().unwrap());
    }
}
