//! Products (simple and configurable) and stock levels.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::*;
use crate::ids::{CurrencyCode, Sku, SourceId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductVariant {
    pub source_id: SourceId,
    pub sku: Option<Sku>,
    /// Attribute name to value, for example `{"Size": "M"}`.
    pub attributes: BTreeMap<String, String>,
    pub price: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    pub sku: Option<Sku>,
    pub active: bool,
    /// Category paths from the root; a product may sit in several categories.
    pub category_paths: Vec<Vec<String>>,
    pub currency: CurrencyCode,
    pub price: Decimal,
    pub sale_price: Option<Decimal>,
    pub variants: Vec<ProductVariant>,
}

/// Quantity on hand for one SKU, optionally per stock location/source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockLevel {
    pub sku: Sku,
    pub quantity: Decimal,
    pub location: Option<String>,
}
