//! Mapping rules: which Odoo accounts, taxes and cost centers a store record's lines go to.
//!
//! One JSON document per connection, versioned by the `ConnectionStore`. Line rules are ordered and
//! the first whose conditions all hold wins; a rule without conditions is a fallback. Accounts are
//! named by code, taxes by name, cost centers by analytic account code, so the document reads the
//! way the finance team's chart does.
//!
//! ```json
//! {
//!   "posting": { "mode": "invoice", "post": true, "rounding_tolerance": "0.05" },
//!   "accounts": { "shipping": "410000", "fees": "420000", "rounding": "658000" },
//!   "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
//!   "lines": [
//!     { "name": "apparel EU", "when": { "category": "Apparel", "country": ["FR", "DE"] },
//!       "account": "400100", "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
//!     { "name": "everything else", "account": "400000" }
//!   ]
//! }
//! ```

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::records::DocumentStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingRules {
    #[serde(default)]
    pub posting: PostingSettings,
    pub accounts: SpecialAccounts,
    #[serde(default)]
    pub taxes: Vec<TaxRule>,
    pub lines: Vec<LineRule>,
    #[serde(default)]
    pub partners: PartnerSettings,
    /// Sales-order mode (`posting.mode = "sale_order"`): confirmation, payment and shipping methods.
    #[serde(default)]
    pub sales: SalesSettings,
}

/// What an order becomes in sales-order mode besides its lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesSettings {
    /// Confirm imported orders (`action_confirm`), or leave them as quotations.
    pub confirm: bool,
    /// Pricelist by name; Odoo's default when absent.
    pub pricelist: Option<String>,
    /// Fiscal position by name, for every order of the connection.
    pub fiscal_position: Option<String>,
    /// Store payment methods: paid online (invoiced and paid in a journal) or offline
    /// (confirmed only, invoiced later in Odoo). An unmapped method fails with the reason.
    pub payment_methods: Vec<PaymentMethodRule>,
    /// Store shipping methods → Odoo carriers; an unmapped method fails with the reason.
    pub shipping_methods: Vec<ShippingMethodRule>,
    /// The product (by SKU) a rounding difference with the store is booked on.
    pub rounding_product: Option<String>,
    /// The product (by SKU) fee lines are booked on.
    pub fee_product: Option<String>,
    /// The store ships the goods (it reports shipments): a shipment validates the Odoo delivery
    /// with its tracking; otherwise it is noted on the order's chatter.
    pub store_ships: bool,
}

impl Default for SalesSettings {
    fn default() -> Self {
        SalesSettings {
            confirm: true,
            pricelist: None,
            fiscal_position: None,
            payment_methods: vec![],
            shipping_methods: vec![],
            rounding_product: None,
            fee_product: None,
            store_ships: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodRule {
    /// The store's method code or title (`stripe`, `cod`, `checkmo`), case-insensitive.
    pub store_method: String,
    pub online: bool,
    /// The journal (by code) an online payment is registered in.
    #[serde(default)]
    pub journal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodRule {
    /// The store's method id or title (`flat_rate`, `Flat rate`), case-insensitive.
    pub store_method: String,
    /// The Odoo carrier (`delivery.carrier`) by name.
    pub carrier: String,
}

impl SalesSettings {
    pub fn payment_method(&self, code: &str, title: Option<&str>) -> Option<&PaymentMethodRule> {
        self.payment_methods.iter().find(|p| {
            p.store_method.eq_ignore_ascii_case(code) || title.is_some_and(|t| p.store_method.eq_ignore_ascii_case(t))
        })
    }

    pub fn shipping_method(&self, id: Option<&str>, title: &str) -> Option<&ShippingMethodRule> {
        self.shipping_methods.iter().find(|m| {
            id.is_some_and(|i| m.store_method.eq_ignore_ascii_case(i)) || m.store_method.eq_ignore_ascii_case(title)
        })
    }
}

/// How customers are found again in Odoo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerSettings {
    /// A guest order whose e-mail is a registered customer's books on that customer's partner.
    /// Off by default: anyone can type an e-mail at checkout, so a guest is matched only to
    /// other guests (and partners made in Odoo) unless the merchant allows it.
    pub guests_match_customers_by_email: bool,
}

/// Invoice or journal entry, post or leave in draft, and what to do with later changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostingSettings {
    pub mode: PostingMode,
    /// Post at once, or leave drafts for review.
    pub post: bool,
    /// A store/Odoo difference up to this goes to the rounding account; beyond it the record fails.
    pub rounding_tolerance: Decimal,
    /// Normalized statuses (`DocumentStatus`, the same for every store) that post an invoice.
    pub post_statuses: Vec<DocumentStatus>,
    /// Normalized statuses that, once an order is posted, give a full credit note.
    pub credit_statuses: Vec<DocumentStatus>,
    /// The connection's own decisions for raw store statuses (a custom WooCommerce status
    /// `shipped`, an Adobe Commerce `holded`), taking precedence over the normalized status.
    pub statuses: BTreeMap<String, StatusDecision>,
    /// A change to an order already posted: credit it and post again, or hold it for review.
    pub on_posted_change: PostedChange,
    /// Journal by code; the sandbox's and Odoo's default sales journal when absent.
    pub journal: Option<String>,
    /// Payment term by name (`"30 Days"`); the customer's or Odoo's default when absent.
    pub payment_term: Option<String>,
    /// Put discounts on their own account (negative lines) instead of netting them into lines.
    pub discount_lines: bool,
    /// A store refund is a credit note; with a journal code here, the refund payment is also
    /// registered against the credit note in that journal (the money going back out), so a
    /// paid invoice's refund shows as paid out rather than as an open credit.
    pub refund_payment_journal: Option<String>,
}

/// What a document's status means for posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusDecision {
    /// Post it (or correct what was posted).
    Post,
    /// Credit in full what was posted.
    Credit,
    /// Not yet: nothing is posted.
    Wait,
}

impl PostingSettings {
    /// The decision for a document: the connection's word for its raw status if it has one,
    /// else what its normalized status says.
    pub fn decision(&self, status: DocumentStatus, raw: &str) -> StatusDecision {
        let raw = raw.trim();
        if let Some((_, d)) = self.statuses.iter().find(|(k, _)| k.eq_ignore_ascii_case(raw)) {
            return *d;
        }
        if self.post_statuses.contains(&status) {
            StatusDecision::Post
        } else if self.credit_statuses.contains(&status) {
            StatusDecision::Credit
        } else {
            StatusDecision::Wait
        }
    }

    /// `processing, completed`: the statuses that post, as the rules name them.
    pub fn posting_statuses(&self) -> String {
        let mut names: Vec<String> = self.post_statuses.iter().map(|s| s.as_str().to_string()).collect();
        names.extend(self.statuses.iter().filter(|(_, d)| **d == StatusDecision::Post).map(|(k, _)| k.clone()));
        names.join(", ")
    }
}

impl Default for PostingSettings {
    fn default() -> Self {
        PostingSettings {
            mode: PostingMode::Invoice,
            post: true,
            rounding_tolerance: Decimal::new(5, 2),
            post_statuses: vec![DocumentStatus::Processing, DocumentStatus::Completed],
            credit_statuses: vec![DocumentStatus::Cancelled, DocumentStatus::Refunded],
            statuses: BTreeMap::new(),
            on_posted_change: PostedChange::CreditAndRepost,
            journal: None,
            payment_term: None,
            discount_lines: false,
            refund_payment_journal: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingMode {
    /// A customer invoice (`out_invoice`); Odoo computes tax and receivable lines.
    Invoice,
    /// A journal entry (`entry`): receivable debit against revenue, tax and shipping credits.
    JournalEntry,
    /// A sales order (`sale.order`), confirmed or left a quotation; an online order also gets
    /// its invoice, made from the order, and its payment.
    SaleOrder,
}

impl PostingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PostingMode::Invoice => "invoice",
            PostingMode::JournalEntry => "journal_entry",
            PostingMode::SaleOrder => "sale_order",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostedChange {
    CreditAndRepost,
    HoldForReview,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialAccounts {
    pub shipping: String,
    #[serde(default)]
    pub fees: Option<String>,
    #[serde(default)]
    pub discount: Option<String>,
    pub rounding: String,
    /// For journal entries: the receivable account (Odoo's default receivable otherwise).
    #[serde(default)]
    pub receivable: Option<String>,
    /// A credit memo's adjustment refund (money back beyond its lines), and its adjustment fee
    /// (money kept back): Adobe Commerce's `adjustment_positive` / `adjustment_negative`.
    #[serde(default)]
    pub adjustment_refund: Option<String>,
    #[serde(default)]
    pub adjustment_fee: Option<String>,
    /// Cost centers for shipping, fee and rounding lines.
    #[serde(default)]
    pub analytic: Vec<AnalyticShare>,
}

/// A store tax rate (by id, class or label) → an Odoo tax (by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRule {
    pub store_rate: String,
    pub odoo_tax: String,
    /// The tax account, by code: journal entries book tax lines themselves.
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticShare {
    pub account: String,
    pub percent: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRule {
    pub name: String,
    #[serde(default)]
    pub when: Conditions,
    pub account: String,
    #[serde(default)]
    pub analytic: Vec<AnalyticShare>,
}

/// All given conditions must hold. Lists match any of their items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conditions {
    /// A category and everything under it: `"Apparel"` matches `Apparel / Shirts`;
    /// `"Apparel/Shirts"` matches only that branch.
    pub category: Option<String>,
    /// A SKU pattern with `*` wildcards (`"BOOK-*"`).
    pub sku: Option<String>,
    pub country: Option<Vec<String>>,
    pub region: Option<Vec<String>>,
    pub postcode_prefix: Option<String>,
    pub customer_group: Option<Vec<String>>,
    pub store: Option<Vec<String>>,
    /// The website a store view belongs to (Adobe Commerce).
    pub website: Option<Vec<String>>,
    pub currency: Option<Vec<String>>,
    pub payment_method: Option<Vec<String>>,
}

/// What a rule is matched against: one line and its document's context.
#[derive(Debug, Clone, Default)]
pub struct LineFacts<'a> {
    pub sku: Option<&'a str>,
    pub category_path: &'a [String],
    pub country: Option<&'a str>,
    pub region: Option<&'a str>,
    pub postcode: Option<&'a str>,
    pub customer_group: Option<&'a str>,
    pub store: Option<&'a str>,
    pub website: Option<&'a str>,
    pub currency: &'a str,
    pub payment_method: Option<&'a str>,
}

/// Which rule chose a line, and why, for the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub rule: usize,
    pub rule_name: String,
    pub reason: String,
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(text);
    }
    let (text, mut rest) = (text.to_lowercase(), 0usize);
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_lowercase();
        if i == 0 {
            if !text.starts_with(&part) {
                return false;
            }
            rest = part.len();
        } else if i == parts.len() - 1 {
            return text.len() >= rest + part.len() && text[rest..].ends_with(&part);
        } else {
            match text[rest..].find(&part) {
                Some(at) => rest += at + part.len(),
                None => return false,
            }
        }
    }
    true
}

fn any_of(list: &Option<Vec<String>>, value: Option<&str>, what: &str, reasons: &mut Vec<String>) -> bool {
    match list {
        None => true,
        Some(items) => match value {
            Some(v) if items.iter().any(|i| i.eq_ignore_ascii_case(v)) => {
                reasons.push(format!("{what} {v}"));
                true
            }
            _ => false,
        },
    }
}

impl Conditions {
    /// Whether every condition holds, and the reasons that made it so.
    pub fn check(&self, facts: &LineFacts) -> Option<Vec<String>> {
        let mut reasons = Vec::new();
        if let Some(category) = &self.category {
            let wanted: Vec<&str> = category.split('/').map(str::trim).filter(|s| !s.is_empty()).collect();
            let path = facts.category_path;
            let under = path.len() >= wanted.len() && wanted.iter().zip(path).all(|(w, p)| w.eq_ignore_ascii_case(p));
            if !under {
                return None;
            }
            reasons.push(format!("category {} is under {category}", path.join(" / ")));
        }
        if let Some(pattern) = &self.sku {
            match facts.sku {
                Some(sku) if glob(pattern, sku) => reasons.push(format!("SKU {sku} matches {pattern}")),
                _ => return None,
            }
        }
        let country_ok = any_of(&self.country, facts.country, "shipping country", &mut reasons);
        let region_ok = any_of(&self.region, facts.region, "shipping region", &mut reasons);
        if !(country_ok && region_ok) {
            return None;
        }
        if let Some(prefix) = &self.postcode_prefix {
            match facts.postcode {
                Some(pc) if pc.replace(' ', "").to_uppercase().starts_with(&prefix.replace(' ', "").to_uppercase()) => {
                    reasons.push(format!("postcode {pc} starts with {prefix}"))
                }
                _ => return None,
            }
        }
        let ok = any_of(&self.customer_group, facts.customer_group, "customer group", &mut reasons)
            && any_of(&self.store, facts.store, "store", &mut reasons)
            && any_of(&self.website, facts.website, "website", &mut reasons)
            && any_of(&self.currency, Some(facts.currency), "currency", &mut reasons)
            && any_of(&self.payment_method, facts.payment_method, "payment method", &mut reasons);
        ok.then_some(reasons)
    }
}

impl MappingRules {
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let rules: MappingRules = serde_json::from_value(value.clone())
            .map_err(|e| Error::permanent(anyhow::anyhow!("the mapping rules are invalid: {e}")))?;
        for rule in rules.lines.iter() {
            let total = rule.analytic.iter().try_fold(Decimal::ZERO, |acc, a| acc.checked_add(a.percent));
            if !rule.analytic.is_empty() && total != Some(Decimal::ONE_HUNDRED) {
                let total = total.map(|t| t.to_string()).unwrap_or_else(|| "more than can be counted".into());
                return Err(Error::permanent(anyhow::anyhow!(
                    "mapping rule {:?} splits {total}% across cost centers; it must be 100%",
                    rule.name
                )));
            }
        }
        if let Some(p) = rules.sales.payment_methods.iter().find(|p| p.online && p.journal.is_none()) {
            return Err(Error::permanent(anyhow::anyhow!(
                "payment method {:?} is paid online but names no journal to register its payments in",
                p.store_method
            )));
        }
        Ok(rules)
    }

    /// The first rule that matches, and why.
    pub fn choose(&self, facts: &LineFacts) -> Option<(&LineRule, Decision)> {
        self.lines.iter().enumerate().find_map(|(i, rule)| {
            rule.when.check(facts).map(|reasons| {
                let reason =
                    if reasons.is_empty() { "fallback rule (no conditions)".to_string() } else { reasons.join(", ") };
                (rule, Decision { rule: i, rule_name: rule.name.clone(), reason })
            })
        })
    }

    /// The account a journal entry books an Odoo tax to.
    pub fn tax_account(&self, odoo_tax: &str) -> Option<&str> {
        self.taxes.iter().find(|t| t.odoo_tax == odoo_tax).and_then(|t| t.account.as_deref())
    }

    /// The Odoo tax for a store rate id, class or label.
    pub fn tax_for(&self, store_rate: &str) -> Option<&str> {
        self.taxes.iter().find(|t| t.store_rate.eq_ignore_ascii_case(store_rate)).map(|t| t.odoo_tax.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> MappingRules {
        MappingRules::from_json(&serde_json::json!({
            "accounts": { "shipping": "410000", "rounding": "658000" },
            "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" } ],
            "lines": [
                { "name": "books", "when": { "sku": "BOOK-*" }, "account": "400200" },
                { "name": "apparel EU", "when": { "category": "Apparel", "country": ["FR", "DE"] }, "account": "400100",
                  "analytic": [ { "account": "CC-EU", "percent": "60" }, { "account": "CC-WHS", "percent": "40" } ] },
                { "name": "wholesale", "when": { "customer_group": ["wholesale"] }, "account": "400300" },
                { "name": "paris", "when": { "postcode_prefix": "75" }, "account": "400400" }
            ]
        }))
        .unwrap()
    }

    fn facts<'a>(sku: &'a str, path: &'a [String], country: &'a str) -> LineFacts<'a> {
        LineFacts { sku: Some(sku), category_path: path, country: Some(country), currency: "EUR", ..Default::default() }
    }

    #[test]
    fn first_match_wins_and_explains_itself() {
        let r = rules();
        let shirts = vec!["Apparel".to_string(), "Shirts".to_string()];
        let (rule, why) = r.choose(&facts("SHIRT-M", &shirts, "FR")).unwrap();
        assert_eq!(rule.account, "400100");
        assert_eq!(why.rule, 1);
        assert_eq!(why.reason, "category Apparel / Shirts is under Apparel, shipping country FR");
        // Rule order matters: a book in Apparel is still a book.
        assert_eq!(r.choose(&facts("book-42", &shirts, "FR")).unwrap().0.account, "400200");
        // Apparel shipped to the US matches neither apparel rule nor anything else.
        assert!(r.choose(&facts("SHIRT-M", &shirts, "US")).is_none());
        let mut wholesale = facts("X", &[], "US");
        wholesale.customer_group = Some("Wholesale");
        assert_eq!(r.choose(&wholesale).unwrap().1.reason, "customer group Wholesale");
        let mut paris = facts("X", &[], "US");
        paris.postcode = Some("75 001");
        assert_eq!(r.choose(&paris).unwrap().0.account, "400400");
    }

    #[test]
    fn categories_match_by_branch_not_by_name() {
        let c = Conditions { category: Some("Apparel/Shirts".into()), ..Default::default() };
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = path(&["Apparel", "Shirts", "Linen"]);
        let other = path(&["Apparel", "Shoes"]);
        let sneaky = path(&["Sale", "Apparel", "Shirts"]);
        assert!(c.check(&facts("x", &ok, "FR")).is_some());
        assert!(c.check(&facts("x", &other, "FR")).is_none());
        assert!(c.check(&facts("x", &sneaky, "FR")).is_none());
    }

    #[test]
    fn globs() {
        assert!(glob("BOOK-*", "book-1"));
        assert!(glob("*-XL", "SHIRT-XL"));
        assert!(glob("A*B*C", "AxxBxxC"));
        assert!(!glob("A*B*C", "AxxC"));
        assert!(glob("EXACT", "exact"));
        assert!(!glob("EXACT", "exactly"));
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let err = MappingRules::from_json(
            &serde_json::json!({ "accounts": { "shipping": "1", "rounding": "2" }, "lines": [], "extra": 1 }),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
        let err = MappingRules::from_json(&serde_json::json!({
            "accounts": { "shipping": "1", "rounding": "2" },
            "lines": [ { "name": "half", "account": "4", "analytic": [ { "account": "A", "percent": "50" } ] } ]
        }))
        .unwrap_err();
        assert!(err.to_string().contains("50%"), "{err}");
    }
}
