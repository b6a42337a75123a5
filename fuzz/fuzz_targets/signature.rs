//! Signature verification never panics, accepts exactly the signature of the body, and refuses
//! any other header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shared::stores::woocommerce::signature::{sign, verify};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map(|&n| n as usize % (data.len().max(1))).unwrap_or(0);
    let (secret, rest) = data.split_at(split.min(data.len()));
    let secret = String::from_utf8_lossy(secret);
    let (header, body) = rest.split_at(rest.len() / 3);
    let header = String::from_utf8_lossy(header);
    let good = sign(&secret, body);
    assert!(verify(&secret, body, Some(&good)));
    assert_eq!(verify(&secret, body, Some(&header)), header.trim() == good);
    assert!(!verify(&secret, body, None));
});
