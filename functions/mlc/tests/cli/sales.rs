//! Sales-order mode from the command line: the catalogue both sides hold (read live, then kept),
//! the rules' mode shown, a preview of the sale order an order would become, and a trace that
//! follows order → sale order → invoice → payment.

use super::*;

/// The products, carrier, pricelist and fiscal position the rules below name.
fn stock_odoo(odoo: &Sandbox) {
    let goods = [
        ("SHIRT-M", "Shirt (M)"),
        ("SHIRT-L", "Shirt (L)"),
        ("HAT-1", "Hat"),
        ("BOOK-1", "Rust in Action"),
        ("BOOK-2", "Zero to Production"),
    ];
    odoo.add_sales_setup(&goods).unwrap();
}

fn sales_rules() -> serde_json::Value {
    let mut r = rules();
    r["posting"]["mode"] = "sale_order".into();
    r["sales"] = serde_json::json!({
        "pricelist": "Public Pricelist",
        "payment_methods": [ { "store_method": "stripe", "online": true, "journal": "BNK1" }, { "store_method": "cod", "online": false } ],
        "shipping_methods": [ { "store_method": "flat_rate", "carrier": "Flat rate" } ]
    });
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_preview_and_trace_in_sale_order_mode() {
    let w = World::start().await;
    w.connected().await;
    stock_odoo(&w.odoo);
    let file = w.dir.path().join("sales.json");
    std::fs::write(&file, sales_rules().to_string()).unwrap();
    assert_eq!(w.mlc(&["mappings", "set", file.to_str().unwrap()]).await.code, 0);
    let show = w.mlc(&["mappings", "show"]).await;
    assert!(show.stdout.contains("posting mode sale_order"), "{}", show.stdout);

    // The catalogue: what the rules above were written from, on both sides.
    let cat = w.mlc(&["mappings", "catalogue"]).await;
    assert_eq!(cat.code, 0, "{}", cat.all());
    for expected in [
        "read live at",
        "stripe",
        "Cash on delivery",
        "flat_rate",
        "Local pickup",
        "BNK1",
        "bank",
        "Flat rate",
        "30 Days",
        "Public Pricelist",
        "EU B2C",
    ] {
        assert!(cat.stdout.contains(expected), "{expected} is missing:\n{}", cat.stdout);
    }
    assert!(!cat.stdout.contains("Direct bank transfer"), "a disabled gateway is listed:\n{}", cat.stdout);
    // Asked again within the hour: kept, no store call; --refresh reads again.
    let before = w.store.requests();
    let kept = w.mlc(&["mappings", "catalogue", "--json"]).await;
    assert_eq!(w.store.requests(), before, "the kept catalogue was read again");
    let kept: serde_json::Value = serde_json::from_str(&kept.stdout).unwrap();
    assert_eq!(kept["store"]["payment_methods"].as_array().map(Vec::len), Some(3), "{kept}");
    let fresh = w.mlc(&["mappings", "catalogue", "--refresh"]).await;
    assert!(fresh.stdout.contains("read live at") && w.store.requests() > before, "{}", fresh.stdout);

    // The sale order an order would become, written nowhere.
    let t = Utc::now() - Span::hours(1);
    let order = w.store.add_order(6401, 0, "processing", t);
    w.odoo.clear_calls();
    let preview = w.mlc(&["preview", "6401"]).await;
    assert_eq!(preview.code, 0, "{}", preview.all());
    assert!(preview.stdout.contains("sale-order mode"), "{}", preview.stdout);
    assert!(preview.stdout.contains("carrier Flat rate"), "{}", preview.stdout);
    assert!(
        preview.stdout.contains(&format!("= store total {}", order["total"].as_str().unwrap())),
        "{}",
        preview.stdout
    );
    assert!(preview.stdout.contains("invoiced, posted and paid in journal BNK1"), "{}", preview.stdout);
    assert!(w.writes_to_odoo().is_empty(), "a preview wrote to Odoo: {:?}", w.writes_to_odoo());

    // Posted, and traced from the order to its payment.
    assert_eq!(w.mlc(&["sync"]).await.code, 0);
    let trace = w.mlc(&["trace", "6401"]).await;
    assert_eq!(trace.code, 0, "{}", trace.all());
    for expected in ["sale.order", "confirmed", "invoice INV/", "payment of", "registered in journal BNK1"] {
        assert!(trace.stdout.contains(expected), "{expected} is missing:\n{}", trace.stdout);
    }
}
