//! Store connectors, one module each, all with the same shape: client, webhook verification,
//! normalization, polling.

pub mod woocommerce;
