//! Orders and invoices: lines, taxes, shipping, fees, coupons, totals.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::*;
use crate::ids::{CurrencyCode, Sku, SourceId};

/// The document's state, mapped from each store's own vocabulary (kept verbatim in `source_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Pending,
    #[serde(alias = "on-hold")]
    OnHold,
    Processing,
    Completed,
    Cancelled,
    Refunded,
    Failed,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Pending => "pending",
            DocumentStatus::OnHold => "on_hold",
            DocumentStatus::Processing => "processing",
            DocumentStatus::Completed => "completed",
            DocumentStatus::Cancelled => "cancelled",
            DocumentStatus::Refunded => "refunded",
            DocumentStatus::Failed => "failed",
        }
    }
}

/// A tax charged on one line, by the store's tax rate id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineTax {
    pub rate_id: String,
    pub label: Option<String>,
    /// Percentage, for example `"20.0000"`; absent when the store only gives the amount.
    pub rate_percent: Option<Decimal>,
    pub amount: Decimal,
}

/// One product line. Amounts exclude tax; `total = subtotal - discount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesLine {
    pub line_id: String,
    pub sku: Option<Sku>,
    pub name: String,
    pub product_id: Option<SourceId>,
    pub variant_id: Option<SourceId>,
    /// Category path from the root, for example `["Apparel", "Shirts"]`; used by mapping rules.
    pub category_path: Vec<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub total: Decimal,
    pub taxes: Vec<LineTax>,
}

/// One shipping charge (excluding tax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippingLine {
    pub line_id: String,
    pub method_id: Option<String>,
    pub title: String,
    pub total: Decimal,
    pub taxes: Vec<LineTax>,
}

/// A fee (gift wrap, payment surcharge, ...), excluding tax; may be negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeLine {
    pub line_id: String,
    pub name: String,
    pub total: Decimal,
    pub taxes: Vec<LineTax>,
}

/// A coupon applied to the document. Its effect is already in the lines' `discount`; kept for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    pub code: String,
    pub discount: Decimal,
    pub discount_tax: Decimal,
}

/// The document's tax per rate, as the store summed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxSummary {
    pub rate_id: String,
    pub label: Option<String>,
    pub rate_percent: Option<Decimal>,
    pub compound: bool,
    pub tax_total: Decimal,
    pub shipping_tax_total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub code: String,
    pub title: Option<String>,
}

/// The store's own totals, kept so the poster can prove Odoo's total equals the store's to the cent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub shipping: Decimal,
    pub fees: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

/// An order or an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesDocument {
    /// The number people see (`"#1042"`, `"000000123"`).
    pub number: String,
    /// For an invoice: the order it bills.
    pub order_id: Option<SourceId>,
    pub status: DocumentStatus,
    pub source_status: String,
    pub created_at: DateTime<Utc>,
    pub currency: CurrencyCode,
    pub prices_include_tax: bool,
    pub customer: CustomerRef,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub lines: Vec<SalesLine>,
    pub shipping: Vec<ShippingLine>,
    pub fees: Vec<FeeLine>,
    pub coupons: Vec<Coupon>,
    pub taxes: Vec<TaxSummary>,
    pub payment_method: Option<PaymentMethod>,
    pub totals: Totals,
    /// The store's own scope the document belongs to (a website, store view or channel), for the
    /// mapping rules' `store` fact; `None` where the store has none (WooCommerce), and then the
    /// store's host stands in. Left out of the JSON when absent, so existing hashes stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_scope: Option<String>,
    /// The website the scope belongs to (Adobe Commerce), for the rules' `website` fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// The same document in the store's base currency, where the store keeps one beside the
    /// order's (Adobe Commerce): booked nowhere, kept in the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_figures: Option<BaseFigures>,
}

/// A document's figures in the store's base currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseFigures {
    pub currency: CurrencyCode,
    pub subtotal: Decimal,
    pub shipping: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

impl SalesDocument {
    /// What the books depend on: lines, amounts, taxes, customer, addresses and currency, and
    /// not the status or the payment method's label. Two versions with the same fingerprint book
    /// the same document, so a status-only change adds nothing to Odoo but a chatter note.
    pub fn booking_fingerprint(&self) -> String {
        let mut view = self.clone();
        view.status = DocumentStatus::Pending;
        view.source_status = String::new();
        let json = serde_json::to_vec(&view).expect("a record always serializes");
        ContentHash::of_bytes(&json).as_str()[..16].to_string()
    }
}
