//! From a normalized record and the mapping rules to the move Odoo should hold: pure, so every
//! decision can be previewed, tested and explained without touching Odoo.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::records::{Address, CustomerRef, LineTax, SalesDocument};
use crate::rules::{AnalyticShare, Decision, LineFacts, MappingRules, PostingMode};

/// What the plan needs to know about Odoo's master data (ids by code or name).
pub trait Lookups {
    fn account(&self, code: &str) -> Option<i64>;
    fn tax(&self, name: &str) -> Option<TaxInfo>;
    fn analytic(&self, code: &str) -> Option<i64>;
    fn product(&self, sku: &str) -> Option<i64>;
    /// An active `res.currency` by ISO code.
    fn currency(&self, code: &str) -> Option<i64>;
    /// Sales master data, loaded only in sales-order mode (Odoo without `sale` has none).
    fn carrier(&self, _name: &str) -> Option<Carrier> {
        None
    }
    fn pricelist(&self, _name: &str) -> Option<i64> {
        None
    }
    fn fiscal_position(&self, _name: &str) -> Option<i64> {
        None
    }
    /// A journal by code.
    fn journal_id(&self, _code: &str) -> Option<i64> {
        None
    }
}

/// A `delivery.carrier` and the delivery product its charges are booked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carrier {
    pub id: i64,
    pub product_id: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaxInfo {
    pub id: i64,
    pub percent: Decimal,
    pub price_include: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Product,
    Shipping,
    Fee,
    Discount,
    Rounding,
    Tax,
    Receivable,
}

/// One line of the planned move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedLine {
    pub kind: LineKind,
    /// The store's line id (`"301"`, `"ship:302"`), for links from store lines to Odoo lines.
    pub store_line: Option<String>,
    pub name: String,
    pub product_id: Option<i64>,
    pub account_code: String,
    pub account_id: i64,
    pub quantity: Decimal,
    pub price_unit: Decimal,
    /// Net of tax; for journal entries the signed balance is derived from it.
    pub amount: Decimal,
    pub tax_ids: Vec<i64>,
    /// Analytic account id (as Odoo's JSON key) → percent.
    pub analytic: BTreeMap<String, Decimal>,
    pub decision: Option<Decision>,
}

impl PlannedLine {
    /// Why the line is on its account: the rule that chose it, or the setting that names it.
    pub fn reason(&self) -> String {
        match (&self.decision, self.kind) {
            (Some(d), _) => format!("rule {:?}: {}", d.rule_name, d.reason),
            (None, LineKind::Shipping) => "accounts.shipping".into(),
            (None, LineKind::Fee) => "accounts.fees".into(),
            (None, LineKind::Rounding) => "accounts.rounding (store total differs by rounding)".into(),
            (None, LineKind::Tax) => "tax rule account".into(),
            (None, LineKind::Receivable) => "accounts.receivable".into(),
            (None, _) => String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MovePlan {
    pub mode: PostingMode,
    /// `out_invoice`, `out_refund` or `entry`.
    pub move_type: &'static str,
    pub lines: Vec<PlannedLine>,
    /// The total Odoo will show: an invoice's net + tax as Odoo rounds it, equal to the
    /// store's; an entry's debits (Odoo's `amount_total` of an entry), which are the store's
    /// total plus any line on the receivable's side, such as a credit memo's kept fee.
    pub expected_total: Decimal,
    pub store_total: Decimal,
    pub rounding: Decimal,
    /// The document's currency in Odoo: an invoice is booked in what the customer paid in.
    pub currency_id: Option<i64>,
}

/// Why a record cannot be planned: a permanent failure, to fix in the rules or the data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

pub(super) fn round(amount: Decimal, decimals: u32) -> Decimal {
    amount.round_dp_with_strategy(decimals, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// Minor-unit digits of an ISO 4217 currency.
pub fn currency_decimals(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "VND" | "VUV"
        | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

fn analytic(shares: &[AnalyticShare], lookups: &dyn Lookups) -> Result<BTreeMap<String, Decimal>, PlanError> {
    shares
        .iter()
        .map(|s| {
            let id = lookups
                .analytic(&s.account)
                .ok_or_else(|| PlanError(format!("cost center {:?} does not exist in Odoo", s.account)))?;
            Ok((id.to_string(), s.percent))
        })
        .collect()
}

/// A checked step of the plan's arithmetic: an overflow is a reason, never a panic.
fn ck(value: Option<Decimal>) -> Result<Decimal, PlanError> {
    value.ok_or_else(|| PlanError("the amounts are too large to compute (beyond what a store can charge)".into()))
}

fn ck_sum(items: impl IntoIterator<Item = Decimal>) -> Result<Decimal, PlanError> {
    items.into_iter().try_fold(Decimal::ZERO, |acc, x| ck(acc.checked_add(x)))
}

/// Refuses amounts beyond what a store can send before any arithmetic on them (a queued or
/// replayed record did not necessarily come through a store's normalization).
fn in_range(amounts: impl IntoIterator<Item = Decimal>, what: &str) -> Result<(), PlanError> {
    match amounts.into_iter().find(|a| crate::money::store_amount(*a).is_err()) {
        Some(a) => Err(PlanError(format!(
            "{what}: amount {a} is beyond ±{}, more than a store can charge",
            crate::money::MAX_STORE_AMOUNT
        ))),
        None => Ok(()),
    }
}

fn account(code: &str, lookups: &dyn Lookups) -> Result<i64, PlanError> {
    lookups.account(code).ok_or_else(|| PlanError(format!("account {code} does not exist in Odoo")))
}

/// Odoo taxes for a store line's taxes, checked to be price-excluded (store amounts exclude tax).
fn taxes(line_taxes: &[LineTax], rules: &MappingRules, lookups: &dyn Lookups) -> Result<Vec<TaxInfo>, PlanError> {
    let mut out: Vec<TaxInfo> = Vec::new();
    for t in line_taxes {
        let name = rules.tax_for(&t.rate_id).or_else(|| t.label.as_deref().and_then(|l| rules.tax_for(l))).ok_or_else(
            || {
                PlanError(format!(
                    "store tax rate {} ({}) is not mapped to an Odoo tax",
                    t.rate_id,
                    t.label.as_deref().unwrap_or("no label")
                ))
            },
        )?;
        let info = lookups.tax(name).ok_or_else(|| PlanError(format!("Odoo tax {name:?} does not exist")))?;
        if info.price_include {
            return Err(PlanError(format!(
                "Odoo tax {name:?} includes tax in the price; store amounts exclude tax, map to a tax-excluded tax"
            )));
        }
        if !out.iter().any(|o| o.id == info.id) {
            out.push(info);
        }
    }
    Ok(out)
}

/// Quantity and unit price that multiply to exactly `amount` at the currency's precision
/// (Odoo rounds `price_unit` to its own digits): the store's quantity when the unit price is
/// exact, otherwise one unit named "3 × …".
pub(super) fn qty_price(name: &str, quantity: Decimal, amount: Decimal, decimals: u32) -> (String, Decimal, Decimal) {
    if let Some(unit) = amount.checked_div(quantity)
        && round(unit, decimals) == unit
    {
        return (name.to_string(), quantity, unit.normalize());
    }
    (format!("{} × {name}", quantity.normalize()), Decimal::ONE, amount)
}

struct Builder<'a> {
    rules: &'a MappingRules,
    lookups: &'a dyn Lookups,
    decimals: u32,
    lines: Vec<PlannedLine>,
    /// Predicted Odoo tax per line, per tax id (round per line).
    odoo_tax: Decimal,
    store_tax: BTreeMap<i64, Decimal>,
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: LineKind,
        store_line: Option<String>,
        name: &str,
        product_id: Option<i64>,
        account_code: &str,
        quantity: Decimal,
        amount: Decimal,
        line_taxes: &[LineTax],
        shares: &[AnalyticShare],
        decision: Option<Decision>,
    ) -> Result<(), PlanError> {
        let taxes = taxes(line_taxes, self.rules, self.lookups)?;
        for info in &taxes {
            let tax = ck(amount.checked_mul(info.percent))? / Decimal::ONE_HUNDRED;
            self.odoo_tax = ck(self.odoo_tax.checked_add(round(tax, self.decimals)))?;
        }
        // For journal entries the store's own tax amounts are booked, by Odoo tax.
        for t in line_taxes {
            let name =
                self.rules.tax_for(&t.rate_id).or_else(|| t.label.as_deref().and_then(|l| self.rules.tax_for(l)));
            if let Some(info) = name.and_then(|n| self.lookups.tax(n)) {
                let booked = self.store_tax.entry(info.id).or_default();
                *booked = ck(booked.checked_add(t.amount))?;
            }
        }
        let (name, quantity, price_unit) = qty_price(name, quantity, amount, self.decimals);
        self.lines.push(PlannedLine {
            kind,
            store_line,
            name,
            product_id,
            account_id: account(account_code, self.lookups)?,
            account_code: account_code.to_string(),
            quantity,
            price_unit,
            amount,
            tax_ids: taxes.iter().map(|t| t.id).collect(),
            analytic: analytic(shares, self.lookups)?,
            decision,
        });
        Ok(())
    }

    fn finish(
        mut self,
        mode: PostingMode,
        move_type: &'static str,
        store_total: Decimal,
        what: &str,
    ) -> Result<MovePlan, PlanError> {
        let net = ck_sum(self.lines.iter().map(|l| l.amount))?;
        let tax = match mode {
            PostingMode::Invoice | PostingMode::SaleOrder => self.odoo_tax,
            PostingMode::JournalEntry => ck_sum(self.store_tax.values().copied())?,
        };
        let predicted = ck(net.checked_add(tax))?;
        let difference = ck(store_total.checked_sub(predicted))?;
        let tolerance = self.rules.posting.rounding_tolerance;
        if difference.abs() > tolerance {
            return Err(PlanError(format!(
                "{what}: the store's total is {store_total} but the lines come to {predicted} in Odoo \
                 ({difference} apart, more than the {tolerance} rounding tolerance)"
            )));
        }
        if !difference.is_zero() {
            let rounding = self.rules.accounts.rounding.clone();
            let shares = self.rules.accounts.analytic.clone();
            self.push(
                LineKind::Rounding,
                None,
                "Rounding difference with the store",
                None,
                &rounding,
                Decimal::ONE,
                difference,
                &[],
                &shares,
                None,
            )?;
        }
        if mode == PostingMode::JournalEntry {
            // The entry books tax and receivable itself: credits for revenue and tax, one debit.
            for (tax_id, amount) in std::mem::take(&mut self.store_tax) {
                let rule = self
                    .rules
                    .taxes
                    .iter()
                    .find(|t| self.lookups.tax(&t.odoo_tax).is_some_and(|i| i.id == tax_id) && t.account.is_some())
                    .ok_or_else(|| {
                        PlanError(format!("journal entries need an account on the tax rule for Odoo tax {tax_id}"))
                    })?;
                let code = rule.account.clone().unwrap_or_default();
                self.push(
                    LineKind::Tax,
                    None,
                    &rule.odoo_tax.clone(),
                    None,
                    &code,
                    Decimal::ONE,
                    amount,
                    &[],
                    &[],
                    None,
                )?;
            }
            let receivable = self
                .rules
                .accounts
                .receivable
                .clone()
                .ok_or_else(|| PlanError("journal entries need accounts.receivable".into()))?;
            self.push(LineKind::Receivable, None, what, None, &receivable, Decimal::ONE, -store_total, &[], &[], None)?;
        }
        // An entry's lines with a negative amount are its debits (a reversal swaps the sides).
        let expected_total = match mode {
            PostingMode::Invoice | PostingMode::SaleOrder => store_total,
            PostingMode::JournalEntry => ck_sum(self.lines.iter().map(|l| (-l.amount).max(Decimal::ZERO)))?,
        };
        Ok(MovePlan {
            mode,
            move_type,
            lines: self.lines,
            expected_total,
            store_total,
            rounding: difference,
            currency_id: None,
        })
    }
}

/// What an order's lines are matched against, besides the line itself.
pub struct DocumentFacts<'a> {
    pub doc: &'a SalesDocument,
    pub store: Option<&'a str>,
}

fn odoo_currency(code: &str, lookups: &dyn Lookups) -> Result<i64, PlanError> {
    lookups.currency(code).ok_or_else(|| {
        PlanError(format!("currency {code} is not active in Odoo; activate it in Odoo's accounting settings"))
    })
}

fn address_facts(doc: &SalesDocument) -> Option<&Address> {
    doc.shipping_address.as_ref().filter(|a| a.country.is_some()).or(doc.billing_address.as_ref())
}

/// Plans an order or invoice.
pub fn plan_sales_document(
    doc: &SalesDocument,
    store: Option<&str>,
    rules: &MappingRules,
    lookups: &dyn Lookups,
) -> Result<MovePlan, PlanError> {
    let line_amounts = doc.lines.iter().flat_map(|l| {
        [l.quantity, l.subtotal, l.total, l.discount].into_iter().chain(l.taxes.iter().map(|t| t.amount))
    });
    let other = doc.shipping.iter().flat_map(|s| std::iter::once(s.total).chain(s.taxes.iter().map(|t| t.amount)));
    let other =
        other.chain(doc.fees.iter().flat_map(|f| std::iter::once(f.total).chain(f.taxes.iter().map(|t| t.amount))));
    in_range(line_amounts.chain(other).chain([doc.totals.total]), &format!("order {}", doc.number))?;
    let decimals = currency_decimals(doc.currency.as_str());
    let mut b =
        Builder { rules, lookups, decimals, lines: vec![], odoo_tax: Decimal::ZERO, store_tax: BTreeMap::new() };
    let address = address_facts(doc);
    let group = match &doc.customer {
        CustomerRef::Registered { group, .. } => group.as_deref(),
        CustomerRef::Guest { .. } => None,
    };
    for line in &doc.lines {
        let facts = LineFacts {
            sku: line.sku.as_ref().map(|s| s.as_str()),
            category_path: &line.category_path,
            country: address.and_then(|a| a.country.as_ref()).map(|c| c.as_str()),
            region: address.and_then(|a| a.region.as_deref()),
            postcode: address.and_then(|a| a.postcode.as_deref()),
            customer_group: group,
            // The store's own scope where it has one (a store view, a channel), else its host.
            store: doc.store_scope.as_deref().or(store),
            website: doc.website.as_deref(),
            currency: doc.currency.as_str(),
            payment_method: doc.payment_method.as_ref().map(|p| p.code.as_str()),
        };
        let (rule, decision) = rules.choose(&facts).ok_or_else(|| {
            PlanError(format!(
                "no mapping rule matches line {:?} (SKU {}, category {}); add a rule or a fallback rule",
                line.name,
                line.sku.as_ref().map(|s| s.as_str()).unwrap_or("none"),
                if line.category_path.is_empty() { "none".to_string() } else { line.category_path.join(" / ") }
            ))
        })?;
        let product = line.sku.as_ref().and_then(|s| lookups.product(s.as_str()));
        let separate_discount = rules.posting.discount_lines && !line.discount.is_zero();
        let amount = if separate_discount { line.subtotal } else { line.total };
        let (account, shares) = (rule.account.clone(), rule.analytic.clone());
        b.push(
            LineKind::Product,
            Some(line.line_id.clone()),
            &line.name,
            product,
            &account,
            line.quantity,
            amount,
            &line.taxes,
            &shares,
            Some(decision.clone()),
        )?;
        if separate_discount {
            let discount_account = rules
                .accounts
                .discount
                .clone()
                .ok_or_else(|| PlanError("discount lines are on but accounts.discount is not set".into()))?;
            b.push(
                LineKind::Discount,
                None,
                &format!("Discount on {}", line.name),
                None,
                &discount_account,
                Decimal::ONE,
                -line.discount,
                &line.taxes,
                &shares,
                Some(decision),
            )?;
        }
    }
    let special = rules.accounts.analytic.clone();
    for s in &doc.shipping {
        let shipping = rules.accounts.shipping.clone();
        b.push(
            LineKind::Shipping,
            Some(format!("ship:{}", s.line_id)),
            &s.title,
            None,
            &shipping,
            Decimal::ONE,
            s.total,
            &s.taxes,
            &special,
            None,
        )?;
    }
    for f in &doc.fees {
        let fees = rules
            .accounts
            .fees
            .clone()
            .ok_or_else(|| PlanError(format!("the order has a fee ({}) but accounts.fees is not set", f.name)))?;
        b.push(
            LineKind::Fee,
            Some(format!("fee:{}", f.line_id)),
            &f.name,
            None,
            &fees,
            Decimal::ONE,
            f.total,
            &f.taxes,
            &special,
            None,
        )?;
    }
    let (mode, move_type) = match rules.posting.mode {
        // A sale order's invoice is an invoice: its plan is one (see `sale_plan`).
        PostingMode::Invoice | PostingMode::SaleOrder => (PostingMode::Invoice, "out_invoice"),
        PostingMode::JournalEntry => (PostingMode::JournalEntry, "entry"),
    };
    let what = match &doc.order_id {
        Some(order) => format!("invoice {} of order {order}", doc.number),
        None => format!("order {}", doc.number),
    };
    let mut plan = b.finish(mode, move_type, doc.totals.total, &what)?;
    plan.currency_id = Some(odoo_currency(doc.currency.as_str(), lookups)?);
    Ok(plan)
}

/// An original invoice line a refund line credits: its account, taxes and cost centers.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalLine {
    pub name: String,
    pub account_id: i64,
    pub account_code: String,
    pub tax_ids: Vec<i64>,
    pub analytic: BTreeMap<String, Decimal>,
    pub product_id: Option<i64>,
}

/// One credited amount: which original line, how many, how much (net), and the store's tax.
pub struct Credit<'a> {
    pub original: &'a OriginalLine,
    pub kind: LineKind,
    pub store_line: String,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub store_tax: Decimal,
    /// The store's tax on this credit by Odoo tax id, when the store said which rate it was.
    pub store_taxes: Vec<(i64, Decimal)>,
}

/// A credit note to plan: the credited lines, any amount refunded without a line, the store's total.
pub struct CreditNote<'a> {
    pub credits: &'a [Credit<'a>],
    pub unallocated: Decimal,
    /// A credit memo's adjustment refund and fee, each on its own account.
    pub adjustments: crate::records::Adjustments,
    pub currency: &'a str,
    pub store_total: Decimal,
    /// Names the refund in error messages.
    pub what: String,
}

/// Plans a credit note (or a reversing entry) crediting exactly the given lines.
pub fn plan_credit(
    note: &CreditNote,
    rules: &MappingRules,
    taxes: &dyn Fn(i64) -> Option<TaxInfo>,
    lookups: &dyn Lookups,
) -> Result<MovePlan, PlanError> {
    let CreditNote { credits, unallocated, adjustments, currency, store_total, what } = note;
    let (unallocated, store_total) = (*unallocated, *store_total);
    let amounts = credits
        .iter()
        .flat_map(|c| [c.quantity, c.amount, c.store_tax].into_iter().chain(c.store_taxes.iter().map(|(_, a)| *a)));
    in_range(amounts.chain([unallocated, store_total, adjustments.refund, adjustments.fee]), what)?;
    let decimals = currency_decimals(currency);
    let mut lines = Vec::new();
    let (mut odoo_tax, mut store_tax) = (Decimal::ZERO, Decimal::ZERO);
    for c in credits.iter() {
        for t in &c.original.tax_ids {
            let info = taxes(*t).ok_or_else(|| PlanError(format!("tax {t} of the original line is unknown")))?;
            let tax = ck(c.amount.checked_mul(info.percent))? / Decimal::ONE_HUNDRED;
            odoo_tax = ck(odoo_tax.checked_add(round(tax, decimals)))?;
        }
        store_tax = ck(store_tax.checked_add(c.store_tax))?;
        let (name, quantity, price_unit) = qty_price(&c.original.name, c.quantity, c.amount, decimals);
        lines.push(PlannedLine {
            kind: c.kind,
            store_line: Some(c.store_line.clone()),
            name,
            product_id: c.original.product_id,
            account_code: c.original.account_code.clone(),
            account_id: c.original.account_id,
            quantity,
            price_unit,
            amount: c.amount,
            tax_ids: c.original.tax_ids.clone(),
            analytic: c.original.analytic.clone(),
            decision: None,
        });
    }
    let mut b = Builder { rules, lookups, decimals, lines, odoo_tax, store_tax: BTreeMap::new() };
    if let PostingMode::JournalEntry = rules.posting.mode {
        // Entries carry no tax ids on their lines: book the store's own tax, by rate; tax the store
        // gave without a rate (shipping on a refund) goes with the refund's first rate.
        let fallback = credits.iter().flat_map(|c| c.store_taxes.iter().map(|(id, _)| *id)).next().or_else(|| {
            rules.taxes.iter().find(|t| t.account.is_some()).and_then(|t| lookups.tax(&t.odoo_tax)).map(|t| t.id)
        });
        for c in credits.iter() {
            for (id, amount) in &c.store_taxes {
                let booked = b.store_tax.entry(*id).or_default();
                *booked = ck(booked.checked_add(*amount))?;
            }
            if c.store_taxes.is_empty() && !c.store_tax.is_zero() {
                let id = fallback
                    .ok_or_else(|| PlanError(format!("{what}: no tax rule with an account for the refunded tax")))?;
                let booked = b.store_tax.entry(id).or_default();
                *booked = ck(booked.checked_add(c.store_tax))?;
            }
        }
    }
    let _ = store_tax;
    if !unallocated.is_zero() {
        let rounding = rules.accounts.rounding.clone();
        let shares = rules.accounts.analytic.clone();
        b.push(
            LineKind::Rounding,
            None,
            "Refund not allocated to a line",
            None,
            &rounding,
            Decimal::ONE,
            unallocated,
            &[],
            &shares,
            None,
        )?;
    }
    // Adjustments are untaxed: money back beyond the lines credits its account, money kept
    // back (a restocking fee) is the fee's income, a negative line on the credit note.
    let adjusted = [
        (
            adjustments.refund.abs(),
            Decimal::ONE,
            "Adjustment refund",
            &rules.accounts.adjustment_refund,
            "adjustment_refund",
        ),
        (adjustments.fee.abs(), -Decimal::ONE, "Adjustment fee", &rules.accounts.adjustment_fee, "adjustment_fee"),
    ];
    for (amount, sign, name, account, key) in adjusted {
        if amount.is_zero() {
            continue;
        }
        let account = account.clone().ok_or_else(|| {
            PlanError(format!("{what} has an {} of {amount}: name its account in accounts.{key}", name.to_lowercase()))
        })?;
        let shares = rules.accounts.analytic.clone();
        b.push(
            LineKind::Fee,
            None,
            name,
            None,
            &account,
            Decimal::ONE,
            ck(amount.checked_mul(sign))?,
            &[],
            &shares,
            None,
        )?;
    }
    let (mode, move_type) = match rules.posting.mode {
        PostingMode::Invoice | PostingMode::SaleOrder => (PostingMode::Invoice, "out_refund"),
        PostingMode::JournalEntry => (PostingMode::JournalEntry, "entry"),
    };
    let mut plan = b.finish(mode, move_type, store_total, what)?;
    if mode == PostingMode::JournalEntry {
        // A reversing entry: what the invoice credited is debited now.
        plan.expected_total = ck_sum(plan.lines.iter().map(|l| l.amount.max(Decimal::ZERO)))?;
    }
    plan.currency_id = Some(odoo_currency(currency, lookups)?);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::samples;
    use rust_decimal_macros::dec;

    struct Fake;
    impl Lookups for Fake {
        fn currency(&self, code: &str) -> Option<i64> {
            (code == "EUR").then_some(1)
        }

        fn account(&self, code: &str) -> Option<i64> {
            code.parse().ok()
        }
        fn tax(&self, name: &str) -> Option<TaxInfo> {
            match name {
                "VAT 20%" => Some(TaxInfo { id: 1, percent: dec!(20), price_include: false }),
                "VAT 20% incl" => Some(TaxInfo { id: 2, percent: dec!(20), price_include: true }),
                _ => None,
            }
        }
        fn analytic(&self, code: &str) -> Option<i64> {
            (code == "CC-EU").then_some(7)
        }
        fn product(&self, _: &str) -> Option<i64> {
            None
        }
    }

    fn rules(extra: serde_json::Value) -> MappingRules {
        let mut doc = serde_json::json!({
            "accounts": { "shipping": "410000", "rounding": "658000", "discount": "709000" },
            "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
            "lines": [ { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100",
                         "analytic": [ { "account": "CC-EU", "percent": "100" } ] } ]
        });
        if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        MappingRules::from_json(&doc).unwrap()
    }

    #[test]
    fn the_store_fact_is_the_store_s_own_scope_where_it_has_one_and_the_host_otherwise() {
        let by_store = |store: &str| {
            rules(serde_json::json!({ "lines": [
                { "name": "view", "when": { "store": [store] }, "account": "400300", "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
                { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100", "analytic": [ { "account": "CC-EU", "percent": "100" } ] }
            ] }))
        };
        let mut scoped = samples::order();
        scoped.store_scope = Some("de_store_view".into());
        let plan = plan_sales_document(&scoped, Some("shop.example"), &by_store("de_store_view"), &Fake).unwrap();
        assert_eq!(plan.lines[0].decision.as_ref().unwrap().rule_name, "view");
        let plan = plan_sales_document(&scoped, Some("shop.example"), &by_store("shop.example"), &Fake).unwrap();
        assert_eq!(
            plan.lines[0].decision.as_ref().unwrap().rule_name,
            "apparel",
            "the host does not stand in for a scope"
        );
        let plan =
            plan_sales_document(&samples::order(), Some("shop.example"), &by_store("shop.example"), &Fake).unwrap();
        assert_eq!(plan.lines[0].decision.as_ref().unwrap().rule_name, "view", "no scope: the host");
    }

    #[test]
    fn an_order_plans_to_the_store_total() {
        let plan = plan_sales_document(&samples::order(), None, &rules(serde_json::json!({})), &Fake).unwrap();
        assert_eq!(plan.move_type, "out_invoice");
        assert_eq!(plan.expected_total, dec!(49.06));
        assert_eq!(plan.rounding, dec!(0));
        let product = &plan.lines[0];
        assert_eq!(
            (product.account_id, product.quantity, product.price_unit, product.amount),
            (400100, dec!(2), dec!(17.99), dec!(35.98))
        );
        assert_eq!(product.analytic, BTreeMap::from([("7".to_string(), dec!(100))]));
        assert_eq!(product.decision.as_ref().unwrap().rule_name, "apparel");
        assert_eq!(
            (plan.lines[1].kind, plan.lines[1].account_id, plan.lines[1].amount),
            (LineKind::Shipping, 410000, dec!(4.90))
        );
    }

    #[test]
    fn a_reversing_entry_with_a_kept_fee_expects_its_debits_and_refunds_the_store_total() {
        let rules = rules(serde_json::json!({
            "posting": { "mode": "journal_entry" },
            "accounts": { "shipping": "410000", "rounding": "658000", "receivable": "121000" },
            "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%", "account": "445710" } ]
        }));
        let original = OriginalLine {
            name: "Hoodie".into(),
            account_id: 400100,
            account_code: "400100".into(),
            tax_ids: vec![],
            analytic: BTreeMap::new(),
            product_id: None,
        };
        let credits = [Credit {
            original: &original,
            kind: LineKind::Product,
            store_line: "101".into(),
            quantity: dec!(1),
            amount: dec!(40),
            store_tax: dec!(8),
            store_taxes: vec![(1, dec!(8))],
        }];
        let fee = crate::records::Adjustments { refund: dec!(0), fee: dec!(5) };
        let note = |adjustments| CreditNote {
            credits: &credits,
            unallocated: dec!(0),
            adjustments,
            currency: "EUR",
            store_total: dec!(43),
            what: "credit memo 300000001".into(),
        };
        let taxes = |_| Some(TaxInfo { id: 1, percent: dec!(20), price_include: false });
        let err = plan_credit(&note(fee.clone()), &rules, &taxes, &Fake).unwrap_err();
        assert!(err.0.contains("accounts.adjustment_fee"), "{err}");

        let mut with_account = rules.clone();
        with_account.accounts.adjustment_fee = Some("420000".into());
        let plan = plan_credit(&note(fee), &with_account, &taxes, &Fake).unwrap();
        let by_kind = |k: LineKind| plan.lines.iter().filter(|l| l.kind == k).map(|l| l.amount).collect::<Vec<_>>();
        assert_eq!(by_kind(LineKind::Fee), vec![dec!(-5)], "the fee kept is on the receivable's side");
        assert_eq!(by_kind(LineKind::Receivable), vec![dec!(-43)], "the customer gets the store's total back");
        assert_eq!((plan.store_total, plan.expected_total), (dec!(43), dec!(48)), "Odoo shows the debits: 40 + 8");
    }

    #[test]
    fn a_cent_apart_goes_to_rounding_and_more_fails_with_both_figures() {
        let mut order = samples::order();
        order.totals.total = dec!(49.07);
        let plan = plan_sales_document(&order, None, &rules(serde_json::json!({})), &Fake).unwrap();
        let last = plan.lines.last().unwrap();
        assert_eq!((last.kind, last.account_id, last.amount), (LineKind::Rounding, 658000, dec!(0.01)));
        order.totals.total = dec!(50.00);
        let err = plan_sales_document(&order, None, &rules(serde_json::json!({})), &Fake).unwrap_err();
        assert!(err.0.contains("50.00") && err.0.contains("49.06"), "{err}");
    }

    #[test]
    fn unit_prices_that_do_not_divide_become_one_unit() {
        let (name, q, p) = qty_price("Book", dec!(3), dec!(10.00), 2);
        assert_eq!((name.as_str(), q, p), ("3 × Book", dec!(1), dec!(10.00)));
        let (name, q, p) = qty_price("Book", dec!(4), dec!(10.00), 2);
        assert_eq!((name.as_str(), q, p), ("Book", dec!(4), dec!(2.5)));
    }

    #[test]
    fn unmapped_things_are_named() {
        let mut order = samples::order();
        order.lines[0].category_path = vec!["Garden".into()];
        let err = plan_sales_document(&order, None, &rules(serde_json::json!({})), &Fake).unwrap_err();
        assert!(err.0.contains("no mapping rule matches line \"Shirt (M)\" (SKU SHIRT-M, category Garden)"), "{err}");
        let mut order = samples::order();
        order.lines[0].taxes[0].rate_id = "9".into();
        order.lines[0].taxes[0].label = None;
        let err = plan_sales_document(&order, None, &rules(serde_json::json!({})), &Fake).unwrap_err();
        assert!(err.0.contains("store tax rate 9"), "{err}");
        let incl = rules(serde_json::json!({ "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20% incl" } ] }));
        assert!(plan_sales_document(&samples::order(), None, &incl, &Fake).unwrap_err().0.contains("tax-excluded"));
    }

    #[test]
    fn discounts_can_have_their_own_account() {
        let plan = plan_sales_document(
            &samples::order(),
            None,
            &rules(serde_json::json!({ "posting": { "discount_lines": true } })),
            &Fake,
        )
        .unwrap();
        assert_eq!(
            (plan.lines[0].amount, plan.lines[1].kind, plan.lines[1].amount, plan.lines[1].account_id),
            (dec!(39.98), LineKind::Discount, dec!(-4.00), 709000)
        );
        assert_eq!(plan.expected_total, dec!(49.06));
    }
}
