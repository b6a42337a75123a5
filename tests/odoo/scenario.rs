//! One posting scenario, run over XML-RPC and over JSON-2: find or create a partner; create and
//! post an invoice with three lines, two taxes and an analytic distribution; bind its external id;
//! reverse it into a credit note. Both transports must give the same results, and the sandbox's
//! log must show exactly the calls the client made.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use shared::ids::OdooRef;
use shared::odoo::{OdooClient, Transport, TransportChoice, Val};

#[derive(Debug, PartialEq)]
struct Outcome {
    partner_created: bool,
    invoice_name: String,
    invoice_state: String,
    amounts: (Decimal, Decimal, Decimal),
    lines: Vec<(String, Decimal, Decimal)>,
    credit_note_type: String,
    credit_note_name: String,
    credit_note_amounts: (Decimal, Decimal, Decimal),
    credit_note_reverses_invoice: bool,
    external_id: Option<OdooRef>,
}

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

fn id_of(rows: &[Val], key: &str, value: &str) -> i64 {
    rows.iter()
        .find(|r| r.get(key).and_then(Val::as_str) == Some(value))
        .and_then(|r| r.get("id"))
        .and_then(Val::as_i64)
        .unwrap_or_else(|| panic!("no {key} = {value}"))
}

fn amounts(row: &Val) -> (Decimal, Decimal, Decimal) {
    let d = |f: &str| row.get(f).and_then(Val::as_decimal).unwrap();
    (d("amount_untaxed"), d("amount_tax"), d("amount_total"))
}

async fn find_or_create_partner(odoo: &OdooClient) -> (i64, bool) {
    let found = odoo
        .search_read("res.partner", Val::list([leaf("ref", "=", Val::from("woo-77"))]), &["id", "name"], Some(1), None)
        .await
        .unwrap();
    if let Some(p) = found.first() {
        return (p.get("id").and_then(Val::as_i64).unwrap(), false);
    }
    let countries = odoo
        .search_read("res.country", Val::list([leaf("code", "=", Val::from("FR"))]), &["id", "code"], None, None)
        .await
        .unwrap();
    let id = odoo
        .create(
            "res.partner",
            Val::map([
                ("name", Val::from("Ada Lovelace")),
                ("email", Val::from("ada@example.com")),
                ("ref", Val::from("woo-77")),
                ("country_id", Val::Int(id_of(&countries, "code", "FR"))),
            ]),
        )
        .await
        .unwrap();
    (id, true)
}

async fn run(odoo: &OdooClient) -> Outcome {
    let (partner, partner_created) = find_or_create_partner(odoo).await;
    let taxes = odoo
        .search_read(
            "account.tax",
            Val::list([leaf("name", "in", Val::list(["VAT 20%", "VAT 5.5%"]))]),
            &["id", "name", "amount"],
            None,
            None,
        )
        .await
        .unwrap();
    let accounts = odoo
        .search_read(
            "account.account",
            Val::list([leaf("code", "in", Val::list(["400100", "410000"]))]),
            &["id", "code"],
            None,
            None,
        )
        .await
        .unwrap();
    let analytic = odoo
        .search_read("account.analytic.account", Val::list(Vec::<Val>::new()), &["id", "code"], None, None)
        .await
        .unwrap();
    let (vat20, vat55) = (id_of(&taxes, "name", "VAT 20%"), id_of(&taxes, "name", "VAT 5.5%"));
    let (eu, wholesale) = (id_of(&analytic, "code", "CC-EU"), id_of(&analytic, "code", "CC-WHS"));
    let line =
        |name: &str, qty: Decimal, price: Decimal, discount: Decimal, tax: i64, account: &str, distribution: Val| {
            Val::list([
                Val::Int(0),
                Val::Int(0),
                Val::map([
                    ("name", Val::from(name)),
                    ("quantity", Val::Num(qty)),
                    ("price_unit", Val::Num(price)),
                    ("discount", Val::Num(discount)),
                    ("tax_ids", Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&[tax])])])),
                    ("account_id", Val::Int(id_of(&accounts, "code", account))),
                    ("analytic_distribution", distribution),
                ]),
            ])
        };
    let invoice = odoo
        .create(
            "account.move",
            Val::map([
                ("move_type", Val::from("out_invoice")),
                ("partner_id", Val::Int(partner)),
                ("invoice_date", Val::from("2026-11-20")),
                ("ref", Val::from("woo #1042")),
                (
                    "invoice_line_ids",
                    Val::list([
                        line(
                            "Shirt (M)",
                            dec!(2),
                            dec!(19.99),
                            dec!(10),
                            vat20,
                            "400100",
                            Val::map([(eu.to_string(), Val::Num(dec!(100)))]),
                        ),
                        line(
                            "Book",
                            dec!(1),
                            dec!(12.50),
                            dec!(0),
                            vat55,
                            "400100",
                            Val::map([
                                (eu.to_string(), Val::Num(dec!(60))),
                                (wholesale.to_string(), Val::Num(dec!(40))),
                            ]),
                        ),
                        line(
                            "Shipping",
                            dec!(1),
                            dec!(4.90),
                            dec!(0),
                            vat20,
                            "410000",
                            Val::map([(eu.to_string(), Val::Num(dec!(100)))]),
                        ),
                    ]),
                ),
            ]),
        )
        .await
        .unwrap();
    odoo.call_method("account.move", "action_post", &[invoice]).await.unwrap();
    let fields = [
        "name",
        "state",
        "move_type",
        "amount_untaxed",
        "amount_tax",
        "amount_total",
        "reversed_entry_id",
        "invoice_line_ids",
    ];
    let posted = odoo.read("account.move", &[invoice], &fields).await.unwrap().remove(0);
    let line_ids: Vec<i64> =
        posted.get("invoice_line_ids").and_then(Val::as_list).unwrap().iter().filter_map(Val::as_i64).collect();
    let lines = odoo.read("account.move.line", &line_ids, &["name", "price_subtotal", "price_total"]).await.unwrap();
    let external = OdooRef::new("account.move", invoice);
    odoo.bind_external_id("ml_connector", "acme_order_1042", &external).await.unwrap();

    let credit_notes = odoo.reverse_moves(&[invoice], "Returned", Some("2026-11-21")).await.unwrap();
    odoo.call_method("account.move", "action_post", &credit_notes).await.unwrap();
    let credit = odoo.read("account.move", &credit_notes, &fields).await.unwrap().remove(0);
    let found = odoo.find_external_id("ml_connector", "acme_order_1042").await.unwrap();

    Outcome {
        partner_created,
        invoice_name: posted.get("name").and_then(Val::as_str).unwrap().to_string(),
        invoice_state: posted.get("state").and_then(Val::as_str).unwrap().to_string(),
        amounts: amounts(&posted),
        lines: lines
            .iter()
            .map(|l| {
                let d = |f: &str| l.get(f).and_then(Val::as_decimal).unwrap();
                (l.get("name").and_then(Val::as_str).unwrap().to_string(), d("price_subtotal"), d("price_total"))
            })
            .collect(),
        credit_note_type: credit.get("move_type").and_then(Val::as_str).unwrap().to_string(),
        credit_note_name: credit.get("name").and_then(Val::as_str).unwrap().to_string(),
        credit_note_amounts: amounts(&credit),
        credit_note_reverses_invoice: credit.get("reversed_entry_id").and_then(Val::many2one_id) == Some(invoice),
        external_id: found,
    }
}

/// The calls the scenario makes, after connecting.
const SCENARIO_CALLS: &[(&str, &str)] = &[
    ("res.partner", "search_read"),
    ("res.country", "search_read"),
    ("res.partner", "create"),
    ("account.tax", "search_read"),
    ("account.account", "search_read"),
    ("account.analytic.account", "search_read"),
    ("account.move", "create"),
    ("account.move", "action_post"),
    ("account.move", "read"),
    ("account.move.line", "read"),
    ("ir.model.data", "create"),
    ("account.move.reversal", "create"),
    ("account.move.reversal", "refund_moves"),
    ("account.move", "action_post"),
    ("account.move", "read"),
    ("ir.model.data", "search_read"),
];

fn expected(prefix: &[(&str, &str)]) -> Vec<(String, String)> {
    prefix.iter().chain(SCENARIO_CALLS).map(|(m, f)| (m.to_string(), f.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_posting_over_xml_rpc_and_json2() {
    // Odoo 17 has no /web/version: the client falls back to common.version() and picks XML-RPC.
    let old = crate::sandbox(17).await;
    let xml = crate::client(&old, TransportChoice::Auto).await;
    assert_eq!(xml.transport(), Transport::XmlRpc);
    assert_eq!(xml.server_version(), "17.0");
    let over_xml = run(&xml).await;

    let new = crate::sandbox(19).await;
    let json = crate::client(&new, TransportChoice::Auto).await;
    assert_eq!(json.transport(), Transport::Json2);
    assert_eq!(json.server_version(), "19.0");
    let over_json = run(&json).await;

    assert_eq!(over_xml, over_json);

    // Figures worked out by hand: 2 × 19.99 less 10% = 35.982 → 35.98, VAT 20% 7.196 → 7.20;
    // 12.50 at 5.5% = 0.6875 → 0.69; shipping 4.90 at 20% = 0.98. Per-line rounding.
    assert!(over_json.partner_created);
    assert_eq!(over_json.amounts, (dec!(53.38), dec!(8.87), dec!(62.25)));
    assert_eq!(
        over_json.lines,
        vec![
            ("Shirt (M)".to_string(), dec!(35.98), dec!(43.18)),
            ("Book".to_string(), dec!(12.50), dec!(13.19)),
            ("Shipping".to_string(), dec!(4.90), dec!(5.88)),
        ]
    );
    assert_eq!(over_json.invoice_state, "posted");
    assert!(over_json.invoice_name.starts_with("INV/2026/"), "{}", over_json.invoice_name);
    assert_eq!(over_json.credit_note_type, "out_refund");
    assert!(over_json.credit_note_name.starts_with("RINV/2026/"), "{}", over_json.credit_note_name);
    assert_eq!(over_json.credit_note_amounts, over_json.amounts);
    assert!(over_json.credit_note_reverses_invoice);
    assert_eq!(over_json.external_id.as_ref().map(|r| r.model.as_str()), Some("account.move"));

    // The log holds exactly what the clients asked, in order.
    assert_eq!(old.call_names(), expected(&[("web", "version"), ("common", "version"), ("common", "authenticate")]));
    assert_eq!(new.call_names(), expected(&[("web", "version")]));
    assert!(new.calls().iter().skip(1).all(|c| c.transport == "json2"));
    assert!(old.calls().iter().skip(1).all(|c| c.transport == "xmlrpc"));

    // Running it again finds the partner instead of duplicating it.
    let (_, created_again) = find_or_create_partner(&json).await;
    assert!(!created_again);
    assert_eq!(
        new.search("res.partner", Val::list([Val::list([Val::from("ref"), Val::from("="), Val::from("woo-77")])]))
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_transport_wins_over_detection() {
    let new = crate::sandbox(19).await;
    let xml = crate::client(&new, TransportChoice::XmlRpc).await;
    assert_eq!(xml.transport(), Transport::XmlRpc);
    let outcome = run(&xml).await;
    assert_eq!(outcome.amounts, (dec!(53.38), dec!(8.87), dec!(62.25)));
    assert!(new.calls().iter().skip(1).all(|c| c.transport == "xmlrpc"));
}
