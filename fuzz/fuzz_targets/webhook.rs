//! A webhook delivery as the handler parses it: headers and a body from the fuzzer, the body
//! correctly signed half the time so parsing is reached; topic, JSON and record shape are then
//! parsed and normalized. Nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shared::stores::woocommerce::normalize::{self, CategoryPaths, WooCustomer, WooOrder};
use shared::stores::woocommerce::signature::{sign, verify};

const SECRET: &str = "fuzz-webhook-secret";
const TOPICS: &[&str] = &["order.created", "order.updated", "order.deleted", "customer.created", "customer.updated", "product.updated", "action.woocommerce_order_refunded", ""];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let topic = TOPICS[selector as usize % TOPICS.len()];
    let header = if selector & 0x80 == 0 { sign(SECRET, body) } else { String::from_utf8_lossy(&body[..body.len().min(44)]).into_owned() };
    if !verify(SECRET, body, Some(&header)) {
        return;
    }
    let (resource, _event) = topic.split_once('.').unwrap_or((topic, ""));
    match resource {
        "order" => {
            if let Ok(order) = serde_json::from_slice::<WooOrder>(body) {
                let _ = normalize::order(&order, &CategoryPaths::new());
            }
        }
        "customer" => {
            if let Ok(customer) = serde_json::from_slice::<WooCustomer>(body) {
                let _ = normalize::customer(&customer);
            }
        }
        _ => {
            let _ = serde_json::from_slice::<serde_json::Value>(body);
        }
    }
});
