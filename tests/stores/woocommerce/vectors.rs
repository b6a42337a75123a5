//! Every signature vector computed independently (Python's `hmac`) gives its expected verdict.
//! `tests/vectors/` holds a copy of `../shared/vectors/` so a clean clone can run alone; when the
//! original is beside the repository, the copy must still equal it.

use shared::stores::woocommerce::signature::verify;

const COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/woocommerce-webhooks.json");
const ORIGINAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/woocommerce-webhooks.json");

#[test]
fn every_vector_gives_its_verdict() {
    let text = std::fs::read_to_string(COPY).expect("the vectors copy");
    if let Ok(original) = std::fs::read_to_string(ORIGINAL) {
        assert_eq!(text, original, "tests/vectors is out of date with ../shared/vectors");
    }
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 11, "only {} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let secret = case["secret"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let signature = case["signature"].as_str();
        let expected = case["valid"].as_bool().unwrap();
        assert_eq!(verify(secret, body.as_bytes(), signature), expected, "vector {name:?}");
    }
}
