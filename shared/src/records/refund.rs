//! Refunds, line by line, with shipping and unallocated amounts.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::*;
use crate::ids::{CurrencyCode, Sku, SourceId};

/// One refunded product line: which order line, how many, how much (excluding tax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundLine {
    pub order_line_id: String,
    pub sku: Option<Sku>,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub taxes: Vec<LineTax>,
}

/// A refund of all or part of an order: becomes a credit note against the order's invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub order_id: SourceId,
    /// The invoice it credits, where the store says (an Adobe Commerce credit memo); absent, it
    /// credits whatever was posted for the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<SourceId>,
    pub created_at: DateTime<Utc>,
    pub currency: CurrencyCode,
    pub reason: Option<String>,
    pub lines: Vec<RefundLine>,
    /// Shipping refunded, excluding tax, and its tax; `shipping_line_id` is the order's shipping
    /// line it refunds.
    pub shipping: Decimal,
    #[serde(default)]
    pub shipping_line_id: Option<String>,
    pub shipping_tax: Decimal,
    /// Any amount refunded without a line (a goodwill refund), excluding tax.
    pub unallocated: Decimal,
    /// The total refunded, tax included, as the store reports it.
    pub amount: Decimal,
    /// Adjustments a credit memo carries beside its lines (Adobe Commerce): absent elsewhere.
    #[serde(default, skip_serializing_if = "Adjustments::is_zero")]
    pub adjustments: Adjustments,
}

/// What a credit memo refunds or keeps without a line, untaxed: an adjustment refund (more
/// money back, `adjustment_positive`) and an adjustment fee (kept back, `adjustment_negative`).
/// Each goes on its own account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Adjustments {
    pub refund: Decimal,
    pub fee: Decimal,
}

impl Adjustments {
    pub fn is_zero(&self) -> bool {
        self.refund.is_zero() && self.fee.is_zero()
    }
}
