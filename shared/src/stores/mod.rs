//! Store connectors, one module each, on the shared seam: the webhook pipeline ([`webhook`]) is
//! written once, and so is the poll loop ([`poll`]); each store implements
//! [`webhook::WebhookSource`] and [`poll::PollSource`] for what is its own.

pub mod poll;
pub mod webhook;
pub mod woocommerce;
