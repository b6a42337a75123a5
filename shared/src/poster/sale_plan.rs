//! From an order and the mapping rules to the sale order Odoo should hold: the same lines,
//! taxes, cost centers and total check as an invoice (an invoice is what the order becomes
//! once invoiced), each line on a product, shipping on its carrier's delivery product, and
//! the payment method's word on whether it is paid online and where. Pure, like `plan`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::plan::{LineKind, Lookups, PlanError, plan_sales_document};
use crate::records::SalesDocument;
use crate::rules::{Decision, MappingRules, PostingMode};

/// One line of the planned sale order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SaleLinePlan {
    pub kind: LineKind,
    pub store_line: Option<String>,
    pub name: String,
    pub product_id: i64,
    /// The SKU the product was found by (the delivery product's for shipping).
    pub product: String,
    pub quantity: Decimal,
    pub price_unit: Decimal,
    /// Net of tax.
    pub amount: Decimal,
    pub tax_ids: Vec<i64>,
    pub analytic: BTreeMap<String, Decimal>,
    pub is_delivery: bool,
    pub decision: Option<Decision>,
}

/// How the order is paid, from its payment method's rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaymentPlan {
    /// The store's method code; `None` when the order names none (nothing was paid at checkout).
    pub method: Option<String>,
    /// Paid online: invoiced from the order, posted, and the payment registered.
    pub online: bool,
    pub journal: Option<String>,
    pub journal_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalePlan {
    pub lines: Vec<SaleLinePlan>,
    /// The total Odoo will show: the store's.
    pub expected_total: Decimal,
    pub store_total: Decimal,
    pub rounding: Decimal,
    pub currency_id: i64,
    pub pricelist_id: Option<i64>,
    pub fiscal_position_id: Option<i64>,
    pub carrier_id: Option<i64>,
    /// Confirmed (`action_confirm`) or left a quotation.
    pub confirm: bool,
    pub payment: PaymentPlan,
}

fn product_for(
    rules_sku: Option<&str>,
    what: &str,
    setting: &str,
    lookups: &dyn Lookups,
) -> Result<(i64, String), PlanError> {
    let sku = rules_sku
        .ok_or_else(|| PlanError(format!("the order has {what} but sales.{setting} names no product for it")))?;
    let id = lookups.product(sku).ok_or_else(|| {
        PlanError(format!("product {sku} (sales.{setting}) is not in Odoo: create it with Internal Reference {sku}"))
    })?;
    Ok((id, sku.to_string()))
}

fn payment(doc: &SalesDocument, rules: &MappingRules, lookups: &dyn Lookups) -> Result<PaymentPlan, PlanError> {
    let Some(method) = &doc.payment_method else {
        return Ok(PaymentPlan { method: None, online: false, journal: None, journal_id: None });
    };
    let rule = rules.sales.payment_method(&method.code, method.title.as_deref()).ok_or_else(|| {
        PlanError(format!(
            "payment method {} ({}) is not mapped: add it to sales.payment_methods, online with its journal or offline",
            method.code,
            method.title.as_deref().unwrap_or("no title")
        ))
    })?;
    let journal_id = match (&rule.journal, rule.online) {
        (Some(code), true) => Some(
            lookups
                .journal_id(code)
                .ok_or_else(|| PlanError(format!("journal {code} (payment method {}) is not in Odoo", method.code)))?,
        ),
        _ => None,
    };
    Ok(PaymentPlan {
        method: Some(method.code.clone()),
        online: rule.online,
        journal: rule.journal.clone(),
        journal_id,
    })
}

/// Plans the sale order an order becomes.
pub fn plan_sale_order(
    doc: &SalesDocument,
    store: Option<&str>,
    rules: &MappingRules,
    lookups: &dyn Lookups,
) -> Result<SalePlan, PlanError> {
    // The invoice the order becomes, planned as invoice mode plans one; discounts stay in the
    // lines (a sale order line carries its net price).
    let mut as_invoice = rules.clone();
    as_invoice.posting.mode = PostingMode::Invoice;
    as_invoice.posting.discount_lines = false;
    let invoice = plan_sales_document(doc, store, &as_invoice, lookups)?;
    let mut carrier_id = None;
    let mut lines = Vec::with_capacity(invoice.lines.len());
    for l in invoice.lines {
        let (product_id, product, is_delivery) = match l.kind {
            LineKind::Product => {
                let source = l.store_line.as_deref().and_then(|id| doc.lines.iter().find(|d| d.line_id == id));
                let sku = source.and_then(|d| d.sku.as_ref()).map(|s| s.as_str().to_string()).ok_or_else(|| {
                    PlanError(format!("line {:?} has no SKU, so no Odoo product can be found for it", l.name))
                })?;
                let id = l.product_id.ok_or_else(|| {
                    PlanError(format!(
                        "product {sku} is not in Odoo: create it with Internal Reference {sku}, then replay"
                    ))
                })?;
                (id, sku, false)
            }
            LineKind::Shipping => {
                let id = l.store_line.as_deref().and_then(|s| s.strip_prefix("ship:"));
                let line = doc.shipping.iter().find(|s| Some(s.line_id.as_str()) == id);
                let (method, title) =
                    line.map(|s| (s.method_id.as_deref(), s.title.as_str())).unwrap_or((None, &l.name));
                let rule = rules.sales.shipping_method(method, title).ok_or_else(|| {
                    PlanError(format!(
                        "shipping method {} ({title}) is not mapped to an Odoo carrier: add it to sales.shipping_methods",
                        method.unwrap_or("no id")
                    ))
                })?;
                let carrier = lookups
                    .carrier(&rule.carrier)
                    .ok_or_else(|| PlanError(format!("carrier {:?} is not in Odoo", rule.carrier)))?;
                carrier_id.get_or_insert(carrier.id);
                (carrier.product_id, format!("carrier {}", rule.carrier), true)
            }
            LineKind::Fee => {
                let (id, sku) = product_for(rules.sales.fee_product.as_deref(), "a fee", "fee_product", lookups)?;
                (id, sku, false)
            }
            LineKind::Rounding => {
                let (id, sku) = product_for(
                    rules.sales.rounding_product.as_deref(),
                    "a rounding difference with the store",
                    "rounding_product",
                    lookups,
                )?;
                (id, sku, false)
            }
            // Not planned for an invoice: discounts stay in the lines, tax lines are Odoo's.
            LineKind::Discount | LineKind::Tax | LineKind::Receivable => continue,
        };
        lines.push(SaleLinePlan {
            kind: l.kind,
            store_line: l.store_line,
            name: l.name,
            product_id,
            product,
            quantity: l.quantity,
            price_unit: l.price_unit,
            amount: l.amount,
            tax_ids: l.tax_ids,
            analytic: l.analytic,
            is_delivery,
            decision: l.decision,
        });
    }
    let named = |name: &Option<String>, what: &str, find: &dyn Fn(&str) -> Option<i64>| {
        name.as_deref()
            .map(|n| find(n).ok_or_else(|| PlanError(format!("{what} {n:?} (sales rules) is not in Odoo"))))
            .transpose()
    };
    let pricelist_id = named(&rules.sales.pricelist, "pricelist", &|n| lookups.pricelist(n))?;
    let fiscal_position_id = named(&rules.sales.fiscal_position, "fiscal position", &|n| lookups.fiscal_position(n))?;
    Ok(SalePlan {
        lines,
        expected_total: invoice.expected_total,
        store_total: invoice.store_total,
        rounding: invoice.rounding,
        currency_id: invoice.currency_id.unwrap_or_default(),
        pricelist_id,
        fiscal_position_id,
        carrier_id,
        confirm: rules.sales.confirm,
        payment: payment(doc, rules, lookups)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poster::plan::{Carrier, TaxInfo};
    use crate::records::samples;
    use rust_decimal_macros::dec;

    /// Odoo with product SHIRT-M (11), the flat-rate carrier (product 90), a bank journal.
    struct Odoo;
    impl Lookups for Odoo {
        fn currency(&self, code: &str) -> Option<i64> {
            (code == "EUR").then_some(1)
        }
        fn account(&self, code: &str) -> Option<i64> {
            code.parse().ok()
        }
        fn tax(&self, name: &str) -> Option<TaxInfo> {
            (name == "VAT 20%").then_some(TaxInfo { id: 1, percent: dec!(20), price_include: false })
        }
        fn analytic(&self, _: &str) -> Option<i64> {
            None
        }
        fn product(&self, sku: &str) -> Option<i64> {
            match sku {
                "SHIRT-M" => Some(11),
                "ROUND" => Some(12),
                _ => None,
            }
        }
        fn carrier(&self, name: &str) -> Option<Carrier> {
            (name == "Flat rate").then_some(Carrier { id: 5, product_id: 90 })
        }
        fn journal_id(&self, code: &str) -> Option<i64> {
            (code == "BNK1").then_some(3)
        }
    }

    fn rules(sales: serde_json::Value) -> MappingRules {
        MappingRules::from_json(&serde_json::json!({
            "posting": { "mode": "sale_order" },
            "accounts": { "shipping": "410000", "rounding": "658000" },
            "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
            "lines": [ { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100" } ],
            "sales": sales,
        }))
        .unwrap()
    }

    fn mapped() -> serde_json::Value {
        serde_json::json!({
            "payment_methods": [ { "store_method": "stripe", "online": true, "journal": "BNK1" },
                                 { "store_method": "cod", "online": false } ],
            "shipping_methods": [ { "store_method": "flat_rate", "carrier": "Flat rate" } ],
            "rounding_product": "ROUND"
        })
    }

    #[test]
    fn an_order_is_planned_on_products_and_its_carrier_with_the_store_s_total() {
        let plan = plan_sale_order(&samples::order(), None, &rules(mapped()), &Odoo).unwrap();
        let lines: Vec<(i64, Decimal, Decimal, bool)> =
            plan.lines.iter().map(|l| (l.product_id, l.quantity, l.price_unit, l.is_delivery)).collect();
        // 39.98 less a 4.00 coupon over 2 shirts is 17.99 each; shipping on the carrier's product.
        assert_eq!(lines, vec![(11, dec!(2), dec!(17.99), false), (90, dec!(1), dec!(4.90), true)]);
        assert_eq!(plan.carrier_id, Some(5));
        assert_eq!(plan.expected_total, samples::order().totals.total);
        assert!(plan.confirm, "confirmed unless the rules say otherwise");
        assert_eq!(
            plan.payment,
            PaymentPlan {
                method: Some("stripe".into()),
                online: true,
                journal: Some("BNK1".into()),
                journal_id: Some(3)
            }
        );
        let mut cod = samples::order();
        cod.payment_method = Some(crate::records::PaymentMethod { code: "COD".into(), title: None });
        let offline = plan_sale_order(&cod, None, &rules(mapped()), &Odoo).unwrap().payment;
        assert!(!offline.online && offline.journal_id.is_none(), "{offline:?}");
    }

    #[test]
    fn what_odoo_lacks_or_the_rules_do_not_map_is_a_reason() {
        let fail = |doc: &SalesDocument, sales: serde_json::Value| {
            plan_sale_order(doc, None, &rules(sales), &Odoo).unwrap_err().0
        };
        let mut hat = samples::order();
        hat.lines[0].sku = Some(crate::ids::Sku::parse("HAT-9").unwrap());
        assert!(fail(&hat, mapped()).contains("product HAT-9 is not in Odoo"));
        let mut express = samples::order();
        express.shipping[0].method_id = Some("express".into());
        express.shipping[0].title = "Express".into();
        assert!(fail(&express, mapped()).contains("shipping method express (Express) is not mapped"));
        let mut paypal = samples::order();
        paypal.payment_method =
            Some(crate::records::PaymentMethod { code: "paypal".into(), title: Some("PayPal".into()) });
        assert!(fail(&paypal, mapped()).contains("payment method paypal (PayPal) is not mapped"));
        let mut no_bank = mapped();
        no_bank["payment_methods"][0]["journal"] = "BNK9".into();
        assert!(fail(&samples::order(), no_bank).contains("journal BNK9"));
        let mut no_pricelist = mapped();
        no_pricelist["pricelist"] = "VIP".into();
        assert!(fail(&samples::order(), no_pricelist).contains("pricelist \"VIP\""));
        // A cent the store rounded differently needs a product to sit on.
        let mut cent = samples::order();
        cent.totals.total += dec!(0.01);
        let mut no_rounding = mapped();
        no_rounding.as_object_mut().unwrap().remove("rounding_product");
        assert!(fail(&cent, no_rounding).contains("sales.rounding_product"));
        let rounded = plan_sale_order(&cent, None, &rules(mapped()), &Odoo).unwrap();
        assert_eq!(rounded.lines.last().map(|l| (l.product_id, l.amount)), Some((12, dec!(0.01))));
    }

    #[test]
    fn an_online_method_without_a_journal_is_refused_with_the_rules() {
        let doc = serde_json::json!({
            "accounts": { "shipping": "1", "rounding": "2" }, "lines": [],
            "sales": { "payment_methods": [ { "store_method": "stripe", "online": true } ] }
        });
        let err = MappingRules::from_json(&doc).unwrap_err().to_string();
        assert!(err.contains("\"stripe\" is paid online but names no journal"), "{err}");
    }
}
