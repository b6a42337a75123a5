//! A small chart of accounts and master data, enough to post invoices in EUR and USD.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::models::create_one;
use super::orm::World;
use shared::odoo::value::Val;

fn vals(pairs: Vec<(&str, Val)>) -> BTreeMap<String, Val> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Creates a record and returns its id.
type Create<'a> = dyn FnMut(&str, Vec<(&str, Val)>) -> i64 + 'a;

fn d(s: &str) -> Val {
    Val::Num(s.parse::<Decimal>().expect("seed decimal"))
}

pub fn seed(world: &mut World) {
    let mut c = |model: &str, pairs: Vec<(&str, Val)>| create_one(world, model, vals(pairs)).expect("seed record");
    // The company's currency comes first: moves default to it.
    c(
        "res.currency",
        vec![("name", "EUR".into()), ("symbol", "€".into()), ("rounding", d("0.01")), ("decimal_places", 2.into())],
    );
    c(
        "res.currency",
        vec![("name", "USD".into()), ("symbol", "$".into()), ("rounding", d("0.01")), ("decimal_places", 2.into())],
    );
    c(
        "res.currency",
        vec![("name", "JPY".into()), ("symbol", "¥".into()), ("rounding", d("1")), ("decimal_places", 0.into())],
    );
    let fr = c("res.country", vec![("name", "France".into()), ("code", "FR".into())]);
    let us = c("res.country", vec![("name", "United States".into()), ("code", "US".into())]);
    let de = c("res.country", vec![("name", "Germany".into()), ("code", "DE".into())]);
    let _ = (fr, de);
    c("res.country.state", vec![("name", "California".into()), ("code", "CA".into()), ("country_id", us.into())]);
    c("res.country.state", vec![("name", "New York".into()), ("code", "NY".into()), ("country_id", us.into())]);

    let company = c("res.partner", vec![("name", "My Company".into()), ("is_company", true.into())]);
    let bot = c("res.partner", vec![("name", "ml-connector bot".into())]);
    let _ = company;
    c("res.users", vec![("name", "Administrator".into()), ("login", "admin".into())]);
    c(
        "res.users",
        vec![("name", "ml-connector bot".into()), ("login", "bot@example.com".into()), ("partner_id", bot.into())],
    );

    let account = |c: &mut Create, code: &str, name: &str, kind: &str| {
        c("account.account", vec![("code", code.into()), ("name", name.into()), ("account_type", kind.into())])
    };
    let receivable = account(&mut c, "121000", "Account Receivable", "asset_receivable");
    let sales = account(&mut c, "400000", "Product Sales", "income");
    account(&mut c, "400100", "Apparel Sales", "income");
    account(&mut c, "400200", "Accessories Sales", "income");
    account(&mut c, "410000", "Shipping Income", "income_other");
    account(&mut c, "420000", "Fees Income", "income_other");
    let vat = account(&mut c, "445710", "VAT Collected", "liability_current");
    let sales_tax = account(&mut c, "251000", "Sales Tax Payable", "liability_current");
    c(
        "account.journal",
        vec![
            ("name", "Customer Invoices".into()),
            ("code", "INV".into()),
            ("type", "sale".into()),
            ("default_account_id", sales.into()),
        ],
    );
    c(
        "account.journal",
        vec![("name", "Miscellaneous Operations".into()), ("code", "MISC".into()), ("type", "general".into())],
    );
    c("account.journal", vec![("name", "Bank".into()), ("code", "BNK1".into()), ("type", "bank".into())]);

    let tax = |c: &mut Create, name: &str, rate: &str, included: bool| {
        c(
            "account.tax",
            vec![
                ("name", name.into()),
                ("amount", d(rate)),
                ("amount_type", "percent".into()),
                ("type_tax_use", "sale".into()),
                ("price_include", included.into()),
            ],
        )
    };
    let vat20 = tax(&mut c, "VAT 20%", "20", false);
    let vat55 = tax(&mut c, "VAT 5.5%", "5.5", false);
    let vat20_incl = tax(&mut c, "VAT 20% (included)", "20", true);
    let ca = tax(&mut c, "CA Sales Tax 7.25%", "7.25", false);
    c("account.analytic.account", vec![("name", "Online Store EU".into()), ("code", "CC-EU".into())]);
    c("account.analytic.account", vec![("name", "Online Store US".into()), ("code", "CC-US".into())]);
    c("account.analytic.account", vec![("name", "Wholesale".into()), ("code", "CC-WHS".into())]);

    c("account.payment.term", vec![("name", "Immediate Payment".into())]);
    c("account.payment.term", vec![("name", "30 Days".into())]);
    let all = c("product.category", vec![("name", "All".into())]);
    c("product.category", vec![("name", "Apparel".into()), ("parent_id", all.into())]);
    c("product.category", vec![("name", "Accessories".into()), ("parent_id", all.into())]);

    world.receivable_account = receivable;
    for t in [vat20, vat55, vat20_incl] {
        world.tax_accounts.insert(t, vat);
    }
    world.tax_accounts.insert(ca, sales_tax);
}
