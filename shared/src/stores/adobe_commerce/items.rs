//! Magento's item rows: which ones count, and each one's taxes by rate.
//!
//! An order holds parent and child items (`parent_item_id`, `product_type`), and its invoices
//! and credit memos repeat them. A configurable parent carries the price and its child is zero;
//! a dynamic bundle's children carry theirs and the parent only repeats their sum. Whichever
//! side carries the money is counted, never both.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::Result;
use crate::money;
use crate::records::LineTax;

/// One rate applied to an item, from the order's `item_applied_taxes`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedRate {
    pub code: String,
    pub title: Option<String>,
    pub percent: Option<Decimal>,
    /// What the rate came to on the whole order item: the weight for splitting a part of it.
    pub amount: Decimal,
}

/// The order's items, by id, with their children and rates.
pub struct OrderItems<'a> {
    by_id: HashMap<i64, &'a Value>,
    children: HashMap<i64, Vec<i64>>,
    rates: HashMap<i64, Vec<AppliedRate>>,
    shipping_rates: Vec<AppliedRate>,
}

fn rates_of(list: &Value) -> Result<Vec<AppliedRate>> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            Ok(AppliedRate {
                code: t["code"].as_str().unwrap_or_default().to_string(),
                title: t["title"].as_str().map(String::from),
                percent: match &t["percent"] {
                    Value::Null => None,
                    _ => Some(money::json_field(t, "percent")?),
                },
                amount: money::json_field(t, "amount")?,
            })
        })
        .collect()
}

impl<'a> OrderItems<'a> {
    pub fn of(order: &'a Value) -> Result<OrderItems<'a>> {
        let mut by_id = HashMap::new();
        let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
        for item in order["items"].as_array().into_iter().flatten() {
            let Some(id) = item["item_id"].as_i64() else { continue };
            by_id.insert(id, item);
            if let Some(parent) = item["parent_item_id"].as_i64() {
                children.entry(parent).or_default().push(id);
            }
        }
        let (mut rates, mut shipping_rates) = (HashMap::new(), Vec::new());
        for applied in order["extension_attributes"]["item_applied_taxes"].as_array().into_iter().flatten() {
            let list = rates_of(&applied["applied_taxes"])?;
            match (applied["type"].as_str(), applied["item_id"].as_i64()) {
                (Some("shipping"), _) => shipping_rates.extend(list),
                (_, Some(item)) => rates.entry(item).or_insert_with(Vec::new).extend(list),
                _ => {}
            }
        }
        Ok(OrderItems { by_id, children, rates, shipping_rates })
    }

    pub fn item(&self, id: i64) -> Option<&'a Value> {
        self.by_id.get(&id).copied()
    }

    /// Whether `parent`'s children carry the money (a dynamic bundle).
    fn priced_by_children(&self, parent: i64) -> bool {
        self.children.get(&parent).into_iter().flatten().any(|child| {
            self.by_id.get(child).is_some_and(|c| money::json_field(c, "row_total").is_ok_and(|t| !t.is_zero()))
        })
    }

    /// Does the order item `id` count as a line (see the module's comment)?
    pub fn counts(&self, id: i64) -> bool {
        let Some(item) = self.by_id.get(&id) else { return true };
        match item["parent_item_id"].as_i64() {
            Some(parent) => self.priced_by_children(parent),
            None => !self.priced_by_children(id),
        }
    }

    /// The rates on an order item: from `item_applied_taxes`, else its own `tax_percent`
    /// (named by the percent, as Magento's tax summary does).
    pub fn rates(&self, id: i64) -> Vec<AppliedRate> {
        if let Some(r) = self.rates.get(&id).filter(|r| !r.is_empty()) {
            return r.clone();
        }
        let percent =
            self.by_id.get(&id).and_then(|i| money::json_field(i, "tax_percent").ok()).filter(|p| !p.is_zero());
        percent
            .map(|p| {
                vec![AppliedRate {
                    code: format!("{}%", p.normalize()),
                    title: None,
                    percent: Some(p),
                    amount: Decimal::ONE,
                }]
            })
            .unwrap_or_default()
    }

    pub fn shipping_rates(&self) -> &[AppliedRate] {
        &self.shipping_rates
    }
}

/// `tax` split across `rates` by what each came to on the order (the last takes what rounding
/// leaves), so the parts always add up to the store's figure.
pub fn split_tax(tax: Decimal, rates: &[AppliedRate], decimals: u32) -> Result<Vec<LineTax>> {
    if tax.is_zero() && rates.is_empty() {
        return Ok(Vec::new());
    }
    let line = |r: &AppliedRate, amount| LineTax {
        rate_id: r.code.clone(),
        label: r.title.clone(),
        rate_percent: r.percent,
        amount,
    };
    let Some((last, first)) = rates.split_last() else {
        // Tax without a named rate: kept under one the rules can still name.
        let unnamed = AppliedRate { code: "unnamed".into(), title: None, percent: None, amount: tax };
        return Ok(vec![line(&unnamed, tax)]);
    };
    let weights: Vec<Decimal> = rates.iter().map(|r| r.amount.abs()).collect();
    let total = money::sum(weights.iter().copied(), "a line's tax rates")?;
    let mut out = Vec::with_capacity(rates.len());
    let mut left = tax;
    for (r, w) in first.iter().zip(&weights) {
        let share = if total.is_zero() {
            Decimal::ZERO
        } else {
            money::div(money::mul(tax, *w, "a tax share")?, total, "a tax share")?.round_dp(decimals)
        };
        left = money::sub(left, share, "a tax share")?;
        out.push(line(r, share));
    }
    out.push(line(last, left));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn order() -> Value {
        json!({ "items": [
            { "item_id": 10, "product_type": "configurable", "row_total": 52 },
            { "item_id": 11, "product_type": "simple", "parent_item_id": 10, "row_total": 0 },
            { "item_id": 5, "product_type": "bundle", "row_total": 68 },
            { "item_id": 6, "product_type": "simple", "parent_item_id": 5, "row_total": 27 },
            { "item_id": 7, "product_type": "simple", "parent_item_id": 5, "row_total": 41 },
            { "item_id": 3, "product_type": "simple", "row_total": 22 }
        ],
        "extension_attributes": { "item_applied_taxes": [
            { "type": "product", "item_id": 3, "applied_taxes": [
                { "code": "DE-19", "title": "MwSt 19%", "percent": 19, "amount": 3.8 },
                { "code": "CITY-1", "title": "City 1%", "percent": 1, "amount": 0.2 } ] },
            { "type": "shipping", "item_id": null, "applied_taxes": [ { "code": "DE-19", "percent": 19, "amount": 0.95 } ] }
        ] } })
    }

    #[test]
    fn a_configurable_counts_its_parent_and_a_dynamic_bundle_its_children() {
        let o = order();
        let items = OrderItems::of(&o).unwrap();
        let counted: Vec<i64> = [10, 11, 5, 6, 7, 3].into_iter().filter(|i| items.counts(*i)).collect();
        assert_eq!(counted, [10, 6, 7, 3]);
        assert!(items.counts(999), "an item the order does not list is counted as it comes");
    }

    #[test]
    fn tax_is_split_by_rate_and_the_parts_add_up() {
        let o = order();
        let items = OrderItems::of(&o).unwrap();
        let parts = split_tax(dec!(2.01), &items.rates(3), 2).unwrap();
        assert_eq!(
            parts.iter().map(|t| (t.rate_id.as_str(), t.amount)).collect::<Vec<_>>(),
            [("DE-19", dec!(1.91)), ("CITY-1", dec!(0.10))]
        );
        assert_eq!(items.shipping_rates()[0].code, "DE-19");
        let fallback = json!({ "items": [ { "item_id": 1, "tax_percent": 20.0 } ] });
        let items = OrderItems::of(&fallback).unwrap();
        assert_eq!(items.rates(1)[0].code, "20%");
        assert_eq!(split_tax(dec!(1), &[], 2).unwrap()[0].rate_id, "unnamed");
        assert!(split_tax(dec!(0), &[], 2).unwrap().is_empty());
    }
}
