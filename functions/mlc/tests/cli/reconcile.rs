//! `mlc reconcile` on a sandbox store of 1,000 orders after Odoo was tampered with: 7 invoices
//! deleted, 2 duplicated, 1 altered. Exactly those 10 are reported, the 7 are posted again once,
//! and the run says how many store and Odoo requests it used.

use super::*;

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

fn invoice_of(w: &World, order: i64) -> i64 {
    let domain = Val::list([
        leaf("invoice_origin", "=like", Val::Str(format!("mlc:shop:order:{order}:%"))),
        leaf("move_type", "=", Val::from("out_invoice")),
    ]);
    let found = w.odoo.search("account.move", domain);
    assert_eq!(found.len(), 1, "order {order}: {found:?}");
    found[0]
}

/// A second posted invoice for the same order, as a copy made by hand in Odoo would be.
fn duplicate(w: &World, invoice: i64) {
    let m = w.odoo.read("account.move", &[invoice], &["partner_id", "invoice_origin", "invoice_line_ids"]).remove(0);
    let lines: Vec<i64> =
        m.get("invoice_line_ids").and_then(Val::as_list).unwrap().iter().filter_map(Val::as_i64).collect();
    let copies: Vec<Val> = w
        .odoo
        .read("account.move.line", &lines, &["name", "quantity", "price_unit", "account_id", "tax_ids"])
        .into_iter()
        .map(|l| {
            let taxes = l.get("tax_ids").cloned().unwrap();
            Val::list([
                Val::Int(0),
                Val::Int(0),
                Val::map([
                    ("name", l.get("name").cloned().unwrap()),
                    ("quantity", l.get("quantity").cloned().unwrap()),
                    ("price_unit", l.get("price_unit").cloned().unwrap()),
                    ("account_id", Val::Int(l.get("account_id").and_then(Val::many2one_id).unwrap())),
                    ("tax_ids", Val::list([Val::list([Val::Int(6), Val::Int(0), taxes])])),
                ]),
            ])
        })
        .collect();
    let vals = Val::map([
        ("move_type", Val::from("out_invoice")),
        ("partner_id", Val::Int(m.get("partner_id").and_then(Val::many2one_id).unwrap())),
        ("invoice_origin", m.get("invoice_origin").cloned().unwrap()),
        ("invoice_line_ids", Val::List(copies)),
    ]);
    let copy = w.odoo.create("account.move", vals).unwrap();
    w.odoo.press("account.move", "action_post", &[copy]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_orders_with_ten_tampered_report_exactly_those_and_the_missing_are_posted_once() {
    let w = World::start().await;
    w.connected().await;
    let day = (Utc::now() - Span::days(1)).date_naive();
    let t0 = day.and_hms_opt(0, 30, 0).unwrap().and_utc();
    for i in 0..1000 {
        w.store.add_order(80_000 + i, 0, "processing", t0 + Span::seconds(i * 60));
    }
    let sync = w.mlc(&["backfill", "--from", &day.to_string()]).await;
    assert_eq!(sync.code, 0, "{}", sync.all());
    assert_eq!(w.invoices_by_order().len(), 1000);

    let deleted: Vec<i64> = [3, 140, 141, 500, 777, 901, 999].iter().map(|i| 80_000 + i).collect();
    for order in &deleted {
        let id = invoice_of(&w, *order);
        w.odoo.press("account.move", "button_draft", &[id]).unwrap();
        w.odoo.press("account.move", "unlink", &[id]).unwrap();
    }
    for order in [80_010, 80_020] {
        duplicate(&w, invoice_of(&w, order));
    }
    let altered = invoice_of(&w, 80_030);
    w.odoo.press("account.move", "button_draft", &[altered]).unwrap();
    let line = w.odoo.read("account.move", &[altered], &["invoice_line_ids"])[0]
        .get("invoice_line_ids")
        .and_then(Val::as_list)
        .unwrap()[0]
        .as_i64()
        .unwrap();
    let price = w.odoo.read("account.move.line", &[line], &["price_unit"])[0]
        .get("price_unit")
        .and_then(Val::as_decimal)
        .unwrap();
    w.odoo
        .write("account.move.line", &[line], Val::map([("price_unit", Val::Num(price + rust_decimal::Decimal::ONE))]))
        .unwrap();
    w.odoo.press("account.move", "action_post", &[altered]).unwrap();

    let d = day.to_string();
    let run = w.mlc(&["reconcile", "--from", &d, "--to", &d, "--json"]).await;
    assert_eq!(run.code, 3, "3 documents are left for review:\n{}", run.all());
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let report = &out["reconciliation"];
    assert_eq!(report["store_documents"], 1000);
    let gaps: Vec<(String, String)> = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["gap"].as_str().unwrap().to_string(), d["source_id"].as_str().unwrap().to_string()))
        .collect();
    let mut want: Vec<(String, String)> =
        deleted.iter().map(|o| ("missing_in_odoo".to_string(), o.to_string())).collect();
    want.extend([
        ("in_odoo_twice".to_string(), "80010".to_string()),
        ("in_odoo_twice".to_string(), "80020".to_string()),
    ]);
    want.push(("amount_differs".to_string(), "80030".to_string()));
    let mut got = gaps.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "exactly the ten");
    let differs = report["discrepancies"].as_array().unwrap().iter().find(|d| d["gap"] == "amount_differs").unwrap();
    let (store, odoo) = (differs["store_total"].as_str().unwrap(), differs["odoo"][0]["total"].as_str().unwrap());
    assert_ne!(store, odoo, "both figures are reported: {differs}");
    assert_eq!(report["backfilled"], 7);
    assert_eq!(out["posted"]["posted"], 7, "{}", run.stdout);
    let (store_requests, odoo_requests) =
        (report["store_requests"].as_u64().unwrap(), report["odoo_requests"].as_u64().unwrap());
    assert!((10..40).contains(&store_requests), "read page by page: {store_requests} store requests");
    assert!(odoo_requests <= 20, "one search per page of markers, not per order: {odoo_requests} Odoo requests");
    println!("reconciling 1,000 orders: {store_requests} store requests, {odoo_requests} Odoo requests");

    // The seven are posted once each; a second run finds only what was left for review.
    let counts = w.invoices_by_order();
    for order in &deleted {
        assert_eq!(counts.get(&order.to_string()), Some(&1), "order {order}");
    }
    w.odoo.clear_calls();
    let again = w.mlc(&["reconcile", "--from", &d, "--to", &d]).await;
    assert_eq!(again.code, 3, "{}", again.all());
    // What it says it asked Odoo is what Odoo answered (besides the version probe and login).
    let searches = w.odoo.calls().iter().filter(|c| c.method == "search_read").count();
    assert!(again.stdout.contains(&format!(", {searches} Odoo request(s)")), "{searches} searches:\n{}", again.stdout);
    assert_eq!(again.stdout.matches("in Odoo twice").count(), 2, "{}", again.stdout);
    assert_eq!(again.stdout.matches("amount differs").count(), 1, "{}", again.stdout);
    assert!(!again.stdout.contains("missing in Odoo"), "{}", again.stdout);
    assert!(again.stdout.contains("store request(s)") && again.stdout.contains("Odoo request(s)"), "{}", again.stdout);
    let trail = w.mlc(&["trace", "80003"]).await;
    assert!(trail.stdout.contains("reconciliation: missing in Odoo"), "{}", trail.stdout);
}
