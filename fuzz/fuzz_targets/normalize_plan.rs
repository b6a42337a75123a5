//! Normalization and the posting plan together, with the extremes. The fuzzer's bytes become
//! (a) amounts spliced into a real WooCommerce order, drawn from a list of extremes (Decimal's
//! limits, `-0`, 28 decimal places, scientific notation) or taken as text, which is normalized
//! and, when accepted, planned in both posting modes; and (b) arbitrary decimals put straight
//! into a sales document (a replayed message skips normalization), which is planned too. Every
//! input ends as a plan or an error; nothing panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use shared::poster::plan::{self, Lookups, TaxInfo};
use shared::records::SalesDocument;
use shared::rules::MappingRules;
use shared::stores::woocommerce::normalize::{self, CategoryPaths, WooOrder};

const EVENT: &str = include_str!("../../events/woocommerce-webhook/order-created.json");
const EXTREMES: &[&str] = &[
    "79228162514264337593543950335",
    "-79228162514264337593543950335",
    "0.0000000000000000000000000001",
    "-0",
    "-0.00",
    "1000000000000",
    "1000000000000.01",
    "-999999999999.9999",
    "1e28",
    "1E-28",
    "0.3333333333333333333333333333",
    "",
];

struct Odoo;
impl Lookups for Odoo {
    fn account(&self, code: &str) -> Option<i64> {
        code.parse().ok()
    }
    fn tax(&self, name: &str) -> Option<TaxInfo> {
        (name == "VAT 20%").then(|| TaxInfo { id: 1, percent: Decimal::from(20), price_include: false })
    }
    fn analytic(&self, code: &str) -> Option<i64> {
        (code == "CC").then_some(7)
    }
    fn product(&self, _: &str) -> Option<i64> {
        None
    }
}

fn rules(mode: &str) -> MappingRules {
    MappingRules::from_json(&serde_json::json!({
        "posting": { "mode": mode, "rounding_tolerance": "0.05" },
        "accounts": { "shipping": "410000", "fees": "420000", "rounding": "658000", "discount": "709000", "receivable": "121000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%", "account": "445700" }, { "store_rate": "2", "odoo_tax": "VAT 20%", "account": "445700" } ],
        "lines": [ { "name": "all", "when": {}, "account": "400100", "analytic": [ { "account": "CC", "percent": "100" } ] } ]
    }))
    .expect("the fuzz rules are valid")
}

fn plan_both(doc: &SalesDocument) {
    for mode in ["invoice", "journal_entry"] {
        let _ = plan::plan_sales_document(doc, Some("shop.example"), &rules(mode), &Odoo);
    }
}

fn decimal(bytes: &[u8]) -> Decimal {
    let mut raw = [0u8; 16];
    raw[..bytes.len().min(16)].copy_from_slice(&bytes[..bytes.len().min(16)]);
    let mantissa = i128::from_le_bytes(raw) >> 32; // 96 bits and a sign
    Decimal::try_from_i128_with_scale(mantissa, u32::from(raw[15] % 29)).unwrap_or(Decimal::MAX)
}

fuzz_target!(|data: &[u8]| {
    let event: serde_json::Value = serde_json::from_str(EVENT).expect("the sample event is JSON");
    let mut order: serde_json::Value = serde_json::from_str(event["body"].as_str().expect("a body")).expect("the body is an order");
    let fields = ["total", "total_tax", "shipping_total", "discount_total"];
    let line_fields = ["total", "subtotal", "total_tax", "quantity"];
    for (i, chunk) in data.chunks(4).take(32).enumerate() {
        let text = match chunk[0] % 3 {
            0 => EXTREMES[usize::from(chunk.get(1).copied().unwrap_or(0)) % EXTREMES.len()].to_string(),
            _ => String::from_utf8_lossy(&chunk[1..]).into_owned(),
        };
        match i % 3 {
            0 => order[fields[i % fields.len()]] = serde_json::Value::String(text),
            1 => {
                if let Some(line) = order["line_items"].get_mut(i % 2) {
                    line[line_fields[(i / 3) % line_fields.len()]] = serde_json::Value::String(text);
                }
            }
            _ => {
                if let Some(tax) = order["line_items"].get_mut(i % 2).and_then(|l| l["taxes"].get_mut(0)) {
                    tax["total"] = serde_json::Value::String(text);
                }
            }
        }
    }
    if let Ok(order) = serde_json::from_value::<WooOrder>(order)
        && let Ok((_, _, doc)) = normalize::order(&order, &CategoryPaths::new())
    {
        plan_both(&doc);
    }

    // Past normalization: arbitrary decimals in every amount of a sample order.
    let mut doc = shared::records::samples::order();
    let mut values = data.chunks(16).map(decimal);
    let mut next = || values.next().unwrap_or(Decimal::ZERO);
    for line in &mut doc.lines {
        (line.quantity, line.subtotal, line.total, line.discount) = (next(), next(), next(), next());
        for tax in &mut line.taxes {
            tax.amount = next();
        }
    }
    for s in &mut doc.shipping {
        s.total = next();
    }
    doc.totals.total = next();
    plan_both(&doc);
});
