//! Store connectors, one module each, on the shared seam: the webhook pipeline ([`webhook`]) is
//! written once, and each store implements [`webhook::WebhookSource`] for what is its own.

pub mod webhook;
pub mod woocommerce;
