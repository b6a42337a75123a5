//! The sandbox's accounting rules, through the client: journal entries must balance, price-included
//! taxes, line updates with Command tuples, payments through their wizard, unique external ids.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use shared::ids::OdooRef;
use shared::odoo::{OdooClient, OdooError, TransportChoice, Val};

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

async fn id_by(odoo: &OdooClient, model: &str, field: &str, value: &str) -> i64 {
    let rows =
        odoo.search_read(model, Val::list([leaf(field, "=", Val::from(value))]), &["id"], Some(1), None).await.unwrap();
    rows[0].get("id").and_then(Val::as_i64).unwrap()
}

fn entry_line(account: i64, debit: Decimal, credit: Decimal) -> Val {
    Val::list([
        Val::Int(0),
        Val::Int(0),
        Val::map([
            ("account_id", Val::Int(account)),
            ("name", Val::from("x")),
            ("debit", Val::Num(debit)),
            ("credit", Val::Num(credit)),
        ]),
    ])
}

async fn amount(odoo: &OdooClient, id: i64, field: &str) -> Val {
    odoo.read("account.move", &[id], &[field]).await.unwrap()[0].get(field).cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_entries_must_balance_and_reverse_posted() {
    let sandbox = crate::sandbox(19).await;
    let odoo = crate::client(&sandbox, TransportChoice::Auto).await;
    let receivable = id_by(&odoo, "account.account", "code", "121000").await;
    let sales = id_by(&odoo, "account.account", "code", "400000").await;

    let unbalanced = odoo
        .create(
            "account.move",
            Val::map([(
                "line_ids",
                Val::list([entry_line(receivable, dec!(100), dec!(0)), entry_line(sales, dec!(0), dec!(99.99))]),
            )]),
        )
        .await
        .unwrap();
    let err = odoo.call_method("account.move", "action_post", &[unbalanced]).await.unwrap_err();
    assert!(matches!(&err, OdooError::Validation { message } if message.contains("not balanced")), "{err:?}");
    assert_eq!(amount(&odoo, unbalanced, "state").await, Val::from("draft"));

    // Fix the second line with a (1, id, vals) command, then it posts.
    let lines =
        odoo.read("account.move", &[unbalanced], &["line_ids"]).await.unwrap()[0].get("line_ids").cloned().unwrap();
    let second = lines.as_list().unwrap()[1].as_i64().unwrap();
    odoo.write(
        "account.move",
        &[unbalanced],
        Val::map([(
            "line_ids",
            Val::list([Val::list([Val::Int(1), Val::Int(second), Val::map([("credit", Val::Num(dec!(100)))])])]),
        )]),
    )
    .await
    .unwrap();
    odoo.call_method("account.move", "action_post", &[unbalanced]).await.unwrap();
    assert_eq!(amount(&odoo, unbalanced, "state").await, Val::from("posted"));
    assert_eq!(amount(&odoo, unbalanced, "amount_total").await, Val::Num(dec!(100)));

    // A posted entry cannot be edited, only reversed; the reversal of an entry is posted at once.
    let err = odoo
        .write(
            "account.move",
            &[unbalanced],
            Val::map([("line_ids", Val::list([entry_line(sales, dec!(0), dec!(1))]))]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OdooError::Validation { .. }), "{err:?}");
    let reversal = odoo.reverse_moves(&[unbalanced], "wrong customer", None).await.unwrap();
    let row = odoo
        .read("account.move", &reversal, &["state", "move_type", "reversed_entry_id", "line_ids"])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(row.get("state"), Some(&Val::from("posted")));
    assert_eq!(row.get("move_type"), Some(&Val::from("entry")));
    assert_eq!(row.get("reversed_entry_id").and_then(Val::many2one_id), Some(unbalanced));
    let reversed_lines: Vec<i64> =
        row.get("line_ids").and_then(Val::as_list).unwrap().iter().filter_map(Val::as_i64).collect();
    let debits = odoo.read("account.move.line", &reversed_lines, &["account_id", "debit", "credit"]).await.unwrap();
    let on_receivable =
        debits.iter().find(|l| l.get("account_id").and_then(Val::many2one_id) == Some(receivable)).unwrap();
    assert_eq!(on_receivable.get("credit"), Some(&Val::Num(dec!(100))));

    // Draft moves cannot be reversed.
    let draft = odoo
        .create("account.move", Val::map([("line_ids", Val::list([entry_line(receivable, dec!(1), dec!(0))]))]))
        .await
        .unwrap();
    let err = odoo.reverse_moves(&[draft], "no", None).await.unwrap_err();
    assert_eq!(err, OdooError::Validation { message: "You can only reverse posted moves.".into() });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_included_taxes_and_payments() {
    let sandbox = crate::sandbox(17).await;
    let odoo = crate::client(&sandbox, TransportChoice::Auto).await;
    let included = id_by(&odoo, "account.tax", "name", "VAT 20% (included)").await;
    let partner = odoo.create("res.partner", Val::map([("name", Val::from("Buyer"))])).await.unwrap();
    let line = |price: Decimal| {
        Val::list([
            Val::Int(0),
            Val::Int(0),
            Val::map([
                ("name", Val::from("Gift")),
                ("price_unit", Val::Num(price)),
                ("tax_ids", Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&[included])])])),
            ]),
        ])
    };
    let invoice = odoo
        .create(
            "account.move",
            Val::map([
                ("move_type", Val::from("out_invoice")),
                ("partner_id", Val::Int(partner)),
                ("invoice_line_ids", Val::list([line(dec!(24.00)), line(dec!(19.99))])),
            ]),
        )
        .await
        .unwrap();
    // 24.00 incl. 20% = 20.00 + 4.00; 19.99 incl. 20% = 16.66 (19.99 / 1.2 = 16.658…) + 3.33.
    assert_eq!(amount(&odoo, invoice, "amount_untaxed").await, Val::Num(dec!(36.66)));
    assert_eq!(amount(&odoo, invoice, "amount_tax").await, Val::Num(dec!(7.33)));
    assert_eq!(amount(&odoo, invoice, "amount_total").await, Val::Num(dec!(43.99)));

    // Payment needs a posted invoice, then settles it.
    let err =
        odoo.register_payment(&[invoice], Val::map([("payment_date", Val::from("2026-11-22"))])).await.unwrap_err();
    assert!(matches!(err, OdooError::Validation { .. }), "{err:?}");
    odoo.call_method("account.move", "action_post", &[invoice]).await.unwrap();
    odoo.register_payment(&[invoice], Val::map([("amount", Val::Num(dec!(40)))])).await.unwrap();
    assert_eq!(amount(&odoo, invoice, "payment_state").await, Val::from("partial"));
    assert_eq!(amount(&odoo, invoice, "amount_residual").await, Val::Num(dec!(3.99)));
    odoo.register_payment(&[invoice], Val::map::<&str>([])).await.unwrap();
    assert_eq!(amount(&odoo, invoice, "payment_state").await, Val::from("paid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ids_are_unique_per_module() {
    let sandbox = crate::sandbox(19).await;
    let odoo = crate::client(&sandbox, TransportChoice::Auto).await;
    let partner = odoo.create("res.partner", Val::map([("name", Val::from("Once"))])).await.unwrap();
    let target = OdooRef::new("res.partner", partner);
    assert_eq!(odoo.find_external_id("ml_connector", "woo_customer_77").await.unwrap(), None);
    odoo.bind_external_id("ml_connector", "woo_customer_77", &target).await.unwrap();
    let err = odoo.bind_external_id("ml_connector", "woo_customer_77", &target).await.unwrap_err();
    assert!(matches!(&err, OdooError::Validation { message } if message.contains("same external ID")), "{err:?}");
    odoo.bind_external_id("other_module", "woo_customer_77", &target).await.unwrap();
    assert_eq!(odoo.find_external_id("ml_connector", "woo_customer_77").await.unwrap(), Some(target));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_states_must_belong_to_their_country() {
    let sandbox = crate::sandbox(19).await;
    let odoo = crate::client(&sandbox, TransportChoice::Auto).await;
    let fr = id_by(&odoo, "res.country", "code", "FR").await;
    let us = id_by(&odoo, "res.country", "code", "US").await;
    let ca = id_by(&odoo, "res.country.state", "code", "CA").await;
    let err = odoo
        .create(
            "res.partner",
            Val::map([("name", Val::from("P")), ("country_id", Val::Int(fr)), ("state_id", Val::Int(ca))]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OdooError::Validation { .. }), "{err:?}");
    let ok = odoo
        .create(
            "res.partner",
            Val::map([("name", Val::from("P")), ("country_id", Val::Int(us)), ("state_id", Val::Int(ca))]),
        )
        .await
        .unwrap();
    let row = odoo.read("res.partner", &[ok], &["state_id", "country_id"]).await.unwrap().remove(0);
    assert_eq!(row.get("state_id"), Some(&Val::list([Val::Int(ca), Val::from("California")])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_carry_codes_and_categories_into_invoice_lines() {
    let sandbox = crate::sandbox(19).await;
    let odoo = crate::client(&sandbox, TransportChoice::Auto).await;
    let apparel = id_by(&odoo, "product.category", "name", "Apparel").await;
    let apparel_sales = id_by(&odoo, "account.account", "code", "400100").await;
    odoo.write(
        "product.category",
        &[apparel],
        Val::map([("property_account_income_categ_id", Val::Int(apparel_sales))]),
    )
    .await
    .unwrap();
    let shirt = odoo
        .create(
            "product.product",
            Val::map([
                ("name", Val::from("Shirt")),
                ("default_code", Val::from("SHIRT-M")),
                ("categ_id", Val::Int(apparel)),
                ("lst_price", Val::Num(dec!(19.99))),
            ]),
        )
        .await
        .unwrap();
    let found = odoo
        .search_read(
            "product.product",
            Val::list([leaf("default_code", "=", Val::from("SHIRT-M"))]),
            &["display_name", "categ_id", "product_tmpl_id"],
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(found[0].get("display_name"), Some(&Val::from("[SHIRT-M] Shirt")));
    assert_eq!(found[0].get("categ_id"), Some(&Val::list([Val::Int(apparel), Val::from("All / Apparel")])));
    assert!(found[0].get("product_tmpl_id").and_then(Val::many2one_id).is_some());

    // A line with a product and no account takes the category's income account, as Odoo does.
    let partner = odoo.create("res.partner", Val::map([("name", Val::from("Buyer"))])).await.unwrap();
    let invoice = odoo
        .create(
            "account.move",
            Val::map([
                ("move_type", Val::from("out_invoice")),
                ("partner_id", Val::Int(partner)),
                (
                    "invoice_line_ids",
                    Val::list([Val::list([
                        Val::Int(0),
                        Val::Int(0),
                        Val::map([("product_id", Val::Int(shirt)), ("price_unit", Val::Num(dec!(19.99)))]),
                    ])]),
                ),
            ]),
        )
        .await
        .unwrap();
    let lines = odoo.read("account.move", &[invoice], &["invoice_line_ids"]).await.unwrap()[0]
        .get("invoice_line_ids")
        .cloned()
        .unwrap();
    let line = odoo
        .read("account.move.line", &[lines.as_list().unwrap()[0].as_i64().unwrap()], &["account_id", "quantity"])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(line.get("account_id").and_then(Val::many2one_id), Some(apparel_sales));
    assert_eq!(line.get("quantity"), Some(&Val::Num(dec!(1))));
}
