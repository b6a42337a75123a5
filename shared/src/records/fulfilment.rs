//! Shipments with their lines and tracking.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{Sku, SourceId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentLine {
    pub order_line_id: Option<String>,
    pub sku: Sku,
    pub quantity: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracking {
    pub carrier: String,
    pub number: String,
    pub url: Option<url::Url>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub order_id: SourceId,
    pub shipped_at: DateTime<Utc>,
    pub lines: Vec<ShipmentLine>,
    pub tracking: Vec<Tracking>,
}
