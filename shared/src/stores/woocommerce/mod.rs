//! WooCommerce: REST API v3 client, webhook verification and handling, normalization, polling.
//! The shape every store module follows.

pub mod normalize;
pub mod signature;
