//! Normalization of structurally valid orders with arbitrary values: the fuzzer's bytes are
//! spliced into a real order's fields (amounts, quantities, dates, currency, number). Every order
//! either normalizes or is refused with an error; nothing panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shared::stores::woocommerce::normalize::{self, CategoryPaths, WooOrder};

/// The sample delivery of `events/`: a full WooCommerce order.
const EVENT: &str = include_str!("../../events/woocommerce-webhook/order-created.json");

fuzz_target!(|data: &[u8]| {
    let event: serde_json::Value = serde_json::from_str(EVENT).expect("the sample event is JSON");
    let mut order: serde_json::Value = serde_json::from_str(event["body"].as_str().expect("a body")).expect("the body is an order");
    let fields = ["total", "total_tax", "shipping_total", "discount_total", "currency", "date_modified_gmt", "date_created_gmt", "status", "number"];
    for (i, chunk) in data.chunks(8).enumerate() {
        let text = String::from_utf8_lossy(chunk).into_owned();
        let field = fields[i % fields.len()];
        order[field] = serde_json::Value::String(text.clone());
        if let Some(line) = order["line_items"].get_mut(i % 2) {
            let key = ["total", "subtotal", "quantity", "price"][i % 4];
            line[key] = if key == "quantity" { serde_json::json!(chunk.first().copied().unwrap_or(0) as i64 - 100) } else { serde_json::Value::String(text) };
        }
    }
    if let Ok(order) = serde_json::from_value::<WooOrder>(order) {
        let _ = normalize::order(&order, &CategoryPaths::new());
    }
});
